//! A client of the OpenStack Placement API for berth's compute service.
//!
//! [`PlacementClient`] has one required method, [`PlacementClient::send`]
//! (one request, one response), and provides every call compute needs on top
//! of it, so the two transports behave identically:
//!
//! - [`HttpPlacementClient`]: over HTTP with `reqwest` (distributed
//!   deployments, or an external Placement);
//! - [`InProcessPlacementClient`]: calls an `axum::Router` (berth's own
//!   Placement router) with `tower::ServiceExt::oneshot` (all-in-one).
//!
//! A wrapper that implements `send` by delegating (and, say, failing on
//! purpose) gets all the provided methods for free, which is how tests
//! simulate an unreachable Placement.
//!
//! Errors say what the caller should do: [`PlacementError::Conflict`] (409,
//! with Placement's error code: retry with fresh generations, or try another
//! host), [`PlacementError::NotFound`], [`PlacementError::Unavailable`]
//! (connection refused, timeout, 5xx: retry later), [`PlacementError::Other`].

mod http_client;
mod in_process;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};
use uuid::Uuid;

pub use http_client::HttpPlacementClient;
pub use in_process::InProcessPlacementClient;
pub use types::*;

/// A boxed, sendable future (keeps [`PlacementClient`] object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub type Result<T, E = PlacementError> = std::result::Result<T, E>;

/// The Placement microversion every request asks for.
pub const MICROVERSION: &str = "1.39";

/// Placement's error code for a generation mismatch (provider or consumer).
pub const CONCURRENT_UPDATE: &str = "placement.concurrent_update";
/// Placement's error code for deleting inventory that has allocations.
pub const INVENTORY_IN_USE: &str = "placement.inventory.inuse";

/// How many times generation conflicts are retried by read-modify-write
/// helpers before giving up.
const GENERATION_RETRIES: usize = 10;

/// What went wrong talking to Placement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// 409: a generation conflict (`code` = [`CONCURRENT_UPDATE`]), not
    /// enough capacity, inventory in use...
    #[error("placement conflict ({code}): {message}")]
    Conflict { code: String, message: String },
    /// 404.
    #[error("placement: not found: {0}")]
    NotFound(String),
    /// Placement cannot be reached or failed (connection refused, timeout,
    /// 5xx): retry later.
    #[error("placement unavailable: {0}")]
    Unavailable(String),
    /// Any other status (4xx: a bug in the request, or policy).
    #[error("placement error {status}: {message}")]
    Other { status: u16, message: String },
}

impl PlacementError {
    /// A provider or consumer generation mismatch.
    pub fn is_generation_conflict(&self) -> bool {
        matches!(self, PlacementError::Conflict { code, .. } if code == CONCURRENT_UPDATE)
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, PlacementError::Conflict { .. })
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self, PlacementError::NotFound(_))
    }
    pub fn is_unavailable(&self) -> bool {
        matches!(self, PlacementError::Unavailable(_))
    }
}

/// One request to Placement: a method, a path relative to Placement's root
/// (with its query string, e.g. `/allocation_candidates?resources=VCPU:1`)
/// and an optional JSON body.
#[derive(Debug, Clone)]
pub struct PlacementRequest {
    pub method: http::Method,
    pub path: String,
    pub body: Option<Value>,
}

impl PlacementRequest {
    pub fn get(path: impl Into<String>) -> Self {
        PlacementRequest { method: http::Method::GET, path: path.into(), body: None }
    }
    pub fn delete(path: impl Into<String>) -> Self {
        PlacementRequest { method: http::Method::DELETE, path: path.into(), body: None }
    }
    pub fn put(path: impl Into<String>, body: Value) -> Self {
        PlacementRequest { method: http::Method::PUT, path: path.into(), body: Some(body) }
    }
    pub fn put_empty(path: impl Into<String>) -> Self {
        PlacementRequest { method: http::Method::PUT, path: path.into(), body: None }
    }
    pub fn post(path: impl Into<String>, body: Value) -> Self {
        PlacementRequest { method: http::Method::POST, path: path.into(), body: Some(body) }
    }
}

/// Placement's answer: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct PlacementResponse {
    pub status: u16,
    pub body: Value,
}

/// Supplies the `X-Auth-Token` for requests (a service token), if any.
pub trait TokenProvider: Send + Sync + std::fmt::Debug {
    fn token(&self) -> BoxFuture<'_, Option<String>>;
}

/// A fixed token (e.g. `admin` with noauth2, or a long-lived service token).
#[derive(Debug, Clone)]
pub struct StaticToken(pub Option<String>);

impl StaticToken {
    pub fn new(token: impl Into<String>) -> Self {
        StaticToken(Some(token.into()))
    }
    pub fn none() -> Self {
        StaticToken(None)
    }
}

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Option<String>> {
        let t = self.0.clone();
        Box::pin(async move { t })
    }
}

/// Turn a non-2xx answer into the matching error.
pub fn check(resp: PlacementResponse, what: &str) -> Result<PlacementResponse> {
    if (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    let (code, detail) = error_detail(&resp.body);
    let message = if detail.is_empty() { format!("{what}: HTTP {}", resp.status) } else { format!("{what}: {detail}") };
    Err(match resp.status {
        409 => PlacementError::Conflict { code, message },
        404 => PlacementError::NotFound(message),
        500..=599 => PlacementError::Unavailable(message),
        s => PlacementError::Other { status: s, message },
    })
}

/// Placement's error body: `{"errors": [{"code": ..., "detail": ...}]}`.
fn error_detail(body: &Value) -> (String, String) {
    let first = body.get("errors").and_then(|e| e.get(0));
    let code = first.and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or("placement.undefined");
    let detail =
        first.and_then(|e| e.get("detail").or_else(|| e.get("title"))).and_then(Value::as_str).unwrap_or_default();
    (code.to_string(), detail.trim().to_string())
}

fn parse<T: serde::de::DeserializeOwned>(resp: PlacementResponse, what: &str) -> Result<T> {
    serde_json::from_value(resp.body).map_err(|e| PlacementError::Other {
        status: resp.status,
        message: format!("{what}: unexpected response body: {e}"),
    })
}

/// Percent-encode a query-string value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b',' | b'!' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A Placement client. Implement [`PlacementClient::send`]; every other
/// method is provided on top of it.
pub trait PlacementClient: Send + Sync {
    /// Send one request. Transport failures are
    /// [`PlacementError::Unavailable`]; any HTTP status is `Ok`.
    fn send(&self, req: PlacementRequest) -> BoxFuture<'_, Result<PlacementResponse>>;

    /// Send and fail on non-2xx statuses.
    fn call<'a>(&'a self, req: PlacementRequest, what: &'a str) -> BoxFuture<'a, Result<PlacementResponse>> {
        Box::pin(async move { check(self.send(req).await?, what) })
    }

    // ------------------------------------------------------ providers

    /// A provider by uuid, or `None`.
    fn get_provider(&self, uuid: Uuid) -> BoxFuture<'_, Result<Option<ResourceProvider>>> {
        Box::pin(async move {
            match self.call(PlacementRequest::get(format!("/resource_providers/{uuid}")), "get provider").await {
                Ok(r) => Ok(Some(parse(r, "get provider")?)),
                Err(PlacementError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Providers matching a raw query string (`name=x`, `in_tree=u`, ...).
    fn list_providers<'a>(&'a self, query: &'a str) -> BoxFuture<'a, Result<Vec<ResourceProvider>>> {
        Box::pin(async move {
            let path = if query.is_empty() {
                "/resource_providers".to_string()
            } else {
                format!("/resource_providers?{query}")
            };
            let r = self.call(PlacementRequest::get(path), "list providers").await?;
            let list: ProviderList = parse(r, "list providers")?;
            Ok(list.resource_providers)
        })
    }

    /// The provider with this uuid, created (with `name` and `parent`) when
    /// missing. An existing provider keeps its name.
    fn ensure_provider<'a>(
        &'a self,
        uuid: Uuid,
        name: &'a str,
        parent: Option<Uuid>,
    ) -> BoxFuture<'a, Result<ResourceProvider>> {
        Box::pin(async move {
            if let Some(p) = self.get_provider(uuid).await? {
                return Ok(p);
            }
            let mut body = json!({"name": name, "uuid": uuid});
            if let Some(p) = parent {
                body["parent_provider_uuid"] = json!(p);
            }
            match self.call(PlacementRequest::post("/resource_providers", body), "create provider").await {
                Ok(r) => parse(r, "create provider"),
                Err(e @ PlacementError::Conflict { .. }) => match self.get_provider(uuid).await? {
                    // Someone else created it meanwhile.
                    Some(p) => Ok(p),
                    None => Err(e),
                },
                Err(e) => Err(e),
            }
        })
    }

    /// Delete a provider; `false` when it did not exist.
    fn delete_provider(&self, uuid: Uuid) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            match self.call(PlacementRequest::delete(format!("/resource_providers/{uuid}")), "delete provider").await {
                Ok(_) => Ok(true),
                Err(PlacementError::NotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    // ------------------------------------------------------ inventory

    fn get_inventories(&self, rp: Uuid) -> BoxFuture<'_, Result<ProviderInventories>> {
        Box::pin(async move {
            let r = self
                .call(PlacementRequest::get(format!("/resource_providers/{rp}/inventories")), "get inventories")
                .await?;
            parse(r, "get inventories")
        })
    }

    /// Replace the provider's inventory with `inventories`, retrying
    /// generation conflicts; a no-op when nothing changes. Returns the
    /// provider generation afterwards.
    fn set_inventories<'a>(
        &'a self,
        rp: Uuid,
        inventories: &'a BTreeMap<String, Inventory>,
    ) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            let mut last = None;
            for _ in 0..GENERATION_RETRIES {
                let current = self.get_inventories(rp).await?;
                if &current.inventories == inventories {
                    return Ok(current.resource_provider_generation);
                }
                for rc in inventories.keys() {
                    if rc.starts_with("CUSTOM_") {
                        self.ensure_resource_class(rc).await?;
                    }
                }
                let body = json!({
                    "resource_provider_generation": current.resource_provider_generation,
                    "inventories": inventories,
                });
                match self
                    .call(
                        PlacementRequest::put(format!("/resource_providers/{rp}/inventories"), body),
                        "set inventories",
                    )
                    .await
                {
                    Ok(r) => {
                        let after: ProviderInventories = parse(r, "set inventories")?;
                        return Ok(after.resource_provider_generation);
                    }
                    Err(e) if e.is_generation_conflict() => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Err(last.unwrap_or_else(|| PlacementError::Unavailable("set inventories: too many retries".into())))
        })
    }

    /// Create a custom resource class if missing (`PUT /resource_classes/X`).
    fn ensure_resource_class<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.call(
                PlacementRequest::put_empty(format!("/resource_classes/{}", encode(name))),
                "ensure resource class",
            )
            .await
            .map(|_| ())
        })
    }

    // ------------------------------------------------------ traits

    /// Create a custom trait if missing (`PUT /traits/X`).
    fn ensure_trait<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.call(PlacementRequest::put_empty(format!("/traits/{}", encode(name))), "ensure trait")
                .await
                .map(|_| ())
        })
    }

    fn get_traits(&self, rp: Uuid) -> BoxFuture<'_, Result<ProviderTraits>> {
        Box::pin(async move {
            let r = self.call(PlacementRequest::get(format!("/resource_providers/{rp}/traits")), "get traits").await?;
            parse(r, "get traits")
        })
    }

    /// Add `add` and remove `remove` from the provider's traits
    /// (read-modify-write, retrying generation conflicts). Custom traits
    /// are created as needed. Returns the traits afterwards.
    fn update_traits<'a>(
        &'a self,
        rp: Uuid,
        add: &'a [String],
        remove: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeSet<String>>> {
        Box::pin(async move {
            for t in add {
                if t.starts_with("CUSTOM_") {
                    self.ensure_trait(t).await?;
                }
            }
            let mut last = None;
            for _ in 0..GENERATION_RETRIES {
                let current = self.get_traits(rp).await?;
                let mut wanted: BTreeSet<String> = current.traits.iter().cloned().collect();
                wanted.extend(add.iter().cloned());
                for t in remove {
                    wanted.remove(t);
                }
                if wanted == current.traits.iter().cloned().collect::<BTreeSet<_>>() {
                    return Ok(wanted);
                }
                let body =
                    json!({"resource_provider_generation": current.resource_provider_generation, "traits": wanted});
                match self
                    .call(PlacementRequest::put(format!("/resource_providers/{rp}/traits"), body), "set traits")
                    .await
                {
                    Ok(_) => return Ok(wanted),
                    Err(e) if e.is_generation_conflict() => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Err(last.unwrap_or_else(|| PlacementError::Unavailable("set traits: too many retries".into())))
        })
    }

    /// Set (`present`) or clear one trait on a provider.
    fn set_trait<'a>(&'a self, rp: Uuid, name: &'a str, present: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let one = [name.to_string()];
            if present {
                self.update_traits(rp, &one, &[]).await?;
            } else {
                self.update_traits(rp, &[], &one).await?;
            }
            Ok(())
        })
    }

    // ------------------------------------------------------ aggregates

    fn get_aggregates(&self, rp: Uuid) -> BoxFuture<'_, Result<ProviderAggregates>> {
        Box::pin(async move {
            let r = self
                .call(PlacementRequest::get(format!("/resource_providers/{rp}/aggregates")), "get aggregates")
                .await?;
            parse(r, "get aggregates")
        })
    }

    /// Add and remove aggregates of a provider, retrying generation
    /// conflicts. Returns the aggregates afterwards.
    fn update_aggregates<'a>(
        &'a self,
        rp: Uuid,
        add: &'a [Uuid],
        remove: &'a [Uuid],
    ) -> BoxFuture<'a, Result<BTreeSet<Uuid>>> {
        Box::pin(async move {
            let mut last = None;
            for _ in 0..GENERATION_RETRIES {
                let current = self.get_aggregates(rp).await?;
                let before: BTreeSet<Uuid> = current.aggregates.iter().copied().collect();
                let mut wanted = before.clone();
                wanted.extend(add.iter().copied());
                for a in remove {
                    wanted.remove(a);
                }
                if wanted == before {
                    return Ok(wanted);
                }
                let body =
                    json!({"resource_provider_generation": current.resource_provider_generation, "aggregates": wanted});
                match self
                    .call(PlacementRequest::put(format!("/resource_providers/{rp}/aggregates"), body), "set aggregates")
                    .await
                {
                    Ok(_) => return Ok(wanted),
                    Err(e) if e.is_generation_conflict() => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Err(last.unwrap_or_else(|| PlacementError::Unavailable("set aggregates: too many retries".into())))
        })
    }

    // ------------------------------------------------------ candidates

    /// `GET /allocation_candidates?<query>` (the raw query string, e.g.
    /// `resources=VCPU:1,MEMORY_MB:512&required=!COMPUTE_STATUS_DISABLED`).
    fn allocation_candidates<'a>(&'a self, query: &'a str) -> BoxFuture<'a, Result<AllocationCandidates>> {
        Box::pin(async move {
            let r = self
                .call(PlacementRequest::get(format!("/allocation_candidates?{query}")), "allocation candidates")
                .await?;
            parse(r, "allocation candidates")
        })
    }

    // ------------------------------------------------------ allocations

    /// A consumer's allocations (empty, with no generation, when it has
    /// none).
    fn get_allocations(&self, consumer: Uuid) -> BoxFuture<'_, Result<ConsumerAllocations>> {
        Box::pin(async move {
            let r = self.call(PlacementRequest::get(format!("/allocations/{consumer}")), "get allocations").await?;
            parse(r, "get allocations")
        })
    }

    /// Replace a consumer's allocations. `consumer_generation` must be
    /// `None` for a new consumer and the current generation otherwise; a
    /// mismatch or lack of capacity is a [`PlacementError::Conflict`].
    fn put_allocations<'a>(&'a self, consumer: Uuid, write: &'a AllocationWrite) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let allocations: BTreeMap<String, Value> =
                write.allocations.iter().map(|(rp, res)| (rp.to_string(), json!({"resources": res}))).collect();
            let body = json!({
                "allocations": allocations,
                "project_id": write.project_id,
                "user_id": write.user_id,
                "consumer_generation": write.consumer_generation,
                "consumer_type": write.consumer_type,
            });
            self.call(PlacementRequest::put(format!("/allocations/{consumer}"), body), "put allocations")
                .await
                .map(|_| ())
        })
    }

    /// `POST /allocations`: write the allocations of many consumers in one
    /// atomic request (all or none).
    fn post_allocations<'a>(&'a self, writes: &'a BTreeMap<Uuid, AllocationWrite>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let body: serde_json::Map<String, Value> = writes
                .iter()
                .map(|(consumer, write)| {
                    let allocations: BTreeMap<String, Value> =
                        write.allocations.iter().map(|(rp, res)| (rp.to_string(), json!({"resources": res}))).collect();
                    (
                        consumer.to_string(),
                        json!({
                            "allocations": allocations,
                            "project_id": write.project_id,
                            "user_id": write.user_id,
                            "consumer_generation": write.consumer_generation,
                            "consumer_type": write.consumer_type,
                        }),
                    )
                })
                .collect();
            self.call(PlacementRequest::post("/allocations", Value::Object(body)), "post allocations").await.map(|_| ())
        })
    }

    /// Remove all of a consumer's allocations; `Ok(false)` when it had none.
    fn delete_allocations(&self, consumer: Uuid) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            match self.call(PlacementRequest::delete(format!("/allocations/{consumer}")), "delete allocations").await {
                Ok(_) => Ok(true),
                Err(PlacementError::NotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// Allocations against one provider, by consumer.
    fn provider_allocations(&self, rp: Uuid) -> BoxFuture<'_, Result<ProviderAllocations>> {
        Box::pin(async move {
            let r = self
                .call(PlacementRequest::get(format!("/resource_providers/{rp}/allocations")), "provider allocations")
                .await?;
            parse(r, "provider allocations")
        })
    }

    /// Usages of one provider, by resource class.
    fn provider_usages(&self, rp: Uuid) -> BoxFuture<'_, Result<BTreeMap<String, i64>>> {
        Box::pin(async move {
            let r =
                self.call(PlacementRequest::get(format!("/resource_providers/{rp}/usages")), "provider usages").await?;
            let u: Usages = parse(r, "provider usages")?;
            Ok(u.usages)
        })
    }

    /// Usages of a project (and user), summed over consumer types.
    fn project_usages<'a>(
        &'a self,
        project_id: &'a str,
        user_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, i64>>> {
        Box::pin(async move {
            let mut path = format!("/usages?project_id={}", encode(project_id));
            if let Some(u) = user_id {
                path.push_str(&format!("&user_id={}", encode(u)));
            }
            let r = self.call(PlacementRequest::get(path), "project usages").await?;
            let body = r.body;
            // 1.38+: {"usages": {"INSTANCE": {"consumer_count": n, "VCPU": x}, ...}}
            let mut out = BTreeMap::new();
            if let Some(by_type) = body.get("usages").and_then(Value::as_object) {
                for (_, v) in by_type {
                    if let Some(m) = v.as_object() {
                        for (rc, n) in m {
                            if rc == "consumer_count" {
                                continue;
                            }
                            *out.entry(rc.clone()).or_insert(0) += n.as_i64().unwrap_or(0);
                        }
                    }
                }
            }
            Ok(out)
        })
    }
}

impl<T: PlacementClient + ?Sized> PlacementClient for std::sync::Arc<T> {
    fn send(&self, req: PlacementRequest) -> BoxFuture<'_, Result<PlacementResponse>> {
        (**self).send(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_statuses() {
        let body = json!({"errors": [{"status": 409, "code": CONCURRENT_UPDATE, "detail": "generation mismatch"}]});
        let e = check(PlacementResponse { status: 409, body }, "x").unwrap_err();
        assert!(e.is_generation_conflict());
        let e = check(PlacementResponse { status: 404, body: Value::Null }, "x").unwrap_err();
        assert!(e.is_not_found());
        let e = check(PlacementResponse { status: 503, body: Value::Null }, "x").unwrap_err();
        assert!(e.is_unavailable());
        let e = check(PlacementResponse { status: 400, body: Value::Null }, "x").unwrap_err();
        assert_eq!(e, PlacementError::Other { status: 400, message: "x: HTTP 400".into() });
        assert!(check(PlacementResponse { status: 204, body: Value::Null }, "x").is_ok());
    }

    #[test]
    fn encodes_queries() {
        assert_eq!(encode("VCPU:1,MEMORY_MB:512"), "VCPU:1,MEMORY_MB:512");
        assert_eq!(encode("a b&c"), "a%20b%26c");
        assert_eq!(encode("in:x"), "in:x");
    }
}
