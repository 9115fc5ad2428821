//! `/resource_providers/{uuid}/inventories[/{resource_class}]`.

use std::sync::LazyLock;

use berth_placement::model::{Inventory, MAX_INT};
use berth_placement::{codes, ErrorKind};
use http::{header, StatusCode};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::path_uuid;
use crate::error::ApiError;
use crate::req::HandlerResult;
use crate::req::{json_response, no_content, Req};
use crate::schema::Schema;

const FLOAT_MAX: f64 = 3.40282e+38;
const RC_PATTERN: &str = "^[A-Z0-9_]+$";

fn record_props() -> Value {
    let int = |min: i64| json!({"type": "integer", "maximum": MAX_INT, "minimum": min});
    json!({
        "resource_provider_generation": {"type": "integer"},
        "total": int(1),
        "reserved": int(0),
        "min_unit": int(1),
        "max_unit": int(1),
        "step_size": int(1),
        "allocation_ratio": {"type": "number", "maximum": FLOAT_MAX},
    })
}

static BASE: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(json!({"type": "object", "properties": record_props(),
        "required": ["total", "resource_provider_generation"], "additionalProperties": false}))
});
static POST: LazyLock<Schema> = LazyLock::new(|| {
    let mut p = record_props();
    p["resource_class"] = json!({"type": "string", "pattern": RC_PATTERN});
    Schema::new(
        json!({"type": "object", "properties": p, "required": ["total", "resource_class"], "additionalProperties": false}),
    )
});
static PUT_ALL: LazyLock<Schema> = LazyLock::new(|| Schema::new(put_all_schema()));

/// Body of `PUT .../inventories` (also one provider's entry in the reshaper).
pub(crate) fn put_all_schema() -> Value {
    let record =
        json!({"type": "object", "properties": record_props(), "required": ["total"], "additionalProperties": false});
    json!({
        "type": "object",
        "properties": {
            "resource_provider_generation": {"type": "integer"},
            "inventories": {"type": "object", "patternProperties": {RC_PATTERN: record}}
        },
        "required": ["resource_provider_generation", "inventories"],
        "additionalProperties": false
    })
}

/// Build an inventory record from validated JSON, applying defaults.
pub fn inventory_from_json(rc: &str, v: &Value) -> Inventory {
    let int = |k: &str, d: i64| v.get(k).and_then(Value::as_i64).unwrap_or(d);
    Inventory {
        resource_class: rc.to_string(),
        total: int("total", 0),
        reserved: int("reserved", 0),
        min_unit: int("min_unit", 1),
        max_unit: int("max_unit", MAX_INT),
        step_size: int("step_size", 1),
        allocation_ratio: v.get("allocation_ratio").and_then(Value::as_f64).unwrap_or(1.0),
    }
}

/// Capacity rule: before 1.26 reserved must be below total; from 1.26 it may equal it.
pub fn validate_capacity(req: &Req, rp: &Uuid, inv: &Inventory) -> Result<(), String> {
    let cap = inv.total - inv.reserved;
    if req.want(26) {
        if cap < 0 {
            return Err(format!(
                "Invalid inventory for '{}' on resource provider '{rp}'. The reserved value is greater than total.",
                inv.resource_class
            ));
        }
    } else if cap <= 0 {
        return Err(format!(
            "Invalid inventory for '{}' on resource provider '{rp}'. The reserved value is greater than or equal to total.",
            inv.resource_class
        ));
    }
    Ok(())
}

pub fn serialize_one(inv: &Inventory) -> Value {
    json!({
        "total": inv.total,
        "reserved": inv.reserved,
        "min_unit": inv.min_unit,
        "max_unit": inv.max_unit,
        "step_size": inv.step_size,
        "allocation_ratio": inv.allocation_ratio,
    })
}

fn with_gen(inv: &Inventory, gen: i64) -> Value {
    let mut v = serialize_one(inv);
    v["resource_provider_generation"] = json!(gen);
    v
}

fn no_provider(uuid: &Uuid) -> ApiError {
    ApiError::not_found(format!("No resource provider with uuid {uuid} found"))
}

/// Upstream's 404 for a provider's inventory list repeats the message.
fn no_provider_list(uuid: &Uuid) -> ApiError {
    ApiError::not_found(format!(
        "No resource provider with uuid {uuid} found : No resource provider with uuid {uuid} found"
    ))
}

async fn current_generation(req: &Req, uuid: &Uuid) -> Result<i64, ApiError> {
    Ok(req.state.store.get_provider(uuid).await?.ok_or_else(|| no_provider(uuid))?.generation)
}

pub async fn list(req: Req) -> HandlerResult {
    req.check_accept_json()?;
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:inventories:list")?;
    let (gen, invs, last) = req.state.store.get_inventories(&uuid).await?.ok_or_else(|| no_provider_list(&uuid))?;
    let mut m = Map::new();
    for inv in &invs {
        m.insert(inv.resource_class.clone(), serialize_one(inv));
    }
    let body = json!({"resource_provider_generation": gen, "inventories": m});
    Ok(json_response(&req, StatusCode::OK, &body, Some(last)))
}

pub async fn show(req: Req) -> HandlerResult {
    req.check_accept_json()?;
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:inventories:show")?;
    let rc = req.param("resource_class").to_string();
    let (gen, invs, last) = req.state.store.get_inventories(&uuid).await?.ok_or_else(|| no_provider(&uuid))?;
    let inv = invs
        .iter()
        .find(|i| i.resource_class == rc)
        .ok_or_else(|| ApiError::not_found(format!("No inventory of class {rc} for {uuid}")))?;
    Ok(json_response(&req, StatusCode::OK, &with_gen(inv, gen), Some(last)))
}

pub async fn create(req: Req) -> HandlerResult {
    let uuid = path_uuid(&req, "uuid")?;
    req.require_json_content()?;
    req.can("placement:resource_providers:inventories:create")?;
    current_generation(&req, &uuid).await?;
    let data = req.json(&POST)?;
    let rc = data["resource_class"].as_str().unwrap_or_default().to_string();
    let inv = inventory_from_json(&rc, &data);
    let fail = |detail: String| {
        ApiError::bad_request(format!("Unable to create inventory for resource provider {uuid}: {detail}"))
    };
    validate_capacity(&req, &uuid, &inv).map_err(fail)?;
    let gen = req.state.store.add_inventory(&uuid, &inv).await.map_err(|e| match e.kind {
        ErrorKind::Conflict => {
            ApiError::conflict(format!("Update conflict: {}", e.detail)).with_code(codes::CONCURRENT_UPDATE)
        }
        ErrorKind::BadRequest | ErrorKind::NotFound => fail(e.detail),
        _ => e.into(),
    })?;
    let mut resp = json_response(&req, StatusCode::CREATED, &with_gen(&inv, gen), None);
    req.set_location(&mut resp, &format!("/resource_providers/{uuid}/inventories/{rc}"));
    Ok(resp)
}

/// The body of `PUT .../inventories`: generation and inventories, validated.
fn set_all_body(req: &Req, uuid: &Uuid) -> Result<(i64, Vec<Inventory>), ApiError> {
    let data = req.json(&PUT_ALL)?;
    let gen = data["resource_provider_generation"].as_i64().unwrap_or(-1);
    let mut invs = Vec::new();
    for (rc, raw) in data["inventories"].as_object().into_iter().flatten() {
        let inv = inventory_from_json(rc, raw);
        validate_capacity(req, uuid, &inv).map_err(|d| {
            ApiError::bad_request(format!("Unable to update inventory for resource provider {uuid}: {d}"))
        })?;
        invs.push(inv);
    }
    Ok((gen, invs))
}

fn generation_conflict() -> ApiError {
    ApiError::conflict("resource provider generation conflict").with_code(codes::CONCURRENT_UPDATE)
}

pub async fn set_all(req: Req) -> HandlerResult {
    let uuid = path_uuid(&req, "uuid")?;
    req.require_json_content()?;
    req.can("placement:resource_providers:inventories:update")?;
    // The provider and its generation are checked by the write itself; only
    // a bad body costs a read, so that a missing provider (404) and then a
    // stale generation (409, once the JSON parses) still come first.
    let (gen, invs) = match set_all_body(&req, &uuid) {
        Ok(body) => body,
        Err(e) => {
            let current = current_generation(&req, &uuid).await?;
            if let Ok(data) = req.json(&PUT_ALL) {
                if data["resource_provider_generation"].as_i64().unwrap_or(-1) != current {
                    return Err(generation_conflict());
                }
            }
            return Err(e);
        }
    };
    let (new_gen, stored, last) =
        req.state.store.put_inventories(&uuid, gen, &invs).await.map_err(|e| match e.kind {
            ErrorKind::BadRequest => ApiError::bad_request(format!(
                "Unknown resource class in inventory for resource provider {uuid}: {}",
                e.detail
            )),
            ErrorKind::Conflict if e.code == codes::INVENTORY_INUSE => {
                ApiError::conflict(format!("update conflict: {}", e.detail)).with_code(codes::INVENTORY_INUSE)
            }
            ErrorKind::Conflict if e.detail == berth_store::GENERATION_CONFLICT => generation_conflict(),
            ErrorKind::Conflict => {
                ApiError::conflict(format!("update conflict: {}", e.detail)).with_code(codes::CONCURRENT_UPDATE)
            }
            _ => e.into(),
        })?;
    let mut m = Map::new();
    for inv in &stored {
        m.insert(inv.resource_class.clone(), serialize_one(inv));
    }
    let body = json!({"resource_provider_generation": new_gen, "inventories": m});
    Ok(json_response(&req, StatusCode::OK, &body, Some(last)))
}

pub async fn update(req: Req) -> HandlerResult {
    let uuid = path_uuid(&req, "uuid")?;
    req.require_json_content()?;
    req.can("placement:resource_providers:inventories:update")?;
    let current = current_generation(&req, &uuid).await?;
    let rc = req.param("resource_class").to_string();
    let data = req.json(&BASE)?;
    let gen = data["resource_provider_generation"].as_i64().unwrap_or(-1);
    if gen != current {
        return Err(ApiError::conflict("resource provider generation conflict").with_code(codes::CONCURRENT_UPDATE));
    }
    let inv = inventory_from_json(&rc, &data);
    validate_capacity(&req, &uuid, &inv)
        .map_err(|d| ApiError::bad_request(format!("Unable to update inventory for resource provider {uuid}: {d}")))?;
    let new_gen = req.state.store.update_inventory(&uuid, gen, &inv).await.map_err(|e| match e.kind {
        ErrorKind::BadRequest => ApiError::bad_request(format!(
            "No inventory record with resource class for resource provider {uuid}: {}",
            e.detail
        )),
        ErrorKind::Conflict => {
            ApiError::conflict(format!("update conflict: {}", e.detail)).with_code(codes::CONCURRENT_UPDATE)
        }
        _ => e.into(),
    })?;
    Ok(json_response(&req, StatusCode::OK, &with_gen(&inv, new_gen), None))
}

pub async fn delete(req: Req) -> HandlerResult {
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:inventories:delete")?;
    current_generation(&req, &uuid).await?;
    let rc = req.param("resource_class").to_string();
    req.state.store.delete_inventory(&uuid, &rc).await.map_err(|e| match e.kind {
        ErrorKind::Conflict => ApiError::conflict(format!("Unable to delete inventory of class {rc}: {}", e.detail))
            .with_code(codes::CONCURRENT_UPDATE),
        ErrorKind::NotFound => {
            ApiError::not_found(format!("No inventory of class {rc} found for delete: {}", e.detail))
        }
        _ => e.into(),
    })?;
    Ok(no_content())
}

pub async fn delete_all(req: Req) -> HandlerResult {
    if !req.want(5) {
        return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "").with_header(header::ALLOW, "GET, POST, PUT"));
    }
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:inventories:delete")?;
    current_generation(&req, &uuid).await?;
    req.state.store.delete_all_inventories(&uuid).await.map_err(|e| match e.kind {
        ErrorKind::Conflict if e.code == codes::INVENTORY_INUSE => ApiError::from(e),
        ErrorKind::Conflict => ApiError::conflict(format!(
            "Unable to delete inventory for resource provider {uuid} because the inventory was updated by another \
             process. Please retry your request."
        ))
        .with_code(codes::CONCURRENT_UPDATE),
        _ => e.into(),
    })?;
    Ok(no_content())
}
