//! `/os-keypairs`: a user's key pairs (list with paging from 2.35, create
//! or import, show, delete), shaped per microversion as Nova shapes them.

use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::*;
use crate::model::KeyPair;

/// Nova's `max_limit` for paged lists.
const MAX_LIMIT: i64 = 1000;

/// Query parameters a route knows at the request's microversion; from 2.75
/// any other one is refused (before, ignored).
fn check_query(ctx: &Ctx, known: &[&str]) -> Result<()> {
    if !ctx.v(2, 75) {
        return Ok(());
    }
    for (k, _) in &ctx.query {
        if !known.contains(&k.as_str()) {
            return Err(ComputeError::bad_request(format!(
                "Invalid input for query parameters {}. Value: Additional properties are not allowed ('{}' was unexpected)",
                truncate(k, 64),
                truncate(k, 64)
            )));
        }
    }
    Ok(())
}

/// The user whose key pairs a request addresses: `user_id` from the query
/// (2.10 and later), else the caller.
fn target_user(ctx: &Ctx) -> Result<String> {
    match ctx.q("user_id").filter(|_| ctx.v(2, 10)) {
        Some(u) => {
            check_user(u)?;
            Ok(u.to_string())
        }
        None => Ok(ctx.user().to_string()),
    }
}

fn check_user(u: &str) -> Result<()> {
    if u.is_empty() || u.chars().count() > 255 || u.chars().any(char::is_control) {
        return Err(invalid("user_id", format!("'{}' is not a valid user id", truncate(u, 64))));
    }
    Ok(())
}

/// The fields every view has, and `type` from 2.2.
fn base_view(ctx: &Ctx, kp: &KeyPair) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(kp.name));
    m.insert("public_key".into(), json!(kp.public_key));
    m.insert("fingerprint".into(), json!(kp.fingerprint));
    if ctx.v(2, 2) {
        m.insert("type".into(), json!(kp.key_type));
    }
    m
}

pub async fn list(ctx: Ctx) -> ApiResult {
    let mut known = vec![];
    if ctx.v(2, 10) {
        known.push("user_id");
    }
    if ctx.v(2, 35) {
        known.extend(["limit", "marker"]);
    }
    check_query(&ctx, &known)?;
    let user = target_user(&ctx)?;
    ctx.authorize_route_for_user(&user)?;
    let (limit, marker) = if ctx.v(2, 35) {
        let limit = match ctx.q("limit") {
            Some(l) => {
                let n =
                    l.parse::<i64>().ok().filter(|n| *n >= 0 && l.bytes().all(|b| b.is_ascii_digit())).ok_or_else(
                        || invalid("limit", format!("'{}' is not a non-negative integer", truncate(l, 64))),
                    )?;
                n.min(MAX_LIMIT)
            }
            None => MAX_LIMIT,
        };
        (Some(limit), ctx.q("marker"))
    } else {
        (None, None)
    };
    let kps = ctx.svc.key_pairs(&user, marker, limit).await?;
    let items: Vec<Value> = kps.iter().map(|kp| json!({"keypair": base_view(&ctx, kp)})).collect();
    let mut body = json!({"keypairs": items});
    if let (Some(limit), Some(last)) = (limit, kps.last()) {
        if limit > 0 && kps.len() as i64 == limit {
            let mut params: Vec<(&str, &str)> =
                ctx.query.iter().filter(|(k, _)| k != "marker").map(|(k, v)| (k.as_str(), v.as_str())).collect();
            params.push(("marker", last.name.as_str()));
            let qs = serde_urlencoded::to_string(&params)
                .map_err(|e| ComputeError::internal(format!("cannot encode a link: {e}")))?;
            body["keypairs_links"] = json!([{"rel": "next", "href": ctx.url(&format!("os-keypairs?{qs}"))}]);
        }
    }
    ok(body)
}

/// A key pair name as the request's microversion allows it.
fn key_name(ctx: &Ctx, v: &Value) -> Result<String> {
    let name = name_value("name", v)?;
    let special: &[char] = if ctx.v(2, 92) { &[' ', '_', '-', '@', '.'] } else { &[' ', '_', '-'] };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || special.contains(&c)) {
        return Err(invalid(
            "name",
            format!(
                "'{}' does not match '^[a-zA-Z0-9 {}]+$'",
                truncate(&name, 64),
                if ctx.v(2, 92) { "@._-" } else { "_-" }
            ),
        ));
    }
    Ok(name)
}

fn string_field(field: &str, v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| invalid(field, format!("{v} is not of type 'string'")))
}

pub async fn create(ctx: Ctx, JsonBody(body): JsonBody) -> ApiResult {
    let body = parse_body(&body)?;
    if let Some(obj) = body.as_object() {
        only_keys(obj, &["keypair"])?;
    }
    let kp = member(&body, "keypair")?;
    let mut allowed = vec!["name", "public_key"];
    if ctx.v(2, 2) {
        allowed.push("type");
    }
    if ctx.v(2, 10) {
        allowed.push("user_id");
    }
    only_keys(kp, &allowed)?;
    let name = match kp.get("name") {
        Some(v) => key_name(&ctx, v)?,
        None => return Err(invalid("name", "'name' is a required property")),
    };
    let public_key = kp.get("public_key").map(|v| string_field("public_key", v)).transpose()?;
    if public_key.is_none() && ctx.v(2, 92) {
        return Err(invalid("public_key", "'public_key' is a required property"));
    }
    let key_type = match kp.get("type") {
        None => "ssh".to_string(),
        Some(v) => match v.as_str() {
            Some(t @ ("ssh" | "x509")) => t.to_string(),
            _ => {
                return Err(invalid("type", format!("{} is not one of ['ssh', 'x509']", truncate(&v.to_string(), 64))))
            }
        },
    };
    let user = match kp.get("user_id") {
        Some(v) => {
            let u = string_field("user_id", v)?;
            check_user(&u)?;
            u
        }
        None => ctx.user().to_string(),
    };
    ctx.authorize_route_for_user(&user)?;
    let (stored, private_key) =
        match public_key {
            Some(pk) => (ctx.svc.import_key_pair(ctx.project(), &user, &name, &key_type, &pk).await?, None),
            None if key_type == "x509" => return Err(ComputeError::bad_request(
                "Keypair data is invalid: berth does not generate x509 key pairs; import a certificate with public_key",
            )),
            None => {
                let (kp, private) = ctx.svc.generate_key_pair(ctx.project(), &user, &name).await?;
                (kp, Some(private))
            }
        };
    let mut view = base_view(&ctx, &stored);
    view.insert("user_id".into(), json!(stored.user_id));
    if let Some(p) = private_key {
        view.insert("private_key".into(), json!(p));
    }
    let status = if ctx.v(2, 2) { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json(status, json!({"keypair": view})))
}

fn check_name_param(name: &str) -> Result<()> {
    // Any name that cannot be stored is one that is not there.
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(ComputeError::not_found(format!("Keypair {} not found", truncate(name, 64))));
    }
    Ok(())
}

pub async fn show(ctx: Ctx, Path(name): Path<String>) -> ApiResult {
    check_query(&ctx, if ctx.v(2, 10) { &["user_id"] } else { &[] })?;
    let user = target_user(&ctx)?;
    ctx.authorize_route_for_user(&user)?;
    check_name_param(&name)?;
    let kp = ctx.svc.key_pair(&user, &name).await?;
    let mut view = base_view(&ctx, &kp);
    view.insert("user_id".into(), json!(kp.user_id));
    view.insert("id".into(), json!(kp.id));
    view.insert("created_at".into(), json!(berth_time::iso_micros(kp.created_at)));
    view.insert("updated_at".into(), Value::Null);
    view.insert("deleted".into(), json!(false));
    view.insert("deleted_at".into(), Value::Null);
    ok(json!({"keypair": view}))
}

pub async fn delete(ctx: Ctx, Path(name): Path<String>) -> ApiResult {
    check_query(&ctx, if ctx.v(2, 10) { &["user_id"] } else { &[] })?;
    let user = target_user(&ctx)?;
    ctx.authorize_route_for_user(&user)?;
    check_name_param(&name)?;
    ctx.svc.delete_key_pair(&user, &name).await?;
    status_only(if ctx.v(2, 2) { StatusCode::NO_CONTENT } else { StatusCode::ACCEPTED })
}
