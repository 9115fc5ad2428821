//! Migration records (`compute_migrations`) and the one transaction every
//! move step commits ([`Db::commit_move`]): the instance's new states
//! (compare-and-set), the migration's new status (compare-and-set), the
//! agent tasks to queue, the allocations to give back through the outbox
//! and a fault, all or nothing.

use super::*;

const MIGRATION_COLS: &str = "id, uuid, instance_uuid, source_compute, dest_compute, source_node, dest_node, dest_host, \
    source_node_uuid, dest_node_uuid, old_flavor, new_flavor, status, migration_type, user_id, project_id, created_at, updated_at";

fn opt_flavor(r: &AnyRow, col: &str) -> Result<Option<Flavor>> {
    match get_opt_str(r, col)? {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| ComputeError::internal(format!("column {col}: stored flavor is malformed: {e}"))),
    }
}

fn migration_from_row(r: &AnyRow) -> Result<MigrationRecord> {
    Ok(MigrationRecord {
        id: get_i64(r, "id")?,
        uuid: get_uuid(r, "uuid")?,
        instance_uuid: get_uuid(r, "instance_uuid")?,
        source_compute: get_opt_str(r, "source_compute")?,
        dest_compute: get_opt_str(r, "dest_compute")?,
        source_node: get_opt_str(r, "source_node")?,
        dest_node: get_opt_str(r, "dest_node")?,
        dest_host: get_opt_str(r, "dest_host")?,
        source_node_uuid: get_opt_uuid(r, "source_node_uuid")?,
        dest_node_uuid: get_opt_uuid(r, "dest_node_uuid")?,
        old_flavor: opt_flavor(r, "old_flavor")?,
        new_flavor: opt_flavor(r, "new_flavor")?,
        status: get_str(r, "status")?,
        migration_type: get_str(r, "migration_type")?,
        user_id: get_opt_str(r, "user_id")?,
        project_id: get_opt_str(r, "project_id")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_opt_i64(r, "updated_at")?,
    })
}

/// A value bound into a dynamically built statement.
enum Bind {
    Str(Option<String>),
    Int(Option<i64>),
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Str(s) => q.bind(s.clone()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

fn flavor_json(f: &Option<Flavor>) -> Option<String> {
    f.as_ref().and_then(|f| serde_json::to_string(f).ok())
}

async fn insert_migration_tx(tx: &mut Tx, m: &MigrationRecord) -> Result<i64> {
    let now = now_us();
    let row = sqlx::query(
        "INSERT INTO compute_migrations (uuid, instance_uuid, source_compute, dest_compute, source_node, dest_node, dest_host, \
         source_node_uuid, dest_node_uuid, old_flavor, new_flavor, status, migration_type, user_id, project_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) RETURNING id",
    )
    .bind(m.uuid.to_string())
    .bind(m.instance_uuid.to_string())
    .bind(m.source_compute.clone())
    .bind(m.dest_compute.clone())
    .bind(m.source_node.clone())
    .bind(m.dest_node.clone())
    .bind(m.dest_host.clone())
    .bind(m.source_node_uuid.map(|u| u.to_string()))
    .bind(m.dest_node_uuid.map(|u| u.to_string()))
    .bind(flavor_json(&m.old_flavor))
    .bind(flavor_json(&m.new_flavor))
    .bind(&m.status)
    .bind(&m.migration_type)
    .bind(m.user_id.clone())
    .bind(m.project_id.clone())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    get_i64(&row, "id")
}

impl Db {
    /// Migrations still moving an instance (their allocations are legitimate
    /// on both ends). An evacuation stays in progress while `done`: the
    /// instance holds its source allocation until the source host returns.
    pub async fn in_progress_migrations(&self) -> Result<Vec<Migration>> {
        let placeholders: Vec<String> = (3..FINISHED_MIGRATION_STATUSES.len() + 3).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT uuid, instance_uuid, source_node_uuid, dest_node_uuid, status FROM compute_migrations \
             WHERE status NOT IN ({}) OR (migration_type = $1 AND status = $2)",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(migration_type::EVACUATION).bind(migration_status::DONE);
        for s in FINISHED_MIGRATION_STATUSES {
            q = q.bind(*s);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Migration {
                    uuid: get_uuid(r, "uuid")?,
                    instance_uuid: get_uuid(r, "instance_uuid")?,
                    source_node_uuid: get_opt_uuid(r, "source_node_uuid")?,
                    dest_node_uuid: get_opt_uuid(r, "dest_node_uuid")?,
                    status: get_str(r, "status")?,
                })
            })
            .collect()
    }

    /// Every migration record, oldest first.
    pub async fn list_migrations(&self, instance: Option<Uuid>) -> Result<Vec<MigrationRecord>> {
        let rows = match instance {
            Some(u) => {
                sqlx::query(&format!(
                    "SELECT {MIGRATION_COLS} FROM compute_migrations WHERE instance_uuid = $1 ORDER BY id"
                ))
                .bind(u.to_string())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {MIGRATION_COLS} FROM compute_migrations ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(migration_from_row).collect()
    }

    pub async fn get_migration(&self, uuid: Uuid) -> Result<Option<MigrationRecord>> {
        let row = sqlx::query(&format!("SELECT {MIGRATION_COLS} FROM compute_migrations WHERE uuid = $1"))
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(migration_from_row).transpose()
    }

    /// The newest migration of an instance whose status is one of `statuses`.
    pub async fn latest_migration(&self, instance: Uuid, statuses: &[&str]) -> Result<Option<MigrationRecord>> {
        Ok(self
            .list_migrations(Some(instance))
            .await?
            .into_iter()
            .rev()
            .find(|m| statuses.contains(&m.status.as_str())))
    }

    /// Evacuations away from `host` that still hold the source's
    /// allocation (the guest was rebuilt elsewhere, or is being).
    pub async fn evacuations_from(&self, host: &str) -> Result<Vec<MigrationRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MIGRATION_COLS} FROM compute_migrations WHERE source_compute = $1 AND migration_type = $2 AND status IN ($3, $4)"
        ))
        .bind(host)
        .bind(migration_type::EVACUATION)
        .bind(migration_status::DONE)
        .bind(migration_status::ACCEPTED)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(migration_from_row).collect()
    }

    /// Commit one step of a move (see [`MoveCommit`]). `None` (nothing
    /// written) when the instance or the migration was no longer in an
    /// expected state; otherwise the outbox entries to run now.
    pub async fn commit_move(&self, c: &MoveCommit) -> Result<Option<Vec<i64>>> {
        let mut w = self.write().await?;
        let now = now_us();
        if let Some(m) = &c.new_migration {
            insert_migration_tx(&mut w.tx, m).await?;
        }
        // The instance.
        let mut sets = vec!["updated_at = $1".to_string()];
        let mut binds = vec![Bind::Int(Some(now))];
        let mut set = |col: &str, b: Bind, sets: &mut Vec<String>| {
            binds.push(b);
            sets.push(format!("{col} = ${}", binds.len()));
        };
        if let Some(vm) = c.vm_state {
            set("vm_state", Bind::Str(Some(vm.as_str().into())), &mut sets);
        }
        if let Some(t) = c.task_state {
            set("task_state", Bind::Str(t.map(|t| t.as_str().into())), &mut sets);
        }
        if let Some(p) = c.power_state {
            set("power_state", Bind::Int(Some(p)), &mut sets);
        }
        if let Some(place) = &c.place {
            let (h, n, u) = match place {
                Some(p) => (Some(p.host.clone()), Some(p.node.clone()), Some(p.node_uuid.to_string())),
                None => (None, None, None),
            };
            set("host", Bind::Str(h), &mut sets);
            set("node", Bind::Str(n), &mut sets);
            set("node_uuid", Bind::Str(u), &mut sets);
        }
        if let Some(f) = &c.flavor {
            set("flavor", Bind::Str(serde_json::to_string(f).ok()), &mut sets);
        }
        if let Some(img) = &c.image_ref {
            set("image_ref", Bind::Str(Some(img.clone())), &mut sets);
        }
        if let Some(az) = &c.availability_zone {
            set("availability_zone", Bind::Str(Some(az.clone())), &mut sets);
        }
        binds.push(Bind::Str(Some(c.instance.to_string())));
        let mut sql =
            format!("UPDATE compute_instances SET {} WHERE uuid = ${} AND deleted = 0", sets.join(", "), binds.len());
        if let Some(tasks) = c.expect_task {
            let mut alts = Vec::new();
            for t in tasks {
                match t {
                    None => alts.push("task_state IS NULL".to_string()),
                    Some(t) => {
                        binds.push(Bind::Str(Some(t.as_str().into())));
                        alts.push(format!("task_state = ${}", binds.len()));
                    }
                }
            }
            sql.push_str(&format!(" AND ({})", if alts.is_empty() { "1 = 0".into() } else { alts.join(" OR ") }));
        }
        if let Some(vms) = c.expect_vm {
            let mut alts = Vec::new();
            for v in vms {
                binds.push(Bind::Str(Some(v.as_str().into())));
                alts.push(format!("${}", binds.len()));
            }
            sql.push_str(&format!(" AND vm_state IN ({})", alts.join(", ")));
        }
        if bind_all(sqlx::query(&sql), &binds).execute(&mut *w.tx).await?.rows_affected() != 1 {
            return Ok(None);
        }
        // The migration.
        if let Some(mu) = &c.migration {
            let mut binds = vec![Bind::Str(Some(mu.status.to_string())), Bind::Int(Some(now))];
            let mut sets = vec!["status = $1".to_string(), "updated_at = $2".to_string()];
            if let Some(d) = &mu.dest {
                for (col, v) in [
                    ("dest_compute", Some(d.host.clone())),
                    ("dest_host", Some(d.host.clone())),
                    ("dest_node", Some(d.node.clone())),
                    ("dest_node_uuid", Some(d.node_uuid.to_string())),
                ] {
                    binds.push(Bind::Str(v));
                    sets.push(format!("{col} = ${}", binds.len()));
                }
            }
            binds.push(Bind::Str(Some(mu.uuid.to_string())));
            let mut sql = format!("UPDATE compute_migrations SET {} WHERE uuid = ${}", sets.join(", "), binds.len());
            if !mu.expected.is_empty() {
                let mut alts = Vec::new();
                for s in mu.expected {
                    binds.push(Bind::Str(Some(s.to_string())));
                    alts.push(format!("${}", binds.len()));
                }
                sql.push_str(&format!(" AND status IN ({})", alts.join(", ")));
            }
            if bind_all(sqlx::query(&sql), &binds).execute(&mut *w.tx).await?.rows_affected() != 1 {
                return Ok(None);
            }
        }
        let mut hosts = BTreeSet::new();
        for (host, kind, payload) in &c.tasks {
            enqueue_tx(&mut w.tx, host, kind, Some(c.instance), payload).await?;
            hosts.insert(host.clone());
        }
        let mut entries = Vec::new();
        for consumer in &c.give_back {
            entries.push(insert_outbox_tx(&mut w.tx, self.engine, outbox_kind::DELETE_ALLOCATIONS, *consumer).await?);
        }
        if let Some((code, message, host)) = &c.fault {
            sqlx::query(
                "INSERT INTO compute_instance_faults (instance_uuid, code, message, details, host, created_at) VALUES ($1, $2, $3, '', $4, $5)",
            )
            .bind(c.instance.to_string())
            .bind(*code)
            .bind(message)
            .bind(host.clone())
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await?;
        for h in hosts {
            self.wakeups.wake(&h);
        }
        Ok(Some(entries))
    }

    /// Set a migration's status when it is one of `expected` (any when
    /// empty); whether it changed.
    pub async fn set_migration_status(&self, uuid: Uuid, expected: &[&str], status: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let mut sql = "UPDATE compute_migrations SET status = $1, updated_at = $2 WHERE uuid = $3".to_string();
        if !expected.is_empty() {
            let marks: Vec<String> = (4..expected.len() + 4).map(|n| format!("${n}")).collect();
            sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
        }
        let mut q = sqlx::query(&sql).bind(status).bind(now_us()).bind(uuid.to_string());
        for s in expected {
            q = q.bind(*s);
        }
        let n = q.execute(&mut *w.tx).await?.rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }
}

use std::collections::BTreeSet;
