//! `POST /reshaper` (1.30+): move inventories and allocations atomically.

use std::sync::LazyLock;

use berth_placement::{codes, ErrorKind};
use serde_json::json;
use uuid::Uuid;

use super::allocation::{allocation_write, dict_form, post_form};
use super::inventory::{inventory_from_json, put_all_schema};
use super::require_version;
use crate::error::ApiError;
use crate::req::HandlerResult;
use crate::req::{no_content, Req};
use crate::schema::Schema;

fn schema(mappings: bool, consumer_type: bool) -> Schema {
    let mut allocs = post_form(dict_form(0, true, mappings, consumer_type));
    allocs["minProperties"] = json!(0);
    Schema::new(json!({
        "type": "object",
        "properties": {
            "inventories": {"type": "object", "patternProperties": {"^[0-9a-fA-F-]{36}$": put_all_schema()},
                            "minProperties": 1, "additionalProperties": false},
            "allocations": allocs
        },
        "required": ["inventories", "allocations"],
        "additionalProperties": false
    }))
}
static V1_30: LazyLock<Schema> = LazyLock::new(|| schema(false, false));
static V1_34: LazyLock<Schema> = LazyLock::new(|| schema(true, false));
static V1_38: LazyLock<Schema> = LazyLock::new(|| schema(true, true));

pub async fn reshape(req: Req) -> HandlerResult {
    require_version(&req, 30)?;
    req.require_json_content()?;
    req.can("placement:reshaper:reshape")?;
    let schema: &Schema = if req.want(38) {
        &V1_38
    } else if req.want(34) {
        &V1_34
    } else {
        &V1_30
    };
    let data = req.json(schema)?;
    super::allocation::check_amounts(&data["allocations"])?;
    let mut inventories = Vec::new();
    for (rp, body) in data["inventories"].as_object().into_iter().flatten() {
        let uuid = Uuid::parse_str(rp).map_err(|_| ApiError::bad_request(format!("Malformed uuid {rp}")))?;
        let Some(current) = req.state.store.get_provider(&uuid).await? else {
            return Err(ApiError::bad_request(format!(
                "Resource provider {rp} in inventories not found: No resource provider with uuid {rp} found"
            ))
            .with_code(codes::RESOURCE_PROVIDER_NOT_FOUND));
        };
        let given = body["resource_provider_generation"].as_i64().unwrap_or(-1);
        if given != current.generation {
            return Err(ApiError::conflict(format!(
                "resource provider generation conflict for provider {rp}: actual: {}, given: {given}",
                current.generation
            ))
            .with_code(codes::CONCURRENT_UPDATE));
        }
        let mut invs = Vec::new();
        for (rc, raw) in body["inventories"].as_object().into_iter().flatten() {
            let inv = inventory_from_json(rc, raw);
            super::inventory::validate_capacity(&req, &uuid, &inv).map_err(ApiError::bad_request)?;
            invs.push(inv);
        }
        inventories.push((uuid, given, invs));
    }
    let mut writes = Vec::new();
    for (c, body) in data["allocations"].as_object().into_iter().flatten() {
        let consumer =
            Uuid::parse_str(c).map_err(|_| ApiError::bad_request(format!("Malformed consumer_uuid: {c}")))?;
        writes.push(allocation_write(&req, consumer, body)?);
    }
    req.state.store.reshape(&inventories, &writes).await.map_err(|e| match e.kind {
        ErrorKind::Conflict if e.code == codes::INVENTORY_INUSE => {
            ApiError::conflict(format!("update conflict: {}", e.detail)).with_code(codes::INVENTORY_INUSE)
        }
        ErrorKind::Conflict if e.code == codes::CONCURRENT_UPDATE => {
            ApiError::conflict(format!("update conflict: {}", e.detail)).with_code(codes::CONCURRENT_UPDATE)
        }
        ErrorKind::Conflict => ApiError::conflict(e.detail),
        ErrorKind::NotFound | ErrorKind::BadRequest => {
            ApiError::bad_request(format!("malformed reshaper data: {}", e.detail))
        }
        _ => e.into(),
    })?;
    Ok(no_content())
}
