//! HTTP layer: identity behind the shared edge (`berth_http::Edge`), one
//! route table naming each route's access and Keystone policy rule, and the
//! helpers every handler shares (the caller extractor, body and query
//! parsing, links); authorization is in `policy`.
//!
//! Request path: edge (request id, Keystone error bodies, panic containment,
//! body limit, path and query sanity) -> route table (404/405 with `Allow`;
//! the route's rule) -> handler. Authentication is the [`Caller`]
//! extractor's, not the edge's: identity validates its own tokens with one
//! lookup that yields the whole [`TokenInfo`] (scope records, roles, the
//! token's subject) its handlers and policy targets need, and tells a
//! database failure (503) from a bad token (401).

mod appcreds;
mod auth;
mod catalog;
mod credentials;
mod grants;
mod groups;
mod policy;
mod resources;
mod trusts;
mod versions;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use berth_http::{json_error, Access, Edge, ErrorFormat, Fault, FaultContext, RouteCheck, RouteSpec, RouteTable};
use serde_json::{json, Map, Value};

use crate::error::{title_for, IdentityError, Result};
use crate::service::Identity;
use crate::token::TokenInfo;

pub(crate) type AppState = Arc<Identity>;
pub(crate) type ApiResult = Result<Response>;

/// Mount point the catalog and discovery links assume.
pub(crate) const MOUNT: &str = "/identity";

/// Largest request body (413 beyond): what identity took before the edge
/// (axum's default).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Keystone's error body, `{"error": {"code", "title", "message"}}`, with
/// `WWW-Authenticate: Keystone` on a 401.
pub(crate) struct KeystoneErrors;

impl ErrorFormat for KeystoneErrors {
    fn render(&self, f: &Fault, _cx: &FaultContext) -> Response {
        let body = json!({"error": {"code": f.status.as_u16(), "title": title_for(f.status), "message": f.message}});
        let mut resp = json_error(f.status, &body);
        if f.status == StatusCode::UNAUTHORIZED {
            // keystoneauth does not need it, but Keystone always sends it.
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Keystone"));
        }
        resp
    }
}

/// Every route identity serves, with its access: the version documents,
/// issuing a token and the password change (authenticated by the original
/// password, as in Keystone) are public; every other route names the
/// Keystone rule its handler checks (through [`Caller::authorize`]). GET
/// routes also answer HEAD; a HEAD with a rule of its own is listed.
fn table() -> RouteTable<AppState> {
    use appcreds as ac;
    use auth as a;
    use catalog as c;
    use credentials as cr;
    use grants as g;
    use groups as gr;
    use resources as r;
    use Access::{Public, Rule};
    let (get, head, post, put, patch, delete) =
        (Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE);
    RouteTable::new()
        .route("/", get.clone(), Public, versions::root)
        .route("/v3", get.clone(), Public, versions::v3)
        .route("/v3/", get.clone(), Public, versions::v3)
        .route("/v3/auth/tokens", post.clone(), Public, a::issue)
        .route("/v3/auth/tokens", get.clone(), Rule("identity:validate_token"), a::validate)
        .route("/v3/auth/tokens", head.clone(), Rule("identity:check_token"), a::validate)
        .route("/v3/auth/tokens", delete.clone(), Rule("identity:revoke_token"), a::revoke)
        .route("/v3/auth/catalog", get.clone(), Rule("identity:get_auth_catalog"), a::catalog)
        .route("/v3/auth/projects", get.clone(), Rule("identity:get_auth_projects"), a::projects)
        .route("/v3/auth/domains", get.clone(), Rule("identity:get_auth_domains"), a::domains)
        .route("/v3/auth/system", get.clone(), Rule("identity:get_auth_system"), a::system)
        .route("/v3/domains", get.clone(), Rule("identity:list_domains"), r::list_domains)
        .route("/v3/domains", post.clone(), Rule("identity:create_domain"), r::create_domain)
        .route("/v3/domains/{id}", get.clone(), Rule("identity:get_domain"), r::get_domain)
        .route("/v3/domains/{id}", patch.clone(), Rule("identity:update_domain"), r::update_domain)
        .route("/v3/domains/{id}", delete.clone(), Rule("identity:delete_domain"), r::delete_domain)
        .route("/v3/projects", get.clone(), Rule("identity:list_projects"), r::list_projects)
        .route("/v3/projects", post.clone(), Rule("identity:create_project"), r::create_project)
        .route("/v3/projects/{id}", get.clone(), Rule("identity:get_project"), r::get_project)
        .route("/v3/projects/{id}", patch.clone(), Rule("identity:update_project"), r::update_project)
        .route("/v3/projects/{id}", delete.clone(), Rule("identity:delete_project"), r::delete_project)
        .route("/v3/projects/{id}/tags", get.clone(), Rule("identity:list_project_tags"), r::list_project_tags)
        .route("/v3/projects/{id}/tags", put.clone(), Rule("identity:update_project_tags"), r::update_project_tags)
        .route("/v3/projects/{id}/tags", delete.clone(), Rule("identity:delete_project_tags"), r::delete_project_tags)
        .route("/v3/projects/{id}/tags/{tag}", get.clone(), Rule("identity:get_project_tag"), r::project_tag)
        .route("/v3/projects/{id}/tags/{tag}", head.clone(), Rule("identity:get_project_tag"), r::project_tag)
        .route("/v3/projects/{id}/tags/{tag}", put.clone(), Rule("identity:create_project_tag"), r::project_tag)
        .route("/v3/projects/{id}/tags/{tag}", delete.clone(), Rule("identity:delete_project_tag"), r::project_tag)
        .route("/v3/users", get.clone(), Rule("identity:list_users"), r::list_users)
        .route("/v3/users", post.clone(), Rule("identity:create_user"), r::create_user)
        .route("/v3/users/{id}", get.clone(), Rule("identity:get_user"), r::get_user)
        .route("/v3/users/{id}", patch.clone(), Rule("identity:update_user"), r::update_user)
        .route("/v3/users/{id}", delete.clone(), Rule("identity:delete_user"), r::delete_user)
        .route("/v3/users/{id}/password", post.clone(), Public, r::change_password)
        .route("/v3/users/{id}/projects", get.clone(), Rule("identity:list_user_projects"), r::user_projects)
        .route("/v3/users/{id}/groups", get.clone(), Rule("identity:list_groups_for_user"), gr::user_groups)
        .route(
            "/v3/users/{id}/application_credentials",
            get.clone(),
            Rule("identity:list_application_credentials"),
            ac::list,
        )
        .route(
            "/v3/users/{id}/application_credentials",
            post.clone(),
            Rule("identity:create_application_credential"),
            ac::create,
        )
        .route(
            "/v3/users/{id}/application_credentials/{cred}",
            get.clone(),
            Rule("identity:get_application_credential"),
            ac::show,
        )
        .route(
            "/v3/users/{id}/application_credentials/{cred}",
            delete.clone(),
            Rule("identity:delete_application_credential"),
            ac::delete,
        )
        .route("/v3/users/{id}/access_rules", get.clone(), Rule("identity:list_access_rules"), ac::list_rules)
        .route("/v3/users/{id}/access_rules/{rule}", get.clone(), Rule("identity:get_access_rule"), ac::show_rule)
        .route(
            "/v3/users/{id}/access_rules/{rule}",
            delete.clone(),
            Rule("identity:delete_access_rule"),
            ac::delete_rule,
        )
        .route("/v3/credentials", get.clone(), Rule("identity:list_credentials"), cr::list)
        .route("/v3/credentials", post.clone(), Rule("identity:create_credential"), cr::create)
        .route("/v3/credentials/{id}", get.clone(), Rule("identity:get_credential"), cr::show)
        .route("/v3/credentials/{id}", patch.clone(), Rule("identity:update_credential"), cr::update)
        .route("/v3/credentials/{id}", delete.clone(), Rule("identity:delete_credential"), cr::delete)
        .route("/v3/roles", get.clone(), Rule("identity:list_roles"), r::list_roles)
        .route("/v3/roles", post.clone(), Rule("identity:create_role"), r::create_role)
        .route("/v3/roles/{id}", get.clone(), Rule("identity:get_role"), r::get_role)
        .route("/v3/roles/{id}", patch.clone(), Rule("identity:update_role"), r::update_role)
        .route("/v3/roles/{id}", delete.clone(), Rule("identity:delete_role"), r::delete_role)
        .route("/v3/roles/{id}/implies", get.clone(), Rule("identity:list_implied_roles"), g::list_implied)
        .route("/v3/roles/{id}/implies/{implied}", put.clone(), Rule("identity:create_implied_role"), g::create_implied)
        .route("/v3/roles/{id}/implies/{implied}", get.clone(), Rule("identity:get_implied_role"), g::check_implied)
        .route("/v3/roles/{id}/implies/{implied}", head.clone(), Rule("identity:check_implied_role"), g::check_implied)
        .route(
            "/v3/roles/{id}/implies/{implied}",
            delete.clone(),
            Rule("identity:delete_implied_role"),
            g::delete_implied,
        )
        .route("/v3/role_inferences", get.clone(), Rule("identity:list_role_inference_rules"), g::role_inferences)
        .route("/v3/role_assignments", get.clone(), Rule("identity:list_role_assignments"), g::role_assignments)
        .route(
            "/v3/projects/{id}/users/{user}/roles",
            get.clone(),
            Rule("identity:list_grants"),
            g::list_project_user_grants,
        )
        .route(
            "/v3/projects/{id}/users/{user}/roles/{role}",
            put.clone(),
            Rule("identity:create_grant"),
            g::project_user_grant,
        )
        .route(
            "/v3/projects/{id}/users/{user}/roles/{role}",
            get.clone(),
            Rule("identity:check_grant"),
            g::project_user_grant,
        )
        .route(
            "/v3/projects/{id}/users/{user}/roles/{role}",
            head.clone(),
            Rule("identity:check_grant"),
            g::project_user_grant,
        )
        .route(
            "/v3/projects/{id}/users/{user}/roles/{role}",
            delete.clone(),
            Rule("identity:revoke_grant"),
            g::project_user_grant,
        )
        .route(
            "/v3/projects/{id}/groups/{group}/roles",
            get.clone(),
            Rule("identity:list_grants"),
            g::list_project_group_grants,
        )
        .route(
            "/v3/projects/{id}/groups/{group}/roles/{role}",
            put.clone(),
            Rule("identity:create_grant"),
            g::project_group_grant,
        )
        .route(
            "/v3/projects/{id}/groups/{group}/roles/{role}",
            get.clone(),
            Rule("identity:check_grant"),
            g::project_group_grant,
        )
        .route(
            "/v3/projects/{id}/groups/{group}/roles/{role}",
            head.clone(),
            Rule("identity:check_grant"),
            g::project_group_grant,
        )
        .route(
            "/v3/projects/{id}/groups/{group}/roles/{role}",
            delete.clone(),
            Rule("identity:revoke_grant"),
            g::project_group_grant,
        )
        .route(
            "/v3/domains/{id}/users/{user}/roles",
            get.clone(),
            Rule("identity:list_grants"),
            g::list_domain_user_grants,
        )
        .route(
            "/v3/domains/{id}/users/{user}/roles/{role}",
            put.clone(),
            Rule("identity:create_grant"),
            g::domain_user_grant,
        )
        .route(
            "/v3/domains/{id}/users/{user}/roles/{role}",
            get.clone(),
            Rule("identity:check_grant"),
            g::domain_user_grant,
        )
        .route(
            "/v3/domains/{id}/users/{user}/roles/{role}",
            head.clone(),
            Rule("identity:check_grant"),
            g::domain_user_grant,
        )
        .route(
            "/v3/domains/{id}/users/{user}/roles/{role}",
            delete.clone(),
            Rule("identity:revoke_grant"),
            g::domain_user_grant,
        )
        .route(
            "/v3/domains/{id}/groups/{group}/roles",
            get.clone(),
            Rule("identity:list_grants"),
            g::list_domain_group_grants,
        )
        .route(
            "/v3/domains/{id}/groups/{group}/roles/{role}",
            put.clone(),
            Rule("identity:create_grant"),
            g::domain_group_grant,
        )
        .route(
            "/v3/domains/{id}/groups/{group}/roles/{role}",
            get.clone(),
            Rule("identity:check_grant"),
            g::domain_group_grant,
        )
        .route(
            "/v3/domains/{id}/groups/{group}/roles/{role}",
            head.clone(),
            Rule("identity:check_grant"),
            g::domain_group_grant,
        )
        .route(
            "/v3/domains/{id}/groups/{group}/roles/{role}",
            delete.clone(),
            Rule("identity:revoke_grant"),
            g::domain_group_grant,
        )
        .route(
            "/v3/system/users/{user}/roles",
            get.clone(),
            Rule("identity:list_system_grants_for_user"),
            g::list_system_user_grants,
        )
        .route(
            "/v3/system/users/{user}/roles/{role}",
            put.clone(),
            Rule("identity:create_system_grant_for_user"),
            g::system_user_grant,
        )
        .route(
            "/v3/system/users/{user}/roles/{role}",
            get.clone(),
            Rule("identity:check_system_grant_for_user"),
            g::system_user_grant,
        )
        .route(
            "/v3/system/users/{user}/roles/{role}",
            head.clone(),
            Rule("identity:check_system_grant_for_user"),
            g::system_user_grant,
        )
        .route(
            "/v3/system/users/{user}/roles/{role}",
            delete.clone(),
            Rule("identity:revoke_system_grant_for_user"),
            g::system_user_grant,
        )
        .route(
            "/v3/system/groups/{group}/roles",
            get.clone(),
            Rule("identity:list_system_grants_for_group"),
            g::list_system_group_grants,
        )
        .route(
            "/v3/system/groups/{group}/roles/{role}",
            put.clone(),
            Rule("identity:create_system_grant_for_group"),
            g::system_group_grant,
        )
        .route(
            "/v3/system/groups/{group}/roles/{role}",
            get.clone(),
            Rule("identity:check_system_grant_for_group"),
            g::system_group_grant,
        )
        .route(
            "/v3/system/groups/{group}/roles/{role}",
            head.clone(),
            Rule("identity:check_system_grant_for_group"),
            g::system_group_grant,
        )
        .route(
            "/v3/system/groups/{group}/roles/{role}",
            delete.clone(),
            Rule("identity:revoke_system_grant_for_group"),
            g::system_group_grant,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/users/{user}/roles/inherited_to_projects",
            get.clone(),
            Rule("identity:list_grants"),
            g::list_inherited_domain_user_grants,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/users/{user}/roles/{role}/inherited_to_projects",
            put.clone(),
            Rule("identity:create_grant"),
            g::inherited_domain_user_grant,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/users/{user}/roles/{role}/inherited_to_projects",
            get.clone(),
            Rule("identity:check_grant"),
            g::inherited_domain_user_grant,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/users/{user}/roles/{role}/inherited_to_projects",
            head.clone(),
            Rule("identity:check_grant"),
            g::inherited_domain_user_grant,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/users/{user}/roles/{role}/inherited_to_projects",
            delete.clone(),
            Rule("identity:revoke_grant"),
            g::inherited_domain_user_grant,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/groups/{group}/roles/inherited_to_projects",
            get.clone(),
            Rule("identity:list_grants"),
            g::list_inherited_domain_group_grants,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/groups/{group}/roles/{role}/inherited_to_projects",
            put.clone(),
            Rule("identity:create_grant"),
            g::inherited_domain_group_grant,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/groups/{group}/roles/{role}/inherited_to_projects",
            get.clone(),
            Rule("identity:check_grant"),
            g::inherited_domain_group_grant,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/groups/{group}/roles/{role}/inherited_to_projects",
            head.clone(),
            Rule("identity:check_grant"),
            g::inherited_domain_group_grant,
        )
        .route(
            "/v3/OS-INHERIT/domains/{id}/groups/{group}/roles/{role}/inherited_to_projects",
            delete.clone(),
            Rule("identity:revoke_grant"),
            g::inherited_domain_group_grant,
        )
        .route(
            "/v3/OS-INHERIT/projects/{id}/users/{user}/roles/{role}/inherited_to_projects",
            put.clone(),
            Rule("identity:create_grant"),
            g::inherited_project_user_grant,
        )
        .route(
            "/v3/OS-INHERIT/projects/{id}/users/{user}/roles/{role}/inherited_to_projects",
            get.clone(),
            Rule("identity:check_grant"),
            g::inherited_project_user_grant,
        )
        .route(
            "/v3/OS-INHERIT/projects/{id}/users/{user}/roles/{role}/inherited_to_projects",
            head.clone(),
            Rule("identity:check_grant"),
            g::inherited_project_user_grant,
        )
        .route(
            "/v3/OS-INHERIT/projects/{id}/users/{user}/roles/{role}/inherited_to_projects",
            delete.clone(),
            Rule("identity:revoke_grant"),
            g::inherited_project_user_grant,
        )
        .route(
            "/v3/OS-INHERIT/projects/{id}/groups/{group}/roles/{role}/inherited_to_projects",
            put.clone(),
            Rule("identity:create_grant"),
            g::inherited_project_group_grant,
        )
        .route(
            "/v3/OS-INHERIT/projects/{id}/groups/{group}/roles/{role}/inherited_to_projects",
            get.clone(),
            Rule("identity:check_grant"),
            g::inherited_project_group_grant,
        )
        .route(
            "/v3/OS-INHERIT/projects/{id}/groups/{group}/roles/{role}/inherited_to_projects",
            head.clone(),
            Rule("identity:check_grant"),
            g::inherited_project_group_grant,
        )
        .route(
            "/v3/OS-INHERIT/projects/{id}/groups/{group}/roles/{role}/inherited_to_projects",
            delete.clone(),
            Rule("identity:revoke_grant"),
            g::inherited_project_group_grant,
        )
        .route(
            "/v3/OS-TRUST/trusts",
            get.clone(),
            Access::AnyOf(&[
                "identity:list_trusts",
                "identity:list_trusts_for_trustor",
                "identity:list_trusts_for_trustee",
            ]),
            trusts::list,
        )
        .route("/v3/OS-TRUST/trusts", post.clone(), Rule("identity:create_trust"), trusts::create)
        .route("/v3/OS-TRUST/trusts/{id}", get.clone(), Rule("identity:get_trust"), trusts::show)
        .route("/v3/OS-TRUST/trusts/{id}", delete.clone(), Rule("identity:delete_trust"), trusts::delete)
        .route("/v3/OS-TRUST/trusts/{id}/roles", get.clone(), Rule("identity:list_roles_for_trust"), trusts::roles)
        .route("/v3/OS-TRUST/trusts/{id}/roles/{role}", get.clone(), Rule("identity:get_role_for_trust"), trusts::role)
        .route("/v3/OS-TRUST/trusts/{id}/roles/{role}", head.clone(), Rule("identity:get_role_for_trust"), trusts::role)
        .route("/v3/groups", get.clone(), Rule("identity:list_groups"), gr::list_groups)
        .route("/v3/groups", post.clone(), Rule("identity:create_group"), gr::create_group)
        .route("/v3/groups/{id}", get.clone(), Rule("identity:get_group"), gr::get_group)
        .route("/v3/groups/{id}", patch.clone(), Rule("identity:update_group"), gr::update_group)
        .route("/v3/groups/{id}", delete.clone(), Rule("identity:delete_group"), gr::delete_group)
        .route("/v3/groups/{id}/users", get.clone(), Rule("identity:list_users_in_group"), gr::group_users)
        .route("/v3/groups/{id}/users/{user}", put.clone(), Rule("identity:add_user_to_group"), gr::membership)
        .route("/v3/groups/{id}/users/{user}", head.clone(), Rule("identity:check_user_in_group"), gr::membership)
        .route("/v3/groups/{id}/users/{user}", get.clone(), Rule("identity:check_user_in_group"), gr::membership)
        .route("/v3/groups/{id}/users/{user}", delete.clone(), Rule("identity:remove_user_from_group"), gr::membership)
        .route("/v3/services", get.clone(), Rule("identity:list_services"), c::services)
        .route("/v3/services", post.clone(), Rule("identity:create_service"), c::create_service)
        .route("/v3/services/{id}", get.clone(), Rule("identity:get_service"), c::service)
        .route("/v3/services/{id}", patch.clone(), Rule("identity:update_service"), c::update_service)
        .route("/v3/services/{id}", delete.clone(), Rule("identity:delete_service"), c::delete_service)
        .route("/v3/endpoints", get.clone(), Rule("identity:list_endpoints"), c::endpoints)
        .route("/v3/endpoints", post.clone(), Rule("identity:create_endpoint"), c::create_endpoint)
        .route("/v3/endpoints/{id}", get.clone(), Rule("identity:get_endpoint"), c::endpoint)
        .route("/v3/endpoints/{id}", patch.clone(), Rule("identity:update_endpoint"), c::update_endpoint)
        .route("/v3/endpoints/{id}", delete.clone(), Rule("identity:delete_endpoint"), c::delete_endpoint)
        .route("/v3/regions", get.clone(), Rule("identity:list_regions"), c::regions)
        .route("/v3/regions", post.clone(), Rule("identity:create_region"), c::create_region)
        .route("/v3/regions/{id}", get.clone(), Rule("identity:get_region"), c::region)
        .route("/v3/regions/{id}", put.clone(), Rule("identity:create_region"), c::put_region)
        .route("/v3/regions/{id}", patch.clone(), Rule("identity:update_region"), c::update_region)
        .route("/v3/regions/{id}", delete.clone(), Rule("identity:delete_region"), c::delete_region)
}

/// Every route of the identity API (path relative to the mount point,
/// method, access), for tests that walk them.
pub fn route_specs() -> Vec<RouteSpec> {
    table().specs().to_vec()
}

/// The identity API, with routes relative to its mount point (`/`, `/v3`,
/// `/v3/auth/tokens`, ...), behind the shared edge. Mount it with
/// `Router::nest("/identity", ...)`.
pub fn router(identity: Arc<Identity>) -> Router {
    Edge::new("identity", KeystoneErrors).body_limit(BODY_LIMIT, |_, _| false).wrap(table()).with_state(identity)
}

/// The authenticated caller of a route with a rule: its token (validated
/// from `X-Auth-Token`, 401 otherwise) and the route's rule from the table.
pub(crate) struct Caller {
    pub id: AppState,
    pub token: TokenInfo,
    check: RouteCheck,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = IdentityError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let check =
            RouteCheck::from_request_parts(parts, state).await.map_err(|f| IdentityError::internal(f.message))?;
        let token = authn(state, &parts.headers).await?;
        Ok(Caller { id: state.clone(), token, check })
    }
}

impl Caller {
    /// Authorize the route's rule (from the route table) for the caller on
    /// `target`: 403 in Keystone's words when refused.
    pub fn authorize(&self, target: &policy::PolicyTarget) -> Result<()> {
        let rule = self
            .check
            .rule()
            .ok_or_else(|| IdentityError::internal(format!("route names no rule: {:?}", self.check.access())))?;
        self.check.mark_checked();
        policy::authorize(&self.id, &self.token, rule, target)
    }

    /// Authorize one of the rules the route table names for a route whose
    /// rule depends on the request (listing trusts: by trustor, by trustee
    /// or all, as Keystone does); records that the route's rule was decided.
    pub fn authorize_as(&self, rule: &str, target: &policy::PolicyTarget) -> Result<()> {
        if !self.check.names(rule) {
            return Err(IdentityError::internal(format!("the route table does not name {rule} for this route")));
        }
        self.check.mark_checked();
        policy::authorize(&self.id, &self.token, rule, target)
    }

    /// berth's one exception to the route's rule: a caller listing its own
    /// role assignments (openstackclient's `role assignment list --user
    /// <self>`) needs no rule. Records that the route's rule was decided.
    pub fn own_assignments(&self) {
        self.check.mark_checked();
    }
}

// ---------------------------------------------------------------- helpers

/// `<base>/identity/v3`
pub(crate) fn v3_url(id: &Identity, headers: &HeaderMap) -> String {
    format!("{}{MOUNT}/v3", id.base_url(headers))
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `{"<key>": [...], "links": {...}}`
pub(crate) fn list_response(key: &str, items: Vec<Value>, self_url: String) -> Response {
    json_response(StatusCode::OK, json!({ key: items, "links": {"self": self_url, "previous": null, "next": null} }))
}

/// Authenticate the caller by `X-Auth-Token`.
pub(crate) async fn authn(id: &Identity, headers: &HeaderMap) -> Result<TokenInfo> {
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(IdentityError::auth_required)?;
    id.resolve_token(token).await
}

/// Parse a JSON request body; 400 in Keystone's format when it is not JSON
/// or is sent with another content type (Keystone's JSON body middleware).
pub(crate) fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        // A value that is not visible ASCII is no content type at all.
        let ct = ct.to_str().map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        if !matches!(ct.as_deref(), Ok("" | "application/json")) {
            return Err(IdentityError::bad_request("The request body must be JSON (Content-Type: application/json)."));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(IdentityError::bad_request("The request body is empty; expected a JSON object."));
    }
    serde_json::from_slice(body).map_err(|e| IdentityError::bad_request(format!("Malformed request body: {e}")))
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

fn invalid(field: &str, detail: impl std::fmt::Display) -> IdentityError {
    IdentityError::bad_request(format!("Invalid input for field '{field}': {detail}"))
}

/// The object under `key` at the top of a body (`{"project": {...}}`).
pub(crate) fn member<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>> {
    let obj = body
        .as_object()
        .ok_or_else(|| IdentityError::bad_request(format!("Expecting a JSON object with '{key}' in request body.")))?;
    match obj.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(v) => Err(invalid(key, format!("{v} is not of type 'object'"))),
        None => Err(IdentityError::bad_request(format!("Invalid input: '{key}' is a required property"))),
    }
}

/// A name: a non-blank string of at most `max` characters.
pub(crate) fn name_field(obj: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => {
            if s.trim().is_empty() {
                Err(invalid(key, format!("'{s}' must contain non-whitespace characters")))
            } else if s.chars().count() > max {
                Err(invalid(key, format!("the value is too long (at most {max} characters)")))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(v) => Err(invalid(key, format!("{v} is not of type 'string'"))),
    }
}

pub(crate) fn required_name(obj: &Map<String, Value>, key: &str, max: usize) -> Result<String> {
    name_field(obj, key, max)?.ok_or_else(|| invalid(key, format!("'{key}' is a required property")))
}

/// Absent → `None`; `null` → `Some(None)`; a string → `Some(Some(s))`.
pub(crate) fn nullable_text(obj: &Map<String, Value>, key: &str, max: usize) -> Result<Option<Option<String>>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(Some(s.clone()))),
        Some(Value::String(_)) => Err(invalid(key, format!("too long (at most {max} characters)"))),
        Some(v) => Err(invalid(key, format!("{v} is not of type 'string', 'null'"))),
    }
}

/// A boolean; `null` counts as absent.
pub(crate) fn bool_field(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(invalid(key, format!("{v} is not of type 'boolean'"))),
    }
}

pub(crate) fn tags_field(obj: &Map<String, Value>) -> Result<Option<Vec<String>>> {
    match obj.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for t in items {
                match t {
                    Value::String(s) if !s.is_empty() && s.chars().count() <= 255 && !s.contains(['/', ',']) => {
                        if !out.contains(s) {
                            out.push(s.clone())
                        }
                    }
                    v => return Err(invalid("tags", format!("{v} is not a valid tag"))),
                }
            }
            if out.len() > 80 {
                return Err(invalid("tags", "at most 80 tags are allowed"));
            }
            Ok(Some(out))
        }
        Some(v) => Err(invalid("tags", format!("{v} is not of type 'array'"))),
    }
}

/// The attributes of a body member that `known` does not name: Keystone
/// keeps them (its "extra" attributes) and returns them as given.
pub(crate) fn extra_fields(obj: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    obj.iter().filter(|(k, _)| !known.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// `options` is accepted when it is an object and otherwise ignored (no
/// resource options are implemented).
pub(crate) fn options_field(obj: &Map<String, Value>) -> Result<()> {
    match obj.get("options") {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(v) => Err(invalid("options", format!("{v} is not of type 'object'"))),
    }
}

/// Query string pairs, in order. The edge has already refused a query
/// with a NUL or bytes that are not UTF-8 (400).
pub(crate) fn parse_query(raw: Option<String>) -> Result<Vec<(String, String)>> {
    match raw {
        None => Ok(Vec::new()),
        Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(&q)
            .map_err(|e| IdentityError::bad_request(format!("Invalid query string: {e}"))),
    }
}

pub(crate) fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Keystone's truthiness for query flags: absent → false; present and not
/// one of `0`, `false`, `no`, `off`, `f`, `n` → true.
pub(crate) fn query_flag(q: &[(String, String)], key: &str) -> bool {
    query_get(q, key).is_some_and(truthy)
}

pub(crate) fn truthy(v: &str) -> bool {
    !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off" | "f" | "n")
}

/// The `enabled` filter of list calls.
pub(crate) fn query_enabled(q: &[(String, String)]) -> Option<bool> {
    query_get(q, "enabled").map(truthy)
}
