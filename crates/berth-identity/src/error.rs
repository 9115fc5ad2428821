//! One error type for the whole crate. Every variant maps to one HTTP status
//! and renders in Keystone's error format:
//! `{"error": {"code": 401, "title": "Unauthorized", "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_db::{DbError, DbErrorKind};
use berth_http::Fault;

/// What went wrong, by HTTP meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Unavailable,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The crate's error: a kind plus a human-readable message (never contains
/// passwords or tokens).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct IdentityError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = IdentityError> = std::result::Result<T, E>;

/// Keystone's generic 401 message.
pub(crate) const AUTH_REQUIRED: &str = "The request you have made requires authentication.";

impl IdentityError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        IdentityError { kind, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }
    /// The plain "requires authentication" 401.
    pub fn auth_required() -> Self {
        Self::unauthorized(AUTH_REQUIRED)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

/// Keystone's title for a status code.
pub(crate) fn title_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        503 => "Service Unavailable",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

/// An identity error is a [`Fault`]: the edge renders it in Keystone's
/// format (`api::KeystoneErrors`) with the request id, and logs a 500's
/// details instead of sending them.
impl IntoResponse for IdentityError {
    fn into_response(self) -> Response {
        if self.kind == ErrorKind::Unavailable {
            // The message may carry database error text: log it, never send it.
            tracing::warn!(error = %self.message, "identity service unavailable");
            return Fault::new(self.status(), "The service is temporarily unavailable; try again later.")
                .into_response();
        }
        Fault::new(self.status(), self.message).into_response()
    }
}

/// The message of a 400 for text the database cannot store.
pub(crate) const NUL_REFUSED: &str = "Invalid input: strings must not contain NUL characters.";

/// The one mapping of database failures to identity errors, by kind; the
/// database's text is kept for the log (500 and 503 messages are logged,
/// never sent) and never put in a 4xx message.
impl From<DbError> for IdentityError {
    fn from(e: DbError) -> Self {
        match e.kind() {
            DbErrorKind::InvalidText => IdentityError::bad_request(NUL_REFUSED),
            DbErrorKind::UniqueViolation => {
                IdentityError::conflict("Conflict occurred attempting to store the resource. Duplicate entry.")
            }
            DbErrorKind::Unavailable | DbErrorKind::Busy => {
                IdentityError::new(ErrorKind::Unavailable, format!("database unavailable: {e}"))
            }
            DbErrorKind::SerializationFailure | DbErrorKind::Decode | DbErrorKind::Other => {
                IdentityError::internal(format!("database error: {e}"))
            }
        }
    }
}

impl From<sqlx::Error> for IdentityError {
    fn from(e: sqlx::Error) -> Self {
        DbError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_map_by_kind_without_their_text() {
        let text = "ERROR: invalid byte sequence for encoding \"UTF8\": 0x00 (SQLSTATE 22021)";
        let cases = [
            (DbErrorKind::InvalidText, ErrorKind::BadRequest),
            (DbErrorKind::UniqueViolation, ErrorKind::Conflict),
            (DbErrorKind::Unavailable, ErrorKind::Unavailable),
            (DbErrorKind::Busy, ErrorKind::Unavailable),
            (DbErrorKind::SerializationFailure, ErrorKind::Internal),
            (DbErrorKind::Decode, ErrorKind::Internal),
            (DbErrorKind::Other, ErrorKind::Internal),
        ];
        for (db_kind, kind) in cases {
            let e = IdentityError::from(DbError::new(db_kind, text));
            assert_eq!(e.kind, kind, "{db_kind:?}");
            if kind.status().is_client_error() {
                assert!(!e.message.contains("SQLSTATE"), "{db_kind:?}: {}", e.message);
            }
            let resp = e.into_response();
            assert_eq!(resp.status(), kind.status());
            let fault = resp.extensions().get::<Fault>().expect("an identity error is a fault");
            if db_kind != DbErrorKind::Other
                && db_kind != DbErrorKind::Decode
                && db_kind != DbErrorKind::SerializationFailure
            {
                assert!(!fault.message.contains("SQLSTATE"), "{db_kind:?}: {}", fault.message);
            }
        }
    }

    /// PostgreSQL refusing a NUL in text (past repo.rs's fast path) is the
    /// client's 400, without the database's words; SQLite stores it.
    #[tokio::test]
    async fn postgres_refusing_nul_is_a_400() {
        let Some(tdb) = berth_testkit::TestDb::postgres().await else { return };
        let db = crate::db::open(&tdb.url, 2).await.expect("open the identity tables");
        let err =
            sqlx::query("INSERT INTO identity_roles (id, name, description, created_at) VALUES ($1, $2, NULL, 0)")
                .bind("nul-role")
                .bind("a\0b")
                .execute(db.pool())
                .await
                .expect_err("PostgreSQL refuses NUL in text");
        let e = IdentityError::from(err);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::BadRequest, NUL_REFUSED));
        db.close().await;
    }
}
