//! `berth chaos`: the guarantee under fire. A seeded driver starts a cloud
//! as separate processes (API processes, agent processes with many
//! simulated hosts each), runs random server operations from several
//! clients while it SIGKILLs processes, cuts processes off Placement, forces
//! compute services down (and evacuates their servers) and makes the
//! simulated hypervisors fail; then it stops the faults, lets the cloud
//! settle and checks that Placement holds exactly what the servers hold.
//!
//! The checks at quiescence:
//! - no server in BUILD or a task state, no migration in progress (servers
//!   left in VERIFY_RESIZE are confirmed or reverted first);
//! - every server's allocations are exactly its flavor on its host's
//!   provider (nothing when it has no host or is offloaded);
//! - every provider's usage is the sum of the flavors of its servers, and
//!   every allocation on a provider belongs to a live server;
//! - `berth audit` finds nothing;
//! - after every server is deleted, every provider's usage is zero.
//!
//! Choices are drawn from generators seeded with `--seed`; timing is not
//! reproducible, so a seed replays the same plan, not the same run.

mod monkey;
mod settle;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde::Serialize;

use crate::bench::api::{self, Api};
use crate::bench::procs::Procs;
use crate::bench::CloudDbArgs;

/// Microversion of the driver's compute calls: the embedded flavor (2.47)
/// and a cold migration's target host (2.56).
pub const COMPUTE: &str = "compute 2.56";

#[derive(Args, Debug, Clone)]
pub struct ChaosArgs {
    /// Seed of every random choice (default: drawn and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds of operations under faults (then the cloud settles).
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// The cloud's database and API processes.
    #[command(flatten)]
    pub cloud: CloudDbArgs,
    /// Simulated compute hosts.
    #[arg(long, default_value_t = 4)]
    pub hosts: u32,
    /// `berth compute` processes the hosts are spread over.
    #[arg(long, default_value_t = 2)]
    pub agent_processes: u32,
    /// Size of each simulated host (small, so that claims compete).
    #[arg(long, default_value = "fake:8,8192,80")]
    pub driver: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Servers alive at most at once.
    #[arg(long, default_value_t = 16)]
    pub max_servers: usize,
    /// Probability that a hypervisor operation that can fail does.
    #[arg(long, default_value_t = 0.15)]
    pub driver_fail_rate: f64,
    /// Faults to inject: any of kill, outage, down, driver.
    #[arg(long, value_delimiter = ',', default_value = "kill,outage,down,driver")]
    pub faults: Vec<String>,
    /// Mean seconds between two faults.
    #[arg(long, default_value_t = 2.0)]
    pub fault_interval: f64,
    /// Seconds the cloud may take to settle once the faults stop.
    #[arg(long, default_value_t = 240)]
    pub settle_timeout: u64,
    /// Write the figures to this JSON file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep the data directory (and database) after the run.
    #[arg(long)]
    pub keep: bool,
    /// Before the checks, plant an allocation no server owns (the checks
    /// must then fail: a test of the checker itself).
    #[arg(long, hide = true)]
    pub plant_leak: bool,
}

/// Figures of a run.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub seed: u64,
    pub db: String,
    pub api_processes: u32,
    pub agent_processes: u32,
    pub hosts: u32,
    pub duration_s: f64,
    /// Requests by operation and outcome (accepted, refused (4xx),
    /// unavailable (503 or no answer)).
    pub operations: BTreeMap<String, BTreeMap<String, u64>>,
    /// Why requests were refused ("operation: status message" -> count).
    pub refusals: BTreeMap<String, u64>,
    /// 500s: a bug whatever the faults.
    pub server_errors: Vec<String>,
    pub kills: BTreeMap<String, u64>,
    pub placement_outages: u64,
    pub outage_s: f64,
    pub forced_down: u64,
    pub evacuations_requested: u64,
    pub servers_at_end: usize,
    pub servers_by_status: BTreeMap<String, usize>,
    pub settle_s: f64,
    /// The consumer of the allocation planted with `--plant-leak`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planted: Option<String>,
    pub problems: Vec<String>,
    pub passed: bool,
}

/// The cloud under test.
pub struct Cloud {
    pub procs: Procs,
    pub dir: PathBuf,
    pub faults: PathBuf,
    pub pg: Option<(String, String)>,
    pub db_url: Option<String>,
    pub urls: Vec<String>,
    /// Index in `procs` of the API processes and of the agent processes.
    pub apis: Vec<usize>,
    pub agents: Vec<usize>,
}

impl Cloud {
    /// Arguments that attach a tool (`berth audit`) to this cloud.
    pub fn attach_args(&self) -> Vec<String> {
        let mut a =
            vec!["--data-dir".to_string(), self.dir.display().to_string(), "--url".into(), self.urls[0].clone()];
        if let Some(db) = &self.db_url {
            a.extend(["--db".into(), db.clone()]);
        }
        a
    }

    async fn teardown(&mut self, keep: bool) {
        self.procs.stop().await;
        if let Some((server, name)) = self.pg.take() {
            if keep {
                eprintln!("kept database {server}/{name}");
            } else if let Err(e) =
                crate::bench::psql(&server, &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await
            {
                eprintln!("warning: could not drop database {name}: {e:#}");
            }
        }
        if keep {
            eprintln!("kept data directory {}", self.dir.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("warning: could not remove {}: {e}", self.dir.display());
        }
    }
}

pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    args.cloud.check()?;
    if args.agent_processes == 0 || args.hosts == 0 || args.clients == 0 {
        bail!("--agent-processes, --hosts and --clients must be positive");
    }
    if args.agent_processes > args.hosts {
        bail!("--agent-processes cannot exceed --hosts");
    }
    if !(0.0..=1.0).contains(&args.driver_fail_rate) {
        bail!("--driver-fail-rate is a probability (0..=1)");
    }
    for f in &args.faults {
        if !["kill", "outage", "down", "driver", "none"].contains(&f.as_str()) {
            bail!("--faults: unknown fault {f:?} (kill, outage, down, driver, none)");
        }
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    eprintln!("chaos: seed {seed} (replay the plan with --seed {seed})");
    let mut cloud = start(&args, seed).await?;
    let outcome = tokio::select! {
        r = drive(&args, seed, &mut cloud) => r,
        _ = crate::shutdown_signal() => Err(anyhow!("interrupted")),
    };
    let failed = !matches!(&outcome, Ok(r) if r.passed);
    if failed {
        let tails = cloud.procs.log_tails(25);
        if !tails.is_empty() {
            eprintln!("{tails}");
        }
    }
    // A failed run keeps its data for a post-mortem (not the checker's
    // own test, which fails on purpose).
    cloud.teardown(args.keep || (failed && !args.plant_leak)).await;
    let report = outcome?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("write {}", out.display()))?;
    }
    if !report.passed {
        bail!("chaos: the guarantee does not hold (problems above; seed {seed})");
    }
    eprintln!("chaos: passed (seed {seed})");
    Ok(())
}

async fn start(args: &ChaosArgs, seed: u64) -> anyhow::Result<Cloud> {
    let dir = std::env::temp_dir().join(format!("berth-chaos-{}", uuid::Uuid::new_v4().simple()));
    let faults = dir.join("faults");
    std::fs::create_dir_all(&faults).with_context(|| format!("create {}", faults.display()))?;
    let password = crate::secrets::generate_password();
    crate::secrets::write_private(&dir.join("admin-password"), &format!("{password}\n"))?;
    let (pg, db_url) = match args.cloud.create_database("berth_chaos").await? {
        Some((pg, url)) => (Some(pg), Some(url)),
        None => (None, None),
    };
    let mut cloud = Cloud {
        procs: Procs::default(),
        dir: dir.clone(),
        faults: faults.clone(),
        pg,
        db_url: db_url.clone(),
        urls: Vec::new(),
        apis: Vec::new(),
        agents: Vec::new(),
    };
    match start_processes(args, seed, &mut cloud).await {
        Ok(()) => Ok(cloud),
        Err(e) => {
            eprintln!("{}", cloud.procs.log_tails(25));
            cloud.teardown(true).await;
            Err(e)
        }
    }
}

async fn start_processes(args: &ChaosArgs, seed: u64, cloud: &mut Cloud) -> anyhow::Result<()> {
    let fault_dir = cloud.faults.display().to_string();
    let fault_args = |a: &mut Vec<String>| {
        a.extend(["--fault-dir".into(), fault_dir.clone(), "--fault-seed".into(), seed.to_string()]);
    };
    let client = api::client()?;
    for i in 0..args.cloud.api_processes as usize {
        let listen = format!("127.0.0.1:{}", crate::bench::free_port()?);
        let mut a: Vec<String> = vec!["up".into(), "--data-dir".into(), cloud.dir.display().to_string()];
        a.extend(["--listen".into(), listen.clone(), "--computes".into(), "0".into()]);
        if let Some(db) = &cloud.db_url {
            // Every process of the cloud shares PostgreSQL's 100
            // connections: 3 API processes of 16 (+ listener and liveness
            // lock each), agent processes of 8.
            a.extend(["--db".into(), db.clone(), "--db-max-connections".into(), "16".into()]);
        }
        fault_args(&mut a);
        cloud.apis.push(cloud.procs.len());
        cloud.procs.spawn(&format!("api-{}", i + 1), &a, &cloud.dir.join(format!("api-{}.log", i + 1)))?;
        cloud.urls.push(format!("http://{listen}"));
        // The first process creates the schema and the admin.
        if i == 0 {
            wait_answering(cloud, &client, 0).await?;
        }
    }
    for i in 0..cloud.urls.len() {
        wait_answering(cloud, &client, i).await?;
    }
    let (n, k) = (args.hosts, args.agent_processes);
    for j in 0..k {
        let (from, to) = (1 + j * n / k, (j + 1) * n / k);
        let mut a: Vec<String> = vec!["compute".into()];
        a.extend(cloud.attach_args());
        // Each agent process talks to one API process for Placement and
        // tokens, as agents behind different load-balancer members would.
        let url_at = a.iter().position(|x| x == "--url").map(|p| p + 1);
        if let Some(p) = url_at {
            a[p] = cloud.urls[j as usize % cloud.urls.len()].clone();
        }
        a.extend(["--hosts".into(), format!("compute{from}..compute{to}"), "--driver".into(), args.driver.clone()]);
        a.extend(["--poll-interval-ms".into(), "200".into(), "--db-max-connections".into(), "8".into()]);
        fault_args(&mut a);
        cloud.agents.push(cloud.procs.len());
        cloud.procs.spawn(&format!("agents-{}", j + 1), &a, &cloud.dir.join(format!("agents-{}.log", j + 1)))?;
    }
    Ok(())
}

/// Wait until the `i`-th API process answers its version documents.
pub async fn wait_answering(cloud: &mut Cloud, client: &reqwest::Client, i: usize) -> anyhow::Result<()> {
    let t0 = Instant::now();
    for path in ["/identity/v3", "/image/versions", "/compute/v2.1", "/placement/"] {
        let url = format!("{}{path}", cloud.urls[i]);
        while !api::answers(client, &url).await {
            cloud.procs.check_alive_one(cloud.apis[i])?;
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("{url} does not answer after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// The run: log in, wait for the hosts, operations under faults, settle,
/// check.
async fn drive(args: &ChaosArgs, seed: u64, cloud: &mut Cloud) -> anyhow::Result<Report> {
    let client = api::client()?;
    let password = crate::secrets::read_private(&cloud.dir.join("admin-password"))?
        .ok_or_else(|| anyhow!("the admin password file is missing"))?;
    let api = Api::login(&client, &cloud.urls[0], password.trim()).await?.with_peers(&cloud.urls);
    let t0 = Instant::now();
    loop {
        let hv = api.get("/compute/v2.1/os-hypervisors", COMPUTE).await?;
        if hv["hypervisors"].as_array().map_or(0, Vec::len) >= args.hosts as usize {
            break;
        }
        cloud.procs.check_alive()?;
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("the {} hosts did not register within 60 s", args.hosts);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let env = workload::Env::discover(&api).await?;
    // Quotas are not what this run is about: lift them for the project.
    let unlimited = serde_json::json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}});
    api.expect(
        reqwest::Method::PUT,
        &format!("/compute/v2.1/os-quota-sets/{}", api.project_id),
        COMPUTE,
        Some(&unlimited),
        reqwest::StatusCode::OK,
    )
    .await?;
    let mut report = Report {
        seed,
        db: crate::bench::db_name(args.cloud.db).into(),
        api_processes: args.cloud.api_processes,
        agent_processes: args.agent_processes,
        hosts: args.hosts,
        ..Default::default()
    };
    if args.faults.iter().any(|f| f == "driver") {
        std::fs::write(cloud.faults.join(crate::faults::DRIVER_FAIL_RATE), format!("{}\n", args.driver_fail_rate))?;
    }
    eprintln!("chaos: {} s of operations from {} clients under faults {:?}", args.duration, args.clients, args.faults);
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let stats = Arc::new(workload::Stats::default());
    let clients: Vec<_> = (0..args.clients)
        .map(|i| {
            let (api, env, stats) = (api.nth(i), env.clone(), stats.clone());
            let (seed, max) = (seed.wrapping_add(1 + i as u64), args.max_servers);
            tokio::spawn(async move { workload::client(api, env, stats, seed, max, deadline).await })
        })
        .collect();
    let t_ops = Instant::now();
    let monkey = monkey::run(args, seed, cloud, &api, &env, &stats, deadline).await;
    for c in clients {
        c.await.context("a client panicked")?;
    }
    report.duration_s = crate::bench::r2(t_ops.elapsed().as_secs_f64());
    let monkey = monkey?;
    report.kills = monkey.kills;
    report.placement_outages = monkey.outages;
    report.outage_s = crate::bench::r2(monkey.outage_s);
    report.forced_down = monkey.forced_down;
    report.evacuations_requested = monkey.evacuations;
    report.operations = stats.snapshot();
    report.server_errors = stats.server_errors();
    report.refusals = stats.refusals();

    eprintln!("chaos: faults off; waiting for the cloud to settle");
    let t_settle = Instant::now();
    let settled = settle::settle(args, seed, cloud, &api, &env, &mut report.planted).await?;
    report.settle_s = crate::bench::r2(t_settle.elapsed().as_secs_f64());
    report.servers_at_end = settled.servers;
    report.servers_by_status = settled.by_status;
    report.problems = settled.problems;
    for e in &report.server_errors {
        report.problems.push(format!("500 during the run: {e}"));
    }
    report.passed = report.problems.is_empty();
    Ok(report)
}
