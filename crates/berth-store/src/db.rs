use std::sync::Arc;

use berth_placement::{standard, Error, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex, MutexGuard};

pub use berth_db::Engine;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: String,
    pub max_connections: u32,
}

impl StoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig { url: url.into(), max_connections: 16 }
    }
}

/// Handle on the Placement database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// Where write transactions run: on SQLite a single connection (SQLite
    /// has one writer anyway, and a rollback left pending by an aborted
    /// transaction is then always flushed before the next write); on
    /// PostgreSQL the main pool.
    write_pool: AnyPool,
    pub(crate) engine: Engine,
    /// Serializes writers on SQLite (one writer at a time is all SQLite
    /// allows; taking it here avoids busy-wait storms).
    write_lock: Arc<Mutex<()>>,
}

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A write transaction; on SQLite it also holds the process-wide writer lock.
pub(crate) struct WriteTx<'a> {
    pub tx: Tx,
    pool: &'a AnyPool,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    /// Commit, then advance the data version. The bump comes after the
    /// commit so a reader that sees version V also sees every write that
    /// advanced it (a reader may label data with an older version than it
    /// holds, which only costs it a reload).
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db_err)?;
        if let Err(e) =
            sqlx::query("UPDATE placement_state SET version = version + 1 WHERE id = 1").execute(self.pool).await
        {
            tracing::warn!(error = %e, "could not advance the placement data version");
        }
        Ok(())
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => Error::new(
            berth_placement::ErrorKind::Unavailable,
            berth_placement::codes::DEFAULT,
            format!("database unavailable: {e}"),
        ),
        _ => Error::internal(format!("database error: {e}")),
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
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

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connect, without touching the schema.
    pub async fn connect(config: &StoreConfig) -> Result<Store> {
        let p = berth_db::connect(&config.url, config.max_connections).await.map_err(Error::internal)?;
        Ok(Store { pool: p.read, write_pool: p.write, engine: p.engine, write_lock: Arc::new(Mutex::new(())) })
    }

    /// Connect, apply pending migrations and make sure the standard resource
    /// classes and traits exist.
    pub async fn open(config: &StoreConfig) -> Result<Store> {
        let store = Store::connect(config).await?;
        store.migrate().await?;
        store.sync_standard().await?;
        Ok(store)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Apply pending schema migrations (`berth db sync`).
    pub async fn migrate(&self) -> Result<()> {
        let base = match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATOR,
            Engine::Postgres => &POSTGRES_MIGRATOR,
        };
        // Other berth services (identity, compute) keep their own migrations
        // in the same database and `_sqlx_migrations` table.
        let migrator = berth_db::shared_migrator(base);
        migrator.run(&self.write_pool).await.map_err(|e| Error::internal(format!("database migration failed: {e}")))
    }

    /// Insert the standard resource classes and traits that are missing.
    pub async fn sync_standard(&self) -> Result<()> {
        let mut w = self.write().await?;
        let ts = now();
        let existing: Vec<String> = sqlx::query("SELECT name FROM resource_classes")
            .fetch_all(&mut *w.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        for name in standard::RESOURCE_CLASSES {
            if !existing.iter().any(|e| e == name) {
                sqlx::query(
                    "INSERT INTO resource_classes (name, created_at, updated_at) VALUES ($1, $2, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(ts)
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
            }
        }
        let existing: std::collections::HashSet<String> = sqlx::query("SELECT name FROM traits")
            .fetch_all(&mut *w.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        for name in standard::traits() {
            if !existing.contains(name) {
                sqlx::query(
                    "INSERT INTO traits (name, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (name) DO NOTHING",
                )
                    .bind(name)
                    .bind(ts)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        w.commit().await
    }

    pub(crate) async fn write(&self) -> Result<WriteTx<'_>> {
        let guard = match self.engine {
            Engine::Sqlite => Some(self.write_lock.lock().await),
            Engine::Postgres => None,
        };
        // IMMEDIATE takes SQLite's write lock up front (waiting up to
        // busy_timeout), so a writer in another process never fails the
        // read-to-write upgrade with "database is locked".
        let tx = match self.engine {
            Engine::Sqlite => self.write_pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.write_pool.begin().await,
        }
        .map_err(db_err)?;
        Ok(WriteTx { tx, pool: &self.write_pool, _guard: guard })
    }

    pub(crate) async fn read(&self) -> Result<Tx> {
        self.pool.begin().await.map_err(db_err)
    }

    /// A number that grows whenever committed Placement data changes; caches
    /// of derived data (the allocation-candidates graph) key on it.
    pub async fn data_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT version FROM placement_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(get_i64(&row, 0))
    }

    /// Close the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
        self.write_pool.close().await;
    }

    /// Run a trivial query, for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }
}

pub(crate) fn get_i64(row: &AnyRow, idx: usize) -> i64 {
    row.try_get::<i64, _>(idx).unwrap_or_default()
}
