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
    draining: bool,
}

/// Requests of one kind waiting for their shared transaction.
pub(crate) struct GroupCommit<R, O> {
    queue: Mutex<Queue<R, O>>,
    max_batch: usize,
    commit: CommitBatch<R, O>,
}

/// Ends a drain that stops without emptying the queue (a panic): the next
/// request starts another.
struct Draining<'a, R, O>(&'a GroupCommit<R, O>);

impl<R, O> Drop for Draining<'_, R, O> {
    fn drop(&mut self) {
        self.0.queue.lock().unwrap_or_else(|p| p.into_inner()).draining = false;
    }
}

impl<R: Send + Sync + 'static, O: Send + 'static> GroupCommit<R, O> {
    pub fn new(max_batch: usize, commit: CommitBatch<R, O>) -> Arc<GroupCommit<R, O>> {
        Arc::new(GroupCommit {
            queue: Mutex::new(Queue { waiting: Vec::new(), draining: false }),
            max_batch: max_batch.max(1),
            commit,
        })
    }

    /// Queue `request` and wait for the transaction it was committed in.
    pub async fn submit(self: &Arc<Self>, db: &Db, request: R) -> Result<O> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.waiting.push((request, done));
            !std::mem::replace(&mut q.draining, true)
        };
        if start {
            let (me, db) = (self.clone(), db.clone());
            tokio::spawn(async move { me.drain(&db).await });
        }
        answer.await.map_err(|_| ComputeError::internal("the write was dropped before its commit"))?
    }

    async fn drain(&self, db: &Db) {
        let _draining = Draining(self);
        loop {
            {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.waiting.is_empty() {
                    q.draining = false;
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
            let (requests, answers): (Vec<R>, Vec<_>) = batch.into_iter().unzip();
            let committed = match w {
                Ok(w) => self.commit_in(db, w, &requests).await,
                Err(e) => Err(e),
            };
            match committed {
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
                        let one = match db.write().await {
                            Ok(w) => self.commit_in(db, w, std::slice::from_ref(r)).await,
                            Err(e) => Err(e),
                        };
                        let one = one.and_then(|mut v| {
                            v.pop().ok_or_else(|| ComputeError::internal("a write answered nothing"))
                        });
                        let _ = done.send(one);
                    }
                }
            }
        }
    }

    /// Write `requests` in `w` and commit it.
    async fn commit_in(&self, db: &Db, mut w: WriteTx, requests: &[R]) -> Result<Vec<O>> {
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

/// Agents' claims or finishes one transaction takes at most.
const AGENT_BATCH: usize = 64;

/// Closed tasks and outbox entries, or instance actions, one transaction
/// takes at most.
const CLOSING_BATCH: usize = 256;

impl Default for Groups {
    fn default() -> Groups {
        Groups {
            creates: GroupCommit::new(super::creates::BATCH, super::creates::commit_creates),
            claims: GroupCommit::new(AGENT_BATCH, super::instances::commit_claims),
            finishes: GroupCommit::new(AGENT_BATCH, super::instances::commit_finishes),
            closings: GroupCommit::new(CLOSING_BATCH, super::tasks::commit_closings),
            actions: GroupCommit::new(CLOSING_BATCH, super::actions::commit_actions),
        }
    }
}
