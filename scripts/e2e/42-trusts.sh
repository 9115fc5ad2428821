# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# OS-TRUST with the stock client: the admin delegates `member` on its
# project to a user, who scopes a token with the trust (as the admin, with
# impersonation); list by trustor and for the caller, show, delete.
auth_url="http://127.0.0.1:$port/identity/v3"
os user create --password e2e-pw e2e-trustee >/dev/null
tee_id="$(os user show e2e-trustee -f value -c id)"
admin_id="$(os user show admin -f value -c id)"
tid="$(os trust create --project admin --role member --impersonate --expiration 2099-01-01T00:00:00 \
    admin e2e-trustee -f value -c id)"
expect "trust create" '^[0-9a-f]{32}$' "$tid"
expect "trust show" "^True $tee_id $admin_id\$" \
    "$(os trust show "$tid" -f value -c is_impersonation -c trustee_user_id -c trustor_user_id | tr '\n' ' ' | sed 's/ $//')"
expect "trust show expires_at" '^2099-01-01T00:00:00' "$(os trust show "$tid" -f value -c expires_at)"
expect "trust show roles" 'member' "$(os trust show "$tid" -f value -c roles)"
expect "trust list --trustor" "^$tid\$" "$(os trust list --trustor admin -f value -c ID)"
expect "trust list --auth-user" "^$tid\$" "$(os trust list --auth-user -f value -c ID)"
expect "trust-scoped token: the trustor's (impersonation), on the admin project" \
    "^$(os project show admin -f value -c id) $admin_id\$" \
    "$(OS_CLIENT_CONFIG_FILE=/dev/null "$venv/bin/openstack" --os-auth-url "$auth_url" --os-identity-api-version 3 \
        --os-username e2e-trustee \
        --os-password e2e-pw --os-user-domain-name Default --os-trust-id "$tid" \
        token issue -f value -c user_id -c project_id | tr '\n' ' ' | sed 's/ $//')"
os trust delete "$tid"
expect "trust delete" '^$' "$(os trust list --trustor admin -f value -c ID)"
os user delete e2e-trustee
expect "trustee deleted" '^$' "$(os user list -f value -c Name | grep e2e-trustee || true)"
