//! The benchmark's HTTP side: one client, an admin token, JSON calls with a
//! status check, and the readiness probe.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Microversion of the compute calls: `networks: "none"` needs 2.37, the
/// embedded flavor in server views 2.47.
pub const COMPUTE: &str = "compute 2.53";
/// Microversion of the Placement calls.
pub const PLACEMENT: &str = "placement 1.39";

/// A client for benchmark traffic: no overall pool limit, every request
/// bounded in time so nothing waits forever.
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()?)
}

/// True when `url` answers with a version document (200, or 300 Multiple
/// Choices as version lists do).
pub async fn answers(client: &reqwest::Client, url: &str) -> bool {
    match client.get(url).timeout(Duration::from_secs(5)).send().await {
        Ok(r) => r.status().is_success() || r.status() == StatusCode::MULTIPLE_CHOICES,
        Err(_) => false,
    }
}

/// The admin's view of a cloud: base URL, a project-scoped token and the
/// project it is scoped to. With several API processes, `peers` holds every
/// process's base URL and [`Api::nth`] spreads requests over them, as a load
/// balancer in front of them would.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    token: String,
    pub project_id: String,
    peers: Arc<Vec<String>>,
}

impl Api {
    /// Keystone v3 password authentication as `admin` in project `admin`.
    pub async fn login(client: &reqwest::Client, base: &str, password: &str) -> anyhow::Result<Api> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let r = client
            .post(format!("{base}/identity/v3/auth/tokens?nocatalog"))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("authenticate at {base}/identity"))?;
        let status = r.status();
        let token = r.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        let v: Value = r.json().await.unwrap_or(Value::Null);
        let (Some(token), true) = (token, status == StatusCode::CREATED) else {
            bail!("admin authentication failed: {status} {v}");
        };
        let project_id = v["token"]["project"]["id"].as_str().context("the admin token names no project")?.to_string();
        Ok(Api { client: client.clone(), base: base.to_string(), token, project_id, peers: Arc::new(Vec::new()) })
    }

    /// The same caller on every one of `bases` (processes sharing one
    /// database accept each other's tokens).
    pub fn with_peers(mut self, bases: &[String]) -> Api {
        self.peers = Arc::new(bases.to_vec());
        self
    }

    /// The caller on the `i`-th API process (round robin); itself when
    /// there is only one.
    pub fn nth(&self, i: usize) -> Api {
        match self.peers.len() {
            0 | 1 => self.clone(),
            n => Api { base: self.peers[i % n].clone(), ..self.clone() },
        }
    }

    /// One call: the status and the body as JSON (null when empty or not
    /// JSON). Transport errors are errors; HTTP errors are the caller's.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        version: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut rb = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header("x-auth-token", &self.token)
            .header("openstack-api-version", version);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let r = rb.send().await.with_context(|| format!("{method} {path}"))?;
        let status = r.status();
        let text = r.text().await.with_context(|| format!("{method} {path}: reading the answer"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// A call that must answer `want`; anything else is an error naming the
    /// request and the answer.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        version: &str,
        body: Option<&Value>,
        want: StatusCode,
    ) -> anyhow::Result<Value> {
        let (status, v) = self.call(method.clone(), path, version, body).await?;
        if status != want {
            bail!("{method} {path}: {status} (wanted {want}): {}", truncate(&v.to_string(), 400));
        }
        Ok(v)
    }

    /// A GET answering text (`/metrics`).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let r = self.client.get(format!("{}{path}", self.base)).header("x-auth-token", &self.token).send().await?;
        if !r.status().is_success() {
            bail!("GET {path}: {}", r.status());
        }
        Ok(r.text().await?)
    }

    pub async fn get(&self, path: &str, version: &str) -> anyhow::Result<Value> {
        self.expect(Method::GET, path, version, None, StatusCode::OK).await
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
