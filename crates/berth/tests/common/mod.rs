//! A started `berth up` for the binary's tests: its own data directory and
//! port, on embedded SQLite or on a database of berth-testkit's.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

pub struct Cloud {
    child: Child,
    pub base: String,
    pub dir: PathBuf,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Start `berth up --computes N` (on `db`, or the embedded SQLite file) and
/// wait until identity answers.
pub async fn start(db: Option<&str>, computes: u32) -> Cloud {
    let dir = std::env::temp_dir().join(format!("berth-up-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["up", "--data-dir"])
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--computes", &computes.to_string()])
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

/// A project-scoped admin token.
pub async fn admin_token(base: &str, dir: &Path) -> String {
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
