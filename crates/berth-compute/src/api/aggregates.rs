//! `os-aggregates`: host aggregates (admin API), Nova's bodies and
//! messages; `uuid` from 2.41. `POST /os-aggregates/{id}/images` (2.81,
//! image pre-caching) is validated as Nova validates it (aggregate, images,
//! duplicates) and accepted; the simulated hypervisor has no image cache to
//! fill, as Nova's drivers without `cache_image` support have none.

use std::collections::BTreeMap;

use axum::extract::Path;
use serde_json::{json, Value};

use super::*;
use crate::infra_model::{Aggregate, AZ_KEY};

fn view(ctx: &Ctx, a: &Aggregate, full: bool) -> Value {
    let mut v = json!({
        "availability_zone": a.availability_zone(),
        "created_at": berth_time::iso_micros(a.created_at),
        "deleted": false,
        "deleted_at": null,
        "id": a.id,
        "name": a.name,
        "updated_at": a.updated_at.map(berth_time::iso_micros),
    });
    if full {
        v["hosts"] = json!(a.hosts);
        v["metadata"] = json!(a.metadata);
    }
    if ctx.v(2, 41) {
        v["uuid"] = json!(a.uuid);
    }
    v
}

fn one(ctx: &Ctx, a: &Aggregate) -> ApiResult {
    ok(json!({"aggregate": view(ctx, a, true)}))
}

/// The aggregate id of a path: Nova answers 400 for one that is not an
/// integer.
fn agg_id(id: &str) -> Result<i64> {
    id.parse::<i64>().map_err(|_| ComputeError::bad_request("Invalid input received: id must be an integer"))
}

/// An availability zone name: printable, no ':', no surrounding spaces.
pub(crate) fn az_value(field: &str, v: &Value) -> Result<String> {
    let s = v.as_str().ok_or_else(|| invalid(field, format!("{} is not of type 'string'", type_name(v))))?;
    let n = s.chars().count();
    if n == 0 || n > 255 || s.trim() != s || s.contains(':') || s.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!(
                "An invalid 'name' value was provided. The name must be: printable characters except :.Can not start or end with whitespace. ('{}')",
                truncate(s, 64)
            ),
        ));
    }
    Ok(s.to_string())
}

fn host_value(field: &str, v: &Value) -> Result<String> {
    let s = v.as_str().ok_or_else(|| invalid(field, format!("{} is not of type 'string'", type_name(v))))?;
    let n = s.chars().count();
    if n == 0 || n > 255 || !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
        return Err(invalid(field, format!("'{}' does not match '^[a-zA-Z0-9-._]*$'", truncate(s, 64))));
    }
    Ok(s.to_string())
}

/// `{"metadata": {key: string|null}}` as Nova's `metadata_with_null`.
fn metadata_changes(v: &Value) -> Result<BTreeMap<String, Option<String>>> {
    let obj = v.as_object().ok_or_else(|| invalid("metadata", format!("{} is not of type 'object'", type_name(v))))?;
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let key_ok = (1..=255).contains(&k.chars().count())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | ' '));
        if !key_ok {
            return Err(ComputeError::bad_request(format!(
                "Invalid input for field/attribute metadata. Value: Additional properties are not allowed ('{}' was unexpected)",
                truncate(k, 64)
            )));
        }
        let val = match v {
            Value::Null => None,
            Value::String(s) if s.chars().count() <= 255 => Some(s.clone()),
            Value::String(s) => return Err(invalid(k, format!("'{}...' is too long", truncate(s, 32)))),
            other => return Err(invalid(k, format!("{} is not of type 'string', 'null'", type_name(other)))),
        };
        out.insert(k.clone(), val);
    }
    Ok(out)
}

pub async fn list(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    let all = ctx.svc.aggregates().await?;
    ok(json!({"aggregates": all.iter().map(|a| view(&ctx, a, true)).collect::<Vec<_>>()}))
}

pub async fn create(ctx: Ctx, JsonBody(body): JsonBody) -> ApiResult {
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    only_keys(body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?, &["aggregate"])?;
    let a = member(&body, "aggregate")?;
    only_keys(a, &["name", AZ_KEY])?;
    let name = name_value("name", a.get("name").ok_or_else(|| invalid("name", "'name' is a required property"))?)?;
    let az = match a.get(AZ_KEY) {
        None | Some(Value::Null) => None,
        Some(v) => Some(az_value(AZ_KEY, v)?),
    };
    let created = ctx.svc.create_aggregate(&name, az.as_deref()).await?;
    ok(json!({"aggregate": view(&ctx, &created, false)}))
}

pub async fn show(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    let a = ctx.svc.aggregate(agg_id(&id)?).await?;
    one(&ctx, &a)
}

pub async fn update(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    only_keys(body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?, &["aggregate"])?;
    let a = member(&body, "aggregate")?;
    only_keys(a, &["name", AZ_KEY])?;
    if a.is_empty() {
        return Err(invalid("aggregate", "{} is not valid under any of the given schemas"));
    }
    // Names may come with surrounding spaces here; Nova strips them.
    let name = match a.get("name") {
        None => None,
        Some(Value::String(s)) => Some(name_value("name", &Value::String(s.trim().to_string()))?),
        Some(v) => return Err(invalid("name", format!("{} is not of type 'string'", type_name(v)))),
    };
    let az = match a.get(AZ_KEY) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => Some(Some(az_value(AZ_KEY, v)?)),
    };
    let id = agg_id(&id)?;
    let updated = ctx.svc.update_aggregate(id, name.as_deref(), az.as_ref().map(|z| z.as_deref())).await?;
    one(&ctx, &updated)
}

pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    ctx.svc.delete_aggregate(agg_id(&id)?).await?;
    // Nova answers 200 with no body.
    status_only(StatusCode::OK)
}

pub async fn action(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    let body = parse_body(&body)?;
    let obj = body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    let Some((name, _)) = obj.iter().next().filter(|_| obj.len() == 1) else {
        return Err(ComputeError::bad_request("Malformed request body: one action expected"));
    };
    let rule = match name.as_str() {
        "add_host" => "os_compute_api:os-aggregates:add_host",
        "remove_host" => "os_compute_api:os-aggregates:remove_host",
        "set_metadata" => "os_compute_api:os-aggregates:set_metadata",
        other => return Err(ComputeError::bad_request(format!("There is no such action: {}", truncate(other, 64)))),
    };
    ctx.authorize_named(rule, None)?;
    let inner = member(&body, name)?;
    let id = agg_id(&id)?;
    let a = match name.as_str() {
        "add_host" | "remove_host" => {
            only_keys(inner, &["host"])?;
            let host =
                host_value("host", inner.get("host").ok_or_else(|| invalid("host", "'host' is a required property"))?)?;
            if name == "add_host" {
                ctx.svc.add_aggregate_host(id, &host).await?
            } else {
                ctx.svc.remove_aggregate_host(id, &host).await?
            }
        }
        _ => {
            only_keys(inner, &["metadata"])?;
            let m = inner.get("metadata").ok_or_else(|| invalid("metadata", "'metadata' is a required property"))?;
            let changes = metadata_changes(m)?;
            ctx.svc.set_aggregate_metadata(id, &changes).await?
        }
    };
    one(&ctx, &a)
}

/// `POST /os-aggregates/{id}/images` (2.81): ask the hosts of an aggregate
/// to cache images. 202 without a body; 400 for duplicates or an image
/// that does not exist, 404 for an unknown aggregate.
pub async fn images(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    if !ctx.v(2, 81) {
        return Err(ComputeError::not_found("The resource could not be found."));
    }
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    only_keys(body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?, &["cache"])?;
    let cache = match body.get("cache") {
        None => return Err(invalid("cache", "'cache' is a required property")),
        Some(Value::Array(a)) if a.is_empty() => return Err(invalid("cache", "[] is too short")),
        Some(Value::Array(a)) => a,
        Some(v) => return Err(invalid("cache", format!("{} is not of type 'array'", type_name(v)))),
    };
    let mut ids: Vec<String> = Vec::with_capacity(cache.len());
    for item in cache {
        let o =
            item.as_object().ok_or_else(|| invalid("cache", format!("{} is not of type 'object'", type_name(item))))?;
        only_keys(o, &["id"])?;
        let id = o.get("id").ok_or_else(|| invalid("cache", "'id' is a required property"))?;
        let id = id
            .as_str()
            .filter(|s| uuid::Uuid::parse_str(s).is_ok())
            .ok_or_else(|| invalid("id", format!("{} is not a 'uuid'", truncate(&id.to_string(), 64))))?;
        ids.push(id.to_string());
    }
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    if unique.len() != ids.len() {
        return Err(ComputeError::bad_request("Duplicate images in request"));
    }
    let id = agg_id(&id)?;
    ctx.svc.aggregate(id).await?;
    for image in &ids {
        ctx.svc
            .images
            .lookup(image, &ctx.caller)
            .await
            .map_err(|e| ComputeError::unavailable(format!("Image service unavailable: {e}")))?
            .ok_or_else(|| ComputeError::bad_request(format!("Image {image} could not be found.")))?;
    }
    status_only(StatusCode::ACCEPTED)
}
