//! Placement's error body, rendered in one place.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only records the error in
//! the response extensions. [`render_errors`] (outermost middleware, where the
//! request id and microversion are known) writes the body:
//! `{"errors": [{"status", "title", "detail", "code" (1.23+), "request_id"}]}`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_http::{RequestId, Version};
use berth_placement::{codes, ErrorKind};
use http::{header, HeaderValue, StatusCode};
use serde_json::json;

use crate::versions::{MAX_VERSION, MIN_VERSION};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub code: &'static str,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError { status, detail: detail.into(), code: codes::DEFAULT, headers: Vec::new() }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
}

/// Domain errors map by kind; the domain code passes through.
impl From<berth_placement::Error> for ApiError {
    fn from(e: berth_placement::Error) -> Self {
        let status = match e.kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => {
                tracing::error!(error = %e.detail, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError { status, detail: e.detail, code: e.code, headers: Vec::new() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        for (k, v) in &self.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

/// Whether the client wants HTML rather than JSON error bodies (webob picks
/// the error format from `Accept`).
fn wants_html(accept: Option<&str>) -> bool {
    match accept {
        Some(a) => !a.contains("json") && !a.contains("*/*") && a.contains("html"),
        None => false,
    }
}

/// Middleware: turn a recorded [`ApiError`] into Placement's error body.
pub async fn render_errors(req: Request, next: Next) -> Response {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_string);
    let request_id = req.extensions().get::<RequestId>().cloned();
    let mut resp = next.run(req).await;
    let Some(err) = resp.extensions_mut().remove::<ApiError>() else { return resp };
    let version = resp.extensions().get::<Version>().copied();
    let title = err.status.canonical_reason().unwrap_or("Error");
    let (body, ctype) = if wants_html(accept.as_deref()) {
        let code = err.status.as_u16();
        (
            format!(
                "<html>\n <head>\n  <title>{code} {title}</title>\n </head>\n <body>\n  <h1>{code} {title}</h1>\n  {}<br /><br />\n\n\n\n </body>\n</html>",
                html_escape(&err.detail)
            ),
            "text/html; charset=UTF-8",
        )
    } else {
        let mut e = json!({"status": err.status.as_u16(), "title": title, "detail": err.detail});
        if version.is_some_and(|v| v.at_least(1, 23)) {
            e["code"] = json!(err.code);
        }
        if let Some(id) = &request_id {
            e["request_id"] = json!(id.0);
        }
        if err.status == StatusCode::NOT_ACCEPTABLE && version.is_none() {
            e["max_version"] = json!(MAX_VERSION.to_string());
            e["min_version"] = json!(MIN_VERSION.to_string());
        }
        (json!({"errors": [e]}).to_string(), "application/json")
    };
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    *resp.body_mut() = axum::body::Body::from(body);
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
