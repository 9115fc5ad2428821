//! Aggregate membership of providers (1.1 bare list, 1.19+ with generation).

use berth_placement::Result;
use uuid::Uuid;

use crate::db::{map_db, Cols, Store, Tx};
use crate::providers::{bump_generation, no_such_provider, provider_ids};

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
        let mut w = self.write().await?;
        let ids = provider_ids(&mut w.tx, rp).await?.ok_or_else(|| no_such_provider(rp))?;
        let gen = match generation {
            Some(g) => bump_generation(&mut w.tx, ids.id, g).await?,
            None => ids.generation,
        };
        sqlx::query("DELETE FROM provider_aggregates WHERE provider_id = $1")
            .bind(ids.id)
            .execute(&mut *w.tx)
            .await
            .map_err(map_db)?;
        let mut seen = std::collections::BTreeSet::new();
        for a in aggs {
            let a = a.to_string();
            if seen.insert(a.clone()) {
                sqlx::query("INSERT INTO aggregates (uuid) VALUES ($1) ON CONFLICT (uuid) DO NOTHING")
                    .bind(&a)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(map_db)?;
                sqlx::query(
                    "INSERT INTO provider_aggregates (provider_id, aggregate_id) \
                     SELECT $1, id FROM aggregates WHERE uuid = $2",
                )
                .bind(ids.id)
                .bind(&a)
                .execute(&mut *w.tx)
                .await
                .map_err(map_db)?;
            }
        }
        sqlx::query("UPDATE resource_providers SET updated_at = $1 WHERE id = $2")
            .bind(berth_time::now())
            .bind(ids.id)
            .execute(&mut *w.tx)
            .await
            .map_err(map_db)?;
        w.commit().await.map_err(map_db)?;
        Ok(gen)
    }
}
