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
}
