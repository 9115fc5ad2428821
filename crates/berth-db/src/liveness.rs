//! Process liveness on PostgreSQL, for work leases that must not outlive
//! their owner. A process holds a session-level advisory lock on a
//! connection of its own for as long as it runs; a lease records the
//! owner's key, and a lease whose key no session holds belongs to a dead
//! process: its work may be taken over at once instead of when the lease
//! runs out. SIGKILL closes the socket and PostgreSQL drops the lock with
//! the session, so "at once" means the next poll.
//!
//! SQLite needs none of this: one process (`berth up`) owns an embedded
//! database and takes its earlier incarnation's leases back at start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;

/// The first key of every liveness lock (`pg_advisory_lock(int4, int4)`),
/// "bert" in ASCII: the second key is the process's.
pub const LIVENESS_CLASS: i32 = 0x6265_7274;

/// How often the holder checks its connection (and how soon after losing
/// it the lock is taken again).
const CHECK: Duration = Duration::from_secs(2);

/// SQL that is true for a lease whose owner (`column`, a process key) is
/// known and holds no liveness lock: the owner is dead.
pub fn owner_is_dead_sql(column: &str) -> String {
    format!(
        "({column} IS NOT NULL AND {column} NOT IN (SELECT CAST(objid AS BIGINT) FROM pg_locks \
         WHERE locktype = 'advisory' AND classid = {LIVENESS_CLASS} AND objsubid = 2 AND granted))"
    )
}

/// This process's liveness lock. Dropping it releases the lock (the
/// holder's connection closes).
pub struct Liveness {
    key: i64,
    held: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Liveness").field("key", &self.key).field("held", &self.is_held()).finish()
    }
}

impl Liveness {
    /// Take a lock under a fresh random key on a connection of its own to
    /// the PostgreSQL database at `url`, and keep it: the connection is
    /// checked every few seconds and, when lost, opened again and the
    /// same key locked again (logged: in between, other processes may
    /// take this one's leases over, which the work they guard tolerates,
    /// as after a crash).
    pub async fn hold(url: &str) -> Result<Liveness, String> {
        let key = (uuid::Uuid::new_v4().as_u128() as i64 & 0x7fff_ffff).max(1);
        let conn = lock(url, key).await?;
        let held = Arc::new(AtomicBool::new(true));
        let (url, flag) = (url.to_string(), held.clone());
        let task = tokio::spawn(async move {
            let mut conn = Some(conn);
            loop {
                tokio::time::sleep(CHECK).await;
                let alive = match conn.as_mut() {
                    Some(c) => c.ping().await.is_ok(),
                    None => false,
                };
                if alive {
                    continue;
                }
                if flag.swap(false, Ordering::SeqCst) {
                    tracing::warn!(key, "process liveness lock lost; taking it again");
                }
                conn = match lock(&url, key).await {
                    Ok(c) => {
                        flag.store(true, Ordering::SeqCst);
                        Some(c)
                    }
                    Err(_) => None,
                };
            }
        });
        Ok(Liveness { key, held, task })
    }

    /// The key leases of this process record.
    pub fn key(&self) -> i64 {
        self.key
    }

    /// Whether the lock is held now.
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }
}

impl Drop for Liveness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn lock(url: &str, key: i64) -> Result<sqlx::PgConnection, String> {
    let mut conn = sqlx::PgConnection::connect(url).await.map_err(|e| format!("liveness connection: {e}"))?;
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(LIVENESS_CLASS)
        .bind(key as i32)
        .execute(&mut conn)
        .await
        .map_err(|e| format!("liveness lock: {e}"))?;
    Ok(conn)
}
