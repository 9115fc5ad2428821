//! Test harness: an identity service over a fresh database from
//! `berth-testkit` (a SQLite file, or a PostgreSQL database created and
//! dropped per test; `BERTH_TEST_SKIP_POSTGRES=1` skips those), bootstrapped,
//! behind the router mounted at `/identity`, driven with
//! `tower::ServiceExt::oneshot`. Tests run on both engines with
//! `berth_testkit::both_engines!`.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use berth_identity::{bootstrap, router, BootstrapReport, Identity, IdentityConfig, PasswordHashing};
use berth_testkit::TestDb;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const ADMIN_PW: &str = "correct horse battery staple";
pub const HOST: &str = "berth.test:8778";

pub struct Env {
    pub app: Router,
    pub identity: Arc<Identity>,
    pub boot: BootstrapReport,
    pub url: String,
    /// Dropped last: removes the database.
    _db: TestDb,
}

pub fn fast_hashing() -> PasswordHashing {
    PasswordHashing { memory_kib: 1024, iterations: 1, parallelism: 1 }
}

/// The request id every answer of the edge carries.
pub fn request_id(h: &HeaderMap) -> String {
    let id = h
        .get("x-openstack-request-id")
        .unwrap_or_else(|| panic!("no x-openstack-request-id in {h:?}"))
        .to_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("req-"), "{id}");
    id
}

impl Env {
    pub async fn new(db: TestDb) -> Env {
        Env::with_ttl(db, Duration::from_secs(3600)).await
    }

    pub async fn with_ttl(db: TestDb, ttl: Duration) -> Env {
        Env::with_config(db, |c| c.token_ttl = ttl).await
    }

    /// A fresh environment whose configuration `adjust` may change (policy
    /// options, token lifetime...).
    pub async fn with_config(db: TestDb, adjust: impl FnOnce(&mut IdentityConfig)) -> Env {
        let url = db.url.clone();
        let mut config = IdentityConfig::new(url.clone());
        adjust(&mut config);
        config.password_hashing = fast_hashing();
        config.max_connections = 4;
        let identity = Arc::new(Identity::open(config).await.expect("open identity"));
        let boot = bootstrap(&identity, ADMIN_PW).await.expect("bootstrap");
        let app = Router::new().nest("/identity", router(identity.clone()));
        Env { app, identity, boot, url, _db: db }
    }

    /// Send a request; returns status, headers and the JSON body (Null when empty).
    pub async fn req(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut b = Request::builder().method(method.clone()).uri(path).header("host", HOST);
        if let Some(t) = token {
            b = b.header("x-auth-token", t);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(s) => b.header("content-type", "application/json").body(Body::from(s.to_string())).unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("{path}: body is not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: 500 with body {value}");
        assert!(headers.contains_key("x-openstack-request-id"), "{method} {path}: {status} without a request id");
        if status.is_client_error() || status.is_server_error() {
            assert_keystone_error(&value, status);
        }
        (status, headers, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.req(Method::GET, path, Some(token), &[], None).await;
        (s, v)
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.req(Method::POST, path, Some(token), &[], Some(&body.to_string())).await;
        (s, v)
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.req(Method::PATCH, path, Some(token), &[], Some(&body.to_string())).await;
        (s, v)
    }
    pub async fn put(&self, path: &str, token: &str) -> StatusCode {
        self.req(Method::PUT, path, Some(token), &[], None).await.0
    }
    pub async fn delete(&self, path: &str, token: &str) -> StatusCode {
        self.req(Method::DELETE, path, Some(token), &[], None).await.0
    }
    pub async fn head(&self, path: &str, token: &str) -> StatusCode {
        self.req(Method::HEAD, path, Some(token), &[], None).await.0
    }

    /// `POST /identity/v3/auth/tokens` with a raw body.
    pub async fn auth_raw(&self, body: &str) -> (StatusCode, HeaderMap, Value) {
        self.req(Method::POST, "/identity/v3/auth/tokens", None, &[], Some(body)).await
    }

    /// Authenticate; returns status, token (if issued) and body.
    pub async fn auth(&self, body: Value) -> (StatusCode, Option<String>, Value) {
        let (s, h, v) = self.auth_raw(&body.to_string()).await;
        let tok = h.get("x-subject-token").map(|t| t.to_str().unwrap().to_string());
        (s, tok, v)
    }

    /// A password token, scoped to a project by name in Default when given.
    pub async fn password_token(
        &self,
        user: &str,
        pw: &str,
        project: Option<&str>,
    ) -> (StatusCode, Option<String>, Value) {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": pw}}}});
        if let Some(p) = project {
            auth["scope"] = json!({"project": {"name": p, "domain": {"name": "Default"}}});
        }
        self.auth(json!({ "auth": auth })).await
    }

    pub async fn admin_token(&self) -> String {
        let (s, t, v) = self.password_token("admin", ADMIN_PW, Some("admin")).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        t.unwrap()
    }

    /// Create a project, a user with a password, and grant the named role.
    pub async fn user_with_role(
        &self,
        admin: &str,
        user: &str,
        pw: &str,
        project: &str,
        role: &str,
    ) -> (String, String) {
        let (s, p) = self
            .post("/identity/v3/projects", admin, json!({"project": {"name": project, "domain_id": "default"}}))
            .await;
        let pid = if s == StatusCode::CREATED {
            p["project"]["id"].as_str().unwrap().to_string()
        } else {
            assert_eq!(s, StatusCode::CONFLICT, "{p}");
            let (_, l) = self.get(&format!("/identity/v3/projects?name={project}"), admin).await;
            l["projects"][0]["id"].as_str().unwrap().to_string()
        };
        let (s, u) = self
            .post("/identity/v3/users", admin, json!({"user": {"name": user, "password": pw, "domain_id": "default"}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        let uid = u["user"]["id"].as_str().unwrap().to_string();
        let rid = self.role_id(admin, role).await;
        assert_eq!(
            self.put(&format!("/identity/v3/projects/{pid}/users/{uid}/roles/{rid}"), admin).await,
            StatusCode::NO_CONTENT
        );
        (pid, uid)
    }

    pub async fn role_id(&self, admin: &str, name: &str) -> String {
        let (s, v) = self.get(&format!("/identity/v3/roles?name={name}"), admin).await;
        assert_eq!(s, StatusCode::OK);
        v["roles"][0]["id"].as_str().unwrap_or_else(|| panic!("role {name}: {v}")).to_string()
    }
}

pub fn assert_keystone_error(v: &Value, status: StatusCode) {
    if v.is_null() {
        // HEAD responses have no body.
        return;
    }
    let e = &v["error"];
    assert_eq!(e["code"].as_u64(), Some(u64::from(status.as_u16())), "error code in {v}");
    assert!(e["title"].is_string(), "error title in {v}");
    assert!(e["message"].is_string(), "error message in {v}");
}
