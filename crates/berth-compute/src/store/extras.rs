//! Server extras: locks (os-lock-server), the admin state reset, tags and
//! the console log the simulated hypervisor writes.

use super::*;

/// Most console lines kept per instance (older ones are dropped as new
/// ones arrive, the way a serial log file rotates).
pub const CONSOLE_LINES_KEPT: i64 = 1000;

/// Append console lines in `tx` (`trim`: keep only the last
/// `CONSOLE_LINES_KEPT` of each instance touched).
pub(super) async fn insert_console_tx(tx: &mut Tx, lines: &[(Uuid, String)], trim: bool) -> Result<()> {
    let now = now_us();
    for chunk in lines.chunks(200) {
        let marks: Vec<String> =
            (0..chunk.len()).map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3)).collect();
        let sql =
            format!("INSERT INTO compute_console_log (instance_uuid, line, created_at) VALUES {}", marks.join(", "));
        let mut q = sqlx::query(&sql);
        for (u, line) in chunk {
            q = q.bind(u.to_string()).bind(line.clone()).bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    if trim {
        let touched: std::collections::BTreeSet<Uuid> = lines.iter().map(|(u, _)| *u).collect();
        for u in touched {
            sqlx::query(
                "DELETE FROM compute_console_log WHERE instance_uuid = $1 AND id NOT IN \
                 (SELECT id FROM compute_console_log WHERE instance_uuid = $1 ORDER BY id DESC LIMIT $2)",
            )
            .bind(u.to_string())
            .bind(CONSOLE_LINES_KEPT)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

impl Db {
    /// Lock (`Some((by, reason))`) or unlock (`None`) a live instance.
    /// `false` when it does not exist (or is deleted).
    pub async fn set_lock(&self, uuid: Uuid, lock: Option<(&str, Option<&str>)>) -> Result<bool> {
        let mut w = self.write().await?;
        let (locked, by, reason) = match lock {
            Some((by, reason)) => (true, Some(by.to_string()), reason.map(str::to_string)),
            None => (false, None, None),
        };
        let n = sqlx::query(
            "UPDATE compute_instances SET locked = $1, locked_by = $2, locked_reason = $3, updated_at = $4 \
             WHERE uuid = $5 AND deleted = 0",
        )
        .bind(b(locked))
        .bind(by)
        .bind(reason)
        .bind(now_us())
        .bind(uuid.to_string())
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    /// `os-resetState`: set the vm state and clear the task state, whatever
    /// they were. Work already queued for the instance stays queued and
    /// changes nothing: an agent finishing it finds its compare-and-set on
    /// the task state failing (a move's tasks stay too, so its migration
    /// still ends and gives its allocations back). `false` when the
    /// instance is gone.
    pub async fn reset_state(&self, uuid: Uuid, vm: VmState) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query(
            "UPDATE compute_instances SET vm_state = $1, task_state = NULL, updated_at = $2 WHERE uuid = $3 AND deleted = 0",
        )
        .bind(vm.as_str())
        .bind(now_us())
        .bind(uuid.to_string())
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    /// Tags of the given instances (every listed instance has an entry).
    pub async fn tags_of(&self, uuids: &[Uuid]) -> Result<BTreeMap<Uuid, Vec<String>>> {
        let mut out: BTreeMap<Uuid, Vec<String>> = uuids.iter().map(|u| (*u, Vec::new())).collect();
        let mut c = self.pool.acquire().await?;
        for chunk in uuids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT instance_uuid, tag FROM compute_instance_tags WHERE instance_uuid IN ({}) ORDER BY instance_uuid, tag",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for u in chunk {
                q = q.bind(u.to_string());
            }
            for r in q.fetch_all(&mut *c).await? {
                out.entry(get_uuid(&r, "instance_uuid")?).or_default().push(get_str(&r, "tag")?);
            }
        }
        Ok(out)
    }

    /// Replace every tag of an instance.
    pub async fn replace_tags(&self, uuid: Uuid, tags: &[String]) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM compute_instance_tags WHERE instance_uuid = $1")
            .bind(uuid.to_string())
            .execute(&mut *w.tx)
            .await?;
        insert_tags_tx(&mut w.tx, uuid, tags).await?;
        touch_tx(&mut w.tx, uuid).await?;
        Ok(w.commit().await?)
    }

    /// Add one tag; `Ok(false)` when the instance already had it. Refused
    /// (bad request, as Nova answers) when it would make more than `max`.
    pub async fn add_tag(&self, uuid: Uuid, tag: &str, max: usize) -> Result<bool> {
        let mut w = self.write().await?;
        let existing: Vec<String> = sqlx::query("SELECT tag FROM compute_instance_tags WHERE instance_uuid = $1")
            .bind(uuid.to_string())
            .fetch_all(&mut *w.tx)
            .await?
            .iter()
            .map(|r| get_str(r, "tag"))
            .collect::<Result<_>>()?;
        if existing.iter().any(|t| t == tag) {
            return Ok(false);
        }
        if existing.len() >= max {
            return Err(ComputeError::new(
                ErrorKind::BadRequest,
                format!("The number of tags exceeded the per-server limit {max}"),
            ));
        }
        insert_tags_tx(&mut w.tx, uuid, &[tag.to_string()]).await?;
        touch_tx(&mut w.tx, uuid).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Remove one tag; `false` when the instance did not have it.
    pub async fn delete_tag(&self, uuid: Uuid, tag: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM compute_instance_tags WHERE instance_uuid = $1 AND tag = $2")
            .bind(uuid.to_string())
            .bind(tag)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if n > 0 {
            touch_tx(&mut w.tx, uuid).await?;
        }
        w.commit().await?;
        Ok(n > 0)
    }

    /// Append console lines (one statement for any number of instances).
    /// `trim`: keep only the last [`CONSOLE_LINES_KEPT`] of each instance
    /// touched (a first boot has nothing to trim, and skips it).
    pub async fn append_console(&self, lines: &[(Uuid, String)], trim: bool) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut w = self.write().await?;
        insert_console_tx(&mut w.tx, lines, trim).await?;
        Ok(w.commit().await?)
    }

    /// The last `tail` console lines of an instance (`None`: all kept).
    pub async fn console_lines(&self, uuid: Uuid, tail: Option<i64>) -> Result<Vec<String>> {
        let limit = tail.unwrap_or(CONSOLE_LINES_KEPT).clamp(0, CONSOLE_LINES_KEPT);
        let rows =
            sqlx::query("SELECT line FROM compute_console_log WHERE instance_uuid = $1 ORDER BY id DESC LIMIT $2")
                .bind(uuid.to_string())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        let mut lines: Vec<String> = rows.iter().map(|r| get_str(r, "line")).collect::<Result<_>>()?;
        lines.reverse();
        Ok(lines)
    }
}

async fn insert_tags_tx(tx: &mut Tx, uuid: Uuid, tags: &[String]) -> Result<()> {
    for chunk in tags.chunks(200) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${})", i + 2)).collect();
        let sql = format!("INSERT INTO compute_instance_tags (instance_uuid, tag) VALUES {}", marks.join(", "));
        let mut q = sqlx::query(&sql).bind(uuid.to_string());
        for t in chunk {
            q = q.bind(t.clone());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Bump `updated_at` (tag changes show in `changes-since`).
async fn touch_tx(tx: &mut Tx, uuid: Uuid) -> Result<()> {
    sqlx::query("UPDATE compute_instances SET updated_at = $1 WHERE uuid = $2")
        .bind(now_us())
        .bind(uuid.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
