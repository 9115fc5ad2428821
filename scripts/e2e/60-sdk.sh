# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# openstacksdk (installed with python-openstackclient) against the same
# cloud: identity, image, compute and Placement resources created, read
# back, checked and deleted (scripts/e2e/sdk_check.py).
"$venv/bin/python" "$root/scripts/e2e/sdk_check.py" || fail "openstacksdk checks"
