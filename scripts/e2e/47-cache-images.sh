# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# Image pre-caching on an aggregate (2.81) and the image proxy's filters
# with the stock client.
os aggregate create e2e-cache-agg >/dev/null
os --os-compute-api-version 2.81 aggregate cache image e2e-cache-agg berth-tiny-raw \
    || fail "aggregate cache image"
echo "ok: aggregate cache image"
expect "aggregate cache image: an unknown image is refused" 'No Image|not found|could not be found' \
    "$(os --os-compute-api-version 2.81 aggregate cache image e2e-cache-agg no-such-image 2>&1 || true)"
os aggregate delete e2e-cache-agg
expect "aggregate deleted" '^$' "$(os aggregate list -f value -c Name | grep e2e-cache-agg || true)"
