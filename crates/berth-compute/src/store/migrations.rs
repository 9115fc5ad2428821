//! Migrations (read by the audit; berth does not migrate yet).

use super::*;

impl Db {
    /// Migrations still moving an instance (their allocations are legitimate
    /// on both ends).
    pub async fn in_progress_migrations(&self) -> Result<Vec<Migration>> {
        let placeholders: Vec<String> = (1..=FINISHED_MIGRATION_STATUSES.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT uuid, instance_uuid, source_node_uuid, dest_node_uuid, status FROM compute_migrations \
             WHERE status NOT IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for s in FINISHED_MIGRATION_STATUSES {
            q = q.bind(*s);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
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
