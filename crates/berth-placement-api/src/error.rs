//! Placement's error body, rendered in one place.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` records a
//! [`berth_http::Fault`] in the response extensions, and the shared edge's
//! error-rendering stage (where the request id and microversion are known)
//! writes the body through [`PlacementErrors`]:
//! `{"errors": [{"status", "title", "detail", "code" (1.23+), "request_id"}]}`.

use axum::response::{IntoResponse, Response};
use berth_http::{json_error, ErrorFormat, Fault, FaultContext};
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

impl From<ApiError> for Fault {
    fn from(e: ApiError) -> Fault {
        Fault { status: e.status, message: e.detail, code: Some(e.code), headers: e.headers }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        Fault::from(self).into_response()
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

/// Placement's error body, for the edge's error-rendering stage:
/// `{"errors": [{status, title, detail, code (1.23+), request_id}]}`, or
/// webob's HTML page when the client asks for HTML; a 401 comes from
/// keystonemiddleware, in Keystone's format.
pub struct PlacementErrors;

impl ErrorFormat for PlacementErrors {
    fn render(&self, err: &Fault, cx: &FaultContext) -> Response {
        if err.status == StatusCode::UNAUTHORIZED {
            let body = json!({"error": {"code": 401, "title": "Unauthorized", "message": err.message}});
            let mut r = json_error(StatusCode::UNAUTHORIZED, &body);
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Keystone uri=\"/identity\""));
            return r;
        }
        let title = err.status.canonical_reason().unwrap_or("Error");
        let (body, ctype) = if wants_html(cx.accept.as_deref()) {
            let code = err.status.as_u16();
            (
                format!(
                    "<html>\n <head>\n  <title>{code} {title}</title>\n </head>\n <body>\n  <h1>{code} {title}</h1>\n  {}<br /><br />\n\n\n\n </body>\n</html>",
                    html_escape(&err.message)
                ),
                "text/html; charset=UTF-8",
            )
        } else {
            let mut e = json!({"status": err.status.as_u16(), "title": title, "detail": err.message});
            if cx.version.is_some_and(|v| v.at_least(1, 23)) {
                e["code"] = json!(err.code.unwrap_or(codes::DEFAULT));
            }
            e["request_id"] = json!(cx.request_id);
            if err.status == StatusCode::NOT_ACCEPTABLE && cx.version.is_none() {
                e["max_version"] = json!(MAX_VERSION.to_string());
                e["min_version"] = json!(MIN_VERSION.to_string());
            }
            (json!({"errors": [e]}).to_string(), "application/json")
        };
        let mut resp = (err.status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        resp
    }

    fn message_for(&self, status: StatusCode, text: &str) -> String {
        match status.as_u16() {
            401 => "The request you have made requires authentication.".into(),
            404 => "The resource could not be found.".into(),
            413 => "Request body too large".into(),
            500 => "An unexpected error prevented the server from fulfilling your request.".into(),
            _ if !text.is_empty() => text.into(),
            _ => status.canonical_reason().unwrap_or("Error").into(),
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
