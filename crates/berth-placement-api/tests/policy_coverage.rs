//! Walk the route table: every route except the version document names a
//! policy rule and refuses a caller without roles (403 in Placement's error
//! format, naming that rule), so no route can forget its policy check or
//! check another rule than the table says.

use std::sync::Arc;

use axum::body::Body;
use berth_http::Access;
use berth_placement_api::{route_table, AppState, PlacementConfig};
use berth_policy::{Enforcer, EnforcerConfig};
use berth_store::{Store, StoreConfig};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn fill(path: &str) -> String {
    path.replace("{uuid}", "5e2c1a7e-4c1b-4a55-9d0e-6a3c1f2b9d10")
        .replace("{consumer_uuid}", "0f1e2d3c-4b5a-4697-8877-665544332211")
        .replace("{resource_class}", "VCPU")
        .replace("{name}", "CUSTOM_POLICY_PROBE")
}

#[tokio::test]
async fn every_route_refuses_a_caller_without_roles() {
    let dir = std::env::temp_dir().join(format!("berth-policy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&StoreConfig::new(format!("sqlite://{}/p.db", dir.display()))).await.unwrap();
    for new_defaults in [false, true] {
        let policy = Enforcer::new(
            berth_policy::placement::defaults(),
            EnforcerConfig { enforce_new_defaults: new_defaults, enforce_scope: true },
        );
        let app =
            berth_placement_api::router(Arc::new(AppState::new(store.clone(), policy, PlacementConfig::default())));
        let mut checked = 0;
        for spec in route_table() {
            let (path, method) = (spec.path, spec.method.clone());
            let Access::Rule(rule) = spec.access else {
                assert_eq!((path, spec.access), ("/", Access::Public), "only the version document is public");
                continue;
            };
            {
                let mut uri = fill(path);
                if path == "/usages" {
                    uri.push_str("?project_id=someone-else");
                }
                let req = Request::builder()
                    .method(method.clone())
                    .uri(&uri)
                    .header("x-auth-token", "user:proj")
                    .header("x-roles", "")
                    .header("openstack-api-version", "placement latest")
                    .header("content-type", "application/json")
                    .body(Body::from(if method == Method::GET || method == Method::DELETE { "" } else { "{}" }))
                    .unwrap();
                let resp = app.clone().oneshot(req).await.unwrap();
                let status = resp.status();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} (new defaults: {new_defaults}) answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(v["errors"][0]["status"], 403, "{method} {path}");
                // The refusal names the rule the table names for the route.
                let detail = v["errors"][0]["detail"].as_str().unwrap_or_default();
                assert!(detail.contains(rule), "{method} {path}: {detail} does not name {rule}");
                checked += 1;
            }
        }
        assert!(checked >= 30, "the table lists every route ({checked} checked)");
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
