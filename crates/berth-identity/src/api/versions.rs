//! Version discovery documents, in the shapes keystoneauth accepts.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::{json_response, AppState, MOUNT};

/// The Identity API version we claim (Keystone 2023.1+ reports v3.14).
pub(crate) const VERSION_ID: &str = "v3.14";
const UPDATED: &str = "2020-04-07T00:00:00Z";

fn version_doc(base: &str) -> Value {
    json!({
        "id": VERSION_ID,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": format!("{base}{MOUNT}/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /`: 300 Multiple Choices with the version list, as Keystone.
pub(crate) async fn root(State(id): State<AppState>, headers: HeaderMap) -> Response {
    let base = id.base_url(&headers);
    json_response(StatusCode::MULTIPLE_CHOICES, json!({"versions": {"values": [version_doc(&base)]}}))
}

/// `GET /v3`: the single version document.
pub(crate) async fn v3(State(id): State<AppState>, headers: HeaderMap) -> Response {
    let base = id.base_url(&headers);
    json_response(StatusCode::OK, json!({"version": version_doc(&base)}))
}
