//! Usage reports: per provider, and per project/user (optionally by
//! consumer type).

use std::collections::BTreeMap;

use berth_placement::Result;
use uuid::Uuid;

use crate::db::{map_db, Cols, Store};
use crate::providers::provider_ids;

/// Usage totals of one consumer type (`None`: consumers without a type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub consumer_type: Option<String>,
    pub consumer_count: i64,
    pub usages: BTreeMap<String, i64>,
}

/// Consumers seen and usage per class, of one consumer type.
type Group = (std::collections::BTreeSet<String>, BTreeMap<String, i64>);

impl Store {
    /// Provider generation and usage of every class it has inventory of (0 when unused).
    pub async fn get_provider_usages(&self, rp: &Uuid) -> Result<Option<(i64, BTreeMap<String, i64>)>> {
        let mut tx = self.read().await?;
        let Some(ids) = provider_ids(&mut tx, rp).await? else { return Ok(None) };
        let rows = sqlx::query(
            "SELECT i.resource_class, CAST(COALESCE((SELECT SUM(a.used) FROM allocations a \
               WHERE a.provider_id = i.provider_id AND a.resource_class = i.resource_class), 0) AS BIGINT) \
             FROM inventories i WHERE i.provider_id = $1",
        )
        .bind(ids.id)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_db)?;
        tx.commit().await.map_err(map_db)?;
        let usages = rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect::<Result<_>>()?;
        Ok(Some((ids.generation, usages)))
    }

    /// Usages of a project (and optionally a user), grouped by consumer type.
    /// `consumer_type` filter: `None` all, `Some("all")` all, `Some("unknown")`
    /// consumers without a type, else that type.
    pub async fn get_total_usages(
        &self,
        project_id: &str,
        user_id: Option<&str>,
        consumer_type: Option<&str>,
    ) -> Result<Vec<UsageRow>> {
        let mut sql = String::from(
            "SELECT c.consumer_type, c.uuid, a.resource_class, a.used FROM allocations a \
             JOIN consumers c ON c.uuid = a.consumer_uuid WHERE c.project_id = $1",
        );
        if user_id.is_some() {
            sql.push_str(" AND c.user_id = $2");
        }
        let mut q = sqlx::query(&sql).bind(project_id.to_string());
        if let Some(u) = user_id {
            q = q.bind(u.to_string());
        }
        let rows = q.fetch_all(self.db.pool()).await.map_err(map_db)?;
        let mut groups: BTreeMap<Option<String>, Group> = BTreeMap::new();
        for r in rows {
            let ct: Option<String> = r.opt_text(0)?;
            let keep = match consumer_type {
                None | Some("all") => true,
                Some("unknown") => ct.is_none(),
                Some(t) => ct.as_deref() == Some(t),
            };
            if !keep {
                continue;
            }
            // `all` reports every consumer type together under that name.
            let key = if consumer_type == Some("all") { Some("all".to_string()) } else { ct };
            let g = groups.entry(key).or_default();
            g.0.insert(r.text(1)?);
            *g.1.entry(r.text(2)?).or_default() += r.int(3)?;
        }
        Ok(groups
            .into_iter()
            .map(|(ct, (consumers, usages))| UsageRow {
                consumer_type: ct,
                consumer_count: consumers.len() as i64,
                usages,
            })
            .collect())
    }
}
