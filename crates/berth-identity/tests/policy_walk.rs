//! Walk identity's route table (`berth_identity::route_specs`, the table the
//! router is built from): every route names its Keystone policy rule or is
//! public;
//! a caller with a valid token but no roles is refused (403, with the rule
//! named) on exactly the routes whose rule needs a role, as the enforcer
//! itself decides; and readers, members, domain readers and managers get
//! what Keystone's defaults give them. Runs with new defaults enforced and
//! with the legacy rules OR'd in, on SQLite and PostgreSQL.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use berth_http::Access;
use berth_identity::route_specs;
use berth_policy::{keystone, Credentials, Enforcer, Target};
use serde_json::{json, Value};

use berth_testkit::{both_engines, TestDb};
use common::Env;

/// A concrete path for a route template of the table: each `{param}` is
/// an existing object of the collection named before it (`/v3/users/{id}`:
/// a user; `/v3/roles/{id}/implies/{implied}`: a role and the role it
/// implies).
fn concrete(template: &str, objects: &[(&str, &str)]) -> String {
    if template == "/" {
        // The mount point itself (`/identity/` is not routed by `nest`).
        return "/identity".to_string();
    }
    let mut out = String::from("/identity");
    let mut collection = "";
    for seg in template.split('/').skip(1) {
        out.push('/');
        if seg.starts_with('{') && seg.ends_with('}') {
            let key = if seg == "{implied}" { "implies" } else { collection };
            let (_, v) = objects
                .iter()
                .find(|(k, _)| *k == key)
                .unwrap_or_else(|| panic!("{template}: no object for {seg} after {collection:?}"));
            out.push_str(v);
        } else {
            collection = seg;
            out.push_str(seg);
        }
    }
    out
}

fn id_of(v: &Value, key: &str) -> String {
    v[key]["id"].as_str().unwrap_or_else(|| panic!("{key} in {v}")).to_string()
}

/// Does `rule` refuse a caller without roles acting on objects that are not
/// its own? Asked of the enforcer alone, with every target key Keystone's
/// rules use pointing elsewhere.
fn needs_role(e: &Enforcer, rule: &str) -> bool {
    if rule == "identity:list_credentials" {
        // As in Keystone, a caller that is not system-scoped lists
        // credentials as their owner (and sees only its own).
        return false;
    }
    let creds = Credentials {
        user_id: Some("caller".into()),
        extra: json!({"token": {"user": {"id": "caller", "domain": {"id": "default"}}}}).as_object().unwrap().clone(),
        ..Default::default()
    };
    let target: Target = [
        ("user_id", "victim"),
        ("target.user.id", "victim"),
        ("target.user.domain_id", "default"),
        ("target.project.id", "p"),
        ("target.project.domain_id", "default"),
        ("target.domain.id", "default"),
        ("target.domain_id", "default"),
        ("target.role.id", "r"),
        ("target.role.name", "member"),
        ("target.role.domain_id", "None"),
        ("target.token.user_id", "admin"),
        ("target.region.id", "RegionOne"),
        ("target.group.id", "g"),
        ("target.group.domain_id", "default"),
        ("target.credential.user_id", "victim"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    e.authorize(rule, &target, &creds).is_err()
}

async fn password_token(env: &Env, user: &str, pw: &str, scope: Option<Value>) -> String {
    let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": pw}}}});
    if let Some(s) = scope {
        auth["scope"] = s;
    }
    let (s, t, v) = env.auth(json!({ "auth": auth })).await;
    assert_eq!(s, StatusCode::CREATED, "{user}: {v}");
    t.unwrap()
}

async fn new_user(env: &Env, admin: &str, name: &str) -> String {
    let (s, v) = env
        .post("/identity/v3/users", admin, json!({"user": {"name": name, "password": "pw-1", "domain_id": "default"}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    id_of(&v, "user")
}

async fn walk(b: TestDb, enforce_new_defaults: bool) {
    let env = Env::with_config(b, |c| c.policy.enforce_new_defaults = enforce_new_defaults).await;
    let enforcer = env.identity.policy().clone();
    let admin = env.admin_token().await;
    let victim = new_user(&env, &admin, "victim").await;
    new_user(&env, &admin, "norole").await;
    let (_, p) = env.post("/identity/v3/projects", &admin, json!({"project": {"name": "victims"}})).await;
    let project = id_of(&p, "project");
    let member = env.role_id(&admin, "member").await;
    let reader = env.role_id(&admin, "reader").await;
    let (_, svc) = env.get("/identity/v3/services", &admin).await;
    let service = svc["services"][0]["id"].as_str().unwrap().to_string();
    let (_, eps) = env.get("/identity/v3/endpoints", &admin).await;
    let endpoint = eps["endpoints"][0]["id"].as_str().unwrap().to_string();
    let (s, g) = env.post("/identity/v3/groups", &admin, json!({"group": {"name": "victims"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let group = id_of(&g, "group");
    // A trust of the admin's, delegating member to the victim.
    let (_, me) = env.get("/identity/v3/users?name=admin", &admin).await;
    let (_, ap) = env.get("/identity/v3/projects?name=admin", &admin).await;
    let (s, t) = env
        .post(
            "/identity/v3/OS-TRUST/trusts",
            &admin,
            json!({"trust": {"trustor_user_id": me["users"][0]["id"], "trustee_user_id": victim,
                "project_id": ap["projects"][0]["id"], "impersonation": false, "roles": [{"id": member}]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let trust = id_of(&t, "trust");
    // A valid token without roles: unscoped.
    let caller = password_token(&env, "norole", "pw-1", None).await;
    let (_, _, v) =
        env.req(Method::GET, "/identity/v3/auth/tokens", Some(&caller), &[("x-subject-token", &caller)], None).await;
    assert!(v["token"].get("roles").is_none(), "the caller has no roles: {v}");

    let mut refused = BTreeSet::new();
    let mut allowed = BTreeSet::new();
    let objects = [
        ("domains", "default"),
        ("projects", project.as_str()),
        ("users", victim.as_str()),
        ("roles", member.as_str()),
        ("implies", reader.as_str()),
        ("services", service.as_str()),
        ("endpoints", endpoint.as_str()),
        ("regions", "RegionOne"),
        ("groups", group.as_str()),
        ("credentials", "no-such-credential"),
        ("application_credentials", "no-such-credential"),
        ("access_rules", "no-such-rule"),
        ("tags", "some-tag"),
        ("trusts", trust.as_str()),
    ];
    let specs = route_specs();
    for spec in &specs {
        let (method, path) = (spec.method.clone(), spec.path);
        let uri = concrete(path, &objects);
        let rule = match spec.access {
            Access::Rule(r) => Some(r),
            // Listing trusts: the rule follows the filter; unfiltered (as
            // walked here) it is the first.
            Access::AnyOf(rs) => Some(rs[0]),
            Access::Public => None,
            other => panic!("{method} {path}: identity names a rule or is public, not {other:?}"),
        };
        let body = match method {
            Method::POST | Method::PATCH => Some(
                r#"{"user": {"name": "x"}, "project": {"name": "x"}, "domain": {"name": "x"}, "role": {"name": "x"},
                    "group": {"name": "x"}, "service": {"type": "x"}, "region": {"id": "x"},
                    "endpoint": {"service_id": "x", "interface": "public", "url": "http://x"},
                    "credential": {"user_id": "x", "type": "x", "blob": "x"},
                    "application_credential": {"name": "x"}}"#,
            ),
            _ => None,
        };
        let (status, _, v) = env.req(method.clone(), &uri, Some(&caller), &[("x-subject-token", &admin)], body).await;
        assert_ne!(status, StatusCode::NOT_FOUND, "{method} {path}: every route is served: {v}");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {v}");
        let Some(rule) = rule else {
            assert_ne!(status, StatusCode::FORBIDDEN, "{method} {path}: {v}");
            continue;
        };
        let policy_refusal = status == StatusCode::FORBIDDEN
            && (method == Method::HEAD
                || v["error"]["message"]
                    == format!("You are not authorized to perform the requested action: {rule}.").as_str());
        assert!(status != StatusCode::UNAUTHORIZED, "{method} {path}: the caller's token is valid: {v}");
        if policy_refusal {
            refused.insert(rule);
        } else {
            allowed.insert(rule);
        }
        assert_eq!(
            policy_refusal,
            needs_role(&enforcer, rule),
            "{method} {path} ({rule}, new defaults: {enforce_new_defaults}) answered {status}: {v}"
        );
    }
    // Listing trusts by trustor or by trustee: the other rules of that route.
    for (q, rule) in [
        ("trustor_user_id", "identity:list_trusts_for_trustor"),
        ("trustee_user_id", "identity:list_trusts_for_trustee"),
    ] {
        let uri = format!("/identity/v3/OS-TRUST/trusts?{q}={victim}");
        let (status, _, v) = env.req(Method::GET, &uri, Some(&caller), &[], None).await;
        let policy_refusal = status == StatusCode::FORBIDDEN
            && v["error"]["message"]
                == format!("You are not authorized to perform the requested action: {rule}.").as_str();
        assert_eq!(policy_refusal, needs_role(&enforcer, rule), "GET {uri}: {status} {v}");
        if policy_refusal {
            refused.insert(rule);
        } else {
            allowed.insert(rule);
        }
    }
    assert!(refused.is_disjoint(&allowed), "a rule both refused and allowed: {:?}", refused.intersection(&allowed));
    // The table names every identity rule registered, and only those.
    let registered: BTreeSet<&str> =
        keystone::defaults().iter().filter(|d| d.name.starts_with("identity:")).map(|d| d.name).collect();
    let named: BTreeSet<&str> = specs.iter().flat_map(|s| s.access.rules().iter().copied()).collect();
    assert_eq!(named, registered);
    // Public: the version documents, issuing a token, and the password
    // change (authenticated by the original password, as in Keystone).
    let public: BTreeSet<String> =
        specs.iter().filter(|s| s.access == Access::Public).map(|s| format!("{} {}", s.method, s.path)).collect();
    let expected_public: BTreeSet<String> =
        ["GET /", "GET /v3", "GET /v3/", "POST /v3/auth/tokens", "POST /v3/users/{id}/password"]
            .into_iter()
            .map(str::to_string)
            .collect();
    assert_eq!(public, expected_public);
    // The rules that need a role: all but the caller's own views and regions.
    let need: BTreeSet<&str> = registered.iter().copied().filter(|r| needs_role(&enforcer, r)).collect();
    assert_eq!(refused, need);
    let free: BTreeSet<&str> = registered.difference(&need).copied().collect();
    let expected_free: BTreeSet<&str> = [
        "identity:get_auth_catalog",
        "identity:get_auth_projects",
        "identity:get_auth_domains",
        "identity:get_auth_system",
        "identity:get_region",
        "identity:list_regions",
        "identity:list_credentials",
    ]
    .into_iter()
    .collect();
    assert_eq!(free, expected_free);
}

async fn walk_new_defaults(b: TestDb) {
    walk(b, true).await
}

async fn walk_legacy_defaults(b: TestDb) {
    walk(b, false).await
}

both_engines!(walk_new_defaults);
both_engines!(walk_legacy_defaults);

/// Where Keystone's defaults tell roles apart.
async fn readers_members_and_admins(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let reader = env.role_id(&admin, "reader").await;
    let member_role = env.role_id(&admin, "member").await;

    // A system reader reads everything and writes nothing.
    let sr = new_user(&env, &admin, "sysreader").await;
    assert_eq!(
        env.put(&format!("/identity/v3/system/users/{sr}/roles/{reader}"), &admin).await,
        StatusCode::NO_CONTENT
    );
    let sys = password_token(&env, "sysreader", "pw-1", Some(json!({"system": {"all": true}}))).await;
    for path in ["/identity/v3/users", "/identity/v3/projects", "/identity/v3/domains", "/identity/v3/role_assignments"]
    {
        assert_eq!(env.get(path, &sys).await.0, StatusCode::OK, "{path}");
    }
    let other = new_user(&env, &admin, "other").await;
    assert_eq!(env.get(&format!("/identity/v3/users/{other}"), &sys).await.0, StatusCode::OK);
    let (s, v) = env.post("/identity/v3/users", &sys, json!({"user": {"name": "nope"}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["message"], "You are not authorized to perform the requested action: identity:create_user.");
    assert_eq!(env.delete(&format!("/identity/v3/users/{other}"), &sys).await, StatusCode::FORBIDDEN);
    assert_eq!(
        env.put(&format!("/identity/v3/system/users/{other}/roles/{reader}"), &sys).await,
        StatusCode::FORBIDDEN
    );

    // A project member reads itself, its project and its domain; nothing else.
    let (pid, uid) = env.user_with_role(&admin, "alice", "alice-pw", "alices", "member").await;
    let alice = password_token(&env, "alice", "alice-pw", Some(json!({"project": {"id": pid}}))).await;
    assert_eq!(env.get(&format!("/identity/v3/users/{uid}"), &alice).await.0, StatusCode::OK);
    assert_eq!(env.get(&format!("/identity/v3/users/{uid}/projects"), &alice).await.0, StatusCode::OK);
    assert_eq!(env.get(&format!("/identity/v3/projects/{pid}"), &alice).await.0, StatusCode::OK);
    assert_eq!(env.get("/identity/v3/domains/default", &alice).await.0, StatusCode::OK);
    assert_eq!(env.get(&format!("/identity/v3/users/{other}"), &alice).await.0, StatusCode::FORBIDDEN);
    assert_eq!(env.get("/identity/v3/users", &alice).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        env.get(&format!("/identity/v3/projects/{}", env.boot.admin_project_id), &alice).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, _) = env.patch(&format!("/identity/v3/users/{uid}"), &alice, json!({"user": {"name": "alice2"}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a member does not update users, even itself");
    // Its own tokens: validated and revoked by itself; the admin's are not its own.
    let (s, _, _) =
        env.req(Method::GET, "/identity/v3/auth/tokens", Some(&alice), &[("x-subject-token", &alice)], None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, v) =
        env.req(Method::GET, "/identity/v3/auth/tokens", Some(&alice), &[("x-subject-token", &admin)], None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        v["error"]["message"],
        "You are not authorized to perform the requested action: identity:validate_token."
    );
    for (subject, expect) in [(&alice, StatusCode::OK), (&admin, StatusCode::FORBIDDEN)] {
        let (s, _, _) = env
            .req(Method::HEAD, "/identity/v3/auth/tokens", Some(&alice), &[("x-subject-token", subject)], None)
            .await;
        assert_eq!(s, expect, "identity:check_token");
    }
    let (s, _, _) =
        env.req(Method::DELETE, "/identity/v3/auth/tokens", Some(&alice), &[("x-subject-token", &admin)], None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "identity:revoke_token");
    // And changes its own password.
    let (s, v) = env
        .post(
            &format!("/identity/v3/users/{uid}/password"),
            &alice,
            json!({"user": {"original_password": "alice-pw", "password": "alice-pw-2"}}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    password_token(&env, "alice", "alice-pw-2", None).await;

    // A domain reader lists the users of its domain, not all users.
    let dr = new_user(&env, &admin, "domreader").await;
    assert_eq!(
        env.put(&format!("/identity/v3/domains/default/users/{dr}/roles/{reader}"), &admin).await,
        StatusCode::NO_CONTENT
    );
    let dom = password_token(&env, "domreader", "pw-1", Some(json!({"domain": {"id": "default"}}))).await;
    let (s, v) = env.get("/identity/v3/users?domain_id=default", &dom).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["users"].as_array().unwrap().iter().any(|u| u["id"] == other.as_str()), "{v}");
    let (s, v) = env.get("/identity/v3/users", &dom).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["users"].as_array().unwrap().iter().all(|u| u["domain_id"] == "default"), "{v}");
    // Another domain's users are not listed to it, even when asked for.
    let (s, v) = env.post("/identity/v3/domains", &admin, json!({"domain": {"name": "elsewhere"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let elsewhere = id_of(&v, "domain");
    let (s, v) =
        env.post("/identity/v3/users", &admin, json!({"user": {"name": "stranger", "domain_id": elsewhere}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = env.get(&format!("/identity/v3/users?domain_id={elsewhere}"), &dom).await;
    assert_eq!((s, v["users"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{v}");
    let (_, v) = env.get(&format!("/identity/v3/users?domain_id={elsewhere}"), &admin).await;
    assert_eq!(v["users"].as_array().map(Vec::len), Some(1), "{v}");
    let (s, v) = env.get("/identity/v3/projects", &dom).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["projects"].as_array().unwrap().iter().any(|p| p["id"] == pid.as_str()), "{v}");
    // A project member (reader by implication) lists no users, not even
    // those of its project's domain.
    let alice = password_token(&env, "alice", "alice-pw-2", Some(json!({"project": {"id": pid}}))).await;
    assert_eq!(env.get("/identity/v3/users?domain_id=default", &alice).await.0, StatusCode::FORBIDDEN);
    assert_eq!(env.get(&format!("/identity/v3/projects/{pid}"), &dom).await.0, StatusCode::OK);
    assert_eq!(env.post("/identity/v3/users", &dom, json!({"user": {"name": "nope"}})).await.0, StatusCode::FORBIDDEN);
    // It lists the assignments in its domain (its own, alice's on a project
    // of the domain), never the system's.
    let (s, v) = env.get("/identity/v3/role_assignments", &dom).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let listed = v["role_assignments"].as_array().unwrap();
    assert!(listed.iter().any(|a| a["user"]["id"] == dr.as_str()), "{v}");
    assert!(listed.iter().any(|a| a["scope"]["project"]["id"] == pid.as_str()), "{v}");
    assert!(listed.iter().all(|a| a["scope"].get("system").is_none()), "{v}");
    let (_, all) = env.get("/identity/v3/role_assignments", &admin).await;
    assert!(all["role_assignments"].as_array().unwrap().iter().any(|a| a["scope"].get("system").is_some()), "{all}");

    // A domain manager creates users in its domain and hands out member,
    // never admin.
    // Bootstrap creates the manager role (as keystone-manage bootstrap does).
    let manager_role = env.role_id(&admin, "manager").await;
    let dm = new_user(&env, &admin, "dommanager").await;
    assert_eq!(
        env.put(&format!("/identity/v3/domains/default/users/{dm}/roles/{manager_role}"), &admin).await,
        StatusCode::NO_CONTENT
    );
    let mgr = password_token(&env, "dommanager", "pw-1", Some(json!({"domain": {"id": "default"}}))).await;
    let (s, v) = env.post("/identity/v3/users", &mgr, json!({"user": {"name": "hired"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let hired = id_of(&v, "user");
    assert_eq!(
        env.put(&format!("/identity/v3/projects/{pid}/users/{hired}/roles/{member_role}"), &mgr).await,
        StatusCode::NO_CONTENT
    );
    let admin_role = env.role_id(&admin, "admin").await;
    assert_eq!(
        env.put(&format!("/identity/v3/projects/{pid}/users/{hired}/roles/{admin_role}"), &mgr).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.post("/identity/v3/domains", &mgr, json!({"domain": {"name": "nope"}})).await.0,
        StatusCode::FORBIDDEN
    );

    // The admin does everything.
    assert_eq!(env.delete(&format!("/identity/v3/users/{other}"), &admin).await, StatusCode::NO_CONTENT);
}

/// A policy file overrides the defaults, as Placement's does.
async fn policy_file_overrides(b: TestDb) {
    let path = std::env::temp_dir().join(format!("berth-identity-policy-{}-{:?}.yaml", std::process::id(), b.backend));
    std::fs::write(&path, "\"identity:list_users\": \"role:member\"\n").unwrap();
    let p = path.clone();
    let env = Env::with_config(b, move |c| c.policy_file = Some(p)).await;
    std::fs::remove_file(&path).ok();
    let admin = env.admin_token().await;
    let (pid, _) = env.user_with_role(&admin, "bob", "bob-pw", "bobs", "member").await;
    let bob = password_token(&env, "bob", "bob-pw", Some(json!({"project": {"id": pid}}))).await;
    assert_eq!(env.get("/identity/v3/users", &bob).await.0, StatusCode::OK);
    // The override replaced the default: a reader no longer lists users.
    let reader = env.role_id(&admin, "reader").await;
    let sr = new_user(&env, &admin, "sysreader").await;
    assert_eq!(
        env.put(&format!("/identity/v3/system/users/{sr}/roles/{reader}"), &admin).await,
        StatusCode::NO_CONTENT
    );
    let sys = password_token(&env, "sysreader", "pw-1", Some(json!({"system": {"all": true}}))).await;
    assert_eq!(env.get("/identity/v3/users", &sys).await.0, StatusCode::FORBIDDEN);
    assert_eq!(env.identity.policy().rule("identity:list_users"), Some("role:member"));
}

both_engines!(readers_members_and_admins);
both_engines!(policy_file_overrides);

#[tokio::test]
async fn a_broken_policy_file_stops_the_service() {
    let path = std::env::temp_dir().join(format!("berth-identity-bad-policy-{}.yaml", std::process::id()));
    for (text, expect) in
        [("\"identity:list_users\": \"role:member and (\"\n", "identity:list_users"), ("- a list\n", "mapping")]
    {
        std::fs::write(&path, text).unwrap();
        let mut config = berth_identity::IdentityConfig::new("sqlite://never-opened.db");
        config.policy_file = Some(path.clone());
        let err = berth_identity::Identity::open(config).await.expect_err("a broken policy file is an error");
        assert!(err.message.contains(expect), "{}", err.message);
    }
    std::fs::remove_file(&path).ok();
    let mut config = berth_identity::IdentityConfig::new("sqlite://never-opened.db");
    config.policy_file = Some(path);
    let err = berth_identity::Identity::open(config).await.expect_err("a missing policy file is an error");
    assert!(err.message.contains("cannot read policy file"), "{}", err.message);
}
