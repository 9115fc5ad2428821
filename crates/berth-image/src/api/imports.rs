//! Interoperable image import (`PUT /v2/images/{id}/stage`,
//! `POST /v2/images/{id}/import`), the discovery documents of
//! `/v2/info/*`, and the tasks that record imports (`/v2/tasks`).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use berth_http::RequestId;
use berth_policy::Target;
use serde_json::{json, Value};

use super::data::upload_size;
use super::{json_response, parse_json, parse_query, ApiResult, AppState};
use crate::error::ImageError;
use crate::model::shown;
use crate::repo;
use crate::service::{Caller, IMPORT_METHODS, STORE_ID};

/// `PUT /v2/images/{id}/stage` (application/octet-stream): 204 when the
/// data is staged and the image `uploading`.
pub(crate) async fn stage(
    State(svc): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let declared = upload_size(&svc, &headers)?;
    let (img, member) = svc.load_visible(&caller, &id).await?;
    // Glance checks `modify_image` for staging (the stage call has no rule
    // of its own).
    svc.enforce_route(&caller, &img, member.as_ref())?;
    svc.stage_data(&id, body, declared).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The import request as Glance's deserializer checks it.
fn import_method(body: &Value) -> Result<String, ImageError> {
    let Some(method) = body.get("method") else {
        return Err(ImageError::bad_request("Import request requires a 'method' field."));
    };
    let Some(name) = method.get("name") else {
        return Err(ImageError::bad_request("Import request requires a 'name' field."));
    };
    let name = match name {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if !IMPORT_METHODS.contains(&name.as_str()) {
        return Err(ImageError::bad_request(format!("Unknown import method name '{}'.", shown(&name))));
    }
    if body.get("all_stores_must_succeed").is_some_and(|v| !v.is_boolean()) {
        return Err(ImageError::bad_request("'all_stores_must_succeed' must be boolean value only"));
    }
    if body.get("all_stores").is_some_and(|v| !v.is_boolean()) {
        return Err(ImageError::bad_request("'all_stores' must be boolean value only"));
    }
    Ok(name)
}

/// The stores an import names: only berth's one store (Glance answers 409
/// for a store it does not know).
fn check_stores(body: &Value, headers: &HeaderMap) -> Result<(), ImageError> {
    let header = super::header_str(headers, "x-image-meta-store");
    if body.get("all_stores") == Some(&Value::Bool(true)) {
        if body.get("stores").is_some() || header.is_some() {
            return Err(ImageError::bad_request(
                "All_stores parameter can't be used with x-image-meta-store header or stores parameter",
            ));
        }
        return Ok(());
    }
    let named: Vec<String> = match body.get("stores") {
        Some(_) if header.is_some() => {
            return Err(ImageError::bad_request(
                "Stores parameter and x-image-meta-store header can't be both specified",
            ))
        }
        Some(Value::Array(items)) => {
            items.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect()
        }
        Some(other) => return Err(ImageError::bad_request(format!("Invalid stores: {}", shown(&other.to_string())))),
        None => header.map(str::to_string).into_iter().collect(),
    };
    for s in named {
        if s != STORE_ID {
            return Err(ImageError::conflict(format!("Unknown scheme '{}' found in URI", shown(&s))));
        }
    }
    Ok(())
}

/// `POST /v2/images/{id}/import`: 202 once the import has run (the task
/// records how it ended).
pub(crate) async fn import(
    State(svc): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    rid: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_json(&body)?;
    if !body.is_object() {
        return Err(ImageError::bad_request("Import request requires a 'method' field."));
    }
    let method = import_method(&body)?;
    let (img, member) = svc.load_visible(&caller, &id).await?;
    if img.status == "active" {
        return Err(ImageError::conflict("Image with status active cannot be target for import"));
    }
    if method == "glance-direct" && img.status != "uploading" {
        return Err(ImageError::conflict("Image needs to be staged before 'glance-direct' method can be used"));
    }
    if img.container_format.is_none() {
        return Err(ImageError::conflict("'container_format' needs to be set before import"));
    }
    if img.disk_format.is_none() {
        return Err(ImageError::conflict("'disk_format' needs to be set before import"));
    }
    // Glance checks `modify_image`: only the owner imports data.
    svc.enforce_route(&caller, &img, member.as_ref())?;
    check_stores(&body, &headers)?;
    svc.import_staged(&caller, &id, rid.map(|r| r.0 .0), body).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /v2/info/import`.
pub(crate) async fn info_import() -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        json!({"import-methods": {"description": "Import methods available.", "type": "array", "value": IMPORT_METHODS}}),
    ))
}

/// `GET /v2/info/stores`: berth's one store, the default.
pub(crate) async fn info_stores() -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        json!({"stores": [{"id": STORE_ID, "description": "Image data on the local filesystem", "default": "true"}]}),
    ))
}

/// `GET /v2/info/stores/detail` (admin): the store with its type, weight
/// and properties, as Glance shows a filesystem store.
pub(crate) async fn info_stores_detail(State(svc): State<AppState>, caller: Caller) -> ApiResult {
    svc.authorize_route(&caller, &Target::new())?;
    Ok(json_response(
        StatusCode::OK,
        json!({"stores": [{
            "id": STORE_ID,
            "description": "Image data on the local filesystem",
            "default": "true",
            "type": "file",
            "weight": 0,
            "properties": {
                "data_dir": format!("{}/", svc.store.dir().display()),
                "chunk_size": 65536,
                "thin_provisioning": false,
            },
        }]}),
    ))
}

/// `GET /v2/info/usage`: empty, as Glance answers without unified limits
/// (berth keeps no image quotas).
pub(crate) async fn info_usage() -> ApiResult {
    Ok(json_response(StatusCode::OK, json!({"usage": {}})))
}

// ---------------------------------------------------------------- tasks

/// Glance's second rule on every task route.
const TASKS_API_ACCESS: &str = "tasks_api_access";

fn task_target(caller: &Caller) -> Target {
    let mut t = Target::new();
    if let Some(p) = caller.project() {
        t.insert("project_id".into(), p.to_string());
    }
    t
}

/// `GET /v2/tasks`: the caller's project's tasks (an administrator's: every
/// task), newest first, with `type` and `status` filters and `limit`.
pub(crate) async fn list_tasks(State(svc): State<AppState>, caller: Caller, uri: axum::http::Uri) -> ApiResult {
    let target = task_target(&caller);
    svc.authorize_route(&caller, &target)?;
    svc.authorize(&caller, TASKS_API_ACCESS, &target)?;
    let q = parse_query(uri.query())?;
    let last = |k: &str| q.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(s) = last("status") {
        if !["pending", "processing", "success", "failure"].contains(&s) {
            return Err(ImageError::bad_request(format!("Invalid status value: {}", shown(s))));
        }
    }
    if let Some(t) = last("type") {
        if !["import", "api_image_import", "location_import"].contains(&t) {
            return Err(ImageError::bad_request(format!("Invalid type value: {}", shown(t))));
        }
    }
    let limit = match last("limit") {
        None => svc.config.limit_default,
        Some(l) => {
            let n: i64 = l.trim().parse().map_err(|_| ImageError::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(ImageError::bad_request("limit param must be positive"));
            }
            n as usize
        }
    }
    .min(svc.config.limit_max);
    let owner = if caller.is_admin { None } else { caller.project() };
    let mut c = svc.db.read().await?;
    let mut tasks = repo::list_tasks(&mut c, owner).await?;
    tasks.retain(|t| last("status").is_none_or(|s| t.status == s) && last("type").is_none_or(|k| t.kind == k));
    if let Some(m) = last("marker") {
        let Some(pos) = tasks.iter().position(|t| t.id == m) else {
            return Err(ImageError::bad_request(format!("Invalid marker. Task {} could not be found.", shown(m))));
        };
        tasks.drain(..=pos);
    }
    let more = tasks.len() > limit;
    tasks.truncate(limit);
    let mut out = json!({
        "tasks": tasks.iter().map(|t| t.to_stub_json()).collect::<Vec<_>>(),
        "first": "/v2/tasks",
        "schema": "/v2/schemas/tasks",
    });
    if more && limit > 0 {
        if let Some(t) = tasks.last() {
            out["next"] = Value::String(format!("/v2/tasks?marker={}", t.id));
        }
    }
    Ok(json_response(StatusCode::OK, out))
}

/// `GET /v2/tasks/{id}`.
pub(crate) async fn show_task(State(svc): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let target = task_target(&caller);
    svc.authorize_route(&caller, &target)?;
    svc.authorize(&caller, TASKS_API_ACCESS, &target)?;
    let mut c = svc.db.read().await?;
    let task = repo::get_task(&mut c, &id)
        .await?
        .filter(|t| caller.is_admin || (t.owner.is_some() && t.owner.as_deref() == caller.project()))
        .ok_or_else(|| ImageError::not_found(format!("Could not find task {}", shown(&id))))?;
    Ok(json_response(StatusCode::OK, task.to_json()))
}

/// `GET /v2/images/{id}/tasks` (2.12): the import tasks of an image the
/// caller may see.
pub(crate) async fn image_tasks(State(svc): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (img, member) = svc.load_visible(&caller, &id).await?;
    svc.enforce_route(&caller, &img, member.as_ref())?;
    let mut c = svc.db.read().await?;
    let tasks = repo::tasks_of_image(&mut c, &id).await?;
    Ok(json_response(StatusCode::OK, json!({"tasks": tasks.iter().map(|t| t.to_json()).collect::<Vec<_>>()})))
}
