//! Allocations and consumers.
//!
//! One write path, [`Store::write_allocations`], serves `PUT /allocations/{c}`,
//! `POST /allocations` and the compute scheduler's claims. Lock order, the same
//! for every writer so PostgreSQL never deadlocks: consumer rows (sorted by
//! uuid), then provider rows (sorted by id). The capacity check runs after the
//! provider row locks are held, so it sees every committed allocation and no
//! concurrent writer can slip in between the check and the insert.

use std::collections::BTreeMap;

use berth_placement::model::{AllocationMap, Consumer};
use berth_placement::{Error, Result};
use uuid::Uuid;

use crate::db::{map_db, Cols, Store, Tx};
use crate::providers::{lock_and_bump, provider_ids};

/// Replace one consumer's allocations.
#[derive(Debug, Clone)]
pub struct AllocationWrite {
    pub consumer: Uuid,
    pub project_id: String,
    pub user_id: String,
    /// `None`: no generation check (before 1.28). `Some(None)`: the consumer
    /// must not exist yet. `Some(Some(g))`: it must exist with generation g.
    pub consumer_generation: Option<Option<i64>>,
    pub consumer_type: Option<String>,
    pub allocations: AllocationMap,
}

/// One allocation of a consumer on a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAllocation {
    pub provider: Uuid,
    pub provider_generation: i64,
    pub resources: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerAllocations {
    pub consumer: Consumer,
    pub allocations: Vec<ProviderAllocation>,
    pub updated_at: i64,
}

/// A consumer row; with `lock` its row lock is taken (PostgreSQL) for the
/// rest of the transaction.
async fn consumer_row(tx: &mut Tx, lock: Option<crate::Engine>, uuid: &Uuid) -> Result<Option<Consumer>> {
    let q = format!(
        "SELECT uuid, project_id, user_id, generation, consumer_type FROM consumers WHERE uuid = $1{}",
        lock.map(crate::Engine::for_update).unwrap_or("")
    );
    let row = sqlx::query(&q).bind(uuid.to_string()).fetch_optional(&mut **tx).await.map_err(map_db)?;
    row.map(|r| {
        Ok(Consumer {
            uuid: r.uuid_at(0)?,
            project_id: r.text(1)?,
            user_id: r.text(2)?,
            generation: r.int(3)?,
            consumer_type: r.opt_text(4)?,
        })
    })
    .transpose()
}

fn generation_conflict(expected: Option<i64>, actual: Option<i64>) -> Error {
    // Upstream's words: a consumer that does not exist yet is "expected
    // null"; a missing generation in the request is Python's None.
    let show = |g: Option<i64>, none: &str| g.map(|g| g.to_string()).unwrap_or_else(|| none.to_string());
    Error::concurrent_update(format!(
        "consumer generation conflict - expected {} but got {}",
        show(actual, "null"),
        show(expected, "None")
    ))
}

impl Store {
    /// Atomically replace the allocations of every consumer in `writes`.
    pub async fn write_allocations(&self, writes: &[AllocationWrite]) -> Result<()> {
        let mut w = self.write().await?;
        self.write_allocations_tx(&mut w.tx, writes).await?;
        w.commit().await.map_err(map_db)
    }

    /// [`Store::write_allocations`] inside an open transaction.
    pub(crate) async fn write_allocations_tx(&self, tx: &mut Tx, writes: &[AllocationWrite]) -> Result<()> {
        let ts = berth_time::now();
        let mut writes: Vec<&AllocationWrite> = writes.iter().collect();
        writes.sort_by_key(|a| a.consumer);

        // Resolve providers first: an unknown provider is a 400 whatever else.
        let mut providers: BTreeMap<Uuid, i64> = BTreeMap::new();
        for wr in &writes {
            for rp in wr.allocations.keys() {
                if providers.contains_key(rp) {
                    continue;
                }
                match provider_ids(tx, rp).await? {
                    Some(ids) => {
                        providers.insert(*rp, ids.id);
                    }
                    None => {
                        return Err(Error::bad_request(format!(
                            "Allocation for resource provider '{rp}' that does not exist."
                        )))
                    }
                }
            }
        }

        // Consumers: create missing ones, check and bump generations.
        for wr in &writes {
            let key = wr.consumer.to_string();
            let existing = consumer_row(tx, Some(self.engine()), &wr.consumer).await?;
            match (&existing, wr.consumer_generation) {
                (None, Some(Some(g))) => return Err(generation_conflict(Some(g), None)),
                (Some(c), Some(None)) => return Err(generation_conflict(None, Some(c.generation))),
                (Some(c), Some(Some(g))) if c.generation != g => {
                    return Err(generation_conflict(Some(g), Some(c.generation)))
                }
                _ => {}
            }
            match existing {
                None => {
                    let res = sqlx::query(
                        "INSERT INTO consumers (uuid, project_id, user_id, generation, consumer_type, created_at, updated_at) \
                         VALUES ($1, $2, $3, 1, $4, $5, $5) ON CONFLICT (uuid) DO NOTHING",
                    )
                    .bind(&key)
                    .bind(&wr.project_id)
                    .bind(&wr.user_id)
                    .bind(wr.consumer_type.clone())
                    .bind(ts)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_db)?;
                    if res.rows_affected() != 1 {
                        // Another writer created it between our read and insert.
                        return Err(generation_conflict(None, Some(0)));
                    }
                }
                Some(c) => {
                    let res = sqlx::query(
                        "UPDATE consumers SET generation = generation + 1, project_id = $1, user_id = $2, \
                         consumer_type = COALESCE($3, consumer_type), updated_at = $4 \
                         WHERE uuid = $5 AND generation = $6",
                    )
                    .bind(&wr.project_id)
                    .bind(&wr.user_id)
                    .bind(wr.consumer_type.clone())
                    .bind(ts)
                    .bind(&key)
                    .bind(c.generation)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_db)?;
                    if res.rows_affected() != 1 {
                        return Err(generation_conflict(Some(c.generation), None));
                    }
                }
            }
            if wr.allocations.is_empty() {
                // Emptying a consumer touches the providers it held (their
                // generations advance), as upstream's zero-amount entries do.
                let held = sqlx::query(
                    "SELECT DISTINCT a.provider_id, rp.uuid FROM allocations a \
                     JOIN resource_providers rp ON rp.id = a.provider_id WHERE a.consumer_uuid = $1",
                )
                .bind(&key)
                .fetch_all(&mut **tx)
                .await
                .map_err(map_db)?;
                for r in held {
                    providers.entry(r.uuid_at(1)?).or_insert(r.int(0)?);
                }
            }
            sqlx::query("DELETE FROM allocations WHERE consumer_uuid = $1")
                .bind(&key)
                .execute(&mut **tx)
                .await
                .map_err(map_db)?;
        }

        // Lock providers in id order, then check capacity with the locks held.
        let mut by_id: Vec<(i64, Uuid)> = providers.iter().map(|(u, id)| (*id, *u)).collect();
        by_id.sort();
        for (id, _) in &by_id {
            lock_and_bump(tx, *id).await?;
        }
        let mut wanted: BTreeMap<(Uuid, String), i64> = BTreeMap::new();
        for wr in &writes {
            for (rp, res) in &wr.allocations {
                for (rc, amount) in res {
                    *wanted.entry((*rp, rc.clone())).or_default() += amount;
                }
            }
        }
        for wr in &writes {
            for (rp, res) in &wr.allocations {
                for (rc, amount) in res {
                    self.check_capacity(tx, *rp, providers[rp], rc, *amount, wanted[&(*rp, rc.clone())]).await?;
                }
            }
        }
        for wr in &writes {
            for (rp, res) in &wr.allocations {
                for (rc, amount) in res {
                    sqlx::query(
                        "INSERT INTO allocations (provider_id, consumer_uuid, resource_class, used, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(providers[rp])
                    .bind(wr.consumer.to_string())
                    .bind(rc)
                    .bind(*amount)
                    .bind(ts)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_db)?;
                }
            }
            if wr.allocations.values().all(|r| r.is_empty()) {
                sqlx::query("DELETE FROM consumers WHERE uuid = $1")
                    .bind(wr.consumer.to_string())
                    .execute(&mut **tx)
                    .await
                    .map_err(map_db)?;
            }
        }
        Ok(())
    }

    /// Check that `amount` of `rc` fits on the provider, given that `total_new`
    /// of it is being allocated in this transaction (the consumers' previous
    /// allocations are already deleted).
    async fn check_capacity(
        &self,
        tx: &mut Tx,
        rp: Uuid,
        provider_id: i64,
        rc: &str,
        amount: i64,
        total_new: i64,
    ) -> Result<()> {
        let inv = sqlx::query(
            "SELECT resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio \
             FROM inventories WHERE provider_id = $1 AND resource_class = $2",
        )
        .bind(provider_id)
        .bind(rc)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_db)?;
        let Some(inv) = inv else {
            let known = sqlx::query("SELECT 1 FROM resource_classes WHERE name = $1")
                .bind(rc)
                .fetch_optional(&mut **tx)
                .await
                .map_err(map_db)?;
            if known.is_none() {
                return Err(Error::not_found(format!("No such resource class {rc}.")));
            }
            return Err(Error::conflict(format!(
                "Unable to allocate inventory: Inventory for '{rc}' on resource provider '{rp}' invalid."
            )));
        };
        let inv = crate::rows::inventory_from_row(&inv, 0)?;
        if !inv.amount_respects_units(amount) {
            return Err(Error::conflict(format!(
                "Unable to allocate inventory: Unable to create allocation for '{rc}' on resource provider '{rp}'. \
                 The requested amount would violate inventory constraints."
            )));
        }
        let used = sqlx::query(
            "SELECT CAST(COALESCE(SUM(used), 0) AS BIGINT) FROM allocations WHERE provider_id = $1 AND resource_class = $2",
        )
        .bind(provider_id)
        .bind(rc)
        .fetch_one(&mut **tx)
        .await
        .map_err(map_db)?;
        let used = used.int(0)?;
        if used + total_new > inv.capacity() {
            return Err(Error::conflict(format!(
                "Unable to allocate inventory: Unable to create allocation for '{rc}' on resource provider '{rp}'. \
                 The requested amount would exceed the capacity."
            )));
        }
        Ok(())
    }

    /// A consumer and its allocations, or `None` when it holds nothing.
    pub async fn get_consumer_allocations(&self, consumer: &Uuid) -> Result<Option<ConsumerAllocations>> {
        let mut tx = self.read().await?;
        let c = consumer_row(&mut tx, None, consumer).await?;
        let Some(c) = c else { return Ok(None) };
        let rows = sqlx::query(
            "SELECT rp.uuid, rp.generation, a.resource_class, a.used, a.updated_at FROM allocations a \
             JOIN resource_providers rp ON rp.id = a.provider_id WHERE a.consumer_uuid = $1 ORDER BY rp.id, a.resource_class",
        )
        .bind(consumer.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_db)?;
        tx.commit().await.map_err(map_db)?;
        let mut allocations: Vec<ProviderAllocation> = Vec::new();
        let mut updated_at = 0;
        for r in rows {
            let rp = r.uuid_at(0)?;
            updated_at = updated_at.max(r.int(4)?);
            if allocations.last().is_none_or(|a| a.provider != rp) {
                allocations.push(ProviderAllocation {
                    provider: rp,
                    provider_generation: r.int(1)?,
                    resources: BTreeMap::new(),
                });
            }
            if let Some(a) = allocations.last_mut() {
                a.resources.insert(r.text(2)?, r.int(3)?);
            }
        }
        Ok(Some(ConsumerAllocations { consumer: c, allocations, updated_at }))
    }

    /// Delete every allocation of a consumer and the consumer. `Ok(false)` when
    /// it had none.
    pub async fn delete_consumer_allocations(&self, consumer: &Uuid) -> Result<bool> {
        let mut w = self.write().await?;
        let key = consumer.to_string();
        let res = sqlx::query("DELETE FROM allocations WHERE consumer_uuid = $1")
            .bind(&key)
            .execute(&mut *w.tx)
            .await
            .map_err(map_db)?;
        sqlx::query("DELETE FROM consumers WHERE uuid = $1").bind(&key).execute(&mut *w.tx).await.map_err(map_db)?;
        w.commit().await.map_err(map_db)?;
        Ok(res.rows_affected() > 0)
    }

    /// Allocations against one provider: generation and consumer -> class -> used.
    #[allow(clippy::type_complexity)]
    pub async fn get_provider_allocations(
        &self,
        rp: &Uuid,
    ) -> Result<Option<(i64, BTreeMap<Uuid, BTreeMap<String, i64>>, i64)>> {
        let mut tx = self.read().await?;
        let Some(ids) = provider_ids(&mut tx, rp).await? else { return Ok(None) };
        let rows = sqlx::query(
            "SELECT consumer_uuid, resource_class, used, updated_at FROM allocations WHERE provider_id = $1",
        )
        .bind(ids.id)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_db)?;
        tx.commit().await.map_err(map_db)?;
        let mut out: BTreeMap<Uuid, BTreeMap<String, i64>> = BTreeMap::new();
        let mut last = 0;
        for r in rows {
            last = last.max(r.int(3)?);
            *out.entry(r.uuid_at(0)?).or_default().entry(r.text(1)?).or_default() += r.int(2)?;
        }
        Ok(Some((ids.generation, out, last)))
    }
}

impl Store {
    /// Move inventories and allocations in one transaction (`POST /reshaper`).
    /// Each provider's inventory is first extended with the new records (so
    /// allocations can move onto them), then the allocations are replaced,
    /// then each inventory is cut down to exactly the new records.
    pub async fn reshape(
        &self,
        inventories: &[(Uuid, i64, Vec<berth_placement::model::Inventory>)],
        writes: &[AllocationWrite],
    ) -> Result<()> {
        let mut w = self.write().await?;
        let mut ids = Vec::new();
        for (rp, generation, invs) in inventories {
            let pid = provider_ids(&mut w.tx, rp).await?.ok_or_else(|| crate::providers::no_such_provider(rp))?;
            crate::providers::bump_generation(&mut w.tx, pid.id, *generation).await.map_err(|_| {
                Error::concurrent_update(format!(
                    "resource provider generation conflict for provider {rp}: given: {generation}"
                ))
            })?;
            let (mut interim, _) = crate::inventories::provider_inventories(&mut w.tx, pid.id).await?;
            for inv in invs {
                match interim.iter_mut().find(|i| i.resource_class == inv.resource_class) {
                    Some(slot) => *slot = inv.clone(),
                    None => interim.push(inv.clone()),
                }
            }
            crate::inventories::replace_inventories(&mut w.tx, rp, pid, &interim).await?;
            ids.push((*rp, pid));
        }
        self.write_allocations_tx(&mut w.tx, writes).await?;
        for ((rp, pid), (_, _, invs)) in ids.iter().zip(inventories) {
            crate::inventories::replace_inventories(&mut w.tx, rp, *pid, invs).await?;
            // Generations advance as upstream's three steps do: interim
            // inventory (only when non-empty), allocations, final inventory.
            if !invs.is_empty() {
                crate::providers::lock_and_bump(&mut w.tx, pid.id).await?;
            }
        }
        w.commit().await.map_err(map_db)
    }
}
