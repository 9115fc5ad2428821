//! berth's compute control plane: a Nova-compatible API (`/compute/v2.1`,
//! microversions 2.1 - 2.96), a scheduler over Placement, simulated compute
//! agents, and the guarantee that deleting a server never leaks its
//! Placement allocations.
//!
//! Layout (each layer calls only the ones below it):
//! - `api`: the axum [`router`], mounted by the binary at `/compute`: the
//!   shared edge (`berth_http::Edge`), then one route table naming every
//!   route's policy rule ([`route_specs`]), then the handler;
//!   handlers call [`ComputeService`] only, and `api/fault.rs` alone turns
//!   error kinds into HTTP statuses.
//! - [`ComputeService`] (`service/`): shared state and operations;
//!   `service/schedule.rs` claims in Placement what the pure
//!   `scheduler::filter_and_weigh` chose.
//! - `lifecycle`: vm states, task states, API statuses and the allowed
//!   transitions.
//! - `store/` over `db` (`berth_db::Db`, strict decoding, times in
//!   microseconds): all SQL, one module per aggregate (SQLite and
//!   PostgreSQL, same SQL); migrations in `migrations/{sqlite,postgres}`.
//! - `outbox` (durable Placement operations); `audit` (allocation audit
//!   and healing); `agent`: [`ComputeAgent`] / [`run_agent`], the per-host
//!   worker.
//!
//! The API and the agents talk through a work queue table
//! (`compute_tasks`): rows are claimed with one conditional `UPDATE`
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), leased, and retried when a
//! worker dies, so either side can restart without losing work.
//!
//! The guarantee: an instance is marked deleted in the same transaction
//! that records "delete the allocations of consumer X" in the outbox; the
//! removal is attempted at once and retried until Placement accepts it, and
//! agents and the reconciler remove any allocation whose consumer is not a
//! live instance.

mod agent;
mod api;
mod audit;
mod clock;
mod db;
mod error;
mod images;
mod infra_model;
mod lifecycle;
mod model;
mod outbox;
mod policy;
mod scheduler;
mod service;
mod store;
pub mod wake;
mod workers;

pub use agent::{
    run_agent, AgentConfig, ComputeAgent, DriverSpec, FailureOracle, FakeDriver, ReconcileReport, RecoveryReport,
};
pub use api::{route_specs, router, MAX_VERSION, MIN_VERSION, MOUNT};
pub use audit::{AbandonedClaim, AuditReport, MissingAllocation, OrphanedAllocation, WrongProvider};
pub use db::{redact, Engine};
pub use error::{ComputeError, ErrorKind, Result};
pub use images::{GlanceRequest, GlanceResponse, ImageInfo, ImageLookup, ServerImage, StaticImages};
pub use lifecycle::{QueueState, Status, TaskState, VmState};
pub use model::{ComputeNode, Flavor, Instance, InstanceFault, OutboxEntry, Service};
pub use outbox::DrainReport;
pub use scheduler::{flavor_resources, GroupPolicy, HostConstraints, RequestSpec, Weigher, COMPUTE_STATUS_DISABLED};
pub use service::{ComputeConfig, ComputeService, QuotaDefaults, ReconcileSeam, NOVA_COMPUTE};

/// Compute's default policy rules (Nova's defaults in spirit).
pub fn policy_defaults() -> &'static [berth_policy::RuleDefault] {
    policy::defaults()
}
