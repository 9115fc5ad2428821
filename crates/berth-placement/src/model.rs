//! Plain domain records shared by storage and the APIs. They are not wire
//! types: the HTTP layer builds each microversion's JSON from them.

use std::collections::BTreeMap;
use uuid::Uuid;

/// Seconds since the Unix epoch (UTC). Storage keeps timestamps this way so
/// both engines agree and `last-modified` is a plain max().
pub type Timestamp = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceProvider {
    pub uuid: Uuid,
    pub name: String,
    pub generation: i64,
    pub parent_uuid: Option<Uuid>,
    pub root_uuid: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One inventory record of a provider, for one resource class.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub resource_class: String,
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
}

/// Largest integer an inventory or allocation field may hold (upstream's
/// schemas bound them to the signed 32-bit range).
pub const MAX_INT: i64 = 0x7FFF_FFFF;

impl Inventory {
    /// Defaults for omitted fields, as upstream applies them.
    pub fn with_defaults(resource_class: String, total: i64) -> Self {
        Inventory {
            resource_class,
            total,
            reserved: 0,
            min_unit: 1,
            max_unit: MAX_INT,
            step_size: 1,
            allocation_ratio: 1.0,
        }
    }

    /// What can be allocated in total: `(total - reserved) * allocation_ratio`,
    /// truncated to an integer as upstream's SQL does.
    pub fn capacity(&self) -> i64 {
        (((self.total - self.reserved) as f64) * self.allocation_ratio) as i64
    }

    /// Whether an allocation of `amount` respects min_unit, max_unit and
    /// step_size (capacity is checked separately against usage).
    pub fn amount_respects_units(&self, amount: i64) -> bool {
        amount >= self.min_unit && amount <= self.max_unit && (self.step_size <= 0 || amount % self.step_size == 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub uuid: Uuid,
    pub project_id: String,
    pub user_id: String,
    pub generation: i64,
    pub consumer_type: Option<String>,
}

/// The allocations one consumer holds, by provider and resource class.
pub type AllocationMap = BTreeMap<Uuid, BTreeMap<String, i64>>;

/// What is used of each resource class (usages routes).
pub type Usages = BTreeMap<String, i64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_truncates_like_upstream() {
        let mut inv = Inventory::with_defaults("VCPU".into(), 10);
        inv.reserved = 2;
        inv.allocation_ratio = 1.5;
        assert_eq!(inv.capacity(), 12);
        inv.allocation_ratio = 0.33;
        assert_eq!(inv.capacity(), 2);
    }

    #[test]
    fn units() {
        let mut inv = Inventory::with_defaults("DISK_GB".into(), 2048);
        inv.min_unit = 10;
        inv.max_unit = 1000;
        inv.step_size = 10;
        assert!(inv.amount_respects_units(10));
        assert!(inv.amount_respects_units(1000));
        assert!(!inv.amount_respects_units(5));
        assert!(!inv.amount_respects_units(1010));
        assert!(!inv.amount_respects_units(15));
    }
}
