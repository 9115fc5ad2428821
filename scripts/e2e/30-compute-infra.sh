# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# Host aggregates and the zones they define, hypervisors and hosts, server
# groups honoured by the scheduler, usage, the default quota class. Leaves
# no aggregate, group or server behind and the quota class as it was.

# Aggregates: a zone, metadata, a host (its zone follows), Placement mirroring
# shown by the scheduler honouring the zone.
expect "aggregate create --zone" '^az-e2e$' \
    "$(os aggregate create --zone az-e2e agg-e2e -f value -c availability_zone)"
expect "aggregate list" '^agg-e2e$' "$(os aggregate list -f value -c Name)"
os aggregate set --property ssd=true agg-e2e
expect "aggregate set --property" "'?ssd'?(=|: )'true'" "$(os aggregate show agg-e2e -f value -c properties)"
os aggregate add host agg-e2e compute1 >/dev/null
expect "aggregate add host" 'compute1' "$(os aggregate show agg-e2e -f value -c hosts)"
zones="$(os availability zone list --compute -f value -c 'Zone Name')"
expect "availability zone list shows the aggregate's zone" '^az-e2e$' "$zones"
expect "availability zone list keeps the default zone" '^nova$' "$zones"
expect "hypervisor show names the aggregate" 'agg-e2e' "$(os hypervisor show compute1 -f value -c aggregates)"
expect "hypervisor show" '^compute1$' "$(os hypervisor show compute1 -f value -c service_host)"
expect "hypervisor show has an uptime" '[0-9]' "$(os hypervisor show compute1 -f value -c uptime)"
hosts="$(os host list -f value -c 'Host Name' -c Zone)"
expect "host list: compute1 in the aggregate's zone" '^compute1 az-e2e$' "$hosts"
expect "host list: compute2 in the default zone" '^compute2 nova$' "$hosts"
expect "host show" '^\(total\)$' "$(os host show compute1 -f value -c Project)"
for _ in 1 2; do
    expect "server create --availability-zone lands in the zone" '^compute1$' \
        "$(os server create --flavor m1.tiny --image berth-tiny-raw --nic none --availability-zone az-e2e --wait \
            -f value -c OS-EXT-SRV-ATTR:host vm-az)"
    os server delete --wait vm-az
done
# Image pre-caching (2.81): accepted for an image that exists, refused otherwise.
os --os-compute-api-version 2.81 aggregate cache image agg-e2e berth-tiny-raw
echo "ok: aggregate cache image"
if os --os-compute-api-version 2.81 aggregate cache image agg-e2e 0b4d3c1e-6a0f-4b7e-9d8c-1a2b3c4d5e6f >/dev/null 2>&1; then
    fail "aggregate cache image of a missing image succeeded"
fi
echo "ok: aggregate cache image refuses a missing image"
os aggregate remove host agg-e2e compute1 >/dev/null
expect "aggregate remove host" '^(\[\])?$' "$(os aggregate show agg-e2e -f value -c hosts)"
expect "the host is back in the default zone" '^compute1 nova$' "$(os host list -f value -c 'Host Name' -c Zone)"
os aggregate delete agg-e2e
expect "aggregate delete" '^$' "$(os aggregate list -f value -c Name)"

# Server groups: anti-affinity puts two servers on two hosts.
sg="$(os server group create --policy anti-affinity sg-e2e -f value -c id)"
expect "server group create" '^[0-9a-f-]{36}$' "$sg"
expect "server group list" '^sg-e2e$' "$(os server group list -f value -c Name)"
h1="$(os server create --flavor m1.tiny --image berth-tiny-raw --nic none --hint "group=$sg" --wait \
    -f value -c OS-EXT-SRV-ATTR:host vm-sg1)"
h2="$(os server create --flavor m1.tiny --image berth-tiny-raw --nic none --hint "group=$sg" --wait \
    -f value -c OS-EXT-SRV-ATTR:host vm-sg2)"
expect "anti-affinity: the first member's host" '^compute[12]$' "$h1"
expect "anti-affinity: the second member on the other host" '^compute[12]$' "$h2"
[ "$h1" != "$h2" ] || fail "anti-affinity: both members on $h1"
echo "ok: anti-affinity members on different hosts ($h1, $h2)"
members="$(os server group show sg-e2e -f value -c members)"
expect "server group show lists the members" "$(os server show vm-sg1 -f value -c id)" "$members"
expect "server group show lists the members" "$(os server show vm-sg2 -f value -c id)" "$members"
expect "server group show" '^anti-affinity$' "$(os server group show sg-e2e -f value -c policy)"
os server delete --wait vm-sg1 vm-sg2
os server group delete sg-e2e
expect "server group delete" '^$' "$(os server group list -f value -c Name)"

# Usage of the servers above (deleted ones count): one project's row with
# RAM MB-hours (openstacksdk asks with detailed=True, which Nova, and so
# berth, reads as not detailed: no server count).
expect "usage list" '^[^ ]+ [0-9]+\.[0-9]+$' "$(os usage list -f value -c Project -c 'RAM MB-Hours')"

# The default quota class sets every project's defaults.
os quota set --class --instances 11 default 2>/dev/null
expect "quota set --class default" '^instances 11$' "$(os quota show --default --compute -f value -c Resource -c Limit)"
os quota set --class --instances 10 default 2>/dev/null
expect "quota class restored" '^instances 10$' "$(os quota show --default --compute -f value -c Resource -c Limit)"

# Nova's image proxy (until 2.35) shows the image service's images.
expect "GET /images through compute (2.35)" '^berth-tiny-raw ACTIVE$' \
    "$(curl -sf -H "X-Auth-Token: $(os token issue -f value -c id)" -H "OpenStack-API-Version: compute 2.35" \
        "http://127.0.0.1:$port/compute/v2.1/images/detail" |
        python3 -c 'import json, sys; print("\n".join(i["name"] + " " + i["status"] for i in json.load(sys.stdin)["images"]))')"
