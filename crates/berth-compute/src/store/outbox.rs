//! The outbox of Placement operations that must eventually happen.

use super::*;

pub(crate) async fn insert_outbox_tx(tx: &mut Tx, engine: Engine, kind: &str, consumer: Uuid) -> Result<i64> {
    let now = now_us();
    let _ = engine;
    let row = sqlx::query(
        "INSERT INTO compute_outbox (kind, consumer_uuid, payload, attempts, next_attempt_at, created_at) VALUES ($1, $2, '{}', 0, $3, $3) RETURNING id",
    )
    .bind(kind)
    .bind(consumer.to_string())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    get_i64(&row, "id")
}

/// Delete outbox entries in a transaction.
pub(crate) async fn delete_outbox_tx(tx: &mut Tx, ids: &[i64]) -> Result<()> {
    super::tasks::delete_ids_tx(tx, "compute_outbox", ids).await
}

fn outbox_from_row(r: &AnyRow) -> Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: get_i64(r, "id")?,
        kind: get_str(r, "kind")?,
        consumer_uuid: get_uuid(r, "consumer_uuid")?,
        attempts: get_i64(r, "attempts")?,
        last_error: get_opt_str(r, "last_error")?,
        created_at: get_i64(r, "created_at")?,
    })
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
        let now = now_us();
        let mut w = self.write().await?;
        // Due: its retry time has come, or its lease belongs to a process
        // that is gone.
        let cond =
            if only_if_due { format!(" AND (next_attempt_at <= $4 OR {})", self.dead_owner()) } else { String::new() };
        let sql = format!(
            "UPDATE compute_outbox SET next_attempt_at = $1, claimed_proc = $3 WHERE id = $2{cond} \
             RETURNING id, kind, consumer_uuid, attempts, last_error, created_at"
        );
        let mut q = sqlx::query(&sql).bind(now + ms_to_us(lease_ms)).bind(id).bind(self.proc_key());
        if only_if_due {
            q = q.bind(now);
        }
        let row = q.fetch_optional(&mut *w.tx).await?;
        w.commit().await?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    /// Ids of entries due now (oldest first).
    pub async fn due_outbox(&self, limit: i64) -> Result<Vec<i64>> {
        let sql = format!(
            "SELECT id FROM compute_outbox WHERE next_attempt_at <= $1 OR {} ORDER BY id LIMIT $2",
            self.dead_owner()
        );
        let rows = sqlx::query(&sql).bind(now_us()).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(|r| get_i64(r, "id")).collect()
    }

    pub async fn list_outbox(&self) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT id, kind, consumer_uuid, attempts, last_error, created_at FROM compute_outbox ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Remove a done entry (in a transaction shared with other closings
    /// of this process: see [`super::group`]).
    pub async fn delete_outbox(&self, id: i64) -> Result<()> {
        self.groups.closings.submit(self, super::tasks::Closing::Outbox(id)).await
    }

    pub async fn outbox_failed(&self, id: i64, error: &str, retry_in_ms: i64) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "UPDATE compute_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, claimed_proc = NULL WHERE id = $3",
        )
        .bind(error)
        .bind(now_us() + ms_to_us(retry_in_ms))
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        Ok(w.commit().await?)
    }
}
