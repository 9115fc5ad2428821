//! `createImage` and `createBackup`: an image of the server in berth's
//! image service (the simulated guest's disk is its base image's data),
//! then a snapshot task on the server's host (task state `image_snapshot`
//! or `image_backup` until the agent has quiesced and snapshotted it).
//! Backups rotate: the oldest of the server's backups of the same type
//! beyond `rotation` are deleted.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use super::servers::{metadata_value, state_conflict};
use super::*;
use crate::images::ServerImage;
use crate::lifecycle::{self, Event};
use crate::model::*;

/// Base image properties a snapshot does not inherit (Glance's own
/// bookkeeping, signatures that would not verify, and Nova's own keys,
/// which it sets afresh).
fn inheritable(key: &str) -> bool {
    !(key.starts_with("img_signature")
        || matches!(
            key,
            "image_type" | "instance_uuid" | "base_image_ref" | "backup_type" | "user_id" | "boot_roles" | "owner_id"
        ))
}

pub(crate) async fn run(ctx: &Ctx, name: &str, arg: &Value, i: Instance) -> ApiResult {
    let backup = name == "createBackup";
    let o = arg.as_object().ok_or_else(|| invalid(name, format!("{} is not of type 'object'", type_name(arg))))?;
    let mut allowed = vec!["name", "metadata"];
    if backup {
        allowed.extend(["backup_type", "rotation"]);
    }
    only_keys(o, &allowed)?;
    let image_name = match o.get("name") {
        // Nova's `normalize_name`: surrounding whitespace dropped.
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 255 => s.trim().to_string(),
        Some(v) => return Err(invalid("name", format!("{} is not a valid name", truncate(&v.to_string(), 64)))),
        None => return Err(invalid("name", "'name' is a required property")),
    };
    let metadata = match o.get("metadata") {
        Some(v) => metadata_value("metadata", v, 128)?,
        None => BTreeMap::new(),
    };
    let (backup_type, rotation) = if backup {
        let t = match o.get("backup_type") {
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => s.clone(),
            Some(v) => {
                return Err(invalid(
                    "backup_type",
                    format!("{} is not a valid backup type", truncate(&v.to_string(), 64)),
                ))
            }
            None => return Err(invalid("backup_type", "'backup_type' is a required property")),
        };
        let r = int_value(
            "rotation",
            o.get("rotation").ok_or_else(|| invalid("rotation", "'rotation' is a required property"))?,
            0,
            i64::from(i32::MAX),
        )?;
        (Some(t), r)
    } else {
        (None, 0)
    };
    let event = Event::Snapshot { backup };
    if i.host.is_none() || lifecycle::transition(event, i.vm_state, i.task_state).is_none() {
        return Err(state_conflict(name, &i));
    }
    // The image: the base image's properties, Nova's own, then the caller's.
    let base = if i.image_ref.is_empty() {
        None
    } else {
        ctx.svc.images.lookup(&i.image_ref, &ctx.caller).await.map_err(unavailable)?
    };
    let mut properties: BTreeMap<String, String> = base
        .as_ref()
        .map(|b| b.properties.iter().filter(|(k, _)| inheritable(k)).map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    properties.insert("image_type".into(), if backup { "backup" } else { "snapshot" }.into());
    properties.insert("instance_uuid".into(), i.uuid.to_string());
    properties.insert("user_id".into(), ctx.user().to_string());
    properties.insert("boot_roles".into(), ctx.caller.roles.join(","));
    if !i.image_ref.is_empty() {
        properties.insert("base_image_ref".into(), i.image_ref.clone());
    }
    if let Some(t) = &backup_type {
        properties.insert("backup_type".into(), t.clone());
    }
    properties.extend(metadata);
    let request = ServerImage {
        name: image_name,
        base_image: base.as_ref().map(|b| b.id.clone()),
        min_disk: 0,
        min_ram: 0,
        properties,
    };
    let image = ctx.svc.images.create_server_image(&request, &ctx.caller).await.map_err(unavailable)?;
    let kind = task_kind::SNAPSHOT;
    if !ctx.svc.guest_change(&i, event, kind).await? {
        // The server changed meanwhile: no snapshot after all.
        let _ = ctx.svc.images.delete_server_image(&image.id).await;
        return Err(state_conflict(name, &i));
    }
    if let Some(t) = &backup_type {
        let backups = ctx.svc.images.server_backups(&i.uuid.to_string(), t, &ctx.caller).await.map_err(unavailable)?;
        let excess = backups.len().saturating_sub(usize::try_from(rotation).unwrap_or(usize::MAX));
        for old in backups.iter().take(excess) {
            if let Err(e) = ctx.svc.images.delete_server_image(&old.id).await {
                tracing::warn!(image = %old.id, error = %e, "cannot rotate a backup out");
            }
        }
    }
    if ctx.v(2, 45) {
        return Ok(json(StatusCode::ACCEPTED, json!({"image_id": image.id})));
    }
    let mut resp = StatusCode::ACCEPTED.into_response();
    if !backup || rotation > 0 {
        if let Ok(v) = HeaderValue::from_str(&ctx.url(&format!("images/{}", image.id))) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(resp)
}

fn unavailable(e: String) -> ComputeError {
    ComputeError::unavailable(format!("Image service unavailable: {e}"))
}
