//! Connection pool, engine detection, migrations and transactions, following
//! the pattern of `berth-store`: sqlx's `Any` driver, `$N` placeholders, and
//! only BIGINT/TEXT columns so one code path serves SQLite and PostgreSQL.

use std::sync::Arc;

use sqlx::AnyPool;
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{db_err, IdentityError, Result};

pub use berth_db::{redact, Engine};

/// Handle on the identity tables. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Db {
    pub pool: AnyPool,
    /// Write transactions: one connection on SQLite, `pool` on PostgreSQL.
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
        let p = berth_db::connect(url, max_connections).await.map_err(IdentityError::internal)?;
        Ok(Db { pool: p.read, write_pool: p.write, engine: p.engine, write_lock: Arc::new(Mutex::new(())) })
    }

    pub async fn migrate(&self) -> Result<()> {
        // Placement's migrations live in the same `_sqlx_migrations` table.
        let migrator = berth_db::shared_migrator(match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATOR,
            Engine::Postgres => &POSTGRES_MIGRATOR,
        });
        migrator
            .run(&self.write_pool)
            .await
            .map_err(|e| IdentityError::internal(format!("identity database migration failed: {e}")))
    }

    pub async fn write(&self) -> Result<WriteTx<'_>> {
        let guard = match self.engine {
            Engine::Sqlite => Some(self.write_lock.lock().await),
            Engine::Postgres => None,
        };
        // SQLite: take the write lock up front so a writer of another
        // service sharing the file (Placement, compute) makes this one wait
        // (busy_timeout) instead of failing a read-to-write upgrade.
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

    pub async fn read(&self) -> Result<Tx> {
        self.pool.begin().await.map_err(db_err)
    }
}
