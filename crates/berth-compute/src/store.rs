//! All SQL of the compute service: flavors, instances, faults, services,
//! compute nodes, the work queue, the Placement outbox, availability zones,
//! quotas and migrations.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{
    db_err, get_bool, get_f64, get_i64, get_opt_i64, get_opt_str, get_str, is_unique_violation, now_ms, Db, Engine, Tx,
};
use crate::error::{ComputeError, Result};
use crate::model::*;

fn parse_uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_default()
}

fn opt_uuid(s: Option<String>) -> Option<Uuid> {
    s.and_then(|s| Uuid::parse_str(&s).ok())
}

fn b(v: bool) -> i64 {
    v as i64
}

// ------------------------------------------------------------------ flavors

const FLAVOR_COLS: &str =
    "id, flavorid, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, description";

fn flavor_from_row(r: &AnyRow) -> Flavor {
    Flavor {
        internal_id: get_i64(r, "id"),
        flavorid: get_str(r, "flavorid"),
        name: get_str(r, "name"),
        vcpus: get_i64(r, "vcpus"),
        memory_mb: get_i64(r, "memory_mb"),
        root_gb: get_i64(r, "root_gb"),
        ephemeral_gb: get_i64(r, "ephemeral_gb"),
        swap: get_i64(r, "swap"),
        rxtx_factor: get_f64(r, "rxtx_factor"),
        is_public: get_bool(r, "is_public"),
        disabled: get_bool(r, "disabled"),
        description: get_opt_str(r, "description"),
        extra_specs: BTreeMap::new(),
    }
}

impl Db {
    pub async fn insert_flavor(&self, f: &Flavor) -> Result<Flavor> {
        let mut w = self.write().await?;
        let exists = |col: &str| format!("SELECT 1 FROM compute_flavors WHERE {col} = $1");
        if sqlx::query(&exists("flavorid"))
            .bind(&f.flavorid)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(db_err)?
            .is_some()
        {
            return Err(ComputeError::conflict(format!("Flavor with ID {} already exists.", f.flavorid)));
        }
        if sqlx::query(&exists("name")).bind(&f.name).fetch_optional(&mut *w.tx).await.map_err(db_err)?.is_some() {
            return Err(ComputeError::conflict(format!("Flavor with name {} already exists.", f.name)));
        }
        let res = sqlx::query(
            "INSERT INTO compute_flavors (flavorid, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, description, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&f.flavorid)
        .bind(&f.name)
        .bind(f.vcpus)
        .bind(f.memory_mb)
        .bind(f.root_gb)
        .bind(f.ephemeral_gb)
        .bind(f.swap)
        .bind(f.rxtx_factor)
        .bind(b(f.is_public))
        .bind(b(f.disabled))
        .bind(f.description.clone())
        .bind(now_ms())
        .execute(&mut *w.tx)
        .await;
        if let Err(e) = res {
            return Err(if is_unique_violation(&e) {
                ComputeError::conflict(format!("Flavor with name {} already exists.", f.name))
            } else {
                db_err(e)
            });
        }
        let row = sqlx::query(&format!("SELECT {FLAVOR_COLS} FROM compute_flavors WHERE flavorid = $1"))
            .bind(&f.flavorid)
            .fetch_one(&mut *w.tx)
            .await
            .map_err(db_err)?;
        let mut out = flavor_from_row(&row);
        for (k, v) in &f.extra_specs {
            sqlx::query("INSERT INTO compute_flavor_extra_specs (flavor_id, spec_key, spec_value) VALUES ($1, $2, $3)")
                .bind(out.internal_id)
                .bind(k)
                .bind(v)
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
        }
        out.extra_specs = f.extra_specs.clone();
        w.commit().await?;
        Ok(out)
    }

    pub async fn get_flavor(&self, flavorid: &str) -> Result<Option<Flavor>> {
        let row = sqlx::query(&format!("SELECT {FLAVOR_COLS} FROM compute_flavors WHERE flavorid = $1"))
            .bind(flavorid)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let mut f = flavor_from_row(&row);
        f.extra_specs = self.extra_specs(f.internal_id).await?;
        Ok(Some(f))
    }

    pub async fn extra_specs(&self, internal_id: i64) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query("SELECT spec_key, spec_value FROM compute_flavor_extra_specs WHERE flavor_id = $1")
            .bind(internal_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| (get_str(r, "spec_key"), get_str(r, "spec_value"))).collect())
    }

    /// Every flavor with its extra specs, ordered by internal id.
    pub async fn list_flavors(&self) -> Result<Vec<Flavor>> {
        let rows = sqlx::query(&format!("SELECT {FLAVOR_COLS} FROM compute_flavors ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut flavors: Vec<Flavor> = rows.iter().map(flavor_from_row).collect();
        let specs = sqlx::query("SELECT flavor_id, spec_key, spec_value FROM compute_flavor_extra_specs")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut by_id: BTreeMap<i64, BTreeMap<String, String>> = BTreeMap::new();
        for r in &specs {
            by_id.entry(get_i64(r, "flavor_id")).or_default().insert(get_str(r, "spec_key"), get_str(r, "spec_value"));
        }
        for f in &mut flavors {
            if let Some(s) = by_id.remove(&f.internal_id) {
                f.extra_specs = s;
            }
        }
        Ok(flavors)
    }

    pub async fn update_flavor_description(&self, internal_id: i64, description: Option<&str>) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("UPDATE compute_flavors SET description = $1, updated_at = $2 WHERE id = $3")
            .bind(description.map(str::to_string))
            .bind(now_ms())
            .bind(internal_id)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await
    }

    pub async fn delete_flavor(&self, internal_id: i64) -> Result<bool> {
        let mut w = self.write().await?;
        for t in ["compute_flavor_extra_specs", "compute_flavor_projects"] {
            sqlx::query(&format!("DELETE FROM {t} WHERE flavor_id = $1"))
                .bind(internal_id)
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
        }
        let n = sqlx::query("DELETE FROM compute_flavors WHERE id = $1")
            .bind(internal_id)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    /// Add or replace extra specs.
    pub async fn set_extra_specs(&self, internal_id: i64, specs: &BTreeMap<String, String>) -> Result<()> {
        let mut w = self.write().await?;
        for (k, v) in specs {
            sqlx::query("DELETE FROM compute_flavor_extra_specs WHERE flavor_id = $1 AND spec_key = $2")
                .bind(internal_id)
                .bind(k)
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
            sqlx::query("INSERT INTO compute_flavor_extra_specs (flavor_id, spec_key, spec_value) VALUES ($1, $2, $3)")
                .bind(internal_id)
                .bind(k)
                .bind(v)
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
        }
        w.commit().await
    }

    pub async fn delete_extra_spec(&self, internal_id: i64, key: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM compute_flavor_extra_specs WHERE flavor_id = $1 AND spec_key = $2")
            .bind(internal_id)
            .bind(key)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    pub async fn flavor_projects(&self, internal_id: i64) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT project_id FROM compute_flavor_projects WHERE flavor_id = $1 ORDER BY project_id")
                .bind(internal_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(rows.iter().map(|r| get_str(r, "project_id")).collect())
    }

    /// `false` when the project already had access.
    pub async fn add_flavor_project(&self, internal_id: i64, project: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let exists = sqlx::query("SELECT 1 FROM compute_flavor_projects WHERE flavor_id = $1 AND project_id = $2")
            .bind(internal_id)
            .bind(project)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(db_err)?
            .is_some();
        if exists {
            return Ok(false);
        }
        sqlx::query("INSERT INTO compute_flavor_projects (flavor_id, project_id) VALUES ($1, $2)")
            .bind(internal_id)
            .bind(project)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await?;
        Ok(true)
    }

    pub async fn remove_flavor_project(&self, internal_id: i64, project: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM compute_flavor_projects WHERE flavor_id = $1 AND project_id = $2")
            .bind(internal_id)
            .bind(project)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    /// Flavor internal ids a project has been granted.
    pub async fn flavors_of_project(&self, project: &str) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT flavor_id FROM compute_flavor_projects WHERE project_id = $1")
            .bind(project)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| get_i64(r, "flavor_id")).collect())
    }
}

// ---------------------------------------------------------------- instances

const INSTANCE_COLS: &str = "id, uuid, display_name, hostname, description, project_id, user_id, image_ref, flavor, vm_state, task_state, power_state, host, node, node_uuid, availability_zone, requested_az, metadata, key_name, access_ip_v4, access_ip_v6, locked, reservation_id, launch_index, launched_at, terminated_at, created_at, updated_at, deleted_at, deleted";

fn instance_from_row(r: &AnyRow) -> Instance {
    Instance {
        id: get_i64(r, "id"),
        uuid: parse_uuid(&get_str(r, "uuid")),
        display_name: get_str(r, "display_name"),
        hostname: get_opt_str(r, "hostname"),
        description: get_opt_str(r, "description"),
        project_id: get_str(r, "project_id"),
        user_id: get_str(r, "user_id"),
        image_ref: get_str(r, "image_ref"),
        flavor: serde_json::from_str(&get_str(r, "flavor")).unwrap_or_else(|_| Flavor {
            internal_id: 0,
            flavorid: String::new(),
            name: String::new(),
            vcpus: 0,
            memory_mb: 0,
            root_gb: 0,
            ephemeral_gb: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: true,
            disabled: false,
            description: None,
            extra_specs: BTreeMap::new(),
        }),
        vm_state: get_str(r, "vm_state"),
        task_state: get_opt_str(r, "task_state"),
        power_state: get_i64(r, "power_state"),
        host: get_opt_str(r, "host"),
        node: get_opt_str(r, "node"),
        node_uuid: opt_uuid(get_opt_str(r, "node_uuid")),
        availability_zone: get_opt_str(r, "availability_zone"),
        requested_az: get_opt_str(r, "requested_az"),
        metadata: serde_json::from_str(&get_str(r, "metadata")).unwrap_or_default(),
        key_name: get_opt_str(r, "key_name"),
        access_ip_v4: get_opt_str(r, "access_ip_v4"),
        access_ip_v6: get_opt_str(r, "access_ip_v6"),
        locked: get_bool(r, "locked"),
        reservation_id: get_str(r, "reservation_id"),
        launch_index: get_i64(r, "launch_index"),
        launched_at: get_opt_i64(r, "launched_at"),
        terminated_at: get_opt_i64(r, "terminated_at"),
        created_at: get_i64(r, "created_at"),
        updated_at: get_opt_i64(r, "updated_at"),
        deleted_at: get_opt_i64(r, "deleted_at"),
        deleted: get_bool(r, "deleted"),
    }
}

/// Which instances to list (further filters apply in memory).
#[derive(Debug, Clone, Default)]
pub struct InstanceQuery {
    pub project_id: Option<String>,
    pub host: Option<String>,
    pub include_deleted: bool,
}

impl Db {
    pub async fn insert_instance(&self, i: &Instance) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO compute_instances (uuid, display_name, hostname, description, project_id, user_id, image_ref, flavor, vm_state, task_state, power_state, \
             host, node, node_uuid, availability_zone, requested_az, metadata, key_name, access_ip_v4, access_ip_v6, locked, reservation_id, launch_index, created_at, updated_at, deleted) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $24, 0)",
        )
        .bind(i.uuid.to_string())
        .bind(&i.display_name)
        .bind(i.hostname.clone())
        .bind(i.description.clone())
        .bind(&i.project_id)
        .bind(&i.user_id)
        .bind(&i.image_ref)
        .bind(serde_json::to_string(&i.flavor).unwrap_or_default())
        .bind(&i.vm_state)
        .bind(i.task_state.clone())
        .bind(i.power_state)
        .bind(i.host.clone())
        .bind(i.node.clone())
        .bind(i.node_uuid.map(|u| u.to_string()))
        .bind(i.availability_zone.clone())
        .bind(i.requested_az.clone())
        .bind(serde_json::to_string(&i.metadata).unwrap_or_else(|_| "{}".into()))
        .bind(i.key_name.clone())
        .bind(i.access_ip_v4.clone())
        .bind(i.access_ip_v6.clone())
        .bind(b(i.locked))
        .bind(&i.reservation_id)
        .bind(i.launch_index)
        .bind(i.created_at)
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.commit().await
    }

    pub async fn get_instance(&self, uuid: Uuid) -> Result<Option<Instance>> {
        let row = sqlx::query(&format!("SELECT {INSTANCE_COLS} FROM compute_instances WHERE uuid = $1"))
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(instance_from_row))
    }

    /// Instances, newest first.
    pub async fn list_instances(&self, q: &InstanceQuery) -> Result<Vec<Instance>> {
        let mut sql = format!("SELECT {INSTANCE_COLS} FROM compute_instances WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(p) = &q.project_id {
            binds.push(p.clone());
            sql.push_str(&format!(" AND project_id = ${}", binds.len()));
        }
        if let Some(h) = &q.host {
            binds.push(h.clone());
            sql.push_str(&format!(" AND host = ${}", binds.len()));
        }
        if !q.include_deleted {
            sql.push_str(" AND deleted = 0");
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC");
        let mut query = sqlx::query(&sql);
        for v in &binds {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows.iter().map(instance_from_row).collect())
    }

    pub async fn count_instances(&self, project: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM compute_instances WHERE project_id = $1 AND deleted = 0")
            .bind(project)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(get_i64(&row, "n"))
    }

    /// Save the user-editable fields (name, description, hostname,
    /// metadata, access IPs).
    pub async fn save_instance_fields(&self, i: &Instance) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "UPDATE compute_instances SET display_name = $1, description = $2, hostname = $3, metadata = $4, access_ip_v4 = $5, access_ip_v6 = $6, updated_at = $7 WHERE uuid = $8",
        )
        .bind(&i.display_name)
        .bind(i.description.clone())
        .bind(i.hostname.clone())
        .bind(serde_json::to_string(&i.metadata).unwrap_or_else(|_| "{}".into()))
        .bind(i.access_ip_v4.clone())
        .bind(i.access_ip_v6.clone())
        .bind(now_ms())
        .bind(i.uuid.to_string())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.commit().await
    }

    /// Move an instance to new states if (and only if) it is not deleted
    /// and its task state is one of `expected` (when given). Returns
    /// whether it moved.
    pub async fn set_instance_state(
        &self,
        uuid: Uuid,
        vm_state: &str,
        task_state: Option<&str>,
        power_state: Option<i64>,
        expected: Option<&[Option<&str>]>,
    ) -> Result<bool> {
        let mut w = self.write().await?;
        let moved = set_state_tx(&mut w.tx, uuid, vm_state, task_state, power_state, expected).await?;
        w.commit().await?;
        Ok(moved)
    }

    /// Record the host chosen by the scheduler and queue the build, in one
    /// transaction. `false` (and nothing queued) when the instance was
    /// deleted meanwhile.
    pub async fn set_scheduled(&self, uuid: Uuid, node: &ComputeNode, az: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query(
            "UPDATE compute_instances SET host = $1, node = $2, node_uuid = $3, availability_zone = $4, updated_at = $5 \
             WHERE uuid = $6 AND deleted = 0 AND (task_state IS NULL OR task_state <> 'deleting')",
        )
        .bind(&node.host)
        .bind(&node.hypervisor_hostname)
        .bind(node.uuid.to_string())
        .bind(az)
        .bind(now_ms())
        .bind(uuid.to_string())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        enqueue_tx(&mut w.tx, &node.host, task_kind::BUILD, Some(uuid), &Value::Null).await?;
        w.commit().await?;
        Ok(true)
    }

    pub async fn set_launched(&self, uuid: Uuid) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query(
            "UPDATE compute_instances SET vm_state = 'active', task_state = NULL, power_state = 1, launched_at = $1, updated_at = $1 \
             WHERE uuid = $2 AND deleted = 0 AND task_state = 'spawning'",
        )
        .bind(now_ms())
        .bind(uuid.to_string())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    /// Mark an instance deleted and record, in the same transaction, that
    /// its allocations must be removed from Placement. Returns the outbox
    /// entry id, or `None` when it was already deleted.
    pub async fn mark_deleted(&self, uuid: Uuid) -> Result<Option<i64>> {
        let mut w = self.write().await?;
        let now = now_ms();
        let n = sqlx::query(
            "UPDATE compute_instances SET vm_state = 'deleted', task_state = NULL, power_state = 0, deleted = id, deleted_at = $1, terminated_at = $1, updated_at = $1 \
             WHERE uuid = $2 AND deleted = 0",
        )
        .bind(now)
        .bind(uuid.to_string())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let id = insert_outbox_tx(&mut w.tx, self.engine, outbox_kind::DELETE_ALLOCATIONS, uuid).await?;
        w.commit().await?;
        Ok(Some(id))
    }

    pub async fn add_fault(
        &self,
        uuid: Uuid,
        code: i64,
        message: &str,
        details: &str,
        host: Option<&str>,
    ) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("INSERT INTO compute_instance_faults (instance_uuid, code, message, details, host, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(uuid.to_string())
            .bind(code)
            .bind(message)
            .bind(details)
            .bind(host.map(str::to_string))
            .bind(now_ms())
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await
    }

    pub async fn latest_fault(&self, uuid: Uuid) -> Result<Option<InstanceFault>> {
        let row = sqlx::query(
            "SELECT code, message, details, host, created_at FROM compute_instance_faults WHERE instance_uuid = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(uuid.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(|r| InstanceFault {
            code: get_i64(&r, "code"),
            message: get_str(&r, "message"),
            details: get_str(&r, "details"),
            host: get_opt_str(&r, "host"),
            created_at: get_i64(&r, "created_at"),
        }))
    }
}

pub(crate) async fn set_state_tx(
    tx: &mut Tx,
    uuid: Uuid,
    vm_state: &str,
    task_state: Option<&str>,
    power_state: Option<i64>,
    expected: Option<&[Option<&str>]>,
) -> Result<bool> {
    let row = sqlx::query("SELECT task_state FROM compute_instances WHERE uuid = $1 AND deleted = 0")
        .bind(uuid.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    let Some(row) = row else { return Ok(false) };
    let current = get_opt_str(&row, "task_state");
    if let Some(exp) = expected {
        if !exp.iter().any(|e| e.map(str::to_string) == current) {
            return Ok(false);
        }
    }
    // Compare-and-set on the task state read above.
    let mut sql = "UPDATE compute_instances SET vm_state = $1, task_state = $2, power_state = COALESCE($3, power_state), updated_at = $4 \
                   WHERE uuid = $5 AND deleted = 0"
        .to_string();
    sql.push_str(if current.is_some() { " AND task_state = $6" } else { " AND task_state IS NULL" });
    let mut q = sqlx::query(&sql)
        .bind(vm_state)
        .bind(task_state.map(str::to_string))
        .bind(power_state)
        .bind(now_ms())
        .bind(uuid.to_string());
    if let Some(c) = current {
        q = q.bind(c);
    }
    let n = q.execute(&mut **tx).await.map_err(db_err)?.rows_affected();
    Ok(n > 0)
}

// ---------------------------------------------------------------- services

const SERVICE_COLS: &str = "id, uuid, host, service_binary, availability_zone, disabled, disabled_reason, forced_down, last_seen_up, report_count, created_at, updated_at";

fn service_from_row(r: &AnyRow) -> Service {
    Service {
        id: get_i64(r, "id"),
        uuid: parse_uuid(&get_str(r, "uuid")),
        host: get_str(r, "host"),
        binary: get_str(r, "service_binary"),
        availability_zone: get_str(r, "availability_zone"),
        disabled: get_bool(r, "disabled"),
        disabled_reason: get_opt_str(r, "disabled_reason"),
        forced_down: get_bool(r, "forced_down"),
        last_seen_up: get_opt_i64(r, "last_seen_up"),
        report_count: get_i64(r, "report_count"),
        created_at: get_i64(r, "created_at"),
        updated_at: get_opt_i64(r, "updated_at"),
    }
}

impl Db {
    /// Register a service (or find it): the availability zone is updated,
    /// the disabled/forced-down flags are kept.
    pub async fn register_service(&self, host: &str, binary: &str, az: &str) -> Result<Service> {
        let mut w = self.write().await?;
        let now = now_ms();
        let existing = sqlx::query(&format!(
            "SELECT {SERVICE_COLS} FROM compute_services WHERE host = $1 AND service_binary = $2"
        ))
        .bind(host)
        .bind(binary)
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(db_err)?;
        if existing.is_some() {
            sqlx::query("UPDATE compute_services SET availability_zone = $1, updated_at = $2 WHERE host = $3 AND service_binary = $4")
                .bind(az)
                .bind(now)
                .bind(host)
                .bind(binary)
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
        } else {
            sqlx::query(
                "INSERT INTO compute_services (uuid, host, service_binary, availability_zone, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(host)
            .bind(binary)
            .bind(az)
            .bind(now)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        }
        let row = sqlx::query(&format!(
            "SELECT {SERVICE_COLS} FROM compute_services WHERE host = $1 AND service_binary = $2"
        ))
        .bind(host)
        .bind(binary)
        .fetch_one(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.commit().await?;
        Ok(service_from_row(&row))
    }

    pub async fn list_services(&self) -> Result<Vec<Service>> {
        let rows = sqlx::query(&format!("SELECT {SERVICE_COLS} FROM compute_services ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(service_from_row).collect())
    }

    pub async fn service_by_host(&self, host: &str, binary: &str) -> Result<Option<Service>> {
        let row = sqlx::query(&format!(
            "SELECT {SERVICE_COLS} FROM compute_services WHERE host = $1 AND service_binary = $2"
        ))
        .bind(host)
        .bind(binary)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.as_ref().map(service_from_row))
    }

    /// Record a heartbeat; `None` when the service row is gone.
    pub async fn heartbeat(&self, id: i64) -> Result<Option<Service>> {
        let mut w = self.write().await?;
        let now = now_ms();
        sqlx::query("UPDATE compute_services SET last_seen_up = $1, report_count = report_count + 1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        let row = sqlx::query(&format!("SELECT {SERVICE_COLS} FROM compute_services WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await?;
        Ok(row.as_ref().map(service_from_row))
    }

    pub async fn update_service(&self, s: &Service) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("UPDATE compute_services SET disabled = $1, disabled_reason = $2, forced_down = $3, updated_at = $4 WHERE id = $5")
            .bind(b(s.disabled))
            .bind(s.disabled_reason.clone())
            .bind(b(s.forced_down))
            .bind(now_ms())
            .bind(s.id)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await
    }

    /// Delete a service and its compute nodes.
    pub async fn delete_service(&self, s: &Service) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM compute_nodes WHERE host = $1")
            .bind(&s.host)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM compute_services WHERE id = $1")
            .bind(s.id)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await
    }
}

// ---------------------------------------------------------------- nodes

const NODE_COLS: &str = "id, uuid, host, hypervisor_hostname, hypervisor_type, hypervisor_version, host_ip, vcpus, memory_mb, local_gb, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, reserved_host_cpus, reserved_host_memory_mb, reserved_host_disk_gb, created_at, updated_at";

fn node_from_row(r: &AnyRow) -> ComputeNode {
    ComputeNode {
        id: get_i64(r, "id"),
        uuid: parse_uuid(&get_str(r, "uuid")),
        host: get_str(r, "host"),
        hypervisor_hostname: get_str(r, "hypervisor_hostname"),
        hypervisor_type: get_str(r, "hypervisor_type"),
        hypervisor_version: get_i64(r, "hypervisor_version"),
        host_ip: get_str(r, "host_ip"),
        vcpus: get_i64(r, "vcpus"),
        memory_mb: get_i64(r, "memory_mb"),
        local_gb: get_i64(r, "local_gb"),
        cpu_allocation_ratio: get_f64(r, "cpu_allocation_ratio"),
        ram_allocation_ratio: get_f64(r, "ram_allocation_ratio"),
        disk_allocation_ratio: get_f64(r, "disk_allocation_ratio"),
        reserved_host_cpus: get_i64(r, "reserved_host_cpus"),
        reserved_host_memory_mb: get_i64(r, "reserved_host_memory_mb"),
        reserved_host_disk_gb: get_i64(r, "reserved_host_disk_gb"),
        created_at: get_i64(r, "created_at"),
        updated_at: get_opt_i64(r, "updated_at"),
    }
}

impl Db {
    /// Create or update the node named `n.hypervisor_hostname`; its uuid is
    /// kept once assigned (`n.uuid` is used only on creation).
    pub async fn upsert_node(&self, n: &ComputeNode) -> Result<ComputeNode> {
        let mut w = self.write().await?;
        let now = now_ms();
        let existing = sqlx::query("SELECT id FROM compute_nodes WHERE hypervisor_hostname = $1")
            .bind(&n.hypervisor_hostname)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(db_err)?;
        if existing.is_some() {
            sqlx::query(
                "UPDATE compute_nodes SET host = $1, hypervisor_type = $2, hypervisor_version = $3, host_ip = $4, vcpus = $5, memory_mb = $6, local_gb = $7, \
                 cpu_allocation_ratio = $8, ram_allocation_ratio = $9, disk_allocation_ratio = $10, reserved_host_cpus = $11, reserved_host_memory_mb = $12, \
                 reserved_host_disk_gb = $13, updated_at = $14 WHERE hypervisor_hostname = $15",
            )
            .bind(&n.host)
            .bind(&n.hypervisor_type)
            .bind(n.hypervisor_version)
            .bind(&n.host_ip)
            .bind(n.vcpus)
            .bind(n.memory_mb)
            .bind(n.local_gb)
            .bind(n.cpu_allocation_ratio)
            .bind(n.ram_allocation_ratio)
            .bind(n.disk_allocation_ratio)
            .bind(n.reserved_host_cpus)
            .bind(n.reserved_host_memory_mb)
            .bind(n.reserved_host_disk_gb)
            .bind(now)
            .bind(&n.hypervisor_hostname)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        } else {
            sqlx::query(
                "INSERT INTO compute_nodes (uuid, host, hypervisor_hostname, hypervisor_type, hypervisor_version, host_ip, vcpus, memory_mb, local_gb, \
                 cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, reserved_host_cpus, reserved_host_memory_mb, reserved_host_disk_gb, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
            )
            .bind(n.uuid.to_string())
            .bind(&n.host)
            .bind(&n.hypervisor_hostname)
            .bind(&n.hypervisor_type)
            .bind(n.hypervisor_version)
            .bind(&n.host_ip)
            .bind(n.vcpus)
            .bind(n.memory_mb)
            .bind(n.local_gb)
            .bind(n.cpu_allocation_ratio)
            .bind(n.ram_allocation_ratio)
            .bind(n.disk_allocation_ratio)
            .bind(n.reserved_host_cpus)
            .bind(n.reserved_host_memory_mb)
            .bind(n.reserved_host_disk_gb)
            .bind(now)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        }
        let row = sqlx::query(&format!("SELECT {NODE_COLS} FROM compute_nodes WHERE hypervisor_hostname = $1"))
            .bind(&n.hypervisor_hostname)
            .fetch_one(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await?;
        Ok(node_from_row(&row))
    }

    pub async fn list_nodes(&self) -> Result<Vec<ComputeNode>> {
        let rows = sqlx::query(&format!("SELECT {NODE_COLS} FROM compute_nodes ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(node_from_row).collect())
    }

    pub async fn nodes_on_host(&self, host: &str) -> Result<Vec<ComputeNode>> {
        Ok(self.list_nodes().await?.into_iter().filter(|n| n.host == host).collect())
    }
}

// ---------------------------------------------------------------- queue

pub(crate) async fn enqueue_tx(
    tx: &mut Tx,
    host: &str,
    kind: &str,
    instance: Option<Uuid>,
    payload: &Value,
) -> Result<()> {
    let now = now_ms();
    sqlx::query("INSERT INTO compute_tasks (host, kind, instance_uuid, payload, state, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $5)")
        .bind(host)
        .bind(kind)
        .bind(instance.map(|u| u.to_string()))
        .bind(payload.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl Db {
    /// Move an instance to new states and queue a task for its host, in one
    /// transaction; `false` (nothing queued) when the state check failed.
    pub async fn transition_and_enqueue(
        &self,
        uuid: Uuid,
        vm_state: &str,
        task_state: Option<&str>,
        expected: Option<&[Option<&str>]>,
        host: &str,
        kind: &str,
    ) -> Result<bool> {
        let mut w = self.write().await?;
        if !set_state_tx(&mut w.tx, uuid, vm_state, task_state, None, expected).await? {
            return Ok(false);
        }
        enqueue_tx(&mut w.tx, host, kind, Some(uuid), &Value::Null).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Claim the oldest runnable task of `host` for `lease_ms`: a pending
    /// task whose retry time has come, or a running one whose lease expired
    /// (its worker died). One conditional UPDATE; on PostgreSQL the row is
    /// picked with `FOR UPDATE SKIP LOCKED` so concurrent workers never wait
    /// on each other.
    pub async fn claim_task(&self, host: &str, worker: &str, lease_ms: i64) -> Result<Option<Task>> {
        let now = now_ms();
        let lock = match self.engine {
            Engine::Sqlite => "",
            Engine::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE compute_tasks SET state = 'running', claimed_by = $1, claimed_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM compute_tasks WHERE host = $4 AND ((state = 'pending' AND (claimed_until IS NULL OR claimed_until <= $3)) \
             OR (state = 'running' AND claimed_until < $3)) ORDER BY id LIMIT 1{lock}) \
             RETURNING id, host, kind, instance_uuid, payload, attempts"
        );
        let mut w = self.write().await?;
        let row = sqlx::query(&sql)
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(host)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await?;
        Ok(row.map(|r| Task {
            id: get_i64(&r, "id"),
            host: get_str(&r, "host"),
            kind: get_str(&r, "kind"),
            instance_uuid: opt_uuid(get_opt_str(&r, "instance_uuid")),
            payload: serde_json::from_str(&get_str(&r, "payload")).unwrap_or(Value::Null),
            attempts: get_i64(&r, "attempts"),
        }))
    }

    pub async fn complete_task(&self, id: i64) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM compute_tasks WHERE id = $1").bind(id).execute(&mut *w.tx).await.map_err(db_err)?;
        w.commit().await
    }

    /// Put a task back for a retry after `delay_ms`, or mark it failed.
    pub async fn retry_task(&self, id: i64, error: &str, delay_ms: i64, give_up: bool) -> Result<()> {
        let mut w = self.write().await?;
        let now = now_ms();
        sqlx::query("UPDATE compute_tasks SET state = $1, claimed_by = NULL, claimed_until = $2, last_error = $3, updated_at = $4 WHERE id = $5")
            .bind(if give_up { "failed" } else { "pending" })
            .bind(now + delay_ms)
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await
    }

    /// Tasks not yet done for a host (pending or running).
    pub async fn open_tasks(&self, host: &str) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM compute_tasks WHERE host = $1 AND state IN ('pending', 'running')")
                .bind(host)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(get_i64(&row, "n"))
    }
}

// ---------------------------------------------------------------- outbox

pub(crate) async fn insert_outbox_tx(tx: &mut Tx, engine: Engine, kind: &str, consumer: Uuid) -> Result<i64> {
    let now = now_ms();
    let _ = engine;
    let row = sqlx::query(
        "INSERT INTO compute_outbox (kind, consumer_uuid, payload, attempts, next_attempt_at, created_at) VALUES ($1, $2, '{}', 0, $3, $3) RETURNING id",
    )
    .bind(kind)
    .bind(consumer.to_string())
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(get_i64(&row, "id"))
}

fn outbox_from_row(r: &AnyRow) -> OutboxEntry {
    OutboxEntry {
        id: get_i64(r, "id"),
        kind: get_str(r, "kind"),
        consumer_uuid: parse_uuid(&get_str(r, "consumer_uuid")),
        attempts: get_i64(r, "attempts"),
        last_error: get_opt_str(r, "last_error"),
        created_at: get_i64(r, "created_at"),
    }
}

impl Db {
    pub async fn add_outbox(&self, kind: &str, consumer: Uuid) -> Result<i64> {
        let mut w = self.write().await?;
        let id = insert_outbox_tx(&mut w.tx, self.engine, kind, consumer).await?;
        w.commit().await?;
        Ok(id)
    }

    /// Lease one outbox entry for `lease_ms` if it is due (so concurrent
    /// drainers never run the same entry at once). `None` when it is gone,
    /// not due, or leased by someone else.
    pub async fn lease_outbox(&self, id: i64, lease_ms: i64, only_if_due: bool) -> Result<Option<OutboxEntry>> {
        let now = now_ms();
        let mut w = self.write().await?;
        let cond = if only_if_due { " AND next_attempt_at <= $3" } else { "" };
        let sql = format!(
            "UPDATE compute_outbox SET next_attempt_at = $1 WHERE id = $2{cond} \
             RETURNING id, kind, consumer_uuid, attempts, last_error, created_at"
        );
        let mut q = sqlx::query(&sql).bind(now + lease_ms).bind(id);
        if only_if_due {
            q = q.bind(now);
        }
        let row = q.fetch_optional(&mut *w.tx).await.map_err(db_err)?;
        w.commit().await?;
        Ok(row.as_ref().map(outbox_from_row))
    }

    /// Ids of entries due now (oldest first).
    pub async fn due_outbox(&self, limit: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM compute_outbox WHERE next_attempt_at <= $1 ORDER BY id LIMIT $2")
            .bind(now_ms())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| get_i64(r, "id")).collect())
    }

    pub async fn list_outbox(&self) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT id, kind, consumer_uuid, attempts, last_error, created_at FROM compute_outbox ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(outbox_from_row).collect())
    }

    pub async fn delete_outbox(&self, id: i64) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM compute_outbox WHERE id = $1").bind(id).execute(&mut *w.tx).await.map_err(db_err)?;
        w.commit().await
    }

    pub async fn outbox_failed(&self, id: i64, error: &str, retry_in_ms: i64) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "UPDATE compute_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3",
        )
        .bind(error)
        .bind(now_ms() + retry_in_ms)
        .bind(id)
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.commit().await
    }
}

// ---------------------------------------------------------- AZs, quotas, migrations

impl Db {
    /// The Placement aggregate standing for an availability zone (created
    /// on first use).
    pub async fn az_aggregate(&self, name: &str) -> Result<Uuid> {
        if let Some(u) = self.find_az_aggregate(name).await? {
            return Ok(u);
        }
        let mut w = self.write().await?;
        let res = sqlx::query(
            "INSERT INTO compute_availability_zones (name, aggregate_uuid, created_at) VALUES ($1, $2, $3)",
        )
        .bind(name)
        .bind(Uuid::new_v4().to_string())
        .bind(now_ms())
        .execute(&mut *w.tx)
        .await;
        match res {
            Ok(_) => w.commit().await?,
            Err(e) if is_unique_violation(&e) => drop(w),
            Err(e) => return Err(db_err(e)),
        }
        self.find_az_aggregate(name).await?.ok_or_else(|| ComputeError::internal("availability zone vanished"))
    }

    /// Every availability zone with its aggregate.
    pub async fn list_azs(&self) -> Result<Vec<(String, Uuid)>> {
        let rows = sqlx::query("SELECT name, aggregate_uuid FROM compute_availability_zones ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| (get_str(r, "name"), parse_uuid(&get_str(r, "aggregate_uuid")))).collect())
    }

    pub async fn find_az_aggregate(&self, name: &str) -> Result<Option<Uuid>> {
        let row = sqlx::query("SELECT aggregate_uuid FROM compute_availability_zones WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| parse_uuid(&get_str(&r, "aggregate_uuid"))))
    }

    pub async fn quotas(&self, project: &str) -> Result<BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT resource, hard_limit FROM compute_quotas WHERE project_id = $1")
            .bind(project)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| (get_str(r, "resource"), get_i64(r, "hard_limit"))).collect())
    }

    pub async fn set_quotas(&self, project: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
        let mut w = self.write().await?;
        for (k, v) in limits {
            sqlx::query("DELETE FROM compute_quotas WHERE project_id = $1 AND resource = $2")
                .bind(project)
                .bind(k)
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
            sqlx::query("INSERT INTO compute_quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)")
                .bind(project)
                .bind(k)
                .bind(v)
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
        }
        w.commit().await
    }

    pub async fn delete_quotas(&self, project: &str) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM compute_quotas WHERE project_id = $1")
            .bind(project)
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.commit().await
    }

    /// Migrations still moving an instance (their allocations are legitimate
    /// on both ends).
    pub async fn in_progress_migrations(&self) -> Result<Vec<Migration>> {
        let rows = sqlx::query(
            "SELECT uuid, instance_uuid, source_node_uuid, dest_node_uuid, status FROM compute_migrations \
             WHERE status NOT IN ('completed', 'confirmed', 'reverted', 'error', 'failed', 'cancelled', 'done')",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| Migration {
                uuid: parse_uuid(&get_str(r, "uuid")),
                instance_uuid: parse_uuid(&get_str(r, "instance_uuid")),
                source_node_uuid: opt_uuid(get_opt_str(r, "source_node_uuid")),
                dest_node_uuid: opt_uuid(get_opt_str(r, "dest_node_uuid")),
                status: get_str(r, "status"),
            })
            .collect())
    }
}
