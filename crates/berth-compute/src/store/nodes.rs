//! Compute nodes (hypervisors), one Placement resource provider each.

use super::*;

const NODE_COLS: &str = "id, uuid, host, hypervisor_hostname, hypervisor_type, hypervisor_version, host_ip, vcpus, memory_mb, local_gb, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, reserved_host_cpus, reserved_host_memory_mb, reserved_host_disk_gb, created_at, updated_at";

fn node_from_row(r: &AnyRow) -> Result<ComputeNode> {
    Ok(ComputeNode {
        id: get_i64(r, "id")?,
        uuid: get_uuid(r, "uuid")?,
        host: get_str(r, "host")?,
        hypervisor_hostname: get_str(r, "hypervisor_hostname")?,
        hypervisor_type: get_str(r, "hypervisor_type")?,
        hypervisor_version: get_i64(r, "hypervisor_version")?,
        host_ip: get_str(r, "host_ip")?,
        vcpus: get_i64(r, "vcpus")?,
        memory_mb: get_i64(r, "memory_mb")?,
        local_gb: get_i64(r, "local_gb")?,
        cpu_allocation_ratio: get_f64(r, "cpu_allocation_ratio")?,
        ram_allocation_ratio: get_f64(r, "ram_allocation_ratio")?,
        disk_allocation_ratio: get_f64(r, "disk_allocation_ratio")?,
        reserved_host_cpus: get_i64(r, "reserved_host_cpus")?,
        reserved_host_memory_mb: get_i64(r, "reserved_host_memory_mb")?,
        reserved_host_disk_gb: get_i64(r, "reserved_host_disk_gb")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_opt_i64(r, "updated_at")?,
    })
}

impl Db {
    /// Create or update the node named `n.hypervisor_hostname`; its uuid is
    /// kept once assigned (`n.uuid` is used only on creation).
    pub async fn upsert_node(&self, n: &ComputeNode) -> Result<ComputeNode> {
        let mut w = self.write().await?;
        let now = now_us();
        let existing = sqlx::query(&format!("SELECT {NODE_COLS} FROM compute_nodes WHERE hypervisor_hostname = $1"))
            .bind(&n.hypervisor_hostname)
            .fetch_optional(&mut *w.tx)
            .await?;
        if let Some(row) = &existing {
            let old = node_from_row(row)?;
            let same = ComputeNode {
                id: old.id,
                uuid: old.uuid,
                created_at: old.created_at,
                updated_at: old.updated_at,
                ..n.clone()
            };
            if same == old {
                // Nothing changed (the periodic update of an idle host):
                // no write, and the host-state view stays valid.
                return Ok(old);
            }
        }
        if existing.is_some() {
            sqlx::query(
                "UPDATE compute_nodes SET host = $1, hypervisor_type = $2, hypervisor_version = $3, host_ip = $4, vcpus = $5, memory_mb = $6, local_gb = $7, \
                 cpu_allocation_ratio = $8, ram_allocation_ratio = $9, disk_allocation_ratio = $10, reserved_host_cpus = $11, reserved_host_memory_mb = $12, \
                 reserved_host_disk_gb = $13, updated_at = $14 WHERE hypervisor_hostname = $15",
            )
            .bind(&n.host)
            .bind(&n.hypervisor_type)
            .bind(n.hypervisor_version)
            .bind(&n.host_ip)
            .bind(n.vcpus)
            .bind(n.memory_mb)
            .bind(n.local_gb)
            .bind(n.cpu_allocation_ratio)
            .bind(n.ram_allocation_ratio)
            .bind(n.disk_allocation_ratio)
            .bind(n.reserved_host_cpus)
            .bind(n.reserved_host_memory_mb)
            .bind(n.reserved_host_disk_gb)
            .bind(now)
            .bind(&n.hypervisor_hostname)
            .execute(&mut *w.tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO compute_nodes (uuid, host, hypervisor_hostname, hypervisor_type, hypervisor_version, host_ip, vcpus, memory_mb, local_gb, \
                 cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, reserved_host_cpus, reserved_host_memory_mb, reserved_host_disk_gb, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
            )
            .bind(n.uuid.to_string())
            .bind(&n.host)
            .bind(&n.hypervisor_hostname)
            .bind(&n.hypervisor_type)
            .bind(n.hypervisor_version)
            .bind(&n.host_ip)
            .bind(n.vcpus)
            .bind(n.memory_mb)
            .bind(n.local_gb)
            .bind(n.cpu_allocation_ratio)
            .bind(n.ram_allocation_ratio)
            .bind(n.disk_allocation_ratio)
            .bind(n.reserved_host_cpus)
            .bind(n.reserved_host_memory_mb)
            .bind(n.reserved_host_disk_gb)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        }
        let row = sqlx::query(&format!("SELECT {NODE_COLS} FROM compute_nodes WHERE hypervisor_hostname = $1"))
            .bind(&n.hypervisor_hostname)
            .fetch_one(&mut *w.tx)
            .await?;
        w.commit().await?;
        self.hosts_changed();
        node_from_row(&row)
    }

    pub async fn list_nodes(&self) -> Result<Vec<ComputeNode>> {
        let rows =
            sqlx::query(&format!("SELECT {NODE_COLS} FROM compute_nodes ORDER BY id")).fetch_all(&self.pool).await?;
        rows.iter().map(node_from_row).collect()
    }

    pub async fn nodes_on_host(&self, host: &str) -> Result<Vec<ComputeNode>> {
        let rows = sqlx::query(&format!("SELECT {NODE_COLS} FROM compute_nodes WHERE host = $1 ORDER BY id"))
            .bind(host)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(node_from_row).collect()
    }
}
