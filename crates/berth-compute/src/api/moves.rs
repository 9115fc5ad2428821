//! Server move actions (`POST /servers/{id}/action`): `resize`,
//! `confirmResize`, `revertResize`, `migrate`, `os-migrateLive`,
//! `evacuate`, `shelve`, `shelveOffload`, `unshelve`, `rebuild`, with
//! Nova's bodies, microversion rules, state checks and answers.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::flavors::visible_flavor;
use super::servers::{
    access_ip_value, check_locked, full_view, instance_for, metadata_value, state_conflict, user_data_value, ViewFor,
};
use super::*;
use crate::model::*;
use crate::service::moves::{NoValidHost, Requester};

fn requester(ctx: &Ctx) -> Requester {
    Requester {
        user_id: ctx.user().to_string(),
        project_id: ctx.project().to_string(),
        request_id: ctx.request_id.clone(),
    }
}

/// The action's argument: `null` or an object (`{}` for `null`).
fn null_or_object<'a>(name: &str, arg: &'a Value) -> Result<Option<&'a Map<String, Value>>> {
    match arg {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        other => Err(invalid(name, format!("{} is not of type 'object', 'null'", type_name(other)))),
    }
}

fn object<'a>(name: &str, arg: &'a Value) -> Result<&'a Map<String, Value>> {
    arg.as_object().ok_or_else(|| invalid(name, format!("{} is not of type 'object'", type_name(arg))))
}

/// A host name argument (string, 1..=255) or `null`.
fn host_arg(field: &str, v: Option<&Value>) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 && !s.chars().any(char::is_control) => {
            Ok(Some(s.clone()))
        }
        Some(other) => Err(invalid(field, truncate(&other.to_string(), 64))),
    }
}

fn vm_in(i: &Instance, states: &[VmState]) -> bool {
    states.contains(&i.vm_state)
}

/// A live instance the caller may act on with `rule`, not locked.
async fn target(ctx: &Ctx, id: &str, rule: &str) -> Result<Instance> {
    let i = instance_for(ctx, id, rule).await?;
    check_locked(ctx, &i)?;
    Ok(i)
}

async fn record(ctx: &Ctx, i: &Instance, action: &str) {
    super::instance_actions::record_all(ctx, &[i.uuid], action).await;
}

fn accepted() -> ApiResult {
    status_only(StatusCode::ACCEPTED)
}

/// A compute host known to the cloud.
async fn known_host(ctx: &Ctx, host: &str) -> Result<bool> {
    Ok(ctx.svc.compute_service(host).await?.is_some())
}

pub(crate) async fn action(ctx: Ctx, id: &str, name: &str, arg: &Value) -> ApiResult {
    match name {
        "resize" => resize(&ctx, id, arg).await,
        "confirmResize" => confirm(&ctx, id, arg).await,
        "revertResize" => revert(&ctx, id, arg).await,
        "migrate" => migrate(&ctx, id, arg).await,
        "os-migrateLive" => live(&ctx, id, arg).await,
        "evacuate" => evacuate(&ctx, id, arg).await,
        "shelve" => shelve(&ctx, id, arg).await,
        "shelveOffload" => shelve_offload(&ctx, id, arg).await,
        "unshelve" => unshelve(&ctx, id, arg).await,
        "rebuild" => rebuild(&ctx, id, arg).await,
        other => Err(ComputeError::bad_request(format!("There is no such action: {}", truncate(other, 64)))),
    }
}

fn no_valid_host(e: NoValidHost) -> ComputeError {
    ComputeError::bad_request(e.0)
}

async fn resize(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let i = target(ctx, id, "os_compute_api:servers:resize").await?;
    let a = object("resize", arg)?;
    only_keys(a, &["flavorRef", "OS-DCF:diskConfig"])?;
    let flavor_ref = match a.get("flavorRef") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => {
            s.rsplit('/').next().unwrap_or(s).to_string()
        }
        Some(Value::Number(n)) => n.to_string(),
        Some(v) => return Err(invalid("flavorRef", truncate(&v.to_string(), 64))),
        None => return Err(invalid("flavorRef", "'flavorRef' is a required property")),
    };
    if let Some(d) = a.get("OS-DCF:diskConfig") {
        if !matches!(d.as_str(), Some("AUTO" | "MANUAL")) {
            return Err(invalid("OS-DCF:diskConfig", truncate(&d.to_string(), 64)));
        }
    }
    let flavor = visible_flavor(ctx, &flavor_ref).await.map_err(|e| {
        if e.kind == crate::error::ErrorKind::NotFound {
            ComputeError::bad_request("Unable to locate requested flavor.")
        } else {
            e
        }
    })?;
    if !vm_in(&i, &[VmState::Active, VmState::Stopped]) || i.task_state.is_some() || i.host.is_none() {
        return Err(state_conflict("resize", &i));
    }
    if flavor.flavorid == i.flavor.flavorid {
        return Err(ComputeError::bad_request("When resizing, instances must change flavor!"));
    }
    if flavor.disabled {
        return Err(ComputeError::bad_request("Unable to locate requested flavor."));
    }
    if flavor.root_gb == 0 && i.flavor.root_gb != 0 {
        return Err(ComputeError::bad_request(
            "Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.",
        ));
    }
    ctx.svc.check_resize_quota(&i, &flavor).await?;
    record(ctx, &i, "resize").await;
    ctx.svc.resize_or_migrate(&i, Some(&flavor), None, &requester(ctx)).await?.map_err(no_valid_host)?;
    accepted()
}

async fn migrate(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let i = target(ctx, id, "os_compute_api:os-migrate-server:migrate").await?;
    let host = match null_or_object("migrate", arg)? {
        None => None,
        Some(a) if ctx.v(2, 56) => {
            only_keys(a, &["host"])?;
            host_arg("host", a.get("host"))?
        }
        Some(a) => {
            only_keys(a, &[])?;
            None
        }
    };
    if let Some(h) = &host {
        ctx.authorize("os_compute_api:os-migrate-server:migrate:host", Some(&i.project_id))?;
        if !known_host(ctx, h).await? {
            return Err(ComputeError::bad_request(format!("Compute host {} could not be found.", truncate(h, 64))));
        }
    }
    if !vm_in(&i, &[VmState::Active, VmState::Stopped]) || i.task_state.is_some() || i.host.is_none() {
        return Err(state_conflict("migrate", &i));
    }
    if host.is_some() && host == i.host {
        return Err(ComputeError::bad_request("Cannot migrate to the host where the server exists."));
    }
    record(ctx, &i, "migrate").await;
    ctx.svc.resize_or_migrate(&i, None, host.as_deref(), &requester(ctx)).await?.map_err(no_valid_host)?;
    accepted()
}

async fn confirm(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let i = target(ctx, id, "os_compute_api:servers:confirm_resize").await?;
    null_or_object("confirmResize", arg)?;
    if i.vm_state != VmState::Resized || i.task_state.is_some() {
        return Err(state_conflict("confirmResize", &i));
    }
    record(ctx, &i, "confirmResize").await;
    if !ctx.svc.confirm_resize(&i).await? {
        return Err(state_conflict("confirmResize", &i));
    }
    status_only(StatusCode::NO_CONTENT)
}

async fn revert(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let i = target(ctx, id, "os_compute_api:servers:revert_resize").await?;
    null_or_object("revertResize", arg)?;
    if i.vm_state != VmState::Resized || i.task_state.is_some() {
        return Err(state_conflict("revertResize", &i));
    }
    record(ctx, &i, "revertResize").await;
    if !ctx.svc.revert_resize(&i, &requester(ctx)).await? {
        return Err(state_conflict("revertResize", &i));
    }
    accepted()
}

async fn live(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let i = target(ctx, id, "os_compute_api:os-migrate-server:migrate_live").await?;
    let a = object("os-migrateLive", arg)?;
    let mut allowed = vec!["host", "block_migration"];
    if !ctx.v(2, 25) {
        allowed.push("disk_over_commit");
    }
    if ctx.v(2, 30) && !ctx.v(2, 68) {
        allowed.push("force");
    }
    only_keys(a, &allowed)?;
    for required in ["host", "block_migration"] {
        if !a.contains_key(required) {
            return Err(invalid(required, format!("'{required}' is a required property")));
        }
    }
    if !ctx.v(2, 25) && !a.contains_key("disk_over_commit") {
        return Err(invalid("disk_over_commit", "'disk_over_commit' is a required property"));
    }
    match a.get("block_migration") {
        Some(Value::String(s)) if s == "auto" && ctx.v(2, 25) => {}
        Some(v) => {
            bool_value("block_migration", v)?;
        }
        None => {}
    }
    if let Some(v) = a.get("disk_over_commit") {
        bool_value("disk_over_commit", v)?;
    }
    if let Some(v) = a.get("force") {
        bool_value("force", v)?;
    }
    let host = host_arg("host", a.get("host"))?;
    if let Some(h) = &host {
        if !known_host(ctx, h).await? {
            return Err(ComputeError::bad_request(format!("Compute host {} could not be found.", truncate(h, 64))));
        }
    }
    if !vm_in(&i, &[VmState::Active, VmState::Paused]) || i.task_state.is_some() || i.host.is_none() {
        return Err(state_conflict("os-migrateLive", &i));
    }
    record(ctx, &i, "live-migration").await;
    match ctx.svc.live_migrate(&i, host.as_deref(), &requester(ctx)).await? {
        // Asynchronous from 2.25: the migration records the error.
        Err(e) if !ctx.v(2, 25) => Err(no_valid_host(e)),
        _ => accepted(),
    }
}

async fn evacuate(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let i = target(ctx, id, "os_compute_api:os-evacuate").await?;
    let a = object("evacuate", arg)?;
    let mut allowed = vec!["host", "adminPass"];
    if !ctx.v(2, 14) {
        allowed.push("onSharedStorage");
    }
    if ctx.v(2, 29) && !ctx.v(2, 68) {
        allowed.push("force");
    }
    only_keys(a, &allowed)?;
    if !ctx.v(2, 14) {
        match a.get("onSharedStorage") {
            Some(v) => {
                bool_value("onSharedStorage", v)?;
            }
            None => return Err(invalid("onSharedStorage", "'onSharedStorage' is a required property")),
        }
    }
    if let Some(v) = a.get("force") {
        bool_value("force", v)?;
    }
    let admin_pass = match a.get("adminPass") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 255 => Some(s.clone()),
        Some(v) => return Err(invalid("adminPass", format!("{} is not of type 'string'", type_name(v)))),
    };
    let host = host_arg("host", a.get("host"))?;
    if let Some(h) = &host {
        if !known_host(ctx, h).await? {
            return Err(ComputeError::not_found(format!("Compute host {} not found.", truncate(h, 64))));
        }
    }
    if !vm_in(&i, &[VmState::Active, VmState::Stopped, VmState::Error]) || i.task_state.is_some() {
        return Err(state_conflict("evacuate", &i));
    }
    let Some(source) = i.host.clone() else { return Err(state_conflict("evacuate", &i)) };
    if ctx.svc.host_is_up(&source).await? {
        return Err(ComputeError::bad_request(format!("Compute service of {source} is still in use.")));
    }
    if host.as_deref() == Some(source.as_str()) {
        return Err(ComputeError::bad_request("The target host can't be the same one."));
    }
    record(ctx, &i, "evacuate").await;
    // No valid host ends in the migration and the server (ERROR with a
    // fault): evacuation is asynchronous in Nova.
    let _ = ctx.svc.evacuate(&i, host.as_deref(), ctx.v(2, 95), &requester(ctx)).await?;
    if ctx.v(2, 14) {
        return status_only(StatusCode::OK);
    }
    let pass = admin_pass.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
    ok(json!({"adminPass": pass}))
}

async fn shelve(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let i = target(ctx, id, "os_compute_api:os-shelve:shelve").await?;
    null_or_object("shelve", arg)?;
    let ok_state = vm_in(&i, &[VmState::Active, VmState::Stopped, VmState::Paused, VmState::Suspended]);
    if !ok_state || i.task_state.is_some() {
        return Err(state_conflict("shelve", &i));
    }
    record(ctx, &i, "shelve").await;
    if !ctx.svc.shelve(&i, &requester(ctx)).await? {
        return Err(state_conflict("shelve", &i));
    }
    accepted()
}

async fn shelve_offload(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let i = target(ctx, id, "os_compute_api:os-shelve:shelve_offload").await?;
    null_or_object("shelveOffload", arg)?;
    if i.vm_state != VmState::Shelved || i.task_state.is_some() {
        return Err(state_conflict("shelveOffload", &i));
    }
    record(ctx, &i, "shelveOffload").await;
    if !ctx.svc.shelve_offload(&i, &requester(ctx)).await? {
        return Err(state_conflict("shelveOffload", &i));
    }
    accepted()
}

async fn unshelve(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let i = target(ctx, id, "os_compute_api:os-shelve:unshelve").await?;
    let (mut az, mut host) = (None, None);
    match null_or_object("unshelve", arg)? {
        None => {}
        Some(a) if ctx.v(2, 77) => {
            only_keys(a, if ctx.v(2, 91) { &["availability_zone", "host"] } else { &["availability_zone"] })?;
            if a.is_empty() {
                return Err(invalid("unshelve", "{} does not have enough properties"));
            }
            az = match a.get("availability_zone") {
                None | Some(Value::Null) if ctx.v(2, 91) => None,
                Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => Some(s.clone()),
                Some(v) => return Err(invalid("availability_zone", truncate(&v.to_string(), 64))),
                None => return Err(invalid("availability_zone", "'availability_zone' is a required property")),
            };
            host = host_arg("host", a.get("host"))?;
        }
        Some(_) => return Err(invalid("unshelve", "is not of type 'null'")),
    }
    if let Some(h) = &host {
        ctx.authorize("os_compute_api:os-shelve:unshelve_to_host", Some(&i.project_id))?;
        if !known_host(ctx, h).await? {
            return Err(ComputeError::bad_request(format!("Compute host {} could not be found.", truncate(h, 64))));
        }
    }
    if let Some(z) = &az {
        if !ctx.svc.availability_zone_exists(z).await? {
            return Err(ComputeError::bad_request(format!(
                "The requested availability zone is not available: {}",
                truncate(z, 64)
            )));
        }
    }
    if !vm_in(&i, &[VmState::Shelved, VmState::ShelvedOffloaded]) || i.task_state.is_some() {
        return Err(state_conflict("unshelve", &i));
    }
    if i.vm_state == VmState::Shelved && (az.is_some() || host.is_some()) {
        return Err(ComputeError::conflict(format!(
            "The server {} is in vm_state shelved: a target availability zone or host is only accepted for SHELVED_OFFLOADED servers.",
            i.uuid
        )));
    }
    record(ctx, &i, "unshelve").await;
    if !ctx.svc.unshelve(&i, az, host.as_deref(), &requester(ctx)).await? {
        return Err(state_conflict("unshelve", &i));
    }
    accepted()
}

async fn rebuild(ctx: &Ctx, id: &str, arg: &Value) -> ApiResult {
    let mut i = target(ctx, id, "os_compute_api:servers:rebuild").await?;
    let a = object("rebuild", arg)?;
    let mut allowed = vec![
        "imageRef",
        "name",
        "adminPass",
        "metadata",
        "accessIPv4",
        "accessIPv6",
        "OS-DCF:diskConfig",
        "preserve_ephemeral",
        "personality",
    ];
    for (k, (maj, min)) in [
        ("description", (2, 19)),
        ("key_name", (2, 54)),
        ("user_data", (2, 57)),
        ("trusted_image_certificates", (2, 63)),
        ("hostname", (2, 90)),
    ] {
        if ctx.v(maj, min) {
            allowed.push(k);
        }
    }
    only_keys(a, &allowed)?;
    let image_ref = match a.get("imageRef") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => {
            s.rsplit('/').next().unwrap_or(s).to_string()
        }
        Some(v) => return Err(invalid("imageRef", truncate(&v.to_string(), 64))),
        None => return Err(invalid("imageRef", "'imageRef' is a required property")),
    };
    // What the rebuild replaces besides the image: Nova's rebuild takes
    // name, metadata, access addresses, description (2.19), key pair
    // (2.54, null removes it), user data (2.57, null removes it) and
    // hostname (2.90); fields not given are kept.
    if let Some(v) = a.get("name") {
        i.display_name = name_value("name", v)?;
    }
    if let Some(v) = a.get("metadata") {
        let limits = ctx.svc.quota_limits(&i.project_id).await?;
        i.metadata = metadata_value("metadata", v, limits.get("metadata_items").copied().unwrap_or(128))?;
    }
    for k in ["accessIPv4", "accessIPv6"] {
        if let Some(v) = a.get(k) {
            let ip = access_ip_value(k, v)?;
            if k == "accessIPv4" {
                i.access_ip_v4 = ip;
            } else {
                i.access_ip_v6 = ip;
            }
        }
    }
    if let Some(v) = a.get("description") {
        i.description = description_value("description", v, 255)?;
    }
    if let Some(v) = a.get("hostname") {
        i.hostname = Some(name_value("hostname", v)?);
    }
    if let Some(v) = a.get("key_name") {
        i.key_name = match v {
            Value::Null => None,
            v => {
                let name = name_value("key_name", v)?;
                // Nova looks the key pair up for the server's owner.
                if ctx.svc.find_key_pair(&i.user_id, &name).await?.is_none() {
                    return Err(ComputeError::bad_request("Invalid key_name provided."));
                }
                Some(name)
            }
        };
    }
    if let Some(v) = a.get("user_data") {
        i.user_data = user_data_value(v, true)?;
    }
    let admin_pass = match a.get("adminPass") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 255 => Some(s.clone()),
        Some(v) => return Err(invalid("adminPass", format!("{} is not of type 'string'", type_name(v)))),
    };
    if !vm_in(&i, &[VmState::Active, VmState::Stopped, VmState::Error]) || i.task_state.is_some() || i.host.is_none() {
        return Err(state_conflict("rebuild", &i));
    }
    let image = ctx
        .svc
        .images
        .lookup(&image_ref, &ctx.caller)
        .await
        .map_err(|e| ComputeError::unavailable(format!("Image service unavailable: {e}")))?
        .ok_or_else(|| ComputeError::bad_request("Cannot find requested image"))?;
    if image.status != "active" {
        return Err(ComputeError::bad_request(format!("Image {} is not active.", truncate(&image_ref, 64))));
    }
    if image.min_ram > i.flavor.memory_mb {
        return Err(ComputeError::bad_request("Flavor's memory is too small for requested image."));
    }
    if i.flavor.root_gb > 0 && image.min_disk > i.flavor.root_gb {
        return Err(ComputeError::bad_request("Flavor's disk is too small for requested image."));
    }
    record(ctx, &i, "rebuild").await;
    if !ctx.svc.rebuild(&i, &image_ref, &requester(ctx)).await? {
        return Err(state_conflict("rebuild", &i));
    }
    ctx.svc.save_instance_fields(&i).await?;
    let i = ctx.svc.instance(i.uuid).await?.unwrap_or(i);
    let mut v = full_view(ctx, &i, ViewFor::Rebuild).await?;
    v["adminPass"] = json!(admin_pass.unwrap_or_else(super::servers::admin_password));
    if ctx.v(2, 57) {
        v["user_data"] = json!(i.user_data);
    }
    Ok(super::json(StatusCode::ACCEPTED, json!({"server": v})))
}
