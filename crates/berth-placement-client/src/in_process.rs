//! [`PlacementClient`] over an in-process `axum::Router`.

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::{
    BoxFuture, PlacementClient, PlacementError, PlacementRequest, PlacementResponse, Result, TokenProvider,
    MICROVERSION,
};

/// Calls a Placement router directly (no sockets): the all-in-one
/// deployment runs exactly the code a remote one does, minus TCP.
#[derive(Clone)]
pub struct InProcessPlacementClient {
    router: Router,
    prefix: String,
    token: Arc<dyn TokenProvider>,
}

impl std::fmt::Debug for InProcessPlacementClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessPlacementClient").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl InProcessPlacementClient {
    /// `router` serves Placement at its root (`/resource_providers`, ...).
    pub fn new(router: Router, token: Arc<dyn TokenProvider>) -> Self {
        InProcessPlacementClient { router, prefix: String::new(), token }
    }

    /// Use when `router` serves Placement under a path (e.g. the whole
    /// cloud's router with Placement nested at `/placement`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_end_matches('/').to_string();
        self
    }
}

impl PlacementClient for InProcessPlacementClient {
    fn send(&self, req: PlacementRequest) -> BoxFuture<'_, Result<PlacementResponse>> {
        Box::pin(async move {
            let uri = format!("{}{}", self.prefix, req.path);
            let mut b = http::Request::builder()
                .method(req.method.clone())
                .uri(&uri)
                .header("openstack-api-version", format!("placement {MICROVERSION}"))
                .header("accept", "application/json");
            if let Some(t) = self.token.token().await {
                b = b.header("x-auth-token", t);
            }
            let body = match &req.body {
                Some(v) => {
                    b = b.header("content-type", "application/json");
                    Body::from(v.to_string())
                }
                None => Body::empty(),
            };
            let request = b.body(body).map_err(|e| PlacementError::Other {
                status: 0,
                message: format!("{} {uri}: bad request: {e}", req.method),
            })?;
            let resp = match self.router.clone().oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| PlacementError::Unavailable(format!("{} {uri}: reading response: {e}", req.method)))?
                .to_bytes();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok(PlacementResponse { status, body })
        })
    }
}
