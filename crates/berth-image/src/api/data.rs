//! `/v2/images/{id}/file`: upload and download of image data.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{header_str, ApiResult, AppState};
use crate::error::ImageError;
use crate::service::{Caller, ImageService};

/// The checks of an upload's headers (image data and staged data alike):
/// 415 for a body that is not `application/octet-stream`, 400 for a bad
/// `x-openstack-image-size`, 413 for a declared size over the limit. Gives
/// the declared size.
pub(crate) fn upload_size(svc: &ImageService, headers: &HeaderMap) -> Result<Option<u64>, ImageError> {
    let ct = header_str(headers, "content-type").unwrap_or("");
    let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if base != "application/octet-stream" {
        return Err(ImageError::unsupported_media_type(if ct.is_empty() {
            "Missing Content-Type".to_string()
        } else {
            format!("Content type {ct} is not supported; use application/octet-stream")
        }));
    }
    let declared = match header_str(headers, "x-openstack-image-size") {
        Some(s) => Some(
            s.trim()
                .parse::<u64>()
                .map_err(|_| ImageError::bad_request("Invalid or missing image size in request headers."))?,
        ),
        None => None,
    };
    let length = header_str(headers, "content-length").and_then(|s| s.trim().parse::<u64>().ok());
    // Refused before the image changes status.
    if let Some(len) = length.into_iter().chain(declared).max() {
        if len > svc.store.max_size() {
            return Err(ImageError::too_large(format!(
                "The incoming image is too large: the limit is {} bytes.",
                svc.store.max_size()
            )));
        }
    }
    Ok(declared)
}

/// `PUT /v2/images/{id}/file` (application/octet-stream): 204 when the
/// image is active with its data.
pub(crate) async fn upload(
    State(svc): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let declared = upload_size(&svc, &headers)?;
    let (img, member) = svc.load_visible(&caller, &id).await?;
    svc.enforce_route(&caller, &img, member.as_ref())?;
    svc.store_data(&id, body, declared).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v2/images/{id}/file`: the data with `Content-MD5`, or 204 when the
/// image has none.
pub(crate) async fn download(State(svc): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (img, member) = svc.load_visible(&caller, &id).await?;
    if img.status == "deactivated" && !caller.is_admin {
        return Err(ImageError::forbidden(
            "The requested image has been deactivated. Image data download is forbidden.",
        ));
    }
    svc.enforce_route(&caller, &img, member.as_ref())?;
    if img.status != "active" && img.status != "deactivated" {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let Some((body, len)) = svc.store.read(&id).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut resp: Response = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(sum) = img.checksum.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("content-md5", sum);
    }
    Ok(resp)
}
