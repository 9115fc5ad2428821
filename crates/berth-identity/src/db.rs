//! Connection pool, engine detection, migrations and transactions, following
//! the pattern of `berth-store`: sqlx's `Any` driver, `$N` placeholders, and
//! only BIGINT/TEXT columns so one code path serves SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{db_err, IdentityError, Result};

/// The database engines the identity service runs on.
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
            Err(IdentityError::internal(format!(
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

/// Handle on the identity tables. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Db {
    pub pool: AnyPool,
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
    // Placement's migrations live in the same `_sqlx_migrations` table.
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
        let mut opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        match engine {
            Engine::Sqlite => {
                if !full.contains('?') && !full.contains(":memory:") {
                    full.push_str("?mode=rwc");
                }
                opts = opts.max_connections(max_connections.clamp(1, 8)).after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode=WAL").await?;
                        conn.execute("PRAGMA busy_timeout=10000").await?;
                        conn.execute("PRAGMA synchronous=NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys=ON").await?;
                        Ok(())
                    })
                });
            }
            Engine::Postgres => {
                opts = opts.max_connections(max_connections.max(1));
            }
        }
        let pool = opts.connect(&full).await.map_err(|e| {
            IdentityError::internal(format!("cannot open database {}: {e}", redact(url)))
        })?;
        Ok(Db { pool, engine, write_lock: Arc::new(Mutex::new(())) })
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.engine {
            Engine::Sqlite => sqlite_migrator(),
            Engine::Postgres => postgres_migrator(),
        };
        migrator
            .run(&self.pool)
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
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool.begin().await,
        }
        .map_err(db_err)?;
        Ok(WriteTx { tx, _guard: guard })
    }

    pub async fn read(&self) -> Result<Tx> {
        self.pool.begin().await.map_err(db_err)
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
