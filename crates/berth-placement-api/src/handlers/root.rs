//! `GET /`: version discovery, no authentication.

use http::StatusCode;
use serde_json::json;

use crate::req::HandlerResult;
use crate::req::{json_response, Req};
use crate::versions::{MAX_VERSION, MIN_VERSION};

pub async fn home(req: Req) -> HandlerResult {
    let body = json!({"versions": [{
        "id": format!("v{MIN_VERSION}"),
        "max_version": MAX_VERSION.to_string(),
        "min_version": MIN_VERSION.to_string(),
        "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}],
    }]});
    Ok(json_response(&req, StatusCode::OK, &body, None))
}
