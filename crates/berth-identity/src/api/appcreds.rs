//! Application credentials (`/v3/users/{id}/application_credentials`) and
//! access rules (`/v3/users/{id}/access_rules`). A credential belongs to
//! its user and the project of the token that created it, carries a subset
//! of the user's roles there, and authenticates with
//! `{"methods": ["application_credential"]}`; its secret is returned once.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::policy::PolicyTarget;
use super::{
    bool_field, json_response, list_response, member, no_content, nullable_text, parse_body, parse_query, query_get,
    required_name, v3_url, ApiResult, AppState, Caller,
};
use crate::appcred::{self, AccessRule, AppCred};
use crate::error::{IdentityError, Result};
use crate::repo::{self, Role};
use crate::service::Identity;
use crate::token::ResolvedScope;
use crate::util::{new_id, new_secret};

fn not_found(kind: &str, id: &str) -> IdentityError {
    IdentityError::not_found(format!("Could not find {kind}: {id}."))
}

fn invalid(field: &str, detail: impl std::fmt::Display) -> IdentityError {
    IdentityError::bad_request(format!("Invalid input for field '{field}': {detail}"))
}

fn rule_json(r: &AccessRule, v3: &str) -> Value {
    json!({
        "id": r.id,
        "service": r.service,
        "path": r.path,
        "method": r.method,
        "links": {"self": format!("{v3}/users/{}/access_rules/{}", r.user_id, r.id)},
    })
}

fn cred_json(a: &AppCred, roles: &[Role], rules: &[AccessRule], v3: &str) -> Value {
    let roles: Vec<Value> = a
        .roles
        .iter()
        .filter_map(|rid| roles.iter().find(|r| &r.id == rid))
        .map(|r| json!({"id": r.id, "name": r.name, "domain_id": null}))
        .collect();
    let rules: Vec<Value> = a
        .access_rules
        .iter()
        .filter_map(|id| rules.iter().find(|r| &r.id == id))
        .map(|r| json!({"id": r.id, "service": r.service, "path": r.path, "method": r.method}))
        .collect();
    json!({
        "id": a.id,
        "name": a.name,
        "description": a.description,
        "user_id": a.user_id,
        "project_id": a.project_id,
        "system": null,
        "roles": roles,
        "expires_at": a.expires_at.map(berth_time::iso_micros_z),
        "unrestricted": a.unrestricted,
        "access_rules": rules,
        "links": {"self": format!("{v3}/users/{}/application_credentials/{}", a.user_id, a.id)},
    })
}

/// The target of an operation on user `uid`'s credentials or rules.
async fn owner_target(id: &Identity, uid: &str) -> Result<PolicyTarget> {
    let mut tx = id.db.read().await?;
    Ok(match repo::get_user(&mut tx, uid).await? {
        Some(u) => PolicyTarget::new().user(&u),
        None => PolicyTarget::new().set("target.user.id", uid),
    }
    .set("user_id", uid))
}

/// Keystone refuses a restricted application credential's token the
/// management of application credentials.
fn refuse_restricted(caller: &Caller) -> Result<()> {
    if caller.token.app_cred.as_ref().is_some_and(|a| !a.unrestricted) {
        return Err(IdentityError::forbidden(
            "Using method 'application_credential' is not allowed for managing additional application credentials.",
        ));
    }
    Ok(())
}

/// A requested role: by id or by name.
type RoleRef = (Option<String>, Option<String>);

fn parse_roles(m: &Map<String, Value>) -> Result<Option<Vec<RoleRef>>> {
    match m.get("roles") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for r in items {
                let o = r.as_object().ok_or_else(|| invalid("roles", format!("{r} is not of type 'object'")))?;
                let id = o.get("id").and_then(Value::as_str).map(str::to_string);
                let name = o.get("name").and_then(Value::as_str).map(str::to_string);
                if id.is_none() && name.is_none() {
                    return Err(invalid("roles", format!("{r}: a role needs an 'id' or a 'name'")));
                }
                out.push((id, name));
            }
            Ok(Some(out))
        }
        Some(v) => Err(invalid("roles", format!("{v} is not of type 'array'"))),
    }
}

/// Requested access rules: an existing rule's id, or service, path and
/// method.
enum RuleRef {
    Id(String),
    New { service: String, path: String, method: String },
}

fn parse_rules(m: &Map<String, Value>) -> Result<Vec<RuleRef>> {
    const METHODS: &[&str] = &["HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"];
    match m.get("access_rules") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for r in items {
                let o = r.as_object().ok_or_else(|| invalid("access_rules", format!("{r} is not of type 'object'")))?;
                if let Some(id) = o.get("id") {
                    let id = id.as_str().ok_or_else(|| invalid("access_rules", format!("{id} is not a string")))?;
                    out.push(RuleRef::Id(id.to_string()));
                    continue;
                }
                let field = |k: &str| -> Result<String> {
                    match o.get(k) {
                        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => Ok(s.clone()),
                        Some(v) => Err(invalid("access_rules", format!("{v} is not a valid {k}"))),
                        None => Err(invalid("access_rules", format!("'{k}' is a required property"))),
                    }
                };
                let method = field("method")?;
                if !METHODS.contains(&method.as_str()) {
                    return Err(invalid("access_rules", format!("'{method}' is not one of {METHODS:?}")));
                }
                out.push(RuleRef::New { service: field("service")?, path: field("path")?, method });
            }
            Ok(out)
        }
        Some(v) => Err(invalid("access_rules", format!("{v} is not of type 'array'"))),
    }
}

/// `POST /v3/users/{id}/application_credentials`
pub(crate) async fn create(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.authorize(&owner_target(&id, &uid).await?)?;
    refuse_restricted(&caller)?;
    let project_id = match &caller.token.scope {
        ResolvedScope::Project { project, .. } => project.id.clone(),
        _ => return Err(IdentityError::forbidden("An application credential is created with a project-scoped token.")),
    };
    if caller.token.user.id != uid {
        return Err(IdentityError::forbidden("Application credentials are created only for oneself."));
    }
    let body = parse_body(&headers, &body)?;
    let m = member(&body, "application_credential")?;
    let name = required_name(m, "name", 255)?;
    let description = nullable_text(m, "description", 255)?.flatten();
    let secret = match m.get("secret") {
        None | Some(Value::Null) => new_secret(),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 4096 => s.clone(),
        Some(v) => return Err(invalid("secret", format!("{v} is not a valid secret"))),
    };
    let now = berth_time::now();
    let expires_at = match m.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let t = berth_time::parse_iso8601(s)
                .map_err(|_| invalid("expires_at", format!("'{s}' is not an ISO 8601 time")))?;
            if t <= now {
                return Err(IdentityError::bad_request(
                    "Invalid application credential: the expiration time must be in the future.",
                ));
            }
            Some(t)
        }
        Some(v) => return Err(invalid("expires_at", format!("{v} is not of type 'string', 'null'"))),
    };
    let unrestricted = bool_field(m, "unrestricted")?.unwrap_or(false);
    let requested = parse_roles(m)?;
    let rule_refs = parse_rules(m)?;
    let hash = id.hash_password(&secret).await?;

    let mut w = id.db.write().await?;
    let all_roles = repo::list_roles(&mut w.tx, None).await?;
    // The caller's roles on the project now (implied ones included).
    let (effective, _) =
        repo::effective_roles_with(&mut w.tx, &uid, &repo::Target::Project(project_id.clone())).await?;
    // No roles (or an empty list, as openstackclient sends): the token's.
    let roles: Vec<String> = match requested.filter(|l| !l.is_empty()) {
        None => caller.token.roles.iter().map(|r| r.id.clone()).collect(),
        Some(list) => {
            let mut out = Vec::new();
            for (rid, rname) in list {
                let role = all_roles
                    .iter()
                    .find(|r| {
                        rid.as_ref().is_some_and(|i| i == &r.id) || (rid.is_none() && rname.as_ref() == Some(&r.name))
                    })
                    .ok_or_else(|| not_found("role", rid.as_deref().or(rname.as_deref()).unwrap_or("")))?;
                if !effective.iter().any(|r| r.id == role.id) {
                    return Err(IdentityError::not_found(format!(
                        "Could not find role assignment with role: {}, user or group: {uid}, project, domain, or \
                         system: {project_id}.",
                        role.id
                    )));
                }
                if !out.contains(&role.id) {
                    out.push(role.id.clone());
                }
            }
            out
        }
    };
    let mut rule_ids = Vec::new();
    for r in rule_refs {
        let rule = match r {
            RuleRef::Id(rid) => appcred::get_rule(&mut w.tx, &rid)
                .await?
                .filter(|x| x.user_id == uid)
                .ok_or_else(|| not_found("access rule", &rid))?,
            RuleRef::New { service, path, method } => {
                let rule = AccessRule { id: new_id(), user_id: uid.clone(), service, path, method };
                appcred::ensure_rule(&mut w.tx, &rule, now).await?
            }
        };
        if !rule_ids.contains(&rule.id) {
            rule_ids.push(rule.id);
        }
    }
    let cred = AppCred {
        id: new_id(),
        name,
        user_id: uid.clone(),
        project_id,
        description,
        expires_at,
        unrestricted,
        roles,
        access_rules: rule_ids,
    };
    appcred::insert(&mut w.tx, &cred, &hash, now).await?;
    let rules = appcred::list_rules(&mut w.tx, &uid).await?;
    w.commit().await?;
    let mut body = cred_json(&cred, &all_roles, &rules, &v3_url(&id, &headers));
    body["secret"] = json!(secret);
    Ok(json_response(StatusCode::CREATED, json!({ "application_credential": body })))
}

/// `GET /v3/users/{id}/application_credentials`
pub(crate) async fn list(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.authorize(&owner_target(&id, &uid).await?)?;
    let q = parse_query(raw)?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    repo::get_user(&mut tx, &uid).await?.ok_or_else(|| not_found("user", &uid))?;
    let roles = repo::list_roles(&mut tx, None).await?;
    let rules = appcred::list_rules(&mut tx, &uid).await?;
    let items = appcred::list(&mut tx, &uid)
        .await?
        .iter()
        .filter(|a| query_get(&q, "name").is_none_or(|n| n == a.name))
        .map(|a| cred_json(a, &roles, &rules, &v3))
        .collect();
    Ok(list_response("application_credentials", items, format!("{v3}/users/{uid}/application_credentials")))
}

/// `GET /v3/users/{id}/application_credentials/{cred}`
pub(crate) async fn show(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((uid, aid)): Path<(String, String)>,
) -> ApiResult {
    caller.authorize(&owner_target(&id, &uid).await?)?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let (a, _) = appcred::get(&mut tx, &aid)
        .await?
        .filter(|(a, _)| a.user_id == uid)
        .ok_or_else(|| not_found("application credential", &aid))?;
    let roles = repo::list_roles(&mut tx, None).await?;
    let rules = appcred::list_rules(&mut tx, &uid).await?;
    Ok(json_response(StatusCode::OK, json!({"application_credential": cred_json(&a, &roles, &rules, &v3)})))
}

/// `DELETE /v3/users/{id}/application_credentials/{cred}`
pub(crate) async fn delete(
    State(id): State<AppState>,
    caller: Caller,
    Path((uid, aid)): Path<(String, String)>,
) -> ApiResult {
    caller.authorize(&owner_target(&id, &uid).await?)?;
    refuse_restricted(&caller)?;
    let mut w = id.db.write().await?;
    appcred::get(&mut w.tx, &aid)
        .await?
        .filter(|(a, _)| a.user_id == uid)
        .ok_or_else(|| not_found("application credential", &aid))?;
    appcred::delete(&mut w.tx, &aid).await?;
    w.commit().await?;
    Ok(no_content())
}

/// `GET /v3/users/{id}/access_rules`
pub(crate) async fn list_rules(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> ApiResult {
    caller.authorize(&owner_target(&id, &uid).await?)?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    repo::get_user(&mut tx, &uid).await?.ok_or_else(|| not_found("user", &uid))?;
    let items = appcred::list_rules(&mut tx, &uid).await?.iter().map(|r| rule_json(r, &v3)).collect();
    Ok(list_response("access_rules", items, format!("{v3}/users/{uid}/access_rules")))
}

/// `GET /v3/users/{id}/access_rules/{rule}`
pub(crate) async fn show_rule(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((uid, rid)): Path<(String, String)>,
) -> ApiResult {
    caller.authorize(&owner_target(&id, &uid).await?)?;
    let mut tx = id.db.read().await?;
    let r = appcred::get_rule(&mut tx, &rid)
        .await?
        .filter(|r| r.user_id == uid)
        .ok_or_else(|| not_found("access rule", &rid))?;
    Ok(json_response(StatusCode::OK, json!({"access_rule": rule_json(&r, &v3_url(&id, &headers))})))
}

/// `DELETE /v3/users/{id}/access_rules/{rule}`: refused while a credential
/// uses it.
pub(crate) async fn delete_rule(
    State(id): State<AppState>,
    caller: Caller,
    Path((uid, rid)): Path<(String, String)>,
) -> ApiResult {
    caller.authorize(&owner_target(&id, &uid).await?)?;
    let mut w = id.db.write().await?;
    appcred::get_rule(&mut w.tx, &rid)
        .await?
        .filter(|r| r.user_id == uid)
        .ok_or_else(|| not_found("access rule", &rid))?;
    if appcred::list(&mut w.tx, &uid).await?.iter().any(|a| a.access_rules.contains(&rid)) {
        return Err(IdentityError::forbidden(format!(
            "Cannot delete access rule {rid}, it is in use by an application credential."
        )));
    }
    appcred::delete_rule(&mut w.tx, &rid).await?;
    w.commit().await?;
    Ok(no_content())
}
