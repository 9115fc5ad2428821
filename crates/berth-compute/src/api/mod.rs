//! The Nova-compatible HTTP API: the route table, authentication and
//! microversion negotiation, and helpers every handler shares.

mod fault;
mod flavors;
mod infra;
mod limits;
mod microversions;
mod servers;
mod versions;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_http::{RequestContext, Version, VersionError};
use berth_policy::{Credentials, Denied, Target};
use serde_json::{Map, Value};

use crate::error::{ComputeError, Result};
use crate::service::ComputeService;
use fault::error_response;

pub(crate) type AppState = Arc<ComputeService>;
pub(crate) type ApiResult = Result<Response>;

/// Where the binary mounts the router (links assume it unless a public
/// base URL is configured).
pub const MOUNT: &str = "/compute";
/// The microversion range, from the history in `microversions.rs` (2.96 is
/// Nova 2024.2's maximum; python-openstackclient and openstacksdk negotiate
/// down to it).
pub use microversions::{MAX_VERSION, MIN_VERSION};

/// The compute API with routes relative to its mount point: `/` (version
/// list), `/v2.1` (version document) and `/v2.1/...`. Mount it with
/// `Router::nest("/compute", router(svc))`.
pub fn router(svc: Arc<ComputeService>) -> Router {
    let limit = svc.config.max_request_body;
    Router::new()
        .route("/", get(versions::root))
        .route("/v2.1", get(versions::v21))
        .route("/v2.1/", get(versions::v21))
        // Flavors.
        .route("/v2.1/flavors", get(flavors::list).post(flavors::create))
        .route("/v2.1/flavors/detail", get(flavors::detail))
        .route("/v2.1/flavors/{id}", get(flavors::show).put(flavors::update).delete(flavors::delete))
        .route("/v2.1/flavors/{id}/action", post(flavors::action))
        .route("/v2.1/flavors/{id}/os-flavor-access", get(flavors::access_list))
        .route("/v2.1/flavors/{id}/os-extra_specs", get(flavors::specs_index).post(flavors::specs_create))
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            get(flavors::spec_show).put(flavors::spec_update).delete(flavors::spec_delete),
        )
        // Servers.
        .route("/v2.1/servers", get(servers::list).post(servers::create))
        .route("/v2.1/servers/detail", get(servers::detail))
        .route("/v2.1/servers/{id}", get(servers::show).put(servers::update).delete(servers::delete))
        .route("/v2.1/servers/{id}/action", post(servers::action))
        .route(
            "/v2.1/servers/{id}/metadata",
            get(servers::meta_index).post(servers::meta_create).put(servers::meta_replace),
        )
        .route(
            "/v2.1/servers/{id}/metadata/{key}",
            get(servers::meta_show).put(servers::meta_update).delete(servers::meta_delete),
        )
        // Services, hypervisors, zones.
        .route("/v2.1/os-services", get(infra::services_list))
        .route("/v2.1/os-services/{id}", axum::routing::put(infra::services_update).delete(infra::services_delete))
        .route("/v2.1/os-hypervisors", get(infra::hypervisors_list))
        .route("/v2.1/os-hypervisors/detail", get(infra::hypervisors_detail))
        .route("/v2.1/os-hypervisors/statistics", get(infra::hypervisors_statistics))
        .route("/v2.1/os-hypervisors/{id}", get(infra::hypervisors_show))
        .route("/v2.1/os-availability-zone", get(infra::az_list))
        .route("/v2.1/os-availability-zone/detail", get(infra::az_detail))
        // Limits, quotas, keypairs.
        .route("/v2.1/limits", get(limits::limits))
        .route(
            "/v2.1/os-quota-sets/{project}",
            get(limits::quota_show).put(limits::quota_update).delete(limits::quota_delete),
        )
        .route("/v2.1/os-quota-sets/{project}/defaults", get(limits::quota_defaults))
        .route("/v2.1/os-quota-sets/{project}/detail", get(limits::quota_detail))
        .route("/v2.1/os-keypairs", get(limits::keypairs))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(svc.clone(), auth_and_version))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(middleware::map_response(nova_errors))
        .layer(middleware::from_fn(berth_http::request_id_layer))
        .with_state(svc)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "The resource could not be found.")
}

/// Render errors that did not come from a handler (extractor rejections,
/// 405, 413) in Nova's format.
async fn nova_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let allow = resp.headers().get(header::ALLOW).cloned();
    let message = match status.as_u16() {
        404 => "The resource could not be found.".to_string(),
        405 => "The method is not allowed for the requested URL.".to_string(),
        413 => "Request is too large.".to_string(),
        _ => {
            let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&body).trim().to_string();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("Error").to_string()
            } else {
                text
            }
        }
    };
    let mut out = error_response(status, &message);
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}

fn is_version_doc(path: &str) -> bool {
    matches!(path, "" | "/" | "/v2.1" | "/v2.1/")
}

/// Authenticate (version documents are public), negotiate the
/// microversion, and stamp it on the response.
async fn auth_and_version(State(svc): State<AppState>, mut req: Request, next: Next) -> Response {
    if is_version_doc(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(ctx) = svc.config.auth.authenticate(req.headers()).await else {
        return ComputeError::unauthorized().into_response();
    };
    let version = match negotiate(req.headers()) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(ctx);
    req.extensions_mut().insert(version);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("compute {version}")) {
        h.insert("openstack-api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
        h.insert("x-openstack-nova-api-version", v);
    }
    h.append(header::VARY, HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"));
    resp
}

/// The requested microversion: `OpenStack-API-Version: compute X.Y`, else
/// `X-OpenStack-Nova-API-Version: X.Y`, else 2.1.
pub(crate) fn negotiate(headers: &HeaderMap) -> Result<Version> {
    let mut values: Vec<String> = Vec::new();
    for v in headers.get_all("openstack-api-version") {
        values.push(
            v.to_str().map_err(|_| ComputeError::bad_request("Invalid OpenStack-API-Version header."))?.to_string(),
        );
    }
    let has_compute = values.iter().any(|v| {
        v.split(',').any(|item| item.split_whitespace().next().is_some_and(|s| s.eq_ignore_ascii_case("compute")))
    });
    if !has_compute {
        if let Some(legacy) = headers.get("x-openstack-nova-api-version") {
            let s = legacy
                .to_str()
                .map_err(|_| ComputeError::bad_request("Invalid X-OpenStack-Nova-API-Version header."))?;
            values = vec![format!("compute {s}")];
        }
    }
    berth_http::microversion::negotiate(values.iter().map(String::as_str), "compute", MIN_VERSION, MAX_VERSION).map_err(
        |e| match e {
            VersionError::Invalid(s) => ComputeError::bad_request(format!(
                "API Version String {s} is of invalid format. Must be of format MajorNum.MinorNum."
            )),
            VersionError::Unacceptable(s) => ComputeError::not_acceptable(format!(
                "Version {s} is not supported by the API. Minimum is {MIN_VERSION} and maximum is {MAX_VERSION}."
            )),
        },
    )
}

/// Everything a handler needs about its request.
pub(crate) struct Ctx {
    pub svc: AppState,
    pub caller: RequestContext,
    pub version: Version,
    /// `http://host/compute` (no trailing slash).
    pub base: String,
    pub query: Vec<(String, String)>,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ComputeError;

    async fn from_request_parts(parts: &mut Parts, svc: &AppState) -> Result<Ctx> {
        let caller = parts.extensions.get::<RequestContext>().cloned().ok_or_else(ComputeError::unauthorized)?;
        let version = parts.extensions.get::<Version>().copied().unwrap_or(MIN_VERSION);
        let base = base_url(svc, parts);
        let query = match parts.uri.query() {
            None => Vec::new(),
            Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .map_err(|e| ComputeError::bad_request(format!("Invalid query string: {e}")))?,
        };
        Ok(Ctx { svc: svc.clone(), caller, version, base, query })
    }
}

pub(crate) fn base_url(svc: &ComputeService, parts: &Parts) -> String {
    if let Some(b) = &svc.config.public_base_url {
        return b.trim_end_matches('/').to_string();
    }
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let proto = parts.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http");
    // The mount point: the original path minus the path this router saw.
    let inner = parts.uri.path();
    let mount = parts
        .extensions
        .get::<OriginalUri>()
        .map(|o| o.0.path().to_string())
        .and_then(|orig| {
            orig.strip_suffix(inner).or_else(|| orig.strip_suffix(inner.trim_end_matches('/'))).map(str::to_string)
        })
        .unwrap_or_default();
    format!("{proto}://{host}{}", mount.trim_end_matches('/'))
}

impl Ctx {
    pub fn v(&self, major: u16, minor: u16) -> bool {
        self.version.at_least(major, minor)
    }

    pub fn project(&self) -> &str {
        self.caller.project_id.as_deref().unwrap_or("")
    }

    pub fn user(&self) -> &str {
        self.caller.user_id.as_deref().unwrap_or("")
    }

    fn creds(&self) -> Credentials {
        Credentials {
            user_id: self.caller.user_id.clone(),
            project_id: self.caller.project_id.clone(),
            domain_id: self.caller.domain_id.clone(),
            roles: self.caller.roles.clone(),
            system_scope: self.caller.system_scope.clone(),
            extra: Map::new(),
        }
    }

    /// Check `rule` against a target owned by `project` (default: the
    /// caller's project).
    pub fn authorize(&self, rule: &str, project: Option<&str>) -> Result<()> {
        let mut target = Target::new();
        target.insert("project_id".into(), project.unwrap_or(self.project()).to_string());
        target.insert("user_id".into(), self.user().to_string());
        match self.svc.policy.authorize(rule, &target, &self.creds()) {
            Ok(()) => Ok(()),
            Err(Denied::NotRegistered { rule }) => {
                Err(ComputeError::internal(format!("policy {rule} is not registered")))
            }
            Err(d) => Err(ComputeError::forbidden(format!("Policy doesn't allow {} to be performed.", d.rule()))),
        }
    }

    /// Would `rule` pass (no error)?
    pub fn can(&self, rule: &str, project: Option<&str>) -> bool {
        self.authorize(rule, project).is_ok()
    }

    pub fn q(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `http://host/compute/v2.1/<tail>`
    pub fn url(&self, tail: &str) -> String {
        format!("{}/v2.1/{tail}", self.base)
    }

    /// `http://host/compute/<tail>` (bookmark links).
    pub fn bookmark(&self, tail: &str) -> String {
        format!("{}/{tail}", self.base)
    }

    pub fn links(&self, tail: &str) -> Value {
        serde_json::json!([
            {"rel": "self", "href": self.url(tail)},
            {"rel": "bookmark", "href": self.bookmark(tail)},
        ])
    }
}

pub(crate) fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

pub(crate) fn ok(body: Value) -> ApiResult {
    Ok(json(StatusCode::OK, body))
}

pub(crate) fn status_only(status: StatusCode) -> ApiResult {
    Ok(status.into_response())
}

/// Parse a JSON request body (400 in Nova's format when it is not JSON).
pub(crate) fn parse_body(body: &Bytes) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ComputeError::bad_request("The request body is empty; expected a JSON object."));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| ComputeError::bad_request("Malformed request body: not UTF-8."))?;
    serde_json::from_str(text).map_err(|e| ComputeError::bad_request(format!("Malformed request body: {e}")))
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn invalid(field: &str, detail: impl std::fmt::Display) -> ComputeError {
    ComputeError::bad_request(format!("Invalid input for field/attribute {field}. Value: {detail}"))
}

/// `{"<key>": {...}}` → the inner object.
pub(crate) fn member<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>> {
    let obj = body.as_object().ok_or_else(|| invalid(key, "request body is not an object"))?;
    match obj.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(v) => Err(invalid(key, format!("{v} is not of type 'object'"))),
        None => Err(ComputeError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: '{key}' is a required property"
        ))),
    }
}

/// Reject keys outside `allowed` (Nova's `additionalProperties: false`).
pub(crate) fn only_keys(obj: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(ComputeError::bad_request(format!(
                "Additional properties are not allowed ('{}' was unexpected)",
                truncate(k, 255)
            )));
        }
    }
    Ok(())
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

/// A name: a string of 1..=255 characters with no leading/trailing
/// whitespace and no control characters.
pub(crate) fn name_value(field: &str, v: &Value) -> Result<String> {
    let s = v.as_str().ok_or_else(|| invalid(field, format!("{} is not of type 'string'", type_name(v))))?;
    let n = s.chars().count();
    if n == 0 || n > 255 {
        return Err(invalid(field, format!("'{}' is not a valid name: length must be 1 to 255", truncate(s, 64))));
    }
    if s.trim() != s || s.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("'{}' is not a valid name (leading/trailing whitespace or control characters)", truncate(s, 64)),
        ));
    }
    Ok(s.to_string())
}

/// Optional free text (description), at most 255 characters; `null` ok.
pub(crate) fn description_value(field: &str, v: &Value, max: usize) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s)
            if s.chars().count() <= max
                && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') =>
        {
            Ok(Some(s.clone()))
        }
        Value::String(s) => Err(invalid(field, format!("'{}' is too long or has control characters", truncate(s, 64)))),
        other => Err(invalid(field, format!("{} is not of type 'string', 'null'", type_name(other)))),
    }
}

/// A non-negative integer (JSON number or digit string, as Nova accepts).
pub(crate) fn int_value(field: &str, v: &Value, min: i64, max: i64) -> Result<i64> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid(field, format!("{v} is not an integer")))?;
    if n < min || n > max {
        return Err(invalid(field, format!("{n} must be between {min} and {max}")));
    }
    Ok(n)
}

pub(crate) fn bool_value(field: &str, v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(invalid(field, format!("'{s}' is not a boolean"))),
        },
        other => Err(invalid(field, format!("{other} is not of type 'boolean'"))),
    }
}

pub(crate) fn query_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microversions() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(&h).unwrap(), MIN_VERSION);
        h.insert("x-openstack-nova-api-version", "2.53".parse().unwrap());
        assert_eq!(negotiate(&h).unwrap(), Version::new(2, 53));
        h.insert("openstack-api-version", "compute 2.60".parse().unwrap());
        assert_eq!(negotiate(&h).unwrap(), Version::new(2, 60));
        h.insert("openstack-api-version", "compute latest".parse().unwrap());
        assert_eq!(negotiate(&h).unwrap(), MAX_VERSION);
        h.insert("openstack-api-version", "compute 3.0".parse().unwrap());
        assert_eq!(negotiate(&h).unwrap_err().kind, crate::error::ErrorKind::NotAcceptable);
        h.insert("openstack-api-version", "compute 2.x".parse().unwrap());
        assert_eq!(negotiate(&h).unwrap_err().kind, crate::error::ErrorKind::BadRequest);
    }
}
