# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# Identity breadth with the stock client: groups and membership, a role
# granted to a group honoured in effective assignments and in the member's
# token, the catalog changed through the API (service, region, endpoint),
# an application credential authenticating on its own, credentials and
# project tags. Everything created here is deleted again.
auth_url="http://127.0.0.1:$port/identity/v3"

os project create e2e-idproj >/dev/null
os user create --password e2e-pw e2e-iduser >/dev/null
gid="$(os group create --description "e2e group" e2e-group -f value -c id)"
expect "group create" '^[0-9a-f]{32}$' "$gid"
expect "group list" '^e2e-group$' "$(os group list -f value -c Name | grep e2e-group)"
expect "group show" '^e2e group$' "$(os group show e2e-group -f value -c description)"
os group add user e2e-group e2e-iduser
expect "group contains user" 'e2e-iduser in group e2e-group' "$(os group contains user e2e-group e2e-iduser 2>&1)"
expect "group member list" '^e2e-iduser$' "$(os user list --group e2e-group -f value -c Name)"
os role add --group e2e-group --project e2e-idproj member
expect "role assignment list --effective shows the group's role for the user" \
    '^member e2e-iduser@Default e2e-idproj@Default' \
    "$(os role assignment list --effective --user e2e-iduser --names -f value -c Role -c User -c Project | sort)"
expect "the member's token carries the group's role" '^[0-9a-f]{32}$' \
    "$("$venv/bin/openstack" --os-auth-url "$auth_url" --os-identity-api-version 3 --os-username e2e-iduser \
        --os-password e2e-pw --os-user-domain-name Default --os-project-name e2e-idproj \
        --os-project-domain-name Default token issue -f value -c project_id)"
os role remove --group e2e-group --project e2e-idproj member
expect "role assignment list after role remove" '^$' "$(os role assignment list --effective --user e2e-iduser -f value)"
os group remove user e2e-group e2e-iduser
expect "group remove user" 'e2e-iduser not in group e2e-group' "$(os group contains user e2e-group e2e-iduser 2>&1)"
os group delete e2e-group
expect "group delete" '^$' "$(os group list -f value -c Name | grep e2e-group || true)"

# The catalog as data.
os region create --description "e2e region" e2e-region >/dev/null
expect "region list" '^e2e-region$' "$(os region list -f value -c Region | grep e2e-region)"
sid="$(os service create --name e2e-svc --description "e2e service" e2e-type -f value -c id)"
expect "service create" '^[0-9a-f]{32}$' "$sid"
eid="$(os endpoint create --region e2e-region e2e-svc public http://e2e.example/v1/%\(project_id\)s -f value -c id)"
expect "endpoint create" '^[0-9a-f]{32}$' "$eid"
expect "endpoint list --service" '^http://e2e.example/v1/%\(project_id\)s$' \
    "$(os endpoint list --service e2e-svc -f value -c URL)"
expect "endpoint show" '^public e2e-region$' "$(os endpoint show "$eid" -f value -c region -c interface | tr '\n' ' ' | sed 's/ $//')"
expect "the token catalog shows the new endpoint with the project filled in" \
    "e2e.example/v1/$(os project show admin -f value -c id)" "$(os catalog show e2e-type -f value -c endpoints)"
os endpoint delete "$eid"
expect "endpoint delete" '^$' "$(os endpoint list --service e2e-svc -f value -c ID)"
os service delete e2e-svc
expect "service delete" '^$' "$(os service list -f value -c Name | grep e2e-svc || true)"
os region delete e2e-region
expect "region delete" '^$' "$(os region list -f value -c Region | grep e2e-region || true)"
expect "berth's own catalog stays" '^compute identity image placement $' \
    "$(os service list -f value -c Type | sort | tr '\n' ' ')"

# An application credential authenticates alone.
ac="$(os application credential create --description "e2e" e2e-ac -f value -c id -c secret)"
acid="$(printf '%s\n' "$ac" | sed -n 1p)"
acsecret="$(printf '%s\n' "$ac" | sed -n 2p)"
expect "application credential create" '^[0-9a-f]{32}$' "$acid"
expect "application credential list" '^e2e-ac$' "$(os application credential list -f value -c Name)"
expect "a token from the application credential is scoped to its project" \
    "^$(os project show admin -f value -c id)\$" \
    "$(env -u OS_CLIENT_CONFIG_FILE "$venv/bin/openstack" --os-auth-type v3applicationcredential \
        --os-auth-url "$auth_url" --os-identity-api-version 3 --os-application-credential-id="$acid" \
        --os-application-credential-secret="$acsecret" token issue -f value -c project_id)"
if env -u OS_CLIENT_CONFIG_FILE "$venv/bin/openstack" --os-auth-type v3applicationcredential \
    --os-auth-url "$auth_url" --os-identity-api-version 3 --os-application-credential-id="$acid" \
    --os-application-credential-secret wrong token issue >/dev/null 2>&1; then
    fail "a wrong application credential secret was accepted"
fi
echo "ok: a wrong application credential secret is refused"
os application credential delete e2e-ac
expect "application credential delete" '^$' "$(os application credential list -f value -c Name)"

# Credentials.
cid="$(os credential create --type ec2 --project admin admin '{"access": "e2e-access", "secret": "e2e-secret"}' -f value -c id)"
expect "credential create (ec2: id is the SHA-256 of the access key)" \
    "^$(printf '%s' e2e-access | sha256sum | cut -d' ' -f1)\$" "$cid"
expect "credential list" '^ec2$' "$(os credential list --type ec2 -f value -c Type)"
os credential delete "$cid"
expect "credential delete" '^$' "$(os credential list -f value -c ID)"

# Project tags.
os project set --tag e2e-tag --tag other e2e-idproj
expect "project list --tags" '^e2e-idproj$' "$(os project list --tags e2e-tag -f value -c Name)"
expect "project list --not-tags" '^$' "$(os project list --tags e2e-tag --not-tags other -f value -c Name)"
os user delete e2e-iduser
os project delete e2e-idproj
expect "identity e2e objects deleted" '^$' "$(os project list -f value -c Name | grep e2e-idproj || true)"
