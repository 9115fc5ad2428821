//! SQL for domains, projects, users, roles, implied roles and assignments.
//! Every function runs on a connection the caller owns (usually inside a
//! transaction) so multi-statement operations stay atomic.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use berth_db::RowExt;
use serde_json::{Map, Value};

use crate::error::{ErrorKind, IdentityError, Result, NUL_REFUSED};

pub(crate) type Conn = AnyConnection;

/// A string with a NUL character can name nothing: PostgreSQL refuses it
/// in text and SQLite would store it, so lookups by such a string find
/// nothing without asking the database and writes of one are refused. This
/// is a fast path: should a NUL reach PostgreSQL anyway, its refusal
/// (`DbErrorKind::InvalidText`) is a 400 too (see `error.rs`).
fn has_nul(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

/// The 400 for a write of text with a NUL character.
fn refuse_nul(values: &[&str]) -> Result<()> {
    if has_nul(values) {
        return Err(IdentityError::bad_request(NUL_REFUSED));
    }
    Ok(())
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub parent_id: Option<String>,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// Attributes Keystone does not know, kept and returned as given.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub email: Option<String>,
    pub default_project_id: Option<String>,
    /// Attributes Keystone does not know, kept and returned as given.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// What a role is granted on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Project(String),
    Domain(String),
    System,
}

impl Target {
    pub(crate) fn parts(&self) -> (&'static str, &str) {
        match self {
            Target::Project(id) => ("project", id),
            Target::Domain(id) => ("domain", id),
            Target::System => ("system", "all"),
        }
    }
    fn from_parts(kind: &str, id: String) -> Option<Target> {
        match kind {
            "project" => Some(Target::Project(id)),
            "domain" => Some(Target::Domain(id)),
            "system" => Some(Target::System),
            _ => None,
        }
    }
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

fn s(row: &AnyRow, i: usize) -> Result<String> {
    Ok(row.col::<String, _>(i)?)
}
fn os(row: &AnyRow, i: usize) -> Result<Option<String>> {
    Ok(row.col::<Option<String>, _>(i)?)
}
fn flag(row: &AnyRow, i: usize) -> Result<bool> {
    Ok(row.flag(i)?)
}

/// A JSON object column (`extra`).
pub(crate) fn extra_of(row: &AnyRow, i: usize) -> Result<Map<String, Value>> {
    let text = s(row, i)?;
    serde_json::from_str(&text)
        .map_err(|e| IdentityError::internal(format!("extra {text:?} is not a JSON object: {e}")))
}

/// The text of a JSON value for a TEXT column (a NUL character inside is
/// escaped as `\u0000`, which both engines store).
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| IdentityError::internal(format!("JSON column: {e}")))
}

pub(crate) fn extra_json(extra: &Map<String, Value>) -> Result<String> {
    json_text(extra)
}

/// Decode every row with `f`; the first failure is the answer.
fn rows<T>(rows: &[AnyRow], f: impl Fn(&AnyRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

/// A dynamically built `WHERE` clause with `$N` placeholders.
#[derive(Default)]
struct Filter {
    conds: Vec<String>,
    binds: Vec<Bind>,
    /// A condition compares with a string no row can hold (NUL).
    matches_nothing: bool,
}

enum Bind {
    S(String),
    I(i64),
}

impl Filter {
    fn eq_s(&mut self, col: &str, v: &str) {
        self.matches_nothing |= has_nul(&[v]);
        self.binds.push(Bind::S(v.to_string()));
        self.conds.push(format!("{col} = ${}", self.binds.len()));
    }
    fn eq_i(&mut self, col: &str, v: i64) {
        self.binds.push(Bind::I(v));
        self.conds.push(format!("{col} = ${}", self.binds.len()));
    }
    fn raw(&mut self, cond: &str) {
        self.conds.push(cond.to_string());
    }
    fn sql(&self, base: &str, order: &str) -> String {
        let mut q = base.to_string();
        if !self.conds.is_empty() {
            q.push_str(" WHERE ");
            q.push_str(&self.conds.join(" AND "));
        }
        q.push(' ');
        q.push_str(order);
        q
    }
    async fn fetch(&self, c: &mut Conn, base: &str, order: &str) -> Result<Vec<AnyRow>> {
        if self.matches_nothing {
            return Ok(Vec::new());
        }
        let sql = self.sql(base, order);
        let mut q = sqlx::query(&sql);
        for bind in &self.binds {
            q = match bind {
                Bind::S(v) => q.bind(v.clone()),
                Bind::I(v) => q.bind(*v),
            };
        }
        Ok(q.fetch_all(c).await?)
    }
}

/// A database error on storing a `what`: the one mapping (`error.rs`),
/// with Keystone's wording for a duplicate.
fn conflict_or(e: sqlx::Error, what: &str) -> IdentityError {
    let err = IdentityError::from(e);
    if err.kind == ErrorKind::Conflict {
        IdentityError::conflict(format!("Conflict occurred attempting to store {what}. Duplicate entry."))
    } else {
        err
    }
}

// ---------------------------------------------------------------- domains

const DOMAIN_COLS: &str = "SELECT id, name, description, enabled FROM identity_domains";

fn domain_row(r: &AnyRow) -> Result<Domain> {
    Ok(Domain { id: s(r, 0)?, name: s(r, 1)?, description: s(r, 2)?, enabled: flag(r, 3)? })
}

#[derive(Default)]
pub(crate) struct DomainFilter {
    pub name: Option<String>,
    pub enabled: Option<bool>,
}

pub(crate) async fn list_domains(c: &mut Conn, f: &DomainFilter) -> Result<Vec<Domain>> {
    let mut w = Filter::default();
    if let Some(n) = &f.name {
        w.eq_s("name", n);
    }
    if let Some(e) = f.enabled {
        w.eq_i("enabled", b(e));
    }
    rows(&w.fetch(c, DOMAIN_COLS, "ORDER BY name, id").await?, domain_row)
}

pub(crate) async fn get_domain(c: &mut Conn, id: &str) -> Result<Option<Domain>> {
    if has_nul(&[id]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{DOMAIN_COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    row.as_ref().map(domain_row).transpose()
}

/// Exact match first; else a unique case-insensitive match (Keystone on
/// MySQL matches `default` to `Default`, and clouds.yaml files rely on it).
pub(crate) async fn get_domain_by_name(c: &mut Conn, name: &str) -> Result<Option<Domain>> {
    if has_nul(&[name]) {
        return Ok(None);
    }
    let row =
        sqlx::query(&format!("{DOMAIN_COLS} WHERE name = $1")).bind(name.to_string()).fetch_optional(&mut *c).await?;
    if let Some(r) = row {
        return domain_row(&r).map(Some);
    }
    let rows = sqlx::query(&format!("{DOMAIN_COLS} WHERE LOWER(name) = LOWER($1)"))
        .bind(name.to_string())
        .fetch_all(&mut *c)
        .await?;
    if rows.len() == 1 {
        domain_row(&rows[0]).map(Some)
    } else {
        Ok(None)
    }
}

pub(crate) async fn insert_domain(c: &mut Conn, d: &Domain, now: i64) -> Result<()> {
    refuse_nul(&[&d.id, &d.name, &d.description])?;
    sqlx::query(
        "INSERT INTO identity_domains (id, name, description, enabled, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(d.id.clone())
    .bind(d.name.clone())
    .bind(d.description.clone())
    .bind(b(d.enabled))
    .bind(now)
    .execute(c)
    .await
    .map_err(|e| conflict_or(e, "domain"))?;
    Ok(())
}

pub(crate) async fn update_domain(c: &mut Conn, d: &Domain) -> Result<()> {
    refuse_nul(&[&d.id, &d.name, &d.description])?;
    sqlx::query("UPDATE identity_domains SET name = $2, description = $3, enabled = $4 WHERE id = $1")
        .bind(d.id.clone())
        .bind(d.name.clone())
        .bind(d.description.clone())
        .bind(b(d.enabled))
        .execute(c)
        .await
        .map_err(|e| conflict_or(e, "domain"))?;
    Ok(())
}

/// Delete a domain and everything in it (projects, users, their assignments
/// and tokens).
pub(crate) async fn delete_domain_cascade(c: &mut Conn, id: &str) -> Result<()> {
    if has_nul(&[id]) {
        return Ok(());
    }
    let stmts = [
        "DELETE FROM identity_tokens WHERE user_id IN (SELECT id FROM identity_users WHERE domain_id = $1)",
        "DELETE FROM identity_trusts WHERE trustor_user_id IN (SELECT id FROM identity_users WHERE domain_id = $1) \
         OR trustee_user_id IN (SELECT id FROM identity_users WHERE domain_id = $1) \
         OR project_id IN (SELECT id FROM identity_projects WHERE domain_id = $1)",
        "DELETE FROM identity_tokens WHERE scope_type = 'project' AND scope_id IN (SELECT id FROM identity_projects WHERE domain_id = $1)",
        "DELETE FROM identity_tokens WHERE scope_type = 'domain' AND scope_id = $1",
        "DELETE FROM identity_role_assignments WHERE actor_type = 'user' AND actor_id IN (SELECT id FROM identity_users WHERE domain_id = $1)",
        "DELETE FROM identity_group_members WHERE user_id IN (SELECT id FROM identity_users WHERE domain_id = $1)",
        "DELETE FROM identity_role_assignments WHERE actor_type = 'group' AND actor_id IN (SELECT id FROM identity_groups WHERE domain_id = $1)",
        "DELETE FROM identity_group_members WHERE group_id IN (SELECT id FROM identity_groups WHERE domain_id = $1)",
        "DELETE FROM identity_groups WHERE domain_id = $1",
        "DELETE FROM identity_app_creds WHERE user_id IN (SELECT id FROM identity_users WHERE domain_id = $1)",
        "DELETE FROM identity_access_rules WHERE user_id IN (SELECT id FROM identity_users WHERE domain_id = $1)",
        "DELETE FROM identity_credentials WHERE user_id IN (SELECT id FROM identity_users WHERE domain_id = $1)",
        "DELETE FROM identity_role_assignments WHERE target_type = 'project' AND target_id IN (SELECT id FROM identity_projects WHERE domain_id = $1)",
        "DELETE FROM identity_role_assignments WHERE target_type = 'domain' AND target_id = $1",
        "DELETE FROM identity_users WHERE domain_id = $1",
        "DELETE FROM identity_projects WHERE domain_id = $1",
        "DELETE FROM identity_domains WHERE id = $1",
    ];
    for sql in stmts {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *c).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- projects

const PROJECT_COLS: &str =
    "SELECT id, name, domain_id, parent_id, description, enabled, tags, extra FROM identity_projects";

fn project_row(r: &AnyRow) -> Result<Project> {
    let tags = s(r, 6)?;
    Ok(Project {
        id: s(r, 0)?,
        name: s(r, 1)?,
        domain_id: s(r, 2)?,
        parent_id: os(r, 3)?,
        description: s(r, 4)?,
        enabled: flag(r, 5)?,
        tags: serde_json::from_str(&tags)
            .map_err(|e| IdentityError::internal(format!("project tags {tags:?} are not a JSON list: {e}")))?,
        extra: extra_of(r, 7)?,
    })
}

#[derive(Default)]
pub(crate) struct ProjectFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub parent_id: Option<String>,
    pub enabled: Option<bool>,
    pub ids: Option<Vec<String>>,
}

pub(crate) async fn list_projects(c: &mut Conn, f: &ProjectFilter) -> Result<Vec<Project>> {
    let mut w = Filter::default();
    if let Some(v) = &f.name {
        w.eq_s("name", v);
    }
    if let Some(v) = &f.domain_id {
        w.eq_s("domain_id", v);
    }
    if let Some(v) = &f.parent_id {
        w.eq_s("parent_id", v);
    }
    if let Some(v) = f.enabled {
        w.eq_i("enabled", b(v));
    }
    let mut out = rows(&w.fetch(c, PROJECT_COLS, "ORDER BY name, id").await?, project_row)?;
    if let Some(ids) = &f.ids {
        out.retain(|p| ids.contains(&p.id));
    }
    Ok(out)
}

pub(crate) async fn get_project(c: &mut Conn, id: &str) -> Result<Option<Project>> {
    if has_nul(&[id]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{PROJECT_COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    row.as_ref().map(project_row).transpose()
}

pub(crate) async fn get_project_by_name(c: &mut Conn, domain_id: &str, name: &str) -> Result<Option<Project>> {
    if has_nul(&[domain_id, name]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{PROJECT_COLS} WHERE domain_id = $1 AND name = $2"))
        .bind(domain_id.to_string())
        .bind(name.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(project_row).transpose()
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

pub(crate) async fn insert_project(c: &mut Conn, p: &Project, now: i64) -> Result<()> {
    refuse_nul(&[&p.id, &p.name, &p.domain_id, opt(&p.parent_id), &p.description, &p.tags.concat()])?;
    sqlx::query(
        "INSERT INTO identity_projects (id, name, domain_id, parent_id, description, enabled, tags, created_at, extra) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(p.id.clone())
    .bind(p.name.clone())
    .bind(p.domain_id.clone())
    .bind(p.parent_id.clone())
    .bind(p.description.clone())
    .bind(b(p.enabled))
    .bind(tags_json(&p.tags))
    .bind(now)
    .bind(extra_json(&p.extra)?)
    .execute(c)
    .await
    .map_err(|e| conflict_or(e, "project"))?;
    Ok(())
}

pub(crate) async fn update_project(c: &mut Conn, p: &Project) -> Result<()> {
    refuse_nul(&[&p.id, &p.name, &p.domain_id, opt(&p.parent_id), &p.description, &p.tags.concat()])?;
    sqlx::query(
        "UPDATE identity_projects SET name = $2, description = $3, enabled = $4, tags = $5, extra = $6 WHERE id = $1",
    )
    .bind(p.id.clone())
    .bind(p.name.clone())
    .bind(p.description.clone())
    .bind(b(p.enabled))
    .bind(tags_json(&p.tags))
    .bind(extra_json(&p.extra)?)
    .execute(c)
    .await
    .map_err(|e| conflict_or(e, "project"))?;
    Ok(())
}

pub(crate) async fn project_has_children(c: &mut Conn, id: &str) -> Result<bool> {
    if has_nul(&[id]) {
        return Ok(false);
    }
    let n: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM identity_projects WHERE parent_id = $1")
        .bind(id.to_string())
        .fetch_one(c)
        .await?
        .col(0)?;
    Ok(n > 0)
}

pub(crate) async fn delete_project_cascade(c: &mut Conn, id: &str) -> Result<bool> {
    if has_nul(&[id]) {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM identity_tokens WHERE scope_type = 'project' AND scope_id = $1",
        "DELETE FROM identity_role_assignments WHERE target_type = 'project' AND target_id = $1",
        "DELETE FROM identity_app_creds WHERE project_id = $1",
        "DELETE FROM identity_trusts WHERE project_id = $1",
    ] {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *c).await?;
    }
    let done = sqlx::query("DELETE FROM identity_projects WHERE id = $1").bind(id.to_string()).execute(&mut *c).await?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------- users

const USER_COLS: &str =
    "SELECT id, name, domain_id, enabled, description, email, default_project_id, extra FROM identity_users";

fn user_row(r: &AnyRow) -> Result<User> {
    Ok(User {
        id: s(r, 0)?,
        name: s(r, 1)?,
        domain_id: s(r, 2)?,
        enabled: flag(r, 3)?,
        description: os(r, 4)?,
        email: os(r, 5)?,
        default_project_id: os(r, 6)?,
        extra: extra_of(r, 7)?,
    })
}

#[derive(Default)]
pub(crate) struct UserFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
}

pub(crate) async fn list_users(c: &mut Conn, f: &UserFilter) -> Result<Vec<User>> {
    let mut w = Filter::default();
    if let Some(v) = &f.name {
        w.eq_s("name", v);
    }
    if let Some(v) = &f.domain_id {
        w.eq_s("domain_id", v);
    }
    if let Some(v) = f.enabled {
        w.eq_i("enabled", b(v));
    }
    rows(&w.fetch(c, USER_COLS, "ORDER BY name, id").await?, user_row)
}

pub(crate) async fn get_user(c: &mut Conn, id: &str) -> Result<Option<User>> {
    if has_nul(&[id]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{USER_COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    row.as_ref().map(user_row).transpose()
}

pub(crate) async fn get_user_by_name(c: &mut Conn, domain_id: &str, name: &str) -> Result<Option<User>> {
    if has_nul(&[domain_id, name]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{USER_COLS} WHERE domain_id = $1 AND name = $2"))
        .bind(domain_id.to_string())
        .bind(name.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(user_row).transpose()
}

pub(crate) async fn get_password_hash(c: &mut Conn, user_id: &str) -> Result<Option<String>> {
    if has_nul(&[user_id]) {
        return Ok(None);
    }
    let row = sqlx::query("SELECT password_hash FROM identity_users WHERE id = $1")
        .bind(user_id.to_string())
        .fetch_optional(c)
        .await?;
    Ok(match row {
        Some(r) => os(&r, 0)?,
        None => None,
    })
}

pub(crate) async fn insert_user(c: &mut Conn, u: &User, password_hash: Option<String>, now: i64) -> Result<()> {
    refuse_nul(&[&u.id, &u.name, &u.domain_id, opt(&u.description), opt(&u.email), opt(&u.default_project_id)])?;
    let changed = password_hash.as_ref().map(|_| now);
    sqlx::query(
        "INSERT INTO identity_users (id, name, domain_id, password_hash, enabled, description, email, \
         default_project_id, created_at, password_changed_at, extra) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(u.id.clone())
    .bind(u.name.clone())
    .bind(u.domain_id.clone())
    .bind(password_hash)
    .bind(b(u.enabled))
    .bind(u.description.clone())
    .bind(u.email.clone())
    .bind(u.default_project_id.clone())
    .bind(now)
    .bind(changed)
    .bind(extra_json(&u.extra)?)
    .execute(c)
    .await
    .map_err(|e| conflict_or(e, "user"))?;
    Ok(())
}

pub(crate) async fn update_user(c: &mut Conn, u: &User) -> Result<()> {
    refuse_nul(&[&u.id, &u.name, &u.domain_id, opt(&u.description), opt(&u.email), opt(&u.default_project_id)])?;
    sqlx::query(
        "UPDATE identity_users SET name = $2, enabled = $3, description = $4, email = $5, \
         default_project_id = $6, extra = $7 WHERE id = $1",
    )
    .bind(u.id.clone())
    .bind(u.name.clone())
    .bind(b(u.enabled))
    .bind(u.description.clone())
    .bind(u.email.clone())
    .bind(u.default_project_id.clone())
    .bind(extra_json(&u.extra)?)
    .execute(c)
    .await
    .map_err(|e| conflict_or(e, "user"))?;
    Ok(())
}

pub(crate) async fn set_password_hash(c: &mut Conn, user_id: &str, hash: Option<String>, now: i64) -> Result<()> {
    sqlx::query("UPDATE identity_users SET password_hash = $2, password_changed_at = $3 WHERE id = $1")
        .bind(user_id.to_string())
        .bind(hash)
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

pub(crate) async fn delete_user_cascade(c: &mut Conn, id: &str) -> Result<bool> {
    if has_nul(&[id]) {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM identity_tokens WHERE user_id = $1",
        "DELETE FROM identity_tokens WHERE trust_id IN \
         (SELECT id FROM identity_trusts WHERE trustor_user_id = $1 OR trustee_user_id = $1)",
        "DELETE FROM identity_trusts WHERE trustor_user_id = $1 OR trustee_user_id = $1",
        "DELETE FROM identity_role_assignments WHERE actor_type = 'user' AND actor_id = $1",
        "DELETE FROM identity_group_members WHERE user_id = $1",
        "DELETE FROM identity_app_creds WHERE user_id = $1",
        "DELETE FROM identity_access_rules WHERE user_id = $1",
        "DELETE FROM identity_credentials WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *c).await?;
    }
    let done = sqlx::query("DELETE FROM identity_users WHERE id = $1").bind(id.to_string()).execute(&mut *c).await?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------- roles

const ROLE_COLS: &str = "SELECT id, name, description FROM identity_roles";

fn role_row(r: &AnyRow) -> Result<Role> {
    Ok(Role { id: s(r, 0)?, name: s(r, 1)?, description: os(r, 2)? })
}

pub(crate) async fn list_roles(c: &mut Conn, name: Option<&str>) -> Result<Vec<Role>> {
    let mut w = Filter::default();
    if let Some(n) = name {
        w.eq_s("name", n);
    }
    rows(&w.fetch(c, ROLE_COLS, "ORDER BY name, id").await?, role_row)
}

pub(crate) async fn get_role(c: &mut Conn, id: &str) -> Result<Option<Role>> {
    if has_nul(&[id]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{ROLE_COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    row.as_ref().map(role_row).transpose()
}

pub(crate) async fn get_role_by_name(c: &mut Conn, name: &str) -> Result<Option<Role>> {
    if has_nul(&[name]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{ROLE_COLS} WHERE name = $1")).bind(name.to_string()).fetch_optional(c).await?;
    row.as_ref().map(role_row).transpose()
}

pub(crate) async fn insert_role(c: &mut Conn, r: &Role, now: i64) -> Result<()> {
    refuse_nul(&[&r.id, &r.name, opt(&r.description)])?;
    sqlx::query("INSERT INTO identity_roles (id, name, description, created_at) VALUES ($1, $2, $3, $4)")
        .bind(r.id.clone())
        .bind(r.name.clone())
        .bind(r.description.clone())
        .bind(now)
        .execute(c)
        .await
        .map_err(|e| conflict_or(e, "role"))?;
    Ok(())
}

pub(crate) async fn update_role(c: &mut Conn, r: &Role) -> Result<()> {
    refuse_nul(&[&r.id, &r.name, opt(&r.description)])?;
    sqlx::query("UPDATE identity_roles SET name = $2, description = $3 WHERE id = $1")
        .bind(r.id.clone())
        .bind(r.name.clone())
        .bind(r.description.clone())
        .execute(c)
        .await
        .map_err(|e| conflict_or(e, "role"))?;
    Ok(())
}

pub(crate) async fn delete_role_cascade(c: &mut Conn, id: &str) -> Result<bool> {
    if has_nul(&[id]) {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM identity_role_assignments WHERE role_id = $1",
        "DELETE FROM identity_implied_roles WHERE prior_role_id = $1 OR implied_role_id = $1",
    ] {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *c).await?;
    }
    let done = sqlx::query("DELETE FROM identity_roles WHERE id = $1").bind(id.to_string()).execute(&mut *c).await?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------- implied roles

pub(crate) async fn list_implications(c: &mut Conn) -> Result<Vec<(String, String)>> {
    let rows_found = sqlx::query(
        "SELECT prior_role_id, implied_role_id FROM identity_implied_roles ORDER BY prior_role_id, implied_role_id",
    )
    .fetch_all(c)
    .await?;
    rows(&rows_found, |r| Ok((s(r, 0)?, s(r, 1)?)))
}

/// Add an implication; false when it already existed (also when a
/// concurrent writer added it first).
pub(crate) async fn insert_implication(c: &mut Conn, prior: &str, implied: &str) -> Result<bool> {
    refuse_nul(&[prior, implied])?;
    let done = sqlx::query(
        "INSERT INTO identity_implied_roles (prior_role_id, implied_role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(prior.to_string())
    .bind(implied.to_string())
    .execute(c)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn delete_implication(c: &mut Conn, prior: &str, implied: &str) -> Result<bool> {
    if has_nul(&[prior, implied]) {
        return Ok(false);
    }
    let done = sqlx::query("DELETE FROM identity_implied_roles WHERE prior_role_id = $1 AND implied_role_id = $2")
        .bind(prior.to_string())
        .bind(implied.to_string())
        .execute(c)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Every role id reachable from `direct` through implications (including
/// `direct` itself), mapped to the direct role it was reached from.
pub(crate) fn expand_implied(direct: &[String], implications: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for d in direct {
        out.insert(d.clone(), d.clone());
    }
    for d in direct {
        let mut stack = vec![d.clone()];
        let mut seen = BTreeSet::new();
        while let Some(r) = stack.pop() {
            if !seen.insert(r.clone()) {
                continue;
            }
            for (prior, implied) in implications {
                if *prior == r {
                    out.entry(implied.clone()).or_insert_with(|| d.clone());
                    stack.push(implied.clone());
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------- groups

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub extra: Map<String, Value>,
}

const GROUP_COLS: &str = "SELECT id, name, domain_id, description, extra FROM identity_groups";

fn group_row(r: &AnyRow) -> Result<Group> {
    Ok(Group { id: s(r, 0)?, name: s(r, 1)?, domain_id: s(r, 2)?, description: s(r, 3)?, extra: extra_of(r, 4)? })
}

#[derive(Default)]
pub(crate) struct GroupFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
}

pub(crate) async fn list_groups(c: &mut Conn, f: &GroupFilter) -> Result<Vec<Group>> {
    let mut w = Filter::default();
    if let Some(v) = &f.name {
        w.eq_s("name", v);
    }
    if let Some(v) = &f.domain_id {
        w.eq_s("domain_id", v);
    }
    rows(&w.fetch(c, GROUP_COLS, "ORDER BY name, id").await?, group_row)
}

pub(crate) async fn get_group(c: &mut Conn, id: &str) -> Result<Option<Group>> {
    if has_nul(&[id]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{GROUP_COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    row.as_ref().map(group_row).transpose()
}

pub(crate) async fn insert_group(c: &mut Conn, g: &Group, now: i64) -> Result<()> {
    refuse_nul(&[&g.id, &g.name, &g.domain_id, &g.description])?;
    sqlx::query(
        "INSERT INTO identity_groups (id, name, domain_id, description, extra, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(g.id.clone())
    .bind(g.name.clone())
    .bind(g.domain_id.clone())
    .bind(g.description.clone())
    .bind(extra_json(&g.extra)?)
    .bind(now)
    .execute(c)
    .await
    .map_err(|e| conflict_or(e, "group"))?;
    Ok(())
}

pub(crate) async fn update_group(c: &mut Conn, g: &Group) -> Result<()> {
    refuse_nul(&[&g.id, &g.name, &g.description])?;
    sqlx::query("UPDATE identity_groups SET name = $2, description = $3, extra = $4 WHERE id = $1")
        .bind(g.id.clone())
        .bind(g.name.clone())
        .bind(g.description.clone())
        .bind(extra_json(&g.extra)?)
        .execute(c)
        .await
        .map_err(|e| conflict_or(e, "group"))?;
    Ok(())
}

/// Delete a group, its memberships and its role assignments.
pub(crate) async fn delete_group_cascade(c: &mut Conn, id: &str) -> Result<bool> {
    if has_nul(&[id]) {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM identity_group_members WHERE group_id = $1",
        "DELETE FROM identity_role_assignments WHERE actor_type = 'group' AND actor_id = $1",
    ] {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *c).await?;
    }
    let done = sqlx::query("DELETE FROM identity_groups WHERE id = $1").bind(id.to_string()).execute(&mut *c).await?;
    Ok(done.rows_affected() > 0)
}

/// Add a user to a group; false when already a member.
pub(crate) async fn add_member(c: &mut Conn, group_id: &str, user_id: &str) -> Result<bool> {
    refuse_nul(&[group_id, user_id])?;
    let done =
        sqlx::query("INSERT INTO identity_group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(group_id.to_string())
            .bind(user_id.to_string())
            .execute(c)
            .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn remove_member(c: &mut Conn, group_id: &str, user_id: &str) -> Result<bool> {
    if has_nul(&[group_id, user_id]) {
        return Ok(false);
    }
    let done = sqlx::query("DELETE FROM identity_group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id.to_string())
        .bind(user_id.to_string())
        .execute(c)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn is_member(c: &mut Conn, group_id: &str, user_id: &str) -> Result<bool> {
    if has_nul(&[group_id, user_id]) {
        return Ok(false);
    }
    let row = sqlx::query("SELECT user_id FROM identity_group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id.to_string())
        .bind(user_id.to_string())
        .fetch_optional(c)
        .await?;
    Ok(row.is_some())
}

/// The users of a group.
pub(crate) async fn group_users(c: &mut Conn, group_id: &str) -> Result<Vec<User>> {
    if has_nul(&[group_id]) {
        return Ok(Vec::new());
    }
    let found = sqlx::query(&format!(
        "{USER_COLS} WHERE id IN (SELECT user_id FROM identity_group_members WHERE group_id = $1) ORDER BY name, id"
    ))
    .bind(group_id.to_string())
    .fetch_all(c)
    .await?;
    rows(&found, user_row)
}

/// The groups a user belongs to.
pub(crate) async fn user_groups(c: &mut Conn, user_id: &str) -> Result<Vec<Group>> {
    if has_nul(&[user_id]) {
        return Ok(Vec::new());
    }
    let found = sqlx::query(&format!(
        "{GROUP_COLS} WHERE id IN (SELECT group_id FROM identity_group_members WHERE user_id = $1) ORDER BY name, id"
    ))
    .bind(user_id.to_string())
    .fetch_all(c)
    .await?;
    rows(&found, group_row)
}

/// Every membership, as (group id, user id).
pub(crate) async fn all_memberships(c: &mut Conn) -> Result<Vec<(String, String)>> {
    let found = sqlx::query("SELECT group_id, user_id FROM identity_group_members ORDER BY group_id, user_id")
        .fetch_all(c)
        .await?;
    rows(&found, |r| Ok((s(r, 0)?, s(r, 1)?)))
}

// ---------------------------------------------------------------- assignments

/// Who holds a role assignment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Actor {
    User(String),
    Group(String),
}

impl Actor {
    pub(crate) fn parts(&self) -> (&'static str, &str) {
        match self {
            Actor::User(id) => ("user", id),
            Actor::Group(id) => ("group", id),
        }
    }
    fn from_parts(kind: &str, id: String) -> Option<Actor> {
        match kind {
            "user" => Some(Actor::User(id)),
            "group" => Some(Actor::Group(id)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Assignment {
    pub actor: Actor,
    pub target: Target,
    pub role_id: String,
    /// OS-INHERIT: applies to the projects below the target, not to it.
    pub inherited: bool,
}

impl Assignment {
    pub fn user(user_id: &str, target: Target, role_id: &str) -> Assignment {
        Assignment { actor: Actor::User(user_id.to_string()), target, role_id: role_id.to_string(), inherited: false }
    }
}

#[derive(Default)]
pub(crate) struct AssignmentFilter {
    pub actor: Option<Actor>,
    pub role_id: Option<String>,
    pub target: Option<Target>,
    /// Only assignments of this kind ("project", "domain", "system").
    pub target_type: Option<&'static str>,
    pub inherited: Option<bool>,
}

const ASSIGNMENT_COLS: &str = "SELECT actor_type, actor_id, target_type, target_id, role_id, inherited \
     FROM identity_role_assignments";

fn assignment_row(r: &AnyRow) -> Result<Assignment> {
    let akind = s(r, 0)?;
    let actor = Actor::from_parts(&akind, s(r, 1)?)
        .ok_or_else(|| IdentityError::internal(format!("assignment actor type {akind:?} is not known")))?;
    let kind = s(r, 2)?;
    let target = Target::from_parts(&kind, s(r, 3)?)
        .ok_or_else(|| IdentityError::internal(format!("assignment target type {kind:?} is not known")))?;
    Ok(Assignment { actor, target, role_id: s(r, 4)?, inherited: flag(r, 5)? })
}

pub(crate) async fn list_assignments(c: &mut Conn, f: &AssignmentFilter) -> Result<Vec<Assignment>> {
    let mut w = Filter::default();
    if let Some(a) = &f.actor {
        let (kind, id) = a.parts();
        w.eq_s("actor_type", kind);
        w.eq_s("actor_id", id);
    }
    if let Some(v) = &f.role_id {
        w.eq_s("role_id", v);
    }
    if let Some(t) = &f.target {
        let (kind, id) = t.parts();
        w.eq_s("target_type", kind);
        w.eq_s("target_id", id);
    }
    if let Some(kind) = f.target_type {
        w.raw(&format!("target_type = '{kind}'"));
    }
    if let Some(i) = f.inherited {
        w.eq_i("inherited", b(i));
    }
    let found = w
        .fetch(c, ASSIGNMENT_COLS, "ORDER BY actor_type, actor_id, target_type, target_id, role_id, inherited")
        .await?;
    rows(&found, assignment_row)
}

/// The assignments of a user, directly and through its groups.
pub(crate) async fn assignments_of_user(c: &mut Conn, user_id: &str) -> Result<Vec<Assignment>> {
    if has_nul(&[user_id]) {
        return Ok(Vec::new());
    }
    let found = sqlx::query(&format!(
        "{ASSIGNMENT_COLS} WHERE (actor_type = 'user' AND actor_id = $1) OR (actor_type = 'group' AND actor_id IN \
         (SELECT group_id FROM identity_group_members WHERE user_id = $1)) \
         ORDER BY actor_type, actor_id, target_type, target_id, role_id, inherited"
    ))
    .bind(user_id.to_string())
    .fetch_all(c)
    .await?;
    rows(&found, assignment_row)
}

/// Grant a role; false when it was already granted (also when a
/// concurrent writer granted it first).
pub(crate) async fn grant(c: &mut Conn, a: &Assignment, now: i64) -> Result<bool> {
    let (akind, aid) = a.actor.parts();
    let (kind, id) = a.target.parts();
    refuse_nul(&[id, aid, &a.role_id])?;
    let done = sqlx::query(
        "INSERT INTO identity_role_assignments (actor_type, actor_id, target_type, target_id, role_id, inherited, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(akind)
    .bind(aid.to_string())
    .bind(kind)
    .bind(id.to_string())
    .bind(a.role_id.clone())
    .bind(b(a.inherited))
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn revoke(c: &mut Conn, a: &Assignment) -> Result<bool> {
    let (akind, aid) = a.actor.parts();
    let (kind, id) = a.target.parts();
    if has_nul(&[id, aid, &a.role_id]) {
        return Ok(false);
    }
    let done = sqlx::query(
        "DELETE FROM identity_role_assignments WHERE actor_type = $1 AND actor_id = $2 AND target_type = $3 \
         AND target_id = $4 AND role_id = $5 AND inherited = $6",
    )
    .bind(akind)
    .bind(aid.to_string())
    .bind(kind)
    .bind(id.to_string())
    .bind(a.role_id.clone())
    .bind(b(a.inherited))
    .execute(c)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The projects above `project_id` (its parent first), within its domain.
pub(crate) async fn ancestors(c: &mut Conn, project: &Project) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut next = project.parent_id.clone();
    while let Some(pid) = next {
        if out.contains(&pid) || pid == project.id {
            break;
        }
        next = get_project(&mut *c, &pid).await?.and_then(|p| p.parent_id);
        out.push(pid);
    }
    Ok(out)
}

/// Does assignment `a` (of the user or one of its groups) give its role on
/// `target`? `project` is the target project's record when the target is
/// a project, with its ancestors.
pub(crate) fn applies_to(a: &Assignment, target: &Target, project: Option<(&Project, &[String])>) -> bool {
    if !a.inherited {
        return a.target == *target;
    }
    match (&a.target, project) {
        (Target::Domain(d), Some((p, _))) => *d == p.domain_id,
        (Target::Project(ancestor), Some((_, above))) => above.contains(ancestor),
        _ => false,
    }
}

/// The ids of the projects above `p` among `projects` (parent first).
fn ancestors_in(projects: &[Project], p: &Project) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = p.parent_id.clone();
    while let Some(pid) = next {
        if out.contains(&pid) || pid == p.id {
            break;
        }
        next = projects.iter().find(|x| x.id == pid).and_then(|x| x.parent_id.clone());
        out.push(pid);
    }
    out
}

/// The projects a user has a role on: directly, through its groups, or
/// inherited from a domain or a project above.
pub(crate) async fn user_project_ids(c: &mut Conn, user_id: &str) -> Result<BTreeSet<String>> {
    let all = assignments_of_user(&mut *c, user_id).await?;
    let mut out = BTreeSet::new();
    if all.is_empty() {
        return Ok(out);
    }
    let projects = list_projects(&mut *c, &ProjectFilter::default()).await?;
    for p in &projects {
        let above = ancestors_in(&projects, p);
        let target = Target::Project(p.id.clone());
        if all.iter().any(|a| applies_to(a, &target, Some((p, &above)))) {
            out.insert(p.id.clone());
        }
    }
    Ok(out)
}

/// The effective roles (direct, through groups, inherited, plus implied)
/// of a user on a target.
pub(crate) async fn effective_roles(c: &mut Conn, user_id: &str, target: &Target) -> Result<Vec<Role>> {
    effective_roles_with(c, user_id, target).await.map(|(roles, _)| roles)
}

/// [`effective_roles`] and the ids of the roles granted directly (before
/// implications).
pub(crate) async fn effective_roles_with(
    c: &mut Conn,
    user_id: &str,
    target: &Target,
) -> Result<(Vec<Role>, Vec<String>)> {
    let all = assignments_of_user(&mut *c, user_id).await?;
    let project = match target {
        Target::Project(p) => match get_project(&mut *c, p).await? {
            Some(p) => {
                let above = ancestors(&mut *c, &p).await?;
                Some((p, above))
            }
            None => None,
        },
        _ => None,
    };
    let project_ref = project.as_ref().map(|(p, a)| (p, a.as_slice()));
    let mut direct: Vec<String> =
        all.iter().filter(|a| applies_to(a, target, project_ref)).map(|a| a.role_id.clone()).collect();
    direct.sort();
    direct.dedup();
    if direct.is_empty() {
        return Ok((Vec::new(), direct));
    }
    let implications = list_implications(&mut *c).await?;
    let ids = expand_implied(&direct, &implications);
    let mut roles: Vec<Role> =
        list_roles(&mut *c, None).await?.into_iter().filter(|r| ids.contains_key(&r.id)).collect();
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((roles, direct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_roles_expand_transitively() {
        let imps = vec![("admin".to_string(), "member".to_string()), ("member".to_string(), "reader".to_string())];
        let got = expand_implied(&["admin".to_string()], &imps);
        assert_eq!(got.keys().cloned().collect::<Vec<_>>(), vec!["admin", "member", "reader"]);
        assert_eq!(got["reader"], "admin");
        let got = expand_implied(&["reader".to_string()], &imps);
        assert_eq!(got.len(), 1);
        // cycles terminate
        let cyc = vec![("a".to_string(), "b".to_string()), ("b".to_string(), "a".to_string())];
        assert_eq!(expand_implied(&["a".to_string()], &cyc).len(), 2);
    }
}
