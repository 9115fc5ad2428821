//! Connection pool, engine detection, migrations and transactions, following
//! the pattern of `berth-store`: sqlx's `Any` driver, `$N` placeholders, and
//! only BIGINT/TEXT columns so one code path serves SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{db_err, ImageError, Result};

/// The database engines the image service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn from_url(url: &str) -> Result<Engine> {
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Engine::Postgres)
        } else {
            Err(ImageError::internal(format!(
                "unsupported database URL {:?}; use sqlite:// or postgresql://",
                redact(url)
            )))
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

/// Handle on the image tables. Cheap to clone. On SQLite, reads use a
/// small pool and every write goes through one dedicated connection behind
/// a process-wide mutex (the pattern of `berth-store`).
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

fn sqlite_migrator() -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("migrations/sqlite");
    // Other services' migrations live in the same `_sqlx_migrations` table.
    m.set_ignore_missing(true);
    m
}

fn postgres_migrator() -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("migrations/postgres");
    m.set_ignore_missing(true);
    m
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let engine = Engine::from_url(url)?;
        let mut full = url.to_string();
        let open_err = |e: sqlx::Error| ImageError::internal(format!("cannot open database {}: {e}", redact(url)));
        let sqlite_opts = || {
            AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30)).after_connect(|conn, _| {
                Box::pin(async move {
                    // busy_timeout first: switching to WAL needs a lock other
                    // connections may briefly hold.
                    conn.execute("PRAGMA busy_timeout=10000").await?;
                    conn.execute("PRAGMA journal_mode=WAL").await?;
                    conn.execute("PRAGMA synchronous=NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys=ON").await?;
                    Ok(())
                })
            })
        };
        let (pool, write_pool) = match engine {
            Engine::Sqlite => {
                if !full.contains('?') && !full.contains(":memory:") {
                    full.push_str("?mode=rwc");
                }
                let write_pool = sqlite_opts().max_connections(1).connect(&full).await.map_err(open_err)?;
                let pool = sqlite_opts().max_connections(max_connections.clamp(1, 8)).connect(&full).await.map_err(open_err)?;
                (pool, write_pool)
            }
            Engine::Postgres => {
                let pool = AnyPoolOptions::new()
                    .acquire_timeout(Duration::from_secs(30))
                    .max_connections(max_connections.max(1))
                    .connect(&full)
                    .await
                    .map_err(open_err)?;
                (pool.clone(), pool)
            }
        };
        Ok(Db { pool, write_pool, engine, write_lock: Arc::new(Mutex::new(())) })
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.engine {
            Engine::Sqlite => sqlite_migrator(),
            Engine::Postgres => postgres_migrator(),
        };
        migrator
            .run(&self.write_pool)
            .await
            .map_err(|e| ImageError::internal(format!("image database migration failed: {e}")))
    }

    pub async fn write(&self) -> Result<WriteTx<'_>> {
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
        Ok(WriteTx { tx, _guard: guard })
    }

    pub async fn read(&self) -> Result<Tx> {
        self.pool.begin().await.map_err(db_err)
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.write_pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_from_url() {
        assert_eq!(Engine::from_url("sqlite:///tmp/x.db").unwrap(), Engine::Sqlite);
        assert_eq!(Engine::from_url("postgresql://u@h/db").unwrap(), Engine::Postgres);
        assert!(Engine::from_url("mysql://x").is_err());
    }

    #[test]
    fn redacts() {
        assert_eq!(redact("postgresql://u:pw@h/db"), "postgresql://u:***@h/db");
    }
}
