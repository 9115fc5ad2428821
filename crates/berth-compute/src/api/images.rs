//! The Nova image proxy `/images` (until 2.35; 404 from 2.36): list,
//! detail, show, delete and image metadata, sent to the image API with the
//! caller's own token as Nova sends them to Glance (Nova checks no policy
//! of its own here: the image API decides).

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::{HeaderMap, Method};
use berth_placement_client::encode;
use serde_json::{json, Map, Value};

use super::*;
use crate::images::{GlanceRequest, GlanceResponse};

/// Glance v2's own attributes: everything else on an image is a property
/// (Nova's `metadata`).
const BASE_ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "owner",
    "size",
    "virtual_size",
    "min_ram",
    "min_disk",
    "disk_format",
    "container_format",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
    "stores",
];

fn gone() -> ComputeError {
    ComputeError::not_found("The resource could not be found.")
}

fn image_not_found() -> ComputeError {
    ComputeError::not_found("Image not found.")
}

struct Proxy<'a> {
    ctx: &'a Ctx,
    token: String,
}

impl<'a> Proxy<'a> {
    fn new(ctx: &'a Ctx, headers: &HeaderMap) -> Result<Proxy<'a>> {
        if ctx.v(2, 36) {
            return Err(gone());
        }
        let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        Ok(Proxy { ctx, token })
    }

    async fn send(&self, method: Method, path: String, body: Option<(String, Vec<u8>)>) -> Result<GlanceResponse> {
        let req = GlanceRequest { method, path, token: self.token.clone(), body };
        let resp = self
            .ctx
            .svc
            .images
            .glance(req)
            .await
            .map_err(|e| ComputeError::unavailable(format!("Image service unavailable: {e}")))?;
        let message = || {
            resp.body
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|v| v.get("message").or_else(|| v.get("detail")))
                .and_then(Value::as_str)
                .unwrap_or("The image service refused the request.")
                .to_string()
        };
        match resp.status {
            200..=299 => Ok(resp),
            404 => Err(image_not_found()),
            400 | 413 => Err(ComputeError::bad_request(message())),
            401 | 403 => Err(ComputeError::forbidden(message())),
            409 => Err(ComputeError::conflict(message())),
            s if s >= 500 => Err(ComputeError::unavailable(format!("Image service unavailable ({s})."))),
            _ => Err(ComputeError::bad_request(message())),
        }
    }

    async fn image(&self, id: &str) -> Result<Value> {
        Ok(self.send(Method::GET, format!("/v2/images/{}", encode(id)), None).await?.body)
    }

    /// Apply JSON-patch operations to an image's properties.
    async fn patch(&self, id: &str, ops: Vec<Value>) -> Result<Value> {
        if ops.is_empty() {
            return self.image(id).await;
        }
        let body = serde_json::to_vec(&ops).map_err(|e| ComputeError::internal(e.to_string()))?;
        let ct = "application/openstack-images-v2.1-json-patch".to_string();
        Ok(self.send(Method::PATCH, format!("/v2/images/{}", encode(id)), Some((ct, body))).await?.body)
    }
}

fn properties(img: &Value) -> Map<String, Value> {
    img.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !BASE_ATTRIBUTES.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), if v.is_string() { v.clone() } else { json!(v.to_string()) }))
                .collect()
        })
        .unwrap_or_default()
}

fn links(ctx: &Ctx, id: &str) -> Value {
    let mut l = ctx.links(&format!("images/{id}"));
    if let Some(a) = l.as_array_mut() {
        a.push(json!({"rel": "alternate", "type": "application/vnd.openstack.image", "href": format!("{}/image/images/{id}", ctx.base.trim_end_matches("/compute"))}));
    }
    l
}

fn brief(ctx: &Ctx, img: &Value) -> Value {
    let id = img["id"].as_str().unwrap_or_default();
    json!({"id": id, "name": img["name"], "links": links(ctx, id)})
}

fn full(ctx: &Ctx, img: &Value) -> Value {
    let id = img["id"].as_str().unwrap_or_default();
    let status = img["status"].as_str().unwrap_or_default();
    let date = |k: &str| img[k].as_str().and_then(|s| berth_time::parse_iso8601(s).ok()).map(berth_time::iso_seconds_z);
    let props = properties(img);
    let mut v = json!({
        "id": id,
        "name": img["name"],
        "minRam": img["min_ram"].as_i64().unwrap_or(0),
        "minDisk": img["min_disk"].as_i64().unwrap_or(0),
        "metadata": props,
        "created": date("created_at"),
        "updated": date("updated_at"),
        "status": match status {
            "active" => "ACTIVE",
            "queued" | "saving" | "importing" | "uploading" => "SAVING",
            "deleted" | "pending_delete" => "DELETED",
            "killed" => "ERROR",
            _ => "UNKNOWN",
        },
        "progress": match status { "queued" => 25, "saving" => 50, "active" => 100, _ => 0 },
        "OS-EXT-IMG-SIZE:size": img["size"],
        "links": links(ctx, id),
    });
    if let Some(server) = props.get("instance_uuid").and_then(Value::as_str) {
        v["server"] = json!({"id": server, "links": ctx.links(&format!("servers/{server}"))});
    }
    if let Some(auto) = props.get("auto_disk_config").and_then(Value::as_str) {
        v["OS-DCF:diskConfig"] = json!(if query_bool(auto) == Some(true) { "AUTO" } else { "MANUAL" });
    }
    v
}

async fn listing(ctx: Ctx, headers: HeaderMap, detail: bool) -> ApiResult {
    let p = Proxy::new(&ctx, &headers)?;
    let mut q: Vec<(String, String)> = Vec::new();
    // Nova's filters, translated as Nova's image client translates them
    // for the image API v2: `server` and `type` are the image properties
    // `instance_uuid` and `image_type`, `property-X` any property X,
    // `changes-since` an `updated_at` lower bound.
    for (k, v) in &ctx.query {
        match k.as_str() {
            "name" | "marker" => q.push((k.clone(), v.clone())),
            "status" => q.push((k.clone(), v.to_ascii_lowercase())),
            "limit" => {
                let n: u64 = v.parse().map_err(|_| ComputeError::bad_request("limit param must be an integer"))?;
                q.push((k.clone(), n.to_string()));
            }
            "changes-since" => q.push(("updated_at".into(), format!("gte:{v}"))),
            // A server's URL names it by its last path segment.
            "server" => q.push(("instance_uuid".into(), v.rsplit('/').next().unwrap_or(v).to_string())),
            "type" => q.push(("image_type".into(), v.clone())),
            "minRam" => q.push(("min_ram".into(), v.clone())),
            "minDisk" => q.push(("min_disk".into(), v.clone())),
            other => {
                if let Some(prop) = other.strip_prefix("property-").filter(|p| !p.is_empty()) {
                    q.push((prop.to_string(), v.clone()));
                }
            }
        }
    }
    let qs = serde_urlencoded::to_string(&q).map_err(|e| ComputeError::internal(e.to_string()))?;
    let resp = p.send(Method::GET, format!("/v2/images?{qs}"), None).await?;
    let images: Vec<Value> = resp.body["images"].as_array().cloned().unwrap_or_default();
    let shown: Vec<Value> = images.iter().map(|i| if detail { full(&ctx, i) } else { brief(&ctx, i) }).collect();
    let mut out = json!({ "images": shown });
    let limit = ctx.q("limit").and_then(|l| l.parse::<usize>().ok());
    if let (Some(l), Some(last)) = (limit, images.last()) {
        if images.len() >= l && l > 0 {
            let mut next: Vec<(String, String)> = ctx.query.iter().filter(|(k, _)| k != "marker").cloned().collect();
            next.push(("marker".into(), last["id"].as_str().unwrap_or_default().to_string()));
            let tail = if detail { "images/detail" } else { "images" };
            let qs = serde_urlencoded::to_string(&next).map_err(|e| ComputeError::internal(e.to_string()))?;
            out["images_links"] = json!([{"rel": "next", "href": format!("{}?{qs}", ctx.url(tail))}]);
        }
    }
    ok(out)
}

pub async fn list(ctx: Ctx, headers: HeaderMap) -> ApiResult {
    listing(ctx, headers, false).await
}

pub async fn detail(ctx: Ctx, headers: HeaderMap) -> ApiResult {
    listing(ctx, headers, true).await
}

pub async fn show(ctx: Ctx, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let p = Proxy::new(&ctx, &headers)?;
    let img = p.image(&id).await?;
    ok(json!({ "image": full(&ctx, &img) }))
}

pub async fn delete(ctx: Ctx, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let p = Proxy::new(&ctx, &headers)?;
    match p.send(Method::DELETE, format!("/v2/images/{}", encode(&id)), None).await {
        Ok(_) => status_only(StatusCode::NO_CONTENT),
        Err(e) if e.kind == crate::error::ErrorKind::Forbidden => {
            Err(ComputeError::forbidden("You are not allowed to delete the image."))
        }
        Err(e) => Err(e),
    }
}

// ------------------------------------------------------------------ metadata

/// A JSON pointer to a property.
fn pointer(key: &str) -> String {
    format!("/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn meta_map(field: &str, v: &Value) -> Result<BTreeMap<String, String>> {
    let obj = v.as_object().ok_or_else(|| invalid(field, format!("{} is not of type 'object'", type_name(v))))?;
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(invalid(field, format!("'{}' is not a valid key", truncate(k, 64))));
        }
        match v {
            Value::String(s) if s.chars().count() <= 255 => {
                out.insert(k.clone(), s.clone());
            }
            other => return Err(invalid(k, format!("{} is not a string of at most 255 characters", type_name(other)))),
        }
    }
    Ok(out)
}

async fn check_quota(ctx: &Ctx, count: usize) -> Result<()> {
    let limit = ctx.svc.quota_limits(ctx.project()).await?.get("metadata_items").copied().unwrap_or(128);
    if limit >= 0 && count as i64 > limit {
        return Err(ComputeError::forbidden(format!(
            "Quota exceeded for metadata_items: Requested {count}, but already used 0 of {limit} metadata_items"
        )));
    }
    Ok(())
}

pub async fn meta_index(ctx: Ctx, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let p = Proxy::new(&ctx, &headers)?;
    let img = p.image(&id).await?;
    ok(json!({ "metadata": properties(&img) }))
}

pub async fn meta_show(ctx: Ctx, headers: HeaderMap, Path((id, key)): Path<(String, String)>) -> ApiResult {
    let p = Proxy::new(&ctx, &headers)?;
    let props = properties(&p.image(&id).await?);
    let v = props.get(&key).ok_or_else(|| ComputeError::not_found("Invalid metadata key"))?;
    ok(json!({ "meta": { key: v } }))
}

/// `POST` (merge) and `PUT` (replace) of `{"metadata": {...}}`.
async fn write_all(ctx: Ctx, headers: HeaderMap, id: String, body: Bytes, replace: bool) -> ApiResult {
    let p = Proxy::new(&ctx, &headers)?;
    let body = parse_body(&body)?;
    let new = meta_map(
        "metadata",
        body.get("metadata").ok_or_else(|| invalid("metadata", "'metadata' is a required property"))?,
    )?;
    let current = properties(&p.image(&id).await?);
    let mut ops = Vec::new();
    if replace {
        for k in current.keys().filter(|k| !new.contains_key(*k)) {
            ops.push(json!({"op": "remove", "path": pointer(k)}));
        }
    }
    let kept = if replace { 0 } else { current.keys().filter(|k| !new.contains_key(*k)).count() };
    check_quota(&ctx, kept + new.len()).await?;
    for (k, v) in &new {
        ops.push(json!({"op": "add", "path": pointer(k), "value": v}));
    }
    let img = p.patch(&id, ops).await?;
    ok(json!({ "metadata": properties(&img) }))
}

pub async fn meta_create(ctx: Ctx, headers: HeaderMap, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    write_all(ctx, headers, id, body, false).await
}

pub async fn meta_replace(ctx: Ctx, headers: HeaderMap, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult {
    write_all(ctx, headers, id, body, true).await
}

pub async fn meta_update(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, key)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let p = Proxy::new(&ctx, &headers)?;
    let body = parse_body(&body)?;
    let meta = meta_map("meta", body.get("meta").ok_or_else(|| invalid("meta", "'meta' is a required property"))?)?;
    if meta.len() > 1 {
        return Err(ComputeError::bad_request("Request body contains too many items"));
    }
    let Some(v) = meta.get(&key) else {
        return Err(ComputeError::bad_request("Request body and URI mismatch"));
    };
    let current = properties(&p.image(&id).await?);
    check_quota(&ctx, current.len() + usize::from(!current.contains_key(&key))).await?;
    p.patch(&id, vec![json!({"op": "add", "path": pointer(&key), "value": v})]).await?;
    ok(json!({ "meta": { key: v } }))
}

pub async fn meta_delete(ctx: Ctx, headers: HeaderMap, Path((id, key)): Path<(String, String)>) -> ApiResult {
    let p = Proxy::new(&ctx, &headers)?;
    let current = properties(&p.image(&id).await?);
    if !current.contains_key(&key) {
        return Err(ComputeError::not_found("Invalid metadata key"));
    }
    p.patch(&id, vec![json!({"op": "remove", "path": pointer(&key)})]).await?;
    status_only(StatusCode::NO_CONTENT)
}
