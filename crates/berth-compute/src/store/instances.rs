//! Instances, their state changes and their faults.

use super::group::BatchFuture;
use super::*;

const INSTANCE_COLS: &str = "id, uuid, display_name, hostname, description, project_id, user_id, image_ref, flavor, vm_state, task_state, power_state, host, node, node_uuid, availability_zone, requested_az, metadata, key_name, user_data, access_ip_v4, access_ip_v6, locked, locked_by, locked_reason, reservation_id, launch_index, launched_at, terminated_at, created_at, updated_at, deleted_at, deleted";

fn instance_from_row(r: &AnyRow) -> Result<Instance> {
    let vm = get_str(r, "vm_state")?;
    let vm_state = VmState::parse(&vm)
        .ok_or_else(|| ComputeError::internal(format!("instance row with unknown vm_state {vm:?}")))?;
    let task_state = match get_opt_str(r, "task_state")? {
        None => None,
        Some(t) => Some(
            TaskState::parse(&t)
                .ok_or_else(|| ComputeError::internal(format!("instance row with unknown task_state {t:?}")))?,
        ),
    };
    Ok(Instance {
        id: get_i64(r, "id")?,
        uuid: get_uuid(r, "uuid")?,
        display_name: get_str(r, "display_name")?,
        hostname: get_opt_str(r, "hostname")?,
        description: get_opt_str(r, "description")?,
        project_id: get_str(r, "project_id")?,
        user_id: get_str(r, "user_id")?,
        image_ref: get_str(r, "image_ref")?,
        flavor: serde_json::from_str(&get_str(r, "flavor")?).unwrap_or_else(|_| Flavor {
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
        vm_state,
        task_state,
        power_state: get_i64(r, "power_state")?,
        host: get_opt_str(r, "host")?,
        node: get_opt_str(r, "node")?,
        node_uuid: get_opt_uuid(r, "node_uuid")?,
        availability_zone: get_opt_str(r, "availability_zone")?,
        requested_az: get_opt_str(r, "requested_az")?,
        metadata: get_json(r, "metadata")?,
        key_name: get_opt_str(r, "key_name")?,
        user_data: get_opt_str(r, "user_data")?,
        access_ip_v4: get_opt_str(r, "access_ip_v4")?,
        access_ip_v6: get_opt_str(r, "access_ip_v6")?,
        locked: get_bool(r, "locked")?,
        locked_by: get_opt_str(r, "locked_by")?,
        locked_reason: get_opt_str(r, "locked_reason")?,
        reservation_id: get_str(r, "reservation_id")?,
        launch_index: get_i64(r, "launch_index")?,
        launched_at: get_opt_i64(r, "launched_at")?,
        terminated_at: get_opt_i64(r, "terminated_at")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_opt_i64(r, "updated_at")?,
        deleted_at: get_opt_i64(r, "deleted_at")?,
        // Soft-deleted rows hold their own id in `deleted` (0: live).
        deleted: get_i64(r, "deleted")? != 0,
    })
}

impl Db {
    /// Instances by uuid (deleted ones included; unknown ones absent).
    pub async fn get_instances(&self, uuids: &[Uuid]) -> Result<Vec<Instance>> {
        let mut out = Vec::with_capacity(uuids.len());
        for chunk in uuids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT {INSTANCE_COLS} FROM compute_instances WHERE uuid IN ({})", marks.join(", "));
            let mut q = sqlx::query(&sql);
            for u in chunk {
                q = q.bind(u.to_string());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(instance_from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// Record the hosts the scheduler chose and queue the builds, and close
    /// the scheduling tasks `done`, in one transaction. An instance that is
    /// no longer waiting for a host is not touched: when it was deleted or
    /// failed meanwhile, "delete the allocations" enters the outbox (the
    /// claim just made must go); when another scheduler placed it, its one
    /// claim is that placement's. Returns the outbox entries (run them
    /// now).
    pub async fn record_scheduled(&self, placed: &[(Uuid, ComputeNode, String)], done: &[i64]) -> Result<Vec<i64>> {
        let mut w = self.write().await?;
        let mut lost = Vec::new();
        let mut hosts = std::collections::BTreeSet::new();
        let mut builds = Vec::with_capacity(placed.len());
        let now = now_us();
        let mut recorded = std::collections::HashSet::with_capacity(placed.len());
        for chunk in placed.chunks(PLACED_PER_UPDATE) {
            recorded.extend(record_hosts_tx(&mut w.tx, chunk, now).await?);
        }
        for (uuid, node, _) in placed {
            if recorded.contains(uuid) {
                builds.push((node.host.as_str(), Some(*uuid), "null"));
                hosts.insert(node.host.clone());
                continue;
            }
            // Placed by another scheduler (which adopted or made the one
            // claim this consumer can hold): that claim is the instance's.
            // Otherwise (deleted, or failed) it must go.
            let placed_elsewhere = sqlx::query(
                "SELECT 1 AS one FROM compute_instances WHERE uuid = $1 AND deleted = 0 AND host IS NOT NULL",
            )
            .bind(uuid.to_string())
            .fetch_optional(&mut *w.tx)
            .await?
            .is_some();
            if !placed_elsewhere {
                lost.push(insert_outbox_tx(&mut w.tx, self.engine, outbox_kind::DELETE_ALLOCATIONS, *uuid).await?);
            }
        }
        super::tasks::enqueue_many_tx(&mut w.tx, task_kind::BUILD, &builds).await?;
        delete_tasks_tx(&mut w.tx, done).await?;
        w.commit().await?;
        for h in hosts {
            self.wakeups.wake(&h);
        }
        Ok(lost)
    }

    /// A build the scheduler could not place: a fault, ERROR, and its
    /// scheduling task closed, in one transaction. `false` when it was no
    /// longer waiting for a host.
    pub async fn fail_scheduling(&self, uuid: Uuid, message: &str, task: i64) -> Result<bool> {
        let mut w = self.write().await?;
        let now = now_us();
        let n = fail_waiting_tx(&mut w.tx, uuid, i64::MAX, now).await?;
        if n > 0 {
            sqlx::query(
                "INSERT INTO compute_instance_faults (instance_uuid, code, message, details, host, created_at) VALUES ($1, $2, $3, '', NULL, $4)",
            )
            .bind(uuid.to_string())
            .bind(500i64)
            .bind(message)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        }
        delete_tasks_tx(&mut w.tx, &[task]).await?;
        w.commit().await?;
        Ok(n > 0)
    }

    pub async fn get_instance(&self, uuid: Uuid) -> Result<Option<Instance>> {
        let row = sqlx::query(&format!("SELECT {INSTANCE_COLS} FROM compute_instances WHERE uuid = $1"))
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(instance_from_row).transpose()
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
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(instance_from_row).collect()
    }

    pub async fn count_instances(&self, project: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM compute_instances WHERE project_id = $1 AND deleted = 0",
        )
        .bind(project)
        .fetch_one(&self.pool)
        .await?;
        get_i64(&row, "n")
    }

    /// Cores and RAM of a project's builds still waiting for their claim
    /// (`scheduling`, no host): quota counts them before Placement does.
    pub async fn pending_claims(&self, project: &str) -> Result<(i64, i64)> {
        let rows = sqlx::query(
            "SELECT flavor FROM compute_instances WHERE project_id = $1 AND deleted = 0 AND host IS NULL AND task_state = $2",
        )
        .bind(project)
        .bind(TaskState::Scheduling.as_str())
        .fetch_all(&self.pool)
        .await?;
        let (mut cores, mut ram) = (0i64, 0i64);
        for r in &rows {
            let f: Flavor = get_json(r, "flavor")?;
            cores = cores.saturating_add(f.vcpus);
            ram = ram.saturating_add(f.memory_mb);
        }
        Ok((cores, ram))
    }

    /// Save the user-editable fields (name, description, hostname,
    /// metadata, access IPs, and the key name and user data a rebuild may
    /// replace).
    pub async fn save_instance_fields(&self, i: &Instance) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "UPDATE compute_instances SET display_name = $1, description = $2, hostname = $3, metadata = $4, access_ip_v4 = $5, access_ip_v6 = $6, updated_at = $7, \
             key_name = $9, user_data = $10 WHERE uuid = $8",
        )
        .bind(&i.display_name)
        .bind(i.description.clone())
        .bind(i.hostname.clone())
        .bind(serde_json::to_string(&i.metadata).unwrap_or_else(|_| "{}".into()))
        .bind(i.access_ip_v4.clone())
        .bind(i.access_ip_v6.clone())
        .bind(now_us())
        .bind(i.uuid.to_string())
        .bind(i.key_name.clone())
        .bind(i.user_data.clone())
        .execute(&mut *w.tx)
        .await?;
        Ok(w.commit().await?)
    }

    /// Move an instance to new states if (and only if) it is not deleted
    /// and its task state is one of `expected` (when given). Returns
    /// whether it moved.
    pub async fn set_instance_state(&self, uuid: Uuid, t: &Transition) -> Result<bool> {
        let mut w = self.write().await?;
        let moved = set_state_tx(&mut w.tx, uuid, t).await?;
        w.commit().await?;
        Ok(moved)
    }

    /// An agent's turn in one transaction: claim up to `limit` of `host`'s
    /// runnable tasks (see [`Db::claim_tasks`]) and begin the builds among
    /// them (each still meant for `host` moves to `spawning`; one already
    /// `spawning`, an earlier attempt's, is carried on). Returns the tasks
    /// and the instances to spawn. The transaction is shared with the other
    /// agents of this process claiming at the same time
    /// ([`super::group`]).
    pub async fn claim_host_tasks(
        &self,
        host: &str,
        worker: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<(Vec<Task>, Vec<Uuid>)> {
        let claim = HostClaim { host: host.to_string(), worker: worker.to_string(), lease_ms, limit };
        self.groups.claims.submit(self, claim).await
    }

    /// Finish spawned builds (ACTIVE, running, launched now; only those
    /// still `spawning`), append what their consoles printed and close
    /// their tasks, in one transaction (shared with the other agents of
    /// this process finishing at the same time). Returns how many became
    /// ACTIVE.
    pub async fn finish_spawns(&self, uuids: &[Uuid], tasks: &[i64], console: &[(Uuid, String)]) -> Result<usize> {
        let finish = Finish { uuids: uuids.to_vec(), tasks: tasks.to_vec(), console: console.to_vec() };
        self.groups.finishes.submit(self, finish).await
    }

    /// Abort builds whose spawn failed on `host`, as Nova's compute does
    /// with a build it cannot reschedule: each one still `spawning` there
    /// goes to ERROR with no host or node, a fault is recorded and "delete
    /// its allocations" enters the outbox, in one transaction. Returns the
    /// outbox entries.
    pub async fn fail_spawns(&self, host: &str, failed: &[(Uuid, String)]) -> Result<Vec<i64>> {
        let mut w = self.write().await?;
        let now = now_us();
        let mut ids = Vec::new();
        for (u, why) in failed {
            let n = sqlx::query(
                "UPDATE compute_instances SET vm_state = $1, task_state = NULL, power_state = $2, host = NULL, node = NULL, \
                 node_uuid = NULL, updated_at = $3 WHERE uuid = $4 AND deleted = 0 AND task_state = $5 AND host = $6",
            )
            .bind(VmState::Error.as_str())
            .bind(power_state::NOSTATE)
            .bind(now)
            .bind(u.to_string())
            .bind(TaskState::Spawning.as_str())
            .bind(host)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
            if n == 0 {
                continue;
            }
            sqlx::query("INSERT INTO compute_instance_faults (instance_uuid, code, message, details, host, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(u.to_string())
                .bind(500i64)
                .bind(format!("Build of instance {u} aborted: {why}"))
                .bind("")
                .bind(host)
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
            ids.push(insert_outbox_tx(&mut w.tx, self.engine, outbox_kind::DELETE_ALLOCATIONS, *u).await?);
        }
        w.commit().await?;
        Ok(ids)
    }

    /// Finish one spawned build (see [`Db::finish_spawns`]).
    pub async fn set_launched(&self, uuid: Uuid) -> Result<bool> {
        Ok(self.finish_spawns(&[uuid], &[], &[]).await? > 0)
    }

    /// Mark an instance deleted and record, in the same transaction, that
    /// its allocations must be removed from Placement. Returns the outbox
    /// entry ids (the instance's, then those of the migrations it was in),
    /// empty when it was already deleted.
    pub async fn mark_deleted(&self, uuid: Uuid) -> Result<Vec<i64>> {
        let mut w = self.write().await?;
        let now = now_us();
        let n = sqlx::query(
            "UPDATE compute_instances SET vm_state = $3, task_state = NULL, power_state = $4, deleted = id, deleted_at = $1, terminated_at = $1, updated_at = $1 \
             WHERE uuid = $2 AND deleted = 0",
        )
        .bind(now)
        .bind(uuid.to_string())
        .bind(VmState::Deleted.as_str())
        .bind(power_state::NOSTATE)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut ids = vec![insert_outbox_tx(&mut w.tx, self.engine, outbox_kind::DELETE_ALLOCATIONS, uuid).await?];
        // Its moves in progress end, and the allocations their migration
        // records hold go too.
        let marks: Vec<String> = (2..FINISHED_MIGRATION_STATUSES.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT uuid FROM compute_migrations WHERE instance_uuid = $1 AND (status NOT IN ({}) OR status = 'done')",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(uuid.to_string());
        for s in FINISHED_MIGRATION_STATUSES {
            q = q.bind(*s);
        }
        let open: Vec<Uuid> =
            q.fetch_all(&mut *w.tx).await?.iter().map(|r| get_uuid(r, "uuid")).collect::<Result<_>>()?;
        for m in open {
            sqlx::query("UPDATE compute_migrations SET status = $1, updated_at = $2 WHERE uuid = $3")
                .bind(migration_status::ERROR)
                .bind(now)
                .bind(m.to_string())
                .execute(&mut *w.tx)
                .await?;
            ids.push(insert_outbox_tx(&mut w.tx, self.engine, outbox_kind::DELETE_ALLOCATIONS, m).await?);
        }
        // The guest's console log goes with it.
        sqlx::query("DELETE FROM compute_console_log WHERE instance_uuid = $1")
            .bind(uuid.to_string())
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(ids)
    }

    /// Give back a claim whose host was never recorded: an instance still
    /// scheduling with no host, unchanged since `cutoff_us`, goes to ERROR
    /// and "delete its allocations" enters the outbox, in one transaction.
    /// The conditions make it exclusive with [`Db::record_scheduled`]: a
    /// scheduler that records its host after this loses (and gives its
    /// claim back); one that recorded it first makes this a no-op.
    pub async fn abandon_claim(&self, uuid: Uuid, cutoff_us: i64) -> Result<Option<i64>> {
        let mut w = self.write().await?;
        let n = fail_waiting_tx(&mut w.tx, uuid, cutoff_us, now_us()).await?;
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
            .bind(now_us())
            .execute(&mut *w.tx)
            .await?;
        Ok(w.commit().await?)
    }

    pub async fn latest_fault(&self, uuid: Uuid) -> Result<Option<InstanceFault>> {
        let row = sqlx::query(
            "SELECT code, message, details, host, created_at FROM compute_instance_faults WHERE instance_uuid = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(uuid.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(InstanceFault {
                code: get_i64(&r, "code")?,
                message: get_str(&r, "message")?,
                details: get_str(&r, "details")?,
                host: get_opt_str(&r, "host")?,
                created_at: get_i64(&r, "created_at")?,
            })
        })
        .transpose()
    }
}

/// Move the builds of `(instance, host)` still meant for that host to
/// `spawning` in `tx` (one already `spawning`, an earlier attempt's, is
/// carried on); returns those to spawn. One conditional
/// `UPDATE ... FROM (VALUES ...)` per 300 builds: the state check of
/// [`Event::Spawn`] (waiting for a host's build: `scheduling`) is its
/// WHERE clause.
///
/// [`Event::Spawn`]: crate::lifecycle::Event::Spawn
async fn begin_spawns_tx(tx: &mut Tx, builds: &[(Uuid, &str)]) -> Result<std::collections::HashSet<Uuid>> {
    let spawn = crate::lifecycle::effect(crate::lifecycle::Event::Spawn);
    let (Some(vm), Some(task), Some(&[Some(from)])) = (spawn.vm_state, spawn.task_state, spawn.expected) else {
        return Err(ComputeError::internal("the spawn transition is not from one task state"));
    };
    let mut began = std::collections::HashSet::with_capacity(builds.len());
    for chunk in builds.chunks(300) {
        let rows: Vec<String> = (0..chunk.len()).map(|r| format!("(${}, ${})", 5 + 2 * r, 6 + 2 * r)).collect();
        let sql = format!(
            "UPDATE compute_instances SET vm_state = $1, task_state = $2, updated_at = $3 FROM (VALUES {}) AS v \
             WHERE compute_instances.uuid = v.column1 AND compute_instances.host = v.column2 AND deleted = 0 \
             AND (task_state = $4 OR (vm_state = $1 AND task_state = $2)) RETURNING compute_instances.uuid AS uuid",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(vm.as_str()).bind(task.as_str()).bind(now_us()).bind(from.as_str());
        for (u, host) in chunk {
            q = q.bind(u.to_string()).bind(*host);
        }
        for r in q.fetch_all(&mut **tx).await? {
            began.insert(get_uuid(&r, "uuid")?);
        }
    }
    Ok(began)
}

/// ERROR for an instance still waiting for a host (not deleted, no host,
/// `scheduling`) and unchanged since `cutoff_us`; rows changed.
async fn fail_waiting_tx(tx: &mut Tx, uuid: Uuid, cutoff_us: i64, now: i64) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE compute_instances SET vm_state = $1, task_state = NULL, power_state = $2, updated_at = $3 \
         WHERE uuid = $4 AND deleted = 0 AND host IS NULL AND task_state = $5 AND COALESCE(updated_at, created_at) <= $6",
    )
    .bind(VmState::Error.as_str())
    .bind(power_state::NOSTATE)
    .bind(now)
    .bind(uuid.to_string())
    .bind(TaskState::Scheduling.as_str())
    .bind(cutoff_us)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Move an instance to `t`'s states in `tx`, if it is not deleted and its
/// task state is one `t` expects: one conditional UPDATE (a stored task
/// state berth does not know never matches an expectation).
pub(crate) async fn set_state_tx(tx: &mut Tx, uuid: Uuid, t: &Transition) -> Result<bool> {
    let mut sql = "UPDATE compute_instances SET vm_state = COALESCE($1, vm_state), task_state = $2, power_state = COALESCE($3, power_state), updated_at = $4 \
                   WHERE uuid = $5 AND deleted = 0"
        .to_string();
    let mut known: Vec<&'static str> = Vec::new();
    if let Some(exp) = t.expected {
        known = exp.iter().flatten().map(|s| s.as_str()).collect();
        let mut alternatives = Vec::new();
        if exp.contains(&None) {
            alternatives.push("task_state IS NULL".to_string());
        }
        if !known.is_empty() {
            let marks: Vec<String> = (6..6 + known.len()).map(|i| format!("${i}")).collect();
            alternatives.push(format!("task_state IN ({})", marks.join(", ")));
        }
        if alternatives.is_empty() {
            return Ok(false);
        }
        sql.push_str(&format!(" AND ({})", alternatives.join(" OR ")));
    }
    let mut q = sqlx::query(&sql)
        .bind(t.vm_state.map(VmState::as_str))
        .bind(t.task_state.map(TaskState::as_str))
        .bind(t.power_state)
        .bind(now_us())
        .bind(uuid.to_string());
    for k in known {
        q = q.bind(k);
    }
    Ok(q.execute(&mut **tx).await?.rows_affected() > 0)
}

/// One agent's claim (see [`Db::claim_host_tasks`]).
pub(crate) struct HostClaim {
    host: String,
    worker: String,
    lease_ms: i64,
    limit: i64,
}

/// The tasks an agent claimed and the builds it is to spawn.
pub(crate) type Claimed = (Vec<Task>, Vec<Uuid>);

/// The transaction of a batch of agents' claims: each agent's claim and
/// the start of its builds, in turn.
pub(super) fn commit_claims<'a>(db: &'a Db, w: &'a mut WriteTx, claims: &'a [HostClaim]) -> BatchFuture<'a, Claimed> {
    Box::pin(async move {
        let who: Vec<(&str, &str, i64, i64)> =
            claims.iter().map(|c| (c.host.as_str(), c.worker.as_str(), c.lease_ms, c.limit)).collect();
        let tasks = db.claim_hosts_tx(&mut w.tx, &who).await?;
        let builds: Vec<(Uuid, &str)> = claims
            .iter()
            .zip(&tasks)
            .flat_map(|(c, ts)| {
                ts.iter()
                    .filter(|t| t.kind == task_kind::BUILD)
                    .filter_map(|t| t.instance_uuid)
                    .map(move |u| (u, c.host.as_str()))
            })
            .collect();
        let began = begin_spawns_tx(&mut w.tx, &builds).await?;
        Ok(tasks
            .into_iter()
            .map(|ts| {
                let spawning = ts
                    .iter()
                    .filter(|t| t.kind == task_kind::BUILD)
                    .filter_map(|t| t.instance_uuid)
                    .filter(|u| began.contains(u))
                    .collect();
                (ts, spawning)
            })
            .collect())
    })
}

/// One agent's finished builds (see [`Db::finish_spawns`]).
pub(crate) struct Finish {
    uuids: Vec<Uuid>,
    tasks: Vec<i64>,
    console: Vec<(Uuid, String)>,
}

/// The transaction of a batch of agents' finished builds: one UPDATE per
/// 500 builds of the whole batch, one console insert, one task delete.
pub(super) fn commit_finishes<'a>(_db: &'a Db, w: &'a mut WriteTx, finishes: &'a [Finish]) -> BatchFuture<'a, usize> {
    Box::pin(async move {
        let now = now_us();
        let uuids: Vec<Uuid> = finishes.iter().flat_map(|f| f.uuids.iter().copied()).collect();
        let mut launched = std::collections::HashSet::with_capacity(uuids.len());
        for chunk in uuids.chunks(500) {
            let marks: Vec<String> = (5..5 + chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "UPDATE compute_instances SET vm_state = $1, task_state = NULL, power_state = $2, launched_at = $3, updated_at = $3 \
                 WHERE deleted = 0 AND task_state = $4 AND uuid IN ({}) RETURNING uuid",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql)
                .bind(VmState::Active.as_str())
                .bind(power_state::RUNNING)
                .bind(now)
                .bind(TaskState::Spawning.as_str());
            for u in chunk {
                q = q.bind(u.to_string());
            }
            for r in q.fetch_all(&mut *w.tx).await? {
                launched.insert(get_uuid(&r, "uuid")?);
            }
        }
        let console: Vec<(Uuid, String)> = finishes.iter().flat_map(|f| f.console.iter().cloned()).collect();
        super::extras::insert_console_tx(&mut w.tx, &console, false).await?;
        let tasks: Vec<i64> = finishes.iter().flat_map(|f| f.tasks.iter().copied()).collect();
        delete_tasks_tx(&mut w.tx, &tasks).await?;
        Ok(finishes.iter().map(|f| f.uuids.iter().filter(|u| launched.contains(u)).count()).collect())
    })
}

/// Placed instances recorded per statement (5 parameters each).
const PLACED_PER_UPDATE: usize = 100;

/// Record the hosts of placed instances still waiting for one (not
/// deleted, no host, `scheduling`), in one `UPDATE ... FROM (VALUES ...)`
/// (SQLite and PostgreSQL both name a VALUES list's columns `column1`,
/// `column2`, ...); returns the instances recorded.
async fn record_hosts_tx(tx: &mut Tx, placed: &[(Uuid, ComputeNode, String)], now: i64) -> Result<Vec<Uuid>> {
    if placed.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<String> = (0..placed.len())
        .map(|r| {
            let p = |k: usize| format!("${}", 2 + r * 5 + k);
            format!("({}, {}, {}, {}, {})", p(1), p(2), p(3), p(4), p(5))
        })
        .collect();
    let sql = format!(
        "UPDATE compute_instances SET host = v.column2, node = v.column3, node_uuid = v.column4, availability_zone = v.column5, \
         updated_at = $1 FROM (VALUES {}) AS v WHERE compute_instances.uuid = v.column1 AND compute_instances.deleted = 0 \
         AND compute_instances.host IS NULL AND compute_instances.task_state = $2 RETURNING compute_instances.uuid AS uuid",
        rows.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(now).bind(TaskState::Scheduling.as_str());
    for (uuid, node, az) in placed {
        q = q
            .bind(uuid.to_string())
            .bind(node.host.clone())
            .bind(node.hypervisor_hostname.clone())
            .bind(node.uuid.to_string())
            .bind(az.clone());
    }
    q.fetch_all(&mut **tx).await?.iter().map(|r| get_uuid(r, "uuid")).collect()
}
