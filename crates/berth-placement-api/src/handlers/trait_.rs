//! `/traits` and `/resource_providers/{uuid}/traits` (1.6+).

use std::sync::LazyLock;

use berth_placement::names;
use berth_store::TraitFilter;
use http::StatusCode;
use serde_json::{json, Value};

use super::{path_uuid, require_version};
use crate::error::ApiError;
use crate::req::HandlerResult;
use crate::req::{add_cache_headers, json_response, no_content, Req};
use crate::schema::Schema;

static LIST_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(
        json!({"type": "object", "properties": {"name": {"type": "string"}, "associated": {"type": "string"}}, "additionalProperties": false}),
    )
});
static SET_FOR_RP: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(json!({
        "type": "object",
        "properties": {
            "traits": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}},
            "resource_provider_generation": {"type": "integer"}
        },
        "required": ["traits", "resource_provider_generation"],
        "additionalProperties": false
    }))
});

pub async fn put(req: Req) -> HandlerResult {
    require_version(&req, 6)?;
    req.can("placement:traits:update")?;
    let name = req.param("name").to_string();
    if !names::is_valid_custom_name(&name) {
        return Err(ApiError::bad_request(
            "The trait is invalid. A valid trait must be no longer than 255 characters, start with the prefix \
             \"CUSTOM_\" and use following characters: \"A\"-\"Z\", \"0\"-\"9\" and \"_\"",
        ));
    }
    let created = req.state.store.create_trait(&name).await?;
    let mut resp =
        axum::response::IntoResponse::into_response(if created { StatusCode::CREATED } else { StatusCode::NO_CONTENT });
    req.set_location(&mut resp, &format!("/traits/{name}"));
    if req.want(15) {
        add_cache_headers(&mut resp, None);
    }
    Ok(resp)
}

pub async fn show(req: Req) -> HandlerResult {
    require_version(&req, 6)?;
    req.can("placement:traits:show")?;
    let name = req.param("name").to_string();
    if !req.state.store.trait_exists(&name).await? {
        return Err(ApiError::not_found(format!("No such trait(s): {name}.")));
    }
    let mut resp = no_content();
    if req.want(15) {
        add_cache_headers(&mut resp, None);
    }
    Ok(resp)
}

pub async fn delete(req: Req) -> HandlerResult {
    require_version(&req, 6)?;
    req.can("placement:traits:delete")?;
    let name = req.param("name").to_string();
    req.state.store.delete_trait(&name).await?;
    Ok(no_content())
}

pub async fn list(req: Req) -> HandlerResult {
    require_version(&req, 6)?;
    req.check_accept_json()?;
    req.can("placement:traits:list")?;
    LIST_SCHEMA.validate_query(&req.query_object()?)?;
    let q = req.query()?;
    let mut f = TraitFilter::default();
    if let Some((_, v)) = q.iter().rev().find(|(k, _)| k == "name") {
        match v.split_once(':') {
            Some(("in", names)) => f.name_in = Some(names.split(',').map(str::to_string).collect()),
            Some(("startswith", prefix)) => f.prefix = Some(prefix.to_string()),
            // Any other operator filters nothing, as upstream.
            Some(_) => {}
            None => {
                return Err(ApiError::bad_request(format!(
                    "Badly formatted name parameter. Expected name query string parameter in form: \
                     ?name=[in|startswith]:[name1,name2|prefix]. Got: \"{v}\""
                )))
            }
        }
    }
    if let Some((_, v)) = q.iter().rev().find(|(k, _)| k == "associated") {
        f.associated = match v.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                return Err(ApiError::bad_request(
                    "The query parameter \"associated\" only accepts \"true\" or \"false\"",
                ))
            }
        };
    }
    let (names, last) = req.state.store.list_traits(&f).await?;
    Ok(json_response(&req, StatusCode::OK, &json!({"traits": names}), Some(last)))
}

pub async fn list_for_provider(req: Req) -> HandlerResult {
    require_version(&req, 6)?;
    req.check_accept_json()?;
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:traits:list")?;
    let (gen, names, last) = req.state.store.get_provider_traits(&uuid).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "No resource provider with uuid {uuid} found: No resource provider with uuid {uuid} found"
        ))
    })?;
    let body = json!({"resource_provider_generation": gen, "traits": names});
    Ok(json_response(&req, StatusCode::OK, &body, Some(last)))
}

pub async fn set_for_provider(req: Req) -> HandlerResult {
    require_version(&req, 6)?;
    let uuid = path_uuid(&req, "uuid")?;
    req.require_json_content()?;
    req.can("placement:resource_providers:traits:update")?;
    // The write finds the provider; only a bad body costs a read, so that a
    // missing provider (404) still comes first.
    let data = match req.json(&SET_FOR_RP) {
        Ok(data) => data,
        Err(e) => {
            if req.state.store.get_provider(&uuid).await?.is_none() {
                return Err(ApiError::not_found(format!("No resource provider with uuid {uuid} found")));
            }
            return Err(e);
        }
    };
    let gen = data["resource_provider_generation"].as_i64().unwrap_or(-1);
    let names: Vec<String> =
        data["traits"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    let (new_gen, names, last) = req.state.store.put_provider_traits(&uuid, gen, &names).await.map_err(|e| {
        if e.kind == berth_placement::ErrorKind::Conflict {
            ApiError::conflict(
                "Resource provider's generation already changed. Please update the generation and try again.",
            )
            .with_code(e.code)
        } else if let Some(missing) = e.detail.strip_prefix("No such trait(s): ") {
            // Upstream's words for this request.
            ApiError::bad_request(format!("No such trait {}", missing.trim_end_matches('.')))
        } else {
            e.into()
        }
    })?;
    let body = json!({"resource_provider_generation": new_gen, "traits": names});
    Ok(json_response(&req, StatusCode::OK, &body, Some(last)))
}

pub async fn delete_for_provider(req: Req) -> HandlerResult {
    require_version(&req, 6)?;
    let uuid = path_uuid(&req, "uuid")?;
    req.can("placement:resource_providers:traits:delete")?;
    req.state.store.delete_provider_traits(&uuid).await?;
    Ok(no_content())
}
