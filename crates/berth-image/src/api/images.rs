//! `/v2/images` and `/v2/images/{id}`: create, list, show, update (JSON
//! patch), delete, tags and the deactivate/reactivate actions.

use std::cmp::Ordering;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::IntoResponse;

use super::ACCEPT_PATCH;
use berth_policy::Target;
use serde_json::{json, Value};

use super::{endpoint_url, header_str, json_response, parse_json, parse_query, ApiResult, AppState};
use crate::error::{ImageError, Result};
use crate::model::{self, set_attribute, Image};
use crate::patch::{self, Change, Op};
use crate::repo::{self, ListScope};
use crate::service::{Caller, ImageService};

/// Glance's `image_tag_quota` default.
const MAX_TAGS: usize = 128;
/// Glance's `image_property_quota` default.
const MAX_PROPERTIES: usize = 128;

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn check_quotas(img: &Image) -> Result<()> {
    if img.tags.len() > MAX_TAGS {
        return Err(ImageError::too_large(format!("Maximum number of tags exceeded ({MAX_TAGS}).")));
    }
    if img.properties.len() > MAX_PROPERTIES {
        return Err(ImageError::too_large(format!("Maximum number of image properties exceeded ({MAX_PROPERTIES}).")));
    }
    Ok(())
}

/// Enforce `publicize_image` / `communitize_image` for a visibility.
fn enforce_visibility(svc: &ImageService, caller: &Caller, visibility: &str, target: &Target) -> Result<()> {
    match visibility {
        "public" => svc.authorize(caller, "publicize_image", target),
        "community" => svc.authorize(caller, "communitize_image", target),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------- create

pub(crate) async fn create(
    State(svc): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
    body: Bytes,
) -> ApiResult {
    let body = parse_json(&body)?;
    let Value::Object(obj) = body else {
        return Err(ImageError::bad_request(format!(
            "Provided object does not match schema 'image': {body} is not of type 'object'"
        )));
    };
    for key in model::DISALLOWED {
        if obj.contains_key(*key) {
            return Err(ImageError::forbidden(format!("Attribute '{key}' is read-only.")));
        }
    }
    let id = match obj.get("id") {
        None => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(s)) if is_uuid(s) => s.to_ascii_lowercase(),
        Some(v) => {
            return Err(ImageError::bad_request(format!(
                "Provided object does not match schema 'image': {} does not match the UUID pattern",
                model::shown(&v.to_string())
            )))
        }
    };
    let mut img = Image::new(id, caller.project().map(str::to_string), berth_time::now());
    for (key, value) in &obj {
        match key.as_str() {
            "id" => {}
            "locations" => return Err(ImageError::forbidden("Attribute 'locations' is read-only.")),
            k if model::READ_ONLY.contains(&k) => {
                return Err(ImageError::forbidden(format!("Attribute '{}' is read-only.", model::shown(k))))
            }
            k => set_attribute(&mut img, k, value, &svc.formats)?,
        }
    }
    check_quotas(&img)?;
    let mut target = Target::new();
    if let Some(o) = &img.owner {
        target.insert("project_id".into(), o.clone());
        target.insert("owner".into(), o.clone());
    }
    target.insert("visibility".into(), img.visibility.clone());
    if let Err(e) = svc.authorize_route(&caller, &target) {
        if img.owner.as_deref() != caller.project() {
            return Err(ImageError::forbidden(format!(
                "You are not permitted to create images owned by '{}'",
                img.owner.as_deref().unwrap_or("None")
            )));
        }
        return Err(e);
    }
    enforce_visibility(&svc, &caller, &img.visibility, &target)?;
    let mut w = svc.db.write().await?;
    repo::insert_image(&mut w.tx, &img).await?;
    w.commit().await?;
    let mut resp = json_response(StatusCode::CREATED, img.to_json());
    let location = format!("{}/v2/images/{}", endpoint_url(&svc, &headers, &original, &uri), img.id);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    // Glance names the import methods and stores a new image can use
    // (openstacksdk reads them before it stages and imports).
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&crate::service::IMPORT_METHODS.join(",")) {
        h.insert("openstack-image-import-methods", v);
    }
    h.insert("openstack-image-store-ids", HeaderValue::from_static(crate::service::STORE_ID));
    Ok(resp)
}

// ---------------------------------------------------------------- list

const SORT_KEYS: &[&str] =
    &["name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Asc,
    Desc,
}

fn parse_dir(s: &str) -> Result<Dir> {
    match s.trim() {
        "asc" => Ok(Dir::Asc),
        "desc" => Ok(Dir::Desc),
        d => Err(ImageError::bad_request(format!("Invalid sort direction: {}", model::shown(d)))),
    }
}

fn parse_sort_key(s: &str) -> Result<String> {
    let k = s.trim();
    if SORT_KEYS.contains(&k) {
        Ok(k.to_string())
    } else {
        Err(ImageError::bad_request(format!(
            "Invalid sort key: {}. It must be one of the following: {}.",
            model::shown(k),
            SORT_KEYS.join(", ")
        )))
    }
}

/// Sort keys and directions from `sort=k:dir,...` or `sort_key`/`sort_dir`,
/// with `created_at` and `id` appended as tie breakers, as Glance.
fn sorting(q: &[(String, String)]) -> Result<Vec<(String, Dir)>> {
    let has = |k: &str| q.iter().any(|(n, _)| n == k);
    let mut keys = Vec::new();
    let mut dirs = Vec::new();
    if has("sort") {
        if has("sort_key") || has("sort_dir") {
            return Err(ImageError::bad_request("Old and new sorting syntax cannot be combined"));
        }
        for (_, v) in q.iter().filter(|(k, _)| k == "sort") {
            for part in v.trim().split(',') {
                let (k, d) = part.split_once(':').unwrap_or((part, ""));
                keys.push(parse_sort_key(k)?);
                dirs.push(if d.trim().is_empty() { Dir::Desc } else { parse_dir(d)? });
            }
        }
    } else {
        for (_, v) in q.iter().filter(|(k, _)| k == "sort_key") {
            keys.push(parse_sort_key(v)?);
        }
        for (_, v) in q.iter().filter(|(k, _)| k == "sort_dir") {
            dirs.push(parse_dir(v)?);
        }
        if dirs.len() > 1 && dirs.len() != keys.len() {
            return Err(ImageError::bad_request("Number of sort dirs does not match the number of sort keys"));
        }
    }
    if keys.is_empty() {
        keys.push("created_at".into());
    }
    let default_dir = if dirs.len() == 1 { dirs[0] } else { Dir::Desc };
    if dirs.is_empty() {
        dirs.push(Dir::Desc);
    }
    if dirs.len() == 1 && keys.len() > 1 {
        dirs = vec![dirs[0]; keys.len()];
    }
    let mut out: Vec<(String, Dir)> = keys.into_iter().zip(dirs).collect();
    for k in ["created_at", "id"] {
        if !out.iter().any(|(n, _)| n == k) {
            out.push((k.to_string(), default_dir));
        }
    }
    Ok(out)
}

fn cmp_key(a: &Image, b: &Image, key: &str) -> Ordering {
    fn opt<T: Ord>(a: &Option<T>, b: &Option<T>) -> Ordering {
        // NULLs first in ascending order.
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        }
    }
    match key {
        "name" => opt(&a.name, &b.name),
        "status" => a.status.cmp(&b.status),
        "container_format" => opt(&a.container_format, &b.container_format),
        "disk_format" => opt(&a.disk_format, &b.disk_format),
        "size" => opt(&a.size, &b.size),
        "id" => a.id.cmp(&b.id),
        "created_at" => a.created_at.cmp(&b.created_at),
        "updated_at" => a.updated_at.cmp(&b.updated_at),
        _ => Ordering::Equal,
    }
}

fn cmp_images(a: &Image, b: &Image, sort: &[(String, Dir)]) -> Ordering {
    for (k, d) in sort {
        let o = cmp_key(a, b, k);
        let o = if *d == Dir::Desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Glance's `op:value` filter syntax; an unknown prefix is part of the value.
fn split_op(expr: &str) -> (&str, &str) {
    const OPS: &[&str] = &["eq", "neq", "gt", "gte", "lt", "lte", "in"];
    match expr.split_once(':') {
        Some((op, v)) if OPS.contains(&op) => (op, v),
        _ => ("eq", expr),
    }
}

/// Split an `in:` list on commas, honouring double quotes.
fn split_in_list(v: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    for c in v.chars() {
        match c {
            '"' if !quoted && cur.trim().is_empty() => {
                quoted = true;
                was_quoted = true;
                cur.clear();
            }
            '"' if quoted => quoted = false,
            ',' if !quoted => {
                out.push(if was_quoted {
                    std::mem::take(&mut cur)
                } else {
                    std::mem::take(&mut cur).trim().to_string()
                });
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(ImageError::bad_request(format!(
            "Invalid filter value {}. The quote is not closed.",
            model::shown(v)
        )));
    }
    out.push(if was_quoted { cur } else { cur.trim().to_string() });
    Ok(out)
}

/// One list filter, resolved up front so bad values answer 400.
enum Filter {
    /// name, id, status, container_format, disk_format: `eq` or `in`.
    Text {
        key: String,
        values: Vec<String>,
    },
    Owner(String),
    Checksum(String),
    HashValue(String),
    SizeMin(i64),
    SizeMax(i64),
    Protected(bool),
    Time {
        key: String,
        op: String,
        at: i64,
    },
    /// Another column compared as text (min_disk, min_ram, ...).
    Column {
        key: String,
        value: String,
    },
    Property {
        key: String,
        value: String,
    },
    Tag(String),
}

fn text_of(img: &Image, key: &str) -> Option<String> {
    match key {
        "name" => img.name.clone(),
        "id" => Some(img.id.clone()),
        "status" => Some(img.status.clone()),
        "container_format" => img.container_format.clone(),
        "disk_format" => img.disk_format.clone(),
        "min_disk" => Some(img.min_disk.to_string()),
        "min_ram" => Some(img.min_ram.to_string()),
        "size" => img.size.map(|s| s.to_string()),
        "virtual_size" => img.virtual_size.map(|s| s.to_string()),
        "os_hash_algo" => img.os_hash_algo.clone(),
        _ => None,
    }
}

impl Filter {
    fn matches(&self, img: &Image) -> bool {
        match self {
            Filter::Text { key, values } => text_of(img, key).is_some_and(|v| values.contains(&v)),
            Filter::Owner(o) => img.owner.as_deref() == Some(o.as_str()),
            Filter::Checksum(c) => img.checksum.as_deref() == Some(c.as_str()),
            Filter::HashValue(h) => img.os_hash_value.as_deref() == Some(h.as_str()),
            Filter::SizeMin(n) => img.size.is_some_and(|s| s >= *n),
            Filter::SizeMax(n) => img.size.is_some_and(|s| s <= *n),
            Filter::Protected(p) => img.protected == *p,
            Filter::Time { key, op, at } => {
                let t = if key == "created_at" { img.created_at } else { img.updated_at };
                // Timestamps are shown with second precision; compare so.
                let t = t.div_euclid(1_000_000) * 1_000_000;
                match op.as_str() {
                    "gt" => t > *at,
                    "gte" => t >= *at,
                    "lt" => t < *at,
                    "lte" => t <= *at,
                    "neq" => t != *at,
                    _ => t == *at,
                }
            }
            Filter::Column { key, value } => text_of(img, key).as_deref() == Some(value.as_str()),
            Filter::Property { key, value } => img.properties.get(key) == Some(value),
            Filter::Tag(t) => img.tags.contains(t),
        }
    }
}

/// A `created_at`/`updated_at` filter: Glance's `op:` prefix (not `in`)
/// and an ISO 8601 instant, in microseconds since the epoch.
fn time_filter<'a>(key: &str, expr: &'a str) -> Result<(&'a str, i64)> {
    let (op, val) = split_op(expr);
    if op == "in" {
        return Err(ImageError::bad_request(format!("Unable to filter by unknown operator '{op}'.")));
    }
    let at = berth_time::parse_iso8601(val).map_err(|_| {
        ImageError::bad_request(format!("Bad \"{key}\" query filter format. Use ISO 8601 DateTime notation."))
    })?;
    Ok((op, at))
}

fn parse_bool_filter(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ImageError::bad_request(format!(
            "Invalid value '{}' for '{key}' filter. Valid values are 'true' or 'false'.",
            model::shown(v)
        ))),
    }
}

pub(crate) async fn list(State(svc): State<AppState>, caller: Caller, uri: Uri) -> ApiResult {
    let mut target = Target::new();
    if let Some(p) = caller.project() {
        target.insert("project_id".into(), p.to_string());
    }
    svc.authorize_route(&caller, &target)?;

    let q = parse_query(uri.query())?;
    // A NUL names nothing and can be compared with nothing stored.
    for (k, v) in &q {
        if k.contains('\0') || v.contains('\0') {
            return Err(ImageError::bad_request(format!(
                "Invalid query parameter '{}': the NUL character is not allowed.",
                model::shown(&k.replace('\0', "\\0"))
            )));
        }
    }
    let last = |k: &str| q.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = match last("limit") {
        None => svc.config.limit_default,
        Some(l) => {
            let n: i64 = l.trim().parse().map_err(|_| ImageError::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(ImageError::bad_request("limit param must be positive"));
            }
            n as usize
        }
    }
    .min(svc.config.limit_max);
    let member_status = last("member_status").unwrap_or("accepted");
    if !["pending", "accepted", "rejected", "all"].contains(&member_status) {
        return Err(ImageError::bad_request(format!("Invalid status: {}", model::shown(member_status))));
    }
    let visibility = last("visibility");
    if let Some(v) = visibility {
        if !["community", "public", "private", "shared", "all"].contains(&v) {
            return Err(ImageError::bad_request(format!("Invalid visibility value: {}", model::shown(v))));
        }
    }
    if last("changes-since").is_some() {
        return Err(ImageError::bad_request("The \"changes-since\" filter is no longer available on v2."));
    }
    let os_hidden = parse_bool_filter("os_hidden", &last("os_hidden").unwrap_or("false").to_ascii_lowercase())?;
    let sort = sorting(&q)?;

    let mut filters = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in q.iter().rev() {
        let k = k.as_str();
        if k == "tag" {
            filters.push(Filter::Tag(v.trim().to_string()));
            continue;
        }
        if matches!(
            k,
            "limit" | "marker" | "member_status" | "visibility" | "sort" | "sort_key" | "sort_dir" | "os_hidden"
        ) || !seen.insert(k)
        {
            continue;
        }
        let f = match k {
            "name" | "id" | "status" | "container_format" | "disk_format" => {
                let (op, val) = split_op(v);
                let values = match op {
                    "in" => split_in_list(val)?,
                    "eq" => vec![val.to_string()],
                    op => return Err(ImageError::bad_request(format!("Unable to filter by unknown operator '{op}'."))),
                };
                Filter::Text { key: k.to_string(), values }
            }
            "owner" => Filter::Owner(v.clone()),
            "checksum" => Filter::Checksum(v.clone()),
            "os_hash_value" => Filter::HashValue(v.clone()),
            "size_min" | "size_max" => {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| ImageError::bad_request("Unable to filter on a range with a non-numeric value."))?;
                if k == "size_min" {
                    Filter::SizeMin(n)
                } else {
                    Filter::SizeMax(n)
                }
            }
            "protected" => Filter::Protected(parse_bool_filter("protected", v)?),
            "created_at" | "updated_at" => {
                let (op, at) = time_filter(k, v)?;
                Filter::Time { key: k.to_string(), op: op.to_string(), at }
            }
            "min_disk" | "min_ram" | "size" | "virtual_size" => {
                // Integer columns: the value must be one (stored as i64).
                let n: i64 = v.trim().parse().map_err(|_| {
                    ImageError::bad_request(format!(
                        "Invalid value '{}' for '{k}' filter: not an integer.",
                        model::shown(v)
                    ))
                })?;
                Filter::Column { key: k.to_string(), value: n.to_string() }
            }
            "os_hash_algo" => Filter::Column { key: k.to_string(), value: v.clone() },
            _ => Filter::Property { key: k.to_string(), value: v.clone() },
        };
        filters.push(f);
    }

    let marker = match last("marker") {
        Some(m) => match svc.load_visible(&caller, m).await {
            Ok((img, _)) => Some(img),
            Err(e) if e.status == StatusCode::NOT_FOUND => return Err(ImageError::bad_request(e.message)),
            Err(e) => return Err(e),
        },
        None => None,
    };

    let scope = if caller.is_admin {
        ListScope::All
    } else {
        ListScope::Project {
            project: caller.project().map(str::to_string),
            member_status: (member_status != "all").then(|| member_status.to_string()),
        }
    };
    let images = {
        let mut c = svc.db.read().await?;
        repo::list_images(&mut c, &scope).await?
    };
    let project = caller.project();
    let mut images: Vec<Image> = images
        .into_iter()
        .filter(|i| i.status != "killed" && i.status != "deleted")
        .filter(|i| match visibility {
            Some("all") => true,
            Some(v) => i.visibility == v,
            None => i.visibility != "community" || (project.is_some() && i.owner.as_deref() == project),
        })
        .filter(|i| i.os_hidden == os_hidden)
        .filter(|i| filters.iter().all(|f| f.matches(i)))
        .filter(|i| svc.check(&caller, "get_image", &svc.image_target(&caller, i, None)) || caller.is_admin)
        .collect();
    images.sort_by(|a, b| cmp_images(a, b, &sort));
    if let Some(m) = &marker {
        images.retain(|i| cmp_images(i, m, &sort) == Ordering::Greater);
    }
    images.truncate(limit);

    let params: Vec<(String, String)> = q.iter().filter(|(k, _)| k != "marker").cloned().collect();
    let encode = |p: &[(String, String)]| serde_urlencoded::to_string(p).unwrap_or_default();
    let mut first = "/v2/images".to_string();
    if !params.is_empty() {
        first = format!("{first}?{}", encode(&params));
    }
    let mut body = json!({
        "images": images.iter().map(Image::to_json).collect::<Vec<_>>(),
        "first": first,
        "schema": "/v2/schemas/images",
    });
    if !images.is_empty() && images.len() == limit {
        let mut p = params.clone();
        p.push(("marker".into(), images[images.len() - 1].id.clone()));
        body["next"] = Value::String(format!("/v2/images?{}", encode(&p)));
    }
    Ok(json_response(StatusCode::OK, body))
}

// ---------------------------------------------------------------- show

pub(crate) async fn show(State(svc): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (img, member) = svc.load_visible(&caller, &id).await?;
    svc.enforce_route(&caller, &img, member.as_ref())?;
    Ok(json_response(StatusCode::OK, img.to_json()))
}

// ---------------------------------------------------------------- update

const WRITABLE_BASE: &[&str] = &[
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "min_disk",
    "min_ram",
    "tags",
    "disk_format",
    "container_format",
];

fn tag_index(token: &str, len: usize, allow_end: bool) -> Result<usize> {
    if token == "-" && allow_end {
        return Ok(len);
    }
    let max = if allow_end { len } else { len.saturating_sub(1) };
    match token.parse::<usize>() {
        Ok(i) if (allow_end && i <= max) || (!allow_end && i < len) => Ok(i),
        _ => Err(ImageError::conflict(format!("Tag index /tags/{token} does not exist."))),
    }
}

/// Apply one change to the image (policies checked by the caller).
fn apply_change(svc: &ImageService, caller: &Caller, img: &mut Image, c: &Change) -> Result<()> {
    let root = c.path[0].as_str();
    if root == "locations" {
        return Err(ImageError::forbidden("It's not allowed to update locations if locations are invisible."));
    }
    if root == "tags" && c.path.len() == 2 {
        let mut tags = img.tags.clone();
        match c.op {
            Op::Add => {
                let i = tag_index(&c.path[1], tags.len(), true)?;
                tags.insert(i, model::tag_value(c.value.as_ref().unwrap_or(&Value::Null))?);
            }
            Op::Replace => {
                let i = tag_index(&c.path[1], tags.len(), false)?;
                tags[i] = model::tag_value(c.value.as_ref().unwrap_or(&Value::Null))?;
            }
            Op::Remove => {
                let i = tag_index(&c.path[1], tags.len(), false)?;
                tags.remove(i);
            }
        }
        img.set_tags(tags);
        return Ok(());
    }
    let is_base = WRITABLE_BASE.contains(&root);
    match c.op {
        Op::Remove => {
            if is_base {
                return Err(ImageError::forbidden(format!("Property {} may not be removed.", model::shown(root))));
            }
            if img.properties.remove(root).is_none() {
                return Err(ImageError::conflict(format!("Property {} does not exist.", model::shown(root))));
            }
            Ok(())
        }
        Op::Add | Op::Replace => {
            let value = c.value.as_ref().unwrap_or(&Value::Null);
            if c.op == Op::Replace && root == "owner" && !caller.is_admin {
                return Err(ImageError::forbidden("Owner can't be updated by non admin."));
            }
            if matches!(root, "disk_format" | "container_format") && img.status != "queued" {
                return Err(ImageError::forbidden(format!(
                    "Attribute {root} can be only replaced for a queued image."
                )));
            }
            if !is_base {
                let exists = img.properties.contains_key(root);
                if c.op == Op::Replace && !exists {
                    return Err(ImageError::conflict(format!("Property {} does not exist.", model::shown(root))));
                }
                if c.op == Op::Add && exists && c.draft == 4 {
                    return Err(ImageError::conflict(format!("Property {} already present.", model::shown(root))));
                }
            } else if c.op == Op::Add && c.draft == 4 {
                return Err(ImageError::conflict(format!("Property {} already present.", model::shown(root))));
            }
            set_attribute(img, root, value, &svc.formats)
        }
    }
}

pub(crate) async fn update(
    State(svc): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let content_type = header_str(&headers, "content-type").unwrap_or("");
    let Some(draft) = patch::draft_for(content_type) else {
        let allowed = format!("{}, {}", patch::PATCH_V20, patch::PATCH_V21);
        let mut resp =
            ImageError::unsupported_media_type(format!("Image PATCH expects Content-Type one of: {allowed}"))
                .into_response();
        if let Ok(v) = HeaderValue::from_str(&allowed) {
            resp.headers_mut().insert(ACCEPT_PATCH, v);
        }
        return Ok(resp);
    };
    let changes = patch::parse(&parse_json(&body)?, draft)?;
    for c in &changes {
        let root = c.path[0].as_str();
        if model::READ_ONLY.contains(&root) || model::DISALLOWED.contains(&root) {
            return Err(ImageError::forbidden(format!("Attribute '{}' is read-only.", model::shown(root))));
        }
        model::check_not_reserved(root)?;
        if root.chars().count() > 255 {
            return Err(ImageError::bad_request("Custom property should not be greater than 255 characters."));
        }
    }

    let mut w = svc.db.write().await?;
    let mut img = repo::get_image(&mut w.tx, svc.db.engine(), &id, true)
        .await?
        .ok_or_else(|| ImageError::image_not_found(&id))?;
    let member = match caller.project() {
        Some(p) => repo::get_member(&mut w.tx, &id, p).await?,
        None => None,
    };
    if !svc.visible(&caller, &img, member.as_ref()) {
        return Err(ImageError::image_not_found(&id));
    }
    svc.enforce_image(&caller, "get_image", &img, member.as_ref())?;
    let before = img.clone();
    for c in &changes {
        // Policies are checked against the image as it stands.
        let target = svc.image_target(&caller, &img, member.as_ref());
        if c.path[0] == "visibility" {
            if let Some(Value::String(v)) = &c.value {
                enforce_visibility(&svc, &caller, v, &target)?;
            }
        }
        // The route's rule (`modify_image`).
        svc.enforce_route(&caller, &img, member.as_ref())?;
        apply_change(&svc, &caller, &mut img, c)?;
    }
    if changes.is_empty() {
        // An empty patch changes nothing: it is a read, answered after
        // `get_image` above (as Glance does).
        svc.waive_route_rule(&caller);
    }
    check_quotas(&img)?;
    if img != before {
        img.updated_at = berth_time::now();
        repo::save_image(&mut w.tx, &img).await?;
        w.commit().await?;
    }
    Ok(json_response(StatusCode::OK, img.to_json()))
}

// ---------------------------------------------------------------- delete

pub(crate) async fn delete(State(svc): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (img, member) = svc.load_visible(&caller, &id).await?;
    svc.enforce_route(&caller, &img, member.as_ref())?;
    let mut w = svc.db.write().await?;
    let Some(current) = repo::get_image(&mut w.tx, svc.db.engine(), &id, true).await? else {
        return Err(ImageError::image_not_found(&id));
    };
    if current.protected {
        return Err(ImageError::forbidden(format!("Image {id} is protected and cannot be deleted.")));
    }
    repo::delete_image(&mut w.tx, &id).await?;
    w.commit().await?;
    svc.store.remove(&id).await;
    svc.store.remove_staged(&id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- tags

async fn change_tags(svc: &ImageService, caller: Caller, id: &str, tag: &str, add: bool) -> ApiResult {
    let mut w = svc.db.write().await?;
    let mut img =
        repo::get_image(&mut w.tx, svc.db.engine(), id, true).await?.ok_or_else(|| ImageError::image_not_found(id))?;
    let member = match caller.project() {
        Some(p) => repo::get_member(&mut w.tx, id, p).await?,
        None => None,
    };
    if !svc.visible(&caller, &img, member.as_ref()) {
        return Err(ImageError::image_not_found(id));
    }
    svc.enforce_route(&caller, &img, member.as_ref())?;
    if add {
        let t = model::tag_value(&Value::String(tag.to_string()))?;
        if !img.tags.contains(&t) {
            let mut tags = img.tags.clone();
            tags.push(t);
            img.set_tags(tags);
            check_quotas(&img)?;
        }
    } else {
        let before = img.tags.len();
        img.tags.retain(|t| t != tag);
        if img.tags.len() == before {
            return Err(ImageError::not_found(format!("Tag {tag} not found")));
        }
    }
    img.updated_at = berth_time::now();
    repo::save_image(&mut w.tx, &img).await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn add_tag(
    State(svc): State<AppState>,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult {
    change_tags(&svc, caller, &id, &tag, true).await
}

pub(crate) async fn delete_tag(
    State(svc): State<AppState>,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult {
    change_tags(&svc, caller, &id, &tag, false).await
}

// ---------------------------------------------------------------- actions

async fn transition(svc: &ImageService, caller: Caller, id: &str, deactivate: bool) -> ApiResult {
    let (img, member) = svc.load_visible(&caller, id).await?;
    let (from, to, verb) =
        if deactivate { ("active", "deactivated", "deactivate") } else { ("deactivated", "active", "reactivate") };
    svc.enforce_route(&caller, &img, member.as_ref())?;
    if img.status == to {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if img.status != from {
        return Err(ImageError::forbidden(format!("Not allowed to {verb} image in status '{}'", img.status)));
    }
    let mut w = svc.db.write().await?;
    if !repo::set_status(&mut w.tx, id, from, to, berth_time::now()).await? {
        return Err(ImageError::conflict(format!("Image {id} changed status during the request; try again.")));
    }
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn deactivate(State(svc): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    transition(&svc, caller, &id, true).await
}

pub(crate) async fn reactivate(State(svc): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    transition(&svc, caller, &id, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn sort_params() {
        let s = sorting(&q(&[])).unwrap();
        assert_eq!(s, vec![("created_at".into(), Dir::Desc), ("id".into(), Dir::Desc)]);
        let s = sorting(&q(&[("sort", "name:asc,size")])).unwrap();
        assert_eq!(
            s,
            vec![
                ("name".into(), Dir::Asc),
                ("size".into(), Dir::Desc),
                ("created_at".into(), Dir::Desc),
                ("id".into(), Dir::Desc)
            ]
        );
        let s = sorting(&q(&[("sort_key", "name"), ("sort_dir", "asc")])).unwrap();
        assert_eq!(s[0], ("name".into(), Dir::Asc));
        assert_eq!(s[2], ("id".into(), Dir::Asc));
        assert!(sorting(&q(&[("sort", "name"), ("sort_key", "name")])).is_err());
        assert!(sorting(&q(&[("sort", "pony")])).is_err());
        assert!(sorting(&q(&[("sort", "name:up")])).is_err());
        assert!(sorting(&q(&[("sort_key", "name"), ("sort_dir", "asc"), ("sort_dir", "desc")])).is_err());
    }

    #[test]
    fn time_filters() {
        let t =
            |e: &str| time_filter("created_at", e).map(|(op, at)| (op.to_string(), at)).map_err(|e| e.status.as_u16());
        assert_eq!(t("2015-11-06T15:32:17Z"), Ok(("eq".to_string(), 1_446_823_937_000_000)));
        assert_eq!(t("gte:2015-11-06T15:32:17.5Z"), Ok(("gte".to_string(), 1_446_823_937_500_000)));
        assert_eq!(t("lt:2015-11-06T16:32:17+01:00"), Ok(("lt".to_string(), 1_446_823_937_000_000)));
        assert_eq!(t("neq:2015-11-06"), Ok(("neq".to_string(), 1_446_768_000_000_000)));
        assert_eq!(t("lte:1970-01-01T00:00Z"), Ok(("lte".to_string(), 0)));
        // Inputs that once sliced inside a multi-byte character (a panic
        // that dropped the connection), and other malformed times: 400.
        for bad in [
            "2015-11-06+a\u{e9}b",
            "2015-11-06T\u{e9}",
            "2015-11-06T10:\u{e9}\u{e9}",
            "2015-11-06T10:00:00.\u{e9}\u{e9}",
            "2015-11-06T10:00+\u{e9}\u{e9}",
            "\u{e9}\u{e9}\u{e9}\u{e9}-11-06",
            "2015-11-06T10:00:00Z\u{0}",
            "gt:\u{ff}\u{fe}",
            "yesterday",
            "2015-13-06",
            "2015-11-06T25:00Z",
            "2015-11-06T10:00+0x:00",
            "in:2015-11-06",
            "gte:",
            "",
        ] {
            assert_eq!(t(bad), Err(400), "{bad:?}");
        }
    }

    #[test]
    fn filter_ops() {
        assert_eq!(split_op("in:a,b"), ("in", "a,b"));
        assert_eq!(split_op("ubuntu:22.04"), ("eq", "ubuntu:22.04"));
        assert_eq!(split_in_list("a, b,\"c,d\"").unwrap(), vec!["a", "b", "c,d"]);
        assert!(split_in_list("\"a").is_err());
        assert!(is_uuid("2d3c4f2e-7b4a-4c3e-9d59-0d4b8d6e9f10"));
        assert!(!is_uuid("2d3c4f2e7b4a4c3e9d590d4b8d6e9f10"));
    }
}
