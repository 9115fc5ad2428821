//! Issue 8's hostile requests against a started `berth up`, on SQLite and on
//! PostgreSQL: every answer is the API's documented 4xx in the API's body,
//! carries `x-openstack-request-id`, and never shows database text; every
//! service root answers the same with and without a trailing slash.

mod common;

use reqwest::Method;
use serde_json::{json, Value};

/// (method, path, body, token?, accepted statuses, the API's error key).
type Case = (&'static str, &'static str, Option<Value>, bool, &'static [u16], &'static str);

fn cases() -> Vec<Case> {
    vec![
        (
            "GET",
            "/compute/v2.1/servers?changes-since=2023-11-14T22:13:20.%C3%A9%C3%A9",
            None,
            true,
            &[400],
            "badRequest",
        ),
        (
            "GET",
            "/compute/v2.1/servers?changes-before=2023-11-14T22:13:20.%C3%A9%C3%A9",
            None,
            true,
            &[400],
            "badRequest",
        ),
        (
            "GET",
            "/compute/v2.1/servers/detail?changes-since=2023-11-14T22:13:20.%C3%A9%C3%A9",
            None,
            true,
            &[400],
            "badRequest",
        ),
        ("GET", "/image/v2/images?created_at=2015-11-06%2Ba%C3%A9b", None, true, &[400], "message"),
        ("GET", "/image/v2/images?updated_at=2015-11-06%2Ba%C3%A9b", None, true, &[400], "message"),
        ("GET", "/compute/v2.1/limits?tenant_id=", None, true, &[400], "badRequest"),
        ("GET", "/compute/v2.1/limits?tenant_id", None, true, &[400], "badRequest"),
        (
            "POST",
            "/identity/v3/auth/tokens",
            Some(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "a\u{0}b", "domain": {"id": "default"}, "password": "x"}}}}})),
            false,
            &[401],
            "error",
        ),
        ("GET", "/identity/v3/users/%00", None, true, &[400, 404], "error"),
        ("GET", "/image/v2/images/%00", None, true, &[400, 404], "message"),
        ("GET", "/compute/v2.1/flavors/%00", None, true, &[400, 404], "itemNotFound|badRequest"),
        ("GET", "/placement/traits/CUSTOM_A%00", None, true, &[400, 404], "errors"),
        ("POST", "/placement/resource_providers", Some(json!({"name": "a\u{0}b"})), true, &[400], "errors"),
        (
            "PUT",
            "/compute/v2.1/os-quota-sets/%00",
            Some(json!({"quota_set": {"cores": 1}})),
            true,
            &[400, 404],
            "itemNotFound|badRequest",
        ),
        ("GET", "/identity/v3/users?name=a%00b", None, true, &[400], "error"),
        ("GET", "/compute/v2.1/servers?name=a%00b", None, true, &[400], "badRequest"),
        ("GET", "/placement/resource_providers?name=a%00b", None, true, &[400], "errors"),
        ("GET", "/image/v2/images?name=a%00b", None, true, &[400], "message"),
        ("GET", "/compute/v2.1/servers", None, false, &[401], "error"),
        ("GET", "/placement/resource_providers", None, false, &[401], "error"),
        ("GET", "/image/v2/images", None, false, &[401], "message|error"),
        ("GET", "/identity/v3/users", None, false, &[401], "error"),
    ]
}

const DB_WORDS: &[&str] = &["sqlx", "SQLSTATE", "database", "syntax error", "constraint", "sqlite", "postgres"];

async fn hostile_requests(db: Option<&str>) {
    let cloud = common::start(db, 1).await;
    let token = common::admin_token(&cloud.base, &cloud.dir).await;
    let c = reqwest::Client::new();
    for (method, path, body, auth, want, key) in cases() {
        let mut r = c.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", cloud.base));
        if auth {
            r = r.header("x-auth-token", &token);
        }
        if let Some(b) = &body {
            r = r.json(b);
        }
        if path.starts_with("/compute/") {
            // changes-before exists from 2.66; older versions ignore it.
            r = r.header("openstack-api-version", "compute 2.66");
        }
        let resp = r.send().await.unwrap_or_else(|e| panic!("{method} {path}: no answer ({e})"));
        let status = resp.status().as_u16();
        let rid = resp.headers().get("x-openstack-request-id").map(|v| v.to_str().unwrap().to_string());
        let text = resp.text().await.unwrap();
        assert!(want.contains(&status), "{method} {path}: {status} {text}");
        assert!(rid.is_some_and(|r| r.starts_with("req-")), "{method} {path}: no x-openstack-request-id");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert!(key.split('|').any(|k| v.get(k).is_some()), "{method} {path}: body {text} is not the API's error body");
        for w in DB_WORDS {
            assert!(!text.to_lowercase().contains(&w.to_lowercase()), "{method} {path}: database text in {text}");
        }
    }
}

async fn roots_with_and_without_slash(db: Option<&str>) {
    let cloud = common::start(db, 1).await;
    let c = reqwest::Client::new();
    for mount in ["/identity", "/image", "/compute", "/placement"] {
        let plain = c.get(format!("{}{mount}", cloud.base)).send().await.unwrap();
        let slash = c.get(format!("{}{mount}/", cloud.base)).send().await.unwrap();
        assert_eq!(plain.status(), slash.status(), "{mount} vs {mount}/");
        assert!(plain.status().is_success() || plain.status() == 300, "{mount}: {}", plain.status());
        for r in [&plain, &slash] {
            assert!(r.headers().contains_key("x-openstack-request-id"), "{mount}: no request id");
        }
        let (a, b): (Value, Value) = (plain.json().await.unwrap(), slash.json().await.unwrap());
        assert_eq!(a, b, "{mount}: bodies differ");
    }
}

#[tokio::test]
async fn hostile_requests_answer_4xx_on_sqlite() {
    hostile_requests(None).await;
}

#[tokio::test]
async fn hostile_requests_answer_4xx_on_postgres() {
    let Some(db) = berth_testkit::TestDb::postgres().await else { return };
    hostile_requests(Some(&db.url)).await;
}

#[tokio::test]
async fn service_roots_answer_with_and_without_a_trailing_slash() {
    roots_with_and_without_slash(None).await;
}
