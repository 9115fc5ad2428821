//! The faults of a chaos run, one at a time until the deadline: SIGKILL of
//! an API or agent process (restarted after a pause), a window in which the
//! processes cannot reach Placement, and a compute service forced down
//! while some of its servers are evacuated.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

use super::workload::{action, list_servers, Env, Stats};
use super::{ChaosArgs, Cloud, COMPUTE};
use crate::bench::api::Api;
use crate::faults::PLACEMENT_DOWN;

#[derive(Default)]
pub struct Done {
    pub kills: BTreeMap<String, u64>,
    pub outages: u64,
    pub outage_s: f64,
    pub forced_down: u64,
    pub evacuations: u64,
}

pub async fn run(
    args: &ChaosArgs,
    seed: u64,
    cloud: &mut Cloud,
    api: &Api,
    env: &Env,
    stats: &Stats,
    deadline: Instant,
) -> anyhow::Result<Done> {
    let _ = env;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6d6f_6e6b_6579);
    let mut done = Done::default();
    let kinds: Vec<&str> =
        ["kill", "outage", "down"].into_iter().filter(|k| args.faults.iter().any(|f| f == k)).collect();
    let client = crate::bench::api::client()?;
    loop {
        // Exponential gaps around the mean interval.
        let u: f64 = rng.random_range(0.05..1.0);
        let gap = Duration::from_secs_f64((-u.ln() * args.fault_interval).min(4.0 * args.fault_interval));
        if Instant::now() + gap >= deadline || kinds.is_empty() {
            tokio::time::sleep(deadline.saturating_duration_since(Instant::now())).await;
            return Ok(done);
        }
        tokio::time::sleep(gap).await;
        cloud.procs.check_alive()?;
        match kinds[rng.random_range(0..kinds.len())] {
            "kill" => {
                let victims: Vec<usize> = cloud.apis.iter().chain(&cloud.agents).copied().collect();
                let i = victims[rng.random_range(0..victims.len())];
                let name = cloud.procs.name(i).to_string();
                cloud.procs.kill(i).await;
                *done.kills.entry(name.clone()).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(rng.random_range(100..2500))).await;
                cloud.procs.restart(i)?;
                if let Some(k) = cloud.apis.iter().position(|a| *a == i) {
                    super::wait_answering(cloud, &client, k).await?;
                }
            }
            "outage" => {
                let secs = rng.random_range(0.5..4.0);
                let file = cloud.faults.join(PLACEMENT_DOWN);
                std::fs::write(&file, b"")?;
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                std::fs::remove_file(&file)?;
                done.outages += 1;
                done.outage_s += secs;
            }
            _ => {
                let host = format!("compute{}", rng.random_range(1..=args.hosts));
                if set_forced_down(api, &host, true).await.is_err() {
                    continue;
                }
                done.forced_down += 1;
                // Nova evacuates only from a host that is down; the agent
                // is in fact alive and finds out when it is back up.
                if let Ok(servers) = list_servers(api).await {
                    let mut on: Vec<_> = servers.iter().filter(|s| s.host.as_deref() == Some(&host)).collect();
                    let n = rng.random_range(0..=on.len().min(3));
                    for _ in 0..n {
                        let s = on.swap_remove(rng.random_range(0..on.len()));
                        action(api, stats, "evacuate", &s.id, json!({"evacuate": {}})).await;
                        done.evacuations += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(500..4000))).await;
                for _ in 0..50 {
                    if set_forced_down(api, &host, false).await.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// Force the nova-compute service of `host` down or up (2.53: by id).
pub async fn set_forced_down(api: &Api, host: &str, down: bool) -> anyhow::Result<()> {
    let v = api.get(&format!("/compute/v2.1/os-services?binary=nova-compute&host={host}"), COMPUTE).await?;
    let id = v["services"][0]["id"].as_str().ok_or_else(|| anyhow::anyhow!("no compute service on {host}"))?;
    api.expect(
        Method::PUT,
        &format!("/compute/v2.1/os-services/{id}"),
        COMPUTE,
        Some(&json!({"forced_down": down})),
        reqwest::StatusCode::OK,
    )
    .await
    .map(|_: Value| ())
}
