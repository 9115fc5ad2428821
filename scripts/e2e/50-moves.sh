# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# Moves with the stock CLI, Placement usages of both hosts checked after each
# step: resize + confirm, resize + revert, cold migrate + confirm, live
# migration, evacuation with the source forced down and back up, shelve /
# unshelve; then the migration list and the server's event list. Leaves both
# hosts up and empty.
mv_rp() { os resource provider list -f value -c uuid -c name | awk -v h="$1" '$2 == h {print $1}'; }
mv_rp1="$(mv_rp compute1)"
mv_rp2="$(mv_rp compute2)"
expect "compute1 and compute2 have providers" '^[0-9a-f-]{36} [0-9a-f-]{36}$' "$mv_rp1 $mv_rp2"
mv_use() { os resource provider usage show "$1" -f value -c resource_class -c usage | sort | tr '\n' ' '; }
mv_zero='^DISK_GB 0 MEMORY_MB 0 VCPU 0 $'
mv_tiny='^DISK_GB 1 MEMORY_MB 512 VCPU 1 $'
mv_small='^DISK_GB 20 MEMORY_MB 2048 VCPU 1 $'
mv_check() { # mv_check STEP COMPUTE1_RE COMPUTE2_RE
    expect "$1: compute1 usage" "$2" "$(mv_use "$mv_rp1")"
    expect "$1: compute2 usage" "$3" "$(mv_use "$mv_rp2")"
}
mv_field() { os server show mover -f value -c "$1"; }
mv_wait() { # mv_wait STATUS
    local s=""
    for _ in $(seq 1 150); do
        s="$(mv_field status)"
        [ "$s" = "$1" ] && return 0
        sleep 0.2
    done
    fail "mover did not reach $1 (it is $s)"
}

mv_check "before" "$mv_zero" "$mv_zero"
expect "server create on compute1" '^ACTIVE$' \
    "$(os server create --flavor m1.tiny --image berth-tiny-raw --nic none --availability-zone nova:compute1 --wait -f value -c status mover)"
mv_check "created on compute1" "$mv_tiny" "$mv_zero"

# Resize, then confirm: the migration holds the source until confirmed.
os server resize --flavor m1.small --wait mover
expect "resize: VERIFY_RESIZE" '^VERIFY_RESIZE$' "$(mv_field status)"
expect "resize: on compute2" '^compute2$' "$(mv_field OS-EXT-SRV-ATTR:host)"
mv_check "resized, not confirmed" "$mv_tiny" "$mv_small"
os server resize confirm mover
mv_wait ACTIVE
mv_check "resize confirmed" "$mv_zero" "$mv_small"

# Resize, then revert: back on compute2 with m1.small.
os server resize --flavor m1.tiny --wait mover
expect "resize back: on compute1" '^compute1$' "$(mv_field OS-EXT-SRV-ATTR:host)"
mv_check "resized, not reverted" "$mv_tiny" "$mv_small"
os server resize revert mover
mv_wait ACTIVE
expect "revert: on compute2 again" '^compute2$' "$(mv_field OS-EXT-SRV-ATTR:host)"
expect "revert: flavor m1.small again" 'm1\.small' "$(mv_field flavor)"
mv_check "resize reverted" "$mv_zero" "$mv_small"

# Cold migration, then confirm.
os server migrate --wait mover
expect "migrate: VERIFY_RESIZE" '^VERIFY_RESIZE$' "$(mv_field status)"
expect "migrate: on compute1" '^compute1$' "$(mv_field OS-EXT-SRV-ATTR:host)"
mv_check "migrated, not confirmed" "$mv_small" "$mv_small"
os server resize confirm mover
mv_wait ACTIVE
mv_check "migration confirmed" "$mv_small" "$mv_zero"

# Live migration.
os server migrate --live-migration --wait mover
mv_wait ACTIVE
expect "live migration: on compute2" '^compute2$' "$(mv_field OS-EXT-SRV-ATTR:host)"
mv_check "live migrated" "$mv_zero" "$mv_small"

# Evacuation: refused while compute2 is up; with it forced down the server
# holds both hosts until compute2 is back.
if os server evacuate mover >/dev/null 2>&1; then fail "evacuate succeeded while compute2 is up"; fi
echo "ok: evacuate refused while the source is up"
os compute service set --down compute2 nova-compute
expect "compute2 is down" '^compute2 down$' \
    "$(os compute service list -f value -c Host -c State | grep '^compute2 ')"
# (No --wait: from 2.95 an evacuated server stays stopped, and the client
# waits for ACTIVE.)
os server evacuate mover >/dev/null
for _ in $(seq 1 150); do
    case "$(mv_field status)" in ACTIVE | SHUTOFF) break ;; esac
    sleep 0.2
done
expect "evacuate: on compute1" '^compute1$' "$(mv_field OS-EXT-SRV-ATTR:host)"
expect "evacuate: rebuilt (stopped from 2.95)" '^(ACTIVE|SHUTOFF)$' "$(mv_field status)"
[ "$(mv_field status)" = SHUTOFF ] && os server start mover
mv_wait ACTIVE
mv_check "evacuated, source still down" "$mv_small" "$mv_small"
os compute service set --up compute2 nova-compute
expect "compute2 is up" '^compute2 up$' "$(os compute service list -f value -c Host -c State | grep '^compute2 ')"
for _ in $(seq 1 100); do
    [[ "$(mv_use "$mv_rp2")" =~ $mv_zero ]] && break
    sleep 0.2
done
mv_check "source back: its part dropped" "$mv_small" "$mv_zero"

# Shelve (offloaded at once: shelved_offload_time 0) and unshelve.
os server shelve --wait mover
mv_wait SHELVED_OFFLOADED
mv_check "shelved and offloaded" "$mv_zero" "$mv_zero"
os server unshelve --wait mover
mv_wait ACTIVE
mv_use_all="$(mv_use "$mv_rp1")$(mv_use "$mv_rp2")"
expect "unshelved: claimed again on one host" \
    '^(DISK_GB 20 MEMORY_MB 2048 VCPU 1 DISK_GB 0 MEMORY_MB 0 VCPU 0 |DISK_GB 0 MEMORY_MB 0 VCPU 0 DISK_GB 20 MEMORY_MB 2048 VCPU 1 )$' \
    "$mv_use_all"

# Records.
mv_list="$(os server migration list --server mover -f value -c Type -c Status | sort | tr '\n' ';')"
expect "migration list" '^completed evacuation;completed live-migration;confirmed migration;confirmed resize;reverted resize;$' \
    "$mv_list"
mv_events="$(os server event list mover -f value -c Action | tr '\n' ' ')"
expect "event list" '^unshelve shelve (start )?evacuate live-migration confirmResize migrate revertResize resize confirmResize resize create $' \
    "$mv_events"

os server delete --wait mover
mv_check "deleted" "$mv_zero" "$mv_zero"
expect "both hosts up" '^compute1 up compute2 up $' \
    "$(os compute service list -f value -c Host -c State | grep '^compute' | sort | tr '\n' ' ')"
