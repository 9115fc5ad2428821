//! End-to-end HTTP tests of the identity API on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use berth_identity::{bootstrap, bootstrap_with, BootstrapOptions};
use berth_testkit::{both_engines, TestDb};
use common::{Env, ADMIN_PW, HOST};
use serde_json::{json, Value};

fn ids(v: &Value, key: &str, field: &str) -> Vec<String> {
    v[key].as_array().unwrap().iter().map(|x| x[field].as_str().unwrap().to_string()).collect()
}

// ---------------------------------------------------------------- discovery

async fn discovery(b: TestDb) {
    let env = Env::new(b).await;
    let (s, _, v) = env.req(Method::GET, "/identity", None, &[], None).await;
    assert_eq!(s, StatusCode::MULTIPLE_CHOICES);
    let values = v["versions"]["values"].as_array().unwrap();
    assert_eq!(values.len(), 1);
    assert_eq!(values[0]["id"], "v3.14");
    assert_eq!(values[0]["status"], "stable");
    assert_eq!(values[0]["links"][0]["rel"], "self");
    assert_eq!(values[0]["links"][0]["href"], format!("http://{HOST}/identity/v3/"));
    assert_eq!(values[0]["media-types"][0]["type"], "application/vnd.openstack.identity-v3+json");

    for path in ["/identity/v3", "/identity/v3/"] {
        let (s, _, v) = env.req(Method::GET, path, None, &[], None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(v["version"]["id"], "v3.14");
        assert_eq!(v["version"]["links"][0]["href"], format!("http://{HOST}/identity/v3/"));
    }
    // X-Forwarded-Proto is honoured.
    let (_, _, v) = env.req(Method::GET, "/identity/v3", None, &[("x-forwarded-proto", "https")], None).await;
    assert_eq!(v["version"]["links"][0]["href"], format!("https://{HOST}/identity/v3/"));
}
both_engines!(discovery);

// ---------------------------------------------------------------- tokens

async fn scoped_password_token(b: TestDb) {
    let env = Env::new(b).await;
    let (s, tok, v) = env.password_token("admin", ADMIN_PW, Some("admin")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let tok = tok.unwrap();
    assert!(tok.len() >= 43);
    let t = &v["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["user"]["name"], "admin");
    assert_eq!(t["user"]["id"], env.boot.admin_user_id.as_str());
    assert_eq!(t["user"]["domain"], json!({"id": "default", "name": "Default"}));
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["project"]["id"], env.boot.admin_project_id.as_str());
    assert_eq!(t["project"]["domain"], json!({"id": "default", "name": "Default"}));
    assert_eq!(t["is_domain"], false);
    let mut roles: Vec<String> = ids(t, "roles", "name");
    roles.sort();
    // admin implies manager, manager member, member reader.
    assert_eq!(roles, vec!["admin", "manager", "member", "reader"]);
    assert_eq!(t["audit_ids"].as_array().unwrap().len(), 1);
    let exp = t["expires_at"].as_str().unwrap();
    let iss = t["issued_at"].as_str().unwrap();
    assert!(exp.ends_with('Z') && exp.len() == 27, "{exp}");
    assert!(exp > iss);

    let catalog = t["catalog"].as_array().unwrap();
    assert_eq!(catalog.len(), 4);
    let mut types: Vec<&str> = catalog.iter().map(|s| s["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, vec!["compute", "identity", "image", "placement"]);
    let base = format!("http://{HOST}");
    for svc in catalog {
        let eps = svc["endpoints"].as_array().unwrap();
        assert_eq!(eps.len(), 3);
        let mut ifaces: Vec<&str> = eps.iter().map(|e| e["interface"].as_str().unwrap()).collect();
        ifaces.sort();
        assert_eq!(ifaces, vec!["admin", "internal", "public"]);
        for e in eps {
            assert_eq!(e["region"], "RegionOne");
            assert_eq!(e["region_id"], "RegionOne");
            let want = match svc["type"].as_str().unwrap() {
                "identity" => format!("{base}/identity"),
                "compute" => format!("{base}/compute/v2.1"),
                "placement" => format!("{base}/placement"),
                "image" => format!("{base}/image"),
                other => panic!("unexpected service {other}"),
            };
            assert_eq!(e["url"], want.as_str());
        }
    }

    // nocatalog
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PW}}},
        "scope": {"project": {"id": env.boot.admin_project_id}}}});
    let (s, _, v) =
        env.req(Method::POST, "/identity/v3/auth/tokens?nocatalog", None, &[], Some(&body.to_string())).await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(v["token"].get("catalog").is_none());
    assert!(v["token"]["roles"].is_array());

    // user by id
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": env.boot.admin_user_id, "password": ADMIN_PW}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let (s, _, v) = env.auth(body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // system scope (bootstrap grants admin on the system)
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PW}}},
        "scope": {"system": {"all": true}}}});
    let (s, tok, v) = env.auth(body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["token"]["system"], json!({"all": true}));
    assert_eq!(v["token"]["catalog"].as_array().unwrap().len(), 4);
    let vt = env.identity.validate_token(&tok.unwrap()).await.unwrap();
    assert!(vt.system_scope);
    assert!(vt.project_id.is_none());
    assert!(vt.has_role("admin"));

    // domain scope: admin has no role on the Default domain
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PW}}},
        "scope": {"domain": {"id": "default"}}}});
    let (s, _, _) = env.auth(body).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
both_engines!(scoped_password_token);

async fn bad_credentials_are_401(b: TestDb) {
    let env = Env::new(b).await;
    let (s, tok, v) = env.password_token("admin", "wrong", Some("admin")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(tok.is_none());
    assert_eq!(v["error"]["title"], "Unauthorized");
    let (s, h, _) = env
        .auth_raw(
            &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": "nope"}}}}})
            .to_string(),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.get("www-authenticate").is_some());
    // unknown user, unknown domain, unknown user id
    assert_eq!(env.password_token("nobody", ADMIN_PW, None).await.0, StatusCode::UNAUTHORIZED);
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Nowhere"}, "password": ADMIN_PW}}}}});
    assert_eq!(env.auth(body).await.0, StatusCode::UNAUTHORIZED);
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": "0123", "password": ADMIN_PW}}}}});
    assert_eq!(env.auth(body).await.0, StatusCode::UNAUTHORIZED);
    // unknown project: 401
    assert_eq!(env.password_token("admin", ADMIN_PW, Some("ghost")).await.0, StatusCode::UNAUTHORIZED);
    // unsupported method
    let body = json!({"auth": {"identity": {"methods": ["totp"], "totp": {}}}});
    assert_eq!(env.auth(body).await.0, StatusCode::UNAUTHORIZED);
    // bad token method
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "bogus"}}}});
    assert_eq!(env.auth(body).await.0, StatusCode::UNAUTHORIZED);
    // no token at all on an API call
    let (s, _, _) = env.req(Method::GET, "/identity/v3/projects", None, &[], None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = env.get("/identity/v3/projects", "garbage-token").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
both_engines!(bad_credentials_are_401);

async fn unscoped_and_rescope(b: TestDb) {
    let env = Env::new(b).await;
    let (s, tok, v) = env.password_token("admin", ADMIN_PW, None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let unscoped = tok.unwrap();
    let t = &v["token"];
    assert!(t.get("project").is_none());
    assert!(t.get("roles").is_none());
    assert!(t.get("catalog").is_none());
    let vt = env.identity.validate_token(&unscoped).await.unwrap();
    assert!(!vt.is_scoped());
    assert!(vt.roles.is_empty());

    // explicit "unscoped"
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PW}}}, "scope": "unscoped"}});
    assert_eq!(env.auth(body).await.0, StatusCode::CREATED);

    // unscoped tokens cannot manage anything
    let (s, _) = env.get("/identity/v3/projects", &unscoped).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // re-scope
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let (s, tok, v) = env.auth(body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let scoped = tok.unwrap();
    assert_ne!(scoped, unscoped);
    let t = &v["token"];
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["catalog"].as_array().unwrap().len(), 4);
    let methods: Vec<String> = t["methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().into()).collect();
    assert!(methods.contains(&"token".to_string()) && methods.contains(&"password".to_string()), "{methods:?}");
    let audit = t["audit_ids"].as_array().unwrap();
    assert_eq!(audit.len(), 2);
    let u = env.identity.validate_token(&unscoped).await.unwrap();
    assert_eq!(audit[1], u.audit_ids[0].as_str());
    let s2 = env.identity.validate_token(&scoped).await.unwrap();
    assert!(s2.expires_at <= u.expires_at);
    assert_eq!(s2.project_id.as_deref(), Some(env.boot.admin_project_id.as_str()));

    // the scoped token works on the API
    let (s, _) = env.get("/identity/v3/projects", &scoped).await;
    assert_eq!(s, StatusCode::OK);
}
both_engines!(unscoped_and_rescope);

async fn project_without_role_is_403(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (demo, alice) = env.user_with_role(&admin, "alice", "alicepw", "demo", "member").await;

    // no role on the admin project
    let (s, tok, v) = env.password_token("alice", "alicepw", Some("admin")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(tok.is_none());
    assert_eq!(v["error"]["code"], 403);

    // member on demo: member + implied reader, not admin
    let (s, tok, v) = env.password_token("alice", "alicepw", Some("demo")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let mut roles = ids(&v["token"], "roles", "name");
    roles.sort();
    assert_eq!(roles, vec!["member", "reader"]);
    let alice_tok = tok.unwrap();
    let vt = env.identity.validate_token(&alice_tok).await.unwrap();
    assert_eq!(vt.user_id, alice);
    assert_eq!(vt.project_id.as_deref(), Some(demo.as_str()));
    assert_eq!(vt.project_domain_id.as_deref(), Some("default"));
    assert_eq!(vt.roles, vec!["member", "reader"]);

    // re-scoping alice's token to the admin project is refused too
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": alice_tok}},
        "scope": {"project": {"id": env.boot.admin_project_id}}}});
    assert_eq!(env.auth(body).await.0, StatusCode::FORBIDDEN);

    // a member may not write or list identity resources
    let (s, _) = env.post("/identity/v3/projects", &alice_tok, json!({"project": {"name": "x"}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.get("/identity/v3/users", &alice_tok).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // ...but may see itself and its own project
    let (s, v) = env.get(&format!("/identity/v3/users/{alice}"), &alice_tok).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["user"]["name"], "alice");
    let (s, _) = env.get(&format!("/identity/v3/projects/{demo}"), &alice_tok).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = env.get("/identity/v3/auth/projects", &alice_tok).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&v, "projects", "name"), vec!["demo"]);
    let (s, v) = env.get(&format!("/identity/v3/role_assignments?user.id={alice}"), &alice_tok).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["role_assignments"].as_array().unwrap().len(), 1);

    // removing the role invalidates the scoped token at once
    let member = env.role_id(&admin, "member").await;
    assert_eq!(
        env.delete(&format!("/identity/v3/projects/{demo}/users/{alice}/roles/{member}"), &admin).await,
        StatusCode::NO_CONTENT
    );
    assert!(env.identity.validate_token(&alice_tok).await.is_none());
    assert_eq!(env.password_token("alice", "alicepw", Some("demo")).await.0, StatusCode::FORBIDDEN);
}
both_engines!(project_without_role_is_403);

async fn validate_and_revoke(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    env.user_with_role(&admin, "bob", "bobpw", "demo", "member").await;
    let bob = env.password_token("bob", "bobpw", Some("demo")).await.1.unwrap();
    let path = "/identity/v3/auth/tokens";

    // admin validates bob's token
    let (s, h, v) = env.req(Method::GET, path, Some(&admin), &[("x-subject-token", &bob)], None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(h.get("x-subject-token").unwrap().to_str().unwrap(), bob);
    assert_eq!(v["token"]["user"]["name"], "bob");
    assert_eq!(v["token"]["project"]["name"], "demo");
    assert_eq!(v["token"]["catalog"].as_array().unwrap().len(), 4);
    let (s, _, v) = env.req(Method::HEAD, path, Some(&admin), &[("x-subject-token", &bob)], None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.is_null());
    // bob validates his own token; not admin's
    let (s, _, _) = env.req(Method::GET, path, Some(&bob), &[("x-subject-token", &bob)], None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = env.req(Method::GET, path, Some(&bob), &[("x-subject-token", &admin)], None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // unknown subject, missing subject, missing/invalid caller
    let (s, _, _) = env.req(Method::GET, path, Some(&admin), &[("x-subject-token", "nope")], None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = env.req(Method::GET, path, Some(&admin), &[], None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = env.req(Method::GET, path, None, &[("x-subject-token", &bob)], None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = env.req(Method::GET, path, Some("bogus"), &[("x-subject-token", &bob)], None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Validated for the other APIs (and cached): a revocation through the
    // API ends it at once.
    assert_eq!(env.identity.validate_token(&bob).await.map(|t| t.roles), Some(vec!["member".into(), "reader".into()]));
    // revoke
    let (s, _, _) = env.req(Method::DELETE, path, Some(&admin), &[("x-subject-token", &bob)], None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = env.req(Method::GET, path, Some(&admin), &[("x-subject-token", &bob)], None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = env.req(Method::GET, "/identity/v3/auth/projects", Some(&bob), &[], None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(env.identity.validate_token(&bob).await.is_none());
    // re-scoping a revoked token fails
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": bob}}}});
    assert_eq!(env.auth(body).await.0, StatusCode::UNAUTHORIZED);
    // self-revocation
    let (s, _, _) = env.req(Method::DELETE, path, Some(&admin), &[("x-subject-token", &admin)], None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = env.get("/identity/v3/projects", &admin).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
both_engines!(validate_and_revoke);

/// Tokens validated for the other APIs are cached as keystonemiddleware
/// caches them: a write of another process (here: a second handle, which
/// does not share this process's cache) is seen after the cache time, a
/// write through this identity service at once, and issuing tokens does
/// not empty the cache.
async fn validation_cache(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    env.user_with_role(&admin, "carol", "carolpw", "demo", "member").await;
    let carol = env.password_token("carol", "carolpw", Some("demo")).await.1.unwrap();
    assert!(env.identity.validate_token(&carol).await.is_some());
    // Another process revokes carol's tokens.
    let other = berth_db::Db::connect(&env.url, 1).await.expect("open the database");
    sqlx::query(
        "UPDATE identity_tokens SET revoked = 1 WHERE user_id IN (SELECT id FROM identity_users WHERE name = 'carol')",
    )
    .execute(other.write_pool())
    .await
    .unwrap();
    other.close().await;
    // Within the cache time the cached answer stands; a new token's issue
    // does not change that.
    assert!(env.admin_token().await.len() > 10);
    assert!(env.identity.validate_token(&carol).await.is_some(), "cached");
    // Any identity write of this process forgets it.
    let (s, _) = env.post("/identity/v3/projects", &admin, json!({"project": {"name": "other"}})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(env.identity.validate_token(&carol).await.is_none(), "revoked by the other process");
}
both_engines!(validation_cache);

async fn expired_token_is_401(b: TestDb) {
    let env = Env::with_ttl(b, Duration::from_secs(1)).await;
    let tok = env.admin_token().await;
    assert!(env.identity.validate_token(&tok).await.is_some());
    let (s, _) = env.get("/identity/v3/projects", &tok).await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (s, v) = env.get("/identity/v3/projects", &tok).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(env.identity.validate_token(&tok).await.is_none());
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": tok}}}});
    assert_eq!(env.auth(body).await.0, StatusCode::UNAUTHORIZED);
    assert!(env.identity.purge_expired_tokens().await.unwrap() >= 1);
}
both_engines!(expired_token_is_401);

// ---------------------------------------------------------------- CRUD

async fn project_crud(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (s, v) = env
        .post(
            "/identity/v3/projects",
            &admin,
            json!({"project": {"name": "demo", "domain_id": "default", "description": "Demo", "enabled": true,
                   "is_domain": false, "tags": ["a", "b"], "options": {}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let p = &v["project"];
    let pid = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["name"], "demo");
    assert_eq!(p["domain_id"], "default");
    assert_eq!(p["parent_id"], "default");
    assert_eq!(p["description"], "Demo");
    assert_eq!(p["tags"], json!(["a", "b"]));
    assert_eq!(p["links"]["self"], format!("http://{HOST}/identity/v3/projects/{pid}"));

    // duplicate name: 409
    let (s, v) = env.post("/identity/v3/projects", &admin, json!({"project": {"name": "demo"}})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // child project
    let (s, v) =
        env.post("/identity/v3/projects", &admin, json!({"project": {"name": "child", "parent_id": pid}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let child = v["project"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["project"]["parent_id"], pid.as_str());

    let (s, v) = env.get("/identity/v3/projects", &admin).await;
    assert_eq!(s, StatusCode::OK);
    let mut names = ids(&v, "projects", "name");
    names.sort();
    assert_eq!(names, vec!["admin", "child", "demo", "service"]);
    assert_eq!(v["links"]["next"], Value::Null);
    let (_, v) = env.get("/identity/v3/projects?name=demo", &admin).await;
    assert_eq!(ids(&v, "projects", "id"), vec![pid.clone()]);
    let (_, v) = env.get(&format!("/identity/v3/projects?parent_id={pid}"), &admin).await;
    assert_eq!(ids(&v, "projects", "name"), vec!["child"]);
    let (_, v) = env.get("/identity/v3/projects?domain_id=nope", &admin).await;
    assert!(v["projects"].as_array().unwrap().is_empty());

    // show by id; show by name is a 404 (openstacksdk then lists by name)
    let (s, v) = env.get(&format!("/identity/v3/projects/{pid}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["project"]["name"], "demo");
    let (s, _) = env.get("/identity/v3/projects/demo", &admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // update
    let (s, v) = env
        .patch(
            &format!("/identity/v3/projects/{pid}"),
            &admin,
            json!({"project": {"description": null, "enabled": false, "name": "demo2"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["project"]["enabled"], false);
    assert_eq!(v["project"]["name"], "demo2");
    assert_eq!(v["project"]["description"], "");
    let (_, v) = env.get("/identity/v3/projects?enabled=false", &admin).await;
    assert_eq!(ids(&v, "projects", "name"), vec!["demo2"]);
    let (s, _) =
        env.patch(&format!("/identity/v3/projects/{pid}"), &admin, json!({"project": {"domain_id": "other"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // delete: parent with children is refused
    assert_eq!(env.delete(&format!("/identity/v3/projects/{pid}"), &admin).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("/identity/v3/projects/{child}"), &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("/identity/v3/projects/{pid}"), &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("/identity/v3/projects/{pid}"), &admin).await, StatusCode::NOT_FOUND);
    let (s, _) = env.get(&format!("/identity/v3/projects/{pid}"), &admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
both_engines!(project_crud);

async fn user_crud_and_passwords(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (s, v) = env
        .post(
            "/identity/v3/users",
            &admin,
            json!({"user": {"name": "carol", "password": "pw1", "email": "c@example.org", "description": "Carol",
                   "enabled": true, "domain_id": "default", "options": {}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let uid = v["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["user"]["email"], "c@example.org");
    assert_eq!(v["user"]["domain_id"], "default");
    assert!(v["user"].get("password").is_none(), "password must never be echoed");
    assert_eq!(v["user"]["password_expires_at"], Value::Null);
    let (s, _) = env.post("/identity/v3/users", &admin, json!({"user": {"name": "carol"}})).await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (_, v) = env.get("/identity/v3/users", &admin).await;
    let mut names = ids(&v, "users", "name");
    names.sort();
    assert_eq!(names, vec!["admin", "carol"]);
    let (_, v) = env.get("/identity/v3/users?name=carol&domain_id=default", &admin).await;
    assert_eq!(ids(&v, "users", "id"), vec![uid.clone()]);
    let (s, v) = env.get(&format!("/identity/v3/users/{uid}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["user"]["description"], "Carol");

    // carol can get an unscoped token
    let (s, tok, _) = env.password_token("carol", "pw1", None).await;
    assert_eq!(s, StatusCode::CREATED);
    let carol_tok = tok.unwrap();

    // `openstack user set --password`: PATCH revokes carol's tokens
    let (s, v) = env.patch(&format!("/identity/v3/users/{uid}"), &admin, json!({"user": {"password": "pw2"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(env.identity.validate_token(&carol_tok).await.is_none());
    assert_eq!(env.password_token("carol", "pw1", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(env.password_token("carol", "pw2", None).await.0, StatusCode::CREATED);

    // self-service password change needs the original password
    let path = format!("/identity/v3/users/{uid}/password");
    let body = json!({"user": {"original_password": "wrong", "password": "pw3"}}).to_string();
    let (s, _, _) = env.req(Method::POST, &path, None, &[], Some(&body)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let body = json!({"user": {"original_password": "pw2", "password": "pw3"}}).to_string();
    let (s, _, _) = env.req(Method::POST, &path, None, &[], Some(&body)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(env.password_token("carol", "pw3", None).await.0, StatusCode::CREATED);

    // default project: used when no scope is requested
    let (_, p) = env.post("/identity/v3/projects", &admin, json!({"project": {"name": "carolp"}})).await;
    let pid = p["project"]["id"].as_str().unwrap().to_string();
    let (s, v) =
        env.patch(&format!("/identity/v3/users/{uid}"), &admin, json!({"user": {"default_project_id": pid}})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["user"]["default_project_id"], pid.as_str());
    // no role there yet: unscoped
    let (_, _, v) = env.password_token("carol", "pw3", None).await;
    assert!(v["token"].get("project").is_none());
    let reader = env.role_id(&admin, "reader").await;
    assert_eq!(
        env.put(&format!("/identity/v3/projects/{pid}/users/{uid}/roles/{reader}"), &admin).await,
        StatusCode::NO_CONTENT
    );
    let (_, _, v) = env.password_token("carol", "pw3", None).await;
    assert_eq!(v["token"]["project"]["id"], pid.as_str());
    let (s, v) = env.get(&format!("/identity/v3/users/{uid}/projects"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&v, "projects", "id"), vec![pid.clone()]);

    // disabling a user kills its tokens and logins
    let (_, tok, _) = env.password_token("carol", "pw3", None).await;
    let (s, _) = env.patch(&format!("/identity/v3/users/{uid}"), &admin, json!({"user": {"enabled": false}})).await;
    assert_eq!(s, StatusCode::OK);
    assert!(env.identity.validate_token(&tok.unwrap()).await.is_none());
    assert_eq!(env.password_token("carol", "pw3", None).await.0, StatusCode::UNAUTHORIZED);

    // delete
    assert_eq!(env.delete(&format!("/identity/v3/users/{uid}"), &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("/identity/v3/users/{uid}"), &admin).await, StatusCode::NOT_FOUND);
    let (s, _) = env.get(&format!("/identity/v3/users/{uid}"), &admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = env.get(&format!("/identity/v3/role_assignments?user.id={uid}"), &admin).await;
    assert!(v["role_assignments"].as_array().unwrap().is_empty());
}
both_engines!(user_crud_and_passwords);

async fn roles_grants_and_assignments(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (s, v) = env.get("/identity/v3/roles", &admin).await;
    assert_eq!(s, StatusCode::OK);
    let mut names = ids(&v, "roles", "name");
    names.sort();
    // keystone-manage bootstrap's roles.
    assert_eq!(names, vec!["admin", "manager", "member", "reader", "service"]);
    assert_eq!(v["roles"][0]["domain_id"], Value::Null);

    let (s, v) =
        env.post("/identity/v3/roles", &admin, json!({"role": {"name": "operator", "description": "ops"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let op = v["role"]["id"].as_str().unwrap().to_string();
    let (s, _) = env.post("/identity/v3/roles", &admin, json!({"role": {"name": "operator"}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = env.post("/identity/v3/roles", &admin, json!({"role": {"name": "dom", "domain_id": "default"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = env.get(&format!("/identity/v3/roles/{op}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["role"]["description"], "ops");

    let (pid, uid) = env.user_with_role(&admin, "dave", "davepw", "proj", "member").await;
    let member = env.role_id(&admin, "member").await;
    let reader = env.role_id(&admin, "reader").await;
    let grant = format!("/identity/v3/projects/{pid}/users/{uid}/roles/{op}");
    assert_eq!(env.head(&grant, &admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.put(&grant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.put(&grant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.head(&grant, &admin).await, StatusCode::NO_CONTENT);
    let (s, _) = env.get(&grant, &admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = env.get(&format!("/identity/v3/projects/{pid}/users/{uid}/roles"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    let mut names = ids(&v, "roles", "name");
    names.sort();
    assert_eq!(names, vec!["member", "operator"]);
    // unknown things: 404
    assert_eq!(
        env.put(&format!("/identity/v3/projects/{pid}/users/nope/roles/{op}"), &admin).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.put(&format!("/identity/v3/projects/nope/users/{uid}/roles/{op}"), &admin).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.put(&format!("/identity/v3/projects/{pid}/users/{uid}/roles/nope"), &admin).await,
        StatusCode::NOT_FOUND
    );

    // domain and system grants
    let dgrant = format!("/identity/v3/domains/default/users/{uid}/roles/{reader}");
    assert_eq!(env.put(&dgrant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.head(&dgrant, &admin).await, StatusCode::NO_CONTENT);
    let sgrant = format!("/identity/v3/system/users/{uid}/roles/{reader}");
    assert_eq!(env.put(&sgrant, &admin).await, StatusCode::NO_CONTENT);
    let (s, v) = env.get(&format!("/identity/v3/system/users/{uid}/roles"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&v, "roles", "name"), vec!["reader"]);

    // a domain-scoped token for dave now works
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "dave", "domain": {"name": "Default"}, "password": "davepw"}}},
        "scope": {"domain": {"name": "Default"}}}});
    let (s, tok, v) = env.auth(body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["token"]["domain"], json!({"id": "default", "name": "Default"}));
    let vt = env.identity.validate_token(&tok.unwrap()).await.unwrap();
    assert_eq!(vt.domain_id.as_deref(), Some("default"));
    // system reader may read but not write
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "dave", "domain": {"name": "Default"}, "password": "davepw"}}},
        "scope": {"system": {"all": true}}}});
    let (s, tok, _) = env.auth(body).await;
    assert_eq!(s, StatusCode::CREATED);
    let sys = tok.unwrap();
    assert_eq!(env.get("/identity/v3/users", &sys).await.0, StatusCode::OK);
    assert_eq!(env.post("/identity/v3/roles", &sys, json!({"role": {"name": "x"}})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(env.put(&grant, &sys).await, StatusCode::FORBIDDEN);

    // role assignments
    let (s, v) = env.get(&format!("/identity/v3/role_assignments?user.id={uid}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    let list = v["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 4, "{v}");
    let proj_member = list.iter().find(|a| a["role"]["id"] == member.as_str()).expect("member assignment");
    assert_eq!(proj_member["scope"]["project"]["id"], pid.as_str());
    assert_eq!(proj_member["user"]["id"], uid.as_str());
    assert_eq!(
        proj_member["links"]["assignment"],
        format!("http://{HOST}/identity/v3/projects/{pid}/users/{uid}/roles/{member}")
    );
    assert!(list.iter().any(|a| a["scope"]["system"] == json!({"all": true})));
    assert!(list.iter().any(|a| a["scope"]["domain"]["id"] == "default"));

    let (_, v) =
        env.get(&format!("/identity/v3/role_assignments?scope.project.id={pid}&include_names=True"), &admin).await;
    let list = v["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for a in list {
        assert_eq!(a["user"]["name"], "dave");
        assert_eq!(a["user"]["domain"]["name"], "Default");
        assert_eq!(a["scope"]["project"]["name"], "proj");
        assert!(a["role"]["name"].is_string());
    }
    let (_, v) =
        env.get(&format!("/identity/v3/role_assignments?scope.project.id={pid}&user.id={uid}&effective"), &admin).await;
    let list = v["role_assignments"].as_array().unwrap();
    let mut roles: Vec<&str> = list.iter().map(|a| a["role"]["id"].as_str().unwrap()).collect();
    roles.sort();
    let mut want = vec![member.as_str(), reader.as_str(), op.as_str()];
    want.sort();
    assert_eq!(roles, want);
    let implied = list.iter().find(|a| a["role"]["id"] == reader.as_str()).unwrap();
    assert_eq!(implied["links"]["prior_role"], format!("http://{HOST}/identity/v3/roles/{member}"));
    let (_, v) =
        env.get(&format!("/identity/v3/role_assignments?role.id={reader}&effective=true&user.id={uid}"), &admin).await;
    assert_eq!(v["role_assignments"].as_array().unwrap().len(), 3, "{v}");
    let (_, v) = env.get("/identity/v3/role_assignments?scope.system=all", &admin).await;
    assert_eq!(v["role_assignments"].as_array().unwrap().len(), 2, "{v}");
    let (_, v) = env.get("/identity/v3/role_assignments?group.id=x", &admin).await;
    assert!(v["role_assignments"].as_array().unwrap().is_empty());
    let (s, _) =
        env.get(&format!("/identity/v3/role_assignments?scope.project.id={pid}&scope.domain.id=default"), &admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // implied roles
    let (s, v) = env.get("/identity/v3/role_inferences", &admin).await;
    assert_eq!(s, StatusCode::OK);
    // admin -> manager -> member -> reader
    assert_eq!(v["role_inferences"].as_array().unwrap().len(), 3, "{v}");
    let imp = format!("/identity/v3/roles/{op}/implies/{reader}");
    let (s, _, v) = env.req(Method::PUT, &imp, Some(&admin), &[], None).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["role_inference"]["implies"]["name"], "reader");
    assert_eq!(env.get(&imp, &admin).await.0, StatusCode::OK);
    let (_, v) = env.get(&format!("/identity/v3/roles/{op}/implies"), &admin).await;
    assert_eq!(v["role_inference"]["implies"][0]["id"], reader.as_str());
    assert_eq!(env.delete(&imp, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&imp, &admin).await.0, StatusCode::NOT_FOUND);

    // revoke grants; delete a role removes its assignments
    assert_eq!(env.delete(&grant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&grant, &admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.put(&grant, &admin).await, StatusCode::NO_CONTENT);
    let (s, v) = env.patch(&format!("/identity/v3/roles/{op}"), &admin, json!({"role": {"name": "operator2"}})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["role"]["name"], "operator2");
    assert_eq!(env.delete(&format!("/identity/v3/roles/{op}"), &admin).await, StatusCode::NO_CONTENT);
    let (_, v) = env.get(&format!("/identity/v3/role_assignments?role.id={op}"), &admin).await;
    assert!(v["role_assignments"].as_array().unwrap().is_empty());
    assert_eq!(env.delete(&sgrant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&dgrant, &admin).await, StatusCode::NO_CONTENT);
}
both_engines!(roles_grants_and_assignments);

async fn domains(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (s, v) = env.get("/identity/v3/domains/default", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["domain"]["name"], "Default");
    let (s, v) =
        env.post("/identity/v3/domains", &admin, json!({"domain": {"name": "Other", "description": "x"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let did = v["domain"]["id"].as_str().unwrap().to_string();
    let (_, v) = env.get("/identity/v3/domains", &admin).await;
    assert_eq!(v["domains"].as_array().unwrap().len(), 2);
    let (_, v) = env.get("/identity/v3/domains?name=Other", &admin).await;
    assert_eq!(ids(&v, "domains", "id"), vec![did.clone()]);

    // a project and user in it
    let (s, v) = env.post("/identity/v3/projects", &admin, json!({"project": {"name": "p", "domain_id": did}})).await;
    assert_eq!(s, StatusCode::CREATED);
    let pid = v["project"]["id"].as_str().unwrap().to_string();
    let (s, v) = env
        .post("/identity/v3/users", &admin, json!({"user": {"name": "admin", "domain_id": did, "password": "x"}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "same user name in another domain is fine: {v}");
    let uid = v["user"]["id"].as_str().unwrap().to_string();
    let member = env.role_id(&admin, "member").await;
    assert_eq!(
        env.put(&format!("/identity/v3/projects/{pid}/users/{uid}/roles/{member}"), &admin).await,
        StatusCode::NO_CONTENT
    );
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Other"}, "password": "x"}}},
        "scope": {"project": {"name": "p", "domain": {"id": did}}}}});
    let (s, tok, _) = env.auth(body.clone()).await;
    assert_eq!(s, StatusCode::CREATED);

    // enabled domains cannot be deleted; the default domain never
    assert_eq!(env.delete(&format!("/identity/v3/domains/{did}"), &admin).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete("/identity/v3/domains/default", &admin).await, StatusCode::FORBIDDEN);
    let (s, _) = env.patch("/identity/v3/domains/default", &admin, json!({"domain": {"enabled": false}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // disabling makes its tokens invalid
    let (s, v) = env.patch(&format!("/identity/v3/domains/{did}"), &admin, json!({"domain": {"enabled": false}})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["domain"]["enabled"], false);
    assert!(env.identity.validate_token(&tok.unwrap()).await.is_none());
    assert_eq!(env.auth(body).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(env.delete(&format!("/identity/v3/domains/{did}"), &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&format!("/identity/v3/projects/{pid}"), &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.get(&format!("/identity/v3/users/{uid}"), &admin).await.0, StatusCode::NOT_FOUND);
}
both_engines!(domains);

async fn catalog_endpoints(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (s, v) = env.get("/identity/v3/auth/catalog", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["catalog"].as_array().unwrap().len(), 4);
    let (_, v) = env.get("/identity/v3/services", &admin).await;
    assert_eq!(v["services"].as_array().unwrap().len(), 4);
    let (_, v) = env.get("/identity/v3/services?type=placement", &admin).await;
    let sid = v["services"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(env.get(&format!("/identity/v3/services/{sid}"), &admin).await.0, StatusCode::OK);
    let (_, v) = env.get(&format!("/identity/v3/endpoints?service_id={sid}&interface=public"), &admin).await;
    let eps = v["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0]["url"], format!("http://{HOST}/placement"));
    let (_, v) = env.get("/identity/v3/regions", &admin).await;
    assert_eq!(v["regions"][0]["id"], "RegionOne");
    let (_, v) = env.get("/identity/v3/auth/system", &admin).await;
    assert_eq!(v["system"], json!([{"all": true}]));
    let (_, v) = env.get("/identity/v3/auth/domains", &admin).await;
    assert!(v["domains"].as_array().unwrap().is_empty());
}
both_engines!(catalog_endpoints);

// ---------------------------------------------------------------- bad input

async fn malformed_requests_are_400(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let bad_auth = [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"auth": 5}"#,
        r#"{"auth": {}}"#,
        r#"{"auth": {"identity": {}}}"#,
        r#"{"auth": {"identity": {"methods": "password"}}}"#,
        r#"{"auth": {"identity": {"methods": []}}}"#,
        r#"{"auth": {"identity": {"methods": [1]}}}"#,
        r#"{"auth": {"identity": {"methods": ["password"]}}}"#,
        r#"{"auth": {"identity": {"methods": ["password"], "password": {}}}}"#,
        r#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}}}"#,
        r#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {}, "password": "x"}}}}}"#,
        r#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "x", "password": 5}}}}}"#,
        r#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "x", "password": "y"}}}, "scope": {"project": {"name": "admin"}}}}"#,
        r#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "x", "password": "y"}}}, "scope": {"project": {"id": "a"}, "domain": {"id": "b"}}}}"#,
        r#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "x", "password": "y"}}}, "scope": {"system": {"all": false}}}}"#,
        r#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "x", "password": "y"}}}, "scope": 7}}"#,
        r#"{"auth": {"identity": {"methods": ["token"], "token": {}}}}"#,
        r#"{"auth": {"identity": {"methods": ["token"]}}}"#,
    ];
    for body in bad_auth {
        let (s, _, v) = env.auth_raw(body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {v}");
        assert_eq!(v["error"]["title"], "Bad Request");
    }

    let bad_writes: &[(&str, &str)] = &[
        ("/identity/v3/projects", "nope"),
        ("/identity/v3/projects", "{}"),
        ("/identity/v3/projects", r#"{"project": []}"#),
        ("/identity/v3/projects", r#"{"project": {}}"#),
        ("/identity/v3/projects", r#"{"project": {"name": 5}}"#),
        ("/identity/v3/projects", r#"{"project": {"name": "  "}}"#),
        ("/identity/v3/projects", r#"{"project": {"name": "ok", "enabled": "yes"}}"#),
        ("/identity/v3/projects", r#"{"project": {"name": "ok", "tags": "a"}}"#),
        ("/identity/v3/projects", r#"{"project": {"name": "ok", "is_domain": true}}"#),
        ("/identity/v3/projects", r#"{"project": {"name": "ok", "options": 3}}"#),
        ("/identity/v3/users", r#"{"user": {}}"#),
        ("/identity/v3/users", r#"{"user": {"name": "u", "password": 5}}"#),
        ("/identity/v3/users", r#"{"user": {"name": "u", "password": ""}}"#),
        ("/identity/v3/users", r#"{"user": {"name": "u", "email": []}}"#),
        ("/identity/v3/roles", r#"{"role": {"name": null}}"#),
        ("/identity/v3/domains", r#"{"domain": {"name": ""}}"#),
    ];
    for (path, body) in bad_writes {
        let (s, _, v) = env.req(Method::POST, path, Some(&admin), &[], Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path} {body} -> {v}");
    }
    let too_long = "x".repeat(65);
    let (s, _) = env.post("/identity/v3/projects", &admin, json!({"project": {"name": too_long}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = env
        .req(
            Method::PATCH,
            &format!("/identity/v3/users/{}", env.boot.admin_user_id),
            Some(&admin),
            &[],
            Some(r#"{"user": {"enabled": 1}}"#),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = env
        .req(
            Method::PATCH,
            &format!("/identity/v3/users/{}", env.boot.admin_user_id),
            Some(&admin),
            &[],
            Some(r#"{"user": {"id": "other"}}"#),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = env.req(Method::GET, "/identity/v3/projects?name=%ZZ", Some(&admin), &[], None).await;
    assert_ne!(s, StatusCode::INTERNAL_SERVER_ERROR);

    // routing errors in Keystone's format
    let (s, _, v) = env.req(Method::GET, "/identity/v3/nothing", Some(&admin), &[], None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["title"], "Not Found");
    let (s, h, v) = env.req(Method::PUT, "/identity/v3/projects", Some(&admin), &[], None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    assert!(h.get("allow").is_some());
    // huge body
    let big = format!(r#"{{"auth": "{}"}}"#, "x".repeat(3 * 1024 * 1024));
    let (s, _, _) = env.auth_raw(&big).await;
    assert!(s == StatusCode::PAYLOAD_TOO_LARGE || s == StatusCode::BAD_REQUEST, "{s}");
}
both_engines!(malformed_requests_are_400);

// ---------------------------------------------------------------- bootstrap

async fn bootstrap_is_idempotent(b: TestDb) {
    let env = Env::new(b).await;
    assert!(env.boot.created_admin_user);
    let again = bootstrap(&env.identity, "a different password").await.unwrap();
    assert!(!again.created_admin_user);
    assert!(!again.set_admin_password);
    assert_eq!(again.admin_user_id, env.boot.admin_user_id);
    assert_eq!(again.admin_project_id, env.boot.admin_project_id);
    assert_eq!(again.service_project_id, env.boot.service_project_id);
    assert_eq!(again.admin_role_id, env.boot.admin_role_id);
    assert_eq!(again.domain_id, "default");
    // the existing password is kept
    assert_eq!(env.password_token("admin", ADMIN_PW, Some("admin")).await.0, StatusCode::CREATED);
    assert_eq!(env.password_token("admin", "a different password", Some("admin")).await.0, StatusCode::UNAUTHORIZED);
    let admin = env.admin_token().await;
    let (_, v) = env.get("/identity/v3/role_assignments", &admin).await;
    assert_eq!(v["role_assignments"].as_array().unwrap().len(), 2, "{v}");
    let (_, v) = env.get("/identity/v3/projects", &admin).await;
    assert_eq!(v["projects"].as_array().unwrap().len(), 2);

    // explicit reset
    let opts = BootstrapOptions { reset_admin_password: true, ..Default::default() };
    let r = bootstrap_with(&env.identity, "reset-pw", &opts).await.unwrap();
    assert!(r.set_admin_password);
    assert_eq!(env.password_token("admin", "reset-pw", Some("admin")).await.0, StatusCode::CREATED);
    assert_eq!(env.password_token("admin", ADMIN_PW, Some("admin")).await.0, StatusCode::UNAUTHORIZED);

    // reopening the same database runs migrations idempotently
    let mut config = berth_identity::IdentityConfig::new(env.url.clone());
    config.password_hashing = common::fast_hashing();
    let other = berth_identity::Identity::open(config).await.unwrap();
    assert!(other.validate_token(&admin).await.is_some());
    other.close().await;
}
both_engines!(bootstrap_is_idempotent);

// ---------------------------------------------------------------- misc

async fn tokens_stored_hashed_and_names_lenient(b: TestDb) {
    use sqlx::{Connection, Row};
    let env = Env::new(b).await;
    let tok = env.admin_token().await;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&env.url).await.unwrap();
    let rows = sqlx::query("SELECT token_hash FROM identity_tokens").fetch_all(&mut c).await.unwrap();
    assert_eq!(rows.len(), 1);
    let stored: String = rows[0].get(0);
    assert_ne!(stored, tok);
    assert_eq!(stored.len(), 64);
    assert!(!stored.contains(&tok));
    let pw: String = sqlx::query("SELECT password_hash FROM identity_users WHERE name = 'admin'")
        .fetch_one(&mut c)
        .await
        .unwrap()
        .get(0);
    assert!(pw.starts_with("$argon2id$"), "{pw}");
    c.close().await.unwrap();

    // clouds.yaml files often say `default` for the domain name
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "default"}, "password": ADMIN_PW}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "DEFAULT"}}}}});
    assert_eq!(env.auth(body).await.0, StatusCode::CREATED);

    assert!(env.identity.validate_token("").await.is_none());
    assert!(env.identity.validate_token("x").await.is_none());
    assert!(env.identity.validate_token(&"a".repeat(5000)).await.is_none());

    // concurrent identical grants both succeed
    let admin = env.admin_token().await;
    let (pid, uid) = env.user_with_role(&admin, "erin", "erinpw", "p1", "member").await;
    let reader = env.role_id(&admin, "reader").await;
    let path = format!("/identity/v3/projects/{pid}/users/{uid}/roles/{reader}");
    let (a, b2) = tokio::join!(env.put(&path, &admin), env.put(&path, &admin));
    assert_eq!((a, b2), (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT));
}
both_engines!(tokens_stored_hashed_and_names_lenient);
