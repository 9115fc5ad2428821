# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# The image service beyond upload and download: import methods and stores,
# interoperable import (glance-direct, with `image create --import` and with
# `image stage` + `image import`), the import tasks, and the metadata
# definitions catalog (namespaces, objects, properties, resource types and
# associations). Everything created here is deleted.
expect "image import info lists glance-direct only" "^\\['glance-direct'\\]$" \
    "$(os image import info -f value -c import-methods)"
expect "image stores list shows the one default store" '^file .* True$' "$(os image stores list -f value)"

# Import with staging in one command.
head -c 70000 /dev/urandom >"$data/import.img"
sum="$(md5sum "$data/import.img" | cut -d' ' -f1)"
os image create --import --file "$data/import.img" --disk-format raw --container-format bare e2e-import >/dev/null
for _ in $(seq 1 50); do
    [ "$(os image show e2e-import -f value -c status)" = active ] && break
    sleep 0.2
done
expect "image create --import ends active" '^active$' "$(os image show e2e-import -f value -c status)"
expect "the imported image has the file's checksum" "^${sum}\$" "$(os image show e2e-import -f value -c checksum)"
expect "and its size" '^70000$' "$(os image show e2e-import -f value -c size)"
os image save --file "$data/import.out" e2e-import
cmp -s "$data/import.img" "$data/import.out" || fail "image save after import returns other data"
echo "ok: image save returns the imported data"

# The same in steps: stage, then import. The image is created through the
# API: the stock client uploads whatever its stdin holds when it is not a
# terminal (and fails when stdin is closed), so it cannot leave one queued here.
curl -sf -H "X-Auth-Token: $(os token issue -f value -c id)" -H "Content-Type: application/json" \
    -d '{"name": "e2e-staged", "disk_format": "raw", "container_format": "bare"}' \
    "http://127.0.0.1:$port/image/v2/images" >/dev/null || fail "creating a queued image"
expect "a queued image to stage" '^queued$' "$(os image show e2e-staged -f value -c status)"
os image stage --file "$data/import.img" e2e-staged
expect "image stage leaves the image uploading" '^uploading$' "$(os image show e2e-staged -f value -c status)"
os image import --method glance-direct e2e-staged >/dev/null
for _ in $(seq 1 50); do
    [ "$(os image show e2e-staged -f value -c status)" = active ] && break
    sleep 0.2
done
expect "image import makes it active" '^active$' "$(os image show e2e-staged -f value -c status)"
expect "with the staged data's checksum" "^${sum}\$" "$(os image show e2e-staged -f value -c checksum)"
# (Tasks outlive their images, as in Glance, which has no task delete.)
expect "image task list shows both imports" '^([2-9]|[1-9][0-9]+)$' \
    "$(os image task list -f value -c Type -c Status | grep -c '^api_image_import success$')"
task="$(os image task list -f value -c ID | sed -n 1p)"
expect "image task show" '^success$' "$(os image task show -f value -c status "$task")"
os image delete e2e-import e2e-staged
rm -f "$data/import.img" "$data/import.out"

# Metadata definitions.
expect "image metadef resource type list has Glance's types" 'OS::Glance::Image' \
    "$(os image metadef resource type list -f value)"
expect "image metadef namespace create" '^e2e::Test$' \
    "$(os image metadef namespace create --display-name 'E2E test' --description 'berth e2e' --public \
        -f value -c namespace e2e::Test)"
expect "image metadef namespace list" '^e2e::Test$' "$(os image metadef namespace list -f value | grep '^e2e::')"
expect "image metadef namespace show" '^E2E test public$' \
    "$(os image metadef namespace show -f value -c display_name -c visibility e2e::Test | tr '\n' ' ' | sed 's/ $//')"
expect "image metadef object create" '^cpu$' \
    "$(os image metadef object create --namespace e2e::Test -f value -c name cpu)"
expect "image metadef object list" '^cpu$' "$(os image metadef object list -f value -c name e2e::Test)"
expect "image metadef object show" '^cpu$' "$(os image metadef object show -f value -c name e2e::Test cpu)"
os image metadef property create --name hw_cpu_policy --title 'CPU policy' --type string \
    --schema '{"enum": ["shared", "dedicated"], "description": "pinning"}' e2e::Test >/dev/null
expect "image metadef property list" '^hw_cpu_policy CPU policy string$' \
    "$(os image metadef property list -f value e2e::Test)"
expect "image metadef property show" '^string$' \
    "$(os image metadef property show -f value -c type e2e::Test hw_cpu_policy)"
os image metadef resource type association create e2e::Test OS::Nova::Flavor >/dev/null
expect "image metadef resource type association list" '^OS::Nova::Flavor$' \
    "$(os image metadef resource type association list -f value e2e::Test)"
os image metadef resource type association delete e2e::Test OS::Nova::Flavor
os image metadef namespace delete e2e::Test
expect "image metadef namespace delete" '^$' "$(os image metadef namespace list -f value | grep '^e2e::' || true)"
