//! Traits and the traits of providers.

use std::collections::{BTreeSet, HashMap};

use berth_placement::{standard, Error, ErrorKind, Result};
use uuid::Uuid;

use crate::db::placeholders;
use crate::db::{map_db, Cols, Store, Tx};
use crate::providers::{bump_generation, bump_generation_holding, no_such_provider, provider_ids};
use berth_db::{DbError, DbErrorKind};

/// Filters of `GET /traits`.
#[derive(Debug, Default, Clone)]
pub struct TraitFilter {
    pub name_in: Option<Vec<String>>,
    pub prefix: Option<String>,
    /// `Some(true)`: only traits some provider has; `Some(false)`: only unused.
    pub associated: Option<bool>,
}

/// Id, name and update time of each of `names` (in one query), in the
/// order given; unknown names are a 400 naming them.
pub(crate) async fn trait_rows(tx: &mut Tx, names: &[String]) -> Result<Vec<(i64, String, i64)>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut found: HashMap<String, (i64, i64)> = HashMap::new();
    let mut distinct: Vec<&str> = names.iter().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    for chunk in distinct.chunks(500) {
        let sql = format!("SELECT id, name, updated_at FROM traits WHERE name IN ({})", placeholders(1, chunk.len()));
        let mut q = sqlx::query(&sql);
        for n in chunk {
            q = q.bind(*n);
        }
        for r in q.fetch_all(&mut **tx).await.map_err(map_db)? {
            found.insert(r.text(1)?, (r.int(0)?, r.int(2)?));
        }
    }
    let missing: Vec<&str> = names.iter().filter(|n| !found.contains_key(*n)).map(String::as_str).collect();
    if !missing.is_empty() {
        return Err(Error::bad_request(format!("No such trait(s): {}.", missing.join(", "))));
    }
    Ok(names
        .iter()
        .map(|n| {
            let (id, updated) = found[n];
            (id, n.clone(), updated)
        })
        .collect())
}

/// A provider's trait names (sorted by name, byte order whatever the
/// database's collation) with the newest trait change time.
pub(crate) async fn provider_traits(tx: &mut Tx, provider_id: i64) -> Result<(Vec<String>, i64)> {
    let rows = sqlx::query(
        "SELECT t.name, t.updated_at FROM provider_traits pt JOIN traits t ON t.id = pt.trait_id \
         WHERE pt.provider_id = $1",
    )
    .bind(provider_id)
    .fetch_all(&mut **tx)
    .await
    .map_err(map_db)?;
    let mut last = 0;
    let mut names = Vec::with_capacity(rows.len());
    for r in &rows {
        last = last.max(r.int(1)?);
        names.push(r.text(0)?);
    }
    names.sort_unstable();
    Ok((names, last))
}

/// Replace a provider's traits inside an open transaction (`has_any`: it
/// may hold some now, which are deleted first);
/// returns the trait names now held, sorted, and their newest change time.
pub(crate) async fn replace_provider_traits(
    tx: &mut Tx,
    provider_id: i64,
    names: &[String],
    has_any: bool,
) -> Result<(Vec<String>, i64)> {
    let rows = trait_rows(tx, names).await?;
    if has_any {
        sqlx::query("DELETE FROM provider_traits WHERE provider_id = $1")
            .bind(provider_id)
            .execute(&mut **tx)
            .await
            .map_err(map_db)?;
    }
    let unique: BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
    let unique: Vec<i64> = unique.into_iter().collect();
    for chunk in unique.chunks(500) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${})", i + 2)).collect();
        let sql = format!("INSERT INTO provider_traits (provider_id, trait_id) VALUES {}", values.join(", "));
        let mut q = sqlx::query(&sql).bind(provider_id);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut **tx).await.map_err(map_db)?;
    }
    let last = rows.iter().map(|r| r.2).max().unwrap_or(0);
    let mut held: Vec<String> = rows.into_iter().map(|r| r.1).collect();
    held.sort_unstable();
    held.dedup();
    Ok((held, last))
}

impl Store {
    /// Trait names matching the filter, sorted, with the newest change time.
    pub async fn list_traits(&self, f: &TraitFilter) -> Result<(Vec<String>, i64)> {
        let mut sql = String::from("SELECT t.name, t.updated_at FROM traits t");
        match f.associated {
            Some(true) => sql.push_str(" WHERE EXISTS (SELECT 1 FROM provider_traits pt WHERE pt.trait_id = t.id)"),
            Some(false) => {
                sql.push_str(" WHERE NOT EXISTS (SELECT 1 FROM provider_traits pt WHERE pt.trait_id = t.id)")
            }
            None => {}
        }
        sql.push_str(" ORDER BY t.name");
        let rows = sqlx::query(&sql).fetch_all(self.db.pool()).await.map_err(map_db)?;
        let mut last = 0;
        let mut names = Vec::new();
        for r in &rows {
            let name = r.text(0)?;
            let keep = f.name_in.as_ref().is_none_or(|names| names.contains(&name))
                && f.prefix.as_ref().is_none_or(|p| name.starts_with(p.as_str()));
            if keep {
                last = last.max(r.int(1)?);
                names.push(name);
            }
        }
        Ok((names, last))
    }

    pub async fn trait_exists(&self, name: &str) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM traits WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await
            .map_err(map_db)?
            .is_some())
    }

    /// Create a custom trait; `Ok(false)` if it existed.
    pub async fn create_trait(&self, name: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let exists = sqlx::query("SELECT 1 FROM traits WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(map_db)?;
        if exists.is_some() {
            return Ok(false);
        }
        match sqlx::query("INSERT INTO traits (name, created_at, updated_at) VALUES ($1, $2, $2)")
            .bind(name)
            .bind(berth_time::now())
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

    pub async fn delete_trait(&self, name: &str) -> Result<()> {
        let mut w = self.write().await?;
        let row = sqlx::query("SELECT id FROM traits WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(map_db)?;
        let Some(row) = row else {
            return Err(Error::not_found(format!("No such trait(s): {name}.")));
        };
        if standard::is_standard_trait(name) {
            return Err(Error::bad_request(format!("Cannot delete standard trait {name}.")));
        }
        let id = row.int(0)?;
        let used = sqlx::query("SELECT 1 FROM provider_traits WHERE trait_id = $1 LIMIT 1")
            .bind(id)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(map_db)?;
        if used.is_some() {
            return Err(Error::conflict(format!("The trait {name} is in use by a resource provider.")));
        }
        sqlx::query("DELETE FROM traits WHERE id = $1").bind(id).execute(&mut *w.tx).await.map_err(map_db)?;
        w.commit().await.map_err(map_db)
    }

    /// A provider's generation, trait names and the newest trait change time.
    pub async fn get_provider_traits(&self, rp: &Uuid) -> Result<Option<(i64, Vec<String>, i64)>> {
        let mut tx = self.read().await?;
        let Some(ids) = provider_ids(&mut tx, rp).await? else { return Ok(None) };
        let (names, last) = provider_traits(&mut tx, ids.id).await?;
        tx.commit().await.map_err(map_db)?;
        Ok(Some((ids.generation, names, last)))
    }

    /// Replace a provider's traits, conditional on `generation`.
    pub async fn set_provider_traits(&self, rp: &Uuid, generation: i64, names: &[String]) -> Result<i64> {
        Ok(self.put_provider_traits(rp, generation, names).await?.0)
    }

    /// [`Store::set_provider_traits`], returning what `get_provider_traits`
    /// would read afterwards (new generation, sorted names, newest trait
    /// change time) without reading it back.
    pub async fn put_provider_traits(
        &self,
        rp: &Uuid,
        generation: i64,
        names: &[String],
    ) -> Result<(i64, Vec<String>, i64)> {
        let mut w = self.write().await?;
        let held = bump_generation_holding(&mut w.tx, rp, generation, berth_time::now(), Some("provider_traits")).await;
        let (ids, count) = match held {
            Ok(held) => held,
            Err(e) => {
                if e.kind == ErrorKind::Conflict {
                    // Unknown traits are a 400 even when the generation is stale.
                    trait_rows(&mut w.tx, names).await?;
                }
                return Err(e);
            }
        };
        let (held, last) = replace_provider_traits(&mut w.tx, ids.id, names, count > 0).await?;
        w.commit().await.map_err(map_db)?;
        Ok((ids.generation, held, last))
    }

    /// Remove all traits of a provider (bumps its generation).
    pub async fn delete_provider_traits(&self, rp: &Uuid) -> Result<()> {
        let mut w = self.write().await?;
        let ids = provider_ids(&mut w.tx, rp).await?.ok_or_else(|| no_such_provider(rp))?;
        bump_generation(&mut w.tx, ids.id, ids.generation).await?;
        replace_provider_traits(&mut w.tx, ids.id, &[], true).await?;
        w.commit().await.map_err(map_db)
    }
}
