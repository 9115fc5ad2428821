//! `/v3/services`, `/v3/endpoints` and `/v3/regions`: the catalog's data,
//! read and changed through the API (the token catalog and
//! `/v3/auth/catalog` show the changes at once).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::policy::PolicyTarget;
use super::{
    bool_field, extra_fields, json_response, list_response, member, no_content, nullable_text, parse_body, parse_query,
    query_get, v3_url, ApiResult, AppState, Caller,
};
use crate::catalog::{self, shown_url, Endpoint, Region, Service, INTERFACES};
use crate::error::{IdentityError, Result};
use crate::repo::Conn;
use crate::util::new_id;

const SERVICE_KEYS: &[&str] = &["id", "type", "name", "description", "enabled", "links"];
const ENDPOINT_KEYS: &[&str] =
    &["id", "service_id", "interface", "region_id", "region", "url", "enabled", "links", "legacy_endpoint_id"];
const REGION_KEYS: &[&str] = &["id", "description", "parent_region_id", "links"];

fn with_extra(extra: &Map<String, Value>, base: Value) -> Value {
    let mut m = extra.clone();
    if let Value::Object(b) = base {
        m.extend(b);
    }
    Value::Object(m)
}

fn service_json(s: &Service, v3: &str) -> Value {
    let mut base = json!({
        "id": s.id,
        "type": s.kind,
        "name": s.name,
        "enabled": s.enabled,
        "links": {"self": format!("{v3}/services/{}", s.id)},
    });
    if let Some(d) = &s.description {
        base["description"] = json!(d);
    }
    with_extra(&s.extra, base)
}

fn endpoint_json(e: &Endpoint, base: &str, v3: &str) -> Value {
    with_extra(
        &e.extra,
        json!({
            "id": e.id,
            "interface": e.interface,
            "region": e.region_id,
            "region_id": e.region_id,
            "service_id": e.service_id,
            "url": shown_url(&e.url, base),
            "enabled": e.enabled,
            "links": {"self": format!("{v3}/endpoints/{}", e.id)},
        }),
    )
}

fn region_json(r: &Region, v3: &str) -> Value {
    with_extra(
        &r.extra,
        json!({
            "id": r.id,
            "description": r.description,
            "parent_region_id": r.parent_region_id,
            "links": {"self": format!("{v3}/regions/{}", r.id)},
        }),
    )
}

fn not_found(kind: &str, id: &str) -> IdentityError {
    IdentityError::not_found(format!("Could not find {kind}: {id}."))
}

/// Keystone's `ValidationError` for a reference to nothing.
fn missing_ref(attribute: &str, table: &str) -> IdentityError {
    IdentityError::bad_request(format!(
        "Expecting to find {attribute} in {table}. The server could not comply with the request since it is either \
         malformed or otherwise incorrect. The client is assumed to be in error."
    ))
}

fn invalid(field: &str, detail: impl std::fmt::Display) -> IdentityError {
    IdentityError::bad_request(format!("Invalid input for field '{field}': {detail}"))
}

/// A string of `min..=max` characters; absent → `None`.
fn string_field(m: &Map<String, Value>, key: &str, min: usize, max: usize) -> Result<Option<String>> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n < min {
                Err(invalid(key, format!("'{s}' is too short")))
            } else if n > max {
                Err(invalid(key, format!("the value is too long (at most {max} characters)")))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(v) => Err(invalid(key, format!("{v} is not of type 'string'"))),
    }
}

fn interface_field(m: &Map<String, Value>) -> Result<Option<String>> {
    match string_field(m, "interface", 1, 255)? {
        Some(i) if INTERFACES.contains(&i.as_str()) => Ok(Some(i)),
        Some(i) => Err(invalid("interface", format!("'{i}' does not match '^(?:admin|internal|public)$'"))),
        None => Ok(None),
    }
}

/// An endpoint URL: `scheme://...`, or one starting with a substitution.
fn url_field(m: &Map<String, Value>) -> Result<Option<String>> {
    match string_field(m, "url", 1, 225)? {
        Some(u) if u.contains("://") || u.starts_with("%(") || u.starts_with("$(") => Ok(Some(u)),
        Some(u) => Err(invalid("url", format!("'{u}' is not a valid URL"))),
        None => Ok(None),
    }
}

/// `region_id` (or the legacy `region`) of an endpoint body: absent →
/// `None`; null → `Some(None)`.
fn region_ref(m: &Map<String, Value>) -> Result<Option<Option<String>>> {
    match nullable_text(m, "region_id", 255)? {
        Some(r) => Ok(Some(r)),
        None => nullable_text(m, "region", 255),
    }
}

async fn check_refs(c: &mut Conn, e: &Endpoint) -> Result<()> {
    if let Some(r) = &e.region_id {
        if catalog::get_region(&mut *c, r).await?.is_none() {
            return Err(missing_ref("endpoint region_id", "region table"));
        }
    }
    if catalog::get_service(&mut *c, &e.service_id).await?.is_none() {
        return Err(missing_ref("endpoint service_id", "service table"));
    }
    Ok(())
}

// ---------------------------------------------------------------- services

pub(crate) async fn services(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let q = parse_query(raw)?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let items = catalog::list_services(&mut tx)
        .await?
        .iter()
        .filter(|s| {
            query_get(&q, "type").is_none_or(|t| t == s.kind) && query_get(&q, "name").is_none_or(|n| n == s.name)
        })
        .map(|s| service_json(s, &v3))
        .collect();
    Ok(list_response("services", items, format!("{v3}/services")))
}

pub(crate) async fn service(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.service.id", sid.as_str()))?;
    let mut tx = id.db.read().await?;
    let s = catalog::get_service(&mut tx, &sid).await?.ok_or_else(|| not_found("service", &sid))?;
    Ok(json_response(StatusCode::OK, json!({"service": service_json(&s, &v3_url(&id, &headers))})))
}

pub(crate) async fn create_service(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "service")?;
    let kind = string_field(m, "type", 1, 255)?.ok_or_else(|| invalid("type", "'type' is a required property"))?;
    let s = Service {
        id: new_id(),
        kind,
        name: string_field(m, "name", 1, 255)?.unwrap_or_default(),
        description: nullable_text(m, "description", 65_535)?.flatten(),
        enabled: bool_field(m, "enabled")?.unwrap_or(true),
        extra: extra_fields(m, SERVICE_KEYS),
    };
    let mut w = id.db.write().await?;
    catalog::insert_service(&mut w.tx, &s, berth_time::now()).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, json!({"service": service_json(&s, &v3_url(&id, &headers))})))
}

pub(crate) async fn update_service(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(sid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.service.id", sid.as_str()))?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "service")?;
    if m.get("id").is_some_and(|v| v.as_str() != Some(sid.as_str())) {
        return Err(IdentityError::bad_request("Cannot change the id of a resource."));
    }
    let mut w = id.db.write().await?;
    let mut s = catalog::get_service(&mut w.tx, &sid).await?.ok_or_else(|| not_found("service", &sid))?;
    if let Some(t) = string_field(m, "type", 1, 255)? {
        s.kind = t;
    }
    if let Some(n) = string_field(m, "name", 1, 255)? {
        s.name = n;
    }
    if let Some(d) = nullable_text(m, "description", 65_535)? {
        s.description = d;
    }
    if let Some(e) = bool_field(m, "enabled")? {
        s.enabled = e;
    }
    s.extra.extend(extra_fields(m, SERVICE_KEYS));
    catalog::update_service(&mut w.tx, &s).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::OK, json!({"service": service_json(&s, &v3_url(&id, &headers))})))
}

pub(crate) async fn delete_service(State(id): State<AppState>, caller: Caller, Path(sid): Path<String>) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.service.id", sid.as_str()))?;
    let mut w = id.db.write().await?;
    if !catalog::delete_service(&mut w.tx, &sid).await? {
        return Err(not_found("service", &sid));
    }
    w.commit().await?;
    Ok(no_content())
}

// ---------------------------------------------------------------- endpoints

pub(crate) async fn endpoints(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let q = parse_query(raw)?;
    let v3 = v3_url(&id, &headers);
    let base = id.base_url(&headers);
    let mut tx = id.db.read().await?;
    let items = catalog::list_endpoints(&mut tx)
        .await?
        .iter()
        .filter(|e| {
            query_get(&q, "interface").is_none_or(|i| i == e.interface)
                && query_get(&q, "service_id").is_none_or(|s| s == e.service_id)
                && query_get(&q, "region_id").is_none_or(|r| Some(r) == e.region_id.as_deref())
        })
        .map(|e| endpoint_json(e, &base, &v3))
        .collect();
    Ok(list_response("endpoints", items, format!("{v3}/endpoints")))
}

pub(crate) async fn endpoint(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(eid): Path<String>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.endpoint.id", eid.as_str()))?;
    let mut tx = id.db.read().await?;
    let e = catalog::get_endpoint(&mut tx, &eid).await?.ok_or_else(|| not_found("endpoint", &eid))?;
    let json = endpoint_json(&e, &id.base_url(&headers), &v3_url(&id, &headers));
    Ok(json_response(StatusCode::OK, json!({ "endpoint": json })))
}

pub(crate) async fn create_endpoint(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "endpoint")?;
    let e = Endpoint {
        id: new_id(),
        service_id: string_field(m, "service_id", 1, 64)?
            .ok_or_else(|| invalid("service_id", "'service_id' is a required property"))?,
        interface: interface_field(m)?.ok_or_else(|| invalid("interface", "'interface' is a required property"))?,
        region_id: region_ref(m)?.flatten(),
        url: url_field(m)?.ok_or_else(|| invalid("url", "'url' is a required property"))?,
        enabled: bool_field(m, "enabled")?.unwrap_or(true),
        extra: extra_fields(m, ENDPOINT_KEYS),
    };
    let mut w = id.db.write().await?;
    check_refs(&mut w.tx, &e).await?;
    catalog::insert_endpoint(&mut w.tx, &e, berth_time::now()).await?;
    w.commit().await?;
    let json = endpoint_json(&e, &id.base_url(&headers), &v3_url(&id, &headers));
    Ok(json_response(StatusCode::CREATED, json!({ "endpoint": json })))
}

pub(crate) async fn update_endpoint(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(eid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.endpoint.id", eid.as_str()))?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "endpoint")?;
    if m.get("id").is_some_and(|v| v.as_str() != Some(eid.as_str())) {
        return Err(IdentityError::bad_request("Cannot change the id of a resource."));
    }
    let mut w = id.db.write().await?;
    let mut e = catalog::get_endpoint(&mut w.tx, &eid).await?.ok_or_else(|| not_found("endpoint", &eid))?;
    if let Some(s) = string_field(m, "service_id", 1, 64)? {
        e.service_id = s;
    }
    if let Some(i) = interface_field(m)? {
        e.interface = i;
    }
    if let Some(r) = region_ref(m)? {
        e.region_id = r;
    }
    if let Some(u) = url_field(m)? {
        e.url = u;
    }
    if let Some(en) = bool_field(m, "enabled")? {
        e.enabled = en;
    }
    e.extra.extend(extra_fields(m, ENDPOINT_KEYS));
    check_refs(&mut w.tx, &e).await?;
    catalog::update_endpoint(&mut w.tx, &e).await?;
    w.commit().await?;
    let json = endpoint_json(&e, &id.base_url(&headers), &v3_url(&id, &headers));
    Ok(json_response(StatusCode::OK, json!({ "endpoint": json })))
}

pub(crate) async fn delete_endpoint(State(id): State<AppState>, caller: Caller, Path(eid): Path<String>) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.endpoint.id", eid.as_str()))?;
    let mut w = id.db.write().await?;
    if !catalog::delete_endpoint(&mut w.tx, &eid).await? {
        return Err(not_found("endpoint", &eid));
    }
    w.commit().await?;
    Ok(no_content())
}

// ---------------------------------------------------------------- regions

pub(crate) async fn regions(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let q = parse_query(raw)?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let items = catalog::list_regions(&mut tx)
        .await?
        .iter()
        .filter(|r| query_get(&q, "parent_region_id").is_none_or(|p| Some(p) == r.parent_region_id.as_deref()))
        .map(|r| region_json(r, &v3))
        .collect();
    Ok(list_response("regions", items, format!("{v3}/regions")))
}

pub(crate) async fn region(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(rid): Path<String>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.region.id", rid.as_str()))?;
    let mut tx = id.db.read().await?;
    let r = catalog::get_region(&mut tx, &rid).await?.ok_or_else(|| not_found("region", &rid))?;
    Ok(json_response(StatusCode::OK, json!({"region": region_json(&r, &v3_url(&id, &headers))})))
}

/// A parent region that exists and is not `rid` nor below it.
async fn check_parent(c: &mut Conn, rid: &str, parent: &str) -> Result<()> {
    let mut cur = Some(parent.to_string());
    let mut hops = 0;
    while let Some(p) = cur {
        if p == rid {
            return Err(IdentityError::bad_request(format!(
                "Circular reference or a repeated entry found in region tree - {rid}."
            )));
        }
        let r = catalog::get_region(&mut *c, &p).await?.ok_or_else(|| not_found("region", &p))?;
        cur = r.parent_region_id;
        hops += 1;
        if hops > 1000 {
            break;
        }
    }
    Ok(())
}

pub(crate) async fn create_region(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    insert_region(&id, &headers, &body, None).await
}

/// `PUT /v3/regions/{id}`: create a region with the id of the path (a
/// body `id`, if any, must be the same).
pub(crate) async fn put_region(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(rid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.region.id", rid.as_str()))?;
    insert_region(&id, &headers, &body, Some(rid)).await
}

async fn insert_region(id: &AppState, headers: &HeaderMap, body: &Bytes, path_id: Option<String>) -> ApiResult {
    let body = parse_body(headers, body)?;
    let m = member(&body, "region")?;
    let given = string_field(m, "id", 0, 255)?;
    let rid = match (path_id, given) {
        (Some(p), Some(b)) if !b.is_empty() && b != p => {
            return Err(IdentityError::bad_request("The region id in the body does not match the one in the path."))
        }
        (Some(p), _) => p,
        (None, Some(i)) if !i.is_empty() => i,
        _ => new_id(),
    };
    let r = Region {
        id: rid,
        description: nullable_text(m, "description", 255)?.flatten().unwrap_or_default(),
        parent_region_id: nullable_text(m, "parent_region_id", 255)?.flatten(),
        extra: extra_fields(m, REGION_KEYS),
    };
    let mut w = id.db.write().await?;
    if catalog::get_region(&mut w.tx, &r.id).await?.is_some() {
        return Err(IdentityError::conflict(format!(
            "Conflict occurred attempting to store region - Duplicate ID, {}.",
            r.id
        )));
    }
    if let Some(p) = &r.parent_region_id {
        check_parent(&mut w.tx, &r.id, p).await?;
    }
    catalog::insert_region(&mut w.tx, &r, berth_time::now()).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, json!({"region": region_json(&r, &v3_url(id, headers))})))
}

pub(crate) async fn update_region(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(rid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.region.id", rid.as_str()))?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "region")?;
    if m.get("id").is_some_and(|v| v.as_str() != Some(rid.as_str())) {
        return Err(IdentityError::bad_request("Cannot change the id of a resource."));
    }
    let mut w = id.db.write().await?;
    let mut r = catalog::get_region(&mut w.tx, &rid).await?.ok_or_else(|| not_found("region", &rid))?;
    if let Some(d) = nullable_text(m, "description", 255)? {
        r.description = d.unwrap_or_default();
    }
    if let Some(p) = nullable_text(m, "parent_region_id", 255)? {
        if let Some(p) = &p {
            check_parent(&mut w.tx, &rid, p).await?;
        }
        r.parent_region_id = p;
    }
    r.extra.extend(extra_fields(m, REGION_KEYS));
    catalog::update_region(&mut w.tx, &r).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::OK, json!({"region": region_json(&r, &v3_url(&id, &headers))})))
}

/// Delete a region and the regions below it, refused (403) while any of
/// them has endpoints, as Keystone's SQL catalog does.
pub(crate) async fn delete_region(State(id): State<AppState>, caller: Caller, Path(rid): Path<String>) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.region.id", rid.as_str()))?;
    let mut w = id.db.write().await?;
    catalog::get_region(&mut w.tx, &rid).await?.ok_or_else(|| not_found("region", &rid))?;
    let regions = catalog::list_regions(&mut w.tx).await?;
    let mut tree = vec![rid.clone()];
    let mut i = 0;
    while i < tree.len() {
        let cur = tree[i].clone();
        for r in regions.iter().filter(|r| r.parent_region_id.as_deref() == Some(cur.as_str())) {
            if !tree.contains(&r.id) {
                tree.push(r.id.clone());
            }
        }
        i += 1;
    }
    let endpoints = catalog::list_endpoints(&mut w.tx).await?;
    if endpoints.iter().any(|e| e.region_id.as_ref().is_some_and(|r| tree.contains(r))) {
        return Err(IdentityError::forbidden(format!(
            "Unable to delete region {rid} because it or its child regions have associated endpoints."
        )));
    }
    for r in tree.iter().rev() {
        catalog::delete_region(&mut w.tx, r).await?;
    }
    w.commit().await?;
    Ok(no_content())
}
