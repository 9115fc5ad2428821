//! `/os-keypairs` over HTTP on both engines: generation and import, the
//! fingerprints OpenSSH and OpenSSL compute, each microversion difference
//! (2.2 `type` and statuses, 2.10 `user_id`, 2.35 paging, 2.75 query
//! validation, 2.92 names and no generation), policy, and the `key_pairs`
//! quota.

mod common;
#[path = "data/keys.rs"]
mod keys;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use common::*;
use keys::*;
use md5::{Digest as _, Md5};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// A request at microversion `mv` as `token` (`user:project`) with
/// `roles` (empty: no roles header, i.e. admin for the token `admin`).
async fn call(
    env: &Env,
    token: &str,
    roles: &str,
    mv: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let version = format!("compute {mv}");
    let mut headers = vec![("openstack-api-version", version.as_str()), ("x-auth-token", token)];
    if !roles.is_empty() {
        headers.push(("x-roles", roles));
    }
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    env.raw(method, &format!("/compute/v2.1{path}"), body, &headers).await
}

const ALICE: &str = "alice:p1";
const BOB: &str = "bob:p1";
const MEMBER: &str = "member,reader";

fn message(v: &Value) -> String {
    v.as_object().and_then(|o| o.values().next()).and_then(|f| f["message"].as_str()).unwrap_or_default().to_string()
}

/// The MD5 colon-hex of the decoded key of an OpenSSH public key line.
fn md5_of(public_key: &str) -> String {
    let blob = base64::engine::general_purpose::STANDARD.decode(public_key.split(' ').nth(1).unwrap()).unwrap();
    Md5::digest(&blob).iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

async fn generated_keys_and_views_per_microversion(backend: Backend) {
    let env = Env::new(backend).await;
    // 2.1: generated, 200, no `type`.
    let (s, v) =
        call(&env, ALICE, MEMBER, "2.1", Method::POST, "/os-keypairs", Some(json!({"keypair": {"name": "k1"}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let kp = &v["keypair"];
    assert_eq!(kp["name"], "k1");
    assert_eq!(kp["user_id"], "alice");
    assert!(kp.get("type").is_none(), "{v}");
    let public = kp["public_key"].as_str().unwrap();
    assert!(public.starts_with("ssh-rsa ") && public.ends_with(" Generated-by-Nova"), "{public}");
    assert_eq!(kp["fingerprint"], md5_of(public));
    // The private key is PKCS#1 PEM of an RSA 2048 key whose public half is
    // the returned public key.
    let private = rsa::RsaPrivateKey::from_pkcs1_pem(kp["private_key"].as_str().unwrap()).unwrap();
    assert_eq!(private.size(), 256);
    let blob = base64::engine::general_purpose::STANDARD.decode(public.split(' ').nth(1).unwrap()).unwrap();
    let n = private.n().to_bytes_be();
    assert!(blob.ends_with(&n), "the public key's modulus is the private key's");
    // 2.2: 201 and `type`.
    let (s, v) =
        call(&env, ALICE, MEMBER, "2.2", Method::POST, "/os-keypairs", Some(json!({"keypair": {"name": "k2"}}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["keypair"]["type"], "ssh");
    assert!(v["keypair"]["private_key"].as_str().unwrap().starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    // The private key is returned once: never in show or list.
    let (s, v) = call(&env, ALICE, MEMBER, "2.1", Method::GET, "/os-keypairs/k1", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let kp = v["keypair"].as_object().unwrap();
    let mut keys: Vec<&str> = kp.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["created_at", "deleted", "deleted_at", "fingerprint", "id", "name", "public_key", "updated_at", "user_id"]
    );
    assert_eq!(kp["deleted"], false);
    assert_eq!(kp["user_id"], "alice");
    let created = kp["created_at"].as_str().unwrap();
    assert_eq!(created.len(), "2026-12-02T10:11:12.123456".len(), "{created}");
    let (_, v) = call(&env, ALICE, MEMBER, "2.2", Method::GET, "/os-keypairs/k1", None).await;
    assert_eq!(v["keypair"]["type"], "ssh");
    assert!(v["keypair"].get("private_key").is_none());
    let (_, v) = call(&env, ALICE, MEMBER, "2.1", Method::GET, "/os-keypairs", None).await;
    let items = v["keypairs"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!(items[0]["keypair"]["name"], "k1");
    let mut keys: Vec<&str> = items[0]["keypair"].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["fingerprint", "name", "public_key"]);
    assert!(v.get("keypairs_links").is_none());
    let (_, v) = call(&env, ALICE, MEMBER, "2.2", Method::GET, "/os-keypairs", None).await;
    assert_eq!(v["keypairs"][1]["keypair"]["type"], "ssh");
    // Another user does not see them.
    let (_, v) = call(&env, BOB, MEMBER, "2.2", Method::GET, "/os-keypairs", None).await;
    assert_eq!(v, json!({"keypairs": []}));
    let (s, v) = call(&env, BOB, MEMBER, "2.2", Method::GET, "/os-keypairs/k1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(message(&v), "Keypair k1 not found for user bob");
    // Duplicate names: 409.
    let (s, v) =
        call(&env, ALICE, MEMBER, "2.2", Method::POST, "/os-keypairs", Some(json!({"keypair": {"name": "k1"}}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(message(&v), "Key pair 'k1' already exists.");
    // Delete: 202 at 2.1, 204 from 2.2; then gone.
    let (s, _) = call(&env, ALICE, MEMBER, "2.1", Method::DELETE, "/os-keypairs/k1", None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _) = call(&env, ALICE, MEMBER, "2.2", Method::DELETE, "/os-keypairs/k2", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&env, ALICE, MEMBER, "2.2", Method::DELETE, "/os-keypairs/k2", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&env, ALICE, MEMBER, "2.2", Method::GET, "/os-keypairs/k1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
both_backends!(generated_keys_and_views_per_microversion);

async fn imports_and_fingerprints(backend: Backend) {
    let env = Env::new(backend).await;
    let post = |mv: &'static str, kp: Value| {
        let env = &env;
        async move { call(env, ALICE, MEMBER, mv, Method::POST, "/os-keypairs", Some(json!({"keypair": kp}))).await }
    };
    let (s, v) = post("2.1", json!({"name": "ed", "public_key": ED25519_PUB})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["keypair"]["fingerprint"], ED25519_MD5);
    assert_eq!(v["keypair"]["public_key"], ED25519_PUB);
    assert!(v["keypair"].get("private_key").is_none(), "{v}");
    let (s, v) = post("2.2", json!({"name": "rsa", "public_key": RSA_PUB, "type": "ssh"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["keypair"]["fingerprint"], RSA_MD5);
    // x509 from 2.2: the PEM certificate, fingerprinted with SHA-1.
    let (s, v) = post("2.2", json!({"name": "cert", "public_key": CERT_PEM, "type": "x509"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["keypair"]["fingerprint"], CERT_SHA1);
    assert_eq!(v["keypair"]["type"], "x509");
    let (_, v) = call(&env, ALICE, MEMBER, "2.2", Method::GET, "/os-keypairs/cert", None).await;
    assert_eq!(v["keypair"]["type"], "x509");
    assert_eq!(v["keypair"]["public_key"], CERT_PEM);
    // berth does not generate certificates (Nova does): an x509 key pair
    // without a certificate is refused, and nothing is stored.
    let (s, v) = post("2.2", json!({"name": "gen-cert", "type": "x509"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(message(&v).starts_with("Keypair data is invalid"), "{v}");
    let (s, _) = call(&env, ALICE, MEMBER, "2.2", Method::GET, "/os-keypairs/gen-cert", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // `type` before 2.2 is an unknown property.
    let (s, v) = post("2.1", json!({"name": "t", "public_key": RSA_PUB, "type": "ssh"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = post("2.2", json!({"name": "t", "public_key": RSA_PUB, "type": "pgp"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Keys that do not parse, and a certificate declared as ssh (and back).
    for (kp, what) in [
        (json!({"name": "bad", "public_key": "ssh-rsa AAAA"}), "truncated key"),
        (json!({"name": "bad", "public_key": "not a key"}), "not a key"),
        (json!({"name": "bad", "public_key": ""}), "empty"),
        (json!({"name": "bad", "public_key": CERT_PEM}), "certificate as ssh"),
        (json!({"name": "bad", "public_key": RSA_PUB, "type": "x509"}), "ssh key as x509"),
        (json!({"name": "bad", "public_key": 7}), "not a string"),
    ] {
        let (s, v) = post("2.2", kp).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {v}");
        if what != "not a string" {
            assert!(message(&v).starts_with("Keypair data is invalid"), "{what}: {v}");
        }
    }
    // Names before 2.92: letters, digits, space, '_' and '-'.
    for name in ["a@b", "a.b", " lead", "x".repeat(256).as_str(), ""] {
        let (s, v) = post("2.91", json!({"name": name, "public_key": RSA_PUB})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{name:?}: {v}");
    }
    let (s, v) = post("2.91", json!({"name": "ok name_-1", "public_key": RSA_PUB})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // 2.92: '@' and '.' allowed; a public key is required.
    let (s, v) = post("2.92", json!({"name": "me@host.example", "public_key": RSA_PUB})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = post("2.92", json!({"name": "gen"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(message(&v).contains("public_key"), "{v}");
    let (s, v) = post("2.92", json!({"name": "a/b", "public_key": RSA_PUB})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = post("2.91", json!({"name": "gen"})).await;
    assert_eq!(s, StatusCode::CREATED);
    // The names with '@' and '.' are addressable.
    let (s, v) = call(&env, ALICE, MEMBER, "2.92", Method::GET, "/os-keypairs/me@host.example", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = call(&env, ALICE, MEMBER, "2.92", Method::DELETE, "/os-keypairs/me@host.example", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}
both_backends!(imports_and_fingerprints);

async fn user_id_from_2_10_and_policy(backend: Backend) {
    let env = Env::new(backend).await;
    let body = json!({"keypair": {"name": "bk", "public_key": RSA_PUB, "user_id": "bob"}});
    // Before 2.10 `user_id` is unknown.
    let (s, v) = call(&env, "admin", "", "2.9", Method::POST, "/os-keypairs", Some(body.clone())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // A user may not create one for another user; an admin may.
    let (s, v) = call(&env, ALICE, MEMBER, "2.10", Method::POST, "/os-keypairs", Some(body.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(message(&v).contains("os_compute_api:os-keypairs:create"), "{v}");
    let (s, v) = call(&env, "admin", "", "2.10", Method::POST, "/os-keypairs", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["keypair"]["user_id"], "bob");
    let (_, v) = call(&env, BOB, MEMBER, "2.10", Method::GET, "/os-keypairs", None).await;
    assert_eq!(v["keypairs"][0]["keypair"]["name"], "bk", "{v}");
    // The admin reads it with ?user_id= from 2.10; before, the query is
    // ignored (the admin's own key pairs).
    let (_, v) = call(&env, "admin", "", "2.10", Method::GET, "/os-keypairs?user_id=bob", None).await;
    assert_eq!(v["keypairs"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = call(&env, "admin", "", "2.9", Method::GET, "/os-keypairs?user_id=bob", None).await;
    assert_eq!(v, json!({"keypairs": []}));
    let (s, _) = call(&env, "admin", "", "2.10", Method::GET, "/os-keypairs/bk?user_id=bob", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&env, "admin", "", "2.9", Method::GET, "/os-keypairs/bk?user_id=bob", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Another user may not list, show or delete bob's.
    for (m, p) in [
        (Method::GET, "/os-keypairs?user_id=bob"),
        (Method::GET, "/os-keypairs/bk?user_id=bob"),
        (Method::DELETE, "/os-keypairs/bk?user_id=bob"),
    ] {
        let (s, v) = call(&env, ALICE, MEMBER, "2.10", m.clone(), p, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{m} {p}: {v}");
    }
    let (s, _) = call(&env, "admin", "", "2.10", Method::DELETE, "/os-keypairs/bk?user_id=bob", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = call(&env, BOB, MEMBER, "2.10", Method::GET, "/os-keypairs", None).await;
    assert_eq!(v, json!({"keypairs": []}));
}
both_backends!(user_id_from_2_10_and_policy);

async fn paging_from_2_35_and_query_validation_from_2_75(backend: Backend) {
    let env = Env::new(backend).await;
    // Created out of order; listed by name in byte order.
    for name in ["kc", "ka", "Kb", "k_d"] {
        let (s, v) = call(
            &env,
            ALICE,
            MEMBER,
            "2.35",
            Method::POST,
            "/os-keypairs",
            Some(json!({"keypair": {"name": name, "public_key": ED25519_PUB}})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let names = |v: &Value| -> Vec<String> {
        v["keypairs"].as_array().unwrap().iter().map(|k| k["keypair"]["name"].as_str().unwrap().to_string()).collect()
    };
    let (_, v) = call(&env, ALICE, MEMBER, "2.35", Method::GET, "/os-keypairs?limit=2", None).await;
    assert_eq!(names(&v), ["Kb", "k_d"], "{v}");
    let next = v["keypairs_links"][0]["href"].as_str().unwrap();
    assert_eq!(v["keypairs_links"][0]["rel"], "next");
    assert_eq!(next, "http://berth.test/compute/v2.1/os-keypairs?limit=2&marker=k_d");
    let (_, v) = call(&env, ALICE, MEMBER, "2.35", Method::GET, "/os-keypairs?limit=2&marker=k_d", None).await;
    assert_eq!(names(&v), ["ka", "kc"]);
    assert!(v.get("keypairs_links").is_some(), "a full page links on: {v}");
    let (_, v) = call(&env, ALICE, MEMBER, "2.35", Method::GET, "/os-keypairs?limit=2&marker=kc", None).await;
    assert_eq!(v, json!({"keypairs": []}));
    let (_, v) = call(&env, ALICE, MEMBER, "2.35", Method::GET, "/os-keypairs?marker=ka", None).await;
    assert_eq!(names(&v), ["kc"]);
    assert!(v.get("keypairs_links").is_none(), "{v}");
    let (s, v) = call(&env, ALICE, MEMBER, "2.35", Method::GET, "/os-keypairs?marker=nope", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    for bad in ["abc", "-1", "1.5"] {
        let (s, v) = call(&env, ALICE, MEMBER, "2.35", Method::GET, &format!("/os-keypairs?limit={bad}"), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    // Before 2.35 paging parameters are ignored.
    let (s, v) = call(&env, ALICE, MEMBER, "2.34", Method::GET, "/os-keypairs?limit=1&marker=nope", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(names(&v).len(), 4);
    assert!(v.get("keypairs_links").is_none());
    // Unknown query parameters: ignored before 2.75, refused from it.
    for p in ["/os-keypairs?foo=1", "/os-keypairs/ka?foo=1"] {
        let (s, v) = call(&env, ALICE, MEMBER, "2.74", Method::GET, p, None).await;
        assert_eq!(s, StatusCode::OK, "{p}: {v}");
        let (s, v) = call(&env, ALICE, MEMBER, "2.75", Method::GET, p, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{p}: {v}");
    }
    let (s, _) = call(&env, ALICE, MEMBER, "2.75", Method::DELETE, "/os-keypairs/ka?foo=1", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(&env, ALICE, MEMBER, "2.74", Method::DELETE, "/os-keypairs/ka?foo=1", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}
both_backends!(paging_from_2_35_and_query_validation_from_2_75);

async fn key_pairs_quota(backend: Backend) {
    let env = Env::new(backend).await;
    let (s, v) = env.req(Method::PUT, "/os-quota-sets/p1", Some(json!({"quota_set": {"key_pairs": 2}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = call(&env, ALICE, MEMBER, "2.96", Method::GET, "/os-quota-sets/p1", None).await;
    assert_eq!(v["quota_set"]["key_pairs"], 2, "{v}");
    let (_, v) = call(&env, ALICE, MEMBER, "2.96", Method::GET, "/limits", None).await;
    assert_eq!(v["limits"]["absolute"]["maxTotalKeypairs"], 2, "{v}");
    let post = |name: &'static str| {
        let env = &env;
        async move {
            call(
                env,
                ALICE,
                MEMBER,
                "2.91",
                Method::POST,
                "/os-keypairs",
                Some(json!({"keypair": {"name": name, "public_key": RSA_PUB}})),
            )
            .await
        }
    };
    assert_eq!(post("q1").await.0, StatusCode::CREATED);
    let (s, _) =
        call(&env, ALICE, MEMBER, "2.91", Method::POST, "/os-keypairs", Some(json!({"keypair": {"name": "q2"}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = post("q3").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(message(&v), "Quota exceeded, too many key pairs.");
    // Generation is refused the same way.
    let (s, _) =
        call(&env, ALICE, MEMBER, "2.91", Method::POST, "/os-keypairs", Some(json!({"keypair": {"name": "q4"}}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The quota is per user: bob in the same project has his own two.
    let (s, _) = call(
        &env,
        BOB,
        MEMBER,
        "2.91",
        Method::POST,
        "/os-keypairs",
        Some(json!({"keypair": {"name": "q1", "public_key": RSA_PUB}})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // Freeing one makes room again.
    assert_eq!(
        call(&env, ALICE, MEMBER, "2.91", Method::DELETE, "/os-keypairs/q1", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(post("q3").await.0, StatusCode::CREATED);
}
both_backends!(key_pairs_quota);

async fn servers_take_the_callers_key_name(backend: Backend) {
    let env = Env::new(backend).await;
    let _agent = env.agent("h1", "fake:8,8192,100", &[]).await;
    let flavor = env.create_flavor("f", 1, 64, 1).await;
    let (s, _) = call(
        &env,
        ALICE,
        MEMBER,
        "2.92",
        Method::POST,
        "/os-keypairs",
        Some(json!({"keypair": {"name": "k1", "public_key": ED25519_PUB}})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let server = |key: Value| json!({"server": {"name": "s", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none", "key_name": key}});
    let (s, v) = call(&env, ALICE, MEMBER, "2.96", Method::POST, "/servers", Some(server(json!("k1")))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    let (_, v) = call(&env, ALICE, MEMBER, "2.96", Method::GET, &format!("/servers/{id}"), None).await;
    assert_eq!(v["server"]["key_name"], "k1", "{v}");
    // Another user's key pair, or none of that name: 400.
    for (who, key) in [(BOB, "k1"), (ALICE, "nope")] {
        let (s, v) = call(&env, who, MEMBER, "2.96", Method::POST, "/servers", Some(server(json!(key)))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{who} {key}: {v}");
        assert_eq!(message(&v), "Invalid key_name provided.");
    }
    // Without a key pair: key_name null.
    let (s, v) = call(&env, ALICE, MEMBER, "2.96", Method::POST, "/servers", Some(server(Value::Null))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    let (_, v) = call(&env, ALICE, MEMBER, "2.96", Method::GET, &format!("/servers/{id}"), None).await;
    assert_eq!(v["server"]["key_name"], Value::Null, "{v}");
}
both_backends!(servers_take_the_callers_key_name);
