//! Limits and quota sets (usage counted from Placement).

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{json, Value};

use super::*;

/// Quota resources shown at the request's microversion, with the fixed
/// values of the ones berth does not enforce.
fn shown(ctx: &Ctx, limits: &BTreeMap<String, i64>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for k in ["cores", "instances", "ram", "key_pairs", "metadata_items", "server_groups", "server_group_members"] {
        m.insert(k.into(), json!(limits.get(k).copied().unwrap_or(-1)));
    }
    if !ctx.v(2, 36) {
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

pub async fn limits(ctx: Ctx) -> ApiResult {
    ctx.authorize_route(None)?;
    if let Some(p) = ctx.q("tenant_id") {
        check_project(p)?;
    }
    let project = match ctx.q("tenant_id") {
        // Limits are a project's: a token without one (unscoped) has none
        // to show.
        None if ctx.project().is_empty() => {
            return Err(ComputeError::forbidden("A project-scoped token is required to show limits."))
        }
        Some(p) if p != ctx.project() => {
            ctx.authorize("os_compute_api:limits:other_project", Some(p))?;
            p.to_string()
        }
        _ => ctx.project().to_string(),
    };
    let l = ctx.svc.quota_limits(&project).await?;
    let u = ctx.svc.quota_usage(&project).await?;
    let g = |k: &str| l.get(k).copied().unwrap_or(-1);
    let mut abs = json!({
        "maxTotalInstances": g("instances"),
        "maxTotalCores": g("cores"),
        "maxTotalRAMSize": g("ram"),
        "maxServerMeta": g("metadata_items"),
        "maxTotalKeypairs": g("key_pairs"),
        "maxServerGroups": g("server_groups"),
        "maxServerGroupMembers": g("server_group_members"),
        "totalInstancesUsed": u.get("instances").copied().unwrap_or(0),
        "totalCoresUsed": u.get("cores").copied().unwrap_or(0),
        "totalRAMUsed": u.get("ram").copied().unwrap_or(0),
        "totalServerGroupsUsed": u.get("server_groups").copied().unwrap_or(0),
    });
    if !ctx.v(2, 39) {
        abs["maxImageMeta"] = json!(128);
    }
    if !ctx.v(2, 57) {
        abs["maxPersonality"] = json!(5);
        abs["maxPersonalitySize"] = json!(10240);
    }
    if !ctx.v(2, 36) {
        for k in ["maxSecurityGroups", "maxSecurityGroupRules", "maxTotalFloatingIps"] {
            abs[k] = json!(-1);
        }
        for k in ["totalSecurityGroupsUsed", "totalFloatingIpsUsed"] {
            abs[k] = json!(0);
        }
    }
    ok(json!({"limits": {"rate": [], "absolute": abs}}))
}

fn check_project(id: &str) -> Result<()> {
    if id.is_empty() || id.chars().count() > 255 || id.chars().any(char::is_control) {
        return Err(ComputeError::bad_request("Invalid project id"));
    }
    Ok(())
}

pub async fn quota_defaults(ctx: Ctx, Path(project): Path<String>) -> ApiResult {
    check_project(&project)?;
    ctx.authorize_route(None)?;
    let mut m = shown(&ctx, &ctx.svc.quota_class("default").await?);
    m.insert("id".into(), json!(project));
    ok(json!({"quota_set": m}))
}

pub async fn quota_show(ctx: Ctx, Path(project): Path<String>) -> ApiResult {
    check_project(&project)?;
    ctx.authorize_route(Some(&project))?;
    let limits = ctx.svc.quota_limits(&project).await?;
    let mut m = shown(&ctx, &limits);
    m.insert("id".into(), json!(project));
    ok(json!({"quota_set": m}))
}

pub async fn quota_detail(ctx: Ctx, Path(project): Path<String>) -> ApiResult {
    check_project(&project)?;
    ctx.authorize_route(Some(&project))?;
    let limits = ctx.svc.quota_limits(&project).await?;
    let usage = ctx.svc.quota_usage(&project).await?;
    let mut m = serde_json::Map::new();
    for (k, v) in shown(&ctx, &limits) {
        m.insert(k.clone(), json!({"limit": v, "in_use": usage.get(&k).copied().unwrap_or(0), "reserved": 0}));
    }
    m.insert("id".into(), json!(project));
    ok(json!({"quota_set": m}))
}

pub async fn quota_update(ctx: Ctx, Path(project): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    check_project(&project)?;
    ctx.authorize_route(Some(&project))?;
    let body = parse_body(&body)?;
    let q = member(&body, "quota_set")?;
    let mut allowed = vec![
        "cores",
        "instances",
        "ram",
        "key_pairs",
        "metadata_items",
        "server_groups",
        "server_group_members",
        "force",
    ];
    if !ctx.v(2, 36) {
        allowed.extend(["fixed_ips", "floating_ips", "security_group_rules", "security_groups", "networks"]);
    }
    if !ctx.v(2, 57) {
        allowed.extend(["injected_file_content_bytes", "injected_file_path_bytes", "injected_files"]);
    }
    only_keys(q, &allowed)?;
    let force = q.get("force").map(|v| bool_value("force", v)).transpose()?.unwrap_or(false);
    let usage = ctx.svc.quota_usage(&project).await?;
    let mut new = BTreeMap::new();
    for (k, v) in q {
        if k == "force" {
            continue;
        }
        let n = int_value(k, v, -1, i32::MAX as i64)?;
        let used = usage.get(k).copied().unwrap_or(0);
        if !force && n >= 0 && n < used {
            return Err(ComputeError::bad_request(format!(
                "Quota limit {n} for {k} must be greater than or equal to already used and reserved {used}."
            )));
        }
        if matches!(
            k.as_str(),
            "cores" | "instances" | "ram" | "key_pairs" | "metadata_items" | "server_groups" | "server_group_members"
        ) {
            new.insert(k.clone(), n);
        }
    }
    ctx.svc.set_quotas(&project, &new).await?;
    let limits = ctx.svc.quota_limits(&project).await?;
    ok(json!({"quota_set": shown(&ctx, &limits)}))
}

pub async fn quota_delete(ctx: Ctx, Path(project): Path<String>) -> ApiResult {
    check_project(&project)?;
    ctx.authorize_route(Some(&project))?;
    ctx.svc.delete_quotas(&project).await?;
    status_only(StatusCode::ACCEPTED)
}
