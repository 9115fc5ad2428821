//! The Nova-compatible HTTP API: the route table (every route names its
//! policy rule) behind the shared edge (`berth_http::Edge`: request ids,
//! Nova's fault bodies, body limit, authentication, microversions), and
//! helpers every handler shares.

mod aggregates;
mod extension_list;
mod fault;
mod flavors;
mod hosts;
mod images;
mod infra;
mod instance_actions;
mod keypairs;
mod limits;
mod microversions;
mod migrations;
mod moves;
mod server_actions;
mod server_groups;
mod servers;
mod snapshots;
mod usage;
mod versions;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use berth_http::{Access, Edge, Fault, Microversions, RequestContext, RouteCheck, RouteSpec, RouteTable, Version};
use berth_policy::{Credentials, Denied, Target};
use serde_json::{Map, Value};

use crate::error::{ComputeError, Result};
use crate::service::ComputeService;
pub(crate) use fault::NovaErrors;

pub(crate) type AppState = Arc<ComputeService>;
pub(crate) type ApiResult = Result<Response>;

/// Where the binary mounts the router (links assume it unless a public
/// base URL is configured).
pub const MOUNT: &str = "/compute";
/// The microversion range, from the history in `microversions.rs` (2.96 is
/// Nova 2024.2's maximum; python-openstackclient and openstacksdk negotiate
/// down to it).
pub use microversions::{MAX_VERSION, MIN_VERSION};

/// Every rule `POST /v2.1/servers/{id}/action` may check, by action.
const SERVER_ACTION_RULES: &[&str] = &[
    "os_compute_api:servers:start",
    "os_compute_api:servers:stop",
    "os_compute_api:servers:reboot",
    "os_compute_api:os-deferred-delete:force",
    "os_compute_api:os-deferred-delete:restore",
    "os_compute_api:os-lock-server:lock",
    "os_compute_api:os-lock-server:unlock",
    "os_compute_api:os-pause-server:pause",
    "os_compute_api:os-pause-server:unpause",
    "os_compute_api:os-suspend-server:suspend",
    "os_compute_api:os-suspend-server:resume",
    "os_compute_api:os-rescue",
    "os_compute_api:os-unrescue",
    "os_compute_api:os-admin-actions:reset_state",
    "os_compute_api:os-admin-password",
    "os_compute_api:servers:create_image",
    "os_compute_api:os-create-backup",
    "os_compute_api:os-console-output",
    "os_compute_api:servers:resize",
    "os_compute_api:servers:confirm_resize",
    "os_compute_api:servers:revert_resize",
    "os_compute_api:servers:rebuild",
    "os_compute_api:os-migrate-server:migrate",
    "os_compute_api:os-migrate-server:migrate_live",
    "os_compute_api:os-evacuate",
    "os_compute_api:os-shelve:shelve",
    "os_compute_api:os-shelve:shelve_offload",
    "os_compute_api:os-shelve:unshelve",
];

/// Every rule `POST /v2.1/os-aggregates/{id}/action` may check, by action.
const AGGREGATE_ACTION_RULES: &[&str] = &[
    "os_compute_api:os-aggregates:add_host",
    "os_compute_api:os-aggregates:remove_host",
    "os_compute_api:os-aggregates:set_metadata",
];

/// Every rule `POST /v2.1/flavors/{id}/action` may check, by action.
const FLAVOR_ACTION_RULES: &[&str] =
    &["os_compute_api:os-flavor-access:add_tenant_access", "os_compute_api:os-flavor-access:remove_tenant_access"];

fn rule(name: &'static str) -> Access {
    Access::Rule(name)
}

/// The route table: every route of the compute API with the policy rule
/// (Nova's rule names) its handler checks.
fn table() -> RouteTable<AppState> {
    use Method as M;
    RouteTable::new()
        // Version documents.
        .route("/", M::GET, Access::Public, versions::root)
        .route("/v2.1", M::GET, Access::Public, versions::v21)
        .route("/v2.1/", M::GET, Access::Public, versions::v21)
        // Flavors.
        .route("/v2.1/flavors", M::GET, rule("os_compute_api:flavors"), flavors::list)
        .route("/v2.1/flavors", M::POST, rule("os_compute_api:os-flavor-manage:create"), flavors::create)
        .route("/v2.1/flavors/detail", M::GET, rule("os_compute_api:flavors"), flavors::detail)
        .route("/v2.1/flavors/{id}", M::GET, rule("os_compute_api:flavors"), flavors::show)
        .route("/v2.1/flavors/{id}", M::PUT, rule("os_compute_api:os-flavor-manage:update"), flavors::update)
        .route("/v2.1/flavors/{id}", M::DELETE, rule("os_compute_api:os-flavor-manage:delete"), flavors::delete)
        .route("/v2.1/flavors/{id}/action", M::POST, Access::AnyOf(FLAVOR_ACTION_RULES), flavors::action)
        .route(
            "/v2.1/flavors/{id}/os-flavor-access",
            M::GET,
            rule("os_compute_api:os-flavor-access"),
            flavors::access_list,
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs",
            M::GET,
            rule("os_compute_api:os-flavor-extra-specs:index"),
            flavors::specs_index,
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs",
            M::POST,
            rule("os_compute_api:os-flavor-extra-specs:create"),
            flavors::specs_create,
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            M::GET,
            rule("os_compute_api:os-flavor-extra-specs:show"),
            flavors::spec_show,
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            M::PUT,
            rule("os_compute_api:os-flavor-extra-specs:update"),
            flavors::spec_update,
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            M::DELETE,
            rule("os_compute_api:os-flavor-extra-specs:delete"),
            flavors::spec_delete,
        )
        // Servers.
        .route("/v2.1/servers", M::GET, rule("os_compute_api:servers:index"), servers::list)
        .route("/v2.1/servers", M::POST, rule("os_compute_api:servers:create"), servers::create)
        .route("/v2.1/servers/detail", M::GET, rule("os_compute_api:servers:detail"), servers::detail)
        .route("/v2.1/servers/{id}", M::GET, rule("os_compute_api:servers:show"), servers::show)
        .route("/v2.1/servers/{id}", M::PUT, rule("os_compute_api:servers:update"), servers::update)
        .route("/v2.1/servers/{id}", M::DELETE, rule("os_compute_api:servers:delete"), servers::delete)
        .route("/v2.1/servers/{id}/action", M::POST, Access::AnyOf(SERVER_ACTION_RULES), servers::action)
        .route("/v2.1/servers/{id}/metadata", M::GET, rule("os_compute_api:server-metadata:index"), servers::meta_index)
        .route(
            "/v2.1/servers/{id}/metadata",
            M::POST,
            rule("os_compute_api:server-metadata:create"),
            servers::meta_create,
        )
        .route(
            "/v2.1/servers/{id}/metadata",
            M::PUT,
            rule("os_compute_api:server-metadata:update_all"),
            servers::meta_replace,
        )
        .route(
            "/v2.1/servers/{id}/metadata/{key}",
            M::GET,
            rule("os_compute_api:server-metadata:show"),
            servers::meta_show,
        )
        .route(
            "/v2.1/servers/{id}/metadata/{key}",
            M::PUT,
            rule("os_compute_api:server-metadata:update"),
            servers::meta_update,
        )
        .route(
            "/v2.1/servers/{id}/metadata/{key}",
            M::DELETE,
            rule("os_compute_api:server-metadata:delete"),
            servers::meta_delete,
        )
        // Moves: migration records, live migrations of a server, actions.
        .route("/v2.1/os-migrations", M::GET, rule("os_compute_api:os-migrations:index"), migrations::index)
        .route(
            "/v2.1/servers/{id}/migrations",
            M::GET,
            rule("os_compute_api:servers:migrations:index"),
            migrations::server_index,
        )
        .route(
            "/v2.1/servers/{id}/migrations/{migration}",
            M::GET,
            rule("os_compute_api:servers:migrations:show"),
            migrations::server_show,
        )
        .route(
            "/v2.1/servers/{id}/migrations/{migration}",
            M::DELETE,
            rule("os_compute_api:servers:migrations:delete"),
            migrations::server_abort,
        )
        .route(
            "/v2.1/servers/{id}/migrations/{migration}/action",
            M::POST,
            rule("os_compute_api:servers:migrations:force_complete"),
            migrations::server_force_complete,
        )
        .route(
            "/v2.1/servers/{id}/os-instance-actions",
            M::GET,
            rule("os_compute_api:os-instance-actions:list"),
            instance_actions::list,
        )
        .route(
            "/v2.1/servers/{id}/os-instance-actions/{request_id}",
            M::GET,
            rule("os_compute_api:os-instance-actions:show"),
            instance_actions::show,
        )
        // Services, hypervisors, zones.
        .route(
            "/v2.1/servers/{id}/tags",
            M::GET,
            rule("os_compute_api:os-server-tags:index"),
            server_actions::tags_index,
        )
        .route(
            "/v2.1/servers/{id}/tags",
            M::PUT,
            rule("os_compute_api:os-server-tags:update_all"),
            server_actions::tags_replace,
        )
        .route(
            "/v2.1/servers/{id}/tags",
            M::DELETE,
            rule("os_compute_api:os-server-tags:delete_all"),
            server_actions::tags_delete_all,
        )
        .route(
            "/v2.1/servers/{id}/tags/{tag}",
            M::GET,
            rule("os_compute_api:os-server-tags:show"),
            server_actions::tag_show,
        )
        .route(
            "/v2.1/servers/{id}/tags/{tag}",
            M::PUT,
            rule("os_compute_api:os-server-tags:update"),
            server_actions::tag_put,
        )
        .route(
            "/v2.1/servers/{id}/tags/{tag}",
            M::DELETE,
            rule("os_compute_api:os-server-tags:delete"),
            server_actions::tag_delete,
        )
        .route("/v2.1/servers/{id}/ips", M::GET, rule("os_compute_api:ips:index"), server_actions::ips_index)
        .route("/v2.1/servers/{id}/ips/{network}", M::GET, rule("os_compute_api:ips:show"), server_actions::ips_show)
        .route(
            "/v2.1/servers/{id}/diagnostics",
            M::GET,
            rule("os_compute_api:os-server-diagnostics"),
            server_actions::diagnostics,
        )
        .route(
            "/v2.1/servers/{id}/os-server-password",
            M::GET,
            rule("os_compute_api:os-server-password:show"),
            server_actions::password_show,
        )
        .route(
            "/v2.1/servers/{id}/os-server-password",
            M::DELETE,
            rule("os_compute_api:os-server-password:clear"),
            server_actions::password_clear,
        )
        .route("/v2.1/os-services", M::GET, rule("os_compute_api:os-services:list"), infra::services_list)
        .route("/v2.1/os-services/{id}", M::PUT, rule("os_compute_api:os-services:update"), infra::services_update)
        .route("/v2.1/os-services/{id}", M::DELETE, rule("os_compute_api:os-services:delete"), infra::services_delete)
        .route("/v2.1/os-hypervisors", M::GET, rule("os_compute_api:os-hypervisors:list"), infra::hypervisors_list)
        .route(
            "/v2.1/os-hypervisors/detail",
            M::GET,
            rule("os_compute_api:os-hypervisors:list-detail"),
            infra::hypervisors_detail,
        )
        .route(
            "/v2.1/os-hypervisors/statistics",
            M::GET,
            rule("os_compute_api:os-hypervisors:statistics"),
            infra::hypervisors_statistics,
        )
        .route("/v2.1/os-hypervisors/{id}", M::GET, rule("os_compute_api:os-hypervisors:show"), infra::hypervisors_show)
        .route("/v2.1/os-hypervisors/{id}/uptime", M::GET, rule("os_compute_api:os-hypervisors:uptime"), hosts::uptime)
        .route("/v2.1/os-hypervisors/{id}/search", M::GET, rule("os_compute_api:os-hypervisors:search"), hosts::search)
        .route(
            "/v2.1/os-hypervisors/{id}/servers",
            M::GET,
            rule("os_compute_api:os-hypervisors:servers"),
            hosts::servers,
        )
        .route("/v2.1/os-hosts", M::GET, rule("os_compute_api:os-hosts:list"), hosts::list)
        .route("/v2.1/os-hosts/{host}", M::GET, rule("os_compute_api:os-hosts:show"), hosts::show)
        .route("/v2.1/os-hosts/{host}", M::PUT, rule("os_compute_api:os-hosts:update"), hosts::update)
        .route("/v2.1/os-hosts/{host}/startup", M::GET, rule("os_compute_api:os-hosts:start"), hosts::startup)
        .route("/v2.1/os-hosts/{host}/shutdown", M::GET, rule("os_compute_api:os-hosts:shutdown"), hosts::shutdown)
        .route("/v2.1/os-hosts/{host}/reboot", M::GET, rule("os_compute_api:os-hosts:reboot"), hosts::reboot)
        .route("/v2.1/os-availability-zone", M::GET, rule("os_compute_api:os-availability-zone:list"), infra::az_list)
        .route(
            "/v2.1/os-availability-zone/detail",
            M::GET,
            rule("os_compute_api:os-availability-zone:detail"),
            infra::az_detail,
        )
        // Host aggregates.
        .route("/v2.1/os-aggregates", M::GET, rule("os_compute_api:os-aggregates:index"), aggregates::list)
        .route("/v2.1/os-aggregates", M::POST, rule("os_compute_api:os-aggregates:create"), aggregates::create)
        .route("/v2.1/os-aggregates/{id}", M::GET, rule("os_compute_api:os-aggregates:show"), aggregates::show)
        .route("/v2.1/os-aggregates/{id}", M::PUT, rule("os_compute_api:os-aggregates:update"), aggregates::update)
        .route("/v2.1/os-aggregates/{id}", M::DELETE, rule("os_compute_api:os-aggregates:delete"), aggregates::delete)
        .route("/v2.1/os-aggregates/{id}/action", M::POST, Access::AnyOf(AGGREGATE_ACTION_RULES), aggregates::action)
        .route("/v2.1/os-aggregates/{id}/images", M::POST, rule("compute:aggregates:images"), aggregates::images)
        // Server groups.
        .route("/v2.1/os-server-groups", M::GET, rule("os_compute_api:os-server-groups:index"), server_groups::list)
        .route("/v2.1/os-server-groups", M::POST, rule("os_compute_api:os-server-groups:create"), server_groups::create)
        .route("/v2.1/os-server-groups/{id}", M::GET, rule("os_compute_api:os-server-groups:show"), server_groups::show)
        .route(
            "/v2.1/os-server-groups/{id}",
            M::DELETE,
            rule("os_compute_api:os-server-groups:delete"),
            server_groups::delete,
        )
        // The image proxy (until 2.35): the image API decides.
        .route("/v2.1/images", M::GET, Access::Authenticated, images::list)
        .route("/v2.1/images/detail", M::GET, Access::Authenticated, images::detail)
        .route("/v2.1/images/{id}", M::GET, Access::Authenticated, images::show)
        .route("/v2.1/images/{id}", M::DELETE, Access::Authenticated, images::delete)
        .route("/v2.1/images/{id}/metadata", M::GET, Access::Authenticated, images::meta_index)
        .route("/v2.1/images/{id}/metadata", M::POST, Access::Authenticated, images::meta_create)
        .route("/v2.1/images/{id}/metadata", M::PUT, Access::Authenticated, images::meta_replace)
        .route("/v2.1/images/{id}/metadata/{key}", M::GET, Access::Authenticated, images::meta_show)
        .route("/v2.1/images/{id}/metadata/{key}", M::PUT, Access::Authenticated, images::meta_update)
        .route("/v2.1/images/{id}/metadata/{key}", M::DELETE, Access::Authenticated, images::meta_delete)
        // Usage, quota classes, extensions, audit log.
        .route(
            "/v2.1/os-simple-tenant-usage",
            M::GET,
            rule("os_compute_api:os-simple-tenant-usage:list"),
            usage::usage_list,
        )
        .route(
            "/v2.1/os-simple-tenant-usage/{project}",
            M::GET,
            rule("os_compute_api:os-simple-tenant-usage:show"),
            usage::usage_show,
        )
        .route(
            "/v2.1/os-quota-class-sets/{id}",
            M::GET,
            rule("os_compute_api:os-quota-class-sets:show"),
            usage::quota_class_show,
        )
        .route(
            "/v2.1/os-quota-class-sets/{id}",
            M::PUT,
            rule("os_compute_api:os-quota-class-sets:update"),
            usage::quota_class_update,
        )
        .route("/v2.1/extensions", M::GET, rule("os_compute_api:extensions"), usage::extensions_list)
        .route("/v2.1/extensions/{id}", M::GET, rule("os_compute_api:extensions"), usage::extensions_show)
        .route(
            "/v2.1/os-instance_usage_audit_log",
            M::GET,
            rule("os_compute_api:os-instance-usage-audit-log:list"),
            usage::audit_list,
        )
        .route(
            "/v2.1/os-instance_usage_audit_log/{id}",
            M::GET,
            rule("os_compute_api:os-instance-usage-audit-log:show"),
            usage::audit_show,
        )
        // Limits, quotas, keypairs.
        .route("/v2.1/limits", M::GET, rule("os_compute_api:limits"), limits::limits)
        .route("/v2.1/os-quota-sets/{project}", M::GET, rule("os_compute_api:os-quota-sets:show"), limits::quota_show)
        .route(
            "/v2.1/os-quota-sets/{project}",
            M::PUT,
            rule("os_compute_api:os-quota-sets:update"),
            limits::quota_update,
        )
        .route(
            "/v2.1/os-quota-sets/{project}",
            M::DELETE,
            rule("os_compute_api:os-quota-sets:delete"),
            limits::quota_delete,
        )
        .route(
            "/v2.1/os-quota-sets/{project}/defaults",
            M::GET,
            rule("os_compute_api:os-quota-sets:defaults"),
            limits::quota_defaults,
        )
        .route(
            "/v2.1/os-quota-sets/{project}/detail",
            M::GET,
            rule("os_compute_api:os-quota-sets:detail"),
            limits::quota_detail,
        )
        .route("/v2.1/os-keypairs", M::GET, rule("os_compute_api:os-keypairs:index"), keypairs::list)
        .route("/v2.1/os-keypairs", M::POST, rule("os_compute_api:os-keypairs:create"), keypairs::create)
        .route("/v2.1/os-keypairs/{name}", M::GET, rule("os_compute_api:os-keypairs:show"), keypairs::show)
        .route("/v2.1/os-keypairs/{name}", M::DELETE, rule("os_compute_api:os-keypairs:delete"), keypairs::delete)
}

/// Every route of the compute API (path relative to the mount point,
/// method, access), for tests that walk them.
pub fn route_specs() -> Vec<RouteSpec> {
    table().specs().to_vec()
}

fn is_version_doc(path: &str) -> bool {
    matches!(path, "" | "/" | "/v2.1" | "/v2.1/")
}

/// How compute negotiates microversions (Nova's headers and messages).
fn microversions() -> Microversions {
    Microversions {
        service: "compute",
        min: MIN_VERSION,
        max: MAX_VERSION,
        legacy_header: Some("x-openstack-nova-api-version"),
        vary: "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
        exempt: is_version_doc,
        invalid_message: |s| {
            format!("API Version String {s} is of invalid format. Must be of format MajorNum.MinorNum.")
        },
        unacceptable_message: |s, min, max| {
            format!("Version {s} is not supported by the API. Minimum is {min} and maximum is {max}.")
        },
    }
}

/// The compute API with routes relative to its mount point: `/` (version
/// list), `/v2.1` (version document) and `/v2.1/...`, behind the edge.
/// Mount it with `Router::nest("/compute", router(svc))`.
pub fn router(svc: Arc<ComputeService>) -> Router {
    Edge::new("compute", NovaErrors)
        .auth(svc.config.auth.clone())
        .microversions(microversions())
        .body_limit(svc.config.max_request_body, |_, _| false)
        .request_id_header("x-compute-request-id")
        .wrap(table())
        .with_state(svc)
}

/// Everything a handler needs about its request.
pub(crate) struct Ctx {
    pub svc: AppState,
    pub caller: RequestContext,
    pub version: Version,
    /// `http://host/compute` (no trailing slash).
    pub base: String,
    pub query: Vec<(String, String)>,
    /// This request's id (`x-openstack-request-id`).
    pub request_id: String,
    /// The route's access, from the route table.
    check: RouteCheck,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, svc: &AppState) -> std::result::Result<Ctx, Response> {
        let check = RouteCheck::from_request_parts(parts, svc).await.map_err(IntoResponse::into_response)?;
        let caller = parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| ComputeError::unauthorized().into_response())?;
        let version = parts.extensions.get::<Version>().copied().unwrap_or(MIN_VERSION);
        let base = base_url(svc, parts);
        let query = match parts.uri.query() {
            None => Vec::new(),
            Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .map_err(|e| ComputeError::bad_request(format!("Invalid query string: {e}")).into_response())?,
        };
        let request_id = parts.extensions.get::<berth_http::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        Ok(Ctx { svc: svc.clone(), caller, version, base, query, request_id, check })
    }
}

/// `scheme://host/compute`: the configured public URL, else built from the
/// request (`Host` validated by `berth_http::public_base`).
pub(crate) fn base_url(svc: &ComputeService, parts: &Parts) -> String {
    let routed = parts.uri.path();
    let original = parts.extensions.get::<OriginalUri>().map(|o| o.0.path().to_string());
    berth_http::public_base(
        svc.config.public_base_url.as_deref(),
        &parts.headers,
        original.as_deref().unwrap_or(routed),
        routed,
    )
}

impl Ctx {
    pub fn v(&self, major: u16, minor: u16) -> bool {
        self.version.at_least(major, minor)
    }

    pub fn project(&self) -> &str {
        self.caller.project_id.as_deref().unwrap_or("")
    }

    pub fn user(&self) -> &str {
        self.caller.user_id.as_deref().unwrap_or("")
    }

    fn creds(&self) -> Credentials {
        Credentials {
            user_id: self.caller.user_id.clone(),
            project_id: self.caller.project_id.clone(),
            domain_id: self.caller.domain_id.clone(),
            roles: self.caller.roles.clone(),
            system_scope: self.caller.system_scope.clone(),
            extra: Map::new(),
        }
    }

    /// Check the route's rule (from the route table) against a target owned
    /// by `project` (default: the caller's project), and record that the
    /// route's rule was consulted.
    pub fn authorize_route(&self, project: Option<&str>) -> Result<()> {
        let rule = self.check.rule().ok_or_else(|| ComputeError::internal("route names no single policy rule"))?;
        self.authorize_named(rule, project)
    }

    /// Check `rule`, which the route table must name for this route (a
    /// route of `Access::AnyOf` picks it by the request's body), and record
    /// that the route's rule was consulted.
    pub fn authorize_named(&self, rule: &str, project: Option<&str>) -> Result<()> {
        if !self.check.names(rule) {
            return Err(ComputeError::internal(format!("the route table does not name the rule {rule}")));
        }
        self.authorize(rule, project)?;
        self.check.mark_checked();
        Ok(())
    }

    /// Check a further `rule` (a sub-rule such as `get_all_tenants`, not
    /// the route's own) against a target owned by `project`.
    pub fn authorize(&self, rule: &str, project: Option<&str>) -> Result<()> {
        self.authorize_target(rule, project.unwrap_or(self.project()), self.user())
    }

    /// Check the route's rule against a target owned by `user` in the
    /// caller's project (key pairs belong to users), and record that the
    /// route's rule was consulted.
    pub fn authorize_route_for_user(&self, user: &str) -> Result<()> {
        let rule = self.check.rule().ok_or_else(|| ComputeError::internal("route names no single policy rule"))?;
        self.authorize_target(rule, self.project(), user)?;
        self.check.mark_checked();
        Ok(())
    }

    fn authorize_target(&self, rule: &str, project: &str, user: &str) -> Result<()> {
        let mut target = Target::new();
        target.insert("project_id".into(), project.to_string());
        target.insert("user_id".into(), user.to_string());
        match self.svc.policy.authorize(rule, &target, &self.creds()) {
            Ok(()) => Ok(()),
            Err(Denied::NotRegistered { rule }) => {
                Err(ComputeError::internal(format!("policy {rule} is not registered")))
            }
            Err(d) => Err(ComputeError::forbidden(format!("Policy doesn't allow {} to be performed.", d.rule()))),
        }
    }

    /// Would `rule` pass (no error)?
    pub fn can(&self, rule: &str, project: Option<&str>) -> bool {
        self.authorize(rule, project).is_ok()
    }

    pub fn q(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `http://host/compute/v2.1/<tail>`
    pub fn url(&self, tail: &str) -> String {
        format!("{}/v2.1/{tail}", self.base)
    }

    /// `http://host/compute/<tail>` (bookmark links).
    pub fn bookmark(&self, tail: &str) -> String {
        format!("{}/{tail}", self.base)
    }

    pub fn links(&self, tail: &str) -> Value {
        serde_json::json!([
            {"rel": "self", "href": self.url(tail)},
            {"rel": "bookmark", "href": self.bookmark(tail)},
        ])
    }
}

pub(crate) fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

pub(crate) fn ok(body: Value) -> ApiResult {
    Ok(json(StatusCode::OK, body))
}

pub(crate) fn status_only(status: StatusCode) -> ApiResult {
    Ok(status.into_response())
}

/// Parse a JSON request body (400 in Nova's format when it is not JSON).
pub(crate) fn parse_body(body: &Bytes) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ComputeError::bad_request("The request body is empty; expected a JSON object."));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| ComputeError::bad_request("Malformed request body: not UTF-8."))?;
    let v: Value =
        serde_json::from_str(text).map_err(|e| ComputeError::bad_request(format!("Malformed request body: {e}")))?;
    if has_nul(&v) {
        // No engine stores it the same way (PostgreSQL refuses it): refused
        // here, on every engine alike.
        return Err(ComputeError::bad_request("Malformed request body: strings may not contain the NUL character."));
    }
    Ok(v)
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// A request body that is JSON (or declares no type): Nova answers any
/// other `Content-Type` with 415.
pub(crate) struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> std::result::Result<Self, Response> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let json = ct
                .to_str()
                .ok()
                .is_some_and(|s| s.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return Err(Fault::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Content-Type").into_response());
            }
        }
        Bytes::from_request(req, state).await.map(JsonBody).map_err(IntoResponse::into_response)
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn invalid(field: &str, detail: impl std::fmt::Display) -> ComputeError {
    ComputeError::bad_request(format!("Invalid input for field/attribute {field}. Value: {detail}"))
}

/// `{"<key>": {...}}` → the inner object.
pub(crate) fn member<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>> {
    let obj = body.as_object().ok_or_else(|| invalid(key, "request body is not an object"))?;
    match obj.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(v) => Err(invalid(key, format!("{v} is not of type 'object'"))),
        None => Err(ComputeError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: '{key}' is a required property"
        ))),
    }
}

/// Reject keys outside `allowed` (Nova's `additionalProperties: false`).
pub(crate) fn only_keys(obj: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(ComputeError::bad_request(format!(
                "Additional properties are not allowed ('{}' was unexpected)",
                truncate(k, 255)
            )));
        }
    }
    Ok(())
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

/// A name: a string of 1..=255 characters with no leading/trailing
/// whitespace and no control characters.
pub(crate) fn name_value(field: &str, v: &Value) -> Result<String> {
    let s = v.as_str().ok_or_else(|| invalid(field, format!("{} is not of type 'string'", type_name(v))))?;
    let n = s.chars().count();
    if n == 0 || n > 255 {
        return Err(invalid(field, format!("'{}' is not a valid name: length must be 1 to 255", truncate(s, 64))));
    }
    if s.trim() != s || s.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("'{}' is not a valid name (leading/trailing whitespace or control characters)", truncate(s, 64)),
        ));
    }
    Ok(s.to_string())
}

/// Optional free text (description), at most 255 characters; `null` ok.
pub(crate) fn description_value(field: &str, v: &Value, max: usize) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s)
            if s.chars().count() <= max
                && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') =>
        {
            Ok(Some(s.clone()))
        }
        Value::String(s) => Err(invalid(field, format!("'{}' is too long or has control characters", truncate(s, 64)))),
        other => Err(invalid(field, format!("{} is not of type 'string', 'null'", type_name(other)))),
    }
}

/// A non-negative integer (JSON number or digit string, as Nova accepts).
pub(crate) fn int_value(field: &str, v: &Value, min: i64, max: i64) -> Result<i64> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid(field, format!("{v} is not an integer")))?;
    if n < min || n > max {
        return Err(invalid(field, format!("{n} must be between {min} and {max}")));
    }
    Ok(n)
}

pub(crate) fn bool_value(field: &str, v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(invalid(field, format!("'{s}' is not a boolean"))),
        },
        other => Err(invalid(field, format!("{other} is not of type 'boolean'"))),
    }
}

pub(crate) fn query_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}
