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
//!
//! Known differences from upstream 16.0.0, all artefacts of its
//! implementation that no gabbi test depends on (found by differential
//! testing against a running upstream on random layouts and queries; the
//! results otherwise agree exactly, error texts included):
//!
//! * Without `group_policy=none`, upstream's `_consolidate_allocation_requests`
//!   adds amounts into objects shared between candidates when two groups take
//!   the same class from the same provider, so later candidates carry
//!   inflated amounts (e.g. VCPU 4 where 2 were asked) or are wrongly dropped
//!   as over capacity; the outcome changes between server processes (string
//!   hash randomisation). Here amounts are always the requested sums.
//! * Upstream deduplicates the unsuffixed group's candidates with a set whose
//!   equality ignores the anchor, so an unsuffixed candidate made only of
//!   sharing providers is kept under a single anchor tree picked by CPython
//!   set order, and combinations with other groups anchored elsewhere are
//!   lost. Here every anchor is kept.
//! * Upstream fails with a 500 (`KeyError`) when the unsuffixed group can use
//!   a sharing provider that is not a root; here it is used like any other.
//! * Lists in a few error texts (`bad group(s) - [...]`) come from Python
//!   sets upstream; here they follow the order of the query.
//! * Aggregate and provider uuids in `member_of`/`in_tree` are compared as
//!   uuids, so `ABCD...` or an unhyphenated form matches the stored uuid;
//!   upstream compares strings.

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
