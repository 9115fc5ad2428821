//! One error type for the service and storage layers: a kind (what went
//! wrong, in domain terms) and a message. No HTTP here: `api/fault.rs`
//! decides the status and renders Nova's fault body.

use berth_db::{DbError, DbErrorKind};
use berth_placement_client::PlacementError;

/// What went wrong, independent of any transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller's input is invalid.
    BadRequest,
    /// The caller is not authenticated.
    Unauthenticated,
    /// The caller may not do this (policy, quota).
    Forbidden,
    /// The thing named does not exist (or is not visible to the caller).
    NotFound,
    /// The request conflicts with the current state (duplicate, locked,
    /// wrong state).
    Conflict,
    /// The requested API version cannot be served.
    NotAcceptable,
    /// A dependency (database, Placement, image service) is unreachable;
    /// retry later.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ComputeError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = ComputeError> = std::result::Result<T, E>;

impl ComputeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ComputeError { kind, message: message.into() }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, m)
    }
    pub fn unauthorized() -> Self {
        Self::new(ErrorKind::Unauthenticated, "The request you have made requires authentication.")
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, m)
    }
    pub fn not_acceptable(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotAcceptable, m)
    }
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, m)
    }

    /// A Placement failure caused by a value the caller supplied (a project
    /// id, a provider named in the request): Placement's 400/404/409 are the
    /// caller's problem, not ours; anything else maps as [`From`] does.
    pub fn from_placement_for_input(e: PlacementError) -> Self {
        match e {
            PlacementError::Other { status: 400, message } => {
                ComputeError::bad_request(format!("Invalid input: {message}"))
            }
            PlacementError::NotFound(m) => ComputeError::not_found(m),
            PlacementError::Conflict { message, .. } => ComputeError::conflict(message),
            other => other.into(),
        }
    }
}

/// The one mapping of database failures to error kinds. The database's
/// text goes to the log (and into `Internal` messages, which are never
/// shown); clients see only generic wording.
impl From<DbError> for ComputeError {
    fn from(e: DbError) -> Self {
        match e.kind() {
            // PostgreSQL refusing a NUL in text: the caller's input.
            DbErrorKind::InvalidText => ComputeError::bad_request(e.kind().public_message()),
            DbErrorKind::Unavailable | DbErrorKind::Busy => {
                tracing::warn!(error = %e, "compute database unavailable");
                ComputeError::unavailable("The compute database is unavailable. Please retry later.")
            }
            DbErrorKind::UniqueViolation => ComputeError::conflict(e.kind().public_message()),
            _ => ComputeError::internal(format!("database error: {e}")),
        }
    }
}

impl From<sqlx::Error> for ComputeError {
    fn from(e: sqlx::Error) -> Self {
        DbError::from(e).into()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_map_by_kind_and_keep_their_text_out_of_client_messages() {
        let cases = [
            (DbErrorKind::InvalidText, ErrorKind::BadRequest),
            (DbErrorKind::Unavailable, ErrorKind::Unavailable),
            (DbErrorKind::Busy, ErrorKind::Unavailable),
            (DbErrorKind::UniqueViolation, ErrorKind::Conflict),
            (DbErrorKind::SerializationFailure, ErrorKind::Internal),
            (DbErrorKind::Decode, ErrorKind::Internal),
            (DbErrorKind::Other, ErrorKind::Internal),
        ];
        for (db, want) in cases {
            let e = ComputeError::from(DbError::new(db, "SQLSTATE 22021 at 10.0.0.5:5432"));
            assert_eq!(e.kind, want, "{db:?}");
            if want != ErrorKind::Internal {
                assert!(!e.message.contains("10.0.0.5") && !e.message.contains("SQLSTATE"), "{}", e.message);
            }
        }
        let e = ComputeError::from(sqlx::Error::Io(std::io::Error::other("connection to 10.0.0.5:5432 refused")));
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(!e.message.contains("10.0.0.5"), "{}", e.message);
        assert_eq!(ComputeError::from(sqlx::Error::RowNotFound).kind, ErrorKind::Internal);
    }

    #[test]
    fn placement_refusals_of_caller_input_keep_their_kind() {
        let other = |status| PlacementError::Other { status, message: "m".into() };
        let conflict = PlacementError::Conflict { code: "x".into(), message: "m".into() };
        let cases = [
            (other(400), ErrorKind::BadRequest, ErrorKind::Internal),
            (PlacementError::NotFound("m".into()), ErrorKind::NotFound, ErrorKind::Internal),
            (conflict, ErrorKind::Conflict, ErrorKind::Internal),
            (PlacementError::Unavailable("m".into()), ErrorKind::Unavailable, ErrorKind::Unavailable),
            (other(403), ErrorKind::Internal, ErrorKind::Internal),
        ];
        for (e, for_input, otherwise) in cases {
            assert_eq!(ComputeError::from_placement_for_input(e.clone()).kind, for_input, "{e:?}");
            assert_eq!(ComputeError::from(e.clone()).kind, otherwise, "{e:?}");
        }
    }
}
