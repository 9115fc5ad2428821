//! Servers: create, list/detail with filters, show, update, delete,
//! actions (start, stop, reboot, forceDelete) and metadata.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use sha2::{Digest, Sha224};
use uuid::Uuid;

use super::flavors::visible_flavor;
use super::*;
use crate::clock::now_us;
use crate::lifecycle;
use crate::model::*;
use crate::scheduler::RequestSpec;
use crate::service::split_az;

/// Nova shows the details of a 500 fault for `context.is_admin`, which is
/// its `context_is_admin` rule.
fn sees_fault_details(ctx: &Ctx, i: &Instance) -> bool {
    ctx.can(crate::policy::SEE_FAULT_DETAILS, Some(&i.project_id))
}

/// Services by host, for `host_status`.
async fn services_by_host(ctx: &Ctx) -> Result<std::sync::Arc<BTreeMap<String, Service>>> {
    // The scheduler's host-state view (cached; current within seconds).
    ctx.svc.compute_services().await
}

fn host_status(ctx: &Ctx, services: &BTreeMap<String, Service>, host: Option<&str>) -> &'static str {
    let Some(h) = host else { return "" };
    match services.get(h) {
        None => "UNKNOWN",
        Some(s) if !s.is_up(now_us(), ctx.svc.down_after_ms()) => "DOWN",
        Some(s) if s.disabled => "MAINTENANCE",
        Some(_) => "UP",
    }
}

fn host_id(project: &str, host: Option<&str>) -> String {
    match host {
        Some(h) => {
            let mut d = Sha224::new();
            d.update(project.as_bytes());
            d.update(h.as_bytes());
            d.finalize().iter().map(|b| format!("{b:02x}")).collect()
        }
        None => String::new(),
    }
}

fn brief(ctx: &Ctx, i: &Instance) -> Value {
    json!({"id": i.uuid, "name": i.display_name, "links": ctx.links(&format!("servers/{}", i.uuid))})
}

/// The tags a server view shows (2.26 on): one query for a whole list.
async fn view_tags(ctx: &Ctx, list: &[&Instance]) -> Result<BTreeMap<Uuid, Vec<String>>> {
    if !ctx.v(2, 26) {
        return Ok(BTreeMap::new());
    }
    let uuids: Vec<Uuid> = list.iter().map(|i| i.uuid).collect();
    ctx.svc.tags_of(&uuids).await
}

/// Which answer a server view is for. Nova's view builder shows every
/// field in `GET /servers/{id}` and `/servers/detail`, but before 2.75 the
/// answers of `PUT /servers/{id}` and of rebuild leave out the zone,
/// config drive, key name (rebuild shows it from 2.54), usage times,
/// extended status, volumes, extended attributes and host status; from
/// 2.75 they show everything but the extended `user_data` (rebuild answers
/// `user_data` on its own from 2.57).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ViewFor {
    Show,
    Detail,
    Update,
    Rebuild,
}

impl ViewFor {
    /// Everything `GET` shows (the switches Nova's `show()` turns off for
    /// the pre-2.75 update and rebuild answers).
    fn everything(self, ctx: &Ctx) -> bool {
        matches!(self, ViewFor::Show | ViewFor::Detail) || ctx.v(2, 75)
    }
}

/// Nova's `host_status` policies: `show:host_status` shows any status,
/// `show:host_status:unknown-only` only UNKNOWN; neither, none.
fn shown_host_status(ctx: &Ctx, project: &str, status: &'static str) -> Option<&'static str> {
    let any = ctx.can("os_compute_api:servers:show:host_status", Some(project));
    let unknown_only =
        status == "UNKNOWN" && ctx.can("os_compute_api:servers:show:host_status:unknown-only", Some(project));
    (any || unknown_only).then_some(status)
}

/// The statuses whose views carry `progress` (Nova's list).
const PROGRESS_STATUSES: &[&str] = &["ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"];

pub(crate) async fn view(
    ctx: &Ctx,
    i: &Instance,
    services: &BTreeMap<String, Service>,
    tags: &BTreeMap<Uuid, Vec<String>>,
    kind: ViewFor,
) -> Result<Value> {
    let all = kind.everything(ctx);
    let status = lifecycle::status(i.vm_state, i.task_state).as_str();
    let mut v = brief(ctx, i);
    let o = v.as_object_mut().ok_or_else(|| ComputeError::internal("view"))?;
    let mut set = |k: &str, val: Value| {
        o.insert(k.to_string(), val);
    };
    set("status", json!(status));
    set("tenant_id", json!(i.project_id));
    set("user_id", json!(i.user_id));
    set("metadata", json!(i.metadata));
    set("hostId", json!(host_id(&i.project_id, i.host.as_deref())));
    set(
        "image",
        if i.image_ref.is_empty() {
            json!("")
        } else {
            json!({"id": i.image_ref, "links": [{"rel": "bookmark", "href": ctx.bookmark(&format!("images/{}", i.image_ref))}]})
        },
    );
    let f = &i.flavor;
    set(
        "flavor",
        if ctx.v(2, 47) {
            let mut fv = json!({"vcpus": f.vcpus, "ram": f.memory_mb, "disk": f.root_gb, "ephemeral": f.ephemeral_gb, "swap": f.swap, "original_name": f.name});
            if ctx.can("os_compute_api:os-flavor-extra-specs:index", Some(&i.project_id)) {
                fv["extra_specs"] = json!(f.extra_specs);
            }
            fv
        } else {
            json!({"id": f.flavorid, "links": [{"rel": "bookmark", "href": ctx.bookmark(&format!("flavors/{}", f.flavorid))}]})
        },
    );
    set("created", json!(berth_time::iso_seconds_z(i.created_at)));
    set("updated", json!(berth_time::iso_seconds_z(i.updated_at.unwrap_or(i.created_at))));
    set("addresses", json!({}));
    set("accessIPv4", json!(i.access_ip_v4.clone().unwrap_or_default()));
    set("accessIPv6", json!(i.access_ip_v6.clone().unwrap_or_default()));
    set("OS-DCF:diskConfig", json!("MANUAL"));
    if PROGRESS_STATUSES.contains(&status) {
        set("progress", json!(if matches!(status, "ACTIVE" | "VERIFY_RESIZE") { 100 } else { 0 }));
    }
    if all {
        set("OS-EXT-AZ:availability_zone", json!(i.availability_zone.clone().unwrap_or_default()));
        set("config_drive", json!(""));
    }
    if all || (kind == ViewFor::Rebuild && ctx.v(2, 54)) {
        set("key_name", json!(i.key_name));
    }
    if all {
        set("OS-SRV-USG:launched_at", json!(i.launched_at.map(berth_time::iso_micros)));
        set("OS-SRV-USG:terminated_at", json!(i.terminated_at.map(berth_time::iso_micros)));
        set("OS-EXT-STS:task_state", json!(i.task_state));
        set("OS-EXT-STS:vm_state", json!(i.vm_state));
        set("OS-EXT-STS:power_state", json!(i.power_state));
        set("os-extended-volumes:volumes_attached", json!([]));
    }
    let extended = all && ctx.can("os_compute_api:os-extended-server-attributes", Some(&i.project_id));
    if extended {
        set("OS-EXT-SRV-ATTR:host", json!(i.host));
        set("OS-EXT-SRV-ATTR:hypervisor_hostname", json!(i.node));
        set("OS-EXT-SRV-ATTR:instance_name", json!(format!("instance-{:08x}", i.id)));
        if ctx.v(2, 3) {
            set("OS-EXT-SRV-ATTR:reservation_id", json!(i.reservation_id));
            set("OS-EXT-SRV-ATTR:launch_index", json!(i.launch_index));
            set("OS-EXT-SRV-ATTR:hostname", json!(i.hostname));
            set("OS-EXT-SRV-ATTR:kernel_id", json!(""));
            set("OS-EXT-SRV-ATTR:ramdisk_id", json!(""));
            set("OS-EXT-SRV-ATTR:root_device_name", json!(i.launched_at.map(|_| "/dev/vda")));
            if kind != ViewFor::Rebuild {
                set("OS-EXT-SRV-ATTR:user_data", json!(i.user_data));
            }
        }
    } else if ctx.v(2, 90) {
        set("OS-EXT-SRV-ATTR:hostname", json!(i.hostname));
    }
    if ctx.v(2, 9) {
        set("locked", json!(i.locked));
    }
    if ctx.v(2, 73) {
        set("locked_reason", json!(i.locked_reason));
    }
    if ctx.v(2, 16) && all {
        let hs = host_status(ctx, services, i.host.as_deref());
        if let Some(hs) = shown_host_status(ctx, &i.project_id, hs) {
            set("host_status", json!(hs));
        }
    }
    if ctx.v(2, 19) {
        set("description", json!(i.description));
    }
    if ctx.v(2, 26) {
        set("tags", json!(tags.get(&i.uuid).cloned().unwrap_or_default()));
    }
    if ctx.v(2, 63) {
        set("trusted_image_certificates", Value::Null);
    }
    if ctx.v(2, 96) && all {
        set("pinned_availability_zone", json!(i.requested_az.as_deref().and_then(|r| split_az(r).0)));
    }
    if matches!(status, "ERROR" | "DELETED") {
        if let Some(fault) = ctx.svc.latest_fault(i.uuid).await? {
            let mut fv = json!({"code": fault.code, "created": berth_time::iso_seconds_z(fault.created_at), "message": fault.message});
            if !fault.details.is_empty() && (fault.code != 500 || sees_fault_details(ctx, i)) {
                fv["details"] = json!(fault.details);
            }
            set("fault", fv);
        }
    }
    Ok(v)
}

/// One server's whole view (tags and, from 2.71, its server groups):
/// show, update and rebuild answer with it.
pub(crate) async fn full_view(ctx: &Ctx, i: &Instance, kind: ViewFor) -> Result<Value> {
    let services = services_by_host(ctx).await?;
    let tags = view_tags(ctx, &[i]).await?;
    let mut v = view(ctx, i, &services, &tags, kind).await?;
    if ctx.v(2, 71) {
        v["server_groups"] = super::server_groups::of_server(ctx, i.uuid).await?;
    }
    Ok(v)
}

/// A live instance the caller may act on with `rule`.
pub(crate) async fn instance_for(ctx: &Ctx, id: &str, rule: &str) -> Result<Instance> {
    let nf = || ComputeError::not_found(format!("Instance {} could not be found.", truncate(id, 64)));
    let uuid = Uuid::parse_str(id).map_err(|_| nf())?;
    let i = ctx.svc.instance(uuid).await?.filter(|i| !i.deleted).ok_or_else(nf)?;
    if i.project_id != ctx.project() && !ctx.can(rule, Some(&i.project_id)) {
        // Other projects' servers do not exist for the caller.
        return Err(nf());
    }
    ctx.authorize_named(rule, Some(&i.project_id))?;
    Ok(i)
}

// ------------------------------------------------------------------ list

async fn listing(ctx: &Ctx, detail: bool) -> ApiResult {
    let (rule, all_rule) = if detail {
        ("os_compute_api:servers:detail", "os_compute_api:servers:detail:get_all_tenants")
    } else {
        ("os_compute_api:servers:index", "os_compute_api:servers:index:get_all_tenants")
    };
    ctx.authorize_named(rule, None)?;
    let admin_filters = ctx.can("os_compute_api:servers:allow_all_filters", None);
    let all_tenants = match ctx.q("all_tenants") {
        None => false,
        Some("") => true,
        Some(v) => query_bool(v)
            .ok_or_else(|| ComputeError::bad_request(format!("Invalid all_tenants value: {}", truncate(v, 64))))?,
    };
    if all_tenants {
        ctx.authorize(all_rule, None)?;
    }
    let project_filter = ctx.q("project_id").or_else(|| ctx.q("tenant_id")).map(str::to_string);
    // As Nova: `tenant_id` / `project_id` narrow an `all_tenants` listing
    // (for callers allowed every filter); without `all_tenants` a listing
    // is the caller's project, whatever they say.
    let project = if all_tenants {
        if admin_filters {
            project_filter
        } else {
            None
        }
    } else {
        Some(ctx.project().to_string())
    };
    let changes_since = ctx
        .q("changes-since")
        .map(|s| {
            berth_time::parse_iso8601(s)
                .map_err(|_| ComputeError::bad_request(format!("Invalid changes-since value: {}", truncate(s, 64))))
        })
        .transpose()?;
    let changes_before = if ctx.v(2, 66) {
        ctx.q("changes-before")
            .map(|s| {
                berth_time::parse_iso8601(s).map_err(|_| {
                    ComputeError::bad_request(format!("Invalid changes-before value: {}", truncate(s, 64)))
                })
            })
            .transpose()?
    } else {
        None
    };
    let deleted = match ctx.q("deleted") {
        Some(v) if admin_filters => query_bool(v).unwrap_or(false),
        _ => false,
    };
    let host = if admin_filters { ctx.q("host").map(str::to_string) } else { None };
    let q = crate::model::InstanceQuery {
        project_id: project,
        host,
        include_deleted: deleted || changes_since.is_some() || changes_before.is_some(),
    };
    let mut list = ctx.svc.instances(&q).await?;
    if deleted {
        list.retain(|i| i.deleted);
    }
    if let Some(t) = changes_since {
        list.retain(|i| i.updated_at.unwrap_or(i.created_at) >= t);
    }
    if let Some(t) = changes_before {
        list.retain(|i| i.updated_at.unwrap_or(i.created_at) <= t);
    }
    if let Some(name) = ctx.q("name") {
        // A regular expression, searched case-insensitively (Nova's REGEXP
        // on MySQL); one that does not compile matches as plain text.
        match regex::RegexBuilder::new(name).case_insensitive(true).size_limit(1 << 20).build() {
            Ok(re) => list.retain(|i| re.is_match(&i.display_name)),
            Err(_) => {
                let needle = name.to_lowercase();
                list.retain(|i| i.display_name.to_lowercase().contains(&needle));
            }
        }
    }
    if ctx.v(2, 26) {
        let wanted = |key: &str| -> Option<Vec<String>> {
            ctx.q(key).map(|v| v.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect())
        };
        let (all, any, not_all, not_any) =
            (wanted("tags"), wanted("tags-any"), wanted("not-tags"), wanted("not-tags-any"));
        if all.is_some() || any.is_some() || not_all.is_some() || not_any.is_some() {
            let uuids: Vec<Uuid> = list.iter().map(|i| i.uuid).collect();
            let tags = ctx.svc.tags_of(&uuids).await?;
            list.retain(|i| {
                let has = tags.get(&i.uuid).map(Vec::as_slice).unwrap_or_default();
                all.as_ref().is_none_or(|w| w.iter().all(|t| has.contains(t)))
                    && any.as_ref().is_none_or(|w| w.iter().any(|t| has.contains(t)))
                    && not_all.as_ref().is_none_or(|w| !w.iter().all(|t| has.contains(t)))
                    && not_any.as_ref().is_none_or(|w| !w.iter().any(|t| has.contains(t)))
            });
        }
    }
    if let Some(st) = ctx.q("status") {
        let st = st.to_ascii_uppercase();
        list.retain(|i| lifecycle::status(i.vm_state, i.task_state).as_str() == st);
    }
    if let Some(f) = ctx.q("flavor") {
        list.retain(|i| i.flavor.flavorid == f);
    }
    if let Some(img) = ctx.q("image") {
        let img = img.rsplit('/').next().unwrap_or(img);
        list.retain(|i| i.image_ref == img);
    }
    if let Some(az) = ctx.q("availability_zone") {
        list.retain(|i| i.availability_zone.as_deref() == Some(az));
    }
    if admin_filters {
        if let Some(node) = ctx.q("node") {
            list.retain(|i| i.node.as_deref() == Some(node));
        }
        if let Some(u) = ctx.q("uuid") {
            list.retain(|i| i.uuid.to_string() == u);
        }
    }
    if ctx.v(2, 73) {
        if let Some(l) = ctx.q("locked") {
            let l = query_bool(l).ok_or_else(|| ComputeError::bad_request("Invalid locked filter"))?;
            list.retain(|i| i.locked == l);
        }
    }
    if let Some(key) = ctx.q("sort_key") {
        match key {
            "created_at" => list.sort_by_key(|i| i.created_at),
            "updated_at" => list.sort_by_key(|i| i.updated_at.unwrap_or(i.created_at)),
            "display_name" => list.sort_by(|a, b| a.display_name.cmp(&b.display_name)),
            "uuid" => list.sort_by_key(|i| i.uuid),
            "vm_state" => list.sort_by(|a, b| a.vm_state.as_str().cmp(b.vm_state.as_str())),
            "host" | "node" if admin_filters => list.sort_by(|a, b| a.host.cmp(&b.host)),
            other => return Err(ComputeError::bad_request(format!("Invalid sort_key {}", truncate(other, 64)))),
        }
        if ctx.q("sort_dir") != Some("asc") {
            list.reverse();
        }
    } else if ctx.q("sort_dir") == Some("asc") {
        list.reverse();
    }
    if let Some(marker) = ctx.q("marker") {
        let pos = list
            .iter()
            .position(|i| i.uuid.to_string() == marker)
            .ok_or_else(|| ComputeError::bad_request(format!("marker [{}] not found", truncate(marker, 64))))?;
        list.drain(..=pos);
    }
    let mut next = None;
    if let Some(l) = ctx.q("limit") {
        let l: usize = l
            .parse::<i64>()
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ComputeError::bad_request("limit param must be an integer"))?;
        if list.len() > l {
            list.truncate(l);
        }
        if l > 0 && list.len() == l {
            if let Some(last) = list.last() {
                let path = if detail { "servers/detail" } else { "servers" };
                next =
                    Some(json!([{"rel": "next", "href": format!("{}?limit={l}&marker={}", ctx.url(path), last.uuid)}]));
            }
        }
    }
    let services = if detail { services_by_host(ctx).await? } else { Default::default() };
    let tags = if detail { view_tags(ctx, &list.iter().collect::<Vec<_>>()).await? } else { BTreeMap::new() };
    let mut items = Vec::with_capacity(list.len());
    for i in &list {
        items.push(if detail { view(ctx, i, &services, &tags, ViewFor::Detail).await? } else { brief(ctx, i) });
    }
    let mut body = json!({"servers": items});
    if let Some(n) = next {
        body["servers_links"] = n;
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
    let i = instance_for(&ctx, &id, "os_compute_api:servers:show").await?;
    ok(json!({ "server": full_view(&ctx, &i, ViewFor::Show).await? }))
}

// ------------------------------------------------------------------ create

fn last_segment(s: &str) -> &str {
    s.trim_end_matches('/').rsplit('/').next().unwrap_or(s)
}

pub(crate) fn metadata_value(field: &str, v: &Value, max_items: i64) -> Result<BTreeMap<String, String>> {
    let obj = v.as_object().ok_or_else(|| invalid(field, format!("{} is not of type 'object'", type_name(v))))?;
    let mut out = BTreeMap::new();
    for (k, val) in obj {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(invalid(field, format!("'{}' is not a valid metadata key", truncate(k, 64))));
        }
        let s = val.as_str().ok_or_else(|| invalid(field, format!("{} is not of type 'string'", type_name(val))))?;
        if s.chars().count() > 255 {
            return Err(invalid(field, format!("value of '{}' is longer than 255 characters", truncate(k, 64))));
        }
        out.insert(k.clone(), s.to_string());
    }
    if out.len() as i64 > max_items {
        return Err(ComputeError::forbidden(format!(
            "Quota exceeded for metadata_items: Requested {}, but already used 0 of {max_items} metadata_items",
            out.len()
        )));
    }
    Ok(out)
}

/// `user_data` (Nova's schema: base64 text of at most 65535 characters;
/// null only where `nullable`, which rebuild is from 2.57). Line breaks
/// inside the text are allowed, as Python's decoder allows them.
pub(crate) fn user_data_value(v: &Value, nullable: bool) -> Result<Option<String>> {
    use base64::Engine as _;
    match v {
        Value::Null if nullable => Ok(None),
        Value::String(text) if text.len() <= 65535 => {
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            if base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).is_err() {
                return Err(invalid("user_data", format!("'{}' is not a 'base64'", truncate(text, 64))));
            }
            Ok(Some(text.clone()))
        }
        Value::String(text) => Err(invalid("user_data", format!("'{}...' is too long", truncate(text, 64)))),
        other => Err(invalid("user_data", format!("{} is not of type 'string'", type_name(other)))),
    }
}

/// An access address: `accessIPv4` an IPv4 address, `accessIPv6` an IPv6
/// one (Nova's formats), or empty or null for none.
pub(crate) fn access_ip_value(field: &str, v: &Value) -> Result<Option<String>> {
    let family_ok = |x: &str| match field {
        "accessIPv4" => x.parse::<std::net::Ipv4Addr>().is_ok(),
        _ => x.parse::<std::net::Ipv6Addr>().is_ok(),
    };
    match v {
        Value::Null => Ok(None),
        Value::String(x) if x.is_empty() => Ok(None),
        Value::String(x) if family_ok(x) => Ok(Some(x.clone())),
        other => Err(invalid(
            field,
            format!(
                "{} is not a '{}'",
                truncate(&other.to_string(), 64),
                if field == "accessIPv4" { "ipv4" } else { "ipv6" }
            ),
        )),
    }
}

pub(crate) fn admin_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..12).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

pub async fn create(ctx: Ctx, JsonBody(body): JsonBody) -> ApiResult {
    let body = parse_body(&body)?;
    let top = body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    only_keys(top, &["server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"])?;
    let s = member(&body, "server")?;
    ctx.authorize_route(None)?;
    let hints = super::server_groups::scheduler_hints(&ctx, top).await?;
    let mut allowed = vec![
        "name",
        "imageRef",
        "flavorRef",
        "networks",
        "availability_zone",
        "metadata",
        "min_count",
        "max_count",
        "return_reservation_id",
        "key_name",
        "user_data",
        "config_drive",
        "security_groups",
        "accessIPv4",
        "accessIPv6",
        "adminPass",
        "block_device_mapping",
        "block_device_mapping_v2",
        "OS-DCF:diskConfig",
    ];
    if !ctx.v(2, 57) {
        allowed.push("personality");
    }
    for (key, mv) in [
        ("description", (2, 19)),
        ("tags", (2, 52)),
        ("trusted_image_certificates", (2, 63)),
        ("host", (2, 74)),
        ("hypervisor_hostname", (2, 74)),
        ("hostname", (2, 90)),
    ] {
        if ctx.v(mv.0, mv.1) {
            allowed.push(key);
        }
    }
    only_keys(s, &allowed)?;
    let name = name_value("name", s.get("name").ok_or_else(|| invalid("name", "'name' is a required property"))?)?;
    // Networks: "none"/"auto" (2.37+), or a list (no networking in berth,
    // so only an empty one).
    match s.get("networks") {
        None if ctx.v(2, 37) => return Err(invalid("networks", "'networks' is a required property")),
        None => {}
        Some(Value::String(v)) if ctx.v(2, 37) && (v == "none" || v == "auto") => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(Value::Array(_)) => {
            return Err(ComputeError::bad_request(
                "Networks are not available in this cloud; use \"networks\": \"none\".",
            ))
        }
        Some(v) => return Err(invalid("networks", format!("{} is not valid", truncate(&v.to_string(), 64)))),
    }
    let flavor_ref = match s.get("flavorRef") {
        Some(Value::String(x)) if !x.is_empty() => last_segment(x).to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(v) => {
            return Err(invalid(
                "flavorRef",
                format!("{} is not a valid flavor reference", truncate(&v.to_string(), 64)),
            ))
        }
        None => return Err(invalid("flavorRef", "'flavorRef' is a required property")),
    };
    let image_ref = match s.get("imageRef") {
        Some(Value::String(x)) if !x.is_empty() => Some(last_segment(x).to_string()),
        Some(Value::String(_)) | None | Some(Value::Null) => None,
        Some(v) => return Err(invalid("imageRef", format!("{} is not of type 'string'", type_name(v)))),
    };
    if s.get("block_device_mapping").is_some() {
        return Err(ComputeError::bad_request(
            "Block device mappings (boot from volume) are not supported by this cloud.",
        ));
    }
    // openstackclient describes an image boot as one local image mapping;
    // accept exactly that (and empty lists). Volumes are not supported.
    let mut image_ref = image_ref;
    if let Some(bdms) = s.get("block_device_mapping_v2") {
        let Some(list) = bdms.as_array() else {
            return Err(invalid("block_device_mapping_v2", "is not of type 'array'"));
        };
        for bdm in list {
            let field = |k: &str| bdm.get(k).and_then(Value::as_str);
            let local_image = field("source_type") == Some("image")
                && matches!(field("destination_type"), None | Some("local"))
                && match bdm.get("boot_index") {
                    Some(Value::Number(n)) => n.as_i64() == Some(0),
                    Some(Value::String(x)) => x == "0",
                    _ => false,
                };
            let uuid = field("uuid").map(str::to_string);
            match (local_image, uuid) {
                (true, Some(u)) if image_ref.as_deref().is_none_or(|i| i == u) => image_ref = Some(u),
                _ => {
                    return Err(ComputeError::bad_request(
                        "Block device mappings (boot from volume) are not supported by this cloud.",
                    ))
                }
            }
        }
    }
    let image_ref = image_ref.ok_or_else(|| ComputeError::bad_request("Missing imageRef attribute"))?;
    if Uuid::parse_str(&image_ref).is_err() {
        return Err(ComputeError::bad_request("Invalid imageRef provided."));
    }
    // The caller's own key pair, by name (Nova looks it up for the
    // requesting user).
    let key_name = match s.get("key_name").filter(|v| !v.is_null()) {
        Some(v) => {
            let name = name_value("key_name", v)?;
            if ctx.svc.find_key_pair(ctx.user(), &name).await?.is_none() {
                return Err(ComputeError::bad_request("Invalid key_name provided."));
            }
            Some(name)
        }
        None => None,
    };
    let limits = ctx.svc.quota_limits(ctx.project()).await?;
    let meta = match s.get("metadata") {
        Some(v) => metadata_value("metadata", v, limits.get("metadata_items").copied().unwrap_or(128))?,
        None => BTreeMap::new(),
    };
    let description = match s.get("description") {
        Some(v) => description_value("description", v, 255)?,
        None => None,
    };
    let hostname = match s.get("hostname") {
        Some(v) => Some(name_value("hostname", v)?),
        None => None,
    };
    let user_data = match s.get("user_data") {
        Some(v) => user_data_value(v, false)?,
        None => None,
    };
    let count = |k: &str| s.get(k).map(|v| int_value(k, v, 1, 1000)).transpose();
    let min_count = count("min_count")?.unwrap_or(1);
    let max_count = count("max_count")?.unwrap_or(min_count);
    if max_count < min_count {
        return Err(ComputeError::bad_request("min_count must be <= max_count"));
    }
    let ip = |k: &str| s.get(k).map(|v| access_ip_value(k, v)).transpose().map(Option::flatten);
    let (ip4, ip6) = (ip("accessIPv4")?, ip("accessIPv6")?);
    // Placement: availability zone, optionally with host and node (admins).
    let mut requested_az = match s.get("availability_zone") {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) if !v.is_empty() && v.chars().count() <= 255 => Some(v.clone()),
        Some(v) => return Err(invalid("availability_zone", truncate(&v.to_string(), 64))),
    };
    for (k, pos) in [("host", 1), ("hypervisor_hostname", 2)] {
        if let Some(v) = s.get(k) {
            let h = v
                .as_str()
                .filter(|h| !h.is_empty() && h.chars().count() <= 255)
                .ok_or_else(|| invalid(k, truncate(&v.to_string(), 64)))?;
            let (az, host, node) = split_az(requested_az.as_deref().unwrap_or(""));
            let mut parts = [az.unwrap_or_default(), host.unwrap_or_default(), node.unwrap_or_default()];
            parts[pos] = h.to_string();
            requested_az = Some(parts.join(":").trim_end_matches(':').to_string());
        }
    }
    // Only a requested zone or host needs the host view (at thousands of
    // hosts, reading it again is not for every create).
    if let Some(req) = &requested_az {
        let services = services_by_host(&ctx).await?;
        let (az, host, node) = split_az(req);
        if host.is_some() || node.is_some() {
            ctx.authorize("os_compute_api:servers:create:forced_host", None)?;
        }
        if let Some(az) = &az {
            if !services.values().any(|s| &s.availability_zone == az) {
                return Err(ComputeError::bad_request(format!(
                    "The requested availability zone is not available: {}",
                    truncate(az, 64)
                )));
            }
        }
        if let Some(h) = &host {
            if !services.contains_key(h) {
                return Err(ComputeError::bad_request(format!("Compute host {} could not be found.", truncate(h, 64))));
            }
        }
    }
    // Flavor and image.
    let flavor = visible_flavor(&ctx, &flavor_ref).await.map_err(|e| {
        if e.kind == crate::error::ErrorKind::NotFound {
            ComputeError::bad_request(format!("Flavor {} could not be found.", truncate(&flavor_ref, 64)))
        } else {
            e
        }
    })?;
    if flavor.disabled {
        return Err(ComputeError::bad_request("Flavor is disabled."));
    }
    let image = ctx
        .svc
        .images
        .lookup(&image_ref, &ctx.caller)
        .await
        .map_err(|e| ComputeError::unavailable(format!("Image service unavailable: {e}")))?
        .ok_or_else(|| ComputeError::bad_request(format!("Image {image_ref} could not be found.")))?;
    if image.status != "active" {
        return Err(ComputeError::bad_request(format!("Image {image_ref} is not active.")));
    }
    if image.min_ram > flavor.memory_mb {
        return Err(ComputeError::bad_request("Flavor's memory is too small for requested image."));
    }
    if flavor.root_gb > 0 && image.min_disk > flavor.root_gb {
        return Err(ComputeError::bad_request("Flavor's disk is too small for requested image."));
    }
    ctx.svc.check_quota(ctx.project(), &limits, &flavor, max_count).await?;
    let reservation_id = format!("r-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let mut spec = RequestSpec::new(&flavor, Some(&image));
    if let Some(req) = &requested_az {
        let (az, host, node) = split_az(req);
        spec.availability_zone = az;
        spec.force_host = host;
        spec.force_node = node;
    }
    let tags = match s.get("tags") {
        Some(v) => super::server_actions::tags_value("tags", v)?,
        None => Vec::new(),
    };
    // A password the caller chose, else one generated (the simulated
    // guest takes either).
    let admin_pass = match s.get("adminPass") {
        Some(Value::String(p)) => p.clone(),
        Some(other) => return Err(invalid("adminPass", format!("{} is not of type 'string'", type_name(other)))),
        None => admin_password(),
    };
    hints.apply(&mut spec);
    let mut instances = Vec::new();
    for idx in 0..max_count {
        let now = now_us();
        let display_name = if max_count > 1 { format!("{name}-{}", idx + 1) } else { name.clone() };
        let inst = Instance {
            id: 0,
            uuid: Uuid::new_v4(),
            hostname: hostname.clone().or_else(|| Some(sanitize_hostname(&display_name))),
            display_name,
            description: description.clone(),
            project_id: ctx.project().to_string(),
            user_id: ctx.user().to_string(),
            image_ref: image_ref.clone(),
            flavor: flavor.clone(),
            vm_state: VmState::Building,
            task_state: Some(TaskState::Scheduling),
            power_state: power_state::NOSTATE,
            host: None,
            node: None,
            node_uuid: None,
            availability_zone: None,
            requested_az: requested_az.clone(),
            metadata: meta.clone(),
            key_name: key_name.clone(),
            user_data: user_data.clone(),
            access_ip_v4: ip4.clone(),
            access_ip_v6: ip6.clone(),
            locked: false,
            locked_by: None,
            locked_reason: None,
            reservation_id: reservation_id.clone(),
            launch_index: idx,
            launched_at: None,
            terminated_at: None,
            created_at: now,
            updated_at: Some(now),
            deleted_at: None,
            deleted: false,
        };
        instances.push(inst);
    }
    // The instances and their scheduling requests in one transaction; the
    // scheduler claims and picks hosts after we answer (as Nova's
    // conductor does).
    let created: Vec<Uuid> = instances.iter().map(|i| i.uuid).collect();
    hints.join(&ctx, &created).await?;
    if let Err(e) = ctx.svc.record_for_scheduling(&instances, &spec, &ctx.request_id).await {
        hints.leave(&ctx, &created).await;
        return Err(e);
    }
    let first = created.first().copied();
    // Recheck the quota now that the instances exist (Nova's
    // `recheck_quota`; unclaimed builds count with their flavors):
    // concurrent creates that passed the first check together must not
    // leave the project over its limits. Undo ours if they did.
    if let Err(e) = ctx.svc.check_quota(ctx.project(), &limits, &flavor, 0).await {
        for uuid in &created {
            if let Err(undo) = ctx.svc.local_delete(*uuid).await {
                tracing::warn!(instance = %uuid, error = %undo, "could not undo an instance over quota");
            }
        }
        return Err(e);
    }
    if !tags.is_empty() {
        for uuid in &created {
            ctx.svc.replace_tags(*uuid, &tags).await?;
        }
    }
    let uuid = first.ok_or_else(|| ComputeError::internal("no instance created"))?;
    if s.get("return_reservation_id").and_then(Value::as_bool) == Some(true) {
        return Ok(json(StatusCode::ACCEPTED, json!({"reservation_id": reservation_id})));
    }
    let body = json!({"server": {
        "id": uuid,
        "links": ctx.links(&format!("servers/{uuid}")),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
        "adminPass": admin_pass,
    }});
    let mut resp = json(StatusCode::ACCEPTED, body);
    if let Ok(v) = HeaderValue::from_str(&ctx.url(&format!("servers/{uuid}"))) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn sanitize_hostname(name: &str) -> String {
    let mut h: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    h = h.trim_matches('-').chars().take(63).collect();
    if h.is_empty() {
        "server".into()
    } else {
        h
    }
}

// ------------------------------------------------------------------ update/delete

pub async fn update(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    let body = parse_body(&body)?;
    let s = member(&body, "server")?;
    let mut allowed = vec!["name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"];
    if ctx.v(2, 19) {
        allowed.push("description");
    }
    if ctx.v(2, 90) {
        allowed.push("hostname");
    }
    only_keys(s, &allowed)?;
    let mut i = instance_for(&ctx, &id, "os_compute_api:servers:update").await?;
    if let Some(v) = s.get("name") {
        i.display_name = name_value("name", v)?;
    }
    if let Some(v) = s.get("description") {
        i.description = description_value("description", v, 255)?;
    }
    if let Some(v) = s.get("hostname") {
        i.hostname = Some(name_value("hostname", v)?);
    }
    for (k, slot) in [("accessIPv4", &mut i.access_ip_v4), ("accessIPv6", &mut i.access_ip_v6)] {
        if let Some(v) = s.get(k) {
            *slot = access_ip_value(k, v)?;
        }
    }
    ctx.svc.save_instance_fields(&i).await?;
    // Read back what was saved (already authorized by the update rule).
    let i = ctx
        .svc
        .instance(i.uuid)
        .await?
        .ok_or_else(|| ComputeError::not_found(format!("Instance {} could not be found.", truncate(&id, 64))))?;
    ok(json!({ "server": full_view(&ctx, &i, ViewFor::Update).await? }))
}

pub(crate) fn check_locked(ctx: &Ctx, i: &Instance) -> Result<()> {
    if i.locked && !ctx.can("os_compute_api:os-lock-server:unlock:unlock_override", Some(&i.project_id)) {
        return Err(ComputeError::conflict(format!("Instance {} is locked", i.uuid)));
    }
    Ok(())
}

pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let i = instance_for(&ctx, &id, "os_compute_api:servers:delete").await?;
    check_locked(&ctx, &i)?;
    super::instance_actions::record_all(&ctx, &[i.uuid], "delete").await;
    ctx.svc.delete_instance(&i).await?;
    status_only(StatusCode::NO_CONTENT)
}

pub(crate) fn state_conflict(action: &str, i: &Instance) -> ComputeError {
    ComputeError::conflict(format!(
        "Cannot '{action}' instance {} while it is in {}",
        i.uuid,
        match &i.task_state {
            Some(t) => format!("task_state {t}"),
            None => format!("vm_state {}", i.vm_state),
        }
    ))
}

pub async fn action(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    let body = parse_body(&body)?;
    let obj = body.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    if obj.len() != 1 {
        return Err(ComputeError::bad_request("Exactly one action is required."));
    }
    let (name, arg) = obj.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", &Value::Null));
    if let Some(rule) = super::server_actions::rule_of(name) {
        let i = instance_for(&ctx, &id, rule).await?;
        if super::server_actions::checks_lock(name) {
            check_locked(&ctx, &i)?;
        }
        return super::server_actions::run(&ctx, name, arg, i).await;
    }
    let (rule, action) = match name {
        "os-start" => ("os_compute_api:servers:start", "start"),
        "os-stop" => ("os_compute_api:servers:stop", "stop"),
        "reboot" => ("os_compute_api:servers:reboot", "reboot"),
        "forceDelete" => ("os_compute_api:os-deferred-delete:force", "forceDelete"),
        "restore" => ("os_compute_api:os-deferred-delete:restore", "restore"),
        "resize" => return super::moves::action(ctx, &id, name, arg).await,
        "confirmResize" => return super::moves::action(ctx, &id, name, arg).await,
        "revertResize" => return super::moves::action(ctx, &id, name, arg).await,
        "migrate" => return super::moves::action(ctx, &id, name, arg).await,
        "os-migrateLive" => return super::moves::action(ctx, &id, name, arg).await,
        "evacuate" => return super::moves::action(ctx, &id, name, arg).await,
        "shelve" => return super::moves::action(ctx, &id, name, arg).await,
        "shelveOffload" => return super::moves::action(ctx, &id, name, arg).await,
        "unshelve" => return super::moves::action(ctx, &id, name, arg).await,
        "rebuild" => return super::moves::action(ctx, &id, name, arg).await,
        other => return Err(ComputeError::bad_request(format!("There is no such action: {}", truncate(other, 64)))),
    };
    let i = instance_for(&ctx, &id, rule).await?;
    check_locked(&ctx, &i)?;
    let accepted = || status_only(StatusCode::ACCEPTED);
    match action {
        "forceDelete" => {
            // Without soft delete every delete is immediate; forceDelete
            // deletes whatever the state.
            ctx.svc.delete_instance(&i).await?;
            accepted()
        }
        "restore" => Err(state_conflict("restore", &i)),
        "stop" | "start" => {
            if !ctx.svc.start_or_stop(&i, action == "stop").await? {
                return Err(state_conflict(action, &i));
            }
            super::instance_actions::record_all(&ctx, &[i.uuid], action).await;
            accepted()
        }
        "reboot" => {
            let a = arg.as_object().ok_or_else(|| invalid("reboot", "is not of type 'object'"))?;
            only_keys(a, &["type"])?;
            let hard = match a.get("type").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
                Some("SOFT") => false,
                Some("HARD") => true,
                _ => return Err(invalid("type", "must be one of SOFT, HARD")),
            };
            if !ctx.svc.reboot(&i, hard).await? {
                return Err(state_conflict("reboot", &i));
            }
            super::instance_actions::record_all(&ctx, &[i.uuid], "reboot").await;
            accepted()
        }
        _ => Err(ComputeError::bad_request("There is no such action")),
    }
}

// ------------------------------------------------------------------ metadata

pub async fn meta_index(ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let i = instance_for(&ctx, &id, "os_compute_api:server-metadata:index").await?;
    ok(json!({"metadata": i.metadata}))
}

async fn save_meta(ctx: &Ctx, mut i: Instance, meta: BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let max = ctx.svc.quota_limits(&i.project_id).await?.get("metadata_items").copied().unwrap_or(128);
    if meta.len() as i64 > max {
        return Err(ComputeError::forbidden(format!(
            "Quota exceeded for metadata_items: Requested {}, but already used 0 of {max} metadata_items",
            meta.len()
        )));
    }
    i.metadata = meta;
    ctx.svc.save_instance_fields(&i).await?;
    Ok(i.metadata)
}

fn meta_body(body: &Bytes, key: &str) -> Result<BTreeMap<String, String>> {
    let v = parse_body(body)?;
    let obj = v.as_object().ok_or_else(|| ComputeError::bad_request("Malformed request body"))?;
    only_keys(obj, &[key])?;
    let inner = obj.get(key).ok_or_else(|| invalid(key, format!("'{key}' is a required property")))?;
    metadata_value(key, inner, i64::MAX)
}

pub async fn meta_create(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    let add = meta_body(&body, "metadata")?;
    let i = instance_for(&ctx, &id, "os_compute_api:server-metadata:create").await?;
    let mut meta = i.metadata.clone();
    meta.extend(add);
    let meta = save_meta(&ctx, i, meta).await?;
    ok(json!({"metadata": meta}))
}

pub async fn meta_replace(ctx: Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    let meta = meta_body(&body, "metadata")?;
    let i = instance_for(&ctx, &id, "os_compute_api:server-metadata:update_all").await?;
    let meta = save_meta(&ctx, i, meta).await?;
    ok(json!({"metadata": meta}))
}

pub async fn meta_show(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> ApiResult {
    let i = instance_for(&ctx, &id, "os_compute_api:server-metadata:show").await?;
    match i.metadata.get(&key) {
        Some(v) => ok(json!({"meta": { key: v }})),
        None => Err(ComputeError::not_found("Metadata item was not found")),
    }
}

pub async fn meta_update(ctx: Ctx, Path((id, key)): Path<(String, String)>, JsonBody(body): JsonBody) -> ApiResult {
    let item = meta_body(&body, "meta")?;
    if item.len() != 1 {
        return Err(ComputeError::bad_request("Request body contains too many items"));
    }
    if !item.contains_key(&key) {
        return Err(ComputeError::bad_request("Request body and URI mismatch"));
    }
    let i = instance_for(&ctx, &id, "os_compute_api:server-metadata:update").await?;
    let mut meta = i.metadata.clone();
    meta.extend(item.clone());
    save_meta(&ctx, i, meta).await?;
    ok(json!({"meta": item}))
}

pub async fn meta_delete(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> ApiResult {
    let i = instance_for(&ctx, &id, "os_compute_api:server-metadata:delete").await?;
    let mut meta = i.metadata.clone();
    if meta.remove(&key).is_none() {
        return Err(ComputeError::not_found("Metadata item was not found"));
    }
    save_meta(&ctx, i, meta).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
