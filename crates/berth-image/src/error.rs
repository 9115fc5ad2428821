//! One error type for the crate. Every error maps to an HTTP status and
//! renders the way Glance's webob exceptions do for JSON clients:
//! `{"code": "404 Not Found", "title": "Not Found", "message": "..."}`.
//! A missing or invalid token answers keystonemiddleware's 401 body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The crate's error: an HTTP status plus a human-readable message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ImageError {
    pub status: StatusCode,
    pub message: String,
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

impl ImageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ImageError { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "The request you have made requires authentication.")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    pub(crate) fn image_not_found(id: &str) -> Self {
        Self::not_found(format!("No image found with ID {id}"))
    }
}

/// webob's title for a status.
pub(crate) fn title_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        413 => "Request Entity Too Large",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

/// Render a Glance-format error response.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    if status == StatusCode::UNAUTHORIZED {
        let body = serde_json::json!({
            "error": {"code": 401, "title": "Unauthorized", "message": message}
        });
        let mut resp = (status, axum::Json(body)).into_response();
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Keystone"));
        return resp;
    }
    let body = serde_json::json!({
        "code": format!("{} {}", status.as_u16(), title_for(status)),
        "title": title_for(status),
        "message": message,
    });
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ImageError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() && self.status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %self.message, "image service internal error");
            return error_response(
                self.status,
                "The server has either erred or is incapable of performing the requested operation.",
            );
        }
        error_response(self.status, &self.message)
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> ImageError {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            // The detail goes to the log; an answer never carries it.
            tracing::warn!(error = %e, "image database unavailable");
            ImageError::unavailable("The image registry is temporarily unavailable; try again later.")
        }
        _ => ImageError::internal(format!("database error: {e}")),
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            let msg = d.message().to_ascii_lowercase();
            d.code().as_deref() == Some("23505") || msg.contains("unique constraint") || msg.contains("duplicate key")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn database_errors_never_reach_the_answer() {
        use http_body_util::BodyExt;
        let e = db_err(sqlx::Error::Io(std::io::Error::other("connection to 10.0.0.5:5432 refused")));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!e.message.contains("10.0.0.5"), "{}", e.message);
        let e = db_err(sqlx::Error::Protocol("invalid byte sequence for encoding \"UTF8\": 0x00".into()));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("\"code\":\"500 Internal Server Error\""), "{text}");
        assert!(!text.contains("UTF8") && !text.contains("0x00"), "{text}");
    }
}
