//! Version discovery: `GET /` (all versions) and `GET /v2.1` (one).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{base_url, json, AppState, MAX_VERSION, MIN_VERSION};

fn v21_doc(base: &str) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION.to_string(),
        "min_version": MIN_VERSION.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/v2.1/")}],
    })
}

fn base_of(svc: &AppState, req: Request) -> String {
    let (parts, _) = req.into_parts();
    base_url(svc, &parts)
}

pub async fn root(State(svc): State<AppState>, req: Request) -> Response {
    let base = base_of(&svc, req);
    json(StatusCode::OK, json!({"versions": [v21_doc(&base)]}))
}

pub async fn v21(State(svc): State<AppState>, req: Request) -> Response {
    let base = base_of(&svc, req);
    let mut doc = v21_doc(&base);
    doc["links"] = json!([
        {"rel": "self", "href": format!("{base}/v2.1/")},
        {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
    ]);
    doc["media-types"] =
        json!([{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]);
    json(StatusCode::OK, json!({"version": doc}))
}
