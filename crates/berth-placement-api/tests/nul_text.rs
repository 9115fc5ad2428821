//! A NUL character in names and ids never becomes a server error, on SQLite
//! or PostgreSQL (which refuses NUL in text): a NUL in a JSON body is refused
//! with 400 on both engines, and a NUL in a path or query never reaches the
//! database; answers are in Placement's error format, without database text.

use std::sync::Arc;

use axum::body::Body;
use berth_placement_api::{AppState, PlacementConfig};
use berth_policy::{Enforcer, EnforcerConfig};
use berth_store::{Store, StoreConfig};
use berth_testkit::{both_engines, TestDb};
use http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn nul_is_never_a_server_error(db: TestDb) {
    let store = Store::open(&StoreConfig::new(db.url.clone())).await.expect("open store");
    let policy = Enforcer::new(
        berth_policy::placement::defaults(),
        EnforcerConfig { enforce_new_defaults: false, enforce_scope: true },
    );
    let app = berth_placement_api::router(Arc::new(AppState::new(store.clone(), policy, PlacementConfig::default())));
    let cases: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::POST, "/resource_providers", Some(json!({"name": "a\u{0}b"}))),
        (Method::GET, "/resource_providers?name=a%00b", None),
        (Method::GET, "/traits/CUSTOM_A%00", None),
        (Method::GET, "/resource_classes/CUSTOM_A%00", None),
        (Method::GET, "/usages?project_id=p%00", None),
    ];
    for (method, path, body) in cases {
        let mut b = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("x-auth-token", "admin")
            .header("openstack-api-version", "placement 1.39");
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let resp = app.clone().oneshot(b.body(body).unwrap()).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        assert!(!status.is_server_error(), "{method} {path} on {:?}: {status} {text}", db.backend);
        let lower = text.to_lowercase();
        for leak in ["utf8", "0x00", "sqlstate", "database error", "invalid byte sequence"] {
            assert!(!lower.contains(leak), "{method} {path}: database text in the answer: {text}");
        }
        if method == Method::POST {
            assert_eq!(status.as_u16(), 400, "a NUL in a name is refused on both engines ({text})");
        }
        if status.as_u16() == 400 {
            let v: Value = serde_json::from_slice(&bytes).expect("Placement's JSON error body");
            assert_eq!(v["errors"][0]["status"], 400, "{text}");
        }
    }
    store.close().await;
}
both_engines!(nul_is_never_a_server_error);
