//! Glue between the services of one berth process: token validation over
//! berth-identity, image lookups for compute, tokens for Placement clients,
//! and shutdown signalling for background tasks.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_compute::{ImageInfo, ImageLookup, ServerImage};
use berth_http::RequestContext;
use berth_placement_client::{BoxFuture, TokenProvider};
use tokio::sync::{watch, Mutex};

/// A shutdown signal every background task can wait on.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.clone();
        async move {
            while !*rx.borrow() {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Compute's view of berth-image: lookups for boots, and the image API
/// itself (its router, called in process with the caller's token) for
/// Nova's image proxy.
pub struct ImagesFromService(pub Arc<berth_image::ImageService>, pub axum::Router);

impl ImageLookup for ImagesFromService {
    fn lookup<'a>(
        &'a self,
        image_id: &'a str,
        caller: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Option<ImageInfo>, String>> {
        Box::pin(async move {
            let found = self.0.lookup_for(image_id, caller).await.map_err(|e| e.message)?;
            Ok(found.map(info))
        })
    }

    fn glance<'a>(
        &'a self,
        req: berth_compute::GlanceRequest,
    ) -> BoxFuture<'a, Result<berth_compute::GlanceResponse, String>> {
        use tower::ServiceExt;
        Box::pin(async move {
            let mut b =
                axum::http::Request::builder().method(req.method).uri(&req.path).header("x-auth-token", &req.token);
            let body = match req.body {
                Some((content_type, bytes)) => {
                    b = b.header("content-type", content_type);
                    axum::body::Body::from(bytes)
                }
                None => axum::body::Body::empty(),
            };
            let request = b.body(body).map_err(|e| e.to_string())?;
            let resp = match self.1.clone().oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20).await.map_err(|e| e.to_string())?;
            Ok(berth_compute::GlanceResponse { status, body: serde_json::from_slice(&bytes).unwrap_or_default() })
        })
    }

    fn create_server_image<'a>(
        &'a self,
        image: &'a ServerImage,
        caller: &'a RequestContext,
    ) -> BoxFuture<'a, Result<ImageInfo, String>> {
        Box::pin(async move {
            let req = berth_image::ServerImageRequest {
                name: image.name.clone(),
                base_image: image.base_image.clone(),
                min_disk: image.min_disk,
                min_ram: image.min_ram,
                properties: image.properties.clone(),
            };
            self.0.create_server_image(&req, caller).await.map(info).map_err(|e| e.message)
        })
    }

    fn server_backups<'a>(
        &'a self,
        instance_uuid: &'a str,
        backup_type: &'a str,
        caller: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Vec<ImageInfo>, String>> {
        Box::pin(async move {
            let found = self.0.server_backups(instance_uuid, backup_type, caller).await.map_err(|e| e.message)?;
            Ok(found.into_iter().map(info).collect())
        })
    }

    fn delete_server_image<'a>(&'a self, image_id: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.0.delete_server_image(image_id).await.map(|_| ()).map_err(|e| e.message) })
    }
}

fn info(i: berth_image::ImageSummary) -> ImageInfo {
    ImageInfo {
        id: i.id,
        name: i.name,
        status: i.status,
        min_disk: i.min_disk,
        min_ram: i.min_ram,
        visibility: i.visibility,
        owner: i.owner,
        properties: i.properties,
    }
}

/// Tokens for a remote Placement: password authentication against a
/// Keystone v3 endpoint, cached until shortly before they expire.
pub struct PasswordTokens {
    auth_url: String,
    username: String,
    password: String,
    project: String,
    client: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for PasswordTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordTokens")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl PasswordTokens {
    pub fn new(auth_url: &str, username: &str, password: &str, project: &str) -> Self {
        PasswordTokens {
            auth_url: auth_url.trim_end_matches('/').to_string(),
            username: username.into(),
            password: password.into(),
            project: project.into(),
            client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default(),
            cached: Mutex::new(None),
        }
    }

    async fn issue(&self) -> Option<String> {
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.username, "domain": {"id": "default"}, "password": self.password}}},
            "scope": {"project": {"name": self.project, "domain": {"id": "default"}}}
        }});
        let resp = self
            .client
            .post(format!("{}/v3/auth/tokens?nocatalog", self.auth_url))
            .json(&body)
            .send()
            .await
            .map_err(|e| tracing::warn!(error = %e, "cannot reach identity"))
            .ok()?;
        if !resp.status().is_success() {
            tracing::warn!(status = %resp.status(), "identity refused the compute service's credentials");
            return None;
        }
        resp.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::to_string)
    }
}

impl TokenProvider for PasswordTokens {
    fn token(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if let Some((t, at)) = cached.as_ref() {
                // Tokens live an hour; renew well before.
                if at.elapsed() < Duration::from_secs(45 * 60) {
                    return Some(t.clone());
                }
            }
            let t = self.issue().await?;
            *cached = Some((t.clone(), Instant::now()));
            Some(t)
        })
    }
}

/// The caller Placement sees for in-process calls from compute.
pub fn compute_service_context(service_project: &str) -> RequestContext {
    RequestContext {
        user_id: Some("berth-compute".into()),
        project_id: Some(service_project.into()),
        domain_id: None,
        roles: vec!["service".into()],
        system_scope: None,
        access_rules: None,
    }
}

/// `GET /metrics`: the reconciler's counters and the outbox backlog in the
/// Prometheus text format. Admin only (a token with the admin role).
pub async fn metrics(
    auth: berth_http::AuthStrategy,
    compute: Arc<berth_compute::ComputeService>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let Some(ctx) = auth.authenticate(&headers).await else {
        return (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    };
    if !ctx.roles.iter().any(|r| r == "admin") {
        return (StatusCode::FORBIDDEN, "admin role required\n").into_response();
    }
    let pending = match compute.pending_outbox().await {
        Ok(p) => p.len(),
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("outbox unavailable: {e}\n")).into_response(),
    };
    let w = compute.write_stats();
    let body = format!(
        "# HELP berth_reconciler_findings Problems the last background audit found (leaked, missing or misplaced allocations).\n\
         # TYPE berth_reconciler_findings gauge\nberth_reconciler_findings {}\n\
         # HELP berth_reconciler_runs Background audits run since start.\n\
         # TYPE berth_reconciler_runs counter\nberth_reconciler_runs {}\n\
         # HELP berth_outbox_pending Placement operations waiting to be retried.\n\
         # TYPE berth_outbox_pending gauge\nberth_outbox_pending {pending}\n\
         # HELP berth_db_write_transactions_total Write transactions of compute's database writer (on SQLite shared by every service of the process).\n\
         # TYPE berth_db_write_transactions_total counter\nberth_db_write_transactions_total {}\n\
         # HELP berth_db_write_held_seconds_total Time write transactions held the writer (over wall time: its utilisation).\n\
         # TYPE berth_db_write_held_seconds_total counter\nberth_db_write_held_seconds_total {:.6}\n\
         # HELP berth_db_write_wait_seconds_total Time writers queued for the writer mutex (SQLite).\n\
         # TYPE berth_db_write_wait_seconds_total counter\nberth_db_write_wait_seconds_total {:.6}\n",
        compute.reconciler_findings(),
        compute.reconciler_runs(),
        w.transactions,
        w.held.as_secs_f64(),
        w.waited.as_secs_f64(),
    );
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Validates tokens with an external Keystone (`GET /v3/auth/tokens`), as
/// keystonemiddleware does: the service authenticates with its own
/// credentials, answers are cached for a short while.
pub struct KeystoneHttpValidator {
    auth_url: String,
    service: PasswordTokens,
    client: reqwest::Client,
    cache: Mutex<std::collections::HashMap<String, (Option<RequestContext>, Instant)>>,
}

impl std::fmt::Debug for KeystoneHttpValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeystoneHttpValidator").field("auth_url", &self.auth_url).finish_non_exhaustive()
    }
}

/// How long a validation answer is reused.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(30);

impl KeystoneHttpValidator {
    pub fn new(auth_url: &str, service: PasswordTokens) -> Self {
        KeystoneHttpValidator {
            auth_url: auth_url.trim_end_matches('/').to_string(),
            service,
            client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default(),
            cache: Mutex::new(Default::default()),
        }
    }

    async fn fetch(&self, token: &str) -> Option<RequestContext> {
        let service_token = self.service.token().await?;
        let resp = self
            .client
            .get(format!("{}/v3/auth/tokens?nocatalog", self.auth_url))
            .header("X-Auth-Token", service_token)
            .header("X-Subject-Token", token)
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let v: serde_json::Value = resp.json().await.ok()?;
        context_from_token(&v["token"])
    }
}

/// The caller described by a Keystone v3 token body.
pub fn context_from_token(t: &serde_json::Value) -> Option<RequestContext> {
    let user_id = t["user"]["id"].as_str()?.to_string();
    Some(RequestContext {
        user_id: Some(user_id),
        project_id: t["project"]["id"].as_str().map(str::to_string),
        domain_id: t["domain"]["id"].as_str().map(str::to_string),
        roles: t["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect(),
        system_scope: t.get("system").filter(|s| !s.is_null()).map(|_| "all".to_string()),
        // An application credential's access rules (absent or empty: none).
        access_rules: t["application_credential"]["access_rules"].as_array().filter(|a| !a.is_empty()).map(|a| {
            a.iter()
                .map(|r| berth_http::AccessRule {
                    service: r["service"].as_str().unwrap_or_default().to_string(),
                    method: r["method"].as_str().unwrap_or_default().to_string(),
                    path: r["path"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        }),
    })
}

impl berth_http::TokenValidator for KeystoneHttpValidator {
    fn validate<'a>(
        &'a self,
        token: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<RequestContext>> + Send + 'a>> {
        Box::pin(async move {
            {
                let cache = self.cache.lock().await;
                if let Some((ctx, at)) = cache.get(token) {
                    if at.elapsed() < TOKEN_CACHE_TTL {
                        return ctx.clone();
                    }
                }
            }
            let ctx = self.fetch(token).await;
            let mut cache = self.cache.lock().await;
            cache.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
            cache.insert(token.to_string(), (ctx.clone(), Instant::now()));
            ctx
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bodies_become_contexts() {
        let t = serde_json::json!({"user": {"id": "u1"}, "project": {"id": "p1"},
            "roles": [{"id": "r", "name": "reader"}, {"id": "m", "name": "member"}]});
        let c = context_from_token(&t).unwrap();
        assert_eq!(c.user_id.as_deref(), Some("u1"));
        assert_eq!(c.project_id.as_deref(), Some("p1"));
        assert_eq!(c.roles, vec!["reader", "member"]);
        assert_eq!(c.system_scope, None);
        let s = serde_json::json!({"user": {"id": "u"}, "system": {"all": true}, "roles": []});
        assert_eq!(context_from_token(&s).unwrap().system_scope.as_deref(), Some("all"));
        assert!(context_from_token(&serde_json::json!({})).is_none());
    }
}
