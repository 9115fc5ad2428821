//! Migration records: `GET /os-migrations` (filters; paging from 2.59; the
//! fields of each microversion) and a server's in-progress live
//! migrations, `GET /servers/{id}/migrations[/{id}]` (2.23), with
//! `force_complete` (2.22) and abort (`DELETE`, 2.24).

use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{json, Value};

use super::servers::instance_for;
use super::*;
use crate::model::*;
use crate::service::moves::Requester;

/// Live-migration statuses shown under a server (in progress).
const IN_PROGRESS_LIVE: &[&str] = &["queued", migration_status::PREPARING, migration_status::RUNNING];

fn time(us: i64) -> String {
    berth_time::iso_micros(us)
}

fn not_found_before(ctx: &Ctx, major: u16, minor: u16) -> Result<()> {
    if ctx.v(major, minor) {
        Ok(())
    } else {
        Err(ComputeError::not_found("The resource could not be found."))
    }
}

/// The fields shared by both views.
fn common(ctx: &Ctx, m: &MigrationRecord) -> Value {
    let mut v = json!({
        "id": m.id,
        "source_node": m.source_node,
        "dest_node": m.dest_node,
        "source_compute": m.source_compute,
        "dest_compute": m.dest_compute,
        "dest_host": m.dest_host.clone().unwrap_or_default(),
        "status": m.status,
        "instance_uuid": m.instance_uuid,
        "created_at": time(m.created_at),
        "updated_at": m.updated_at.map(time),
    });
    if ctx.v(2, 59) {
        v["uuid"] = json!(m.uuid);
    }
    if ctx.v(2, 80) {
        v["user_id"] = json!(m.user_id);
        v["project_id"] = json!(m.project_id);
    }
    v
}

fn index_view(ctx: &Ctx, m: &MigrationRecord) -> Value {
    let mut v = common(ctx, m);
    v["old_instance_type_id"] = json!(m.old_flavor.as_ref().map(|f| f.internal_id));
    v["new_instance_type_id"] = json!(m.new_flavor.as_ref().map(|f| f.internal_id));
    if ctx.v(2, 23) {
        v["migration_type"] = json!(m.migration_type);
        if m.migration_type == migration_type::LIVE_MIGRATION && IN_PROGRESS_LIVE.contains(&m.status.as_str()) {
            v["links"] = ctx.links(&format!("servers/{}/migrations/{}", m.instance_uuid, m.id));
        }
    }
    v
}

fn server_view(ctx: &Ctx, m: &MigrationRecord) -> Value {
    let mut v = common(ctx, m);
    v["server_uuid"] = json!(m.instance_uuid);
    for k in [
        "memory_total_bytes",
        "memory_processed_bytes",
        "memory_remaining_bytes",
        "disk_total_bytes",
        "disk_processed_bytes",
        "disk_remaining_bytes",
    ] {
        v[k] = Value::Null;
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("instance_uuid");
    }
    v
}

fn time_filter(ctx: &Ctx, key: &str) -> Result<Option<i64>> {
    match ctx.q(key) {
        None => Ok(None),
        Some(s) => berth_time::parse_iso8601(s)
            .map(Some)
            .map_err(|_| invalid(key, format!("'{}' is not a 'date-time'", truncate(s, 64)))),
    }
}

/// `GET /os-migrations`.
pub async fn index(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    let mut list = ctx.svc.migrations(None).await?;
    let eq = |key: &str, v: Option<&str>| ctx.q(key).is_none_or(|want| v == Some(want));
    list.retain(|m| {
        eq("status", Some(m.status.as_str()))
            && eq("instance_uuid", Some(m.instance_uuid.to_string().as_str()))
            && eq("source_compute", m.source_compute.as_deref())
            && (!ctx.v(2, 23) || eq("migration_type", Some(m.migration_type.as_str())))
            && ctx
                .q("host")
                .is_none_or(|h| m.source_compute.as_deref() == Some(h) || m.dest_compute.as_deref() == Some(h))
    });
    if ctx.v(2, 80) {
        list.retain(|m| eq("user_id", m.user_id.as_deref()) && eq("project_id", m.project_id.as_deref()));
    }
    if ctx.v(2, 59) {
        let since = time_filter(&ctx, "changes-since")?;
        let before = if ctx.v(2, 66) { time_filter(&ctx, "changes-before")? } else { None };
        list.retain(|m| {
            let t = m.updated_at.unwrap_or(m.created_at);
            since.is_none_or(|s| t >= s) && before.is_none_or(|b| t <= b)
        });
        // Newest first (created_at, then id).
        list.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        if let Some(marker) = ctx.q("marker") {
            let pos = list.iter().position(|m| m.uuid.to_string() == marker).ok_or_else(|| {
                ComputeError::bad_request(format!("Marker {} could not be found.", truncate(marker, 64)))
            })?;
            list.drain(..=pos);
        }
        if let Some(l) = ctx.q("limit") {
            let n = int_value("limit", &json!(l), 0, i64::MAX)?;
            list.truncate(n.min(list.len() as i64) as usize);
        }
    }
    let out: Vec<Value> = list.iter().map(|m| index_view(&ctx, m)).collect();
    ok(json!({"migrations": out}))
}

/// A server the caller may act on with the route's rule.
async fn server(ctx: &Ctx, id: &str, rule: &str) -> Result<Instance> {
    instance_for(ctx, id, rule).await
}

/// `GET /servers/{id}/migrations` (2.23): live migrations in progress.
pub async fn server_index(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    not_found_before(&ctx, 2, 23)?;
    let i = server(&ctx, &id, "os_compute_api:servers:migrations:index").await?;
    let list: Vec<Value> = ctx
        .svc
        .migrations(Some(i.uuid))
        .await?
        .iter()
        .filter(|m| m.migration_type == migration_type::LIVE_MIGRATION && IN_PROGRESS_LIVE.contains(&m.status.as_str()))
        .map(|m| server_view(&ctx, m))
        .collect();
    ok(json!({"migrations": list}))
}

async fn in_progress(ctx: &Ctx, i: &Instance, id: &str) -> Result<MigrationRecord> {
    let m = ctx.svc.server_migration(i, id).await?;
    if !IN_PROGRESS_LIVE.contains(&m.status.as_str()) {
        return Err(ComputeError::not_found(format!(
            "In-progress live migration {} is not found for server {}.",
            m.id, i.uuid
        )));
    }
    Ok(m)
}

/// `GET /servers/{id}/migrations/{migration}` (2.23).
pub async fn server_show(ctx: Ctx, Path((id, mid)): Path<(String, String)>) -> ApiResult {
    not_found_before(&ctx, 2, 23)?;
    let i = server(&ctx, &id, "os_compute_api:servers:migrations:show").await?;
    let m = in_progress(&ctx, &i, &mid).await?;
    ok(json!({"migration": server_view(&ctx, &m)}))
}

/// `POST /servers/{id}/migrations/{migration}/action` `force_complete`
/// (2.22).
pub async fn server_force_complete(
    ctx: Ctx,
    Path((id, mid)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    not_found_before(&ctx, 2, 22)?;
    let body = parse_body(&body)?;
    let obj = body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    only_keys(obj, &["force_complete"])?;
    if !obj.get("force_complete").is_some_and(Value::is_null) {
        return Err(invalid("force_complete", "'force_complete' is a required property and must be null"));
    }
    let i = server(&ctx, &id, "os_compute_api:servers:migrations:force_complete").await?;
    super::servers::check_locked(&ctx, &i)?;
    let m = ctx.svc.server_migration(&i, &mid).await?;
    let who = Requester {
        user_id: ctx.user().to_string(),
        project_id: ctx.project().to_string(),
        request_id: ctx.request_id.clone(),
    };
    ctx.svc.force_complete(&i, &m, &who).await?;
    status_only(StatusCode::ACCEPTED)
}

/// `DELETE /servers/{id}/migrations/{migration}` (2.24): abort.
pub async fn server_abort(ctx: Ctx, Path((id, mid)): Path<(String, String)>) -> ApiResult {
    not_found_before(&ctx, 2, 24)?;
    let i = server(&ctx, &id, "os_compute_api:servers:migrations:delete").await?;
    super::servers::check_locked(&ctx, &i)?;
    let m = ctx.svc.server_migration(&i, &mid).await?;
    ctx.svc.abort_live_migration(&i, &m).await?;
    status_only(StatusCode::ACCEPTED)
}
