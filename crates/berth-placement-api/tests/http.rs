//! End-to-end tests of the Placement router over a temporary SQLite
//! database, driven with `tower::ServiceExt::oneshot` (no sockets).
//! Authentication is noauth2: `x-auth-token: admin` is an administrator,
//! `user:proj` a project member without roles.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use berth_placement_api::{AppState, PlacementConfig};
use berth_policy::{Enforcer, EnforcerConfig};
use berth_store::{Store, StoreConfig};
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

// ---------------------------------------------------------------- harness --

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Api {
    app: Router,
    _dir: TempDir,
}

#[derive(Debug)]
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Assert the status and Placement's error body; returns the one error.
    #[track_caller]
    fn error(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        let errors = body["errors"].as_array().unwrap_or_else(|| panic!("no errors list in {body}"));
        assert_eq!(errors.len(), 1, "{body}");
        let e = errors[0].clone();
        assert_eq!(e["status"], json!(status), "{body}");
        assert!(e["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
        assert!(e["detail"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
        let rid = e["request_id"].as_str().unwrap_or_else(|| panic!("no request_id in {body}"));
        assert!(rid.starts_with("req-"), "{rid}");
        assert_eq!(self.header("openstack-request-id"), Some(rid), "request id in body and header agree");
        e
    }
    #[track_caller]
    fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.body));
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// One request: method, path, microversion (None: no header), token
/// (None: unauthenticated) and an optional JSON body.
struct Call<'a> {
    method: Method,
    path: &'a str,
    version: Option<&'a str>,
    token: Option<&'a str>,
    headers: Vec<(&'a str, String)>,
    body: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: &'a str) -> Self {
        Call { method, path, version: None, token: Some("admin"), headers: Vec::new(), body: None }
    }
    fn v(mut self, version: &'a str) -> Self {
        self.version = Some(version);
        self
    }
    fn token(mut self, token: Option<&'a str>) -> Self {
        self.token = token;
        self
    }
    fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self.headers.push(("content-type", "application/json".into()));
        self
    }
    fn raw(mut self, body: impl Into<Vec<u8>>, content_type: &str) -> Self {
        self.body = Some(body.into());
        self.headers.push(("content-type", content_type.into()));
        self
    }
}

impl Api {
    async fn new() -> Api {
        let dir = std::env::temp_dir().join(format!("berth-api-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/x.db", dir.display());
        let store = Store::open(&StoreConfig::new(url)).await.expect("open store");
        let policy = Enforcer::new(
            berth_policy::placement::defaults(),
            EnforcerConfig { enforce_new_defaults: false, enforce_scope: true },
        );
        let state = Arc::new(AppState::new(store, policy, PlacementConfig::default()));
        Api { app: berth_placement_api::router(state), _dir: TempDir(dir) }
    }

    async fn send(&self, c: Call<'_>) -> Resp {
        let r = self.send_once(c).await;
        r
    }

    async fn send_once(&self, c: Call<'_>) -> Resp {
        let mut b = Request::builder().method(c.method).uri(c.path);
        if let Some(t) = c.token {
            b = b.header("x-auth-token", t);
        }
        if let Some(v) = c.version {
            b = b.header("openstack-api-version", format!("placement {v}"));
        }
        for (k, v) in &c.headers {
            b = b.header(*k, v.as_str());
        }
        let body = match c.body {
            Some(bytes) => {
                b = b.header(header::CONTENT_LENGTH, bytes.len());
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let resp = self.app.clone().oneshot(b.body(body).unwrap()).await.expect("router never fails");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("read body").to_bytes().to_vec();
        Resp { status: parts.status, headers: parts.headers, body }
    }

    async fn get(&self, path: &str, version: &str) -> Resp {
        self.send(Call::new(Method::GET, path).v(version)).await
    }
    async fn put(&self, path: &str, version: &str, body: Value) -> Resp {
        self.send(Call::new(Method::PUT, path).v(version).json(&body)).await
    }
    async fn post(&self, path: &str, version: &str, body: Value) -> Resp {
        self.send(Call::new(Method::POST, path).v(version).json(&body)).await
    }
    async fn delete(&self, path: &str, version: &str) -> Resp {
        self.send(Call::new(Method::DELETE, path).v(version)).await
    }

    /// Create a provider (1.20+ returns it) and return its uuid.
    async fn provider(&self, name: &str, parent: Option<Uuid>) -> Uuid {
        let u = Uuid::new_v4();
        let r = self
            .post("/resource_providers", "1.20", json!({"name": name, "uuid": u, "parent_provider_uuid": parent}))
            .await;
        assert_eq!(r.ok(200)["uuid"], json!(u));
        u
    }

    async fn generation(&self, rp: Uuid) -> i64 {
        self.get(&format!("/resource_providers/{rp}"), "1.14").await.ok(200)["generation"].as_i64().unwrap()
    }

    /// Set inventories and return the new generation.
    async fn inventories(&self, rp: Uuid, inventories: Value) -> i64 {
        let gen = self.generation(rp).await;
        let r = self
            .put(
                &format!("/resource_providers/{rp}/inventories"),
                "1.26",
                json!({"resource_provider_generation": gen, "inventories": inventories}),
            )
            .await;
        r.ok(200)["resource_provider_generation"].as_i64().unwrap()
    }
}

fn names_of(list: &Value) -> Vec<String> {
    list["resource_providers"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

// ------------------------------------------------------------------ tests --

#[tokio::test]
async fn root_version_document_needs_no_auth() {
    let api = Api::new().await;
    let r = api.send(Call::new(Method::GET, "/").token(None)).await;
    let body = r.ok(200);
    assert_eq!(
        body,
        json!({"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0", "status": "CURRENT",
                             "links": [{"rel": "self", "href": ""}]}]})
    );
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.0"));
    assert!(r.header("vary").is_some_and(|v| v.contains("openstack-api-version")));
    assert!(r.header("openstack-request-id").is_some_and(|v| v.starts_with("req-")));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = api.send(Call::new(Method::GET, "/").token(None).v("latest")).await;
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.39"));
    // Each response gets its own request id.
    let other = api.send(Call::new(Method::GET, "/").token(None)).await;
    assert_ne!(other.header("openstack-request-id"), r.header("openstack-request-id"));
}

#[tokio::test]
async fn requests_without_a_token_get_401() {
    let api = Api::new().await;
    for path in ["/resource_providers", "/traits", "/resource_classes", "/usages?project_id=x"] {
        let r = api.send(Call::new(Method::GET, path).token(None).v("1.39")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(r.header("www-authenticate").is_some(), "{path}");
        assert_eq!(r.json()["error"]["code"], json!(401));
    }
    let r = api.send(Call::new(Method::POST, "/resource_providers").token(None).json(&json!({"name": "x"}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Nothing was created.
    assert!(names_of(&api.get("/resource_providers", "1.0").await.ok(200)).is_empty());
}

#[tokio::test]
async fn microversion_negotiation_and_headers() {
    let api = Api::new().await;
    // No header: the minimum.
    let r = api.send(Call::new(Method::GET, "/resource_providers")).await;
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.0"));
    assert!(r.header("vary").is_some_and(|v| v.contains("openstack-api-version")));
    // Explicit, latest, and headers for other services.
    let r = api.get("/resource_providers", "1.17").await;
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.17"));
    let r = api.get("/resource_providers", "latest").await;
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.39"));
    let r =
        api.send(Call::new(Method::GET, "/resource_providers").header("openstack-api-version", "compute 2.1")).await;
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.0"));

    // Out of range: 406 with the supported range.
    for v in ["1.40", "2.0", "0.9"] {
        let r = api.get("/resource_providers", v).await;
        let e = r.error(406);
        assert_eq!((e["min_version"].as_str(), e["max_version"].as_str()), (Some("1.0"), Some("1.39")), "{v}");
    }
    // Malformed: 400.
    for v in ["pony", "1.2.3", "1", "1.", "-1.2", "1.x"] {
        api.get("/resource_providers", v).await.error(400);
    }

    // Version gating: routes appear at their microversion.
    assert_eq!(api.get("/resource_classes", "1.1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/resource_classes", "1.2").await.status, StatusCode::OK);
    assert_eq!(api.get("/traits", "1.5").await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/traits", "1.6").await.status, StatusCode::OK);
    assert_eq!(api.get("/usages?project_id=p", "1.8").await.status, StatusCode::NOT_FOUND);

    // Error codes appear from 1.23.
    let missing = format!("/resource_providers/{}", Uuid::new_v4());
    let e = api.get(&missing, "1.22").await.error(404);
    assert!(e.get("code").is_none(), "{e}");
    let e = api.get(&missing, "1.23").await.error(404);
    assert_eq!(e["code"], json!("placement.undefined_code"));

    // Cache headers from 1.15.
    let r = api.get("/resource_providers", "1.14").await;
    assert!(r.header("last-modified").is_none() && r.header("cache-control").is_none());
    let r = api.get("/resource_providers", "1.15").await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("last-modified").is_some_and(|v| v.ends_with("GMT")));
}

#[tokio::test]
async fn resource_providers_crud_and_filters() {
    let api = Api::new().await;
    // 1.0: 201, no body, absolute Location.
    let u0 = Uuid::new_v4();
    let r = api.post("/resource_providers", "1.0", json!({"name": "rp0", "uuid": u0})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body.is_empty());
    assert_eq!(r.header("location"), Some(format!("http://localhost/resource_providers/{u0}").as_str()));
    // 1.20: the provider in the body.
    let u1 = Uuid::new_v4();
    let r = api.post("/resource_providers", "1.20", json!({"name": "rp1", "uuid": u1})).await;
    let b = r.ok(200);
    assert_eq!((b["uuid"].clone(), b["name"].clone(), b["generation"].clone()), (json!(u1), json!("rp1"), json!(0)));
    assert_eq!((b["parent_provider_uuid"].clone(), b["root_provider_uuid"].clone()), (Value::Null, json!(u1)));
    // Without a uuid one is generated.
    let r = api.post("/resource_providers", "1.20", json!({"name": "rp-gen"})).await;
    assert!(Uuid::parse_str(r.ok(200)["uuid"].as_str().unwrap()).is_ok());

    // Duplicates.
    let e = api.post("/resource_providers", "1.23", json!({"name": "rp1"})).await.error(409);
    assert_eq!(e["code"], json!("placement.duplicate_name"));
    assert!(e["detail"].as_str().unwrap().contains("name: rp1"));
    api.post("/resource_providers", "1.23", json!({"name": "zz", "uuid": u1})).await.error(409);
    // Parent handling.
    let child = api.provider("child", Some(u1)).await;
    let e = api
        .post("/resource_providers", "1.14", json!({"name": "orphan", "parent_provider_uuid": Uuid::new_v4()}))
        .await
        .error(400);
    assert!(e["detail"].as_str().unwrap().contains("parent provider UUID does not exist"));
    api.post("/resource_providers", "1.13", json!({"name": "p", "parent_provider_uuid": u1})).await.error(400);

    // Show: links by version, tree fields from 1.14.
    let b = api.get(&format!("/resource_providers/{child}"), "1.11").await.ok(200);
    let rels: Vec<&str> = b["links"].as_array().unwrap().iter().map(|l| l["rel"].as_str().unwrap()).collect();
    assert_eq!(rels, ["self", "inventories", "usages", "aggregates", "traits", "allocations"]);
    assert_eq!(b["links"][0]["href"], json!(format!("/resource_providers/{child}")));
    assert!(b.get("parent_provider_uuid").is_none());
    let b = api.get(&format!("/resource_providers/{child}"), "1.0").await.ok(200);
    assert_eq!(b["links"].as_array().unwrap().len(), 3);
    let b = api.get(&format!("/resource_providers/{child}"), "1.14").await.ok(200);
    assert_eq!((b["parent_provider_uuid"].clone(), b["root_provider_uuid"].clone()), (json!(u1), json!(u1)));

    // Update.
    let b = api.put(&format!("/resource_providers/{u0}"), "1.14", json!({"name": "rp0-renamed"})).await.ok(200);
    assert_eq!(b["name"], json!("rp0-renamed"));
    api.put(&format!("/resource_providers/{u0}"), "1.14", json!({"name": "rp1"})).await.error(409);
    api.put(&format!("/resource_providers/{}", Uuid::nil()), "1.14", json!({"name": "x"})).await.error(404);
    let path = format!("/resource_providers/{child}");
    let e = api.put(&path, "1.36", json!({"name": "child", "parent_provider_uuid": u0})).await.error(400);
    assert!(e["detail"].as_str().unwrap().contains("re-parenting"));
    let b = api.put(&path, "1.37", json!({"name": "child", "parent_provider_uuid": u0})).await.ok(200);
    assert_eq!(b["root_provider_uuid"], json!(u0));
    api.put(&path, "1.37", json!({"name": "child", "parent_provider_uuid": child})).await.error(400);

    // List filters.
    assert_eq!(
        names_of(&api.get("/resource_providers", "1.14").await.ok(200)),
        ["rp0-renamed", "rp1", "rp-gen", "child"]
    );
    assert_eq!(names_of(&api.get("/resource_providers?name=rp1", "1.14").await.ok(200)), ["rp1"]);
    assert_eq!(names_of(&api.get(&format!("/resource_providers?uuid={child}"), "1.14").await.ok(200)), ["child"]);
    assert_eq!(
        names_of(&api.get(&format!("/resource_providers?in_tree={child}"), "1.14").await.ok(200)),
        ["rp0-renamed", "child"]
    );
    api.get(&format!("/resource_providers?in_tree={child}"), "1.13").await.error(400);
    api.get("/resource_providers?foo=bar", "1.14").await.error(400);

    let agg = Uuid::new_v4();
    api.put(&format!("/resource_providers/{u1}/aggregates"), "1.1", json!([agg])).await.ok(200);
    assert_eq!(names_of(&api.get(&format!("/resource_providers?member_of={agg}"), "1.3").await.ok(200)), ["rp1"]);
    assert_eq!(
        names_of(&api.get(&format!("/resource_providers?member_of=in:{agg},{}", Uuid::new_v4()), "1.3").await.ok(200)),
        ["rp1"]
    );
    assert_eq!(
        names_of(&api.get(&format!("/resource_providers?member_of=!{agg}"), "1.32").await.ok(200)),
        ["rp0-renamed", "rp-gen", "child"]
    );
    api.get(&format!("/resource_providers?member_of=!{agg}"), "1.31").await.error(400);

    api.inventories(u0, json!({"VCPU": {"total": 4}})).await;
    assert_eq!(names_of(&api.get("/resource_providers?resources=VCPU:2", "1.4").await.ok(200)), ["rp0-renamed"]);
    assert!(names_of(&api.get("/resource_providers?resources=VCPU:5", "1.4").await.ok(200)).is_empty());
    let e = api.get("/resource_providers?resources=CUSTOM_NOPE:1", "1.4").await.error(400);
    assert!(e["detail"].as_str().unwrap().contains("CUSTOM_NOPE"));

    api.put("/traits/CUSTOM_RED", "1.6", json!(null)).await;
    let gen = api.generation(u1).await;
    api.put(
        &format!("/resource_providers/{u1}/traits"),
        "1.6",
        json!({"traits": ["CUSTOM_RED"], "resource_provider_generation": gen}),
    )
    .await
    .ok(200);
    assert_eq!(names_of(&api.get("/resource_providers?required=CUSTOM_RED", "1.18").await.ok(200)), ["rp1"]);
    assert_eq!(
        names_of(&api.get("/resource_providers?required=!CUSTOM_RED", "1.22").await.ok(200)),
        ["rp0-renamed", "rp-gen", "child"]
    );
    let e = api.get("/resource_providers?required=CUSTOM_NOPE", "1.18").await.error(400);
    assert!(e["detail"].as_str().unwrap().contains("No such trait(s): CUSTOM_NOPE"));
    api.get("/resource_providers?required=CUSTOM_RED", "1.17").await.error(400);

    // Delete.
    let e = api.delete(&format!("/resource_providers/{u0}"), "1.23").await.error(409);
    assert_eq!(e["code"], json!("placement.resource_provider.cannot_delete_parent"));
    assert_eq!(api.delete(&format!("/resource_providers/{child}"), "1.0").await.status, StatusCode::NO_CONTENT);
    api.get(&format!("/resource_providers/{child}"), "1.0").await.error(404);
    api.delete(&format!("/resource_providers/{child}"), "1.0").await.error(404);
    assert_eq!(api.delete(&format!("/resource_providers/{u0}"), "1.0").await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn resource_classes() {
    let api = Api::new().await;
    let b = api.get("/resource_classes", "1.2").await.ok(200);
    let names: Vec<&str> =
        b["resource_classes"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, berth_placement::standard::RESOURCE_CLASSES.to_vec());
    assert_eq!(b["resource_classes"][0]["links"], json!([{"rel": "self", "href": "/resource_classes/VCPU"}]));

    let r = api.post("/resource_classes", "1.2", json!({"name": "CUSTOM_A"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("location"), Some("http://localhost/resource_classes/CUSTOM_A"));
    let e = api.post("/resource_classes", "1.23", json!({"name": "CUSTOM_A"})).await.error(409);
    assert_eq!(e["code"], json!("placement.duplicate_name"));
    api.post("/resource_classes", "1.2", json!({"name": "VCPU"})).await.error(400);
    api.post("/resource_classes", "1.2", json!({"name": "CUSTOM_lower"})).await.error(400);
    api.post("/resource_classes", "1.2", json!({"name": "CUSTOM_A", "extra": 1})).await.error(400);
    assert_eq!(api.get("/resource_classes/CUSTOM_A", "1.2").await.ok(200)["name"], json!("CUSTOM_A"));
    api.get("/resource_classes/CUSTOM_NOPE", "1.2").await.error(404);

    // 1.7: bodiless create-or-confirm.
    assert_eq!(
        api.send(Call::new(Method::PUT, "/resource_classes/CUSTOM_B").v("1.7")).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.send(Call::new(Method::PUT, "/resource_classes/CUSTOM_B").v("1.7")).await.status,
        StatusCode::NO_CONTENT
    );
    api.send(Call::new(Method::PUT, "/resource_classes/VCPU").v("1.7")).await.error(400);
    // 1.2 - 1.6: rename.
    let b = api.put("/resource_classes/CUSTOM_A", "1.2", json!({"name": "CUSTOM_C"})).await.ok(200);
    assert_eq!(b["name"], json!("CUSTOM_C"));
    api.get("/resource_classes/CUSTOM_A", "1.2").await.error(404);
    api.put("/resource_classes/CUSTOM_C", "1.2", json!({"name": "CUSTOM_B"})).await.error(409);
    api.put("/resource_classes/VCPU", "1.2", json!({"name": "CUSTOM_V"})).await.error(400);

    // Delete: standard refused, in use refused, then gone.
    api.delete("/resource_classes/VCPU", "1.2").await.error(400);
    let rp = api.provider("rp", None).await;
    api.inventories(rp, json!({"CUSTOM_C": {"total": 1}})).await;
    let e = api.delete("/resource_classes/CUSTOM_C", "1.2").await.error(409);
    assert!(e["detail"].as_str().unwrap().contains("in use"));
    api.inventories(rp, json!({})).await;
    assert_eq!(api.delete("/resource_classes/CUSTOM_C", "1.2").await.status, StatusCode::NO_CONTENT);
    api.delete("/resource_classes/CUSTOM_C", "1.2").await.error(404);
}

#[tokio::test]
async fn traits() {
    let api = Api::new().await;
    let put = |name: &'static str| Call::new(Method::PUT, name).v("1.15");
    let r = api.send(put("/traits/CUSTOM_T")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("location"), Some("http://localhost/traits/CUSTOM_T"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(api.send(put("/traits/CUSTOM_T")).await.status, StatusCode::NO_CONTENT);
    api.send(put("/traits/NOT_CUSTOM")).await.error(400);
    api.send(put("/traits/CUSTOM_lower")).await.error(400);
    assert_eq!(api.get("/traits/CUSTOM_T", "1.6").await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/traits/HW_CPU_X86_AVX2", "1.6").await.status, StatusCode::NO_CONTENT);
    api.get("/traits/CUSTOM_NOPE", "1.6").await.error(404);

    assert_eq!(api.get("/traits?name=startswith:CUSTOM", "1.6").await.ok(200), json!({"traits": ["CUSTOM_T"]}));
    assert_eq!(
        api.get("/traits?name=in:CUSTOM_T,HW_CPU_X86_AVX2,CUSTOM_NOPE", "1.6").await.ok(200),
        json!({"traits": ["CUSTOM_T", "HW_CPU_X86_AVX2"]})
    );
    let all = api.get("/traits", "1.6").await.ok(200);
    assert_eq!(all["traits"].as_array().unwrap().len(), berth_placement::standard::traits().count() + 1);
    api.get("/traits?name=CUSTOM_T", "1.6").await.error(400);
    api.get("/traits?associated=maybe", "1.6").await.error(400);
    api.get("/traits?bogus=1", "1.6").await.error(400);

    // Provider traits, with generations.
    let rp = api.provider("rp", None).await;
    let path = format!("/resource_providers/{rp}/traits");
    assert_eq!(api.get(&path, "1.6").await.ok(200), json!({"resource_provider_generation": 0, "traits": []}));
    let b = api
        .put(&path, "1.6", json!({"traits": ["HW_CPU_X86_AVX2", "CUSTOM_T"], "resource_provider_generation": 0}))
        .await
        .ok(200);
    assert_eq!(b, json!({"resource_provider_generation": 1, "traits": ["CUSTOM_T", "HW_CPU_X86_AVX2"]}));
    let e = api.put(&path, "1.23", json!({"traits": [], "resource_provider_generation": 0})).await.error(409);
    assert_eq!(e["code"], json!("placement.concurrent_update"));
    let e =
        api.put(&path, "1.6", json!({"traits": ["CUSTOM_NOPE"], "resource_provider_generation": 1})).await.error(400);
    assert!(e["detail"].as_str().unwrap().contains("CUSTOM_NOPE"));
    api.put(&path, "1.6", json!({"traits": "CUSTOM_T", "resource_provider_generation": 1})).await.error(400);
    api.put(&path, "1.6", json!({"traits": []})).await.error(400);
    assert_eq!(
        api.get("/traits?associated=true", "1.6").await.ok(200),
        json!({"traits": ["CUSTOM_T", "HW_CPU_X86_AVX2"]})
    );
    api.get(&format!("/resource_providers/{}/traits", Uuid::new_v4()), "1.6").await.error(404);

    // Deleting.
    api.delete("/traits/CUSTOM_T", "1.6").await.error(409);
    api.delete("/traits/HW_CPU_X86_AVX2", "1.6").await.error(400);
    api.delete("/traits/CUSTOM_NOPE", "1.6").await.error(404);
    assert_eq!(api.delete(&path, "1.6").await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&path, "1.6").await.ok(200), json!({"resource_provider_generation": 2, "traits": []}));
    assert_eq!(api.delete("/traits/CUSTOM_T", "1.6").await.status, StatusCode::NO_CONTENT);
    api.get("/traits/CUSTOM_T", "1.6").await.error(404);
}

#[tokio::test]
async fn inventories() {
    let api = Api::new().await;
    let rp = api.provider("rp", None).await;
    let base = format!("/resource_providers/{rp}/inventories");
    assert_eq!(api.get(&base, "1.0").await.ok(200), json!({"resource_provider_generation": 0, "inventories": {}}));

    // PUT all: defaults are filled in, generation advances.
    let b = api
        .put(
            &base,
            "1.0",
            json!({"resource_provider_generation": 0, "inventories": {
            "VCPU": {"total": 8, "allocation_ratio": 2.0, "max_unit": 4},
            "MEMORY_MB": {"total": 1024, "reserved": 512, "step_size": 64, "min_unit": 64}}}),
        )
        .await
        .ok(200);
    assert_eq!(b["resource_provider_generation"], json!(1));
    assert_eq!(
        b["inventories"]["VCPU"],
        json!({"total": 8, "reserved": 0, "min_unit": 1, "max_unit": 4, "step_size": 1, "allocation_ratio": 2.0})
    );
    assert_eq!(b["inventories"]["MEMORY_MB"]["max_unit"], json!(2147483647));
    assert_eq!(api.get(&base, "1.0").await.ok(200), b);
    let e = api.put(&base, "1.23", json!({"resource_provider_generation": 0, "inventories": {}})).await.error(409);
    assert_eq!(e["code"], json!("placement.concurrent_update"));
    api.put(&base, "1.0", json!({"resource_provider_generation": 1, "inventories": {"CUSTOM_NOPE": {"total": 1}}}))
        .await
        .error(400);
    api.put(&base, "1.0", json!({"resource_provider_generation": 1, "inventories": {"VCPU": {"total": 0}}}))
        .await
        .error(400);
    // reserved == total: refused before 1.26, accepted from 1.26.
    let eq = json!({"resource_provider_generation": 1, "inventories": {"DISK_GB": {"total": 5, "reserved": 5}}});
    api.put(&base, "1.25", eq.clone()).await.error(400);
    api.put(
        &base,
        "1.0",
        json!({"resource_provider_generation": 1, "inventories": {"DISK_GB": {"total": 5, "reserved": 6}}}),
    )
    .await
    .error(400);
    assert_eq!(api.generation(rp).await, 1, "refused writes leave the generation alone");
    assert_eq!(api.put(&base, "1.26", eq).await.ok(200)["resource_provider_generation"], json!(2));

    // POST one.
    let r = api.post(&base, "1.0", json!({"resource_class": "VCPU", "total": 8})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["resource_provider_generation"], json!(3));
    assert_eq!(r.header("location"), Some(format!("http://localhost{base}/VCPU").as_str()));
    let e = api.post(&base, "1.23", json!({"resource_class": "VCPU", "total": 8})).await.error(409);
    assert_eq!(e["code"], json!("placement.concurrent_update"));
    api.post(&base, "1.0", json!({"resource_class": "CUSTOM_NOPE", "total": 8})).await.error(400);
    api.post(&base, "1.0", json!({"resource_class": "lower", "total": 8})).await.error(400);

    // GET / PUT / DELETE one.
    let one = api.get(&format!("{base}/VCPU"), "1.0").await.ok(200);
    assert_eq!(one["resource_provider_generation"], json!(3));
    assert_eq!(one["total"], json!(8));
    api.get(&format!("{base}/PCI_DEVICE"), "1.0").await.error(404);
    let b =
        api.put(&format!("{base}/VCPU"), "1.0", json!({"resource_provider_generation": 3, "total": 16})).await.ok(200);
    assert_eq!((b["total"].clone(), b["resource_provider_generation"].clone()), (json!(16), json!(4)));
    api.put(&format!("{base}/VCPU"), "1.0", json!({"resource_provider_generation": 3, "total": 16})).await.error(409);
    api.put(&format!("{base}/PCI_DEVICE"), "1.0", json!({"resource_provider_generation": 4, "total": 1}))
        .await
        .error(400);
    api.put(&format!("{base}/VCPU"), "1.0", json!({"total": 16})).await.error(400);
    assert_eq!(api.delete(&format!("{base}/DISK_GB"), "1.0").await.status, StatusCode::NO_CONTENT);
    api.delete(&format!("{base}/DISK_GB"), "1.0").await.error(404);

    // In use.
    let c = Uuid::new_v4();
    api.put(
        &format!("/allocations/{c}"),
        "1.28",
        json!({"allocations": {rp.to_string(): {"resources": {"VCPU": 1}}},
        "project_id": "p", "user_id": "u", "consumer_generation": null}),
    )
    .await
    .ok(204);
    let e = api.delete(&format!("{base}/VCPU"), "1.23").await.error(409);
    assert_eq!(e["code"], json!("placement.concurrent_update"));
    let gen = api.generation(rp).await;
    let e = api.put(&base, "1.23", json!({"resource_provider_generation": gen, "inventories": {}})).await.error(409);
    assert_eq!(e["code"], json!("placement.inventory.inuse"));
    let e = api.delete(&base, "1.23").await.error(409);
    assert_eq!(e["code"], json!("placement.inventory.inuse"));
    api.delete(&format!("/allocations/{c}"), "1.0").await.ok(204);

    // DELETE all: 405 before 1.5.
    let r = api.delete(&base, "1.4").await;
    r.error(405);
    assert_eq!(r.header("allow"), Some("GET, POST, PUT"));
    assert_eq!(api.delete(&base, "1.5").await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&base, "1.0").await.ok(200)["inventories"], json!({}));
    api.get(&format!("/resource_providers/{}/inventories", Uuid::new_v4()), "1.0").await.error(404);
}

#[tokio::test]
async fn aggregates() {
    let api = Api::new().await;
    let rp = api.provider("rp", None).await;
    let path = format!("/resource_providers/{rp}/aggregates");
    let (a1, a2) = (Uuid::new_v4(), Uuid::new_v4());
    api.get(&path, "1.0").await.error(404);

    // 1.1: bare list in and out, no generation change.
    assert_eq!(api.get(&path, "1.1").await.ok(200), json!({"aggregates": []}));
    assert_eq!(api.put(&path, "1.1", json!([a1, a2])).await.ok(200), json!({"aggregates": [a1, a2]}));
    assert_eq!(api.generation(rp).await, 0);
    api.put(&path, "1.1", json!([a1, a1])).await.error(400);
    api.put(&path, "1.1", json!(["not-a-uuid"])).await.error(400);
    api.put(&path, "1.1", json!({"aggregates": [a1]})).await.error(400);

    // 1.19: with generation.
    assert_eq!(
        api.get(&path, "1.19").await.ok(200),
        json!({"aggregates": [a1, a2], "resource_provider_generation": 0})
    );
    let e = api.put(&path, "1.23", json!({"aggregates": [a2], "resource_provider_generation": 7})).await.error(409);
    assert_eq!(e["code"], json!("placement.concurrent_update"));
    assert_eq!(
        api.put(&path, "1.19", json!({"aggregates": [a2], "resource_provider_generation": 0})).await.ok(200),
        json!({"aggregates": [a2], "resource_provider_generation": 1})
    );
    api.put(&path, "1.19", json!([a1])).await.error(400);
    api.put(&path, "1.19", json!({"aggregates": [a1]})).await.error(400);
    api.get(&format!("/resource_providers/{}/aggregates", Uuid::new_v4()), "1.19").await.error(404);
    api.put(&format!("/resource_providers/{}/aggregates", Uuid::new_v4()), "1.1", json!([])).await.error(404);
}

#[tokio::test]
async fn allocations() {
    let api = Api::new().await;
    let rp = api.provider("rp", None).await;
    let rp2 = api.provider("rp2", None).await;
    api.inventories(rp, json!({"VCPU": {"total": 4}, "MEMORY_MB": {"total": 1024, "step_size": 64}})).await;
    api.inventories(rp2, json!({"DISK_GB": {"total": 100}})).await;
    let (c1, c2, c3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let a1 = format!("/allocations/{c1}");
    let body = |gen: Value, vcpu: i64| {
        json!({"allocations": {rp.to_string(): {"resources": {"VCPU": vcpu, "MEMORY_MB": 128}}},
               "project_id": "proj", "user_id": "user", "consumer_generation": gen})
    };

    // Unknown consumer: empty.
    assert_eq!(api.get(&a1, "1.28").await.ok(200), json!({"allocations": {}}));

    // Create (null generation), read back.
    api.put(&a1, "1.28", body(Value::Null, 2)).await.ok(204);
    let gen_rp = api.generation(rp).await;
    assert_eq!(
        api.get(&a1, "1.28").await.ok(200),
        json!({"allocations": {rp.to_string(): {"generation": gen_rp, "resources": {"MEMORY_MB": 128, "VCPU": 2}}},
               "project_id": "proj", "user_id": "user", "consumer_generation": 1})
    );
    let b = api.get(&a1, "1.0").await.ok(200);
    assert!(b.get("project_id").is_none() && b.get("consumer_generation").is_none(), "{b}");
    // Generation conflicts.
    let e = api.put(&a1, "1.28", body(Value::Null, 1)).await.error(409);
    assert_eq!(e["code"], json!("placement.concurrent_update"));
    api.put(&a1, "1.28", body(json!(5), 1)).await.error(409);
    api.put(&a1, "1.28", json!({"allocations": {}, "project_id": "p", "user_id": "u"})).await.error(400);
    // Capacity and units.
    let e = api.put(&a1, "1.28", body(json!(1), 5)).await.error(409);
    assert!(e["detail"].as_str().unwrap().contains("exceed the capacity"));
    let e = api
        .put(
            &a1,
            "1.28",
            json!({"allocations": {rp.to_string(): {"resources": {"MEMORY_MB": 100}}},
                                  "project_id": "p", "user_id": "u", "consumer_generation": 1}),
        )
        .await
        .error(409);
    assert!(e["detail"].as_str().unwrap().contains("violate"));
    let e = api
        .put(
            &a1,
            "1.28",
            json!({"allocations": {rp.to_string(): {"resources": {"CUSTOM_NOPE": 1}}},
                                  "project_id": "p", "user_id": "u", "consumer_generation": 1}),
        )
        .await
        .error(400);
    assert!(e["detail"].as_str().unwrap().contains("CUSTOM_NOPE"));
    api.put(
        &a1,
        "1.28",
        json!({"allocations": {Uuid::new_v4().to_string(): {"resources": {"VCPU": 1}}},
                                 "project_id": "p", "user_id": "u", "consumer_generation": 1}),
    )
    .await
    .error(400);
    // Replace.
    api.put(&a1, "1.28", body(json!(1), 4)).await.ok(204);
    assert_eq!(api.get(&a1, "1.28").await.ok(200)["consumer_generation"], json!(2));

    // 1.0 list form; 1.8 requires project and user.
    let list = json!({"allocations": [{"resource_provider": {"uuid": rp2}, "resources": {"DISK_GB": 10}}]});
    api.put(&format!("/allocations/{c2}"), "1.0", list.clone()).await.ok(204);
    api.put(&format!("/allocations/{c2}"), "1.8", list).await.error(400);
    let b = api.get(&format!("/allocations/{c2}"), "1.12").await.ok(200);
    assert_eq!(b["project_id"], json!("00000000-0000-0000-0000-000000000000"), "incomplete consumer project");

    // 1.38: consumer types.
    api.put(
        &format!("/allocations/{c3}"),
        "1.38",
        json!({"allocations": {rp2.to_string(): {"resources": {"DISK_GB": 5}}},
        "project_id": "proj", "user_id": "user", "consumer_generation": null}),
    )
    .await
    .error(400);
    api.put(
        &format!("/allocations/{c3}"),
        "1.38",
        json!({"allocations": {rp2.to_string(): {"resources": {"DISK_GB": 5}}},
        "project_id": "proj", "user_id": "user", "consumer_generation": null, "consumer_type": "MIGRATION"}),
    )
    .await
    .ok(204);
    assert_eq!(api.get(&format!("/allocations/{c3}"), "1.38").await.ok(200)["consumer_type"], json!("MIGRATION"));
    assert_eq!(api.get(&a1, "1.38").await.ok(200)["consumer_type"], json!("unknown"));

    // Per provider.
    let b = api.get(&format!("/resource_providers/{rp2}/allocations"), "1.0").await.ok(200);
    assert_eq!(
        b,
        json!({"allocations": {c2.to_string(): {"resources": {"DISK_GB": 10}}, c3.to_string(): {"resources": {"DISK_GB": 5}}},
               "resource_provider_generation": api.generation(rp2).await})
    );
    api.get(&format!("/resource_providers/{}/allocations", Uuid::new_v4()), "1.0").await.error(404);

    // POST /allocations (1.13+): several consumers at once, all or nothing.
    let (c4, c5) = (Uuid::new_v4(), Uuid::new_v4());
    let post = |disk5: i64| {
        json!({
            c4.to_string(): {"allocations": {rp2.to_string(): {"resources": {"DISK_GB": 1}}},
                             "project_id": "proj", "user_id": "user", "consumer_generation": null},
            c5.to_string(): {"allocations": {rp2.to_string(): {"resources": {"DISK_GB": disk5}}},
                             "project_id": "proj", "user_id": "user", "consumer_generation": null},
        })
    };
    api.post("/allocations", "1.12", post(1)).await.error(404);
    api.post("/allocations", "1.28", post(1000)).await.error(409);
    assert_eq!(api.get(&format!("/allocations/{c4}"), "1.28").await.ok(200), json!({"allocations": {}}));
    api.post("/allocations", "1.28", post(1)).await.ok(204);
    assert_eq!(api.get(&format!("/allocations/{c5}"), "1.28").await.ok(200)["consumer_generation"], json!(1));
    api.post("/allocations", "1.28", json!({})).await.error(400);

    // Emptying a consumer with PUT deletes it.
    api.put(
        &format!("/allocations/{c5}"),
        "1.28",
        json!({"allocations": {}, "project_id": "proj", "user_id": "user",
        "consumer_generation": 1}),
    )
    .await
    .ok(204);
    assert_eq!(api.get(&format!("/allocations/{c5}"), "1.28").await.ok(200), json!({"allocations": {}}));

    // DELETE.
    assert_eq!(api.delete(&a1, "1.0").await.status, StatusCode::NO_CONTENT);
    api.delete(&a1, "1.0").await.error(404);
    api.delete("/allocations/not-a-uuid", "1.0").await.error(400);
    // A provider with allocations cannot be deleted.
    let e = api.delete(&format!("/resource_providers/{rp2}"), "1.23").await.error(409);
    assert_eq!(e["code"], json!("placement.resource_provider.inuse"));
}

#[tokio::test]
async fn usages() {
    let api = Api::new().await;
    let rp = api.provider("rp", None).await;
    api.inventories(rp, json!({"VCPU": {"total": 16}, "MEMORY_MB": {"total": 4096}})).await;
    let put = |c: Uuid, project: &str, user: &str, ctype: &str, vcpu: i64| {
        (
            format!("/allocations/{c}"),
            json!({"allocations": {rp.to_string(): {"resources": {"VCPU": vcpu}}},
            "project_id": project, "user_id": user, "consumer_generation": null, "consumer_type": ctype}),
        )
    };
    for (c, p, u, t, n) in [
        (Uuid::new_v4(), "p1", "u1", "INSTANCE", 2),
        (Uuid::new_v4(), "p1", "u2", "INSTANCE", 3),
        (Uuid::new_v4(), "p1", "u1", "MIGRATION", 1),
        (Uuid::new_v4(), "p2", "u1", "INSTANCE", 4),
    ] {
        let (path, body) = put(c, p, u, t, n);
        api.put(&path, "1.38", body).await.ok(204);
    }

    let b = api.get(&format!("/resource_providers/{rp}/usages"), "1.0").await.ok(200);
    assert_eq!(
        b,
        json!({"resource_provider_generation": api.generation(rp).await, "usages": {"VCPU": 10, "MEMORY_MB": 0}})
    );
    api.get(&format!("/resource_providers/{}/usages", Uuid::new_v4()), "1.0").await.error(404);

    assert_eq!(api.get("/usages?project_id=p1", "1.9").await.ok(200), json!({"usages": {"VCPU": 6}}));
    assert_eq!(api.get("/usages?project_id=p1&user_id=u1", "1.9").await.ok(200), json!({"usages": {"VCPU": 3}}));
    assert_eq!(api.get("/usages?project_id=p3", "1.9").await.ok(200), json!({"usages": {}}));
    assert_eq!(
        api.get("/usages?project_id=p1", "1.38").await.ok(200),
        json!({"usages": {"INSTANCE": {"consumer_count": 2, "VCPU": 5}, "MIGRATION": {"consumer_count": 1, "VCPU": 1}}})
    );
    assert_eq!(
        api.get("/usages?project_id=p1&consumer_type=all", "1.38").await.ok(200),
        json!({"usages": {"all": {"consumer_count": 3, "VCPU": 6}}})
    );
    assert_eq!(
        api.get("/usages?project_id=p1&consumer_type=MIGRATION", "1.38").await.ok(200),
        json!({"usages": {"MIGRATION": {"consumer_count": 1, "VCPU": 1}}})
    );
    api.get("/usages", "1.9").await.error(400);
    api.get("/usages?project_id=p1&consumer_type=INSTANCE", "1.37").await.error(400);
    api.get("/usages?project_id=p1&consumer_type=bad-type", "1.38").await.error(400);
}

#[tokio::test]
async fn reshaper() {
    let api = Api::new().await;
    let root = api.provider("root", None).await;
    let gen_root = api.inventories(root, json!({"VCPU": {"total": 8}, "MEMORY_MB": {"total": 1024}})).await;
    let c = Uuid::new_v4();
    api.put(
        &format!("/allocations/{c}"),
        "1.28",
        json!({"allocations": {root.to_string(): {"resources": {"VCPU": 2, "MEMORY_MB": 256}}},
        "project_id": "p", "user_id": "u", "consumer_generation": null}),
    )
    .await
    .ok(204);
    let child = api.provider("child", Some(root)).await;
    let gen_root = gen_root + 1; // the allocation write
    assert_eq!(api.generation(root).await, gen_root);
    let body = |gen_root: i64, gen_c: i64| {
        json!({
            "inventories": {
                root.to_string(): {"resource_provider_generation": gen_root, "inventories": {"MEMORY_MB": {"total": 1024}}},
                child.to_string(): {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}},
            },
            "allocations": {c.to_string(): {"allocations": {
                root.to_string(): {"resources": {"MEMORY_MB": 256}},
                child.to_string(): {"resources": {"VCPU": 2}}},
                "project_id": "p", "user_id": "u", "consumer_generation": gen_c}},
        })
    };
    api.post("/reshaper", "1.29", body(gen_root, 1)).await.error(404);
    let e = api.post("/reshaper", "1.30", body(gen_root - 1, 1)).await.error(409);
    assert!(e["detail"].as_str().unwrap().contains("generation"));
    api.post("/reshaper", "1.30", body(gen_root, 9)).await.error(409);
    api.post("/reshaper", "1.30", json!({"inventories": {}, "allocations": {}})).await.error(400);
    let mut unknown = body(gen_root, 1);
    unknown["inventories"][Uuid::new_v4().to_string()] = json!({"resource_provider_generation": 0, "inventories": {}});
    api.post("/reshaper", "1.30", unknown).await.error(400);
    // Nothing moved yet.
    assert_eq!(api.get(&format!("/allocations/{c}"), "1.28").await.ok(200)["consumer_generation"], json!(1));

    api.post("/reshaper", "1.30", body(gen_root, 1)).await.ok(204);
    assert_eq!(
        api.get(&format!("/resource_providers/{root}/inventories"), "1.0").await.ok(200)["inventories"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["MEMORY_MB"]
    );
    assert_eq!(
        api.get(&format!("/resource_providers/{child}/usages"), "1.0").await.ok(200)["usages"],
        json!({"VCPU": 2})
    );
    assert_eq!(
        api.get(&format!("/resource_providers/{root}/usages"), "1.0").await.ok(200)["usages"],
        json!({"MEMORY_MB": 256})
    );
    let b = api.get(&format!("/allocations/{c}"), "1.28").await.ok(200);
    assert_eq!(b["consumer_generation"], json!(2));
    assert_eq!(b["allocations"][child.to_string()]["resources"], json!({"VCPU": 2}));
    assert_eq!(b["allocations"][root.to_string()]["resources"], json!({"MEMORY_MB": 256}));
}

#[tokio::test]
async fn method_not_allowed_lists_allowed_methods() {
    let api = Api::new().await;
    for (method, path, allow) in [
        (Method::PATCH, "/resource_providers", "GET, POST"),
        (Method::DELETE, "/traits", "GET"),
        (Method::POST, "/", "GET"),
        (Method::GET, "/allocations", "POST"),
        (Method::PUT, "/usages", "GET"),
    ] {
        let r = api.send(Call::new(method.clone(), path).v("1.39")).await;
        r.error(405);
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let api = Api::new().await;
    for path in ["/nope", "/resource_providers/x/y/z", "/allocation", "/traits/CUSTOM_A/extra"] {
        let e = api.get(path, "1.39").await.error(404);
        assert!(e["detail"].as_str().unwrap().contains("could not be found"), "{path}: {e}");
    }
}

#[tokio::test]
async fn policy_refuses_non_admin_users() {
    let api = Api::new().await;
    let rp = api.provider("rp", None).await;
    let user = Some("user:proj");
    let rp_path = format!("/resource_providers/{rp}");
    let calls = [
        (Call::new(Method::GET, "/resource_providers"), "placement:resource_providers:list"),
        (
            Call::new(Method::POST, "/resource_providers").json(&json!({"name": "mine"})),
            "placement:resource_providers:create",
        ),
        (Call::new(Method::PUT, "/traits/CUSTOM_MINE"), "placement:traits:update"),
        (Call::new(Method::DELETE, &rp_path), "placement:resource_providers:delete"),
        (Call::new(Method::GET, "/usages?project_id=proj"), "placement:usages"),
        (
            Call::new(Method::POST, "/reshaper").json(&json!({"inventories": {}, "allocations": {}})),
            "placement:reshaper:reshape",
        ),
    ];
    for (call, rule) in calls {
        let e = api.send(call.v("1.39").token(user)).await.error(403);
        assert_eq!(
            e["detail"],
            json!(format!("Access was denied to this resource.\n\n Policy does not allow {rule} to be performed.  "))
        );
    }
    // Nothing happened.
    assert_eq!(names_of(&api.get("/resource_providers", "1.0").await.ok(200)), ["rp"]);
    api.get("/traits/CUSTOM_MINE", "1.6").await.error(404);
    // A reader may see its own project's usages, not another project's.
    let reader = |q: &'static str| Call::new(Method::GET, q).v("1.9").token(user).header("x-roles", "reader");
    assert_eq!(api.send(reader("/usages?project_id=proj")).await.ok(200), json!({"usages": {}}));
    api.send(reader("/usages?project_id=other")).await.error(403);
    // An admin role on another user works.
    let r =
        api.send(Call::new(Method::GET, "/resource_providers").v("1.0").token(user).header("x-roles", "admin")).await;
    assert_eq!(names_of(&r.ok(200)), ["rp"]);
}

/// Hostile or malformed input: always a 4xx with Placement's error body.
#[tokio::test]
async fn bad_input_is_a_4xx_never_a_5xx() {
    let api = Api::new().await;
    let rp = api.provider("rp", None).await;
    api.inventories(rp, json!({"VCPU": {"total": 4}})).await;
    let rps = "/resource_providers";
    let inv = format!("/resource_providers/{rp}/inventories");
    let alloc = format!("/allocations/{}", Uuid::new_v4());
    let long_name = "x".repeat(300);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!("{{\"name\": \"{}\"}}", "a".repeat(10 * 1024 * 1024));
    let a_body = |resources: Value| {
        json!({"allocations": {rp.to_string(): {"resources": resources}}, "project_id": "p", "user_id": "u",
               "consumer_generation": null})
    };

    let cases: Vec<(&str, Call<'_>, u16)> = vec![
        ("malformed JSON", Call::new(Method::POST, rps).raw("{\"name\": ", "application/json"), 400),
        ("trailing garbage", Call::new(Method::POST, rps).raw("{\"name\": \"a\"} x", "application/json"), 400),
        ("JSON array body", Call::new(Method::POST, rps).json(&json!(["name"])), 400),
        ("non-UTF-8 body", Call::new(Method::POST, rps).raw(vec![b'{', 0xff, 0xfe, b'}'], "application/json"), 400),
        ("deeply nested JSON", Call::new(Method::POST, rps).raw(deep, "application/json"), 400),
        ("name of wrong type", Call::new(Method::POST, rps).json(&json!({"name": 5})), 400),
        ("300-char name", Call::new(Method::POST, rps).json(&json!({"name": long_name})), 400),
        ("unknown field", Call::new(Method::POST, rps).json(&json!({"name": "a", "colour": "red"})), 400),
        ("invalid uuid in body", Call::new(Method::POST, rps).json(&json!({"name": "a", "uuid": "not-a-uuid"})), 400),
        ("10 MB body", Call::new(Method::POST, rps).raw(huge, "application/json"), 413),
        ("wrong content type", Call::new(Method::POST, rps).raw("{\"name\": \"a\"}", "text/plain"), 415),
        ("body without content type", Call { body: Some(b"{}".to_vec()), ..Call::new(Method::POST, rps) }, 400),
        ("non-UTF-8 query", Call::new(Method::GET, "/resource_providers?name=%FF"), 400),
        ("non-UTF-8 query key", Call::new(Method::GET, "/resource_providers?%C3%28=1"), 400),
        ("invalid uuid in query", Call::new(Method::GET, "/resource_providers?uuid=not-a-uuid"), 400),
        ("invalid in_tree", Call::new(Method::GET, "/resource_providers?in_tree=12345").v("1.14"), 400),
        ("invalid member_of", Call::new(Method::GET, "/resource_providers?member_of=nope").v("1.3"), 400),
        ("invalid resources", Call::new(Method::GET, "/resource_providers?resources=VCPU:x").v("1.4"), 400),
        ("negative resources", Call::new(Method::GET, "/resource_providers?resources=VCPU:-1").v("1.4"), 400),
        ("empty resources", Call::new(Method::GET, "/resource_providers?resources=").v("1.4"), 400),
        ("invalid uuid in path", Call::new(Method::GET, "/resource_providers/not-a-uuid"), 404),
        ("invalid consumer uuid", Call::new(Method::PUT, "/allocations/not-a-uuid").v("1.28").json(&a_body(json!({"VCPU": 1}))), 400),
        ("string total", Call::new(Method::PUT, &inv).json(&json!({"resource_provider_generation": 1, "inventories": {"VCPU": {"total": "8"}}})), 400),
        ("total beyond int32", Call::new(Method::PUT, &inv).json(&json!({"resource_provider_generation": 1, "inventories": {"VCPU": {"total": 1_u64 << 40}}})), 400),
        ("float total", Call::new(Method::PUT, &inv).json(&json!({"resource_provider_generation": 1, "inventories": {"VCPU": {"total": 1.5}}})), 400),
        ("huge ratio", Call::new(Method::PUT, &inv).json(&json!({"resource_provider_generation": 1, "inventories": {"VCPU": {"total": 1, "allocation_ratio": 1e39}}})), 400),
        ("generation as string", Call::new(Method::PUT, &inv).json(&json!({"resource_provider_generation": "1", "inventories": {}})), 400),
        ("negative allocation", Call::new(Method::PUT, &alloc).v("1.28").json(&a_body(json!({"VCPU": -1}))), 400),
        ("zero allocation", Call::new(Method::PUT, &alloc).v("1.28").json(&a_body(json!({"VCPU": 0}))), 400),
        // Amounts are bounded like upstream's 32-bit columns.
        ("allocation beyond i64", Call::new(Method::PUT, &alloc).v("1.28").raw(
            format!("{{\"allocations\": {{\"{rp}\": {{\"resources\": {{\"VCPU\": 99999999999999999999999}}}}}}, \"project_id\": \"p\", \"user_id\": \"u\", \"consumer_generation\": null}}"),
            "application/json"), 400),
        ("37-char provider key", Call::new(Method::PUT, &alloc).v("1.28").json(&json!({"allocations": {format!("{rp}0"): {"resources": {"VCPU": 1}}},
            "project_id": "p", "user_id": "u", "consumer_generation": null})), 400),
        ("uuid-shaped garbage key", Call::new(Method::PUT, &alloc).v("1.28").json(&json!({"allocations": {"------------------------------------": {"resources": {"VCPU": 1}}},
            "project_id": "p", "user_id": "u", "consumer_generation": null})), 400),
        ("256-char project id", Call::new(Method::PUT, &alloc).v("1.28").json(&json!({"allocations": {rp.to_string(): {"resources": {"VCPU": 1}}},
            "project_id": "p".repeat(256), "user_id": "u", "consumer_generation": null})), 400),
        ("unknown microversion", Call::new(Method::GET, rps).v("1.99"), 406),
        ("absurd microversion", Call::new(Method::GET, rps).v("99999999999.1"), 400),
        ("garbage microversion", Call::new(Method::GET, rps).v("v1.2"), 400),
        ("bad content-length", Call::new(Method::GET, rps).header("content-length", "abc"), 400),
        ("bad trait name", Call::new(Method::PUT, "/traits/CUSTOM_x").v("1.6"), 400),
        ("bad class in path", Call::new(Method::PUT, "/resource_classes/custom_x").v("1.7"), 400),
        ("usages without project", Call::new(Method::GET, "/usages?user_id=u").v("1.9"), 400),
    ];
    for (what, call, status) in cases {
        let r = api.send(call).await;
        assert!(r.status.is_client_error(), "{what}: got {} {}", r.status, String::from_utf8_lossy(&r.body));
        assert_eq!(r.status.as_u16(), status, "{what}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}: {}", String::from_utf8_lossy(&r.body));
        let e = r.error(status);
        assert!(!e["detail"].as_str().unwrap().is_empty(), "{what}");
    }
    // An Accept that takes neither JSON nor HTML: webob answers plain text.
    let r = api.send(Call::new(Method::GET, rps).header("accept", "text/xml")).await;
    assert_eq!(r.status.as_u16(), 406);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
    assert!(String::from_utf8_lossy(&r.body).starts_with("406 Not Acceptable\n\n"));

    // A non-UTF-8 path segment names nothing: Placement's JSON 404.
    for path in ["/traits/CUSTOM_%FF", "/resource_providers/%FF", "/allocations/%C3%28"] {
        let r = api.send(Call::new(Method::GET, path).v("1.6")).await;
        r.error(404);
    }

    // And the store is unharmed.
    assert_eq!(names_of(&api.get(rps, "1.0").await.ok(200)), ["rp"]);
    assert_eq!(api.generation(rp).await, 1);
}

/// A refused write followed at once by a valid write, many times over: the
/// valid write must succeed every time.
#[tokio::test]
async fn a_refused_write_does_not_break_the_next_write() {
    let api = Api::new().await;
    let rp = api.provider("rp", None).await;
    let mut gen = api.inventories(rp, json!({"VCPU": {"total": 4}})).await;
    let one = format!("/resource_providers/{rp}/inventories/VCPU");
    let missing = format!("/resource_providers/{rp}/inventories/PCI_DEVICE");
    for round in 0..200 {
        // Refused inside the store's write transaction (after the generation bump).
        api.put(&missing, "1.0", json!({"resource_provider_generation": gen, "total": 1})).await.error(400);
        let r = api
            .send_once(
                Call::new(Method::PUT, &one)
                    .json(&json!({"resource_provider_generation": gen, "total": 4 + round % 2})),
            )
            .await;
        gen = r.ok(200)["resource_provider_generation"].as_i64().unwrap();
    }
    assert_eq!(api.generation(rp).await, gen);
}
