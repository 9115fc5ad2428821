"""openstacksdk against a running berth cloud (scripts/e2e/60-sdk.sh).

Each area creates what it needs, checks what the SDK reads back (not only
that no exception was raised) and deletes it again, so the cloud is left as
it was found. Prints one "ok: ..." line per check; any failure raises.
"""
import sys
import time

import openstack
from keystoneauth1 import session
from keystoneauth1.identity import v3

conn = openstack.connect(cloud="berth")
checks = 0


def ok(what, cond, detail=""):
    global checks
    if not cond:
        raise SystemExit(f"sdk FAILED: {what} {detail}")
    checks += 1
    print(f"ok: sdk {what}")


def wait_status(server, status, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        server = conn.compute.get_server(server.id)
        if server.status == status:
            return server
        if server.status == "ERROR" and status != "ERROR":
            raise SystemExit(f"sdk FAILED: server {server.name} went to ERROR: {server.fault}")
        time.sleep(0.2)
    raise SystemExit(f"sdk FAILED: server {server.name} is {server.status}, wanted {status}")


# ------------------------------------------------------------ identity
idn = conn.identity
domain = idn.find_domain("Default")
ok("identity: find the default domain", domain is not None and domain.id == "default", domain)
project = idn.create_project(name="sdk-project", domain_id="default", description="made by the sdk")
ok("identity: create project", project.id and project.description == "made by the sdk")
project = idn.update_project(project, description="changed")
ok("identity: update project", idn.get_project(project.id).description == "changed")
idn.add_tag_to_project(project, "blue") if hasattr(idn, "add_tag_to_project") else project.add_tag(idn, "blue")
ok("identity: project tags", "blue" in idn.get_project(project.id).tags)
user = idn.create_user(name="sdk-user", password="sdk-secret-1", domain_id="default",
                       default_project_id=project.id, email="sdk@example.org")
ok("identity: create user", user.id and idn.get_user(user.id).email == "sdk@example.org")
group = idn.create_group(name="sdk-group", domain_id="default")
idn.add_user_to_group(user, group)
ok("identity: group membership", idn.check_user_in_group(user, group))
ok("identity: users of a group", [u.id for u in idn.group_users(group)] == [user.id])
role = idn.create_role(name="sdk-role")
idn.assign_project_role_to_group(project, group, role)
assignments = list(idn.role_assignments(user_id=user.id, effective=True))
ok("identity: effective assignment through the group",
   any(a.role["id"] == role.id and a.scope["project"]["id"] == project.id for a in assignments), assignments)
idn.unassign_project_role_from_group(project, group, role)
ok("identity: unassign", not list(idn.role_assignments(group_id=group.id)))
region = idn.create_region(id="sdk-region", description="sdk")
service = idn.create_service(name="sdk-service", type="sdk-type", description="sdk")
endpoint = idn.create_endpoint(service_id=service.id, interface="public", url="http://sdk.example/v1",
                               region_id=region.id)
ok("identity: endpoint", idn.get_endpoint(endpoint.id).url == "http://sdk.example/v1")
ok("identity: endpoints by service", [e.id for e in idn.endpoints(service_id=service.id)] == [endpoint.id])
idn.delete_endpoint(endpoint)
idn.delete_service(service)
idn.delete_region(region)
ok("identity: catalog entries deleted", idn.find_service("sdk-service") is None)
cred = idn.create_credential(type="ec2", user_id=user.id, project_id=project.id,
                             blob='{"access": "a", "secret": "s"}')
ok("identity: credential", idn.get_credential(cred.id).type == "ec2")
idn.delete_credential(cred)
# An application credential of the admin, used to authenticate.
me = conn.current_user_id
appcred = idn.create_application_credential(user=me, name="sdk-appcred", description="sdk")
ok("identity: application credential has a secret", bool(appcred.secret))
auth = conn.config.config["auth"]
app_auth = v3.ApplicationCredential(auth_url=auth["auth_url"], application_credential_id=appcred.id,
                                    application_credential_secret=appcred.secret)
app_conn = openstack.connection.Connection(session=session.Session(auth=app_auth), region_name="RegionOne")
ok("identity: authenticate with the application credential", bool(app_conn.authorize()))
ok("identity: its token works on compute", any(f.name == "m1.tiny" for f in app_conn.compute.flavors()))
idn.delete_application_credential(me, appcred)
idn.delete_role(role)
idn.delete_group(group)
idn.delete_user(user)
idn.delete_project(project)
ok("identity: cleaned up", idn.find_project("sdk-project") is None and idn.find_user("sdk-user") is None)

# ------------------------------------------------------------ image
img = conn.image
image = img.create_image(name="sdk-image", disk_format="raw", container_format="bare",
                         data=b"sdk image bytes" * 64, visibility="private")
image = img.get_image(image.id)
ok("image: uploaded and active", image.status == "active" and image.size == 15 * 64, image)
img.update_image(image, min_ram=64)
img.add_tag(image, "sdk")
image = img.get_image(image.id)
ok("image: update and tags", image.min_ram == 64 and "sdk" in image.tags)
ok("image: download", img.download_image(image).content == b"sdk image bytes" * 64)
ok("image: list by name", [i.id for i in img.images(name="sdk-image")] == [image.id])
ns = img.create_metadef_namespace(namespace="SDK::Test", display_name="sdk", visibility="private")
ok("image: metadef namespace", img.get_metadef_namespace("SDK::Test").display_name == "sdk")
img.delete_metadef_namespace(ns)
img.delete_image(image)
ok("image: deleted", img.find_image("sdk-image") is None)

# ------------------------------------------------------------ compute
cmp = conn.compute
flavor = cmp.create_flavor(name="sdk.flavor", ram=256, vcpus=1, disk=1)
cmp.create_flavor_extra_specs(flavor, {"hw:cpu_policy": "shared"})
ok("compute: flavor extra specs", cmp.fetch_flavor_extra_specs(flavor).extra_specs.get("hw:cpu_policy") == "shared")
kp = cmp.create_keypair(name="sdk-key")
ok("compute: keypair generated", kp.private_key and kp.private_key.startswith("-----BEGIN"))
ok("compute: keypair listed", "sdk-key" in [k.name for k in cmp.keypairs()])
image_id = conn.image.find_image("berth-tiny-raw").id
server = cmp.create_server(name="sdk-server", flavor_id=flavor.id, image_id=image_id, networks="none",
                           key_name="sdk-key", metadata={"a": "1"})
server = cmp.wait_for_server(server, status="ACTIVE", wait=60)
ok("compute: server ACTIVE", server.status == "ACTIVE" and server.key_name == "sdk-key")
ok("compute: list by name", [s.id for s in cmp.servers(name="^sdk-serv")] == [server.id])
cmp.update_server(server, name="sdk-server2")
ok("compute: rename", cmp.get_server(server.id).name == "sdk-server2")
cmp.set_server_metadata(server, b="2")
ok("compute: metadata", cmp.get_server_metadata(server).metadata == {"a": "1", "b": "2"})
server.add_tag(cmp, "t1")
ok("compute: tags", "t1" in cmp.get_server(server.id).tags)
cmp.lock_server(server)
ok("compute: locked", cmp.get_server(server.id).is_locked)
cmp.unlock_server(server)
for act, back, status in [(cmp.pause_server, cmp.unpause_server, "PAUSED"),
                          (cmp.suspend_server, cmp.resume_server, "SUSPENDED"),
                          (cmp.stop_server, cmp.start_server, "SHUTOFF"),
                          (cmp.rescue_server, cmp.unrescue_server, "RESCUE")]:
    act(server)
    wait_status(server, status)
    back(server)
    wait_status(server, "ACTIVE")
    ok(f"compute: {status.lower()} and back", True)
cmp.reboot_server(server, "SOFT")
wait_status(server, "ACTIVE")
ok("compute: console output", "sdk" in cmp.get_server_console_output(server)["output"] or
   len(cmp.get_server_console_output(server)["output"]) > 0)
snap = cmp.create_server_image(server, "sdk-snapshot", wait=True)
ok("compute: snapshot is an image", conn.image.get_image(snap.id).name == "sdk-snapshot")
conn.image.delete_image(snap)
group = cmp.create_server_group(name="sdk-group", policy="anti-affinity")
ok("compute: server group", cmp.get_server_group(group.id).policy == "anti-affinity")
cmp.delete_server_group(group)
agg = cmp.create_aggregate(name="sdk-agg")
host = server.compute_host
cmp.add_host_to_aggregate(agg, host)
cmp.set_aggregate_metadata(agg, {"k": "v"})
agg = cmp.get_aggregate(agg.id)
ok("compute: aggregate", agg.hosts == [host] and agg.metadata.get("k") == "v", agg)
try:
    # A host with servers cannot change zone (Nova refuses it too).
    cmp.set_aggregate_metadata(agg, {"availability_zone": "sdk-az"})
    raise SystemExit("sdk FAILED: the zone of a host with servers changed")
except openstack.exceptions.BadRequestException:
    ok("compute: zone change refused for a host with servers", True)
cmp.remove_host_from_aggregate(agg, host)
cmp.delete_aggregate(agg)
zone = cmp.create_aggregate(name="sdk-zone", availability_zone="sdk-az")
ok("compute: aggregate zone", cmp.get_aggregate(zone.id).availability_zone == "sdk-az")
cmp.delete_aggregate(zone)
hvs = list(cmp.hypervisors(details=True))
ok("compute: hypervisors", any(h.name == server.hypervisor_hostname for h in hvs))
ok("compute: services", any(s.binary == "nova-compute" and s.host == host for s in cmp.services()))
ok("compute: availability zones", "nova" in [z.name for z in cmp.availability_zones()])
limits = cmp.get_limits()
ok("compute: limits", limits.absolute.instances_used >= 1)
quota = cmp.get_quota_set(conn.current_project_id)
ok("compute: quota set", quota.instances is not None)
cmp.delete_server(server)
cmp.wait_for_delete(server, wait=60)
cmp.delete_keypair("sdk-key")
cmp.delete_flavor(flavor)
ok("compute: cleaned up", cmp.find_server("sdk-server2") is None and cmp.find_flavor("sdk.flavor") is None)

# ------------------------------------------------------------ placement
pl = conn.placement
rp = pl.create_resource_provider(name="sdk-rp")
pl.create_resource_provider_inventory(rp, resource_class="VCPU", total=8)
invs = {i.resource_class: i.total for i in pl.resource_provider_inventories(rp)}
ok("placement: inventory", invs == {"VCPU": 8}, invs)
rp = pl.get_resource_provider(rp.id)
pl.set_resource_provider_aggregates(rp, "5f1d2a32-2f9d-4a78-9f6d-d3c3a4e3c111")
ok("placement: aggregates", "5f1d2a32-2f9d-4a78-9f6d-d3c3a4e3c111" in pl.get_resource_provider_aggregates(rp).aggregates)
pl.create_trait("CUSTOM_SDK_TRAIT")
ok("placement: trait", [t.name for t in pl.traits(name="startswith:CUSTOM_SDK")] == ["CUSTOM_SDK_TRAIT"])
pl.delete_trait("CUSTOM_SDK_TRAIT")
pl.delete_resource_provider(rp)
ok("placement: provider deleted", pl.find_resource_provider("sdk-rp") is None)
print(f"sdk: {checks} checks passed")
