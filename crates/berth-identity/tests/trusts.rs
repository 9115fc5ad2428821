//! OS-TRUST over HTTP on SQLite and PostgreSQL: creating, listing, showing
//! and deleting trusts under Keystone's default rules, the roles a trust
//! delegates, and trust-scoped tokens (impersonation, expiry, remaining
//! uses, the trustor losing its roles, the trust deleted).

mod common;

use axum::http::StatusCode;
use berth_testkit::{both_engines, TestDb};
use common::{assert_keystone_error, Env};
use serde_json::{json, Value};

/// A password token (password `pw-1`) with `scope`: status, token, body.
async fn token(env: &Env, user: &str, scope: Value) -> (StatusCode, Option<String>, Value) {
    env.auth(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": "pw-1"}}}, "scope": scope}}))
        .await
}

async fn trust_token(env: &Env, user: &str, trust: &str) -> (StatusCode, Option<String>, Value) {
    token(env, user, json!({"OS-TRUST:trust": {"id": trust}})).await
}

fn role_names(token_body: &Value) -> Vec<String> {
    let mut v: Vec<String> = token_body["token"]["roles"]
        .as_array()
        .unwrap_or_else(|| panic!("roles in {token_body}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

struct Setup {
    env: Env,
    admin: String,
    pid: String,
    trustor: String,
    trustee: String,
    /// A project token of the trustor.
    tok: String,
}

/// A trustor with `member` (which implies `reader`) on project `work`, and
/// a trustee with no role there (`member` on its own project `home`).
async fn setup(b: TestDb) -> Setup {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (pid, trustor) = env.user_with_role(&admin, "tara", "pw-1", "work", "member").await;
    let (_, trustee) = env.user_with_role(&admin, "tom", "pw-1", "home", "member").await;
    let (s, tok, v) = token(&env, "tara", json!({"project": {"id": pid}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    Setup { env, admin, pid, trustor, trustee, tok: tok.unwrap() }
}

fn trust_body(s: &Setup, extra: Value) -> Value {
    let mut t = json!({
        "trustor_user_id": s.trustor,
        "trustee_user_id": s.trustee,
        "project_id": s.pid,
        "impersonation": false,
        "roles": [{"name": "member"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    json!({ "trust": t })
}

async fn create(s: &Setup, extra: Value) -> String {
    let (st, v) = s.env.post("/identity/v3/OS-TRUST/trusts", &s.tok, trust_body(s, extra)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["trust"]["id"].as_str().unwrap().to_string()
}

async fn crud_and_policy(b: TestDb) {
    let s = setup(b).await;
    let env = &s.env;
    let (st, v) = env
        .post(
            "/identity/v3/OS-TRUST/trusts",
            &s.tok,
            trust_body(&s, json!({"expires_at": "2099-01-01T00:00:00.000000Z", "remaining_uses": 3})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let t = &v["trust"];
    let tid = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["trustor_user_id"], s.trustor.as_str());
    assert_eq!(t["trustee_user_id"], s.trustee.as_str());
    assert_eq!(t["project_id"], s.pid.as_str());
    assert_eq!((t["impersonation"].as_bool(), t["remaining_uses"].as_i64()), (Some(false), Some(3)));
    assert_eq!(t["expires_at"], "2099-01-01T00:00:00.000000Z");
    assert_eq!(t["roles"][0]["name"], "member", "{t}");
    assert!(t["links"]["self"].as_str().unwrap().ends_with(&format!("/v3/OS-TRUST/trusts/{tid}")), "{t}");

    // Shown to the trustor, the trustee and the admin; not to others.
    let (st, v) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &s.tok).await;
    assert_eq!((st, v["trust"]["id"].as_str()), (StatusCode::OK, Some(tid.as_str())));
    let (_, tee, _) = token(env, "tom", json!({"project": {"name": "home", "domain": {"id": "default"}}})).await;
    let tee = tee.unwrap();
    let (st, _) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &tee).await;
    assert_eq!(st, StatusCode::OK, "the trustee sees the trust");
    // As in Keystone, a project admin is no party to others' trusts; a
    // system reader sees them.
    let (st, _) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &s.admin).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, sys, v) = env
        .auth(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": common::ADMIN_PW}}},
            "scope": {"system": {"all": true}}}}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let sys = sys.unwrap();
    let (st, _) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &sys).await;
    assert_eq!(st, StatusCode::OK);
    env.user_with_role(&s.admin, "eve", "pw-1", "work", "member").await;
    let (_, eve, _) = token(env, "eve", json!({"project": {"id": s.pid}})).await;
    let eve = eve.unwrap();
    let (st, v) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &eve).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_keystone_error(&v, StatusCode::FORBIDDEN);
    let (st, _) = env.get("/identity/v3/OS-TRUST/trusts/nope", &s.tok).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Lists: by trustor and trustee for the parties, everything for admins.
    let (st, v) = env.get(&format!("/identity/v3/OS-TRUST/trusts?trustor_user_id={}", s.trustor), &s.tok).await;
    assert_eq!((st, v["trusts"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{v}");
    let (st, v) = env.get(&format!("/identity/v3/OS-TRUST/trusts?trustee_user_id={}", s.trustee), &tee).await;
    assert_eq!((st, v["trusts"][0]["id"].as_str()), (StatusCode::OK, Some(tid.as_str())), "{v}");
    let (st, _) = env.get(&format!("/identity/v3/OS-TRUST/trusts?trustor_user_id={}", s.trustor), &eve).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = env.get("/identity/v3/OS-TRUST/trusts", &s.tok).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "listing every trust is a system reader's");
    let (st, _) = env.get("/identity/v3/OS-TRUST/trusts", &s.admin).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "not a project admin's");
    let (st, v) = env.get("/identity/v3/OS-TRUST/trusts", &sys).await;
    assert_eq!((st, v["trusts"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{v}");

    // The delegated roles.
    let (st, v) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}/roles"), &tee).await;
    assert_eq!((st, v["roles"][0]["name"].as_str()), (StatusCode::OK, Some("member")), "{v}");
    let member = env.role_id(&s.admin, "member").await;
    let reader = env.role_id(&s.admin, "reader").await;
    let (st, v) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}/roles/{member}"), &tee).await;
    assert_eq!((st, v["role"]["id"].as_str()), (StatusCode::OK, Some(member.as_str())));
    assert_eq!(env.head(&format!("/identity/v3/OS-TRUST/trusts/{tid}/roles/{member}"), &tee).await, StatusCode::OK);
    let (st, _) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}/roles/{reader}"), &tee).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "reader is not delegated by name");

    // Only the trustor creates its trusts, with roles it holds.
    let mut other = trust_body(&s, json!({}));
    other["trust"]["trustor_user_id"] = json!(s.trustee);
    let (st, _) = env.post("/identity/v3/OS-TRUST/trusts", &s.tok, other).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "a trust for someone else");
    let (st, v) =
        env.post("/identity/v3/OS-TRUST/trusts", &s.tok, trust_body(&s, json!({"roles": [{"name": "admin"}]}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "a role the trustor lacks: {v}");
    let (st, _) = env.post("/identity/v3/OS-TRUST/trusts", &s.tok, trust_body(&s, json!({"roles": []}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "no roles");
    let (st, _) =
        env.post("/identity/v3/OS-TRUST/trusts", &s.tok, trust_body(&s, json!({"roles": [{"name": "nope"}]}))).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) =
        env.post("/identity/v3/OS-TRUST/trusts", &s.tok, trust_body(&s, json!({"trustee_user_id": "nope"}))).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Bad input: 400 in Keystone's format.
    for bad in [
        json!({"impersonation": "yes"}),
        json!({"remaining_uses": 0}),
        json!({"remaining_uses": "two"}),
        json!({"expires_at": "2001-01-01T00:00:00Z"}),
        json!({"expires_at": "tomorrow"}),
        json!({"roles": "member"}),
        json!({"project_id": 7}),
    ] {
        let (st, v) = env.post("/identity/v3/OS-TRUST/trusts", &s.tok, trust_body(&s, bad.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_keystone_error(&v, StatusCode::BAD_REQUEST);
    }
    let (st, _) =
        env.post("/identity/v3/OS-TRUST/trusts", &s.tok, json!({"trust": {"trustor_user_id": s.trustor}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Only the trustor (or a system admin) deletes.
    assert_eq!(env.delete(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &tee).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &s.tok).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &s.tok).await, StatusCode::NOT_FOUND);
    let (st, _) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &s.tok).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
both_engines!(crud_and_policy);

async fn trust_scoped_tokens(b: TestDb) {
    let s = setup(b).await;
    let env = &s.env;
    let tid = create(&s, json!({"remaining_uses": 2})).await;

    // The trustee scopes a token with the trust: its own user, the trust's
    // project, the delegated role and what it implies.
    let (st, tt, v) = trust_token(env, "tom", &tid).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let tt = tt.unwrap();
    let t = &v["token"];
    assert_eq!(t["user"]["id"], s.trustee.as_str());
    assert_eq!(t["project"]["id"], s.pid.as_str());
    assert_eq!(role_names(&v), vec!["member", "reader"]);
    assert_eq!(t["OS-TRUST:trust"]["id"], tid.as_str());
    assert_eq!(t["OS-TRUST:trust"]["impersonation"], false);
    assert_eq!(t["OS-TRUST:trust"]["trustor_user"]["id"], s.trustor.as_str());
    assert_eq!(t["OS-TRUST:trust"]["trustee_user"]["id"], s.trustee.as_str());
    // It validates with the same content and works as a token.
    let (st, _, v) = env
        .req(axum::http::Method::GET, "/identity/v3/auth/tokens", Some(&s.admin), &[("x-subject-token", &tt)], None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["token"]["OS-TRUST:trust"]["id"], tid.as_str());
    let (st, v) = env.get(&format!("/identity/v3/projects/{}", s.pid), &tt).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The use was counted; a trust-scoped token gets no other token.
    let (_, v) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &s.tok).await;
    assert_eq!(v["trust"]["remaining_uses"], 1, "{v}");
    let (st, _, _) =
        env.auth(json!({"auth": {"identity": {"methods": ["token"], "token": {"id": tt}}, "scope": {"project": {"id": s.pid}}}})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = env.post("/identity/v3/OS-TRUST/trusts", &tt, trust_body(&s, json!({}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "no redelegation");

    // Only the trustee may use it; the uses run out.
    let (st, _, v) = trust_token(env, "tara", &tid).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, _, _) = trust_token(env, "tom", &tid).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _, v) = trust_token(env, "tom", &tid).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "no uses left: {v}");
    let (st, _, _) = trust_token(env, "tom", "nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, _) = token(env, "tom", json!({"OS-TRUST:trust": {}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _, _) = token(env, "tom", json!({"OS-TRUST:trust": {"id": tid}, "project": {"id": s.pid}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "one scope only");

    // The trustor losing the role ends what the trust grants, at once.
    let tid2 = create(&s, json!({})).await;
    let (st, tt2, _) = trust_token(env, "tom", &tid2).await;
    assert_eq!(st, StatusCode::CREATED);
    let tt2 = tt2.unwrap();
    let member = env.role_id(&s.admin, "member").await;
    let grant = format!("/identity/v3/projects/{}/users/{}/roles/{member}", s.pid, s.trustor);
    assert_eq!(env.delete(&grant, &s.admin).await, StatusCode::NO_CONTENT);
    let (st, _) = env.get(&format!("/identity/v3/projects/{}", s.pid), &tt2).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _, _) = trust_token(env, "tom", &tid2).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(env.put(&grant, &s.admin).await, StatusCode::NO_CONTENT);
    let (st, _) = env.get(&format!("/identity/v3/projects/{}", s.pid), &tt2).await;
    assert_eq!(st, StatusCode::OK, "the role is back");

    // Deleting the trust ends its tokens.
    let (_, tok, _) = token(env, "tara", json!({"project": {"id": s.pid}})).await;
    assert_eq!(
        env.delete(&format!("/identity/v3/OS-TRUST/trusts/{tid2}"), &tok.unwrap()).await,
        StatusCode::NO_CONTENT
    );
    let (st, _) = env.get(&format!("/identity/v3/projects/{}", s.pid), &tt2).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}
both_engines!(trust_scoped_tokens);

async fn impersonation_and_expiry(b: TestDb) {
    let s = setup(b).await;
    let env = &s.env;
    let tid = create(&s, json!({"impersonation": true})).await;
    let (st, _, v) = trust_token(env, "tom", &tid).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let t = &v["token"];
    assert_eq!(t["user"]["id"], s.trustor.as_str(), "impersonation: the token is the trustor's");
    assert_eq!(t["OS-TRUST:trust"]["impersonation"], true);
    assert_eq!(t["OS-TRUST:trust"]["trustee_user"]["id"], s.trustee.as_str());

    // An expiring trust bounds its tokens' lifetime.
    let soon = berth_time::iso_micros_z(berth_time::now() + 60_000_000);
    let tid = create(&s, json!({"expires_at": soon})).await;
    let (st, _, v) = trust_token(env, "tom", &tid).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let exp = berth_time::parse_iso8601(v["token"]["expires_at"].as_str().unwrap()).unwrap();
    assert!(exp <= berth_time::now() + 60_000_000, "token expiry {exp} is within the trust's");

    // Deleting the trustee deletes its trusts.
    assert_eq!(env.delete(&format!("/identity/v3/users/{}", s.trustee), &s.admin).await, StatusCode::NO_CONTENT);
    let (st, _) = env.get(&format!("/identity/v3/OS-TRUST/trusts/{tid}"), &s.admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
both_engines!(impersonation_and_expiry);
