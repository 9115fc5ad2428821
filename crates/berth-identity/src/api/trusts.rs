//! OS-TRUST (`/v3/OS-TRUST/trusts`): a trustor delegates some of its roles
//! on a project to a trustee, who then scopes tokens with
//! `{"scope": {"OS-TRUST:trust": {"id": ...}}}` (see `service.rs`). A trust
//! may impersonate the trustor, expire and be limited to a number of uses;
//! redelegation is not offered.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::policy::PolicyTarget;
use super::resources::role_json;
use super::{bool_field, json_response, member, no_content, parse_body, parse_query, query_get, v3_url, ApiResult};
use super::{AppState, Caller};
use crate::error::{IdentityError, Result};
use crate::repo::{self, Role, Target};
use crate::token::ResolvedScope;
use crate::trust::{self, Trust};
use crate::util::new_id;

fn invalid(field: &str, detail: impl std::fmt::Display) -> IdentityError {
    IdentityError::bad_request(format!("Invalid input for field '{field}': {detail}"))
}

fn trust_not_found(id: &str) -> IdentityError {
    IdentityError::not_found(format!("Could not find trust: {id}."))
}

fn trust_target(t: &Trust) -> PolicyTarget {
    PolicyTarget::new()
        .set("target.trust.id", t.id.as_str())
        .set("target.trust.trustor_user_id", t.trustor_user_id.as_str())
        .set("target.trust.trustee_user_id", t.trustee_user_id.as_str())
}

fn trust_json(t: &Trust, roles: &[Role], v3: &str) -> Value {
    let self_url = format!("{v3}/OS-TRUST/trusts/{}", t.id);
    let roles: Vec<Value> =
        t.roles.iter().filter_map(|rid| roles.iter().find(|r| &r.id == rid)).map(|r| role_json(r, v3)).collect();
    json!({
        "id": t.id,
        "trustor_user_id": t.trustor_user_id,
        "trustee_user_id": t.trustee_user_id,
        "project_id": t.project_id,
        "impersonation": t.impersonation,
        "expires_at": t.expires_at.map(berth_time::iso_micros_z),
        "remaining_uses": t.remaining_uses,
        "allow_redelegation": false,
        "redelegation_count": 0,
        "redelegated_trust_id": null,
        "roles": roles,
        "roles_links": {"self": format!("{self_url}/roles"), "previous": null, "next": null},
        "links": {"self": self_url},
    })
}

/// A live trust (an expired one is gone, as in Keystone).
async fn live_trust(c: &mut repo::Conn, tid: &str) -> Result<Trust> {
    trust::get(c, tid).await?.filter(|t| !t.expired(berth_time::now())).ok_or_else(|| trust_not_found(tid))
}

fn required_id(m: &serde_json::Map<String, Value>, key: &str) -> Result<String> {
    match m.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 64 => Ok(s.clone()),
        Some(v) => Err(invalid(key, format!("{v} is not a valid id"))),
        None => Err(invalid("trust", format!("'{key}' is a required property"))),
    }
}

/// `POST /v3/OS-TRUST/trusts`
pub(crate) async fn create(State(id): State<AppState>, caller: Caller, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = parse_body(&headers, &body)?;
    // The rule names the body's trustor; decide it before judging the rest.
    let named_trustor = body.pointer("/trust/trustor_user_id").and_then(Value::as_str).unwrap_or_default();
    caller.authorize(&PolicyTarget::new().set("trust.trustor_user_id", named_trustor))?;
    let m = member(&body, "trust")?;
    let trustor = required_id(m, "trustor_user_id")?;
    let trustee = required_id(m, "trustee_user_id")?;
    let ctx = &caller.token;
    if ctx.trust.is_some() {
        return Err(IdentityError::forbidden("Redelegation of trusts is not supported."));
    }
    if ctx.app_cred.as_ref().is_some_and(|a| !a.unrestricted) {
        return Err(IdentityError::forbidden(
            "Using method 'application_credential' is not allowed for managing trusts.",
        ));
    }
    if !matches!(ctx.scope, ResolvedScope::Project { .. }) {
        return Err(IdentityError::forbidden("A trust is created with a project-scoped token."));
    }
    let impersonation = match m.get("impersonation") {
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(invalid("impersonation", format!("{v} is not of type 'boolean'"))),
        None => return Err(invalid("trust", "'impersonation' is a required property")),
    };
    if bool_field(m, "allow_redelegation")?.unwrap_or(false) {
        return Err(IdentityError::forbidden("Redelegation of trusts is not supported."));
    }
    let project_id = match m.get("project_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 64 => Some(s.clone()),
        Some(v) => return Err(invalid("project_id", format!("{v} is not a valid id"))),
    };
    let now = berth_time::now();
    let expires_at = match m.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let t = berth_time::parse_iso8601(s)
                .map_err(|_| invalid("expires_at", format!("'{s}' is not an ISO 8601 time")))?;
            if t <= now {
                return Err(IdentityError::bad_request("The trust's expiration time must be in the future."));
            }
            Some(t)
        }
        Some(v) => return Err(invalid("expires_at", format!("{v} is not of type 'string', 'null'"))),
    };
    let remaining_uses = match m.get("remaining_uses") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if n >= 1 && v.is_i64() => Some(n),
            _ => return Err(invalid("remaining_uses", format!("{v} is not an integer of at least 1"))),
        },
    };
    let requested = match m.get("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(v) => return Err(invalid("roles", format!("{v} is not of type 'array'"))),
    };

    let mut w = id.db.write().await?;
    repo::get_user(&mut w.tx, &trustee)
        .await?
        .ok_or_else(|| IdentityError::not_found(format!("Could not find user: {trustee}.")))?;
    let all_roles = repo::list_roles(&mut w.tx, None).await?;
    let mut roles: Vec<String> = Vec::new();
    for r in &requested {
        let o = r.as_object().ok_or_else(|| invalid("roles", format!("{r} is not of type 'object'")))?;
        let by_id = o.get("id").and_then(Value::as_str);
        let by_name = o.get("name").and_then(Value::as_str);
        let role = match (by_id, by_name) {
            (Some(i), _) => all_roles.iter().find(|x| x.id == i),
            (None, Some(n)) => all_roles.iter().find(|x| x.name == n),
            _ => return Err(invalid("roles", format!("{r}: a role needs an 'id' or a 'name'"))),
        }
        .ok_or_else(|| {
            IdentityError::not_found(format!("Could not find role: {}.", by_id.or(by_name).unwrap_or("")))
        })?;
        if !roles.contains(&role.id) {
            roles.push(role.id.clone());
        }
    }
    if let Some(pid) = &project_id {
        repo::get_project(&mut w.tx, pid)
            .await?
            .ok_or_else(|| IdentityError::not_found(format!("Could not find project: {pid}.")))?;
        if roles.is_empty() {
            return Err(IdentityError::forbidden("At least one role should be specified."));
        }
        // The trustor delegates only roles it holds there.
        let held = repo::effective_roles(&mut w.tx, &trustor, &Target::Project(pid.clone())).await?;
        if let Some(missing) = roles.iter().find(|r| !held.iter().any(|h| &&h.id == r)) {
            return Err(IdentityError::forbidden(format!(
                "The trustor does not hold role {missing} on project {pid}."
            )));
        }
    } else if !roles.is_empty() {
        return Err(IdentityError::bad_request("A trust without a project delegates no roles."));
    }
    let t = Trust {
        id: new_id(),
        trustor_user_id: trustor,
        trustee_user_id: trustee,
        project_id,
        impersonation,
        expires_at,
        remaining_uses,
        roles,
    };
    trust::insert(&mut w.tx, &t, now).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, json!({"trust": trust_json(&t, &all_roles, &v3_url(&id, &headers))})))
}

/// `GET /v3/OS-TRUST/trusts[?trustor_user_id=|trustee_user_id=]`: the rule
/// follows the filter, as in Keystone (`list_trusts_for_trustor`,
/// `list_trusts_for_trustee`, else `list_trusts`).
pub(crate) async fn list(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw)?;
    let trustor = query_get(&q, "trustor_user_id");
    let trustee = query_get(&q, "trustee_user_id");
    match (trustor, trustee) {
        (Some(t), _) => {
            caller.authorize_as(
                "identity:list_trusts_for_trustor",
                &PolicyTarget::new().set("target.trust.trustor_user_id", t),
            )?;
            if let Some(e) = trustee {
                caller.authorize_as(
                    "identity:list_trusts_for_trustee",
                    &PolicyTarget::new().set("target.trust.trustee_user_id", e),
                )?;
            }
        }
        (None, Some(e)) => caller.authorize_as(
            "identity:list_trusts_for_trustee",
            &PolicyTarget::new().set("target.trust.trustee_user_id", e),
        )?,
        (None, None) => caller.authorize_as("identity:list_trusts", &PolicyTarget::new())?,
    }
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let roles = repo::list_roles(&mut tx, None).await?;
    let now = berth_time::now();
    let items: Vec<Value> = trust::list(&mut tx, trustor, trustee)
        .await?
        .iter()
        .filter(|t| !t.expired(now))
        .map(|t| trust_json(t, &roles, &v3))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"trusts": items, "links": {"self": format!("{v3}/OS-TRUST/trusts"), "previous": null, "next": null}}),
    ))
}

/// `GET /v3/OS-TRUST/trusts/{id}`
pub(crate) async fn show(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tid): Path<String>,
) -> ApiResult {
    let mut tx = id.db.read().await?;
    let t = live_trust(&mut tx, &tid).await?;
    caller.authorize(&trust_target(&t))?;
    let roles = repo::list_roles(&mut tx, None).await?;
    Ok(json_response(StatusCode::OK, json!({"trust": trust_json(&t, &roles, &v3_url(&id, &headers))})))
}

/// `DELETE /v3/OS-TRUST/trusts/{id}`: the trust's tokens end with it.
pub(crate) async fn delete(State(id): State<AppState>, caller: Caller, Path(tid): Path<String>) -> ApiResult {
    let mut w = id.db.write().await?;
    let t = trust::get(&mut w.tx, &tid).await?.ok_or_else(|| trust_not_found(&tid))?;
    caller.authorize(&trust_target(&t))?;
    trust::delete(&mut w.tx, &tid).await?;
    w.commit().await?;
    Ok(no_content())
}

/// `GET /v3/OS-TRUST/trusts/{id}/roles`
pub(crate) async fn roles(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tid): Path<String>,
) -> ApiResult {
    let mut tx = id.db.read().await?;
    let t = live_trust(&mut tx, &tid).await?;
    caller.authorize(&trust_target(&t))?;
    let v3 = v3_url(&id, &headers);
    let all = repo::list_roles(&mut tx, None).await?;
    let items: Vec<Value> =
        t.roles.iter().filter_map(|rid| all.iter().find(|r| &r.id == rid)).map(|r| role_json(r, &v3)).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"roles": items, "links": {"self": format!("{v3}/OS-TRUST/trusts/{tid}/roles"), "previous": null, "next": null}}),
    ))
}

/// `GET`/`HEAD /v3/OS-TRUST/trusts/{id}/roles/{role}`
pub(crate) async fn role(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tid, rid)): Path<(String, String)>,
) -> ApiResult {
    let mut tx = id.db.read().await?;
    let t = live_trust(&mut tx, &tid).await?;
    caller.authorize(&trust_target(&t))?;
    let role = repo::get_role(&mut tx, &rid)
        .await?
        .filter(|r| t.roles.contains(&r.id))
        .ok_or_else(|| IdentityError::not_found(format!("Could not find role: {rid}.")))?;
    Ok(json_response(StatusCode::OK, json!({"role": role_json(&role, &v3_url(&id, &headers))})))
}
