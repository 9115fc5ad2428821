//! Allocation candidates: the pure, in-memory engine behind
//! `GET /allocation_candidates` (microversions 1.10 to 1.39).
//!
//! Three steps, none doing I/O:
//!
//! 1. [`parse_query`] validates the query string for a microversion exactly
//!    as upstream Placement does (same checks, same order, same error texts)
//!    and returns a [`CandidatesRequest`].
//! 2. The caller loads a [`Snapshot`] of every provider (inventories with
//!    usage, traits, aggregates, parents) from storage. It is immutable and
//!    indexed at construction, so one snapshot can serve many requests.
//! 3. [`find_candidates`] returns the [`Candidates`]: allocation requests and
//!    the providers to summarize.
//!
//! What the caller (the HTTP layer) does with the result, by microversion
//! (upstream `handlers/allocation_candidate.py`):
//!
//! * `allocation_requests`: before 1.12 a list of
//!   `{"resource_provider": {"uuid"}, "resources"}`; from 1.12 a map
//!   provider uuid → `{"resources": {class: amount}}`
//!   ([`AllocationRequest::by_provider`]); from 1.34 also `mappings`:
//!   group suffix → provider uuids ([`AllocationRequest::mappings_by_group`],
//!   suffixes from [`CandidatesRequest::groups`]).
//! * `provider_summaries`: per provider in [`Candidates::provider_summaries`],
//!   `resources` → class → `{capacity, used}` ([`Inventory::capacity`],
//!   [`Inventory::used`]) for the requested classes only before 1.27
//!   ([`CandidatesRequest::requested_resource_classes`]) and for all of the
//!   provider's inventories from 1.27; `traits` from 1.17
//!   ([`Provider::traits`]); `parent_provider_uuid` and `root_provider_uuid`
//!   from 1.29.
//! * `Cache-Control: no-cache` and `Last-Modified` from 1.15.
//! * [`CandidatesError`] is a 400 with [`CandidatesError::http_detail`].
//!
//! Order of candidates: upstream returns them in an order that depends on
//! Python set hashing; here they come by anchor tree (ascending snapshot
//! index), then depth-first over the groups, which is deterministic.

mod bitset;
mod engine;
mod parse;
mod request;
mod rng;
mod snapshot;

#[cfg(test)]
mod tests;

pub use engine::{
    find_candidates, AllocationRequest, Candidates, CandidatesError, GenerationStrategy, Mapping, Options,
    ResourceAmount, DEFAULT_MAX_ALLOCATION_CANDIDATES,
};
pub use parse::{codes, parse_query, BadRequest};
pub use request::{CandidatesRequest, GroupPolicy, RequestGroup};
pub use snapshot::{
    Inventory, InventoryData, Provider, ProviderData, ProviderIdx, RcId, Snapshot, SnapshotError, SHARING_TRAIT,
};
