//! `/v3/auth/*`: issue, validate and revoke tokens; the caller's catalog,
//! projects, domains and system scope.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::policy::PolicyTarget;
use super::{
    json_response, list_response, no_content, parse_body, parse_query, query_get, v3_url, ApiResult, AppState, Caller,
};
use crate::error::{ErrorKind, IdentityError, Result};
use crate::repo::{self, ProjectFilter, Target};
use crate::service::{AppCredAuth, AuthRequest, DomainRef, ProjectRef, ScopeRequest, UserRef};
use crate::token::TokenInfo;

fn bad(msg: impl Into<String>) -> IdentityError {
    IdentityError::bad_request(msg)
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| bad(format!("Invalid input for field '{path}': {v} is not of type 'object'")))
}

fn opt_str(m: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Ok(Some(s.clone())),
        Some(v) => Err(bad(format!("Invalid input for field '{path}/{key}': {v} is not a valid string"))),
    }
}

fn domain_ref(v: &Value, path: &str) -> Result<DomainRef> {
    let m = obj(v, path)?;
    if let Some(id) = opt_str(m, "id", path)? {
        return Ok(DomainRef::Id(id));
    }
    if let Some(name) = opt_str(m, "name", path)? {
        return Ok(DomainRef::Name(name));
    }
    Err(bad(format!("Invalid input for field '{path}': either 'id' or 'name' is required")))
}

fn parse_password(identity: &Map<String, Value>) -> Result<Option<(UserRef, String)>> {
    let Some(pw) = identity.get("password") else { return Ok(None) };
    let pw = obj(pw, "identity/password")?;
    let user = pw
        .get("user")
        .ok_or_else(|| bad("Invalid input for field 'identity/password': 'user' is a required property"))?;
    let user = obj(user, "identity/password/user")?;
    let password = match user.get("password") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => {
            return Err(bad(format!(
                "Invalid input for field 'identity/password/user/password': {} is not of type 'string'",
                super::type_name(v)
            )))
        }
        None => return Err(bad("Invalid input for field 'identity/password/user': 'password' is a required property")),
    };
    let path = "identity/password/user";
    let user_ref = if let Some(id) = opt_str(user, "id", path)? {
        UserRef::Id(id)
    } else if let Some(name) = opt_str(user, "name", path)? {
        let d = user
            .get("domain")
            .ok_or_else(|| bad("Invalid input for field 'identity/password/user': a user name requires a 'domain'"))?;
        UserRef::Name { name, domain: domain_ref(d, "identity/password/user/domain")? }
    } else {
        return Err(bad("Invalid input for field 'identity/password/user': either 'id' or 'name' is required"));
    };
    Ok(Some((user_ref, password)))
}

fn parse_app_cred(identity: &Map<String, Value>) -> Result<Option<AppCredAuth>> {
    let path = "identity/application_credential";
    let Some(ac) = identity.get("application_credential") else { return Ok(None) };
    let ac = obj(ac, path)?;
    let secret = match ac.get("secret") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => {
            return Err(bad(format!(
                "Invalid input for field '{path}/secret': {} is not of type 'string'",
                super::type_name(v)
            )))
        }
        None => return Err(bad(format!("Invalid input for field '{path}': 'secret' is a required property"))),
    };
    let id = opt_str(ac, "id", path)?;
    let name = opt_str(ac, "name", path)?;
    let user = match ac.get("user") {
        None => None,
        Some(u) => {
            let u = obj(u, &format!("{path}/user"))?;
            let upath = format!("{path}/user");
            if let Some(id) = opt_str(u, "id", &upath)? {
                Some(UserRef::Id(id))
            } else if let Some(name) = opt_str(u, "name", &upath)? {
                let d = u.get("domain").ok_or_else(|| {
                    bad(format!("Invalid input for field '{upath}': a user name requires a 'domain'"))
                })?;
                Some(UserRef::Name { name, domain: domain_ref(d, &format!("{upath}/domain"))? })
            } else {
                return Err(bad(format!("Invalid input for field '{upath}': either 'id' or 'name' is required")));
            }
        }
    };
    if id.is_none() && (name.is_none() || user.is_none()) {
        return Err(bad(format!(
            "Invalid input for field '{path}': an application credential is named by 'id', or by 'name' and 'user'"
        )));
    }
    Ok(Some(AppCredAuth { id, name, user, secret }))
}

fn parse_token(identity: &Map<String, Value>) -> Result<Option<String>> {
    let Some(t) = identity.get("token") else { return Ok(None) };
    let t = obj(t, "identity/token")?;
    match t.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(v) => Err(bad(format!("Invalid input for field 'identity/token/id': {v} is not a valid token id"))),
        None => Err(bad("Invalid input for field 'identity/token': 'id' is a required property")),
    }
}

fn parse_scope(auth: &Map<String, Value>) -> Result<ScopeRequest> {
    let scope = match auth.get("scope") {
        None | Some(Value::Null) => return Ok(ScopeRequest::Default),
        Some(Value::String(s)) if s == "unscoped" => return Ok(ScopeRequest::Unscoped),
        Some(v) => obj(v, "scope")?,
    };
    let kinds: Vec<&str> =
        ["project", "domain", "system", "OS-TRUST:trust"].into_iter().filter(|k| scope.contains_key(*k)).collect();
    if kinds.len() > 1 {
        return Err(bad("Specify a domain or project or system, not more than one."));
    }
    match kinds.first().copied() {
        None => Ok(ScopeRequest::Default),
        Some("project") => {
            let p = obj(&scope["project"], "scope/project")?;
            if let Some(id) = opt_str(p, "id", "scope/project")? {
                return Ok(ScopeRequest::Project(ProjectRef::Id(id)));
            }
            let name = opt_str(p, "name", "scope/project")?
                .ok_or_else(|| bad("Invalid input for field 'scope/project': either 'id' or 'name' is required"))?;
            let d = p
                .get("domain")
                .ok_or_else(|| bad("Invalid input for field 'scope/project': a project name requires a 'domain'"))?;
            Ok(ScopeRequest::Project(ProjectRef::Name { name, domain: domain_ref(d, "scope/project/domain")? }))
        }
        Some("domain") => Ok(ScopeRequest::Domain(domain_ref(&scope["domain"], "scope/domain")?)),
        Some("system") => {
            let s = obj(&scope["system"], "scope/system")?;
            match s.get("all") {
                Some(Value::Bool(true)) => Ok(ScopeRequest::System),
                _ => Err(bad("Invalid input for field 'scope/system': only {\"all\": true} is supported")),
            }
        }
        _ => {
            let t = obj(&scope["OS-TRUST:trust"], "scope/OS-TRUST:trust")?;
            let id = opt_str(t, "id", "scope/OS-TRUST:trust")?
                .ok_or_else(|| bad("Invalid input for field 'scope/OS-TRUST:trust': 'id' is a required property"))?;
            Ok(ScopeRequest::Trust(id))
        }
    }
}

pub(crate) fn parse_auth_request(body: &Value) -> Result<AuthRequest> {
    let top = obj(body, "body")?;
    let auth = top.get("auth").ok_or_else(|| bad("Invalid input: 'auth' is a required property"))?;
    let auth = obj(auth, "auth")?;
    let identity =
        auth.get("identity").ok_or_else(|| bad("Invalid input for field 'auth': 'identity' is a required property"))?;
    let identity = obj(identity, "identity")?;
    let methods = match identity.get("methods") {
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for m in items {
                match m {
                    Value::String(s) => out.push(s.clone()),
                    v => {
                        return Err(bad(format!(
                            "Invalid input for field 'identity/methods': {v} is not of type 'string'"
                        )))
                    }
                }
            }
            if out.is_empty() {
                return Err(bad("Invalid input for field 'identity/methods': [] is too short"));
            }
            out
        }
        Some(v) => return Err(bad(format!("Invalid input for field 'identity/methods': {v} is not of type 'array'"))),
        None => return Err(bad("Invalid input for field 'identity': 'methods' is a required property")),
    };
    Ok(AuthRequest {
        app_cred: if methods.iter().any(|m| m == "application_credential") { parse_app_cred(identity)? } else { None },
        password: if methods.iter().any(|m| m == "password") { parse_password(identity)? } else { None },
        token: if methods.iter().any(|m| m == "token") { parse_token(identity)? } else { None },
        scope: parse_scope(auth)?,
        methods,
    })
}

fn token_response(status: StatusCode, secret: &str, body: Value) -> Result<Response> {
    let mut resp = json_response(status, body);
    let v = HeaderValue::from_str(secret).map_err(|_| IdentityError::internal("token is not a valid header value"))?;
    resp.headers_mut().insert("x-subject-token", v);
    Ok(resp)
}

/// The catalog of a scoped token (none with `?nocatalog` or unscoped).
async fn catalog_for(
    id: &AppState,
    headers: &HeaderMap,
    info: &TokenInfo,
    q: &[(String, String)],
) -> Result<Option<Value>> {
    if query_get(q, "nocatalog").is_some() || !info.is_scoped() {
        return Ok(None);
    }
    Ok(Some(token_catalog(id, headers, info).await?))
}

async fn token_catalog(id: &AppState, headers: &HeaderMap, info: &TokenInfo) -> Result<Value> {
    let project = match &info.scope {
        crate::token::ResolvedScope::Project { project, .. } => Some(project.id.as_str()),
        _ => None,
    };
    let mut tx = id.db.read().await?;
    crate::catalog::token_catalog(&mut tx, &id.base_url(headers), &info.user.id, project).await
}

/// `POST /v3/auth/tokens`
pub(crate) async fn issue(
    State(id): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult {
    let q = parse_query(raw)?;
    let req = parse_auth_request(&parse_body(&headers, &body)?)?;
    let (secret, info) = id.authenticate(&req).await?;
    let cat = catalog_for(&id, &headers, &info, &q).await?;
    token_response(StatusCode::CREATED, &secret, info.render(cat))
}

fn subject_token(headers: &HeaderMap) -> Result<&str> {
    headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("Invalid input: the X-Subject-Token header is required"))
}

/// A subject token that does not resolve is "not found"; a database
/// failure while resolving it stays what it is (503/500).
fn subject_not_found(e: IdentityError) -> IdentityError {
    if e.kind == ErrorKind::Unauthorized {
        IdentityError::not_found("Could not find token.")
    } else {
        e
    }
}

/// Callers may see and revoke their own tokens; admins and services any.
/// The target of a token operation: the user the subject token was issued to.
fn token_target(subject: &TokenInfo) -> PolicyTarget {
    PolicyTarget::new().set("target.token.user_id", subject.user.id.as_str())
}

/// `GET`/`HEAD /v3/auth/tokens`
pub(crate) async fn validate(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw)?;
    let subject = subject_token(&headers)?.to_string();
    let info = id.resolve_token(&subject).await.map_err(subject_not_found)?;
    caller.authorize(&token_target(&info))?;
    let cat = catalog_for(&id, &headers, &info, &q).await?;
    token_response(StatusCode::OK, &subject, info.render(cat))
}

/// `DELETE /v3/auth/tokens`
pub(crate) async fn revoke(State(id): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult {
    let subject = subject_token(&headers)?.to_string();
    let info = id.resolve_token(&subject).await.map_err(subject_not_found)?;
    caller.authorize(&token_target(&info))?;
    id.revoke_token(&subject).await?;
    Ok(no_content())
}

/// `GET /v3/auth/catalog`
pub(crate) async fn catalog(State(id): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult {
    let ctx = &caller.token;
    caller.authorize(&PolicyTarget::new())?;
    if !ctx.is_scoped() {
        return Err(IdentityError::forbidden("The service catalog requires a scoped token."));
    }
    let catalog = token_catalog(&id, &headers, ctx).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({
            "catalog": catalog,
            "links": {"self": format!("{}/auth/catalog", v3_url(&id, &headers)), "previous": null, "next": null},
        }),
    ))
}

/// `GET /v3/auth/projects`: enabled projects the caller has a role on.
pub(crate) async fn projects(State(id): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult {
    let ctx = &caller.token;
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let ids: Vec<String> = repo::user_project_ids(&mut tx, &ctx.user.id).await?.into_iter().collect();
    let projects =
        repo::list_projects(&mut tx, &ProjectFilter { ids: Some(ids), enabled: Some(true), ..Default::default() })
            .await?;
    let items = projects.iter().map(|p| super::resources::project_json(p, &v3)).collect();
    Ok(list_response("projects", items, format!("{v3}/auth/projects")))
}

/// `GET /v3/auth/domains`: enabled domains the caller has a role on.
pub(crate) async fn domains(State(id): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult {
    let ctx = &caller.token;
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let assignments = repo::assignments_of_user(&mut tx, &ctx.user.id).await?;
    let mut items = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for a in assignments.into_iter().filter(|a| !a.inherited) {
        if let Target::Domain(d) = a.target {
            if seen.insert(d.clone()) {
                if let Some(dom) = repo::get_domain(&mut tx, &d).await?.filter(|d| d.enabled) {
                    items.push(super::resources::domain_json(&dom, &v3));
                }
            }
        }
    }
    Ok(list_response("domains", items, format!("{v3}/auth/domains")))
}

/// `GET /v3/auth/system`
pub(crate) async fn system(State(id): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult {
    let ctx = &caller.token;
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let any = repo::assignments_of_user(&mut tx, &ctx.user.id)
        .await?
        .iter()
        .any(|a| a.target == Target::System && !a.inherited);
    let system: Vec<Value> = if any { vec![json!({"all": true})] } else { Vec::new() };
    Ok(json_response(
        StatusCode::OK,
        json!({"system": system, "links": {"self": format!("{v3}/auth/system"), "previous": null, "next": null}}),
    ))
}
