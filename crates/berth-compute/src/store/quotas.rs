//! Per-project quota limits.

use super::*;

impl Db {
    /// The limits set for a project (from the [`crate::db::CatalogCache`]
    /// when it has them).
    pub async fn quotas(&self, project: &str) -> Result<BTreeMap<String, i64>> {
        self.cached_limits(
            format!("p:{project}"),
            "SELECT resource, hard_limit FROM compute_quotas WHERE project_id = $1",
            project,
        )
        .await
    }

    /// Limits (`resource`, `hard_limit` rows of `sql`, whose one parameter
    /// is `arg`) kept in the [`crate::db::CatalogCache`] under `key`.
    pub(super) async fn cached_limits(&self, key: String, sql: &str, arg: &str) -> Result<BTreeMap<String, i64>> {
        if let Some(m) = self.catalog.limits.get(&key) {
            return Ok(m);
        }
        let generation = self.catalog.limits.generation();
        let rows = sqlx::query(sql).bind(arg).fetch_all(&self.pool).await?;
        let m = rows
            .iter()
            .map(|r| Ok((get_str(r, "resource")?, get_i64(r, "hard_limit")?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        self.catalog.limits.put(key, generation, m.clone());
        Ok(m)
    }

    pub async fn set_quotas(&self, project: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
        let mut w = self.write_catalog().await?;
        for (k, v) in limits {
            sqlx::query("DELETE FROM compute_quotas WHERE project_id = $1 AND resource = $2")
                .bind(project)
                .bind(k)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query("INSERT INTO compute_quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)")
                .bind(project)
                .bind(k)
                .bind(v)
                .execute(&mut *w.tx)
                .await?;
        }
        Ok(w.commit().await?)
    }

    pub async fn delete_quotas(&self, project: &str) -> Result<()> {
        let mut w = self.write_catalog().await?;
        sqlx::query("DELETE FROM compute_quotas WHERE project_id = $1").bind(project).execute(&mut *w.tx).await?;
        Ok(w.commit().await?)
    }
}
