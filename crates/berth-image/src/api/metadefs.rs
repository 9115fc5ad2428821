//! `/v2/metadefs/*`: Glance's metadata definitions catalog — namespaces
//! and their objects, properties, tags and resource-type associations, and
//! the resource types. Reads follow Glance's namespace visibility (public,
//! or owned by the caller's project; administrators see all) and its
//! secure-RBAC defaults (readers read, only administrators write).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use berth_policy::Target;
use serde_json::{json, Map, Value};

use super::{json_response, parse_json, parse_query, ApiResult, AppState};
use crate::error::{ImageError, Result};
use crate::metadef::{self, namespace_href, Association, MetadefObject, Namespace, Property, Tag};
use crate::metadef_repo as repo;
use crate::model::shown;
use crate::service::{Caller, ImageService};

// ---------------------------------------------------------------- helpers

/// How a handler words a namespace it cannot find: Glance's namespace and
/// object handlers name a missing namespace in full, the others (and every
/// handler for a namespace the caller may not see) say "not found".
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    Detailed,
    Short,
}

fn visible(caller: &Caller, ns: &Namespace) -> bool {
    caller.is_admin
        || ns.owner.is_none()
        || ns.visibility == "public"
        || (caller.project().is_some() && ns.owner.as_deref() == caller.project())
}

/// Glance's metadef policy target: the namespace's owner and visibility, or
/// the caller's project without one.
fn target(caller: &Caller, ns: Option<&Namespace>) -> Target {
    let mut t = Target::new();
    match ns {
        Some(ns) => {
            if let Some(o) = &ns.owner {
                t.insert("project_id".into(), o.clone());
            }
            t.insert("visibility".into(), ns.visibility.clone());
        }
        None => {
            if let Some(p) = caller.project() {
                t.insert("project_id".into(), p.to_string());
            }
        }
    }
    t
}

async fn load(svc: &ImageService, caller: &Caller, name: &str, missing: Missing) -> Result<Namespace> {
    let mut c = svc.db.read().await?;
    match repo::get_namespace(&mut c, name).await? {
        Some(ns) if visible(caller, &ns) => Ok(ns),
        found => Err(ImageError::not_found(if found.is_none() && missing == Missing::Detailed {
            format!("Metadata definition namespace={} was not found.", shown(name))
        } else {
            format!("Namespace {} not found", shown(name))
        })),
    }
}

/// A JSON body with no NUL anywhere (neither engine stores one).
fn body_json(body: &Bytes) -> Result<Value> {
    let v = parse_json(body)?;
    if berth_http::json_has_nul(&v) {
        return Err(ImageError::bad_request("Invalid value: the NUL character is not allowed."));
    }
    Ok(v)
}

fn created(body: Value, location: Option<String>) -> Response {
    let mut resp = json_response(StatusCode::CREATED, body);
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn protected(kind: &str, name: &str) -> ImageError {
    ImageError::forbidden(format!("Metadata definition {kind} {} is protected and cannot be deleted.", shown(name)))
}

/// Query parameters Glance's metadef lists validate: `sort_dir`, `limit`.
fn list_params(q: &[(String, String)]) -> Result<(bool, Option<usize>)> {
    let last = |k: &str| q.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let asc = match last("sort_dir").unwrap_or("desc") {
        "asc" => true,
        "desc" => false,
        d => return Err(ImageError::bad_request(format!("Invalid sort direction: {}", shown(d)))),
    };
    let limit = match last("limit") {
        None => None,
        Some(l) => {
            let n: i64 = l.trim().parse().map_err(|_| ImageError::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(ImageError::bad_request("limit param must be positive"));
            }
            Some(n as usize)
        }
    };
    Ok((asc, limit))
}

// ---------------------------------------------------------------- namespaces

const NS_SORT_KEYS: &[&str] = &["created_at", "updated_at", "namespace", "display_name", "visibility", "protected"];

fn ns_sort_value(ns: &Namespace, key: &str) -> (i64, String) {
    match key {
        "updated_at" => (ns.updated_at, String::new()),
        "namespace" => (0, ns.namespace.clone()),
        "display_name" => (0, ns.display_name.clone().unwrap_or_default()),
        "visibility" => (0, ns.visibility.clone()),
        "protected" => (i64::from(ns.protected), String::new()),
        _ => (ns.created_at, String::new()),
    }
}

/// `GET /v2/metadefs/namespaces`: filters `visibility`, `resource_types`
/// (comma-separated: namespaces associated with any of them), paging
/// (`limit`, `marker`) and sorting (`sort_key`, `sort_dir`).
pub(crate) async fn list_namespaces(State(svc): State<AppState>, caller: Caller, uri: Uri) -> ApiResult {
    let t = target(&caller, None);
    svc.authorize_route(&caller, &t)?;
    svc.authorize(&caller, "list_metadef_resource_types", &t)?;
    let q = parse_query(uri.query())?;
    if q.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Err(ImageError::bad_request("Invalid query parameter: the NUL character is not allowed."));
    }
    let last = |k: &str| q.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (asc, limit) = list_params(&q)?;
    let limit = limit.unwrap_or(svc.config.limit_default).min(svc.config.limit_max);
    let sort_key = last("sort_key").unwrap_or_else(|| "created_at".into());
    if !NS_SORT_KEYS.contains(&sort_key.as_str()) {
        return Err(ImageError::bad_request(format!("Invalid sort key: {}", shown(&sort_key))));
    }
    let visibility = last("visibility").filter(|v| !v.is_empty());
    if let Some(v) = &visibility {
        if !metadef::NS_VISIBILITIES.contains(&v.as_str()) {
            return Err(ImageError::bad_request(format!("Invalid visibility value: {}", shown(v))));
        }
    }
    let resource_types: Option<Vec<String>> =
        last("resource_types").map(|r| r.split(',').map(|s| s.trim().to_string()).collect());

    let mut c = svc.db.read().await?;
    let mut all = repo::list_namespaces(&mut c).await?;
    let associations = repo::list_associations(&mut c, None).await?;
    drop(c);
    if let Some(m) = last("marker") {
        if !all.iter().any(|n| n.namespace == m && visible(&caller, n)) {
            return Err(ImageError::not_found(format!("Metadata definition namespace={} was not found.", shown(&m))));
        }
    }
    all.retain(|ns| {
        visible(&caller, ns)
            && visibility.as_ref().is_none_or(|v| &ns.visibility == v)
            && resource_types
                .as_ref()
                .is_none_or(|rts| associations.iter().any(|(n, a)| n == &ns.namespace && rts.contains(&a.name)))
            && svc.check(&caller, "get_metadef_namespace", &target(&caller, Some(ns)))
    });
    all.sort_by(|a, b| {
        let o = ns_sort_value(a, &sort_key)
            .cmp(&ns_sort_value(b, &sort_key))
            .then_with(|| a.created_at.cmp(&b.created_at))
            .then_with(|| a.namespace.cmp(&b.namespace));
        if asc {
            o
        } else {
            o.reverse()
        }
    });
    if let Some(m) = last("marker") {
        if let Some(pos) = all.iter().position(|n| n.namespace == m) {
            all.drain(..=pos);
        }
    }
    all.truncate(limit);
    let views: Vec<Value> = all
        .iter()
        .map(|ns| {
            let mut v = ns.to_json();
            let rts: Vec<Value> =
                associations.iter().filter(|(n, _)| n == &ns.namespace).map(|(_, a)| a.to_json()).collect();
            if !rts.is_empty() {
                v.insert("resource_type_associations".into(), Value::Array(rts));
            }
            Value::Object(v)
        })
        .collect();
    let params: Vec<(String, String)> = q.iter().filter(|(k, _)| k != "marker").cloned().collect();
    let encode = |p: &[(String, String)]| serde_urlencoded::to_string(p).unwrap_or_default();
    let mut first = "/v2/metadefs/namespaces".to_string();
    if !params.is_empty() {
        first = format!("{first}?{}", encode(&params));
    }
    let mut out = json!({"namespaces": views, "first": first, "schema": "/v2/schemas/metadefs/namespaces"});
    if limit > 0 && all.len() == limit {
        if let Some(last_ns) = all.last() {
            let mut p = params.clone();
            p.push(("marker".into(), last_ns.namespace.clone()));
            out["next"] = Value::String(format!("/v2/metadefs/namespaces?{}", encode(&p)));
        }
    }
    Ok(json_response(StatusCode::OK, out))
}

/// The full view of a namespace: its attributes, resource-type
/// associations, properties, objects and tags (the last four only when
/// there are any), property names prefixed for `resource_type`.
async fn full_view(svc: &ImageService, ns: &Namespace, resource_type: Option<&str>) -> Result<Value> {
    let mut c = svc.db.read().await?;
    let associations = repo::list_associations(&mut c, Some(&ns.namespace)).await?;
    let mut objects = repo::list_objects(&mut c, &ns.namespace).await?;
    let properties = repo::list_properties(&mut c, &ns.namespace).await?;
    let tags = repo::list_tags(&mut c, &ns.namespace).await?;
    drop(c);
    let prefix = resource_type
        .and_then(|rt| associations.iter().find(|(_, a)| a.name == rt))
        .and_then(|(_, a)| a.prefix.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_default();
    let mut v = ns.to_json();
    if !associations.is_empty() {
        v.insert("resource_type_associations".into(), associations.iter().map(|(_, a)| a.to_json()).collect());
    }
    if !properties.is_empty() {
        let props: Map<String, Value> =
            properties.into_iter().map(|p| (format!("{prefix}{}", p.name), Value::Object(p.schema))).collect();
        v.insert("properties".into(), Value::Object(props));
    }
    if !objects.is_empty() {
        for o in objects.iter_mut() {
            o.prefixed(&prefix);
        }
        v.insert("objects".into(), objects.iter().map(|o| o.to_json(&ns.namespace)).collect());
    }
    if !tags.is_empty() {
        v.insert("tags".into(), tags.iter().map(|t| json!({"name": t.name})).collect());
    }
    Ok(Value::Object(v))
}

fn duplicate_namespace(name: &str) -> ImageError {
    ImageError::conflict(format!("The metadata definition namespace={} already exists.", shown(name)))
}

fn duplicate_object(name: &str, ns: &str) -> ImageError {
    ImageError::conflict(format!(
        "A metadata definition object with name={} already exists in namespace={}.",
        shown(name),
        shown(ns)
    ))
}

fn duplicate_property(name: &str, ns: &str) -> ImageError {
    ImageError::conflict(format!(
        "A metadata definition property with name={} already exists in namespace={}.",
        shown(name),
        shown(ns)
    ))
}

fn duplicate_tag(name: &str, ns: &str) -> ImageError {
    ImageError::conflict(format!(
        "A metadata tag with name={} already exists in namespace={}. (Please note that metadata tag names are case \
         insensitive).",
        shown(name),
        shown(ns)
    ))
}

fn duplicate_association(rt: &str, ns: &str) -> ImageError {
    ImageError::conflict(format!(
        "The metadata definition resource-type association of resource-type={} to namespace={} already exists.",
        shown(rt),
        shown(ns)
    ))
}

/// `POST /v2/metadefs/namespaces`: the namespace with any associations,
/// properties, objects and tags it is given, in one transaction.
pub(crate) async fn create_namespace(State(svc): State<AppState>, caller: Caller, body: Bytes) -> ApiResult {
    let b = metadef::namespace_body(&body_json(&body)?)?;
    let t = target(&caller, None);
    svc.authorize_route(&caller, &t)?;
    for (present, rule) in [
        (!b.associations.is_empty(), "add_metadef_resource_type_association"),
        (!b.objects.is_empty(), "add_metadef_object"),
        (!b.properties.is_empty(), "add_metadef_property"),
        (!b.tags.is_empty(), "add_metadef_tag"),
    ] {
        if present {
            svc.authorize(&caller, rule, &t)?;
        }
    }
    let now = berth_time::now();
    let ns = Namespace {
        namespace: b.namespace.clone(),
        display_name: b.display_name,
        description: b.description,
        visibility: b.visibility.unwrap_or_else(|| "private".into()),
        protected: b.protected.unwrap_or(false),
        owner: b.owner.or_else(|| caller.project().map(str::to_string)),
        created_at: now,
        updated_at: now,
    };
    let name = ns.namespace.clone();
    let mut w = svc.db.write().await?;
    if !repo::insert_namespace(&mut w.tx, &ns).await? {
        return Err(duplicate_namespace(&name));
    }
    for a in b.associations {
        let assoc = Association {
            name: a.name,
            prefix: a.prefix,
            properties_target: a.properties_target,
            created_at: now,
            updated_at: now,
        };
        if !repo::insert_association(&mut w.tx, &name, &assoc).await? {
            return Err(duplicate_association(&assoc.name, &name));
        }
    }
    for o in b.objects {
        let obj = MetadefObject {
            name: o.name,
            description: o.description,
            required: o.required,
            properties: o.properties,
            created_at: now,
            updated_at: now,
        };
        if !repo::insert_object(&mut w.tx, &name, &obj).await? {
            return Err(duplicate_object(&obj.name, &name));
        }
    }
    for (pname, schema) in b.properties {
        let p = Property { name: pname, schema, created_at: now, updated_at: now };
        if !repo::insert_property(&mut w.tx, &name, &p).await? {
            return Err(duplicate_property(&p.name, &name));
        }
    }
    for tname in b.tags {
        let tag = Tag { name: tname, created_at: now, updated_at: now };
        if !repo::insert_tag(&mut w.tx, &name, &tag).await? {
            return Err(duplicate_tag(&tag.name, &name));
        }
    }
    w.commit().await?;
    let view = full_view(&svc, &ns, None).await?;
    Ok(created(view, Some(namespace_href(&name))))
}

/// `GET /v2/metadefs/namespaces/{namespace}` (`resource_type` prefixes the
/// property names with that association's prefix).
pub(crate) async fn show_namespace(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult {
    let q = parse_query(uri.query())?;
    let rt = q.iter().rev().find(|(k, _)| k == "resource_type").map(|(_, v)| v.clone());
    let ns = {
        let mut c = svc.db.read().await?;
        repo::get_namespace(&mut c, &name).await?
    };
    let Some(ns) = ns else {
        return Err(ImageError::not_found(format!("Metadata definition namespace={} was not found.", shown(&name))));
    };
    let t = target(&caller, Some(&ns));
    // Glance hides a namespace the caller may not read: 404 without detail.
    if !visible(&caller, &ns) || svc.authorize_route(&caller, &t).is_err() {
        return Err(ImageError::not_found("The resource could not be found."));
    }
    for rule in ["list_metadef_resource_types", "get_metadef_objects", "get_metadef_properties", "get_metadef_tags"] {
        svc.authorize(&caller, rule, &t)?;
    }
    Ok(json_response(StatusCode::OK, full_view(&svc, &ns, rt.as_deref()).await?))
}

/// `PUT /v2/metadefs/namespaces/{namespace}`: every attribute replaced
/// (unset ones take their defaults), the name included.
pub(crate) async fn update_namespace(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b = metadef::namespace_body(&body_json(&body)?)?;
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let updated = Namespace {
        namespace: b.namespace,
        display_name: b.display_name,
        description: b.description,
        visibility: b.visibility.unwrap_or_else(|| "private".into()),
        protected: b.protected.unwrap_or(false),
        owner: b.owner.or_else(|| caller.project().map(str::to_string)),
        created_at: ns.created_at,
        updated_at: berth_time::now(),
    };
    let mut w = svc.db.write().await?;
    if !repo::update_namespace(&mut w.tx, &ns.namespace, &updated).await? {
        return Err(ImageError::conflict(format!(
            "Invalid update. It would result in a duplicate metadata definition namespace with the same name of {}",
            shown(&updated.namespace)
        )));
    }
    w.commit().await?;
    Ok(json_response(StatusCode::OK, Value::Object(updated.to_json())))
}

/// `DELETE /v2/metadefs/namespaces/{namespace}`: with everything it holds.
pub(crate) async fn delete_namespace(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    if ns.protected {
        return Err(protected("namespace", &ns.namespace));
    }
    let mut w = svc.db.write().await?;
    repo::delete_namespace_rows(&mut w.tx, &ns.namespace, None).await?;
    w.commit().await?;
    Ok(no_content())
}

/// `DELETE .../objects`, `.../properties`, `.../tags`: every one of them
/// (`delete_metadef_namespace`; the tags also `delete_metadef_tags`).
async fn delete_children(svc: &ImageService, caller: &Caller, name: &str, table: &str) -> ApiResult {
    let ns = load(svc, caller, name, Missing::Short).await?;
    let t = target(caller, Some(&ns));
    svc.authorize_route(caller, &t)?;
    if table == repo::TAGS {
        svc.authorize(caller, "delete_metadef_namespace", &t)?;
    }
    if ns.protected {
        return Err(protected("namespace", &ns.namespace));
    }
    let mut w = svc.db.write().await?;
    repo::delete_namespace_rows(&mut w.tx, &ns.namespace, Some(table)).await?;
    w.commit().await?;
    Ok(no_content())
}

pub(crate) async fn delete_objects(State(svc): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    delete_children(&svc, &caller, &name, repo::OBJECTS).await
}

pub(crate) async fn delete_properties(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult {
    delete_children(&svc, &caller, &name, repo::PROPERTIES).await
}

pub(crate) async fn delete_tags(State(svc): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    delete_children(&svc, &caller, &name, repo::TAGS).await
}

// ---------------------------------------------------------------- objects

fn object_not_found(name: &str, ns: &str) -> ImageError {
    ImageError::not_found(format!(
        "The metadata definition object with name={} was not found in namespace={}.",
        shown(name),
        shown(ns)
    ))
}

pub(crate) async fn list_objects(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Detailed).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let (asc, limit) = list_params(&parse_query(uri.query())?)?;
    let mut c = svc.db.read().await?;
    let mut objects = repo::list_objects(&mut c, &ns.namespace).await?;
    if asc {
        objects.reverse();
    }
    if let Some(l) = limit {
        objects.truncate(l);
    }
    let views: Vec<Value> = objects.iter().map(|o| o.to_json(&ns.namespace)).collect();
    Ok(json_response(StatusCode::OK, json!({"objects": views, "schema": "v2/schemas/metadefs/objects"})))
}

pub(crate) async fn create_object(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b = metadef::object_body_of(&body_json(&body)?)?;
    let ns = load(&svc, &caller, &name, Missing::Detailed).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let now = berth_time::now();
    let obj = MetadefObject {
        name: b.name,
        description: b.description,
        required: b.required,
        properties: b.properties,
        created_at: now,
        updated_at: now,
    };
    let mut w = svc.db.write().await?;
    if !repo::insert_object(&mut w.tx, &ns.namespace, &obj).await? {
        return Err(duplicate_object(&obj.name, &ns.namespace));
    }
    w.commit().await?;
    let view = obj.to_json(&ns.namespace);
    let location = view["self"].as_str().map(str::to_string);
    Ok(created(view, location))
}

pub(crate) async fn show_object(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, object)): Path<(String, String)>,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Detailed).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut c = svc.db.read().await?;
    let obj = repo::get_object(&mut c, &ns.namespace, &object)
        .await?
        .ok_or_else(|| object_not_found(&object, &ns.namespace))?;
    Ok(json_response(StatusCode::OK, obj.to_json(&ns.namespace)))
}

pub(crate) async fn update_object(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, object)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let b = metadef::object_body_of(&body_json(&body)?)?;
    let ns = load(&svc, &caller, &name, Missing::Detailed).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut w = svc.db.write().await?;
    let old = repo::get_object(&mut w.tx, &ns.namespace, &object)
        .await?
        .ok_or_else(|| object_not_found(&object, &ns.namespace))?;
    let obj = MetadefObject {
        name: b.name,
        description: b.description,
        required: b.required,
        properties: b.properties,
        created_at: old.created_at,
        updated_at: berth_time::now(),
    };
    if !repo::update_object(&mut w.tx, &ns.namespace, &old.name, &obj).await? {
        return Err(ImageError::conflict(format!(
            "Invalid update. It would result in a duplicate metadata definition object with the same name={} in \
             namespace={}.",
            shown(&obj.name),
            shown(&ns.namespace)
        )));
    }
    w.commit().await?;
    Ok(json_response(StatusCode::OK, obj.to_json(&ns.namespace)))
}

pub(crate) async fn delete_object(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, object)): Path<(String, String)>,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Detailed).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut w = svc.db.write().await?;
    if repo::get_object(&mut w.tx, &ns.namespace, &object).await?.is_none() {
        return Err(object_not_found(&object, &ns.namespace));
    }
    if ns.protected {
        return Err(protected("object", &object));
    }
    repo::delete_child(&mut w.tx, repo::OBJECTS, &ns.namespace, "name", &object).await?;
    w.commit().await?;
    Ok(no_content())
}

// ---------------------------------------------------------------- properties

fn property_not_found(name: &str, ns: &str) -> ImageError {
    ImageError::not_found(format!(
        "The metadata definition property with name={} was not found in namespace={}.",
        shown(name),
        shown(ns)
    ))
}

pub(crate) async fn list_properties(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut c = svc.db.read().await?;
    let props: Map<String, Value> = repo::list_properties(&mut c, &ns.namespace)
        .await?
        .into_iter()
        .map(|p| (p.name, Value::Object(p.schema)))
        .collect();
    Ok(json_response(StatusCode::OK, json!({"properties": props})))
}

pub(crate) async fn create_property(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let (pname, schema) = metadef::property_type("property", &body_json(&body)?, true)?;
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let now = berth_time::now();
    let p = Property { name: pname.unwrap_or_default(), schema, created_at: now, updated_at: now };
    let mut w = svc.db.write().await?;
    if !repo::insert_property(&mut w.tx, &ns.namespace, &p).await? {
        return Err(duplicate_property(&p.name, &ns.namespace));
    }
    w.commit().await?;
    Ok(created(p.to_json(), None))
}

pub(crate) async fn show_property(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, property)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    let t = target(&caller, Some(&ns));
    svc.authorize_route(&caller, &t)?;
    let q = parse_query(uri.query())?;
    let rt = q.iter().rev().find(|(k, _)| k == "resource_type").map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let mut c = svc.db.read().await?;
    let mut lookup_name = property.clone();
    if let Some(rt) = rt {
        svc.authorize(&caller, "get_metadef_resource_type", &t)?;
        let associations = repo::list_associations(&mut c, Some(&ns.namespace)).await?;
        let Some((_, a)) = associations.iter().find(|(_, a)| a.name == rt) else {
            return Err(ImageError::not_found(format!(
                "The metadata definition resource-type association of resource-type={} to namespace={}, was not found.",
                shown(&rt),
                shown(&ns.namespace)
            )));
        };
        let prefix = a.prefix.clone().unwrap_or_default();
        match property.strip_prefix(prefix.as_str()) {
            Some(rest) if !prefix.is_empty() => lookup_name = rest.to_string(),
            _ => {
                return Err(ImageError::not_found(format!(
                    "Property {} does not start with the expected resource type association prefix of '{}'.",
                    shown(&property),
                    shown(&prefix)
                )))
            }
        }
    }
    let p = repo::get_property(&mut c, &ns.namespace, &lookup_name)
        .await?
        .ok_or_else(|| property_not_found(&lookup_name, &ns.namespace))?;
    Ok(json_response(StatusCode::OK, p.to_json()))
}

pub(crate) async fn update_property(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, property)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let (pname, schema) = metadef::property_type("property", &body_json(&body)?, true)?;
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut w = svc.db.write().await?;
    let old = repo::get_property(&mut w.tx, &ns.namespace, &property)
        .await?
        .ok_or_else(|| property_not_found(&property, &ns.namespace))?;
    let p =
        Property { name: pname.unwrap_or_default(), schema, created_at: old.created_at, updated_at: berth_time::now() };
    if !repo::update_property(&mut w.tx, &ns.namespace, &old.name, &p).await? {
        return Err(ImageError::conflict(format!(
            "Invalid update. It would result in a duplicate metadata definition property with the same name={} in \
             namespace={}.",
            shown(&p.name),
            shown(&ns.namespace)
        )));
    }
    w.commit().await?;
    Ok(json_response(StatusCode::OK, p.to_json()))
}

pub(crate) async fn delete_property(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, property)): Path<(String, String)>,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut w = svc.db.write().await?;
    if repo::get_property(&mut w.tx, &ns.namespace, &property).await?.is_none() {
        return Err(property_not_found(&property, &ns.namespace));
    }
    if ns.protected {
        return Err(protected("property", &property));
    }
    repo::delete_child(&mut w.tx, repo::PROPERTIES, &ns.namespace, "name", &property).await?;
    w.commit().await?;
    Ok(no_content())
}

// ---------------------------------------------------------------- tags

fn tag_not_found(name: &str, ns: &str) -> ImageError {
    ImageError::not_found(format!(
        "The metadata definition tag with name={} was not found in namespace={}.",
        shown(name),
        shown(ns)
    ))
}

pub(crate) async fn list_tags(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let (asc, limit) = list_params(&parse_query(uri.query())?)?;
    let mut c = svc.db.read().await?;
    let mut tags = repo::list_tags(&mut c, &ns.namespace).await?;
    if asc {
        tags.reverse();
    }
    if let Some(l) = limit.filter(|l| *l > 0) {
        tags.truncate(l);
    }
    Ok(json_response(StatusCode::OK, json!({"tags": tags.iter().map(Tag::to_json).collect::<Vec<_>>()})))
}

/// Glance's `bool_from_string` for `X-Openstack-Append`.
fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|s| matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "t" | "true" | "on" | "y" | "yes"))
}

/// `POST .../tags` (`{"tags": [{"name": ...}]}`): the namespace's tags
/// replaced by these, or these added with `X-Openstack-Append: true`.
pub(crate) async fn create_tags(
    State(svc): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let names = metadef::tags_body(&body_json(&body)?)?;
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let append = truthy(super::header_str(&headers, "x-openstack-append"));
    let now = berth_time::now();
    let mut w = svc.db.write().await?;
    if !append {
        repo::delete_namespace_rows(&mut w.tx, &ns.namespace, Some(repo::TAGS)).await?;
    }
    for n in &names {
        if !repo::insert_tag(&mut w.tx, &ns.namespace, &Tag { name: n.clone(), created_at: now, updated_at: now })
            .await?
        {
            return Err(duplicate_tag(n, &ns.namespace));
        }
    }
    w.commit().await?;
    Ok(created(json!({"tags": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}), None))
}

pub(crate) async fn create_tag(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, tag)): Path<(String, String)>,
) -> ApiResult {
    let tag = metadef::tag_name(&tag)?;
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let now = berth_time::now();
    let t = Tag { name: tag, created_at: now, updated_at: now };
    let mut w = svc.db.write().await?;
    if !repo::insert_tag(&mut w.tx, &ns.namespace, &t).await? {
        return Err(duplicate_tag(&t.name, &ns.namespace));
    }
    w.commit().await?;
    Ok(created(t.to_json(), Some(format!("{}/tags/{}", namespace_href(&ns.namespace), t.name))))
}

pub(crate) async fn show_tag(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, tag)): Path<(String, String)>,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut c = svc.db.read().await?;
    let t = repo::get_tag(&mut c, &ns.namespace, &tag).await?.ok_or_else(|| tag_not_found(&tag, &ns.namespace))?;
    Ok(json_response(StatusCode::OK, t.to_json()))
}

pub(crate) async fn update_tag(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, tag)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let new_name = metadef::tag_body(&body_json(&body)?)?;
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut w = svc.db.write().await?;
    let old = repo::get_tag(&mut w.tx, &ns.namespace, &tag).await?.ok_or_else(|| tag_not_found(&tag, &ns.namespace))?;
    let t = Tag { name: new_name, created_at: old.created_at, updated_at: berth_time::now() };
    if !repo::rename_tag(&mut w.tx, &ns.namespace, &old.name, &t).await? {
        return Err(duplicate_tag(&t.name, &ns.namespace));
    }
    w.commit().await?;
    Ok(json_response(StatusCode::OK, t.to_json()))
}

pub(crate) async fn delete_tag(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, tag)): Path<(String, String)>,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut w = svc.db.write().await?;
    if repo::get_tag(&mut w.tx, &ns.namespace, &tag).await?.is_none() {
        return Err(tag_not_found(&tag, &ns.namespace));
    }
    if ns.protected {
        return Err(protected("tag", &tag));
    }
    repo::delete_child(&mut w.tx, repo::TAGS, &ns.namespace, "name_key", &repo::tag_key(&tag)).await?;
    w.commit().await?;
    Ok(no_content())
}

// ---------------------------------------------------------------- resource types

/// `GET /v2/metadefs/resource_types`.
pub(crate) async fn list_resource_types(State(svc): State<AppState>, caller: Caller) -> ApiResult {
    svc.authorize_route(&caller, &target(&caller, None))?;
    let mut c = svc.db.read().await?;
    let rts = repo::list_resource_types(&mut c).await?;
    Ok(json_response(StatusCode::OK, json!({"resource_types": rts.iter().map(|r| r.to_json()).collect::<Vec<_>>()})))
}

/// `GET .../namespaces/{namespace}/resource_types`.
pub(crate) async fn list_associations(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    let t = target(&caller, Some(&ns));
    svc.authorize_route(&caller, &t)?;
    let mut c = svc.db.read().await?;
    let views: Vec<Value> = if svc.check(&caller, "get_metadef_resource_type", &t) {
        repo::list_associations(&mut c, Some(&ns.namespace)).await?.iter().map(|(_, a)| a.to_json()).collect()
    } else {
        Vec::new()
    };
    Ok(json_response(StatusCode::OK, json!({"resource_type_associations": views})))
}

/// `POST .../namespaces/{namespace}/resource_types`: associates the
/// namespace with a resource type (created when new).
pub(crate) async fn create_association(
    State(svc): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b = metadef::association_body(&body_json(&body)?)?;
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let now = berth_time::now();
    let a = Association {
        name: b.name,
        prefix: b.prefix,
        properties_target: b.properties_target,
        created_at: now,
        updated_at: now,
    };
    let mut w = svc.db.write().await?;
    if !repo::insert_association(&mut w.tx, &ns.namespace, &a).await? {
        return Err(duplicate_association(&a.name, &ns.namespace));
    }
    w.commit().await?;
    Ok(created(a.to_json(), None))
}

/// `DELETE .../namespaces/{namespace}/resource_types/{resource_type}`.
pub(crate) async fn delete_association(
    State(svc): State<AppState>,
    caller: Caller,
    Path((name, rt)): Path<(String, String)>,
) -> ApiResult {
    let ns = load(&svc, &caller, &name, Missing::Short).await?;
    svc.authorize_route(&caller, &target(&caller, Some(&ns)))?;
    let mut w = svc.db.write().await?;
    let exists = repo::list_associations(&mut w.tx, Some(&ns.namespace)).await?.iter().any(|(_, a)| a.name == rt);
    if !exists {
        return Err(ImageError::not_found(format!("Failed to find resource type {} to delete", shown(&rt))));
    }
    if ns.protected {
        return Err(ImageError::forbidden(format!(
            "Metadata definition resource-type-association {} is protected and cannot be deleted.",
            shown(&rt)
        )));
    }
    repo::delete_child(&mut w.tx, "image_metadef_resource_type_associations", &ns.namespace, "resource_type", &rt)
        .await?;
    w.commit().await?;
    Ok(no_content())
}
