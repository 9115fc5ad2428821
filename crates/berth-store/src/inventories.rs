//! Inventories of a provider. Every change bumps the provider generation in
//! the same transaction, conditional on the generation the caller saw.

use berth_placement::model::Inventory;
use berth_placement::{codes, Error, Result};
use uuid::Uuid;

use crate::db::{map_db, Cols, Store, Tx};
use std::collections::HashMap;

use crate::db::placeholders;
use crate::providers::{bump_generation, bump_generation_by_uuid, no_such_provider, provider_ids, ProviderIds};
use crate::rows::inventory_from_row;

const INV_COLUMNS: &str = "resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio";

/// Inventories of one provider with their newest update time.
pub(crate) async fn provider_inventories(tx: &mut Tx, provider_id: i64) -> Result<(Vec<Inventory>, i64)> {
    let rows = sqlx::query(&format!(
        "SELECT {INV_COLUMNS}, updated_at FROM inventories WHERE provider_id = $1 \
         ORDER BY (SELECT rc.id FROM resource_classes rc WHERE rc.name = inventories.resource_class)"
    ))
    .bind(provider_id)
    .fetch_all(&mut **tx)
    .await
    .map_err(map_db)?;
    let mut last = 0;
    let mut invs = Vec::with_capacity(rows.len());
    for r in &rows {
        last = last.max(r.int(7)?);
        invs.push(inventory_from_row(r, 0)?);
    }
    Ok((invs, last))
}

async fn class_exists(tx: &mut Tx, name: &str) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM resource_classes WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_db)?
        .is_some())
}

/// Which of `classes` (non-empty) the provider has allocations of, in the
/// order given.
async fn classes_in_use(tx: &mut Tx, provider_id: i64, classes: &[String]) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT DISTINCT resource_class FROM allocations WHERE provider_id = $1 AND resource_class IN ({})",
        placeholders(2, classes.len())
    );
    let mut q = sqlx::query(&sql).bind(provider_id);
    for rc in classes {
        q = q.bind(rc.as_str());
    }
    let used: Vec<String> =
        q.fetch_all(&mut **tx).await.map_err(map_db)?.iter().map(|r| r.text(0)).collect::<Result<_>>()?;
    Ok(classes.iter().filter(|rc| used.contains(rc)).cloned().collect())
}

pub(crate) fn in_use_error(classes: &[String], rp: &Uuid) -> Error {
    Error::conflict(format!("Inventory for '{}' on resource provider '{rp}' in use.", classes.join(", ")))
        .with_code(codes::INVENTORY_INUSE)
}

async fn insert_inventory(tx: &mut Tx, provider_id: i64, inv: &Inventory, ts: i64) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO inventories (provider_id, {INV_COLUMNS}, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
    ))
    .bind(provider_id)
    .bind(&inv.resource_class)
    .bind(inv.total)
    .bind(inv.reserved)
    .bind(inv.min_unit)
    .bind(inv.max_unit)
    .bind(inv.step_size)
    .bind(inv.allocation_ratio)
    .bind(ts)
    .execute(&mut **tx)
    .await
    .map_err(map_db)?;
    Ok(())
}

async fn update_row(tx: &mut Tx, provider_id: i64, inv: &Inventory, ts: i64) -> Result<u64> {
    let res = sqlx::query(
        "UPDATE inventories SET total = $1, reserved = $2, min_unit = $3, max_unit = $4, step_size = $5, \
         allocation_ratio = $6, updated_at = $7 WHERE provider_id = $8 AND resource_class = $9",
    )
    .bind(inv.total)
    .bind(inv.reserved)
    .bind(inv.min_unit)
    .bind(inv.max_unit)
    .bind(inv.step_size)
    .bind(inv.allocation_ratio)
    .bind(ts)
    .bind(provider_id)
    .bind(&inv.resource_class)
    .execute(&mut **tx)
    .await
    .map_err(map_db)?;
    Ok(res.rows_affected())
}

/// Replace a provider's whole inventory inside an open transaction; used by
/// `PUT .../inventories` and the reshaper. Does not touch the generation.
/// Returns the inventories now stored, in resource-class id order (as
/// [`provider_inventories`] reads them). Four statements at most: classes
/// and current inventory, in-use check and delete (only when classes go
/// away), one upsert.
pub(crate) async fn replace_inventories(
    tx: &mut Tx,
    rp: &Uuid,
    ids: ProviderIds,
    invs: &[Inventory],
    ts: i64,
) -> Result<Vec<Inventory>> {
    // The provider's current classes (flag 1) and the ids of the requested
    // classes that exist (flag 0), with class ids for ordering.
    let mut sql = String::from(
        "SELECT CAST(1 AS BIGINT), i.resource_class, rc.id FROM inventories i \
         JOIN resource_classes rc ON rc.name = i.resource_class WHERE i.provider_id = $1",
    );
    if !invs.is_empty() {
        sql.push_str(&format!(
            " UNION ALL SELECT CAST(0 AS BIGINT), name, id FROM resource_classes WHERE name IN ({})",
            placeholders(2, invs.len())
        ));
    }
    let mut q = sqlx::query(&sql).bind(ids.id);
    for inv in invs {
        q = q.bind(inv.resource_class.as_str());
    }
    let mut existing: Vec<(i64, String)> = Vec::new();
    let mut class_ids: HashMap<String, i64> = HashMap::new();
    for r in q.fetch_all(&mut **tx).await.map_err(map_db)? {
        if r.int(0)? == 1 {
            existing.push((r.int(2)?, r.text(1)?));
        } else {
            class_ids.insert(r.text(1)?, r.int(2)?);
        }
    }
    if let Some(inv) = invs.iter().find(|i| !class_ids.contains_key(&i.resource_class)) {
        return Err(Error::bad_request(format!("No such resource class {}.", inv.resource_class)));
    }
    existing.sort();
    let to_delete: Vec<String> =
        existing.into_iter().map(|(_, rc)| rc).filter(|rc| !invs.iter().any(|i| i.resource_class == *rc)).collect();
    if !to_delete.is_empty() {
        let used = classes_in_use(tx, ids.id, &to_delete).await?;
        if !used.is_empty() {
            return Err(in_use_error(&used, rp));
        }
        let sql = format!(
            "DELETE FROM inventories WHERE provider_id = $1 AND resource_class IN ({})",
            placeholders(2, to_delete.len())
        );
        let mut q = sqlx::query(&sql).bind(ids.id);
        for rc in &to_delete {
            q = q.bind(rc.as_str());
        }
        q.execute(&mut **tx).await.map_err(map_db)?;
    }
    if !invs.is_empty() {
        let mut sql = format!("INSERT INTO inventories (provider_id, {INV_COLUMNS}, created_at, updated_at) VALUES ");
        for i in 0..invs.len() {
            let b = 3 + i * 7;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("($1, {}, $2, $2)", placeholders(b, 7)));
        }
        sql.push_str(
            " ON CONFLICT (provider_id, resource_class) DO UPDATE SET total = excluded.total, \
             reserved = excluded.reserved, min_unit = excluded.min_unit, max_unit = excluded.max_unit, \
             step_size = excluded.step_size, allocation_ratio = excluded.allocation_ratio, \
             updated_at = excluded.updated_at",
        );
        let mut q = sqlx::query(&sql).bind(ids.id).bind(ts);
        for inv in invs {
            q = q
                .bind(inv.resource_class.as_str())
                .bind(inv.total)
                .bind(inv.reserved)
                .bind(inv.min_unit)
                .bind(inv.max_unit)
                .bind(inv.step_size)
                .bind(inv.allocation_ratio);
        }
        q.execute(&mut **tx).await.map_err(map_db)?;
    }
    let mut stored = invs.to_vec();
    stored.sort_by_key(|i| class_ids.get(&i.resource_class).copied().unwrap_or(i64::MAX));
    Ok(stored)
}

impl Store {
    /// The provider's generation, its inventories and their last update time.
    pub async fn get_inventories(&self, rp: &Uuid) -> Result<Option<(i64, Vec<Inventory>, i64)>> {
        let mut tx = self.read().await?;
        let Some(ids) = provider_ids(&mut tx, rp).await? else { return Ok(None) };
        let (invs, last) = provider_inventories(&mut tx, ids.id).await?;
        tx.commit().await.map_err(map_db)?;
        Ok(Some((ids.generation, invs, last)))
    }

    /// Add one inventory (POST). Returns the new provider generation.
    pub async fn add_inventory(&self, rp: &Uuid, inv: &Inventory) -> Result<i64> {
        let mut w = self.write().await?;
        let ids = provider_ids(&mut w.tx, rp).await?.ok_or_else(|| no_such_provider(rp))?;
        if !class_exists(&mut w.tx, &inv.resource_class).await? {
            return Err(Error::bad_request(format!("No such resource class {}.", inv.resource_class)));
        }
        let (existing, _) = provider_inventories(&mut w.tx, ids.id).await?;
        if existing.iter().any(|e| e.resource_class == inv.resource_class) {
            return Err(Error::concurrent_update(format!(
                "Inventory for {} on resource provider {rp} already exists.",
                inv.resource_class
            )));
        }
        insert_inventory(&mut w.tx, ids.id, inv, berth_time::now()).await?;
        let gen = bump_generation(&mut w.tx, ids.id, ids.generation).await?;
        w.commit().await.map_err(map_db)?;
        Ok(gen)
    }

    /// Replace all inventories (PUT), conditional on `generation`.
    pub async fn set_inventories(&self, rp: &Uuid, generation: i64, invs: &[Inventory]) -> Result<i64> {
        Ok(self.put_inventories(rp, generation, invs).await?.0)
    }

    /// [`Store::set_inventories`], returning what `get_inventories` would
    /// read afterwards (new generation, inventories, last update time)
    /// without reading it back.
    pub async fn put_inventories(
        &self,
        rp: &Uuid,
        generation: i64,
        invs: &[Inventory],
    ) -> Result<(i64, Vec<Inventory>, i64)> {
        let mut w = self.write().await?;
        let ts = berth_time::now();
        let ids = bump_generation_by_uuid(&mut w.tx, rp, generation, ts).await?;
        let stored = replace_inventories(&mut w.tx, rp, ids, invs, ts).await?;
        w.commit().await.map_err(map_db)?;
        let last = if stored.is_empty() { 0 } else { ts };
        Ok((ids.generation, stored, last))
    }

    /// Update one existing inventory, conditional on `generation`.
    pub async fn update_inventory(&self, rp: &Uuid, generation: i64, inv: &Inventory) -> Result<i64> {
        let mut w = self.write().await?;
        let ids = provider_ids(&mut w.tx, rp).await?.ok_or_else(|| no_such_provider(rp))?;
        let gen = bump_generation(&mut w.tx, ids.id, generation).await?;
        if update_row(&mut w.tx, ids.id, inv, berth_time::now()).await? == 0 {
            return Err(Error::bad_request(format!("No inventory of class {} found.", inv.resource_class)));
        }
        w.commit().await.map_err(map_db)?;
        Ok(gen)
    }

    /// Delete one inventory; refused while allocations use it.
    pub async fn delete_inventory(&self, rp: &Uuid, class: &str) -> Result<()> {
        let mut w = self.write().await?;
        let ids = provider_ids(&mut w.tx, rp).await?.ok_or_else(|| no_such_provider(rp))?;
        bump_generation(&mut w.tx, ids.id, ids.generation).await?;
        let used = classes_in_use(&mut w.tx, ids.id, &[class.to_string()]).await?;
        if !used.is_empty() {
            return Err(in_use_error(&used, rp).with_code(codes::CONCURRENT_UPDATE));
        }
        let res = sqlx::query("DELETE FROM inventories WHERE provider_id = $1 AND resource_class = $2")
            .bind(ids.id)
            .bind(class)
            .execute(&mut *w.tx)
            .await
            .map_err(map_db)?;
        if res.rows_affected() == 0 {
            return Err(Error::not_found(format!("No inventory of class {class} found for delete")));
        }
        w.commit().await.map_err(map_db)
    }

    /// Delete every inventory of a provider (1.5+).
    pub async fn delete_all_inventories(&self, rp: &Uuid) -> Result<()> {
        let mut w = self.write().await?;
        let ids = provider_ids(&mut w.tx, rp).await?.ok_or_else(|| no_such_provider(rp))?;
        bump_generation(&mut w.tx, ids.id, ids.generation).await?;
        replace_inventories(&mut w.tx, rp, ids, &[], berth_time::now()).await?;
        w.commit().await.map_err(map_db)
    }
}
