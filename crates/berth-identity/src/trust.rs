//! Storage of OS-TRUST trusts: a trustor delegates some of its roles on a
//! project to a trustee, optionally with impersonation, an expiry and a
//! number of uses. Roles are a JSON list of role ids.

use berth_db::RowExt;
use sqlx::any::AnyRow;

use crate::error::{IdentityError, Result, NUL_REFUSED};
use crate::repo::{json_text, Conn};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trust {
    pub id: String,
    pub trustor_user_id: String,
    pub trustee_user_id: String,
    pub project_id: Option<String>,
    pub impersonation: bool,
    /// Microseconds since the epoch; `None`: never expires.
    pub expires_at: Option<i64>,
    /// `None`: unlimited.
    pub remaining_uses: Option<i64>,
    /// Role ids.
    pub roles: Vec<String>,
}

impl Trust {
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

fn nul(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

const COLS: &str = "SELECT id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, \
     remaining_uses, roles FROM identity_trusts";

fn row(r: &AnyRow) -> Result<Trust> {
    let roles: String = r.col(7)?;
    Ok(Trust {
        id: r.col(0)?,
        trustor_user_id: r.col(1)?,
        trustee_user_id: r.col(2)?,
        project_id: r.col(3)?,
        impersonation: r.flag(4)?,
        expires_at: r.col(5)?,
        remaining_uses: r.col(6)?,
        roles: serde_json::from_str(&roles)
            .map_err(|e| IdentityError::internal(format!("trust roles {roles:?}: {e}")))?,
    })
}

pub(crate) async fn get(c: &mut Conn, id: &str) -> Result<Option<Trust>> {
    if nul(&[id]) {
        return Ok(None);
    }
    let found = sqlx::query(&format!("{COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    found.as_ref().map(row).transpose()
}

/// Trusts, optionally only those of a trustor and/or a trustee.
pub(crate) async fn list(c: &mut Conn, trustor: Option<&str>, trustee: Option<&str>) -> Result<Vec<Trust>> {
    if nul(&[trustor.unwrap_or(""), trustee.unwrap_or("")]) {
        return Ok(Vec::new());
    }
    let mut sql = format!("{COLS} WHERE 1 = 1");
    let mut binds = Vec::new();
    if let Some(t) = trustor {
        binds.push(t.to_string());
        sql.push_str(&format!(" AND trustor_user_id = ${}", binds.len()));
    }
    if let Some(t) = trustee {
        binds.push(t.to_string());
        sql.push_str(&format!(" AND trustee_user_id = ${}", binds.len()));
    }
    sql.push_str(" ORDER BY created_at, id");
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b);
    }
    let found = q.fetch_all(c).await?;
    found.iter().map(row).collect()
}

pub(crate) async fn insert(c: &mut Conn, t: &Trust, now: i64) -> Result<()> {
    if nul(&[&t.id, &t.trustor_user_id, &t.trustee_user_id, t.project_id.as_deref().unwrap_or("")]) {
        return Err(IdentityError::bad_request(NUL_REFUSED));
    }
    sqlx::query(
        "INSERT INTO identity_trusts (id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, \
         remaining_uses, roles, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(t.id.clone())
    .bind(t.trustor_user_id.clone())
    .bind(t.trustee_user_id.clone())
    .bind(t.project_id.clone())
    .bind(i64::from(t.impersonation))
    .bind(t.expires_at)
    .bind(t.remaining_uses)
    .bind(json_text(&t.roles)?)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Use a trust once: false when it has no uses left (a compare-and-set, so
/// two concurrent uses of the last one cannot both succeed).
pub(crate) async fn consume_use(c: &mut Conn, id: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE identity_trusts SET remaining_uses = remaining_uses - 1 \
         WHERE id = $1 AND (remaining_uses IS NULL OR remaining_uses > 0)",
    )
    .bind(id.to_string())
    .execute(c)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Delete a trust and the tokens issued through it.
pub(crate) async fn delete(c: &mut Conn, id: &str) -> Result<bool> {
    if nul(&[id]) {
        return Ok(false);
    }
    sqlx::query("DELETE FROM identity_tokens WHERE trust_id = $1").bind(id.to_string()).execute(&mut *c).await?;
    let done = sqlx::query("DELETE FROM identity_trusts WHERE id = $1").bind(id.to_string()).execute(&mut *c).await?;
    Ok(done.rows_affected() > 0)
}
