//! The route table: every URL template with its methods and handlers, in one
//! place (405 with `Allow` falls out of it, as does the policy-coverage test).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use berth_http::{Access, RequestContext, RouteCheck, Version};
use http::{header, Method, StatusCode};

use crate::error::ApiError;
use crate::handlers::{
    aggregate, allocation, allocation_candidate, inventory, reshaper, resource_class, resource_provider, root, trait_,
    usage,
};
use crate::req::{HandlerResult, Req};
use crate::AppState;

/// One method of a path: its access (the policy rule) and handler.
pub type Route = (Method, Access, Handler);
pub type Handler = fn(Req) -> Pin<Box<dyn Future<Output = HandlerResult> + Send>>;

/// Largest request body accepted (bodies are small JSON documents).
pub(crate) const MAX_BODY: usize = 8 * 1024 * 1024;

macro_rules! h {
    ($f:path) => {
        (|r: Req| -> Pin<Box<dyn Future<Output = HandlerResult> + Send>> { Box::pin($f(r)) }) as Handler
    };
}

/// (path template, [(method, access with the policy rule, handler)]).
pub fn table() -> Vec<(&'static str, Vec<Route>)> {
    vec![
        ("/", vec![(Method::GET, Access::Public, h!(root::home))]),
        (
            "/resource_classes",
            vec![
                (Method::GET, Access::Rule("placement:resource_classes:list"), h!(resource_class::list)),
                (Method::POST, Access::Rule("placement:resource_classes:create"), h!(resource_class::create)),
            ],
        ),
        (
            "/resource_classes/{name}",
            vec![
                (Method::GET, Access::Rule("placement:resource_classes:show"), h!(resource_class::show)),
                (Method::PUT, Access::Rule("placement:resource_classes:update"), h!(resource_class::update)),
                (Method::DELETE, Access::Rule("placement:resource_classes:delete"), h!(resource_class::delete)),
            ],
        ),
        (
            "/resource_providers",
            vec![
                (Method::GET, Access::Rule("placement:resource_providers:list"), h!(resource_provider::list)),
                (Method::POST, Access::Rule("placement:resource_providers:create"), h!(resource_provider::create)),
            ],
        ),
        (
            "/resource_providers/{uuid}",
            vec![
                (Method::GET, Access::Rule("placement:resource_providers:show"), h!(resource_provider::show)),
                (Method::DELETE, Access::Rule("placement:resource_providers:delete"), h!(resource_provider::delete)),
                (Method::PUT, Access::Rule("placement:resource_providers:update"), h!(resource_provider::update)),
            ],
        ),
        (
            "/resource_providers/{uuid}/inventories",
            vec![
                (Method::GET, Access::Rule("placement:resource_providers:inventories:list"), h!(inventory::list)),
                (Method::POST, Access::Rule("placement:resource_providers:inventories:create"), h!(inventory::create)),
                (Method::PUT, Access::Rule("placement:resource_providers:inventories:update"), h!(inventory::set_all)),
                (
                    Method::DELETE,
                    Access::Rule("placement:resource_providers:inventories:delete"),
                    h!(inventory::delete_all),
                ),
            ],
        ),
        (
            "/resource_providers/{uuid}/inventories/{resource_class}",
            vec![
                (Method::GET, Access::Rule("placement:resource_providers:inventories:show"), h!(inventory::show)),
                (Method::PUT, Access::Rule("placement:resource_providers:inventories:update"), h!(inventory::update)),
                (
                    Method::DELETE,
                    Access::Rule("placement:resource_providers:inventories:delete"),
                    h!(inventory::delete),
                ),
            ],
        ),
        (
            "/resource_providers/{uuid}/usages",
            vec![(Method::GET, Access::Rule("placement:resource_providers:usages"), h!(usage::provider_usages))],
        ),
        (
            "/resource_providers/{uuid}/aggregates",
            vec![
                (Method::GET, Access::Rule("placement:resource_providers:aggregates:list"), h!(aggregate::show)),
                (Method::PUT, Access::Rule("placement:resource_providers:aggregates:update"), h!(aggregate::set)),
            ],
        ),
        (
            "/resource_providers/{uuid}/allocations",
            vec![(
                Method::GET,
                Access::Rule("placement:resource_providers:allocations:list"),
                h!(allocation::list_for_provider),
            )],
        ),
        ("/allocations", vec![(Method::POST, Access::Rule("placement:allocations:manage"), h!(allocation::post))]),
        (
            "/allocations/{consumer_uuid}",
            vec![
                (Method::GET, Access::Rule("placement:allocations:list"), h!(allocation::show)),
                (Method::PUT, Access::Rule("placement:allocations:update"), h!(allocation::put)),
                (Method::DELETE, Access::Rule("placement:allocations:delete"), h!(allocation::delete)),
            ],
        ),
        (
            "/allocation_candidates",
            vec![(Method::GET, Access::Rule("placement:allocation_candidates:list"), h!(allocation_candidate::list))],
        ),
        ("/traits", vec![(Method::GET, Access::Rule("placement:traits:list"), h!(trait_::list))]),
        (
            "/traits/{name}",
            vec![
                (Method::GET, Access::Rule("placement:traits:show"), h!(trait_::show)),
                (Method::PUT, Access::Rule("placement:traits:update"), h!(trait_::put)),
                (Method::DELETE, Access::Rule("placement:traits:delete"), h!(trait_::delete)),
            ],
        ),
        (
            "/resource_providers/{uuid}/traits",
            vec![
                (Method::GET, Access::Rule("placement:resource_providers:traits:list"), h!(trait_::list_for_provider)),
                (Method::PUT, Access::Rule("placement:resource_providers:traits:update"), h!(trait_::set_for_provider)),
                (
                    Method::DELETE,
                    Access::Rule("placement:resource_providers:traits:delete"),
                    h!(trait_::delete_for_provider),
                ),
            ],
        ),
        ("/usages", vec![(Method::GET, Access::Rule("placement:usages"), h!(usage::total_usages))]),
        ("/reshaper", vec![(Method::POST, Access::Rule("placement:reshaper:reshape"), h!(reshaper::reshape))]),
    ]
}

pub fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new();
    for (path, methods) in table() {
        let methods = Arc::new(methods);
        let st = state.clone();
        let route = any(move |params: Result<Path<HashMap<String, String>>, PathRejection>, req: Request| {
            let methods = methods.clone();
            let st = st.clone();
            async move {
                match params {
                    Ok(p) => dispatch(st, &methods, p.0, req).await,
                    // A path segment that is not UTF-8 names nothing here.
                    Err(_) => ApiError::not_found("").into_response(),
                }
            }
        });
        r = r.route(path, route);
    }
    r.fallback(|| async { ApiError::not_found("").into_response() })
}

async fn dispatch(state: Arc<AppState>, methods: &[Route], params: HashMap<String, String>, req: Request) -> Response {
    let method = req.method().clone();
    let Some((_, access, handler)) = methods.iter().find(|(m, _, _)| *m == method) else {
        let allow: Vec<&str> = methods.iter().map(|(m, _, _)| m.as_str()).collect();
        return ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "The method specified is not allowed for this resource.")
            .with_header(header::ALLOW, &allow.join(", "))
            .into_response();
    };
    let (parts, body) = req.into_parts();
    let clen = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(clen) = clen {
        match clen.trim().parse::<u64>() {
            Ok(n) if n > 0 && !parts.headers.contains_key(header::CONTENT_TYPE) => {
                return ApiError::bad_request("content-type header required when content-length > 0").into_response();
            }
            Ok(_) => {}
            Err(_) => return ApiError::bad_request("content-length header must be an integer").into_response(),
        }
    }
    let body = match to_bytes(Body::new(body), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response();
        }
    };
    let version = parts.extensions.get::<Version>().copied().unwrap_or(crate::versions::MIN_VERSION);
    let ctx = parts.extensions.get::<RequestContext>().cloned().unwrap_or_default();
    let path = parts.uri.path();
    let prefix = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|o| o.0.path().strip_suffix(path).unwrap_or("").to_string())
        .unwrap_or_default();
    // The table names the route's rule; the edge checks the handler
    // consulted it.
    let route = RouteCheck::from_extensions(&parts.extensions);
    if let Some(r) = &route {
        r.declare(*access);
    }
    let req = Req {
        route,
        state,
        version,
        ctx,
        method,
        prefix,
        params,
        raw_query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
    };
    match handler(req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
