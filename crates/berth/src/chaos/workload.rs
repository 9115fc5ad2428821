//! The clients of a chaos run: random server operations, chosen with a
//! seeded generator among those that make sense for the servers' current
//! states (and now and then one that does not, which must be refused
//! cleanly).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

use super::COMPUTE;
use crate::bench::api::Api;

/// What every client needs to know of the cloud.
#[derive(Clone, Debug)]
pub struct Env {
    /// (name, id) of the flavors servers are created and resized with.
    pub flavors: Vec<(String, String)>,
    pub image: String,
}

impl Env {
    pub async fn discover(api: &Api) -> anyhow::Result<Env> {
        let v = api.get("/compute/v2.1/flavors", COMPUTE).await?;
        let by_name: BTreeMap<&str, &str> = v["flavors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| Some((f["name"].as_str()?, f["id"].as_str()?)))
            .collect();
        let flavors = ["m1.tiny", "m1.small"]
            .iter()
            .map(|n| by_name.get(n).map(|id| (n.to_string(), id.to_string())).ok_or_else(|| anyhow!("no flavor {n}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let imgs = api.get(&format!("/image/v2/images?name={}", crate::up::DEFAULT_IMAGE_NAME), "").await?;
        let image = imgs["images"][0]["id"].as_str().context("the default image is missing")?.to_string();
        Ok(Env { flavors, image })
    }
}

/// A server as the clients see it.
#[derive(Clone, Debug)]
pub struct Server {
    pub id: String,
    pub status: String,
    pub task_state: Option<String>,
    pub host: Option<String>,
    pub node: Option<String>,
    pub flavor: String,
    pub view: Value,
}

/// Every server of every project (deleted ones excluded).
pub async fn list_servers(api: &Api) -> anyhow::Result<Vec<Server>> {
    let v = api.get("/compute/v2.1/servers/detail?all_tenants=1", COMPUTE).await?;
    Ok(v["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some(Server {
                id: s["id"].as_str()?.to_string(),
                status: s["status"].as_str()?.to_string(),
                task_state: s["OS-EXT-STS:task_state"].as_str().map(str::to_string),
                host: s["OS-EXT-SRV-ATTR:host"].as_str().map(str::to_string),
                node: s["OS-EXT-SRV-ATTR:hypervisor_hostname"].as_str().map(str::to_string),
                flavor: s["flavor"]["original_name"].as_str().unwrap_or("").to_string(),
                view: s.clone(),
            })
        })
        .filter(|s| s.status != "DELETED")
        .collect())
}

/// Outcomes by operation, and the 500s seen.
#[derive(Default)]
pub struct Stats {
    counts: Mutex<BTreeMap<String, BTreeMap<String, u64>>>,
    errors: Mutex<Vec<String>>,
    /// Why requests were refused: "op: status message" -> count.
    refusals: Mutex<BTreeMap<String, u64>>,
}

/// A refusal message with its uuids replaced by `<uuid>`, so refusals of
/// the same kind count together whichever server they named.
fn generalize(msg: &str) -> String {
    msg.split(' ')
        .map(|word| {
            let core = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
            if core.len() >= 32 && uuid::Uuid::parse_str(core).is_ok() {
                word.replace(core, "<uuid>")
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Stats {
    /// Count one request of `op` and return its outcome class.
    pub fn record(&self, op: &str, answer: &anyhow::Result<(reqwest::StatusCode, Value)>) -> &'static str {
        let outcome = match answer {
            Err(_) => "no answer",
            Ok((s, _)) if s.is_success() => "accepted",
            Ok((s, _)) if s.as_u16() == 503 => "unavailable",
            Ok((s, _)) if s.is_server_error() => "server error",
            Ok(_) => "refused",
        };
        if let Ok((s, body)) = answer {
            if s.is_client_error() {
                let msg = generalize(
                    body.as_object().and_then(|o| o.values().next()).and_then(|e| e["message"].as_str()).unwrap_or(""),
                )
                .chars()
                .take(90)
                .collect::<String>();
                let mut r = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
                *r.entry(format!("{op}: {} {msg}", s.as_u16())).or_default() += 1;
            }
            if s.is_server_error() && s.as_u16() != 503 {
                let mut e = self.errors.lock().unwrap_or_else(|p| p.into_inner());
                e.push(format!("{op}: {s} {}", body.to_string().chars().take(300).collect::<String>()));
            }
        }
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry(op.to_string()).or_default().entry(outcome.to_string()).or_default() += 1;
        outcome
    }

    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn refusals(&self) -> BTreeMap<String, u64> {
        self.refusals.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn server_errors(&self) -> Vec<String> {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A server action (`POST /servers/{id}/action`).
pub async fn action(api: &Api, stats: &Stats, op: &str, id: &str, body: Value) -> &'static str {
    let r = api.call(Method::POST, &format!("/compute/v2.1/servers/{id}/action"), COMPUTE, Some(&body)).await;
    stats.record(op, &r)
}

/// One client: operations until `deadline`.
pub async fn client(api: Api, env: Env, stats: std::sync::Arc<Stats>, seed: u64, max: usize, deadline: Instant) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = 0u64;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..250))).await;
        let servers = match list_servers(&api).await {
            Ok(s) => s,
            Err(_) => {
                stats.record("list", &Err(anyhow!("list failed")));
                continue;
            }
        };
        n += 1;
        one_operation(&api, &env, &stats, &mut rng, &servers, max, seed, n).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn one_operation(
    api: &Api,
    env: &Env,
    stats: &Stats,
    rng: &mut StdRng,
    servers: &[Server],
    max: usize,
    seed: u64,
    n: u64,
) {
    let idle = |s: &&Server| s.task_state.is_none();
    let with =
        |st: &[&str]| servers.iter().filter(idle).filter(|s| st.contains(&s.status.as_str())).collect::<Vec<_>>();
    let running = with(&["ACTIVE", "SHUTOFF"]);
    let active = with(&["ACTIVE"]);
    let stopped = with(&["SHUTOFF"]);
    let verify = with(&["VERIFY_RESIZE"]);
    let shelved = with(&["SHELVED", "SHELVED_OFFLOADED"]);
    let offloadable = with(&["SHELVED"]);
    // (operation, weight)
    let choices: [(&str, u32); 14] = [
        ("create", if servers.len() < max { 5 } else { 0 }),
        ("delete", if servers.is_empty() { 0 } else { 2 }),
        ("resize", if running.is_empty() { 0 } else { 3 }),
        ("confirm or revert", if verify.is_empty() { 0 } else { 4 }),
        ("migrate", if running.is_empty() { 0 } else { 2 }),
        ("live-migrate", if active.is_empty() { 0 } else { 2 }),
        ("shelve", if running.is_empty() { 0 } else { 1 }),
        ("shelve-offload", if offloadable.is_empty() { 0 } else { 1 }),
        ("unshelve", if shelved.is_empty() { 0 } else { 2 }),
        ("stop", if active.is_empty() { 0 } else { 1 }),
        ("start", if stopped.is_empty() { 0 } else { 1 }),
        ("reboot", if active.is_empty() { 0 } else { 1 }),
        ("rebuild", if running.is_empty() { 0 } else { 1 }),
        ("any action on any server", if servers.is_empty() { 0 } else { 1 }),
    ];
    let total: u32 = choices.iter().map(|c| c.1).sum();
    if total == 0 {
        return;
    }
    let mut pick = rng.random_range(0..total);
    let op = choices
        .iter()
        .find(|(_, w)| {
            if pick < *w {
                true
            } else {
                pick -= w;
                false
            }
        })
        .map_or("create", |c| c.0);
    let one = |rng: &mut StdRng, list: &[&Server]| list[rng.random_range(0..list.len())].id.clone();
    let other_flavor = |rng: &mut StdRng, s: &Server| {
        let others: Vec<&(String, String)> = env.flavors.iter().filter(|(name, _)| *name != s.flavor).collect();
        if others.is_empty() {
            env.flavors[rng.random_range(0..env.flavors.len())].1.clone()
        } else {
            others[rng.random_range(0..others.len())].1.clone()
        }
    };
    match op {
        "create" => {
            let flavor = &env.flavors[rng.random_range(0..env.flavors.len())].1;
            let body = json!({"server": {
                "name": format!("chaos-{seed}-{n}"), "flavorRef": flavor, "imageRef": env.image, "networks": "none"}});
            let r = api.call(Method::POST, "/compute/v2.1/servers", COMPUTE, Some(&body)).await;
            stats.record(op, &r);
        }
        "delete" => {
            let id = &servers[rng.random_range(0..servers.len())].id;
            let r = api.call(Method::DELETE, &format!("/compute/v2.1/servers/{id}"), COMPUTE, None).await;
            stats.record(op, &r);
        }
        "resize" => {
            let s = running[rng.random_range(0..running.len())];
            let flavor = other_flavor(rng, s);
            action(api, stats, op, &s.id, json!({"resize": {"flavorRef": flavor}})).await;
        }
        "confirm or revert" => {
            let id = one(rng, &verify);
            let (name, body) = if rng.random_bool(0.5) {
                ("confirm", json!({"confirmResize": null}))
            } else {
                ("revert", json!({"revertResize": null}))
            };
            action(api, stats, name, &id, body).await;
        }
        "migrate" => {
            let id = one(rng, &running);
            action(api, stats, op, &id, json!({"migrate": null})).await;
        }
        "live-migrate" => {
            let id = one(rng, &active);
            action(api, stats, op, &id, json!({"os-migrateLive": {"host": null, "block_migration": "auto"}})).await;
        }
        "shelve" => {
            let id = one(rng, &running);
            action(api, stats, op, &id, json!({"shelve": null})).await;
        }
        "shelve-offload" => {
            let id = one(rng, &offloadable);
            action(api, stats, op, &id, json!({"shelveOffload": null})).await;
        }
        "unshelve" => {
            let id = one(rng, &shelved);
            action(api, stats, op, &id, json!({"unshelve": null})).await;
        }
        "stop" => {
            let id = one(rng, &active);
            action(api, stats, op, &id, json!({"os-stop": null})).await;
        }
        "start" => {
            let id = one(rng, &stopped);
            action(api, stats, op, &id, json!({"os-start": null})).await;
        }
        "reboot" => {
            let id = one(rng, &active);
            let kind = if rng.random_bool(0.5) { "SOFT" } else { "HARD" };
            action(api, stats, op, &id, json!({"reboot": {"type": kind}})).await;
        }
        "rebuild" => {
            let id = one(rng, &running);
            action(api, stats, op, &id, json!({"rebuild": {"imageRef": env.image}})).await;
        }
        _ => {
            // Whatever the server's state: a conflict must be a clean 409.
            let s = &servers[rng.random_range(0..servers.len())];
            let flavor = other_flavor(rng, s);
            let bodies = [
                json!({"resize": {"flavorRef": flavor}}),
                json!({"confirmResize": null}),
                json!({"revertResize": null}),
                json!({"migrate": null}),
                json!({"os-migrateLive": {"host": null, "block_migration": "auto"}}),
                json!({"evacuate": {}}),
                json!({"shelve": null}),
                json!({"unshelve": null}),
                json!({"shelveOffload": null}),
                json!({"os-start": null}),
                json!({"os-stop": null}),
                json!({"reboot": {"type": "HARD"}}),
                json!({"rebuild": {"imageRef": env.image}}),
            ];
            let body = bodies[rng.random_range(0..bodies.len())].clone();
            action(api, stats, "any action", &s.id, body).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::generalize;

    #[test]
    fn refusal_messages_lose_their_uuids() {
        assert_eq!(
            generalize("Cannot 'resize' instance 0af7dcd3-7c1d-4277-9aa3-178eaea65b77 while it is in vm_state error"),
            "Cannot 'resize' instance <uuid> while it is in vm_state error"
        );
        assert_eq!(generalize("Instance 0af7dcd37c1d42779aa3178eaea65b77. is locked"), "Instance <uuid>. is locked");
        assert_eq!(generalize("Flavor 42 could not be found."), "Flavor 42 could not be found.");
    }
}
