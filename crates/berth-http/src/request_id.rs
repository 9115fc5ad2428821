//! `openstack-request-id: req-<uuid>` on every response.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "openstack-request-id";

/// The id of the current request, available as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn generate() -> Self {
        RequestId(format!("req-{}", uuid::Uuid::new_v4()))
    }
}

/// Middleware: assign a request id, expose it to handlers and echo it.
pub async fn request_id_layer(mut req: Request, next: Next) -> Response {
    let id = RequestId::generate();
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = %id.0, method = %req.method(), path = %req.uri().path());
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_uuids() {
        let id = RequestId::generate().0;
        assert!(id.starts_with("req-"));
        assert!(uuid::Uuid::parse_str(&id[4..]).is_ok());
        assert_ne!(id, RequestId::generate().0);
    }
}
