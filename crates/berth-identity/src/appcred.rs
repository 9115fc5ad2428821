//! Storage of application credentials and access rules. A credential's
//! secret is stored only as an Argon2id hash; its roles and access rules
//! are JSON lists of ids.

use berth_db::RowExt;
use sqlx::any::AnyRow;

use crate::error::{ErrorKind, IdentityError, Result, NUL_REFUSED};
use crate::repo::{json_text, Conn};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppCred {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub description: Option<String>,
    /// Microseconds since the epoch; `None`: never expires.
    pub expires_at: Option<i64>,
    pub unrestricted: bool,
    /// Role ids.
    pub roles: Vec<String>,
    /// Access rule ids.
    pub access_rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessRule {
    pub id: String,
    pub user_id: String,
    pub service: String,
    pub path: String,
    pub method: String,
}

fn nul(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

fn ids(r: &AnyRow, i: usize) -> Result<Vec<String>> {
    let text: String = r.col(i)?;
    serde_json::from_str(&text).map_err(|e| IdentityError::internal(format!("id list {text:?}: {e}")))
}

const COLS: &str = "SELECT id, name, user_id, project_id, description, expires_at, unrestricted, roles, access_rules, \
     secret_hash FROM identity_app_creds";

fn row(r: &AnyRow) -> Result<(AppCred, String)> {
    Ok((
        AppCred {
            id: r.col(0)?,
            name: r.col(1)?,
            user_id: r.col(2)?,
            project_id: r.col(3)?,
            description: r.col(4)?,
            expires_at: r.col(5)?,
            unrestricted: r.flag(6)?,
            roles: ids(r, 7)?,
            access_rules: ids(r, 8)?,
        },
        r.col(9)?,
    ))
}

/// A credential and its secret's hash.
pub(crate) async fn get(c: &mut Conn, id: &str) -> Result<Option<(AppCred, String)>> {
    if nul(&[id]) {
        return Ok(None);
    }
    let found = sqlx::query(&format!("{COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    found.as_ref().map(row).transpose()
}

pub(crate) async fn get_by_name(c: &mut Conn, user_id: &str, name: &str) -> Result<Option<(AppCred, String)>> {
    if nul(&[user_id, name]) {
        return Ok(None);
    }
    let found = sqlx::query(&format!("{COLS} WHERE user_id = $1 AND name = $2"))
        .bind(user_id.to_string())
        .bind(name.to_string())
        .fetch_optional(c)
        .await?;
    found.as_ref().map(row).transpose()
}

pub(crate) async fn list(c: &mut Conn, user_id: &str) -> Result<Vec<AppCred>> {
    if nul(&[user_id]) {
        return Ok(Vec::new());
    }
    let found = sqlx::query(&format!("{COLS} WHERE user_id = $1 ORDER BY name, id"))
        .bind(user_id.to_string())
        .fetch_all(c)
        .await?;
    found.iter().map(|r| row(r).map(|(a, _)| a)).collect()
}

pub(crate) async fn insert(c: &mut Conn, a: &AppCred, secret_hash: &str, now: i64) -> Result<()> {
    if nul(&[&a.id, &a.name, &a.user_id, &a.project_id, a.description.as_deref().unwrap_or("")]) {
        return Err(IdentityError::bad_request(NUL_REFUSED));
    }
    sqlx::query(
        "INSERT INTO identity_app_creds (id, name, user_id, project_id, secret_hash, description, expires_at, \
         unrestricted, roles, access_rules, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(a.id.clone())
    .bind(a.name.clone())
    .bind(a.user_id.clone())
    .bind(a.project_id.clone())
    .bind(secret_hash.to_string())
    .bind(a.description.clone())
    .bind(a.expires_at)
    .bind(i64::from(a.unrestricted))
    .bind(json_text(&a.roles)?)
    .bind(json_text(&a.access_rules)?)
    .bind(now)
    .execute(c)
    .await
    .map_err(|e| {
        let err = IdentityError::from(e);
        if err.kind == ErrorKind::Conflict {
            IdentityError::conflict("Conflict occurred attempting to store application_credential - Duplicate entry")
        } else {
            err
        }
    })?;
    Ok(())
}

pub(crate) async fn delete(c: &mut Conn, id: &str) -> Result<bool> {
    if nul(&[id]) {
        return Ok(false);
    }
    sqlx::query("DELETE FROM identity_tokens WHERE app_cred_id = $1").bind(id.to_string()).execute(&mut *c).await?;
    let done =
        sqlx::query("DELETE FROM identity_app_creds WHERE id = $1").bind(id.to_string()).execute(&mut *c).await?;
    Ok(done.rows_affected() > 0)
}

/// A user lost a role on a project: its application credentials there go,
/// as in Keystone.
pub(crate) async fn delete_for_user_project(c: &mut Conn, user_id: &str, project_id: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM identity_tokens WHERE app_cred_id IN \
         (SELECT id FROM identity_app_creds WHERE user_id = $1 AND project_id = $2)",
    )
    .bind(user_id.to_string())
    .bind(project_id.to_string())
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM identity_app_creds WHERE user_id = $1 AND project_id = $2")
        .bind(user_id.to_string())
        .bind(project_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- access rules

const RULE_COLS: &str = "SELECT id, user_id, service, path, method FROM identity_access_rules";

fn rule_row(r: &AnyRow) -> Result<AccessRule> {
    Ok(AccessRule { id: r.col(0)?, user_id: r.col(1)?, service: r.col(2)?, path: r.col(3)?, method: r.col(4)? })
}

pub(crate) async fn list_rules(c: &mut Conn, user_id: &str) -> Result<Vec<AccessRule>> {
    if nul(&[user_id]) {
        return Ok(Vec::new());
    }
    let found = sqlx::query(&format!("{RULE_COLS} WHERE user_id = $1 ORDER BY service, path, method, id"))
        .bind(user_id.to_string())
        .fetch_all(c)
        .await?;
    found.iter().map(rule_row).collect()
}

pub(crate) async fn get_rule(c: &mut Conn, id: &str) -> Result<Option<AccessRule>> {
    if nul(&[id]) {
        return Ok(None);
    }
    let found = sqlx::query(&format!("{RULE_COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    found.as_ref().map(rule_row).transpose()
}

/// The rules with these ids (a credential's), in the order given; ids of
/// rules that no longer exist are skipped.
pub(crate) async fn rules_by_id(c: &mut Conn, ids: &[String]) -> Result<Vec<AccessRule>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = get_rule(&mut *c, id).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The user's rule with these fields, created when it does not exist yet
/// (Keystone reuses a user's identical rules).
pub(crate) async fn ensure_rule(c: &mut Conn, rule: &AccessRule, now: i64) -> Result<AccessRule> {
    if nul(&[&rule.id, &rule.user_id, &rule.service, &rule.path, &rule.method]) {
        return Err(IdentityError::bad_request(NUL_REFUSED));
    }
    let found = sqlx::query(&format!("{RULE_COLS} WHERE user_id = $1 AND service = $2 AND path = $3 AND method = $4"))
        .bind(rule.user_id.clone())
        .bind(rule.service.clone())
        .bind(rule.path.clone())
        .bind(rule.method.clone())
        .fetch_optional(&mut *c)
        .await?;
    if let Some(r) = found {
        return rule_row(&r);
    }
    sqlx::query(
        "INSERT INTO identity_access_rules (id, user_id, service, path, method, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(rule.id.clone())
    .bind(rule.user_id.clone())
    .bind(rule.service.clone())
    .bind(rule.path.clone())
    .bind(rule.method.clone())
    .bind(now)
    .execute(c)
    .await?;
    Ok(rule.clone())
}

pub(crate) async fn delete_rule(c: &mut Conn, id: &str) -> Result<bool> {
    if nul(&[id]) {
        return Ok(false);
    }
    let done = sqlx::query("DELETE FROM identity_access_rules WHERE id = $1").bind(id.to_string()).execute(c).await?;
    Ok(done.rows_affected() > 0)
}
