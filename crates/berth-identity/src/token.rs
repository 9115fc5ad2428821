//! Token persistence and resolution. Only SHA-256 digests of tokens are
//! stored; a token's roles are recomputed every time it is resolved, so
//! revoking a role, disabling a user or deleting a project takes effect
//! immediately.

use berth_db::RowExt;
use serde_json::{json, Value};

use crate::appcred::AppCred;
use crate::error::{IdentityError, Result};
use crate::repo::{self, Conn, Domain, Project, Role, Target, User};
use crate::trust::Trust;
use berth_time::iso_micros_z as isotime;

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    Unscoped,
    Project(String),
    Domain(String),
    System,
}

impl TokenScope {
    fn parts(&self) -> (&'static str, Option<String>) {
        match self {
            TokenScope::Unscoped => ("unscoped", None),
            TokenScope::Project(id) => ("project", Some(id.clone())),
            TokenScope::Domain(id) => ("domain", Some(id.clone())),
            TokenScope::System => ("system", Some("all".into())),
        }
    }
    fn from_parts(kind: &str, id: Option<String>) -> Option<TokenScope> {
        match (kind, id) {
            ("unscoped", _) => Some(TokenScope::Unscoped),
            ("project", Some(id)) => Some(TokenScope::Project(id)),
            ("domain", Some(id)) => Some(TokenScope::Domain(id)),
            ("system", _) => Some(TokenScope::System),
            _ => None,
        }
    }
    pub(crate) fn target(&self) -> Option<Target> {
        match self {
            TokenScope::Unscoped => None,
            TokenScope::Project(id) => Some(Target::Project(id.clone())),
            TokenScope::Domain(id) => Some(Target::Domain(id.clone())),
            TokenScope::System => Some(Target::System),
        }
    }
}

/// A token row.
#[derive(Debug, Clone)]
pub(crate) struct StoredToken {
    pub user_id: String,
    pub scope: TokenScope,
    pub methods: Vec<String>,
    pub audit_id: String,
    pub parent_audit_id: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
    /// The application credential the token was issued for.
    pub app_cred_id: Option<String>,
    /// The trust the token was issued through.
    pub trust_id: Option<String>,
}

impl StoredToken {
    pub fn audit_ids(&self) -> Vec<String> {
        let mut v = vec![self.audit_id.clone()];
        if let Some(p) = &self.parent_audit_id {
            v.push(p.clone());
        }
        v
    }
}

pub(crate) async fn insert(c: &mut Conn, hash: &str, t: &StoredToken) -> Result<()> {
    let (kind, id) = t.scope.parts();
    sqlx::query(
        "INSERT INTO identity_tokens (token_hash, user_id, scope_type, scope_id, methods, audit_id, \
         parent_audit_id, issued_at, expires_at, revoked, app_cred_id, trust_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11)",
    )
    .bind(hash.to_string())
    .bind(t.user_id.clone())
    .bind(kind)
    .bind(id)
    .bind(t.methods.join(","))
    .bind(t.audit_id.clone())
    .bind(t.parent_audit_id.clone())
    .bind(t.issued_at)
    .bind(t.expires_at)
    .bind(t.app_cred_id.clone())
    .bind(t.trust_id.clone())
    .execute(c)
    .await?;
    Ok(())
}

pub(crate) async fn load(c: &mut Conn, hash: &str) -> Result<Option<StoredToken>> {
    let row = sqlx::query(
        "SELECT user_id, scope_type, scope_id, methods, audit_id, parent_audit_id, issued_at, expires_at, revoked, \
         app_cred_id, trust_id FROM identity_tokens WHERE token_hash = $1",
    )
    .bind(hash.to_string())
    .fetch_optional(c)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let kind: String = r.col(1)?;
    let scope_id: Option<String> = r.col(2)?;
    let scope = TokenScope::from_parts(&kind, scope_id)
        .ok_or_else(|| IdentityError::internal(format!("token scope type {kind:?} is not known")))?;
    let methods: String = r.col(3)?;
    Ok(Some(StoredToken {
        user_id: r.col(0)?,
        scope,
        methods: methods.split(',').filter(|m| !m.is_empty()).map(str::to_string).collect(),
        audit_id: r.col(4)?,
        parent_audit_id: r.col(5)?,
        issued_at: r.col(6)?,
        expires_at: r.col(7)?,
        revoked: r.flag(8)?,
        app_cred_id: r.col(9)?,
        trust_id: r.col(10)?,
    }))
}

pub(crate) async fn revoke(c: &mut Conn, hash: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE identity_tokens SET revoked = 1 WHERE token_hash = $1 AND revoked = 0")
        .bind(hash.to_string())
        .execute(c)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn revoke_user(c: &mut Conn, user_id: &str) -> Result<()> {
    sqlx::query("UPDATE identity_tokens SET revoked = 1 WHERE user_id = $1")
        .bind(user_id.to_string())
        .execute(c)
        .await?;
    Ok(())
}

pub(crate) async fn purge_expired(c: &mut Conn, now: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM identity_tokens WHERE expires_at <= $1").bind(now).execute(c).await?;
    Ok(done.rows_affected())
}

/// A scope with its records loaded.
#[derive(Debug, Clone)]
pub(crate) enum ResolvedScope {
    Unscoped,
    Project { project: Box<Project>, domain: Domain },
    Domain(Domain),
    System,
}

/// Why a user cannot hold a token on a scope.
#[derive(Debug)]
pub(crate) enum ScopeError {
    /// The target does not exist or is disabled.
    Invalid(String),
    /// The user has no role on the target.
    NoRoles(String),
    Db(IdentityError),
}

impl From<IdentityError> for ScopeError {
    fn from(e: IdentityError) -> Self {
        ScopeError::Db(e)
    }
}

/// Load the records for a scope and the user's effective roles on it;
/// for an application credential's token, only those of the credential's
/// roles (and the roles they imply) the user still has.
pub(crate) async fn resolve_scope(
    c: &mut Conn,
    user: &User,
    scope: &TokenScope,
    app_cred: Option<&AppCred>,
    trust: Option<&Trust>,
) -> Result<(ResolvedScope, Vec<Role>), ScopeError> {
    let resolved = match scope {
        TokenScope::Unscoped => return Ok((ResolvedScope::Unscoped, Vec::new())),
        TokenScope::Project(id) => {
            let project = repo::get_project(&mut *c, id)
                .await?
                .ok_or_else(|| ScopeError::Invalid(format!("Could not find project: {id}.")))?;
            if !project.enabled {
                return Err(ScopeError::Invalid(format!("Project {id} is disabled.")));
            }
            let domain = repo::get_domain(&mut *c, &project.domain_id)
                .await?
                .filter(|d| d.enabled)
                .ok_or_else(|| ScopeError::Invalid(format!("Domain of project {id} is disabled.")))?;
            ResolvedScope::Project { project: Box::new(project), domain }
        }
        TokenScope::Domain(id) => {
            let domain = repo::get_domain(&mut *c, id)
                .await?
                .ok_or_else(|| ScopeError::Invalid(format!("Could not find domain: {id}.")))?;
            if !domain.enabled {
                return Err(ScopeError::Invalid(format!("Domain {id} is disabled.")));
            }
            ResolvedScope::Domain(domain)
        }
        TokenScope::System => ResolvedScope::System,
    };
    let target = scope.target().expect("scoped");
    // A trust's roles are those it delegates that the trustor still holds.
    let holder = trust.map_or(user.id.as_str(), |t| t.trustor_user_id.as_str());
    let mut roles = repo::effective_roles(&mut *c, holder, &target).await?;
    if let Some(t) = trust {
        let implications = repo::list_implications(&mut *c).await?;
        let allowed = repo::expand_implied(&t.roles, &implications);
        roles.retain(|r| allowed.contains_key(&r.id));
    }
    if let Some(a) = app_cred {
        let implications = repo::list_implications(&mut *c).await?;
        let allowed = repo::expand_implied(&a.roles, &implications);
        roles.retain(|r| allowed.contains_key(&r.id));
    }
    if roles.is_empty() {
        let what = match scope {
            TokenScope::Project(id) => format!("project {id}"),
            TokenScope::Domain(id) => format!("domain {id}"),
            _ => "the system".to_string(),
        };
        return Err(ScopeError::NoRoles(format!("User {} has no access to {what}.", user.id)));
    }
    Ok((resolved, roles))
}

/// A valid token with everything needed to render or authorize it.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub user: User,
    pub user_domain: Domain,
    pub scope: ResolvedScope,
    pub roles: Vec<Role>,
    pub stored: StoredToken,
    /// The application credential of an `application_credential` token.
    pub app_cred: Option<AppCred>,
    /// Its access rules (empty: none, the token may call anything).
    pub access_rules: Vec<crate::appcred::AccessRule>,
    /// The trust of a trust-scoped token.
    pub trust: Option<Trust>,
}

impl TokenInfo {
    pub fn is_system(&self) -> bool {
        matches!(self.scope, ResolvedScope::System)
    }
    pub fn is_scoped(&self) -> bool {
        !matches!(self.scope, ResolvedScope::Unscoped)
    }

    /// The `{"token": {...}}` document.
    pub fn render(&self, catalog: Option<Value>) -> Value {
        let mut t = serde_json::Map::new();
        t.insert("methods".into(), json!(self.stored.methods));
        t.insert(
            "user".into(),
            json!({
                "id": self.user.id,
                "name": self.user.name,
                "domain": {"id": self.user_domain.id, "name": self.user_domain.name},
                "password_expires_at": null,
            }),
        );
        t.insert("audit_ids".into(), json!(self.stored.audit_ids()));
        t.insert("expires_at".into(), json!(isotime(self.stored.expires_at)));
        t.insert("issued_at".into(), json!(isotime(self.stored.issued_at)));
        match &self.scope {
            ResolvedScope::Unscoped => {}
            ResolvedScope::Project { project, domain } => {
                t.insert(
                    "project".into(),
                    json!({
                        "id": project.id,
                        "name": project.name,
                        "domain": {"id": domain.id, "name": domain.name},
                    }),
                );
                t.insert("is_domain".into(), json!(false));
            }
            ResolvedScope::Domain(domain) => {
                t.insert("domain".into(), json!({"id": domain.id, "name": domain.name}));
            }
            ResolvedScope::System => {
                t.insert("system".into(), json!({"all": true}));
            }
        }
        if let Some(a) = &self.app_cred {
            let mut cred = json!({"id": a.id, "name": a.name, "restricted": !a.unrestricted});
            if !self.access_rules.is_empty() {
                cred["access_rules"] = self
                    .access_rules
                    .iter()
                    .map(|r| json!({"id": r.id, "service": r.service, "method": r.method, "path": r.path}))
                    .collect();
            }
            t.insert("application_credential".into(), cred);
        }
        if let Some(tr) = &self.trust {
            t.insert(
                "OS-TRUST:trust".into(),
                json!({
                    "id": tr.id,
                    "impersonation": tr.impersonation,
                    "trustor_user": {"id": tr.trustor_user_id},
                    "trustee_user": {"id": tr.trustee_user_id},
                }),
            );
        }
        if self.is_scoped() {
            let roles: Vec<Value> = self.roles.iter().map(|r| json!({"id": r.id, "name": r.name})).collect();
            t.insert("roles".into(), Value::Array(roles));
            if let Some(c) = catalog {
                t.insert("catalog".into(), c);
            }
        }
        json!({ "token": Value::Object(t) })
    }
}
