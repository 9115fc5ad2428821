//! Where error kinds become HTTP: the status of each [`ErrorKind`], and
//! Nova's fault body (`{"itemNotFound": {"code": 404, "message": "..."}}`)
//! as the edge's [`ErrorFormat`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_http::{json_error, ErrorFormat, Fault, FaultContext};

use crate::error::{ComputeError, ErrorKind};

/// The HTTP status of an error kind.
pub(crate) fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Nova's fault name for a status (`nova.api.openstack.wsgi.Fault`).
pub(crate) fn fault_name(status: u16) -> &'static str {
    match status {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

/// Nova's message for a 500 (the details go to the log only).
const UNEXPECTED: &str =
    "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.";

/// Nova's error bodies, for the edge: `{"<faultName>": {"code", "message"}}`,
/// and for 401 keystonemiddleware's (Keystone's) body with
/// `WWW-Authenticate`, since it answers before Nova does.
pub(crate) struct NovaErrors;

impl ErrorFormat for NovaErrors {
    fn render(&self, fault: &Fault, _cx: &FaultContext) -> Response {
        let status = fault.status;
        if status == StatusCode::UNAUTHORIZED {
            let body = serde_json::json!({"error": {"code": 401, "title": "Unauthorized", "message": fault.message}});
            let mut resp = json_error(status, &body);
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Keystone uri=\"/identity\""));
            return resp;
        }
        // A 500's details are for the log (the edge logged them): Nova's
        // own wording instead.
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR { UNEXPECTED } else { fault.message.as_str() };
        let body = serde_json::json!({ fault_name(status.as_u16()): {"code": status.as_u16(), "message": message} });
        json_error(status, &body)
    }
}

/// A handler's error: its status and message, rendered by the edge.
impl IntoResponse for ComputeError {
    fn into_response(self) -> Response {
        Fault::new(status_of(self.kind), self.message).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(e: ComputeError) -> (StatusCode, String) {
        let r = e.into_response();
        let fault = r.extensions().get::<Fault>().cloned().expect("a fault");
        let cx = FaultContext {
            request_id: "req-1".into(),
            version: None,
            accept: None,
            method: http::Method::GET,
            content_type: None,
        };
        let r = NovaErrors.render(&fault, &cx);
        let s = r.status();
        (s, String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
    }

    #[tokio::test]
    async fn kinds_render_as_nova_faults() {
        let cases = [
            (ComputeError::bad_request("x"), 400, r#"{"badRequest":{"code":400,"message":"x"}}"#),
            (ComputeError::forbidden("x"), 403, r#"{"forbidden":{"code":403,"message":"x"}}"#),
            (ComputeError::not_found("x"), 404, r#"{"itemNotFound":{"code":404,"message":"x"}}"#),
            (ComputeError::conflict("x"), 409, r#"{"conflictingRequest":{"code":409,"message":"x"}}"#),
            (ComputeError::not_acceptable("x"), 406, r#"{"computeFault":{"code":406,"message":"x"}}"#),
            (ComputeError::unavailable("x"), 503, r#"{"serviceUnavailable":{"code":503,"message":"x"}}"#),
            (
                ComputeError::unauthorized(),
                401,
                r#"{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}"#,
            ),
        ];
        for (e, status, want) in cases {
            assert_eq!(body(e).await, (StatusCode::from_u16(status).unwrap(), want.to_string()));
        }
        // Internal errors never leak their message.
        let (s, b) = body(ComputeError::internal("database error: secret")).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(b.starts_with(r#"{"computeFault":{"code":500,"message":"Unexpected API Error."#), "{b}");
        assert!(!b.contains("secret"));
    }
}
