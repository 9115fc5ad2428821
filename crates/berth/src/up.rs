//! `berth up`: the whole cloud on an embedded SQLite database.

use std::path::PathBuf;

use clap::Args;

use crate::placement::{build_state, PlacementArgs};

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Directory for the database and generated files.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "./berth-data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Number of simulated compute hosts.
    #[arg(long, default_value_t = 1)]
    pub computes: u32,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let db = format!("sqlite://{}", data_dir.join("berth.db").display());
    let pargs = PlacementArgs {
        listen: Some(args.listen.clone()),
        db: Some(db),
        auth_strategy: None,
        policy_file: None,
        enforce_new_defaults: None,
        cors_origins: Vec::new(),
        cors_allow_headers: Vec::new(),
        randomize_allocation_candidates: None,
        max_allocation_candidates: None,
        config: None,
    };
    let (state, listen) = build_state(&pargs, None).await?;
    let app = axum::Router::new().nest("/placement", berth_placement_api::router(state));
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    println!("berth is up (data in {})", data_dir.display());
    println!("  placement: http://{addr}/placement");
    if args.computes > 0 {
        tracing::warn!(computes = args.computes, "simulated computes are not available yet in this build");
    }
    axum::serve(listener, app).with_graceful_shutdown(crate::shutdown_signal()).await?;
    Ok(())
}
