//! Read-only `/v3/services`, `/v3/endpoints` and `/v3/regions`, generated
//! from the same table as the token catalog.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::policy::PolicyTarget;
use super::{json_response, list_response, parse_query, query_get, v3_url, ApiResult, AppState, Caller};
use crate::catalog::{endpoints as all_endpoints, service_id, Endpoint, SERVICES};
use crate::error::IdentityError;

fn service_json(kind: &str, name: &str, v3: &str) -> Value {
    let id = service_id(kind);
    json!({"id": id, "type": kind, "name": name, "enabled": true, "links": {"self": format!("{v3}/services/{id}")}})
}

fn endpoint_json(e: &Endpoint, region: &str, v3: &str) -> Value {
    json!({
        "id": e.id,
        "interface": e.interface,
        "region": region,
        "region_id": region,
        "service_id": e.service_id,
        "url": e.url,
        "enabled": true,
        "links": {"self": format!("{v3}/endpoints/{}", e.id)},
    })
}

fn region_json(region: &str, v3: &str) -> Value {
    json!({"id": region, "description": "", "parent_region_id": null, "links": {"self": format!("{v3}/regions/{region}")}})
}

pub(crate) async fn services(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let q = parse_query(raw)?;
    let v3 = v3_url(&id, &headers);
    let items = SERVICES
        .iter()
        .filter(|(kind, name, _)| {
            query_get(&q, "type").is_none_or(|t| t == *kind) && query_get(&q, "name").is_none_or(|n| n == *name)
        })
        .map(|(kind, name, _)| service_json(kind, name, &v3))
        .collect();
    Ok(list_response("services", items, format!("{v3}/services")))
}

pub(crate) async fn service(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    let (kind, name, _) = SERVICES
        .iter()
        .find(|(kind, _, _)| service_id(kind) == sid)
        .ok_or_else(|| IdentityError::not_found(format!("Could not find service: {sid}.")))?;
    Ok(json_response(StatusCode::OK, json!({"service": service_json(kind, name, &v3)})))
}

pub(crate) async fn endpoints(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let q = parse_query(raw)?;
    let v3 = v3_url(&id, &headers);
    let region = &id.config.region;
    let items = all_endpoints(&id.base_url(&headers))
        .iter()
        .filter(|e| {
            query_get(&q, "interface").is_none_or(|i| i == e.interface)
                && query_get(&q, "service_id").is_none_or(|s| s == e.service_id)
                && query_get(&q, "region_id").is_none_or(|r| r == region)
        })
        .map(|e| endpoint_json(e, region, &v3))
        .collect();
    Ok(list_response("endpoints", items, format!("{v3}/endpoints")))
}

pub(crate) async fn endpoint(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(eid): Path<String>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    let e = all_endpoints(&id.base_url(&headers))
        .into_iter()
        .find(|e| e.id == eid)
        .ok_or_else(|| IdentityError::not_found(format!("Could not find endpoint: {eid}.")))?;
    Ok(json_response(StatusCode::OK, json!({"endpoint": endpoint_json(&e, &id.config.region, &v3)})))
}

pub(crate) async fn regions(State(id): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    Ok(list_response("regions", vec![region_json(&id.config.region, &v3)], format!("{v3}/regions")))
}

pub(crate) async fn region(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(rid): Path<String>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new().set("target.region.id", rid.as_str()))?;
    if rid != id.config.region {
        return Err(IdentityError::not_found(format!("Could not find region: {rid}.")));
    }
    let v3 = v3_url(&id, &headers);
    Ok(json_response(StatusCode::OK, json!({"region": region_json(&rid, &v3)})))
}
