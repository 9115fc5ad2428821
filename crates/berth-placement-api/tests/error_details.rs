//! Error answers as upstream Placement 16.0.0 words them, request for
//! request: `tests/data/upstream_error_details.json` holds a table of
//! requests (set-up steps, then errors from every handler: schema errors at
//! several microversions, 404, 405, 406, 409, 415, policy) with the status
//! and the `detail` (or the whole HTML or plain-text body) real upstream
//! answered. `scripts/capture-placement-errors --upstream` re-captures it.
//! Here the same requests go to berth, in order, on both engines, and every
//! answer must match.

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use berth_placement_api::{AppState, PlacementConfig};
use berth_policy::{Enforcer, EnforcerConfig};
use berth_store::{Store, StoreConfig};
use berth_testkit::{both_engines, TestDb};
use http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const TABLE: &str = include_str!("data/upstream_error_details.json");

/// Providers whose generation `$GEN_<name>` stands for in a step's body.
const PROVIDERS: [(&str, &str); 2] =
    [("RP1", "aa000000-0000-4000-8000-000000000001"), ("RP2", "aa000000-0000-4000-8000-000000000002")];

/// Steps whose text berth does not copy, with the reason. The status must
/// still match.
const DIFFERENT_ON_PURPOSE: &[(&str, &str)] = &[
    (
        "inv create exists",
        "upstream's detail is the database driver's error text with the SQL; berth never shows database text",
    ),
    (
        "trait show non-ascii, html",
        "upstream decodes the UTF-8 path as Latin-1 and names a trait nobody sent (CUSTOM_\u{c3}\u{a9})",
    ),
];

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn send(app: &Router, method: &str, path: &str, headers: &[(String, String)], body: Option<&str>) -> Answer {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let body = match body {
        Some(text) => {
            b = b.header("content-length", text.len());
            Body::from(text.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(b.body(body).unwrap()).await.expect("router never fails");
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer { status, content_type, body: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn generation(app: &Router, uuid: &str) -> i64 {
    let headers = vec![
        ("x-auth-token".to_string(), "admin".to_string()),
        ("openstack-api-version".to_string(), "placement 1.14".to_string()),
    ];
    let a = send(app, "GET", &format!("/resource_providers/{uuid}"), &headers, None).await;
    let v: Value = serde_json::from_str(&a.body).expect("provider JSON");
    v["generation"].as_i64().expect("generation")
}

async fn details_match_upstream(db: TestDb) {
    let store = Store::open(&StoreConfig::new(db.url.clone())).await.expect("open store");
    let policy = Enforcer::new(
        berth_policy::placement::defaults(),
        EnforcerConfig { enforce_new_defaults: false, enforce_scope: true },
    );
    let app = berth_placement_api::router(Arc::new(AppState::new(store, policy, PlacementConfig::default())));
    let table: Vec<Value> = serde_json::from_str(TABLE).expect("the table is JSON");
    assert!(table.len() > 100, "the table has its steps");
    let mut failures = Vec::new();
    let mut errors = 0;
    for step in &table {
        let name = step["name"].as_str().unwrap();
        let method = step["method"].as_str().unwrap();
        let path = step["path"].as_str().unwrap();
        let headers: Vec<(String, String)> = step["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let mut body = step["body"].as_str().map(str::to_string);
        if let Some(text) = &mut body {
            for (label, uuid) in PROVIDERS {
                let placeholder = format!("$GEN_{label}");
                if text.contains(&placeholder) {
                    *text = text.replace(&placeholder, &generation(&app, uuid).await.to_string());
                }
            }
        }
        let got = send(&app, method, path, &headers, body.as_deref()).await;
        let want_status = step["status"].as_u64().unwrap() as u16;
        if got.status != want_status {
            failures.push(format!("{name}: status {} (upstream {want_status}): {}", got.status, got.body));
            continue;
        }
        if want_status < 400 {
            continue;
        }
        errors += 1;
        if DIFFERENT_ON_PURPOSE.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let want_type = step["content_type"].as_str().unwrap();
        let media = |t: &str| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media(&got.content_type) != media(want_type) {
            failures.push(format!("{name}: content type {:?} (upstream {want_type:?})", got.content_type));
            continue;
        }
        if let Some(want) = step["detail"].as_str() {
            let v: Value = serde_json::from_str(&got.body).expect("Placement's JSON error body");
            let e = &v["errors"][0];
            if e["detail"].as_str() != Some(want) {
                failures.push(format!("{name}: detail\n    berth:    {:?}\n    upstream: {want:?}", e["detail"]));
            }
            if let Some(code) = step["code"].as_str() {
                if e["code"].as_str() != Some(code) {
                    failures.push(format!("{name}: code {} (upstream {code})", e["code"]));
                }
            }
        } else {
            let want = step["text"].as_str().expect("a detail or a text body");
            if got.body != want {
                failures.push(format!("{name}: body\n    berth:    {:?}\n    upstream: {want:?}", got.body));
            }
        }
    }
    assert!(errors > 90, "the table covers many errors ({errors})");
    for (n, _) in DIFFERENT_ON_PURPOSE {
        assert!(table.iter().any(|s| s["name"] == *n), "{n} is in the table");
    }
    assert!(
        failures.is_empty(),
        "{} of {} steps differ from upstream:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

both_engines!(details_match_upstream);
