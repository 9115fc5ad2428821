//! Resource classes: the standard ones (synced at start) and `CUSTOM_*`.

use berth_placement::{codes, standard, Error, Result};

use crate::db::{map_db, Cols, Store};
use berth_db::{DbError, DbErrorKind};

/// A resource class with its last change time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceClassRow {
    pub name: String,
    pub updated_at: i64,
}

impl Store {
    pub async fn list_resource_classes(&self) -> Result<Vec<ResourceClassRow>> {
        let rows = sqlx::query("SELECT name, updated_at FROM resource_classes ORDER BY id")
            .fetch_all(self.db.pool())
            .await
            .map_err(map_db)?;
        rows.iter().map(|r| Ok(ResourceClassRow { name: r.text(0)?, updated_at: r.int(1)? })).collect()
    }

    pub async fn get_resource_class(&self, name: &str) -> Result<Option<ResourceClassRow>> {
        let row = sqlx::query("SELECT name, updated_at FROM resource_classes WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await
            .map_err(map_db)?;
        row.map(|r| Ok(ResourceClassRow { name: r.text(0)?, updated_at: r.int(1)? })).transpose()
    }

    /// Create a custom class. `Ok(false)` when it already existed.
    pub async fn create_resource_class(&self, name: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let ts = berth_time::now();
        let exists = sqlx::query("SELECT 1 FROM resource_classes WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(map_db)?;
        if exists.is_some() {
            return Ok(false);
        }
        match sqlx::query("INSERT INTO resource_classes (name, created_at, updated_at) VALUES ($1, $2, $2)")
            .bind(name)
            .bind(ts)
            .execute(&mut *w.tx)
            .await
        {
            Ok(_) => {}
            Err(e) => {
                let e = DbError::from(e);
                if e.kind() == DbErrorKind::UniqueViolation {
                    return Ok(false);
                }
                return Err(map_db(e));
            }
        }
        w.commit().await.map_err(map_db)?;
        Ok(true)
    }

    /// Rename a custom class (microversions 1.2 - 1.6).
    pub async fn rename_resource_class(&self, old: &str, new: &str) -> Result<()> {
        if standard::is_standard_class(old) {
            return Err(Error::bad_request(format!("Cannot update standard resource class {old}")));
        }
        let mut w = self.write().await?;
        let exists = sqlx::query("SELECT 1 FROM resource_classes WHERE name = $1")
            .bind(old)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(map_db)?;
        if exists.is_none() {
            return Err(Error::not_found(format!("No such resource class {old}.")));
        }
        let clash = sqlx::query("SELECT 1 FROM resource_classes WHERE name = $1")
            .bind(new)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(map_db)?;
        if clash.is_some() {
            return Err(
                Error::conflict(format!("Resource class already exists: {new}")).with_code(codes::DUPLICATE_NAME)
            );
        }
        for sql in [
            "UPDATE resource_classes SET name = $1, updated_at = $3 WHERE name = $2",
            "UPDATE inventories SET resource_class = $1, updated_at = $3 WHERE resource_class = $2",
            "UPDATE allocations SET resource_class = $1, updated_at = $3 WHERE resource_class = $2",
        ] {
            sqlx::query(sql).bind(new).bind(old).bind(berth_time::now()).execute(&mut *w.tx).await.map_err(map_db)?;
        }
        w.commit().await.map_err(map_db)
    }

    pub async fn delete_resource_class(&self, name: &str) -> Result<()> {
        let mut w = self.write().await?;
        let exists = sqlx::query("SELECT 1 FROM resource_classes WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(map_db)?;
        if exists.is_none() {
            return Err(Error::not_found(format!("No such resource class {name}.")));
        }
        if standard::is_standard_class(name) {
            return Err(Error::bad_request(format!("Cannot delete standard resource class {name}.")));
        }
        let used = sqlx::query(
            "SELECT 1 FROM inventories WHERE resource_class = $1 \
             UNION ALL SELECT 1 FROM allocations WHERE resource_class = $1 LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(map_db)?;
        if used.is_some() {
            return Err(Error::conflict(format!("Cannot delete resource class {name}. Class is in use in inventory.")));
        }
        sqlx::query("DELETE FROM resource_classes WHERE name = $1")
            .bind(name)
            .execute(&mut *w.tx)
            .await
            .map_err(map_db)?;
        w.commit().await.map_err(map_db)
    }
}
