//! Quota classes (`os-quota-class-sets`): limits by class name.

use super::*;

impl Db {
    /// The limits set for a quota class (from the
    /// [`crate::db::CatalogCache`] when it has them).
    pub async fn quota_class(&self, class: &str) -> Result<BTreeMap<String, i64>> {
        self.cached_limits(
            format!("c:{class}"),
            "SELECT resource, hard_limit FROM compute_quota_classes WHERE class_name = $1",
            class,
        )
        .await
    }

    pub async fn set_quota_class(&self, class: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
        let mut w = self.write_catalog().await?;
        for (k, v) in limits {
            sqlx::query("DELETE FROM compute_quota_classes WHERE class_name = $1 AND resource = $2")
                .bind(class)
                .bind(k)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query("INSERT INTO compute_quota_classes (class_name, resource, hard_limit) VALUES ($1, $2, $3)")
                .bind(class)
                .bind(k)
                .bind(v)
                .execute(&mut *w.tx)
                .await?;
        }
        Ok(w.commit().await?)
    }
}
