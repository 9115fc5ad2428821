//! `/resource_providers` and `/resource_providers/{uuid}`.

use std::sync::LazyLock;

use berth_placement::codes;
use berth_placement::model::ResourceProvider;
use berth_store::{ProviderFilter, ProviderUpdate};
use http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::path_uuid;
use crate::error::ApiError;
use crate::handlers::params;
use crate::req::HandlerResult;
use crate::req::{bytes_json_response, json_response, no_content, Req};
use crate::schema::Schema;

fn name_uuid_props() -> Value {
    json!({"name": {"type": "string", "maxLength": 200}, "uuid": {"type": "string", "format": "uuid"}})
}
fn parent_prop() -> Value {
    json!({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]})
}

static POST_1_0: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(
        json!({"type": "object", "properties": name_uuid_props(), "required": ["name"], "additionalProperties": false}),
    )
});
static POST_1_14: LazyLock<Schema> = LazyLock::new(|| {
    let mut p = name_uuid_props();
    p["parent_provider_uuid"] = parent_prop();
    Schema::new(json!({"type": "object", "properties": p, "required": ["name"], "additionalProperties": false}))
});
static PUT_1_0: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(
        json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 200}}, "required": ["name"], "additionalProperties": false}),
    )
});
static PUT_1_14: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(
        json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 200}, "parent_provider_uuid": parent_prop()}, "required": ["name"], "additionalProperties": false}),
    )
});

fn list_schema(req: &Req) -> Schema {
    let mut props = json!({"name": {"type": "string"}, "uuid": {"type": "string", "format": "uuid"}});
    if req.want(3) {
        props["member_of"] = json!({"type": "string"});
    }
    if req.want(4) {
        props["resources"] = json!({"type": "string"});
    }
    if req.want(14) {
        props["in_tree"] = json!({"type": "string", "format": "uuid"});
    }
    if req.want(18) {
        props["required"] = json!({"type": "string"});
    }
    Schema::new(json!({"type": "object", "properties": props, "additionalProperties": false}))
}

pub fn provider_url(req: &Req, uuid: &Uuid) -> String {
    format!("{}/resource_providers/{uuid}", req.prefix)
}

#[derive(Serialize)]
struct Link<'a> {
    rel: &'static str,
    href: std::borrow::Cow<'a, str>,
}

/// A provider as the API shows it (typed, so lists of thousands serialize
/// without building a JSON tree).
#[derive(Serialize)]
pub struct ProviderOut<'a> {
    uuid: Uuid,
    name: &'a str,
    generation: i64,
    links: Vec<Link<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_provider_uuid: Option<Option<Uuid>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_provider_uuid: Option<Uuid>,
}

pub fn provider_out<'a>(req: &Req, rp: &'a ResourceProvider) -> ProviderOut<'a> {
    let url = provider_url(req, &rp.uuid);
    let mut rels = vec!["inventories", "usages"];
    if req.want(1) {
        rels.push("aggregates");
    }
    if req.want(6) {
        rels.push("traits");
    }
    if req.want(11) {
        rels.push("allocations");
    }
    let mut links = Vec::with_capacity(rels.len() + 1);
    for rel in rels.iter() {
        links.push(Link { rel, href: format!("{url}/{rel}").into() });
    }
    links.insert(0, Link { rel: "self", href: url.into() });
    let nested = req.want(14);
    ProviderOut {
        uuid: rp.uuid,
        name: &rp.name,
        generation: rp.generation,
        links,
        parent_provider_uuid: nested.then_some(rp.parent_uuid),
        root_provider_uuid: nested.then_some(rp.root_uuid),
    }
}

pub fn serialize(req: &Req, rp: &ResourceProvider) -> Value {
    serde_json::to_value(provider_out(req, rp)).unwrap_or(Value::Null)
}

pub async fn create(req: Req) -> HandlerResult {
    req.can("placement:resource_providers:create")?;
    let schema = if req.want(14) { &*POST_1_14 } else { &*POST_1_0 };
    let data = req.json(schema)?;
    let name = data["name"].as_str().unwrap_or_default().to_string();
    let uuid = match data.get("uuid").and_then(Value::as_str) {
        Some(u) if !u.is_empty() => Uuid::parse_str(u).map_err(|_| ApiError::bad_request("invalid uuid"))?,
        _ => Uuid::new_v4(),
    };
    let parent = match data.get("parent_provider_uuid").and_then(Value::as_str) {
        Some(p) => Some(Uuid::parse_str(p).map_err(|_| ApiError::bad_request("invalid parent uuid"))?),
        None => None,
    };
    let rp = req.state.store.create_provider(uuid, &name, parent).await.map_err(|e| {
        if e.kind == berth_placement::ErrorKind::BadRequest {
            ApiError::bad_request(format!("Unable to create resource provider \"{name}\", {uuid}: {}", e.detail))
        } else {
            e.into()
        }
    })?;
    let mut resp = if req.want(20) {
        json_response(&req, StatusCode::OK, &serialize(&req, &rp), Some(rp.updated_at))
    } else {
        axum::response::IntoResponse::into_response(StatusCode::CREATED)
    };
    req.set_location(&mut resp, &format!("/resource_providers/{}", rp.uuid));
    Ok(resp)
}

pub async fn show(req: Req) -> HandlerResult {
    req.check_accept_json()?;
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:show")?;
    let rp = req
        .state
        .store
        .get_provider(&uuid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No resource provider with uuid {uuid} found")))?;
    Ok(json_response(&req, StatusCode::OK, &serialize(&req, &rp), Some(rp.updated_at)))
}

pub async fn list(req: Req) -> HandlerResult {
    req.check_accept_json()?;
    req.can("placement:resource_providers:list")?;
    let q = req.query()?;
    if q.is_empty() {
        return list_all(&req).await;
    }
    list_schema(&req).validate_query(&req.query_object()?)?;
    let last = |k: &str| q.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let mut f = ProviderFilter::default();
    if let Some(u) = last("uuid") {
        f.uuid = Some(Uuid::parse_str(&u).map_err(|_| ApiError::bad_request("Invalid uuid"))?);
    }
    f.name = last("name");
    if q.iter().any(|(k, _)| k == "member_of") {
        let (req_aggs, forb) = params::member_of(&req, &q, "")?;
        f.member_of = req_aggs;
        f.forbidden_aggregates = forb;
    }
    if q.iter().any(|(k, _)| k == "required") {
        let (rt, ft) = params::required_traits(&req, &q, "")?;
        let mut missing: Vec<String> = Vec::new();
        for t in rt.iter().flatten().chain(ft.iter()) {
            if !req.state.store.trait_exists(t).await? && !missing.contains(t) {
                missing.push(t.clone());
            }
        }
        if !missing.is_empty() {
            missing.sort();
            return Err(ApiError::bad_request(format!(
                "Invalid trait(s) in \"required\" parameter: No such trait(s): {}.",
                missing.join(", ")
            )));
        }
        f.required_traits = rt;
        f.forbidden_traits = ft;
    }
    if let Some(t) = last("in_tree") {
        f.in_tree = Some(Uuid::parse_str(&t).map_err(|_| ApiError::bad_request("Invalid uuid"))?);
    }
    if let Some(r) = last("resources") {
        let res = params::resources(&r)?;
        for rc in res.keys() {
            if req.state.store.get_resource_class(rc).await?.is_none() {
                return Err(ApiError::bad_request(format!(
                    "Invalid resource class in resources parameter: No such resource class {rc}."
                )));
            }
        }
        f.resources = res;
    }
    let rps = req.state.store.list_providers(&f).await?;
    let (body, last_mod) = render_list(&req, &rps)?;
    Ok(bytes_json_response(&req, StatusCode::OK, body, last_mod))
}

/// The list as JSON bytes and its last-modified time.
fn render_list(req: &Req, rps: &[ResourceProvider]) -> Result<(axum::body::Bytes, Option<i64>), ApiError> {
    #[derive(Serialize)]
    struct List<'a> {
        resource_providers: Vec<ProviderOut<'a>>,
    }
    let last_mod = rps.iter().map(|r| r.updated_at).max();
    let body = List { resource_providers: rps.iter().map(|rp| provider_out(req, rp)).collect() };
    let mut out = Vec::with_capacity(64 + rps.len() * 640);
    serde_json::to_writer(&mut out, &body)
        .map_err(|e| ApiError::from(berth_placement::Error::internal(e.to_string())))?;
    Ok((out.into(), last_mod))
}

/// `GET /resource_providers` without filters: rendered once per data
/// version (and link prefix and microversion shape), then served from
/// memory; the database is asked only whether anything changed.
async fn list_all(req: &Req) -> HandlerResult {
    let version = req.state.store.data_version().await?;
    let shape =
        u8::from(req.want(1)) | u8::from(req.want(6)) << 1 | u8::from(req.want(11)) << 2 | u8::from(req.want(14)) << 3;
    if let Some((body, last_mod)) = req.state.cached_provider_list(version, &req.prefix, shape) {
        return Ok(bytes_json_response(req, StatusCode::OK, body, last_mod));
    }
    // Read after the version: the list may be newer than its label, which
    // only costs a re-render, never a stale answer.
    let rps = req.state.store.list_providers(&ProviderFilter::default()).await?;
    let (body, last_mod) = render_list(req, &rps)?;
    req.state.cache_provider_list(crate::CachedList {
        version,
        prefix: req.prefix.clone(),
        shape,
        body: body.clone(),
        last_modified: last_mod,
    });
    Ok(bytes_json_response(req, StatusCode::OK, body, last_mod))
}

pub async fn update(req: Req) -> HandlerResult {
    let uuid = path_uuid(&req, "uuid")?;
    req.require_json_content()?;
    req.can("placement:resource_providers:update")?;
    if req.state.store.get_provider(&uuid).await?.is_none() {
        return Err(ApiError::not_found(format!("No resource provider with uuid {uuid} found")));
    }
    let schema = if req.want(14) { &*PUT_1_14 } else { &*PUT_1_0 };
    let data = req.json(schema)?;
    let mut upd = ProviderUpdate { allow_reparenting: req.want(37), ..Default::default() };
    upd.name = data.get("name").and_then(Value::as_str).map(str::to_string);
    if let Some(p) = data.get("parent_provider_uuid") {
        upd.parent = Some(match p.as_str() {
            Some(s) => Some(Uuid::parse_str(s).map_err(|_| ApiError::bad_request("invalid parent uuid"))?),
            None => None,
        });
    }
    let rp = req.state.store.update_provider(&uuid, upd).await.map_err(|e| match e.kind {
        berth_placement::ErrorKind::BadRequest => {
            ApiError::bad_request(format!("Unable to save resource provider {uuid}: {}", e.detail))
        }
        _ => e.into(),
    })?;
    Ok(json_response(&req, StatusCode::OK, &serialize(&req, &rp), Some(rp.updated_at)))
}

pub async fn delete(req: Req) -> HandlerResult {
    let uuid = path_uuid(&req, "uuid").map_err(|_| {
        ApiError::not_found(format!("No resource provider with uuid {} found for delete", req.param("uuid")))
    })?;
    req.can("placement:resource_providers:delete")?;
    req.state.store.delete_provider(&uuid).await.map_err(|e| {
        let e: ApiError = e.into();
        if e.code == codes::DEFAULT && e.status == StatusCode::CONFLICT {
            e.with_code(codes::PROVIDER_IN_USE)
        } else {
            e
        }
    })?;
    Ok(no_content())
}
