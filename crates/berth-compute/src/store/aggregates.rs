//! Host aggregates (`os-aggregates`) and their hosts. A host's
//! availability zone is the zone of an aggregate it is in, else the zone
//! its service registered with (see `services.rs`).

use super::*;
use crate::infra_model::{Aggregate, AZ_KEY};

const COLS: &str = "id, uuid, name, metadata, created_at, updated_at";

fn aggregate(r: &AnyRow, hosts: Vec<String>) -> Result<Aggregate> {
    Ok(Aggregate {
        id: get_i64(r, "id")?,
        uuid: get_uuid(r, "uuid")?,
        name: get_str(r, "name")?,
        metadata: get_json(r, "metadata")?,
        hosts,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_opt_i64(r, "updated_at")?,
    })
}

fn name_taken(name: &str) -> ComputeError {
    ComputeError::conflict(format!("Aggregate {name} already exists."))
}

/// The aggregates, and the hosts with live instances, as a write
/// transaction holding the aggregate lock reads them: what a zone check
/// decides on, so that no other change can slip between a check and its
/// write (two hosts-to-zone changes that each pass alone, but not together).
#[derive(Debug, Clone, Default)]
pub struct AggregateView {
    pub aggregates: Vec<Aggregate>,
    /// Live instances per host (hosts without any are absent).
    pub instances_on: BTreeMap<String, i64>,
}

impl AggregateView {
    pub fn get(&self, id: i64) -> Option<&Aggregate> {
        self.aggregates.iter().find(|a| a.id == id)
    }

    pub fn live_on(&self, host: &str) -> i64 {
        self.instances_on.get(host).copied().unwrap_or(0)
    }
}

/// The PostgreSQL advisory lock every checked aggregate change takes
/// ("berthagg"); on SQLite the writer lock serialises them already.
const AGGREGATE_LOCK: i64 = 0x6265_7274_6861_6767;

/// Take the aggregate lock and read the view inside `tx`.
async fn locked_view(tx: &mut Tx, engine: Engine) -> Result<AggregateView> {
    if engine == Engine::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(AGGREGATE_LOCK).execute(&mut **tx).await?;
    }
    let mut hosts: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for r in
        sqlx::query("SELECT aggregate_id, host FROM compute_aggregate_hosts ORDER BY host").fetch_all(&mut **tx).await?
    {
        hosts.entry(get_i64(&r, "aggregate_id")?).or_default().push(get_str(&r, "host")?);
    }
    let rows = sqlx::query(&format!("SELECT {COLS} FROM compute_aggregates ORDER BY id")).fetch_all(&mut **tx).await?;
    let aggregates = rows
        .iter()
        .map(|r| aggregate(r, hosts.remove(&get_i64(r, "id")?).unwrap_or_default()))
        .collect::<Result<_>>()?;
    let mut instances_on = BTreeMap::new();
    for r in sqlx::query(
        "SELECT host, CAST(COUNT(*) AS BIGINT) AS n FROM compute_instances \
         WHERE deleted = 0 AND host IS NOT NULL GROUP BY host",
    )
    .fetch_all(&mut **tx)
    .await?
    {
        instances_on.insert(get_str(&r, "host")?, get_i64(&r, "n")?);
    }
    Ok(AggregateView { aggregates, instances_on })
}

impl Db {
    async fn aggregate_hosts(&self) -> Result<BTreeMap<i64, Vec<String>>> {
        let rows = sqlx::query("SELECT aggregate_id, host FROM compute_aggregate_hosts ORDER BY host")
            .fetch_all(&self.pool)
            .await?;
        let mut m: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for r in &rows {
            m.entry(get_i64(r, "aggregate_id")?).or_default().push(get_str(r, "host")?);
        }
        Ok(m)
    }

    /// Every aggregate, by id, with its hosts.
    pub async fn list_aggregates(&self) -> Result<Vec<Aggregate>> {
        let rows =
            sqlx::query(&format!("SELECT {COLS} FROM compute_aggregates ORDER BY id")).fetch_all(&self.pool).await?;
        let mut hosts = self.aggregate_hosts().await?;
        rows.iter().map(|r| aggregate(r, hosts.remove(&get_i64(r, "id")?).unwrap_or_default())).collect()
    }

    pub async fn get_aggregate(&self, id: i64) -> Result<Option<Aggregate>> {
        let Some(row) = sqlx::query(&format!("SELECT {COLS} FROM compute_aggregates WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let hosts = sqlx::query("SELECT host FROM compute_aggregate_hosts WHERE aggregate_id = $1 ORDER BY host")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| get_str(r, "host"))
            .collect::<Result<Vec<_>>>()?;
        aggregate(&row, hosts).map(Some)
    }

    /// Create an aggregate ([`ErrorKind::Conflict`] when the name is taken).
    pub async fn create_aggregate(&self, name: &str, metadata: &BTreeMap<String, String>) -> Result<Aggregate> {
        let mut w = self.write().await?;
        let taken = sqlx::query("SELECT id FROM compute_aggregates WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *w.tx)
            .await?;
        if taken.is_some() {
            return Err(name_taken(name));
        }
        let meta = serde_json::to_string(metadata).map_err(|e| ComputeError::internal(e.to_string()))?;
        let row = sqlx::query(&format!(
            "INSERT INTO compute_aggregates (uuid, name, metadata, availability_zone, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLS}"
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(name)
        .bind(meta)
        .bind(metadata.get(AZ_KEY).cloned())
        .bind(now_us())
        .fetch_one(&mut *w.tx)
        .await
        .map_err(|e| match ComputeError::from(e) {
            e if e.kind == ErrorKind::Conflict => name_taken(name),
            e => e,
        })?;
        let a = aggregate(&row, Vec::new())?;
        w.commit().await?;
        Ok(a)
    }

    /// Change an aggregate's name and metadata: `edit` gets the view a
    /// locked write transaction reads (see [`AggregateView`]) and answers
    /// the aggregate to save, or refuses. [`ErrorKind::Conflict`] when
    /// another aggregate has the new name.
    pub async fn edit_aggregate(&self, edit: impl FnOnce(&AggregateView) -> Result<Aggregate>) -> Result<Aggregate> {
        let mut w = self.write().await?;
        let view = locked_view(&mut w.tx, self.engine).await?;
        let a = edit(&view)?;
        if view.aggregates.iter().any(|o| o.id != a.id && o.name == a.name) {
            return Err(name_taken(&a.name));
        }
        let meta = serde_json::to_string(&a.metadata).map_err(|e| ComputeError::internal(e.to_string()))?;
        let n = sqlx::query(
            "UPDATE compute_aggregates SET name = $1, metadata = $2, availability_zone = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(&a.name)
        .bind(meta)
        .bind(a.metadata.get(AZ_KEY).cloned())
        .bind(now_us())
        .bind(a.id)
        .execute(&mut *w.tx)
        .await
        .map_err(|e| match ComputeError::from(e) {
            e if e.kind == ErrorKind::Conflict => name_taken(&a.name),
            e => e,
        })?
        .rows_affected();
        if n == 0 {
            return Err(ComputeError::not_found(format!("Aggregate {} could not be found.", a.id)));
        }
        w.commit().await?;
        self.hosts_changed();
        Ok(a)
    }

    /// Delete an aggregate (and its host list); `false` when there was none.
    pub async fn delete_aggregate(&self, id: i64) -> Result<bool> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM compute_aggregate_hosts WHERE aggregate_id = $1").bind(id).execute(&mut *w.tx).await?;
        let n = sqlx::query("DELETE FROM compute_aggregates WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
        w.commit().await?;
        self.hosts_changed();
        Ok(n.rows_affected() > 0)
    }

    /// Add `host` to aggregate `id` if `check` (given the locked view, see
    /// [`AggregateView`]) allows it; `check`'s answer is returned.
    pub async fn add_aggregate_host<T>(
        &self,
        id: i64,
        host: &str,
        check: impl FnOnce(&AggregateView) -> Result<T>,
    ) -> Result<T> {
        self.change_aggregate_host(true, id, host, check).await
    }

    /// Remove `host` from aggregate `id` if `check` (given the locked view)
    /// allows it; `check`'s answer is returned.
    pub async fn remove_aggregate_host<T>(
        &self,
        id: i64,
        host: &str,
        check: impl FnOnce(&AggregateView) -> Result<T>,
    ) -> Result<T> {
        self.change_aggregate_host(false, id, host, check).await
    }

    /// Add (`add`) or remove `host` once `check` passed on the locked view,
    /// and touch the aggregate.
    async fn change_aggregate_host<T>(
        &self,
        add: bool,
        id: i64,
        host: &str,
        check: impl FnOnce(&AggregateView) -> Result<T>,
    ) -> Result<T> {
        let mut w = self.write().await?;
        let view = locked_view(&mut w.tx, self.engine).await?;
        let out = check(&view)?;
        let now = now_us();
        let change = if add {
            sqlx::query("INSERT INTO compute_aggregate_hosts (aggregate_id, host, created_at) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(host)
                .bind(now)
        } else {
            sqlx::query("DELETE FROM compute_aggregate_hosts WHERE aggregate_id = $1 AND host = $2").bind(id).bind(host)
        };
        change.execute(&mut *w.tx).await?;
        sqlx::query("UPDATE compute_aggregates SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        self.hosts_changed();
        Ok(out)
    }

    /// The uuids of the aggregates `host` is in (one indexed query: every
    /// agent asks on its full resource updates).
    pub async fn aggregate_uuids_of_host(&self, host: &str) -> Result<Vec<Uuid>> {
        let rows = sqlx::query(
            "SELECT a.uuid FROM compute_aggregates a JOIN compute_aggregate_hosts h ON h.aggregate_id = a.id \
             WHERE h.host = $1 ORDER BY a.id",
        )
        .bind(host)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| get_uuid(r, "uuid")).collect()
    }

    /// The uuids of the aggregates whose zone is `az`.
    pub async fn aggregates_in_az(&self, az: &str) -> Result<Vec<Uuid>> {
        let rows = sqlx::query("SELECT uuid FROM compute_aggregates WHERE availability_zone = $1 ORDER BY id")
            .bind(az)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| get_uuid(r, "uuid")).collect()
    }
}
