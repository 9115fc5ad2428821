//! Placement storage over sqlx's `Any` driver: one code path for SQLite and
//! PostgreSQL, chosen by the connection URL.
//!
//! Architecture invariants:
//! - SQL lives here and only here. Callers see domain records from
//!   `berth-placement` and `berth_placement::Error`.
//! - Every write that upstream Placement makes atomic is one transaction.
//! - Provider and consumer generations are the optimistic-concurrency
//!   contract. A write that changes what a provider holds first takes the
//!   provider's row lock (a conditional `UPDATE ... generation = generation + 1`),
//!   and only then reads usage and checks capacity, so the capacity check and
//!   the generation bump are one atomic decision on PostgreSQL under any number
//!   of processes. On SQLite writes run on one dedicated connection behind a
//!   process-wide lock and start with `BEGIN IMMEDIATE`, so writers in other
//!   processes wait for SQLite's lock instead of failing.
//! - Queries use `$N` placeholders, which both engines accept, and only types
//!   the `Any` driver maps on both (BIGINT, DOUBLE PRECISION, TEXT).

mod aggregates;
mod allocations;
mod classes;
mod db;
mod inventories;
mod providers;
mod rows;
mod traits;
mod usages;

pub use allocations::{AllocationWrite, ConsumerAllocations, ProviderAllocation};
pub use classes::ResourceClassRow;
pub use db::{Engine, Store, StoreConfig};
pub use providers::{CandidateData, ProviderFilter, ProviderUpdate, GENERATION_CONFLICT};
pub use traits::TraitFilter;
pub use usages::UsageRow;
