//! Group commit. Under a boot storm hundreds of short writes (creates,
//! agents claiming and finishing their builds) wait for the one writer at
//! once, and on SQLite each transaction costs the writer mutex, `BEGIN
//! IMMEDIATE`, the WAL frames of every page it touched and the commit
//! hooks; on PostgreSQL a WAL flush. A write that joins a [`GroupCommit`]
//! queues instead; one drain task takes the writer, then everything queued
//! by then (up to a batch), writes it in one transaction and answers each
//! caller. Taking the writer first matters: requests that arrive while the
//! drain waits for it join the transaction it then runs, instead of
//! waiting for the writer again after it. Each caller's write
//! still commits before it returns, atomically with the rest of its own
//! write; a batch that fails is committed again one request at a time, so
//! that one bad request fails alone.
//!
//! On PostgreSQL, where transactions do not wait for each other, a group
//! of writes that never touch another batch's rows (creates) may run a few
//! drains at once: a request arriving while a batch commits starts the
//! next batch instead of waiting for that commit and its WAL flush.
//!
//! The drain runs in a task of its own: a caller that goes away (a client
//! that hung up, an agent stopped) never takes the others' commit with it.
//! Its own write may still commit, as if it had crashed just after its
//! commit, which every caller already recovers from (leases, conditional
//! updates).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::*;

/// The future of one batch's transaction.
pub(crate) type BatchFuture<'a, O> = Pin<Box<dyn Future<Output = Result<Vec<O>>> + Send + 'a>>;

/// Writes a batch of requests in the transaction it is given (the drain
/// commits it); answers one output per request, in order.
pub(crate) type CommitBatch<R, O> = for<'a> fn(&'a Db, &'a mut WriteTx, &'a [R]) -> BatchFuture<'a, O>;

type Waiting<R, O> = Vec<(R, oneshot::Sender<Result<O>>)>;

struct Queue<R, O> {
    waiting: Waiting<R, O>,
    /// Drains running.
    drains: usize,
}

/// Requests of one kind waiting for their shared transaction.
pub(crate) struct GroupCommit<R, O> {
    queue: Mutex<Queue<R, O>>,
    max_batch: usize,
    /// Drains that may run at once on PostgreSQL (one on SQLite, whose
    /// single writer would only queue them).
    postgres_drains: usize,
    commit: CommitBatch<R, O>,
}

/// Counts a drain out when it stops without emptying the queue (a
/// panic): the next request starts another.
struct Draining<'a, R, O> {
    group: &'a GroupCommit<R, O>,
    counted: bool,
}

impl<R, O> Drop for Draining<'_, R, O> {
    fn drop(&mut self) {
        if self.counted {
            self.group.queue.lock().unwrap_or_else(|p| p.into_inner()).drains -= 1;
        }
    }
}

impl<R: Send + Sync + 'static, O: Send + 'static> GroupCommit<R, O> {
    pub fn new(max_batch: usize, commit: CommitBatch<R, O>) -> Arc<GroupCommit<R, O>> {
        Self::with_postgres_drains(max_batch, 1, commit)
    }

    /// A group whose batches may commit `drains` at a time on PostgreSQL:
    /// a request that arrives while a batch commits starts its own batch
    /// instead of waiting for that commit (for writes that never touch the
    /// same rows as another batch).
    pub fn with_postgres_drains(max_batch: usize, drains: usize, commit: CommitBatch<R, O>) -> Arc<GroupCommit<R, O>> {
        Arc::new(GroupCommit {
            queue: Mutex::new(Queue { waiting: Vec::new(), drains: 0 }),
            max_batch: max_batch.max(1),
            postgres_drains: drains.max(1),
            commit,
        })
    }

    /// Queue `request` and wait for the transaction it was committed in.
    pub async fn submit(self: &Arc<Self>, db: &Db, request: R) -> Result<O> {
        let (done, answer) = oneshot::channel();
        let most = match db.engine {
            Engine::Postgres => self.postgres_drains,
            Engine::Sqlite => 1,
        };
        let start = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.waiting.push((request, done));
            let start = q.drains < most;
            if start {
                q.drains += 1;
            }
            start
        };
        if start {
            let (me, db) = (self.clone(), db.clone());
            tokio::spawn(async move { me.drain(&db).await });
        }
        answer.await.map_err(|_| ComputeError::internal("the write was dropped before its commit"))?
    }

    async fn drain(&self, db: &Db) {
        let mut draining = Draining { group: self, counted: true };
        loop {
            {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.waiting.is_empty() {
                    // Counted out under the lock: a request queued after
                    // this starts a drain of its own.
                    q.drains -= 1;
                    draining.counted = false;
                    return;
                }
            }
            // The writer first, then the batch: whatever queued while we
            // waited for the writer goes in this transaction.
            let w = db.write().await;
            let batch: Waiting<R, O> = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                let n = q.waiting.len().min(self.max_batch);
                q.waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                // Another drain took them while this one waited.
                continue;
            }
            let (requests, answers): (Vec<R>, Vec<_>) = batch.into_iter().unzip();
            match self.commit_in(db, w, &requests).await {
                Ok(outputs) if outputs.len() == requests.len() => {
                    for (done, out) in answers.into_iter().zip(outputs) {
                        let _ = done.send(Ok(out));
                    }
                }
                Ok(outputs) => {
                    let why = format!("a batch of {} writes answered {}", requests.len(), outputs.len());
                    for done in answers {
                        let _ = done.send(Err(ComputeError::internal(why.clone())));
                    }
                }
                Err(e) if requests.len() == 1 => {
                    let _ = answers.into_iter().next().map(|done| done.send(Err(e)));
                }
                Err(e) => {
                    tracing::debug!(writes = requests.len(), error = %e.message, "a batch of writes failed; committing them one by one");
                    for (r, done) in requests.iter().zip(answers) {
                        let one = self.commit_in(db, db.write().await, std::slice::from_ref(r)).await;
                        let one = one.and_then(|mut v| {
                            v.pop().ok_or_else(|| ComputeError::internal("a write answered nothing"))
                        });
                        let _ = done.send(one);
                    }
                }
            }
        }
    }

    /// Write `requests` in `w` (the transaction, or the error of opening
    /// it) and commit it.
    async fn commit_in(&self, db: &Db, w: Result<WriteTx>, requests: &[R]) -> Result<Vec<O>> {
        let mut w = w?;
        let outputs = (self.commit)(db, &mut w, requests).await?;
        w.commit().await?;
        Ok(outputs)
    }
}

/// The group commits of one database handle (shared by its clones).
pub(crate) struct Groups {
    pub creates: Arc<GroupCommit<super::creates::Create, ()>>,
    pub claims: Arc<GroupCommit<super::instances::HostClaim, super::instances::Claimed>>,
    pub finishes: Arc<GroupCommit<super::instances::Finish, usize>>,
    /// Tasks that ran and outbox entries that are done.
    pub closings: Arc<GroupCommit<super::tasks::Closing, ()>>,
    /// Instance actions the API records.
    pub actions: Arc<GroupCommit<super::actions::ActionRecord, ()>>,
}

/// Batches of creates committing at once on PostgreSQL (creates only
/// insert rows of their own).
const CREATE_DRAINS: usize = 4;

/// Agents' claims or finishes one transaction takes at most.
const AGENT_BATCH: usize = 64;

/// Closed tasks and outbox entries, or instance actions, one transaction
/// takes at most.
const CLOSING_BATCH: usize = 256;

impl Default for Groups {
    fn default() -> Groups {
        Groups {
            creates: GroupCommit::with_postgres_drains(
                super::creates::BATCH,
                CREATE_DRAINS,
                super::creates::commit_creates,
            ),
            claims: GroupCommit::new(AGENT_BATCH, super::instances::commit_claims),
            finishes: GroupCommit::new(AGENT_BATCH, super::instances::commit_finishes),
            closings: GroupCommit::new(CLOSING_BATCH, super::tasks::commit_closings),
            actions: GroupCommit::new(CLOSING_BATCH, super::actions::commit_actions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_testkit::{Backend, TestDb};

    /// A batch that inserts each value; a negative value fails its batch.
    fn insert_values<'a>(_db: &'a Db, w: &'a mut WriteTx, values: &'a [i64]) -> BatchFuture<'a, i64> {
        Box::pin(async move {
            for v in values {
                if *v < 0 {
                    return Err(ComputeError::bad_request(format!("{v} is negative")));
                }
                sqlx::query("INSERT INTO g (v) VALUES ($1)").bind(*v).execute(&mut *w.tx).await?;
            }
            Ok(values.to_vec())
        })
    }

    /// Writes submitted together are each committed once and answered with
    /// their own output; a bad write fails alone (its batch is committed
    /// again one write at a time); with several drains at once (PostgreSQL)
    /// nothing is lost or written twice, and every drain counts itself out.
    #[tokio::test]
    async fn writes_submitted_together_commit_once_each() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let Some(t) = TestDb::new(backend).await else { continue };
            let db = Db::connect(&t.url, 8).await.unwrap();
            let mut w = db.write().await.unwrap();
            sqlx::query("CREATE TABLE g (v BIGINT NOT NULL)").execute(&mut *w.tx).await.unwrap();
            w.commit().await.unwrap();
            let group = GroupCommit::with_postgres_drains(8, 4, insert_values);
            let values: Vec<i64> = (-3..200).collect();
            let submitted: Vec<_> = values
                .iter()
                .map(|&v| {
                    let (group, db) = (group.clone(), db.clone());
                    tokio::spawn(async move { group.submit(&db, v).await })
                })
                .collect();
            for (v, task) in values.iter().zip(submitted) {
                match task.await.unwrap() {
                    Ok(out) => assert_eq!(out, *v, "{backend:?}: each write gets its own output"),
                    Err(e) => assert!(*v < 0, "{backend:?}: write {v} failed: {}", e.message),
                }
            }
            let (n, distinct): (i64, i64) =
                sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT v) AS BIGINT) FROM g")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            assert_eq!((n, distinct), (200, 200), "{backend:?}: every good write once, no bad one");
            let mut drains = usize::MAX;
            for _ in 0..100 {
                drains = group.queue.lock().unwrap().drains;
                if drains == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert_eq!(drains, 0, "{backend:?}: every drain counted itself out");
            db.close().await;
        }
    }
}
