//! `/resource_providers/{uuid}/usages` and `/usages` (1.9+).

use std::sync::LazyLock;

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::{path_uuid, require_version};
use crate::error::ApiError;
use crate::req::HandlerResult;
use crate::req::{json_response, Req};
use crate::schema::Schema;

fn schema(consumer_type: bool) -> Schema {
    let id = json!({"type": "string", "minLength": 1, "maxLength": 255});
    let mut props = json!({"project_id": id, "user_id": id});
    if consumer_type {
        props["consumer_type"] =
            json!({"type": "string", "pattern": "^[A-Z0-9_]+$|^all|^unknown$", "minLength": 1, "maxLength": 255});
    }
    Schema::new(
        json!({"type": "object", "properties": props, "required": ["project_id"], "additionalProperties": false}),
    )
}
static GET_1_9: LazyLock<Schema> = LazyLock::new(|| schema(false));
static GET_1_38: LazyLock<Schema> = LazyLock::new(|| schema(true));

pub async fn provider_usages(req: Req) -> HandlerResult {
    req.check_accept_json()?;
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:usages")?;
    let (gen, usages) = req.state.store.get_provider_usages(&uuid).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "No resource provider with uuid {uuid} found: No resource provider with uuid {uuid} found"
        ))
    })?;
    let body = json!({"resource_provider_generation": gen, "usages": usages});
    Ok(json_response(&req, StatusCode::OK, &body, None))
}

pub async fn total_usages(req: Req) -> HandlerResult {
    require_version(&req, 9)?;
    req.check_accept_json()?;
    let schema: &Schema = if req.want(38) { &GET_1_38 } else { &GET_1_9 };
    let qobj = req.query_object()?;
    // Policy first, against the queried project, then validation.
    let mut target = berth_policy::Target::new();
    if let Some(p) = qobj.get("project_id").and_then(Value::as_str) {
        target.insert("project_id".into(), p.to_string());
    }
    if let Some(u) = qobj.get("user_id").and_then(Value::as_str) {
        target.insert("user_id".into(), u.to_string());
    }
    req.can_target("placement:usages", &target)?;
    schema.validate_query(&qobj)?;
    let project = qobj["project_id"].as_str().unwrap_or_default();
    let user = qobj.get("user_id").and_then(Value::as_str);
    let ct = qobj.get("consumer_type").and_then(Value::as_str);
    let rows = req.state.store.get_total_usages(project, user, if req.want(38) { ct } else { None }).await?;
    let body = if req.want(38) {
        let mut m = Map::new();
        for r in rows {
            let mut g = json!({"consumer_count": r.consumer_count});
            for (rc, n) in r.usages {
                g[rc] = json!(n);
            }
            m.insert(r.consumer_type.unwrap_or_else(|| "unknown".into()), g);
        }
        json!({"usages": m})
    } else {
        let mut m: std::collections::BTreeMap<String, i64> = Default::default();
        for r in rows {
            for (rc, n) in r.usages {
                *m.entry(rc).or_default() += n;
            }
        }
        json!({"usages": m})
    };
    Ok(json_response(&req, StatusCode::OK, &body, None))
}
