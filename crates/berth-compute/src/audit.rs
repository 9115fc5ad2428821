//! The allocation audit behind `berth audit [--fix] [--json]` and the
//! background reconciler: compares what Placement holds against compute
//! providers with what the compute database says, and heals differences.

use std::collections::{BTreeMap, BTreeSet};

use berth_placement_client::{AllocationWrite, Resources};
use serde::Serialize;
use uuid::Uuid;

use crate::error::Result;
use crate::model::{task_kind, Instance, OutboxEntry, TaskState};
use crate::scheduler::flavor_resources;
use crate::service::ComputeService;

/// Allocations against a compute provider that nothing should hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrphanedAllocation {
    pub consumer: Uuid,
    pub provider: Uuid,
    pub resources: Resources,
    /// `deleted_instance`, `unknown_consumer` or `instance_without_host`.
    pub reason: String,
}

/// A live instance on a host whose allocations are missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingAllocation {
    pub instance: Uuid,
    pub host: Option<String>,
    pub provider: Uuid,
    pub expected: Resources,
}

/// A live instance with allocations against a provider other than its
/// node's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrongProvider {
    pub instance: Uuid,
    pub provider: Uuid,
    pub expected_provider: Option<Uuid>,
    pub resources: Resources,
}

/// A build whose claim was made but whose host was never recorded (its
/// scheduler died in between), older than `scheduling_timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbandonedClaim {
    pub instance: Uuid,
    /// Compute providers its allocations are on (may be empty: it died
    /// before claiming).
    pub providers: Vec<Uuid>,
}

/// What an audit found (and fixed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub orphaned_allocations: Vec<OrphanedAllocation>,
    pub instances_without_allocations: Vec<MissingAllocation>,
    pub allocations_on_wrong_provider: Vec<WrongProvider>,
    /// Builds stuck scheduling with no host past `scheduling_timeout`
    /// (with `fix`: set to ERROR with a fault, allocations removed).
    pub abandoned_claims: Vec<AbandonedClaim>,
    /// Placement operations still queued (deleted instances whose
    /// allocations could not be removed yet).
    pub pending_outbox: Vec<OutboxEntry>,
    /// Compute nodes whose provider Placement does not know.
    pub missing_providers: Vec<Uuid>,
    /// Problems healed by this run (with `fix`).
    pub fixed: usize,
    /// Heals that failed (with `fix`).
    pub errors: Vec<String>,
}

impl AuditReport {
    /// Problems found (before fixing).
    pub fn problem_count(&self) -> usize {
        self.orphaned_allocations.len()
            + self.instances_without_allocations.len()
            + self.allocations_on_wrong_provider.len()
            + self.abandoned_claims.len()
            + self.pending_outbox.len()
    }

    pub fn is_clean(&self) -> bool {
        self.problem_count() == 0
    }
}

/// Is a live instance's missing host explained by a build in progress?
fn in_flight(i: &Instance) -> bool {
    i.host.is_none() && i.task_state == Some(TaskState::Scheduling)
}

impl ComputeService {
    /// Compare Placement with the compute database; with `fix`, remove
    /// orphaned allocations, move allocations to the right provider, create
    /// missing ones and drain the outbox.
    pub async fn audit(&self, fix: bool) -> Result<AuditReport> {
        let mut report = AuditReport::default();
        if fix {
            if let Err(e) = self.drain_outbox().await {
                report.errors.push(format!("outbox: {e}"));
            }
        }
        let nodes = self.db.list_nodes().await?;
        // Placement first, then the database: an instance is recorded
        // before its claim is made, so every consumer seen in Placement
        // that belongs to a live instance is in the database read that
        // follows. (The other order lets a server created and claimed
        // between the two reads look like an unknown consumer.)
        let placement_read_at = crate::clock::now_us();
        let mut by_node = Vec::new();
        for node in &nodes {
            match self.placement.provider_allocations(node.uuid).await {
                Ok(a) => by_node.push((node.uuid, a)),
                Err(e) if e.is_not_found() => report.missing_providers.push(node.uuid),
                Err(e) => return Err(e.into()),
            }
        }
        self.at_reconcile_seam().await;
        // Live instances, plus the deleted ones that still hold something
        // (looked up by uuid: deleted rows accumulate, live ones do not).
        let mut instances: BTreeMap<Uuid, Instance> = self
            .db
            .list_instances(&crate::model::InstanceQuery::default())
            .await?
            .into_iter()
            .map(|i| (i.uuid, i))
            .collect();
        let unknown: Vec<Uuid> = by_node
            .iter()
            .flat_map(|(_, a)| a.allocations.keys())
            .filter(|c| !instances.contains_key(c))
            .copied()
            .collect::<BTreeSet<Uuid>>()
            .into_iter()
            .collect();
        if !unknown.is_empty() {
            instances.extend(self.db.get_instances(&unknown).await?.into_iter().map(|i| (i.uuid, i)));
        }
        let migrations = self.db.in_progress_migrations().await?;
        let migrating: BTreeSet<Uuid> = migrations.iter().flat_map(|m| [m.uuid, m.instance_uuid]).collect();
        // consumer -> providers it holds (among compute providers).
        let mut held: BTreeMap<Uuid, BTreeSet<Uuid>> = BTreeMap::new();
        for (node_uuid, allocs) in by_node {
            for (consumer, res) in allocs.allocations {
                held.entry(consumer).or_default().insert(node_uuid);
                if migrating.contains(&consumer) {
                    continue;
                }
                let orphan = |reason: &str| OrphanedAllocation {
                    consumer,
                    provider: node_uuid,
                    resources: res.resources.clone(),
                    reason: reason.to_string(),
                };
                match instances.get(&consumer) {
                    None => report.orphaned_allocations.push(orphan("unknown_consumer")),
                    Some(i) if i.deleted => report.orphaned_allocations.push(orphan("deleted_instance")),
                    Some(i) if i.node_uuid == Some(node_uuid) => {}
                    Some(i) if in_flight(i) => {}
                    Some(i) if i.node_uuid.is_none() => {
                        report.orphaned_allocations.push(orphan("instance_without_host"))
                    }
                    Some(i) => report.allocations_on_wrong_provider.push(WrongProvider {
                        instance: i.uuid,
                        provider: node_uuid,
                        expected_provider: i.node_uuid,
                        resources: res.resources.clone(),
                    }),
                }
            }
        }
        let cutoff = placement_read_at - self.config.scheduling_timeout.as_micros() as i64;
        // A request still in the scheduler's queue is waiting its turn (or
        // for Placement), not abandoned: a re-offered one adopts or makes
        // its claim.
        let queued = self.db.instances_with_open_task(task_kind::SCHEDULE).await?;
        for i in instances.values() {
            if !i.deleted && in_flight(i) && !queued.contains(&i.uuid) && i.updated_at.unwrap_or(i.created_at) <= cutoff
            {
                report.abandoned_claims.push(AbandonedClaim {
                    instance: i.uuid,
                    providers: held.get(&i.uuid).map(|p| p.iter().copied().collect()).unwrap_or_default(),
                });
            }
        }
        let known_nodes: BTreeSet<Uuid> = nodes.iter().map(|n| n.uuid).collect();
        for i in instances.values() {
            let Some(node) = i.node_uuid else { continue };
            // Created after Placement was read: its claim may be newer
            // than what we saw.
            if i.deleted
                || i.created_at >= placement_read_at
                || migrating.contains(&i.uuid)
                || !known_nodes.contains(&node)
                || report.missing_providers.contains(&node)
            {
                continue;
            }
            if held.get(&i.uuid).is_some_and(|p| p.contains(&node)) {
                continue;
            }
            report.instances_without_allocations.push(MissingAllocation {
                instance: i.uuid,
                host: i.host.clone(),
                provider: node,
                expected: flavor_resources(&i.flavor),
            });
        }
        report.pending_outbox = self.db.list_outbox().await?;
        if fix {
            match self.recover_abandoned_moves(cutoff).await {
                Ok(n) => report.fixed += n,
                Err(e) => report.errors.push(format!("abandoned moves: {e}")),
            }
            self.give_back_abandoned(&mut report, cutoff).await;
            self.heal(&mut report, &instances).await;
        }
        Ok(report)
    }

    /// Set abandoned builds to ERROR and remove their allocations (the
    /// database update is conditional, so a scheduler that recorded its
    /// host meanwhile keeps its build).
    async fn give_back_abandoned(&self, report: &mut AuditReport, cutoff: i64) {
        const MESSAGE: &str =
            "No valid host was found. The build was abandoned by its scheduler before a host was recorded.";
        for a in &report.abandoned_claims {
            match self.db.abandon_claim(a.instance, cutoff).await {
                Ok(Some(entry)) => {
                    if let Err(e) = self.db.add_fault(a.instance, 500, MESSAGE, "", None).await {
                        report.errors.push(format!("fault of {}: {e}", a.instance));
                    }
                    if let Err(e) = self.run_outbox_entry(entry, false).await {
                        report.errors.push(format!("allocations of {}: {e}", a.instance));
                    }
                    tracing::warn!(instance = %a.instance, "abandoned build set to ERROR and its claim given back");
                    report.fixed += 1;
                }
                Ok(None) => {}
                Err(e) => report.errors.push(format!("abandon {}: {e}", a.instance)),
            }
        }
    }

    async fn heal(&self, report: &mut AuditReport, instances: &BTreeMap<Uuid, Instance>) {
        let orphans: BTreeSet<Uuid> = report.orphaned_allocations.iter().map(|o| o.consumer).collect();
        for consumer in orphans {
            // Re-check just before deleting: never remove the allocations
            // of an instance that is live now.
            match self.db.get_instance(consumer).await {
                Ok(Some(i)) if !i.deleted && (i.node_uuid.is_some() || in_flight(&i)) => continue,
                Ok(_) => {}
                Err(e) => {
                    report.errors.push(format!("re-check {consumer}: {e}"));
                    continue;
                }
            }
            match self.placement.delete_allocations(consumer).await {
                Ok(_) => report.fixed += 1,
                Err(e) => report.errors.push(format!("delete allocations of {consumer}: {e}")),
            }
        }
        let mut rewrite: BTreeSet<Uuid> = report.allocations_on_wrong_provider.iter().map(|w| w.instance).collect();
        rewrite.extend(report.instances_without_allocations.iter().map(|m| m.instance));
        for uuid in rewrite {
            let Some(i) = instances.get(&uuid) else { continue };
            match self.rewrite_allocations(i).await {
                Ok(()) => report.fixed += 1,
                Err(e) => report.errors.push(format!("allocations of {uuid}: {e}")),
            }
        }
        match self.db.list_outbox().await {
            Ok(left) => report.fixed += report.pending_outbox.len().saturating_sub(left.len()),
            Err(e) => report.errors.push(e.to_string()),
        }
    }

    /// Make an instance's allocations exactly its flavor's resources on its
    /// node's provider.
    pub(crate) async fn rewrite_allocations(&self, i: &Instance) -> Result<(), berth_placement_client::PlacementError> {
        let Some(node) = i.node_uuid else { return Ok(()) };
        for _ in 0..5 {
            let current = self.placement.get_allocations(i.uuid).await?;
            let write = AllocationWrite {
                allocations: [(node, flavor_resources(&i.flavor))].into_iter().collect(),
                project_id: i.project_id.clone(),
                user_id: i.user_id.clone(),
                consumer_generation: current.consumer_generation,
                consumer_type: "INSTANCE".into(),
            };
            match self.placement.put_allocations(i.uuid, &write).await {
                Ok(()) => {
                    return self
                        .recheck_deleted(i.uuid, &[])
                        .await
                        .map_err(|e| berth_placement_client::PlacementError::Unavailable(format!("re-check: {e}")));
                }
                Err(e) if e.is_generation_conflict() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(berth_placement_client::PlacementError::Unavailable("allocations kept changing".into()))
    }
}
