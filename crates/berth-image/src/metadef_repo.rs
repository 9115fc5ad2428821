//! SQL for metadata definitions. Every function runs on a connection the
//! caller owns (inside a transaction for writes). Inserts answer `false`
//! when the row exists (the API words the 409); lookups by a key holding a
//! NUL find nothing.

use berth_db::{DbError, DbErrorKind, RowExt};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;

use crate::error::{lookup, map_db, Result};
use crate::metadef::{Association, MetadefObject, Namespace, Property, ResourceType, Tag};
use crate::repo::{nameable, storable, Conn};

/// Run an insert; `Ok(false)` on a unique violation.
async fn insert<'q>(q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>, c: &mut Conn) -> Result<bool> {
    match q.execute(&mut *c).await {
        Ok(_) => Ok(true),
        Err(e) => match DbError::from(e) {
            e if e.kind() == DbErrorKind::UniqueViolation => Ok(false),
            e => Err(map_db(e)),
        },
    }
}

fn json_text(v: &Option<impl serde::Serialize>) -> Option<String> {
    v.as_ref().map(|v| serde_json::to_string(v).unwrap_or_default())
}

// ---------------------------------------------------------------- namespaces

const NS_COLS: &str = "namespace, display_name, description, visibility, protected, owner, created_at, updated_at";

fn row_to_namespace(r: &AnyRow) -> Result<Namespace> {
    let g = || -> berth_db::DbResult<Namespace> {
        Ok(Namespace {
            namespace: r.col("namespace")?,
            display_name: r.col("display_name")?,
            description: r.col("description")?,
            visibility: r.col("visibility")?,
            protected: r.flag("protected")?,
            owner: r.col("owner")?,
            created_at: r.col("created_at")?,
            updated_at: r.col("updated_at")?,
        })
    };
    g().map_err(map_db)
}

fn namespace_texts(ns: &Namespace) -> Vec<&str> {
    let mut v = vec![ns.namespace.as_str(), ns.visibility.as_str()];
    v.extend([&ns.display_name, &ns.description, &ns.owner].into_iter().flatten().map(String::as_str));
    v
}

pub(crate) async fn get_namespace(c: &mut Conn, name: &str) -> Result<Option<Namespace>> {
    if !nameable(name) {
        return Ok(None);
    }
    let sql = format!("SELECT {NS_COLS} FROM image_metadef_namespaces WHERE namespace = $1");
    let row = lookup(sqlx::query(&sql).bind(name.to_string()).fetch_optional(&mut *c).await)?;
    row.as_ref().map(row_to_namespace).transpose()
}

pub(crate) async fn list_namespaces(c: &mut Conn) -> Result<Vec<Namespace>> {
    let rows = sqlx::query(&format!("SELECT {NS_COLS} FROM image_metadef_namespaces"))
        .fetch_all(&mut *c)
        .await
        .map_err(map_db)?;
    rows.iter().map(row_to_namespace).collect()
}

pub(crate) async fn insert_namespace(c: &mut Conn, ns: &Namespace) -> Result<bool> {
    storable("namespace", namespace_texts(ns))?;
    let sql = format!("INSERT INTO image_metadef_namespaces ({NS_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    let q = sqlx::query(&sql)
        .bind(ns.namespace.clone())
        .bind(ns.display_name.clone())
        .bind(ns.description.clone())
        .bind(ns.visibility.clone())
        .bind(i64::from(ns.protected))
        .bind(ns.owner.clone())
        .bind(ns.created_at)
        .bind(ns.updated_at);
    insert(q, c).await
}

const CHILD_TABLES: &[&str] = &[
    "image_metadef_objects",
    "image_metadef_properties",
    "image_metadef_tags",
    "image_metadef_resource_type_associations",
];

/// Overwrite a namespace (renamed from `old` when its name differs, its
/// children following); `Ok(false)` when the new name is taken.
pub(crate) async fn update_namespace(c: &mut Conn, old: &str, ns: &Namespace) -> Result<bool> {
    storable("namespace", namespace_texts(ns))?;
    if ns.namespace != old && get_namespace(c, &ns.namespace).await?.is_some() {
        return Ok(false);
    }
    let q = sqlx::query(
        "UPDATE image_metadef_namespaces SET namespace = $2, display_name = $3, description = $4, visibility = $5, \
         protected = $6, owner = $7, updated_at = $8 WHERE namespace = $1",
    )
    .bind(old.to_string())
    .bind(ns.namespace.clone())
    .bind(ns.display_name.clone())
    .bind(ns.description.clone())
    .bind(ns.visibility.clone())
    .bind(i64::from(ns.protected))
    .bind(ns.owner.clone())
    .bind(ns.updated_at);
    if !insert(q, c).await? {
        return Ok(false);
    }
    if ns.namespace != old {
        for t in CHILD_TABLES {
            sqlx::query(&format!("UPDATE {t} SET namespace = $2 WHERE namespace = $1"))
                .bind(old.to_string())
                .bind(ns.namespace.clone())
                .execute(&mut *c)
                .await
                .map_err(map_db)?;
        }
    }
    Ok(true)
}

/// Delete the rows of one child table of a namespace (all when `table` is
/// `None`, the namespace included).
pub(crate) async fn delete_namespace_rows(c: &mut Conn, ns: &str, table: Option<&str>) -> Result<()> {
    let tables: Vec<&str> = match table {
        Some(t) => vec![t],
        None => CHILD_TABLES.iter().copied().chain(["image_metadef_namespaces"]).collect(),
    };
    for t in tables {
        sqlx::query(&format!("DELETE FROM {t} WHERE namespace = $1"))
            .bind(ns.to_string())
            .execute(&mut *c)
            .await
            .map_err(map_db)?;
    }
    Ok(())
}

pub(crate) const OBJECTS: &str = "image_metadef_objects";
pub(crate) const PROPERTIES: &str = "image_metadef_properties";
pub(crate) const TAGS: &str = "image_metadef_tags";

// ---------------------------------------------------------------- objects

fn row_to_object(r: &AnyRow) -> Result<MetadefObject> {
    let g = || -> berth_db::DbResult<MetadefObject> {
        let required: Option<String> = r.col("required")?;
        let properties: Option<String> = r.col("properties")?;
        Ok(MetadefObject {
            name: r.col("name")?,
            description: r.col("description")?,
            required: required.and_then(|s| serde_json::from_str(&s).ok()),
            properties: properties.and_then(|s| serde_json::from_str::<Map<String, Value>>(&s).ok()),
            created_at: r.col("created_at")?,
            updated_at: r.col("updated_at")?,
        })
    };
    g().map_err(map_db)
}

const OBJ_COLS: &str = "name, description, required, properties, created_at, updated_at";

/// Objects of a namespace, newest first.
pub(crate) async fn list_objects(c: &mut Conn, ns: &str) -> Result<Vec<MetadefObject>> {
    let rows = sqlx::query(&format!(
        "SELECT {OBJ_COLS} FROM image_metadef_objects WHERE namespace = $1 ORDER BY created_at DESC, name"
    ))
    .bind(ns.to_string())
    .fetch_all(&mut *c)
    .await;
    lookup(rows.map(Some))?.unwrap_or_default().iter().map(row_to_object).collect()
}

pub(crate) async fn get_object(c: &mut Conn, ns: &str, name: &str) -> Result<Option<MetadefObject>> {
    if !nameable(ns) || !nameable(name) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("SELECT {OBJ_COLS} FROM image_metadef_objects WHERE namespace = $1 AND name = $2"))
        .bind(ns.to_string())
        .bind(name.to_string())
        .fetch_optional(&mut *c)
        .await;
    lookup(row)?.as_ref().map(row_to_object).transpose()
}

fn object_texts(ns: &str, o: &MetadefObject) -> (Vec<String>, Option<String>, Option<String>) {
    let required = json_text(&o.required);
    let properties = json_text(&o.properties);
    let mut v = vec![ns.to_string(), o.name.clone()];
    v.extend(o.description.clone());
    (v, required, properties)
}

pub(crate) async fn insert_object(c: &mut Conn, ns: &str, o: &MetadefObject) -> Result<bool> {
    let (texts, required, properties) = object_texts(ns, o);
    storable("object", texts.iter().map(String::as_str))?;
    let sql = format!("INSERT INTO image_metadef_objects (namespace, {OBJ_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
    let q = sqlx::query(&sql)
        .bind(ns.to_string())
        .bind(o.name.clone())
        .bind(o.description.clone())
        .bind(required)
        .bind(properties)
        .bind(o.created_at)
        .bind(o.updated_at);
    insert(q, c).await
}

/// Overwrite an object (renamed from `old`); `Ok(false)` when the new name
/// is taken.
pub(crate) async fn update_object(c: &mut Conn, ns: &str, old: &str, o: &MetadefObject) -> Result<bool> {
    let (texts, required, properties) = object_texts(ns, o);
    storable("object", texts.iter().map(String::as_str))?;
    let q = sqlx::query(
        "UPDATE image_metadef_objects SET name = $3, description = $4, required = $5, properties = $6, \
         updated_at = $7 WHERE namespace = $1 AND name = $2",
    )
    .bind(ns.to_string())
    .bind(old.to_string())
    .bind(o.name.clone())
    .bind(o.description.clone())
    .bind(required)
    .bind(properties)
    .bind(o.updated_at);
    insert(q, c).await
}

/// Delete one named row of a child table; false when there was none.
pub(crate) async fn delete_child(c: &mut Conn, table: &str, ns: &str, key_col: &str, key: &str) -> Result<bool> {
    if !nameable(ns) || !nameable(key) {
        return Ok(false);
    }
    let done = sqlx::query(&format!("DELETE FROM {table} WHERE namespace = $1 AND {key_col} = $2"))
        .bind(ns.to_string())
        .bind(key.to_string())
        .execute(&mut *c)
        .await
        .map_err(map_db)?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------- properties

fn row_to_property(r: &AnyRow) -> Result<Property> {
    let g = || -> berth_db::DbResult<Property> {
        let schema: String = r.col("json_schema")?;
        Ok(Property {
            name: r.col("name")?,
            schema: serde_json::from_str(&schema).unwrap_or_default(),
            created_at: r.col("created_at")?,
            updated_at: r.col("updated_at")?,
        })
    };
    g().map_err(map_db)
}

const PROP_COLS: &str = "name, json_schema, created_at, updated_at";

/// Properties of a namespace, by name.
pub(crate) async fn list_properties(c: &mut Conn, ns: &str) -> Result<Vec<Property>> {
    let rows =
        sqlx::query(&format!("SELECT {PROP_COLS} FROM image_metadef_properties WHERE namespace = $1 ORDER BY name"))
            .bind(ns.to_string())
            .fetch_all(&mut *c)
            .await;
    let mut props: Vec<Property> =
        lookup(rows.map(Some))?.unwrap_or_default().iter().map(row_to_property).collect::<Result<_>>()?;
    // Byte order on both engines, whatever the collation.
    props.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(props)
}

pub(crate) async fn get_property(c: &mut Conn, ns: &str, name: &str) -> Result<Option<Property>> {
    if !nameable(ns) || !nameable(name) {
        return Ok(None);
    }
    let row =
        sqlx::query(&format!("SELECT {PROP_COLS} FROM image_metadef_properties WHERE namespace = $1 AND name = $2"))
            .bind(ns.to_string())
            .bind(name.to_string())
            .fetch_optional(&mut *c)
            .await;
    lookup(row)?.as_ref().map(row_to_property).transpose()
}

pub(crate) async fn insert_property(c: &mut Conn, ns: &str, p: &Property) -> Result<bool> {
    let schema = Value::Object(p.schema.clone()).to_string();
    storable("property", [ns, p.name.as_str(), schema.as_str()])?;
    let sql = format!("INSERT INTO image_metadef_properties (namespace, {PROP_COLS}) VALUES ($1, $2, $3, $4, $5)");
    let q =
        sqlx::query(&sql).bind(ns.to_string()).bind(p.name.clone()).bind(schema).bind(p.created_at).bind(p.updated_at);
    insert(q, c).await
}

pub(crate) async fn update_property(c: &mut Conn, ns: &str, old: &str, p: &Property) -> Result<bool> {
    let schema = Value::Object(p.schema.clone()).to_string();
    storable("property", [ns, p.name.as_str(), schema.as_str()])?;
    let q = sqlx::query(
        "UPDATE image_metadef_properties SET name = $3, json_schema = $4, updated_at = $5 \
         WHERE namespace = $1 AND name = $2",
    )
    .bind(ns.to_string())
    .bind(old.to_string())
    .bind(p.name.clone())
    .bind(schema)
    .bind(p.updated_at);
    insert(q, c).await
}

// ---------------------------------------------------------------- tags

fn row_to_tag(r: &AnyRow) -> Result<Tag> {
    let g = || -> berth_db::DbResult<Tag> {
        Ok(Tag { name: r.col("name")?, created_at: r.col("created_at")?, updated_at: r.col("updated_at")? })
    };
    g().map_err(map_db)
}

/// The key a tag is unique by (Glance's tag names ignore case).
pub(crate) fn tag_key(name: &str) -> String {
    name.to_lowercase()
}

/// Tags of a namespace, newest first.
pub(crate) async fn list_tags(c: &mut Conn, ns: &str) -> Result<Vec<Tag>> {
    let rows = sqlx::query(
        "SELECT name, created_at, updated_at FROM image_metadef_tags WHERE namespace = $1 \
         ORDER BY created_at DESC, name_key",
    )
    .bind(ns.to_string())
    .fetch_all(&mut *c)
    .await;
    lookup(rows.map(Some))?.unwrap_or_default().iter().map(row_to_tag).collect()
}

pub(crate) async fn get_tag(c: &mut Conn, ns: &str, name: &str) -> Result<Option<Tag>> {
    if !nameable(ns) || !nameable(name) {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT name, created_at, updated_at FROM image_metadef_tags WHERE namespace = $1 AND name_key = $2",
    )
    .bind(ns.to_string())
    .bind(tag_key(name))
    .fetch_optional(&mut *c)
    .await;
    lookup(row)?.as_ref().map(row_to_tag).transpose()
}

pub(crate) async fn insert_tag(c: &mut Conn, ns: &str, t: &Tag) -> Result<bool> {
    storable("tag", [ns, t.name.as_str()])?;
    let q = sqlx::query(
        "INSERT INTO image_metadef_tags (namespace, name_key, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(ns.to_string())
    .bind(tag_key(&t.name))
    .bind(t.name.clone())
    .bind(t.created_at)
    .bind(t.updated_at);
    insert(q, c).await
}

pub(crate) async fn rename_tag(c: &mut Conn, ns: &str, old: &str, t: &Tag) -> Result<bool> {
    storable("tag", [ns, t.name.as_str()])?;
    let q = sqlx::query(
        "UPDATE image_metadef_tags SET name_key = $3, name = $4, updated_at = $5 WHERE namespace = $1 AND name_key = $2",
    )
    .bind(ns.to_string())
    .bind(tag_key(old))
    .bind(tag_key(&t.name))
    .bind(t.name.clone())
    .bind(t.updated_at);
    insert(q, c).await
}

// ---------------------------------------------------------------- resource types

fn row_to_resource_type(r: &AnyRow) -> Result<ResourceType> {
    let g = || -> berth_db::DbResult<ResourceType> {
        Ok(ResourceType {
            name: r.col("name")?,
            protected: r.flag("protected")?,
            created_at: r.col("created_at")?,
            updated_at: r.col("updated_at")?,
        })
    };
    g().map_err(map_db)
}

pub(crate) async fn list_resource_types(c: &mut Conn) -> Result<Vec<ResourceType>> {
    let rows = sqlx::query("SELECT name, protected, created_at, updated_at FROM image_metadef_resource_types")
        .fetch_all(&mut *c)
        .await
        .map_err(map_db)?;
    let mut out: Vec<ResourceType> = rows.iter().map(row_to_resource_type).collect::<Result<_>>()?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Create a resource type unless it exists (an association names it).
pub(crate) async fn ensure_resource_type(c: &mut Conn, name: &str, now: i64) -> Result<()> {
    storable("resource type", [name])?;
    sqlx::query(
        "INSERT INTO image_metadef_resource_types (name, protected, created_at, updated_at) VALUES ($1, 0, $2, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(name.to_string())
    .bind(now)
    .execute(&mut *c)
    .await
    .map_err(map_db)?;
    Ok(())
}

fn row_to_association(r: &AnyRow) -> Result<Association> {
    let g = || -> berth_db::DbResult<Association> {
        Ok(Association {
            name: r.col("resource_type")?,
            prefix: r.col("prefix")?,
            properties_target: r.col("properties_target")?,
            created_at: r.col("created_at")?,
            updated_at: r.col("updated_at")?,
        })
    };
    g().map_err(map_db)
}

/// The associations of a namespace, or of every namespace (with each one's
/// namespace) for `None`.
pub(crate) async fn list_associations(c: &mut Conn, ns: Option<&str>) -> Result<Vec<(String, Association)>> {
    const COLS: &str = "namespace, resource_type, prefix, properties_target, created_at, updated_at";
    let rows = match ns {
        Some(n) => {
            sqlx::query(&format!(
                "SELECT {COLS} FROM image_metadef_resource_type_associations WHERE namespace = $1 \
                 ORDER BY created_at, resource_type"
            ))
            .bind(n.to_string())
            .fetch_all(&mut *c)
            .await
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLS} FROM image_metadef_resource_type_associations ORDER BY created_at, resource_type"
            ))
            .fetch_all(&mut *c)
            .await
        }
    };
    let rows = lookup(rows.map(Some))?.unwrap_or_default();
    rows.iter()
        .map(|r| {
            let ns: String = r.col("namespace").map_err(map_db)?;
            Ok((ns, row_to_association(r)?))
        })
        .collect()
}

pub(crate) async fn insert_association(c: &mut Conn, ns: &str, a: &Association) -> Result<bool> {
    let mut texts = vec![ns, a.name.as_str()];
    texts.extend([&a.prefix, &a.properties_target].into_iter().flatten().map(String::as_str));
    storable("resource type association", texts)?;
    ensure_resource_type(c, &a.name, a.created_at).await?;
    let q = sqlx::query(
        "INSERT INTO image_metadef_resource_type_associations \
         (namespace, resource_type, prefix, properties_target, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ns.to_string())
    .bind(a.name.clone())
    .bind(a.prefix.clone())
    .bind(a.properties_target.clone())
    .bind(a.created_at)
    .bind(a.updated_at);
    insert(q, c).await
}
