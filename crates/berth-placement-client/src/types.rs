//! Wire types of the Placement responses compute reads (microversion 1.39).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Resource class name -> amount.
pub type Resources = BTreeMap<String, i64>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceProvider {
    pub uuid: Uuid,
    pub name: String,
    pub generation: i64,
    #[serde(default)]
    pub parent_provider_uuid: Option<Uuid>,
    #[serde(default)]
    pub root_provider_uuid: Option<Uuid>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProviderList {
    pub resource_providers: Vec<ResourceProvider>,
}

/// One inventory record. Defaults are Placement's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub total: i64,
    #[serde(default)]
    pub reserved: i64,
    #[serde(default = "one")]
    pub min_unit: i64,
    #[serde(default = "max_int")]
    pub max_unit: i64,
    #[serde(default = "one")]
    pub step_size: i64,
    #[serde(default = "one_f")]
    pub allocation_ratio: f64,
}

fn one() -> i64 {
    1
}
fn max_int() -> i64 {
    i32::MAX as i64
}
fn one_f() -> f64 {
    1.0
}

impl Inventory {
    /// `total` units with `reserved` held back and an overcommit ratio;
    /// one allocation may take up to everything that is not reserved.
    pub fn new(total: i64, reserved: i64, allocation_ratio: f64) -> Self {
        Inventory { total, reserved, min_unit: 1, max_unit: total.max(1), step_size: 1, allocation_ratio }
    }

    /// What can be allocated in total: `(total - reserved) * ratio`.
    pub fn capacity(&self) -> i64 {
        ((self.total - self.reserved) as f64 * self.allocation_ratio) as i64
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderInventories {
    pub resource_provider_generation: i64,
    pub inventories: BTreeMap<String, Inventory>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderTraits {
    pub resource_provider_generation: i64,
    pub traits: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAggregates {
    #[serde(default)]
    pub resource_provider_generation: i64,
    pub aggregates: Vec<Uuid>,
}

/// `{"resources": {...}}` as it appears inside allocation documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcesOf {
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// One way to satisfy a request: provider -> resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationRequest {
    pub allocations: BTreeMap<Uuid, ResourcesOf>,
    #[serde(default)]
    pub mappings: Option<BTreeMap<String, Vec<Uuid>>>,
}

impl AllocationRequest {
    /// The allocations as provider -> resources.
    pub fn resources(&self) -> BTreeMap<Uuid, Resources> {
        self.allocations.iter().map(|(k, v)| (*k, v.resources.clone())).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityUsed {
    pub capacity: i64,
    pub used: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSummary {
    pub resources: BTreeMap<String, CapacityUsed>,
    #[serde(default)]
    pub traits: Vec<String>,
    #[serde(default)]
    pub parent_provider_uuid: Option<Uuid>,
    #[serde(default)]
    pub root_provider_uuid: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationCandidates {
    pub allocation_requests: Vec<AllocationRequest>,
    pub provider_summaries: BTreeMap<Uuid, ProviderSummary>,
}

/// `GET /allocations/{consumer}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerAllocations {
    pub allocations: BTreeMap<Uuid, ResourcesOf>,
    #[serde(default)]
    pub consumer_generation: Option<i64>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub consumer_type: Option<String>,
}

impl ConsumerAllocations {
    pub fn is_empty(&self) -> bool {
        self.allocations.is_empty()
    }
    /// The allocations as provider -> resources.
    pub fn resources(&self) -> BTreeMap<Uuid, Resources> {
        self.allocations.iter().map(|(k, v)| (*k, v.resources.clone())).collect()
    }
}

/// `GET /resource_providers/{uuid}/allocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAllocations {
    pub resource_provider_generation: i64,
    pub allocations: BTreeMap<Uuid, ResourcesOf>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Usages {
    pub usages: Resources,
}

/// The body of `PUT /allocations/{consumer}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationWrite {
    pub allocations: BTreeMap<Uuid, Resources>,
    pub project_id: String,
    pub user_id: String,
    /// `None` for a consumer that does not exist yet.
    pub consumer_generation: Option<i64>,
    pub consumer_type: String,
}
