//! Groups (`/v3/groups`) and their members (`/v3/groups/{id}/users`,
//! `/v3/users/{id}/groups`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::policy::PolicyTarget;
use super::{
    extra_fields, json_response, list_response, member, name_field, no_content, nullable_text, parse_body, parse_query,
    query_get, required_name, v3_url, ApiResult, AppState, Caller,
};
use crate::error::{IdentityError, Result};
use crate::repo::{self, Group, GroupFilter};
use crate::service::Identity;
use crate::token::{ResolvedScope, TokenInfo};
use crate::util::new_id;

const DESCRIPTION_MAX: usize = 65_535;
/// The attributes a group body names; any other is kept as an extra.
const GROUP_KEYS: &[&str] = &["id", "name", "domain_id", "description", "links"];

pub(crate) fn group_json(g: &Group, v3: &str) -> Value {
    let mut m = Map::new();
    for (k, v) in &g.extra {
        m.insert(k.clone(), v.clone());
    }
    m.insert("id".into(), json!(g.id));
    m.insert("name".into(), json!(g.name));
    m.insert("domain_id".into(), json!(g.domain_id));
    m.insert("description".into(), json!(g.description));
    m.insert("links".into(), json!({"self": format!("{v3}/groups/{}", g.id)}));
    Value::Object(m)
}

fn not_found(kind: &str, id: &str) -> IdentityError {
    IdentityError::not_found(format!("Could not find {kind}: {id}."))
}

fn caller_domain(ctx: &TokenInfo) -> String {
    match &ctx.scope {
        ResolvedScope::Project { project, .. } => project.domain_id.clone(),
        ResolvedScope::Domain(d) => d.id.clone(),
        _ => crate::service::DEFAULT_DOMAIN_ID.to_string(),
    }
}

async fn load_group(id: &Identity, gid: &str) -> Result<Option<Group>> {
    let mut tx = id.db.read().await?;
    repo::get_group(&mut tx, gid).await
}

/// The target of an operation on group `gid` (and user `uid`).
async fn group_target(id: &Identity, gid: &str, uid: Option<&str>) -> Result<PolicyTarget> {
    let mut t = match load_group(id, gid).await? {
        Some(g) => PolicyTarget::new().group(&g),
        None => PolicyTarget::new().set("target.group.id", gid),
    };
    if let Some(uid) = uid {
        let mut tx = id.db.read().await?;
        t = match repo::get_user(&mut tx, uid).await? {
            Some(u) => t.user(&u),
            None => t.set("target.user.id", uid),
        };
        t = t.set("user_id", uid);
    }
    Ok(t)
}

pub(crate) async fn list_groups(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let ctx = &caller.token;
    let q = parse_query(raw)?;
    let v3 = v3_url(&id, &headers);
    let mut domain_id = query_get(&q, "domain_id").map(str::to_string);
    let mut target = PolicyTarget::new();
    if let ResolvedScope::Domain(d) = &ctx.scope {
        target = target.set("target.group.domain_id", d.id.as_str());
        if domain_id.as_ref().is_some_and(|f| f != &d.id) {
            caller.authorize(&target)?;
            return Ok(list_response("groups", Vec::new(), format!("{v3}/groups")));
        }
        domain_id = Some(d.id.clone());
    } else if let Some(d) = &domain_id {
        target = target.set("target.group.domain_id", d.as_str());
    }
    caller.authorize(&target)?;
    let filter = GroupFilter { name: query_get(&q, "name").map(str::to_string), domain_id };
    let mut tx = id.db.read().await?;
    let items = repo::list_groups(&mut tx, &filter).await?.iter().map(|g| group_json(g, &v3)).collect();
    Ok(list_response("groups", items, format!("{v3}/groups")))
}

pub(crate) async fn get_group(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(gid): Path<String>,
) -> ApiResult {
    caller.authorize(&group_target(&id, &gid, None).await?)?;
    let g = load_group(&id, &gid).await?.ok_or_else(|| not_found("group", &gid))?;
    Ok(json_response(StatusCode::OK, json!({"group": group_json(&g, &v3_url(&id, &headers))})))
}

pub(crate) async fn create_group(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let ctx = &caller.token;
    let body = parse_body(&headers, &body);
    let domain = body
        .as_ref()
        .ok()
        .and_then(|b| b.get("group")?.get("domain_id")?.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| caller_domain(ctx));
    caller.authorize(&PolicyTarget::new().set("target.group.domain_id", domain))?;
    let body = body?;
    let m = member(&body, "group")?;
    let domain_id = match nullable_text(m, "domain_id", 64)? {
        Some(Some(d)) => d,
        _ => caller_domain(ctx),
    };
    let g = Group {
        id: new_id(),
        name: required_name(m, "name", 64)?,
        domain_id,
        description: nullable_text(m, "description", DESCRIPTION_MAX)?.flatten().unwrap_or_default(),
        extra: extra_fields(m, GROUP_KEYS),
    };
    let mut w = id.db.write().await?;
    if repo::get_domain(&mut w.tx, &g.domain_id).await?.is_none() {
        return Err(not_found("domain", &g.domain_id));
    }
    repo::insert_group(&mut w.tx, &g, berth_time::now()).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, json!({"group": group_json(&g, &v3_url(&id, &headers))})))
}

pub(crate) async fn update_group(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(gid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&group_target(&id, &gid, None).await?)?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "group")?;
    if m.get("id").is_some_and(|v| v.as_str() != Some(gid.as_str())) {
        return Err(IdentityError::bad_request("Cannot change the id of a resource."));
    }
    let mut w = id.db.write().await?;
    let mut g = repo::get_group(&mut w.tx, &gid).await?.ok_or_else(|| not_found("group", &gid))?;
    if let Some(Some(d)) = nullable_text(m, "domain_id", 64)? {
        if d != g.domain_id {
            return Err(IdentityError::bad_request("Cannot change the domain of a group."));
        }
    }
    if let Some(n) = name_field(m, "name", 64)? {
        g.name = n;
    }
    if let Some(d) = nullable_text(m, "description", DESCRIPTION_MAX)? {
        g.description = d.unwrap_or_default();
    }
    g.extra.extend(extra_fields(m, GROUP_KEYS));
    repo::update_group(&mut w.tx, &g).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::OK, json!({"group": group_json(&g, &v3_url(&id, &headers))})))
}

pub(crate) async fn delete_group(State(id): State<AppState>, caller: Caller, Path(gid): Path<String>) -> ApiResult {
    caller.authorize(&group_target(&id, &gid, None).await?)?;
    let mut w = id.db.write().await?;
    if !repo::delete_group_cascade(&mut w.tx, &gid).await? {
        return Err(not_found("group", &gid));
    }
    w.commit().await?;
    Ok(no_content())
}

/// `GET /v3/groups/{id}/users`
pub(crate) async fn group_users(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(gid): Path<String>,
) -> ApiResult {
    caller.authorize(&group_target(&id, &gid, None).await?)?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    repo::get_group(&mut tx, &gid).await?.ok_or_else(|| not_found("group", &gid))?;
    let items = repo::group_users(&mut tx, &gid).await?.iter().map(|u| super::resources::user_json(u, &v3)).collect();
    Ok(list_response("users", items, format!("{v3}/groups/{gid}/users")))
}

/// `PUT`, `HEAD`/`GET` and `DELETE /v3/groups/{id}/users/{user}`.
pub(crate) async fn membership(
    State(id): State<AppState>,
    caller: Caller,
    method: axum::http::Method,
    Path((gid, uid)): Path<(String, String)>,
) -> ApiResult {
    caller.authorize(&group_target(&id, &gid, Some(&uid)).await?)?;
    let mut w = id.db.write().await?;
    repo::get_group(&mut w.tx, &gid).await?.ok_or_else(|| not_found("group", &gid))?;
    repo::get_user(&mut w.tx, &uid).await?.ok_or_else(|| not_found("user", &uid))?;
    let missing = || IdentityError::not_found(format!("User '{uid}' not found in group '{gid}'"));
    match method {
        axum::http::Method::PUT => {
            repo::add_member(&mut w.tx, &gid, &uid).await?;
        }
        axum::http::Method::DELETE => {
            if !repo::remove_member(&mut w.tx, &gid, &uid).await? {
                return Err(missing());
            }
        }
        _ => {
            if !repo::is_member(&mut w.tx, &gid, &uid).await? {
                return Err(missing());
            }
            return Ok(no_content());
        }
    }
    w.commit().await?;
    Ok(no_content())
}

/// `GET /v3/users/{id}/groups`
pub(crate) async fn user_groups(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> ApiResult {
    let target = {
        let mut tx = id.db.read().await?;
        match repo::get_user(&mut tx, &uid).await? {
            Some(u) => PolicyTarget::new().user(&u),
            None => PolicyTarget::new().set("target.user.id", uid.as_str()),
        }
        .set("user_id", uid.as_str())
    };
    caller.authorize(&target)?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    repo::get_user(&mut tx, &uid).await?.ok_or_else(|| not_found("user", &uid))?;
    let items = repo::user_groups(&mut tx, &uid).await?.iter().map(|g| group_json(g, &v3)).collect();
    Ok(list_response("groups", items, format!("{v3}/users/{uid}/groups")))
}
