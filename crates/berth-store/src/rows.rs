//! Records decoded from rows that several aggregates read (strictly: a
//! column that does not decode is an error).

use berth_placement::model::Inventory;
use berth_placement::Result;
use sqlx::any::AnyRow;

use crate::db::Cols;

/// An inventory from `resource_class, total, reserved, min_unit, max_unit,
/// step_size, allocation_ratio` starting at column `o`.
pub(crate) fn inventory_from_row(r: &AnyRow, o: usize) -> Result<Inventory> {
    Ok(Inventory {
        resource_class: r.text(o)?,
        total: r.int(o + 1)?,
        reserved: r.int(o + 2)?,
        min_unit: r.int(o + 3)?,
        max_unit: r.int(o + 4)?,
        step_size: r.int(o + 5)?,
        allocation_ratio: r.real(o + 6)?,
    })
}
