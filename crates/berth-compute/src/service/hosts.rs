//! Compute services, nodes and their Placement providers, for the API.

use super::ComputeService;
use crate::error::{ComputeError, Result};
use crate::model::{ComputeNode, InstanceQuery, Service};

impl ComputeService {
    /// The service of `binary` on `host`.
    pub(crate) async fn service(&self, host: &str, binary: &str) -> Result<Option<Service>> {
        self.db.service_by_host(host, binary).await
    }

    /// Register the compute services of many hosts in one transaction
    /// (`berth up --computes N` before it answers, so requests naming a
    /// host or zone find them while their agents are still starting).
    pub async fn register_compute_services(&self, hosts: &[String], az: &str) -> Result<()> {
        self.db.register_services(hosts, super::NOVA_COMPUTE, az).await
    }

    pub(crate) async fn services(&self) -> Result<Vec<Service>> {
        self.db.list_services().await
    }

    /// Save a service's disabled/forced-down flags and, when the disabled
    /// flag changed, reflect it on its providers.
    pub(crate) async fn update_service(&self, s: &Service, was_disabled: bool) -> Result<()> {
        self.db.update_service(s).await?;
        if was_disabled != s.disabled {
            self.sync_disabled_trait(s).await;
        }
        self.after_service_update(s).await?;
        Ok(())
    }

    /// Delete a compute service, its nodes and their resource providers;
    /// a conflict while it hosts instances or its providers hold
    /// allocations.
    pub(crate) async fn delete_service(&self, s: &Service) -> Result<()> {
        let hosted =
            self.db.list_instances(&InstanceQuery { host: Some(s.host.clone()), ..Default::default() }).await?;
        if !hosted.is_empty() {
            return Err(ComputeError::conflict(
                "Unable to delete compute service that is hosting instances. Migrate or delete the instances first.",
            ));
        }
        for n in self.db.nodes_on_host(&s.host).await? {
            match self.placement.delete_provider(n.uuid).await {
                Ok(_) => {}
                Err(e) if e.is_conflict() => {
                    return Err(ComputeError::conflict(format!(
                        "Unable to delete compute service {}: its resource provider {} still has allocations.",
                        s.host, n.uuid
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.db.delete_service(s).await
    }

    pub(crate) async fn nodes(&self) -> Result<Vec<ComputeNode>> {
        self.db.list_nodes().await
    }

    /// Resources used on a node's provider, by class.
    pub(crate) async fn node_usages(&self, n: &ComputeNode) -> Result<std::collections::BTreeMap<String, i64>> {
        Ok(self.placement.provider_usages(n.uuid).await?)
    }
}

/// The heartbeats of the agents of one process, sent together: one
/// `UPDATE ... WHERE id IN (...)` per beat for all of them (in chunks),
/// on a task of its own, so neither the number of agents nor their task
/// work delays a heartbeat. A member whose service row disappeared (an
/// operator deleted the service) is dropped and its `lost` flag set; its
/// agent registers again.
#[derive(Debug, Default)]
pub(crate) struct HeartbeatHub {
    inner: std::sync::Mutex<HubState>,
}

#[derive(Debug, Default)]
struct HubState {
    members: std::collections::BTreeMap<i64, std::sync::Arc<std::sync::atomic::AtomicBool>>,
    running: bool,
}

/// Membership of an agent in its process's heartbeats; leaving on drop.
#[derive(Debug)]
pub(crate) struct HeartbeatMembership {
    hub: std::sync::Weak<HeartbeatHub>,
    id: i64,
    pub lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for HeartbeatMembership {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            let mut g = hub.inner.lock().unwrap_or_else(|p| p.into_inner());
            g.members.remove(&self.id);
        }
    }
}

impl ComputeService {
    /// Heartbeat service `id` every `interval` with the other agents of
    /// this process until the membership is dropped.
    pub(crate) fn join_heartbeats(&self, id: i64, interval: std::time::Duration) -> HeartbeatMembership {
        let hub = self.heartbeats.clone();
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let start = {
            let mut g = hub.inner.lock().unwrap_or_else(|p| p.into_inner());
            g.members.insert(id, lost.clone());
            !std::mem::replace(&mut g.running, true)
        };
        if start {
            let weak = std::sync::Arc::downgrade(&hub);
            let db = self.db.clone();
            let interval = interval.max(std::time::Duration::from_millis(10));
            tokio::spawn(async move {
                let mut beat = tokio::time::interval(interval);
                beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    beat.tick().await;
                    let Some(hub) = weak.upgrade() else { return };
                    let ids: Vec<i64> = {
                        let mut g = hub.inner.lock().unwrap_or_else(|p| p.into_inner());
                        if g.members.is_empty() {
                            g.running = false;
                            return;
                        }
                        g.members.keys().copied().collect()
                    };
                    match db.heartbeat_many(&ids).await {
                        Ok(alive) => {
                            let alive: std::collections::BTreeSet<i64> = alive.into_iter().collect();
                            let mut g = hub.inner.lock().unwrap_or_else(|p| p.into_inner());
                            for id in ids.iter().filter(|i| !alive.contains(i)) {
                                if let Some(flag) = g.members.remove(id) {
                                    flag.store(true, std::sync::atomic::Ordering::Release);
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, agents = ids.len(), "heartbeat failed"),
                    }
                }
            });
        }
        HeartbeatMembership { hub: std::sync::Arc::downgrade(&hub), id, lost }
    }
}
