//! Key pairs (`os-keypairs`): one name per user, counted against the
//! owner's `key_pairs` quota.

use super::*;

/// What a new key pair holds.
pub struct NewKeyPair<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub key_type: &'a str,
    pub public_key: &'a str,
    pub fingerprint: &'a str,
}

const COLS: &str = "id, user_id, name, key_type, public_key, fingerprint, created_at";

fn key_pair(r: &AnyRow) -> Result<KeyPair> {
    let key_type = get_str(r, "key_type")?;
    if key_type != "ssh" && key_type != "x509" {
        return Err(ComputeError::internal(format!("column key_type: unknown key pair type {key_type:?}")));
    }
    Ok(KeyPair {
        id: get_i64(r, "id")?,
        user_id: get_str(r, "user_id")?,
        name: get_str(r, "name")?,
        key_type,
        public_key: get_str(r, "public_key")?,
        fingerprint: get_str(r, "fingerprint")?,
        created_at: get_i64(r, "created_at")?,
    })
}

impl Db {
    /// Store a key pair unless the user already has one of that name
    /// ([`ErrorKind::Conflict`]) or already holds `limit` key pairs
    /// ([`ErrorKind::Forbidden`]; a negative limit is unlimited). The count
    /// and the insert share one write transaction.
    pub async fn create_key_pair(&self, new: &NewKeyPair<'_>, limit: i64) -> Result<KeyPair> {
        let mut w = self.write().await?;
        let exists = sqlx::query("SELECT id FROM compute_key_pairs WHERE user_id = $1 AND name = $2")
            .bind(new.user_id)
            .bind(new.name)
            .fetch_optional(&mut *w.tx)
            .await?;
        if exists.is_some() {
            return Err(ComputeError::conflict(format!("Key pair '{}' already exists.", new.name)));
        }
        if limit >= 0 {
            let row = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM compute_key_pairs WHERE user_id = $1")
                .bind(new.user_id)
                .fetch_one(&mut *w.tx)
                .await?;
            if get_i64(&row, "n")? >= limit {
                return Err(ComputeError::forbidden("Quota exceeded, too many key pairs."));
            }
        }
        let row = sqlx::query(&format!(
            "INSERT INTO compute_key_pairs (user_id, name, key_type, public_key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLS}"
        ))
        .bind(new.user_id)
        .bind(new.name)
        .bind(new.key_type)
        .bind(new.public_key)
        .bind(new.fingerprint)
        .bind(now_us())
        .fetch_one(&mut *w.tx)
        .await;
        let kp = match row {
            Ok(r) => key_pair(&r)?,
            Err(e) => {
                return Err(match ComputeError::from(e) {
                    // A concurrent create of the same name won.
                    e if e.kind == ErrorKind::Conflict => {
                        ComputeError::conflict(format!("Key pair '{}' already exists.", new.name))
                    }
                    e => e,
                });
            }
        };
        w.commit().await?;
        Ok(kp)
    }

    pub async fn key_pair(&self, user_id: &str, name: &str) -> Result<Option<KeyPair>> {
        let row = sqlx::query(&format!("SELECT {COLS} FROM compute_key_pairs WHERE user_id = $1 AND name = $2"))
            .bind(user_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_pair).transpose()
    }

    /// A user's key pairs by name, after `marker` (a name) when given, at
    /// most `limit` of them when given.
    pub async fn list_key_pairs(
        &self,
        user_id: &str,
        marker: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<KeyPair>> {
        // Byte order on both engines (PostgreSQL's default collation would
        // order by locale).
        let name = match self.engine {
            Engine::Sqlite => "name",
            Engine::Postgres => "name COLLATE \"C\"",
        };
        let mut sql = format!("SELECT {COLS} FROM compute_key_pairs WHERE user_id = $1");
        if marker.is_some() {
            sql.push_str(&format!(" AND {name} > $2"));
        }
        sql.push_str(&format!(" ORDER BY {name}"));
        if let Some(l) = limit {
            sql.push_str(&format!(" LIMIT {}", l.max(0)));
        }
        let mut q = sqlx::query(&sql).bind(user_id);
        if let Some(m) = marker {
            q = q.bind(m);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(key_pair).collect()
    }

    /// Delete a key pair; `false` when there was none.
    pub async fn delete_key_pair(&self, user_id: &str, name: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM compute_key_pairs WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }
}
