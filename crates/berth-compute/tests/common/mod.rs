//! Test harness: Placement (berth's own router, in-process) and the compute
//! API over a fresh SQLite file or PostgreSQL database, compute agents on
//! simulated hosts, and helpers to drive the API with `oneshot`.
//!
//! Databases come from berth-testkit: PostgreSQL runs use
//! `BERTH_TEST_POSTGRES_URL` (default
//! `postgresql://postgres@127.0.0.1:5432/postgres`); set
//! `BERTH_TEST_SKIP_POSTGRES=1` to skip them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use berth_compute::{
    AgentConfig, ComputeAgent, ComputeConfig, ComputeService, DriverSpec, FakeDriver, ImageInfo, StaticImages,
};
use berth_placement_api::{AppState, PlacementConfig};
use berth_placement_client::{
    BoxFuture, InProcessPlacementClient, PlacementClient, PlacementError, PlacementRequest, PlacementResponse,
    StaticToken,
};
use berth_policy::EnforcerConfig;
use berth_store::{Store, StoreConfig};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

pub use berth_testkit::{Backend, TestDb};

pub const IMAGE: &str = "155d900f-4e14-4e4c-a73d-069cbf4541e6";
pub const ARM_IMAGE: &str = "2b7c1f3e-9a51-4c1e-8f0e-3f7d2c8a9b10";
pub const BIG_IMAGE: &str = "7e0d5c3a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
pub const MV: &str = "compute 2.96";

/// Whether the PostgreSQL runs are switched off (berth-testkit's one
/// switch, `BERTH_TEST_SKIP_POSTGRES`).
pub fn skip(backend: Backend) -> bool {
    backend == Backend::Postgres && berth_testkit::skip_postgres()
}

/// A Placement client that can be switched off (every call: unavailable)
/// or made to drop allocation deletions (unavailable for
/// `DELETE /allocations/...` only).
#[derive(Clone)]
pub struct Faulty {
    inner: Arc<dyn PlacementClient>,
    pub down: Arc<AtomicBool>,
    pub block_deletes: Arc<AtomicBool>,
    /// `POST /allocations` is done, but its answer is lost (unavailable).
    pub lose_post_answers: Arc<AtomicBool>,
}

impl Faulty {
    pub fn new(inner: Arc<dyn PlacementClient>) -> Self {
        Faulty {
            inner,
            down: Arc::new(AtomicBool::new(false)),
            block_deletes: Arc::new(AtomicBool::new(false)),
            lose_post_answers: Arc::new(AtomicBool::new(false)),
        }
    }
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    pub fn set_block_deletes(&self, b: bool) {
        self.block_deletes.store(b, Ordering::SeqCst);
    }
}

impl PlacementClient for Faulty {
    fn send(&self, req: PlacementRequest) -> BoxFuture<'_, Result<PlacementResponse, PlacementError>> {
        let blocked = self.down.load(Ordering::SeqCst)
            || (self.block_deletes.load(Ordering::SeqCst)
                && req.method == Method::DELETE
                && req.path.starts_with("/allocations/"));
        if blocked {
            return Box::pin(async move {
                Err(PlacementError::Unavailable(format!("connection refused ({} {})", req.method, req.path)))
            });
        }
        if self.lose_post_answers.load(Ordering::SeqCst) && req.method == Method::POST && req.path == "/allocations" {
            return Box::pin(async move {
                let _ = self.inner.send(req).await;
                Err(PlacementError::Unavailable("connection reset (POST /allocations)".into()))
            });
        }
        self.inner.send(req)
    }
}

/// Images for boots from the static catalogue; the image proxy through
/// berth's image API, in process, with the caller's token.
struct Glance {
    images: Arc<StaticImages>,
    router: Router,
}

impl berth_compute::ImageLookup for Glance {
    fn lookup<'a>(
        &'a self,
        image_id: &'a str,
        caller: &'a berth_http::RequestContext,
    ) -> BoxFuture<'a, Result<Option<ImageInfo>, String>> {
        self.images.lookup(image_id, caller)
    }

    fn glance<'a>(
        &'a self,
        req: berth_compute::GlanceRequest,
    ) -> BoxFuture<'a, Result<berth_compute::GlanceResponse, String>> {
        Box::pin(async move {
            let mut b = Request::builder().method(req.method).uri(&req.path).header("x-auth-token", &req.token);
            let body = match req.body {
                Some((ct, bytes)) => {
                    b = b.header("content-type", ct);
                    Body::from(bytes)
                }
                None => Body::empty(),
            };
            let resp = self
                .router
                .clone()
                .oneshot(b.body(body).map_err(|e| e.to_string())?)
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(berth_compute::GlanceResponse { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
        })
    }
}

pub struct Env {
    pub backend: Backend,
    /// The compute router mounted at `/compute`.
    pub app: Router,
    pub svc: Arc<ComputeService>,
    /// Placement as the tests see it (always reachable).
    pub placement: Arc<dyn PlacementClient>,
    /// The API's Placement client (can be broken on purpose).
    pub api_placement: Faulty,
    pub images: Arc<StaticImages>,
    pub url: String,
    /// The throw-away database (removed on drop).
    _db: TestDb,
}

pub fn images() -> StaticImages {
    let mut arm = ImageInfo::public(ARM_IMAGE, "arm");
    arm.properties.insert("hw_architecture".into(), "aarch64".into());
    let mut big = ImageInfo::public(BIG_IMAGE, "big");
    big.min_ram = 100_000;
    big.min_disk = 500;
    StaticImages::new([ImageInfo::public(IMAGE, "cirros"), arm, big])
}

impl Env {
    pub async fn new(backend: Backend) -> Env {
        Self::with_config(backend, ComputeConfig::default()).await
    }

    pub async fn with_config(backend: Backend, config: ComputeConfig) -> Env {
        Self::build(backend, config, false).await
    }

    /// A cloud whose compute API reaches berth's image API (over the same
    /// database, a throw-away data directory) for Nova's image proxy; the
    /// image API is mounted at `/image` of `app` too.
    pub async fn with_glance(backend: Backend) -> Env {
        Self::build(backend, ComputeConfig::default(), true).await
    }

    async fn build(backend: Backend, config: ComputeConfig, glance: bool) -> Env {
        let db = TestDb::new(backend).await.expect("PostgreSQL runs are skipped: check common::skip first");
        let url = db.url.clone();
        let store = Store::open(&StoreConfig::new(url.clone())).await.expect("placement store");
        let policy = berth_policy::Enforcer::new(berth_policy::placement::defaults(), EnforcerConfig::default());
        let pstate = Arc::new(AppState::new(store, policy, PlacementConfig::default()));
        let prouter = berth_placement_api::router(pstate);
        let placement: Arc<dyn PlacementClient> =
            Arc::new(InProcessPlacementClient::new(prouter, Arc::new(StaticToken::new("admin"))));
        let api_placement = Faulty::new(placement.clone());
        let images = Arc::new(images());
        let mut lookup: Arc<dyn berth_compute::ImageLookup> = images.clone();
        let mut image_router = None;
        if glance {
            let dir = std::env::temp_dir().join(format!("berth-compute-glance-{}", Uuid::new_v4().simple()));
            let isvc = berth_image::ImageService::open(
                berth_image::ImageConfig::new(dir),
                &url,
                berth_http::AuthStrategy::NoAuth2,
            )
            .await
            .expect("image service");
            let router = berth_image::router(Arc::new(isvc));
            image_router = Some(router.clone());
            lookup = Arc::new(Glance { images: images.clone(), router });
        }
        let svc = ComputeService::open(
            &url,
            Arc::new(api_placement.clone()),
            lookup,
            ComputeService::default_policy(EnforcerConfig::default()),
            config,
        )
        .await
        .expect("compute service");
        let mut app = Router::new().nest("/compute", berth_compute::router(svc.clone()));
        if let Some(r) = image_router {
            app = app.nest("/image", r);
        }
        Env { backend, app, svc, placement, api_placement, images, url, _db: db }
    }

    /// Start an agent for `host` that talks to the always-up Placement.
    pub async fn agent(&self, host: &str, driver: &str, traits: &[&str]) -> Arc<ComputeAgent> {
        self.agent_with(host, driver, traits, FakeDriver::new()).await
    }

    pub async fn agent_with(
        &self,
        host: &str,
        driver: &str,
        traits: &[&str],
        fake: Arc<FakeDriver>,
    ) -> Arc<ComputeAgent> {
        let mut cfg = AgentConfig::new(host, driver.parse::<DriverSpec>().expect("driver"));
        cfg.traits = traits.iter().map(|t| t.to_string()).collect();
        let agent = Arc::new(ComputeAgent::new(self.svc.with_placement(self.placement.clone()), cfg, fake));
        agent.start().await.expect("agent start");
        agent
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut b = Request::builder().method(method).uri(path).header("host", "berth.test");
        let mut has_token = false;
        for (k, v) in headers {
            has_token |= k.eq_ignore_ascii_case("x-auth-token");
            b = b.header(*k, *v);
        }
        if !has_token {
            b = b.header("x-auth-token", "admin");
        }
        if !body.is_empty() {
            b = b.header("content-type", "application/json");
        }
        let resp = self.app.clone().oneshot(b.body(Body::from(body)).unwrap()).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&bytes)}))
        };
        (status, v)
    }

    /// Send `method uri` with exactly these headers and body; the status,
    /// the answer's headers and its raw body.
    pub async fn exchange(
        &self,
        method: Method,
        uri: &str,
        body: Vec<u8>,
        headers: &[(&str, &[u8])],
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut b = Request::builder().method(method).uri(uri).header("host", "berth.test");
        for (k, v) in headers {
            b = b.header(*k, axum::http::HeaderValue::from_bytes(v).expect("header value"));
        }
        let resp = self.app.clone().oneshot(b.body(Body::from(body)).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, headers, bytes)
    }

    /// A request as admin at microversion 2.96.
    pub async fn req(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.raw(method, &format!("/compute/v2.1{path}"), body, &[("openstack-api-version", MV)]).await
    }

    /// A request as `user` of `project` with roles member+reader.
    pub async fn req_as(&self, project: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let token = format!("user-{project}:{project}");
        self.raw(
            method,
            &format!("/compute/v2.1{path}"),
            body,
            &[("openstack-api-version", MV), ("x-auth-token", &token), ("x-roles", "member,reader")],
        )
        .await
    }

    pub async fn create_flavor(&self, name: &str, vcpus: i64, ram: i64, disk: i64) -> String {
        let (s, v) = self
            .req(
                Method::POST,
                "/flavors",
                Some(json!({"flavor": {"name": name, "vcpus": vcpus, "ram": ram, "disk": disk}})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["flavor"]["id"].as_str().unwrap().to_string()
    }

    pub async fn set_specs(&self, flavor: &str, specs: Value) {
        let (s, v) = self
            .req(Method::POST, &format!("/flavors/{flavor}/os-extra_specs"), Some(json!({"extra_specs": specs})))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    /// POST /servers (202 expected); returns the server id.
    pub async fn create_server(&self, name: &str, flavor: &str) -> String {
        self.create_server_image(name, flavor, IMAGE).await
    }

    pub async fn create_server_image(&self, name: &str, flavor: &str, image: &str) -> String {
        let (s, v) = self
            .req(
                Method::POST,
                "/servers",
                Some(json!({"server": {"name": name, "flavorRef": flavor, "imageRef": image, "networks": "none"}})),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        self.schedule().await;
        v["server"]["id"].as_str().unwrap().to_string()
    }

    /// Run the scheduler (through the API's Placement client) until its
    /// queue is empty, as the API process's scheduler worker does.
    pub async fn schedule(&self) -> usize {
        let mut total = 0;
        loop {
            let n = self.svc.schedule_pending("test-scheduler").await.expect("schedule");
            if n == 0 {
                return total;
            }
            total += n;
        }
    }

    pub async fn server(&self, id: &str) -> (StatusCode, Value) {
        let (s, v) = self.req(Method::GET, &format!("/servers/{id}"), None).await;
        (s, v["server"].clone())
    }

    pub async fn status(&self, id: &str) -> String {
        let (s, v) = self.server(id).await;
        if s == StatusCode::NOT_FOUND {
            return "GONE".into();
        }
        v["status"].as_str().unwrap_or("?").to_string()
    }

    pub async fn service_id(&self, host: &str) -> String {
        let (s, v) = self.req(Method::GET, &format!("/os-services?host={host}&binary=nova-compute"), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["services"][0]["id"].as_str().unwrap().to_string()
    }

    pub async fn update_service(&self, host: &str, body: Value) -> Value {
        let id = self.service_id(host).await;
        let (s, v) = self.req(Method::PUT, &format!("/os-services/{id}"), Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["service"].clone()
    }

    pub async fn usages(&self, rp: Uuid) -> BTreeMap<String, i64> {
        self.placement.provider_usages(rp).await.expect("usages").into_iter().filter(|(_, v)| *v != 0).collect()
    }
}

/// Run the scheduler's queue and every agent's until all are empty.
pub async fn drain(agents: &[&Arc<ComputeAgent>]) {
    for _ in 0..10 {
        let mut n = 0;
        if let Some(a) = agents.first() {
            n += a.service().schedule_pending("drain").await.expect("schedule");
        }
        for a in agents {
            n += a.process_tasks().await.expect("process tasks");
        }
        if n == 0 {
            return;
        }
    }
}

pub fn usage(vcpu: i64, ram: i64, disk: i64) -> BTreeMap<String, i64> {
    [("DISK_GB", disk), ("MEMORY_MB", ram), ("VCPU", vcpu)]
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Generate a SQLite and a PostgreSQL test from one async scenario.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if common::skip(common::Backend::Postgres) {
                    return;
                }
                super::$name(common::Backend::Postgres).await;
            }
        }
    };
}
