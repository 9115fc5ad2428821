//! HTTP layer: the router and helpers shared by the handlers.

mod data;
mod images;
mod imports;
mod members;
mod metadefs;
mod schemas;
mod versions;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::OriginalUri;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use berth_http::{Access, Edge, RouteSpec, RouteTable};
use serde_json::Value;

use crate::error::{GlanceErrors, ImageError, Result};
use crate::service::ImageService;

pub(crate) const ACCEPT_PATCH: &str = "accept-patch";

/// Largest request body outside image data uploads (axum's former default).
pub const MAX_BODY: usize = 2 << 20;

pub(crate) type AppState = Arc<ImageService>;
pub(crate) type ApiResult = Result<Response>;

/// Every route of the image API with the policy rule it names (Glance's
/// rule names, see [`crate::policy_defaults`]). The handler checks that rule
/// against the image it loads (owner, visibility, membership).
fn table() -> RouteTable<AppState> {
    use Method as M;
    let rule = Access::Rule;
    RouteTable::new()
        .route("/", M::GET, Access::Public, versions::root)
        .route("/versions", M::GET, Access::Public, versions::explicit)
        .route("/v2", M::GET, Access::Public, versions::root)
        .route("/v2/", M::GET, Access::Public, versions::root)
        .route("/v2/images", M::GET, rule("get_images"), images::list)
        .route("/v2/images", M::POST, rule("add_image"), images::create)
        .route("/v2/images/{id}", M::GET, rule("get_image"), images::show)
        .route("/v2/images/{id}", M::PATCH, rule("modify_image"), images::update)
        .route("/v2/images/{id}", M::DELETE, rule("delete_image"), images::delete)
        .route("/v2/images/{id}/file", M::GET, rule("download_image"), data::download)
        .route("/v2/images/{id}/file", M::PUT, rule("upload_image"), data::upload)
        .route("/v2/images/{id}/tags/{tag}", M::PUT, rule("modify_image"), images::add_tag)
        .route("/v2/images/{id}/tags/{tag}", M::DELETE, rule("modify_image"), images::delete_tag)
        .route("/v2/images/{id}/actions/deactivate", M::POST, rule("deactivate"), images::deactivate)
        .route("/v2/images/{id}/actions/reactivate", M::POST, rule("reactivate"), images::reactivate)
        .route("/v2/images/{id}/stage", M::PUT, rule("modify_image"), imports::stage)
        .route("/v2/images/{id}/import", M::POST, rule("modify_image"), imports::import)
        .route("/v2/images/{id}/tasks", M::GET, rule("get_image"), imports::image_tasks)
        .route("/v2/info/import", M::GET, Access::Authenticated, imports::info_import)
        .route("/v2/info/stores", M::GET, Access::Authenticated, imports::info_stores)
        .route("/v2/info/stores/detail", M::GET, rule("stores_info_detail"), imports::info_stores_detail)
        .route("/v2/info/usage", M::GET, Access::Authenticated, imports::info_usage)
        .route("/v2/tasks", M::GET, rule("get_tasks"), imports::list_tasks)
        .route("/v2/tasks/{id}", M::GET, rule("get_task"), imports::show_task)
        .route("/v2/images/{id}/members", M::GET, rule("get_members"), members::list)
        .route("/v2/images/{id}/members", M::POST, rule("add_member"), members::create)
        .route("/v2/images/{id}/members/{member}", M::GET, rule("get_member"), members::show)
        .route("/v2/images/{id}/members/{member}", M::PUT, rule("modify_member"), members::update)
        .route("/v2/images/{id}/members/{member}", M::DELETE, rule("delete_member"), members::delete)
        .route("/v2/metadefs/namespaces", M::GET, rule("get_metadef_namespaces"), metadefs::list_namespaces)
        .route("/v2/metadefs/namespaces", M::POST, rule("add_metadef_namespace"), metadefs::create_namespace)
        .route("/v2/metadefs/namespaces/{namespace}", M::GET, rule("get_metadef_namespace"), metadefs::show_namespace)
        .route(
            "/v2/metadefs/namespaces/{namespace}",
            M::PUT,
            rule("modify_metadef_namespace"),
            metadefs::update_namespace,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}",
            M::DELETE,
            rule("delete_metadef_namespace"),
            metadefs::delete_namespace,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/objects",
            M::GET,
            rule("get_metadef_objects"),
            metadefs::list_objects,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/objects",
            M::POST,
            rule("add_metadef_object"),
            metadefs::create_object,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/objects",
            M::DELETE,
            rule("delete_metadef_namespace"),
            metadefs::delete_objects,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/objects/{object}",
            M::GET,
            rule("get_metadef_object"),
            metadefs::show_object,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/objects/{object}",
            M::PUT,
            rule("modify_metadef_object"),
            metadefs::update_object,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/objects/{object}",
            M::DELETE,
            rule("delete_metadef_object"),
            metadefs::delete_object,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/properties",
            M::GET,
            rule("get_metadef_properties"),
            metadefs::list_properties,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/properties",
            M::POST,
            rule("add_metadef_property"),
            metadefs::create_property,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/properties",
            M::DELETE,
            rule("delete_metadef_namespace"),
            metadefs::delete_properties,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/properties/{property}",
            M::GET,
            rule("get_metadef_property"),
            metadefs::show_property,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/properties/{property}",
            M::PUT,
            rule("modify_metadef_property"),
            metadefs::update_property,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/properties/{property}",
            M::DELETE,
            rule("remove_metadef_property"),
            metadefs::delete_property,
        )
        .route("/v2/metadefs/namespaces/{namespace}/tags", M::GET, rule("get_metadef_tags"), metadefs::list_tags)
        .route("/v2/metadefs/namespaces/{namespace}/tags", M::POST, rule("add_metadef_tags"), metadefs::create_tags)
        .route(
            "/v2/metadefs/namespaces/{namespace}/tags",
            M::DELETE,
            rule("delete_metadef_tags"),
            metadefs::delete_tags,
        )
        .route("/v2/metadefs/namespaces/{namespace}/tags/{tag}", M::GET, rule("get_metadef_tag"), metadefs::show_tag)
        .route("/v2/metadefs/namespaces/{namespace}/tags/{tag}", M::POST, rule("add_metadef_tag"), metadefs::create_tag)
        .route(
            "/v2/metadefs/namespaces/{namespace}/tags/{tag}",
            M::PUT,
            rule("modify_metadef_tag"),
            metadefs::update_tag,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/tags/{tag}",
            M::DELETE,
            rule("delete_metadef_tag"),
            metadefs::delete_tag,
        )
        .route(
            "/v2/metadefs/resource_types",
            M::GET,
            rule("list_metadef_resource_types"),
            metadefs::list_resource_types,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/resource_types",
            M::GET,
            rule("list_metadef_resource_types"),
            metadefs::list_associations,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/resource_types",
            M::POST,
            rule("add_metadef_resource_type_association"),
            metadefs::create_association,
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/resource_types/{resource_type}",
            M::DELETE,
            rule("remove_metadef_resource_type_association"),
            metadefs::delete_association,
        )
        .route("/v2/schemas/image", M::GET, Access::Authenticated, schemas::image)
        .route("/v2/schemas/images", M::GET, Access::Authenticated, schemas::images)
        .route("/v2/schemas/member", M::GET, Access::Authenticated, schemas::member)
        .route("/v2/schemas/members", M::GET, Access::Authenticated, schemas::members)
        .route("/v2/schemas/metadefs/{name}", M::GET, Access::Authenticated, schemas::metadef)
        .route("/v2/schemas/task", M::GET, Access::Authenticated, schemas::task)
        .route("/v2/schemas/tasks", M::GET, Access::Authenticated, schemas::tasks)
}

/// The route table's rows (for tests that walk every route).
pub fn route_specs() -> Vec<RouteSpec> {
    table().specs().to_vec()
}

/// Image data uploads and staged data stream to disk, bounded by
/// `max_image_size` rather than by the edge's body limit.
fn is_upload(method: &Method, path: &str) -> bool {
    method == Method::PUT
        && (berth_http::edge::template_matches(&["v2", "images", "{id}", "file"], path)
            || berth_http::edge::template_matches(&["v2", "images", "{id}", "stage"], path))
}

/// The image API behind berth's HTTP edge (request ids, Glance's error
/// bodies, body limit, authentication), with routes relative to its mount
/// point (`/`, `/versions`, `/v2/images`, ...). Mount it with
/// `Router::nest("/image", ...)`.
pub fn router(service: Arc<ImageService>) -> Router {
    Edge::new("image", GlanceErrors)
        .auth(service.auth.clone())
        .body_limit(MAX_BODY, is_upload)
        // Glance reads undecodable query bytes as replacement characters
        // (`?name=%FF` is a filter that matches nothing); the handlers
        // refuse or ignore a NUL themselves.
        .unchecked_queries()
        .wrap(table())
        .with_state(service)
}

// ---------------------------------------------------------------- helpers

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The URL of the image endpoint as the client reached it (for example
/// `http://host:8778/image`).
pub(crate) fn endpoint_url(svc: &ImageService, headers: &HeaderMap, original: &OriginalUri, uri: &Uri) -> String {
    berth_http::public_base(svc.config.public_url.as_deref(), headers, original.0.path(), uri.path())
}

/// Parse a JSON request body (400 when absent or malformed).
pub(crate) fn parse_json(body: &Bytes) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ImageError::bad_request("Body expected in request."));
    }
    serde_json::from_slice(body).map_err(|_| ImageError::bad_request("Malformed JSON in request body."))
}

/// Query string pairs, in order.
pub(crate) fn parse_query(raw: Option<&str>) -> Result<Vec<(String, String)>> {
    match raw {
        None | Some("") => Ok(Vec::new()),
        Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map_err(|e| ImageError::bad_request(format!("Invalid query string: {e}"))),
    }
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
