//! The identity service object: configuration, authentication, token
//! validation and bootstrap.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_policy::{Enforcer, EnforcerConfig};

use axum::http::HeaderMap;

use crate::appcred::{self, AppCred};
use crate::db::Db;
use crate::error::{IdentityError, Result};
use crate::password::{self, PasswordHashing};
use crate::repo::{self, Assignment, Conn, Domain, Project, Role, Target, User};
use crate::token::{self, ResolvedScope, ScopeError, StoredToken, TokenInfo, TokenScope};
use crate::trust::{self, Trust};
use crate::util::{new_audit_id, new_id, new_token, sha256_hex};

/// The id of the domain every bootstrap creates.
pub const DEFAULT_DOMAIN_ID: &str = "default";
/// Its name.
pub const DEFAULT_DOMAIN_NAME: &str = "Default";

/// Configuration of the identity service.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// `sqlite://PATH` or `postgresql://...`; may be Placement's database.
    pub database_url: String,
    /// Pool size (SQLite is capped at 8).
    pub max_connections: u32,
    /// Lifetime of new tokens (default one hour).
    pub token_ttl: Duration,
    /// Base URL of the berth server as clients reach it, without a path,
    /// e.g. `http://controller:8778`. Used for version-discovery links and
    /// the service catalog. When `None`, it is derived per request from the
    /// `Host` header (and `X-Forwarded-Proto`).
    pub public_base_url: Option<String>,
    /// Region of every catalog endpoint (default `RegionOne`).
    pub region: String,
    /// Argon2id cost for new password hashes.
    pub password_hashing: PasswordHashing,
    /// Policy enforcement options (`[oslo_policy]`): by default Keystone's
    /// current ones, new defaults and scope types enforced.
    pub policy: EnforcerConfig,
    /// oslo.policy YAML (or JSON) file whose rules override Keystone's
    /// defaults, like Placement's `--policy-file`.
    pub policy_file: Option<PathBuf>,
}

impl IdentityConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        IdentityConfig {
            database_url: database_url.into(),
            max_connections: 8,
            token_ttl: Duration::from_secs(3600),
            public_base_url: None,
            region: "RegionOne".to_string(),
            password_hashing: PasswordHashing::default(),
            policy: EnforcerConfig::default(),
            policy_file: None,
        }
    }
}

/// What a token grants, for other APIs to authorize requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedToken {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    /// Project scope.
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_domain_id: Option<String>,
    /// Domain scope (set only for domain-scoped tokens).
    pub domain_id: Option<String>,
    /// True for system-scoped (`{"system": {"all": true}}`) tokens.
    pub system_scope: bool,
    /// Effective role names (implied roles included), sorted. Empty for
    /// unscoped tokens.
    pub roles: Vec<String>,
    pub role_ids: Vec<String>,
    pub methods: Vec<String>,
    pub audit_ids: Vec<String>,
    /// Microseconds since the Unix epoch.
    pub issued_at: i64,
    pub expires_at: i64,
    /// The access rules of the application credential the token was made
    /// with, when it has any: (service, method, path).
    pub access_rules: Option<Vec<(String, String, String)>>,
}

impl ValidatedToken {
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r == name)
    }
    pub fn is_scoped(&self) -> bool {
        self.project_id.is_some() || self.domain_id.is_some() || self.system_scope
    }
}

impl From<&TokenInfo> for ValidatedToken {
    fn from(t: &TokenInfo) -> Self {
        let (project_id, project_name, project_domain_id, domain_id) = match &t.scope {
            ResolvedScope::Project { project, domain } => {
                (Some(project.id.clone()), Some(project.name.clone()), Some(domain.id.clone()), None)
            }
            ResolvedScope::Domain(d) => (None, None, None, Some(d.id.clone())),
            _ => (None, None, None, None),
        };
        ValidatedToken {
            user_id: t.user.id.clone(),
            user_name: t.user.name.clone(),
            user_domain_id: t.user.domain_id.clone(),
            project_id,
            project_name,
            project_domain_id,
            domain_id,
            system_scope: t.is_system(),
            roles: t.roles.iter().map(|r| r.name.clone()).collect(),
            role_ids: t.roles.iter().map(|r| r.id.clone()).collect(),
            methods: t.stored.methods.clone(),
            audit_ids: t.stored.audit_ids(),
            issued_at: t.stored.issued_at,
            expires_at: t.stored.expires_at,
            access_rules: (!t.access_rules.is_empty()).then(|| {
                t.access_rules.iter().map(|r| (r.service.clone(), r.method.clone(), r.path.clone())).collect()
            }),
        }
    }
}

/// A domain named by id or by name.
#[derive(Debug, Clone)]
pub(crate) enum DomainRef {
    Id(String),
    Name(String),
}

#[derive(Debug, Clone)]
pub(crate) enum UserRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

#[derive(Debug, Clone)]
pub(crate) enum ProjectRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

#[derive(Debug, Clone)]
pub(crate) enum ScopeRequest {
    /// No scope given: the user's default project if usable, else unscoped.
    Default,
    Unscoped,
    Project(ProjectRef),
    Domain(DomainRef),
    System,
    /// `{"OS-TRUST:trust": {"id": ...}}`: the trust's project, as its
    /// trustee (or, with impersonation, as its trustor).
    Trust(String),
}

/// `identity.application_credential` of an auth request: by id, or by
/// name and user.
#[derive(Debug, Clone)]
pub(crate) struct AppCredAuth {
    pub id: Option<String>,
    pub name: Option<String>,
    pub user: Option<UserRef>,
    pub secret: String,
}

#[derive(Debug, Clone)]
pub(crate) struct AuthRequest {
    pub methods: Vec<String>,
    pub app_cred: Option<AppCredAuth>,
    pub password: Option<(UserRef, String)>,
    pub token: Option<String>,
    pub scope: ScopeRequest,
}

/// The identity service. Share it as `Arc<Identity>`.
pub struct Identity {
    pub(crate) db: Db,
    pub(crate) config: IdentityConfig,
    /// Keystone's default rules plus the policy file's overrides.
    pub(crate) policy: Enforcer,
    /// A hash checked when the user does not exist, to equalize timing.
    dummy_hash: String,
    /// Tokens issued by this process, to schedule expired-token sweeps.
    issued: AtomicU64,
    /// Recently validated tokens (see [`TokenCache`]).
    token_cache: Arc<TokenCache>,
}

/// Tokens validated for the other APIs, as keystonemiddleware caches them
/// (its `token_cache_time`, 300 s by default), but kept exact within the
/// process: every identity write but a token's issue (a revocation, a role
/// or group change, a user, project or domain update...) empties the
/// cache, since any may change what a token grants. Writes of other
/// processes sharing the database are seen within [`TOKEN_CACHE_TTL`].
/// An entry also ends when its token (or the token's trust or application
/// credential) expires. Unknown tokens are never cached.
pub(crate) struct TokenCache(berth_db::ReadCache<CachedToken>);

#[derive(Clone)]
struct CachedToken {
    /// Microseconds since the epoch.
    valid_until: i64,
    token: ValidatedToken,
}

/// How long a validated token is reused without asking the database.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// Entries kept at most (the cache is emptied when it would grow past).
const TOKEN_CACHE_MAX: usize = 8192;
/// The tag of the write that issues a token (it changes no other token).
pub(crate) const TOKEN_ISSUED: &str = "token-issued";

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache(berth_db::ReadCache::new(TOKEN_CACHE_TTL, TOKEN_CACHE_MAX))
    }
}

impl TokenCache {
    fn get(&self, hash: &str, now: i64) -> Option<ValidatedToken> {
        self.0.get(hash).filter(|e| e.valid_until > now).map(|e| e.token)
    }

    /// Keep `token`, validated while the cache was at `generation`.
    fn put(&self, hash: String, generation: u64, valid_until: i64, token: ValidatedToken) {
        self.0.put(hash, generation, CachedToken { valid_until, token });
    }

    /// Something a token may depend on changed: forget every entry.
    fn invalidate(&self) {
        self.0.invalidate();
    }
}

/// Sweep expired tokens once per this many issued tokens.
const PURGE_EVERY: u64 = 256;

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("engine", &self.db.engine()).finish_non_exhaustive()
    }
}

/// Keystone's defaults with the configured policy file applied.
fn build_policy(config: &IdentityConfig) -> Result<Enforcer> {
    let policy = Enforcer::new(berth_policy::keystone::defaults(), config.policy);
    let Some(path) = &config.policy_file else { return Ok(policy) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| IdentityError::internal(format!("cannot read policy file {}: {e}", path.display())))?;
    policy
        .with_overrides_yaml(&text)
        .map_err(|e| IdentityError::internal(format!("policy file {}: {e}", path.display())))
}

fn unauthorized() -> IdentityError {
    IdentityError::auth_required()
}

impl Identity {
    /// Connect to the database and apply the identity migrations.
    pub async fn open(config: IdentityConfig) -> Result<Identity> {
        let policy = build_policy(&config)?;
        let token_cache = Arc::new(TokenCache::default());
        let cache = token_cache.clone();
        let db = crate::db::open(&config.database_url, config.max_connections).await?.with_tagged_commit_hook(
            move |_, tags| {
                if !tags.contains(&TOKEN_ISSUED) {
                    cache.invalidate();
                }
                Box::pin(async {})
            },
        );
        let hashing = config.password_hashing;
        let dummy_hash = tokio::task::spawn_blocking(move || hashing.hash("berth-dummy-password"))
            .await
            .map_err(|e| IdentityError::internal(format!("hashing task failed: {e}")))??;
        Ok(Identity { db, config, policy, dummy_hash, issued: AtomicU64::new(0), token_cache })
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    /// The policy enforcer every request is authorized with.
    pub fn policy(&self) -> &Enforcer {
        &self.policy
    }

    /// Close the connection pool.
    pub async fn close(&self) {
        self.db.close().await
    }

    /// Validate a bearer token for another API. `None` when the token is
    /// unknown, expired, revoked, or no longer grants anything (user or
    /// scope target disabled or deleted, roles removed).
    pub async fn validate_token(&self, token: &str) -> Option<ValidatedToken> {
        let hash = sha256_hex(token);
        let now = berth_time::now();
        if let Some(t) = self.token_cache.get(&hash, now) {
            return Some(t);
        }
        // The generation before the reads: a write committed meanwhile
        // makes the entry stale at once.
        let generation = self.token_cache.0.generation();
        match self.resolve_token(token).await {
            Ok(info) => {
                let v = ValidatedToken::from(&info);
                let valid_until = [
                    Some(info.stored.expires_at),
                    info.trust.as_ref().and_then(|t| t.expires_at),
                    info.app_cred.as_ref().and_then(|a| a.expires_at),
                ]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now);
                self.token_cache.put(hash, generation, valid_until, v.clone());
                Some(v)
            }
            Err(e) => {
                if e.kind == crate::error::ErrorKind::Internal || e.kind == crate::error::ErrorKind::Unavailable {
                    tracing::warn!(error = %e.message, "token validation failed on a database error");
                }
                None
            }
        }
    }

    /// Delete tokens that have expired; returns how many.
    pub async fn purge_expired_tokens(&self) -> Result<u64> {
        let mut w = self.db.write().await?;
        let n = token::purge_expired(&mut w.tx, berth_time::now()).await?;
        w.commit().await?;
        Ok(n)
    }

    /// Base URL of the server (scheme://host[:port], no trailing slash):
    /// the configured one, else from the validated `Host` header and
    /// `X-Forwarded-Proto` (`berth_http::public_base`). Links add
    /// `/identity`; the catalog adds each service's path.
    pub(crate) fn base_url(&self, headers: &HeaderMap) -> String {
        berth_http::public_base(self.config.public_base_url.as_deref(), headers, "", "")
    }

    /// Resolve a token to everything it grants, or 401.
    pub(crate) async fn resolve_token(&self, token: &str) -> Result<TokenInfo> {
        if token.is_empty() || token.len() > 1024 {
            return Err(unauthorized());
        }
        let hash = sha256_hex(token);
        let mut tx = self.db.read().await?;
        let stored = token::load(&mut tx, &hash).await?.ok_or_else(unauthorized)?;
        if stored.revoked || stored.expires_at <= berth_time::now() {
            return Err(unauthorized());
        }
        let (user, user_domain) = self.usable_user(&mut tx, &stored.user_id).await?.ok_or_else(unauthorized)?;
        let trust = match &stored.trust_id {
            Some(tid) => {
                let t = trust::get(&mut tx, tid).await?.ok_or_else(unauthorized)?;
                if t.expired(berth_time::now()) {
                    return Err(unauthorized());
                }
                // Both ends of the trust must still be usable.
                for uid in [&t.trustor_user_id, &t.trustee_user_id] {
                    self.usable_user(&mut tx, uid).await?.ok_or_else(unauthorized)?;
                }
                Some(t)
            }
            None => None,
        };
        let app_cred = match &stored.app_cred_id {
            Some(aid) => {
                let (a, _) = appcred::get(&mut tx, aid).await?.ok_or_else(unauthorized)?;
                if a.expires_at.is_some_and(|e| e <= berth_time::now()) {
                    return Err(unauthorized());
                }
                Some(a)
            }
            None => None,
        };
        let (scope, roles) =
            match token::resolve_scope(&mut tx, &user, &stored.scope, app_cred.as_ref(), trust.as_ref()).await {
                Ok(v) => v,
                Err(ScopeError::Db(e)) => return Err(e),
                Err(_) => return Err(unauthorized()),
            };
        let access_rules = match &app_cred {
            Some(a) => appcred::rules_by_id(&mut tx, &a.access_rules).await?,
            None => Vec::new(),
        };
        Ok(TokenInfo { user, user_domain, scope, roles, stored, app_cred, access_rules, trust })
    }

    /// Revoke one token; false when it was unknown or already revoked.
    pub(crate) async fn revoke_token(&self, token: &str) -> Result<bool> {
        let mut w = self.db.write().await?;
        let done = token::revoke(&mut w.tx, &sha256_hex(token)).await?;
        w.commit().await?;
        Ok(done)
    }

    /// The user and its domain, if both exist and are enabled.
    async fn usable_user(&self, c: &mut Conn, user_id: &str) -> Result<Option<(User, Domain)>> {
        let Some(user) = repo::get_user(&mut *c, user_id).await? else { return Ok(None) };
        if !user.enabled {
            return Ok(None);
        }
        let Some(domain) = repo::get_domain(&mut *c, &user.domain_id).await? else { return Ok(None) };
        if !domain.enabled {
            return Ok(None);
        }
        Ok(Some((user, domain)))
    }

    async fn find_domain(c: &mut Conn, r: &DomainRef) -> Result<Option<Domain>> {
        match r {
            DomainRef::Id(id) => repo::get_domain(c, id).await,
            DomainRef::Name(name) => repo::get_domain_by_name(c, name).await,
        }
    }

    /// Check a user's password; 401 on any failure.
    async fn password_user(&self, user_ref: &UserRef, password: &str) -> Result<(User, Domain)> {
        let mut tx = self.db.read().await?;
        let user = match user_ref {
            UserRef::Id(id) => repo::get_user(&mut tx, id).await?,
            UserRef::Name { name, domain } => match Self::find_domain(&mut tx, domain).await? {
                Some(d) => repo::get_user_by_name(&mut tx, &d.id, name).await?,
                None => None,
            },
        };
        let stored = match &user {
            Some(u) => repo::get_password_hash(&mut tx, &u.id).await?,
            None => None,
        };
        drop(tx);
        let ok = password::verify_async(stored, self.dummy_hash.clone(), password).await;
        let Some(user) = user.filter(|_| ok) else {
            tracing::info!("identity: password authentication failed");
            return Err(unauthorized());
        };
        let mut tx = self.db.read().await?;
        self.usable_user(&mut tx, &user.id).await?.ok_or_else(unauthorized)
    }

    /// Check an application credential's secret; 401 on any failure
    /// (unknown, wrong secret, expired, user disabled).
    async fn app_cred_user(&self, ac: &AppCredAuth) -> Result<(AppCred, User, Domain)> {
        let mut tx = self.db.read().await?;
        let found = match (&ac.id, &ac.name, &ac.user) {
            (Some(id), _, _) => appcred::get(&mut tx, id).await?,
            (None, Some(name), Some(user_ref)) => {
                let user = match user_ref {
                    UserRef::Id(id) => repo::get_user(&mut tx, id).await?,
                    UserRef::Name { name, domain } => match Self::find_domain(&mut tx, domain).await? {
                        Some(d) => repo::get_user_by_name(&mut tx, &d.id, name).await?,
                        None => None,
                    },
                };
                match user {
                    Some(u) => appcred::get_by_name(&mut tx, &u.id, name).await?,
                    None => None,
                }
            }
            _ => None,
        };
        drop(tx);
        let (cred, hash) = match found {
            Some((c, h)) => (Some(c), Some(h)),
            None => (None, None),
        };
        let ok = password::verify_async(hash, self.dummy_hash.clone(), &ac.secret).await;
        let Some(cred) = cred.filter(|_| ok) else {
            tracing::info!("identity: application credential authentication failed");
            return Err(unauthorized());
        };
        if cred.expires_at.is_some_and(|e| e <= berth_time::now()) {
            return Err(IdentityError::unauthorized("The application credential has expired."));
        }
        let mut tx = self.db.read().await?;
        let (user, domain) = self.usable_user(&mut tx, &cred.user_id).await?.ok_or_else(unauthorized)?;
        Ok((cred, user, domain))
    }

    /// Authenticate and issue a token (`POST /v3/auth/tokens`).
    pub(crate) async fn authenticate(&self, req: &AuthRequest) -> Result<(String, TokenInfo)> {
        if req.methods.is_empty() {
            return Err(IdentityError::bad_request("Invalid input for field 'identity/methods': [] is too short"));
        }
        for m in &req.methods {
            if m != "password" && m != "token" && m != "application_credential" {
                return Err(IdentityError::unauthorized("Attempted to authenticate with an unsupported method."));
            }
        }
        let mut methods: Vec<String> = Vec::new();
        let mut user: Option<(User, Domain)> = None;
        let mut parent: Option<StoredToken> = None;
        let mut app_cred: Option<AppCred> = None;
        if req.methods.iter().any(|m| m == "application_credential") {
            let ac = req.app_cred.as_ref().ok_or_else(|| {
                IdentityError::bad_request(
                    "Invalid input for field 'identity': 'application_credential' is a required property",
                )
            })?;
            if req.methods.len() > 1 {
                return Err(IdentityError::unauthorized(
                    "An application credential authenticates alone, without other methods.",
                ));
            }
            if !matches!(req.scope, ScopeRequest::Default) {
                return Err(IdentityError::unauthorized("Application credentials cannot request a scope."));
            }
            let (cred, u, d) = self.app_cred_user(ac).await?;
            methods.push("application_credential".into());
            user = Some((u, d));
            app_cred = Some(cred);
        }
        if req.methods.iter().any(|m| m == "token") {
            let t = req.token.as_deref().ok_or_else(|| {
                IdentityError::bad_request("Invalid input for field 'identity': 'token' is a required property")
            })?;
            let info = self.resolve_token(t).await?;
            if info.app_cred.is_some() {
                // A new token would shed the credential's restrictions.
                return Err(IdentityError::forbidden(
                    "A token obtained with an application credential cannot be used to get another token.",
                ));
            }
            if info.trust.is_some() {
                // Nor may a trust's token outgrow the trust.
                return Err(IdentityError::forbidden("A trust-scoped token cannot be used to get another token."));
            }
            methods.push("token".into());
            methods.extend(info.stored.methods.iter().cloned());
            user = Some((info.user, info.user_domain));
            parent = Some(info.stored);
        }
        if req.methods.iter().any(|m| m == "password") {
            let (user_ref, pw) = req.password.as_ref().ok_or_else(|| {
                IdentityError::bad_request("Invalid input for field 'identity': 'password' is a required property")
            })?;
            let (u, d) = self.password_user(user_ref, pw).await?;
            if let Some((prev, _)) = &user {
                if prev.id != u.id {
                    return Err(unauthorized());
                }
            }
            methods.push("password".into());
            user = Some((u, d));
        }
        let (mut user, mut user_domain) = user.ok_or_else(unauthorized)?;
        let mut seen = std::collections::BTreeSet::new();
        methods.retain(|m| seen.insert(m.clone()));

        let mut tx = self.db.read().await?;
        let mut trust: Option<Trust> = None;
        if let ScopeRequest::Trust(tid) = &req.scope {
            let t = trust::get(&mut tx, tid)
                .await?
                .filter(|t| !t.expired(berth_time::now()))
                .ok_or_else(|| IdentityError::not_found(format!("Could not find trust: {tid}.")))?;
            if t.trustee_user_id != user.id {
                return Err(IdentityError::forbidden("User is not a trustee."));
            }
            if t.remaining_uses == Some(0) {
                return Err(IdentityError::forbidden("The trust has no remaining uses."));
            }
            if t.project_id.is_none() {
                return Err(IdentityError::forbidden("A trust without a project cannot scope a token."));
            }
            let (trustor, trustor_domain) = self
                .usable_user(&mut tx, &t.trustor_user_id)
                .await?
                .ok_or_else(|| IdentityError::forbidden("The trustor is disabled or gone."))?;
            if t.impersonation {
                (user, user_domain) = (trustor, trustor_domain);
            }
            trust = Some(t);
        }
        let scope = match &req.scope {
            _ if app_cred.is_some() => {
                TokenScope::Project(app_cred.as_ref().map(|a| a.project_id.clone()).unwrap_or_default())
            }
            ScopeRequest::Trust(_) => {
                TokenScope::Project(trust.as_ref().and_then(|t| t.project_id.clone()).unwrap_or_default())
            }
            ScopeRequest::Unscoped => TokenScope::Unscoped,
            ScopeRequest::System => TokenScope::System,
            ScopeRequest::Domain(r) => {
                let d = Self::find_domain(&mut tx, r).await?.ok_or_else(unauthorized)?;
                TokenScope::Domain(d.id)
            }
            ScopeRequest::Project(r) => {
                let p = match r {
                    ProjectRef::Id(id) => repo::get_project(&mut tx, id).await?,
                    ProjectRef::Name { name, domain } => match Self::find_domain(&mut tx, domain).await? {
                        Some(d) => repo::get_project_by_name(&mut tx, &d.id, name).await?,
                        None => None,
                    },
                };
                TokenScope::Project(p.ok_or_else(unauthorized)?.id)
            }
            ScopeRequest::Default => match &user.default_project_id {
                Some(pid) => {
                    let candidate = TokenScope::Project(pid.clone());
                    match token::resolve_scope(&mut tx, &user, &candidate, None, None).await {
                        Ok(_) => candidate,
                        Err(ScopeError::Db(e)) => return Err(e),
                        Err(_) => TokenScope::Unscoped,
                    }
                }
                None => TokenScope::Unscoped,
            },
        };
        let (resolved, roles) = match token::resolve_scope(&mut tx, &user, &scope, app_cred.as_ref(), trust.as_ref())
            .await
        {
            Ok(v) => v,
            Err(ScopeError::Db(e)) => return Err(e),
            Err(_) if trust.is_some() => {
                // The trustor no longer holds any of the delegated roles.
                return Err(IdentityError::forbidden("The trustor no longer holds the trust's roles on its project."));
            }
            Err(_) if app_cred.is_some() => {
                // The credential's project is gone or the user lost its roles there.
                return Err(unauthorized());
            }
            Err(ScopeError::Invalid(reason)) => {
                tracing::debug!(%reason, "identity: requested scope rejected");
                return Err(unauthorized());
            }
            Err(ScopeError::NoRoles(msg)) => return Err(IdentityError::forbidden(msg)),
        };
        let access_rules = match &app_cred {
            Some(a) => appcred::rules_by_id(&mut tx, &a.access_rules).await?,
            None => Vec::new(),
        };
        drop(tx);

        let now = berth_time::now();
        let ttl = i64::try_from(self.config.token_ttl.as_micros()).unwrap_or(i64::MAX / 2);
        let mut expires_at = now.saturating_add(ttl);
        let mut parent_audit_id = None;
        if let Some(p) = &parent {
            // A token made from a token never outlives it.
            expires_at = expires_at.min(p.expires_at);
            parent_audit_id = Some(p.parent_audit_id.clone().unwrap_or_else(|| p.audit_id.clone()));
        }
        if let Some(e) = app_cred.as_ref().and_then(|a| a.expires_at) {
            expires_at = expires_at.min(e);
        }
        if let Some(e) = trust.as_ref().and_then(|t| t.expires_at) {
            expires_at = expires_at.min(e);
        }
        let stored = StoredToken {
            user_id: user.id.clone(),
            scope,
            methods,
            audit_id: new_audit_id(),
            parent_audit_id,
            issued_at: now,
            expires_at,
            revoked: false,
            app_cred_id: app_cred.as_ref().map(|a| a.id.clone()),
            trust_id: trust.as_ref().map(|t| t.id.clone()),
        };
        let secret = new_token();
        let mut w = self.db.write().await?;
        if let Some(t) = &mut trust {
            if !trust::consume_use(&mut w.tx, &t.id).await? {
                return Err(IdentityError::forbidden("The trust has no remaining uses."));
            }
            t.remaining_uses = t.remaining_uses.map(|n| n - 1);
        }
        token::insert(&mut w.tx, &sha256_hex(&secret), &stored).await?;
        w.tag(TOKEN_ISSUED);
        // Expired rows are useless; sweep them now and then.
        if self.issued.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            token::purge_expired(&mut w.tx, now).await?;
        }
        w.commit().await?;
        Ok((secret, TokenInfo { user, user_domain, scope: resolved, roles, stored, app_cred, access_rules, trust }))
    }

    /// Hash a password with the configured cost.
    pub(crate) async fn hash_password(&self, password: &str) -> Result<String> {
        self.config.password_hashing.hash_async(password).await
    }
}

/// Names and switches for [`bootstrap_with`].
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub admin_username: String,
    pub admin_project_name: String,
    pub service_project_name: String,
    /// Set the admin user's password even if the user already exists
    /// (like `keystone-manage bootstrap`). Default false: an existing
    /// admin keeps the password it has.
    pub reset_admin_password: bool,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            admin_username: "admin".into(),
            admin_project_name: "admin".into(),
            service_project_name: "service".into(),
            reset_admin_password: false,
        }
    }
}

/// What bootstrap found or created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapReport {
    pub domain_id: String,
    pub admin_project_id: String,
    pub service_project_id: String,
    pub admin_user_id: String,
    pub admin_role_id: String,
    pub member_role_id: String,
    pub reader_role_id: String,
    pub manager_role_id: String,
    pub service_role_id: String,
    /// True when this call created the admin user.
    pub created_admin_user: bool,
    /// True when this call set the admin user's password.
    pub set_admin_password: bool,
}

/// Create, if missing: the `Default` domain (id `default`), the `admin` and
/// `service` projects, the `admin`/`manager`/`member`/`reader`/`service`
/// roles with the implications admin→manager→member→reader, berth's own
/// catalog entries (once: a catalog changed through the API stays changed), the `admin` user with `admin_password`,
/// and the admin user's `admin` role on the admin project and on the system.
/// Idempotent; an existing admin user keeps its password.
pub async fn bootstrap(identity: &Identity, admin_password: &str) -> Result<BootstrapReport> {
    bootstrap_with(identity, admin_password, &BootstrapOptions::default()).await
}

/// [`bootstrap`] with explicit names and options.
pub async fn bootstrap_with(
    identity: &Identity,
    admin_password: &str,
    opts: &BootstrapOptions,
) -> Result<BootstrapReport> {
    let hash = identity.hash_password(admin_password).await?;
    let now = berth_time::now();
    let mut w = identity.db.write().await?;
    let c = &mut *w.tx;

    let domain = match repo::get_domain(&mut *c, DEFAULT_DOMAIN_ID).await? {
        Some(d) => d,
        None => {
            let d = Domain {
                id: DEFAULT_DOMAIN_ID.into(),
                name: DEFAULT_DOMAIN_NAME.into(),
                description: "The default domain".into(),
                enabled: true,
            };
            repo::insert_domain(&mut *c, &d, now).await?;
            d
        }
    };

    // Keystone's bootstrap roles: admin -> manager -> member -> reader, and
    // service (implies nothing).
    let mut role_ids = Vec::new();
    for name in ["admin", "member", "reader", "manager", "service"] {
        let role = match repo::get_role_by_name(&mut *c, name).await? {
            Some(r) => r,
            None => {
                let r = Role { id: new_id(), name: name.into(), description: None };
                repo::insert_role(&mut *c, &r, now).await?;
                r
            }
        };
        role_ids.push(role.id);
    }
    repo::insert_implication(&mut *c, &role_ids[0], &role_ids[3]).await?;
    repo::insert_implication(&mut *c, &role_ids[3], &role_ids[1]).await?;
    repo::insert_implication(&mut *c, &role_ids[1], &role_ids[2]).await?;
    // Clouds bootstrapped before the manager role had admin -> member.
    repo::delete_implication(&mut *c, &role_ids[0], &role_ids[1]).await?;
    crate::catalog::seed(&mut *c, &identity.config.region, now).await?;

    let mut project_ids = Vec::new();
    for (name, desc) in [
        (&opts.admin_project_name, "Bootstrap project for initializing the cloud."),
        (&opts.service_project_name, "Project for service users."),
    ] {
        let p = match repo::get_project_by_name(&mut *c, &domain.id, name).await? {
            Some(p) => p,
            None => {
                let p = Project {
                    id: new_id(),
                    name: name.clone(),
                    domain_id: domain.id.clone(),
                    parent_id: None,
                    description: desc.into(),
                    enabled: true,
                    tags: Vec::new(),
                    extra: Default::default(),
                };
                repo::insert_project(&mut *c, &p, now).await?;
                p
            }
        };
        project_ids.push(p.id);
    }

    let (user, created, set_pw) = match repo::get_user_by_name(&mut *c, &domain.id, &opts.admin_username).await? {
        Some(u) => {
            let set = opts.reset_admin_password || repo::get_password_hash(&mut *c, &u.id).await?.is_none();
            if set {
                repo::set_password_hash(&mut *c, &u.id, Some(hash), now).await?;
            }
            (u, false, set)
        }
        None => {
            let u = User {
                id: new_id(),
                name: opts.admin_username.clone(),
                domain_id: domain.id.clone(),
                enabled: true,
                description: None,
                email: None,
                default_project_id: None,
                extra: Default::default(),
            };
            repo::insert_user(&mut *c, &u, Some(hash), now).await?;
            (u, true, true)
        }
    };
    for target in [Target::Project(project_ids[0].clone()), Target::System] {
        repo::grant(&mut *c, &Assignment::user(&user.id, target, &role_ids[0]), now).await?;
    }
    w.commit().await?;
    if created {
        tracing::info!(user_id = %user.id, "identity bootstrap created the admin user");
    }
    Ok(BootstrapReport {
        domain_id: domain.id,
        admin_project_id: project_ids[0].clone(),
        service_project_id: project_ids[1].clone(),
        admin_user_id: user.id,
        admin_role_id: role_ids[0].clone(),
        member_role_id: role_ids[1].clone(),
        reader_role_id: role_ids[2].clone(),
        manager_role_id: role_ids[3].clone(),
        service_role_id: role_ids[4].clone(),
        created_admin_user: created,
        set_admin_password: set_pw,
    })
}
