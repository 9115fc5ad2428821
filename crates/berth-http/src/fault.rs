//! The API-neutral error record every berth API answers with.
//!
//! Handlers (or an API's own error type) return a [`Fault`]; its
//! `IntoResponse` only records it in the response extensions. The edge's
//! error-rendering stage ([`crate::edge`]) writes the body once, in the API's
//! own format ([`ErrorFormat`]), where the request id and microversion are
//! known.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderName, HeaderValue, StatusCode};

use crate::Version;

/// What went wrong, in HTTP terms: a status, a message for the client, an
/// optional machine-readable code (Placement's `code`), extra headers.
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: StatusCode,
    pub message: String,
    pub code: Option<&'static str>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Fault {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Fault { status, message: message.into(), code: None, headers: Vec::new() }
    }
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        for (k, v) in &self.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

/// What the renderer knows about the request an error answers.
#[derive(Debug, Clone)]
pub struct FaultContext {
    pub request_id: String,
    /// The negotiated microversion, when the API has them and negotiation
    /// happened before the error.
    pub version: Option<Version>,
    /// The request's `Accept` header (Placement answers HTML on request).
    pub accept: Option<String>,
    /// The request's method and `Content-Type` header (webob's 405 and 415
    /// texts name them).
    pub method: http::Method,
    pub content_type: Option<String>,
}

/// How one API family writes its error bodies: Nova's
/// `{"itemNotFound": {...}}`, Keystone's `{"error": {...}}`, Glance's,
/// Placement's `{"errors": [...]}`.
pub trait ErrorFormat: Send + Sync + 'static {
    /// The whole answer for `fault` (status, body, content type, and headers
    /// such as `WWW-Authenticate`). The edge adds the fault's own headers and
    /// keeps headers the inner answer set (`Allow`, version headers).
    fn render(&self, fault: &Fault, cx: &FaultContext) -> Response;

    /// The message of an error no handler explained (the router's 404 and
    /// 405, the body limit's 413, a panic's 500, an extractor's rejection).
    /// `text` is the plain-text body of the inner answer, if any.
    fn message_for(&self, status: StatusCode, text: &str) -> String {
        match status.as_u16() {
            401 => "The request you have made requires authentication.".into(),
            404 => "The resource could not be found.".into(),
            405 => "The method is not allowed for the requested URL.".into(),
            413 => "Request is too large.".into(),
            500 => "An unexpected error prevented the server from fulfilling your request.".into(),
            _ if !text.is_empty() => text.into(),
            _ => status.canonical_reason().unwrap_or("Error").into(),
        }
    }
}

/// A JSON answer with `status` and `body` (helper for [`ErrorFormat`]s).
pub fn json_error(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
