//! SQL for images, their properties, tags and members. Every function runs
//! on a connection the caller owns (usually inside a transaction).

use std::collections::HashMap;

use berth_db::{DbError, DbErrorKind, RowExt};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::db::Engine;
use crate::error::{lookup, map_db, ImageError, Result};
use crate::model::{Image, Member, Task};

pub(crate) type Conn = AnyConnection;

/// Whether a key can name a stored row. Neither engine stores a NUL
/// character in text (PostgreSQL refuses it outright), so a key holding one
/// names nothing: lookups find nothing without asking the database. This is
/// a fast path; should the database refuse a text value anyway
/// ([`DbErrorKind::InvalidText`]), lookups still find nothing
/// ([`lookup`]) and writes answer 400 ([`map_db`]).
pub(crate) fn nameable(key: &str) -> bool {
    !key.contains('\0')
}

/// Writes refuse text holding a NUL (400) before it reaches the database;
/// the API validates first, this is the last line.
pub(crate) fn storable<'a>(what: &str, values: impl IntoIterator<Item = &'a str>) -> Result<()> {
    if values.into_iter().any(|v| v.contains('\0')) {
        return Err(ImageError::bad_request(format!("Invalid {what}: the NUL character is not allowed.")));
    }
    Ok(())
}

fn image_texts(img: &Image) -> Vec<&str> {
    let mut v = vec![img.id.as_str(), img.status.as_str(), img.visibility.as_str()];
    v.extend(
        [
            &img.name,
            &img.owner,
            &img.disk_format,
            &img.container_format,
            &img.checksum,
            &img.os_hash_algo,
            &img.os_hash_value,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str),
    );
    v.extend(img.properties.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]));
    v.extend(img.tags.iter().map(String::as_str));
    v
}

const IMAGE_COLS: &str = "i.id, i.name, i.status, i.visibility, i.protected, i.os_hidden, i.owner, i.disk_format, \
     i.container_format, i.size, i.virtual_size, i.checksum, i.os_hash_algo, i.os_hash_value, i.min_disk, \
     i.min_ram, i.created_at, i.updated_at";

fn row_to_image(r: &AnyRow) -> Result<Image> {
    let g = || -> berth_db::DbResult<Image> {
        Ok(Image {
            id: r.col("id")?,
            name: r.col("name")?,
            status: r.col("status")?,
            visibility: r.col("visibility")?,
            protected: r.flag("protected")?,
            os_hidden: r.flag("os_hidden")?,
            owner: r.col("owner")?,
            disk_format: r.col("disk_format")?,
            container_format: r.col("container_format")?,
            size: r.col("size")?,
            virtual_size: r.col("virtual_size")?,
            checksum: r.col("checksum")?,
            os_hash_algo: r.col("os_hash_algo")?,
            os_hash_value: r.col("os_hash_value")?,
            min_disk: r.col("min_disk")?,
            min_ram: r.col("min_ram")?,
            created_at: r.col("created_at")?,
            updated_at: r.col("updated_at")?,
            properties: Default::default(),
            tags: Vec::new(),
        })
    };
    g().map_err(map_db)
}

async fn load_children(c: &mut Conn, img: &mut Image) -> Result<()> {
    let rows = sqlx::query("SELECT name, value FROM image_properties WHERE image_id = $1")
        .bind(img.id.clone())
        .fetch_all(&mut *c)
        .await
        .map_err(map_db)?;
    for r in rows {
        img.properties.insert(r.col("name").map_err(map_db)?, r.col("value").map_err(map_db)?);
    }
    let rows = sqlx::query("SELECT value FROM image_tags WHERE image_id = $1 ORDER BY value")
        .bind(img.id.clone())
        .fetch_all(&mut *c)
        .await
        .map_err(map_db)?;
    img.tags = rows.iter().map(|r| r.col("value")).collect::<berth_db::DbResult<_>>().map_err(map_db)?;
    // Byte order, as `Image::set_tags` keeps them, whatever the collation.
    img.tags.sort();
    Ok(())
}

/// One image with its properties and tags; `lock` takes a row lock on
/// PostgreSQL (SQLite writers are serialized anyway).
pub(crate) async fn get_image(c: &mut Conn, engine: Engine, id: &str, lock: bool) -> Result<Option<Image>> {
    if !nameable(id) {
        return Ok(None);
    }
    let suffix = if lock && engine == Engine::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {IMAGE_COLS} FROM image_images i WHERE i.id = $1{suffix}");
    let row = lookup(sqlx::query(&sql).bind(id.to_string()).fetch_optional(&mut *c).await)?;
    let Some(row) = row else { return Ok(None) };
    let mut img = row_to_image(&row)?;
    load_children(c, &mut img).await?;
    Ok(Some(img))
}

async fn write_children(c: &mut Conn, img: &Image) -> Result<()> {
    sqlx::query("DELETE FROM image_properties WHERE image_id = $1")
        .bind(img.id.clone())
        .execute(&mut *c)
        .await
        .map_err(map_db)?;
    sqlx::query("DELETE FROM image_tags WHERE image_id = $1")
        .bind(img.id.clone())
        .execute(&mut *c)
        .await
        .map_err(map_db)?;
    for (k, v) in &img.properties {
        sqlx::query("INSERT INTO image_properties (image_id, name, value) VALUES ($1, $2, $3)")
            .bind(img.id.clone())
            .bind(k.clone())
            .bind(v.clone())
            .execute(&mut *c)
            .await
            .map_err(map_db)?;
    }
    for t in &img.tags {
        sqlx::query("INSERT INTO image_tags (image_id, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(img.id.clone())
            .bind(t.clone())
            .execute(&mut *c)
            .await
            .map_err(map_db)?;
    }
    Ok(())
}

pub(crate) async fn insert_image(c: &mut Conn, img: &Image) -> Result<()> {
    storable("image", image_texts(img))?;
    let r = sqlx::query(
        "INSERT INTO image_images (id, name, status, visibility, protected, os_hidden, owner, disk_format, \
         container_format, size, virtual_size, checksum, os_hash_algo, os_hash_value, min_disk, min_ram, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(img.id.clone())
    .bind(img.name.clone())
    .bind(img.status.clone())
    .bind(img.visibility.clone())
    .bind(i64::from(img.protected))
    .bind(i64::from(img.os_hidden))
    .bind(img.owner.clone())
    .bind(img.disk_format.clone())
    .bind(img.container_format.clone())
    .bind(img.size)
    .bind(img.virtual_size)
    .bind(img.checksum.clone())
    .bind(img.os_hash_algo.clone())
    .bind(img.os_hash_value.clone())
    .bind(img.min_disk)
    .bind(img.min_ram)
    .bind(img.created_at)
    .bind(img.updated_at)
    .execute(&mut *c)
    .await;
    match r {
        Ok(_) => {}
        Err(e) => {
            let e = DbError::from(e);
            if e.kind() == DbErrorKind::UniqueViolation {
                return Err(ImageError::conflict(format!("An image with identifier {} already exists", img.id)));
            }
            return Err(map_db(e));
        }
    }
    write_children(c, img).await
}

/// Overwrite the client-settable attributes, properties and tags.
pub(crate) async fn save_image(c: &mut Conn, img: &Image) -> Result<()> {
    storable("image", image_texts(img))?;
    sqlx::query(
        "UPDATE image_images SET name = $2, visibility = $3, protected = $4, os_hidden = $5, owner = $6, \
         disk_format = $7, container_format = $8, min_disk = $9, min_ram = $10, updated_at = $11, status = $12 \
         WHERE id = $1",
    )
    .bind(img.id.clone())
    .bind(img.name.clone())
    .bind(img.visibility.clone())
    .bind(i64::from(img.protected))
    .bind(i64::from(img.os_hidden))
    .bind(img.owner.clone())
    .bind(img.disk_format.clone())
    .bind(img.container_format.clone())
    .bind(img.min_disk)
    .bind(img.min_ram)
    .bind(img.updated_at)
    .bind(img.status.clone())
    .execute(&mut *c)
    .await
    .map_err(map_db)?;
    write_children(c, img).await
}

/// Compare-and-set the status; true when the image was in `from`.
pub(crate) async fn set_status(c: &mut Conn, id: &str, from: &str, to: &str, now: i64) -> Result<bool> {
    if !nameable(id) {
        return Ok(false);
    }
    let done = sqlx::query("UPDATE image_images SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2")
        .bind(id.to_string())
        .bind(from.to_string())
        .bind(to.to_string())
        .bind(now)
        .execute(&mut *c)
        .await
        .map_err(map_db)?;
    Ok(done.rows_affected() > 0)
}

/// What an upload computed about the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataInfo {
    pub size: i64,
    pub checksum: String,
    pub os_hash_algo: String,
    pub os_hash_value: String,
}

/// `saving` → `active` with the data's size and hashes; false when the
/// image is gone or no longer saving.
pub(crate) async fn finish_upload(c: &mut Conn, id: &str, d: &DataInfo, now: i64) -> Result<bool> {
    if !nameable(id) {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE image_images SET status = 'active', size = $2, virtual_size = NULL, checksum = $3, \
         os_hash_algo = $4, os_hash_value = $5, updated_at = $6 WHERE id = $1 AND status = 'saving'",
    )
    .bind(id.to_string())
    .bind(d.size)
    .bind(d.checksum.clone())
    .bind(d.os_hash_algo.clone())
    .bind(d.os_hash_value.clone())
    .bind(now)
    .execute(&mut *c)
    .await
    .map_err(map_db)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn delete_image(c: &mut Conn, id: &str) -> Result<bool> {
    if !nameable(id) {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM image_properties WHERE image_id = $1",
        "DELETE FROM image_tags WHERE image_id = $1",
        "DELETE FROM image_members WHERE image_id = $1",
    ] {
        sqlx::query(sql).bind(id.to_string()).execute(&mut *c).await.map_err(map_db)?;
    }
    let done = sqlx::query("DELETE FROM image_images WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(map_db)?;
    Ok(done.rows_affected() > 0)
}

fn bound<'q>(sql: &'q str, binds: &[String]) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(b.clone());
    }
    q
}

/// Which images a list call starts from.
#[derive(Debug, Clone)]
pub(crate) enum ListScope {
    /// Administrators: every image.
    All,
    /// Everyone else: public and community images, the project's own, and
    /// shared images the project is a member of (with `member_status`, or
    /// any status for `None`).
    Project { project: Option<String>, member_status: Option<String> },
}

/// Every image of a scope, with properties and tags.
pub(crate) async fn list_images(c: &mut Conn, scope: &ListScope) -> Result<Vec<Image>> {
    if let ListScope::Project { project, member_status } = scope {
        if !project.iter().chain(member_status).all(|s| nameable(s)) {
            return Ok(Vec::new());
        }
    }
    let (pred, binds): (String, Vec<String>) = match scope {
        ListScope::All => ("1 = 1".into(), vec![]),
        ListScope::Project { project: None, .. } => ("i.visibility IN ('public', 'community')".into(), vec![]),
        ListScope::Project { project: Some(p), member_status } => {
            let mut binds = vec![p.clone()];
            let status_clause = match member_status {
                Some(s) => {
                    binds.push(s.clone());
                    " AND m.status = $2"
                }
                None => "",
            };
            (
                format!(
                    "(i.visibility IN ('public', 'community') OR i.owner = $1 OR (i.visibility = 'shared' AND \
                     EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member = $1{status_clause})))"
                ),
                binds,
            )
        }
    };
    let sql = format!("SELECT {IMAGE_COLS} FROM image_images i WHERE {pred}");
    let rows = lookup(bound(&sql, &binds).fetch_all(&mut *c).await.map(Some))?.unwrap_or_default();
    let mut images = Vec::with_capacity(rows.len());
    let mut index = HashMap::new();
    for r in &rows {
        let img = row_to_image(r)?;
        index.insert(img.id.clone(), images.len());
        images.push(img);
    }
    if images.is_empty() {
        return Ok(images);
    }
    let sql = format!(
        "SELECT p.image_id, p.name, p.value FROM image_properties p JOIN image_images i ON i.id = p.image_id WHERE {pred}"
    );
    for r in bound(&sql, &binds).fetch_all(&mut *c).await.map_err(map_db)? {
        let id: String = r.col("image_id").map_err(map_db)?;
        if let Some(&ix) = index.get(&id) {
            images[ix].properties.insert(r.col("name").map_err(map_db)?, r.col("value").map_err(map_db)?);
        }
    }
    let sql = format!(
        "SELECT t.image_id, t.value FROM image_tags t JOIN image_images i ON i.id = t.image_id WHERE {pred} ORDER BY t.value"
    );
    for r in bound(&sql, &binds).fetch_all(&mut *c).await.map_err(map_db)? {
        let id: String = r.col("image_id").map_err(map_db)?;
        if let Some(&ix) = index.get(&id) {
            images[ix].tags.push(r.col("value").map_err(map_db)?);
        }
    }
    for img in &mut images {
        img.tags.sort();
    }
    Ok(images)
}

/// Ids of the images with this name and owner, oldest first.
pub(crate) async fn find_by_name_owner(c: &mut Conn, name: &str, owner: &str) -> Result<Vec<String>> {
    if !nameable(name) || !nameable(owner) {
        return Ok(Vec::new());
    }
    let rows = sqlx::query("SELECT id FROM image_images WHERE name = $1 AND owner = $2 ORDER BY created_at, id")
        .bind(name.to_string())
        .bind(owner.to_string())
        .fetch_all(&mut *c)
        .await;
    let rows = lookup(rows.map(Some))?.unwrap_or_default();
    rows.iter().map(|r| r.col("id")).collect::<berth_db::DbResult<_>>().map_err(map_db)
}

// ---------------------------------------------------------------- members

fn row_to_member(r: &AnyRow) -> Result<Member> {
    let g = || -> berth_db::DbResult<Member> {
        Ok(Member {
            image_id: r.col("image_id")?,
            member: r.col("member")?,
            status: r.col("status")?,
            created_at: r.col("created_at")?,
            updated_at: r.col("updated_at")?,
        })
    };
    g().map_err(map_db)
}

pub(crate) async fn get_member(c: &mut Conn, image_id: &str, member: &str) -> Result<Option<Member>> {
    if !nameable(image_id) || !nameable(member) {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT image_id, member, status, created_at, updated_at FROM image_members WHERE image_id = $1 AND member = $2",
    )
    .bind(image_id.to_string())
    .bind(member.to_string())
    .fetch_optional(&mut *c)
    .await;
    lookup(row)?.as_ref().map(row_to_member).transpose()
}

pub(crate) async fn list_members(c: &mut Conn, image_id: &str) -> Result<Vec<Member>> {
    if !nameable(image_id) {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT image_id, member, status, created_at, updated_at FROM image_members WHERE image_id = $1 \
         ORDER BY created_at, member",
    )
    .bind(image_id.to_string())
    .fetch_all(&mut *c)
    .await;
    lookup(rows.map(Some))?.unwrap_or_default().iter().map(row_to_member).collect()
}

pub(crate) async fn insert_member(c: &mut Conn, m: &Member) -> Result<bool> {
    storable("member", [m.image_id.as_str(), m.member.as_str(), m.status.as_str()])?;
    let r = sqlx::query(
        "INSERT INTO image_members (image_id, member, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(m.image_id.clone())
    .bind(m.member.clone())
    .bind(m.status.clone())
    .bind(m.created_at)
    .bind(m.updated_at)
    .execute(&mut *c)
    .await;
    match r {
        Ok(_) => Ok(true),
        Err(e) => match DbError::from(e) {
            e if e.kind() == DbErrorKind::UniqueViolation => Ok(false),
            e => Err(map_db(e)),
        },
    }
}

pub(crate) async fn update_member(c: &mut Conn, image_id: &str, member: &str, status: &str, now: i64) -> Result<bool> {
    if !nameable(image_id) || !nameable(member) {
        return Ok(false);
    }
    storable("member status", [status])?;
    let done = sqlx::query("UPDATE image_members SET status = $3, updated_at = $4 WHERE image_id = $1 AND member = $2")
        .bind(image_id.to_string())
        .bind(member.to_string())
        .bind(status.to_string())
        .bind(now)
        .execute(&mut *c)
        .await
        .map_err(map_db)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn delete_member(c: &mut Conn, image_id: &str, member: &str) -> Result<bool> {
    if !nameable(image_id) || !nameable(member) {
        return Ok(false);
    }
    let done = sqlx::query("DELETE FROM image_members WHERE image_id = $1 AND member = $2")
        .bind(image_id.to_string())
        .bind(member.to_string())
        .execute(&mut *c)
        .await
        .map_err(map_db)?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------- staging and import

/// Record the size of staged data on an image still `uploading` (Glance sets
/// `size` when the data is staged); false when it is gone or moved on.
pub(crate) async fn set_staged_size(c: &mut Conn, id: &str, size: i64, now: i64) -> Result<bool> {
    if !nameable(id) {
        return Ok(false);
    }
    let done = sqlx::query("UPDATE image_images SET size = $2, updated_at = $3 WHERE id = $1 AND status = 'uploading'")
        .bind(id.to_string())
        .bind(size)
        .bind(now)
        .execute(&mut *c)
        .await
        .map_err(map_db)?;
    Ok(done.rows_affected() > 0)
}

/// `importing` → `active` with the data's size and hashes; false when the
/// image is gone or no longer importing.
pub(crate) async fn finish_import(c: &mut Conn, id: &str, d: &DataInfo, now: i64) -> Result<bool> {
    if !nameable(id) {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE image_images SET status = 'active', size = $2, virtual_size = NULL, checksum = $3, \
         os_hash_algo = $4, os_hash_value = $5, updated_at = $6 WHERE id = $1 AND status = 'importing'",
    )
    .bind(id.to_string())
    .bind(d.size)
    .bind(d.checksum.clone())
    .bind(d.os_hash_algo.clone())
    .bind(d.os_hash_value.clone())
    .bind(now)
    .execute(&mut *c)
    .await
    .map_err(map_db)?;
    Ok(done.rows_affected() > 0)
}

/// Forget the size recorded for staged data (`uploading` → `queued`).
pub(crate) async fn unstage(c: &mut Conn, id: &str, from: &str, now: i64) -> Result<bool> {
    if !nameable(id) {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE image_images SET status = 'queued', size = NULL, updated_at = $3 WHERE id = $1 AND status = $2",
    )
    .bind(id.to_string())
    .bind(from.to_string())
    .bind(now)
    .execute(&mut *c)
    .await
    .map_err(map_db)?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------- tasks

const TASK_COLS: &str = "id, type, status, owner, user_id, image_id, request_id, input, result, message, \
     created_at, updated_at, expires_at";

fn row_to_task(r: &AnyRow) -> Result<Task> {
    let g = || -> berth_db::DbResult<Task> {
        let input: String = r.col("input")?;
        let result: Option<String> = r.col("result")?;
        Ok(Task {
            id: r.col("id")?,
            kind: r.col("type")?,
            status: r.col("status")?,
            owner: r.col("owner")?,
            user_id: r.col("user_id")?,
            image_id: r.col("image_id")?,
            request_id: r.col("request_id")?,
            input: serde_json::from_str(&input).unwrap_or(serde_json::Value::Null),
            result: result.and_then(|s| serde_json::from_str(&s).ok()),
            message: r.col("message")?,
            created_at: r.col("created_at")?,
            updated_at: r.col("updated_at")?,
            expires_at: r.col("expires_at")?,
        })
    };
    g().map_err(map_db)
}

pub(crate) async fn insert_task(c: &mut Conn, t: &Task) -> Result<()> {
    let input = t.input.to_string();
    let result = t.result.as_ref().map(|v| v.to_string());
    storable(
        "task",
        [t.id.as_str(), t.kind.as_str(), t.status.as_str(), input.as_str(), t.message.as_str()].into_iter().chain(
            [&t.owner, &t.user_id, &t.image_id, &t.request_id, &result].into_iter().flatten().map(String::as_str),
        ),
    )?;
    sqlx::query(&format!(
        "INSERT INTO image_tasks ({TASK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(t.id.clone())
    .bind(t.kind.clone())
    .bind(t.status.clone())
    .bind(t.owner.clone())
    .bind(t.user_id.clone())
    .bind(t.image_id.clone())
    .bind(t.request_id.clone())
    .bind(input)
    .bind(result)
    .bind(t.message.clone())
    .bind(t.created_at)
    .bind(t.updated_at)
    .bind(t.expires_at)
    .execute(&mut *c)
    .await
    .map_err(map_db)?;
    Ok(())
}

/// Record how a task ended.
pub(crate) async fn finish_task(c: &mut Conn, t: &Task) -> Result<()> {
    let result = t.result.as_ref().map(|v| v.to_string());
    storable("task", [t.status.as_str(), t.message.as_str()].into_iter().chain(result.as_deref()))?;
    sqlx::query(
        "UPDATE image_tasks SET status = $2, result = $3, message = $4, updated_at = $5, expires_at = $6 WHERE id = $1",
    )
    .bind(t.id.clone())
    .bind(t.status.clone())
    .bind(result)
    .bind(t.message.clone())
    .bind(t.updated_at)
    .bind(t.expires_at)
    .execute(&mut *c)
    .await
    .map_err(map_db)?;
    Ok(())
}

pub(crate) async fn get_task(c: &mut Conn, id: &str) -> Result<Option<Task>> {
    if !nameable(id) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("SELECT {TASK_COLS} FROM image_tasks WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await;
    lookup(row)?.as_ref().map(row_to_task).transpose()
}

/// Tasks of an owner (every task for `None`), newest first.
pub(crate) async fn list_tasks(c: &mut Conn, owner: Option<&str>) -> Result<Vec<Task>> {
    if owner.is_some_and(|o| !nameable(o)) {
        return Ok(Vec::new());
    }
    let rows = match owner {
        Some(o) => {
            sqlx::query(&format!(
                "SELECT {TASK_COLS} FROM image_tasks WHERE owner = $1 ORDER BY created_at DESC, id DESC"
            ))
            .bind(o.to_string())
            .fetch_all(&mut *c)
            .await
        }
        None => {
            sqlx::query(&format!("SELECT {TASK_COLS} FROM image_tasks ORDER BY created_at DESC, id DESC"))
                .fetch_all(&mut *c)
                .await
        }
    };
    lookup(rows.map(Some))?.unwrap_or_default().iter().map(row_to_task).collect()
}

/// Tasks of one image, newest first.
pub(crate) async fn tasks_of_image(c: &mut Conn, image_id: &str) -> Result<Vec<Task>> {
    if !nameable(image_id) {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {TASK_COLS} FROM image_tasks WHERE image_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(image_id.to_string())
    .fetch_all(&mut *c)
    .await;
    lookup(rows.map(Some))?.unwrap_or_default().iter().map(row_to_task).collect()
}
