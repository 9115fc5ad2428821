//! `/resource_classes` (1.2+).

use std::sync::LazyLock;

use berth_placement::codes;
use http::StatusCode;
use serde_json::{json, Value};

use super::require_version;
use crate::error::ApiError;
use crate::req::HandlerResult;
use crate::req::{json_response, no_content, Req};
use crate::schema::Schema;

static RC_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(json!({
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": "^CUSTOM_[A-Z0-9_]+$", "maxLength": 255}},
        "required": ["name"],
        "additionalProperties": false
    }))
});

fn serialize(req: &Req, name: &str) -> Value {
    json!({"name": name, "links": [{"rel": "self", "href": format!("{}/resource_classes/{name}", req.prefix)}]})
}

pub async fn list(req: Req) -> HandlerResult {
    require_version(&req, 2)?;
    req.check_accept_json()?;
    req.can("placement:resource_classes:list")?;
    let rcs = req.state.store.list_resource_classes().await?;
    let last = rcs.iter().map(|r| r.updated_at).max();
    let body = json!({"resource_classes": rcs.iter().map(|r| serialize(&req, &r.name)).collect::<Vec<_>>()});
    Ok(json_response(&req, StatusCode::OK, &body, last))
}

pub async fn show(req: Req) -> HandlerResult {
    require_version(&req, 2)?;
    req.check_accept_json()?;
    req.can("placement:resource_classes:show")?;
    let name = req.param("name").to_string();
    let rc = req
        .state
        .store
        .get_resource_class(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No such resource class {name}.")))?;
    Ok(json_response(&req, StatusCode::OK, &serialize(&req, &rc.name), Some(rc.updated_at)))
}

pub async fn create(req: Req) -> HandlerResult {
    require_version(&req, 2)?;
    req.require_json_content()?;
    req.can("placement:resource_classes:create")?;
    let data = req.json(&RC_SCHEMA)?;
    let name = data["name"].as_str().unwrap_or_default().to_string();
    if !req.state.store.create_resource_class(&name).await? {
        return Err(ApiError::conflict(format!("Conflicting resource class already exists: {name}"))
            .with_code(codes::DUPLICATE_NAME));
    }
    let mut resp = axum::response::IntoResponse::into_response(StatusCode::CREATED);
    req.set_location(&mut resp, &format!("/resource_classes/{name}"));
    Ok(resp)
}

pub async fn update(req: Req) -> HandlerResult {
    require_version(&req, 2)?;
    let name = req.param("name").to_string();
    if req.want(7) {
        req.can("placement:resource_classes:update")?;
        // Bodiless create-or-confirm; the name itself must be a custom class.
        RC_SCHEMA.validate_body(&json!({"name": name}))?;
        let created = req.state.store.create_resource_class(&name).await?;
        let mut resp = axum::response::IntoResponse::into_response(if created {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        });
        req.set_location(&mut resp, &format!("/resource_classes/{name}"));
        return Ok(resp);
    }
    req.require_json_content()?;
    req.can("placement:resource_classes:update")?;
    let data = req.json(&RC_SCHEMA)?;
    let new = data["name"].as_str().unwrap_or_default().to_string();
    req.state.store.rename_resource_class(&name, &new).await?;
    Ok(json_response(&req, StatusCode::OK, &serialize(&req, &new), None))
}

pub async fn delete(req: Req) -> HandlerResult {
    require_version(&req, 2)?;
    req.can("placement:resource_classes:delete")?;
    let name = req.param("name").to_string();
    req.state.store.delete_resource_class(&name).await.map_err(|e| {
        let kind = e.kind;
        let e: ApiError = e.into();
        match kind {
            berth_placement::ErrorKind::NotFound => e,
            _ => ApiError { detail: format!("Error in delete resource class: {}", e.detail), ..e },
        }
    })?;
    Ok(no_content())
}
