//! Compute services (one per host and binary) and their heartbeats.

use super::*;

/// A service's zone: the zone of a host aggregate its host is in (see
/// `aggregates.rs`), else the zone it registered with.
const SERVICE_COLS: &str = "id, uuid, host, service_binary, \
    COALESCE((SELECT a.availability_zone FROM compute_aggregate_hosts ah \
    JOIN compute_aggregates a ON a.id = ah.aggregate_id \
    WHERE ah.host = compute_services.host AND a.availability_zone IS NOT NULL \
    ORDER BY a.availability_zone LIMIT 1), \
    compute_services.availability_zone) AS availability_zone, \
    disabled, disabled_reason, forced_down, last_seen_up, report_count, created_at, updated_at";

fn service_from_row(r: &AnyRow) -> Result<Service> {
    Ok(Service {
        id: get_i64(r, "id")?,
        uuid: get_uuid(r, "uuid")?,
        host: get_str(r, "host")?,
        binary: get_str(r, "service_binary")?,
        availability_zone: get_str(r, "availability_zone")?,
        disabled: get_bool(r, "disabled")?,
        disabled_reason: get_opt_str(r, "disabled_reason")?,
        forced_down: get_bool(r, "forced_down")?,
        last_seen_up: get_opt_i64(r, "last_seen_up")?,
        report_count: get_i64(r, "report_count")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_opt_i64(r, "updated_at")?,
    })
}

/// Create a service, or update the zone of an existing one (its flags are
/// kept).
async fn upsert_service_tx(tx: &mut Tx, host: &str, binary: &str, az: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO compute_services (uuid, host, service_binary, availability_zone, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (host, service_binary) DO UPDATE SET availability_zone = excluded.availability_zone, updated_at = excluded.updated_at",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(host)
    .bind(binary)
    .bind(az)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// Register a service (or find it): the availability zone is updated,
    /// the disabled/forced-down flags are kept.
    pub async fn register_service(&self, host: &str, binary: &str, az: &str) -> Result<Service> {
        let mut w = self.write().await?;
        upsert_service_tx(&mut w.tx, host, binary, az, now_us()).await?;
        let row = sqlx::query(&format!(
            "SELECT {SERVICE_COLS} FROM compute_services WHERE host = $1 AND service_binary = $2"
        ))
        .bind(host)
        .bind(binary)
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit().await?;
        self.hosts_changed();
        service_from_row(&row)
    }

    /// Register many services in one transaction (new ones created, the
    /// zone of existing ones updated; flags kept).
    pub async fn register_services(&self, hosts: &[String], binary: &str, az: &str) -> Result<()> {
        let mut w = self.write().await?;
        let now = now_us();
        for host in hosts {
            upsert_service_tx(&mut w.tx, host, binary, az, now).await?;
        }
        w.commit().await?;
        self.hosts_changed();
        Ok(())
    }

    pub async fn list_services(&self) -> Result<Vec<Service>> {
        let rows = sqlx::query(&format!("SELECT {SERVICE_COLS} FROM compute_services ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(service_from_row).collect()
    }

    pub async fn service_by_host(&self, host: &str, binary: &str) -> Result<Option<Service>> {
        let row = sqlx::query(&format!(
            "SELECT {SERVICE_COLS} FROM compute_services WHERE host = $1 AND service_binary = $2"
        ))
        .bind(host)
        .bind(binary)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(service_from_row).transpose()
    }

    /// Record a heartbeat; `None` when the service row is gone.
    pub async fn heartbeat(&self, id: i64) -> Result<Option<Service>> {
        let mut w = self.write().await?;
        let now = now_us();
        sqlx::query("UPDATE compute_services SET last_seen_up = $1, report_count = report_count + 1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        let row = sqlx::query(&format!("SELECT {SERVICE_COLS} FROM compute_services WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *w.tx)
            .await?;
        w.commit().await?;
        row.as_ref().map(service_from_row).transpose()
    }

    pub async fn update_service(&self, s: &Service) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("UPDATE compute_services SET disabled = $1, disabled_reason = $2, forced_down = $3, updated_at = $4 WHERE id = $5")
            .bind(b(s.disabled))
            .bind(s.disabled_reason.clone())
            .bind(b(s.forced_down))
            .bind(now_us())
            .bind(s.id)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        self.hosts_changed();
        Ok(())
    }

    /// Delete a service and its compute nodes.
    pub async fn delete_service(&self, s: &Service) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM compute_nodes WHERE host = $1").bind(&s.host).execute(&mut *w.tx).await?;
        // As Nova does, the host leaves its aggregates with its service.
        sqlx::query("DELETE FROM compute_aggregate_hosts WHERE host = $1").bind(&s.host).execute(&mut *w.tx).await?;
        sqlx::query("DELETE FROM compute_services WHERE id = $1").bind(s.id).execute(&mut *w.tx).await?;
        w.commit().await?;
        self.hosts_changed();
        Ok(())
    }

    /// Heartbeat many services in one statement (the agents of one
    /// process); returns the ids that still exist (a missing one was
    /// deleted by an operator and must register again).
    pub async fn heartbeat_many(&self, ids: &[i64]) -> Result<Vec<i64>> {
        let mut alive = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut w = self.write().await?;
            let now = now_us();
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "UPDATE compute_services SET last_seen_up = $1, report_count = report_count + 1 WHERE id IN ({}) RETURNING id",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(now);
            for id in chunk {
                q = q.bind(*id);
            }
            let rows = q.fetch_all(&mut *w.tx).await?;
            w.commit().await?;
            for r in &rows {
                alive.push(get_i64(r, "id")?);
            }
        }
        Ok(alive)
    }
}
