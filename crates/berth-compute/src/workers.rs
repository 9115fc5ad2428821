//! The long-running workers of a process besides the agents: the
//! scheduler worker (every API process runs one; on PostgreSQL several
//! processes share the queue through `FOR UPDATE SKIP LOCKED`), the
//! dispatcher (the slow poll behind wake-ups: one query per process for
//! all its queues) and, on PostgreSQL, the wake-up listener.

use std::sync::Arc;
use std::time::Duration;

use crate::service::ComputeService;
use crate::wake::{listen_postgres, SCHEDULER_QUEUE};
use crate::Engine;

impl ComputeService {
    /// Schedule queued requests batch after batch, then wait for a
    /// wake-up (or `poll` at the latest). Never returns.
    pub async fn run_scheduler(self: Arc<Self>, poll: Duration) {
        let worker = format!("scheduler:{}", uuid::Uuid::new_v4());
        let wake = self.wakeups().waiter(SCHEDULER_QUEUE);
        // One process schedules an embedded (SQLite) cloud: requests
        // leased by an earlier incarnation are its own, offered again now
        // instead of after their lease (a re-offered one adopts a claim
        // its predecessor made). On PostgreSQL other live processes
        // schedule too: a lease is taken over as soon as the process that
        // holds it is gone (its liveness lock, `Db::dead_owner`).
        if self.db.engine == Engine::Sqlite {
            match self.release_scheduler_leases(&worker).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(requests = n, "scheduling requests of a previous run offered again"),
                Err(e) => tracing::warn!(error = %e, "cannot release earlier scheduling leases"),
            }
        }
        loop {
            match self.schedule_pending(&worker).await {
                Ok(0) => {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(poll) => {}
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "scheduling failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Offer again at once the scheduling requests leased by any worker
    /// other than `worker` (use only when those workers are known dead).
    pub async fn release_scheduler_leases(&self, worker: &str) -> crate::Result<u64> {
        self.db.release_stale_leases(SCHEDULER_QUEUE, worker).await
    }

    /// Every `interval`, ask the database once which queues have runnable
    /// work (new, due for retry, or leased by a worker whose lease ran
    /// out) and wake this process's workers of those queues. Never returns.
    pub async fn run_dispatcher(self: Arc<Self>, interval: Duration) {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.db.runnable_queues().await {
                Ok(queues) => {
                    for q in queues {
                        self.wakeups().wake(&q);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot poll the work queues"),
            }
        }
    }

    /// On PostgreSQL, forward other processes' wake-ups to this one's
    /// workers (`LISTEN`); `None` on SQLite.
    pub fn spawn_wake_listener(&self) -> Option<tokio::task::JoinHandle<()>> {
        match self.db.engine {
            Engine::Postgres => Some(listen_postgres(self.db.url.clone(), self.wakeups().clone())),
            Engine::Sqlite => None,
        }
    }
}
