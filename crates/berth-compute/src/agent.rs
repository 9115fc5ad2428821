//! The compute agent (`berth compute --host NAME --driver fake[:V,M,D]`):
//! registers its service, keeps its resource provider and inventory in
//! Placement, heartbeats, runs the work queue of its host on a simulated
//! hypervisor, and reconciles guests and allocations on start and
//! periodically.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_placement_client::{AllocationWrite, Inventory};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ComputeError, Result};
use crate::lifecycle::{self, Event};
use crate::model::InstanceQuery;
use crate::model::*;
use crate::scheduler::{COMPUTE_STATUS_DISABLED, HYPERVISOR_TYPE};
use crate::service::{ComputeService, NOVA_COMPUTE};

mod moves;

/// Size of a simulated hypervisor: `fake` or `fake:VCPU,MEMORY_MB,DISK_GB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DriverSpec {
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
}

impl Default for DriverSpec {
    fn default() -> Self {
        DriverSpec { vcpus: 16, memory_mb: 32768, disk_gb: 1024 }
    }
}

impl FromStr for DriverSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let rest = match s.strip_prefix("fake") {
            Some("") => return Ok(DriverSpec::default()),
            Some(r) => {
                r.strip_prefix(':').ok_or_else(|| format!("unknown driver {s:?}; use fake[:VCPU,MEMORY_MB,DISK_GB]"))?
            }
            None => {
                return Err(format!(
                    "unknown driver {s:?}; only the simulated driver `fake[:VCPU,MEMORY_MB,DISK_GB]` exists"
                ))
            }
        };
        let nums: Vec<&str> = rest.split(',').map(str::trim).collect();
        let parse = |x: &str| x.parse::<i64>().ok().filter(|n| *n > 0 && *n < (1 << 40));
        match nums.as_slice() {
            [v, m, d] => match (parse(v), parse(m), parse(d)) {
                (Some(vcpus), Some(memory_mb), Some(disk_gb)) => Ok(DriverSpec { vcpus, memory_mb, disk_gb }),
                _ => Err(format!("bad fake driver size {rest:?}: three positive integers VCPU,MEMORY_MB,DISK_GB")),
            },
            _ => Err(format!("bad fake driver size {rest:?}: expected VCPU,MEMORY_MB,DISK_GB")),
        }
    }
}

/// Settings of one compute agent (`nova.conf` of a compute host).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub host: String,
    pub driver: DriverSpec,
    /// `None`: the API's default zone (`nova`).
    pub availability_zone: Option<String>,
    pub reserved_host_cpus: i64,
    pub reserved_host_memory_mb: i64,
    pub reserved_host_disk_gb: i64,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    /// Extra traits the host reports (e.g. `CUSTOM_GOLD`, `HW_CPU_X86_AVX2`).
    pub traits: Vec<String>,
    /// Heartbeat period (`report_interval`); the agents of one process
    /// heartbeat together.
    pub report_interval: Duration,
    /// The agent's own safety poll of its queue. Work normally reaches it
    /// by wake-up (in-process, or PostgreSQL `NOTIFY`) and the process's
    /// dispatcher polls for all its agents at once
    /// ([`ComputeService::spawn_dispatcher`]); this only bounds the delay
    /// when both are missing.
    pub poll_interval: Duration,
    /// Resource update + reconciliation period.
    pub reconcile_interval: Duration,
    /// How long a claimed task is ours before another worker may retry it.
    pub task_lease: Duration,
    /// Simulated time a guest takes to spawn.
    pub spawn_time: Duration,
}

impl AgentConfig {
    pub fn new(host: impl Into<String>, driver: DriverSpec) -> Self {
        AgentConfig {
            host: host.into(),
            driver,
            availability_zone: None,
            reserved_host_cpus: 0,
            reserved_host_memory_mb: 512,
            reserved_host_disk_gb: 0,
            cpu_allocation_ratio: 4.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            traits: Vec::new(),
            report_interval: Duration::from_secs(10),
            poll_interval: Duration::from_secs(300),
            reconcile_interval: Duration::from_secs(60),
            task_lease: Duration::from_secs(120),
            spawn_time: Duration::ZERO,
        }
    }
}

/// Decides, per call, whether a hypervisor operation that can fail (see
/// [`FakeDriver::fail`]) fails: random failures for fault injection.
pub type FailureOracle = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A simulated hypervisor: guests in memory. Share one `Arc<FakeDriver>`
/// across agent restarts in a process to model a hypervisor that outlives
/// its agent.
#[derive(Default)]
pub struct FakeDriver {
    guests: Mutex<BTreeMap<Uuid, i64>>,
    /// Failures injected on demand: operation -> how many of its next
    /// calls fail (`u32::MAX`: every call until cleared).
    failures: Mutex<BTreeMap<String, u32>>,
    /// Live migrations stay `running` until forced to complete.
    hold_live_migrations: std::sync::atomic::AtomicBool,
    /// Consulted after the failures injected with [`FakeDriver::fail`].
    oracle: Option<FailureOracle>,
    /// Operations that wait (as a hung hypervisor call) until released.
    holds: Mutex<std::collections::BTreeSet<String>>,
    /// Calls waiting at a hold now, by operation.
    waiting: Mutex<BTreeMap<String, usize>>,
    released: tokio::sync::Notify,
}

impl std::fmt::Debug for FakeDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDriver")
            .field("guests", &self.guests)
            .field("failures", &self.failures)
            .field("hold_live_migrations", &self.hold_live_migrations)
            .field("oracle", &self.oracle.is_some())
            .field("holds", &self.holds)
            .finish()
    }
}

impl FakeDriver {
    pub fn new() -> Arc<FakeDriver> {
        Arc::new(FakeDriver::default())
    }

    /// A driver whose failing operations also fail whenever `oracle`
    /// (given the operation's name) says so.
    pub fn with_failures(oracle: FailureOracle) -> Arc<FakeDriver> {
        Arc::new(FakeDriver { oracle: Some(oracle), ..FakeDriver::default() })
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<Uuid, i64>) -> R) -> R {
        let mut g = self.guests.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn spawn(&self, uuid: Uuid) {
        self.with(|g| g.insert(uuid, power_state::RUNNING));
    }

    /// `true` when the guest existed.
    pub fn destroy(&self, uuid: Uuid) -> bool {
        self.with(|g| g.remove(&uuid).is_some())
    }

    pub fn set_power(&self, uuid: Uuid, power: i64) {
        self.with(|g| g.insert(uuid, power));
    }

    /// Guests and their power states.
    pub fn guests(&self) -> BTreeMap<Uuid, i64> {
        self.with(|g| g.clone())
    }

    /// Make the next `times` calls of `op` on this host fail (`u32::MAX`:
    /// until [`FakeDriver::clear_failures`]). Operations: `spawn` (a build:
    /// aborted, ERROR with no host), `finish_resize`
    /// (destination of a resize or cold migration), `live_migration`,
    /// `rebuild` (rebuild and the destination of an evacuation), `unshelve`
    /// (spawning an offloaded server again); [`FakeDriver::hold`] also knows
    /// `cleanup` (a failed evacuation's guest removed from the destination).
    pub fn fail(&self, op: &str, times: u32) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).insert(op.to_string(), times);
    }

    pub fn clear_failures(&self) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Consume one injected failure of `op`, if any.
    pub(crate) fn check(&self, op: &str) -> std::result::Result<(), String> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match f.get_mut(op) {
            Some(0) | None => match &self.oracle {
                Some(fails) if fails(op) => Err(format!("injected failure of {op}")),
                _ => Ok(()),
            },
            Some(n) => {
                if *n != u32::MAX {
                    *n -= 1;
                }
                Err(format!("injected failure of {op}"))
            }
        }
    }

    /// Make calls of `op` wait until `hold(op, false)` (a hypervisor call
    /// that hangs: a test kills the agent there). Operations as for
    /// [`FakeDriver::fail`]; the wait comes before the injected failure.
    pub fn hold(&self, op: &str, on: bool) {
        let mut h = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        if on {
            h.insert(op.to_string());
        } else {
            h.remove(op);
        }
        drop(h);
        self.released.notify_waiters();
    }

    /// Calls of `op` waiting at a hold now.
    pub fn waiting(&self, op: &str) -> usize {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).get(op).copied().unwrap_or(0)
    }

    /// Wait while `op` is held.
    pub(crate) async fn gate(&self, op: &str) {
        struct Waiting<'a>(&'a FakeDriver, &'a str);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                let mut w = self.0.waiting.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(n) = w.get_mut(self.1) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        let mut counted = None;
        loop {
            let released = self.released.notified();
            if !self.holds.lock().unwrap_or_else(|p| p.into_inner()).contains(op) {
                return;
            }
            if counted.is_none() {
                *self.waiting.lock().unwrap_or_else(|p| p.into_inner()).entry(op.to_string()).or_default() += 1;
                counted = Some(Waiting(self, op));
            }
            released.await;
        }
    }

    /// Hold live migrations in `running` (until `force_complete` or abort).
    pub fn hold_live_migrations(&self, hold: bool) {
        self.hold_live_migrations.store(hold, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn holds_live_migrations(&self) -> bool {
        self.hold_live_migrations.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What one reconciliation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub guests_destroyed: usize,
    pub guests_restored: usize,
    pub allocations_removed: usize,
    pub allocations_healed: usize,
}

/// What an agent's start-up recovery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Tasks a previous incarnation had leased, offered again at once.
    pub tasks_reoffered: u64,
    /// Builds finished (guest found, or spawned again).
    pub builds_finished: usize,
    /// Deletes finished.
    pub deletes_finished: usize,
    /// Power actions and reboots completed.
    pub power_actions_completed: usize,
}

/// One compute host's agent.
pub struct ComputeAgent {
    svc: Arc<ComputeService>,
    config: AgentConfig,
    driver: Arc<FakeDriver>,
    service: Mutex<Option<Service>>,
    node: Mutex<Option<ComputeNode>>,
    worker_id: String,
    recovered: std::sync::atomic::AtomicBool,
    /// What the last resource update published to Placement, and how many
    /// updates since a full one (an unchanged host skips the writes).
    published: Mutex<(Option<Published>, u32)>,
}

/// A host's provider state as last written to Placement.
#[derive(Debug, Clone, PartialEq)]
struct Published {
    node: Uuid,
    inventories: BTreeMap<String, Inventory>,
    add: Vec<String>,
    remove: Vec<String>,
    aggregate: Uuid,
    other_aggregates: Vec<Uuid>,
    /// The host aggregates (`os-aggregates`) the host is in.
    host_aggregates: Vec<Uuid>,
}

/// Updates between two full ones (which write even when nothing changed,
/// repairing what someone else changed in Placement).
const FULL_UPDATE_EVERY: u32 = 10;

impl std::fmt::Debug for ComputeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeAgent").field("host", &self.config.host).finish_non_exhaustive()
    }
}

impl ComputeAgent {
    /// An agent working on `svc`'s database and Placement client (use
    /// [`ComputeService::with_placement`] for a different client).
    pub fn new(svc: Arc<ComputeService>, config: AgentConfig, driver: Arc<FakeDriver>) -> ComputeAgent {
        let worker_id = format!("{}:{}", config.host, Uuid::new_v4());
        ComputeAgent {
            svc,
            config,
            driver,
            service: Mutex::new(None),
            node: Mutex::new(None),
            worker_id,
            recovered: Default::default(),
            published: Mutex::new((None, 0)),
        }
    }

    pub fn host(&self) -> &str {
        &self.config.host
    }

    /// The compute service this agent works through.
    pub fn service(&self) -> &Arc<ComputeService> {
        &self.svc
    }

    pub fn driver(&self) -> &Arc<FakeDriver> {
        &self.driver
    }

    /// The resource provider (compute node) uuid, once registered.
    pub fn node_uuid(&self) -> Option<Uuid> {
        self.node.lock().ok().and_then(|n| n.as_ref().map(|n| n.uuid))
    }

    fn az(&self) -> String {
        self.config.availability_zone.clone().unwrap_or_else(|| self.svc.config.default_availability_zone.clone())
    }

    fn current_service(&self) -> Option<Service> {
        self.service.lock().ok().and_then(|s| s.clone())
    }

    /// Register the service and heartbeat once (database only).
    pub async fn register(&self) -> Result<Service> {
        let s = self.svc.db.register_service(&self.config.host, NOVA_COMPUTE, &self.az()).await?;
        let s = self.svc.db.heartbeat(s.id).await?.unwrap_or(s);
        if let Ok(mut g) = self.service.lock() {
            *g = Some(s.clone());
        }
        Ok(s)
    }

    /// Record the compute node and bring its provider up to date:
    /// inventory (reserved amounts, allocation ratios), traits (configured
    /// ones, `COMPUTE_STATUS_DISABLED` per the service), and the
    /// availability zone's aggregate.
    pub async fn update_resources(&self) -> Result<ComputeNode> {
        // The host's configuration does not change while it runs: between
        // full updates an idle host costs no query at all (the API reflects
        // a service's disabled flag on its providers itself).
        {
            let mut g = self.published.lock().unwrap_or_else(|p| p.into_inner());
            let node = self.node.lock().ok().and_then(|n| n.clone());
            if let (Some(_), Some(node)) = (&g.0, node) {
                if g.1 + 1 < FULL_UPDATE_EVERY {
                    g.1 += 1;
                    return Ok(node);
                }
            }
        }
        let c = &self.config;
        let placement = &self.svc.placement;
        let existing = self.svc.db.nodes_on_host(&c.host).await?.into_iter().find(|n| n.hypervisor_hostname == c.host);
        let uuid = match &existing {
            Some(n) => n.uuid,
            // A provider left behind under this name (service deleted and
            // re-created) is adopted rather than colliding on the name.
            None => placement
                .list_providers(&format!("name={}", berth_placement_client::encode(&c.host)))
                .await?
                .first()
                .map(|p| p.uuid)
                .unwrap_or_else(Uuid::new_v4),
        };
        let node = self
            .svc
            .db
            .upsert_node(&ComputeNode {
                id: 0,
                uuid,
                host: c.host.clone(),
                hypervisor_hostname: c.host.clone(),
                hypervisor_type: HYPERVISOR_TYPE.into(),
                hypervisor_version: 1000,
                host_ip: "127.0.0.1".into(),
                vcpus: c.driver.vcpus,
                memory_mb: c.driver.memory_mb,
                local_gb: c.driver.disk_gb,
                cpu_allocation_ratio: c.cpu_allocation_ratio,
                ram_allocation_ratio: c.ram_allocation_ratio,
                disk_allocation_ratio: c.disk_allocation_ratio,
                reserved_host_cpus: c.reserved_host_cpus,
                reserved_host_memory_mb: c.reserved_host_memory_mb,
                reserved_host_disk_gb: c.reserved_host_disk_gb,
                created_at: 0,
                updated_at: None,
            })
            .await?;
        if let Ok(mut g) = self.node.lock() {
            *g = Some(node.clone());
        }
        let inv = |total: i64, reserved: i64, ratio: f64| Inventory::new(total, reserved.clamp(0, total), ratio);
        let inventories: BTreeMap<String, Inventory> = [
            ("VCPU".to_string(), inv(c.driver.vcpus, c.reserved_host_cpus, c.cpu_allocation_ratio)),
            ("MEMORY_MB".to_string(), inv(c.driver.memory_mb, c.reserved_host_memory_mb, c.ram_allocation_ratio)),
            ("DISK_GB".to_string(), inv(c.driver.disk_gb, c.reserved_host_disk_gb, c.disk_allocation_ratio)),
        ]
        .into_iter()
        .collect();
        let disabled = self.svc.db.service_by_host(&c.host, NOVA_COMPUTE).await?.is_some_and(|s| s.disabled);
        let mut add: Vec<String> = c.traits.clone();
        add.push("COMPUTE_NODE".into());
        let mut remove = Vec::new();
        if disabled {
            add.push(COMPUTE_STATUS_DISABLED.into());
        } else {
            remove.push(COMPUTE_STATUS_DISABLED.to_string());
        }
        let az = self.az();
        let aggregate = self.svc.db.az_aggregate(&az).await?;
        let other_aggregates: Vec<Uuid> =
            self.svc.db.list_azs().await?.into_iter().filter(|(n, _)| n != &az).map(|(_, u)| u).collect();
        let host_aggregates = self.svc.host_aggregate_uuids(&c.host).await?;
        let want =
            Published { node: node.uuid, inventories, add, remove, aggregate, other_aggregates, host_aggregates };
        let unchanged = {
            let g = self.published.lock().unwrap_or_else(|p| p.into_inner());
            g.0.as_ref() == Some(&want) && g.1 + 1 < FULL_UPDATE_EVERY
        };
        if unchanged {
            return Ok(node);
        }
        placement.ensure_provider(node.uuid, &node.hypervisor_hostname, None).await?;
        placement.set_inventories(node.uuid, &want.inventories).await?;
        placement.update_traits(node.uuid, &want.add, &want.remove).await?;
        let mut aggregates = want.host_aggregates.clone();
        aggregates.push(want.aggregate);
        placement.update_aggregates(node.uuid, &aggregates, &want.other_aggregates).await?;
        *self.published.lock().unwrap_or_else(|p| p.into_inner()) = (Some(want), 0);
        Ok(node)
    }

    /// Register, publish resources and reconcile. Placement failures are
    /// returned (the run loop retries); the service is registered first
    /// either way.
    pub async fn start(&self) -> Result<ReconcileReport> {
        self.register().await?;
        if !self.recovered.load(std::sync::atomic::Ordering::Acquire) {
            let r = self.recover().await?;
            self.recovered.store(true, std::sync::atomic::Ordering::Release);
            if r != RecoveryReport::default() {
                tracing::info!(host = %self.config.host, report = ?r, "recovered work of a previous incarnation");
            }
        }
        // Registered (listed, heartbeating) at once; published a few
        // agents at a time (see `AGENT_PUBLICATIONS_AT_ONCE`).
        let _turn = self.svc.agent_publications.acquire().await;
        self.update_resources().await?;
        self.reconcile().await
    }

    /// Start-up recovery (database and hypervisor only), as nova-compute's
    /// start-up does: tasks leased by an earlier incarnation of this host's
    /// agent are offered again at once, and this host's instances caught in
    /// a task state are finished: a build whose guest exists becomes
    /// ACTIVE, one whose guest is missing is spawned again; a delete is
    /// completed (guest destroyed, instance deleted, allocations removed
    /// through the outbox); power actions and reboots are completed.
    pub async fn recover(&self) -> Result<RecoveryReport> {
        let db = &self.svc.db;
        let host = self.config.host.as_str();
        let mut report = RecoveryReport {
            tasks_reoffered: db.release_stale_leases(host, &self.worker_id).await?,
            ..Default::default()
        };
        let mine = db.list_instances(&InstanceQuery { host: Some(host.to_string()), ..Default::default() }).await?;
        let guests = self.driver.guests();
        for i in mine.iter().filter(|i| !i.deleted && i.host.as_deref() == Some(host)) {
            let u = i.uuid;
            match i.task_state {
                Some(TaskState::Spawning) => {
                    if !guests.contains_key(&u) {
                        self.driver.spawn(u);
                    }
                    if db.set_launched(u).await? {
                        report.builds_finished += 1;
                    }
                }
                Some(TaskState::Deleting) => {
                    self.driver.destroy(u);
                    self.svc.local_delete(u).await?;
                    report.deletes_finished += 1;
                }
                Some(t) => {
                    if let Some(done) = lifecycle::completion(t) {
                        report.power_actions_completed += usize::from(self.finish_guest_change(u, done).await?);
                    }
                }
                _ => {}
            }
        }
        Ok(report)
    }

    /// Run queued tasks of this host until the queue is empty; returns how
    /// many ran. Tasks are claimed in batches; the builds of a batch begin
    /// in one transaction and finish (with their tasks closed) in another.
    pub async fn process_tasks(&self) -> Result<usize> {
        const BATCH: i64 = 32;
        let mut n = 0;
        let lease = self.config.task_lease.as_millis() as i64;
        loop {
            let (tasks, spawning) =
                self.svc.db.claim_host_tasks(&self.config.host, &self.worker_id, lease, BATCH).await?;
            if tasks.is_empty() {
                return Ok(n);
            }
            n += tasks.len();
            // A short batch took everything runnable: tasks queued after
            // the claim wake this agent again (the wake-up is kept until it
            // waits), so no second, empty claim is needed.
            let last = tasks.len() < BATCH as usize;
            let (builds, others): (Vec<Task>, Vec<Task>) =
                tasks.into_iter().partition(|t| t.kind == task_kind::BUILD && t.instance_uuid.is_some());
            if !builds.is_empty() {
                if let Err(e) = self.run_builds(&builds, spawning).await {
                    for t in &builds {
                        self.task_failed(t, &e).await?;
                    }
                }
            }
            for task in others {
                match self.run_task(&task).await {
                    Ok(()) => self.svc.db.complete_task(task.id).await?,
                    Err(e) => self.task_failed(&task, &e).await?,
                }
            }
            if last {
                return Ok(n);
            }
        }
    }

    /// Builds: those still meant for this host move to `spawning` together
    /// (a spawn an earlier attempt began is carried on), their guests are
    /// spawned, and they become ACTIVE with their tasks closed together.
    /// Builds of instances deleted or moved meanwhile just close (a guest
    /// left of a deleted one is destroyed).
    async fn run_builds(&self, tasks: &[Task], spawning: Vec<Uuid>) -> Result<()> {
        let db = &self.svc.db;
        let uuids: Vec<Uuid> = tasks.iter().filter_map(|t| t.instance_uuid).collect();
        for u in uuids.iter().filter(|u| !spawning.contains(u)) {
            if db.get_instance(*u).await?.is_none_or(|i| i.deleted) {
                self.driver.destroy(*u);
            }
        }
        if !self.config.spawn_time.is_zero() && !spawning.is_empty() {
            tokio::time::sleep(self.config.spawn_time).await;
        }
        let mut failed = Vec::new();
        let mut spawned = Vec::with_capacity(spawning.len());
        let grouped = if spawning.is_empty() { Default::default() } else { db.grouped_instances(&spawning).await? };
        for u in spawning {
            if grouped.contains(&u) {
                if let Some(why) = self.svc.group_policy_violation(u, &self.config.host).await? {
                    failed.push((u, why));
                    continue;
                }
            }
            match self.driver.check("spawn") {
                Ok(()) => {
                    self.driver.spawn(u);
                    spawned.push(u);
                }
                Err(why) => failed.push((u, why)),
            }
        }
        if !failed.is_empty() {
            // Aborted (ERROR, no host, allocations given back) before the
            // tasks close: a crash in between runs them again and finds
            // nothing to spawn.
            for (u, why) in &failed {
                tracing::warn!(host = %self.config.host, instance = %u, error = %why, "spawn failed; build aborted");
            }
            for id in db.fail_spawns(&self.config.host, &failed).await? {
                self.svc.run_outbox_entry(id, false).await?;
            }
        }
        let spawning = spawned;
        let ids: Vec<i64> = tasks.iter().map(|t| t.id).collect();
        let banner: Vec<(Uuid, String)> = spawning
            .iter()
            .flat_map(|u| console_lines(Event::Spawn, *u, &self.config.host).into_iter().map(move |l| (*u, l)))
            .collect();
        let launched = db.finish_spawns(&spawning, &ids, &banner).await?;
        if launched < spawning.len() {
            tracing::info!(host = %self.config.host, changed = spawning.len() - launched, "instances changed while spawning");
        }
        Ok(())
    }

    /// Retry a failed task later, or give up after five attempts (the
    /// instance goes to ERROR with a fault).
    async fn task_failed(&self, task: &Task, e: &ComputeError) -> Result<()> {
        let give_up = task.attempts >= 5;
        tracing::warn!(host = %self.config.host, task = task.id, kind = %task.kind, error = %e, give_up, "task failed");
        self.svc.db.retry_task(task.id, &e.message, 1000 * task.attempts.max(1), give_up).await?;
        if give_up {
            if let Some(u) = task.instance_uuid {
                let _ = self.svc.db.add_fault(u, 500, &e.message, "", Some(&self.config.host)).await;
                let _ = self.svc.db.set_instance_state(u, &lifecycle::effect(Event::Fail)).await;
            }
        }
        Ok(())
    }

    async fn run_task(&self, task: &Task) -> Result<()> {
        let Some(uuid) = task.instance_uuid else { return Ok(()) };
        let inst = self.svc.db.get_instance(uuid).await?;
        match task.kind.as_str() {
            task_kind::DELETE => {
                self.driver.destroy(uuid);
                self.svc.local_delete(uuid).await?;
            }
            _ if inst.as_ref().is_none_or(|i| i.deleted) => {
                // Deleted meanwhile: make sure no guest is left.
                self.driver.destroy(uuid);
            }
            other if moves::is_move_task(other) => self.run_move_task(task, uuid).await?,
            kind => {
                if let Some(done) = finishing_event(kind) {
                    self.finish_guest_change(uuid, done).await?;
                    return Ok(());
                }
                tracing::warn!(kind, "unknown task kind; dropping it");
            }
        }
        Ok(())
    }

    /// Change the guest as `done` says (its power state) and record it:
    /// the compare-and-set on the task state decides, so work the instance
    /// no longer waits for (reset, deleted) changes nothing. The console
    /// log gets what the guest would print. `true` when recorded.
    async fn finish_guest_change(&self, uuid: Uuid, done: Event) -> Result<bool> {
        let t = lifecycle::effect(done);
        let db = &self.svc.db;
        if !db.set_instance_state(uuid, &t).await? {
            return Ok(false);
        }
        if let Some(p) = t.power_state {
            self.driver.set_power(uuid, p);
        }
        let lines = console_lines(done, uuid, &self.config.host);
        if !lines.is_empty() {
            let lines: Vec<(Uuid, String)> = lines.into_iter().map(|l| (uuid, l)).collect();
            if let Err(e) = db.append_console(&lines, true).await {
                tracing::warn!(%uuid, error = %e, "cannot record console output");
            }
        }
        Ok(true)
    }

    /// Make the hypervisor and Placement agree with the database for this
    /// host: destroy guests of instances that are deleted or not ours,
    /// restore guests of our live instances, remove allocations against our
    /// provider held by consumers that are neither our instances nor
    /// in-progress migrations, and heal our instances' missing allocations.
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        let db = &self.svc.db;
        let placement = &self.svc.placement;
        let host = self.config.host.as_str();
        let node = match self.node.lock().ok().and_then(|n| n.clone()) {
            Some(n) => Some(n),
            None => db.nodes_on_host(host).await?.into_iter().next(),
        };
        // Placement first, then the database (see `audit`): a consumer
        // claimed after this read is not judged on a database read that
        // predates it.
        let placement_read_at = crate::clock::now_us();
        let allocs = match &node {
            Some(n) => Some(placement.provider_allocations(n.uuid).await?),
            None => None,
        };
        self.svc.at_reconcile_seam().await;
        // This host's instances, plus whatever else holds allocations here
        // (looked up by uuid: no scan of every instance of the cloud).
        let mut all: BTreeMap<Uuid, Instance> = db
            .list_instances(&InstanceQuery { host: Some(host.to_string()), ..Default::default() })
            .await?
            .into_iter()
            .map(|i| (i.uuid, i))
            .collect();
        if let Some(a) = &allocs {
            let others: Vec<Uuid> = a.allocations.keys().filter(|c| !all.contains_key(c)).copied().collect();
            if !others.is_empty() {
                all.extend(db.get_instances(&others).await?.into_iter().map(|i| (i.uuid, i)));
            }
        }
        let mine: BTreeMap<Uuid, &Instance> =
            all.values().filter(|i| !i.deleted && i.host.as_deref() == Some(host)).map(|i| (i.uuid, i)).collect();
        // Guests.
        let guests = self.driver.guests();
        for g in guests.keys() {
            if !mine.contains_key(g) {
                self.driver.destroy(*g);
                report.guests_destroyed += 1;
            }
        }
        for (u, i) in &mine {
            let resting = if i.task_state.is_none() { lifecycle::resting_power(i.vm_state) } else { None };
            if let (Some(power), false) = (resting, guests.contains_key(u)) {
                self.driver.set_power(*u, power);
                report.guests_restored += 1;
            }
        }
        self.move_housekeeping().await?;
        // Allocations.
        let (Some(node), Some(allocs)) = (node, allocs) else { return Ok(report) };
        let migrations = db.in_progress_migrations().await?;
        let migrating: BTreeSet<Uuid> = migrations.iter().flat_map(|m| [m.uuid, m.instance_uuid]).collect();
        for consumer in allocs.allocations.keys() {
            if migrating.contains(consumer) {
                continue;
            }
            match all.get(consumer) {
                Some(i) if !i.deleted && i.node_uuid == Some(node.uuid) => {}
                Some(i) if !i.deleted && i.host.is_none() && i.task_state == Some(TaskState::Scheduling) => {}
                Some(i) if !i.deleted && i.node_uuid.is_some() => {
                    // Ours by mistake: keep its allocations elsewhere.
                    if self.drop_provider_from(i, node.uuid).await? {
                        report.allocations_removed += 1;
                    }
                }
                _ => {
                    // Re-check just before deleting: never remove the
                    // allocations of an instance that is live now.
                    let live = db.get_instance(*consumer).await?.is_some_and(|i| {
                        !i.deleted && (i.node_uuid.is_some() || i.task_state == Some(TaskState::Scheduling))
                    });
                    if !live && placement.delete_allocations(*consumer).await? {
                        report.allocations_removed += 1;
                    }
                }
            }
        }
        for i in mine.values() {
            if i.node_uuid == Some(node.uuid)
                && i.created_at < placement_read_at
                && !allocs.allocations.contains_key(&i.uuid)
            {
                self.svc.rewrite_allocations(i).await?;
                report.allocations_healed += 1;
            }
        }
        if report != ReconcileReport::default() {
            tracing::info!(host, ?report, "reconciled");
        }
        Ok(report)
    }

    async fn drop_provider_from(&self, i: &Instance, rp: Uuid) -> Result<bool> {
        let placement = &self.svc.placement;
        for _ in 0..5 {
            let cur = placement.get_allocations(i.uuid).await?;
            let mut res = cur.resources();
            if res.remove(&rp).is_none() {
                return Ok(false);
            }
            if res.is_empty() {
                return Ok(placement.delete_allocations(i.uuid).await?);
            }
            let w = AllocationWrite {
                allocations: res,
                project_id: i.project_id.clone(),
                user_id: i.user_id.clone(),
                consumer_generation: cur.consumer_generation,
                consumer_type: "INSTANCE".into(),
            };
            match placement.put_allocations(i.uuid, &w).await {
                Ok(()) => {
                    self.svc.recheck_deleted(i.uuid, &[]).await?;
                    return Ok(true);
                }
                Err(e) if e.is_generation_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }

    /// Run until `shutdown` resolves: start (retrying while Placement is
    /// unreachable), heartbeat with the other agents of the process (on a
    /// task of their own: task work never delays a heartbeat), work the
    /// queue when woken, and update resources and reconcile periodically.
    /// Errors are logged, never fatal. Shutdown does not wait for the task
    /// at hand: it stops where it is, as a crash would, and the next start
    /// recovers it.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()> + Send) {
        let wake = self.svc.wakeups().waiter(&self.config.host);
        tokio::select! {
            _ = shutdown => {}
            _ = self.work_loop(&wake) => {}
        }
    }

    /// Join the process's heartbeats once registered; register again when
    /// the service row disappeared.
    async fn keep_heartbeating(&self, membership: &mut Option<crate::service::HeartbeatMembership>) {
        let lost = membership.as_ref().is_some_and(|m| m.lost.load(std::sync::atomic::Ordering::Acquire));
        if lost {
            *membership = None;
            if let Err(e) = self.register().await {
                tracing::warn!(host = %self.config.host, error = %e, "cannot register the service again");
                return;
            }
        }
        if membership.is_none() {
            if let Some(s) = self.current_service() {
                *membership = Some(self.svc.join_heartbeats(s.id, self.config.report_interval));
            }
        }
    }

    /// Start (retrying), work the queue, and every `reconcile_interval`
    /// (first after a random part of it, so the agents of a large process
    /// do not all update at once) update resources and reconcile.
    async fn work_loop(&self, wake: &tokio::sync::Notify) {
        let mut started = false;
        let mut starting = Some(StartingGuard::new(&self.svc.agents_starting));
        let mut membership = None;
        let mut retry = tokio::time::interval(self.config.report_interval.max(Duration::from_millis(10)));
        let period = self.config.reconcile_interval.max(Duration::from_millis(10));
        let jitter = period.mul_f64(rand::random::<f64>());
        let mut periodic = tokio::time::interval_at(tokio::time::Instant::now() + jitter, period);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        periodic.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.keep_heartbeating(&mut membership).await;
            tokio::select! {
                _ = retry.tick(), if !started => {
                    match self.start().await {
                        Ok(_) => {
                            started = true;
                            drop(starting.take());
                        }
                        Err(e) => tracing::warn!(host = %self.config.host, error = %e, "agent start incomplete; retrying"),
                    }
                }
                _ = periodic.tick() => {
                    if started {
                        let r = async { self.update_resources().await?; self.reconcile().await }.await;
                        if let Err(e) = r {
                            tracing::warn!(host = %self.config.host, error = %e, "periodic resource update failed");
                        }
                    }
                }
                _ = wake.notified() => self.work().await,
                _ = tokio::time::sleep(self.config.poll_interval) => self.work().await,
            }
        }
    }

    async fn work(&self) {
        if let Err(e) = self.process_tasks().await {
            tracing::warn!(host = %self.config.host, error = %e, "task processing failed");
        }
    }
}

/// Counts an agent as starting while it lives.
struct StartingGuard(Arc<std::sync::atomic::AtomicUsize>);

impl StartingGuard {
    fn new(counter: &Arc<std::sync::atomic::AtomicUsize>) -> StartingGuard {
        counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        StartingGuard(counter.clone())
    }
}

impl Drop for StartingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Run one agent until `shutdown` (the entry point of `berth compute` and
/// of each simulated host of `berth up --computes N`).
pub async fn run_agent(
    svc: Arc<ComputeService>,
    config: AgentConfig,
    driver: Arc<FakeDriver>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    Arc::new(ComputeAgent::new(svc, config, driver)).run(shutdown).await
}

/// The event that finishes a queued guest change of `kind`.
fn finishing_event(kind: &str) -> Option<Event> {
    Some(match kind {
        task_kind::STOP => Event::PoweredOff,
        task_kind::START => Event::PoweredOn,
        task_kind::REBOOT => Event::Rebooted,
        task_kind::PAUSE => Event::Paused,
        task_kind::UNPAUSE => Event::Unpaused,
        task_kind::SUSPEND => Event::Suspended,
        task_kind::RESUME => Event::Resumed,
        task_kind::RESCUE => Event::Rescued,
        task_kind::UNRESCUE => Event::Unrescued,
        task_kind::SNAPSHOT => Event::SnapshotTaken,
        _ => return None,
    })
}

/// What the simulated guest prints on its serial console when `event`
/// happens to it.
fn console_lines(event: Event, uuid: Uuid, host: &str) -> Vec<String> {
    let boot = |what: &str| {
        vec![
            format!("[    0.000000] Linux version 6.1.0-berth (berth simulated hypervisor on {host})"),
            "[    0.000000] Command line: root=/dev/vda1 ro console=ttyS0".to_string(),
            "[    0.512000] Run /sbin/init as init process".to_string(),
            format!("cloud-init: {what} instance {uuid}"),
            "login: ".to_string(),
        ]
    };
    match event {
        Event::Spawn => boot("booted"),
        Event::PoweredOn => boot("started"),
        Event::Rebooted => {
            let mut l = vec!["[    1.000000] reboot: Restarting system".to_string()];
            l.extend(boot("rebooted"));
            l
        }
        Event::PoweredOff => vec!["[    1.000000] reboot: Power down".to_string()],
        Event::Suspended => vec!["[    1.000000] PM: suspend entry (deep)".to_string()],
        Event::Resumed => vec!["[    1.000000] PM: suspend exit".to_string()],
        Event::Rescued => boot("rescue boot of"),
        Event::Unrescued => boot("left rescue,"),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_specs() {
        assert_eq!("fake".parse::<DriverSpec>().unwrap(), DriverSpec::default());
        assert_eq!(
            "fake:4,8192,100".parse::<DriverSpec>().unwrap(),
            DriverSpec { vcpus: 4, memory_mb: 8192, disk_gb: 100 }
        );
        assert!("fake:4,8192".parse::<DriverSpec>().is_err());
        assert!("fake:0,1,1".parse::<DriverSpec>().is_err());
        assert!("libvirt".parse::<DriverSpec>().is_err());
        assert!("fakeX".parse::<DriverSpec>().is_err());
    }

    #[test]
    fn fake_driver() {
        let d = FakeDriver::new();
        let u = Uuid::new_v4();
        d.spawn(u);
        d.set_power(u, power_state::SHUTDOWN);
        assert_eq!(d.guests().get(&u), Some(&power_state::SHUTDOWN));
        assert!(d.destroy(u));
        assert!(!d.destroy(u));
    }
}
