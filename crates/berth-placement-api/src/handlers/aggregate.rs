//! `/resource_providers/{uuid}/aggregates` (1.1+; generations from 1.19).

use std::sync::LazyLock;

use berth_placement::codes;
use http::StatusCode;
use serde_json::{json, Value};

use super::{path_uuid, require_version};
use crate::error::ApiError;
use crate::req::HandlerResult;
use crate::req::{json_response, Req};
use crate::schema::Schema;

fn list_schema() -> Value {
    json!({"type": "array", "items": {"type": "string", "format": "uuid"}, "uniqueItems": true})
}
static PUT_1_1: LazyLock<Schema> = LazyLock::new(|| Schema::new(list_schema()));
static PUT_1_19: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(json!({
        "type": "object",
        "properties": {"aggregates": list_schema(), "resource_provider_generation": {"type": "integer"}},
        "required": ["aggregates", "resource_provider_generation"],
        "additionalProperties": false
    }))
});

fn body(req: &Req, aggs: &[String], gen: i64) -> Value {
    let mut v = json!({"aggregates": aggs});
    if req.want(19) {
        v["resource_provider_generation"] = json!(gen);
    }
    v
}

pub async fn show(req: Req) -> HandlerResult {
    require_version(&req, 1)?;
    req.check_accept_json()?;
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:aggregates:list")?;
    let (gen, aggs, last) = req
        .state
        .store
        .get_provider_aggregate_texts(&uuid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No resource provider with uuid {uuid} found")))?;
    Ok(json_response(&req, StatusCode::OK, &body(&req, &aggs, gen), Some(last)))
}

pub async fn set(req: Req) -> HandlerResult {
    require_version(&req, 1)?;
    let uuid = path_uuid(&req, "uuid")?;
    req.require_json_content()?;
    req.can("placement:resource_providers:aggregates:update")?;
    let sent = if req.want(19) {
        req.json(&PUT_1_19).map(|data| (data["aggregates"].clone(), data["resource_provider_generation"].as_i64()))
    } else {
        req.json(&PUT_1_1).map(|list| (list, None))
    };
    // The write finds the provider; only a bad body costs a read, so that a
    // missing provider (404) still comes first.
    let (list, gen) = match sent {
        Ok(body) => body,
        Err(e) => {
            if req.state.store.get_provider(&uuid).await?.is_none() {
                return Err(ApiError::not_found(format!("No resource provider with uuid {uuid} found")));
            }
            return Err(e);
        }
    };
    // Kept as sent: upstream stores and echoes the text (dashes or not).
    let aggs: Vec<String> =
        list.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    let (new_gen, stored, last) = req.state.store.put_provider_aggregates(&uuid, gen, &aggs).await.map_err(|e| {
        if e.kind == berth_placement::ErrorKind::Conflict {
            ApiError::conflict(
                "Resource provider's generation already changed. Please update the generation and try again.",
            )
            .with_code(codes::CONCURRENT_UPDATE)
        } else {
            e.into()
        }
    })?;
    Ok(json_response(&req, StatusCode::OK, &body(&req, &stored, new_gen), Some(last)))
}
