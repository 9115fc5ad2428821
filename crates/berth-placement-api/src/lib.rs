//! The OpenStack Placement HTTP API, microversions 1.0 - 1.39.
//!
//! Request flow (outermost first): request id -> error rendering -> CORS
//! (when configured) -> authentication (`/` is exempt) -> microversion
//! negotiation -> route table ([`routes`]) -> one handler per resource and
//! method (`handlers/`), each: policy check, then schema validation, then the
//! store, then serialization for the requested microversion.
//!
//! Architecture invariant: every route in the table names its policy rule;
//! handlers never touch SQL, and wire JSON is built here, never in the store.

pub mod error;
mod handlers;
mod pyjson;
mod req;
mod routes;
pub mod schema;
pub mod versions;

use std::sync::Arc;

use axum::Router;
use berth_policy::Enforcer;
use berth_store::Store;
use http::{header, HeaderValue};

pub use error::ApiError;

/// Every route of the API: path template, method and the access the table
/// declares (the policy rule), for documentation and for tests that walk it.
pub fn route_table() -> Vec<berth_http::RouteSpec> {
    routes::table()
        .into_iter()
        .flat_map(|(path, ms)| {
            ms.into_iter().map(move |(method, access, _)| berth_http::RouteSpec { path, method, access })
        })
        .collect()
}
pub use req::Req;

pub use berth_http::{AuthStrategy, TokenValidator};

/// Settings of the Placement API (upstream's `placement.conf` options).
#[derive(Debug, Clone)]
pub struct PlacementConfig {
    pub auth: AuthStrategy,
    pub cors_allowed_origins: Vec<String>,
    pub cors_allow_headers: Vec<String>,
    pub randomize_allocation_candidates: bool,
    /// `-1`: no limit. Otherwise the most allocation requests one query may
    /// build before answering (guards against combinatorial explosion).
    pub max_allocation_candidates: i64,
    /// Project and user recorded for allocations written before 1.8.
    pub incomplete_consumer_project_id: String,
    pub incomplete_consumer_user_id: String,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            auth: AuthStrategy::NoAuth2,
            cors_allowed_origins: Vec::new(),
            cors_allow_headers: Vec::new(),
            randomize_allocation_candidates: false,
            max_allocation_candidates: berth_placement::candidates::DEFAULT_MAX_ALLOCATION_CANDIDATES,
            incomplete_consumer_project_id: "00000000-0000-0000-0000-000000000000".into(),
            incomplete_consumer_user_id: "00000000-0000-0000-0000-000000000000".into(),
        }
    }
}

pub struct AppState {
    pub store: Store,
    pub policy: Enforcer,
    pub config: PlacementConfig,
    /// The provider graph for allocation candidates, with the store's data
    /// version it was built at.
    pub candidates_cache: std::sync::RwLock<Option<CachedGraph>>,
    /// Rendered bodies of the unfiltered `GET /resource_providers`, by data
    /// version and rendering (link prefix and microversion shape).
    pub(crate) provider_list_cache: std::sync::Mutex<Vec<CachedList>>,
}

/// One rendered unfiltered provider list (see [`AppState::provider_list_cache`]).
pub(crate) struct CachedList {
    pub version: i64,
    pub prefix: String,
    pub shape: u8,
    pub body: axum::body::Bytes,
    pub last_modified: Option<i64>,
}

/// How many renderings of the provider list are kept (one per link prefix
/// and microversion shape in use; older ones are dropped first).
const PROVIDER_LIST_CACHE_ENTRIES: usize = 4;

impl AppState {
    pub fn new(store: Store, policy: Enforcer, config: PlacementConfig) -> Self {
        AppState {
            store,
            policy,
            config,
            candidates_cache: std::sync::RwLock::new(None),
            provider_list_cache: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The cached rendering of the unfiltered provider list at `version`.
    pub(crate) fn cached_provider_list(
        &self,
        version: i64,
        prefix: &str,
        shape: u8,
    ) -> Option<(axum::body::Bytes, Option<i64>)> {
        let guard = self.provider_list_cache.lock().ok()?;
        guard
            .iter()
            .find(|e| e.version == version && e.shape == shape && e.prefix == prefix)
            .map(|e| (e.body.clone(), e.last_modified))
    }

    /// Keep a rendering of the unfiltered provider list made at `version`
    /// (renderings of older versions of the same prefix and shape go).
    pub(crate) fn cache_provider_list(&self, entry: CachedList) {
        if let Ok(mut guard) = self.provider_list_cache.lock() {
            if guard.iter().any(|e| e.shape == entry.shape && e.prefix == entry.prefix && e.version > entry.version) {
                return;
            }
            guard.retain(|e| !(e.shape == entry.shape && e.prefix == entry.prefix));
            if guard.len() >= PROVIDER_LIST_CACHE_ENTRIES {
                guard.remove(0);
            }
            guard.push(entry);
        }
    }

    /// The current provider graph: cached while the store's data version is
    /// unchanged; when only allocations changed since (the structure version
    /// is the cached one), the cached graph with the usages read again;
    /// rebuilt from the database otherwise.
    pub async fn candidates_snapshot(&self) -> Result<Arc<berth_placement::candidates::Snapshot>, ApiError> {
        let (version, structure) = self.store.versions().await?;
        let cached = self.candidates_cache.read().ok().and_then(|g| g.clone());
        let t0 = std::time::Instant::now();
        let snap = match cached {
            Some(c) if c.version == version => return Ok(c.graph),
            Some(c) if c.structure == structure => {
                let usages = self.store.usages_by_provider().await?;
                let g = Arc::new(c.graph.with_usages(usages.iter().map(|(u, rc, n)| (*u, rc.as_str(), *n))));
                tracing::debug!(version, ms = t0.elapsed().as_secs_f64() * 1e3, "candidates graph: usages patched");
                g
            }
            _ => {
                let data = self.store.candidate_data().await?;
                let snap =
                    berth_placement::candidates::Snapshot::new(data.providers, data.traits, data.resource_classes)
                        .map_err(|e| {
                            ApiError::from(berth_placement::Error::internal(format!(
                                "provider graph is inconsistent: {e}"
                            )))
                        })?;
                tracing::debug!(version, structure, ms = t0.elapsed().as_secs_f64() * 1e3, "candidates graph: rebuilt");
                Arc::new(snap)
            }
        };
        if let Ok(mut guard) = self.candidates_cache.write() {
            let newer = guard.as_ref().is_some_and(|c| c.version > version);
            if !newer {
                *guard = Some(CachedGraph { version, structure, graph: snap.clone() });
            }
        }
        Ok(snap)
    }
}

/// The provider graph of allocation candidates, labelled with the data and
/// structure versions it was read at (or after).
#[derive(Clone)]
pub struct CachedGraph {
    pub version: i64,
    pub structure: i64,
    pub graph: Arc<berth_placement::candidates::Snapshot>,
}

/// The Placement API as an axum router (mount it at `/` or `/placement`),
/// behind the shared edge (`berth_http::edge`).
pub fn router(state: Arc<AppState>) -> Router {
    let cors = cors_layer(&state.config);
    let mut r = routes::router(state.clone());
    if let Some(c) = cors {
        r = r.layer(c);
    }
    berth_http::Edge::new("placement", error::PlacementErrors)
        .auth(state.config.auth.clone())
        .request_id_header(berth_http::REQUEST_ID_HEADER)
        .body_limit(routes::MAX_BODY, |_, _| false)
        .microversions(berth_http::Microversions {
            service: versions::SERVICE_TYPE,
            min: versions::MIN_VERSION,
            max: versions::MAX_VERSION,
            legacy_header: None,
            vary: "openstack-api-version",
            exempt: |_| false,
            invalid_message: versions::invalid_version_message,
            unacceptable_message: |s, _, _| format!("Invalid microversion: Unacceptable version header: {s}"),
        })
        .wrap_router(r, &[("/", http::Method::GET)])
}

fn cors_layer(config: &PlacementConfig) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if config.cors_allowed_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> =
        config.cors_allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    let headers: Vec<header::HeaderName> = config.cors_allow_headers.iter().filter_map(|h| h.parse().ok()).collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                http::Method::GET,
                http::Method::PUT,
                http::Method::POST,
                http::Method::DELETE,
                http::Method::PATCH,
                http::Method::HEAD,
            ])
            .allow_headers(headers)
            .expose_headers([header::HeaderName::from_static("openstack-api-version")]),
    )
}
