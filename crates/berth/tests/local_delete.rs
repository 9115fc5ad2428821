//! Nova's TestLocalDeleteAllocations against a started `berth up`, over HTTP:
//! create a server on compute1, force compute1's service down, delete the
//! server (a local delete), bring the service back. compute1's Placement
//! usages equal those before the server existed, right after the delete and
//! after the service returns. On SQLite (the embedded default) and on
//! PostgreSQL (127.0.0.1:5432, trust auth for `postgres`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

const PG_ADMIN: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

struct Cloud {
    child: Child,
    base: String,
    dir: PathBuf,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(db: Option<&str>) -> Cloud {
    let dir = std::env::temp_dir().join(format!("berth-ld-{}", Uuid::new_v4().simple()));
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["up", "--data-dir"])
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--computes", "2"])
        .env("BERTH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(db) = db {
        cmd.args(["--db", db]);
    }
    let child = cmd.spawn().expect("start berth up");
    let cloud = Cloud { child, base: format!("http://127.0.0.1:{port}"), dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if cloud.dir.join("clouds.yaml").exists()
            && reqwest::get(format!("{}/identity/v3", cloud.base)).await.is_ok_and(|r| r.status().is_success())
        {
            return cloud;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("berth up did not come up");
}

async fn token(base: &str, dir: &Path) -> String {
    let password = std::fs::read_to_string(dir.join("admin-password")).unwrap().trim().to_string();
    let r = reqwest::Client::new()
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.headers()["x-subject-token"].to_str().unwrap().to_string()
}

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
    let before = api.usages(&rp).await;
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
    use sqlx::Connection;
    let name = format!("berth_ld_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(PG_ADMIN).await.expect("PostgreSQL at 127.0.0.1:5432");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:5432/{name}");
    let outcome = {
        let cloud = start(Some(&url)).await;
        let r = tokio::spawn(async move {
            scenario(&cloud).await;
            drop(cloud);
        })
        .await;
        r
    };
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
