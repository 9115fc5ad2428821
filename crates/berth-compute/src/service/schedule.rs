//! Scheduling, asynchronous and batched as Nova's conductor does it:
//! `POST /servers` records the instances (`BUILD`/`scheduling`) and queues
//! one scheduling task each in the same transaction, then answers; the
//! scheduler worker of any API process takes queued tasks in batches
//! ([`ComputeService::schedule_pending`]). Requests with the same spec share
//! one allocation-candidates query; hosts are chosen from the candidates and
//! an in-memory host-state view ([`ComputeService::host_state`], rebuilt
//! when this process changes services or nodes, and at least every
//! [`HOST_VIEW_TTL`] for other processes' changes and heartbeats) with the
//! pure [`filter_and_weigh`] and [`pick_many`]; the whole batch is claimed
//! with one atomic `POST /allocations`, and the hosts are recorded and the
//! builds queued in one transaction. When Placement refuses the batch (a
//! concurrent claim took the room), each request is scheduled on its own,
//! claiming with `PUT /allocations/{instance}` and moving on to the next
//! host when refused.
//!
//! Crash safety: a scheduling task is leased; if its worker dies it is
//! offered again, and a re-offered request first looks for a claim an
//! earlier attempt made (the answer lost, or the worker killed between the
//! claim and recording the host) and adopts it instead of claiming twice.
//! Recording the host is conditional on "still scheduling, no host", so a
//! request deleted meanwhile gives its fresh claim back through the outbox.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_placement_client::{AllocationWrite, PlacementError};
use uuid::Uuid;

use super::{ComputeService, NOVA_COMPUTE};
use crate::clock::now_us;
use crate::error::Result;
use crate::model::{task_kind, ComputeNode, Instance, Service, Task, TaskState};
use crate::scheduler::{filter_and_weigh, pick_many, Hosts, Placed, RequestSpec, ScheduleError, Taken};
use crate::wake::SCHEDULER_QUEUE;

/// Scheduling tasks taken per batch.
pub(crate) const SCHEDULE_BATCH: i64 = 64;
/// How long a scheduling task is its worker's before it is offered again.
const SCHEDULE_LEASE_MS: i64 = 30_000;
/// Attempts while Placement is unreachable before the build fails.
const SCHEDULE_MAX_ATTEMPTS: i64 = 10;
/// The host-state view is rebuilt at least this often (other processes'
/// changes to services and nodes, and heartbeats).
pub(crate) const HOST_VIEW_TTL: Duration = Duration::from_secs(5);

/// The scheduler's cached view of compute nodes and services.
#[derive(Debug)]
pub(crate) struct HostView {
    version: u64,
    fetched: Instant,
    nodes: Arc<BTreeMap<Uuid, ComputeNode>>,
    services: Arc<BTreeMap<String, Service>>,
}

/// How long the scheduler keeps using one allocation-candidates answer
/// for a spec, taking what its own claims took from the summaries, before
/// asking Placement again (a refused claim drops it at once).
pub(crate) const CANDIDATES_TTL: Duration = Duration::from_secs(1);

/// One allocation-candidates answer in use, and what this scheduler's
/// claims have taken since it was read.
#[derive(Debug)]
pub(crate) struct CachedCandidates {
    fetched: Instant,
    candidates: Arc<berth_placement_client::AllocationCandidates>,
    taken: Taken,
}

/// The maps of a host-state view.
type ViewMaps = (Arc<BTreeMap<Uuid, ComputeNode>>, Arc<BTreeMap<String, Service>>);

/// A request taken from the queue with its instance.
type Item = (Task, Instance);

impl ComputeService {
    /// Record new instances and queue their scheduling, in one transaction
    /// (the scheduler picks them up after the commit).
    pub(crate) async fn record_for_scheduling(
        &self,
        instances: &[Instance],
        spec: &RequestSpec,
        request_id: &str,
    ) -> Result<()> {
        let payload = serde_json::to_value(spec).map_err(|e| crate::error::ComputeError::internal(e.to_string()))?;
        self.db.insert_instances_for_scheduling(instances, &payload, request_id).await
    }

    /// The compute nodes and services the filters look at: the cached view
    /// while it is current, else read again.
    pub(crate) async fn host_state(&self) -> Result<Hosts> {
        let version = self.db.hosts_version.load(Ordering::Acquire);
        let hosts =
            |(nodes, services)| Hosts { nodes, services, now_us: now_us(), down_after_ms: self.down_after_ms() };
        if let Some(v) = self.cached_view(Some(version), HOST_VIEW_TTL) {
            return Ok(hosts(v));
        }
        // One reader rebuilds at a time (at 10,000 hosts a rebuild reads
        // 20,000 rows); while it does, the last view serves everyone else
        // if it is not much older (Placement re-checks every claim).
        let _refresh = match self.host_refresh.try_lock() {
            Ok(g) => g,
            Err(_) => {
                if let Some(v) = self.cached_view(None, HOST_VIEW_TTL * 4) {
                    return Ok(hosts(v));
                }
                self.host_refresh.lock().await
            }
        };
        if let Some(v) = self.cached_view(Some(version), HOST_VIEW_TTL) {
            return Ok(hosts(v));
        }
        let nodes: Arc<BTreeMap<Uuid, ComputeNode>> =
            Arc::new(self.db.list_nodes().await?.into_iter().map(|n| (n.uuid, n)).collect());
        let services: Arc<BTreeMap<String, Service>> = Arc::new(
            self.db
                .list_services()
                .await?
                .into_iter()
                .filter(|s| s.binary == NOVA_COMPUTE)
                .map(|s| (s.host.clone(), s))
                .collect(),
        );
        if let Ok(mut g) = self.host_view.write() {
            // Labelled with the version read before the fetch: a change
            // committed meanwhile makes the next call fetch again.
            *g = Some(HostView { version, fetched: Instant::now(), nodes: nodes.clone(), services: services.clone() });
        }
        Ok(hosts((nodes, services)))
    }

    /// The cached view if it is of `version` (any, for `None`) and younger
    /// than `max_age`.
    fn cached_view(&self, version: Option<u64>, max_age: Duration) -> Option<ViewMaps> {
        let g = self.host_view.read().ok()?;
        g.as_ref()
            .filter(|v| version.is_none_or(|want| v.version == want) && v.fetched.elapsed() < max_age)
            .map(|v| (v.nodes.clone(), v.services.clone()))
    }

    /// Compute services by host, from the host-state view.
    pub(crate) async fn compute_services(&self) -> Result<Arc<BTreeMap<String, Service>>> {
        Ok(self.host_state().await?.services)
    }

    /// Take one batch of the scheduling queue and schedule it; returns how
    /// many requests it took (0: the queue is empty).
    pub async fn schedule_pending(&self, worker: &str) -> Result<usize> {
        let tasks = self.db.claim_tasks(SCHEDULER_QUEUE, worker, SCHEDULE_LEASE_MS, SCHEDULE_BATCH).await?;
        if tasks.is_empty() {
            return Ok(0);
        }
        let n = tasks.len();
        let uuids: Vec<Uuid> = tasks.iter().filter_map(|t| t.instance_uuid).collect();
        let instances: HashMap<Uuid, Instance> =
            self.db.get_instances(&uuids).await?.into_iter().map(|i| (i.uuid, i)).collect();
        let mut groups: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        let mut stale = Vec::new();
        for t in tasks {
            match t.instance_uuid.and_then(|u| instances.get(&u)) {
                Some(i) if waiting_for_host(i) && t.kind == task_kind::SCHEDULE => {
                    let i = i.clone();
                    groups.entry(t.payload.to_string()).or_default().push((t, i));
                }
                // Deleted (or otherwise settled) before its turn.
                _ => stale.push(t.id),
            }
        }
        if !stale.is_empty() {
            self.db.record_scheduled(&[], &stale).await?;
        }
        for items in groups.into_values() {
            self.schedule_group(items).await?;
        }
        Ok(n)
    }

    /// Schedule requests that share one spec.
    async fn schedule_group(&self, items: Vec<Item>) -> Result<()> {
        let started = Instant::now();
        let n = items.len();
        let mut spec: RequestSpec = match serde_json::from_value(items[0].0.payload.clone()) {
            Ok(s) => s,
            Err(e) => {
                for (t, i) in &items {
                    self.db.fail_scheduling(i.uuid, &format!("Invalid request spec: {e}"), t.id).await?;
                }
                return Ok(());
            }
        };
        if let Some(az) = spec.availability_zone.clone() {
            // The zone's host aggregates and the aggregate of the hosts
            // that registered in it (the AvailabilityZoneFilter then keeps
            // the hosts whose zone it is).
            let mut aggs = self.db.aggregates_in_az(&az).await?;
            aggs.extend(self.db.find_az_aggregate(&az).await?);
            match aggs.is_empty() {
                false => spec.member_of = aggs,
                true => {
                    for (t, i) in &items {
                        let why = "No valid host was found. The availability zone has no hosts.";
                        self.db.fail_scheduling(i.uuid, why, t.id).await?;
                    }
                    return Ok(());
                }
            }
        }
        let hosts = self.host_state().await?;
        // A request offered again may hold a claim from an earlier attempt.
        let mut placed: Vec<(Uuid, ComputeNode, String)> = Vec::new();
        let mut done = Vec::new();
        let mut todo = Vec::new();
        for (t, i) in items {
            if t.attempts > 1 {
                match self.adopt_claim(&i, &hosts).await {
                    Ok(Some((node, az))) => {
                        placed.push((i.uuid, node, az));
                        done.push(t.id);
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) if e.is_unavailable() => {
                        self.retry_later(&t, &i, &e.to_string()).await?;
                        continue;
                    }
                    Err(e) => tracing::warn!(instance = %i.uuid, error = %e, "cannot check for an earlier claim"),
                }
            }
            todo.push((t, i));
        }
        let mut one_by_one = Vec::new();
        let mut candidates_ms = 0.0;
        let mut claim_ms = 0.0;
        if spec.needs_placement_of_others() {
            // Groups and host hints: one at a time (below), each seeing
            // where the ones before it landed.
            one_by_one = std::mem::take(&mut todo);
        }
        if !todo.is_empty() {
            let t0 = Instant::now();
            let query = spec.query(self.config.max_placement_results);
            let cached = self
                .candidate_cache
                .lock()
                .ok()
                .and_then(|mut g| g.remove(&query).filter(|c| c.fetched.elapsed() < CANDIDATES_TTL));
            let found = match cached {
                Some(c) => Ok((c.fetched, c.candidates, c.taken)),
                None => self
                    .placement
                    .allocation_candidates(&query)
                    .await
                    .map(|c| (Instant::now(), Arc::new(c), Taken::default())),
            };
            candidates_ms = t0.elapsed().as_secs_f64() * 1e3;
            match found {
                Err(e) if e.is_unavailable() => {
                    for (t, i) in &todo {
                        self.retry_later(t, i, &e.to_string()).await?;
                    }
                }
                Err(_) => one_by_one = todo,
                Ok((fetched, candidates, mut taken)) => {
                    let weighed = filter_and_weigh(&candidates, &hosts, &spec, self.config.weigher, &mut rand::rng());
                    let picks = pick_many(
                        &weighed,
                        &candidates.provider_summaries,
                        todo.len(),
                        self.config.weigher,
                        &mut taken,
                    );
                    let mut writes = BTreeMap::new();
                    let mut chosen = Vec::new();
                    for ((t, i), pick) in todo.into_iter().zip(picks) {
                        match pick {
                            Some(idx) => {
                                writes.insert(i.uuid, claim_write(&i, &weighed[idx].request.resources()));
                                chosen.push((t, i, idx));
                            }
                            None => one_by_one.push((t, i)),
                        }
                    }
                    let mut keep = one_by_one.is_empty();
                    if !writes.is_empty() {
                        let t0 = Instant::now();
                        let claimed = self.placement.post_allocations(&writes).await;
                        claim_ms = t0.elapsed().as_secs_f64() * 1e3;
                        match claimed {
                            Ok(()) => {
                                for (t, i, idx) in chosen {
                                    let w = &weighed[idx];
                                    placed.push((i.uuid, w.node.clone(), w.service.availability_zone.clone()));
                                    done.push(t.id);
                                }
                            }
                            Err(e) if e.is_unavailable() => {
                                keep = false;
                                // It may have landed: the retry adopts it.
                                for (t, i, _) in &chosen {
                                    self.retry_later(t, i, &e.to_string()).await?;
                                }
                            }
                            Err(e) => {
                                keep = false;
                                tracing::debug!(error = %e, n = chosen.len(), "batch claim refused; claiming one by one");
                                one_by_one.extend(chosen.into_iter().map(|(t, i, _)| (t, i)));
                            }
                        }
                    }
                    // The answer serves the next batches of this spec while
                    // it is young and Placement accepted everything.
                    if keep {
                        if let Ok(mut g) = self.candidate_cache.lock() {
                            g.insert(query, CachedCandidates { fetched, candidates, taken });
                        }
                    }
                }
            }
        }
        let t0 = Instant::now();
        self.record_placed(&placed, &done).await?;
        let record_ms = t0.elapsed().as_secs_f64() * 1e3;
        let singly = one_by_one.len();
        for (t, i) in one_by_one {
            let mut spec = spec.clone();
            if spec.needs_placement_of_others() {
                spec.placement = self.host_constraints(&spec, i.uuid).await?;
            }
            match self.schedule(&i, &spec, &hosts).await {
                Ok(p) => {
                    let az = p.service.availability_zone.clone();
                    self.record_placed(&[(i.uuid, p.node, az)], &[t.id]).await?;
                }
                Err(ScheduleError::NoValidHost(why)) if self.agents_starting.load(Ordering::Acquire) > 0 => {
                    // Hosts of this process are still registering.
                    self.retry_later(&t, &i, &why).await?;
                }
                Err(ScheduleError::NoValidHost(why)) => {
                    tracing::info!(instance = %i.uuid, %why, "no valid host");
                    self.db.fail_scheduling(i.uuid, &format!("No valid host was found. {why}"), t.id).await?;
                }
                Err(ScheduleError::Placement(e)) if e.is_unavailable() => {
                    self.retry_later(&t, &i, &e.to_string()).await?;
                }
                Err(ScheduleError::Placement(e)) => {
                    let why = format!("No valid host was found. Placement failed: {e}");
                    self.db.fail_scheduling(i.uuid, &why, t.id).await?;
                }
                Err(ScheduleError::Internal(e)) => self.retry_later(&t, &i, &e).await?,
            }
        }
        tracing::debug!(
            requests = n,
            placed = placed.len(),
            singly,
            candidates_ms,
            claim_ms,
            record_ms,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            "scheduled a batch"
        );
        Ok(())
    }

    /// Record hosts and queue builds; claims of requests deleted meanwhile
    /// are given back.
    async fn record_placed(&self, placed: &[(Uuid, ComputeNode, String)], done: &[i64]) -> Result<()> {
        if placed.is_empty() && done.is_empty() {
            return Ok(());
        }
        let seam = self.claim_seam.lock().ok().and_then(|mut g| g.take());
        if let Some(seam) = seam {
            seam().await;
        }
        for id in self.db.record_scheduled(placed, done).await? {
            self.run_outbox_entry(id, false).await?;
        }
        Ok(())
    }

    /// Offer a request again later (Placement unreachable), or fail it
    /// after [`SCHEDULE_MAX_ATTEMPTS`].
    async fn retry_later(&self, t: &Task, i: &Instance, error: &str) -> Result<()> {
        if t.attempts >= SCHEDULE_MAX_ATTEMPTS {
            // Whatever an attempt may have claimed goes with the failure.
            let why = format!("No valid host was found. Placement unavailable: {error}");
            if self.db.fail_scheduling(i.uuid, &why, t.id).await? {
                self.remove_allocations_durably(i.uuid).await?;
            }
            return Ok(());
        }
        tracing::debug!(instance = %i.uuid, attempt = t.attempts, %error, "scheduling deferred");
        self.db.retry_task(t.id, error, (500 * t.attempts).min(10_000), false).await
    }

    /// The node a claim of an earlier attempt holds, if any (and it is a
    /// known compute node); an unusable one is given back.
    async fn adopt_claim(
        &self,
        i: &Instance,
        hosts: &Hosts,
    ) -> std::result::Result<Option<(ComputeNode, String)>, PlacementError> {
        let held = self.placement.get_allocations(i.uuid).await?;
        if held.is_empty() {
            return Ok(None);
        }
        let node = held.allocations.keys().find_map(|rp| hosts.nodes.get(rp));
        match node {
            Some(n) => {
                let az = hosts.services.get(&n.host).map(|s| s.availability_zone.clone()).unwrap_or_default();
                tracing::info!(instance = %i.uuid, host = %n.host, "adopting the claim of an earlier scheduling attempt");
                Ok(Some((n.clone(), az)))
            }
            None => {
                self.placement.delete_allocations(i.uuid).await?;
                Ok(None)
            }
        }
    }

    /// Choose a host for one request and claim its resources in Placement,
    /// moving on to the next host when refused.
    pub(crate) async fn schedule(
        &self,
        instance: &Instance,
        spec: &RequestSpec,
        hosts: &Hosts,
    ) -> std::result::Result<Placed, ScheduleError> {
        const ROUNDS: usize = 4;
        let mut last_conflict = String::new();
        for _round in 0..ROUNDS {
            let candidates = self
                .placement
                .allocation_candidates(&spec.query(self.config.max_placement_results))
                .await
                .map_err(ScheduleError::Placement)?;
            let chosen = filter_and_weigh(&candidates, hosts, spec, self.config.weigher, &mut rand::rng());
            if chosen.is_empty() {
                return Err(ScheduleError::NoValidHost(if last_conflict.is_empty() {
                    "There are not enough hosts available.".into()
                } else {
                    format!("There are not enough hosts available ({last_conflict}).")
                }));
            }
            for w in chosen {
                match self.claim(instance.uuid, &claim_write(instance, &w.request.resources())).await {
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

    /// `PUT /allocations/{consumer}` for a new consumer, retrying
    /// transient failures. A retry that meets a conflict checks whether an
    /// earlier attempt did succeed (the answer was lost, not the write).
    async fn claim(&self, consumer: Uuid, write: &AllocationWrite) -> std::result::Result<(), PlacementError> {
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
                    tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(transient.unwrap_or_else(|| PlacementError::Unavailable("claim failed".into())))
    }
}

/// Still waiting for the scheduler: not deleted, no host, `scheduling`.
pub(crate) fn waiting_for_host(i: &Instance) -> bool {
    !i.deleted && i.host.is_none() && i.task_state == Some(TaskState::Scheduling)
}

/// The claim of a new instance.
fn claim_write(i: &Instance, allocations: &BTreeMap<Uuid, berth_placement_client::Resources>) -> AllocationWrite {
    AllocationWrite {
        allocations: allocations.clone(),
        project_id: i.project_id.clone(),
        user_id: i.user_id.clone(),
        consumer_generation: None,
        consumer_type: "INSTANCE".into(),
    }
}
