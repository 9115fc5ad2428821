//! The identity tables on berth's storage core ([`berth_db::Db`]): sqlx's
//! `Any` driver, `$N` placeholders, and only BIGINT/TEXT columns so one code
//! path serves SQLite and PostgreSQL. Database errors become
//! [`IdentityError`]s in one place (`error.rs`, by [`berth_db::DbErrorKind`]).

pub use berth_db::{redact, Db, Engine};

use crate::error::{IdentityError, Result};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Open the pools for `url` and apply the identity migrations (Placement's
/// and the other services' live in the same `_sqlx_migrations` table).
pub(crate) async fn open(url: &str, max_connections: u32) -> Result<Db> {
    let db = Db::connect(url, max_connections).await.map_err(IdentityError::internal)?;
    db.migrate(&SQLITE_MIGRATOR, &POSTGRES_MIGRATOR)
        .await
        .map_err(|e| IdentityError::internal(format!("identity database migration failed: {}", e.log_text())))?;
    Ok(db)
}
