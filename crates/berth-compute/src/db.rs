//! The compute tables' handle: [`berth_db::Db`] (pools, migrations, read
//! and write transactions, the SQLite writer lock) plus the compute
//! migrations, and strict column decoding: a column that fails to decode is
//! an error ([`crate::error::ErrorKind::Internal`]), never a default.
//! Database errors become [`ComputeError`] kinds in one place
//! (`From<DbError> for ComputeError`, error.rs).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::AnyPool;

use berth_db::RowExt;

use crate::error::{ComputeError, Result};
use crate::wake::Wakeups;

pub use berth_db::{redact, Engine};
pub(crate) use berth_db::{Tx, WriteTx};

/// Handle on the compute tables. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Db {
    inner: berth_db::Db,
    /// The read pool, for single statements outside a transaction.
    pub pool: AnyPool,
    pub engine: Engine,
    /// The database URL (the PostgreSQL wake-up listener connects to it).
    pub url: String,
    /// Workers of this process to wake after a commit that queued work
    /// for them (see [`crate::wake`]).
    pub wakeups: Arc<Wakeups>,
    /// Advanced by every write of this process to services or nodes (not
    /// heartbeats): the scheduler's host-state view is rebuilt when it
    /// moves (changes of other processes are seen within the view's TTL).
    pub hosts_version: Arc<AtomicU64>,
    /// On PostgreSQL, this process's liveness lock: its key marks the
    /// leases it takes, so that other processes take them over as soon as
    /// it is gone (see [`Db::dead_owner`]).
    pub liveness: Option<Arc<berth_db::Liveness>>,
    /// Flavors and quota limits, which every create reads (see
    /// [`CatalogCache`]).
    pub catalog: Arc<CatalogCache>,
    /// Writes waiting to be committed together: creates, agents' claims
    /// and finished builds (see [`crate::store::Groups`]).
    pub groups: Arc<crate::store::Groups>,
}

/// Flavors (with their extra specs) by flavor id, and quota limits by
/// project and by quota class, as last read. Every write to those tables
/// goes through [`Db::write_catalog`], whose commit empties both, so this
/// process never reads a stale one; another process's writes are seen
/// within [`CATALOG_CACHE_TTL`] (as Nova's API caches nothing but reads
/// the same rows a moment earlier, the window only moves a race that exists
/// anyway). Absent flavors are not cached.
pub(crate) struct CatalogCache {
    pub flavors: berth_db::ReadCache<crate::model::Flavor>,
    pub limits: berth_db::ReadCache<std::collections::BTreeMap<String, i64>>,
}

/// How long a flavor or quota limit is reused without reading it again.
pub const CATALOG_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Default for CatalogCache {
    fn default() -> Self {
        CatalogCache {
            flavors: berth_db::ReadCache::new(CATALOG_CACHE_TTL, 1024),
            limits: berth_db::ReadCache::new(CATALOG_CACHE_TTL, 4096),
        }
    }
}

impl CatalogCache {
    fn invalidate(&self) {
        self.flavors.invalidate();
        self.limits.invalidate();
    }
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db> {
        let inner = berth_db::Db::connect(url, max_connections).await.map_err(ComputeError::internal)?;
        let liveness = match inner.engine() {
            Engine::Postgres => Some(Arc::new(berth_db::Liveness::hold(url).await.map_err(ComputeError::internal)?)),
            Engine::Sqlite => None,
        };
        Ok(Db {
            pool: inner.pool().clone(),
            engine: inner.engine(),
            inner,
            url: url.to_string(),
            wakeups: Arc::default(),
            hosts_version: Arc::default(),
            liveness,
            catalog: Arc::default(),
            groups: Arc::default(),
        })
    }

    /// The key leases of this process record (`claimed_proc`), if any.
    pub fn proc_key(&self) -> Option<i64> {
        self.liveness.as_ref().map(|l| l.key())
    }

    /// SQL true for a row whose lease (`claimed_proc`) belongs to a process
    /// that is gone; always false on SQLite, where leases of an earlier
    /// incarnation are released at start instead.
    pub fn dead_owner(&self) -> String {
        match self.engine {
            Engine::Postgres => berth_db::owner_is_dead_sql("claimed_proc"),
            Engine::Sqlite => "(1 = 0)".to_string(),
        }
    }

    /// The services or nodes changed: the host-state view is stale.
    pub fn hosts_changed(&self) {
        self.hosts_version.fetch_add(1, Ordering::AcqRel);
    }

    /// Apply compute's migrations (Placement, identity and image keep theirs
    /// in the same `_sqlx_migrations` table).
    pub async fn migrate(&self) -> Result<()> {
        self.inner
            .migrate(&SQLITE_MIGRATOR, &POSTGRES_MIGRATOR)
            .await
            .map_err(|e| ComputeError::internal(format!("compute database migration failed: {}", e.log_text())))
    }

    /// The writer's counters (on SQLite shared by every service of the
    /// process on the same file).
    pub fn write_stats(&self) -> berth_db::WriteStatsSnapshot {
        self.inner.write_stats()
    }

    /// A write transaction (on SQLite: the writer lock, `BEGIN IMMEDIATE`).
    pub async fn write(&self) -> Result<WriteTx> {
        Ok(self.inner.write().await?)
    }

    /// A write transaction to flavors or quota limits: its commit empties
    /// the [`CatalogCache`]. The only way those tables are written (a test
    /// over the source checks it).
    pub async fn write_catalog(&self) -> Result<WriteTx> {
        let mut w = self.write().await?;
        let catalog = self.catalog.clone();
        w.after_commit(async move { catalog.invalidate() });
        Ok(w)
    }

    pub async fn close(&self) {
        self.inner.close().await;
    }
}

/// Now, in microseconds since the epoch (berth's one time representation).
pub(crate) fn now_us() -> i64 {
    berth_time::now()
}

/// Microseconds in `ms` milliseconds (durations configured in ms).
pub(crate) fn ms_to_us(ms: i64) -> i64 {
    ms.saturating_mul(1000)
}

pub(crate) fn get_i64(row: &AnyRow, col: &str) -> Result<i64> {
    Ok(row.col::<i64, _>(col)?)
}

pub(crate) fn get_opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>> {
    Ok(row.col::<Option<i64>, _>(col)?)
}

pub(crate) fn get_str(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.col::<String, _>(col)?)
}

pub(crate) fn get_opt_str(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.col::<Option<String>, _>(col)?)
}

pub(crate) fn get_f64(row: &AnyRow, col: &str) -> Result<f64> {
    Ok(row.col::<f64, _>(col)?)
}

pub(crate) fn get_bool(row: &AnyRow, col: &str) -> Result<bool> {
    Ok(row.flag(col)?)
}

pub(crate) fn get_uuid(row: &AnyRow, col: &str) -> Result<uuid::Uuid> {
    Ok(row.uuid(col)?)
}

pub(crate) fn get_opt_uuid(row: &AnyRow, col: &str) -> Result<Option<uuid::Uuid>> {
    Ok(row.opt_uuid(col)?)
}
