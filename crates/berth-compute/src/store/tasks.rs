//! The work queue between the API and the agents (`compute_tasks`).

use std::collections::HashMap;

use super::*;

pub(crate) async fn enqueue_tx(
    tx: &mut Tx,
    host: &str,
    kind: &str,
    instance: Option<Uuid>,
    payload: &Value,
) -> Result<()> {
    let now = now_us();
    sqlx::query("INSERT INTO compute_tasks (host, kind, instance_uuid, payload, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $6, $5, $5)")
        .bind(host)
        .bind(kind)
        .bind(instance.map(|u| u.to_string()))
        .bind(payload.to_string())
        .bind(now)
        .bind(QueueState::Pending.as_str())
        .execute(&mut **tx)
        .await?;
    // Other processes' workers hear of it at commit (never for a rollback).
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT 1 AS one FROM (SELECT pg_notify($1, $2)) AS n")
            .bind(crate::wake::WAKE_CHANNEL)
            .bind(host)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Queue tasks of one kind for many hosts in a transaction, each with its
/// payload (JSON text): one multi-row INSERT per 100 tasks and, on
/// PostgreSQL, one statement notifying each host once.
pub(crate) async fn enqueue_many_tx(tx: &mut Tx, kind: &str, items: &[(&str, Option<Uuid>, &str)]) -> Result<()> {
    let now = now_us();
    for chunk in items.chunks(100) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, $1, ${}, ${}, $2, $3, $3)", 4 + 3 * i, 5 + 3 * i, 6 + 3 * i))
            .collect();
        let sql = format!(
            "INSERT INTO compute_tasks (host, kind, instance_uuid, payload, state, created_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(kind).bind(QueueState::Pending.as_str()).bind(now);
        for (host, instance, payload) in chunk {
            q = q.bind(*host).bind(instance.map(|u| u.to_string())).bind(*payload);
        }
        q.execute(&mut **tx).await?;
    }
    if tx.backend_name() == "PostgreSQL" && !items.is_empty() {
        let hosts: std::collections::BTreeSet<&str> = items.iter().map(|(h, _, _)| *h).collect();
        for chunk in hosts.into_iter().collect::<Vec<_>>().chunks(100) {
            let calls: Vec<String> = (0..chunk.len()).map(|i| format!("pg_notify($1, ${})", i + 2)).collect();
            let sql = format!("SELECT 1 AS one FROM (SELECT {}) AS n", calls.join(", "));
            let mut q = sqlx::query(&sql).bind(crate::wake::WAKE_CHANNEL);
            for h in chunk {
                q = q.bind(*h);
            }
            q.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// A task row (`id, host, kind, instance_uuid, payload, attempts`).
fn task_from_row(r: &AnyRow) -> Result<Task> {
    Ok(Task {
        id: get_i64(r, "id")?,
        host: get_str(r, "host")?,
        kind: get_str(r, "kind")?,
        instance_uuid: get_opt_uuid(r, "instance_uuid")?,
        payload: get_json(r, "payload")?,
        attempts: get_i64(r, "attempts")?,
    })
}

/// Close (delete) tasks in a transaction.
pub(crate) async fn delete_tasks_tx(tx: &mut Tx, ids: &[i64]) -> Result<()> {
    delete_ids_tx(tx, "compute_tasks", ids).await
}

/// Delete the rows of `table` (a constant of this module tree) with these
/// ids, 500 per statement.
pub(super) async fn delete_ids_tx(tx: &mut Tx, table: &'static str, ids: &[i64]) -> Result<()> {
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("DELETE FROM {table} WHERE id IN ({})", marks.join(", "));
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Db {
    /// Move an instance to new states and queue a task for its host, in one
    /// transaction; `false` (nothing queued) when the state check failed.
    pub async fn transition_and_enqueue(&self, uuid: Uuid, t: &Transition, host: &str, kind: &str) -> Result<bool> {
        let mut w = self.write().await?;
        if !set_state_tx(&mut w.tx, uuid, t).await? {
            return Ok(false);
        }
        enqueue_tx(&mut w.tx, host, kind, Some(uuid), &Value::Null).await?;
        w.commit().await?;
        self.wakeups.wake(host);
        Ok(true)
    }

    /// Claim up to `limit` runnable tasks of `host` (oldest first): pending
    /// tasks whose retry time has come, or running ones whose lease expired
    /// (their worker died), leased for `lease_ms`. One conditional UPDATE;
    /// on PostgreSQL the rows are picked with `FOR UPDATE SKIP LOCKED` so
    /// concurrent workers never wait on each other.
    pub async fn claim_tasks(&self, host: &str, worker: &str, lease_ms: i64, limit: i64) -> Result<Vec<Task>> {
        let mut w = self.write().await?;
        let tasks = self.claim_tasks_tx(&mut w.tx, host, worker, lease_ms, limit).await?;
        w.commit().await?;
        Ok(tasks)
    }

    /// SQL true for a task that may be claimed now: pending and due, or
    /// running with a lease that ran out or whose process is gone.
    /// `pending`, `running` and `now` are the placeholders of those values.
    fn runnable_sql(&self, pending: &str, running: &str, now: &str) -> String {
        format!(
            "((state = {pending} AND (claimed_until IS NULL OR claimed_until <= {now})) \
             OR (state = {running} AND (claimed_until < {now} OR {})))",
            self.dead_owner()
        )
    }

    /// [`Db::claim_tasks`] inside `tx`.
    pub(super) async fn claim_tasks_tx(
        &self,
        tx: &mut Tx,
        host: &str,
        worker: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Task>> {
        let now = now_us();
        let lock = match self.engine {
            Engine::Sqlite => "",
            Engine::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE compute_tasks SET state = $5, claimed_by = $1, claimed_until = $2, claimed_proc = $8, attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM compute_tasks WHERE host = $4 AND {} ORDER BY id LIMIT $7{lock}) \
             RETURNING id, host, kind, instance_uuid, payload, attempts",
            self.runnable_sql("$6", "$5", "$3")
        );
        let rows = sqlx::query(&sql)
            .bind(worker)
            .bind(now + ms_to_us(lease_ms))
            .bind(now)
            .bind(host)
            .bind(QueueState::Running.as_str())
            .bind(QueueState::Pending.as_str())
            .bind(limit)
            .bind(self.proc_key())
            .fetch_all(&mut **tx)
            .await?;
        let mut tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        tasks.sort_by_key(|t| t.id);
        Ok(tasks)
    }

    /// [`Db::claim_tasks`] for many hosts at once in `tx` (the agents of a
    /// process claiming together): each `(host, worker, lease_ms, limit)`
    /// gets up to `limit` of its host's runnable tasks, oldest first. Two
    /// statements for the whole batch: a SELECT ranking each host's
    /// runnable tasks (a window function; no lock), and one
    /// `UPDATE ... FROM (VALUES ...)` that leases them, re-checking that
    /// each is still runnable (on PostgreSQL a row another worker took
    /// meanwhile is skipped by that check once its lock is released).
    /// Returns the tasks of each claim, in the order of `claims` (a host
    /// named twice: the first gets them).
    pub(super) async fn claim_hosts_tx(
        &self,
        tx: &mut Tx,
        claims: &[(&str, &str, i64, i64)],
    ) -> Result<Vec<Vec<Task>>> {
        let now = now_us();
        let runnable = self.runnable_sql("$2", "$1", "$3");
        let mut first_claim: HashMap<&str, usize> = HashMap::new();
        for (i, (host, _, _, _)) in claims.iter().enumerate() {
            first_claim.entry(host).or_insert(i);
        }
        let hosts: Vec<&str> = first_claim.keys().copied().collect();
        let limit = claims.iter().map(|c| c.3).max().unwrap_or(0);
        let mut picked: Vec<(i64, usize)> = Vec::new();
        for chunk in hosts.chunks(500) {
            let marks: Vec<String> = (5..5 + chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, host FROM (SELECT id, host, ROW_NUMBER() OVER (PARTITION BY host ORDER BY id) AS n \
                 FROM compute_tasks WHERE host IN ({}) AND {runnable}) AS r WHERE n <= $4",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql)
                .bind(QueueState::Running.as_str())
                .bind(QueueState::Pending.as_str())
                .bind(now)
                .bind(limit);
            for h in chunk {
                q = q.bind(*h);
            }
            for r in q.fetch_all(&mut **tx).await? {
                let host = get_str(&r, "host")?;
                if let Some(&c) = first_claim.get(host.as_str()) {
                    picked.push((get_i64(&r, "id")?, c));
                }
            }
        }
        // Each claim's own limit, oldest first, before anything is leased.
        picked.sort_unstable();
        let mut taken = vec![0i64; claims.len()];
        picked.retain(|&(_, c)| {
            taken[c] += 1;
            taken[c] <= claims[c].3
        });
        let mut out: Vec<Vec<Task>> = vec![Vec::new(); claims.len()];
        for chunk in picked.chunks(300) {
            let rows: Vec<String> =
                (0..chunk.len()).map(|r| format!("(${}, ${}, ${})", 5 + 3 * r, 6 + 3 * r, 7 + 3 * r)).collect();
            let sql = format!(
                "UPDATE compute_tasks SET state = $1, claimed_by = v.column2, claimed_until = v.column3, claimed_proc = $4, \
                 attempts = attempts + 1, updated_at = $3 FROM (VALUES {}) AS v WHERE compute_tasks.id = v.column1 AND {runnable} \
                 RETURNING compute_tasks.id AS id, compute_tasks.host AS host, compute_tasks.kind AS kind, \
                 compute_tasks.instance_uuid AS instance_uuid, compute_tasks.payload AS payload, compute_tasks.attempts AS attempts",
                rows.join(", ")
            );
            let mut q = sqlx::query(&sql)
                .bind(QueueState::Running.as_str())
                .bind(QueueState::Pending.as_str())
                .bind(now)
                .bind(self.proc_key());
            for (id, c) in chunk {
                let (_, worker, lease_ms, _) = claims[*c];
                q = q.bind(*id).bind(worker).bind(now + ms_to_us(lease_ms));
            }
            for r in q.fetch_all(&mut **tx).await? {
                let task = task_from_row(&r)?;
                if let Some(&c) = first_claim.get(task.host.as_str()) {
                    out[c].push(task);
                }
            }
        }
        for tasks in &mut out {
            tasks.sort_by_key(|t| t.id);
        }
        Ok(out)
    }

    /// The queues (hosts, and the scheduler's) that have runnable work now:
    /// the slow poll that backs up wake-ups, one query for a whole process.
    pub async fn runnable_queues(&self) -> Result<Vec<String>> {
        let sql = format!("SELECT DISTINCT host FROM compute_tasks WHERE {}", self.runnable_sql("$1", "$2", "$3"));
        let rows = sqlx::query(&sql)
            .bind(QueueState::Pending.as_str())
            .bind(QueueState::Running.as_str())
            .bind(now_us())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| get_str(r, "host")).collect()
    }

    /// Instances with an open (pending or running) task of `kind`.
    pub async fn instances_with_open_task(&self, kind: &str) -> Result<std::collections::BTreeSet<Uuid>> {
        let rows = sqlx::query(
            "SELECT instance_uuid FROM compute_tasks WHERE kind = $1 AND state IN ($2, $3) AND instance_uuid IS NOT NULL",
        )
        .bind(kind)
        .bind(QueueState::Pending.as_str())
        .bind(QueueState::Running.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| get_uuid(r, "instance_uuid")).collect()
    }

    /// Put back at once the running tasks of `host` leased by any worker
    /// other than `worker` (an earlier incarnation of this host's agent
    /// that died): they are runnable now, not when their lease runs out.
    /// Assumes one agent per host, as Nova does.
    pub async fn release_stale_leases(&self, host: &str, worker: &str) -> Result<u64> {
        let mut w = self.write().await?;
        let n = sqlx::query(
            "UPDATE compute_tasks SET state = $1, claimed_by = NULL, claimed_until = NULL, claimed_proc = NULL, updated_at = $2 \
             WHERE host = $3 AND state = $4 AND (claimed_by IS NULL OR claimed_by <> $5)",
        )
        .bind(QueueState::Pending.as_str())
        .bind(now_us())
        .bind(host)
        .bind(QueueState::Running.as_str())
        .bind(worker)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(n)
    }

    /// Close a task that ran (deleted, in a transaction shared with other
    /// closings of this process: see [`super::group`]).
    pub async fn complete_task(&self, id: i64) -> Result<()> {
        self.groups.closings.submit(self, Closing::Task(id)).await
    }

    /// Put a task back for a retry after `delay_ms`, or mark it failed.
    pub async fn retry_task(&self, id: i64, error: &str, delay_ms: i64, give_up: bool) -> Result<()> {
        let mut w = self.write().await?;
        let now = now_us();
        sqlx::query("UPDATE compute_tasks SET state = $1, claimed_by = NULL, claimed_proc = NULL, claimed_until = $2, last_error = $3, updated_at = $4 WHERE id = $5")
            .bind(if give_up { QueueState::Failed } else { QueueState::Pending }.as_str())
            .bind(now + ms_to_us(delay_ms))
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        Ok(w.commit().await?)
    }

    /// Tasks not yet done for a host (pending or running).
    pub async fn open_tasks(&self, host: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM compute_tasks WHERE host = $1 AND state IN ($2, $3)",
        )
        .bind(host)
        .bind(QueueState::Pending.as_str())
        .bind(QueueState::Running.as_str())
        .fetch_one(&self.pool)
        .await?;
        get_i64(&row, "n")
    }
}

/// A finished task or a done outbox entry, to delete.
pub(crate) enum Closing {
    Task(i64),
    Outbox(i64),
}

/// The transaction of a batch of closings: one DELETE per table.
pub(super) fn commit_closings<'a>(
    _db: &'a Db,
    w: &'a mut WriteTx,
    closings: &'a [Closing],
) -> super::group::BatchFuture<'a, ()> {
    Box::pin(async move {
        let tasks: Vec<i64> =
            closings.iter().filter_map(|c| if let Closing::Task(id) = c { Some(*id) } else { None }).collect();
        delete_tasks_tx(&mut w.tx, &tasks).await?;
        let entries: Vec<i64> =
            closings.iter().filter_map(|c| if let Closing::Outbox(id) = c { Some(*id) } else { None }).collect();
        super::outbox::delete_outbox_tx(&mut w.tx, &entries).await?;
        Ok(vec![(); closings.len()])
    })
}
