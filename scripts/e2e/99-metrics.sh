# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
token="$(os token issue -f value -c id)"
metrics="$(curl -sf -H "X-Auth-Token: $token" "http://127.0.0.1:$port/metrics" || true)"
expect "metrics: nothing left in the outbox" '^berth_outbox_pending 0$' "$(printf '%s\n' "$metrics" | grep '^berth_outbox_pending')"
expect "metrics need a token" '^401$' "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")"
