//! Aggregate uuids come back in the form they were sent (without dashes,
//! upper case, in braces), as upstream stores and echoes them, on both
//! engines; `member_of` still finds a provider whatever form either side
//! uses (berth compares aggregates as uuids; upstream compares the text,
//! see `berth_placement::candidates`).

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use berth_placement_api::{AppState, PlacementConfig};
use berth_policy::{Enforcer, EnforcerConfig};
use berth_store::{Store, StoreConfig};
use berth_testkit::{both_engines, TestDb};
use http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(app: &Router, method: &str, path: &str, version: &str, body: Option<Value>) -> (u16, Value) {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("x-auth-token", "admin")
        .header("openstack-api-version", format!("placement {version}"));
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(b.body(body).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn aggregates_echo_as_sent(db: TestDb) {
    let store = Store::open(&StoreConfig::new(db.url.clone())).await.expect("open store");
    let policy = Enforcer::new(
        berth_policy::placement::defaults(),
        EnforcerConfig { enforce_new_defaults: false, enforce_scope: true },
    );
    let app = berth_placement_api::router(Arc::new(AppState::new(store, policy, PlacementConfig::default())));
    let rp = "5e1c0a52-6d3f-4c38-9b0e-7a1f2d3c4b5a";
    let (s, _) = call(&app, "POST", "/resource_providers", "1.20", Some(json!({"name": "rp", "uuid": rp}))).await;
    assert_eq!(s, 200);
    let plain = "0f6b1e2a3c4d4e5f8a9b0c1d2e3f4a5b";
    let upper = "1A2B3C4D-5E6F-4A7B-8C9D-0E1F2A3B4C5D";
    let braced = "{2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d}";
    let dashed_plain = "0f6b1e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    let sent = json!([plain, upper, braced, dashed_plain]);
    let path = format!("/resource_providers/{rp}/aggregates");
    let (s, b) =
        call(&app, "PUT", &path, "1.19", Some(json!({"aggregates": sent, "resource_provider_generation": 0}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["aggregates"], sent, "the PUT answer echoes the aggregates as sent");
    for v in ["1.1", "1.19"] {
        let (s, b) = call(&app, "GET", &path, v, None).await;
        assert_eq!(s, 200);
        assert_eq!(b["aggregates"], sent, "GET at {v} shows them as sent");
    }
    // 1.1 bare list, too.
    let (s, b) = call(&app, "PUT", &path, "1.1", Some(json!([plain]))).await;
    assert_eq!((s, &b["aggregates"]), (200, &json!([plain])));

    // member_of matches whatever form the query and the stored text use.
    for q in [plain, dashed_plain, &plain.to_uppercase()] {
        let (s, b) = call(&app, "GET", &format!("/resource_providers?member_of={q}"), "1.3", None).await;
        assert_eq!(s, 200, "{b}");
        let uuids: Vec<&str> =
            b["resource_providers"].as_array().unwrap().iter().map(|p| p["uuid"].as_str().unwrap()).collect();
        assert_eq!(uuids, vec![rp], "member_of={q}");
    }
    let (s, b) = call(&app, "GET", &format!("/resource_providers?member_of=!{dashed_plain}"), "1.32", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["resource_providers"], json!([]), "a forbidden aggregate excludes the provider in any form");
}

both_engines!(aggregates_echo_as_sent);
