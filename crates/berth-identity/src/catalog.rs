//! The service catalog as data: regions, services and endpoints in the
//! database, changed through `/v3/regions`, `/v3/services` and
//! `/v3/endpoints`, and shown in every scoped token and `/v3/auth/catalog`.
//!
//! berth's own entries (identity, compute, placement and image, each with
//! public/internal/admin endpoints in the configured region) are seeded
//! once, at the first bootstrap; their URLs hold `%(base_url)s`, replaced
//! by the server's public base URL when shown, so one database serves
//! however the server is reached. Keystone's `%(project_id)s`,
//! `%(tenant_id)s` and `%(user_id)s` are replaced in tokens, as Keystone
//! does (an endpoint whose URL needs a project is left out of a token
//! without one).

use berth_db::RowExt;
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;

use crate::error::{IdentityError, Result};
use crate::repo::{extra_json, extra_of, Conn};
use crate::util::sha256_hex;

/// (type, name, path under the base URL)
const SERVICES: &[(&str, &str, &str)] = &[
    ("identity", "keystone", "/identity"),
    ("compute", "nova", "/compute/v2.1"),
    ("placement", "placement", "/placement"),
    ("image", "glance", "/image"),
];

pub(crate) const INTERFACES: &[&str] = &["public", "internal", "admin"];

/// The placeholder of berth's public base URL in stored endpoint URLs.
pub(crate) const BASE_URL: &str = "%(base_url)s";

/// Stable ids of the seeded entries.
fn service_id(kind: &str) -> String {
    sha256_hex(&format!("berth-service:{kind}"))[..32].to_string()
}

fn endpoint_id(kind: &str, interface: &str) -> String {
    sha256_hex(&format!("berth-endpoint:{kind}:{interface}"))[..32].to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Region {
    pub id: String,
    pub description: String,
    pub parent_region_id: Option<String>,
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Service {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub interface: String,
    pub region_id: Option<String>,
    pub url: String,
    pub enabled: bool,
    pub extra: Map<String, Value>,
}

fn nul(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

fn refuse_nul(values: &[&str]) -> Result<()> {
    if nul(values) {
        return Err(IdentityError::bad_request(crate::error::NUL_REFUSED));
    }
    Ok(())
}

fn conflict(e: sqlx::Error, what: &str) -> IdentityError {
    let err = IdentityError::from(e);
    if err.kind == crate::error::ErrorKind::Conflict {
        IdentityError::conflict(format!("Conflict occurred attempting to store {what}. Duplicate ID."))
    } else {
        err
    }
}

// ---------------------------------------------------------------- regions

const REGION_COLS: &str = "SELECT id, description, parent_region_id, extra FROM identity_regions";

fn region_row(r: &AnyRow) -> Result<Region> {
    Ok(Region { id: r.col(0)?, description: r.col(1)?, parent_region_id: r.col(2)?, extra: extra_of(r, 3)? })
}

pub(crate) async fn list_regions(c: &mut Conn) -> Result<Vec<Region>> {
    let found = sqlx::query(&format!("{REGION_COLS} ORDER BY id")).fetch_all(c).await?;
    found.iter().map(region_row).collect()
}

pub(crate) async fn get_region(c: &mut Conn, id: &str) -> Result<Option<Region>> {
    if nul(&[id]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{REGION_COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    row.as_ref().map(region_row).transpose()
}

pub(crate) async fn insert_region(c: &mut Conn, r: &Region, now: i64) -> Result<()> {
    refuse_nul(&[&r.id, &r.description, r.parent_region_id.as_deref().unwrap_or("")])?;
    sqlx::query(
        "INSERT INTO identity_regions (id, description, parent_region_id, extra, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(r.id.clone())
    .bind(r.description.clone())
    .bind(r.parent_region_id.clone())
    .bind(extra_json(&r.extra)?)
    .bind(now)
    .execute(c)
    .await
    .map_err(|e| conflict(e, "region"))?;
    Ok(())
}

pub(crate) async fn update_region(c: &mut Conn, r: &Region) -> Result<()> {
    refuse_nul(&[&r.id, &r.description, r.parent_region_id.as_deref().unwrap_or("")])?;
    sqlx::query("UPDATE identity_regions SET description = $2, parent_region_id = $3, extra = $4 WHERE id = $1")
        .bind(r.id.clone())
        .bind(r.description.clone())
        .bind(r.parent_region_id.clone())
        .bind(extra_json(&r.extra)?)
        .execute(c)
        .await?;
    Ok(())
}

pub(crate) async fn delete_region(c: &mut Conn, id: &str) -> Result<bool> {
    if nul(&[id]) {
        return Ok(false);
    }
    let done = sqlx::query("DELETE FROM identity_regions WHERE id = $1").bind(id.to_string()).execute(c).await?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------- services

const SERVICE_COLS: &str = "SELECT id, service_type, name, description, enabled, extra FROM identity_services";

fn service_row(r: &AnyRow) -> Result<Service> {
    Ok(Service {
        id: r.col(0)?,
        kind: r.col(1)?,
        name: r.col(2)?,
        description: r.col(3)?,
        enabled: r.flag(4)?,
        extra: extra_of(r, 5)?,
    })
}

pub(crate) async fn list_services(c: &mut Conn) -> Result<Vec<Service>> {
    let found = sqlx::query(&format!("{SERVICE_COLS} ORDER BY service_type, name, id")).fetch_all(c).await?;
    found.iter().map(service_row).collect()
}

pub(crate) async fn get_service(c: &mut Conn, id: &str) -> Result<Option<Service>> {
    if nul(&[id]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{SERVICE_COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    row.as_ref().map(service_row).transpose()
}

pub(crate) async fn insert_service(c: &mut Conn, s: &Service, now: i64) -> Result<()> {
    refuse_nul(&[&s.id, &s.kind, &s.name, s.description.as_deref().unwrap_or("")])?;
    sqlx::query(
        "INSERT INTO identity_services (id, service_type, name, description, enabled, extra, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(s.id.clone())
    .bind(s.kind.clone())
    .bind(s.name.clone())
    .bind(s.description.clone())
    .bind(i64::from(s.enabled))
    .bind(extra_json(&s.extra)?)
    .bind(now)
    .execute(c)
    .await
    .map_err(|e| conflict(e, "service"))?;
    Ok(())
}

pub(crate) async fn update_service(c: &mut Conn, s: &Service) -> Result<()> {
    refuse_nul(&[&s.id, &s.kind, &s.name, s.description.as_deref().unwrap_or("")])?;
    sqlx::query(
        "UPDATE identity_services SET service_type = $2, name = $3, description = $4, enabled = $5, extra = $6 \
         WHERE id = $1",
    )
    .bind(s.id.clone())
    .bind(s.kind.clone())
    .bind(s.name.clone())
    .bind(s.description.clone())
    .bind(i64::from(s.enabled))
    .bind(extra_json(&s.extra)?)
    .execute(c)
    .await?;
    Ok(())
}

/// Delete a service and its endpoints (as Keystone's SQL catalog does).
pub(crate) async fn delete_service(c: &mut Conn, id: &str) -> Result<bool> {
    if nul(&[id]) {
        return Ok(false);
    }
    sqlx::query("DELETE FROM identity_endpoints WHERE service_id = $1").bind(id.to_string()).execute(&mut *c).await?;
    let done = sqlx::query("DELETE FROM identity_services WHERE id = $1").bind(id.to_string()).execute(&mut *c).await?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------- endpoints

const ENDPOINT_COLS: &str = "SELECT id, service_id, interface, region_id, url, enabled, extra FROM identity_endpoints";

fn endpoint_row(r: &AnyRow) -> Result<Endpoint> {
    Ok(Endpoint {
        id: r.col(0)?,
        service_id: r.col(1)?,
        interface: r.col(2)?,
        region_id: r.col(3)?,
        url: r.col(4)?,
        enabled: r.flag(5)?,
        extra: extra_of(r, 6)?,
    })
}

pub(crate) async fn list_endpoints(c: &mut Conn) -> Result<Vec<Endpoint>> {
    let found = sqlx::query(&format!("{ENDPOINT_COLS} ORDER BY service_id, interface, id")).fetch_all(c).await?;
    found.iter().map(endpoint_row).collect()
}

pub(crate) async fn get_endpoint(c: &mut Conn, id: &str) -> Result<Option<Endpoint>> {
    if nul(&[id]) {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{ENDPOINT_COLS} WHERE id = $1")).bind(id.to_string()).fetch_optional(c).await?;
    row.as_ref().map(endpoint_row).transpose()
}

pub(crate) async fn insert_endpoint(c: &mut Conn, e: &Endpoint, now: i64) -> Result<()> {
    refuse_nul(&[&e.id, &e.service_id, &e.interface, e.region_id.as_deref().unwrap_or(""), &e.url])?;
    sqlx::query(
        "INSERT INTO identity_endpoints (id, service_id, interface, region_id, url, enabled, extra, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.id.clone())
    .bind(e.service_id.clone())
    .bind(e.interface.clone())
    .bind(e.region_id.clone())
    .bind(e.url.clone())
    .bind(i64::from(e.enabled))
    .bind(extra_json(&e.extra)?)
    .bind(now)
    .execute(c)
    .await
    .map_err(|err| conflict(err, "endpoint"))?;
    Ok(())
}

pub(crate) async fn update_endpoint(c: &mut Conn, e: &Endpoint) -> Result<()> {
    refuse_nul(&[&e.id, &e.service_id, &e.interface, e.region_id.as_deref().unwrap_or(""), &e.url])?;
    sqlx::query(
        "UPDATE identity_endpoints SET service_id = $2, interface = $3, region_id = $4, url = $5, enabled = $6, \
         extra = $7 WHERE id = $1",
    )
    .bind(e.id.clone())
    .bind(e.service_id.clone())
    .bind(e.interface.clone())
    .bind(e.region_id.clone())
    .bind(e.url.clone())
    .bind(i64::from(e.enabled))
    .bind(extra_json(&e.extra)?)
    .execute(c)
    .await?;
    Ok(())
}

pub(crate) async fn delete_endpoint(c: &mut Conn, id: &str) -> Result<bool> {
    if nul(&[id]) {
        return Ok(false);
    }
    let done = sqlx::query("DELETE FROM identity_endpoints WHERE id = $1").bind(id.to_string()).execute(c).await?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------- seed and render

/// Seed berth's own region, services and endpoints, once per database.
pub(crate) async fn seed(c: &mut Conn, region: &str, now: i64) -> Result<()> {
    let done = sqlx::query("SELECT name FROM identity_seeds WHERE name = 'catalog'").fetch_optional(&mut *c).await?;
    if done.is_some() {
        return Ok(());
    }
    if get_region(&mut *c, region).await?.is_none() {
        let r =
            Region { id: region.to_string(), description: String::new(), parent_region_id: None, extra: Map::new() };
        insert_region(&mut *c, &r, now).await?;
    }
    for (kind, name, path) in SERVICES {
        let sid = service_id(kind);
        if get_service(&mut *c, &sid).await?.is_none() {
            let s = Service {
                id: sid.clone(),
                kind: kind.to_string(),
                name: name.to_string(),
                description: None,
                enabled: true,
                extra: Map::new(),
            };
            insert_service(&mut *c, &s, now).await?;
        }
        for iface in INTERFACES {
            let eid = endpoint_id(kind, iface);
            if get_endpoint(&mut *c, &eid).await?.is_none() {
                let e = Endpoint {
                    id: eid,
                    service_id: sid.clone(),
                    interface: iface.to_string(),
                    region_id: Some(region.to_string()),
                    url: format!("{BASE_URL}{path}"),
                    enabled: true,
                    extra: Map::new(),
                };
                insert_endpoint(&mut *c, &e, now).await?;
            }
        }
    }
    sqlx::query("INSERT INTO identity_seeds (name, created_at) VALUES ('catalog', $1) ON CONFLICT DO NOTHING")
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// An endpoint URL as the API shows it: berth's base URL put in.
pub(crate) fn shown_url(url: &str, base: &str) -> String {
    url.replace(BASE_URL, base)
}

/// An endpoint URL as a token shows it: Keystone's substitutions made;
/// `None` when one is left that the token cannot fill (no project).
fn token_url(url: &str, base: &str, user_id: &str, project_id: Option<&str>) -> Option<String> {
    let mut out = shown_url(url, base).replace("%(user_id)s", user_id);
    if let Some(p) = project_id {
        out = out.replace("%(project_id)s", p).replace("%(tenant_id)s", p);
    }
    if out.contains("%(project_id)s") || out.contains("%(tenant_id)s") {
        return None;
    }
    Some(out)
}

/// The `catalog` list of a token: enabled services, each with its enabled
/// endpoints.
pub(crate) async fn token_catalog(c: &mut Conn, base: &str, user_id: &str, project_id: Option<&str>) -> Result<Value> {
    let services = list_services(&mut *c).await?;
    let endpoints = list_endpoints(&mut *c).await?;
    let list: Vec<Value> = services
        .iter()
        .filter(|s| s.enabled)
        .map(|s| {
            let eps: Vec<Value> = endpoints
                .iter()
                .filter(|e| e.enabled && e.service_id == s.id)
                .filter_map(|e| {
                    let url = token_url(&e.url, base, user_id, project_id)?;
                    Some(json!({
                        "id": e.id,
                        "interface": e.interface,
                        "region": e.region_id,
                        "region_id": e.region_id,
                        "url": url,
                    }))
                })
                .collect();
            json!({"endpoints": eps, "id": s.id, "type": s.kind, "name": s.name})
        })
        .collect();
    Ok(Value::Array(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_urls_are_substituted_or_left_out() {
        let base = "http://h:1";
        assert_eq!(token_url("%(base_url)s/identity", base, "u", None).as_deref(), Some("http://h:1/identity"));
        assert_eq!(
            token_url("http://x/v1/%(project_id)s/%(user_id)s", base, "u", Some("p")).as_deref(),
            Some("http://x/v1/p/u")
        );
        assert_eq!(token_url("http://x/v1/AUTH_%(tenant_id)s", base, "u", None), None);
        assert_eq!(service_id("identity").len(), 32);
        assert_ne!(endpoint_id("identity", "public"), endpoint_id("identity", "admin"));
    }
}
