//! The storage core of every berth service: engine detection from the URL,
//! password redaction, the pools, the shared migrator, one database handle
//! ([`Db`]) with read and write transactions and after-commit hooks, one
//! error mapping ([`DbError`]) and strict row decoding ([`RowExt`]).
//!
//! Architecture invariants:
//! - On SQLite every service opens a read pool with the same pragmas
//!   (busy_timeout first, WAL, foreign keys), and the services of one
//!   process that open the same database file (all four in `berth up`)
//!   share one single-connection write pool and one writer mutex
//!   ([`Writer`]): they queue on the mutex in order instead of meeting in
//!   SQLite's busy handler, which sleeps 1-100 ms between tries. Writes go
//!   through [`Db::write`]: the writer mutex, then `BEGIN IMMEDIATE`
//!   (which still makes writers of other processes wait).
//! - Database text stays in logs: a service turns a [`DbError`] into its own
//!   error type by [`DbErrorKind`], never by showing the text to a client.
//! - A column that fails to decode is an error, never a default.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock, Weak};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

mod cache;
mod error;
mod handle;
mod liveness;
mod row;

pub use cache::ReadCache;
pub use error::{DbError, DbErrorKind, DbResult};
pub use handle::{CommitHook, Db, HookFuture, SingleWrite, Tx, WriteTx};
pub use liveness::{owner_is_dead_sql, Liveness, LIVENESS_CLASS};
pub use row::{decode_all, from_row, RowExt};

/// The database engines berth runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine a URL names; the error says what is supported.
    pub fn from_url(url: &str) -> Result<Engine, String> {
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Engine::Postgres)
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Err("MySQL/MariaDB is not supported; use a sqlite:// or postgresql:// URL".into())
        } else {
            Err(format!("unsupported database URL {:?}; use sqlite:// or postgresql://", redact(url)))
        }
    }

    /// Row-lock suffix for a SELECT that will be followed by a write.
    pub fn for_update(self) -> &'static str {
        match self {
            Engine::Sqlite => "",
            Engine::Postgres => " FOR UPDATE",
        }
    }
}

/// Strip a password from a URL for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The pools of one service: `read` for queries, `writer` for write
/// transactions (on SQLite one connection shared by every handle of this
/// process on the same file; on PostgreSQL the read pool again).
pub struct Pools {
    pub engine: Engine,
    pub read: AnyPool,
    pub writer: Arc<Writer>,
}

/// Where write transactions run: the pool and the mutex that orders this
/// process's writers (used on SQLite only).
pub struct Writer {
    pub pool: AnyPool,
    pub lock: Arc<tokio::sync::Mutex<()>>,
    pub stats: Arc<WriteStats>,
}

impl Writer {
    fn new(pool: AnyPool) -> Arc<Writer> {
        Arc::new(Writer { pool, lock: Arc::new(tokio::sync::Mutex::new(())), stats: Arc::default() })
    }
}

/// Counters of a writer's transactions since the process started: how
/// many, how long they were held (on SQLite the writer mutex, from
/// `BEGIN IMMEDIATE` until the commit hooks finished; on PostgreSQL from
/// `BEGIN` to the end of the commit) and how long writers queued for the
/// mutex (SQLite). Held time over wall time is the writer's utilisation:
/// near 1 on SQLite, writes are what limits throughput.
#[derive(Debug, Default)]
pub struct WriteStats {
    transactions: AtomicU64,
    held_us: AtomicU64,
    waited_us: AtomicU64,
}

/// A snapshot of [`WriteStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStatsSnapshot {
    pub transactions: u64,
    pub held: Duration,
    pub waited: Duration,
}

impl WriteStats {
    pub fn snapshot(&self) -> WriteStatsSnapshot {
        WriteStatsSnapshot {
            transactions: self.transactions.load(Ordering::Relaxed),
            held: Duration::from_micros(self.held_us.load(Ordering::Relaxed)),
            waited: Duration::from_micros(self.waited_us.load(Ordering::Relaxed)),
        }
    }

    pub(crate) fn record(&self, waited: Duration, held: Duration) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.held_us.fetch_add(held.as_micros() as u64, Ordering::Relaxed);
        self.waited_us.fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
    }
}

/// This process's SQLite writers by URL, while any handle holds them.
fn sqlite_writers() -> &'static StdMutex<HashMap<String, Weak<Writer>>> {
    static WRITERS: OnceLock<StdMutex<HashMap<String, Weak<Writer>>>> = OnceLock::new();
    WRITERS.get_or_init(Default::default)
}

fn live_sqlite_writer(url: &str) -> Option<Arc<Writer>> {
    let mut map = sqlite_writers().lock().unwrap_or_else(|p| p.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    map.get(url).and_then(Weak::upgrade)
}

/// Open the pools. `max_connections` bounds the read pool (capped at 8 on
/// SQLite) and the PostgreSQL pool. Errors are worded for operators, with
/// the password redacted.
pub async fn connect(url: &str, max_connections: u32) -> Result<Pools, String> {
    sqlx::any::install_default_drivers();
    let engine = Engine::from_url(url)?;
    let open_err = |e: sqlx::Error| format!("cannot open database {}: {e}", redact(url));
    let mut full = url.to_string();
    match engine {
        Engine::Sqlite => {
            if !full.contains('?') && !full.contains(":memory:") {
                full.push_str("?mode=rwc");
            }
            let opts = || {
                pool_options().after_connect(|conn, _| {
                    Box::pin(async move {
                        // busy_timeout first: switching to WAL needs a lock
                        // other connections may briefly hold.
                        conn.execute("PRAGMA busy_timeout=10000").await?;
                        conn.execute("PRAGMA journal_mode=WAL").await?;
                        conn.execute("PRAGMA synchronous=NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys=ON").await?;
                        Ok(())
                    })
                })
            };
            // One writer per file and process (an in-memory database is
            // private to its connection, so it is never shared).
            let shared = !full.contains(":memory:");
            let writer = match live_sqlite_writer(&full).filter(|_| shared) {
                Some(w) => w,
                None => {
                    let opened = Writer::new(opts().max_connections(1).connect(&full).await.map_err(open_err)?);
                    if shared {
                        // Another handle may have opened it meanwhile: use
                        // the one registered first.
                        let mut map = sqlite_writers().lock().unwrap_or_else(|p| p.into_inner());
                        match map.get(&full).and_then(Weak::upgrade) {
                            Some(first) => first,
                            None => {
                                map.insert(full.clone(), Arc::downgrade(&opened));
                                opened
                            }
                        }
                    } else {
                        opened
                    }
                }
            };
            let read = opts().max_connections(max_connections.clamp(1, 8)).connect(&full).await.map_err(open_err)?;
            Ok(Pools { engine, read, writer })
        }
        Engine::Postgres => {
            let pool = pool_options().max_connections(max_connections.max(1)).connect(&full).await.map_err(open_err)?;
            Ok(Pools { engine, read: pool.clone(), writer: Writer::new(pool) })
        }
    }
}

/// Options shared by every pool. No ping before handing out a connection
/// (sqlx's default): on PostgreSQL it is a round trip per acquire, and a
/// write acquires twice (transaction, data-version bump); a connection that
/// died fails its query as `Unavailable` (a 503) and is dropped.
fn pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30)).test_before_acquire(false)
}

/// A copy of `base` that tolerates migrations it does not know: every
/// service keeps its own migrations in the shared `_sqlx_migrations` table.
pub fn shared_migrator(base: &sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator {
        migrations: base.migrations.clone(),
        ignore_missing: true,
        locking: base.locking,
        no_tx: base.no_tx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_from_url() {
        assert_eq!(Engine::from_url("sqlite:///tmp/x.db").unwrap(), Engine::Sqlite);
        assert_eq!(Engine::from_url("postgresql://u@h/db").unwrap(), Engine::Postgres);
        assert_eq!(Engine::from_url("postgres://u@h/db").unwrap(), Engine::Postgres);
        assert!(Engine::from_url("mysql://x").is_err());
        assert!(Engine::from_url("nonsense").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgresql://u:secret@h/db"), "postgresql://u:***@h/db");
        assert_eq!(redact("postgresql://u@h/db"), "postgresql://u@h/db");
        assert_eq!(redact("sqlite:///x"), "sqlite:///x");
    }
}
