//! The request as every handler sees it, and response helpers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use berth_http::{RequestContext, Version};
use berth_policy::{Credentials, Target};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::error::ApiError;
use crate::schema::Schema;
use crate::AppState;

pub struct Req {
    /// The route table's rule for this route (absent outside the edge).
    pub route: Option<berth_http::RouteCheck>,
    pub state: Arc<AppState>,
    pub version: Version,
    pub ctx: RequestContext,
    pub method: Method,
    /// Mount point of the API (`/placement` under `berth up`), for links.
    pub prefix: String,
    pub params: HashMap<String, String>,
    pub raw_query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    /// True when the request's microversion is at least 1.`minor`.
    pub fn want(&self, minor: u16) -> bool {
        self.version.at_least(1, minor)
    }

    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// Query parameters in order, percent-decoded. Non-UTF-8 is a 400.
    pub fn query(&self) -> Result<Vec<(String, String)>, ApiError> {
        let Some(q) = &self.raw_query else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for part in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let dec = |s: &str| -> Result<String, ApiError> {
                let s = s.replace('+', " ");
                let bytes = percent_decode(&s);
                String::from_utf8(bytes)
                    .map_err(|_| ApiError::bad_request("Invalid query string parameters: not valid UTF-8"))
            };
            out.push((dec(k)?, dec(v)?));
        }
        Ok(out)
    }

    /// Query as a JSON object of the last value per key (webob's `dict(req.GET)`),
    /// for schema validation.
    pub fn query_object(&self) -> Result<Value, ApiError> {
        let mut m = serde_json::Map::new();
        for (k, v) in self.query()? {
            m.insert(k, Value::String(v));
        }
        Ok(Value::Object(m))
    }

    /// Require `application/json`, parse, validate against `schema`.
    pub fn json(&self, schema: &Schema) -> Result<Value, ApiError> {
        self.require_json_content()?;
        let v = self.parse_json()?;
        schema.validate_body(&v)?;
        if berth_http::json_has_nul(&v) {
            return Err(ApiError::bad_request("JSON strings must not contain NUL characters."));
        }
        Ok(v)
    }

    pub fn require_json_content(&self) -> Result<(), ApiError> {
        let ct = self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            let shown = if mime.is_empty() { "None" } else { mime };
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("The media type {shown} is not supported, use application/json"),
            ));
        }
        Ok(())
    }

    pub fn parse_json(&self) -> Result<Value, ApiError> {
        let text =
            std::str::from_utf8(&self.body).map_err(|e| ApiError::bad_request(format!("Malformed JSON: {e}")))?;
        serde_json::from_str(text).map_err(|e| {
            // Python's words where it refuses the text too.
            let why = crate::pyjson::python_json_error(text).unwrap_or_else(|| e.to_string());
            ApiError::bad_request(format!("Malformed JSON: {why}"))
        })
    }

    /// Enforce a policy rule against the caller (target: the caller's own
    /// project and user unless given).
    pub fn can(&self, rule: &str) -> Result<(), ApiError> {
        let mut target = Target::new();
        if let Some(p) = &self.ctx.project_id {
            target.insert("project_id".into(), p.clone());
        }
        if let Some(u) = &self.ctx.user_id {
            target.insert("user_id".into(), u.clone());
        }
        self.can_target(rule, &target)
    }

    /// Enforce `rule`, which must be the one the route table names for this
    /// route (a handler checking another rule is a bug the edge reports).
    pub fn can_target(&self, rule: &str, target: &Target) -> Result<(), ApiError> {
        if let Some(route) = &self.route {
            if route.names(rule) {
                route.mark_checked();
            } else {
                tracing::error!(rule, "handler checked a rule its route does not name");
            }
        }
        let creds = Credentials {
            user_id: self.ctx.user_id.clone(),
            project_id: self.ctx.project_id.clone(),
            domain_id: self.ctx.domain_id.clone(),
            roles: self.ctx.roles.clone(),
            system_scope: self.ctx.system_scope.clone(),
            ..Default::default()
        };
        self.state
            .policy
            .authorize(rule, target, &creds)
            .map_err(|_| ApiError::forbidden(format!("Policy does not allow {rule} to be performed.")))
    }

    /// An absolute URL for a path below the API root (webob makes `Location`
    /// absolute from the request's `Host`).
    pub fn absolute_url(&self, path: &str) -> String {
        format!("{}{path}", berth_http::public_base(None, &self.headers, &self.prefix, ""))
    }

    /// Set `Location` to the absolute URL of `path`.
    pub fn set_location(&self, resp: &mut Response, path: &str) {
        if let Ok(v) = HeaderValue::from_str(&self.absolute_url(path)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }

    /// GET handlers: refuse an `Accept` that excludes JSON (406).
    pub fn check_accept_json(&self) -> Result<(), ApiError> {
        let Some(a) = self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return Ok(()) };
        let ok = a.split(',').any(|item| {
            let m = item.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            m.is_empty() || m == "*/*" || m == "application/*" || m == "application/json"
        });
        if ok {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, "Only application/json is provided"))
        }
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(x) = hex {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A stored time (microseconds since the epoch, `berth_time`) as an HTTP
/// date, to the second (rounded down); times before the epoch render as
/// the epoch.
pub fn http_date(us: berth_time::Micros) -> String {
    berth_time::http_date(us.max(0))
}

/// Now, in the stored representation (microseconds since the epoch).
pub fn now_ts() -> berth_time::Micros {
    berth_time::now()
}

/// A JSON response; from 1.15 with `cache-control: no-cache` and
/// `last-modified` (the given time, or now when unknown).
pub fn json_response(req: &Req, status: StatusCode, body: &Value, last_modified: Option<i64>) -> Response {
    let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if req.want(15) {
        add_cache_headers(&mut resp, last_modified);
    }
    resp
}

/// Like [`json_response`] for a body already rendered as JSON text.
pub fn text_json_response(req: &Req, status: StatusCode, body: String, last_modified: Option<i64>) -> Response {
    let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if req.want(15) {
        add_cache_headers(&mut resp, last_modified);
    }
    resp
}

/// Like [`json_response`] for a body already rendered as JSON bytes.
pub fn bytes_json_response(
    req: &Req,
    status: StatusCode,
    body: axum::body::Bytes,
    last_modified: Option<i64>,
) -> Response {
    let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if req.want(15) {
        add_cache_headers(&mut resp, last_modified);
    }
    resp
}

pub fn add_cache_headers(resp: &mut Response, last_modified: Option<i64>) {
    let lm = last_modified.filter(|t| *t > 0).unwrap_or_else(now_ts);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&http_date(lm)) {
        resp.headers_mut().insert(header::LAST_MODIFIED, v);
    }
}

/// 204 with no body and no content type.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// What every handler returns.
pub type HandlerResult = Result<axum::response::Response, crate::error::ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_from_stored_micros() {
        assert_eq!(http_date(1_700_000_000_999_999), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
        // The same text the httpdate crate gives for the whole second.
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(http_date(1_700_000_000_500_000), httpdate::fmt_http_date(t));
    }

    #[test]
    fn decodes_percent() {
        assert_eq!(percent_decode("a%20b%2Cc"), b"a b,c".to_vec());
        assert_eq!(percent_decode("100%"), b"100%".to_vec());
        assert_eq!(percent_decode("%zz"), b"%zz".to_vec());
        assert_eq!(percent_decode("%FF"), vec![0xFF]);
    }
}
