//! `os-server-groups` (policies before 2.64, `policy` and `rules` from
//! 2.64, `project_id`/`user_id` from 2.13), the scheduler hints of
//! `POST /servers` that name groups and hosts, and `server_groups` of
//! server views (2.71).

use std::collections::BTreeSet;

use axum::extract::Path;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::*;
use crate::infra_model::NewServerGroup;
use crate::infra_model::ServerGroup;
use crate::scheduler::RequestSpec;

fn view(ctx: &Ctx, g: &ServerGroup, live: &BTreeSet<Uuid>) -> Value {
    let members: Vec<Uuid> = g.members.iter().filter(|m| live.contains(m)).copied().collect();
    let mut v = json!({"id": g.uuid, "name": g.name, "members": members});
    if ctx.v(2, 64) {
        v["policy"] = json!(g.policy);
        v["rules"] = match g.max_server_per_host {
            Some(n) => json!({"max_server_per_host": n}),
            None => json!({}),
        };
    } else {
        v["policies"] = json!([g.policy]);
        v["metadata"] = json!({});
    }
    if ctx.v(2, 13) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    v
}

fn not_found(id: &str) -> ComputeError {
    ComputeError::not_found(format!("Instance group {} could not be found.", truncate(id, 64)))
}

async fn find(ctx: &Ctx, id: &str) -> Result<ServerGroup> {
    let u = Uuid::parse_str(id).map_err(|_| not_found(id))?;
    ctx.svc.server_group(u).await?.ok_or_else(|| not_found(id))
}

fn offset_param(ctx: &Ctx, key: &str) -> Result<Option<usize>> {
    match ctx.q(key) {
        None => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| ComputeError::bad_request(format!("{key} param must be an integer"))),
    }
}

pub async fn list(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    let limit = offset_param(&ctx, "limit")?;
    let offset = offset_param(&ctx, "offset")?.unwrap_or(0);
    // As Nova: `all_projects` from a caller who may not see them lists the
    // caller's own.
    let all = ctx.q("all_projects").is_some() && ctx.can("os_compute_api:os-server-groups:index:all_projects", None);
    let groups = ctx.svc.server_groups(if all { None } else { Some(ctx.project()) }).await?;
    let page: Vec<ServerGroup> = groups.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).collect();
    let live = ctx.svc.live_members(&page).await?;
    ok(json!({"server_groups": page.iter().map(|g| view(&ctx, g, &live)).collect::<Vec<_>>()}))
}

pub async fn show(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let g = find(&ctx, &id).await?;
    ctx.authorize_route(Some(&g.project_id))?;
    let live = ctx.svc.live_members(std::slice::from_ref(&g)).await?;
    ok(json!({"server_group": view(&ctx, &g, &live)}))
}

pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let g = find(&ctx, &id).await?;
    ctx.authorize_route(Some(&g.project_id))?;
    ctx.svc.delete_server_group(&g).await?;
    status_only(StatusCode::NO_CONTENT)
}

fn policy_value(ctx: &Ctx, field: &str, v: &Value) -> Result<String> {
    let allowed: &[&str] = if ctx.v(2, 15) {
        &["anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"]
    } else {
        &["anti-affinity", "affinity"]
    };
    match v.as_str() {
        Some(p) if allowed.contains(&p) => Ok(p.to_string()),
        _ => Err(invalid(field, format!("{} is not one of {allowed:?}", truncate(&v.to_string(), 64)))),
    }
}

pub async fn create(ctx: Ctx, JsonBody(body): JsonBody) -> ApiResult {
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    only_keys(body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?, &["server_group"])?;
    let g = member(&body, "server_group")?;
    let name = name_value("name", g.get("name").ok_or_else(|| invalid("name", "'name' is a required property"))?)?;
    let (policy, max_per_host) = if ctx.v(2, 64) {
        only_keys(g, &["name", "policy", "rules"])?;
        let policy = policy_value(
            &ctx,
            "policy",
            g.get("policy").ok_or_else(|| invalid("policy", "'policy' is a required property"))?,
        )?;
        let max = match g.get("rules") {
            None => None,
            Some(Value::Object(r)) => {
                only_keys(r, &["max_server_per_host"])?;
                r.get("max_server_per_host")
                    .map(|v| int_value("max_server_per_host", v, 1, i64::from(i32::MAX)))
                    .transpose()?
            }
            Some(v) => return Err(invalid("rules", format!("{} is not of type 'object'", type_name(v)))),
        };
        if policy != "anti-affinity" && g.get("rules").and_then(Value::as_object).is_some_and(|r| !r.is_empty()) {
            return Err(ComputeError::bad_request("Only anti-affinity policy supports rules."));
        }
        (policy, max)
    } else {
        only_keys(g, &["name", "policies"])?;
        let list = match g.get("policies") {
            Some(Value::Array(a)) if a.len() == 1 => a,
            Some(v @ Value::Array(_)) => {
                return Err(invalid(
                    "policies",
                    format!("{} must hold exactly one policy", truncate(&v.to_string(), 64)),
                ))
            }
            Some(v) => return Err(invalid("policies", format!("{} is not of type 'array'", type_name(v)))),
            None => return Err(invalid("policies", "'policies' is a required property")),
        };
        (policy_value(&ctx, "policies", &list[0])?, None)
    };
    let created = ctx
        .svc
        .create_server_group(&NewServerGroup {
            name: &name,
            project_id: ctx.project(),
            user_id: ctx.user(),
            policy: &policy,
            max_server_per_host: max_per_host,
        })
        .await?;
    ok(json!({"server_group": view(&ctx, &created, &BTreeSet::new())}))
}

// ------------------------------------------------------------------ servers

/// The scheduler hints of a create request that berth honours.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    pub group: Option<ServerGroup>,
    pub same_host: Vec<Uuid>,
    pub different_host: Vec<Uuid>,
}

fn uuid_list(field: &str, v: &Value) -> Result<Vec<Uuid>> {
    let one = |x: &Value| -> Result<Uuid> {
        x.as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| {
            invalid(&format!("os:scheduler_hints/{field}"), format!("{} is not a 'uuid'", truncate(&x.to_string(), 64)))
        })
    };
    match v {
        Value::Array(a) => a.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// Read `os:scheduler_hints` (or `OS-SCH-HNT:scheduler_hints`) of a
/// create request: `group` must name an existing group; `same_host` and
/// `different_host` are server uuids. Other hints are accepted and ignored,
/// as Nova's schema allows them.
pub(crate) async fn scheduler_hints(ctx: &Ctx, top: &Map<String, Value>) -> Result<Hints> {
    let raw = match (top.get("os:scheduler_hints"), top.get("OS-SCH-HNT:scheduler_hints")) {
        (Some(h), _) | (None, Some(h)) => h,
        (None, None) => return Ok(Hints::default()),
    };
    let h = raw
        .as_object()
        .ok_or_else(|| invalid("os:scheduler_hints", format!("{} is not of type 'object'", type_name(raw))))?;
    let mut out = Hints::default();
    if let Some(v) = h.get("group") {
        let id = v.as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| {
            invalid("os:scheduler_hints/group", format!("{} is not a 'uuid'", truncate(&v.to_string(), 64)))
        })?;
        let g = ctx
            .svc
            .server_group(id)
            .await?
            .ok_or_else(|| ComputeError::bad_request(format!("Instance group {id} could not be found.")))?;
        out.group = Some(g);
    }
    if let Some(v) = h.get("same_host") {
        out.same_host = uuid_list("same_host", v)?;
    }
    if let Some(v) = h.get("different_host") {
        out.different_host = uuid_list("different_host", v)?;
    }
    Ok(out)
}

impl Hints {
    pub fn apply(&self, spec: &mut RequestSpec) {
        spec.group = self.group.as_ref().map(|g| g.uuid);
        spec.same_host = self.same_host.clone();
        spec.different_host = self.different_host.clone();
    }

    /// Put new instances in the group (before they are recorded).
    pub async fn join(&self, ctx: &Ctx, instances: &[Uuid]) -> Result<()> {
        match &self.group {
            Some(g) => ctx.svc.join_server_group(g, instances).await,
            None => Ok(()),
        }
    }

    /// Undo [`Hints::join`] after a failed create.
    pub async fn leave(&self, ctx: &Ctx, instances: &[Uuid]) {
        if self.group.is_some() {
            if let Err(e) = ctx.svc.leave_server_groups(instances).await {
                tracing::warn!(error = %e, "could not take failed instances out of their server group");
            }
        }
    }
}

/// `server_groups` of a server view (2.71): the uuid of its group, if any.
pub(crate) async fn of_server(ctx: &Ctx, server: Uuid) -> Result<Value> {
    Ok(json!(ctx.svc.server_group_of(server).await?.map(|g| vec![g.uuid]).unwrap_or_default()))
}
