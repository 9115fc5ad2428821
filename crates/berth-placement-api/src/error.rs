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

/// The form webob picks for an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Html,
    Json,
    Plain,
}

/// The `Accept` value webob sees: upstream's request-log middleware turns a
/// missing, empty or exactly `*/*` header into `application/json`.
fn effective_accept(accept: Option<&str>) -> &str {
    match accept {
        None | Some("") | Some("*/*") => "application/json",
        Some(a) => a,
    }
}

/// webob's choice between `text/html` and `application/json` (offered in
/// that order): the best quality wins, a tie goes to the first offer, and
/// neither acceptable means plain text. An `Accept` that does not parse
/// accepts everything.
fn negotiate_form(accept: &str) -> Form {
    let mut ranges = Vec::new();
    for item in accept.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let Some((ty, sub)) = range.split_once('/') else { return Form::Html };
        if ty.is_empty() || sub.is_empty() {
            return Form::Html;
        }
        let mut q = 1.0_f64;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    match v.trim().parse::<f64>() {
                        Ok(x) if (0.0..=1.0).contains(&x) => q = x,
                        _ => return Form::Html,
                    }
                }
            }
        }
        ranges.push((ty.to_string(), sub.to_string(), q));
    }
    let quality = |oty: &str, osub: &str| -> f64 {
        let mut best: Option<(u8, f64)> = None;
        for (ty, sub, q) in &ranges {
            let spec = if ty == oty && sub == osub {
                3
            } else if ty == oty && sub == "*" {
                2
            } else if ty == "*" && sub == "*" {
                1
            } else {
                continue;
            };
            if best.is_none_or(|(s, _)| spec > s) {
                best = Some((spec, *q));
            }
        }
        best.map(|(_, q)| q).unwrap_or(0.0)
    };
    let html = quality("text", "html");
    let json = quality("application", "json");
    if html <= 0.0 && json <= 0.0 {
        Form::Plain
    } else if html >= json {
        Form::Html
    } else {
        Form::Json
    }
}

/// The text webob puts before the message: the status's explanation, or
/// for 405, 406 and 415 a sentence naming the method, the `Accept` header
/// or the content type. `esc` is applied to those request values.
fn preamble(status: StatusCode, cx: &FaultContext, esc: fn(&str) -> String) -> String {
    match status.as_u16() {
        405 => format!("The method {} is not allowed for this resource. ", esc(cx.method.as_str())),
        406 => format!(
            "The resource could not be generated that was acceptable to your browser\n(content of type {}. ",
            esc(effective_accept(cx.accept.as_deref()))
        ),
        415 => format!(
            "The request media type {} is not supported by this server.\n",
            esc(cx.content_type.as_deref().unwrap_or("None"))
        ),
        400 => {
            "The server could not comply with the request since it is either malformed or otherwise incorrect.".into()
        }
        403 => "Access was denied to this resource.".into(),
        404 => "The resource could not be found.".into(),
        409 => "There was a conflict when trying to complete your request.".into(),
        413 => "The request is larger than the server is willing or able to process.".into(),
        500 => "The server has either erred or is incapable of performing the requested operation.".into(),
        503 => "The server is currently unavailable. Please try again at a later time.".into(),
        _ => String::new(),
    }
}

/// webob's error body before tag stripping (JSON and plain text) or inside
/// the HTML page: preamble, `<br /><br />`, the message, and for the
/// statuses with the standard template two more line ends.
fn webob_body(status: StatusCode, message: &str, cx: &FaultContext, esc: fn(&str) -> String) -> String {
    let pre = preamble(status, cx, esc);
    match status.as_u16() {
        405 | 406 | 415 => format!("{pre}<br /><br />\n{}", esc(message)),
        _ => format!("{pre}<br /><br />\n{}\n\n", esc(message)),
    }
}

/// webob's `strip_tags`: line ends become spaces, `<br ...>` a line end,
/// comment markers and any other tag disappear.
pub fn strip_tags(s: &str) -> String {
    let flat: String = s.chars().filter(|c| *c != '\r').map(|c| if c == '\n' { ' ' } else { c }).collect();
    // `<br.*?>`, case-insensitive.
    let mut out = String::with_capacity(flat.len());
    let mut rest = flat.as_str();
    while let Some(i) = rest.find('<') {
        let after = &rest[i..];
        let is_br = after.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("<br"));
        match (is_br, after.find('>')) {
            (true, Some(j)) => {
                out.push_str(&rest[..i]);
                out.push('\n');
                rest = &after[j + 1..];
            }
            _ => {
                out.push_str(&rest[..=i]);
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    let out = out.replace("<!--", "").replace("-->", "");
    // `<.*?>`.
    let mut res = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find('<') {
        match rest[i..].find('>') {
            Some(j) => {
                res.push_str(&rest[..i]);
                rest = &rest[i + j + 1..];
            }
            None => break,
        }
    }
    res.push_str(rest);
    res
}

/// The `detail` of Placement's JSON error for `message`, as upstream words
/// it: webob's explanation of the status, then the message with its line
/// ends flattened.
pub fn detail_text(status: StatusCode, message: &str, cx: &FaultContext) -> String {
    strip_tags(&webob_body(status, message, cx, |s| s.to_string()))
}

/// Placement's error body, for the edge's error-rendering stage:
/// `{"errors": [{status, title, detail, code (1.23+), request_id}]}`, or
/// webob's HTML page or plain text when the client's `Accept` picks those;
/// a 401 comes from keystonemiddleware, in Keystone's format. The fault's
/// message is upstream's message alone; the renderer adds webob's text
/// around it.
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
        let code = err.status.as_u16();
        let (body, ctype) = match negotiate_form(effective_accept(cx.accept.as_deref())) {
            Form::Html => (
                format!(
                    "<html>\n <head>\n  <title>{code} {title}</title>\n </head>\n <body>\n  <h1>{code} {title}</h1>\n  {}\n </body>\n</html>",
                    webob_body(err.status, &err.message, cx, html_escape)
                ),
                "text/html; charset=UTF-8",
            ),
            Form::Plain => (
                format!("{code} {title}\n\n{}", detail_text(err.status, &err.message, cx)),
                "text/plain; charset=UTF-8",
            ),
            Form::Json => {
                let mut e = json!({"status": code, "title": title, "detail": detail_text(err.status, &err.message, cx)});
                if cx.version.is_some_and(|v| v.at_least(1, 23)) {
                    e["code"] = json!(err.code.unwrap_or(codes::DEFAULT));
                }
                e["request_id"] = json!(cx.request_id);
                if err.status == StatusCode::NOT_ACCEPTABLE && cx.version.is_none() {
                    e["max_version"] = json!(MAX_VERSION.to_string());
                    e["min_version"] = json!(MIN_VERSION.to_string());
                }
                (json!({"errors": [e]}).to_string(), "application/json")
            }
        };
        let mut resp = (err.status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        resp
    }

    /// Errors no handler explained carry no message of their own upstream
    /// (webob's explanation says it all), except those below.
    fn message_for(&self, status: StatusCode, text: &str) -> String {
        match status.as_u16() {
            401 => "The request you have made requires authentication.".into(),
            404 | 500 => String::new(),
            413 => "Request body too large".into(),
            _ => text.into(),
        }
    }
}

/// webob's `html_escape`: Python's `html.escape(s, quote=True)`, then
/// non-ASCII characters as decimal character references.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("&#{};", c as u32)),
        }
    }
    out
}
