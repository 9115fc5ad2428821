//! os-services, os-hypervisors and os-availability-zone.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;
use crate::clock::now_us;
use crate::model::InstanceQuery;
use crate::model::{ComputeNode, Instance, Service};
use crate::service::NOVA_COMPUTE;

fn updated(s: &Service) -> Option<i64> {
    match (s.last_seen_up, s.updated_at) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn service_view(ctx: &Ctx, s: &Service) -> Value {
    let up = s.is_up(now_us(), ctx.svc.down_after_ms());
    let mut v = json!({
        "id": if ctx.v(2, 53) { json!(s.uuid) } else { json!(s.id) },
        "binary": s.binary,
        "host": s.host,
        "zone": s.availability_zone,
        "status": if s.disabled { "disabled" } else { "enabled" },
        "state": if up { "up" } else { "down" },
        "updated_at": updated(s).map(berth_time::iso_micros),
        "disabled_reason": s.disabled_reason,
    });
    if ctx.v(2, 11) {
        v["forced_down"] = json!(s.forced_down);
    }
    v
}

pub async fn services_list(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    let mut list = ctx.svc.services().await?;
    if let Some(h) = ctx.q("host") {
        list.retain(|s| s.host == h);
    }
    if let Some(b) = ctx.q("binary") {
        list.retain(|s| s.binary == b);
    }
    ok(json!({"services": list.iter().map(|s| service_view(&ctx, s)).collect::<Vec<_>>()}))
}

/// A service by the id form of the request's microversion.
async fn find_service(ctx: &Ctx, id: &str) -> Result<Service> {
    let list = ctx.svc.services().await?;
    let found = if ctx.v(2, 53) {
        let u =
            Uuid::parse_str(id).map_err(|_| ComputeError::bad_request(format!("Invalid uuid {}", truncate(id, 64))))?;
        list.into_iter().find(|s| s.uuid == u)
    } else {
        let n: i64 =
            id.parse().map_err(|_| ComputeError::bad_request(format!("Invalid service id {}", truncate(id, 64))))?;
        list.into_iter().find(|s| s.id == n)
    };
    found.ok_or_else(|| ComputeError::not_found(format!("Service {} could not be found.", truncate(id, 64))))
}

fn string_field(obj: &serde_json::Map<String, Value>, key: &str, max: usize) -> Result<Option<String>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s.clone())),
        Some(v) => Err(invalid(key, truncate(&v.to_string(), 64))),
    }
}

pub async fn services_update(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    let obj = body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    if !ctx.v(2, 53) {
        return legacy_update(&ctx, &id, obj).await;
    }
    only_keys(obj, &["status", "disabled_reason", "forced_down"])?;
    if obj.is_empty() {
        return Err(ComputeError::bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        ));
    }
    let status = match obj.get("status") {
        None => None,
        Some(Value::String(s)) if s == "enabled" || s == "disabled" => Some(s.clone()),
        Some(v) => return Err(invalid("status", truncate(&v.to_string(), 64))),
    };
    let reason = string_field(obj, "disabled_reason", 255)?;
    let forced = obj.get("forced_down").map(|v| bool_value("forced_down", v)).transpose()?;
    if reason.is_some() && status.as_deref() != Some("disabled") {
        return Err(ComputeError::bad_request("Specifying 'disabled_reason' with status 'enabled' is invalid."));
    }
    if status.is_none() && forced.is_none() {
        return Err(ComputeError::bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        ));
    }
    let mut s = find_service(&ctx, &id).await?;
    if s.binary != NOVA_COMPUTE && forced.is_some() {
        return Err(ComputeError::bad_request("Updating a non nova-compute service is not supported."));
    }
    let was_disabled = s.disabled;
    if let Some(st) = status {
        s.disabled = st == "disabled";
        s.disabled_reason = if s.disabled { reason } else { None };
    }
    if let Some(f) = forced {
        s.forced_down = f;
    }
    ctx.svc.update_service(&s, was_disabled).await?;
    let s = find_service(&ctx, &id).await?;
    ok(json!({"service": service_view(&ctx, &s)}))
}

/// `PUT /os-services/{disable,enable,disable-log-reason,force-down}` with
/// `{"host": ..., "binary": ...}` (before 2.53).
async fn legacy_update(ctx: &Ctx, action: &str, obj: &serde_json::Map<String, Value>) -> ApiResult {
    let keys: &[&str] = match action {
        "enable" | "disable" => &["host", "binary"],
        "disable-log-reason" => &["host", "binary", "disabled_reason"],
        "force-down" if ctx.v(2, 11) => &["host", "binary", "forced_down"],
        _ => return Err(ComputeError::not_found("The resource could not be found.")),
    };
    only_keys(obj, keys)?;
    let host = string_field(obj, "host", 255)?.ok_or_else(|| invalid("host", "'host' is a required property"))?;
    let binary =
        string_field(obj, "binary", 255)?.ok_or_else(|| invalid("binary", "'binary' is a required property"))?;
    let mut s = ctx
        .svc
        .service(&host, &binary)
        .await?
        .ok_or_else(|| ComputeError::not_found(format!("Service {binary} on host {host} could not be found.")))?;
    let was_disabled = s.disabled;
    let mut out = json!({"host": host, "binary": binary});
    match action {
        "enable" => {
            s.disabled = false;
            s.disabled_reason = None;
            out["status"] = json!("enabled");
        }
        "disable" => {
            s.disabled = true;
            out["status"] = json!("disabled");
        }
        "disable-log-reason" => {
            let reason = string_field(obj, "disabled_reason", 255)?
                .ok_or_else(|| ComputeError::bad_request("Missing disabled reason field"))?;
            s.disabled = true;
            s.disabled_reason = Some(reason.clone());
            out["status"] = json!("disabled");
            out["disabled_reason"] = json!(reason);
        }
        _ => {
            let f = bool_value(
                "forced_down",
                obj.get("forced_down").ok_or_else(|| invalid("forced_down", "'forced_down' is a required property"))?,
            )?;
            s.forced_down = f;
            out["forced_down"] = json!(f);
        }
    }
    ctx.svc.update_service(&s, was_disabled).await?;
    ok(json!({"service": out}))
}

pub async fn services_delete(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    let s = find_service(&ctx, &id).await?;
    ctx.svc.delete_service(&s).await?;
    status_only(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ hypervisors

pub(super) struct Usage {
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    pub running: i64,
}

pub(super) async fn usage_of(ctx: &Ctx, n: &ComputeNode, instances: &[Instance]) -> Usage {
    let mine: Vec<&Instance> = instances.iter().filter(|i| i.node_uuid == Some(n.uuid)).collect();
    let running = mine.len() as i64;
    match ctx.svc.node_usages(n).await {
        Ok(u) => Usage {
            vcpus: u.get("VCPU").copied().unwrap_or(0) + u.get("PCPU").copied().unwrap_or(0),
            memory_mb: u.get("MEMORY_MB").copied().unwrap_or(0),
            disk_gb: u.get("DISK_GB").copied().unwrap_or(0),
            running,
        },
        Err(e) => {
            tracing::warn!(provider = %n.uuid, error = %e, "placement usages unavailable; counting instances");
            Usage {
                vcpus: mine.iter().map(|i| i.flavor.vcpus).sum(),
                memory_mb: mine.iter().map(|i| i.flavor.memory_mb).sum(),
                disk_gb: mine.iter().map(|i| i.flavor.root_gb + i.flavor.ephemeral_gb).sum(),
                running,
            }
        }
    }
}

pub(super) async fn hypervisor_view(
    ctx: &Ctx,
    n: &ComputeNode,
    services: &BTreeMap<String, Service>,
    instances: &[Instance],
    detail: bool,
) -> Value {
    let svc = services.get(&n.host);
    let up = svc.is_some_and(|s| s.is_up(now_us(), ctx.svc.down_after_ms()));
    let disabled = svc.is_some_and(|s| s.disabled);
    let mut v = json!({
        "id": if ctx.v(2, 53) { json!(n.uuid) } else { json!(n.id) },
        "hypervisor_hostname": n.hypervisor_hostname,
        "state": if up { "up" } else { "down" },
        "status": if disabled { "disabled" } else { "enabled" },
    });
    if detail {
        v["host_ip"] = json!(n.host_ip);
        v["hypervisor_type"] = json!(n.hypervisor_type);
        v["hypervisor_version"] = json!(n.hypervisor_version);
        v["service"] = json!({
            "host": n.host,
            "id": svc.map(|s| if ctx.v(2, 53) { json!(s.uuid) } else { json!(s.id) }),
            "disabled_reason": svc.and_then(|s| s.disabled_reason.clone()),
        });
        if ctx.v(2, 88) {
            // Null for a host that is down, as Nova.
            v["uptime"] = svc.and_then(|s| super::hosts::uptime_text(ctx, s).ok()).map_or(Value::Null, |u| json!(u));
        } else {
            let u = usage_of(ctx, n, instances).await;
            let cpu_info = json!({"arch": crate::scheduler::HOST_ARCHITECTURE, "model": "fake", "vendor": "berth", "topology": {"sockets": 1, "cores": n.vcpus, "threads": 1}, "features": []});
            v["vcpus"] = json!(n.vcpus);
            v["memory_mb"] = json!(n.memory_mb);
            v["local_gb"] = json!(n.local_gb);
            v["vcpus_used"] = json!(u.vcpus);
            v["memory_mb_used"] = json!(u.memory_mb);
            v["local_gb_used"] = json!(u.disk_gb);
            v["free_ram_mb"] = json!(n.memory_mb - u.memory_mb);
            v["free_disk_gb"] = json!(n.local_gb - u.disk_gb);
            v["current_workload"] = json!(0);
            v["running_vms"] = json!(u.running);
            v["disk_available_least"] = json!(n.local_gb - u.disk_gb);
            v["cpu_info"] = if ctx.v(2, 28) { cpu_info } else { json!(cpu_info.to_string()) };
        }
    }
    if ctx.v(2, 53) && ctx.q("with_servers").and_then(query_bool) == Some(true) {
        let servers: Vec<Value> = instances
            .iter()
            .filter(|i| !i.deleted && i.node_uuid == Some(n.uuid))
            .map(|i| json!({"name": format!("instance-{:08x}", i.id), "uuid": i.uuid}))
            .collect();
        // An empty list only from 2.75; before, no key.
        if !servers.is_empty() || ctx.v(2, 75) {
            v["servers"] = json!(servers);
        }
    }
    v
}

/// `with_servers` (2.53): a strict boolean.
fn with_servers(ctx: &Ctx) -> Result<()> {
    match ctx.q("with_servers") {
        Some(v) if ctx.v(2, 53) && query_bool(v).is_none() => {
            Err(ComputeError::bad_request(format!("Invalid with_servers value: '{}'", truncate(v, 64))))
        }
        _ => Ok(()),
    }
}

async fn hypervisor_listing(ctx: &Ctx, detail: bool) -> ApiResult {
    ctx.authorize_route(None)?;
    with_servers(ctx)?;
    let mut nodes = ctx.svc.nodes().await?;
    if ctx.v(2, 53) {
        if let Some(p) = ctx.q("hypervisor_hostname_pattern") {
            if ctx.q("limit").is_some() || ctx.q("marker").is_some() {
                return Err(ComputeError::bad_request(
                    "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
                ));
            }
            nodes = super::hosts::matching_nodes(ctx, p).await?;
        }
        if let Some(marker) = ctx.q("marker") {
            let pos = nodes
                .iter()
                .position(|n| n.uuid.to_string() == marker)
                .ok_or_else(|| ComputeError::bad_request(format!("marker [{}] not found", truncate(marker, 64))))?;
            nodes.drain(..=pos);
        }
        if let Some(l) = ctx.q("limit") {
            let l: usize = l
                .parse::<i64>()
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| ComputeError::bad_request("limit param must be an integer"))?;
            nodes.truncate(l);
        }
    }
    let services: BTreeMap<String, Service> =
        ctx.svc.services().await?.into_iter().map(|s| (s.host.clone(), s)).collect();
    let instances = ctx.svc.instances(&InstanceQuery::default()).await?;
    let mut out = Vec::new();
    for n in &nodes {
        out.push(hypervisor_view(ctx, n, &services, &instances, detail).await);
    }
    ok(json!({"hypervisors": out}))
}

pub async fn hypervisors_list(ctx: Ctx) -> ApiResult {
    hypervisor_listing(&ctx, false).await
}

pub async fn hypervisors_detail(ctx: Ctx) -> ApiResult {
    hypervisor_listing(&ctx, true).await
}

pub async fn hypervisors_show(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    with_servers(&ctx)?;
    let nf = || ComputeError::not_found(format!("Hypervisor with ID {} could not be found.", truncate(&id, 64)));
    let nodes = ctx.svc.nodes().await?;
    let node = if ctx.v(2, 53) {
        let u = Uuid::parse_str(&id)
            .map_err(|_| ComputeError::bad_request(format!("Invalid uuid {}", truncate(&id, 64))))?;
        nodes.into_iter().find(|n| n.uuid == u)
    } else {
        id.parse::<i64>().ok().and_then(|n| nodes.into_iter().find(|x| x.id == n))
    }
    .ok_or_else(nf)?;
    let services: BTreeMap<String, Service> =
        ctx.svc.services().await?.into_iter().map(|s| (s.host.clone(), s)).collect();
    let instances = ctx.svc.instances(&InstanceQuery::default()).await?;
    ok(json!({"hypervisor": hypervisor_view(&ctx, &node, &services, &instances, true).await}))
}

pub async fn hypervisors_statistics(ctx: Ctx) -> ApiResult {
    if ctx.v(2, 88) {
        return Err(ComputeError::not_found("The resource could not be found."));
    }
    ctx.authorize_route(None)?;
    let nodes = ctx.svc.nodes().await?;
    let instances = ctx.svc.instances(&InstanceQuery::default()).await?;
    let mut t = BTreeMap::<&str, i64>::new();
    for n in &nodes {
        let u = usage_of(&ctx, n, &instances).await;
        *t.entry("vcpus").or_default() += n.vcpus;
        *t.entry("memory_mb").or_default() += n.memory_mb;
        *t.entry("local_gb").or_default() += n.local_gb;
        *t.entry("vcpus_used").or_default() += u.vcpus;
        *t.entry("memory_mb_used").or_default() += u.memory_mb;
        *t.entry("local_gb_used").or_default() += u.disk_gb;
        *t.entry("free_ram_mb").or_default() += n.memory_mb - u.memory_mb;
        *t.entry("free_disk_gb").or_default() += n.local_gb - u.disk_gb;
        *t.entry("disk_available_least").or_default() += n.local_gb - u.disk_gb;
        *t.entry("running_vms").or_default() += u.running;
    }
    let mut v = json!(t);
    v["count"] = json!(nodes.len());
    v["current_workload"] = json!(0);
    ok(json!({"hypervisor_statistics": v}))
}

// ------------------------------------------------------------------ zones

async fn zones(ctx: &Ctx, detail: bool) -> ApiResult {
    let services = ctx.svc.services().await?;
    let now = now_us();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut available: BTreeSet<String> = BTreeSet::new();
    for s in &services {
        names.insert(s.availability_zone.clone());
        if !s.disabled {
            available.insert(s.availability_zone.clone());
        }
    }
    let info: Vec<Value> = names
        .iter()
        .map(|z| {
            let hosts = if detail {
                let mut h = serde_json::Map::new();
                for s in services.iter().filter(|s| &s.availability_zone == z) {
                    h.insert(
                        s.host.clone(),
                        json!({ s.binary.clone(): {
                            "available": s.is_up(now, ctx.svc.down_after_ms()),
                            "active": !s.disabled,
                            "updated_at": updated(s).map(berth_time::iso_micros),
                        }}),
                    );
                }
                Value::Object(h)
            } else {
                Value::Null
            };
            json!({"zoneName": z, "zoneState": {"available": available.contains(z)}, "hosts": hosts})
        })
        .collect();
    ok(json!({"availabilityZoneInfo": info}))
}

pub async fn az_list(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    zones(&ctx, false).await
}

pub async fn az_detail(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    zones(&ctx, true).await
}
