//! `berth compute` (one compute agent) and `berth audit`, both attached to a
//! running cloud: the shared database plus the cloud's HTTP endpoints.

use std::path::PathBuf;
use std::sync::Arc;

use berth_compute::{ComputeConfig, ComputeService, StaticImages};
use berth_placement_client::HttpPlacementClient;
use clap::Args;

use crate::cloud::{PasswordTokens, Shutdown};

/// Where the cloud is and how to authenticate to it.
#[derive(Args, Debug, Clone)]
pub struct CloudArgs {
    /// Data directory of a `berth up` cloud: supplies the database
    /// (DIR/berth.db) and the admin password (DIR/admin-password).
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL shared with the API (overrides --data-dir).
    #[arg(long, env = "BERTH_DB")]
    pub db: Option<String>,
    /// Base URL of the cloud, e.g. http://controller:8080 (Placement at
    /// /placement, identity at /identity).
    #[arg(long, env = "BERTH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// User the agent authenticates as.
    #[arg(long, env = "BERTH_USERNAME", default_value = "admin")]
    pub username: String,
    /// Project the agent's tokens are scoped to.
    #[arg(long, env = "BERTH_PROJECT", default_value = "admin")]
    pub project: String,
    /// File holding the user's password (mode 0600).
    #[arg(long, env = "BERTH_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Database connections this process may open (on PostgreSQL, add
    /// two: the wake-up listener and the liveness lock). Every process on
    /// one PostgreSQL server must stay under its `max_connections`.
    #[arg(long, env = "BERTH_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub db_max_connections: u32,
}

impl CloudArgs {
    async fn open(&self, faults: &Option<Arc<crate::faults::Faults>>) -> anyhow::Result<Arc<ComputeService>> {
        let db = match (&self.db, &self.data_dir) {
            (Some(db), _) => db.clone(),
            (None, Some(dir)) => format!("sqlite://{}", std::fs::canonicalize(dir)?.join("berth.db").display()),
            (None, None) => anyhow::bail!("pass --db URL or --data-dir DIR"),
        };
        let pw_file = self
            .password_file
            .clone()
            .or_else(|| self.data_dir.as_ref().map(|d| d.join("admin-password")))
            .ok_or_else(|| anyhow::anyhow!("pass --password-file FILE or --data-dir DIR"))?;
        let password = crate::secrets::read_private(&pw_file)?
            .ok_or_else(|| anyhow::anyhow!("{} does not exist", pw_file.display()))?;
        let base = self.url.trim_end_matches('/');
        let tokens =
            Arc::new(PasswordTokens::new(&format!("{base}/identity"), &self.username, &password, &self.project));
        let placement =
            crate::faults::placement(Arc::new(HttpPlacementClient::new(format!("{base}/placement"), tokens)), faults);
        let svc = ComputeService::open(
            &db,
            placement,
            Arc::new(StaticImages::default()),
            ComputeService::default_policy(berth_policy::EnforcerConfig {
                enforce_new_defaults: false,
                enforce_scope: true,
            }),
            ComputeConfig { max_connections: self.db_max_connections, ..ComputeConfig::default() },
        )
        .await
        .map_err(|e| anyhow::anyhow!("compute: {e}"))?;
        Ok(svc)
    }
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["host", "hosts"])))]
pub struct ComputeArgs {
    /// Host name of this compute node.
    #[arg(long)]
    pub host: Option<String>,
    /// Run many simulated hosts in this process: a count (`500`: compute1
    /// .. compute500), a range (`compute1..compute500`, `rack2-h01..rack2-h40`)
    /// or a comma-separated list of names and ranges.
    #[arg(long)]
    pub hosts: Option<String>,
    /// How often this process polls the work queue for all its hosts
    /// (the fallback behind wake-ups: in-process, and PostgreSQL NOTIFY).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub poll_interval_ms: u64,
    /// `fake` or `fake:VCPU,MEMORY_MB,DISK_GB`.
    #[arg(long, default_value = "fake")]
    pub driver: String,
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
    #[command(flatten)]
    pub faults: crate::faults::FaultArgs,
}

pub async fn run_compute(args: ComputeArgs) -> anyhow::Result<()> {
    let spec: berth_compute::DriverSpec =
        args.driver.parse().map_err(|e| anyhow::anyhow!("--driver {}: {e}", args.driver))?;
    let hosts = match (&args.host, &args.hosts) {
        (Some(h), None) => vec![h.clone()],
        (None, Some(spec)) => parse_hosts(spec).map_err(|e| anyhow::anyhow!("--hosts {spec}: {e}"))?,
        _ => anyhow::bail!("pass --host NAME or --hosts SPEC"),
    };
    let faults = args.faults.start();
    let svc = args.cloud.open(&faults).await?;
    let (stop, shutdown) = Shutdown::new();
    // One dispatcher and (on PostgreSQL) one wake-up listener for all the
    // hosts of this process; heartbeats are batched by the service.
    let listener = svc.spawn_wake_listener();
    let dispatcher = tokio::spawn(svc.clone().run_dispatcher(std::time::Duration::from_millis(args.poll_interval_ms)));
    let agents: Vec<_> = hosts
        .iter()
        .map(|h| {
            tokio::spawn(berth_compute::run_agent(
                svc.clone(),
                args.agent.config(h.clone(), spec),
                crate::faults::driver(h, &faults),
                shutdown.wait(),
            ))
        })
        .collect();
    tracing::info!(hosts = hosts.len(), first = %hosts[0], "compute agents running");
    crate::shutdown_signal().await;
    let _ = stop.send(true);
    for a in agents {
        let _ = a.await;
    }
    dispatcher.abort();
    if let Some(l) = listener {
        l.abort();
    }
    Ok(())
}

/// `--hosts`: `N` (compute1..computeN), `name1..name9` ranges (same
/// prefix; the numbers keep the first one's zero padding), or a
/// comma-separated list of names and ranges. Names must be unique.
pub fn parse_hosts(spec: &str) -> Result<Vec<String>, String> {
    const MAX: u64 = 100_000;
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Ok(n) = part.parse::<u64>() {
            if n == 0 || n > MAX {
                return Err(format!("a count must be 1..={MAX}"));
            }
            out.extend((1..=n).map(|i| format!("compute{i}")));
        } else if let Some((a, b)) = part.split_once("..") {
            let split = |s: &str| {
                let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                let (p, d) = s.split_at(s.len() - digits);
                (p.to_string(), d.to_string())
            };
            let ((pa, da), (pb, db)) = (split(a), split(b));
            if pa != pb || da.is_empty() || db.is_empty() {
                return Err(format!("{part:?}: a range is PREFIX<number>..PREFIX<number> with the same prefix"));
            }
            let (from, to) = match (da.parse::<u64>(), db.parse::<u64>()) {
                (Ok(f), Ok(t)) if f <= t && t - f < MAX => (f, t),
                _ => return Err(format!("{part:?}: the range must go up, by at most {MAX} hosts")),
            };
            let width = if da.starts_with('0') { da.len() } else { 0 };
            out.extend((from..=to).map(|i| format!("{pa}{i:0width$}")));
        } else {
            out.push(part.to_string());
        }
    }
    if out.is_empty() {
        return Err("no hosts".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = out.iter().find(|h| !seen.insert(h.as_str())) {
        return Err(format!("host {dup} is named twice"));
    }
    if out.len() as u64 > MAX {
        return Err(format!("at most {MAX} hosts per process"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_hosts;

    #[test]
    fn host_specs() {
        assert_eq!(parse_hosts("3").unwrap(), ["compute1", "compute2", "compute3"]);
        assert_eq!(parse_hosts("compute9..compute11").unwrap(), ["compute9", "compute10", "compute11"]);
        assert_eq!(parse_hosts("r1-h08..r1-h10").unwrap(), ["r1-h08", "r1-h09", "r1-h10"]);
        assert_eq!(parse_hosts("a, b1..b2").unwrap(), ["a", "b1", "b2"]);
        assert_eq!(parse_hosts("compute1..compute500").unwrap().len(), 500);
        for bad in ["", "0", "a1..b2", "x5..x1", "a..b", "a,a", "1000000", "compute1,1"] {
            assert!(parse_hosts(bad).is_err(), "{bad:?}");
        }
    }
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Heal what the audit finds.
    #[arg(long)]
    pub fix: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

/// Exit status: 0 when clean (or everything was fixed), 3 when problems remain.
pub async fn run_audit(args: AuditArgs) -> anyhow::Result<i32> {
    let svc = args.cloud.open(&None).await?;
    let report = svc.audit(args.fix).await.map_err(|e| anyhow::anyhow!("audit: {e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
        println!("problems found: {}", report.problem_count());
    }
    Ok(if report.errors.is_empty() && (report.is_clean() || args.fix) { 0 } else { 3 })
}

/// Per-host settings of compute agents (nova.conf's `[DEFAULT]` knobs).
#[derive(Args, Debug, Clone, Default)]
pub struct AgentArgs {
    /// Availability zone of the host(s).
    #[arg(long)]
    pub availability_zone: Option<String>,
    /// vCPUs kept for the host (`reserved_host_cpus`).
    #[arg(long)]
    pub reserved_host_cpus: Option<i64>,
    /// MB of RAM kept for the host (`reserved_host_memory_mb`, default 512).
    #[arg(long)]
    pub reserved_host_memory_mb: Option<i64>,
    /// GB of disk kept for the host (`reserved_host_disk_gb`).
    #[arg(long)]
    pub reserved_host_disk_gb: Option<i64>,
    /// `cpu_allocation_ratio` (default 4.0).
    #[arg(long)]
    pub cpu_allocation_ratio: Option<f64>,
    /// `ram_allocation_ratio` (default 1.0).
    #[arg(long)]
    pub ram_allocation_ratio: Option<f64>,
    /// `disk_allocation_ratio` (default 1.0).
    #[arg(long)]
    pub disk_allocation_ratio: Option<f64>,
}

impl AgentArgs {
    pub fn config(&self, host: String, driver: berth_compute::DriverSpec) -> berth_compute::AgentConfig {
        let mut c = berth_compute::AgentConfig::new(host, driver);
        if self.availability_zone.is_some() {
            c.availability_zone = self.availability_zone.clone();
        }
        if let Some(v) = self.reserved_host_cpus {
            c.reserved_host_cpus = v;
        }
        if let Some(v) = self.reserved_host_memory_mb {
            c.reserved_host_memory_mb = v;
        }
        if let Some(v) = self.reserved_host_disk_gb {
            c.reserved_host_disk_gb = v;
        }
        if let Some(v) = self.cpu_allocation_ratio {
            c.cpu_allocation_ratio = v;
        }
        if let Some(v) = self.ram_allocation_ratio {
            c.ram_allocation_ratio = v;
        }
        if let Some(v) = self.disk_allocation_ratio {
            c.disk_allocation_ratio = v;
        }
        c
    }
}
