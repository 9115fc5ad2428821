//! HTTP layer: the router and the helpers every handler shares (body and
//! query parsing, authentication, links); authorization is in `policy`.

mod auth;
mod catalog;
mod grants;
mod policy;
mod resources;
mod versions;

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::error::{error_response, IdentityError, Result};
use crate::service::Identity;
use crate::token::TokenInfo;

pub(crate) type AppState = Arc<Identity>;
pub(crate) type ApiResult = Result<Response>;

/// Mount point the catalog and discovery links assume.
pub(crate) const MOUNT: &str = "/identity";

/// The identity API, with routes relative to its mount point (`/`, `/v3`,
/// `/v3/auth/tokens`, ...). Mount it with `Router::nest("/identity", ...)`.
pub fn router(identity: Arc<Identity>) -> Router {
    Router::new()
        .route("/", get(versions::root))
        .route("/v3", get(versions::v3))
        .route("/v3/", get(versions::v3))
        .route("/v3/auth/tokens", post(auth::issue).get(auth::validate).delete(auth::revoke))
        .route("/v3/auth/catalog", get(auth::catalog))
        .route("/v3/auth/projects", get(auth::projects))
        .route("/v3/auth/domains", get(auth::domains))
        .route("/v3/auth/system", get(auth::system))
        .route("/v3/domains", get(resources::list_domains).post(resources::create_domain))
        .route(
            "/v3/domains/{id}",
            get(resources::get_domain).patch(resources::update_domain).delete(resources::delete_domain),
        )
        .route("/v3/projects", get(resources::list_projects).post(resources::create_project))
        .route(
            "/v3/projects/{id}",
            get(resources::get_project).patch(resources::update_project).delete(resources::delete_project),
        )
        .route("/v3/users", get(resources::list_users).post(resources::create_user))
        .route("/v3/users/{id}", get(resources::get_user).patch(resources::update_user).delete(resources::delete_user))
        .route("/v3/users/{id}/password", post(resources::change_password))
        .route("/v3/users/{id}/projects", get(resources::user_projects))
        .route("/v3/users/{id}/groups", get(resources::user_groups))
        .route("/v3/roles", get(resources::list_roles).post(resources::create_role))
        .route("/v3/roles/{id}", get(resources::get_role).patch(resources::update_role).delete(resources::delete_role))
        .route("/v3/roles/{id}/implies", get(grants::list_implied))
        .route(
            "/v3/roles/{id}/implies/{implied}",
            put(grants::create_implied).get(grants::check_implied).delete(grants::delete_implied),
        )
        .route("/v3/role_inferences", get(grants::role_inferences))
        .route("/v3/role_assignments", get(grants::role_assignments))
        .route("/v3/projects/{id}/users/{user}/roles", get(grants::list_project_grants))
        .route(
            "/v3/projects/{id}/users/{user}/roles/{role}",
            put(grants::put_project_grant).get(grants::check_project_grant).delete(grants::delete_project_grant),
        )
        .route("/v3/domains/{id}/users/{user}/roles", get(grants::list_domain_grants))
        .route(
            "/v3/domains/{id}/users/{user}/roles/{role}",
            put(grants::put_domain_grant).get(grants::check_domain_grant).delete(grants::delete_domain_grant),
        )
        .route("/v3/system/users/{user}/roles", get(grants::list_system_grants))
        .route(
            "/v3/system/users/{user}/roles/{role}",
            put(grants::put_system_grant).get(grants::check_system_grant).delete(grants::delete_system_grant),
        )
        .route("/v3/services", get(catalog::services))
        .route("/v3/services/{id}", get(catalog::service))
        .route("/v3/endpoints", get(catalog::endpoints))
        .route("/v3/endpoints/{id}", get(catalog::endpoint))
        .route("/v3/regions", get(catalog::regions))
        .route("/v3/regions/{id}", get(catalog::region))
        .fallback(not_found)
        .layer(axum::middleware::map_response(keystone_errors))
        .with_state(identity)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "The resource could not be found.")
}

/// Turn any non-JSON error (extractor rejections, 405, 413...) into
/// Keystone's error format.
async fn keystone_errors(resp: Response) -> Response {
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
    let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_string();
    let message = match status.as_u16() {
        404 => "The resource could not be found.".to_string(),
        405 => "The method is not allowed for the requested URL.".to_string(),
        413 => "Request is too large.".to_string(),
        _ if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    let mut out = error_response(status, &message);
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}

// ---------------------------------------------------------------- helpers

/// `<base>/identity/v3`
pub(crate) fn v3_url(id: &Identity, headers: &HeaderMap) -> String {
    format!("{}{MOUNT}/v3", id.base_url(headers))
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `{"<key>": [...], "links": {...}}`
pub(crate) fn list_response(key: &str, items: Vec<Value>, self_url: String) -> Response {
    json_response(StatusCode::OK, json!({ key: items, "links": {"self": self_url, "previous": null, "next": null} }))
}

/// Authenticate the caller by `X-Auth-Token`.
pub(crate) async fn authn(id: &Identity, headers: &HeaderMap) -> Result<TokenInfo> {
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(IdentityError::auth_required)?;
    id.resolve_token(token).await
}

/// Parse a JSON request body; 400 in Keystone's format when it is not JSON
/// or is sent with another content type (Keystone's JSON body middleware).
pub(crate) fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        // A value that is not visible ASCII is no content type at all.
        let ct = ct.to_str().map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        if !matches!(ct.as_deref(), Ok("" | "application/json")) {
            return Err(IdentityError::bad_request("The request body must be JSON (Content-Type: application/json)."));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(IdentityError::bad_request("The request body is empty; expected a JSON object."));
    }
    serde_json::from_slice(body).map_err(|e| IdentityError::bad_request(format!("Malformed request body: {e}")))
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

fn invalid(field: &str, detail: impl std::fmt::Display) -> IdentityError {
    IdentityError::bad_request(format!("Invalid input for field '{field}': {detail}"))
}

/// The object under `key` at the top of a body (`{"project": {...}}`).
pub(crate) fn member<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>> {
    let obj = body
        .as_object()
        .ok_or_else(|| IdentityError::bad_request(format!("Expecting a JSON object with '{key}' in request body.")))?;
    match obj.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(v) => Err(invalid(key, format!("{v} is not of type 'object'"))),
        None => Err(IdentityError::bad_request(format!("Invalid input: '{key}' is a required property"))),
    }
}

/// A name: a non-blank string of at most `max` characters.
pub(crate) fn name_field(obj: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => {
            if s.trim().is_empty() {
                Err(invalid(key, format!("'{s}' must contain non-whitespace characters")))
            } else if s.chars().count() > max {
                Err(invalid(key, format!("the value is too long (at most {max} characters)")))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(v) => Err(invalid(key, format!("{v} is not of type 'string'"))),
    }
}

pub(crate) fn required_name(obj: &Map<String, Value>, key: &str, max: usize) -> Result<String> {
    name_field(obj, key, max)?.ok_or_else(|| invalid(key, format!("'{key}' is a required property")))
}

/// Absent → `None`; `null` → `Some(None)`; a string → `Some(Some(s))`.
pub(crate) fn nullable_text(obj: &Map<String, Value>, key: &str, max: usize) -> Result<Option<Option<String>>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(Some(s.clone()))),
        Some(Value::String(_)) => Err(invalid(key, format!("too long (at most {max} characters)"))),
        Some(v) => Err(invalid(key, format!("{v} is not of type 'string', 'null'"))),
    }
}

/// A boolean; `null` counts as absent.
pub(crate) fn bool_field(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(invalid(key, format!("{v} is not of type 'boolean'"))),
    }
}

pub(crate) fn tags_field(obj: &Map<String, Value>) -> Result<Option<Vec<String>>> {
    match obj.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for t in items {
                match t {
                    Value::String(s) if !s.is_empty() && s.chars().count() <= 255 && !s.contains(['/', ',']) => {
                        if !out.contains(s) {
                            out.push(s.clone())
                        }
                    }
                    v => return Err(invalid("tags", format!("{v} is not a valid tag"))),
                }
            }
            if out.len() > 80 {
                return Err(invalid("tags", "at most 80 tags are allowed"));
            }
            Ok(Some(out))
        }
        Some(v) => Err(invalid("tags", format!("{v} is not of type 'array'"))),
    }
}

/// `options` is accepted when it is an object and otherwise ignored (no
/// resource options are implemented).
pub(crate) fn options_field(obj: &Map<String, Value>) -> Result<()> {
    match obj.get("options") {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(v) => Err(invalid("options", format!("{v} is not of type 'object'"))),
    }
}

/// Query string pairs, in order.
pub(crate) fn parse_query(raw: Option<String>) -> Result<Vec<(String, String)>> {
    match raw {
        None => Ok(Vec::new()),
        Some(q) => {
            if std::str::from_utf8(&percent_decoded(&q)).is_err() {
                return Err(IdentityError::bad_request("Invalid query string: it is not UTF-8 once decoded."));
            }
            let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(&q)
                .map_err(|e| IdentityError::bad_request(format!("Invalid query string: {e}")))?;
            if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
                return Err(IdentityError::bad_request("Invalid query string: NUL characters are not allowed."));
            }
            Ok(pairs)
        }
    }
}

/// The bytes a query string stands for (`%XX` decoded; other bytes as
/// they are), to check they are UTF-8 before a lenient decoder replaces
/// invalid sequences with U+FFFD.
fn percent_decoded(q: &str) -> Vec<u8> {
    let b = q.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

pub(crate) fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Keystone's truthiness for query flags: absent → false; present and not
/// one of `0`, `false`, `no`, `off`, `f`, `n` → true.
pub(crate) fn query_flag(q: &[(String, String)], key: &str) -> bool {
    query_get(q, key).is_some_and(truthy)
}

pub(crate) fn truthy(v: &str) -> bool {
    !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off" | "f" | "n")
}

/// The `enabled` filter of list calls.
pub(crate) fn query_enabled(q: &[(String, String)]) -> Option<bool> {
    query_get(q, "enabled").map(truthy)
}
