//! [`PlacementClient`] over HTTP.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::{
    BoxFuture, PlacementClient, PlacementError, PlacementRequest, PlacementResponse, Result, TokenProvider,
    MICROVERSION,
};

/// Talks to a Placement endpoint such as `http://host:8778` or
/// `http://host/placement`.
#[derive(Debug, Clone)]
pub struct HttpPlacementClient {
    base: String,
    http: reqwest::Client,
    token: Arc<dyn TokenProvider>,
}

impl HttpPlacementClient {
    /// `base_url` without a trailing slash (one is stripped).
    pub fn new(base_url: impl Into<String>, token: Arc<dyn TokenProvider>) -> Self {
        Self::with_timeout(base_url, token, Duration::from_secs(30))
    }

    pub fn with_timeout(base_url: impl Into<String>, token: Arc<dyn TokenProvider>, timeout: Duration) -> Self {
        let base = base_url.into().trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .build()
            .unwrap_or_default();
        HttpPlacementClient { base, http, token }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }
}

impl PlacementClient for HttpPlacementClient {
    fn send(&self, req: PlacementRequest) -> BoxFuture<'_, Result<PlacementResponse>> {
        Box::pin(async move {
            let url = format!("{}{}", self.base, req.path);
            let mut b = self
                .http
                .request(req.method.clone(), &url)
                .header("openstack-api-version", format!("placement {MICROVERSION}"))
                .header("accept", "application/json");
            if let Some(t) = self.token.token().await {
                b = b.header("x-auth-token", t);
            }
            if let Some(body) = &req.body {
                b = b.header("content-type", "application/json").body(body.to_string());
            }
            let resp =
                b.send().await.map_err(|e| PlacementError::Unavailable(format!("{} {}: {e}", req.method, req.path)))?;
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.map_err(|e| {
                PlacementError::Unavailable(format!("{} {}: reading response: {e}", req.method, req.path))
            })?;
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok(PlacementResponse { status, body })
        })
    }
}
