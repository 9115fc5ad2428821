//! Server actions beyond power (lock, pause, suspend, rescue, the admin
//! state reset, password change, console output, snapshots and backups)
//! and the server sub-resources of the same family: tags (2.26), ips,
//! diagnostics and the encrypted password.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use super::servers::{admin_password, instance_for, state_conflict};
use super::*;
use crate::lifecycle::{power_state, Event};
use crate::model::*;
use crate::service::MAX_TAGS;

/// Actions that, like Nova's `check_instance_lock`, refuse a locked server
/// to callers who cannot override the lock.
pub(crate) fn checks_lock(action: &str) -> bool {
    !matches!(action, "lock" | "unlock" | "os-resetState" | "createImage" | "createBackup" | "os-getConsoleOutput")
}

/// The rule of each action this module runs (`None`: not one of ours).
pub(crate) fn rule_of(action: &str) -> Option<&'static str> {
    Some(match action {
        "lock" => "os_compute_api:os-lock-server:lock",
        "unlock" => "os_compute_api:os-lock-server:unlock",
        "pause" => "os_compute_api:os-pause-server:pause",
        "unpause" => "os_compute_api:os-pause-server:unpause",
        "suspend" => "os_compute_api:os-suspend-server:suspend",
        "resume" => "os_compute_api:os-suspend-server:resume",
        "rescue" => "os_compute_api:os-rescue",
        "unrescue" => "os_compute_api:os-unrescue",
        "os-resetState" => "os_compute_api:os-admin-actions:reset_state",
        "changePassword" => "os_compute_api:os-admin-password",
        "createImage" => "os_compute_api:servers:create_image",
        "createBackup" => "os_compute_api:os-create-backup",
        "os-getConsoleOutput" => "os_compute_api:os-console-output",
        _ => return None,
    })
}

fn accepted() -> ApiResult {
    status_only(StatusCode::ACCEPTED)
}

/// `{"<action>": null}` (or an empty object, which Nova's schemas allow).
fn no_args(action: &str, arg: &Value) -> Result<()> {
    match arg {
        Value::Null => Ok(()),
        Value::Object(o) if o.is_empty() => Ok(()),
        other => Err(invalid(action, format!("{} is not of type 'null'", type_name(other)))),
    }
}

/// Run action `name` (already authorized with [`rule_of`]) on `i`.
pub(crate) async fn run(ctx: &Ctx, name: &str, arg: &Value, i: Instance) -> ApiResult {
    match name {
        "lock" => {
            let reason = match arg {
                Value::Object(o) if ctx.v(2, 73) => {
                    only_keys(o, &["locked_reason"])?;
                    match o.get("locked_reason") {
                        None => None,
                        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => Some(s.clone()),
                        Some(v) => {
                            return Err(invalid(
                                "locked_reason",
                                format!("{} is not a string of 1 to 255", truncate(&v.to_string(), 64)),
                            ))
                        }
                    }
                }
                Value::Null => None,
                _ if ctx.v(2, 73) => return Err(invalid("lock", "must be null or an object")),
                // Before 2.73 the body of `lock` is not looked at.
                _ => None,
            };
            let by = if i.project_id == ctx.project() { "owner" } else { "admin" };
            ctx.svc.set_lock(i.uuid, Some((by, reason.as_deref()))).await?;
            accepted()
        }
        "unlock" => {
            // Nova's is_expected_locked_by: the owner unlocks what the owner
            // locked; anything else needs the override rule.
            let expected = if i.project_id == ctx.project() { "owner" } else { "admin" };
            if i.locked && i.locked_by.as_deref() != Some(expected) {
                ctx.authorize("os_compute_api:os-lock-server:unlock:unlock_override", Some(&i.project_id))?;
            }
            ctx.svc.set_lock(i.uuid, None).await?;
            accepted()
        }
        "pause" | "unpause" | "suspend" | "resume" | "unrescue" => {
            no_args(name, arg)?;
            let (event, kind) = match name {
                "pause" => (Event::Pause, task_kind::PAUSE),
                "unpause" => (Event::Unpause, task_kind::UNPAUSE),
                "suspend" => (Event::Suspend, task_kind::SUSPEND),
                "resume" => (Event::Resume, task_kind::RESUME),
                _ => (Event::Unrescue, task_kind::UNRESCUE),
            };
            if !ctx.svc.guest_change(&i, event, kind).await? {
                return Err(state_conflict(name, &i));
            }
            accepted()
        }
        "rescue" => {
            let mut password = None;
            match arg {
                Value::Null => {}
                Value::Object(o) => {
                    only_keys(o, &["adminPass", "rescue_image_ref"])?;
                    if let Some(p) = o.get("adminPass") {
                        password = Some(password_value("adminPass", p)?);
                    }
                    if let Some(r) = o.get("rescue_image_ref") {
                        let id = r.as_str().filter(|s| uuid::Uuid::parse_str(s).is_ok()).ok_or_else(|| {
                            invalid("rescue_image_ref", format!("{} is not a 'uuid'", truncate(&r.to_string(), 64)))
                        })?;
                        ctx.svc
                            .images
                            .lookup(id, &ctx.caller)
                            .await
                            .map_err(|e| ComputeError::unavailable(format!("Image service unavailable: {e}")))?
                            .ok_or_else(|| ComputeError::bad_request(format!("Image {id} could not be found.")))?;
                    }
                }
                other => {
                    return Err(invalid("rescue", format!("{} is not of type 'object', 'null'", type_name(other))))
                }
            }
            if !ctx.svc.guest_change(&i, Event::Rescue, task_kind::RESCUE).await? {
                return Err(state_conflict("rescue", &i));
            }
            ok(json!({"adminPass": password.unwrap_or_else(admin_password)}))
        }
        "os-resetState" => {
            let o = arg.as_object().ok_or_else(|| invalid("os-resetState", "is not of type 'object'"))?;
            only_keys(o, &["state"])?;
            let vm = match o.get("state").and_then(Value::as_str) {
                Some("active") => VmState::Active,
                Some("error") => VmState::Error,
                Some(other) => {
                    return Err(invalid(
                        "state",
                        format!("'{}' is not one of ['active', 'error']", truncate(other, 64)),
                    ))
                }
                None => return Err(invalid("state", "'state' is a required property")),
            };
            ctx.svc.reset_state(i.uuid, vm).await?;
            accepted()
        }
        "changePassword" => {
            let o = arg.as_object().ok_or_else(|| invalid("changePassword", "is not of type 'object'"))?;
            only_keys(o, &["adminPass"])?;
            let p = o.get("adminPass").ok_or_else(|| invalid("adminPass", "'adminPass' is a required property"))?;
            password_value("adminPass", p)?;
            // The simulated guest takes any password; Nova's state rule
            // (ACTIVE, no task) and host check still apply.
            if i.vm_state != VmState::Active || i.task_state.is_some() || i.host.is_none() {
                return Err(state_conflict("changePassword", &i));
            }
            accepted()
        }
        "os-getConsoleOutput" => {
            let o = arg.as_object().ok_or_else(|| invalid("os-getConsoleOutput", "is not of type 'object'"))?;
            only_keys(o, &["length"])?;
            let length = match o.get("length") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let n = match v {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s)
                            if !s.is_empty() && s.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            s.parse::<i64>().ok()
                        }
                        _ => None,
                    }
                    .ok_or_else(|| {
                        invalid("length", format!("{} does not match '^-?[0-9]+$'", truncate(&v.to_string(), 64)))
                    })?;
                    if n < -1 {
                        return Err(invalid("length", format!("{n} is less than the minimum of -1")));
                    }
                    (n >= 0).then_some(n)
                }
            };
            if i.host.is_none() {
                return Err(ComputeError::conflict(format!("Instance {} is not ready", i.uuid)));
            }
            let output = ctx.svc.console_output(i.uuid, length).await?;
            // Nova strips control characters other than tab and newline.
            let output: String = output.chars().filter(|c| !matches!(*c as u32, 0..=8 | 0x0b..=0x1f)).collect();
            ok(json!({"output": output}))
        }
        "createImage" | "createBackup" => super::snapshots::run(ctx, name, arg, i).await,
        _ => Err(ComputeError::bad_request("There is no such action")),
    }
}

/// A password (Nova's `admin_password`: any string).
fn password_value(field: &str, v: &Value) -> Result<String> {
    match v {
        Value::String(s) if !s.contains('\0') => Ok(s.clone()),
        other => Err(invalid(field, format!("{} is not of type 'string'", type_name(other)))),
    }
}

// ------------------------------------------------------------------ tags

fn tags_supported(ctx: &Ctx) -> Result<()> {
    if ctx.v(2, 26) {
        Ok(())
    } else {
        Err(ComputeError::not_found("The resource could not be found."))
    }
}

/// Nova's `parameter_types.tag`: 1 to 60 characters, no `/` or `,`.
pub(crate) fn tag_error(tag: &str) -> Option<String> {
    let n = tag.chars().count();
    if n == 0 {
        Some(format!("'{tag}' is too short"))
    } else if n > 60 {
        Some(format!("'{}' is too long", truncate(tag, 64)))
    } else if tag.contains('/') || tag.contains(',') {
        Some(format!("'{}' does not match '^[^,/]*$'", truncate(tag, 64)))
    } else if tag.chars().any(char::is_control) {
        Some(format!("'{}' has control characters", truncate(tag, 64)))
    } else {
        None
    }
}

/// A list of tags in a body (`PUT /tags`, create from 2.52).
pub(crate) fn tags_value(field: &str, v: &Value) -> Result<Vec<String>> {
    let items = v.as_array().ok_or_else(|| invalid(field, format!("{} is not of type 'array'", type_name(v))))?;
    if items.len() > MAX_TAGS {
        return Err(invalid(field, format!("is too long (more than {MAX_TAGS} items)")));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for t in items {
        let s = t.as_str().ok_or_else(|| invalid(field, format!("{} is not of type 'string'", type_name(t))))?;
        if let Some(e) = tag_error(s) {
            return Err(invalid(field, e));
        }
        if !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// Nova changes tags only of servers at rest in these states.
fn check_taggable(i: &Instance, action: &str) -> Result<()> {
    if matches!(i.vm_state, VmState::Active | VmState::Paused | VmState::Suspended | VmState::Stopped) {
        Ok(())
    } else {
        Err(ComputeError::conflict(format!(
            "Cannot '{action}' instance {} while it is in vm_state {}",
            i.uuid, i.vm_state
        )))
    }
}

async fn tags_of(ctx: &Ctx, i: &Instance) -> Result<Vec<String>> {
    Ok(ctx.svc.tags_of(&[i.uuid]).await?.remove(&i.uuid).unwrap_or_default())
}

pub async fn tags_index(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    tags_supported(&ctx)?;
    let i = instance_for(&ctx, &id, "os_compute_api:os-server-tags:index").await?;
    ok(json!({"tags": tags_of(&ctx, &i).await?}))
}

pub async fn tags_replace(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    tags_supported(&ctx)?;
    let body = parse_body(&body)?;
    let o = body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    only_keys(o, &["tags"])?;
    let tags = tags_value("tags", o.get("tags").ok_or_else(|| invalid("tags", "'tags' is a required property"))?)?;
    let i = instance_for(&ctx, &id, "os_compute_api:os-server-tags:update_all").await?;
    check_taggable(&i, "update tags")?;
    ctx.svc.replace_tags(i.uuid, &tags).await?;
    ok(json!({"tags": tags_of(&ctx, &i).await?}))
}

pub async fn tags_delete_all(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    tags_supported(&ctx)?;
    let i = instance_for(&ctx, &id, "os_compute_api:os-server-tags:delete_all").await?;
    check_taggable(&i, "delete tags")?;
    ctx.svc.replace_tags(i.uuid, &[]).await?;
    status_only(StatusCode::NO_CONTENT)
}

pub async fn tag_show(ctx: Ctx, Path((id, tag)): Path<(String, String)>) -> ApiResult {
    tags_supported(&ctx)?;
    let i = instance_for(&ctx, &id, "os_compute_api:os-server-tags:show").await?;
    if tags_of(&ctx, &i).await?.contains(&tag) {
        status_only(StatusCode::NO_CONTENT)
    } else {
        Err(ComputeError::not_found(format!("Server {} has no tag '{}'", i.uuid, truncate(&tag, 64))))
    }
}

pub async fn tag_put(ctx: Ctx, Path((id, tag)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult {
    tags_supported(&ctx)?;
    if !body.is_empty() && parse_body(&body)? != Value::Null {
        return Err(invalid("tag", "the body must be empty or null"));
    }
    let i = instance_for(&ctx, &id, "os_compute_api:os-server-tags:update").await?;
    check_taggable(&i, "update tag")?;
    if let Some(e) = tag_error(&tag) {
        return Err(ComputeError::bad_request(format!(
            "Tag '{}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: {e}",
            truncate(&tag, 64)
        )));
    }
    if !ctx.svc.add_tag(i.uuid, &tag).await? {
        return status_only(StatusCode::NO_CONTENT);
    }
    let mut resp = StatusCode::CREATED.into_response();
    let location = ctx.url(&format!("servers/{}/tags/{}", i.uuid, percent_encode(&tag)));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

pub async fn tag_delete(ctx: Ctx, Path((id, tag)): Path<(String, String)>) -> ApiResult {
    tags_supported(&ctx)?;
    let i = instance_for(&ctx, &id, "os_compute_api:os-server-tags:delete").await?;
    check_taggable(&i, "delete tag")?;
    if ctx.svc.delete_tag(i.uuid, &tag).await? {
        status_only(StatusCode::NO_CONTENT)
    } else {
        Err(ComputeError::not_found(format!("Instance {} has no tag '{}'", i.uuid, truncate(&tag, 64))))
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ------------------------------------------------------------------ ips, password, diagnostics

/// berth has no networking: every server's address map is empty
/// (servers boot with `networks: none`).
pub async fn ips_index(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    instance_for(&ctx, &id, "os_compute_api:ips:index").await?;
    ok(json!({"addresses": {}}))
}

pub async fn ips_show(ctx: Ctx, Path((id, _network)): Path<(String, String)>) -> ApiResult {
    instance_for(&ctx, &id, "os_compute_api:ips:show").await?;
    Err(ComputeError::not_found("Instance is not a member of specified network"))
}

/// The password a guest posts to the metadata service, encrypted with the
/// key pair: berth has no metadata service, so no guest has posted one and
/// the answer is Nova's for that case (an empty string).
pub async fn password_show(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    instance_for(&ctx, &id, "os_compute_api:os-server-password:show").await?;
    ok(json!({"password": ""}))
}

pub async fn password_clear(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    instance_for(&ctx, &id, "os_compute_api:os-server-password:clear").await?;
    status_only(StatusCode::NO_CONTENT)
}

/// The simulated hypervisor's diagnostics: the guest's size from its
/// flavor, its uptime from its launch, no NICs (berth has no networking).
pub async fn diagnostics(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let i = instance_for(&ctx, &id, "os_compute_api:os-server-diagnostics").await?;
    if i.host.is_none() {
        return Err(ComputeError::conflict(format!("Instance {} is not ready", i.uuid)));
    }
    if i.power_state != power_state::RUNNING {
        return Err(ComputeError::conflict(format!(
            "Cannot 'get_diagnostics' instance {} while it is in power_state {}",
            i.uuid, i.power_state
        )));
    }
    let uptime = i.launched_at.map(|t| ((crate::clock::now_us() - t) / 1_000_000).max(0)).unwrap_or(0);
    let f = &i.flavor;
    let cpu_time = uptime.saturating_mul(1_000_000_000);
    if ctx.v(2, 48) {
        let cpus: Vec<Value> =
            (0..f.vcpus.max(0)).map(|n| json!({"id": n, "time": cpu_time, "utilization": null})).collect();
        return ok(json!({
            "state": "running",
            "driver": "fake",
            "hypervisor": "fake",
            "hypervisor_os": "berth",
            "uptime": uptime,
            "config_drive": false,
            "num_cpus": f.vcpus,
            "num_nics": 0,
            "num_disks": 1,
            "cpu_details": cpus,
            "nic_details": [],
            "disk_details": [{"read_bytes": 0, "read_requests": 0, "write_bytes": 0, "write_requests": 0, "errors_count": 0}],
            "memory_details": {"maximum": f.memory_mb.saturating_mul(1024), "used": 0},
        }));
    }
    let mut d = serde_json::Map::new();
    for n in 0..f.vcpus.max(0) {
        d.insert(format!("cpu{n}_time"), json!(cpu_time));
    }
    d.insert("memory".into(), json!(f.memory_mb.saturating_mul(1024)));
    for (k, v) in [("vda_read", 0), ("vda_read_req", 0), ("vda_write", 0), ("vda_write_req", 0), ("vda_errors", -1)] {
        d.insert(k.into(), json!(v));
    }
    d.insert("uptime".into(), json!(uptime));
    ok(Value::Object(d))
}
