//! Who is calling: the credentials policy checks run against.

use http::HeaderMap;

/// The authenticated caller of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub roles: Vec<String>,
    /// `Some("all")` for system-scoped tokens.
    pub system_scope: Option<String>,
    /// The access rules of the application credential the token was made
    /// with, when it has any: the only requests the token may make to the
    /// services behind the edge (`Edge::access_rules`).
    pub access_rules: Option<Vec<AccessRule>>,
}

/// One access rule of an application credential (Keystone's
/// `access_rules`): a service type, an HTTP method and a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    pub service: String,
    pub method: String,
    pub path: String,
}

impl AccessRule {
    /// Whether the rule lets a token call `method path` on `service`
    /// (the path relative to the service's endpoint).
    pub fn allows(&self, service: &str, method: &str, path: &str) -> bool {
        self.service == service && self.method == method && path_matches(&self.path, path)
    }
}

/// keystonemiddleware's path match: segment by segment, `*` or a
/// `{placeholder}` matches any one segment, `**` anything that follows
/// (including nothing); otherwise segments must be equal and the lengths
/// the same.
pub fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (i, part) in t.iter().enumerate() {
        if *part == "**" {
            return true;
        }
        let Some(seg) = p.get(i) else { return false };
        let wildcard = *part == "*" || (part.len() > 2 && part.starts_with('{') && part.ends_with('}'));
        if !wildcard && part != seg {
            return false;
        }
    }
    t.len() == p.len()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Build the context of upstream's `noauth2` strategy from the request
/// headers; `None` when there is no `X-Auth-Token` (the caller answers 401).
///
/// The token is `user[:project]`; `X-Roles` lists roles (absent: `admin` has
/// role admin, anyone else none); `X-Project-Id` overrides the project;
/// `OpenStack-System-Scope` makes the request system scoped, and then the
/// project comes only from `X-Project-Id`/`X-Tenant-Id`/`X-Tenant`.
pub fn noauth2_context(h: &HeaderMap) -> Option<RequestContext> {
    let token = header(h, "x-auth-token")?;
    let (user, project) = match token.split_once(':') {
        Some((u, p)) if !p.is_empty() => (u.to_string(), p.to_string()),
        Some((u, _)) => (u.to_string(), token.to_string()),
        None => (token.to_string(), token.to_string()),
    };
    let roles = match header(h, "x-roles") {
        Some(r) => r.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        None if user == "admin" => vec!["admin".to_string()],
        None => Vec::new(),
    };
    let system_scope = header(h, "openstack-system-scope").filter(|s| !s.is_empty()).map(str::to_string);
    let project_id = if system_scope.is_some() {
        header(h, "x-project-id")
            .or_else(|| header(h, "x-tenant-id"))
            .or_else(|| header(h, "x-tenant"))
            .map(str::to_string)
    } else {
        Some(header(h, "x-project-id").map(str::to_string).unwrap_or(project))
    };
    Some(RequestContext { user_id: Some(user), project_id, domain_id: None, roles, system_scope, access_rules: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn no_token_no_context() {
        assert!(noauth2_context(&headers(&[])).is_none());
    }

    #[test]
    fn admin_token() {
        let c = noauth2_context(&headers(&[("x-auth-token", "admin")])).unwrap();
        assert_eq!(c.user_id.as_deref(), Some("admin"));
        assert_eq!(c.project_id.as_deref(), Some("admin"));
        assert_eq!(c.roles, vec!["admin"]);
    }

    #[test]
    fn user_project_and_roles() {
        let c = noauth2_context(&headers(&[("x-auth-token", "u:p"), ("x-roles", "reader, member")])).unwrap();
        assert_eq!(c.user_id.as_deref(), Some("u"));
        assert_eq!(c.project_id.as_deref(), Some("p"));
        assert_eq!(c.roles, vec!["reader", "member"]);
        let c = noauth2_context(&headers(&[("x-auth-token", "admin"), ("x-roles", "")])).unwrap();
        assert!(c.roles.is_empty());
        let c = noauth2_context(&headers(&[("x-auth-token", "user")])).unwrap();
        assert!(c.roles.is_empty());
    }

    #[test]
    fn project_override_and_system_scope() {
        let c = noauth2_context(&headers(&[("x-auth-token", "u:p"), ("x-project-id", "q")])).unwrap();
        assert_eq!(c.project_id.as_deref(), Some("q"));
        let c = noauth2_context(&headers(&[("x-auth-token", "u:p"), ("openstack-system-scope", "all")])).unwrap();
        assert_eq!(c.project_id, None);
        assert_eq!(c.system_scope.as_deref(), Some("all"));
    }
}

/// Validates an `X-Auth-Token` and returns the caller, for every API served
/// with the `keystone` auth strategy (berth's identity service in-process, or
/// an external Keystone).
pub trait TokenValidator: Send + Sync + std::fmt::Debug {
    fn validate<'a>(
        &'a self,
        token: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<RequestContext>> + Send + 'a>>;
}

/// How an API authenticates requests.
#[derive(Debug, Clone)]
pub enum AuthStrategy {
    /// Upstream's test strategy: the token names user and project (see
    /// [`noauth2_context`]).
    NoAuth2,
    /// Validate tokens with an identity service.
    Keystone(std::sync::Arc<dyn TokenValidator>),
    /// An in-process channel that never faces the network (e.g. compute
    /// calling Placement's router directly): every request acts as this
    /// caller, whatever its headers.
    Trusted(RequestContext),
}

impl AuthStrategy {
    /// The caller of a request, or `None` (answer 401).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Option<RequestContext> {
        match self {
            AuthStrategy::NoAuth2 => noauth2_context(headers),
            AuthStrategy::Keystone(v) => {
                let token = header(headers, "x-auth-token")?;
                v.validate(token).await
            }
            AuthStrategy::Trusted(ctx) => Some(ctx.clone()),
        }
    }
}

#[cfg(test)]
mod access_rule_tests {
    use super::*;

    #[test]
    fn paths_match_as_keystonemiddleware_matches_them() {
        for (template, path, want) in [
            ("/v2.1/servers", "/v2.1/servers", true),
            ("/v2.1/servers", "/v2.1/servers/", true),
            ("/v2.1/servers", "/v2.1/servers/detail", false),
            ("/v2.1/servers/{server_id}", "/v2.1/servers/abc", true),
            ("/v2.1/servers/{server_id}", "/v2.1/servers", false),
            ("/v2.1/servers/*", "/v2.1/servers/abc", true),
            ("/v2.1/servers/*", "/v2.1/servers/abc/action", false),
            ("/v2.1/servers/**", "/v2.1/servers/abc/action", true),
            ("/v2.1/servers/**", "/v2.1/servers", true),
            ("/v2.1/**", "/v2.1/flavors/1/os-extra_specs", true),
            ("**", "/anything/at/all", true),
            ("/v2.1/servers/{}", "/v2.1/servers/abc", false),
            ("/v2/images", "/v2/images/x", false),
            ("/v2/images", "/v2/image", false),
        ] {
            assert_eq!(path_matches(template, path), want, "{template} ~ {path}");
        }
        let rule = AccessRule { service: "compute".into(), method: "GET".into(), path: "/v2.1/servers/*".into() };
        assert!(rule.allows("compute", "GET", "/v2.1/servers/x"));
        assert!(!rule.allows("compute", "DELETE", "/v2.1/servers/x"), "another method");
        assert!(!rule.allows("image", "GET", "/v2.1/servers/x"), "another service");
    }
}
