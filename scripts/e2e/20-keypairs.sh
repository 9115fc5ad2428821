# Sourced by scripts/e2e-openstack-client (helpers: os, expect, fail; $data, $port, $venv).
# Key pairs: a generated key pair (the private key printed once), list,
# show (the fingerprint is the one OpenSSH computes for the private key),
# a server booted with it, delete.
os keypair create k1 >"$data/k1.pem"
expect "keypair create prints a private key" '^-----BEGIN (RSA |OPENSSH )?PRIVATE KEY-----$' "$(head -n 1 "$data/k1.pem")"
expect "keypair list" '^k1 ssh$' "$(os keypair list -f value -c Name -c Type)"
fingerprint="$(os keypair show k1 -f value -c fingerprint)"
expect "keypair show" '^([0-9a-f]{2}:){15}[0-9a-f]{2}$' "$fingerprint"
if command -v ssh-keygen >/dev/null; then
    chmod 600 "$data/k1.pem"
    expect "the fingerprint is OpenSSH's MD5 fingerprint of the private key" "^MD5:${fingerprint}\$" \
        "$(ssh-keygen -l -E md5 -f "$data/k1.pem" | awk '{print $2}')"
fi
# Before 2.92 the server generates the key pair (the stock client generates
# its own, so ask the API directly).
curl -sf -H "X-Auth-Token: $(os token issue -f value -c id)" -H "OpenStack-API-Version: compute 2.91" \
    -H "Content-Type: application/json" -d '{"keypair": {"name": "k2"}}' \
    "http://127.0.0.1:$port/compute/v2.1/os-keypairs" |
    python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)["keypair"]["private_key"])' >"$data/k2.pem"
expect "keypair create at 2.91 prints the server's PKCS#1 key" '^-----BEGIN RSA PRIVATE KEY-----$' "$(head -n 1 "$data/k2.pem")"
if command -v ssh-keygen >/dev/null; then
    chmod 600 "$data/k2.pem"
    expect "OpenSSH reads the generated key as RSA 2048 with the shown fingerprint" \
        "^2048 MD5:$(os keypair show k2 -f value -c fingerprint) .*\(RSA\)\$" "$(ssh-keygen -l -E md5 -f "$data/k2.pem")"
fi
os keypair delete k2
expect "server create --key-name" '^k1$' \
    "$(os server create --flavor m1.tiny --image berth-tiny-raw --nic none --key-name k1 --wait -f value -c key_name vmk)"
expect "server show names the key pair" '^k1$' "$(os server show vmk -f value -c key_name)"
os server delete --wait vmk
os keypair delete k1
expect "keypair delete" '^$' "$(os keypair list -f value -c Name)"
