//! One error type for the crate, rendered in Nova's fault format:
//! `{"itemNotFound": {"code": 404, "message": "..."}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_placement_client::PlacementError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ComputeError {
    pub status: u16,
    pub message: String,
}

pub type Result<T, E = ComputeError> = std::result::Result<T, E>;

impl ComputeError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ComputeError { status: status.as_u16(), message: message.into() }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "The request you have made requires authentication.")
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, m)
    }
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, m)
    }
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<PlacementError> for ComputeError {
    fn from(e: PlacementError) -> Self {
        match e {
            PlacementError::Unavailable(m) => {
                ComputeError::unavailable(format!("Placement service is unavailable: {m}"))
            }
            other => ComputeError::internal(format!("Placement API error: {other}")),
        }
    }
}

/// Nova's fault name for a status (`nova.api.openstack.wsgi.Fault`).
pub fn fault_name(status: u16) -> &'static str {
    match status {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

/// A Nova-format error response.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    let body = if status == StatusCode::UNAUTHORIZED {
        // keystonemiddleware answers before Nova does, in Keystone's format.
        serde_json::json!({"error": {"code": 401, "title": "Unauthorized", "message": message}})
    } else {
        serde_json::json!({ fault_name(status.as_u16()): {"code": status.as_u16(), "message": message} })
    };
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Keystone uri=\"/identity\""));
    }
    resp
}

impl IntoResponse for ComputeError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %self.message, "compute internal error");
            return error_response(
                status,
                "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.",
            );
        }
        error_response(status, &self.message)
    }
}
