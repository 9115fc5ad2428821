//! `os-hosts` (deprecated in 2.43: every route answers 404 from then on)
//! and the hypervisor routes beside the listing: `uptime` (until 2.87),
//! `{pattern}/search` and `{pattern}/servers` (until 2.52, replaced by the
//! `hypervisor_hostname_pattern` and `with_servers` queries of 2.53).

use std::collections::BTreeMap;

use axum::extract::Path;
use serde_json::{json, Value};

use super::infra::{hypervisor_view, usage_of};
use super::*;
use crate::clock::now_us;
use crate::model::{ComputeNode, Instance, InstanceQuery, Service};
use crate::service::NOVA_COMPUTE;

fn gone() -> ComputeError {
    ComputeError::not_found("The resource could not be found.")
}

/// The compute service of a host (`HostNotFound`, 404, when none).
async fn compute_host(ctx: &Ctx, host: &str) -> Result<Service> {
    ctx.svc
        .service(host, NOVA_COMPUTE)
        .await?
        .ok_or_else(|| ComputeError::not_found(format!("Host {} could not be found.", truncate(host, 64))))
}

/// What `uptime` prints on the host (libvirt's answer), counted from
/// when its service registered; a 400 when the service is down.
pub(crate) fn uptime_text(ctx: &Ctx, s: &Service) -> Result<String> {
    let now = now_us();
    if !s.is_up(now, ctx.svc.down_after_ms()) {
        return Err(ComputeError::bad_request(format!("Compute service of {} is unavailable at this time.", s.host)));
    }
    let secs_now = now / 1_000_000;
    let up = (now - s.created_at).max(0) / 1_000_000;
    let (days, hours, minutes) = (up / 86_400, (up % 86_400) / 3600, (up % 3600) / 60);
    let clock = secs_now % 86_400;
    Ok(format!(
        " {:02}:{:02}:{:02} up {days} days, {hours:2}:{minutes:02},  0 users,  load average: 0.00, 0.00, 0.00",
        clock / 3600,
        (clock % 3600) / 60,
        clock % 60
    ))
}

// ------------------------------------------------------------------ os-hosts

pub async fn list(ctx: Ctx) -> ApiResult {
    if ctx.v(2, 43) {
        return Err(gone());
    }
    ctx.authorize_route(None)?;
    let zone = ctx.q("zone").filter(|z| !z.is_empty());
    // Nova lists the enabled services (but the API's own), with their
    // topic; compute services are in their host's zone.
    let hosts: Vec<Value> = ctx
        .svc
        .services()
        .await?
        .into_iter()
        .filter(|s| !s.disabled && zone.is_none_or(|z| z == s.availability_zone))
        .map(|s| {
            let topic = s.binary.strip_prefix("nova-").unwrap_or(&s.binary).to_string();
            json!({"host_name": s.host, "service": topic, "zone": s.availability_zone})
        })
        .collect();
    ok(json!({ "hosts": hosts }))
}

fn resource(host: &str, project: &str, cpu: i64, memory_mb: i64, disk_gb: i64) -> Value {
    json!({"resource": {"host": host, "project": project, "cpu": cpu, "memory_mb": memory_mb, "disk_gb": disk_gb}})
}

pub async fn show(ctx: Ctx, Path(host): Path<String>) -> ApiResult {
    if ctx.v(2, 43) {
        return Err(gone());
    }
    ctx.authorize_route(None)?;
    let nodes: Vec<ComputeNode> = ctx.svc.nodes().await?.into_iter().filter(|n| n.host == host).collect();
    let Some(node) = nodes.first() else {
        return Err(ComputeError::not_found(format!("Host '{}' is not mapped to any cell", truncate(&host, 64))));
    };
    let q = InstanceQuery { host: Some(host.clone()), ..Default::default() };
    let instances: Vec<Instance> =
        ctx.svc.instances(&q).await?.into_iter().filter(|i| !i.deleted && i.host.as_deref() == Some(&host)).collect();
    let used = usage_of(&ctx, node, &instances).await;
    let disk = |i: &Instance| i.flavor.root_gb + i.flavor.ephemeral_gb;
    let mut out = vec![
        resource(&host, "(total)", node.vcpus, node.memory_mb, node.local_gb),
        resource(&host, "(used_now)", used.vcpus, used.memory_mb, used.disk_gb),
        resource(
            &host,
            "(used_max)",
            instances.iter().map(|i| i.flavor.vcpus).sum(),
            instances.iter().map(|i| i.flavor.memory_mb).sum(),
            instances.iter().map(disk).sum(),
        ),
    ];
    let mut by_project: BTreeMap<&str, (i64, i64, i64)> = BTreeMap::new();
    for i in &instances {
        let e = by_project.entry(&i.project_id).or_default();
        e.0 += i.flavor.vcpus;
        e.1 += i.flavor.memory_mb;
        e.2 += disk(i);
    }
    out.extend(by_project.into_iter().map(|(p, (c, m, d))| resource(&host, p, c, m, d)));
    ok(json!({ "host": out }))
}

fn enable_value(field: &str, v: &Value) -> Result<bool> {
    match v.as_str() {
        Some("enable" | "Enable" | "ENABLE") => Ok(true),
        Some("disable" | "Disable" | "DISABLE") => Ok(false),
        _ => Err(invalid(
            field,
            format!(
                "{} is not one of ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE']",
                truncate(&v.to_string(), 64)
            ),
        )),
    }
}

/// `PUT /os-hosts/{host}`: `status` enables or disables the host's compute
/// service (as libvirt's driver does); `maintenance_mode` answers as Nova's
/// fake driver does (berth's hosts evacuate nothing).
pub async fn update(ctx: Ctx, Path(host): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    if ctx.v(2, 43) {
        return Err(gone());
    }
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    let obj = body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    only_keys(obj, &["status", "maintenance_mode"])?;
    if obj.is_empty() {
        return Err(ComputeError::bad_request(
            "Invalid input for field/attribute . Value: {}. {} is not valid under any of the given schemas",
        ));
    }
    let status = obj.get("status").map(|v| enable_value("status", v)).transpose()?;
    let maintenance = obj.get("maintenance_mode").map(|v| enable_value("maintenance_mode", v)).transpose()?;
    let mut s = compute_host(&ctx, &host).await?;
    let mut out = json!({ "host": host });
    if let Some(enabled) = status {
        let was_disabled = s.disabled;
        s.disabled = !enabled;
        s.disabled_reason = if enabled { None } else { s.disabled_reason.clone() };
        ctx.svc.update_service(&s, was_disabled).await?;
        out["status"] = json!(if enabled { "enabled" } else { "disabled" });
    }
    if let Some(on) = maintenance {
        out["maintenance_mode"] = json!(if on { "on_maintenance" } else { "off_maintenance" });
    }
    ok(out)
}

/// `GET /os-hosts/{host}/{startup,shutdown,reboot}`: Nova's fake driver
/// answers with the action and does nothing; so does berth.
async fn power_action(ctx: Ctx, host: String, action: &str) -> ApiResult {
    if ctx.v(2, 43) {
        return Err(gone());
    }
    ctx.authorize_route(None)?;
    compute_host(&ctx, &host).await?;
    ok(json!({"host": host, "power_action": action}))
}

pub async fn startup(ctx: Ctx, Path(host): Path<String>) -> ApiResult {
    power_action(ctx, host, "startup").await
}

pub async fn shutdown(ctx: Ctx, Path(host): Path<String>) -> ApiResult {
    power_action(ctx, host, "shutdown").await
}

pub async fn reboot(ctx: Ctx, Path(host): Path<String>) -> ApiResult {
    power_action(ctx, host, "reboot").await
}

// ------------------------------------------------------------------ hypervisors

async fn services_by_host(ctx: &Ctx) -> Result<BTreeMap<String, Service>> {
    Ok(ctx
        .svc
        .services()
        .await?
        .into_iter()
        .filter(|s| s.binary == NOVA_COMPUTE)
        .map(|s| (s.host.clone(), s))
        .collect())
}

pub async fn uptime(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    if ctx.v(2, 88) {
        return Err(gone());
    }
    ctx.authorize_route(None)?;
    let nf = || ComputeError::not_found(format!("Hypervisor with ID '{}' could not be found.", truncate(&id, 64)));
    let nodes = ctx.svc.nodes().await?;
    let node = if ctx.v(2, 53) {
        let u = uuid::Uuid::parse_str(&id)
            .map_err(|_| ComputeError::bad_request(format!("Invalid uuid {}", truncate(&id, 64))))?;
        nodes.into_iter().find(|n| n.uuid == u)
    } else {
        id.parse::<i64>().ok().and_then(|n| nodes.into_iter().find(|x| x.id == n))
    }
    .ok_or_else(nf)?;
    let services = services_by_host(&ctx).await?;
    let service = services.get(&node.host).ok_or_else(nf)?;
    let up = uptime_text(&ctx, service)?;
    let mut v = hypervisor_view(&ctx, &node, &services, &[], false).await;
    v["uptime"] = json!(up);
    ok(json!({ "hypervisor": v }))
}

/// Nodes whose hypervisor hostname contains `pattern` (404 when none).
pub(crate) async fn matching_nodes(ctx: &Ctx, pattern: &str) -> Result<Vec<ComputeNode>> {
    let nodes: Vec<ComputeNode> =
        ctx.svc.nodes().await?.into_iter().filter(|n| n.hypervisor_hostname.contains(pattern)).collect();
    if nodes.is_empty() {
        return Err(ComputeError::not_found(format!(
            "No hypervisor matching '{}' could be found.",
            truncate(pattern, 64)
        )));
    }
    Ok(nodes)
}

pub async fn search(ctx: Ctx, Path(pattern): Path<String>) -> ApiResult {
    if ctx.v(2, 53) {
        return Err(gone());
    }
    ctx.authorize_route(None)?;
    let nodes = matching_nodes(&ctx, &pattern).await?;
    let services = services_by_host(&ctx).await?;
    let mut out = Vec::new();
    for n in nodes.iter().filter(|n| services.contains_key(&n.host)) {
        out.push(hypervisor_view(&ctx, n, &services, &[], false).await);
    }
    ok(json!({ "hypervisors": out }))
}

pub async fn servers(ctx: Ctx, Path(pattern): Path<String>) -> ApiResult {
    if ctx.v(2, 53) {
        return Err(gone());
    }
    ctx.authorize_route(None)?;
    let nodes = matching_nodes(&ctx, &pattern).await?;
    let services = services_by_host(&ctx).await?;
    let instances = ctx.svc.instances(&InstanceQuery::default()).await?;
    let mut out = Vec::new();
    for n in nodes.iter().filter(|n| services.contains_key(&n.host)) {
        let mut v = hypervisor_view(&ctx, n, &services, &[], false).await;
        let mine: Vec<Value> = instances
            .iter()
            .filter(|i| !i.deleted && i.node_uuid == Some(n.uuid))
            .map(|i| json!({"name": format!("instance-{:08x}", i.id), "uuid": i.uuid}))
            .collect();
        // Nova leaves the key out for a hypervisor without servers.
        if !mine.is_empty() {
            v["servers"] = json!(mine);
        }
        out.push(v);
    }
    ok(json!({ "hypervisors": out }))
}
