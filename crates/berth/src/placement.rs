//! `berth placement`: serve the Placement API alone.

use std::path::PathBuf;
use std::sync::Arc;

use berth_placement_api::{AppState, AuthStrategy, PlacementConfig};
use berth_policy::{Enforcer, EnforcerConfig};
use berth_store::{Store, StoreConfig};
use clap::Args;

use crate::config;

#[derive(Args, Debug, Clone)]
pub struct PlacementArgs {
    /// Address to listen on.
    #[arg(long, env = "BERTH_LISTEN")]
    pub listen: Option<String>,
    /// Database URL: sqlite://PATH or postgresql://USER@HOST/DB.
    #[arg(long, env = "BERTH_DB")]
    pub db: Option<String>,
    /// Most database connections Placement keeps open (default 16).
    #[arg(long)]
    pub db_max_connections: Option<u32>,
    /// `keystone` (tokens of berth's identity service in the same database)
    /// or `noauth2` (upstream's test strategy; never in production).
    #[arg(long, env = "BERTH_AUTH_STRATEGY")]
    pub auth_strategy: Option<String>,
    /// oslo.policy YAML file whose rules override the defaults.
    #[arg(long, env = "BERTH_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// Use the secure-RBAC defaults only (`[oslo_policy] enforce_new_defaults`).
    #[arg(long, env = "BERTH_ENFORCE_NEW_DEFAULTS")]
    pub enforce_new_defaults: Option<bool>,
    /// Allowed CORS origin (repeatable).
    #[arg(long = "cors-origin", env = "BERTH_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Headers CORS requests may carry (repeatable).
    #[arg(long = "cors-allow-header", env = "BERTH_CORS_ALLOW_HEADERS", value_delimiter = ',')]
    pub cors_allow_headers: Vec<String>,
    /// Shuffle allocation candidates.
    #[arg(long, env = "BERTH_RANDOMIZE_ALLOCATION_CANDIDATES")]
    pub randomize_allocation_candidates: Option<bool>,
    /// Most allocation requests one query may build (-1: no limit).
    #[arg(long, env = "BERTH_MAX_ALLOCATION_CANDIDATES", allow_hyphen_values = true)]
    pub max_allocation_candidates: Option<i64>,
    /// External Keystone to validate tokens with (`--auth-strategy keystone`);
    /// without it, berth's identity service in the same database is used.
    #[arg(long, env = "BERTH_KEYSTONE_URL")]
    pub keystone_url: Option<String>,
    /// Service user Placement authenticates as to validate tokens.
    #[arg(long, env = "BERTH_KEYSTONE_USERNAME", default_value = "placement")]
    pub keystone_username: String,
    /// Project of the service user.
    #[arg(long, env = "BERTH_KEYSTONE_PROJECT", default_value = "service")]
    pub keystone_project: String,
    /// File holding the service user's password (mode 0600).
    #[arg(long, env = "BERTH_KEYSTONE_PASSWORD_FILE")]
    pub keystone_password_file: Option<PathBuf>,
    /// TOML config file with a [placement] table.
    #[arg(long, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,
}

pub async fn build_state(
    args: &PlacementArgs,
    default_db: Option<String>,
    auth_override: Option<AuthStrategy>,
) -> anyhow::Result<(Arc<AppState>, String)> {
    let file = match &args.config {
        Some(p) => config::load(p)?,
        None => config::FileConfig::default(),
    };
    let db = args
        .db
        .clone()
        .or(file.db.clone())
        .or(default_db)
        .ok_or_else(|| anyhow::anyhow!("no database: pass --db sqlite://PATH or postgresql://..."))?;
    let listen = args.listen.clone().or(file.listen.clone()).unwrap_or_else(|| "127.0.0.1:8778".into());
    let auth = match (auth_override, args.auth_strategy.clone().or(file.auth_strategy.clone()).as_deref()) {
        (Some(a), _) => a,
        (None, None | Some("noauth2")) => AuthStrategy::NoAuth2,
        (None, Some("keystone")) if args.keystone_url.is_some() => {
            let url = args.keystone_url.clone().unwrap_or_default();
            let pw_file = args
                .keystone_password_file
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--keystone-url needs --keystone-password-file"))?;
            let password = crate::secrets::read_private(&pw_file)?
                .ok_or_else(|| anyhow::anyhow!("{} does not exist", pw_file.display()))?;
            let service =
                crate::cloud::PasswordTokens::new(&url, &args.keystone_username, &password, &args.keystone_project);
            AuthStrategy::Keystone(Arc::new(crate::cloud::KeystoneHttpValidator::new(&url, service)))
        }
        (None, Some("keystone")) => {
            // Tokens of berth's identity service, which shares the database.
            let identity = berth_identity::Identity::open(berth_identity::IdentityConfig::new(db.clone()))
                .await
                .map_err(|e| anyhow::anyhow!("identity: {}", e.message))?;
            AuthStrategy::Keystone(Arc::new(berth_identity::IdentityValidator(Arc::new(identity))))
        }
        (None, Some(other)) => anyhow::bail!("unknown auth strategy {other:?}: use noauth2 or keystone"),
    };
    let enforce_new_defaults = args.enforce_new_defaults.or(file.enforce_new_defaults).unwrap_or(false);
    let mut policy = Enforcer::new(
        berth_policy::placement::defaults(),
        EnforcerConfig { enforce_new_defaults, enforce_scope: file.enforce_scope.unwrap_or(true) },
    );
    if let Some(p) = args.policy_file.clone().or(file.policy_file.clone().map(PathBuf::from)) {
        let text =
            std::fs::read_to_string(&p).map_err(|e| anyhow::anyhow!("cannot read policy file {}: {e}", p.display()))?;
        policy = policy.with_overrides_yaml(&text).map_err(|e| anyhow::anyhow!("policy file {}: {e}", p.display()))?;
    }
    let mut cfg = PlacementConfig { auth, ..PlacementConfig::default() };
    cfg.cors_allowed_origins =
        if args.cors_origins.is_empty() { file.cors_allowed_origins.clone() } else { args.cors_origins.clone() };
    cfg.cors_allow_headers = if args.cors_allow_headers.is_empty() {
        file.cors_allow_headers.clone()
    } else {
        args.cors_allow_headers.clone()
    };
    if let Some(r) = args.randomize_allocation_candidates.or(file.randomize_allocation_candidates) {
        cfg.randomize_allocation_candidates = r;
    }
    if let Some(m) = args.max_allocation_candidates.or(file.max_allocation_candidates) {
        cfg.max_allocation_candidates = m;
    }
    let mut store_cfg = StoreConfig::new(db);
    if let Some(n) = args.db_max_connections {
        store_cfg.max_connections = n.max(1);
    }
    let store = Store::open(&store_cfg).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((Arc::new(AppState::new(store, policy, cfg)), listen))
}

pub async fn run(args: PlacementArgs) -> anyhow::Result<()> {
    let (state, listen) = build_state(&args, None, None).await?;
    let app = berth_placement_api::router(state).layer(tower_http::trace::TraceLayer::new_for_http());
    let listener =
        tokio::net::TcpListener::bind(&listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!(%listen, "placement API listening");
    axum::serve(listener, app).with_graceful_shutdown(crate::shutdown_signal()).await?;
    Ok(())
}
