//! Creates committed together ([`super::group`]). `POST /servers` records
//! its instances, their `create` actions and their scheduling tasks in one
//! transaction, shared with the creates waiting at the same time: three
//! multi-row INSERTs for the whole batch. A request's create still commits
//! before its 202, atomically with its action and its task.

use super::group::BatchFuture;
use super::*;

/// Creates one transaction takes at most.
pub(super) const BATCH: usize = 64;

/// Instance rows per INSERT statement (25 parameters each).
const ROWS_PER_INSERT: usize = 40;

/// One `POST /servers`: its instances, their request spec, its request id.
pub(crate) struct Create {
    instances: Vec<Instance>,
    payload: Value,
    request_id: String,
}

impl Db {
    /// Record new instances (`BUILD`/`scheduling`), their `create`
    /// instance actions (`request_id`) and queue their scheduling (one task
    /// each, `payload` the request spec), in one transaction (shared with
    /// other creates waiting at the same time: see [`super::group`]); the
    /// scheduler is woken after the commit.
    pub async fn insert_instances_for_scheduling(
        &self,
        instances: &[Instance],
        payload: &Value,
        request_id: &str,
    ) -> Result<()> {
        let create =
            Create { instances: instances.to_vec(), payload: payload.clone(), request_id: request_id.to_string() };
        self.groups.creates.submit(self, create).await
    }
}

/// The transaction of a batch of creates: three multi-row INSERTs.
pub(super) fn commit_creates<'a>(db: &'a Db, w: &'a mut WriteTx, creates: &'a [Create]) -> BatchFuture<'a, ()> {
    Box::pin(async move {
        let all: Vec<&Instance> = creates.iter().flat_map(|c| c.instances.iter()).collect();
        for chunk in all.chunks(ROWS_PER_INSERT) {
            insert_instances_tx(&mut w.tx, chunk).await?;
        }
        let actions: Vec<(Uuid, &str, &str, &str)> = creates
            .iter()
            .flat_map(|c| {
                c.instances
                    .iter()
                    .map(move |i| (i.uuid, c.request_id.as_str(), i.user_id.as_str(), i.project_id.as_str()))
            })
            .collect();
        super::actions::insert_actions_tx(&mut w.tx, "create", &actions).await?;
        let payloads: Vec<String> = creates.iter().map(|c| c.payload.to_string()).collect();
        let tasks: Vec<(&str, Option<Uuid>, &str)> = creates
            .iter()
            .zip(&payloads)
            .flat_map(|(c, p)| c.instances.iter().map(move |i| (SCHEDULER_QUEUE, Some(i.uuid), p.as_str())))
            .collect();
        super::tasks::enqueue_many_tx(&mut w.tx, task_kind::SCHEDULE, &tasks).await?;
        let wakeups = db.wakeups.clone();
        w.after_commit(async move { wakeups.wake(SCHEDULER_QUEUE) });
        Ok(vec![(); creates.len()])
    })
}

/// Insert instance rows (at most a few dozen: 25 parameters each) in `tx`.
async fn insert_instances_tx(tx: &mut Tx, rows: &[&Instance]) -> Result<()> {
    const PARAMS: usize = 25;
    let values: Vec<String> = (0..rows.len())
        .map(|r| {
            let p = |k: usize| format!("${}", r * PARAMS + k);
            let marks: Vec<String> = (1..=24).map(p).collect();
            format!("({}, {}, 0, {})", marks.join(", "), p(24), p(25))
        })
        .collect();
    let sql = format!(
        "INSERT INTO compute_instances (uuid, display_name, hostname, description, project_id, user_id, image_ref, flavor, vm_state, task_state, power_state, \
         host, node, node_uuid, availability_zone, requested_az, metadata, key_name, access_ip_v4, access_ip_v6, locked, reservation_id, launch_index, created_at, updated_at, deleted, user_data) \
         VALUES {}",
        values.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for i in rows {
        q = q
            .bind(i.uuid.to_string())
            .bind(i.display_name.clone())
            .bind(i.hostname.clone())
            .bind(i.description.clone())
            .bind(i.project_id.clone())
            .bind(i.user_id.clone())
            .bind(i.image_ref.clone())
            .bind(serde_json::to_string(&i.flavor).unwrap_or_default())
            .bind(i.vm_state.as_str())
            .bind(i.task_state.map(TaskState::as_str))
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
            .bind(i.reservation_id.clone())
            .bind(i.launch_index)
            .bind(i.created_at)
            .bind(i.user_data.clone());
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
