//! The outbox of Placement operations: rows written in the same database
//! transaction as the state change that requires them (an instance marked
//! deleted -> its allocations must go), executed right away when possible
//! and retried with backoff until Placement accepts them.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::model::{outbox_kind, OutboxEntry};
use crate::service::ComputeService;

/// How long one attempt holds an entry before another drainer may take it.
const LEASE_MS: i64 = 30_000;

/// Backoff after `attempts` failures: 1 s, 2 s, 4 s, 8 s, then every 10 s.
/// A Placement operation waits in the outbox only while Placement is
/// unreachable; once it is back, what the outage left must go promptly.
fn backoff_ms(attempts: i64) -> i64 {
    1000i64.saturating_mul(1i64 << attempts.clamp(0, 6)).min(10_000)
}

/// Result of one drain pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    /// Entries done (and removed).
    pub done: usize,
    /// Entries that failed this time (kept for a retry).
    pub failed: usize,
    /// Entries left in the outbox after the pass.
    pub remaining: usize,
}

impl ComputeService {
    /// Execute one outbox entry; `only_if_due` skips entries waiting for
    /// their retry time. Returns whether it is done.
    pub(crate) async fn run_outbox_entry(&self, id: i64, only_if_due: bool) -> Result<bool> {
        let Some(entry) = self.db.lease_outbox(id, LEASE_MS, only_if_due).await? else {
            return Ok(false);
        };
        match self.perform(&entry).await {
            Ok(()) => {
                self.db.delete_outbox(entry.id).await?;
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(consumer = %entry.consumer_uuid, kind = %entry.kind, attempts = entry.attempts + 1, error = %e,
                    "placement operation failed; it stays in the outbox");
                self.db.outbox_failed(entry.id, &e.to_string(), backoff_ms(entry.attempts)).await?;
                Ok(false)
            }
        }
    }

    async fn perform(&self, entry: &OutboxEntry) -> Result<(), berth_placement_client::PlacementError> {
        match entry.kind.as_str() {
            outbox_kind::DELETE_ALLOCATIONS => {
                // Gone already (404) counts as done.
                self.placement.delete_allocations(entry.consumer_uuid).await.map(|_| ())
            }
            other => {
                tracing::error!(kind = other, "unknown outbox entry kind; dropping it");
                Ok(())
            }
        }
    }

    /// Run every due outbox entry once.
    pub async fn drain_outbox(&self) -> Result<DrainReport> {
        let mut report = DrainReport::default();
        loop {
            let due = self.db.due_outbox(100).await?;
            if due.is_empty() {
                break;
            }
            let mut progressed = false;
            for id in due {
                if self.run_outbox_entry(id, true).await? {
                    report.done += 1;
                    progressed = true;
                } else {
                    report.failed += 1;
                }
            }
            if !progressed {
                break;
            }
        }
        report.remaining = self.db.list_outbox().await?.len();
        Ok(report)
    }

    /// Entries still waiting in the outbox.
    pub async fn pending_outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.db.list_outbox().await
    }

    /// The API process's background work until `shutdown` resolves: the
    /// scheduler worker, the dispatcher (slow poll of the work queues every
    /// `dispatch_interval`), the PostgreSQL wake-up listener, the
    /// outbox drainer (every `outbox_interval`) and the reconciler (every
    /// `reconcile_interval`: an [`ComputeService::audit`] that heals when
    /// `reconcile_fix`, exposing the count through
    /// [`ComputeService::reconciler_findings`]).
    pub async fn run_background(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let listener = self.spawn_wake_listener();
        let scheduler = tokio::spawn(self.clone().run_scheduler(self.config.dispatch_interval * 4));
        let dispatcher = tokio::spawn(self.clone().run_dispatcher(self.config.dispatch_interval));
        let mut outbox = tokio::time::interval(self.config.outbox_interval.max(Duration::from_millis(10)));
        let mut reconcile = tokio::time::interval(self.config.reconcile_interval.max(Duration::from_millis(10)));
        outbox.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = outbox.tick() => {
                    if let Err(e) = self.drain_outbox().await {
                        tracing::warn!(error = %e, "outbox drain failed");
                    }
                }
                _ = reconcile.tick() => {
                    match self.audit(self.config.reconcile_fix).await {
                        Ok(r) => {
                            self.reconciler_findings.store(r.problem_count() as u64, std::sync::atomic::Ordering::Relaxed);
                            self.reconciler_runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if r.problem_count() > 0 {
                                tracing::warn!(problems = r.problem_count(), fixed = r.fixed, "reconciler found allocation problems");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "reconciler run failed"),
                    }
                }
            }
        }
        scheduler.abort();
        dispatcher.abort();
        if let Some(l) = listener {
            l.abort();
        }
    }

    /// Spawn [`ComputeService::run_background`] on the current runtime.
    pub fn spawn_background(
        self: &Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.clone().run_background(shutdown))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(super::backoff_ms(0), 1000);
        assert_eq!(super::backoff_ms(1), 2000);
        assert_eq!(super::backoff_ms(3), 8000);
        assert_eq!(super::backoff_ms(4), 10_000);
        assert_eq!(super::backoff_ms(10), 10_000);
    }
}
