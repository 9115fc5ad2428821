//! The end of a chaos run: faults off, every process up, the cloud left to
//! finish (or roll back) what it was doing, then the checks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

use super::monkey::set_forced_down;
use super::workload::{list_servers, Env, Server, Stats};
use super::{ChaosArgs, Cloud, COMPUTE};
use crate::bench::api::{Api, PLACEMENT};
use crate::bench::{add, flavor_resources, nonzero, Resources};
use crate::faults::{DRIVER_FAIL_RATE, PLACEMENT_DOWN};

/// Migration statuses of a move still under way (`finished`: a resize or
/// cold migration waiting for confirm or revert; `done`: an evacuation
/// waiting for its source host to clean up).
const IN_PROGRESS: [&str; 8] =
    ["queued", "pre-migrating", "migrating", "post-migrating", "preparing", "running", "accepted", "done"];

pub struct Settled {
    pub servers: usize,
    pub by_status: BTreeMap<String, usize>,
    pub problems: Vec<String>,
}

pub async fn settle(
    args: &ChaosArgs,
    seed: u64,
    cloud: &mut Cloud,
    api: &Api,
    env: &Env,
    planted: &mut Option<String>,
) -> anyhow::Result<Settled> {
    let _ = env;
    let mut problems = Vec::new();
    let _ = std::fs::remove_file(cloud.faults.join(PLACEMENT_DOWN));
    let _ = std::fs::remove_file(cloud.faults.join(DRIVER_FAIL_RATE));
    // A process that died by itself (not killed by the monkey) is a
    // finding; it is started again so that the checks can run.
    if let Err(e) = cloud.procs.check_alive() {
        problems.push(format!("a process died by itself: {e:#}"));
        cloud.procs.restart_dead()?;
    }
    for h in 1..=args.hosts {
        let host = format!("compute{h}");
        let mut ok = false;
        for _ in 0..50 {
            if set_forced_down(api, &host, false).await.is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !ok {
            problems.push(format!("cannot bring the service of {host} up"));
        }
    }

    let mut rng = StdRng::seed_from_u64(seed ^ 0x7365_7474_6c65);
    let stats = Stats::default();
    let deadline = Instant::now() + Duration::from_secs(args.settle_timeout);
    let mut quiet = 0;
    let mut busy_report = Vec::new();
    while quiet < 3 {
        if Instant::now() > deadline {
            problems.push(format!("not settled after {} s: {}", args.settle_timeout, busy_report.join("; ")));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (servers, migrations) = match (list_servers(api).await, migrations(api).await) {
            (Ok(s), Ok(m)) => (s, m),
            _ => {
                quiet = 0;
                continue;
            }
        };
        busy_report = busy(&servers, &migrations);
        match outbox_pending(api).await {
            Ok(0) => {}
            Ok(n) => busy_report.push(format!("{n} Placement operations in the outbox")),
            Err(e) => busy_report.push(format!("outbox backlog unknown: {e:#}")),
        }
        if !busy_report.is_empty() {
            quiet = 0;
            continue;
        }
        let verify: Vec<&Server> = servers.iter().filter(|s| s.status == "VERIFY_RESIZE").collect();
        if !verify.is_empty() {
            quiet = 0;
            for s in verify {
                let body =
                    if rng.random_bool(0.5) { json!({"confirmResize": null}) } else { json!({"revertResize": null}) };
                super::workload::action(api, &stats, "settle", &s.id, body).await;
            }
            continue;
        }
        quiet += 1;
    }
    for e in stats.server_errors() {
        problems.push(format!("500 while settling: {e}"));
    }

    if args.plant_leak {
        *planted = Some(plant_leak(api).await?);
    }
    let servers = list_servers(api).await?;
    let mut by_status = BTreeMap::new();
    for s in &servers {
        *by_status.entry(s.status.clone()).or_default() += 1;
    }
    problems.extend(check_allocations(api, &servers).await?);
    problems.extend(audit(cloud).await);

    // Last: delete everything; every provider must come back to zero.
    for s in &servers {
        let _ = api.call(Method::DELETE, &format!("/compute/v2.1/servers/{}", s.id), COMPUTE, None).await;
    }
    let t0 = Instant::now();
    loop {
        let left = list_servers(api).await.map(|l| l.len()).unwrap_or(usize::MAX);
        if left == 0 {
            break;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            problems.push(format!("{left} servers not gone 60 s after their delete"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    problems.extend(check_allocations(api, &[]).await?);
    Ok(Settled { servers: servers.len(), by_status, problems })
}

/// `berth_outbox_pending` of `/metrics`: Placement operations still to
/// be retried (shared by every process of the cloud).
async fn outbox_pending(api: &Api) -> anyhow::Result<u64> {
    let text = api.get_text("/metrics").await?;
    text.lines()
        .find_map(|l| l.strip_prefix("berth_outbox_pending "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no berth_outbox_pending in /metrics"))
}

/// An allocation on the first provider for a consumer that is no server.
async fn plant_leak(api: &Api) -> anyhow::Result<String> {
    let rps = api.get("/placement/resource_providers", PLACEMENT).await?;
    let rp = rps["resource_providers"][0]["uuid"].as_str().ok_or_else(|| anyhow::anyhow!("no provider"))?;
    let consumer = uuid::Uuid::new_v4().to_string();
    let body = json!({"allocations": {rp: {"resources": {"VCPU": 1, "MEMORY_MB": 64}}},
        "project_id": api.project_id, "user_id": api.project_id, "consumer_generation": null, "consumer_type": "INSTANCE"});
    api.expect(
        Method::PUT,
        &format!("/placement/allocations/{consumer}"),
        PLACEMENT,
        Some(&body),
        reqwest::StatusCode::NO_CONTENT,
    )
    .await?;
    Ok(consumer)
}

async fn migrations(api: &Api) -> anyhow::Result<Vec<Value>> {
    let v = api.get("/compute/v2.1/os-migrations?limit=1000000", "compute 2.80").await?;
    Ok(v["migrations"].as_array().cloned().unwrap_or_default())
}

/// Servers and migrations still under way.
fn busy(servers: &[Server], migrations: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = servers
        .iter()
        .filter(|s| s.status == "BUILD" || s.task_state.is_some())
        .map(|s| format!("server {} {} task {:?} on {:?}", s.id, s.status, s.task_state, s.host))
        .collect();
    out.extend(migrations.iter().filter(|m| IN_PROGRESS.contains(&m["status"].as_str().unwrap_or(""))).map(|m| {
        format!(
            "{} {} of {} {}->{}",
            m["migration_type"].as_str().unwrap_or("?"),
            m["status"].as_str().unwrap_or("?"),
            m["instance_uuid"].as_str().unwrap_or("?"),
            m["source_compute"].as_str().unwrap_or("?"),
            m["dest_compute"].as_str().unwrap_or("?")
        )
    }));
    out
}

/// Every server holds exactly its flavor on its host's provider (nothing
/// when it has none or is offloaded); every allocation belongs to a
/// server; every provider's usage is the sum of its allocations.
async fn check_allocations(api: &Api, servers: &[Server]) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let rps = api.get("/placement/resource_providers", PLACEMENT).await?;
    let mut name_of = BTreeMap::new();
    let mut uuid_of = BTreeMap::new();
    for p in rps["resource_providers"].as_array().into_iter().flatten() {
        if let (Some(u), Some(n)) = (p["uuid"].as_str(), p["name"].as_str()) {
            name_of.insert(u.to_string(), n.to_string());
            uuid_of.insert(n.to_string(), u.to_string());
        }
    }
    // consumer -> provider name -> resources
    let mut actual: BTreeMap<String, BTreeMap<String, Resources>> = BTreeMap::new();
    for (uuid, name) in &name_of {
        let allocs = api.get(&format!("/placement/resource_providers/{uuid}/allocations"), PLACEMENT).await?;
        let usages = api.get(&format!("/placement/resource_providers/{uuid}/usages"), PLACEMENT).await?;
        let mut sum = Resources::new();
        for (consumer, a) in allocs["allocations"].as_object().into_iter().flatten() {
            let r = nonzero(&a["resources"]);
            add(&mut sum, &r);
            actual.entry(consumer.clone()).or_default().insert(name.clone(), r);
        }
        let used = nonzero(&usages["usages"]);
        if used != sum {
            problems.push(format!("{name}: usages {used:?} but its allocations add up to {sum:?}"));
        }
    }
    let ids: BTreeSet<&str> = servers.iter().map(|s| s.id.as_str()).collect();
    for s in servers {
        let mut want: BTreeMap<String, Resources> = BTreeMap::new();
        if s.status != "SHELVED_OFFLOADED" {
            if let Some(node) = &s.node {
                want.insert(node.clone(), flavor_resources(&s.view["flavor"]));
            }
        }
        let got = actual.get(&s.id).cloned().unwrap_or_default();
        if got != want {
            problems.push(format!(
                "server {} ({}, task {:?}, host {:?}, flavor {}): allocations {got:?}, expected {want:?}",
                s.id, s.status, s.task_state, s.host, s.flavor
            ));
        }
    }
    for (consumer, on) in &actual {
        if !ids.contains(consumer.as_str()) {
            problems.push(format!("allocation of {consumer}, which is no server: {on:?}"));
        }
    }
    let _ = uuid_of;
    Ok(problems)
}

/// `berth audit` against the cloud must find nothing.
async fn audit(cloud: &Cloud) -> Vec<String> {
    let Ok(exe) = std::env::current_exe() else { return vec!["cannot locate the berth binary".into()] };
    let out = tokio::process::Command::new(exe)
        .arg("audit")
        .arg("--json")
        .args(cloud.attach_args())
        .env("BERTH_LOG", "warn")
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() => Vec::new(),
        Ok(o) => vec![format!(
            "berth audit exited {}: {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )],
        Err(e) => vec![format!("cannot run berth audit: {e}")],
    }
}
