//! One error type for the crate. Every error maps to an HTTP status; it
//! answers as a [`Fault`] that berth-http's edge renders through
//! [`GlanceErrors`] the way Glance's webob exceptions do for JSON clients:
//! `{"code": "404 Not Found", "title": "Not Found", "message": "..."}`.
//! A missing or invalid token answers keystonemiddleware's 401 body.
//! [`map_db`] is the one place a database error becomes an image error.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_db::{DbError, DbErrorKind};
use berth_http::{json_error, ErrorFormat, Fault, FaultContext};

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

/// Glance's error bodies, for the shared edge: webob's
/// `{"code": "404 Not Found", "title": "Not Found", "message": "..."}`, and
/// keystonemiddleware's `{"error": {...}}` with `WWW-Authenticate` for 401.
#[derive(Debug, Clone, Copy)]
pub struct GlanceErrors;

impl ErrorFormat for GlanceErrors {
    fn render(&self, fault: &Fault, _cx: &FaultContext) -> Response {
        let status = fault.status;
        if status == StatusCode::UNAUTHORIZED {
            let body = serde_json::json!({
                "error": {"code": 401, "title": "Unauthorized", "message": fault.message}
            });
            let mut resp = json_error(status, &body);
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Keystone"));
            return resp;
        }
        let body = serde_json::json!({
            "code": format!("{} {}", status.as_u16(), title_for(status)),
            "title": title_for(status),
            "message": fault.message,
        });
        json_error(status, &body)
    }

    fn message_for(&self, status: StatusCode, text: &str) -> String {
        match status.as_u16() {
            401 => "The request you have made requires authentication.".into(),
            404 => "The resource could not be found.".into(),
            405 => "The method is not allowed for this resource.".into(),
            413 => "The request body is too large.".into(),
            500 => "The server has either erred or is incapable of performing the requested operation.".into(),
            _ if !text.is_empty() => text.into(),
            _ => status.canonical_reason().unwrap_or("Error").into(),
        }
    }
}

/// An error answers as a [`Fault`]; the edge renders it in Glance's format
/// (and logs, rather than shows, the message of a 500).
impl IntoResponse for ImageError {
    fn into_response(self) -> Response {
        Fault::new(self.status, self.message).into_response()
    }
}

/// The one place a database failure becomes an image error. The database's
/// text goes to the log, never into the answer.
pub(crate) fn map_db(e: impl Into<DbError>) -> ImageError {
    let e = e.into();
    let kind = e.kind();
    match kind {
        DbErrorKind::InvalidText => {
            tracing::debug!(error = %e, "database refused a text value");
            ImageError::bad_request(kind.public_message())
        }
        DbErrorKind::UniqueViolation => {
            tracing::info!(error = %e, "unique violation");
            ImageError::conflict(kind.public_message())
        }
        DbErrorKind::Busy | DbErrorKind::Unavailable | DbErrorKind::SerializationFailure => {
            tracing::warn!(error = %e, "image database unavailable");
            ImageError::unavailable("The image registry is temporarily unavailable; try again later.")
        }
        DbErrorKind::Decode | DbErrorKind::Other => {
            tracing::error!(error = %e, "image database error");
            ImageError::internal(kind.public_message())
        }
    }
}

/// As [`map_db`], for a lookup by a client-given key: text the database
/// refuses names nothing, so the lookup finds nothing (`Ok(None)`).
pub(crate) fn lookup<T>(r: std::result::Result<Option<T>, impl Into<DbError>>) -> Result<Option<T>> {
    match r.map_err(Into::into) {
        Ok(v) => Ok(v),
        Err(e) if e.kind() == DbErrorKind::InvalidText => {
            tracing::debug!(error = %e, "lookup by a key the database refuses");
            Ok(None)
        }
        Err(e) => Err(map_db(e)),
    }
}

impl From<DbError> for ImageError {
    fn from(e: DbError) -> Self {
        map_db(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_map_by_kind_and_never_carry_their_text() {
        let text = "connection to 10.0.0.5:5432 refused: invalid byte sequence for encoding UTF8: 0x00";
        for (kind, status) in [
            (DbErrorKind::InvalidText, StatusCode::BAD_REQUEST),
            (DbErrorKind::UniqueViolation, StatusCode::CONFLICT),
            (DbErrorKind::Busy, StatusCode::SERVICE_UNAVAILABLE),
            (DbErrorKind::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            (DbErrorKind::SerializationFailure, StatusCode::SERVICE_UNAVAILABLE),
            (DbErrorKind::Decode, StatusCode::INTERNAL_SERVER_ERROR),
            (DbErrorKind::Other, StatusCode::INTERNAL_SERVER_ERROR),
        ] {
            let e = map_db(DbError::new(kind, text));
            assert_eq!(e.status, status, "{kind:?}");
            assert!(!e.message.contains("10.0.0.5") && !e.message.contains("UTF8"), "{kind:?}: {}", e.message);
        }
        let e = map_db(sqlx::Error::Io(std::io::Error::other(text)));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!e.message.contains("10.0.0.5"), "{}", e.message);
    }

    #[test]
    fn lookups_by_refused_text_find_nothing() {
        let refused: std::result::Result<Option<i32>, DbError> = Err(DbError::new(DbErrorKind::InvalidText, "22021"));
        assert!(matches!(lookup(refused), Ok(None)));
        let other: std::result::Result<Option<i32>, DbError> = Err(DbError::new(DbErrorKind::Other, "boom"));
        assert_eq!(lookup(other).unwrap_err().status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(matches!(lookup(Ok::<_, DbError>(Some(3))), Ok(Some(3))));
    }
}
