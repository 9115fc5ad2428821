//! The HTTP edge every berth API runs behind, in one order (outermost first):
//!
//! 1. **request id**: `req-<uuid>`, in the request's extensions, in the
//!    tracing span, and echoed in `x-openstack-request-id` (plus the API's
//!    own names, e.g. Nova's `x-compute-request-id`) on every answer;
//! 2. **error rendering**: any error answer (a handler's [`Fault`], the
//!    router's 404/405, an extractor's rejection, the body limit's 413, a
//!    panic) gets the API's own body through its [`ErrorFormat`];
//! 3. **panic containment**: a panic becomes a 500 with that body and the
//!    request id, logged with its backtrace; the connection is never dropped;
//! 4. **early-answer drain**: an error answered before the body was read
//!    first reads a bounded amount of it, so a client still sending a large
//!    body gets the answer instead of a reset;
//! 5. **body limit** (per API; routes may be exempt, e.g. image uploads);
//! 6. **authentication** (routes of [`Access::Public`] are exempt);
//! 7. **path and query sanity**: a path that decodes to a NUL or to bytes
//!    that are not UTF-8 names nothing (404); such a query is refused (400),
//!    so neither can reach a database;
//! 8. **microversion negotiation**, where the API has microversions;
//! 9. the **route table** ([`RouteTable`]): 404/405 with `Allow`, and the
//!    policy rule each route names, which the handler must check (an answer
//!    from a route whose rule was never consulted is logged as a bug, and
//!    fails the request in debug builds, so route-walk tests catch it).

use std::any::Any;
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use futures_util::FutureExt;
use http::request::Parts;
use http::{header, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use tracing::Instrument;

use crate::fault::{ErrorFormat, Fault, FaultContext};
use crate::microversion::{negotiate, VersionError};
use crate::{AuthStrategy, RequestContext, RequestId, Version};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (version documents, `POST /v3/auth/tokens`).
    Public,
    /// Any valid token; the handler decides (e.g. token validation, which
    /// Keystone checks against the token itself).
    Authenticated,
    /// A valid token, and the named policy rule, which the handler checks
    /// against the target it loads.
    Rule(&'static str),
    /// A valid token, and one of these rules, which the handler picks by the
    /// request's body (Nova's `POST /servers/{id}/action`).
    AnyOf(&'static [&'static str]),
}

impl Access {
    /// The policy rules this access names.
    pub fn rules(&self) -> &[&'static str] {
        match self {
            Access::Rule(r) => std::slice::from_ref(r),
            Access::AnyOf(rs) => rs,
            Access::Public | Access::Authenticated => &[],
        }
    }
}

/// One row of a route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub path: &'static str,
    pub method: Method,
    pub access: Access,
}

/// What the route table tells a handler about the route it serves, and
/// what the edge checks afterwards: that a route with a rule consulted it.
#[derive(Debug, Default)]
pub struct RouteAudit {
    access: OnceLock<Access>,
    checked: AtomicBool,
}

/// The request's [`RouteAudit`], as an extractor.
#[derive(Debug, Clone)]
pub struct RouteCheck(pub Arc<RouteAudit>);

impl RouteCheck {
    /// The rule the route table names for this route.
    pub fn rule(&self) -> Option<&'static str> {
        match self.0.access.get() {
            Some(Access::Rule(r)) => Some(r),
            _ => None,
        }
    }
    /// The access the route table declares.
    pub fn access(&self) -> Option<Access> {
        self.0.access.get().copied()
    }
    /// Does the route table name `rule` for this route?
    pub fn names(&self, rule: &str) -> bool {
        self.0.access.get().is_some_and(|a| a.rules().contains(&rule))
    }
    /// The check of the request these extensions belong to (requests that
    /// did not pass the edge have none).
    pub fn from_extensions(ext: &http::Extensions) -> Option<RouteCheck> {
        ext.get::<Arc<RouteAudit>>().cloned().map(RouteCheck)
    }
    /// Declare the route's access, for APIs with a dispatcher of their own
    /// (Placement's table); the first declaration wins.
    pub fn declare(&self, access: Access) {
        let _ = self.0.access.set(access);
    }
    /// Record that the handler consulted the route's rule.
    pub fn mark_checked(&self) {
        self.0.checked.store(true, Ordering::Relaxed);
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RouteCheck {
    type Rejection = Fault;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<RouteAudit>>()
            .cloned()
            .map(RouteCheck)
            .ok_or_else(|| Fault::new(StatusCode::INTERNAL_SERVER_ERROR, "route served outside the edge"))
    }
}

/// Every route of an API: path template (axum syntax, relative to the mount
/// point), method, access, handler. 404 and 405 with `Allow` fall out of it;
/// tests walk [`RouteTable::specs`].
pub struct RouteTable<S> {
    specs: Vec<RouteSpec>,
    paths: Vec<(&'static str, MethodRouter<S>)>,
}

impl<S: Clone + Send + Sync + 'static> Default for RouteTable<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub fn new() -> Self {
        RouteTable { specs: Vec::new(), paths: Vec::new() }
    }

    /// Add `method path` served by `handler` with `access`.
    pub fn route<H, T>(mut self, path: &'static str, method: Method, access: Access, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("route table: method {method} of {path} is not routable"));
        let mr = axum::routing::on(filter, handler).layer(middleware::from_fn(move |req: Request, next: Next| {
            if let Some(a) = req.extensions().get::<Arc<RouteAudit>>() {
                let _ = a.access.set(access);
            }
            next.run(req)
        }));
        assert!(
            !self.specs.iter().any(|s| s.path == path && s.method == method),
            "route table: {method} {path} listed twice"
        );
        self.specs.push(RouteSpec { path, method, access });
        match self.paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => {
                let prev = std::mem::take(existing);
                *existing = prev.merge(mr);
            }
            None => self.paths.push((path, mr)),
        }
        self
    }

    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }

    /// Is `method path` (a concrete request path) a public route?
    fn public_matcher(&self) -> Vec<(Vec<&'static str>, Method)> {
        self.specs
            .iter()
            .filter(|s| s.access == Access::Public)
            .map(|s| (segments(s.path).collect(), s.method.clone()))
            .collect()
    }
}

fn segments(p: &str) -> impl Iterator<Item = &str> {
    p.trim_end_matches('/').split('/').skip(1)
}

/// Does a concrete path match a template (`{x}` matches one segment)? A
/// trailing slash is ignored on both sides.
pub fn template_matches(template: &[&str], path: &str) -> bool {
    let mut it = segments(path);
    for t in template {
        match it.next() {
            Some(seg) if (t.starts_with('{') && t.ends_with('}') && !seg.is_empty()) || seg == *t => {}
            _ => return false,
        }
    }
    it.next().is_none()
}

/// How an API's microversions are negotiated.
#[derive(Clone)]
pub struct Microversions {
    /// Service type in `OpenStack-API-Version` (`compute`, `placement`).
    pub service: &'static str,
    pub min: Version,
    pub max: Version,
    /// An older header naming only the version (Nova's
    /// `X-OpenStack-Nova-API-Version`), read when the new one does not name
    /// the service, and echoed on answers.
    pub legacy_header: Option<&'static str>,
    /// The `Vary` value of answers (how the service spells its version
    /// headers, e.g. `openstack-api-version`).
    pub vary: &'static str,
    /// Paths that are answered without negotiation (version documents).
    pub exempt: fn(&str) -> bool,
    /// Messages for a malformed (400) and an unsupported (406) version.
    pub invalid_message: fn(&str) -> String,
    pub unacceptable_message: fn(&str, Version, Version) -> String,
}

/// The edge of one API. Build it, then [`Edge::wrap`] the API's route table.
#[derive(Clone)]
pub struct Edge {
    service: &'static str,
    format: Arc<dyn ErrorFormat>,
    auth: Option<AuthStrategy>,
    microversions: Option<Microversions>,
    body_limit: usize,
    unlimited_body: fn(&Method, &str) -> bool,
    request_id_headers: Vec<HeaderName>,
    check_query: bool,
}

/// The edge's state at run time.
struct EdgeState {
    edge: Edge,
    public: Vec<(Vec<&'static str>, Method)>,
}

/// The request-id header of every OpenStack service (oslo.middleware's).
pub const X_REQUEST_ID_HEADER: &str = "x-openstack-request-id";

/// Bytes of an unread request body the edge reads before answering an
/// error early (more than this, and the client may see a reset).
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);

impl Edge {
    pub fn new(service: &'static str, format: impl ErrorFormat) -> Self {
        Edge {
            service,
            format: Arc::new(format),
            auth: None,
            microversions: None,
            body_limit: 1024 * 1024,
            unlimited_body: |_, _| false,
            request_id_headers: vec![HeaderName::from_static(X_REQUEST_ID_HEADER)],
            check_query: true,
        }
    }

    /// Authenticate every non-public route with `auth` (401 otherwise).
    pub fn auth(mut self, auth: AuthStrategy) -> Self {
        self.auth = Some(auth);
        self
    }

    pub fn microversions(mut self, m: Microversions) -> Self {
        self.microversions = Some(m);
        self
    }

    /// Largest request body (413 beyond), except where `unlimited` holds.
    pub fn body_limit(mut self, limit: usize, unlimited: fn(&Method, &str) -> bool) -> Self {
        self.body_limit = limit;
        self.unlimited_body = unlimited;
        self
    }

    /// Also echo the request id under `name` (e.g. `x-compute-request-id`).
    pub fn request_id_header(mut self, name: &'static str) -> Self {
        self.request_id_headers.push(HeaderName::from_static(name));
        self
    }

    /// Leave queries unchecked (the API validates its own).
    pub fn unchecked_queries(mut self) -> Self {
        self.check_query = false;
        self
    }

    /// The API's router: `table` behind this edge. Unknown paths answer 404
    /// in the API's format.
    pub fn wrap<S: Clone + Send + Sync + 'static>(self, table: RouteTable<S>) -> Router<S> {
        let public = table.public_matcher();
        let mut r = Router::new();
        for (path, mr) in table.paths {
            r = r.route(path, mr);
        }
        self.wrap_with(r.fallback(|| async { StatusCode::NOT_FOUND }), public)
    }

    /// An API with a dispatcher of its own (Placement's) behind this edge;
    /// `public` lists the `(template, method)` pairs that need no token.
    pub fn wrap_router<S: Clone + Send + Sync + 'static>(
        self,
        router: Router<S>,
        public: &[(&'static str, Method)],
    ) -> Router<S> {
        let public = public.iter().map(|(p, m)| (segments(p).collect(), m.clone())).collect();
        self.wrap_with(router, public)
    }

    fn wrap_with<S: Clone + Send + Sync + 'static>(
        self,
        router: Router<S>,
        public: Vec<(Vec<&'static str>, Method)>,
    ) -> Router<S> {
        install_panic_hook();
        let state = Arc::new(EdgeState { edge: self, public });
        router.layer(DefaultBodyLimit::disable()).layer(middleware::from_fn_with_state(state, edge_layer))
    }
}

impl EdgeState {
    fn is_public(&self, method: &Method, path: &str) -> bool {
        self.public
            .iter()
            .any(|(t, m)| (m == method || (*m == Method::GET && method == Method::HEAD)) && template_matches(t, path))
    }
}

async fn edge_layer(State(st): State<Arc<EdgeState>>, mut req: Request, next: Next) -> Response {
    let rid = RequestId::generate();
    req.extensions_mut().insert(rid.clone());
    let span = tracing::info_span!("request", service = st.edge.service, request_id = %rid.0, method = %req.method(), path = %req.uri().path());
    async move {
        let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_string);
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let req_method = req.method().clone();
        let (req, pending) = track_body(req);
        let audit = Arc::new(RouteAudit::default());
        let mut req = req;
        req.extensions_mut().insert(audit.clone());
        let outcome = AssertUnwindSafe(inner(&st, req, next)).catch_unwind().await;
        let mut resp = match outcome {
            Ok(r) => r,
            Err(payload) => {
                let backtrace = LAST_PANIC.with(|b| b.borrow_mut().take()).unwrap_or_default();
                tracing::error!(panic = %panic_message(&payload), %backtrace, "request handler panicked");
                Fault::new(StatusCode::INTERNAL_SERVER_ERROR, "handler panicked").into_response()
            }
        };
        if resp.status().is_success() {
            let rules = audit.access.get().map(|a| a.rules().join(" | ")).unwrap_or_default();
            if !rules.is_empty() && !audit.checked.load(Ordering::Relaxed) {
                let rule = rules.as_str();
                tracing::error!(rule, "route answered without checking its policy rule");
                if cfg!(debug_assertions) {
                    resp =
                        Fault::new(StatusCode::INTERNAL_SERVER_ERROR, format!("route did not check its rule {rule}"))
                            .into_response();
                }
            }
        }
        let version = resp.extensions().get::<Version>().copied();
        let cx = FaultContext { request_id: rid.0.clone(), version, accept, method: req_method, content_type };
        let mut resp = render(&*st.edge.format, resp, &cx).await;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            pending.drain().await;
        }
        if let Ok(v) = HeaderValue::from_str(&rid.0) {
            for h in &st.edge.request_id_headers {
                resp.headers_mut().insert(h.clone(), v.clone());
            }
        }
        resp
    }
    .instrument(span)
    .await
}

async fn inner(st: &EdgeState, mut req: Request, next: Next) -> Response {
    let edge = &st.edge;
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    // Body limit.
    if !(edge.unlimited_body)(&method, &path) {
        let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(str::trim);
        if let Some(d) = declared {
            match d.parse::<u64>() {
                Ok(n) if n > edge.body_limit as u64 => {
                    let m = edge.format.message_for(StatusCode::PAYLOAD_TOO_LARGE, "");
                    return Fault::new(StatusCode::PAYLOAD_TOO_LARGE, m).into_response();
                }
                Ok(_) => {}
                Err(_) => {
                    return Fault::new(StatusCode::BAD_REQUEST, "Content-Length must be an integer.").into_response()
                }
            }
        }
        let (parts, body) = req.into_parts();
        req = Request::from_parts(parts, Body::new(http_body_util::Limited::new(body, edge.body_limit)));
    }
    // A CORS preflight carries no token and asks for no version; the API's
    // CORS layer answers it.
    let preflight = method == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    // Authentication.
    let public = preflight || st.is_public(&method, &path);
    if let Some(auth) = &edge.auth {
        if public {
            req.extensions_mut().insert(RequestContext::default());
        } else {
            match auth.authenticate(req.headers()).await {
                Some(ctx) => {
                    // An application credential's access rules, enforced
                    // as keystonemiddleware enforces them in front of
                    // each service (the identity API validates its tokens
                    // itself, as Keystone does, without them): some rule
                    // must allow this request.
                    if let Some(rules) = &ctx.access_rules {
                        if !rules.iter().any(|r| r.allows(edge.service, method.as_str(), &path)) {
                            let m = edge.format.message_for(StatusCode::UNAUTHORIZED, "");
                            return Fault::new(StatusCode::UNAUTHORIZED, m).into_response();
                        }
                    }
                    req.extensions_mut().insert(ctx);
                }
                None => {
                    let m = edge.format.message_for(StatusCode::UNAUTHORIZED, "");
                    return Fault::new(StatusCode::UNAUTHORIZED, m).into_response();
                }
            }
        }
    }
    // Path and query sanity.
    if !clean(&path) {
        return Fault::new(StatusCode::NOT_FOUND, edge.format.message_for(StatusCode::NOT_FOUND, "")).into_response();
    }
    if edge.check_query {
        if let Some(q) = req.uri().query() {
            if !clean(q) {
                return Fault::new(
                    StatusCode::BAD_REQUEST,
                    "Invalid query string: it contains a NUL character or bytes that are not UTF-8.",
                )
                .into_response();
            }
        }
    }
    // Microversions.
    let Some(mv) = &edge.microversions else { return next.run(req).await };
    if preflight || (mv.exempt)(&path) {
        return next.run(req).await;
    }
    let version = match negotiate_request(mv, req.headers()) {
        Ok(v) => v,
        Err(f) => return f.into_response(),
    };
    req.extensions_mut().insert(version);
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(version);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{} {version}", mv.service)) {
        h.insert("openstack-api-version", v);
    }
    if let Some(legacy) = mv.legacy_header {
        if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
            h.insert(legacy, v);
        }
    }
    h.append(header::VARY, HeaderValue::from_static(mv.vary));
    resp
}

/// The version a request asks for.
pub fn negotiate_request(mv: &Microversions, headers: &http::HeaderMap) -> Result<Version, Fault> {
    let mut values: Vec<String> = Vec::new();
    for v in headers.get_all("openstack-api-version") {
        match v.to_str() {
            Ok(s) => values.push(s.to_string()),
            Err(_) => return Err(Fault::new(StatusCode::BAD_REQUEST, (mv.invalid_message)("(not text)"))),
        }
    }
    let names_service = values.iter().any(|v| {
        v.split(',').any(|item| item.split_whitespace().next().is_some_and(|s| s.eq_ignore_ascii_case(mv.service)))
    });
    if let (false, Some(legacy)) = (names_service, mv.legacy_header) {
        if let Some(l) = headers.get(legacy) {
            let s = l.to_str().map_err(|_| Fault::new(StatusCode::BAD_REQUEST, (mv.invalid_message)("(not text)")))?;
            values = vec![format!("{} {s}", mv.service)];
        }
    }
    negotiate(values.iter().map(String::as_str), mv.service, mv.min, mv.max).map_err(|e| match e {
        VersionError::Invalid(s) => Fault::new(StatusCode::BAD_REQUEST, (mv.invalid_message)(&s)),
        VersionError::Unacceptable(s) => {
            Fault::new(StatusCode::NOT_ACCEPTABLE, (mv.unacceptable_message)(&s, mv.min, mv.max))
        }
    })
}

/// Does a raw path or query decode to text without NUL?
fn clean(raw: &str) -> bool {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    !decoded.contains(&0) && std::str::from_utf8(&decoded).is_ok()
}

/// Render an error answer in the API's format; pass anything else through.
async fn render(format: &dyn ErrorFormat, resp: Response, cx: &FaultContext) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let fault = match parts.extensions.remove::<Fault>() {
        Some(f) => f,
        None => {
            let is_json = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if is_json {
                return Response::from_parts(parts, body);
            }
            let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            Fault::new(status, format.message_for(status, &text))
        }
    };
    let fault = if fault.status == StatusCode::INTERNAL_SERVER_ERROR {
        // The details are for the log, never for the client.
        tracing::error!(error = %fault.message, "internal error");
        Fault { message: format.message_for(StatusCode::INTERNAL_SERVER_ERROR, ""), ..fault }
    } else {
        fault
    };
    let mut out = format.render(&fault, cx);
    for (k, v) in &fault.headers {
        out.headers_mut().insert(k.clone(), v.clone());
    }
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH && !out.headers().contains_key(k) {
            out.headers_mut().append(k.clone(), v.clone());
        }
    }
    out.extensions_mut().extend(std::mem::take(&mut parts.extensions));
    out
}

/// The request body, readable by the handler through the request and, if
/// the handler leaves it unread, drainable by the edge afterwards.
struct PendingBody(Arc<tokio::sync::Mutex<Option<Body>>>);

fn track_body(req: Request) -> (Request, PendingBody) {
    let (parts, body) = req.into_parts();
    let shared = Arc::new(tokio::sync::Mutex::new(Some(body)));
    let reader = shared.clone();
    let stream = futures_util::stream::unfold(reader, |s| async move {
        loop {
            let frame = {
                let mut guard = s.lock().await;
                let b = guard.as_mut()?;
                b.frame().await
            };
            match frame {
                None => {
                    s.lock().await.take();
                    return None;
                }
                Some(Ok(f)) => match f.into_data() {
                    Ok(d) => return Some((Ok::<Bytes, axum::Error>(d), s)),
                    Err(_) => continue, // trailers
                },
                Some(Err(e)) => return Some((Err(e), s)),
            }
        }
    });
    (Request::from_parts(parts, Body::from_stream(stream)), PendingBody(shared))
}

impl PendingBody {
    /// Read and discard what the client is still sending, within bounds.
    async fn drain(self) {
        let Some(mut body) = self.0.lock().await.take() else { return };
        let work = async {
            let mut read = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(d) = frame.data_ref() {
                    read += d.len();
                    if read > DRAIN_LIMIT {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, work).await;
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keep the backtrace of a panic for the edge to log (the default hook
/// still prints its line).
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let bt = std::backtrace::Backtrace::force_capture().to_string();
            LAST_PANIC.with(|b| *b.borrow_mut() = Some(bt));
            previous(info);
        }));
    });
}

fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic payload)".into()
    }
}
