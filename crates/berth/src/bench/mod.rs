//! `berth bench boot`: start a cloud as child processes of this binary (or
//! attach to a running one), boot M servers on N simulated hosts with C
//! concurrent clients, check that Placement's usages equal the flavors of the
//! live servers, delete everything, and measure what the idle cloud costs.
//! Figures go to a table on stdout and, with `--out`, to a JSON report.

pub mod api;
pub mod procs;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use api::{Api, COMPUTE, PLACEMENT};
use procs::Procs;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Boot and delete servers on simulated hosts: throughput, latency,
    /// readiness, Placement consistency and idle cost.
    Boot(BootArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// The database of a cloud that `berth bench boot` or `berth chaos` starts,
/// and how many `berth up` processes share it.
#[derive(Args, Debug, Clone)]
pub struct CloudDbArgs {
    /// Database of the started cloud.
    #[arg(long, value_enum, default_value_t = DbKind::Sqlite)]
    pub db: DbKind,
    /// PostgreSQL server for `--db postgres`: a fresh database is created
    /// on it (with psql) and dropped at the end.
    #[arg(long, default_value = "postgresql://postgres@127.0.0.1:5432")]
    pub postgres: String,
    /// `berth up` processes sharing the database (more than one needs
    /// `--db postgres`).
    #[arg(long, default_value_t = 1)]
    pub api_processes: u32,
}

impl CloudDbArgs {
    /// Refuse combinations that cannot run.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.api_processes == 0 {
            bail!("--api-processes must be at least 1");
        }
        if self.api_processes > 1 && self.db != DbKind::Postgres {
            bail!("--api-processes {} needs --db postgres (processes share one database)", self.api_processes);
        }
        Ok(())
    }

    /// For `--db postgres`, a fresh database named `{prefix}_{uuid}`:
    /// `(server, name)` to drop at the end, and its URL.
    pub async fn create_database(&self, prefix: &str) -> anyhow::Result<Option<((String, String), String)>> {
        match self.db {
            DbKind::Sqlite => Ok(None),
            DbKind::Postgres => {
                let server = self.postgres.trim_end_matches('/').to_string();
                let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
                psql(&server, &format!("CREATE DATABASE \"{name}\"")).await?;
                let url = format!("{server}/{name}");
                Ok(Some(((server, name), url)))
            }
        }
    }
}

#[derive(Args, Debug)]
pub struct BootArgs {
    /// Simulated compute hosts of the started cloud.
    #[arg(long, default_value_t = 50)]
    pub hosts: u32,
    /// Servers to boot.
    #[arg(long, default_value_t = 200)]
    pub servers: usize,
    /// Concurrent clients creating (and later deleting) servers.
    #[arg(long, default_value_t = 20)]
    pub concurrency: usize,
    /// The started cloud's database and API processes (with more than
    /// one, the hosts run in a separate `berth compute --hosts` and the
    /// clients' POSTs and DELETEs go round robin to the processes).
    #[command(flatten)]
    pub cloud: CloudDbArgs,
    /// Benchmark the running cloud at this base URL instead of starting one.
    #[arg(long, conflicts_with_all = ["api_processes", "keep"])]
    pub url: Option<String>,
    /// The admin password of the `--url` cloud (file, mode 0600).
    #[arg(long, requires = "url")]
    pub password_file: Option<PathBuf>,
    /// Flavor of the servers.
    #[arg(long, default_value = "m1.tiny")]
    pub flavor: String,
    /// Image of the servers.
    #[arg(long, default_value = crate::up::DEFAULT_IMAGE_NAME)]
    pub image: String,
    /// Write every figure and the parameters to this JSON file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep the data directory (and the PostgreSQL database) after the run.
    #[arg(long)]
    pub keep: bool,
    /// Interval of the state polls in ms; times to ACTIVE are measured to
    /// this resolution.
    #[arg(long, default_value_t = 200)]
    pub poll_ms: u64,
    /// Window over which the idle CPU of the cloud is sampled, in seconds.
    #[arg(long, default_value_t = 10)]
    pub idle_seconds: u64,
    /// The run fails if no server changes state for this many seconds.
    #[arg(long, default_value_t = 180)]
    pub stall_seconds: u64,
    /// The whole run fails after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Boot(a) => boot(a).await,
    }
}

// ------------------------------------------------------------------ report

#[derive(Serialize, Default, Clone, Copy)]
struct Dist {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Dist {
    /// Nearest-rank percentiles of `v` (milliseconds, rounded to 0.01).
    fn of(mut v: Vec<f64>) -> Dist {
        if v.is_empty() {
            return Dist::default();
        }
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Dist { p50: r2(rank(50.0)), p99: r2(rank(99.0)), max: r2(v[v.len() - 1]) }
    }
}

pub fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub type Resources = BTreeMap<String, i64>;

#[derive(Serialize)]
struct Parameters {
    hosts: u32,
    servers: usize,
    concurrency: usize,
    db: Option<DbKind>,
    api_processes: Option<u32>,
    url: Option<String>,
    flavor: String,
    image: String,
    poll_ms: u64,
    git_commit: Option<String>,
    started_at: String,
}

#[derive(Serialize)]
struct Readiness {
    /// From the first spawn until every API of every process answers.
    apis_s: f64,
    /// From the first spawn until all hypervisors are listed and all
    /// resource providers exist.
    hosts_s: f64,
}

#[derive(Serialize)]
struct Boot {
    posted: usize,
    post_errors: usize,
    first_post_errors: Vec<String>,
    active: usize,
    error: usize,
    /// First POST to last ACTIVE.
    wall_s: f64,
    servers_per_s: f64,
    post_ms: Dist,
    to_active_ms: Dist,
}

#[derive(Serialize)]
struct UsageCheck {
    providers: usize,
    live_servers: usize,
    passed: bool,
    mismatches: Vec<String>,
    total_usage: Resources,
    expected_total: Resources,
}

#[derive(Serialize)]
struct PlacementCheck {
    usage: UsageCheck,
    /// Every ACTIVE server of the run holds exactly its flavor on the
    /// provider of its host.
    allocations_passed: bool,
    allocation_mismatches: Vec<String>,
    /// Our servers' share: ACTIVE x flavor.
    expected_ours: Resources,
}

#[derive(Serialize)]
struct Delete {
    deleted: usize,
    delete_errors: usize,
    /// First DELETE until none of the servers is listed.
    wall_s: f64,
    servers_per_s: f64,
    delete_ms: Dist,
    /// From the empty list until Placement's usages matched again.
    usage_settled_s: f64,
    usage: UsageCheck,
}

#[derive(Serialize)]
struct Idle {
    processes: usize,
    window_s: u64,
    cpu_percent_of_core: Option<f64>,
    rss_mib_after_start: Option<f64>,
    rss_mib: Option<f64>,
    /// Sum of the processes' VmHWM.
    peak_rss_mib: Option<f64>,
}

/// The database writer of the API process the benchmark talks to (its
/// `/metrics`), over the boot and the delete phase: transactions per
/// server and the share of the phase the writer was held (on SQLite the
/// one writer of the process; near 1, writes limit throughput).
#[derive(Serialize, Default)]
struct WriterUse {
    boot_transactions_per_server: Option<f64>,
    boot_held_share: Option<f64>,
    delete_transactions_per_server: Option<f64>,
    delete_held_share: Option<f64>,
}

/// `berth_db_write_transactions_total` and `..._held_seconds_total`.
async fn writer_reading(api: &Api) -> Option<(f64, f64)> {
    let text = api.get_text("/metrics").await.ok()?;
    let value = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')).and_then(|v| v.trim().parse::<f64>().ok())
    };
    Some((value("berth_db_write_transactions_total")?, value("berth_db_write_held_seconds_total")?))
}

/// Transactions per server and held share between two readings.
fn writer_use(a: Option<(f64, f64)>, b: Option<(f64, f64)>, servers: usize, wall_s: f64) -> (Option<f64>, Option<f64>) {
    match (a, b) {
        (Some((t0, h0)), Some((t1, h1))) if servers > 0 && wall_s > 0.0 => {
            (Some(r2((t1 - t0) / servers as f64)), Some(r2((h1 - h0) / wall_s)))
        }
        _ => (None, None),
    }
}

#[derive(Serialize)]
struct Report {
    parameters: Parameters,
    readiness: Option<Readiness>,
    boot: Boot,
    writer: WriterUse,
    placement: PlacementCheck,
    delete: Delete,
    idle: Idle,
    passed: bool,
}

// ------------------------------------------------------------------ run

/// What the run started and must clean up.
#[derive(Default)]
struct Cloud {
    procs: Procs,
    dir: Option<PathBuf>,
    /// (server URL, database name) of a database created for the run.
    pg: Option<(String, String)>,
    rss_after_start: Option<u64>,
}

impl Cloud {
    async fn teardown(&mut self, keep: bool) {
        self.procs.stop().await;
        if let Some((server, name)) = self.pg.take() {
            if keep {
                eprintln!("kept database {server}/{name}");
            } else if let Err(e) = psql(&server, &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await {
                eprintln!("warning: could not drop database {name}: {e:#}");
            }
        }
        if let Some(dir) = self.dir.take() {
            if keep {
                eprintln!("kept data directory {}", dir.display());
            } else if let Err(e) = std::fs::remove_dir_all(&dir) {
                eprintln!("warning: could not remove {}: {e}", dir.display());
            }
        }
    }
}

async fn boot(args: BootArgs) -> anyhow::Result<()> {
    if args.hosts == 0 || args.servers == 0 || args.concurrency == 0 || args.poll_ms == 0 {
        bail!("--hosts, --servers, --concurrency and --poll-ms must be positive");
    }
    args.cloud.check()?;
    if args.url.is_some() && args.password_file.is_none() {
        bail!("--url needs --password-file (the cloud's admin password)");
    }
    let mut cloud = Cloud::default();
    let outcome = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(args.timeout), measure(&args, &mut cloud)) => {
            r.unwrap_or_else(|_| Err(anyhow!("the benchmark did not finish within {} s (--timeout)", args.timeout)))
        }
        _ = crate::shutdown_signal() => Err(anyhow!("interrupted")),
    };
    if outcome.is_err() {
        let tails = cloud.procs.log_tails(15);
        if !tails.is_empty() {
            eprintln!("{tails}");
        }
    }
    cloud.teardown(args.keep).await;
    let report = outcome?;
    print_table(&report);
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("write {}", out.display()))?;
    }
    if !report.passed {
        bail!("Placement does not match the servers (see the mismatches above)");
    }
    Ok(())
}

async fn measure(args: &BootArgs, cloud: &mut Cloud) -> anyhow::Result<Report> {
    let started_at = berth_time::iso_seconds_z(berth_time::now());
    let client = api::client()?;
    let (api, readiness, hosts) = match &args.url {
        Some(url) => {
            let file = args.password_file.as_ref().context("--url needs --password-file")?;
            let password =
                crate::secrets::read_private(file)?.ok_or_else(|| anyhow!("{} does not exist", file.display()))?;
            let api = Api::login(&client, url.trim_end_matches('/'), &password).await?;
            let hosts =
                api.get("/compute/v2.1/os-hypervisors", COMPUTE).await?["hypervisors"].as_array().map_or(0, Vec::len);
            (api, None, hosts as u32)
        }
        None => {
            let (api, r) = start_cloud(args, cloud, &client).await?;
            (api, Some(r), args.hosts)
        }
    };
    cloud.rss_after_start = procs::memory_kib(&cloud.procs.pids()).map(|(rss, _)| rss);

    // The flavor, the image, and room for M servers.
    let flavors = api.get("/compute/v2.1/flavors/detail", COMPUTE).await?;
    let flavor = flavors["flavors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == args.flavor.as_str())
        .ok_or_else(|| anyhow!("flavor {} not found", args.flavor))?;
    let flavor_id = flavor["id"].as_str().context("flavor without id")?.to_string();
    let flavor_res = flavor_resources(flavor);
    let query = reqwest::Url::parse_with_params("http://x/", [("name", args.image.as_str())])?;
    let images = api.get(&format!("/image/v2/images?{}", query.query().unwrap_or_default()), "").await?;
    let image_id =
        images["images"][0]["id"].as_str().ok_or_else(|| anyhow!("image {} not found", args.image))?.to_string();
    api.expect(
        Method::PUT,
        &format!("/compute/v2.1/os-quota-sets/{}", api.project_id),
        COMPUTE,
        Some(&json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}})),
        StatusCode::OK,
    )
    .await?;

    let poll = Duration::from_millis(args.poll_ms);
    let stall = Duration::from_secs(args.stall_seconds);
    let before_boot = writer_reading(&api).await;
    let (boot, ours) = boot_servers(args, &api, &flavor_id, &image_id, poll, stall).await?;
    let after_boot = writer_reading(&api).await;
    let mut writer = WriterUse::default();
    (writer.boot_transactions_per_server, writer.boot_held_share) =
        writer_use(before_boot, after_boot, boot.posted, boot.wall_s);
    eprintln!(
        "booted {} of {} servers ({} ACTIVE, {} ERROR) in {:.2} s; checking Placement",
        boot.posted, args.servers, boot.active, boot.error, boot.wall_s
    );

    let usage = check_usage(&api, args.concurrency).await?;
    let active_ids: Vec<String> =
        ours.iter().filter(|(_, s)| s.as_str() == "ACTIVE").map(|(id, _)| id.clone()).collect();
    let allocation_mismatches = check_allocations(&api, &active_ids, &flavor_res, args.concurrency).await?;
    let expected_ours: Resources = flavor_res.iter().map(|(k, v)| (k.clone(), v * boot.active as i64)).collect();
    let mut usage_passed = usage.passed;
    let mut mismatches = usage.mismatches.clone();
    // On a cloud of its own the total is exactly ours (an ERROR server may
    // rightly keep a claim on its host; the per-provider check covers it).
    if args.url.is_none() && boot.error == 0 && usage.total_usage != expected_ours {
        usage_passed = false;
        mismatches.push(format!(
            "total usage {:?} is not {} ACTIVE x {} = {:?}",
            usage.total_usage, boot.active, args.flavor, expected_ours
        ));
    }
    let placement = PlacementCheck {
        usage: UsageCheck { passed: usage_passed, mismatches, ..usage },
        allocations_passed: allocation_mismatches.is_empty(),
        allocation_mismatches,
        expected_ours,
    };

    let ids: Vec<String> = ours.into_iter().map(|(id, _)| id).collect();
    let before_delete = writer_reading(&api).await;
    let delete = delete_servers(args, &api, &ids, poll, stall).await?;
    (writer.delete_transactions_per_server, writer.delete_held_share) =
        writer_use(before_delete, writer_reading(&api).await, delete.deleted, delete.wall_s);

    let pids = cloud.procs.pids();
    let idle = if pids.is_empty() {
        Idle {
            processes: 0,
            window_s: 0,
            cpu_percent_of_core: None,
            rss_mib_after_start: None,
            rss_mib: None,
            peak_rss_mib: None,
        }
    } else {
        eprintln!("sampling idle CPU for {} s", args.idle_seconds);
        let cpu = procs::cpu_percent(&pids, Duration::from_secs(args.idle_seconds)).await;
        let mem = procs::memory_kib(&pids);
        let mib = |kib: u64| r2(kib as f64 / 1024.0);
        Idle {
            processes: pids.len(),
            window_s: args.idle_seconds,
            cpu_percent_of_core: cpu.map(r2),
            rss_mib_after_start: cloud.rss_after_start.map(mib),
            rss_mib: mem.map(|m| mib(m.0)),
            peak_rss_mib: mem.map(|m| mib(m.1)),
        }
    };

    let passed = placement.usage.passed && placement.allocations_passed && delete.usage.passed;
    Ok(Report {
        parameters: Parameters {
            hosts,
            servers: args.servers,
            concurrency: args.concurrency,
            db: args.url.is_none().then_some(args.cloud.db),
            api_processes: args.url.is_none().then_some(args.cloud.api_processes),
            url: args.url.clone(),
            flavor: args.flavor.clone(),
            image: args.image.clone(),
            poll_ms: args.poll_ms,
            git_commit: git_commit(),
            started_at,
        },
        readiness,
        boot,
        writer,
        placement,
        delete,
        idle,
        passed,
    })
}

// ------------------------------------------------------------------ cloud

pub fn db_name(db: DbKind) -> &'static str {
    match db {
        DbKind::Sqlite => "sqlite",
        DbKind::Postgres => "postgres",
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub async fn psql(server: &str, sql: &str) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("psql")
        .arg(format!("{}/postgres", server.trim_end_matches('/')))
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .await
        .context("run psql (needed for --db postgres)")?;
    if !out.status.success() {
        bail!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// The version documents that must answer on every API process.
const VERSION_PATHS: [&str; 4] = ["/identity/v3", "/image/versions", "/compute/v2.1", "/placement/"];

/// Start the cloud, wait for its APIs and hosts, and log in.
async fn start_cloud(args: &BootArgs, cloud: &mut Cloud, client: &reqwest::Client) -> anyhow::Result<(Api, Readiness)> {
    let dir = std::env::temp_dir().join(format!("berth-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    cloud.dir = Some(dir.clone());
    // Every process reads the same admin password; writing it first means
    // no process generates its own.
    let password = crate::secrets::generate_password();
    crate::secrets::write_private(&dir.join("admin-password"), &format!("{password}\n"))?;
    let db = match args.cloud.create_database("berth_bench").await? {
        Some((pg, url)) => {
            cloud.pg = Some(pg);
            Some(url)
        }
        None => None,
    };
    let k = args.cloud.api_processes as usize;
    let bases: Vec<String> =
        (0..k).map(|_| free_port().map(|p| format!("127.0.0.1:{p}"))).collect::<anyhow::Result<_>>()?;
    let up_args = |listen: &str, computes: u32| {
        let mut a: Vec<String> = ["up", "--data-dir"].map(String::from).into();
        a.push(dir.display().to_string());
        a.extend(["--listen".into(), listen.to_string(), "--computes".into(), computes.to_string()]);
        if let Some(db) = &db {
            a.extend(["--db".into(), db.clone()]);
        }
        a
    };
    let t0 = Instant::now();
    eprintln!(
        "starting the cloud: {} host(s), {}, {k} API process(es) in {}",
        args.hosts,
        db_name(args.cloud.db),
        dir.display()
    );
    cloud.procs.spawn("berth up #1", &up_args(&bases[0], if k > 1 { 0 } else { args.hosts }), &dir.join("up-1.log"))?;
    let urls: Vec<String> = bases.iter().map(|b| format!("http://{b}")).collect();
    if k > 1 {
        // The first process creates the schema and the admin; the others
        // and the agents start on a ready database.
        wait_answering(cloud, client, &urls[..1]).await?;
        for (i, b) in bases.iter().enumerate().skip(1) {
            cloud.procs.spawn(
                &format!("berth up #{}", i + 1),
                &up_args(b, 0),
                &dir.join(format!("up-{}.log", i + 1)),
            )?;
        }
        let agent_args: Vec<String> = vec![
            "compute".into(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--db".into(),
            db.clone().unwrap_or_default(),
            "--url".into(),
            urls[0].clone(),
            "--hosts".into(),
            format!("compute1..compute{}", args.hosts),
        ];
        cloud.procs.spawn("berth compute", &agent_args, &dir.join("compute.log"))?;
    }
    wait_answering(cloud, client, &urls).await?;
    let apis_s = t0.elapsed().as_secs_f64();
    let api = Api::login(client, &urls[0], &password).await?.with_peers(&urls);
    let n = args.hosts as usize;
    // Errors while the hosts register (a busy database) count as not ready
    // yet; the overall --timeout bounds the wait.
    let count = |v: anyhow::Result<Value>, key: &str| v.map(|v| v[key].as_array().map_or(0, Vec::len)).unwrap_or(0);
    loop {
        cloud.procs.check_alive()?;
        let hv = count(api.get("/compute/v2.1/os-hypervisors", COMPUTE).await, "hypervisors");
        let rps = count(api.get("/placement/resource_providers", PLACEMENT).await, "resource_providers");
        if hv >= n && rps >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hosts_s = t0.elapsed().as_secs_f64();
    eprintln!("cloud ready: APIs after {apis_s:.2} s, {n} hosts after {hosts_s:.2} s");
    Ok((api, Readiness { apis_s: r2(apis_s), hosts_s: r2(hosts_s) }))
}

/// Wait until every version document answers on every base URL.
async fn wait_answering(cloud: &mut Cloud, client: &reqwest::Client, urls: &[String]) -> anyhow::Result<()> {
    let mut pending: Vec<String> =
        urls.iter().flat_map(|u| VERSION_PATHS.iter().map(move |p| format!("{u}{p}"))).collect();
    while !pending.is_empty() {
        cloud.procs.check_alive()?;
        let mut still = Vec::new();
        for u in pending {
            if !api::answers(client, &u).await {
                still.push(u);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

fn git_commit() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "HEAD"]).filter(|h| !h.is_empty())?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}+dirty") } else { head })
}

// ------------------------------------------------------------------ flavors

/// The resources a flavor (a flavor document, or a server's embedded
/// flavor) claims in Placement, as compute's scheduler computes them.
pub fn flavor_resources(f: &Value) -> Resources {
    let int = |v: &Value| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or(0);
    let specs = f["extra_specs"].as_object();
    let dedicated = specs.and_then(|s| s.get("hw:cpu_policy")).is_some_and(|v| v == "dedicated");
    let ephemeral =
        if f.get("ephemeral").is_some() { int(&f["ephemeral"]) } else { int(&f["OS-FLV-EXT-DATA:ephemeral"]) };
    let swap_gb = (int(&f["swap"]) + 1023) / 1024;
    let mut r = Resources::new();
    r.insert(if dedicated { "PCPU" } else { "VCPU" }.into(), int(&f["vcpus"]));
    r.insert("MEMORY_MB".into(), int(&f["ram"]));
    r.insert("DISK_GB".into(), int(&f["disk"]) + ephemeral + swap_gb);
    for (k, v) in specs.into_iter().flatten() {
        if let Some(rc) = k.strip_prefix("resources:") {
            if let Some(n) = v.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
                r.insert(rc.to_string(), n);
            }
        }
    }
    r.retain(|_, v| *v > 0);
    r
}

pub fn add(into: &mut Resources, r: &Resources) {
    for (k, v) in r {
        *into.entry(k.clone()).or_default() += v;
    }
}

pub fn nonzero(v: &Value) -> Resources {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_i64().filter(|n| *n != 0).map(|n| (k.clone(), n)))
        .collect()
}

// ------------------------------------------------------------------ boot

/// What the watcher and the clients share while servers boot.
#[derive(Default)]
struct BootState {
    /// Server id → when its POST was sent.
    posted: HashMap<String, Instant>,
    /// Server id → when it was first seen ACTIVE or ERROR, and which.
    finals: HashMap<String, (Instant, String)>,
    posts_done: bool,
}

/// Run `f(i)` for i in 0..n on `c` concurrent tasks; the results in order.
async fn on_clients<T, F, Fut>(n: usize, c: usize, f: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..c.min(n).max(1) {
        let (f, next) = (f.clone(), next.clone());
        set.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return out;
                }
                out.push((i, f(i).await));
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        all.extend(r.context("a client task failed")?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

/// Create the servers and watch them until each is ACTIVE or ERROR. Returns
/// the figures and (id, final status) of every created server.
async fn boot_servers(
    args: &BootArgs,
    api: &Api,
    flavor_id: &str,
    image_id: &str,
    poll: Duration,
    stall: Duration,
) -> anyhow::Result<(Boot, Vec<(String, String)>)> {
    let state = Arc::new(Mutex::new(BootState::default()));
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let since = berth_time::now() - 5_000_000;
    let mut watcher = tokio::task::JoinSet::new();
    watcher.spawn(watch_boot(api.clone(), state.clone(), since, poll, stall));
    eprintln!("booting {} servers with {} clients", args.servers, args.concurrency);
    let t0 = Instant::now();
    let results = {
        let (api, state, flavor_id, image_id) =
            (api.clone(), state.clone(), flavor_id.to_string(), image_id.to_string());
        on_clients(args.servers, args.concurrency, move |i| {
            let (api, state) = (api.nth(i), state.clone());
            let body = json!({"server": {"name": format!("bench-{tag}-{i}"), "flavorRef": flavor_id,
                "imageRef": image_id, "networks": "none"}});
            async move {
                let t = Instant::now();
                let r = api.call(Method::POST, "/compute/v2.1/servers", COMPUTE, Some(&body)).await;
                let took = t.elapsed();
                match r {
                    Ok((StatusCode::ACCEPTED, v)) => match v["server"]["id"].as_str() {
                        Some(id) => {
                            state.lock().unwrap_or_else(|e| e.into_inner()).posted.insert(id.to_string(), t);
                            Ok(took)
                        }
                        None => Err(format!("202 without a server id: {v}")),
                    },
                    Ok((s, v)) => Err(format!("{s}: {v}")),
                    Err(e) => Err(format!("{e:#}")),
                }
            }
        })
        .await?
    };
    state.lock().unwrap_or_else(|e| e.into_inner()).posts_done = true;
    match watcher.join_next().await {
        Some(r) => r.context("the state watcher failed")??,
        None => bail!("the state watcher vanished"),
    }
    let mut post_ms = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(d) => post_ms.push(ms(d)),
            Err(e) => errors.push(e),
        }
    }
    let st = state.lock().unwrap_or_else(|e| e.into_inner());
    let mut to_active = Vec::new();
    let mut last_active = t0;
    let mut ours = Vec::new();
    let mut error = 0;
    for (id, sent) in &st.posted {
        let (at, status) = &st.finals[id];
        if status == "ACTIVE" {
            to_active.push(ms(at.saturating_duration_since(*sent)));
            last_active = last_active.max(*at);
        } else {
            error += 1;
        }
        ours.push((id.clone(), status.clone()));
    }
    let wall = last_active.duration_since(t0).as_secs_f64();
    let active = to_active.len();
    Ok((
        Boot {
            posted: st.posted.len(),
            post_errors: errors.len(),
            first_post_errors: errors.into_iter().take(5).collect(),
            active,
            error,
            wall_s: r2(wall),
            servers_per_s: if wall > 0.0 { r2(active as f64 / wall) } else { 0.0 },
            post_ms: Dist::of(post_ms),
            to_active_ms: Dist::of(to_active),
        },
        ours,
    ))
}

/// Poll `servers/detail?changes-since=T` (T trailing the newest change seen)
/// and note when each server first shows ACTIVE or ERROR. A full listing
/// after 5 quiet seconds catches anything the window missed. Fails when
/// nothing changes for `stall`.
async fn watch_boot(
    api: Api,
    state: Arc<Mutex<BootState>>,
    mut since: berth_time::Micros,
    poll: Duration,
    stall: Duration,
) -> anyhow::Result<()> {
    let mut last_change = Instant::now();
    let mut last_full = Instant::now();
    loop {
        // A full listing only when the window has shown nothing new for a
        // while (clock skew, a change that kept its timestamp).
        let quiet = Duration::from_secs(5);
        let full = last_change.elapsed() > quiet && last_full.elapsed() > quiet;
        let path = if full {
            last_full = Instant::now();
            "/compute/v2.1/servers/detail".to_string()
        } else {
            format!("/compute/v2.1/servers/detail?changes-since={}", berth_time::iso_seconds_z(since))
        };
        let v = api.get(&path, COMPUTE).await?;
        let seen = Instant::now();
        let mut newest = None;
        let (done, pending, posted) = {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            for s in v["servers"].as_array().into_iter().flatten() {
                if let Some(t) = s["updated"].as_str().and_then(|t| berth_time::parse_iso8601(t).ok()) {
                    newest = newest.max(Some(t));
                }
                let (Some(id), Some(status)) = (s["id"].as_str(), s["status"].as_str()) else { continue };
                if matches!(status, "ACTIVE" | "ERROR") && !st.finals.contains_key(id) {
                    st.finals.insert(id.to_string(), (seen, status.to_string()));
                    last_change = seen;
                }
            }
            let pending = st.posted.keys().filter(|id| !st.finals.contains_key(*id)).count();
            (st.posts_done && pending == 0, pending, st.posted.len())
        };
        if done {
            return Ok(());
        }
        if last_change.elapsed() > stall {
            bail!(
                "no server reached ACTIVE or ERROR for {} s: {pending} of {posted} created still pending",
                stall.as_secs()
            );
        }
        if let Some(n) = newest {
            since = since.max(n - 1_000_000);
        }
        tokio::time::sleep(poll).await;
    }
}

// ------------------------------------------------------------------ checks

/// Placement against compute: every provider's usages equal the summed
/// flavors of the live servers on its node (all projects).
async fn check_usage(api: &Api, concurrency: usize) -> anyhow::Result<UsageCheck> {
    let servers = api.get("/compute/v2.1/servers/detail?all_tenants=1", COMPUTE).await?;
    let mut expected: BTreeMap<String, Resources> = BTreeMap::new();
    let mut live = 0;
    for s in servers["servers"].as_array().into_iter().flatten() {
        if s["status"] == "DELETED" {
            continue;
        }
        live += 1;
        if let Some(node) = s["OS-EXT-SRV-ATTR:hypervisor_hostname"].as_str() {
            add(expected.entry(node.to_string()).or_default(), &flavor_resources(&s["flavor"]));
        }
    }
    let rps = api.get("/placement/resource_providers", PLACEMENT).await?;
    let rps: Vec<(String, String)> = rps["resource_providers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["uuid"].as_str()?.to_string(), p["name"].as_str()?.to_string())))
        .collect();
    let usages = {
        let (api, paths) = (
            api.clone(),
            Arc::new(rps.iter().map(|(u, _)| format!("/placement/resource_providers/{u}/usages")).collect::<Vec<_>>()),
        );
        on_clients(rps.len(), concurrency, move |i| {
            let (api, paths) = (api.clone(), paths.clone());
            async move { api.get(&paths[i], PLACEMENT).await }
        })
        .await?
    };
    let mut mismatches = Vec::new();
    let mut total = Resources::new();
    let mut expected_total = Resources::new();
    let mut names = HashSet::new();
    for ((_, name), u) in rps.iter().zip(usages) {
        let actual = nonzero(&u?["usages"]);
        let want = expected.get(name).cloned().unwrap_or_default();
        add(&mut total, &actual);
        add(&mut expected_total, &want);
        if actual != want {
            mismatches.push(format!("{name}: usages {actual:?}, flavors of its live servers {want:?}"));
        }
        names.insert(name.as_str());
    }
    for (node, want) in &expected {
        if !names.contains(node.as_str()) {
            mismatches.push(format!("{node}: servers {want:?} but no resource provider"));
            add(&mut expected_total, want);
        }
    }
    Ok(UsageCheck {
        providers: rps.len(),
        live_servers: live,
        passed: mismatches.is_empty(),
        mismatches,
        total_usage: total,
        expected_total,
    })
}

/// Every server in `ids` holds exactly `flavor` on the provider of its
/// node, and nothing elsewhere.
async fn check_allocations(
    api: &Api,
    ids: &[String],
    flavor: &Resources,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let rps = api.get("/placement/resource_providers", PLACEMENT).await?;
    let uuid_of: HashMap<String, String> = rps["resource_providers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["uuid"].as_str()?.to_string())))
        .collect();
    let servers = api.get("/compute/v2.1/servers/detail", COMPUTE).await?;
    let node_of: HashMap<&str, &str> = servers["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["id"].as_str()?, s["OS-EXT-SRV-ATTR:hypervisor_hostname"].as_str()?)))
        .collect();
    let ids = Arc::new(ids.to_vec());
    let answers = {
        let (api, ids) = (api.clone(), ids.clone());
        on_clients(ids.len(), concurrency, move |i| {
            let (api, ids) = (api.clone(), ids.clone());
            async move { api.get(&format!("/placement/allocations/{}", ids[i]), PLACEMENT).await }
        })
        .await?
    };
    let mut bad = Vec::new();
    for (id, allocs) in ids.iter().zip(answers) {
        let allocs = allocs?;
        let node = node_of.get(id.as_str()).copied().unwrap_or("");
        let want_rp = uuid_of.get(node).map(String::as_str).unwrap_or("?");
        let got: BTreeMap<String, Resources> = allocs["allocations"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(rp, a)| (rp.clone(), nonzero(&a["resources"])))
            .collect();
        let want = BTreeMap::from([(want_rp.to_string(), flavor.clone())]);
        if got != want {
            bad.push(format!("server {id} on {node:?}: allocations {got:?}, expected {want:?}"));
        }
    }
    Ok(bad)
}

// ------------------------------------------------------------------ delete

async fn delete_servers(
    args: &BootArgs,
    api: &Api,
    ids: &[String],
    poll: Duration,
    stall: Duration,
) -> anyhow::Result<Delete> {
    eprintln!("deleting {} servers with {} clients", ids.len(), args.concurrency);
    let t0 = Instant::now();
    let results = {
        let (api, ids) = (api.clone(), Arc::new(ids.to_vec()));
        on_clients(ids.len(), args.concurrency, move |i| {
            let (api, ids) = (api.nth(i), ids.clone());
            async move {
                let t = Instant::now();
                match api.call(Method::DELETE, &format!("/compute/v2.1/servers/{}", ids[i]), COMPUTE, None).await {
                    Ok((StatusCode::NO_CONTENT, _)) => Ok(t.elapsed()),
                    Ok((s, v)) => Err(format!("{s}: {v}")),
                    Err(e) => Err(format!("{e:#}")),
                }
            }
        })
        .await?
    };
    let mut delete_ms = Vec::new();
    let mut errors = 0;
    for r in results {
        match r {
            Ok(d) => delete_ms.push(ms(d)),
            Err(e) => {
                errors += 1;
                eprintln!("DELETE failed: {e}");
            }
        }
    }
    let ours: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut last = ours.len();
    let mut last_change = Instant::now();
    loop {
        let v = api.get("/compute/v2.1/servers", COMPUTE).await?;
        let left = v["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["id"].as_str().is_some_and(|id| ours.contains(id)))
            .count();
        if left == 0 {
            break;
        }
        if left < last {
            (last, last_change) = (left, Instant::now());
        } else if last_change.elapsed() > stall {
            bail!(
                "{left} of {} servers still listed {} s after their deletion stopped progressing \
                 ({errors} DELETE requests failed)",
                ids.len(),
                stall.as_secs()
            );
        }
        tokio::time::sleep(poll).await;
    }
    let wall = t0.elapsed().as_secs_f64();
    // Allocations may be given back after the server is gone; wait for
    // Placement to agree with compute again.
    let gone = Instant::now();
    let usage = loop {
        let u = check_usage(api, args.concurrency).await?;
        let mut u = u;
        if args.url.is_none() && !u.total_usage.is_empty() {
            u.passed = false;
            u.mismatches.push(format!("total usage {:?} after deleting every server", u.total_usage));
        }
        if u.passed || gone.elapsed() > Duration::from_secs(60) {
            break u;
        }
        tokio::time::sleep(poll).await;
    };
    Ok(Delete {
        deleted: ids.len(),
        delete_errors: errors,
        wall_s: r2(wall),
        servers_per_s: if wall > 0.0 { r2(ids.len() as f64 / wall) } else { 0.0 },
        delete_ms: Dist::of(delete_ms),
        usage_settled_s: r2(gone.elapsed().as_secs_f64()),
        usage,
    })
}

// ------------------------------------------------------------------ output

fn print_table(r: &Report) {
    let p = &r.parameters;
    let target = match (&p.url, p.db) {
        (Some(u), _) => format!("cloud at {u}"),
        (None, Some(db)) => format!("{}, {} API process(es)", db_name(db), p.api_processes.unwrap_or(1)),
        (None, None) => String::new(),
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    row("run", format!("{} hosts, {} servers, {} clients, {target}", p.hosts, p.servers, p.concurrency));
    row("commit", p.git_commit.clone().unwrap_or_else(|| "unknown".into()));
    if let Some(rd) = &r.readiness {
        row("APIs answer after", format!("{:.2} s", rd.apis_s));
        row("all hosts listed after", format!("{:.2} s", rd.hosts_s));
    }
    let b = &r.boot;
    row("servers ACTIVE / ERROR", format!("{} / {} (POST errors {})", b.active, b.error, b.post_errors));
    row("servers/s to ACTIVE", format!("{:.1} ({:.2} s first POST to last ACTIVE)", b.servers_per_s, b.wall_s));
    row("POST /servers p50 / p99", format!("{:.1} / {:.1} ms", b.post_ms.p50, b.post_ms.p99));
    row(
        "time to ACTIVE p50 / p99",
        format!("{:.0} / {:.0} ms (polled every {} ms)", b.to_active_ms.p50, b.to_active_ms.p99, p.poll_ms),
    );
    let wr = &r.writer;
    if let (Some(t), Some(h)) = (wr.boot_transactions_per_server, wr.boot_held_share) {
        row("writer in boot", format!("{t:.2} transactions per server, held {:.0} % of the time", h * 100.0));
    }
    if let (Some(t), Some(h)) = (wr.delete_transactions_per_server, wr.delete_held_share) {
        row("writer in delete", format!("{t:.2} transactions per server, held {:.0} % of the time", h * 100.0));
    }
    let pl = &r.placement;
    row(
        "Placement after boot",
        format!(
            "{} ({} providers, total {:?}; allocations {})",
            if pl.usage.passed { "usages match" } else { "MISMATCH" },
            pl.usage.providers,
            pl.usage.total_usage,
            if pl.allocations_passed { "match" } else { "MISMATCH" }
        ),
    );
    let d = &r.delete;
    row("delete servers/s", format!("{:.1} ({} in {:.2} s)", d.servers_per_s, d.deleted, d.wall_s));
    row("DELETE p50 / p99", format!("{:.1} / {:.1} ms", d.delete_ms.p50, d.delete_ms.p99));
    row(
        "Placement after delete",
        format!(
            "{} after {:.2} s (total {:?})",
            if d.usage.passed { "usages match" } else { "MISMATCH" },
            d.usage_settled_s,
            d.usage.total_usage
        ),
    );
    let i = &r.idle;
    if let Some(cpu) = i.cpu_percent_of_core {
        row("idle CPU", format!("{cpu:.1} % of one core over {} s ({} processes)", i.window_s, i.processes));
    }
    if let (Some(rss), Some(peak)) = (i.rss_mib, i.peak_rss_mib) {
        row(
            "RSS after start / after run / peak",
            format!("{:.0} / {rss:.0} / {peak:.0} MiB", i.rss_mib_after_start.unwrap_or(0.0)),
        );
    }
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("berth bench boot");
    for (k, v) in &rows {
        println!("  {k:<w$}  {v}");
    }
    for m in pl.usage.mismatches.iter().chain(&pl.allocation_mismatches).chain(&d.usage.mismatches).take(20) {
        println!("  mismatch: {m}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = Dist::of((1..=100).map(f64::from).collect());
        assert_eq!((d.p50, d.p99, d.max), (50.0, 99.0, 100.0));
        let one = Dist::of(vec![7.0]);
        assert_eq!((one.p50, one.p99, one.max), (7.0, 7.0, 7.0));
        assert_eq!(Dist::of(Vec::new()).max, 0.0);
    }

    #[test]
    fn flavor_resources_follow_the_scheduler() {
        let embedded = json!({"vcpus": 2, "ram": 2048, "disk": 20, "ephemeral": 1, "swap": 1025});
        assert_eq!(
            flavor_resources(&embedded),
            Resources::from([("DISK_GB".into(), 23), ("MEMORY_MB".into(), 2048), ("VCPU".into(), 2)])
        );
        let doc = json!({"vcpus": 1, "ram": 512, "disk": 1, "OS-FLV-EXT-DATA:ephemeral": 0, "swap": "",
            "extra_specs": {"hw:cpu_policy": "dedicated", "resources:CUSTOM_X": "3", "resources:DISK_GB": "0"}});
        assert_eq!(
            flavor_resources(&doc),
            Resources::from([("CUSTOM_X".into(), 3), ("MEMORY_MB".into(), 512), ("PCPU".into(), 1)])
        );
    }
}
