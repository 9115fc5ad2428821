//! HTTP layer: the router and helpers shared by the handlers.

mod data;
mod images;
mod members;
mod schemas;
mod versions;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::OriginalUri;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::Value;

use crate::error::{error_response, ImageError, Result};
use crate::service::ImageService;

pub(crate) const ACCEPT_PATCH: &str = "accept-patch";

pub(crate) type AppState = Arc<ImageService>;
pub(crate) type ApiResult = Result<Response>;

/// The image API, with routes relative to its mount point (`/`,
/// `/versions`, `/v2/images`, ...). Mount it with
/// `Router::nest("/image", ...)`.
pub fn router(service: Arc<ImageService>) -> Router {
    Router::new()
        .route("/", get(versions::root))
        .route("/versions", get(versions::explicit))
        .route("/v2", get(versions::root))
        .route("/v2/", get(versions::root))
        .route("/v2/images", get(images::list).post(images::create))
        .route("/v2/images/{id}", get(images::show).patch(images::update).delete(images::delete))
        .route("/v2/images/{id}/file", get(data::download).put(data::upload))
        .route("/v2/images/{id}/tags/{tag}", put(images::add_tag).delete(images::delete_tag))
        .route("/v2/images/{id}/actions/deactivate", post(images::deactivate))
        .route("/v2/images/{id}/actions/reactivate", post(images::reactivate))
        .route("/v2/images/{id}/members", get(members::list).post(members::create))
        .route("/v2/images/{id}/members/{member}", get(members::show).put(members::update).delete(members::delete))
        .route("/v2/schemas/image", get(schemas::image))
        .route("/v2/schemas/images", get(schemas::images))
        .route("/v2/schemas/member", get(schemas::member))
        .route("/v2/schemas/members", get(schemas::members))
        .fallback(not_found)
        .layer(axum::middleware::map_response(glance_errors))
        .with_state(service)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "The resource could not be found.")
}

/// Turn any non-JSON error (extractor rejections, 405, 413...) into
/// Glance's error format.
async fn glance_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let keep: Vec<_> = [header::ALLOW, header::HeaderName::from_static(ACCEPT_PATCH)]
        .into_iter()
        .filter_map(|h| resp.headers().get(&h).cloned().map(|v| (h, v)))
        .collect();
    let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_string();
    let message = match status.as_u16() {
        404 => "The resource could not be found.".to_string(),
        405 => "The method is not allowed for this resource.".to_string(),
        413 => "The request body is too large.".to_string(),
        _ if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    let mut out = error_response(status, &message);
    for (h, v) in keep {
        out.headers_mut().insert(h, v);
    }
    out
}

// ---------------------------------------------------------------- helpers

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The URL of the image endpoint as the client reached it (for example
/// `http://host:8778/image`): the configured public URL, or the `Host`
/// header plus the mount path (the original path minus the routed path).
pub(crate) fn endpoint_url(svc: &ImageService, headers: &HeaderMap, original: &OriginalUri, uri: &Uri) -> String {
    if let Some(u) = &svc.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty() && h.len() <= 255 && h.bytes().all(|c| c.is_ascii_alphanumeric() || b".-:[]_".contains(&c))
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let full = original.0.path();
    let inner = uri.path();
    let prefix = if inner == "/" { full.trim_end_matches('/') } else { full.strip_suffix(inner).unwrap_or("") };
    let prefix = prefix.trim_end_matches('/');
    format!("{}://{host}{prefix}", if https { "https" } else { "http" })
}

/// Parse a JSON request body (400 when absent or malformed).
pub(crate) fn parse_json(body: &Bytes) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ImageError::bad_request("Body expected in request."));
    }
    serde_json::from_slice(body).map_err(|_| ImageError::bad_request("Malformed JSON in request body."))
}

/// A handler's path parameters, extracted without rejecting the request
/// early: a parameter that does not decode (bytes that are not UTF-8) is
/// reported only after authentication, so an unauthenticated caller gets
/// 401 whatever the path holds.
pub(crate) type PathParams<T> = std::result::Result<axum::extract::Path<T>, axum::extract::rejection::PathRejection>;

/// The decoded path parameters, or (after authenticating the caller) the
/// extractor's 400 in Glance's format.
pub(crate) async fn path_params<T>(svc: &ImageService, headers: &HeaderMap, path: PathParams<T>) -> Result<T> {
    match path {
        Ok(axum::extract::Path(t)) => Ok(t),
        Err(e) => {
            svc.authenticate(headers).await?;
            Err(ImageError::new(e.status(), e.body_text()))
        }
    }
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
