//! `/v2/images/{id}/members`: sharing images with other projects.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{json, Value};

use super::{json_response, parse_json, ApiResult, AppState};
use crate::error::{ImageError, Result};
use crate::model::{self, Image, Member, MEMBER_STATUSES};
use crate::repo;
use crate::service::{Caller, ImageService};

fn only_shared(img: &Image) -> Result<()> {
    if img.visibility != "shared" {
        return Err(ImageError::forbidden("Only shared images have members."));
    }
    Ok(())
}

fn is_owner(caller: &Caller, img: &Image) -> bool {
    caller.project().is_some() && img.owner.as_deref() == caller.project()
}

/// A member record the caller may see: administrators and the image owner
/// see every member, a member only itself.
async fn lookup_member(svc: &ImageService, caller: &Caller, img: &Image, member_id: &str) -> Result<Member> {
    let not_found =
        || ImageError::not_found(format!("{member_id} not found in the member list of the image {}.", img.id));
    if !(caller.is_admin || is_owner(caller, img) || caller.project() == Some(member_id)) {
        return Err(not_found());
    }
    let mut c = svc.db.read().await?;
    repo::get_member(&mut c, &img.id, member_id).await?.ok_or_else(not_found)
}

fn string_field(body: &Value, key: &str) -> Result<String> {
    match body.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => {
            model::refuse_nul(key, s)?;
            Ok(s.clone())
        }
        Some(v) => Err(ImageError::bad_request(format!("Invalid value for '{key}': {}", model::shown(&v.to_string())))),
        None => Err(ImageError::bad_request(format!("'{key}' is a required property"))),
    }
}

pub(crate) async fn create(
    State(svc): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_json(&body)?;
    if !body.is_object() {
        return Err(ImageError::bad_request("Member to be added not specified"));
    }
    let member_id = string_field(&body, "member")?;
    let (img, member) = svc.load_visible(&caller, &id).await?;
    only_shared(&img)?;
    svc.enforce_route(&caller, &img, member.as_ref())?;
    let now = berth_time::now();
    let m = Member {
        image_id: id.clone(),
        member: member_id.clone(),
        status: "pending".into(),
        created_at: now,
        updated_at: now,
    };
    let mut w = svc.db.write().await?;
    if !repo::insert_member(&mut w.tx, &m).await? {
        return Err(ImageError::conflict(format!("Member {member_id} is duplicated for image {id}")));
    }
    w.commit().await?;
    Ok(json_response(StatusCode::OK, m.to_json()))
}

pub(crate) async fn list(State(svc): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (img, member) = svc.load_visible(&caller, &id).await?;
    only_shared(&img)?;
    svc.enforce_route(&caller, &img, member.as_ref())?;
    let all = {
        let mut c = svc.db.read().await?;
        repo::list_members(&mut c, &id).await?
    };
    let see_all = caller.is_admin || is_owner(&caller, &img);
    let members: Vec<Value> =
        all.iter().filter(|m| see_all || caller.project() == Some(m.member.as_str())).map(Member::to_json).collect();
    Ok(json_response(StatusCode::OK, json!({"members": members, "schema": "/v2/schemas/members"})))
}

pub(crate) async fn show(
    State(svc): State<AppState>,
    caller: Caller,
    Path((id, member_id)): Path<(String, String)>,
) -> ApiResult {
    let (img, member) = svc.load_visible(&caller, &id).await?;
    let hide = |e: ImageError| if e.status == StatusCode::FORBIDDEN { ImageError::not_found(e.message) } else { e };
    only_shared(&img).map_err(hide)?;
    svc.enforce_route(&caller, &img, member.as_ref()).map_err(hide)?;
    let m = lookup_member(&svc, &caller, &img, &member_id).await?;
    Ok(json_response(StatusCode::OK, m.to_json()))
}

pub(crate) async fn update(
    State(svc): State<AppState>,
    caller: Caller,
    Path((id, member_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_json(&body)?;
    let status = string_field(&body, "status")?;
    if !MEMBER_STATUSES.contains(&status.as_str()) {
        return Err(ImageError::bad_request(format!("Incorrect request: Invalid status: {status}")));
    }
    let (img, member) = svc.load_visible(&caller, &id).await?;
    only_shared(&img)?;
    // As Glance: looking the member up needs `get_member` (404 when the
    // caller may not even see the image), changing it `modify_member`.
    svc.enforce_image(&caller, "get_member", &img, member.as_ref())?;
    let m = lookup_member(&svc, &caller, &img, &member_id).await?;
    let mut target = svc.image_target(&caller, &img, member.as_ref());
    target.insert("member_id".into(), m.member.clone());
    svc.authorize_route(&caller, &target)?;
    let now = berth_time::now();
    let mut w = svc.db.write().await?;
    if !repo::update_member(&mut w.tx, &id, &member_id, &status, now).await? {
        return Err(ImageError::not_found(format!("{member_id} not found in the member list of the image {id}.")));
    }
    w.commit().await?;
    let updated = Member { status, updated_at: now, ..m };
    Ok(json_response(StatusCode::OK, updated.to_json()))
}

pub(crate) async fn delete(
    State(svc): State<AppState>,
    caller: Caller,
    Path((id, member_id)): Path<(String, String)>,
) -> ApiResult {
    let (img, member) = svc.load_visible(&caller, &id).await?;
    only_shared(&img)?;
    lookup_member(&svc, &caller, &img, &member_id).await?;
    svc.enforce_route(&caller, &img, member.as_ref())?;
    let mut w = svc.db.write().await?;
    repo::delete_member(&mut w.tx, &id, &member_id).await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
