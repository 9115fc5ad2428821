//! Application credentials with access rules, across `berth up`'s APIs:
//! a token made with one may make exactly the requests its rules allow
//! (service, method, path template), as keystonemiddleware enforces them in
//! front of each service; an unrestricted credential's token may call
//! anything its roles allow.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn call(base: &str, token: &str, method: Method, path: &str) -> StatusCode {
    reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("x-auth-token", token)
        .send()
        .await
        .unwrap()
        .status()
}

/// A token from an application credential of the admin.
async fn app_cred_token(base: &str, admin: &str, name: &str, rules: Value) -> (String, Value) {
    let http = reqwest::Client::new();
    let me: Value = http
        .get(format!("{base}/identity/v3/auth/tokens"))
        .header("x-auth-token", admin)
        .header("x-subject-token", admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uid = me["token"]["user"]["id"].as_str().unwrap().to_string();
    let mut body = json!({"application_credential": {"name": name}});
    if !rules.is_null() {
        body["application_credential"]["access_rules"] = rules;
    }
    let r = http
        .post(format!("{base}/identity/v3/users/{uid}/application_credentials"))
        .header("x-auth-token", admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let cred: Value = r.json().await.unwrap();
    let (id, secret) = (cred["application_credential"]["id"].clone(), cred["application_credential"]["secret"].clone());
    let r = http
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"id": id, "secret": secret}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    (token, r.json().await.unwrap())
}

#[tokio::test]
async fn access_rules_limit_what_a_token_may_call() {
    let cloud = common::start(None, 1).await;
    let base = cloud.base.as_str();
    let admin = common::admin_token(base, &cloud.dir).await;
    let rules = json!([
        {"service": "compute", "method": "GET", "path": "/v2.1/servers"},
        {"service": "compute", "method": "GET", "path": "/v2.1/flavors/{flavor_id}"},
        {"service": "image", "method": "GET", "path": "/v2/images/**"},
    ]);
    let (token, body) = app_cred_token(base, &admin, "limited", rules).await;
    let shown = body["token"]["application_credential"]["access_rules"].as_array().expect("rules in the token");
    assert_eq!(shown.len(), 3, "{body}");
    for (method, path, want) in [
        (Method::GET, "/compute/v2.1/servers", StatusCode::OK),
        (Method::GET, "/compute/v2.1/flavors/1", StatusCode::OK),
        (Method::GET, "/compute/v2.1/flavors", StatusCode::UNAUTHORIZED),
        (Method::GET, "/compute/v2.1/servers/detail", StatusCode::UNAUTHORIZED),
        (Method::POST, "/compute/v2.1/servers", StatusCode::UNAUTHORIZED),
        (Method::GET, "/image/v2/images", StatusCode::OK),
        (Method::GET, "/image/v2/images/00000000-0000-0000-0000-000000000000", StatusCode::NOT_FOUND),
        (Method::DELETE, "/image/v2/images/00000000-0000-0000-0000-000000000000", StatusCode::UNAUTHORIZED),
        (Method::GET, "/placement/resource_providers", StatusCode::UNAUTHORIZED),
        // Version documents are public: no token, no rule.
        (Method::GET, "/compute/v2.1", StatusCode::OK),
    ] {
        assert_eq!(call(base, &token, method.clone(), path).await, want, "{method} {path}");
    }
    // Without rules, the same user's credential may call anything.
    let (open, body) = app_cred_token(base, &admin, "open", Value::Null).await;
    assert!(body["token"]["application_credential"].get("access_rules").is_none(), "{body}");
    for path in ["/compute/v2.1/flavors", "/placement/resource_providers", "/image/v2/images"] {
        assert_eq!(call(base, &open, Method::GET, path).await, StatusCode::OK, "{path}");
    }
}
