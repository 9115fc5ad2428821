//! Resource providers: create, read, update (incl. re-parenting), delete, list.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use berth_placement::model::{Inventory, ResourceProvider};
use berth_placement::{codes, Error, Result};
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{map_db, Cols, Store, Tx};
use berth_db::{DbError, DbErrorKind};

const SELECT_PROVIDER: &str = "SELECT rp.id, rp.uuid, rp.name, rp.generation, parent.uuid, root.uuid, \
     rp.created_at, rp.updated_at FROM resource_providers rp \
     LEFT JOIN resource_providers parent ON rp.parent_id = parent.id \
     LEFT JOIN resource_providers root ON rp.root_id = root.id";

fn provider_from_row(row: &AnyRow) -> Result<(i64, ResourceProvider)> {
    let uuid = row.uuid_at(1)?;
    Ok((
        row.int(0)?,
        ResourceProvider {
            uuid,
            name: row.text(2)?,
            generation: row.int(3)?,
            parent_uuid: row.opt_uuid_at(4)?,
            // A provider whose root_id is not set yet is its own root.
            root_uuid: row.opt_uuid_at(5)?.unwrap_or(uuid),
            created_at: row.int(6)?,
            updated_at: row.int(7)?,
        },
    ))
}

/// Internal ids of a provider, looked up inside a transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProviderIds {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub root_id: i64,
    pub generation: i64,
}

pub(crate) async fn provider_ids(tx: &mut Tx, uuid: &Uuid) -> Result<Option<ProviderIds>> {
    let row = sqlx::query("SELECT id, parent_id, root_id, generation FROM resource_providers WHERE uuid = $1")
        .bind(uuid.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_db)?;
    row.map(|r| ids_from_row(&r)).transpose()
}

pub(crate) fn no_such_provider(uuid: &Uuid) -> Error {
    Error::not_found(format!("No resource provider with uuid {uuid} found"))
}

/// Bump a provider's generation if it still is `expected`; the UPDATE takes
/// the row lock, so concurrent writers of the same provider serialize here.
pub(crate) async fn bump_generation(tx: &mut Tx, id: i64, expected: i64) -> Result<i64> {
    let res = sqlx::query(
        "UPDATE resource_providers SET generation = generation + 1, updated_at = $3 \
         WHERE id = $1 AND generation = $2",
    )
    .bind(id)
    .bind(expected)
    .bind(berth_time::now())
    .execute(&mut **tx)
    .await
    .map_err(map_db)?;
    if res.rows_affected() != 1 {
        return Err(Error::concurrent_update(GENERATION_CONFLICT));
    }
    Ok(expected + 1)
}

/// The detail of the error for a stale provider generation.
pub const GENERATION_CONFLICT: &str = "resource provider generation conflict";

/// Bump the generation of the provider `uuid` if it still is `expected`
/// (taking its row lock, as [`bump_generation`]) in one statement, and
/// return its ids with the new generation. A provider that does not exist
/// is a 404, a stale generation a 409 (`placement.concurrent_update`).
pub(crate) async fn bump_generation_by_uuid(tx: &mut Tx, uuid: &Uuid, expected: i64, ts: i64) -> Result<ProviderIds> {
    Ok(bump_generation_holding(tx, uuid, expected, ts, None).await?.0)
}

/// [`bump_generation_by_uuid`] that also counts, in the same statement, the
/// provider's rows in `table` (a table with a `provider_id` column), so a
/// replace can skip deleting what is not there.
pub(crate) async fn bump_generation_holding(
    tx: &mut Tx,
    uuid: &Uuid,
    expected: i64,
    ts: i64,
    table: Option<&str>,
) -> Result<(ProviderIds, i64)> {
    let sql = format!(
        "UPDATE resource_providers SET generation = generation + 1, updated_at = $3 \
         WHERE uuid = $1 AND generation = $2 RETURNING id, parent_id, root_id, generation, {}",
        holding_count(table)
    );
    let row = sqlx::query(&sql).bind(uuid.to_string()).bind(expected).bind(ts).fetch_optional(&mut **tx).await;
    match row.map_err(map_db)? {
        Some(r) => Ok((ids_from_row(&r)?, r.int(4)?)),
        None => match provider_ids(tx, uuid).await? {
            None => Err(no_such_provider(uuid)),
            Some(_) => Err(Error::concurrent_update(GENERATION_CONFLICT)),
        },
    }
}

/// A `RETURNING` column of an UPDATE of `resource_providers`: how many rows
/// of `table` the provider has (0 without a table).
pub(crate) fn holding_count(table: Option<&str>) -> String {
    match table {
        Some(t) => format!("(SELECT CAST(COUNT(*) AS BIGINT) FROM {t} h WHERE h.provider_id = resource_providers.id)"),
        None => "CAST(0 AS BIGINT)".to_string(),
    }
}

pub(crate) fn ids_from_row(r: &AnyRow) -> Result<ProviderIds> {
    let id = r.int(0)?;
    Ok(ProviderIds {
        id,
        parent_id: r.opt_int(1)?,
        // A provider whose root_id is not set yet is its own root.
        root_id: r.opt_int(2)?.unwrap_or(id),
        generation: r.int(3)?,
    })
}

/// Lock a provider row and bump its generation unconditionally, returning the
/// new generation. Used by writes that do not carry a provider generation
/// (allocations), which must still serialize with other writers.
pub(crate) async fn lock_and_bump(tx: &mut Tx, id: i64) -> Result<i64> {
    let row =
        sqlx::query("UPDATE resource_providers SET generation = generation + 1 WHERE id = $1 RETURNING generation")
            .bind(id)
            .fetch_one(&mut **tx)
            .await
            .map_err(map_db)?;
    row.int(0)
}

/// Filters of `GET /resource_providers`.
#[derive(Debug, Default, Clone)]
pub struct ProviderFilter {
    pub uuid: Option<Uuid>,
    pub name: Option<String>,
    /// Each inner set: the provider must be in at least one of them.
    pub member_of: Vec<BTreeSet<Uuid>>,
    pub forbidden_aggregates: BTreeSet<Uuid>,
    pub in_tree: Option<Uuid>,
    /// Each inner set: the provider must have at least one of the traits.
    pub required_traits: Vec<BTreeSet<String>>,
    pub forbidden_traits: BTreeSet<String>,
    pub resources: BTreeMap<String, i64>,
}

#[derive(Debug, Default, Clone)]
pub struct ProviderUpdate {
    pub name: Option<String>,
    /// `Some(None)`: un-parent; `Some(Some(u))`: set parent.
    pub parent: Option<Option<Uuid>>,
    pub allow_reparenting: bool,
}

impl Store {
    pub async fn create_provider(&self, uuid: Uuid, name: &str, parent: Option<Uuid>) -> Result<ResourceProvider> {
        if parent == Some(uuid) {
            return Err(Error::bad_request(
                "Object action create failed because: parent provider UUID cannot be same as UUID. \
                 Please set parent provider UUID to None if there is no parent.",
            ));
        }
        // One statement (autocommit on PostgreSQL): a root provider's
        // root_id is set to its id by the insert trigger; a child takes its
        // parent's id and root from the parent's row, and returns the root's
        // uuid.
        let ts = berth_time::now();
        let mut w = self.db.write_single().await.map_err(map_db)?;
        let inserted = match parent {
            None => sqlx::query(
                "INSERT INTO resource_providers (uuid, name, generation, parent_id, root_id, created_at, updated_at) \
                 VALUES ($1, $2, 0, NULL, NULL, $3, $3) RETURNING uuid",
            )
            .bind(uuid.to_string())
            .bind(name)
            .bind(ts)
            .fetch_optional(w.conn())
            .await,
            Some(p) => sqlx::query(
                "INSERT INTO resource_providers (uuid, name, generation, parent_id, root_id, created_at, updated_at) \
                 SELECT $1, $2, 0, p.id, p.root_id, $3, $3 FROM resource_providers p WHERE p.uuid = $4 \
                 RETURNING (SELECT r.uuid FROM resource_providers r WHERE r.id = resource_providers.root_id)",
            )
            .bind(uuid.to_string())
            .bind(name)
            .bind(ts)
            .bind(p.to_string())
            .fetch_optional(w.conn())
            .await,
        };
        let root = match inserted {
            Ok(Some(row)) => row.opt_uuid_at(0)?.unwrap_or(uuid),
            Ok(None) => {
                return Err(Error::bad_request(
                    "Object action create failed because: parent provider UUID does not exist.",
                ))
            }
            Err(e) => {
                let e = DbError::from(e);
                if e.kind() != DbErrorKind::UniqueViolation {
                    return Err(map_db(e));
                }
                // The failed statement ended the transaction on PostgreSQL:
                // say which of uuid and name clash from a fresh read.
                drop(w);
                return Err(self.duplicate_provider(&uuid, name).await);
            }
        };
        w.commit().await.map_err(map_db)?;
        Ok(ResourceProvider {
            uuid,
            name: name.to_string(),
            generation: 0,
            parent_uuid: parent,
            root_uuid: root,
            created_at: ts,
            updated_at: ts,
        })
    }

    /// The conflict for a provider whose uuid or name exists, worded as
    /// upstream does: uuid first, then name.
    async fn duplicate_provider(&self, uuid: &Uuid, name: &str) -> Error {
        let existing = match sqlx::query("SELECT uuid, name FROM resource_providers WHERE uuid = $1 OR name = $2")
            .bind(uuid.to_string())
            .bind(name)
            .fetch_all(self.db.pool())
            .await
        {
            Ok(rows) => rows,
            Err(e) => return map_db(e),
        };
        let mut dups = Vec::new();
        let key = uuid.to_string();
        let texts: Vec<(String, String)> =
            existing.iter().filter_map(|r| Some((r.text(0).ok()?, r.text(1).ok()?))).collect();
        if texts.iter().any(|(u, _)| *u == key) {
            dups.push(format!("uuid: {uuid}"));
        }
        if texts.iter().any(|(_, n)| n == name) {
            dups.push(format!("name: {name}"));
        }
        if dups.is_empty() {
            // Gone again since: report the name, as a unique clash on it would.
            dups.push(format!("name: {name}"));
        }
        duplicate(&dups.join(", "))
    }

    pub async fn get_provider(&self, uuid: &Uuid) -> Result<Option<ResourceProvider>> {
        let sql = format!("{SELECT_PROVIDER} WHERE rp.uuid = $1");
        let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(self.db.pool()).await.map_err(map_db)?;
        row.map(|r| provider_from_row(&r).map(|p| p.1)).transpose()
    }

    pub async fn update_provider(&self, uuid: &Uuid, update: ProviderUpdate) -> Result<ResourceProvider> {
        let mut w = self.write().await?;
        let me = provider_ids(&mut w.tx, uuid).await?.ok_or_else(|| no_such_provider(uuid))?;
        let ts = berth_time::now();
        if let Some(name) = &update.name {
            let clash = sqlx::query("SELECT 1 FROM resource_providers WHERE name = $1 AND id <> $2")
                .bind(name)
                .bind(me.id)
                .fetch_optional(&mut *w.tx)
                .await
                .map_err(map_db)?;
            if clash.is_some() {
                return Err(Error::conflict(format!("Conflicting resource provider {name} already exists."))
                    .with_code(codes::DUPLICATE_NAME));
            }
            sqlx::query("UPDATE resource_providers SET name = $1, updated_at = $2 WHERE id = $3")
                .bind(name)
                .bind(ts)
                .bind(me.id)
                .execute(&mut *w.tx)
                .await
                .map_err(map_db)?;
        }
        if let Some(new_parent) = update.parent {
            let fail = |reason: &str| Error::bad_request(format!("Object action update failed because: {reason}"));
            let (new_parent_id, new_root_id) = match new_parent {
                Some(p) => {
                    let pids = provider_ids(&mut w.tx, &p).await?.ok_or_else(|| {
                        Error::bad_request("Object action create failed because: parent provider UUID does not exist.")
                    })?;
                    if me.parent_id.is_some() && me.parent_id != Some(pids.id) && !update.allow_reparenting {
                        return Err(fail("re-parenting a provider is not currently allowed."));
                    }
                    let subtree = subtree_ids(&mut w.tx, me.id).await?;
                    if subtree.contains(&pids.id) {
                        return Err(fail("creating loop in the provider tree is not allowed."));
                    }
                    (Some(pids.id), pids.root_id)
                }
                None => {
                    if me.parent_id.is_some() && !update.allow_reparenting {
                        return Err(fail("un-parenting a provider is not currently allowed."));
                    }
                    (None, me.id)
                }
            };
            if new_parent_id != me.parent_id {
                for id in subtree_ids(&mut w.tx, me.id).await? {
                    sqlx::query("UPDATE resource_providers SET root_id = $1 WHERE id = $2")
                        .bind(new_root_id)
                        .bind(id)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(map_db)?;
                }
                sqlx::query("UPDATE resource_providers SET parent_id = $1, updated_at = $2 WHERE id = $3")
                    .bind(new_parent_id)
                    .bind(ts)
                    .bind(me.id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(map_db)?;
            }
        }
        let rp = get_provider_tx(&mut w.tx, uuid).await?.ok_or_else(|| no_such_provider(uuid))?;
        w.commit().await.map_err(map_db)?;
        Ok(rp)
    }

    pub async fn delete_provider(&self, uuid: &Uuid) -> Result<()> {
        let mut w = self.write().await?;
        let me = provider_ids(&mut w.tx, uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("No resource provider with uuid {uuid} found for delete")))?;
        let q = format!("SELECT id FROM resource_providers WHERE id = $1{}", self.engine().for_update());
        sqlx::query(&q).bind(me.id).fetch_optional(&mut *w.tx).await.map_err(map_db)?;
        // Children first, then allocations (upstream's order).
        let child = sqlx::query("SELECT 1 FROM resource_providers WHERE parent_id = $1 LIMIT 1")
            .bind(me.id)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(map_db)?;
        if child.is_some() {
            return Err(Error::conflict(format!(
                "Unable to delete parent resource provider {uuid}: It has child resource providers."
            ))
            .with_code(codes::PROVIDER_CANNOT_DELETE_PARENT));
        }
        let used = sqlx::query("SELECT 1 FROM allocations WHERE provider_id = $1 LIMIT 1")
            .bind(me.id)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(map_db)?;
        if used.is_some() {
            return Err(Error::conflict(format!(
                "Unable to delete resource provider {uuid}: Resource provider has allocations."
            ))
            .with_code(codes::PROVIDER_IN_USE));
        }
        for table in ["inventories", "provider_traits", "provider_aggregates"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE provider_id = $1"))
                .bind(me.id)
                .execute(&mut *w.tx)
                .await
                .map_err(map_db)?;
        }
        sqlx::query("DELETE FROM resource_providers WHERE id = $1")
            .bind(me.id)
            .execute(&mut *w.tx)
            .await
            .map_err(map_db)?;
        w.commit().await.map_err(map_db)
    }

    /// List providers matching every filter, ordered by internal id.
    pub async fn list_providers(&self, f: &ProviderFilter) -> Result<Vec<ResourceProvider>> {
        let mut tx = self.read().await?;
        let mut sql = String::from(SELECT_PROVIDER);
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if let Some(u) = &f.uuid {
            binds.push(u.to_string());
            conds.push(format!("rp.uuid = ${}", binds.len()));
        }
        if let Some(n) = &f.name {
            binds.push(n.clone());
            conds.push(format!("rp.name = ${}", binds.len()));
        }
        if let Some(t) = &f.in_tree {
            binds.push(t.to_string());
            conds.push(format!("rp.root_id = (SELECT root_id FROM resource_providers WHERE uuid = ${})", binds.len()));
        }
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        sql.push_str(" ORDER BY rp.id");
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        let rows = q.fetch_all(&mut *tx).await.map_err(map_db)?;
        let mut out: Vec<(i64, ResourceProvider)> = rows.iter().map(provider_from_row).collect::<Result<_>>()?;

        if !f.member_of.is_empty() || !f.forbidden_aggregates.is_empty() {
            let aggs = load_aggregates(&mut tx).await?;
            let empty = BTreeSet::new();
            out.retain(|(id, _)| {
                let mine = aggs.get(id).unwrap_or(&empty);
                f.member_of.iter().all(|any| any.iter().any(|a| mine.contains(a)))
                    && !f.forbidden_aggregates.iter().any(|a| mine.contains(a))
            });
        }
        if !f.required_traits.is_empty() || !f.forbidden_traits.is_empty() {
            let traits = load_traits(&mut tx).await?;
            let empty = Vec::new();
            out.retain(|(id, _)| {
                let mine = traits.get(id).unwrap_or(&empty);
                f.required_traits.iter().all(|any| any.iter().any(|t| mine.contains(t)))
                    && !f.forbidden_traits.iter().any(|t| mine.contains(t))
            });
        }
        if !f.resources.is_empty() {
            let invs = load_inventories(&mut tx).await?;
            let usage = load_usages(&mut tx).await?;
            out.retain(|(id, _)| {
                f.resources.iter().all(|(rc, amount)| {
                    let Some(inv) = invs.get(&(*id, rc.clone())) else { return false };
                    let used = usage.get(&(*id, rc.clone())).copied().unwrap_or(0);
                    inv.amount_respects_units(*amount) && used + amount <= inv.capacity()
                })
            });
        }
        tx.commit().await.map_err(map_db)?;
        Ok(out.into_iter().map(|(_, rp)| rp).collect())
    }
}

fn duplicate(what: &str) -> Error {
    Error::conflict(format!("Conflicting resource provider {what} already exists.")).with_code(codes::DUPLICATE_NAME)
}

pub(crate) async fn get_provider_tx(tx: &mut Tx, uuid: &Uuid) -> Result<Option<ResourceProvider>> {
    let sql = format!("{SELECT_PROVIDER} WHERE rp.uuid = $1");
    let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&mut **tx).await.map_err(map_db)?;
    row.map(|r| provider_from_row(&r).map(|p| p.1)).transpose()
}

/// The provider and all its descendants.
async fn subtree_ids(tx: &mut Tx, id: i64) -> Result<HashSet<i64>> {
    let root = sqlx::query("SELECT root_id FROM resource_providers WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await
        .map_err(map_db)?;
    let root_id = root.opt_int(0)?.unwrap_or(id);
    let rows = sqlx::query("SELECT id, parent_id FROM resource_providers WHERE root_id = $1")
        .bind(root_id)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_db)?;
    let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in &rows {
        if let Some(p) = r.opt_int(1)? {
            children.entry(p).or_default().push(r.int(0)?);
        }
    }
    let mut out = HashSet::new();
    let mut stack = vec![id];
    while let Some(n) = stack.pop() {
        if out.insert(n) {
            stack.extend(children.get(&n).into_iter().flatten().copied());
        }
    }
    Ok(out)
}

pub(crate) async fn load_aggregates(tx: &mut Tx) -> Result<HashMap<i64, BTreeSet<Uuid>>> {
    let rows = sqlx::query(
        "SELECT pa.provider_id, a.uuid FROM provider_aggregates pa JOIN aggregates a ON a.id = pa.aggregate_id",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(map_db)?;
    let mut m: HashMap<i64, BTreeSet<Uuid>> = HashMap::new();
    for r in rows {
        m.entry(r.int(0)?).or_default().insert(r.uuid_at(1)?);
    }
    Ok(m)
}

/// Trait names per provider, in ascending trait id (upstream's summary order).
pub(crate) async fn load_traits(tx: &mut Tx) -> Result<HashMap<i64, Vec<String>>> {
    let rows = sqlx::query(
        "SELECT pt.provider_id, t.name FROM provider_traits pt JOIN traits t ON t.id = pt.trait_id ORDER BY t.id",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(map_db)?;
    let mut m: HashMap<i64, Vec<String>> = HashMap::new();
    for r in rows {
        m.entry(r.int(0)?).or_default().push(r.text(1)?);
    }
    Ok(m)
}

pub(crate) async fn load_inventories(tx: &mut Tx) -> Result<HashMap<(i64, String), Inventory>> {
    let rows = sqlx::query(
        "SELECT provider_id, resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio FROM inventories",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(map_db)?;
    rows.iter()
        .map(|r| {
            let inv = crate::rows::inventory_from_row(r, 1)?;
            Ok(((r.int(0)?, inv.resource_class.clone()), inv))
        })
        .collect()
}

pub(crate) async fn load_usages(tx: &mut Tx) -> Result<HashMap<(i64, String), i64>> {
    let rows = sqlx::query(
        "SELECT provider_id, resource_class, CAST(SUM(used) AS BIGINT) FROM allocations GROUP BY provider_id, resource_class",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(map_db)?;
    rows.iter().map(|r| Ok(((r.int(0)?, r.text(1)?), r.int(2)?))).collect()
}

/// Everything the allocation-candidates engine needs, read in one transaction:
/// providers in id order with traits, aggregates, inventories and usage, plus
/// every trait and resource class name that exists.
pub struct CandidateData {
    pub providers: Vec<berth_placement::candidates::ProviderData>,
    pub traits: Vec<String>,
    pub resource_classes: Vec<String>,
}

impl Store {
    /// Usage of every (provider, class) with allocations, by provider uuid:
    /// what changes when only allocations do (see
    /// `berth_placement::candidates::Snapshot::with_usages`).
    pub async fn usages_by_provider(&self) -> Result<Vec<(Uuid, String, i64)>> {
        let rows = sqlx::query(
            "SELECT rp.uuid, a.resource_class, CAST(SUM(a.used) AS BIGINT) FROM allocations a \
             JOIN resource_providers rp ON rp.id = a.provider_id GROUP BY rp.uuid, a.resource_class",
        )
        .fetch_all(self.db.pool())
        .await
        .map_err(map_db)?;
        rows.iter().map(|r| Ok((r.uuid_at(0)?, r.text(1)?, r.int(2)?))).collect()
    }

    pub async fn candidate_data(&self) -> Result<CandidateData> {
        use berth_placement::candidates::{InventoryData, ProviderData};
        let mut tx = self.read().await?;
        let rows =
            sqlx::query(&format!("{SELECT_PROVIDER} ORDER BY rp.id")).fetch_all(&mut *tx).await.map_err(map_db)?;
        let mut aggs = load_aggregates(&mut tx).await?;
        let mut traits = load_traits(&mut tx).await?;
        let invs = load_inventories(&mut tx).await?;
        let usage = load_usages(&mut tx).await?;
        let all_traits: Vec<String> = sqlx::query("SELECT name FROM traits")
            .fetch_all(&mut *tx)
            .await
            .map_err(map_db)?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<_>>()?;
        let classes: Vec<String> = sqlx::query("SELECT name FROM resource_classes ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .map_err(map_db)?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<_>>()?;
        tx.commit().await.map_err(map_db)?;
        let mut by_provider: HashMap<i64, Vec<InventoryData>> = HashMap::new();
        for ((pid, rc), inv) in invs {
            let used = usage.get(&(pid, rc.clone())).copied().unwrap_or(0);
            by_provider.entry(pid).or_default().push(InventoryData {
                resource_class: rc,
                total: inv.total,
                reserved: inv.reserved,
                min_unit: inv.min_unit,
                max_unit: inv.max_unit,
                step_size: inv.step_size,
                allocation_ratio: inv.allocation_ratio,
                used,
            });
        }
        let class_pos: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let providers = rows
            .iter()
            .map(|r| {
                let (id, rp) = provider_from_row(r)?;
                let mut inventories = by_provider.remove(&id).unwrap_or_default();
                inventories.sort_by_key(|i| class_pos.get(i.resource_class.as_str()).copied().unwrap_or(usize::MAX));
                Ok(ProviderData {
                    uuid: rp.uuid,
                    name: rp.name,
                    generation: rp.generation,
                    parent_uuid: rp.parent_uuid,
                    traits: traits.remove(&id).unwrap_or_default(),
                    aggregates: aggs.remove(&id).map(|a| a.into_iter().collect()).unwrap_or_default(),
                    inventories,
                })
            })
            .collect::<Result<_>>()?;
        Ok(CandidateData { providers, traits: all_traits, resource_classes: classes })
    }
}
