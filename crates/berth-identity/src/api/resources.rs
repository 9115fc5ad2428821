//! Domains, projects, users and roles.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::policy::PolicyTarget;
use super::{
    bool_field, json_response, list_response, member, name_field, no_content, nullable_text, options_field, parse_body,
    parse_query, query_enabled, query_get, required_name, tags_field, v3_url, ApiResult, AppState, Caller,
};
use crate::error::{IdentityError, Result};
use crate::password;
use crate::repo::{self, Domain, DomainFilter, Project, ProjectFilter, Role, User, UserFilter};
use crate::service::{Identity, DEFAULT_DOMAIN_ID};
use crate::token::{self, ResolvedScope, TokenInfo};
use crate::util::new_id;

const DESCRIPTION_MAX: usize = 65_535;
const PASSWORD_MAX: usize = 4096;

// ---------------------------------------------------------------- renderers

pub(crate) fn domain_json(d: &Domain, v3: &str) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "enabled": d.enabled,
        "tags": [],
        "options": {},
        "links": {"self": format!("{v3}/domains/{}", d.id)},
    })
}

/// The attributes a project body names; any other is kept as an extra.
const PROJECT_KEYS: &[&str] =
    &["id", "name", "domain_id", "parent_id", "description", "enabled", "is_domain", "tags", "options", "links"];
/// The attributes a user body names; any other is kept as an extra.
const USER_KEYS: &[&str] = &[
    "id",
    "name",
    "domain_id",
    "enabled",
    "description",
    "email",
    "default_project_id",
    "password",
    "password_expires_at",
    "options",
    "federated",
    "links",
];

/// `base` with the extra attributes added under it (known keys win).
fn with_extra(base: Value, extra: &Map<String, Value>) -> Value {
    let mut m: Map<String, Value> = extra.clone();
    if let Value::Object(b) = base {
        m.extend(b);
    }
    Value::Object(m)
}

pub(crate) fn project_json(p: &Project, v3: &str) -> Value {
    with_extra(project_base(p, v3), &p.extra)
}

fn project_base(p: &Project, v3: &str) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "description": p.description,
        "enabled": p.enabled,
        // Keystone reports a top-level project's domain as its parent.
        "parent_id": p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone()),
        "is_domain": false,
        "tags": p.tags,
        "options": {},
        "links": {"self": format!("{v3}/projects/{}", p.id)},
    })
}

pub(crate) fn user_json(u: &User, v3: &str) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(u.id));
    m.insert("name".into(), json!(u.name));
    m.insert("domain_id".into(), json!(u.domain_id));
    m.insert("enabled".into(), json!(u.enabled));
    m.insert("password_expires_at".into(), Value::Null);
    m.insert("options".into(), json!({}));
    if let Some(d) = &u.description {
        m.insert("description".into(), json!(d));
    }
    if let Some(e) = &u.email {
        m.insert("email".into(), json!(e));
    }
    if let Some(p) = &u.default_project_id {
        m.insert("default_project_id".into(), json!(p));
    }
    m.insert("links".into(), json!({"self": format!("{v3}/users/{}", u.id)}));
    with_extra(Value::Object(m), &u.extra)
}

pub(crate) fn role_json(r: &Role, v3: &str) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(r.id));
    m.insert("name".into(), json!(r.name));
    m.insert("domain_id".into(), Value::Null);
    if let Some(d) = &r.description {
        m.insert("description".into(), json!(d));
    }
    m.insert("options".into(), json!({}));
    m.insert("links".into(), json!({"self": format!("{v3}/roles/{}", r.id)}));
    Value::Object(m)
}

// ---------------------------------------------------------------- shared

/// The domain new projects and users land in when none is given: the
/// caller's scope domain, else the Default domain.
fn caller_domain(ctx: &TokenInfo) -> String {
    match &ctx.scope {
        ResolvedScope::Project { project, .. } => project.domain_id.clone(),
        ResolvedScope::Domain(d) => d.id.clone(),
        _ => DEFAULT_DOMAIN_ID.to_string(),
    }
}

fn reject_id_change(obj: &Map<String, Value>, id: &str) -> Result<()> {
    match obj.get("id") {
        None => Ok(()),
        Some(Value::String(s)) if s == id => Ok(()),
        Some(_) => Err(IdentityError::bad_request("Cannot change the id of a resource.")),
    }
}

fn not_found(kind: &str, id: &str) -> IdentityError {
    IdentityError::not_found(format!("Could not find {kind}: {id}."))
}

async fn load_user(id: &Identity, uid: &str) -> Result<Option<User>> {
    let mut tx = id.db.read().await?;
    repo::get_user(&mut tx, uid).await
}

async fn load_project(id: &Identity, pid: &str) -> Result<Option<Project>> {
    let mut tx = id.db.read().await?;
    repo::get_project(&mut tx, pid).await
}

/// The target of an operation on user `uid`: its id, and its domain when
/// it exists.
async fn user_target(id: &Identity, uid: &str) -> Result<PolicyTarget> {
    Ok(match load_user(id, uid).await? {
        Some(u) => PolicyTarget::new().user(&u),
        None => PolicyTarget::new().set("target.user.id", uid),
    }
    .set("user_id", uid))
}

async fn project_target(id: &Identity, pid: &str) -> Result<PolicyTarget> {
    Ok(match load_project(id, pid).await? {
        Some(p) => PolicyTarget::new().project(&p),
        None => PolicyTarget::new().set("target.project.id", pid),
    })
}

/// Keystone's target for listing users or projects: a domain-scoped
/// caller's own domain (the list is then limited to it).
fn list_target(ctx: &TokenInfo) -> PolicyTarget {
    match &ctx.scope {
        ResolvedScope::Domain(d) => PolicyTarget::new().set("target.domain_id", d.id.as_str()),
        _ => PolicyTarget::new(),
    }
}

/// The `domain_id` a list is limited to: the filter's, within a
/// domain-scoped caller's domain. `Err(())` when they differ (nothing
/// matches).
fn list_domain(ctx: &TokenInfo, q: &[(String, String)]) -> std::result::Result<Option<String>, ()> {
    let filter = query_get(q, "domain_id").map(str::to_string);
    match (&ctx.scope, filter) {
        (ResolvedScope::Domain(d), Some(f)) if f != d.id => Err(()),
        (ResolvedScope::Domain(d), _) => Ok(Some(d.id.clone())),
        (_, f) => Ok(f),
    }
}

/// A string field of `{"<key>": {...}}` in a body that may not parse, for
/// building a target before the body is validated.
fn body_str<'a>(body: &'a Result<Value>, key: &str, field: &str) -> Option<&'a str> {
    body.as_ref().ok()?.get(key)?.get(field)?.as_str()
}

async fn need_domain(id: &Identity, domain_id: &str) -> Result<Domain> {
    let mut tx = id.db.read().await?;
    repo::get_domain(&mut tx, domain_id).await?.ok_or_else(|| not_found("domain", domain_id))
}

// ---------------------------------------------------------------- domains

pub(crate) async fn list_domains(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let q = parse_query(raw)?;
    let filter = DomainFilter { name: query_get(&q, "name").map(str::to_string), enabled: query_enabled(&q) };
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let items = repo::list_domains(&mut tx, &filter).await?.iter().map(|d| domain_json(d, &v3)).collect();
    Ok(list_response("domains", items, format!("{v3}/domains")))
}

pub(crate) async fn get_domain(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(did): Path<String>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.domain.id", did.as_str()))?;
    let d = need_domain(&id, &did).await?;
    Ok(json_response(StatusCode::OK, json!({"domain": domain_json(&d, &v3_url(&id, &headers))})))
}

pub(crate) async fn create_domain(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "domain")?;
    options_field(m)?;
    let d = Domain {
        id: new_id(),
        name: required_name(m, "name", 64)?,
        description: nullable_text(m, "description", DESCRIPTION_MAX)?.flatten().unwrap_or_default(),
        enabled: bool_field(m, "enabled")?.unwrap_or(true),
    };
    let mut w = id.db.write().await?;
    repo::insert_domain(&mut w.tx, &d, berth_time::now()).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, json!({"domain": domain_json(&d, &v3_url(&id, &headers))})))
}

pub(crate) async fn update_domain(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(did): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.domain.id", did.as_str()))?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "domain")?;
    reject_id_change(m, &did)?;
    options_field(m)?;
    let mut w = id.db.write().await?;
    let mut d = repo::get_domain(&mut w.tx, &did).await?.ok_or_else(|| not_found("domain", &did))?;
    if let Some(n) = name_field(m, "name", 64)? {
        d.name = n;
    }
    if let Some(desc) = nullable_text(m, "description", DESCRIPTION_MAX)? {
        d.description = desc.unwrap_or_default();
    }
    if let Some(e) = bool_field(m, "enabled")? {
        if !e && d.id == DEFAULT_DOMAIN_ID {
            return Err(IdentityError::forbidden("The default domain cannot be disabled."));
        }
        d.enabled = e;
    }
    repo::update_domain(&mut w.tx, &d).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::OK, json!({"domain": domain_json(&d, &v3_url(&id, &headers))})))
}

pub(crate) async fn delete_domain(State(id): State<AppState>, caller: Caller, Path(did): Path<String>) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.domain.id", did.as_str()))?;
    if did == DEFAULT_DOMAIN_ID {
        return Err(IdentityError::forbidden("The default domain cannot be deleted."));
    }
    let mut w = id.db.write().await?;
    let d = repo::get_domain(&mut w.tx, &did).await?.ok_or_else(|| not_found("domain", &did))?;
    if d.enabled {
        return Err(IdentityError::forbidden("Cannot delete a domain that is enabled, please disable it first."));
    }
    repo::delete_domain_cascade(&mut w.tx, &did).await?;
    w.commit().await?;
    Ok(no_content())
}

// ---------------------------------------------------------------- projects

pub(crate) async fn list_projects(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let ctx = &caller.token;
    let q = parse_query(raw)?;
    caller.authorize(&list_target(ctx))?;
    let v3 = v3_url(&id, &headers);
    let Ok(domain_id) = list_domain(ctx, &q) else {
        return Ok(list_response("projects", Vec::new(), format!("{v3}/projects")));
    };
    if query_get(&q, "is_domain").is_some_and(super::truthy) {
        // Projects acting as domains are not supported: none exist.
        return Ok(list_response("projects", Vec::new(), format!("{v3}/projects")));
    }
    let filter = ProjectFilter {
        name: query_get(&q, "name").map(str::to_string),
        domain_id,
        enabled: query_enabled(&q),
        ..Default::default()
    };
    let mut tx = id.db.read().await?;
    let mut projects = repo::list_projects(&mut tx, &filter).await?;
    if let Some(parent) = query_get(&q, "parent_id") {
        projects.retain(|p| p.parent_id.as_deref().unwrap_or(&p.domain_id) == parent);
    }
    // Keystone's tag filters: comma-separated; `tags` needs all of them,
    // `tags-any` one, `not-tags` not all, `not-tags-any` none.
    let list = |key: &str| query_get(&q, key).map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>());
    if let Some(all) = list("tags") {
        projects.retain(|p| all.iter().all(|t| p.tags.contains(t)));
    }
    if let Some(any) = list("tags-any") {
        projects.retain(|p| any.iter().any(|t| p.tags.contains(t)));
    }
    if let Some(all) = list("not-tags") {
        projects.retain(|p| !all.iter().all(|t| p.tags.contains(t)));
    }
    if let Some(any) = list("not-tags-any") {
        projects.retain(|p| !any.iter().any(|t| p.tags.contains(t)));
    }
    let items = projects.iter().map(|p| project_json(p, &v3)).collect();
    Ok(list_response("projects", items, format!("{v3}/projects")))
}

pub(crate) async fn get_project(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(pid): Path<String>,
) -> ApiResult {
    caller.authorize(&project_target(&id, &pid).await?)?;
    let mut tx = id.db.read().await?;
    let p = repo::get_project(&mut tx, &pid).await?.ok_or_else(|| not_found("project", &pid))?;
    Ok(json_response(StatusCode::OK, json!({"project": project_json(&p, &v3_url(&id, &headers))})))
}

pub(crate) async fn create_project(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let ctx = &caller.token;
    let body = parse_body(&headers, &body);
    let domain = body_str(&body, "project", "domain_id").map(str::to_string).unwrap_or_else(|| caller_domain(ctx));
    caller.authorize(&PolicyTarget::new().set("target.project.domain_id", domain))?;
    let body = body?;
    let m = member(&body, "project")?;
    options_field(m)?;
    if bool_field(m, "is_domain")? == Some(true) {
        return Err(IdentityError::bad_request("Projects acting as domains are not supported."));
    }
    let name = required_name(m, "name", 64)?;
    let domain_id = match nullable_text(m, "domain_id", 64)? {
        Some(Some(d)) => d,
        _ => caller_domain(ctx),
    };
    let parent = nullable_text(m, "parent_id", 64)?.flatten();
    let mut w = id.db.write().await?;
    if repo::get_domain(&mut w.tx, &domain_id).await?.is_none() {
        return Err(not_found("domain", &domain_id));
    }
    let parent_id = match parent {
        None => None,
        Some(p) if p == domain_id => None,
        Some(p) => {
            let pp = repo::get_project(&mut w.tx, &p).await?.ok_or_else(|| not_found("project", &p))?;
            if pp.domain_id != domain_id {
                return Err(IdentityError::bad_request(
                    "Cannot create a project in a different domain than its parent.",
                ));
            }
            Some(p)
        }
    };
    let p = Project {
        id: new_id(),
        name,
        domain_id,
        parent_id,
        description: nullable_text(m, "description", DESCRIPTION_MAX)?.flatten().unwrap_or_default(),
        enabled: bool_field(m, "enabled")?.unwrap_or(true),
        tags: tags_field(m)?.unwrap_or_default(),
        extra: super::extra_fields(m, PROJECT_KEYS),
    };
    repo::insert_project(&mut w.tx, &p, berth_time::now()).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, json!({"project": project_json(&p, &v3_url(&id, &headers))})))
}

pub(crate) async fn update_project(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(pid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&project_target(&id, &pid).await?)?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "project")?;
    reject_id_change(m, &pid)?;
    options_field(m)?;
    let mut w = id.db.write().await?;
    let mut p = repo::get_project(&mut w.tx, &pid).await?.ok_or_else(|| not_found("project", &pid))?;
    if let Some(Some(d)) = nullable_text(m, "domain_id", 64)? {
        if d != p.domain_id {
            return Err(IdentityError::bad_request("Cannot change the domain of a project."));
        }
    }
    if let Some(Some(parent)) = nullable_text(m, "parent_id", 64)? {
        if parent != p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone()) {
            return Err(IdentityError::forbidden("Cannot change the parent of a project."));
        }
    }
    if bool_field(m, "is_domain")? == Some(true) {
        return Err(IdentityError::bad_request("Projects acting as domains are not supported."));
    }
    if let Some(n) = name_field(m, "name", 64)? {
        p.name = n;
    }
    if let Some(desc) = nullable_text(m, "description", DESCRIPTION_MAX)? {
        p.description = desc.unwrap_or_default();
    }
    if let Some(e) = bool_field(m, "enabled")? {
        p.enabled = e;
    }
    if let Some(t) = tags_field(m)? {
        p.tags = t;
    }
    p.extra.extend(super::extra_fields(m, PROJECT_KEYS));
    repo::update_project(&mut w.tx, &p).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::OK, json!({"project": project_json(&p, &v3_url(&id, &headers))})))
}

pub(crate) async fn delete_project(State(id): State<AppState>, caller: Caller, Path(pid): Path<String>) -> ApiResult {
    caller.authorize(&project_target(&id, &pid).await?)?;
    let mut w = id.db.write().await?;
    if repo::get_project(&mut w.tx, &pid).await?.is_none() {
        return Err(not_found("project", &pid));
    }
    if repo::project_has_children(&mut w.tx, &pid).await? {
        return Err(IdentityError::forbidden("Cannot delete a project that has child projects."));
    }
    repo::delete_project_cascade(&mut w.tx, &pid).await?;
    w.commit().await?;
    Ok(no_content())
}

// ---------------------------------------------------------------- users

pub(crate) async fn list_users(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let ctx = &caller.token;
    let q = parse_query(raw)?;
    caller.authorize(&list_target(ctx))?;
    let v3 = v3_url(&id, &headers);
    let Ok(domain_id) = list_domain(ctx, &q) else {
        return Ok(list_response("users", Vec::new(), format!("{v3}/users")));
    };
    if let Some(f) = query_get(&q, "password_expires_at") {
        password_expiry_filter(f)?;
        // No password expires (there is no expiry policy), so no user
        // matches a comparison with an expiry time.
        return Ok(list_response("users", Vec::new(), format!("{v3}/users")));
    }
    let filter = UserFilter { name: query_get(&q, "name").map(str::to_string), domain_id, enabled: query_enabled(&q) };
    let mut tx = id.db.read().await?;
    let items = repo::list_users(&mut tx, &filter).await?.iter().map(|u| user_json(u, &v3)).collect();
    Ok(list_response("users", items, format!("{v3}/users")))
}

/// Validate Keystone's `password_expires_at={lt,lte,gt,gte,eq,neq}:TIME`
/// filter (the operator defaults to `eq`): 400 when it is not one.
fn password_expiry_filter(f: &str) -> Result<()> {
    let time = match f.split_once(':') {
        Some((op, rest)) if ["lt", "lte", "gt", "gte", "eq", "neq"].contains(&op) => rest,
        _ => f,
    };
    berth_time::parse_iso8601(time).map(|_| ()).map_err(|_| {
        IdentityError::bad_request(
            "Invalid input for field 'password_expires_at': expected [lt|lte|gt|gte|eq|neq:]YYYY-MM-DDTHH:mm:ssZ",
        )
    })
}

pub(crate) async fn get_user(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> ApiResult {
    caller.authorize(&user_target(&id, &uid).await?)?;
    let u = load_user(&id, &uid).await?.ok_or_else(|| not_found("user", &uid))?;
    Ok(json_response(StatusCode::OK, json!({"user": user_json(&u, &v3_url(&id, &headers))})))
}

fn password_field(m: &Map<String, Value>) -> Result<Option<Option<String>>> {
    match nullable_text(m, "password", PASSWORD_MAX)? {
        Some(Some(p)) if p.is_empty() => {
            Err(IdentityError::bad_request("Invalid input for field 'password': the password must not be empty"))
        }
        other => Ok(other),
    }
}

async fn check_default_project(c: &mut repo::Conn, p: &Option<String>) -> Result<()> {
    if let Some(pid) = p {
        if repo::get_project(c, pid).await?.is_none() {
            return Err(not_found("project", pid));
        }
    }
    Ok(())
}

pub(crate) async fn create_user(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let ctx = &caller.token;
    let body = parse_body(&headers, &body);
    let domain = body_str(&body, "user", "domain_id").map(str::to_string).unwrap_or_else(|| caller_domain(ctx));
    caller.authorize(&PolicyTarget::new().set("target.user.domain_id", domain))?;
    let body = body?;
    let m = member(&body, "user")?;
    options_field(m)?;
    let domain_id = match nullable_text(m, "domain_id", 64)? {
        Some(Some(d)) => d,
        _ => caller_domain(ctx),
    };
    let u = User {
        id: new_id(),
        name: required_name(m, "name", 255)?,
        domain_id,
        enabled: bool_field(m, "enabled")?.unwrap_or(true),
        description: nullable_text(m, "description", DESCRIPTION_MAX)?.flatten(),
        email: nullable_text(m, "email", 255)?.flatten(),
        default_project_id: nullable_text(m, "default_project_id", 64)?.flatten(),
        extra: super::extra_fields(m, USER_KEYS),
    };
    let hash = match password_field(m)?.flatten() {
        Some(pw) => Some(id.hash_password(&pw).await?),
        None => None,
    };
    let mut w = id.db.write().await?;
    if repo::get_domain(&mut w.tx, &u.domain_id).await?.is_none() {
        return Err(not_found("domain", &u.domain_id));
    }
    check_default_project(&mut w.tx, &u.default_project_id).await?;
    repo::insert_user(&mut w.tx, &u, hash, berth_time::now()).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, json!({"user": user_json(&u, &v3_url(&id, &headers))})))
}

pub(crate) async fn update_user(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&user_target(&id, &uid).await?)?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "user")?;
    reject_id_change(m, &uid)?;
    options_field(m)?;
    let password = password_field(m)?;
    let hash = match &password {
        Some(Some(pw)) => Some(Some(id.hash_password(pw).await?)),
        Some(None) => Some(None),
        None => None,
    };
    let mut w = id.db.write().await?;
    let mut u = repo::get_user(&mut w.tx, &uid).await?.ok_or_else(|| not_found("user", &uid))?;
    if let Some(Some(d)) = nullable_text(m, "domain_id", 64)? {
        if d != u.domain_id {
            return Err(IdentityError::bad_request("Cannot change the domain of a user."));
        }
    }
    let was_enabled = u.enabled;
    if let Some(n) = name_field(m, "name", 255)? {
        u.name = n;
    }
    if let Some(e) = bool_field(m, "enabled")? {
        u.enabled = e;
    }
    if let Some(d) = nullable_text(m, "description", DESCRIPTION_MAX)? {
        u.description = d;
    }
    if let Some(e) = nullable_text(m, "email", 255)? {
        u.email = e;
    }
    if let Some(p) = nullable_text(m, "default_project_id", 64)? {
        check_default_project(&mut w.tx, &p).await?;
        u.default_project_id = p;
    }
    u.extra.extend(super::extra_fields(m, USER_KEYS));
    repo::update_user(&mut w.tx, &u).await?;
    let now = berth_time::now();
    if let Some(h) = hash {
        repo::set_password_hash(&mut w.tx, &uid, h, now).await?;
    }
    if password.is_some() || (was_enabled && !u.enabled) {
        // Like Keystone: a new password or disabling ends existing sessions.
        token::revoke_user(&mut w.tx, &uid).await?;
    }
    w.commit().await?;
    Ok(json_response(StatusCode::OK, json!({"user": user_json(&u, &v3_url(&id, &headers))})))
}

pub(crate) async fn delete_user(State(id): State<AppState>, caller: Caller, Path(uid): Path<String>) -> ApiResult {
    caller.authorize(&user_target(&id, &uid).await?)?;
    let mut w = id.db.write().await?;
    if !repo::delete_user_cascade(&mut w.tx, &uid).await? {
        return Err(not_found("user", &uid));
    }
    w.commit().await?;
    Ok(no_content())
}

/// `POST /v3/users/{id}/password`: self-service change, authenticated by
/// the original password (no token needed, as in Keystone).
pub(crate) async fn change_password(
    State(id): State<AppState>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "user")?;
    let original = match m.get("original_password") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(IdentityError::bad_request(
                "Invalid input for field 'user': 'original_password' is a required property",
            ))
        }
    };
    let new = match password_field(m)? {
        Some(Some(p)) => p,
        _ => {
            return Err(IdentityError::bad_request("Invalid input for field 'user': 'password' is a required property"))
        }
    };
    let stored = {
        let mut tx = id.db.read().await?;
        match repo::get_user(&mut tx, &uid).await? {
            Some(u) if u.enabled => repo::get_password_hash(&mut tx, &uid).await?,
            _ => None,
        }
    };
    let ok = match stored {
        Some(h) => {
            let orig = original.clone();
            tokio::task::spawn_blocking(move || password::verify(&h, &orig)).await.unwrap_or(false)
        }
        None => false,
    };
    if !ok {
        return Err(IdentityError::auth_required());
    }
    let hash = id.hash_password(&new).await?;
    let mut w = id.db.write().await?;
    repo::set_password_hash(&mut w.tx, &uid, Some(hash), berth_time::now()).await?;
    token::revoke_user(&mut w.tx, &uid).await?;
    w.commit().await?;
    Ok(no_content())
}

/// `GET /v3/users/{id}/projects`
pub(crate) async fn user_projects(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> ApiResult {
    caller.authorize(&user_target(&id, &uid).await?)?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    if repo::get_user(&mut tx, &uid).await?.is_none() {
        return Err(not_found("user", &uid));
    }
    let ids: Vec<String> = repo::user_project_ids(&mut tx, &uid).await?.into_iter().collect();
    let projects = repo::list_projects(&mut tx, &ProjectFilter { ids: Some(ids), ..Default::default() }).await?;
    let items = projects.iter().map(|p| project_json(p, &v3)).collect();
    Ok(list_response("projects", items, format!("{v3}/users/{uid}/projects")))
}

// ---------------------------------------------------------------- roles

pub(crate) async fn list_roles(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let q = parse_query(raw)?;
    let v3 = v3_url(&id, &headers);
    if query_get(&q, "domain_id").is_some() {
        // Domain-specific roles are not supported: none exist.
        return Ok(list_response("roles", Vec::new(), format!("{v3}/roles")));
    }
    let mut tx = id.db.read().await?;
    let items = repo::list_roles(&mut tx, query_get(&q, "name")).await?.iter().map(|r| role_json(r, &v3)).collect();
    Ok(list_response("roles", items, format!("{v3}/roles")))
}

pub(crate) async fn get_role(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(rid): Path<String>,
) -> ApiResult {
    let role = {
        let mut tx = id.db.read().await?;
        repo::get_role(&mut tx, &rid).await?
    };
    let target = match &role {
        Some(r) => PolicyTarget::new().role(r),
        None => PolicyTarget::new().set("target.role.id", rid.as_str()),
    };
    caller.authorize(&target)?;
    let r = role.ok_or_else(|| not_found("role", &rid))?;
    Ok(json_response(StatusCode::OK, json!({"role": role_json(&r, &v3_url(&id, &headers))})))
}

fn reject_domain_role(m: &Map<String, Value>) -> Result<()> {
    match nullable_text(m, "domain_id", 64)? {
        Some(Some(_)) => Err(IdentityError::bad_request("Domain-specific roles are not supported.")),
        _ => Ok(()),
    }
}

pub(crate) async fn create_role(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "role")?;
    options_field(m)?;
    reject_domain_role(m)?;
    let r = Role {
        id: new_id(),
        name: required_name(m, "name", 255)?,
        description: nullable_text(m, "description", 255)?.flatten(),
    };
    let mut w = id.db.write().await?;
    repo::insert_role(&mut w.tx, &r, berth_time::now()).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, json!({"role": role_json(&r, &v3_url(&id, &headers))})))
}

pub(crate) async fn update_role(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(rid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.role.id", rid.as_str()))?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "role")?;
    reject_id_change(m, &rid)?;
    options_field(m)?;
    reject_domain_role(m)?;
    let mut w = id.db.write().await?;
    let mut r = repo::get_role(&mut w.tx, &rid).await?.ok_or_else(|| not_found("role", &rid))?;
    if let Some(n) = name_field(m, "name", 255)? {
        r.name = n;
    }
    if let Some(d) = nullable_text(m, "description", 255)? {
        r.description = d;
    }
    repo::update_role(&mut w.tx, &r).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::OK, json!({"role": role_json(&r, &v3_url(&id, &headers))})))
}

pub(crate) async fn delete_role(State(id): State<AppState>, caller: Caller, Path(rid): Path<String>) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.role.id", rid.as_str()))?;
    let mut w = id.db.write().await?;
    if !repo::delete_role_cascade(&mut w.tx, &rid).await? {
        return Err(not_found("role", &rid));
    }
    w.commit().await?;
    Ok(no_content())
}

// ---------------------------------------------------------------- project tags

fn tags_body(p: &Project, v3: &str) -> Value {
    json!({"tags": p.tags, "links": {"self": format!("{v3}/projects/{}/tags", p.id)}})
}

/// A tag in a path: 1 to 255 characters, no `/` or `,`.
fn path_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.chars().count() > 255 || tag.contains(['/', ',']) || tag.contains('\0') {
        return Err(IdentityError::bad_request(format!("Invalid input for field 'tag': '{tag}' is not a valid tag")));
    }
    Ok(())
}

/// `GET /v3/projects/{id}/tags`
pub(crate) async fn list_project_tags(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(pid): Path<String>,
) -> ApiResult {
    caller.authorize(&project_target(&id, &pid).await?)?;
    let p = load_project(&id, &pid).await?.ok_or_else(|| not_found("project", &pid))?;
    Ok(json_response(StatusCode::OK, tags_body(&p, &v3_url(&id, &headers))))
}

/// `PUT /v3/projects/{id}/tags`: replace every tag.
pub(crate) async fn update_project_tags(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(pid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&project_target(&id, &pid).await?)?;
    let body = parse_body(&headers, &body)?;
    let m = body.as_object().ok_or_else(|| IdentityError::bad_request("Expecting a JSON object with 'tags'."))?;
    let tags = tags_field(m)?
        .ok_or_else(|| IdentityError::bad_request("Invalid input for field 'tags': 'tags' is a required property"))?;
    let mut w = id.db.write().await?;
    let mut p = repo::get_project(&mut w.tx, &pid).await?.ok_or_else(|| not_found("project", &pid))?;
    p.tags = tags;
    repo::update_project(&mut w.tx, &p).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::OK, tags_body(&p, &v3_url(&id, &headers))))
}

/// `DELETE /v3/projects/{id}/tags`
pub(crate) async fn delete_project_tags(
    State(id): State<AppState>,
    caller: Caller,
    Path(pid): Path<String>,
) -> ApiResult {
    caller.authorize(&project_target(&id, &pid).await?)?;
    let mut w = id.db.write().await?;
    let mut p = repo::get_project(&mut w.tx, &pid).await?.ok_or_else(|| not_found("project", &pid))?;
    p.tags.clear();
    repo::update_project(&mut w.tx, &p).await?;
    w.commit().await?;
    Ok(no_content())
}

/// `GET`/`HEAD`/`PUT`/`DELETE /v3/projects/{id}/tags/{tag}`
pub(crate) async fn project_tag(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    method: axum::http::Method,
    Path((pid, tag)): Path<(String, String)>,
) -> ApiResult {
    caller.authorize(&project_target(&id, &pid).await?)?;
    path_tag(&tag)?;
    let mut w = id.db.write().await?;
    let mut p = repo::get_project(&mut w.tx, &pid).await?.ok_or_else(|| not_found("project", &pid))?;
    let has = p.tags.contains(&tag);
    match method {
        axum::http::Method::PUT => {
            if !has {
                if p.tags.len() >= 80 {
                    return Err(IdentityError::bad_request(
                        "Invalid input for field 'tags': at most 80 tags are allowed",
                    ));
                }
                p.tags.push(tag);
                repo::update_project(&mut w.tx, &p).await?;
                w.commit().await?;
            }
            Ok(json_response(StatusCode::CREATED, tags_body(&p, &v3_url(&id, &headers))))
        }
        axum::http::Method::DELETE => {
            if !has {
                return Err(IdentityError::not_found(format!("Tag {tag} was not found.")));
            }
            p.tags.retain(|t| t != &tag);
            repo::update_project(&mut w.tx, &p).await?;
            w.commit().await?;
            Ok(no_content())
        }
        _ if has => Ok(no_content()),
        _ => Err(IdentityError::not_found(format!("Tag {tag} was not found."))),
    }
}
