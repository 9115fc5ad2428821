//! The one berth binary.

mod bench;
mod chaos;
mod cloud;
mod compute;
mod config;
mod faults;
mod placement;
mod secrets;
mod up;

use clap::{Parser, Subcommand};

/// Request handling allocates many small objects (JSON documents, rows);
/// glibc's malloc spends a large share of list and candidates requests in
/// free-list maintenance. mimalloc is a maintained, widely used allocator
/// that removes that cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "berth", version, about = "berth: a compute cloud control plane")]
struct Cli {
    /// Log filter (RUST_LOG syntax), e.g. `info` or `berth=debug`.
    #[arg(long, env = "BERTH_LOG", default_value = "info", global = true)]
    log: String,
    /// Emit logs as JSON lines.
    #[arg(long, env = "BERTH_LOG_JSON", global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Placement API alone.
    Placement(placement::PlacementArgs),
    /// Run the whole cloud on an embedded database in a data directory.
    Up(up::UpArgs),
    /// Run one compute agent with a simulated hypervisor.
    Compute(compute::ComputeArgs),
    /// List (and with --fix heal) leaked or missing Placement allocations.
    Audit(compute::AuditArgs),
    /// Benchmarks against a cloud this command starts (or a running one).
    Bench(bench::BenchArgs),
    /// Prove the allocation guarantee under random operations and faults
    /// (process kills, Placement outages, hosts down, hypervisor failures).
    Chaos(chaos::ChaosArgs),
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply pending schema migrations and sync standard classes and traits.
    Sync {
        /// Database URL (sqlite://PATH or postgresql://...).
        #[arg(long, env = "BERTH_DB")]
        db: String,
    },
}

fn init_logging(filter: &str, json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_json);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Placement(args) => placement::run(args).await,
            Command::Up(args) => up::run(args).await,
            Command::Compute(args) => compute::run_compute(args).await,
            Command::Audit(args) => {
                let code = compute::run_audit(args).await?;
                if code != 0 {
                    std::process::exit(code);
                }
                Ok(())
            }
            Command::Bench(args) => bench::run(args).await,
            Command::Chaos(args) => chaos::run(args).await,
            Command::Db { command: DbCommand::Sync { db } } => {
                berth_store::Store::open(&berth_store::StoreConfig::new(db))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("database is up to date");
                Ok(())
            }
        }
    })
}

/// Resolve when the process gets SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
