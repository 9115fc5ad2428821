//! `/v3/credentials`: CRUD of users' credentials, filtered by `user_id`
//! and `type`. An `ec2` credential's blob is JSON with an `access` key and
//! its id is the SHA-256 of that key, as in Keystone.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::policy::{self, PolicyTarget};
use super::{
    extra_fields, json_response, list_response, member, no_content, parse_body, parse_query, query_get, v3_url,
    ApiResult, AppState, Caller,
};
use crate::credential::{self, Credential};
use crate::error::{IdentityError, Result};
use crate::repo;
use crate::service::Identity;
use crate::token::ResolvedScope;
use crate::util::{new_id, sha256_hex};

const KEYS: &[&str] = &["id", "user_id", "project_id", "type", "blob", "links"];

fn cred_json(c: &Credential, v3: &str) -> Value {
    let mut m = c.extra.clone();
    m.extend(
        json!({
            "id": c.id,
            "user_id": c.user_id,
            "project_id": c.project_id,
            "type": c.kind,
            "blob": c.blob,
            "links": {"self": format!("{v3}/credentials/{}", c.id)},
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    );
    Value::Object(m)
}

fn not_found(id: &str) -> IdentityError {
    IdentityError::not_found(format!("Could not find credential: {id}."))
}

fn invalid(field: &str, detail: impl std::fmt::Display) -> IdentityError {
    IdentityError::bad_request(format!("Invalid input for field '{field}': {detail}"))
}

fn text(m: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(invalid(key, "the value is empty or too long")),
        Some(v) => Err(invalid(key, format!("{v} is not of type 'string'"))),
    }
}

/// The id of an ec2 credential: the SHA-256 of its access key.
fn ec2_id(blob: &str) -> Result<String> {
    let v: Value = serde_json::from_str(blob).map_err(|_| IdentityError::bad_request("Invalid blob in credential"))?;
    let access = v
        .get("access")
        .and_then(Value::as_str)
        .ok_or_else(|| IdentityError::bad_request("Invalid blob in credential: no 'access' key"))?;
    Ok(sha256_hex(access))
}

fn target(c: &Credential) -> PolicyTarget {
    PolicyTarget::new().set("target.credential.user_id", c.user_id.as_str())
}

async fn load(id: &Identity, cid: &str) -> Result<Option<Credential>> {
    let mut tx = id.db.read().await?;
    credential::get(&mut tx, cid).await
}

/// The target of an operation on credential `cid`: its owner when it exists.
async fn target_of(id: &Identity, cid: &str) -> Result<PolicyTarget> {
    Ok(match load(id, cid).await? {
        Some(c) => target(&c),
        None => PolicyTarget::new().set("target.credential.id", cid),
    })
}

/// `GET /v3/credentials`: as in Keystone, a caller that is not
/// system-scoped is checked as the owner of the credentials it asks for,
/// and sees only those the rule lets it see.
pub(crate) async fn list(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw)?;
    let system = matches!(caller.token.scope, ResolvedScope::System);
    let t = if system {
        PolicyTarget::new()
    } else {
        PolicyTarget::new().set("target.credential.user_id", caller.token.user.id.as_str())
    };
    caller.authorize(&t)?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let items = credential::list(&mut tx)
        .await?
        .iter()
        .filter(|c| {
            query_get(&q, "user_id").is_none_or(|u| u == c.user_id) && query_get(&q, "type").is_none_or(|k| k == c.kind)
        })
        .filter(|c| system || policy::authorize(&id, &caller.token, "identity:list_credentials", &target(c)).is_ok())
        .map(|c| cred_json(c, &v3))
        .collect();
    Ok(list_response("credentials", items, format!("{v3}/credentials")))
}

pub(crate) async fn show(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(cid): Path<String>,
) -> ApiResult {
    caller.authorize(&target_of(&id, &cid).await?)?;
    let c = load(&id, &cid).await?.ok_or_else(|| not_found(&cid))?;
    Ok(json_response(StatusCode::OK, json!({"credential": cred_json(&c, &v3_url(&id, &headers))})))
}

pub(crate) async fn create(State(id): State<AppState>, caller: Caller, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = parse_body(&headers, &body);
    let owner =
        body.as_ref().ok().and_then(|b| b.get("credential")?.get("user_id")?.as_str()).unwrap_or_default().to_string();
    caller.authorize(&PolicyTarget::new().set("target.credential.user_id", owner))?;
    let body = body?;
    let m = member(&body, "credential")?;
    let user_id = text(m, "user_id", 64)?.ok_or_else(|| invalid("user_id", "'user_id' is a required property"))?;
    let kind = text(m, "type", 255)?.ok_or_else(|| invalid("type", "'type' is a required property"))?;
    let blob = match m.get("blob") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(invalid("blob", format!("{v} is not of type 'string'"))),
        None => return Err(invalid("blob", "'blob' is a required property")),
    };
    let project_id = text(m, "project_id", 64)?;
    let cid = if kind == "ec2" {
        if project_id.is_none() {
            return Err(IdentityError::bad_request(
                "Invalid input for field 'project_id': ec2 credentials need a project_id",
            ));
        }
        ec2_id(&blob)?
    } else {
        new_id()
    };
    let c = Credential { id: cid, user_id, project_id, kind, blob, extra: extra_fields(m, KEYS) };
    let mut w = id.db.write().await?;
    if repo::get_user(&mut w.tx, &c.user_id).await?.is_none() {
        return Err(IdentityError::not_found(format!("Could not find user: {}.", c.user_id)));
    }
    if let Some(p) = &c.project_id {
        if repo::get_project(&mut w.tx, p).await?.is_none() {
            return Err(IdentityError::not_found(format!("Could not find project: {p}.")));
        }
    }
    if credential::get(&mut w.tx, &c.id).await?.is_some() {
        return Err(IdentityError::conflict("Conflict occurred attempting to store credential - Duplicate ID."));
    }
    credential::insert(&mut w.tx, &c, berth_time::now()).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, json!({"credential": cred_json(&c, &v3_url(&id, &headers))})))
}

pub(crate) async fn update(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(cid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&target_of(&id, &cid).await?)?;
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "credential")?;
    let mut w = id.db.write().await?;
    let mut c = credential::get(&mut w.tx, &cid).await?.ok_or_else(|| not_found(&cid))?;
    if let Some(u) = text(m, "user_id", 64)? {
        if u != c.user_id {
            // Changing the owner needs the rule for the new owner too.
            caller.authorize(&PolicyTarget::new().set("target.credential.user_id", u.as_str()))?;
            if repo::get_user(&mut w.tx, &u).await?.is_none() {
                return Err(IdentityError::not_found(format!("Could not find user: {u}.")));
            }
        }
        c.user_id = u;
    }
    if let Some(k) = text(m, "type", 255)? {
        c.kind = k;
    }
    if let Some(p) = text(m, "project_id", 64)? {
        c.project_id = Some(p);
    }
    match m.get("blob") {
        None => {}
        Some(Value::String(s)) => c.blob = s.clone(),
        Some(v) => return Err(invalid("blob", format!("{v} is not of type 'string'"))),
    }
    if c.kind == "ec2" && ec2_id(&c.blob)? != c.id {
        return Err(IdentityError::bad_request("Credential ID does not match the ec2 access key of its blob."));
    }
    c.extra.extend(extra_fields(m, KEYS));
    credential::update(&mut w.tx, &c).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::OK, json!({"credential": cred_json(&c, &v3_url(&id, &headers))})))
}

pub(crate) async fn delete(State(id): State<AppState>, caller: Caller, Path(cid): Path<String>) -> ApiResult {
    caller.authorize(&target_of(&id, &cid).await?)?;
    let mut w = id.db.write().await?;
    if !credential::delete(&mut w.tx, &cid).await? {
        return Err(not_found(&cid));
    }
    w.commit().await?;
    Ok(no_content())
}
