//! Flavors, their extra specs and project access.

use super::*;

const FLAVOR_COLS: &str =
    "id, flavorid, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, description";

fn flavor_from_row(r: &AnyRow) -> Result<Flavor> {
    Ok(Flavor {
        internal_id: get_i64(r, "id")?,
        flavorid: get_str(r, "flavorid")?,
        name: get_str(r, "name")?,
        vcpus: get_i64(r, "vcpus")?,
        memory_mb: get_i64(r, "memory_mb")?,
        root_gb: get_i64(r, "root_gb")?,
        ephemeral_gb: get_i64(r, "ephemeral_gb")?,
        swap: get_i64(r, "swap")?,
        rxtx_factor: get_f64(r, "rxtx_factor")?,
        is_public: get_bool(r, "is_public")?,
        disabled: get_bool(r, "disabled")?,
        description: get_opt_str(r, "description")?,
        extra_specs: BTreeMap::new(),
    })
}

impl Db {
    pub async fn insert_flavor(&self, f: &Flavor) -> Result<Flavor> {
        let mut w = self.write_catalog().await?;
        let exists = |col: &str| format!("SELECT 1 FROM compute_flavors WHERE {col} = $1");
        if sqlx::query(&exists("flavorid")).bind(&f.flavorid).fetch_optional(&mut *w.tx).await?.is_some() {
            return Err(ComputeError::conflict(format!("Flavor with ID {} already exists.", f.flavorid)));
        }
        if sqlx::query(&exists("name")).bind(&f.name).fetch_optional(&mut *w.tx).await?.is_some() {
            return Err(ComputeError::conflict(format!("Flavor with name {} already exists.", f.name)));
        }
        let res = sqlx::query(
            "INSERT INTO compute_flavors (flavorid, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, description, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&f.flavorid)
        .bind(&f.name)
        .bind(f.vcpus)
        .bind(f.memory_mb)
        .bind(f.root_gb)
        .bind(f.ephemeral_gb)
        .bind(f.swap)
        .bind(f.rxtx_factor)
        .bind(b(f.is_public))
        .bind(b(f.disabled))
        .bind(f.description.clone())
        .bind(now_us())
        .execute(&mut *w.tx)
        .await;
        if let Err(e) = res {
            return Err(match ComputeError::from(e) {
                e if e.kind == ErrorKind::Conflict => {
                    ComputeError::conflict(format!("Flavor with name {} already exists.", f.name))
                }
                e => e,
            });
        }
        let row = sqlx::query(&format!("SELECT {FLAVOR_COLS} FROM compute_flavors WHERE flavorid = $1"))
            .bind(&f.flavorid)
            .fetch_one(&mut *w.tx)
            .await?;
        let mut out = flavor_from_row(&row)?;
        for (k, v) in &f.extra_specs {
            sqlx::query("INSERT INTO compute_flavor_extra_specs (flavor_id, spec_key, spec_value) VALUES ($1, $2, $3)")
                .bind(out.internal_id)
                .bind(k)
                .bind(v)
                .execute(&mut *w.tx)
                .await?;
        }
        out.extra_specs = f.extra_specs.clone();
        w.commit().await?;
        Ok(out)
    }

    /// A flavor by flavor id, with its extra specs (from the
    /// [`crate::db::CatalogCache`] when it has it).
    pub async fn get_flavor(&self, flavorid: &str) -> Result<Option<Flavor>> {
        if let Some(f) = self.catalog.flavors.get(flavorid) {
            return Ok(Some(f));
        }
        let generation = self.catalog.flavors.generation();
        let row = sqlx::query(&format!("SELECT {FLAVOR_COLS} FROM compute_flavors WHERE flavorid = $1"))
            .bind(flavorid)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut f = flavor_from_row(&row)?;
        f.extra_specs = self.extra_specs(f.internal_id).await?;
        self.catalog.flavors.put(flavorid.to_string(), generation, f.clone());
        Ok(Some(f))
    }

    pub async fn extra_specs(&self, internal_id: i64) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query("SELECT spec_key, spec_value FROM compute_flavor_extra_specs WHERE flavor_id = $1")
            .bind(internal_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((get_str(r, "spec_key")?, get_str(r, "spec_value")?))).collect()
    }

    /// Every flavor with its extra specs, ordered by internal id.
    pub async fn list_flavors(&self) -> Result<Vec<Flavor>> {
        let rows = sqlx::query(&format!("SELECT {FLAVOR_COLS} FROM compute_flavors ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        let mut flavors: Vec<Flavor> = rows.iter().map(flavor_from_row).collect::<Result<_>>()?;
        let specs = sqlx::query("SELECT flavor_id, spec_key, spec_value FROM compute_flavor_extra_specs")
            .fetch_all(&self.pool)
            .await?;
        let mut by_id: BTreeMap<i64, BTreeMap<String, String>> = BTreeMap::new();
        for r in &specs {
            by_id
                .entry(get_i64(r, "flavor_id")?)
                .or_default()
                .insert(get_str(r, "spec_key")?, get_str(r, "spec_value")?);
        }
        for f in &mut flavors {
            if let Some(s) = by_id.remove(&f.internal_id) {
                f.extra_specs = s;
            }
        }
        Ok(flavors)
    }

    pub async fn update_flavor_description(&self, internal_id: i64, description: Option<&str>) -> Result<()> {
        let mut w = self.write_catalog().await?;
        sqlx::query("UPDATE compute_flavors SET description = $1, updated_at = $2 WHERE id = $3")
            .bind(description.map(str::to_string))
            .bind(now_us())
            .bind(internal_id)
            .execute(&mut *w.tx)
            .await?;
        Ok(w.commit().await?)
    }

    pub async fn delete_flavor(&self, internal_id: i64) -> Result<bool> {
        let mut w = self.write_catalog().await?;
        for t in ["compute_flavor_extra_specs", "compute_flavor_projects"] {
            sqlx::query(&format!("DELETE FROM {t} WHERE flavor_id = $1")).bind(internal_id).execute(&mut *w.tx).await?;
        }
        let n = sqlx::query("DELETE FROM compute_flavors WHERE id = $1")
            .bind(internal_id)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    /// Add or replace extra specs.
    pub async fn set_extra_specs(&self, internal_id: i64, specs: &BTreeMap<String, String>) -> Result<()> {
        let mut w = self.write_catalog().await?;
        for (k, v) in specs {
            sqlx::query("DELETE FROM compute_flavor_extra_specs WHERE flavor_id = $1 AND spec_key = $2")
                .bind(internal_id)
                .bind(k)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query("INSERT INTO compute_flavor_extra_specs (flavor_id, spec_key, spec_value) VALUES ($1, $2, $3)")
                .bind(internal_id)
                .bind(k)
                .bind(v)
                .execute(&mut *w.tx)
                .await?;
        }
        Ok(w.commit().await?)
    }

    pub async fn delete_extra_spec(&self, internal_id: i64, key: &str) -> Result<bool> {
        let mut w = self.write_catalog().await?;
        let n = sqlx::query("DELETE FROM compute_flavor_extra_specs WHERE flavor_id = $1 AND spec_key = $2")
            .bind(internal_id)
            .bind(key)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    pub async fn flavor_projects(&self, internal_id: i64) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT project_id FROM compute_flavor_projects WHERE flavor_id = $1 ORDER BY project_id")
                .bind(internal_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| get_str(r, "project_id")).collect()
    }

    /// `false` when the project already had access.
    pub async fn add_flavor_project(&self, internal_id: i64, project: &str) -> Result<bool> {
        let mut w = self.write_catalog().await?;
        let exists = sqlx::query("SELECT 1 FROM compute_flavor_projects WHERE flavor_id = $1 AND project_id = $2")
            .bind(internal_id)
            .bind(project)
            .fetch_optional(&mut *w.tx)
            .await?
            .is_some();
        if exists {
            return Ok(false);
        }
        sqlx::query("INSERT INTO compute_flavor_projects (flavor_id, project_id) VALUES ($1, $2)")
            .bind(internal_id)
            .bind(project)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(true)
    }

    pub async fn remove_flavor_project(&self, internal_id: i64, project: &str) -> Result<bool> {
        let mut w = self.write_catalog().await?;
        let n = sqlx::query("DELETE FROM compute_flavor_projects WHERE flavor_id = $1 AND project_id = $2")
            .bind(internal_id)
            .bind(project)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    /// Flavor internal ids a project has been granted.
    pub async fn flavors_of_project(&self, project: &str) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT flavor_id FROM compute_flavor_projects WHERE project_id = $1")
            .bind(project)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| get_i64(r, "flavor_id")).collect()
    }
}
