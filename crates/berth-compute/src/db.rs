//! Connection pools, engine detection, migrations and transactions, in the
//! pattern of `berth-store`: sqlx's `Any` driver, `$N` placeholders, only
//! BIGINT/DOUBLE PRECISION/TEXT columns; on SQLite every write runs on one
//! dedicated connection behind a process-wide mutex.

use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{ComputeError, Result};

pub use berth_db::{redact, Engine};

/// Handle on the compute tables. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Db {
    pub pool: AnyPool,
    write_pool: AnyPool,
    pub engine: Engine,
    write_lock: Arc<Mutex<()>>,
}

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A write transaction; on SQLite it also holds the process-wide writer lock.
pub(crate) struct WriteTx<'a> {
    pub tx: Tx,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db_err)
    }
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db> {
        let p = berth_db::connect(url, max_connections).await.map_err(ComputeError::internal)?;
        Ok(Db { pool: p.read, write_pool: p.write, engine: p.engine, write_lock: Arc::new(Mutex::new(())) })
    }

    pub async fn migrate(&self) -> Result<()> {
        // Placement, identity and image keep their migrations in the same
        // `_sqlx_migrations` table.
        let migrator = berth_db::shared_migrator(match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATOR,
            Engine::Postgres => &POSTGRES_MIGRATOR,
        });
        migrator
            .run(&self.write_pool)
            .await
            .map_err(|e| ComputeError::internal(format!("compute database migration failed: {e}")))
    }

    pub async fn write(&self) -> Result<WriteTx<'_>> {
        let guard = match self.engine {
            Engine::Sqlite => Some(self.write_lock.lock().await),
            Engine::Postgres => None,
        };
        // On SQLite, take the write lock up front (`BEGIN IMMEDIATE`): other
        // processes and Placement's own connection write to the same file,
        // and a deferred transaction that reads first could not upgrade.
        let tx = match self.engine {
            Engine::Sqlite => self.write_pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.write_pool.begin().await,
        }
        .map_err(db_err)?;
        Ok(WriteTx { tx, _guard: guard })
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.write_pool.close().await;
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> ComputeError {
    match &e {
        // A 503 shows its message to the caller: the database's own text
        // goes to the log only.
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            tracing::warn!(error = %e, "compute database unavailable");
            ComputeError::unavailable("The compute database is unavailable. Please retry later.")
        }
        _ => ComputeError::internal(format!("database error: {e}")),
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

pub(crate) use crate::clock::now_ms;

pub(crate) fn get_i64(row: &AnyRow, col: &str) -> i64 {
    row.try_get::<i64, _>(col).unwrap_or_default()
}

pub(crate) fn get_opt_i64(row: &AnyRow, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(col).ok().flatten()
}

pub(crate) fn get_str(row: &AnyRow, col: &str) -> String {
    row.try_get::<String, _>(col).unwrap_or_default()
}

pub(crate) fn get_opt_str(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}

pub(crate) fn get_f64(row: &AnyRow, col: &str) -> f64 {
    row.try_get::<f64, _>(col).unwrap_or_default()
}

pub(crate) fn get_bool(row: &AnyRow, col: &str) -> bool {
    get_i64(row, col) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn database_errors_keep_their_text_out_of_messages_callers_see() {
        let e = db_err(sqlx::Error::Io(std::io::Error::other("connection to 10.0.0.5:5432 refused")));
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(!e.message.contains("10.0.0.5"), "{}", e.message);
        assert_eq!(db_err(sqlx::Error::PoolTimedOut).kind, ErrorKind::Unavailable);
        // Other failures are internal (their message is never shown).
        assert_eq!(db_err(sqlx::Error::RowNotFound).kind, ErrorKind::Internal);
    }
}
