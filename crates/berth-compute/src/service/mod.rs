//! [`ComputeService`]: the state behind the API (database, Placement,
//! images, policy, configuration) and the operations the handlers and
//! background tasks share.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_http::AuthStrategy;
use berth_placement_client::PlacementClient;
use berth_policy::{Enforcer, EnforcerConfig};
use uuid::Uuid;

use crate::db::{now_us, Db};
use crate::error::{ComputeError, ErrorKind, Result};
use crate::images::ImageLookup;
use crate::model::*;
mod aggregates;
mod catalog;
mod hosts;
mod keypairs;
pub(crate) mod moves;
mod schedule;
mod server_actions;
mod server_groups;
mod servers;
mod usage;

pub(crate) use hosts::HeartbeatMembership;
pub(crate) use server_actions::MAX_TAGS;

use crate::lifecycle::{self, Event};
use crate::scheduler::{Weigher, COMPUTE_STATUS_DISABLED};

/// Quota limits applied to projects without their own (`[quota]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuotaDefaults {
    pub instances: i64,
    pub cores: i64,
    pub ram: i64,
    pub metadata_items: i64,
    pub key_pairs: i64,
    pub server_groups: i64,
    pub server_group_members: i64,
}

impl QuotaDefaults {
    /// The limits by Nova's quota names.
    pub fn as_map(&self) -> BTreeMap<String, i64> {
        [
            ("instances", self.instances),
            ("cores", self.cores),
            ("ram", self.ram),
            ("metadata_items", self.metadata_items),
            ("key_pairs", self.key_pairs),
            ("server_groups", self.server_groups),
            ("server_group_members", self.server_group_members),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Default for QuotaDefaults {
    /// Nova's defaults.
    fn default() -> Self {
        QuotaDefaults {
            instances: 10,
            cores: 20,
            ram: 51200,
            metadata_items: 128,
            key_pairs: 100,
            server_groups: 10,
            server_group_members: 10,
        }
    }
}

/// Settings of the compute API and its background tasks.
#[derive(Debug, Clone)]
pub struct ComputeConfig {
    pub auth: AuthStrategy,
    /// A service is down after this long without a heartbeat
    /// (`service_down_time`, Nova's default 60 s).
    pub service_down_time: Duration,
    pub weigher: Weigher,
    /// `limit` of allocation-candidates queries.
    pub max_placement_results: usize,
    pub quota_defaults: QuotaDefaults,
    /// The zone of hosts that do not name one (`default_availability_zone`).
    pub default_availability_zone: String,
    /// Absolute URL clients reach the API at, e.g. `https://cloud/compute`;
    /// when unset, links are built from the request's Host header and the
    /// mount point [`crate::MOUNT`].
    pub public_base_url: Option<String>,
    /// Largest request body accepted (Nova's `max_request_body_size`).
    pub max_request_body: usize,
    /// How often the background outbox drainer runs.
    pub outbox_interval: Duration,
    /// How often the background reconciler audits (and heals) allocations.
    pub reconcile_interval: Duration,
    /// Whether the background reconciler heals what it finds (`false`:
    /// only count it).
    pub reconcile_fix: bool,
    /// How long an instance may stay scheduling without a recorded host
    /// before the reconciler and `berth audit --fix` give its claim back
    /// and set it to ERROR (its scheduler died between the claim and
    /// recording the host). Exclusive with a live scheduler either way.
    pub scheduling_timeout: Duration,
    /// Most database connections the compute service keeps open.
    pub max_connections: u32,
    /// How often a process polls the work queues for its workers (the
    /// fallback behind wake-ups; see [`crate::wake`]).
    pub dispatch_interval: Duration,
    /// Resizes and cold migrations left in VERIFY_RESIZE longer than this
    /// are confirmed by their destination's agent (Nova's
    /// `resize_confirm_window`; zero: never).
    pub resize_confirm_window: Duration,
    /// Whether a resize may pick the server's own host (Nova's
    /// `allow_resize_to_same_host`).
    pub allow_resize_to_same_host: bool,
    /// Seconds a shelved server keeps its host before it is offloaded
    /// (Nova's `shelved_offload_time`: 0 offloads at once, -1 never).
    pub shelved_offload_time: i64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            auth: AuthStrategy::NoAuth2,
            service_down_time: Duration::from_secs(60),
            weigher: Weigher::Spread,
            max_placement_results: 1000,
            quota_defaults: QuotaDefaults::default(),
            default_availability_zone: "nova".into(),
            public_base_url: None,
            max_request_body: 114_688,
            outbox_interval: Duration::from_secs(2),
            reconcile_interval: Duration::from_secs(60),
            reconcile_fix: true,
            scheduling_timeout: Duration::from_secs(300),
            dispatch_interval: Duration::from_millis(500),
            max_connections: 16,
            resize_confirm_window: Duration::ZERO,
            allow_resize_to_same_host: false,
            shelved_offload_time: 0,
        }
    }
}

/// The compute control plane's shared state.
pub struct ComputeService {
    pub(crate) db: Db,
    pub(crate) placement: Arc<dyn PlacementClient>,
    pub(crate) images: Arc<dyn ImageLookup>,
    pub(crate) policy: Enforcer,
    pub(crate) config: ComputeConfig,
    pub(crate) reconciler_findings: AtomicU64,
    pub(crate) reconciler_runs: AtomicU64,
    /// Test seam: run once between a reconciliation's two reads (see
    /// [`ComputeService::set_reconcile_seam`]); shared by every handle made
    /// with [`ComputeService::with_placement`].
    pub(crate) reconcile_seam: Arc<std::sync::Mutex<Option<ReconcileSeam>>>,
    /// Test seam: run once between a build's claim and recording its host.
    pub(crate) claim_seam: Arc<std::sync::Mutex<Option<ReconcileSeam>>>,
    /// The scheduler's host-state view (shared by every handle), and the
    /// lock of whoever rebuilds it.
    pub(crate) host_view: Arc<std::sync::RwLock<Option<schedule::HostView>>>,
    pub(crate) host_refresh: Arc<tokio::sync::Mutex<()>>,
    /// Allocation-candidates answers the scheduler is still using, by query.
    pub(crate) candidate_cache: Arc<std::sync::Mutex<std::collections::HashMap<String, schedule::CachedCandidates>>>,
    /// Services of the agents of this process, heartbeated together.
    pub(crate) heartbeats: Arc<hosts::HeartbeatHub>,
    /// Agents of this process still in their first start: while any is,
    /// "no valid host" defers a request instead of failing it (the cloud
    /// answers before its hosts have registered).
    pub(crate) agents_starting: Arc<std::sync::atomic::AtomicUsize>,
    /// How many agents of this process publish their start-up resources at
    /// once (see [`AGENT_PUBLICATIONS_AT_ONCE`]).
    pub(crate) agent_publications: Arc<tokio::sync::Semaphore>,
    /// Test seam: how far (microseconds) the clock of the periodic move
    /// work runs ahead (see [`ComputeService::advance_clock`]); shared by
    /// every handle made with [`ComputeService::with_placement`].
    pub(crate) clock_offset_us: Arc<std::sync::atomic::AtomicI64>,
}

/// Agents of one process that publish their start-up resources (node,
/// provider, inventories, traits, aggregates) and reconcile at the same
/// time. Their writes all go through one writer: with thousands of hosts
/// starting at once (`berth up --computes N`, `berth compute --hosts`), an
/// API request's write would queue behind thousands of theirs; this many
/// keep the writer busy without making requests wait behind the others.
pub const AGENT_PUBLICATIONS_AT_ONCE: usize = 16;

/// Work a test injects between the two reads of a reconciliation (the
/// audit, the background reconciler, an agent's reconcile).
pub type ReconcileSeam = Box<dyn FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

impl std::fmt::Debug for ComputeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeService").field("engine", &self.db.engine).finish_non_exhaustive()
    }
}

/// Nova's binary name of compute services.
pub const NOVA_COMPUTE: &str = "nova-compute";

impl ComputeService {
    /// Connect to the database (the same URL as Placement's), apply the
    /// compute migrations and build the service.
    pub async fn open(
        db_url: &str,
        placement: Arc<dyn PlacementClient>,
        images: Arc<dyn ImageLookup>,
        policy: Enforcer,
        config: ComputeConfig,
    ) -> Result<Arc<ComputeService>> {
        let db = Db::connect(db_url, config.max_connections.max(1)).await?;
        db.migrate().await?;
        Ok(Arc::new(ComputeService {
            db,
            placement,
            images,
            policy,
            config,
            reconciler_findings: AtomicU64::new(0),
            reconciler_runs: AtomicU64::new(0),
            reconcile_seam: Arc::default(),
            claim_seam: Arc::default(),
            host_view: Arc::default(),
            host_refresh: Arc::default(),
            candidate_cache: Arc::default(),
            heartbeats: Arc::default(),
            agents_starting: Arc::default(),
            agent_publications: Arc::new(tokio::sync::Semaphore::new(AGENT_PUBLICATIONS_AT_ONCE)),
            clock_offset_us: Arc::default(),
        }))
    }

    /// Another handle on the same database (shared pools and writer lock)
    /// that talks to Placement through `placement`: agents in the same
    /// process, or tests that break one side's Placement on purpose.
    pub fn with_placement(&self, placement: Arc<dyn PlacementClient>) -> Arc<ComputeService> {
        Arc::new(ComputeService {
            db: self.db.clone(),
            placement,
            images: self.images.clone(),
            policy: self.policy.clone(),
            config: self.config.clone(),
            reconciler_findings: AtomicU64::new(0),
            reconciler_runs: AtomicU64::new(0),
            reconcile_seam: self.reconcile_seam.clone(),
            claim_seam: self.claim_seam.clone(),
            host_view: self.host_view.clone(),
            host_refresh: self.host_refresh.clone(),
            candidate_cache: Arc::default(),
            heartbeats: self.heartbeats.clone(),
            agents_starting: self.agents_starting.clone(),
            agent_publications: self.agent_publications.clone(),
            clock_offset_us: self.clock_offset_us.clone(),
        })
    }

    /// Test seam: the next reconciliation (audit, background reconciler or
    /// an agent's reconcile, through this handle or any sharing its
    /// database) runs `seam` between its Placement read and its database
    /// read, once. Lets a test land a claim exactly there.
    pub fn set_reconcile_seam(&self, seam: ReconcileSeam) {
        if let Ok(mut g) = self.reconcile_seam.lock() {
            *g = Some(seam);
        }
    }

    /// Test seam: the next build runs `seam` after its claim in Placement
    /// and before recording its host, once (a test can pause or kill the
    /// scheduler there); likewise the next resize or cold migration between
    /// its allocation swap and recording its destination.
    pub fn set_claim_seam(&self, seam: ReconcileSeam) {
        if let Ok(mut g) = self.claim_seam.lock() {
            *g = Some(seam);
        }
    }

    /// Test seam: move the clock of the agents' periodic move work
    /// (automatic resize confirm after `resize_confirm_window`, offload
    /// after `shelved_offload_time`) `by` ahead, for this handle and every
    /// one sharing its database handle, so a test needs no real waits.
    pub fn advance_clock(&self, by: std::time::Duration) {
        let us = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.clock_offset_us.fetch_add(us, Ordering::SeqCst);
    }

    /// Now, for the periodic move work (microseconds since the epoch, plus
    /// the test offset).
    pub(crate) fn periodic_now_us(&self) -> i64 {
        crate::clock::now_us().saturating_add(self.clock_offset_us.load(Ordering::SeqCst))
    }

    pub(crate) async fn at_reconcile_seam(&self) {
        let seam = self.reconcile_seam.lock().ok().and_then(|mut g| g.take());
        if let Some(seam) = seam {
            seam().await;
        }
    }

    /// An enforcer with compute's default rules
    /// ([`crate::policy_defaults`]).
    pub fn default_policy(config: EnforcerConfig) -> Enforcer {
        Enforcer::new(crate::policy::defaults(), config)
    }

    pub fn config(&self) -> &ComputeConfig {
        &self.config
    }

    pub fn placement(&self) -> &Arc<dyn PlacementClient> {
        &self.placement
    }

    /// Problems the background reconciler found on its last run.
    pub fn reconciler_findings(&self) -> u64 {
        self.reconciler_findings.load(Ordering::Relaxed)
    }

    /// Compute's database writer: transactions, time held and time queued
    /// (on SQLite the writer every service of the process shares).
    pub fn write_stats(&self) -> berth_db::WriteStatsSnapshot {
        self.db.write_stats()
    }

    /// Completed background reconciler runs.
    pub fn reconciler_runs(&self) -> u64 {
        self.reconciler_runs.load(Ordering::Relaxed)
    }

    /// Queued or running tasks of a host's agent.
    /// Create DevStack's standard flavors when the cloud has none yet
    /// (`berth up` calls this so `server create --flavor m1.tiny` works).
    /// Returns how many were created.
    pub async fn ensure_default_flavors(&self) -> Result<usize> {
        if !self.db.list_flavors().await?.is_empty() {
            return Ok(0);
        }
        let defaults: [(&str, &str, i64, i64, i64); 7] = [
            ("1", "m1.tiny", 1, 512, 1),
            ("2", "m1.small", 1, 2048, 20),
            ("3", "m1.medium", 2, 4096, 40),
            ("4", "m1.large", 4, 8192, 80),
            ("5", "m1.xlarge", 8, 16384, 160),
            ("42", "m1.nano", 1, 128, 1),
            ("84", "m1.micro", 1, 192, 1),
        ];
        let mut created = 0;
        for (flavorid, name, vcpus, memory_mb, root_gb) in defaults {
            let f = crate::model::Flavor {
                internal_id: 0,
                flavorid: flavorid.into(),
                name: name.into(),
                vcpus,
                memory_mb,
                root_gb,
                ephemeral_gb: 0,
                swap: 0,
                rxtx_factor: 1.0,
                is_public: true,
                disabled: false,
                description: None,
                extra_specs: BTreeMap::new(),
            };
            match self.db.insert_flavor(&f).await {
                Ok(_) => created += 1,
                // Another process created it first.
                Err(e) if e.kind == ErrorKind::Conflict => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    /// The compute service record of `host` (its heartbeat: `last_seen_up`,
    /// `report_count`).
    pub async fn compute_service(&self, host: &str) -> Result<Option<Service>> {
        self.db.service_by_host(host, NOVA_COMPUTE).await
    }

    pub async fn open_tasks(&self, host: &str) -> Result<i64> {
        self.db.open_tasks(host).await
    }

    /// An instance by uuid (deleted ones included).
    pub async fn instance(&self, uuid: Uuid) -> Result<Option<Instance>> {
        self.db.get_instance(uuid).await
    }

    /// Close the database pools.
    pub async fn close(&self) {
        self.db.close().await;
    }

    pub(crate) fn down_after_ms(&self) -> i64 {
        self.config.service_down_time.as_millis() as i64
    }

    /// The wake-ups of this process's workers (see [`crate::wake`]).
    pub fn wakeups(&self) -> &Arc<crate::wake::Wakeups> {
        &self.db.wakeups
    }

    /// Is the compute service of `host` up (registered, heartbeating, not
    /// forced down)?
    pub async fn host_is_up(&self, host: &str) -> Result<bool> {
        Ok(match self.db.service_by_host(host, NOVA_COMPUTE).await? {
            Some(s) => s.is_up(now_us(), self.down_after_ms()),
            None => false,
        })
    }

    // ------------------------------------------------------------ delete

    /// Delete an instance the way nova-api does: through its host's agent
    /// when that host is up, otherwise locally (marked deleted here and its
    /// allocations removed now, or by the outbox once Placement answers).
    pub(crate) async fn delete_instance(&self, instance: &Instance) -> Result<()> {
        let host = match &instance.host {
            Some(h) if self.host_is_up(h).await? => h.clone(),
            _ => return self.local_delete(instance.uuid).await,
        };
        let queued = match lifecycle::transition(Event::Delete, instance.vm_state, instance.task_state) {
            Some(t) => self.db.transition_and_enqueue(instance.uuid, &t, &host, task_kind::DELETE).await?,
            None => false,
        };
        if !queued {
            // It changed under us (deleted already, or moved): decide again.
            if let Some(i) = self.db.get_instance(instance.uuid).await? {
                if !i.deleted {
                    return self.local_delete(i.uuid).await;
                }
            }
        }
        Ok(())
    }

    /// Mark deleted and remove the allocations (durably).
    pub async fn local_delete(&self, uuid: Uuid) -> Result<()> {
        for entry in self.db.mark_deleted(uuid).await? {
            self.run_outbox_entry(entry, false).await?;
        }
        Ok(())
    }

    /// Record that `consumer`'s allocations must go, and try once now.
    pub(crate) async fn remove_allocations_durably(&self, consumer: Uuid) -> Result<()> {
        let id = self.db.add_outbox(outbox_kind::DELETE_ALLOCATIONS, consumer).await?;
        self.run_outbox_entry(id, false).await?;
        Ok(())
    }

    // ------------------------------------------------------------ services

    /// Reflect a service's disabled flag on its providers
    /// (`COMPUTE_STATUS_DISABLED`). Failures are logged; agents resync the
    /// trait periodically.
    pub(crate) async fn sync_disabled_trait(&self, service: &Service) {
        let nodes = match self.db.nodes_on_host(&service.host).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list compute nodes");
                return;
            }
        };
        for n in nodes {
            if let Err(e) = self.placement.set_trait(n.uuid, COMPUTE_STATUS_DISABLED, service.disabled).await {
                tracing::warn!(provider = %n.uuid, error = %e, "cannot update COMPUTE_STATUS_DISABLED; the agent will retry");
            }
        }
    }

    /// Effective quota limits of a project.
    pub async fn quota_limits(&self, project: &str) -> Result<BTreeMap<String, i64>> {
        // The configured defaults, then the default quota class, then the
        // project's own.
        let mut m = self.quota_class(usage::DEFAULT_CLASS).await?;
        m.extend(self.db.quotas(project).await?);
        Ok(m)
    }

    /// Usage counted as Nova does with `count_usage_from_placement`:
    /// instances from the database, cores and ram from Placement.
    pub async fn quota_usage(&self, project: &str) -> Result<BTreeMap<String, i64>> {
        self.count_usage(project, true).await
    }

    /// Usage of a project; cores and ram (a Placement query over the
    /// project's allocations) only `with_resources`.
    async fn count_usage(&self, project: &str, with_resources: bool) -> Result<BTreeMap<String, i64>> {
        if project.is_empty() || project.chars().count() > 255 || project.chars().any(char::is_control) {
            return Err(ComputeError::bad_request("Invalid project id"));
        }
        let mut m = BTreeMap::new();
        m.insert("instances".to_string(), self.db.count_instances(project).await?);
        m.insert("server_groups".to_string(), self.count_server_groups(project).await?);
        if !with_resources {
            return Ok(m);
        }
        // The project id is the caller's input: Placement refusing it is a
        // bad request, not a server error.
        let usages =
            self.placement.project_usages(project, None).await.map_err(ComputeError::from_placement_for_input)?;
        // Builds not claimed yet (queued for the scheduler) count with
        // their flavors, so a burst of creates cannot pass the check before
        // any of them is claimed.
        let (pending_cores, pending_ram) = self.db.pending_claims(project).await?;
        m.insert(
            "cores".to_string(),
            usages.get("VCPU").copied().unwrap_or(0) + usages.get("PCPU").copied().unwrap_or(0) + pending_cores,
        );
        m.insert("ram".to_string(), usages.get("MEMORY_MB").copied().unwrap_or(0) + pending_ram);
        Ok(m)
    }

    /// Set some of a project's quota limits.
    pub(crate) async fn set_quotas(&self, project: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
        self.db.set_quotas(project, limits).await
    }

    /// Revert a project's quota limits to the defaults.
    pub(crate) async fn delete_quotas(&self, project: &str) -> Result<()> {
        self.db.delete_quotas(project).await
    }

    /// Refuse a create that would exceed the project's quota (`limits`, as
    /// [`ComputeService::quota_limits`] reads them: a create reads them
    /// once for its check and its recheck). Only limited resources are
    /// counted (an unlimited project costs no usage query).
    pub(crate) async fn check_quota(
        &self,
        project: &str,
        limits: &BTreeMap<String, i64>,
        flavor: &Flavor,
        count: i64,
    ) -> Result<()> {
        let limit_of = |res: &str| limits.get(res).copied().unwrap_or(-1);
        let wanted = [("instances", count), ("cores", flavor.vcpus * count), ("ram", flavor.memory_mb * count)];
        if wanted.iter().all(|(res, _)| limit_of(res) < 0) {
            return Ok(());
        }
        let used = self.count_usage(project, limit_of("cores") >= 0 || limit_of("ram") >= 0).await?;
        let mut over = Vec::new();
        for (res, n) in wanted {
            let limit = limit_of(res);
            let u = used.get(res).copied().unwrap_or(0);
            if limit >= 0 && u + n > limit {
                over.push((res, n, u, limit));
            }
        }
        if over.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = over.iter().map(|o| o.0).collect();
        let (res, n, u, limit) = over[0];
        Err(ComputeError::forbidden(format!(
            "Quota exceeded for {}: Requested {n}, but already used {u} of {limit} {res}",
            names.join(", ")
        )))
    }
}

/// `az`, `az:host`, `az:host:node`, `:host` (admin forms).
pub(crate) fn split_az(s: &str) -> (Option<String>, Option<String>, Option<String>) {
    let mut parts = s.splitn(3, ':');
    let nonempty = |p: Option<&str>| p.filter(|x| !x.is_empty()).map(str::to_string);
    let az = nonempty(parts.next());
    let host = nonempty(parts.next());
    let node = nonempty(parts.next());
    (az, host, node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_forms() {
        assert_eq!(split_az("nova"), (Some("nova".into()), None, None));
        assert_eq!(split_az("nova:h1"), (Some("nova".into()), Some("h1".into()), None));
        assert_eq!(split_az(":h1:n1"), (None, Some("h1".into()), Some("n1".into())));
    }
}
