//! Nova's TestLocalDeleteAllocations against a started `berth up`, over HTTP:
//! create a server on compute1, force compute1's service down, delete the
//! server (a local delete), bring the service back. compute1's Placement
//! usages equal those before the server existed, right after the delete and
//! after the service returns. On SQLite (the embedded default) and on
//! PostgreSQL (127.0.0.1:5432, trust auth for `postgres`).

mod common;

use std::time::{Duration, Instant};

use common::{admin_token as token, start as start_cloud, Cloud};

use serde_json::{json, Value};

struct Api {
    c: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, version: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self.c.request(method, format!("{}{path}", self.base)).header("x-auth-token", &self.token);
        if !version.is_empty() {
            rb = rb.header("openstack-api-version", version);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn usages(&self, rp: &str) -> Value {
        let (s, v) = self
            .call(reqwest::Method::GET, &format!("/placement/resource_providers/{rp}/usages"), "placement 1.39", None)
            .await;
        assert_eq!(s, 200, "{v}");
        v["usages"].clone()
    }
}

async fn scenario(cloud: &Cloud) {
    let api = Api { c: reqwest::Client::new(), base: cloud.base.clone(), token: token(&cloud.base, &cloud.dir).await };
    const NOVA: &str = "compute 2.53";
    let (s, images) = api.call(reqwest::Method::GET, "/image/v2/images?name=berth-tiny-raw", "", None).await;
    assert_eq!(s, 200, "{images}");
    let image = images["images"][0]["id"].as_str().expect("default image").to_string();
    // compute1's provider appears once its agent has reported.
    let mut rp = String::new();
    for _ in 0..100 {
        let (_, v) =
            api.call(reqwest::Method::GET, "/placement/resource_providers?name=compute1", "placement 1.39", None).await;
        if let Some(u) = v["resource_providers"][0]["uuid"].as_str() {
            rp = u.to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!rp.is_empty(), "compute1 registered its provider");
    // ... and its inventory (`berth up` answers while its hosts register).
    let mut before = api.usages(&rp).await;
    for _ in 0..100 {
        if before.as_object().is_some_and(|o| !o.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        before = api.usages(&rp).await;
    }
    assert_eq!(before, json!({"DISK_GB": 0, "MEMORY_MB": 0, "VCPU": 0}));

    let (s, v) = api
        .call(
            reqwest::Method::POST,
            "/compute/v2.1/servers",
            NOVA,
            Some(json!({"server": {
            "name": "vm1", "flavorRef": "1", "imageRef": image, "networks": "none",
            "availability_zone": "nova:compute1"}})),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let server = v["server"]["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, v) = api.call(reqwest::Method::GET, &format!("/compute/v2.1/servers/{server}"), NOVA, None).await;
        match v["server"]["status"].as_str() {
            Some("ACTIVE") => {
                assert_eq!(v["server"]["OS-EXT-SRV-ATTR:host"], "compute1");
                break;
            }
            Some("ERROR") => panic!("server went to ERROR: {v}"),
            _ if Instant::now() > deadline => panic!("server never became ACTIVE: {v}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert_eq!(api.usages(&rp).await, json!({"DISK_GB": 1, "MEMORY_MB": 512, "VCPU": 1}));

    let (_, services) =
        api.call(reqwest::Method::GET, "/compute/v2.1/os-services?binary=nova-compute&host=compute1", NOVA, None).await;
    let service = services["services"][0]["id"].as_str().expect("compute1's service").to_string();
    let (s, v) = api
        .call(
            reqwest::Method::PUT,
            &format!("/compute/v2.1/os-services/{service}"),
            NOVA,
            Some(json!({"status": "disabled", "forced_down": true})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["service"]["state"], "down");

    let (s, v) = api.call(reqwest::Method::DELETE, &format!("/compute/v2.1/servers/{server}"), NOVA, None).await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(api.usages(&rp).await, before, "usages back right after the local delete");
    let (s, _) = api.call(reqwest::Method::GET, &format!("/compute/v2.1/servers/{server}"), NOVA, None).await;
    assert_eq!(s, 404);
    let (s, v) =
        api.call(reqwest::Method::GET, &format!("/placement/allocations/{server}"), "placement 1.39", None).await;
    assert_eq!((s, v["allocations"].clone()), (200, json!({})));

    let (s, v) = api
        .call(
            reqwest::Method::PUT,
            &format!("/compute/v2.1/os-services/{service}"),
            NOVA,
            Some(json!({"status": "enabled", "forced_down": false})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(api.usages(&rp).await, before, "usages still back after the service returns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_delete_never_leaks_sqlite() {
    let cloud = start(None).await;
    scenario(&cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_delete_never_leaks_postgres() {
    let Some(db) = berth_testkit::TestDb::postgres().await else { return };
    let cloud = start(Some(&db.url)).await;
    scenario(&cloud).await;
    // The cloud stops before its database is dropped.
    drop(cloud);
}

async fn start(db: Option<&str>) -> Cloud {
    start_cloud(db, 2).await
}
