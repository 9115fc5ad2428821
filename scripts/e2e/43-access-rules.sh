# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# An application credential with access rules, used with the stock client:
# the listed request works, any other is refused as unauthenticated.
auth_url="http://127.0.0.1:$port/identity/v3"
ac_json="$(os application credential create e2e-limited -f json \
    --access-rules '[{"service": "compute", "method": "GET", "path": "/v2.1/flavors/detail"}]')"
ac_id="$(printf '%s' "$ac_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ID"])')"
ac_secret="$(printf '%s' "$ac_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Secret"])')"
expect "application credential with access rules" '^[0-9a-f]{32}$' "$ac_id"
# The secret may begin with "-" (URL-safe base64, as Keystone's): passed
# as --option=value so the client's argument parser takes it as the value.
as_ac() {
    OS_CLIENT_CONFIG_FILE=/dev/null "$venv/bin/openstack" --os-auth-type v3applicationcredential \
        --os-auth-url "$auth_url" --os-identity-api-version 3 --os-application-credential-id "$ac_id" \
        --os-application-credential-secret="$ac_secret" "$@"
}
expect "the listed request works (flavor list)" 'm1.tiny' "$(as_ac flavor list -f value -c Name)"
expect "another request is refused (server list)" '401|[Aa]uthentication' "$(as_ac server list 2>&1 || true)"
expect "another service too (image list)" '401|[Aa]uthentication' "$(as_ac image list 2>&1 || true)"
os application credential delete e2e-limited
for r in $(os access rule list -f value -c ID); do os access rule delete "$r"; done
expect "access rules removed" '^$' "$(os access rule list -f value -c ID)"
