# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# Server actions beyond power with the stock CLI: lock (with a reason),
# pause, suspend, rescue and their inverses, the admin state reset, tags,
# the console log, diagnostics, an image and a backup of the server, and a
# rebuild from that image.
wait_status() { # wait_status SERVER STATUS
    local got=""
    for _ in $(seq 1 100); do
        got="$(os server show "$1" -f value -c status)"
        [ "$got" = "$2" ] && return 0
        sleep 0.2
    done
    fail "server $1 did not reach $2 (last: $got)"
}
expect "server create for actions" '^ACTIVE$' \
    "$(os server create --flavor m1.tiny --image berth-tiny-raw --nic none --wait -f value -c status vmact)"

os --os-compute-api-version 2.73 server lock --reason "maintenance window" vmact
expect "server lock shows the reason" '^True maintenance window$' \
    "$(os --os-compute-api-version 2.73 server show vmact -f value -c locked -c locked_reason | tr '\n' ' ' | sed 's/ $//')"
expect "server list --locked" '^vmact$' "$(os --os-compute-api-version 2.73 server list --locked -f value -c Name)"
os server unlock vmact
expect "server unlock" '^False$' "$(os --os-compute-api-version 2.9 server show vmact -f value -c locked)"

os server pause vmact
wait_status vmact PAUSED
expect "server pause: the guest is paused" '^(Paused|3)$' "$(os server show vmact -f value -c OS-EXT-STS:power_state)"
os server unpause vmact
wait_status vmact ACTIVE
os server suspend vmact
wait_status vmact SUSPENDED
os server resume vmact
wait_status vmact ACTIVE
os server rescue vmact
wait_status vmact RESCUE
os server unrescue vmact
wait_status vmact ACTIVE

# The CLI asks for confirmation before a state reset.
printf 'y\n' | os server set --state error vmact >/dev/null 2>&1
expect "server set --state error (os-resetState)" '^ERROR$' "$(os server show vmact -f value -c status)"
printf 'y\n' | os server set --state active vmact >/dev/null 2>&1
expect "server set --state active" '^ACTIVE$' "$(os server show vmact -f value -c status)"

os --os-compute-api-version 2.26 server set --tag web --tag prod vmact
expect "server set --tag" "^\\['prod', 'web'\\]$|^prod, web$|^prod,web$" \
    "$(os --os-compute-api-version 2.26 server show vmact -f value -c tags)"
expect "server list --tags" '^vmact$' "$(os --os-compute-api-version 2.26 server list --tags web,prod -f value -c Name)"
expect "server list --not-tags" '^$' "$(os --os-compute-api-version 2.26 server list --not-tags web -f value -c Name)"
os --os-compute-api-version 2.26 server unset --tag web vmact
expect "server unset --tag" "^\\['prod'\\]$|^prod$" "$(os --os-compute-api-version 2.26 server show vmact -f value -c tags)"

expect "console log show" 'cloud-init: booted instance' "$(os console log show vmact)"
expect "console log show --lines 1" '^login: ?$' "$(os console log show --lines 1 vmact)"
expect "server show --diagnostics" 'driver.*fake' "$(os server show --diagnostics vmact)"

os server image create --name vmact-snap --wait vmact >/dev/null
expect "server image create makes an active image" '^active$' "$(os image show vmact-snap -f value -c status)"
expect "the image is a snapshot of the server" "'image_type': 'snapshot'" "$(os image show vmact-snap -f value -c properties)"
os server backup create --name vmact-daily --type daily --rotate 1 --wait vmact >/dev/null
expect "server backup create" '^active$' "$(os image show vmact-daily -f value -c status)"
wait_status vmact ACTIVE

# Rebuild from the server's own snapshot, replacing what a rebuild replaces
# (properties, description, user data, hostname) and keeping its name.
printf '#!/bin/sh\necho rebuilt\n' > "$data/vmact-user-data"
os --os-compute-api-version 2.90 server rebuild --image vmact-snap --property role=web --description rebuilt \
    --user-data "$data/vmact-user-data" --hostname vmact-rebuilt --wait vmact >/dev/null
expect "server rebuild: ACTIVE again" '^ACTIVE$' "$(os server show vmact -f value -c status)"
expect "server rebuild: on the snapshot" "^vmact-snap|$(os image show vmact-snap -f value -c id)" \
    "$(os server show vmact -f value -c image)"
expect "server rebuild: properties replaced" "role.*web" "$(os server show vmact -f value -c properties)"
expect "server rebuild: description" '^rebuilt$' \
    "$(os --os-compute-api-version 2.19 server show vmact -f value -c description)"
expect "server rebuild: hostname" '^vmact-rebuilt$' \
    "$(os --os-compute-api-version 2.90 server show vmact -f value -c OS-EXT-SRV-ATTR:hostname)"
expect "server rebuild: user data (base64, admin view)" "^$(base64 -w0 < "$data/vmact-user-data")$" \
    "$(os --os-compute-api-version 2.3 server show vmact -f value -c OS-EXT-SRV-ATTR:user_data)"
expect "server rebuild: the name is kept" '^vmact$' "$(os server list -f value -c Name | grep '^vmact$')"

os image delete vmact-snap vmact-daily
os server delete --wait vmact
expect "actions: the server is gone" '^$' "$(os server list -f value -c Name | grep '^vmact$' || true)"
