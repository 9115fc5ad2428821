//! Test harness: an image service over a fresh database from
//! `berth-testkit` (SQLite file or PostgreSQL database, removed afterwards)
//! and a temporary data directory, behind the router mounted at `/image`,
//! driven with `tower::ServiceExt::oneshot`.
//!
//! PostgreSQL runs follow berth-testkit: `BERTH_TEST_POSTGRES_URL` names the
//! server, `BERTH_TEST_SKIP_POSTGRES=1` skips them.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use berth_http::{AuthStrategy, RequestContext, TokenValidator};
use berth_image::{router, ImageConfig, ImageService};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub use berth_testkit::Backend;
use berth_testkit::TestDb;

pub const HOST: &str = "berth.test:8778";
pub const PATCH: &str = "application/openstack-images-v2.1-json-patch";

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// Whether this engine's run is switched off (berth-testkit's switch).
pub fn skip(backend: Backend) -> bool {
    backend == Backend::Postgres && berth_testkit::skip_postgres()
}

struct DirCleanup(PathBuf);

impl Drop for DirCleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A token validator with a fixed table of tokens.
#[derive(Debug, Default)]
pub struct FakeValidator {
    pub tokens: HashMap<String, RequestContext>,
}

impl TokenValidator for FakeValidator {
    fn validate<'a>(
        &'a self,
        token: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<RequestContext>> + Send + 'a>> {
        Box::pin(async move { self.tokens.get(token).cloned() })
    }
}

pub fn ctx(user: &str, project: &str, roles: &[&str]) -> RequestContext {
    RequestContext {
        user_id: Some(user.to_string()),
        project_id: Some(project.to_string()),
        domain_id: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        system_scope: None,
        access_rules: None,
    }
}

/// Who sends a request: a token plus extra headers (noauth2 roles).
#[derive(Debug, Clone)]
pub struct Who {
    pub token: String,
    pub roles: Option<String>,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        if self.bytes.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&self.bytes)))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_string())
    }
}

pub struct Env {
    pub app: Router,
    pub service: Arc<ImageService>,
    pub data_dir: PathBuf,
    /// Member and reader of project `pa`.
    pub alice: Who,
    /// Member and reader of project `pb`.
    pub bob: Who,
    /// Reader only of project `pa`.
    pub rita: Who,
    /// Administrator (project `admin`).
    pub admin: Who,
    _db: TestDb,
    _dir: DirCleanup,
}

pub enum Auth {
    NoAuth2,
    Keystone,
}

impl Env {
    pub async fn new(backend: Backend) -> Env {
        Env::build(backend, Auth::NoAuth2, |_| {}).await
    }

    pub async fn build(backend: Backend, auth: Auth, tweak: impl FnOnce(&mut ImageConfig)) -> Env {
        let db = TestDb::new(backend).await.expect("the PostgreSQL run is skipped before an Env is built");
        let url = db.url.clone();
        let data_dir = std::env::temp_dir().join(unique("berth_image_data"));
        let mut config = ImageConfig::new(&data_dir);
        config.max_connections = 4;
        tweak(&mut config);
        let (strategy, alice, bob, rita, admin) = match auth {
            Auth::NoAuth2 => (
                AuthStrategy::NoAuth2,
                Who { token: "alice:pa".into(), roles: Some("member,reader".into()) },
                Who { token: "bob:pb".into(), roles: Some("member,reader".into()) },
                Who { token: "rita:pa".into(), roles: Some("reader".into()) },
                Who { token: "admin:admin".into(), roles: Some("admin,member,reader".into()) },
            ),
            Auth::Keystone => {
                let mut v = FakeValidator::default();
                v.tokens.insert("tok-alice".into(), ctx("alice", "pa", &["member", "reader"]));
                v.tokens.insert("tok-bob".into(), ctx("bob", "pb", &["member", "reader"]));
                v.tokens.insert("tok-rita".into(), ctx("rita", "pa", &["reader"]));
                v.tokens.insert("tok-admin".into(), ctx("admin", "admin", &["admin", "member", "reader"]));
                (
                    AuthStrategy::Keystone(Arc::new(v)),
                    Who { token: "tok-alice".into(), roles: None },
                    Who { token: "tok-bob".into(), roles: None },
                    Who { token: "tok-rita".into(), roles: None },
                    Who { token: "tok-admin".into(), roles: None },
                )
            }
        };
        let service = Arc::new(ImageService::open(config, &url, strategy).await.expect("open image service"));
        let app = Router::new().nest("/image", router(service.clone()));
        Env { app, service, data_dir: data_dir.clone(), alice, bob, rita, admin, _db: db, _dir: DirCleanup(data_dir) }
    }

    /// Send a request with a raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        who: Option<&Who>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        let mut b = Request::builder().method(method).uri(path).header("host", HOST);
        if let Some(w) = who {
            b = b.header("x-auth-token", w.token.as_str());
            if let Some(r) = &w.roles {
                b = b.header("x-roles", r.as_str());
            }
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        // As an HTTP client does: a body declares its length.
        if !body.is_empty() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
            b = b.header("content-length", body.len());
        }
        let resp = self.app.clone().oneshot(b.body(Body::from(body)).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
        assert!(
            status != StatusCode::INTERNAL_SERVER_ERROR,
            "{path}: 500 with body {}",
            String::from_utf8_lossy(&bytes)
        );
        if status.is_client_error() || status.is_server_error() {
            let v: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("{path}: error body is not JSON: {}", String::from_utf8_lossy(&bytes)));
            assert_glance_error(&v, status);
        }
        Response { status, headers, bytes }
    }

    pub async fn get(&self, path: &str, who: &Who) -> (StatusCode, Value) {
        let r = self.raw(Method::GET, path, Some(who), &[], vec![]).await;
        (r.status, r.json())
    }

    pub async fn post(&self, path: &str, who: &Who, body: Value) -> (StatusCode, Value) {
        let r = self
            .raw(Method::POST, path, Some(who), &[("content-type", "application/json")], body.to_string().into_bytes())
            .await;
        (r.status, r.json())
    }

    pub async fn put_json(&self, path: &str, who: &Who, body: Value) -> (StatusCode, Value) {
        let r = self
            .raw(Method::PUT, path, Some(who), &[("content-type", "application/json")], body.to_string().into_bytes())
            .await;
        (r.status, r.json())
    }

    pub async fn patch(&self, path: &str, who: &Who, ops: Value) -> (StatusCode, Value) {
        let r =
            self.raw(Method::PATCH, path, Some(who), &[("content-type", PATCH)], ops.to_string().into_bytes()).await;
        (r.status, r.json())
    }

    pub async fn delete(&self, path: &str, who: &Who) -> StatusCode {
        self.raw(Method::DELETE, path, Some(who), &[], vec![]).await.status
    }

    /// Create an image; asserts 201 and returns its JSON.
    pub async fn create(&self, who: &Who, body: Value) -> Value {
        let (s, v) = self.post("/image/v2/images", who, body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    pub async fn upload(&self, id: &str, who: &Who, data: &[u8]) -> Response {
        self.raw(
            Method::PUT,
            &format!("/image/v2/images/{id}/file"),
            Some(who),
            &[("content-type", "application/octet-stream")],
            data.to_vec(),
        )
        .await
    }

    pub async fn show(&self, id: &str, who: &Who) -> (StatusCode, Value) {
        self.get(&format!("/image/v2/images/{id}"), who).await
    }

    /// Names of the images a list call returns.
    pub async fn names(&self, query: &str, who: &Who) -> Vec<String> {
        let (s, v) = self.get(&format!("/image/v2/images{query}"), who).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["images"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap_or("").to_string()).collect()
    }
}

pub fn assert_glance_error(v: &Value, status: StatusCode) {
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(v["error"]["code"], json!(401), "{v}");
        return;
    }
    let code = v["code"].as_str().unwrap_or_else(|| panic!("error code in {v}"));
    assert!(code.starts_with(&status.as_u16().to_string()), "code {code} for {status}");
    assert!(v["title"].is_string(), "error title in {v}");
    assert!(v["message"].is_string(), "error message in {v}");
}

/// Run one test body against both engines.
#[macro_export]
macro_rules! both_engines {
    ($name:ident) => {
        mod $name {
            use super::common::{skip, Backend};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if skip(Backend::Postgres) {
                    return;
                }
                super::$name(Backend::Postgres).await
            }
        }
    };
}

/// One hostile request and the status it must answer.
pub struct Case {
    pub method: Method,
    /// `{id}` is replaced by the test's image id.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub want: StatusCode,
}

impl Case {
    pub fn new(method: Method, path: impl Into<String>, want: u16) -> Case {
        Case {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
            want: StatusCode::from_u16(want).expect("a status code"),
        }
    }
    pub fn get(path: impl Into<String>, want: u16) -> Case {
        Case::new(Method::GET, path, want)
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.headers.push((name, value.into()));
        self
    }
    /// Set the body and its content type (replacing any earlier one).
    pub fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Case {
        self.body = body.into();
        self.headers.retain(|(k, _)| *k != "content-type");
        self.header("content-type", content_type)
    }
    pub fn json(self, body: impl Into<Vec<u8>>) -> Case {
        self.body("application/json", body)
    }
}

/// What a hostile case must never see in an answer.
/// (Compared with the lower-cased body.)
const LEAKS: &[&str] = &[
    "sqlx",
    "sqlstate",
    "database",
    "syntax error",
    "constraint",
    "sqlite",
    "postgres",
    "invalid byte sequence",
    "panicked",
];

impl Env {
    /// Send every case as `who`; return a line for each case whose status
    /// differs, whose answer has no `x-openstack-request-id` or mentions the
    /// database, or whose error body is larger than 64 KiB. (`raw` already
    /// refuses any 500 and any error body that is not Glance's.)
    pub async fn check_cases(&self, who: &Who, id: &str, cases: &[Case]) -> Vec<String> {
        self.check_cases_as(Some(who), None, id, cases).await
    }

    /// The same cases without a token: every one answers 401.
    pub async fn check_cases_unauthenticated(&self, id: &str, cases: &[Case]) -> Vec<String> {
        self.check_cases_as(None, Some(StatusCode::UNAUTHORIZED), id, cases).await
    }

    /// The cases without a token, each answering `status`.
    pub async fn check_cases_as_nobody(&self, id: &str, cases: &[Case], status: StatusCode) -> Vec<String> {
        self.check_cases_as(None, Some(status), id, cases).await
    }

    async fn check_cases_as(
        &self,
        who: Option<&Who>,
        status: Option<StatusCode>,
        id: &str,
        cases: &[Case],
    ) -> Vec<String> {
        let mut failures = Vec::new();
        for c in cases {
            let want = status.unwrap_or(c.want);
            let path = c.path.replace("{id}", id);
            let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let shown: String = path.chars().take(120).collect();
            let r = self.raw(c.method.clone(), &path, who, &headers, c.body.clone()).await;
            let rid = r.header(berth_http::X_REQUEST_ID_HEADER).unwrap_or_default();
            if !rid.starts_with("req-") {
                failures.push(format!("{} {shown}: no request id in the answer ({rid:?})", c.method));
            }
            let text = String::from_utf8_lossy(&r.bytes).to_ascii_lowercase();
            if let Some(leak) = LEAKS.iter().find(|l| text.contains(*l)) {
                let body: String = text.chars().take(300).collect();
                failures.push(format!("{} {shown}: answer mentions {leak:?}: {body}", c.method));
            }
            if r.status != want {
                let body: String = String::from_utf8_lossy(&r.bytes).chars().take(300).collect();
                failures.push(format!("{} {shown}: want {want}, got {} {body}", c.method, r.status));
                continue;
            }
            if r.status.is_client_error() && r.bytes.len() > 64 * 1024 {
                failures.push(format!("{} {shown}: error body of {} bytes", c.method, r.bytes.len()));
            }
        }
        failures
    }
}
