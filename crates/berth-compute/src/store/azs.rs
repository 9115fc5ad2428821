//! Availability zones and the Placement aggregates standing for them.

use super::*;

impl Db {
    /// The Placement aggregate standing for an availability zone (created
    /// on first use).
    pub async fn az_aggregate(&self, name: &str) -> Result<Uuid> {
        if let Some(u) = self.find_az_aggregate(name).await? {
            return Ok(u);
        }
        let mut w = self.write().await?;
        let res = sqlx::query(
            "INSERT INTO compute_availability_zones (name, aggregate_uuid, created_at) VALUES ($1, $2, $3)",
        )
        .bind(name)
        .bind(Uuid::new_v4().to_string())
        .bind(now_us())
        .execute(&mut *w.tx)
        .await;
        match res {
            Ok(_) => w.commit().await?,
            Err(e) => match ComputeError::from(e) {
                // Another request created it first.
                e if e.kind == ErrorKind::Conflict => drop(w),
                e => return Err(e),
            },
        }
        self.find_az_aggregate(name).await?.ok_or_else(|| ComputeError::internal("availability zone vanished"))
    }

    /// Every availability zone with its aggregate.
    pub async fn list_azs(&self) -> Result<Vec<(String, Uuid)>> {
        let rows = sqlx::query("SELECT name, aggregate_uuid FROM compute_availability_zones ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((get_str(r, "name")?, get_uuid(r, "aggregate_uuid")?))).collect()
    }

    pub async fn find_az_aggregate(&self, name: &str) -> Result<Option<Uuid>> {
        let row = sqlx::query("SELECT aggregate_uuid FROM compute_availability_zones WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| get_uuid(&r, "aggregate_uuid")).transpose()
    }
}
