//! Aggregate membership of providers (1.1 bare list, 1.19+ with generation).

use berth_placement::Result;
use uuid::Uuid;

use crate::db::{map_db, Cols, Store, Tx};
use std::collections::HashMap;

use crate::db::placeholders;
use crate::providers::{bump_generation_holding, holding_count, ids_from_row, no_such_provider, provider_ids};

/// A provider's aggregates as they were sent (upstream stores and echoes
/// the text, dashes or not).
async fn provider_aggregate_texts(tx: &mut Tx, provider_id: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT a.uuid FROM provider_aggregates pa JOIN aggregates a ON a.id = pa.aggregate_id \
         WHERE pa.provider_id = $1 ORDER BY a.id",
    )
    .bind(provider_id)
    .fetch_all(&mut **tx)
    .await
    .map_err(map_db)?;
    rows.iter().map(|r| r.text(0)).collect()
}

impl Store {
    /// Like [`Store::get_provider_aggregates`], with each aggregate in the
    /// form it was sent in.
    pub async fn get_provider_aggregate_texts(&self, rp: &Uuid) -> Result<Option<(i64, Vec<String>, i64)>> {
        let mut tx = self.read().await?;
        let Some(ids) = provider_ids(&mut tx, rp).await? else { return Ok(None) };
        let aggs = provider_aggregate_texts(&mut tx, ids.id).await?;
        let row = sqlx::query("SELECT updated_at FROM resource_providers WHERE id = $1")
            .bind(ids.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_db)?;
        tx.commit().await.map_err(map_db)?;
        Ok(Some((ids.generation, aggs, row.int(0)?)))
    }

    /// A provider's generation, aggregates (as uuids, whatever form they
    /// were sent in) and update time.
    pub async fn get_provider_aggregates(&self, rp: &Uuid) -> Result<Option<(i64, Vec<Uuid>, i64)>> {
        let Some((generation, texts, updated)) = self.get_provider_aggregate_texts(rp).await? else { return Ok(None) };
        let aggs = texts
            .iter()
            .map(|t| {
                Uuid::parse_str(t)
                    .map_err(|_| berth_placement::Error::internal(format!("stored aggregate {t:?} is not a uuid")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((generation, aggs, updated)))
    }

    /// Replace a provider's aggregates. With `generation` (1.19+) the write is
    /// conditional and bumps the generation; without (1.1-1.18) it does neither.
    /// Each aggregate is kept as the text given (a `Uuid` in its hyphenated
    /// form); filters compare them as uuids.
    pub async fn set_provider_aggregates<A: std::fmt::Display>(
        &self,
        rp: &Uuid,
        generation: Option<i64>,
        aggs: &[A],
    ) -> Result<i64> {
        Ok(self.put_provider_aggregates(rp, generation, aggs).await?.0)
    }

    /// [`Store::set_provider_aggregates`], returning what
    /// `get_provider_aggregate_texts` would read afterwards (generation,
    /// aggregates in creation order, update time) without reading it back.
    pub async fn put_provider_aggregates<A: std::fmt::Display>(
        &self,
        rp: &Uuid,
        generation: Option<i64>,
        aggs: &[A],
    ) -> Result<(i64, Vec<String>, i64)> {
        let mut w = self.write().await?;
        let ts = berth_time::now();
        const HELD: Option<&str> = Some("provider_aggregates");
        let (ids, count) = match generation {
            Some(g) => bump_generation_holding(&mut w.tx, rp, g, ts, HELD).await?,
            None => {
                let sql = format!(
                    "UPDATE resource_providers SET updated_at = $2 WHERE uuid = $1 \
                     RETURNING id, parent_id, root_id, generation, {}",
                    holding_count(HELD)
                );
                let row = sqlx::query(&sql)
                    .bind(rp.to_string())
                    .bind(ts)
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(map_db)?
                    .ok_or_else(|| no_such_provider(rp))?;
                (ids_from_row(&row)?, row.int(4)?)
            }
        };
        // Distinct, in the order given (new aggregates get ids in that order).
        let mut texts: Vec<String> = Vec::with_capacity(aggs.len());
        for a in aggs {
            let a = a.to_string();
            if !texts.contains(&a) {
                texts.push(a);
            }
        }
        let mut known = aggregate_ids(&mut w.tx, &texts).await?;
        let missing: Vec<&String> = texts.iter().filter(|t| !known.contains_key(*t)).collect();
        if !missing.is_empty() {
            let sql = format!(
                "INSERT INTO aggregates (uuid) VALUES {} ON CONFLICT (uuid) DO NOTHING",
                (1..=missing.len()).map(|i| format!("(${i})")).collect::<Vec<_>>().join(", ")
            );
            let mut q = sqlx::query(&sql);
            for t in &missing {
                q = q.bind(t.as_str());
            }
            q.execute(&mut *w.tx).await.map_err(map_db)?;
            let missing: Vec<String> = missing.into_iter().cloned().collect();
            known.extend(aggregate_ids(&mut w.tx, &missing).await?);
        }
        if count > 0 {
            sqlx::query("DELETE FROM provider_aggregates WHERE provider_id = $1")
                .bind(ids.id)
                .execute(&mut *w.tx)
                .await
                .map_err(map_db)?;
        }
        let mut held: Vec<(i64, String)> = texts.into_iter().filter_map(|t| Some((*known.get(&t)?, t))).collect();
        held.sort();
        for chunk in held.chunks(500) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${})", i + 2)).collect();
            let sql =
                format!("INSERT INTO provider_aggregates (provider_id, aggregate_id) VALUES {}", values.join(", "));
            let mut q = sqlx::query(&sql).bind(ids.id);
            for (id, _) in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *w.tx).await.map_err(map_db)?;
        }
        w.commit().await.map_err(map_db)?;
        Ok((ids.generation, held.into_iter().map(|(_, t)| t).collect(), ts))
    }
}

/// Ids of the aggregates stored under `texts` (unknown ones left out).
async fn aggregate_ids(tx: &mut Tx, texts: &[String]) -> Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    for chunk in texts.chunks(500) {
        let sql = format!("SELECT id, uuid FROM aggregates WHERE uuid IN ({})", placeholders(1, chunk.len()));
        let mut q = sqlx::query(&sql);
        for t in chunk {
            q = q.bind(t.as_str());
        }
        for r in q.fetch_all(&mut **tx).await.map_err(map_db)? {
            out.insert(r.text(1)?, r.int(0)?);
        }
    }
    Ok(out)
}
