//! Instance actions and their events (`os-instance-actions`): one action
//! per API request that acts on a server (keyed by its request id), events
//! recorded by the agents that do the work.

use super::*;

fn action_from_row(r: &AnyRow) -> Result<InstanceAction> {
    Ok(InstanceAction {
        id: get_i64(r, "id")?,
        instance_uuid: get_uuid(r, "instance_uuid")?,
        action: get_str(r, "action")?,
        request_id: get_str(r, "request_id")?,
        user_id: get_str(r, "user_id")?,
        project_id: get_str(r, "project_id")?,
        message: get_opt_str(r, "message")?,
        start_time: get_i64(r, "start_time")?,
        finish_time: get_opt_i64(r, "finish_time")?,
        updated_at: get_opt_i64(r, "updated_at")?,
    })
}

const ACTION_COLS: &str =
    "id, instance_uuid, action, request_id, user_id, project_id, message, start_time, finish_time, updated_at";

/// Insert instance actions of one kind (started now) in `tx`, one
/// multi-row INSERT per 100: `(instance, request_id, user_id, project_id)`.
pub(super) async fn insert_actions_tx(tx: &mut Tx, action: &str, rows: &[(Uuid, &str, &str, &str)]) -> Result<()> {
    let now = now_us();
    for chunk in rows.chunks(100) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, $1, ${}, ${}, ${}, $2, $2)", 3 + 4 * i, 4 + 4 * i, 5 + 4 * i, 6 + 4 * i))
            .collect();
        let sql = format!(
            "INSERT INTO compute_instance_actions (instance_uuid, action, request_id, user_id, project_id, start_time, updated_at) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(action).bind(now);
        for (instance, request_id, user_id, project_id) in chunk {
            q = q.bind(instance.to_string()).bind(*request_id).bind(*user_id).bind(*project_id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Db {
    /// Record that `request_id` started `action` on an instance.
    pub async fn record_action(
        &self,
        instance: Uuid,
        action: &str,
        request_id: &str,
        user_id: &str,
        project_id: &str,
    ) -> Result<()> {
        let record = ActionRecord {
            instance,
            action: action.to_string(),
            request_id: request_id.to_string(),
            user_id: user_id.to_string(),
            project_id: project_id.to_string(),
        };
        self.groups.actions.submit(self, record).await
    }

    /// Record a finished event of the action `request_id` on `instance`
    /// (`error`: it failed, and why). An unknown action records nothing.
    pub async fn record_event(
        &self,
        instance: Uuid,
        request_id: &str,
        event: &str,
        host: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        let mut w = self.write().await?;
        let now = now_us();
        let row = sqlx::query(
            "SELECT id FROM compute_instance_actions WHERE instance_uuid = $1 AND request_id = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(instance.to_string())
        .bind(request_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(row) = row else { return Ok(()) };
        let id = get_i64(&row, "id")?;
        sqlx::query(
            "INSERT INTO compute_instance_action_events (action_id, event, result, traceback, details, host, start_time, finish_time) \
             VALUES ($1, $2, $3, NULL, $4, $5, $6, $6)",
        )
        .bind(id)
        .bind(event)
        .bind(if error.is_some() { "Error" } else { "Success" })
        .bind(error.map(str::to_string))
        .bind(host.map(str::to_string))
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        sqlx::query(
            "UPDATE compute_instance_actions SET updated_at = $1, message = COALESCE($2, message) WHERE id = $3",
        )
        .bind(now)
        .bind(error.map(|_| "Error".to_string()))
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        Ok(w.commit().await?)
    }

    /// The actions of an instance, newest first.
    pub async fn list_actions(&self, instance: Uuid) -> Result<Vec<InstanceAction>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACTION_COLS} FROM compute_instance_actions WHERE instance_uuid = $1 ORDER BY start_time DESC, id DESC"
        ))
        .bind(instance.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(action_from_row).collect()
    }

    /// One action with its events (oldest first).
    pub async fn get_action(
        &self,
        instance: Uuid,
        request_id: &str,
    ) -> Result<Option<(InstanceAction, Vec<ActionEvent>)>> {
        let row = sqlx::query(&format!(
            "SELECT {ACTION_COLS} FROM compute_instance_actions WHERE instance_uuid = $1 AND request_id = $2 ORDER BY id DESC LIMIT 1"
        ))
        .bind(instance.to_string())
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let action = action_from_row(&row)?;
        let rows = sqlx::query(
            "SELECT event, result, traceback, details, host, start_time, finish_time FROM compute_instance_action_events \
             WHERE action_id = $1 ORDER BY id",
        )
        .bind(action.id)
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .iter()
            .map(|r| {
                Ok(ActionEvent {
                    event: get_str(r, "event")?,
                    result: get_opt_str(r, "result")?,
                    traceback: get_opt_str(r, "traceback")?,
                    details: get_opt_str(r, "details")?,
                    host: get_opt_str(r, "host")?,
                    start_time: get_i64(r, "start_time")?,
                    finish_time: get_opt_i64(r, "finish_time")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((action, events)))
    }
}

/// An instance action to record (see [`Db::record_action`]).
pub(crate) struct ActionRecord {
    instance: Uuid,
    action: String,
    request_id: String,
    user_id: String,
    project_id: String,
}

/// The transaction of a batch of instance actions: one multi-row INSERT
/// per kind of action.
pub(super) fn commit_actions<'a>(
    _db: &'a Db,
    w: &'a mut WriteTx,
    records: &'a [ActionRecord],
) -> super::group::BatchFuture<'a, ()> {
    Box::pin(async move {
        let mut by_kind: BTreeMap<&str, Vec<(Uuid, &str, &str, &str)>> = BTreeMap::new();
        for r in records {
            by_kind.entry(r.action.as_str()).or_default().push((
                r.instance,
                r.request_id.as_str(),
                r.user_id.as_str(),
                r.project_id.as_str(),
            ));
        }
        for (action, rows) in by_kind {
            insert_actions_tx(&mut w.tx, action, &rows).await?;
        }
        Ok(vec![(); records.len()])
    })
}
