"""openstacksdk against `berth up`: the same resources the CLI e2e covers,
driven through the SDK's proxies (run by scripts/e2e/60-sdk.sh with the
client venv's python). Every call's result is asserted, not only its status;
everything created is deleted again, so the cloud ends as it started.

SDK_ONLY=identity,image,compute,placement runs a subset.
"""

import datetime
import hashlib
import os
import sys
import time

import openstack
import openstack.connection
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

CLOUD = "berth"
ONLY = [p for p in os.environ.get("SDK_ONLY", "").split(",") if p]


def ok(description, condition, got=None):
    if not condition:
        print(f"sdk e2e FAILED: {description}: got {got!r}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: sdk {description}")


def wait_for(description, fetch, predicate, tries=150, pause=0.2):
    last = None
    for _ in range(tries):
        last = fetch()
        if predicate(last):
            return last
        time.sleep(pause)
    ok(description, False, last)


def expect_missing(description, call):
    try:
        got = call()
    except openstack.exceptions.NotFoundException:
        ok(description, True)
        return
    ok(description, got is None, got)


def connect_as(conn, auth_type, **auth):
    """A connection with other credentials against the same cloud."""
    # Built from a keystoneauth session so that clouds.yaml's own `berth`
    # credentials are not merged in.
    auth_url = conn.config.auth["auth_url"]
    if auth_type == "password":
        plugin = v3.Password(auth_url=auth_url, **auth)
    else:
        plugin = v3.ApplicationCredential(auth_url=auth_url, **auth)
    return openstack.connection.Connection(
        session=ks_session.Session(auth=plugin),
        region_name=conn.config.region_name,
        identity_api_version="3",
    )


def identity(conn):
    idn = conn.identity
    default = idn.find_domain("Default")
    ok("domain Default", default is not None and default.id == "default", default)
    dom = idn.create_domain(name="sdk-domain", description="sdk domain", is_enabled=True)
    ok("domain create", dom.name == "sdk-domain" and dom.is_enabled, dom)
    dom = idn.update_domain(dom, description="changed", is_enabled=False)
    ok("domain update", dom.description == "changed" and not dom.is_enabled, dom)
    ok("domain list", "sdk-domain" in [d.name for d in idn.domains()])

    proj = idn.create_project(name="sdk-proj", description="sdk project", domain_id="default")
    ok("project create", proj.name == "sdk-proj" and proj.domain_id == "default", proj)
    ok("project get", idn.get_project(proj.id).description == "sdk project")
    ok("project find", idn.find_project("sdk-proj").id == proj.id)
    proj = idn.update_project(proj, description="changed")
    ok("project update", proj.description == "changed", proj)
    ok("project list by name", [p.id for p in idn.projects(name="sdk-proj")] == [proj.id])
    # project tags
    proj.add_tag(idn, "blue")
    proj.add_tag(idn, "red")
    ok("project tags", sorted(idn.get_project(proj.id).tags) == ["blue", "red"])
    ok("project tag check", proj.check_tag(idn, "blue") is not None)
    proj.remove_tag(idn, "blue")
    ok("project tag remove", idn.get_project(proj.id).tags == ["red"])
    ok("projects filtered by tag", [p.id for p in idn.projects(tags="red")] == [proj.id])

    user = idn.create_user(
        name="sdk-user", password="sdk-pw", default_project_id=proj.id, email="u@example.org"
    )
    ok("user create", user.name == "sdk-user" and user.is_enabled, user)
    ok("user find", idn.find_user("sdk-user").id == user.id)
    user = idn.update_user(user, email="v@example.org")
    ok("user update", idn.get_user(user.id).email == "v@example.org")
    ok("user list by name", [u.id for u in idn.users(name="sdk-user")] == [user.id])

    group = idn.create_group(name="sdk-group", description="sdk group", domain_id="default")
    ok("group create", group.name == "sdk-group", group)
    idn.add_user_to_group(user, group)
    ok("group membership", idn.check_user_in_group(user, group))
    ok("group users", [u.id for u in idn.group_users(group)] == [user.id])
    ok("user groups", [g.id for g in idn.user_groups(user)] == [group.id])

    role = idn.create_role(name="sdk-role")
    ok("role create", role.name == "sdk-role", role)
    ok("role find", idn.find_role("sdk-role").id == role.id)
    member = idn.find_role("member")
    ok("role member exists", member is not None, member)
    idn.assign_project_role_to_user(proj, user, role)
    ok("role assigned to user", idn.validate_user_has_project_role(proj, user, role))
    idn.assign_project_role_to_group(proj, group, member)
    ok("role assigned to group", idn.validate_group_has_project_role(proj, group, member))
    effective = {
        (a.role["id"], a.user["id"])
        for a in idn.role_assignments(user_id=user.id, effective=True)
        if a.scope.get("project", {}).get("id") == proj.id
    }
    # member implies reader (the bootstrap's implied role), so three
    reader = idn.find_role("reader")
    ok(
        "effective assignments incl. implied",
        effective == {(role.id, user.id), (member.id, user.id), (reader.id, user.id)},
        effective,
    )
    ok(
        "project user roles",
        sorted(r.name for r in idn.role_assignments_filter(project=proj, user=user)) == ["sdk-role"],
    )

    # the user authenticates with its own password, scoped to the project
    user_conn = connect_as(
        conn,
        "password",
        username="sdk-user",
        password="sdk-pw",
        project_name="sdk-proj",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    ok("user token project", user_conn.current_project_id == proj.id, user_conn.current_project_id)

    # application credentials: create, authenticate with one, delete
    appcred = user_conn.identity.create_application_credential(
        user=user.id, name="sdk-appcred", description="sdk", roles=[{"name": "member"}]
    )
    ok("application credential create", appcred.secret and appcred.name == "sdk-appcred", appcred)
    listed = [a.name for a in user_conn.identity.application_credentials(user=user.id)]
    ok("application credential list", listed == ["sdk-appcred"], listed)
    got = user_conn.identity.get_application_credential(user.id, appcred.id)
    ok("application credential get", got.roles and got.roles[0]["name"] == "member", got)
    ac_conn = connect_as(
        conn,
        "v3applicationcredential",
        application_credential_id=appcred.id,
        application_credential_secret=appcred.secret,
    )
    ok("application credential auth", ac_conn.current_project_id == proj.id)
    ok("application credential token works", ac_conn.compute.get("/flavors").status_code == 200)
    user_conn.identity.delete_application_credential(user.id, appcred.id)
    ok("application credential delete", list(user_conn.identity.application_credentials(user=user.id)) == [])

    # trusts: the user delegates its role to the admin, who scopes a token with it
    admin_id = conn.current_user_id
    trust = user_conn.identity.create_trust(
        trustor_user_id=user.id, trustee_user_id=admin_id, project_id=proj.id,
        impersonation=False, roles=[{"name": "sdk-role"}], remaining_uses=5,
    )
    ok("trust create", trust.trustor_user_id == user.id and trust.remaining_uses == 5, trust)
    got = user_conn.identity.get_trust(trust.id)
    ok("trust get", got.project_id == proj.id and [r["name"] for r in got.roles] == ["sdk-role"], got)
    ok("trust list by trustor", [t.id for t in user_conn.identity.trusts(trustor_user_id=user.id)] == [trust.id])
    trust_conn = connect_as(
        conn, "password", username="admin", password=conn.config.auth["password"],
        user_domain_name="Default", trust_id=trust.id,
    )
    ok("trust-scoped token", trust_conn.current_project_id == proj.id and trust_conn.current_user_id == admin_id)
    access = trust_conn.session.auth.get_access(trust_conn.session)
    ok("trust token roles", sorted(access.role_names) == ["sdk-role"] and access.trust_id == trust.id, access.role_names)
    user_conn.identity.delete_trust(trust)
    expect_missing("trust delete", lambda: user_conn.identity.get_trust(trust.id))

    # credentials
    cred = idn.create_credential(type="ec2", user_id=user.id, project_id=proj.id,
                                 blob='{"access": "ak", "secret": "sk"}')
    ok("credential create", cred.type == "ec2" and cred.user_id == user.id, cred)
    ok("credential list", [c.id for c in idn.credentials(user_id=user.id)] == [cred.id])
    cred = idn.update_credential(cred, blob='{"access": "ak", "secret": "sk2"}')
    ok("credential update", "sk2" in idn.get_credential(cred.id).blob)
    idn.delete_credential(cred)
    ok("credential delete", list(idn.credentials(user_id=user.id)) == [])

    # the catalog: region, service, endpoint
    region = idn.create_region(id="sdk-region", description="sdk region")
    ok("region create", region.id == "sdk-region", region)
    ok("region get", idn.get_region("sdk-region").description == "sdk region")
    svc = idn.create_service(name="sdk-svc", type="sdk-type", description="sdk service")
    ok("service create", svc.type == "sdk-type" and svc.is_enabled, svc)
    ok("service find", idn.find_service("sdk-svc").id == svc.id)
    ep = idn.create_endpoint(service_id=svc.id, interface="public", url="http://sdk.example/v1",
                             region_id="sdk-region")
    ok("endpoint create", ep.url == "http://sdk.example/v1" and ep.region_id == "sdk-region", ep)
    ok("endpoint list by service", [e.id for e in idn.endpoints(service_id=svc.id)] == [ep.id])
    ep = idn.update_endpoint(ep, url="http://sdk.example/v2")
    ok("endpoint update", idn.get_endpoint(ep.id).url == "http://sdk.example/v2")
    idn.delete_endpoint(ep)
    expect_missing("endpoint delete", lambda: idn.get_endpoint(ep.id))
    idn.delete_service(svc)
    ok("service delete", idn.find_service("sdk-svc") is None)
    idn.delete_region(region)
    expect_missing("region delete", lambda: idn.get_region("sdk-region"))
    ok("catalog services", {"compute", "image", "identity", "placement"} <= {s.type for s in idn.services()})

    # tear down
    idn.unassign_project_role_from_group(proj, group, member)
    ok("group role unassigned", not idn.validate_group_has_project_role(proj, group, member))
    idn.unassign_project_role_from_user(proj, user, role)
    ok("user role unassigned", not idn.validate_user_has_project_role(proj, user, role))
    idn.remove_user_from_group(user, group)
    ok("group membership removed", not idn.check_user_in_group(user, group))
    idn.delete_group(group)
    ok("group delete", idn.find_group("sdk-group") is None)
    idn.delete_role(role)
    ok("role delete", idn.find_role("sdk-role") is None)
    idn.delete_user(user)
    ok("user delete", idn.find_user("sdk-user") is None)
    idn.delete_project(proj)
    ok("project delete", idn.find_project("sdk-proj") is None)
    idn.delete_domain(dom)
    ok("domain delete", idn.find_domain("sdk-domain") is None)


def image(conn):
    img = conn.image
    data = os.urandom(4096) + b"berth-sdk"
    created = img.create_image(
        name="sdk-image",
        data=data,
        disk_format="raw",
        container_format="bare",
        visibility="private",
        min_ram=16,
        validate_checksum=True,
        wait=True,
    )
    ok("image create+upload", created.status == "active" and created.size == len(data), created)
    ok("image checksum", created.checksum == hashlib.md5(data).hexdigest(), created.checksum)
    ok("image os_hash", created.hash_value == hashlib.sha512(data).hexdigest(), created.hash_value)
    got = img.get_image(created.id)
    ok("image get", got.name == "sdk-image" and got.min_ram == 16 and got.visibility == "private", got)
    ok("image find", img.find_image("sdk-image").id == created.id)
    ok("image list by name", [i.id for i in img.images(name="sdk-image")] == [created.id])
    down = img.download_image(created)
    ok("image download", down.content == data, len(down.content))
    chunks = b"".join(img.download_image(created, stream=True).iter_content(1000))
    ok("image download streamed", chunks == data, len(chunks))
    upd = img.update_image(created, name="sdk-image2", min_disk=1, sdk_prop="x")
    got = img.get_image(created.id)
    ok("image update", got.name == "sdk-image2" and got.min_disk == 1, got)
    ok("image property", got.properties.get("sdk_prop") == "x", got.properties)
    img.add_tag(upd, "t1")
    img.add_tag(upd, "t2")
    ok("image tags", sorted(img.get_image(created.id).tags) == ["t1", "t2"])
    ok("image list by tag", [i.id for i in img.images(tag="t1")] == [created.id])
    img.remove_tag(upd, "t1")
    ok("image tag remove", img.get_image(created.id).tags == ["t2"])
    img.deactivate_image(created)
    ok("image deactivate", img.get_image(created.id).status == "deactivated")
    img.reactivate_image(created)
    ok("image reactivate", img.get_image(created.id).status == "active")
    # an image created empty then uploaded
    empty = img.create_image(name="sdk-empty", disk_format="qcow2", container_format="bare",
                             allow_duplicates=True)
    ok("image create queued", empty.status == "queued" and empty.size is None, empty)
    empty.data = b"payload"
    empty.upload(img)
    ok("image upload later", img.get_image(empty.id).status == "active" and img.get_image(empty.id).size == 7)
    img.delete_image(empty)
    img.delete_image(created)
    expect_missing("image delete", lambda: img.get_image(created.id))
    ok("image list after delete", [i for i in img.images() if i.name.startswith("sdk-")] == [])

    # metadef namespaces
    ns = img.create_metadef_namespace(namespace="sdk.ns", display_name="SDK", description="sdk ns",
                                      visibility="public", is_protected=False)
    ok("metadef namespace create", ns.namespace == "sdk.ns" and ns.display_name == "SDK", ns)
    ok("metadef namespace get", img.get_metadef_namespace("sdk.ns").description == "sdk ns")
    ok("metadef namespace list", "sdk.ns" in [n.namespace for n in img.metadef_namespaces()])
    img.update_metadef_namespace(ns, description="changed")
    ok("metadef namespace update", img.get_metadef_namespace("sdk.ns").description == "changed")
    img.delete_metadef_namespace(ns)
    expect_missing("metadef namespace delete", lambda: img.get_metadef_namespace("sdk.ns"))


def wait_server(cmp, server, status):
    return wait_for(
        f"server reaches {status}",
        lambda: cmp.get_server(server.id),
        lambda s: s.status == status,
    )


def compute(conn):
    cmp = conn.compute
    # flavors with extra specs
    flv = cmp.create_flavor(name="sdk-flavor", ram=64, vcpus=1, disk=1, is_public=True)
    ok("flavor create", flv.name == "sdk-flavor" and flv.ram == 64 and flv.vcpus == 1, flv)
    ok("flavor find", cmp.find_flavor("sdk-flavor").id == flv.id)
    ok("flavor list", "sdk-flavor" in [f.name for f in cmp.flavors()])
    cmp.create_flavor_extra_specs(flv, {"hw:cpu_policy": "shared", "sdk:k": "v"})
    specs = cmp.fetch_flavor_extra_specs(flv).extra_specs
    ok("flavor extra specs", specs == {"hw:cpu_policy": "shared", "sdk:k": "v"}, specs)
    ok("flavor extra spec get", cmp.get_flavor_extra_specs_property(flv, "sdk:k") == "v")
    cmp.update_flavor_extra_specs_property(flv, "sdk:k", "w")
    ok("flavor extra spec update", cmp.get_flavor_extra_specs_property(flv, "sdk:k") == "w")
    cmp.delete_flavor_extra_specs_property(flv, "sdk:k")
    specs = cmp.fetch_flavor_extra_specs(flv).extra_specs
    ok("flavor extra spec delete", specs == {"hw:cpu_policy": "shared"}, specs)
    ok("flavor get with specs", cmp.get_flavor(flv.id).extra_specs == {"hw:cpu_policy": "shared"})
    cmp.delete_flavor(flv)
    ok("flavor delete", cmp.find_flavor("sdk-flavor") is None)

    # keypairs
    kp = cmp.create_keypair(name="sdk-kp")
    ok("keypair create", kp.private_key and kp.public_key.startswith("ssh-") and kp.fingerprint, kp)
    imported = cmp.create_keypair(name="sdk-kp2", public_key=kp.public_key)
    ok("keypair import", imported.fingerprint == kp.fingerprint and not imported.private_key, imported)
    ok("keypair list", sorted(k.name for k in cmp.keypairs() if k.name.startswith("sdk-")) == ["sdk-kp", "sdk-kp2"])
    ok("keypair get", cmp.get_keypair("sdk-kp2").public_key == kp.public_key)
    cmp.delete_keypair("sdk-kp2")
    expect_missing("keypair delete", lambda: cmp.get_keypair("sdk-kp2"))

    # a server through its lifecycle
    flavor = cmp.find_flavor("m1.tiny")
    image = conn.image.find_image("berth-tiny-raw")
    ok("stock flavor and image", flavor is not None and image is not None)
    server = cmp.create_server(
        name="sdk-vm", flavor_id=flavor.id, image_id=image.id, networks="none",
        key_name="sdk-kp", metadata={"role": "sdk"},
    )
    server = cmp.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    ok("server ACTIVE", server.status == "ACTIVE" and server.key_name == "sdk-kp", server)
    ok("server list", server.id in [s.id for s in cmp.servers()])
    ok("server list by name", [s.id for s in cmp.servers(name="^sdk-vm$")] == [server.id])
    ok("server list by name, detailed", [s.flavor["original_name"] for s in cmp.servers(name="sdk-vm")] == ["m1.tiny"])
    ok("server find", cmp.find_server("sdk-vm").id == server.id)
    got = cmp.get_server(server.id)
    ok("server get", got.image["id"] == image.id and got.metadata == {"role": "sdk"}, got)
    ok("server host", got.compute_host in ("compute1", "compute2"), got.compute_host)
    cmp.update_server(server, name="sdk-vm2")
    ok("server update", cmp.get_server(server.id).name == "sdk-vm2")
    cmp.set_server_metadata(server, color="red")
    ok("server metadata set", cmp.get_server_metadata(server).metadata == {"role": "sdk", "color": "red"})
    cmp.delete_server_metadata(server, ["role"])
    ok("server metadata delete", cmp.get_server_metadata(server).metadata == {"color": "red"})
    server = cmp.get_server(server.id)
    server.add_tag(cmp, "sdk-tag")
    ok("server tags", cmp.get_server(server.id).tags == ["sdk-tag"])
    ok("server list by tag", [s.id for s in cmp.servers(tags="sdk-tag")] == [server.id])
    server.remove_tag(cmp, "sdk-tag")
    ok("server tag remove", cmp.get_server(server.id).tags == [])

    cmp.lock_server(server, locked_reason="sdk")
    got = cmp.get_server(server.id)
    ok("server lock", got.is_locked, got.is_locked)
    cmp.unlock_server(server)
    ok("server unlock", not cmp.get_server(server.id).is_locked)
    for action, undo, mid in (
        (cmp.pause_server, cmp.unpause_server, "PAUSED"),
        (cmp.suspend_server, cmp.resume_server, "SUSPENDED"),
        (cmp.stop_server, cmp.start_server, "SHUTOFF"),
        (cmp.rescue_server, cmp.unrescue_server, "RESCUE"),
    ):
        action(server)
        wait_server(cmp, server, mid)
        undo(server)
        wait_server(cmp, server, "ACTIVE")
        ok(f"server {mid.lower()} and back", True)
    cmp.reboot_server(server, "SOFT")
    wait_server(cmp, server, "ACTIVE")
    ok("server reboot", cmp.get_server(server.id).power_state == 1)
    out = cmp.get_server_console_output(server, length=5)
    ok("console output", isinstance(out.get("output"), str) and len(out["output"].splitlines()) <= 5, out)

    snap = cmp.create_server_image(server, "sdk-snap", metadata={"from": "sdk"}, wait=True, timeout=60)
    ok("server image", snap.name == "sdk-snap" and snap.status == "active", snap)
    snap = conn.image.get_image(snap.id)
    ok("server image properties", snap.properties.get("from") == "sdk" and snap.instance_uuid == server.id, snap)
    conn.image.delete_image(snap)

    cmp.delete_server(server)
    cmp.wait_for_delete(server, interval=0.5, wait=60)
    expect_missing("server delete", lambda: cmp.get_server(server.id))
    cmp.delete_keypair("sdk-kp")
    expect_missing("keypair delete (used)", lambda: cmp.get_keypair("sdk-kp"))

    # server groups
    sg = cmp.create_server_group(name="sdk-sg", policy="anti-affinity")
    ok("server group create", sg.policy == "anti-affinity" and sg.member_ids == [], sg)
    ok("server group list", [g.id for g in cmp.server_groups() if g.name == "sdk-sg"] == [sg.id])
    ok("server group get", cmp.get_server_group(sg.id).name == "sdk-sg")
    cmp.delete_server_group(sg)
    expect_missing("server group delete", lambda: cmp.get_server_group(sg.id))

    # aggregates
    hosts = sorted(s.host for s in cmp.services(binary="nova-compute"))
    ok("compute services", hosts == ["compute1", "compute2"], hosts)
    agg = cmp.create_aggregate(name="sdk-agg", availability_zone="sdk-az")
    ok("aggregate create", agg.name == "sdk-agg" and agg.availability_zone == "sdk-az", agg)
    agg = cmp.add_host_to_aggregate(agg, "compute1")
    ok("aggregate add host", agg.hosts == ["compute1"], agg.hosts)
    agg = cmp.set_aggregate_metadata(agg, {"sdk": "yes"})
    ok("aggregate metadata", agg.metadata.get("sdk") == "yes", agg.metadata)
    zones = {z.name: z for z in cmp.availability_zones(details=True)}
    ok("availability zone from aggregate", "sdk-az" in zones and zones["sdk-az"].state["available"], zones)
    ok("aggregate list", [a.id for a in cmp.aggregates() if a.name == "sdk-agg"] == [agg.id])
    agg = cmp.update_aggregate(agg, name="sdk-agg2")
    ok("aggregate update", cmp.get_aggregate(agg.id).name == "sdk-agg2")
    agg = cmp.remove_host_from_aggregate(agg, "compute1")
    ok("aggregate remove host", agg.hosts == [], agg.hosts)
    cmp.delete_aggregate(agg)
    expect_missing("aggregate delete", lambda: cmp.get_aggregate(agg.id))
    ok("availability zones", [z.name for z in cmp.availability_zones()] == ["nova"])

    hyps = list(cmp.hypervisors(details=True))
    ok("hypervisors", sorted(h.name for h in hyps) == ["compute1", "compute2"], hyps)
    hyp = cmp.get_hypervisor(hyps[0].id)
    ok("hypervisor get", hyp.state == "up" and hyp.status == "enabled", hyp)
    ok("hypervisor find", cmp.find_hypervisor(hyps[0].name).id == hyps[0].id)
    svcs = list(cmp.services())
    ok("services", all(s.state == "up" for s in svcs) and any(s.binary == "nova-compute" for s in svcs), svcs)

    # quotas, limits, usage
    project_id = conn.current_project_id
    qs = cmp.get_quota_set(project_id)
    ok("quota set", qs.instances is not None and qs.cores is not None, qs)
    cmp.update_quota_set(project_id, instances=qs.instances + 1)
    ok("quota update", cmp.get_quota_set(project_id).instances == qs.instances + 1)
    cmp.revert_quota_set(project_id)
    ok("quota revert", cmp.get_quota_set(project_id).instances == qs.instances)
    ok("quota defaults", cmp.get_quota_set_defaults(project_id).instances == qs.instances)
    limits = cmp.get_limits()
    ok("limits", limits.absolute.instances == qs.instances and limits.absolute.instances_used == 0, limits.absolute)
    # the window holds the server above (created and deleted within it)
    end = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    begin = end - datetime.timedelta(hours=1)
    usage = cmp.get_usage(project_id, start=begin, end=end)
    ok("usage", usage.project_id == project_id and usage.total_hours > 0, usage)
    mine = [u for u in usage.server_usages if u["instance_id"] == server.id]
    ok("usage server", len(mine) == 1 and mine[0]["state"] == "terminated", mine)
    ok("usages", project_id in [u.project_id for u in cmp.usages(start=begin, end=end)])


def placement(conn):
    plc = conn.placement
    computes = {r.name: r for r in plc.resource_providers()}
    ok("resource providers of the computes", {"compute1", "compute2"} <= set(computes), computes)
    inv = {i.resource_class: i for i in plc.resource_provider_inventories(computes["compute1"])}
    ok("compute inventories", {"VCPU", "MEMORY_MB", "DISK_GB"} <= set(inv) and inv["VCPU"].total > 0, inv)

    rc = plc.create_resource_class(name="CUSTOM_SDK")
    ok("resource class create", rc.name == "CUSTOM_SDK", rc)
    ok("resource class get", plc.get_resource_class("CUSTOM_SDK").name == "CUSTOM_SDK")
    ok("resource class list", "CUSTOM_SDK" in [c.name for c in plc.resource_classes()])

    rp = plc.create_resource_provider(name="sdk-rp")
    ok("resource provider create", rp.name == "sdk-rp" and rp.generation == 0, rp)
    ok("resource provider get", plc.get_resource_provider(rp.id).name == "sdk-rp")
    ok("resource provider find", plc.find_resource_provider("sdk-rp").id == rp.id)
    ok("resource provider list by name", [r.id for r in plc.resource_providers(name="sdk-rp")] == [rp.id])
    rp = plc.update_resource_provider(rp, name="sdk-rp2")
    ok("resource provider update", plc.get_resource_provider(rp.id).name == "sdk-rp2")
    child = plc.create_resource_provider(name="sdk-child", parent_provider_uuid=rp.id)
    ok("nested provider", child.parent_provider_id == rp.id and child.root_provider_id == rp.id, child)

    i1 = plc.create_resource_provider_inventory(rp, resource_class="CUSTOM_SDK", total=10, reserved=1,
                                                 max_unit=5, allocation_ratio=2.0)
    ok("inventory create", i1.total == 10 and i1.reserved == 1, i1)
    plc.create_resource_provider_inventory(rp, resource_class="VCPU", total=4)
    got = {i.resource_class: i.total for i in plc.resource_provider_inventories(rp)}
    ok("inventory list", got == {"CUSTOM_SDK": 10, "VCPU": 4}, got)
    i1 = plc.get_resource_provider_inventory(i1, resource_provider=rp)
    # a PUT of one inventory replaces it: fields left out take their defaults
    i1 = plc.update_resource_provider_inventory(
        i1, resource_provider=rp, resource_provider_generation=i1.resource_provider_generation, total=20
    )
    got = plc.get_resource_provider_inventory("CUSTOM_SDK", resource_provider=rp)
    ok("inventory update", (got.total, got.reserved, got.allocation_ratio) == (20, 0, 1.0), got)
    plc.delete_resource_provider_inventory("VCPU", resource_provider=rp)
    got = [i.resource_class for i in plc.resource_provider_inventories(rp)]
    ok("inventory delete", got == ["CUSTOM_SDK"], got)

    trait = plc.create_trait("CUSTOM_SDK_TRAIT")
    ok("trait create", trait.id == "CUSTOM_SDK_TRAIT", trait)
    ok("trait get", plc.get_trait("CUSTOM_SDK_TRAIT").id == "CUSTOM_SDK_TRAIT")
    ok("trait list", "CUSTOM_SDK_TRAIT" in [t.name for t in plc.traits(name="startswith:CUSTOM_SDK")])
    ok("standard traits", "HW_CPU_X86_AVX2" in [t.name for t in plc.traits(name="in:HW_CPU_X86_AVX2")])
    rpt = plc.get_resource_provider_trait(rp)
    ok("provider traits empty", rpt.traits == [], rpt.traits)
    plc.set_resource_provider_trait(rpt, traits=["CUSTOM_SDK_TRAIT", "HW_CPU_X86_AVX2"])
    got = sorted(plc.get_resource_provider_trait(rp).traits)
    ok("provider traits set", got == ["CUSTOM_SDK_TRAIT", "HW_CPU_X86_AVX2"], got)
    ok("providers by trait", [r.id for r in plc.resource_providers(required="CUSTOM_SDK_TRAIT")] == [rp.id])

    agg_id = "5c7a4c79-6c5b-4a52-8f5f-6f0f2d3a1c11"
    # a write with a stale provider generation is refused
    try:
        plc.set_resource_provider_aggregates(rp, agg_id)
        ok("stale generation refused", False, rp.generation)
    except openstack.exceptions.ConflictException:
        ok("stale generation refused", True)
    # the provider as it is now: the write carries its current generation
    plc.set_resource_provider_aggregates(plc.get_resource_provider(rp.id), agg_id)
    got = plc.fetch_resource_provider_aggregates(rp).aggregates
    ok("provider aggregates", got == [agg_id], got)
    ok("providers by aggregate", [r.id for r in plc.resource_providers(member_of=agg_id)] == [rp.id])

    # allocations and usages: a consumer holding part of the new inventory
    consumer = "0f3c9d33-6a3e-4a51-9b9a-5a1b9d8e7f20"
    alloc = plc.update_allocation(
        consumer,
        allocations={rp.id: {"resources": {"CUSTOM_SDK": 3}}},
        project_id=conn.current_project_id,
        user_id=conn.current_user_id,
        consumer_generation=None,
        consumer_type="INSTANCE",
    )
    got = plc.get_allocation(consumer)
    ok("allocation get", got.allocations[rp.id]["resources"] == {"CUSTOM_SDK": 3}, got.allocations)
    ok("allocation owner", (got.project_id, got.user_id) == (conn.current_project_id, conn.current_user_id), got)
    got = plc.fetch_resource_provider_usages(rp).usages
    ok("provider usages", got == {"CUSTOM_SDK": 3}, got)
    cands = list(plc.allocation_candidates(resources="CUSTOM_SDK:5"))
    ok("allocation candidates", [list(c.allocations) for c in cands] == [[rp.id]], cands)
    got = {u.consumer_type: u.resources for u in plc.usages(conn.current_project_id)}
    ok("project usages", got.get("INSTANCE", {}).get("CUSTOM_SDK") == 3, got)
    plc.delete_allocation(consumer)
    got = plc.fetch_resource_provider_usages(rp).usages
    ok("provider usages after delete", got == {"CUSTOM_SDK": 0}, got)
    expect_missing("allocation delete", lambda: plc.get_allocation(consumer).allocations or None)

    plc.delete_resource_provider_trait(rp)
    ok("provider traits cleared", plc.get_resource_provider_trait(rp).traits == [])
    plc.delete_trait("CUSTOM_SDK_TRAIT")
    expect_missing("trait delete", lambda: plc.get_trait("CUSTOM_SDK_TRAIT"))
    plc.delete_resource_provider(child)
    plc.delete_resource_provider(rp)
    ok("resource provider delete", plc.find_resource_provider("sdk-rp2") is None)
    plc.delete_resource_class("CUSTOM_SDK")
    expect_missing("resource class delete", lambda: plc.get_resource_class("CUSTOM_SDK"))


SECTIONS = {"identity": identity, "image": image, "compute": compute, "placement": placement}


def inventory(conn):
    """What the checks could leave behind, to compare before and after."""
    return {
        "domains": sorted(d.id for d in conn.identity.domains()),
        "projects": sorted(p.id for p in conn.identity.projects()),
        "users": sorted(u.id for u in conn.identity.users()),
        "groups": sorted(g.id for g in conn.identity.groups()),
        "roles": sorted(r.id for r in conn.identity.roles()),
        "services": sorted(s.id for s in conn.identity.services()),
        "endpoints": sorted(e.id for e in conn.identity.endpoints()),
        "regions": sorted(r.id for r in conn.identity.regions()),
        "credentials": sorted(c.id for c in conn.identity.credentials()),
        "images": sorted(i.id for i in conn.image.images()),
        "namespaces": sorted(n.namespace for n in conn.image.metadef_namespaces()),
        "flavors": sorted(f.id for f in conn.compute.flavors()),
        "keypairs": sorted(k.name for k in conn.compute.keypairs()),
        "servers": sorted(s.id for s in conn.compute.servers(all_projects=True)),
        "server_groups": sorted(g.id for g in conn.compute.server_groups(all_projects=True)),
        "aggregates": sorted(a.id for a in conn.compute.aggregates()),
        "providers": sorted(r.id for r in conn.placement.resource_providers()),
        "classes": sorted(c.name for c in conn.placement.resource_classes()),
        "traits": sorted(t.id for t in conn.placement.traits(name="startswith:CUSTOM_")),
    }


def main():
    conn = openstack.connect(cloud=CLOUD)
    before = inventory(conn)
    for name, section in SECTIONS.items():
        if ONLY and name not in ONLY:
            continue
        print(f"== sdk: {name}")
        section(conn)
    after = inventory(conn)
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    ok("the cloud is left as it was found", not changed, changed)
    print("sdk: passed")


if __name__ == "__main__":
    main()
