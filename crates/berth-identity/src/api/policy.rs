//! Authorization: the route table names each route's Keystone rule; every
//! handler asks `Caller::authorize` (which calls [`authorize`] with that
//! rule) with a target built from the objects involved (`target.user.id`,
//! `target.project.domain_id`, ...), the way Keystone's `enforce_call` does.

use berth_policy::{Credentials, Denied};
use serde_json::{json, Map, Value};

use crate::error::{IdentityError, Result};
use crate::repo::{Group, Project, Role, User};
use crate::service::Identity;
use crate::token::{ResolvedScope, TokenInfo};

/// A policy target: flat keys as Keystone's rules name them.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyTarget(berth_policy::Target);

impl PolicyTarget {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.insert(key.to_string(), value.into());
        self
    }
    pub fn user(self, u: &User) -> Self {
        self.set("target.user.id", u.id.clone()).set("target.user.domain_id", u.domain_id.clone())
    }
    pub fn group(self, g: &Group) -> Self {
        self.set("target.group.id", g.id.clone()).set("target.group.domain_id", g.domain_id.clone())
    }
    pub fn project(self, p: &Project) -> Self {
        self.set("target.project.id", p.id.clone()).set("target.project.domain_id", p.domain_id.clone())
    }
    /// Roles are global (no domain-specific roles), so their domain is
    /// Python's `None`.
    pub fn role(self, r: &Role) -> Self {
        self.set("target.role.id", r.id.clone())
            .set("target.role.name", r.name.clone())
            .set("target.role.domain_id", "None")
    }
}

/// The policy credentials of a token, as oslo.context would give them to
/// oslo.policy, with the token itself reachable as `token.*`.
pub(crate) fn credentials(ctx: &TokenInfo) -> Credentials {
    let mut token = Map::new();
    token.insert("user".into(), json!({"id": ctx.user.id, "domain": {"id": ctx.user.domain_id}}));
    let mut creds = Credentials {
        user_id: Some(ctx.user.id.clone()),
        roles: ctx.roles.iter().map(|r| r.name.clone()).collect(),
        ..Default::default()
    };
    match &ctx.scope {
        ResolvedScope::Project { project, domain } => {
            creds.project_id = Some(project.id.clone());
            token.insert("project".into(), json!({"id": project.id, "domain": {"id": domain.id}}));
            creds.extra.insert("project_domain_id".into(), Value::String(domain.id.clone()));
        }
        ResolvedScope::Domain(d) => {
            creds.domain_id = Some(d.id.clone());
            token.insert("domain".into(), json!({"id": d.id}));
        }
        ResolvedScope::System => creds.system_scope = Some("all".into()),
        ResolvedScope::Unscoped => {}
    }
    creds.extra.insert("user_domain_id".into(), Value::String(ctx.user.domain_id.clone()));
    creds.extra.insert("token".into(), Value::Object(token));
    creds
}

/// Authorize `rule` (`identity:get_user`, ...) for the caller on `target`:
/// 403 in Keystone's words when refused.
pub(crate) fn authorize(id: &Identity, ctx: &TokenInfo, rule: &str, target: &PolicyTarget) -> Result<()> {
    match id.policy.authorize(rule, &target.0, &credentials(ctx)) {
        Ok(()) => Ok(()),
        Err(Denied::NotRegistered { rule }) => Err(IdentityError::internal(format!("policy {rule} is not registered"))),
        Err(Denied::InvalidScope { rule, .. }) | Err(Denied::Unauthorized { rule }) => {
            Err(IdentityError::forbidden(format!("You are not authorized to perform the requested action: {rule}.")))
        }
    }
}
