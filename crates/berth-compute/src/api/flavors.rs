//! Flavors, flavor access and flavor extra specs.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::*;
use crate::model::Flavor;

fn flavor_view(ctx: &Ctx, f: &Flavor, detail: bool) -> Value {
    let mut v = json!({"id": f.flavorid, "name": f.name, "links": ctx.links(&format!("flavors/{}", f.flavorid))});
    if ctx.v(2, 55) {
        v["description"] = json!(f.description);
    }
    if detail {
        v["ram"] = json!(f.memory_mb);
        v["disk"] = json!(f.root_gb);
        v["vcpus"] = json!(f.vcpus);
        v["swap"] = if ctx.v(2, 75) || f.swap != 0 { json!(f.swap) } else { json!("") };
        v["OS-FLV-EXT-DATA:ephemeral"] = json!(f.ephemeral_gb);
        v["OS-FLV-DISABLED:disabled"] = json!(f.disabled);
        v["os-flavor-access:is_public"] = json!(f.is_public);
        v["rxtx_factor"] = json!(f.rxtx_factor);
        if ctx.v(2, 61) && ctx.can("os_compute_api:os-flavor-extra-specs:index", None) {
            v["extra_specs"] = json!(f.extra_specs);
        }
    }
    v
}

/// Nova shows private flavors (and honours `is_public=false|none`) for
/// `context.is_admin`, which is its `context_is_admin` rule.
fn sees_private_flavors(ctx: &Ctx) -> bool {
    ctx.can(crate::policy::SEE_PRIVATE_FLAVORS, None)
}

/// The flavor `id` as the caller may see it (private flavors need access).
pub(crate) async fn visible_flavor(ctx: &Ctx, id: &str) -> Result<Flavor> {
    let nf = || ComputeError::not_found(format!("Flavor {} could not be found.", truncate(id, 255)));
    let f = ctx.svc.flavor(id).await?.ok_or_else(nf)?;
    if f.is_public || sees_private_flavors(ctx) {
        return Ok(f);
    }
    if ctx.svc.flavor_projects(&f).await?.iter().any(|p| p == ctx.project()) {
        Ok(f)
    } else {
        Err(nf())
    }
}

async fn listing(ctx: &Ctx, detail: bool) -> ApiResult {
    ctx.authorize_route(None)?;
    let mut flavors = ctx.svc.flavors().await?;
    let admin = sees_private_flavors(ctx);
    // is_public: absent/true -> public (+ accessible private); false ->
    // private only (admin); none/all -> everything (admin).
    let is_public = match ctx.q("is_public").map(|s| s.to_ascii_lowercase()) {
        None => Some(true),
        Some(s) if s == "none" || s == "all" => None,
        Some(s) => Some(
            query_bool(&s)
                .ok_or_else(|| ComputeError::bad_request(format!("Invalid is_public filter [{}]", truncate(&s, 64))))?,
        ),
    };
    let granted = ctx.svc.flavors_granted_to(ctx.project()).await?;
    flavors.retain(|f| {
        let accessible = f.is_public || admin || granted.contains(&f.internal_id);
        accessible
            && match is_public {
                None => admin || f.is_public || granted.contains(&f.internal_id),
                Some(true) => f.is_public || granted.contains(&f.internal_id),
                Some(false) => !f.is_public,
            }
    });
    if let Some(m) = ctx.q("minRam") {
        let m: i64 =
            m.parse().map_err(|_| ComputeError::bad_request(format!("Invalid minRam filter [{}]", truncate(m, 64))))?;
        flavors.retain(|f| f.memory_mb >= m);
    }
    if let Some(m) = ctx.q("minDisk") {
        let m: i64 = m
            .parse()
            .map_err(|_| ComputeError::bad_request(format!("Invalid minDisk filter [{}]", truncate(m, 64))))?;
        flavors.retain(|f| f.root_gb >= m);
    }
    let key = ctx.q("sort_key").unwrap_or("flavorid");
    match key {
        "flavorid" | "id" => flavors.sort_by(|a, b| a.flavorid.cmp(&b.flavorid)),
        "name" => flavors.sort_by(|a, b| a.name.cmp(&b.name)),
        "memory_mb" | "ram" => flavors.sort_by_key(|f| f.memory_mb),
        "vcpus" => flavors.sort_by_key(|f| f.vcpus),
        "root_gb" | "disk" => flavors.sort_by_key(|f| f.root_gb),
        "created_at" => flavors.sort_by_key(|f| f.internal_id),
        other => return Err(ComputeError::bad_request(format!("Invalid sort_key {}", truncate(other, 64)))),
    }
    match ctx.q("sort_dir") {
        None | Some("asc") => {}
        Some("desc") => flavors.reverse(),
        Some(other) => return Err(ComputeError::bad_request(format!("Invalid sort_dir {}", truncate(other, 64)))),
    }
    if let Some(marker) = ctx.q("marker") {
        let pos = flavors
            .iter()
            .position(|f| f.flavorid == marker)
            .ok_or_else(|| ComputeError::bad_request(format!("marker [{}] not found", truncate(marker, 64))))?;
        flavors.drain(..=pos);
    }
    let mut links = None;
    if let Some(l) = ctx.q("limit") {
        let l: usize = l
            .parse::<i64>()
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ComputeError::bad_request("limit param must be an integer"))?;
        if flavors.len() > l {
            flavors.truncate(l);
            if let Some(last) = flavors.last() {
                let path = if detail { "flavors/detail" } else { "flavors" };
                links = Some(
                    json!([{"rel": "next", "href": format!("{}?limit={l}&marker={}", ctx.url(path), last.flavorid)}]),
                );
            }
        }
    }
    let mut body = json!({"flavors": flavors.iter().map(|f| flavor_view(ctx, f, detail)).collect::<Vec<_>>()});
    if let Some(l) = links {
        body["flavors_links"] = l;
    }
    ok(body)
}

pub async fn list(ctx: Ctx) -> ApiResult {
    listing(&ctx, false).await
}

pub async fn detail(ctx: Ctx) -> ApiResult {
    listing(&ctx, true).await
}

pub async fn show(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    let f = visible_flavor(&ctx, &id).await?;
    ok(json!({"flavor": flavor_view(&ctx, &f, true)}))
}

fn flavor_id_value(v: &Value) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => {
            let n = s.chars().count();
            if n == 0 || n > 255 || s.trim() != s || s.chars().any(|c| c.is_control() || c == '/') {
                return Err(invalid("id", format!("'{}' is not a valid flavor id", truncate(s, 64))));
            }
            Ok(Some(s.clone()))
        }
        Value::Number(n) if n.is_u64() => Ok(Some(n.to_string())),
        other => Err(invalid("id", format!("{} is not of type 'string', 'null'", type_name(other)))),
    }
}

pub async fn create(ctx: Ctx, JsonBody(body): JsonBody) -> ApiResult {
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    let f = member(&body, "flavor")?;
    let mut allowed = vec![
        "name",
        "ram",
        "vcpus",
        "disk",
        "id",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
    ];
    if ctx.v(2, 55) {
        allowed.push("description");
    }
    only_keys(f, &allowed)?;
    let req = |k: &str| f.get(k).ok_or_else(|| invalid(k, format!("'{k}' is a required property")));
    let name = name_value("name", req("name")?)?;
    let ram = int_value("ram", req("ram")?, 1, i32::MAX as i64)?;
    let vcpus = int_value("vcpus", req("vcpus")?, 1, i32::MAX as i64)?;
    let disk = int_value("disk", req("disk")?, 0, i32::MAX as i64)?;
    let ephemeral = f
        .get("OS-FLV-EXT-DATA:ephemeral")
        .map(|v| int_value("OS-FLV-EXT-DATA:ephemeral", v, 0, i32::MAX as i64))
        .transpose()?;
    let swap = f.get("swap").map(|v| int_value("swap", v, 0, i32::MAX as i64)).transpose()?;
    let rxtx = match f.get("rxtx_factor") {
        None => 1.0,
        Some(v) => v.as_f64().filter(|x| *x > 0.0 && *x <= 3.4e38).ok_or_else(|| invalid("rxtx_factor", v))?,
    };
    let is_public =
        f.get("os-flavor-access:is_public").map(|v| bool_value("os-flavor-access:is_public", v)).transpose()?;
    let description = f.get("description").map(|v| description_value("description", v, 65535)).transpose()?.flatten();
    let flavorid = match f.get("id") {
        Some(v) => flavor_id_value(v)?,
        None => None,
    }
    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let flavor = Flavor {
        internal_id: 0,
        flavorid,
        name,
        vcpus,
        memory_mb: ram,
        root_gb: disk,
        ephemeral_gb: ephemeral.unwrap_or(0),
        swap: swap.unwrap_or(0),
        rxtx_factor: rxtx,
        is_public: is_public.unwrap_or(true),
        disabled: false,
        description,
        extra_specs: BTreeMap::new(),
    };
    let created = ctx.svc.create_flavor(&flavor).await?;
    ok(json!({"flavor": flavor_view(&ctx, &created, true)}))
}

pub async fn update(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    if !ctx.v(2, 55) {
        return Err(ComputeError::not_found("The resource could not be found."));
    }
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    let f = member(&body, "flavor")?;
    only_keys(f, &["description"])?;
    let desc = f.get("description").ok_or_else(|| invalid("description", "'description' is a required property"))?;
    let desc = description_value("description", desc, 65535)?;
    let flavor = visible_flavor(&ctx, &id).await?;
    ctx.svc.set_flavor_description(&flavor, desc.as_deref()).await?;
    let flavor = visible_flavor(&ctx, &id).await?;
    ok(json!({"flavor": flavor_view(&ctx, &flavor, true)}))
}

pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    let flavor = visible_flavor(&ctx, &id).await?;
    ctx.svc.delete_flavor(&flavor).await?;
    status_only(StatusCode::ACCEPTED)
}

async fn access_body(ctx: &Ctx, f: &Flavor) -> Result<Value> {
    let projects = ctx.svc.flavor_projects(f).await?;
    Ok(
        json!({"flavor_access": projects.iter().map(|p| json!({"flavor_id": f.flavorid, "tenant_id": p})).collect::<Vec<_>>()}),
    )
}

pub async fn access_list(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    ctx.authorize_route(None)?;
    let f = visible_flavor(&ctx, &id).await?;
    if f.is_public {
        return Err(ComputeError::not_found("Access list not available for public flavors."));
    }
    ok(access_body(&ctx, &f).await?)
}

fn tenant_of(v: &Value, action: &str) -> Result<String> {
    let obj = v.as_object().ok_or_else(|| invalid(action, "is not of type 'object'"))?;
    only_keys(obj, &["tenant"])?;
    let t = obj.get("tenant").ok_or_else(|| invalid("tenant", "'tenant' is a required property"))?;
    let s = t.as_str().ok_or_else(|| invalid("tenant", format!("{} is not of type 'string'", type_name(t))))?;
    if s.is_empty() || s.chars().count() > 255 {
        return Err(invalid("tenant", format!("'{}' is not a valid project id", truncate(s, 64))));
    }
    Ok(s.to_string())
}

pub async fn action(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    let body = parse_body(&body)?;
    let obj = body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    if obj.len() != 1 {
        return Err(ComputeError::bad_request("Exactly one action is required."));
    }
    let (name, arg) = obj.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", &Value::Null));
    match name {
        "addTenantAccess" => {
            ctx.authorize_named("os_compute_api:os-flavor-access:add_tenant_access", None)?;
            let tenant = tenant_of(arg, name)?;
            let f = visible_flavor(&ctx, &id).await?;
            if f.is_public {
                return Err(ComputeError::conflict("Can not add access to a public flavor."));
            }
            if !ctx.svc.grant_flavor(&f, &tenant).await? {
                return Err(ComputeError::conflict(format!(
                    "Flavor access already exists for flavor {} and project {tenant} combination.",
                    f.flavorid
                )));
            }
            ok(access_body(&ctx, &f).await?)
        }
        "removeTenantAccess" => {
            ctx.authorize_named("os_compute_api:os-flavor-access:remove_tenant_access", None)?;
            let tenant = tenant_of(arg, name)?;
            let f = visible_flavor(&ctx, &id).await?;
            if !ctx.svc.revoke_flavor(&f, &tenant).await? {
                return Err(ComputeError::not_found(format!(
                    "Flavor access not found for {} / {tenant} combination.",
                    f.flavorid
                )));
            }
            ok(access_body(&ctx, &f).await?)
        }
        other => Err(ComputeError::bad_request(format!("There is no such action: {}", truncate(other, 64)))),
    }
}

/// Validate one extra spec the way Nova's validators (2.86+) do for the
/// namespaces berth's scheduler understands.
fn check_spec(key: &str, value: &Value) -> Result<String> {
    let n = key.chars().count();
    if n == 0 || n > 255 || !key.chars().all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c)) {
        return Err(invalid("extra_specs", format!("'{}' is not a valid extra spec key", truncate(key, 64))));
    }
    let v = match value {
        Value::String(s) => s.clone(),
        Value::Number(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        other => {
            return Err(invalid(key, format!("{} is not of type 'string', 'number', 'boolean'", type_name(other))))
        }
    };
    if v.chars().count() > 255 {
        return Err(invalid(key, "value is longer than 255 characters"));
    }
    let bad = |why: &str| {
        ComputeError::bad_request(format!("Validation failed; extra spec {key}={}: {why}", truncate(&v, 64)))
    };
    if let Some(rc) = key.strip_prefix("resources:") {
        let rc_ok = !rc.is_empty() && rc.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !rc_ok {
            return Err(bad("not a valid resource class"));
        }
        if v.trim().parse::<i64>().ok().filter(|n| *n >= 0).is_none() {
            return Err(bad("the amount must be a non-negative integer"));
        }
    } else if let Some(t) = key.strip_prefix("trait:") {
        let t_ok = !t.is_empty() && t.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !t_ok {
            return Err(bad("not a valid trait name"));
        }
        if v != "required" && v != "forbidden" {
            return Err(bad("must be 'required' or 'forbidden'"));
        }
    } else if key == "hw:cpu_policy" && !matches!(v.as_str(), "shared" | "dedicated" | "mixed") {
        return Err(bad("must be one of shared, dedicated, mixed"));
    } else if key == "hw:cpu_thread_policy" && !matches!(v.as_str(), "prefer" | "isolate" | "require") {
        return Err(bad("must be one of prefer, isolate, require"));
    }
    Ok(v)
}

fn specs_of(obj: &Map<String, Value>) -> Result<BTreeMap<String, String>> {
    obj.iter().map(|(k, v)| Ok((k.clone(), check_spec(k, v)?))).collect()
}

pub async fn specs_index(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let f = visible_flavor(&ctx, &id).await?;
    ctx.authorize_route(None)?;
    ok(json!({"extra_specs": f.extra_specs}))
}

pub async fn specs_create(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    let specs = member(&body, "extra_specs")?;
    let specs = specs_of(specs)?;
    let f = visible_flavor(&ctx, &id).await?;
    ctx.svc.set_extra_specs(&f, &specs).await?;
    ok(json!({"extra_specs": specs}))
}

pub async fn spec_show(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> ApiResult {
    let f = visible_flavor(&ctx, &id).await?;
    ctx.authorize_route(None)?;
    match f.extra_specs.get(&key) {
        Some(v) => ok(json!({ key: v })),
        None => Err(ComputeError::not_found(format!(
            "Flavor {} has no extra specs with key {}.",
            f.flavorid,
            truncate(&key, 255)
        ))),
    }
}

pub async fn spec_update(ctx: Ctx, Path((id, key)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult {
    ctx.authorize_route(None)?;
    let body = parse_body(&body)?;
    let obj = body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    if obj.len() != 1 {
        return Err(ComputeError::bad_request("Request body contains too many items"));
    }
    if !obj.contains_key(&key) {
        return Err(ComputeError::bad_request("Request body and URI mismatch"));
    }
    let specs = specs_of(obj)?;
    let f = visible_flavor(&ctx, &id).await?;
    ctx.svc.set_extra_specs(&f, &specs).await?;
    ok(json!(specs))
}

pub async fn spec_delete(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> ApiResult {
    ctx.authorize_route(None)?;
    let f = visible_flavor(&ctx, &id).await?;
    if !ctx.svc.delete_extra_spec(&f, &key).await? {
        return Err(ComputeError::not_found(format!(
            "Flavor {} has no extra specs with key {}.",
            f.flavorid,
            truncate(&key, 255)
        )));
    }
    status_only(StatusCode::OK)
}
