//! The generic database handle every service uses: pools, migrations, read
//! and write transactions, and after-commit hooks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::AnyPool;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{DbError, DbResult, Engine};

/// A transaction (read or write) over sqlx's `Any` driver.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A boxed future that runs after a commit.
pub type HookFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A hook run after every committed write transaction of a [`Db`]. It gets a
/// handle on the same database and the tags the transaction was given
/// ([`WriteTx::tag`]); on SQLite it still runs under the writer lock, so it
/// may write without racing this process's next writer.
pub type CommitHook = Arc<dyn Fn(Db, &[&'static str]) -> HookFuture + Send + Sync>;

/// Handle on one service's database. Cheap to clone (clones share pools,
/// writer lock and hooks).
///
/// On SQLite, reads use a small pool and every write runs on one
/// connection behind a writer mutex, both shared by every handle of this
/// process on the same file ([`crate::Writer`]), and begins with
/// `BEGIN IMMEDIATE`, so writers of other processes wait (busy_timeout)
/// instead of failing a read-to-write upgrade with "database is locked".
/// On PostgreSQL reads and writes share one pool.
#[derive(Clone)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    engine: Engine,
    write_lock: Arc<Mutex<()>>,
    /// Keeps the shared writer registered while this handle lives.
    writer: Arc<crate::Writer>,
    hooks: Arc<Vec<CommitHook>>,
}

impl Db {
    /// Open the pools for `url` (`max_connections` bounds the read pool,
    /// capped at 8 on SQLite, and the PostgreSQL pool). The error is worded
    /// for operators, with the password redacted.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, String> {
        let p = crate::connect(url, max_connections).await?;
        Ok(Db {
            read: p.read,
            write: p.writer.pool.clone(),
            engine: p.engine,
            write_lock: p.writer.lock.clone(),
            writer: p.writer,
            hooks: Arc::new(Vec::new()),
        })
    }

    /// This handle with `hook` run after every committed write transaction
    /// (in registration order, after the transaction's own
    /// [`WriteTx::after_commit`] futures). Register hooks before cloning the
    /// handle out: clones made earlier do not see them.
    pub fn with_commit_hook<F>(self, hook: F) -> Db
    where
        F: Fn(Db) -> HookFuture + Send + Sync + 'static,
    {
        self.with_tagged_commit_hook(move |db, _| hook(db))
    }

    /// [`Db::with_commit_hook`] for a hook that reads the committed
    /// transaction's tags (what kind of write it was; untagged writes, and
    /// one-statement writes, have none).
    pub fn with_tagged_commit_hook<F>(mut self, hook: F) -> Db
    where
        F: Fn(Db, &[&'static str]) -> HookFuture + Send + Sync + 'static,
    {
        let mut hooks: Vec<CommitHook> = self.hooks.iter().cloned().collect();
        hooks.push(Arc::new(hook));
        self.hooks = Arc::new(hooks);
        self
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The read pool, for single statements outside a transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.read
    }

    /// The pool write transactions run on (one connection on SQLite). For
    /// hooks and migrations; ordinary writes use [`Db::write`].
    pub fn write_pool(&self) -> &AnyPool {
        &self.write
    }

    /// Apply the service's pending migrations, tolerating other services'
    /// migrations in the shared `_sqlx_migrations` table.
    pub async fn migrate(&self, sqlite: &sqlx::migrate::Migrator, postgres: &sqlx::migrate::Migrator) -> DbResult<()> {
        let base = match self.engine {
            Engine::Sqlite => sqlite,
            Engine::Postgres => postgres,
        };
        crate::shared_migrator(base).run(&self.write).await.map_err(DbError::from)
    }

    /// A read transaction on the read pool (one consistent snapshot on
    /// PostgreSQL; on SQLite, WAL gives the same).
    pub async fn read(&self) -> DbResult<Tx> {
        Ok(self.read.begin().await?)
    }

    /// A write transaction. On SQLite it holds this handle's writer mutex
    /// until it is committed or dropped, and starts with `BEGIN IMMEDIATE`
    /// on the single write connection.
    pub async fn write(&self) -> DbResult<WriteTx> {
        let asked = Instant::now();
        let lock = match self.engine {
            Engine::Sqlite => Some(self.write_lock.clone().lock_owned().await),
            Engine::Postgres => None,
        };
        let guard = Held::new(&self.writer, asked, lock);
        // IMMEDIATE takes SQLite's write lock up front (waiting up to
        // busy_timeout), so a writer in another process never fails the
        // read-to-write upgrade with "database is locked".
        let tx = match self.engine {
            Engine::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.write.begin().await?,
        };
        Ok(WriteTx { tx, db: self.clone(), after: Vec::new(), tags: Vec::new(), _guard: guard })
    }

    /// A write that is one statement. On PostgreSQL it runs without
    /// `BEGIN`/`COMMIT` (the statement commits itself: one round trip
    /// instead of three); on SQLite it is an ordinary [`Db::write`]
    /// transaction (`BEGIN IMMEDIATE` keeps other processes' writers
    /// waiting instead of failing). [`SingleWrite::commit`] runs the commit
    /// hooks either way. Only for writes that really are one statement.
    pub async fn write_single(&self) -> DbResult<SingleWrite> {
        match self.engine {
            Engine::Sqlite => Ok(SingleWrite::Tx(Box::new(self.write().await?))),
            Engine::Postgres => {
                let held = Held::new(&self.writer, Instant::now(), None);
                Ok(SingleWrite::Auto(self.write.acquire().await?, self.clone(), held))
            }
        }
    }

    /// This handle's writer counters (shared by every handle of this
    /// process on the same SQLite file).
    pub fn write_stats(&self) -> crate::WriteStatsSnapshot {
        self.writer.stats.snapshot()
    }

    /// Run a trivial query, for health checks.
    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Close the pools (waits for connections to be returned). A SQLite
    /// writer other handles still share stays open for them (it closes
    /// with the last).
    pub async fn close(&self) {
        self.read.close().await;
        if Arc::strong_count(&self.writer) == 1 {
            self.write.close().await;
        }
    }
}

/// A write transaction. Dropping it without [`WriteTx::commit`] rolls it
/// back and runs no hook.
pub struct WriteTx {
    pub tx: Tx,
    db: Db,
    after: Vec<HookFuture>,
    tags: Vec<&'static str>,
    _guard: Held,
}

/// A write in progress: the writer mutex (SQLite) and the times its
/// [`crate::WriteStats`] records when it ends (commit, rollback or drop).
pub struct Held {
    stats: Arc<crate::WriteStats>,
    waited: Duration,
    since: Instant,
    _lock: Option<OwnedMutexGuard<()>>,
}

impl Held {
    fn new(writer: &crate::Writer, asked: Instant, lock: Option<OwnedMutexGuard<()>>) -> Held {
        let since = Instant::now();
        Held { stats: writer.stats.clone(), waited: since - asked, since, _lock: lock }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.stats.record(self.waited, self.since.elapsed());
    }
}

impl WriteTx {
    /// Run `f` once this transaction has committed (never if it rolls
    /// back). Runs before the handle's commit hooks, still under the SQLite
    /// writer lock.
    pub fn after_commit<F>(&mut self, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.after.push(Box::pin(f));
    }

    /// Tell the commit hooks what kind of write this is (e.g. a cache that
    /// only some writes invalidate).
    pub fn tag(&mut self, tag: &'static str) {
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
    }

    /// The handle this transaction belongs to.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Commit, then run this transaction's after-commit futures and the
    /// handle's commit hooks. A hook's failure is the hook's to log: the
    /// commit has happened and is reported as such.
    pub async fn commit(self) -> DbResult<()> {
        let WriteTx { tx, db, after, tags, _guard } = self;
        tx.commit().await?;
        for f in after {
            f.await;
        }
        for hook in db.hooks.iter() {
            hook(db.clone(), &tags).await;
        }
        drop(_guard);
        Ok(())
    }

    /// Roll back explicitly (dropping does the same, later).
    pub async fn rollback(self) -> DbResult<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// A one-statement write (see [`Db::write_single`]).
pub enum SingleWrite {
    Tx(Box<WriteTx>),
    Auto(sqlx::pool::PoolConnection<sqlx::Any>, Db, Held),
}

impl SingleWrite {
    /// The connection to run the one statement on.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        match self {
            SingleWrite::Tx(w) => &mut w.tx,
            SingleWrite::Auto(conn, _, _) => conn,
        }
    }

    /// Commit (on PostgreSQL the statement already has), then run the
    /// handle's commit hooks.
    pub async fn commit(self) -> DbResult<()> {
        match self {
            SingleWrite::Tx(w) => w.commit().await,
            SingleWrite::Auto(conn, db, held) => {
                drop(conn);
                drop(held);
                for hook in db.hooks.iter() {
                    hook(db.clone(), &[]).await;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handles of one process on the same SQLite file share one writer
    /// (connection and mutex), so their writes queue in order: a write of
    /// one handle waits for the other's transaction on the shared mutex,
    /// and both writes land. The registry forgets the writer with its last
    /// handle.
    #[tokio::test]
    async fn sqlite_handles_on_one_file_share_the_writer() {
        let t = berth_testkit::TestDb::sqlite();
        let a = Db::connect(&t.url, 2).await.unwrap();
        let b = Db::connect(&t.url, 2).await.unwrap();
        assert!(Arc::ptr_eq(&a.writer, &b.writer));
        assert!(Arc::ptr_eq(&a.write_lock, &b.write_lock));
        sqlx::query("CREATE TABLE t (v BIGINT)").execute(a.write_pool()).await.unwrap();
        let mut wa = a.write().await.unwrap();
        assert!(b.write_lock.try_lock().is_err(), "a's transaction holds the shared mutex");
        sqlx::query("INSERT INTO t (v) VALUES (1)").execute(&mut *wa.tx).await.unwrap();
        let later = tokio::spawn({
            let b = b.clone();
            async move {
                let mut wb = b.write().await.unwrap();
                sqlx::query("INSERT INTO t (v) VALUES (2)").execute(&mut *wb.tx).await.unwrap();
                wb.commit().await.unwrap();
            }
        });
        wa.commit().await.unwrap();
        later.await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM t").fetch_one(a.pool()).await.unwrap();
        assert_eq!(n, 2);
        // Closing one handle leaves the other's writer open.
        a.close().await;
        drop(a);
        let mut wb = b.write().await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES (3)").execute(&mut *wb.tx).await.unwrap();
        wb.commit().await.unwrap();
        b.close().await;
        drop(b);
        let full = format!("{}?mode=rwc", t.url);
        assert!(crate::live_sqlite_writer(&full).is_none(), "the registry forgets a writer nobody holds");
    }

    /// Every write transaction is counted once, committed or dropped, with
    /// the time it held the writer and the time it queued for it.
    #[tokio::test]
    async fn the_writer_counts_its_transactions() {
        let t = berth_testkit::TestDb::sqlite();
        let db = Db::connect(&t.url, 2).await.unwrap();
        let before = db.write_stats();
        let w = db.write().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let queued = tokio::spawn({
            let db = db.clone();
            async move { db.write().await.unwrap().commit().await.unwrap() }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        w.commit().await.unwrap();
        queued.await.unwrap();
        drop(db.write().await.unwrap());
        let after = db.write_stats();
        assert_eq!(after.transactions - before.transactions, 3, "committed, queued and dropped");
        assert!(after.held - before.held >= std::time::Duration::from_millis(40), "{after:?}");
        assert!(after.waited - before.waited >= std::time::Duration::from_millis(10), "{after:?}");
        db.close().await;
    }
}
