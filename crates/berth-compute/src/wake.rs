//! Wake-ups: how queued work reaches the workers of this process without
//! polling. Every queue (a compute host's agent, the scheduler) has a
//! [`tokio::sync::Notify`] here; whoever commits work for a queue wakes it
//! after the commit. Across processes, PostgreSQL carries the same
//! wake-ups: enqueuing runs `pg_notify(WAKE_CHANNEL, queue)` inside the
//! transaction (delivered at commit, never for a rollback) and
//! [`listen_postgres`] forwards them here. Wake-ups are hints: a missed one
//! costs latency, never work, because workers also poll slowly (one query
//! per process for all its queues, [`crate::ComputeService::spawn_dispatcher`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The PostgreSQL channel of queue wake-ups (payload: the queue's host).
pub const WAKE_CHANNEL: &str = "berth_compute_work";

/// The queue of the scheduler (not a host name: hosts cannot contain
/// parentheses).
pub const SCHEDULER_QUEUE: &str = "(scheduler)";

/// One `Notify` per queue, shared by every handle of a process.
#[derive(Debug, Default)]
pub struct Wakeups {
    queues: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakeups {
    /// The notifier of `queue` (created on first use).
    pub fn waiter(&self, queue: &str) -> Arc<Notify> {
        let mut g = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        g.entry(queue.to_string()).or_default().clone()
    }

    /// Wake the worker of `queue`; the permit is kept if it is busy, so a
    /// wake-up is never lost between two waits.
    pub fn wake(&self, queue: &str) {
        let n = {
            let g = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            g.get(queue).cloned()
        };
        if let Some(n) = n {
            n.notify_one();
        }
    }

    /// Queues with a worker in this process.
    pub fn queues(&self) -> Vec<String> {
        let g = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        g.keys().cloned().collect()
    }

    /// Forget a queue (its worker stopped).
    pub fn remove(&self, queue: &str) {
        let mut g = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        g.remove(queue);
    }
}

/// Forward PostgreSQL wake-ups to `wakeups` until the returned task is
/// aborted; reconnects after a lost connection (the slow poll covers the
/// gap).
pub fn listen_postgres(url: String, wakeups: Arc<Wakeups>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut l) => {
                    if let Err(e) = l.listen(WAKE_CHANNEL).await {
                        tracing::warn!(error = %e, "cannot LISTEN for compute wake-ups");
                    } else {
                        loop {
                            match l.recv().await {
                                Ok(n) => wakeups.wake(n.payload()),
                                Err(e) => {
                                    tracing::warn!(error = %e, "compute wake-up listener lost its connection");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot connect the compute wake-up listener"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_before_the_wait_is_kept() {
        let w = Wakeups::default();
        let n = w.waiter("h1");
        w.wake("h1");
        w.wake("h2"); // nobody listens: ignored
        tokio::time::timeout(std::time::Duration::from_secs(5), n.notified()).await.expect("permit kept");
        assert_eq!(w.queues(), vec!["h1".to_string()]);
    }
}
