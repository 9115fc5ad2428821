//! `os-simple-tenant-usage` (paging from 2.40), `os-quota-class-sets`,
//! `/extensions` and `os-instance_usage_audit_log`.

use std::collections::BTreeMap;

use axum::extract::Path;
use serde_json::{json, Map, Value};

use super::extension_list::EXTENSIONS;
use super::*;
use crate::clock::now_us;
use crate::model::Instance;
use crate::service::NOVA_COMPUTE;

// ------------------------------------------------------------------ usage

/// `start`/`end` as Nova reads them: absent or empty is now (`now`).
fn period_time(v: Option<&str>, now: i64) -> Result<i64> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(now),
        Some(s) => berth_time::parse_iso8601(s)
            .map_err(|_| ComputeError::bad_request("Invalid datetime string: Datetime is in invalid format")),
    }
}

struct Period {
    start: i64,
    stop: i64,
    detailed: bool,
    limit: Option<usize>,
    marker: Option<String>,
}

fn period(ctx: &Ctx) -> Result<Period> {
    // Nova reads the clock once for each absent bound, start first, so
    // with neither given the period is the instant between the two reads;
    // one read here, and the end a microsecond later (two reads can fall
    // on the same microsecond, which Nova's check would refuse).
    let now = now_us();
    let start = period_time(ctx.q("start"), now)?;
    let stop = period_time(ctx.q("end"), now + 1)?;
    if start >= stop {
        return Err(ComputeError::bad_request("Invalid start time. The start time cannot occur after the end time."));
    }
    let (mut limit, mut marker) = (None, None);
    if ctx.v(2, 40) {
        if let Some(l) = ctx.q("limit") {
            limit = Some(
                l.parse::<u64>()
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| ComputeError::bad_request("limit param must be an integer"))?,
            );
        }
        marker = ctx.q("marker").map(str::to_string);
    }
    Ok(Period { start, stop: stop.min(now_us()), detailed: ctx.q("detailed") == Some("1"), limit, marker })
}

fn hours_for(i: &Instance, start: i64, stop: i64) -> f64 {
    let Some(launched) = i.launched_at else { return 0.0 };
    if i.terminated_at.is_some_and(|t| t < start) || launched > stop {
        return 0.0;
    }
    let from = launched.max(start);
    let to = i.terminated_at.map_or(stop, |t| t.min(stop));
    (to - from) as f64 / 3_600_000_000.0
}

fn server_usage(i: &Instance, p: &Period) -> Value {
    let state = if i.terminated_at.is_some() { "terminated".to_string() } else { i.vm_state.to_string() };
    let uptime = match (i.launched_at, i.terminated_at) {
        (Some(l), Some(t)) => (t - l) / 1_000_000,
        (Some(l), None) => (now_us() - l) / 1_000_000,
        _ => 0,
    };
    json!({
        "hours": hours_for(i, p.start, p.stop),
        "flavor": i.flavor.name,
        "instance_id": i.uuid,
        "name": i.display_name,
        "tenant_id": i.project_id,
        "memory_mb": i.flavor.memory_mb,
        "local_gb": i.flavor.root_gb + i.flavor.ephemeral_gb,
        "vcpus": i.flavor.vcpus,
        "started_at": i.launched_at.map(berth_time::iso_micros),
        "ended_at": i.terminated_at.map(berth_time::iso_micros),
        "state": state,
        "uptime": uptime,
    })
}

/// Usage summaries by project (in order of first instance) and the server
/// usages they were built from.
async fn usages(ctx: &Ctx, p: &Period, project: Option<&str>, detailed: bool) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut list = ctx.svc.instances_active_between(project, p.start, p.stop).await?;
    if let Some(m) = &p.marker {
        let pos = list
            .iter()
            .position(|i| i.uuid.to_string() == *m)
            .ok_or_else(|| ComputeError::bad_request(format!("marker [{}] not found", truncate(m, 64))))?;
        list.drain(..=pos);
    }
    list.truncate(p.limit.unwrap_or(1000));
    let mut order: Vec<String> = Vec::new();
    let mut by_project: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut all = Vec::new();
    for i in &list {
        let u = server_usage(i, p);
        let h = u["hours"].as_f64().unwrap_or(0.0);
        let s = by_project.entry(i.project_id.clone()).or_insert_with(|| {
            order.push(i.project_id.clone());
            let mut m = Map::new();
            m.insert("tenant_id".into(), json!(i.project_id));
            if detailed {
                m.insert("server_usages".into(), json!([]));
            }
            for k in ["total_local_gb_usage", "total_vcpus_usage", "total_memory_mb_usage", "total_hours"] {
                m.insert(k.into(), json!(0.0));
            }
            m.insert("start".into(), json!(berth_time::iso_micros(p.start)));
            m.insert("stop".into(), json!(berth_time::iso_micros(p.stop)));
            m
        });
        let mut add = |k: &str, x: f64| {
            let cur = s.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            s.insert(k.into(), json!(cur + x));
        };
        add("total_local_gb_usage", (i.flavor.root_gb + i.flavor.ephemeral_gb) as f64 * h);
        add("total_vcpus_usage", i.flavor.vcpus as f64 * h);
        add("total_memory_mb_usage", i.flavor.memory_mb as f64 * h);
        add("total_hours", h);
        if let Some(Value::Array(a)) = s.get_mut("server_usages") {
            a.push(u.clone());
        }
        all.push(u);
    }
    let summaries = order.iter().filter_map(|p| by_project.remove(p)).map(Value::Object).collect();
    Ok((summaries, all))
}

/// The `next` link when a page is full (2.40).
fn next_link(ctx: &Ctx, p: &Period, tail: &str, servers: &[Value]) -> Option<Value> {
    let limit = p.limit.unwrap_or(1000);
    if !ctx.v(2, 40) || servers.len() < limit || servers.is_empty() {
        return None;
    }
    let last = servers.last()?["instance_id"].as_str()?.to_string();
    let mut q: Vec<(String, String)> = ctx.query.iter().filter(|(k, _)| k != "marker").cloned().collect();
    q.push(("marker".into(), last));
    let qs = serde_urlencoded::to_string(&q).ok()?;
    Some(json!([{"href": format!("{}?{qs}", ctx.url(tail)), "rel": "next"}]))
}

pub async fn usage_list(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    let p = period(&ctx)?;
    let (summaries, servers) = usages(&ctx, &p, None, p.detailed).await?;
    let mut out = json!({ "tenant_usages": summaries });
    if let Some(l) = next_link(&ctx, &p, "os-simple-tenant-usage", &servers) {
        out["tenant_usages_links"] = l;
    }
    ok(out)
}

pub async fn usage_show(ctx: Ctx, Path(project): Path<String>) -> ApiResult {
    ctx.authorize_route(Some(&project))?;
    let p = period(&ctx)?;
    let (summaries, servers) = usages(&ctx, &p, Some(&project), true).await?;
    let mut out = json!({"tenant_usage": summaries.into_iter().next().unwrap_or_else(|| json!({}))});
    if let Some(l) = next_link(&ctx, &p, &format!("os-simple-tenant-usage/{project}"), &servers) {
        out["tenant_usage_links"] = l;
    }
    ok(out)
}

// ------------------------------------------------------------------ quota classes

/// The resources a quota class shows at the request's microversion, with
/// the fixed values of the ones berth does not enforce.
fn class_fields(ctx: &Ctx, limits: &BTreeMap<String, i64>) -> Map<String, Value> {
    let mut m = Map::new();
    for k in ["cores", "instances", "ram", "key_pairs", "metadata_items"] {
        m.insert(k.into(), json!(limits.get(k).copied().unwrap_or(-1)));
    }
    if ctx.v(2, 50) {
        for k in ["server_groups", "server_group_members"] {
            m.insert(k.into(), json!(limits.get(k).copied().unwrap_or(-1)));
        }
    } else {
        for (k, v) in [("fixed_ips", -1), ("floating_ips", 10), ("security_group_rules", 20), ("security_groups", 10)] {
            m.insert(k.into(), json!(v));
        }
    }
    if !ctx.v(2, 57) {
        for (k, v) in [("injected_file_content_bytes", 10240), ("injected_file_path_bytes", 255), ("injected_files", 5)]
        {
            m.insert(k.into(), json!(v));
        }
    }
    m
}

fn class_name(id: &str) -> Result<()> {
    let n = id.chars().count();
    if n == 0 || n > 255 || id.chars().any(char::is_control) {
        return Err(ComputeError::bad_request(
            "Invalid input received: quota_class_name has a length or characters that are not allowed",
        ));
    }
    Ok(())
}

pub async fn quota_class_show(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    class_name(&id)?;
    let mut m = class_fields(&ctx, &ctx.svc.quota_class(&id).await?);
    m.insert("id".into(), json!(id));
    ok(json!({ "quota_class_set": m }))
}

pub async fn quota_class_update(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    ctx.authorize_route(None)?;
    class_name(&id)?;
    let body = parse_body(&body)?;
    only_keys(
        body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?,
        &["quota_class_set"],
    )?;
    let q = member(&body, "quota_class_set")?;
    let enforced =
        ["cores", "instances", "ram", "key_pairs", "metadata_items", "server_groups", "server_group_members"];
    let mut allowed: Vec<&str> = enforced[..5].to_vec();
    if ctx.v(2, 50) {
        allowed.extend(["server_groups", "server_group_members"]);
    } else {
        allowed.extend(["fixed_ips", "floating_ips", "security_group_rules", "security_groups", "networks"]);
    }
    if !ctx.v(2, 57) {
        allowed.extend(["injected_file_content_bytes", "injected_file_path_bytes", "injected_files"]);
    }
    only_keys(q, &allowed)?;
    let mut new = BTreeMap::new();
    for (k, v) in q {
        let n = int_value(k, v, -1, i64::from(i32::MAX))?;
        if enforced.contains(&k.as_str()) {
            new.insert(k.clone(), n);
        }
    }
    ctx.svc.set_quota_class(&id, &new).await?;
    ok(json!({"quota_class_set": class_fields(&ctx, &ctx.svc.quota_class(&id).await?)}))
}

// ------------------------------------------------------------------ extensions

fn extension(alias: &str, name: &str, description: &str) -> Value {
    json!({
        "alias": alias,
        "description": description,
        "links": [],
        "name": name,
        "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
        "updated": "2014-12-03T00:00:00Z",
    })
}

pub async fn extensions_list(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    ok(json!({"extensions": EXTENSIONS.iter().map(|(a, n, d)| extension(a, n, d)).collect::<Vec<_>>()}))
}

pub async fn extensions_show(ctx: Ctx, Path(alias): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    let (a, n, d) = EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .ok_or_else(|| ComputeError::not_found("The resource could not be found."))?;
    ok(json!({ "extension": extension(a, n, d) }))
}

// ------------------------------------------------------------------ audit log

/// The first instant of the month holding `us`, and of the month before.
fn month_bounds(us: i64) -> Result<(i64, i64)> {
    let iso = berth_time::iso_micros(us);
    let (y, m): (i64, i64) = (
        iso.get(0..4).and_then(|s| s.parse().ok()).unwrap_or(1970),
        iso.get(5..7).and_then(|s| s.parse().ok()).unwrap_or(1),
    );
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let at = |y: i64, m: i64| {
        berth_time::parse_iso8601(&format!("{y:04}-{m:02}-01"))
            .map_err(|e| ComputeError::internal(format!("audit period: {e}")))
    };
    Ok((at(py, pm)?, at(y, m)?))
}

/// Python's `str(datetime)` of a whole second.
fn py_datetime(us: i64) -> String {
    berth_time::iso_micros(us).get(0..19).unwrap_or_default().replace('T', " ")
}

/// The audit of the last completed month before `before`. berth runs no
/// instance usage audit task, so every compute host is "not run".
async fn audit_log(ctx: &Ctx, before: i64) -> Result<Value> {
    let (begin, end) = month_bounds(before)?;
    let mut hosts: Vec<String> =
        ctx.svc.services().await?.into_iter().filter(|s| s.binary == NOVA_COMPUTE).map(|s| s.host).collect();
    hosts.sort();
    hosts.dedup();
    let n = hosts.len();
    let status =
        if n == 0 { "ALL hosts done. 0 errors.".to_string() } else { format!("0 of {n} hosts done. 0 errors.") };
    Ok(json!({
        "period_beginning": py_datetime(begin),
        "period_ending": py_datetime(end),
        "num_hosts": n,
        "num_hosts_done": 0,
        "num_hosts_running": 0,
        "num_hosts_not_run": n,
        "hosts_not_run": hosts,
        "total_instances": 0,
        "total_errors": 0,
        "overall_status": status,
        "log": {},
    }))
}

pub async fn audit_list(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    ok(json!({"instance_usage_audit_logs": audit_log(&ctx, now_us()).await?}))
}

pub async fn audit_show(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    let bad = || ComputeError::bad_request(format!("Invalid timestamp for date {}", truncate(&id, 64)));
    // "%Y-%m-%d %H:%M:%S" with optional ".%f", as Nova parses it.
    let shape_ok = id.len() >= 19 && id.as_bytes().get(10) == Some(&b' ');
    if !shape_ok {
        return Err(bad());
    }
    let before = berth_time::parse_iso8601(&id).map_err(|_| bad())?;
    ok(json!({"instance_usage_audit_log": audit_log(&ctx, before).await?}))
}
