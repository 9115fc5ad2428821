# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
expect "token issue" '^[A-Za-z0-9_-]{20,}$' "$(os token issue -f value -c id)"
expect "image list shows the default image" '^berth-tiny-raw$' "$(os image list -f value -c Name)"
expect "flavor list shows m1.tiny" '^m1\.tiny$' "$(os flavor list -f value -c Name)"
rp="$(os resource provider list -f value -c uuid -c name | awk '$2 == "compute1" {print $1}')"
expect "compute1 has a resource provider" '^[0-9a-f-]{36}$' "$rp"
usage() { os resource provider usage show "$rp" -f value -c resource_class -c usage | sort | tr '\n' ' '; }
before="$(usage)"
expect "usage before the server is zero" '^DISK_GB 0 MEMORY_MB 0 VCPU 0 $' "$before"

expect "server create --wait" '^ACTIVE$' \
    "$(os server create --flavor m1.tiny --image berth-tiny-raw --nic none --availability-zone nova:compute1 --wait -f value -c status vm1)"
expect "server list" '^vm1 ACTIVE$' "$(os server list -f value -c Name -c Status)"
expect "the server's usage is claimed on compute1" '^DISK_GB 1 MEMORY_MB 512 VCPU 1 $' "$(usage)"

os compute service set --disable --down compute1 nova-compute
expect "compute1 is disabled and down" '^compute1 disabled down$' \
    "$(os compute service list -f value -c Host -c Status -c State | grep '^compute1 ')"
os server delete --wait vm1
expect "the server is gone" '^$' "$(os server list -f value -c Name)"
expect "usages back to the start right after the local delete" "^${before}\$" "$(usage)"

os compute service set --enable --up compute1 nova-compute
expect "compute1 is enabled and up" '^compute1 enabled up$' \
    "$(os compute service list -f value -c Host -c Status -c State | grep '^compute1 ')"
sleep 3
expect "usages still at the start after the service returns" "^${before}\$" "$(usage)"
expect "hypervisor list" 'compute1' "$(os hypervisor list -f value -c 'Hypervisor Hostname')"
