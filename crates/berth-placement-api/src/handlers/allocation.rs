//! `/allocations`, `/allocations/{consumer_uuid}` and
//! `/resource_providers/{uuid}/allocations`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use berth_placement::model::{AllocationMap, MAX_INT};
use berth_placement::{codes, ErrorKind};
use berth_store::AllocationWrite;
use http::StatusCode;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::path_uuid;
use crate::error::ApiError;
use crate::req::HandlerResult;
use crate::req::{json_response, no_content, Req};
use crate::schema::Schema;

const RC_PATTERN: &str = "^[A-Z0-9_]+$";
const UUID_PATTERN: &str = "^[0-9a-fA-F-]{36}$";

fn resources_schema() -> Value {
    json!({"type": "object", "minProperties": 1,
           "patternProperties": {RC_PATTERN: {"type": "integer", "minimum": 1}},
           "additionalProperties": false})
}
fn id_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255})
}

fn list_form(with_ids: bool) -> Value {
    let mut s = json!({
        "type": "object",
        "properties": {"allocations": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "properties": {
                "resource_provider": {"type": "object", "properties": {"uuid": {"type": "string", "format": "uuid"}},
                                      "additionalProperties": false, "required": ["uuid"]},
                "resources": resources_schema()
            },
            "required": ["resource_provider", "resources"],
            "additionalProperties": false
        }}},
        "required": ["allocations"],
        "additionalProperties": false
    });
    if with_ids {
        s["properties"]["project_id"] = id_schema();
        s["properties"]["user_id"] = id_schema();
        s["required"] = json!(["allocations", "project_id", "user_id"]);
    }
    s
}

/// The dict form (1.12+) for one consumer, growing by version.
pub(crate) fn dict_form(min_props: u32, generation: bool, mappings: bool, consumer_type: bool) -> Value {
    let mut s = json!({
        "type": "object",
        "properties": {
            "allocations": {"type": "object", "minProperties": min_props,
                "patternProperties": {UUID_PATTERN: {"type": "object",
                    "properties": {"generation": {"type": "integer"}, "resources": resources_schema()},
                    "required": ["resources"], "additionalProperties": false}},
                "additionalProperties": false},
            "project_id": id_schema(),
            "user_id": id_schema()
        },
        "additionalProperties": false,
        "required": ["allocations", "project_id", "user_id"]
    });
    if generation {
        s["properties"]["consumer_generation"] = json!({"type": ["integer", "null"], "additionalProperties": false});
        s["required"].as_array_mut().unwrap().push(json!("consumer_generation"));
    }
    if mappings {
        s["properties"]["mappings"] = json!({"type": "object", "minProperties": 1,
            "patternProperties": {"[a-zA-Z0-9_-]{1,64}": {"type": "array", "minItems": 1,
                "items": {"type": "string", "format": "uuid"}}}});
    }
    if consumer_type {
        s["properties"]["consumer_type"] =
            json!({"type": "string", "pattern": RC_PATTERN, "minLength": 1, "maxLength": 255});
        s["required"].as_array_mut().unwrap().push(json!("consumer_type"));
    }
    s
}

/// Upstream's schemas put no upper bound on an amount (the database column
/// does); here an amount above the largest inventory total is refused
/// after validation, with jsonschema's words for a maximum.
pub(crate) fn check_amounts(v: &Value) -> Result<(), ApiError> {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "resources" {
                    if let Some(r) = x.as_object() {
                        for amount in r.values() {
                            if amount.as_i64().is_none_or(|n| n > MAX_INT) {
                                return Err(ApiError::bad_request(format!(
                                    "JSON does not validate: {amount} is greater than the maximum of {MAX_INT}"
                                )));
                            }
                        }
                    }
                }
                check_amounts(x)?;
            }
            Ok(())
        }
        Value::Array(a) => a.iter().try_for_each(check_amounts),
        _ => Ok(()),
    }
}

pub(crate) fn post_form(one: Value) -> Value {
    json!({"type": "object", "minProperties": 1, "additionalProperties": false,
           "patternProperties": {UUID_PATTERN: one}})
}

static PUT_1_0: LazyLock<Schema> = LazyLock::new(|| Schema::new(list_form(false)));
static PUT_1_8: LazyLock<Schema> = LazyLock::new(|| Schema::new(list_form(true)));
static PUT_1_12: LazyLock<Schema> = LazyLock::new(|| Schema::new(dict_form(1, false, false, false)));
static PUT_1_28: LazyLock<Schema> = LazyLock::new(|| Schema::new(dict_form(0, true, false, false)));
static PUT_1_34: LazyLock<Schema> = LazyLock::new(|| Schema::new(dict_form(0, true, true, false)));
static PUT_1_38: LazyLock<Schema> = LazyLock::new(|| Schema::new(dict_form(0, true, true, true)));
static POST_1_13: LazyLock<Schema> = LazyLock::new(|| Schema::new(post_form(dict_form(0, false, false, false))));
static POST_1_28: LazyLock<Schema> = LazyLock::new(|| Schema::new(post_form(dict_form(0, true, false, false))));
static POST_1_34: LazyLock<Schema> = LazyLock::new(|| Schema::new(post_form(dict_form(0, true, true, false))));
static POST_1_38: LazyLock<Schema> = LazyLock::new(|| Schema::new(post_form(dict_form(0, true, true, true))));

fn put_schema(req: &Req) -> &'static Schema {
    if req.want(38) {
        &PUT_1_38
    } else if req.want(34) {
        &PUT_1_34
    } else if req.want(28) {
        &PUT_1_28
    } else if req.want(12) {
        &PUT_1_12
    } else if req.want(8) {
        &PUT_1_8
    } else {
        &PUT_1_0
    }
}

fn consumer_uuid(req: &Req) -> Result<Uuid, ApiError> {
    let raw = req.param("consumer_uuid");
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request(format!("Malformed consumer_uuid: {raw}")))
}

fn resources_of(v: &Value) -> BTreeMap<String, i64> {
    v.as_object().into_iter().flatten().map(|(k, n)| (k.clone(), n.as_i64().unwrap_or(0))).collect()
}

/// One consumer's write from its validated JSON (either form).
pub(crate) fn allocation_write(req: &Req, consumer: Uuid, data: &Value) -> Result<AllocationWrite, ApiError> {
    let mut allocations: AllocationMap = BTreeMap::new();
    match &data["allocations"] {
        Value::Array(items) => {
            for item in items {
                let rp = item["resource_provider"]["uuid"].as_str().unwrap_or_default();
                let rp = Uuid::parse_str(rp).map_err(|_| ApiError::bad_request("invalid uuid"))?;
                allocations.entry(rp).or_default().extend(resources_of(&item["resources"]));
            }
        }
        Value::Object(m) => {
            for (rp, a) in m {
                let rp = Uuid::parse_str(rp)
                    .map_err(|_| ApiError::bad_request(format!("Malformed resource provider uuid: {rp}")))?;
                allocations.insert(rp, resources_of(&a["resources"]));
            }
        }
        _ => {}
    }
    let cfg = &req.state.config;
    let s = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(AllocationWrite {
        consumer,
        project_id: s("project_id").unwrap_or_else(|| cfg.incomplete_consumer_project_id.clone()),
        user_id: s("user_id").unwrap_or_else(|| cfg.incomplete_consumer_user_id.clone()),
        consumer_generation: if req.want(28) { Some(data["consumer_generation"].as_i64()) } else { None },
        consumer_type: s("consumer_type"),
        allocations,
    })
}

fn map_write_error(e: berth_placement::Error, consumer: Option<&Uuid>) -> ApiError {
    match e.kind {
        ErrorKind::NotFound => match consumer {
            Some(c) => ApiError::bad_request(format!("Unable to allocate inventory for consumer {c}: {}", e.detail)),
            None => ApiError::bad_request(format!("Unable to allocate inventory {}", e.detail)),
        },
        ErrorKind::Conflict if e.code == codes::CONCURRENT_UPDATE => {
            ApiError::conflict(e.detail).with_code(codes::CONCURRENT_UPDATE)
        }
        _ => e.into(),
    }
}

pub async fn put(req: Req) -> HandlerResult {
    let consumer = consumer_uuid(&req)?;
    req.require_json_content()?;
    req.can("placement:allocations:update")?;
    let data = req.json(put_schema(&req))?;
    check_amounts(&data)?;
    let write = allocation_write(&req, consumer, &data)?;
    req.state.store.write_allocations(&[write]).await.map_err(|e| map_write_error(e, Some(&consumer)))?;
    Ok(no_content())
}

pub async fn post(req: Req) -> HandlerResult {
    super::require_version(&req, 13)?;
    req.require_json_content()?;
    req.can("placement:allocations:manage")?;
    let schema: &Schema = if req.want(38) {
        &POST_1_38
    } else if req.want(34) {
        &POST_1_34
    } else if req.want(28) {
        &POST_1_28
    } else {
        &POST_1_13
    };
    let data = req.json(schema)?;
    check_amounts(&data)?;
    let mut writes = Vec::new();
    for (c, body) in data.as_object().into_iter().flatten() {
        let consumer =
            Uuid::parse_str(c).map_err(|_| ApiError::bad_request(format!("Malformed consumer_uuid: {c}")))?;
        writes.push(allocation_write(&req, consumer, body)?);
    }
    req.state.store.write_allocations(&writes).await.map_err(|e| map_write_error(e, None))?;
    Ok(no_content())
}

pub async fn show(req: Req) -> HandlerResult {
    req.check_accept_json()?;
    let consumer = consumer_uuid(&req)?;
    req.can("placement:allocations:list")?;
    let found = req.state.store.get_consumer_allocations(&consumer).await?;
    let Some(ca) = found.filter(|c| !c.allocations.is_empty()) else {
        return Ok(json_response(&req, StatusCode::OK, &json!({"allocations": {}}), None));
    };
    let mut allocs = Map::new();
    for a in &ca.allocations {
        allocs.insert(a.provider.to_string(), json!({"generation": a.provider_generation, "resources": a.resources}));
    }
    let mut body = json!({"allocations": allocs});
    if req.want(12) {
        body["project_id"] = json!(ca.consumer.project_id);
        body["user_id"] = json!(ca.consumer.user_id);
    }
    if req.want(28) {
        body["consumer_generation"] = json!(ca.consumer.generation);
    }
    if req.want(38) {
        body["consumer_type"] = json!(ca.consumer.consumer_type.as_deref().unwrap_or("unknown"));
    }
    Ok(json_response(&req, StatusCode::OK, &body, Some(ca.updated_at)))
}

pub async fn delete(req: Req) -> HandlerResult {
    let consumer = consumer_uuid(&req)?;
    req.can("placement:allocations:delete")?;
    if !req.state.store.delete_consumer_allocations(&consumer).await? {
        return Err(ApiError::not_found(format!("No allocations for consumer '{consumer}'")));
    }
    Ok(no_content())
}

pub async fn list_for_provider(req: Req) -> HandlerResult {
    req.check_accept_json()?;
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:allocations:list")?;
    let (gen, allocs, last) = req.state.store.get_provider_allocations(&uuid).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "Resource provider '{uuid}' not found: No resource provider with uuid {uuid} found"
        ))
    })?;
    let mut m = Map::new();
    for (c, res) in allocs {
        m.insert(c.to_string(), json!({"resources": res}));
    }
    let body = json!({"allocations": m, "resource_provider_generation": gen});
    Ok(json_response(&req, StatusCode::OK, &body, Some(last)))
}
