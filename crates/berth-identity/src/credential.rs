//! Storage of credentials (`/v3/credentials`): a user's (and optionally a
//! project's) blob of a type (`ec2`, `totp`, `cert`, ...). Keystone
//! encrypts blobs with its credential keys; berth stores them as given.

use berth_db::RowExt;
use serde_json::{Map, Value};
use sqlx::any::AnyRow;

use crate::error::{ErrorKind, IdentityError, Result, NUL_REFUSED};
use crate::repo::{extra_json, extra_of, Conn};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub kind: String,
    pub blob: String,
    pub extra: Map<String, Value>,
}

fn nul(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

const COLS: &str = "SELECT id, user_id, project_id, cred_type, cred_blob, extra FROM identity_credentials";

fn row(r: &AnyRow) -> Result<Credential> {
    Ok(Credential {
        id: r.col(0)?,
        user_id: r.col(1)?,
        project_id: r.col(2)?,
        kind: r.col(3)?,
        blob: r.col(4)?,
        extra: extra_of(r, 5)?,
    })
}

pub(crate) async fn list(c: &mut Conn) -> Result<Vec<Credential>> {
    let found = sqlx::query(&format!("{COLS} ORDER BY user_id, id")).fetch_all(c).await?;
    found.iter().map(row).collect()
}

pub(crate) async fn get(c: &mut Conn, id: &str) -> Result<Option<Credential>> {
    if nul(&[id]) {
        return Ok(None);
    }
    let found = sqlx::query(&format!("{COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    found.as_ref().map(row).transpose()
}

fn check(cr: &Credential) -> Result<()> {
    if nul(&[&cr.id, &cr.user_id, cr.project_id.as_deref().unwrap_or(""), &cr.kind, &cr.blob]) {
        return Err(IdentityError::bad_request(NUL_REFUSED));
    }
    Ok(())
}

pub(crate) async fn insert(c: &mut Conn, cr: &Credential, now: i64) -> Result<()> {
    check(cr)?;
    sqlx::query(
        "INSERT INTO identity_credentials (id, user_id, project_id, cred_type, cred_blob, extra, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(cr.id.clone())
    .bind(cr.user_id.clone())
    .bind(cr.project_id.clone())
    .bind(cr.kind.clone())
    .bind(cr.blob.clone())
    .bind(extra_json(&cr.extra)?)
    .bind(now)
    .execute(c)
    .await
    .map_err(|e| {
        let err = IdentityError::from(e);
        if err.kind == ErrorKind::Conflict {
            IdentityError::conflict("Conflict occurred attempting to store credential - Duplicate ID.")
        } else {
            err
        }
    })?;
    Ok(())
}

pub(crate) async fn update(c: &mut Conn, cr: &Credential) -> Result<()> {
    check(cr)?;
    sqlx::query(
        "UPDATE identity_credentials SET user_id = $2, project_id = $3, cred_type = $4, cred_blob = $5, extra = $6 \
         WHERE id = $1",
    )
    .bind(cr.id.clone())
    .bind(cr.user_id.clone())
    .bind(cr.project_id.clone())
    .bind(cr.kind.clone())
    .bind(cr.blob.clone())
    .bind(extra_json(&cr.extra)?)
    .execute(c)
    .await?;
    Ok(())
}

pub(crate) async fn delete(c: &mut Conn, id: &str) -> Result<bool> {
    if nul(&[id]) {
        return Ok(false);
    }
    let done = sqlx::query("DELETE FROM identity_credentials WHERE id = $1").bind(id.to_string()).execute(c).await?;
    Ok(done.rows_affected() > 0)
}
