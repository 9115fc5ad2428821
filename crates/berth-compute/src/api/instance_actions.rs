//! `GET /servers/{id}/os-instance-actions[/{request_id}]`: what was done
//! to a server, by whom, under which request id, with the agents' events
//! (2.21 deleted servers, 2.51 event details for non-admins' hostId, 2.58
//! paging and `changes-since`, 2.62 `host`/`hostId`, 2.84 `details`).

use axum::extract::Path;
use serde_json::{json, Value};
use sha2::{Digest, Sha224};
use uuid::Uuid;

use super::*;
use crate::model::*;
use crate::service::moves::Requester;

/// Record `action` of this request on instances.
pub(crate) async fn record_all(ctx: &Ctx, instances: &[Uuid], action: &str) {
    let who = Requester {
        user_id: ctx.user().to_string(),
        project_id: ctx.project().to_string(),
        request_id: ctx.request_id.clone(),
    };
    ctx.svc.record_actions(instances, action, &who).await;
}

fn time(us: i64) -> String {
    berth_time::iso_micros(us)
}

/// The instance (deleted ones too from 2.21) the caller may see.
async fn instance(ctx: &Ctx, id: &str) -> Result<Instance> {
    let nf = || ComputeError::not_found(format!("Instance {} could not be found.", truncate(id, 64)));
    let uuid = Uuid::parse_str(id).map_err(|_| nf())?;
    let i = ctx.svc.instance(uuid).await?.filter(|i| !i.deleted || ctx.v(2, 21)).ok_or_else(nf)?;
    ctx.authorize_route(Some(&i.project_id))?;
    Ok(i)
}

fn action_view(ctx: &Ctx, a: &InstanceAction) -> Value {
    let mut v = json!({
        "action": a.action,
        "instance_uuid": a.instance_uuid,
        "message": a.message,
        "project_id": a.project_id,
        "request_id": a.request_id,
        "start_time": time(a.start_time),
        "user_id": a.user_id,
    });
    if ctx.v(2, 58) {
        v["updated_at"] = json!(a.updated_at.map(time));
    }
    v
}

/// Parse a time filter (`changes-since`, `changes-before`).
fn time_filter(ctx: &Ctx, key: &str) -> Result<Option<i64>> {
    match ctx.q(key) {
        None => Ok(None),
        Some(s) => berth_time::parse_iso8601(s)
            .map(Some)
            .map_err(|_| invalid(key, format!("'{}' is not a 'date-time'", truncate(s, 64)))),
    }
}

pub async fn list(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let i = instance(&ctx, &id).await?;
    let mut actions = ctx.svc.instance_actions(i.uuid).await?;
    if ctx.v(2, 58) {
        let since = time_filter(&ctx, "changes-since")?;
        let before = if ctx.v(2, 66) { time_filter(&ctx, "changes-before")? } else { None };
        actions.retain(|a| {
            let t = a.updated_at.unwrap_or(a.start_time);
            since.is_none_or(|s| t >= s) && before.is_none_or(|b| t <= b)
        });
        if let Some(m) = ctx.q("marker") {
            let pos = actions
                .iter()
                .position(|a| a.request_id == m)
                .ok_or_else(|| ComputeError::bad_request(format!("Marker {} could not be found.", truncate(m, 64))))?;
            actions.drain(..=pos);
        }
        if let Some(l) = ctx.q("limit") {
            let n = int_value("limit", &json!(l), 0, i64::MAX)?;
            actions.truncate(n.min(actions.len() as i64) as usize);
        }
    }
    let list: Vec<Value> = actions.iter().map(|a| action_view(&ctx, a)).collect();
    ok(json!({"instanceActions": list}))
}

pub async fn show(ctx: Ctx, Path((id, request_id)): Path<(String, String)>) -> ApiResult {
    let i = instance(&ctx, &id).await?;
    let nf = || {
        ComputeError::not_found(format!(
            "Action for request_id {} on instance {} not found",
            truncate(&request_id, 64),
            i.uuid
        ))
    };
    let (a, events) = ctx.svc.instance_action(i.uuid, &request_id).await?.ok_or_else(nf)?;
    let mut v = action_view(&ctx, &a);
    let sees_events = ctx.can("os_compute_api:os-instance-actions:events", Some(&i.project_id));
    if sees_events || ctx.v(2, 51) {
        let details = ctx.v(2, 84) && ctx.can("os_compute_api:os-instance-actions:events:details", Some(&i.project_id));
        let list: Vec<Value> = events
            .iter()
            .map(|e| {
                let mut ev = json!({
                    "event": e.event,
                    "start_time": time(e.start_time),
                    "finish_time": e.finish_time.map(time),
                    "result": e.result,
                });
                if sees_events {
                    ev["traceback"] = json!(e.traceback);
                }
                if ctx.v(2, 62) {
                    if sees_events {
                        ev["host"] = json!(e.host);
                    }
                    let host_id = e.host.as_deref().map(|h| {
                        let mut d = Sha224::new();
                        d.update(i.project_id.as_bytes());
                        d.update(h.as_bytes());
                        d.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()
                    });
                    ev["hostId"] = json!(host_id.unwrap_or_default());
                }
                if details {
                    ev["details"] = json!(e.details);
                }
                ev
            })
            .collect();
        v["events"] = json!(list);
    }
    ok(json!({"instanceAction": v}))
}
