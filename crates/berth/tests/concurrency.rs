//! Several berth API processes claiming from the same small providers at
//! once must never overcommit: every provider's usage equals the sum of the
//! claims that got a 2xx and never exceeds capacity.
//!
//! PostgreSQL (127.0.0.1:5432, trust auth for `postgres`): three processes on
//! one database. SQLite: one process, many concurrent clients.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::free_port;

use serde_json::{json, Value};
use uuid::Uuid;

const PROVIDERS: usize = 3;
const CAPACITY: i64 = 20;
const CLAIMS: usize = 300;

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(db: &str) -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["placement", "--listen", &format!("127.0.0.1:{port}"), "--db", db])
        .env("BERTH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start berth");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(&url).send().await.is_ok() {
            return Server { child, url };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("berth did not start on {url}");
}

fn client() -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-auth-token", "admin".parse().unwrap());
    h.insert("openstack-api-version", "placement 1.39".parse().unwrap());
    reqwest::Client::builder().default_headers(h).pool_max_idle_per_host(64).build().unwrap()
}

async fn setup_providers(base: &str) -> Vec<Uuid> {
    let c = client();
    let mut out = Vec::new();
    for i in 0..PROVIDERS {
        let uuid = Uuid::new_v4();
        let r = c
            .post(format!("{base}/resource_providers"))
            .json(&json!({"name": format!("cn{i}"), "uuid": uuid}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = c
            .put(format!("{base}/resource_providers/{uuid}/inventories"))
            .json(&json!({"resource_provider_generation": 0,
                          "inventories": {"VCPU": {"total": CAPACITY, "max_unit": CAPACITY}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        out.push(uuid);
    }
    out
}

/// Fire the claims across `servers`, return (provider, amount) of the ones that succeeded.
async fn claim_storm(servers: &[String], providers: &[Uuid]) -> Vec<(Uuid, i64)> {
    let c = client();
    let mut tasks = Vec::new();
    for i in 0..CLAIMS {
        let c = c.clone();
        let base = servers[i % servers.len()].clone();
        let rp = providers[(i * 7) % providers.len()];
        let amount = (i % 3) as i64 + 1;
        tasks.push(tokio::spawn(async move {
            let consumer = Uuid::new_v4();
            let r = c
                .put(format!("{base}/allocations/{consumer}"))
                .json(&json!({
                    "allocations": {rp.to_string(): {"resources": {"VCPU": amount}}},
                    "project_id": Uuid::new_v4(), "user_id": Uuid::new_v4(),
                    "consumer_generation": null, "consumer_type": "INSTANCE"
                }))
                .send()
                .await
                .expect("request");
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            assert!(status == 204 || status == 409, "claim answered {status} (only 204 or 409 are acceptable): {body}");
            (status == 204).then_some((rp, amount))
        }));
    }
    let mut ok = Vec::new();
    for t in tasks {
        if let Some(x) = t.await.unwrap() {
            ok.push(x);
        }
    }
    ok
}

async fn check_usages(base: &str, providers: &[Uuid], ok: &[(Uuid, i64)]) {
    let c = client();
    assert!(!ok.is_empty(), "no claim succeeded");
    for rp in providers {
        let body: Value =
            c.get(format!("{base}/resource_providers/{rp}/usages")).send().await.unwrap().json().await.unwrap();
        let used = body["usages"]["VCPU"].as_i64().unwrap();
        let claimed: i64 = ok.iter().filter(|(p, _)| p == rp).map(|(_, a)| a).sum();
        assert_eq!(used, claimed, "usage of {rp} differs from the sum of successful claims");
        assert!(used <= CAPACITY, "provider {rp} overcommitted: {used} > {CAPACITY}");
    }
    // With 300 claims of 1-3 VCPU on 60 VCPU in all, the providers must be
    // (nearly) full: a claim is only refused when it does not fit.
    let total: i64 = ok.iter().map(|(_, a)| a).sum();
    assert!(total > (PROVIDERS as i64) * CAPACITY - 3 * PROVIDERS as i64, "too few claims succeeded: {total}");
}

/// Exactly one of several processes creating the same consumer wins.
async fn same_consumer_race(servers: &[String], rp: Uuid) {
    // Free room first so capacity is not the reason for refusals.
    let c = client();
    let consumer = Uuid::new_v4();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let c = c.clone();
        let base = servers[i % servers.len()].clone();
        tasks.push(tokio::spawn(async move {
            c.put(format!("{base}/allocations/{consumer}"))
                .json(&json!({
                    "allocations": {rp.to_string(): {"resources": {"DISK_GB": 1}}},
                    "project_id": "p", "user_id": "u", "consumer_generation": null, "consumer_type": "INSTANCE"
                }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 204).count(), 1, "statuses: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 204 || *s == 409), "statuses: {statuses:?}");
    let body: Value =
        c.get(format!("{}/allocations/{consumer}", servers[0])).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["consumer_generation"], 1);
}

async fn add_disk(base: &str, rp: Uuid) {
    let c = client();
    let inv: Value =
        c.get(format!("{base}/resource_providers/{rp}/inventories")).send().await.unwrap().json().await.unwrap();
    let r = c
        .post(format!("{base}/resource_providers/{rp}/inventories"))
        .json(&json!({"resource_class": "DISK_GB", "total": 100,
                      "resource_provider_generation": inv["resource_provider_generation"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_three_processes_never_overcommit() {
    let Some(db) = berth_testkit::TestDb::postgres().await else { return };
    let first = start(&db.url).await;
    let others = [start(&db.url).await, start(&db.url).await];
    let urls: Vec<String> = std::iter::once(&first).chain(others.iter()).map(|s| s.url.clone()).collect();
    let providers = setup_providers(&first.url).await;
    let ok = claim_storm(&urls, &providers).await;
    check_usages(&urls[1], &providers, &ok).await;
    add_disk(&first.url, providers[0]).await;
    same_consumer_race(&urls, providers[0]).await;
    // The servers stop before their database is dropped.
    drop(first);
    drop(others);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_one_process_many_clients_never_overcommit() {
    let db = berth_testkit::TestDb::sqlite();
    let server = start(&db.url).await;
    let urls = vec![server.url.clone()];
    let providers = setup_providers(&server.url).await;
    let ok = claim_storm(&urls, &providers).await;
    check_usages(&server.url, &providers, &ok).await;
    add_disk(&server.url, providers[0]).await;
    same_consumer_race(&urls, providers[0]).await;
    drop(server);
}
