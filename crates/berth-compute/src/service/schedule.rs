//! Scheduling an instance: fetch allocation candidates, run the pure
//! filter-and-weigh step ([`crate::scheduler::filter_and_weigh`]) over the
//! known hosts, and claim the best host in Placement, moving on to the next
//! one when Placement refuses.

use berth_placement_client::{AllocationWrite, PlacementError};
use uuid::Uuid;

use super::{ComputeService, NOVA_COMPUTE};
use crate::clock::now_us;
use crate::model::Instance;
use crate::scheduler::{filter_and_weigh, Hosts, Placed, RequestSpec, ScheduleError};

impl ComputeService {
    /// Choose a host for `instance` and claim its resources in Placement.
    pub(crate) async fn schedule(&self, instance: &Instance, spec: &RequestSpec) -> Result<Placed, ScheduleError> {
        const ROUNDS: usize = 4;
        let mut last_conflict = String::new();
        for _round in 0..ROUNDS {
            let candidates = self
                .placement
                .allocation_candidates(&spec.query(self.config.max_placement_results))
                .await
                .map_err(ScheduleError::Placement)?;
            let hosts = self.hosts().await?;
            let chosen = filter_and_weigh(&candidates, &hosts, spec, self.config.weigher, &mut rand::rng());
            if chosen.is_empty() {
                return Err(ScheduleError::NoValidHost(if last_conflict.is_empty() {
                    "There are not enough hosts available.".into()
                } else {
                    format!("There are not enough hosts available ({last_conflict}).")
                }));
            }
            for w in chosen {
                let write = AllocationWrite {
                    allocations: w.request.resources(),
                    project_id: instance.project_id.clone(),
                    user_id: instance.user_id.clone(),
                    consumer_generation: None,
                    consumer_type: "INSTANCE".into(),
                };
                match self.claim(instance.uuid, &write).await {
                    Ok(()) => return Ok(Placed { node: w.node, service: w.service }),
                    Err(e) if e.is_conflict() => {
                        tracing::debug!(instance = %instance.uuid, host = %w.node.host, error = %e, "claim refused; trying the next host");
                        last_conflict = e.to_string();
                    }
                    Err(e) => return Err(ScheduleError::Placement(e)),
                }
            }
        }
        Err(ScheduleError::NoValidHost(format!("Exceeded max scheduling attempts ({last_conflict}).")))
    }

    /// What the filters need to know about the hosts, read now.
    async fn hosts(&self) -> Result<Hosts, ScheduleError> {
        Ok(Hosts {
            nodes: self.db.list_nodes().await?.into_iter().map(|n| (n.uuid, n)).collect(),
            services: self
                .db
                .list_services()
                .await?
                .into_iter()
                .filter(|s| s.binary == NOVA_COMPUTE)
                .map(|s| (s.host.clone(), s))
                .collect(),
            now_us: now_us(),
            down_after_ms: self.down_after_ms(),
        })
    }

    /// `PUT /allocations/{consumer}` for a new consumer, retrying
    /// transient failures. A retry that meets a conflict checks whether an
    /// earlier attempt did succeed (the answer was lost, not the write).
    async fn claim(&self, consumer: Uuid, write: &AllocationWrite) -> Result<(), PlacementError> {
        let mut transient = None;
        for attempt in 0..4u64 {
            match self.placement.put_allocations(consumer, write).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_conflict() && transient.is_some() => {
                    let held = self.placement.get_allocations(consumer).await?;
                    if !held.is_empty() && held.resources() == write.allocations {
                        return Ok(());
                    }
                    return Err(e);
                }
                Err(e) if e.is_unavailable() => {
                    tracing::debug!(%consumer, error = %e, "claim failed transiently; retrying");
                    transient = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(transient.unwrap_or_else(|| PlacementError::Unavailable("claim failed".into())))
    }
}
