//! Version discovery, in the shape of Glance's versions document.

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::{endpoint_url, json_response, AppState};

/// The versions Glance advertises without an image cache or multiple
/// stores: 2.17 is current.
const VERSIONS: &[(&str, &str)] = &[
    ("2.15", "SUPPORTED"),
    ("2.9", "SUPPORTED"),
    ("2.17", "CURRENT"),
    ("2.7", "SUPPORTED"),
    ("2.6", "SUPPORTED"),
    ("2.5", "SUPPORTED"),
    ("2.4", "SUPPORTED"),
    ("2.3", "SUPPORTED"),
    ("2.2", "SUPPORTED"),
    ("2.1", "SUPPORTED"),
    ("2.0", "SUPPORTED"),
];

fn document(endpoint: &str) -> Value {
    let href = format!("{endpoint}/v2/");
    let values: Vec<Value> = VERSIONS
        .iter()
        .map(|(v, status)| json!({"id": format!("v{v}"), "status": status, "links": [{"rel": "self", "href": href}]}))
        .collect();
    json!({ "versions": values })
}

/// `GET /`: 300 Multiple Choices with the version list.
pub(crate) async fn root(State(svc): State<AppState>, headers: HeaderMap, original: OriginalUri, uri: Uri) -> Response {
    let endpoint = endpoint_url(&svc, &headers, &original, &uri);
    let endpoint = endpoint.strip_suffix("/v2").unwrap_or(&endpoint).to_string();
    json_response(StatusCode::MULTIPLE_CHOICES, document(&endpoint))
}

/// `GET /versions`: the same list with 200.
pub(crate) async fn explicit(
    State(svc): State<AppState>,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
) -> Response {
    json_response(StatusCode::OK, document(&endpoint_url(&svc, &headers, &original, &uri)))
}
