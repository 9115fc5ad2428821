//! `berth up`: the whole cloud on an embedded SQLite database, every API on
//! one listener under DevStack's paths, and a `clouds.yaml` for stock clients.

use std::path::PathBuf;
use std::sync::Arc;

use berth_http::AuthStrategy;
use berth_identity::{Identity, IdentityConfig};
use clap::Args;

use crate::placement::{build_state, PlacementArgs};
use crate::secrets;

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Directory for the database and generated files.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "./berth-data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Database URL instead of the embedded SQLite file in the data
    /// directory (e.g. postgresql://user@host/berth).
    #[arg(long, env = "BERTH_DB")]
    pub db: Option<String>,
    /// Compute weigher: `spread` (default) or `pack`.
    #[arg(long, default_value = "spread")]
    pub weigher: String,
    /// Number of simulated compute hosts (compute1, compute2, ...).
    #[arg(long, default_value_t = 1)]
    pub computes: u32,
    /// Driver of the simulated hosts: `fake` or `fake:VCPU,MEMORY_MB,DISK_GB`.
    #[arg(long, default_value = "fake")]
    pub driver: String,
    /// Database connections this process may open in all (split between
    /// Placement, compute, identity and image). Several API processes on
    /// one PostgreSQL server must stay under its `max_connections` (100
    /// by default) together.
    #[arg(long, env = "BERTH_DB_MAX_CONNECTIONS", default_value_t = 24, value_parser = clap::value_parser!(u32).range(4..=10_000))]
    pub db_max_connections: u32,
    #[command(flatten)]
    pub agent: crate::compute::AgentArgs,
    #[command(flatten)]
    pub faults: crate::faults::FaultArgs,
}

/// Connections per service out of a process's total: Placement and compute
/// a third each (the busy paths), identity and image a sixth each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConnectionBudget {
    placement: u32,
    compute: u32,
    identity: u32,
    image: u32,
}

impl ConnectionBudget {
    fn split(total: u32) -> ConnectionBudget {
        let sixth = (total / 6).max(1);
        let third = ((total - 2 * sixth) / 2).max(1);
        ConnectionBudget { placement: third, compute: total - 2 * sixth - third, identity: sixth, image: sixth }
    }
}

/// The image every fresh cloud has, so `server create` works out of the box.
pub const DEFAULT_IMAGE_NAME: &str = "berth-tiny-raw";

/// A small raw disk: 1 MiB with a recognisable first sector.
fn default_image_bytes() -> Vec<u8> {
    let mut v = vec![0u8; 1 << 20];
    let tag = b"berth default image (simulated guests boot anything)";
    v[..tag.len()].copy_from_slice(tag);
    v
}

fn clouds_yaml(auth_url: &str, password: &str) -> String {
    format!(
        "# Written by `berth up`. Use: openstack --os-cloud berth ...\n\
         clouds:\n  berth:\n    auth:\n      auth_url: {auth_url}\n      username: admin\n      password: \"{password}\"\n      \
         project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    \
         region_name: RegionOne\n    interface: public\n    identity_api_version: 3\n"
    )
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    // The database holds password and token hashes: owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let db = match &args.db {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", data_dir.join("berth.db").display()),
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");

    let budget = ConnectionBudget::split(args.db_max_connections);
    // Placement first: it owns the database file's first migrations.
    let pargs = PlacementArgs {
        listen: Some(args.listen.clone()),
        db: Some(db.clone()),
        db_max_connections: Some(budget.placement),
        auth_strategy: None,
        policy_file: None,
        enforce_new_defaults: None,
        cors_origins: Vec::new(),
        cors_allow_headers: Vec::new(),
        randomize_allocation_candidates: None,
        max_allocation_candidates: None,
        keystone_url: None,
        keystone_username: "placement".into(),
        keystone_project: "service".into(),
        keystone_password_file: None,
        config: None,
    };
    let mut icfg = IdentityConfig::new(db.clone());
    icfg.max_connections = budget.identity;
    icfg.public_base_url = Some(base.clone());
    let identity = Arc::new(Identity::open(icfg).await.map_err(|e| anyhow::anyhow!("identity: {}", e.message))?);
    let (password, created) = secrets::admin_password(&data_dir.join("admin-password"))?;
    let boot = berth_identity::bootstrap(&identity, &password)
        .await
        .map_err(|e| anyhow::anyhow!("identity bootstrap: {}", e.message))?;
    let auth = AuthStrategy::Keystone(Arc::new(berth_identity::IdentityValidator(identity.clone())));
    let (placement, _) = build_state(&pargs, None, Some(auth.clone())).await?;

    let mut image_cfg = berth_image::ImageConfig::new(data_dir.join("images"));
    image_cfg.max_connections = budget.image;
    image_cfg.public_url = Some(format!("{base}/image"));
    let images = Arc::new(
        berth_image::ImageService::open(image_cfg, &db, auth.clone())
            .await
            .map_err(|e| anyhow::anyhow!("image service: {}", e.message))?,
    );
    let default_image = images
        .ensure_default_image(DEFAULT_IMAGE_NAME, &default_image_bytes(), &boot.admin_project_id)
        .await
        .map_err(|e| anyhow::anyhow!("default image: {}", e.message))?;

    // Compute calls Placement in-process through a router of its own that
    // never faces the network and acts as the compute service.
    let internal_placement = Arc::new(berth_placement_api::AppState::new(
        placement.store.clone(),
        berth_policy::Enforcer::new(berth_policy::placement::defaults(), placement.policy.config()),
        berth_placement_api::PlacementConfig {
            auth: AuthStrategy::Trusted(crate::cloud::compute_service_context(&boot.service_project_id)),
            ..placement.config.clone()
        },
    ));
    let faults = args.faults.start();
    let placement_client: Arc<dyn berth_placement_client::PlacementClient> = crate::faults::placement(
        Arc::new(berth_placement_client::InProcessPlacementClient::new(
            berth_placement_api::router(internal_placement),
            Arc::new(berth_placement_client::StaticToken::none()),
        )),
        &faults,
    );
    let weigher = match args.weigher.as_str() {
        "spread" => berth_compute::Weigher::Spread,
        "pack" => berth_compute::Weigher::Pack,
        other => anyhow::bail!("--weigher {other:?}: use spread or pack"),
    };
    let compute_cfg = berth_compute::ComputeConfig {
        max_connections: budget.compute,
        auth: auth.clone(),
        weigher,
        public_base_url: Some(format!("{base}/compute")),
        ..Default::default()
    };
    let compute = berth_compute::ComputeService::open(
        &db,
        placement_client,
        Arc::new(crate::cloud::ImagesFromService(images.clone(), berth_image::router(images.clone()))),
        berth_compute::ComputeService::default_policy(berth_policy::EnforcerConfig {
            enforce_new_defaults: false,
            enforce_scope: true,
        }),
        compute_cfg,
    )
    .await
    .map_err(|e| anyhow::anyhow!("compute: {e}"))?;
    compute.ensure_default_flavors().await.map_err(|e| anyhow::anyhow!("default flavors: {e}"))?;
    let (stop, shutdown) = crate::cloud::Shutdown::new();
    let background = compute.spawn_background(shutdown.wait());
    // The simulated hosts start in the background: the cloud answers at
    // once, and hosts appear as they register (each agent's run loop
    // registers, publishes its inventory and retries until it is done).
    let spec: berth_compute::DriverSpec =
        args.driver.parse().map_err(|e| anyhow::anyhow!("--driver {}: {e}", args.driver))?;
    let names: Vec<String> = (1..=args.computes).map(|i| format!("compute{i}")).collect();
    let az = args.agent.availability_zone.clone().unwrap_or_else(|| compute.config().default_availability_zone.clone());
    compute.register_compute_services(&names, &az).await.map_err(|e| anyhow::anyhow!("compute services: {e}"))?;
    let agents: Vec<_> = names
        .iter()
        .map(|name| {
            let cfg = args.agent.config(name.clone(), spec);
            let agent =
                Arc::new(berth_compute::ComputeAgent::new(compute.clone(), cfg, crate::faults::driver(name, &faults)));
            tokio::spawn(agent.run(shutdown.wait()))
        })
        .collect();

    let clouds = data_dir.join("clouds.yaml");
    secrets::write_private(&clouds, &clouds_yaml(&format!("{base}/identity"), &password))?;

    let app = axum::Router::new()
        .nest("/identity", berth_identity::router(identity.clone()))
        .nest("/image", berth_image::router(images.clone()))
        .nest("/compute", berth_compute::router(compute.clone()))
        .nest("/placement", berth_placement_api::router(placement))
        .route("/metrics", {
            let (auth, compute) = (auth.clone(), compute.clone());
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                crate::cloud::metrics(auth.clone(), compute.clone(), headers)
            })
        })
        .layer(tower_http::trace::TraceLayer::new_for_http());

    println!("berth is up (data in {})", data_dir.display());
    println!("  identity:  {base}/identity/v3");
    println!("  image:     {base}/image (default image {DEFAULT_IMAGE_NAME} = {default_image})");
    println!("  compute:   {base}/compute/v2.1 ({} simulated compute host(s))", args.computes);
    println!("  placement: {base}/placement");
    println!("  metrics:   {base}/metrics (admin token; reconciler findings, outbox backlog)");
    println!(
        "  clouds.yaml: {} (cloud `berth`){}",
        clouds.display(),
        if created { ", admin password generated" } else { "" }
    );
    println!("  try: OS_CLIENT_CONFIG_FILE={} openstack --os-cloud berth token issue", clouds.display());
    // `/compute/` and `/compute` are the same version document (keystoneauth
    // and the integration suites ask for the first); rewrite before routing.
    let app = tower::Layer::layer(&tower::util::MapRequestLayer::new(strip_mount_slash), app);
    axum::serve(listener, axum::ServiceExt::<axum::extract::Request>::into_make_service(app))
        .with_graceful_shutdown(crate::shutdown_signal())
        .await?;
    let _ = stop.send(true);
    for a in agents {
        let _ = a.await;
    }
    let _ = background.await;
    Ok(())
}

/// The mount points of `berth up`.
pub const MOUNTS: [&str; 4] = ["/identity", "/image", "/compute", "/placement"];

/// `GET /compute/` → `GET /compute`: a mount point with a trailing slash is
/// the service's root.
fn strip_mount_slash(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path();
    if let Some(m) = MOUNTS.iter().find(|m| path.strip_suffix('/') == Some(**m)) {
        let pq = match req.uri().query() {
            Some(q) => format!("{m}?{q}"),
            None => m.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(u) = http::Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
    }
    req
}

#[cfg(test)]
mod budget_tests {
    #[test]
    fn the_budget_adds_up() {
        for total in [4u32, 5, 24, 25, 100, 10_000] {
            let b = super::ConnectionBudget::split(total);
            assert_eq!(b.placement + b.compute + b.identity + b.image, total, "{b:?}");
            assert!(b.placement >= 1 && b.compute >= 1 && b.identity >= 1 && b.image >= 1, "{b:?}");
        }
        assert_eq!(
            super::ConnectionBudget::split(24),
            super::ConnectionBudget { placement: 8, compute: 8, identity: 4, image: 4 }
        );
    }
}
