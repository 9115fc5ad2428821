//! Allocations and consumers.
//!
//! One write path, [`Store::write_allocations`], serves `PUT /allocations/{c}`,
//! `POST /allocations` and the compute scheduler's claims. Lock order, the same
//! for every writer so PostgreSQL never deadlocks: consumer rows (sorted by
//! uuid), then provider rows (sorted by id). The capacity check runs after the
//! provider row locks are held, so it sees every committed allocation and no
//! concurrent writer can slip in between the check and the insert.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use berth_placement::model::{AllocationMap, Consumer, Inventory};
use berth_placement::{Error, Result};
use uuid::Uuid;

use crate::db::{map_db, placeholders, Cols, Store, Tx};
use crate::providers::provider_ids;

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

/// How a consumer generation conflict's detail begins.
const CONSUMER_CONFLICT: &str = "consumer generation conflict";

fn generation_conflict(expected: Option<i64>, actual: Option<i64>) -> Error {
    // Upstream's words: a consumer that does not exist yet is "expected
    // null"; a missing generation in the request is Python's None.
    let show = |g: Option<i64>, none: &str| g.map(|g| g.to_string()).unwrap_or_else(|| none.to_string());
    Error::concurrent_update(format!(
        "{CONSUMER_CONFLICT} - expected {} but got {}",
        show(actual, "null"),
        show(expected, "None")
    ))
}

impl Store {
    /// Atomically replace the allocations of every consumer in `writes`.
    pub async fn write_allocations(&self, writes: &[AllocationWrite]) -> Result<()> {
        let mut w = self.write().await?;
        w.tag(crate::db::USAGE_ONLY);
        self.write_allocations_tx(&mut w.tx, writes).await?;
        w.commit().await.map_err(map_db)
    }

    /// [`Store::write_allocations`] inside an open transaction.
    ///
    /// Round trips, whatever the number of classes: one to resolve every
    /// provider, one or two per consumer, one or two to lock the providers,
    /// one to read their inventories with usage, one (per 500 rows) to insert
    /// the allocations.
    pub(crate) async fn write_allocations_tx(&self, tx: &mut Tx, writes: &[AllocationWrite]) -> Result<()> {
        let ts = berth_time::now();
        let mut writes: Vec<&AllocationWrite> = writes.iter().collect();
        writes.sort_by_key(|a| a.consumer);

        // Providers are looked up by the statement that locks them (after
        // the consumers, per the lock order); an unknown provider is still a
        // 400 whatever else is wrong.
        let named: Vec<Uuid> = writes.iter().flat_map(|w| w.allocations.keys().copied()).collect();
        let unknown_provider = |providers: &BTreeMap<Uuid, i64>| {
            named
                .iter()
                .find(|u| !providers.contains_key(u))
                .map(|rp| Error::bad_request(format!("Allocation for resource provider '{rp}' that does not exist.")))
        };

        // Consumers, in uuid order: create missing ones, check and bump
        // generations (the INSERT or UPDATE takes the consumer's row lock).
        let mut to_lock: BTreeSet<Uuid> = named.iter().copied().collect();
        for wr in &writes {
            let created = match self.claim_consumer(tx, wr, ts).await {
                Ok(created) => created,
                // A generation conflict leaves the transaction usable: look
                // the providers up, since an unknown one is the answer.
                Err(e) if e.detail.starts_with(CONSUMER_CONFLICT) => {
                    let providers = provider_id_map(tx, &named).await?;
                    return Err(unknown_provider(&providers).unwrap_or(e));
                }
                Err(e) => return Err(e),
            };
            if created {
                // A consumer that did not exist holds no allocations.
                continue;
            }
            let key = wr.consumer.to_string();
            if wr.allocations.is_empty() {
                // Emptying a consumer touches the providers it held (their
                // generations advance), as upstream's zero-amount entries do.
                let held = sqlx::query(
                    "SELECT DISTINCT rp.uuid FROM allocations a \
                     JOIN resource_providers rp ON rp.id = a.provider_id WHERE a.consumer_uuid = $1",
                )
                .bind(&key)
                .fetch_all(&mut **tx)
                .await
                .map_err(map_db)?;
                for r in held {
                    to_lock.insert(r.uuid_at(0)?);
                }
            }
            sqlx::query("DELETE FROM allocations WHERE consumer_uuid = $1")
                .bind(&key)
                .execute(&mut **tx)
                .await
                .map_err(map_db)?;
        }

        // Lock providers in id order, then check capacity with the locks held.
        let to_lock: Vec<Uuid> = to_lock.into_iter().collect();
        let providers = lock_and_bump_all(tx, self.engine(), &to_lock).await?;
        if let Some(e) = unknown_provider(&providers) {
            return Err(e);
        }
        let mut ids: Vec<i64> = providers.values().copied().collect();
        ids.sort_unstable();
        let mut wanted: BTreeMap<(Uuid, &str), i64> = BTreeMap::new();
        for wr in &writes {
            for (rp, res) in &wr.allocations {
                for (rc, amount) in res {
                    *wanted.entry((*rp, rc.as_str())).or_default() += amount;
                }
            }
        }
        let held = inventories_with_usage(tx, &ids).await?;
        for wr in &writes {
            for (rp, res) in &wr.allocations {
                for (rc, amount) in res {
                    let slot = held.get(&(providers[rp], rc.clone()));
                    check_capacity(tx, *rp, slot, rc, *amount, wanted[&(*rp, rc.as_str())]).await?;
                }
            }
        }
        let mut rows: Vec<(i64, String, &str, i64)> = Vec::new();
        for wr in &writes {
            let consumer = wr.consumer.to_string();
            for (rp, res) in &wr.allocations {
                for (rc, amount) in res {
                    rows.push((providers[rp], consumer.clone(), rc.as_str(), *amount));
                }
            }
        }
        for chunk in rows.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO allocations (provider_id, consumer_uuid, resource_class, used, created_at, updated_at) \
                 VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 4;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${}, $1, $1)", b + 2, b + 3, b + 4, b + 5));
            }
            let mut q = sqlx::query(&sql).bind(ts);
            for (pid, consumer, rc, amount) in chunk {
                q = q.bind(*pid).bind(consumer.as_str()).bind(*rc).bind(*amount);
            }
            q.execute(&mut **tx).await.map_err(map_db)?;
        }
        for wr in &writes {
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

    /// Create or update the consumer of `wr`, checking its generation; the
    /// statement that writes the row takes its row lock. `Ok(true)` when this
    /// call created the consumer.
    async fn claim_consumer(&self, tx: &mut Tx, wr: &AllocationWrite, ts: i64) -> Result<bool> {
        let key = wr.consumer.to_string();
        let insert = || {
            sqlx::query(
                "INSERT INTO consumers (uuid, project_id, user_id, generation, consumer_type, created_at, updated_at) \
                 VALUES ($1, $2, $3, 1, $4, $5, $5) ON CONFLICT (uuid) DO NOTHING",
            )
            .bind(key.clone())
            .bind(wr.project_id.clone())
            .bind(wr.user_id.clone())
            .bind(wr.consumer_type.clone())
            .bind(ts)
        };
        let update = |generation: i64| {
            sqlx::query(
                "UPDATE consumers SET generation = generation + 1, project_id = $1, user_id = $2, \
                 consumer_type = COALESCE($3, consumer_type), updated_at = $4 \
                 WHERE uuid = $5 AND generation = $6",
            )
            .bind(wr.project_id.clone())
            .bind(wr.user_id.clone())
            .bind(wr.consumer_type.clone())
            .bind(ts)
            .bind(key.clone())
            .bind(generation)
        };
        match wr.consumer_generation {
            // Must not exist yet: insert straight away.
            Some(None) => {
                if insert().execute(&mut **tx).await.map_err(map_db)?.rows_affected() != 1 {
                    let actual = consumer_row(tx, None, &wr.consumer).await?.map(|c| c.generation).unwrap_or(0);
                    return Err(generation_conflict(None, Some(actual)));
                }
                Ok(true)
            }
            // Must exist with this generation: update conditionally.
            Some(Some(g)) => {
                if update(g).execute(&mut **tx).await.map_err(map_db)?.rows_affected() != 1 {
                    let actual = consumer_row(tx, None, &wr.consumer).await?.map(|c| c.generation);
                    return Err(generation_conflict(Some(g), actual));
                }
                Ok(false)
            }
            // No generation check (before 1.28).
            None => match consumer_row(tx, Some(self.engine()), &wr.consumer).await? {
                None => {
                    if insert().execute(&mut **tx).await.map_err(map_db)?.rows_affected() != 1 {
                        // Another writer created it between our read and insert.
                        return Err(generation_conflict(None, Some(0)));
                    }
                    Ok(true)
                }
                Some(c) => {
                    if update(c.generation).execute(&mut **tx).await.map_err(map_db)?.rows_affected() != 1 {
                        return Err(generation_conflict(Some(c.generation), None));
                    }
                    Ok(false)
                }
            },
        }
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
        w.tag(crate::db::USAGE_ONLY);
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

/// Internal ids of the named providers (unknown ones are left out), in one
/// query per 500 names.
async fn provider_id_map(tx: &mut Tx, uuids: &[Uuid]) -> Result<BTreeMap<Uuid, i64>> {
    let mut names: Vec<String> = uuids.iter().map(Uuid::to_string).collect();
    names.sort_unstable();
    names.dedup();
    let mut out = BTreeMap::new();
    for chunk in names.chunks(500) {
        let sql = format!("SELECT id, uuid FROM resource_providers WHERE uuid IN ({})", placeholders(1, chunk.len()));
        let mut q = sqlx::query(&sql);
        for n in chunk {
            q = q.bind(n.as_str());
        }
        for r in q.fetch_all(&mut **tx).await.map_err(map_db)? {
            out.insert(r.uuid_at(1)?, r.int(0)?);
        }
    }
    Ok(out)
}

/// Lock the providers named by `uuids` (distinct) in id order and bump
/// their generations, returning the ids of those that exist: one statement
/// for one provider; for more, a `SELECT ... ORDER BY id FOR UPDATE`
/// (PostgreSQL locks the rows in the sorted order, so the lock order holds)
/// and one `UPDATE` of all of them.
async fn lock_and_bump_all(tx: &mut Tx, engine: crate::Engine, uuids: &[Uuid]) -> Result<BTreeMap<Uuid, i64>> {
    let mut out = BTreeMap::new();
    match uuids {
        [] => {}
        [one] => {
            let row =
                sqlx::query("UPDATE resource_providers SET generation = generation + 1 WHERE uuid = $1 RETURNING id")
                    .bind(one.to_string())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(map_db)?;
            if let Some(r) = row {
                out.insert(*one, r.int(0)?);
            }
        }
        _ => {
            // One statement, so the whole set is locked in id order.
            let sql = format!(
                "SELECT id, uuid FROM resource_providers WHERE uuid IN ({}) ORDER BY id{}",
                placeholders(1, uuids.len()),
                engine.for_update()
            );
            let mut q = sqlx::query(&sql);
            for u in uuids {
                q = q.bind(u.to_string());
            }
            for r in q.fetch_all(&mut **tx).await.map_err(map_db)? {
                out.insert(r.uuid_at(1)?, r.int(0)?);
            }
            let mut ids: Vec<i64> = out.values().copied().collect();
            ids.sort_unstable();
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "UPDATE resource_providers SET generation = generation + 1 WHERE id IN ({})",
                    placeholders(1, chunk.len())
                );
                let mut q = sqlx::query(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut **tx).await.map_err(map_db)?;
            }
        }
    }
    Ok(out)
}

/// The inventories of the providers `ids` with what is allocated of each,
/// keyed by (provider id, class), in one query (the caller holds the
/// providers' row locks, so the usage is current).
async fn inventories_with_usage(tx: &mut Tx, ids: &[i64]) -> Result<HashMap<(i64, String), (Inventory, i64)>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT i.provider_id, i.resource_class, i.total, i.reserved, i.min_unit, i.max_unit, i.step_size, \
             i.allocation_ratio, (SELECT CAST(COALESCE(SUM(a.used), 0) AS BIGINT) FROM allocations a \
             WHERE a.provider_id = i.provider_id AND a.resource_class = i.resource_class) \
             FROM inventories i WHERE i.provider_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut **tx).await.map_err(map_db)? {
            let inv = crate::rows::inventory_from_row(&r, 1)?;
            out.insert((r.int(0)?, inv.resource_class.clone()), (inv, r.int(8)?));
        }
    }
    Ok(out)
}

/// Check that `amount` of `rc` fits on the provider (`slot`: its inventory
/// of `rc` and what is allocated of it), given that `total_new` of it is
/// being allocated in this transaction (the consumers' previous allocations
/// are already deleted).
async fn check_capacity(
    tx: &mut Tx,
    rp: Uuid,
    slot: Option<&(Inventory, i64)>,
    rc: &str,
    amount: i64,
    total_new: i64,
) -> Result<()> {
    let Some((inv, used)) = slot else {
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
    if !inv.amount_respects_units(amount) {
        return Err(Error::conflict(format!(
            "Unable to allocate inventory: Unable to create allocation for '{rc}' on resource provider '{rp}'. \
             The requested amount would violate inventory constraints."
        )));
    }
    if used + total_new > inv.capacity() {
        return Err(Error::conflict(format!(
            "Unable to allocate inventory: Unable to create allocation for '{rc}' on resource provider '{rp}'. \
             The requested amount would exceed the capacity."
        )));
    }
    Ok(())
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
            crate::inventories::replace_inventories(&mut w.tx, rp, pid, &interim, berth_time::now()).await?;
            ids.push((*rp, pid));
        }
        self.write_allocations_tx(&mut w.tx, writes).await?;
        for ((rp, pid), (_, _, invs)) in ids.iter().zip(inventories) {
            crate::inventories::replace_inventories(&mut w.tx, rp, *pid, invs, berth_time::now()).await?;
            // Generations advance as upstream's three steps do: interim
            // inventory (only when non-empty), allocations, final inventory.
            if !invs.is_empty() {
                crate::providers::lock_and_bump(&mut w.tx, pid.id).await?;
            }
        }
        w.commit().await.map_err(map_db)
    }
}
