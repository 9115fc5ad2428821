//! One error mapping for every service: what went wrong, as a kind a service
//! can act on, with the database's own text kept for logs only.

use std::fmt;

/// What kind of database failure this is. Services decide the HTTP answer
/// from the kind alone; the database's text never reaches a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbErrorKind {
    /// A UNIQUE or PRIMARY KEY constraint refused the row.
    UniqueViolation,
    /// PostgreSQL gave up on the transaction to keep it serializable, or
    /// broke a deadlock (SQLSTATE 40001, 40P01). Retrying the whole
    /// transaction may succeed.
    SerializationFailure,
    /// SQLite's lock could not be had within busy_timeout (SQLITE_BUSY,
    /// SQLITE_LOCKED), or PostgreSQL's lock_not_available (55P03).
    Busy,
    /// The database cannot be reached: pool timeout, I/O, closed pool,
    /// connection failure, shutdown, too many connections.
    Unavailable,
    /// The database refused a text value it cannot store: PostgreSQL
    /// rejects the NUL character in text (SQLSTATE 22021, 22P05). This is
    /// the client's input, so services answer it with a 4xx.
    InvalidText,
    /// A column failed to decode into the Rust type asked for (wrong type,
    /// NULL where a value was expected, a malformed UUID...). Never
    /// silently replaced by a default.
    Decode,
    /// Anything else (a bug, a failed migration, a constraint other than
    /// uniqueness).
    Other,
}

impl DbErrorKind {
    /// Whether retrying the whole transaction may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, DbErrorKind::SerializationFailure | DbErrorKind::Busy)
    }

    /// A short text that is safe to show a client (no database text).
    pub fn public_message(self) -> &'static str {
        match self {
            DbErrorKind::UniqueViolation => "The resource already exists.",
            DbErrorKind::SerializationFailure => "A concurrent update conflicted with this request; retry it.",
            DbErrorKind::Busy => "The database is busy; retry the request.",
            DbErrorKind::Unavailable => "The database is unavailable; retry the request later.",
            DbErrorKind::InvalidText => "Text values may not contain the NUL character.",
            DbErrorKind::Decode => "A stored value could not be read.",
            DbErrorKind::Other => "Database error.",
        }
    }
}

/// A database failure: its [`DbErrorKind`] and, for logs only, what the
/// database or driver said. `Display` includes that text; never put it in an
/// HTTP answer (use [`DbErrorKind::public_message`] or the service's own
/// wording).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    kind: DbErrorKind,
    log_text: String,
}

pub type DbResult<T> = Result<T, DbError>;

impl DbError {
    pub fn new(kind: DbErrorKind, log_text: impl Into<String>) -> Self {
        DbError { kind, log_text: log_text.into() }
    }

    /// A column that failed to decode (used by row helpers for checks sqlx
    /// cannot do, such as a TEXT column that must hold a UUID).
    pub fn decode(log_text: impl Into<String>) -> Self {
        DbError::new(DbErrorKind::Decode, log_text)
    }

    pub fn kind(&self) -> DbErrorKind {
        self.kind
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The database's or driver's own text: for logs, never for clients.
    pub fn log_text(&self) -> &str {
        &self.log_text
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.log_text)
    }
}

impl std::error::Error for DbError {}

/// The kind of an SQLite extended result code.
fn kind_of_sqlite_code(code: i64) -> Option<DbErrorKind> {
    // The primary result code is the low byte.
    match code & 0xff {
        5 | 6 => Some(DbErrorKind::Busy), // BUSY, LOCKED (and their extended codes)
        19 if code == 2067 || code == 1555 => Some(DbErrorKind::UniqueViolation), // CONSTRAINT_UNIQUE, _PRIMARYKEY
        10 | 14 => Some(DbErrorKind::Unavailable), // IOERR, CANTOPEN
        _ => None,
    }
}

/// The kind of a PostgreSQL SQLSTATE.
fn kind_of_sqlstate(code: &str) -> Option<DbErrorKind> {
    match code {
        "23505" => Some(DbErrorKind::UniqueViolation),
        "40001" | "40P01" => Some(DbErrorKind::SerializationFailure),
        "55P03" => Some(DbErrorKind::Busy),
        "22021" | "22P05" => Some(DbErrorKind::InvalidText),
        "53300" | "57P01" | "57P02" | "57P03" => Some(DbErrorKind::Unavailable),
        c if c.starts_with("08") => Some(DbErrorKind::Unavailable),
        _ => None,
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        let kind = match &e {
            sqlx::Error::Database(d) => {
                let sqlite = d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
                let by_code = d.code().and_then(|c| {
                    if sqlite {
                        c.parse::<i64>().ok().and_then(kind_of_sqlite_code)
                    } else {
                        kind_of_sqlstate(&c)
                    }
                });
                match by_code {
                    Some(k) => k,
                    None if d.kind() == sqlx::error::ErrorKind::UniqueViolation => DbErrorKind::UniqueViolation,
                    None => {
                        let msg = d.message().to_ascii_lowercase();
                        if msg.contains("unique constraint") || msg.contains("duplicate key") {
                            DbErrorKind::UniqueViolation
                        } else if msg.contains("database is locked") {
                            DbErrorKind::Busy
                        } else {
                            DbErrorKind::Other
                        }
                    }
                }
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => DbErrorKind::Unavailable,
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. } => DbErrorKind::Decode,
            _ => DbErrorKind::Other,
        };
        DbError::new(kind, e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for DbError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        let kind = match &e {
            sqlx::migrate::MigrateError::Execute(inner) => DbError::from(clone_kind(inner)).kind,
            _ => DbErrorKind::Other,
        };
        DbError::new(kind, format!("database migration failed: {e}"))
    }
}

/// Enough of an `sqlx::Error` to classify it (it is not `Clone`).
fn clone_kind(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        _ => sqlx::Error::Protocol(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_classify() {
        assert_eq!(kind_of_sqlstate("23505"), Some(DbErrorKind::UniqueViolation));
        assert_eq!(kind_of_sqlstate("40001"), Some(DbErrorKind::SerializationFailure));
        assert_eq!(kind_of_sqlstate("40P01"), Some(DbErrorKind::SerializationFailure));
        assert_eq!(kind_of_sqlstate("22021"), Some(DbErrorKind::InvalidText));
        assert_eq!(kind_of_sqlstate("22P05"), Some(DbErrorKind::InvalidText));
        assert_eq!(kind_of_sqlstate("08006"), Some(DbErrorKind::Unavailable));
        assert_eq!(kind_of_sqlstate("55P03"), Some(DbErrorKind::Busy));
        assert_eq!(kind_of_sqlstate("23503"), None);
        assert_eq!(kind_of_sqlite_code(5), Some(DbErrorKind::Busy));
        assert_eq!(kind_of_sqlite_code(517), Some(DbErrorKind::Busy)); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(kind_of_sqlite_code(6), Some(DbErrorKind::Busy));
        assert_eq!(kind_of_sqlite_code(2067), Some(DbErrorKind::UniqueViolation));
        assert_eq!(kind_of_sqlite_code(1555), Some(DbErrorKind::UniqueViolation));
        assert_eq!(kind_of_sqlite_code(787), None); // SQLITE_CONSTRAINT_FOREIGNKEY
    }

    #[test]
    fn driver_errors_classify() {
        assert_eq!(DbError::from(sqlx::Error::PoolTimedOut).kind(), DbErrorKind::Unavailable);
        assert_eq!(DbError::from(sqlx::Error::PoolClosed).kind(), DbErrorKind::Unavailable);
        assert_eq!(DbError::from(sqlx::Error::ColumnNotFound("x".into())).kind(), DbErrorKind::Decode);
        assert_eq!(DbError::from(sqlx::Error::RowNotFound).kind(), DbErrorKind::Other);
        assert!(DbErrorKind::Busy.is_retryable());
        assert!(DbErrorKind::SerializationFailure.is_retryable());
        assert!(!DbErrorKind::UniqueViolation.is_retryable());
    }
}
