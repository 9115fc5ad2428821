//! Role grants on projects, domains and the system; role assignment
//! listing; implied roles.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::policy::PolicyTarget;
use super::{
    json_response, list_response, no_content, parse_query, query_flag, query_get, v3_url, ApiResult, AppState, Caller,
};
use crate::error::{IdentityError, Result};
use crate::repo::{self, Assignment, AssignmentFilter, Conn, Role, Target};
use crate::service::Identity;
use crate::token::ResolvedScope;

fn not_found(kind: &str, id: &str) -> IdentityError {
    IdentityError::not_found(format!("Could not find {kind}: {id}."))
}

async fn need_role(c: &mut Conn, rid: &str) -> Result<Role> {
    repo::get_role(c, rid).await?.ok_or_else(|| not_found("role", rid))
}

async fn need_target(c: &mut Conn, t: &Target) -> Result<()> {
    match t {
        Target::Project(p) => {
            repo::get_project(c, p).await?.ok_or_else(|| not_found("project", p))?;
        }
        Target::Domain(d) => {
            repo::get_domain(c, d).await?.ok_or_else(|| not_found("domain", d))?;
        }
        Target::System => {}
    }
    Ok(())
}

async fn need_user(c: &mut Conn, uid: &str) -> Result<()> {
    repo::get_user(c, uid).await?.ok_or_else(|| not_found("user", uid))?;
    Ok(())
}

fn target_url(v3: &str, t: &Target) -> String {
    match t {
        Target::Project(p) => format!("{v3}/projects/{p}"),
        Target::Domain(d) => format!("{v3}/domains/{d}"),
        Target::System => format!("{v3}/system"),
    }
}

/// The target of a grant operation: the user, the project or domain and
/// the role, with their domains, for whichever of them exist.
async fn grant_target(id: &Identity, target: &Target, uid: &str, rid: Option<&str>) -> Result<PolicyTarget> {
    let mut tx = id.db.read().await?;
    let mut t = match repo::get_user(&mut tx, uid).await? {
        Some(u) => PolicyTarget::new().user(&u),
        None => PolicyTarget::new().set("target.user.id", uid),
    };
    t = match target {
        Target::Project(p) => match repo::get_project(&mut tx, p).await? {
            Some(p) => t.project(&p),
            None => t.set("target.project.id", p.as_str()),
        },
        Target::Domain(d) => t.set("target.domain.id", d.as_str()),
        Target::System => t,
    };
    if let Some(rid) = rid {
        t = match repo::get_role(&mut tx, rid).await? {
            Some(r) => t.role(&r),
            None => t.set("target.role.id", rid),
        };
    }
    Ok(t)
}

#[derive(Clone, Copy)]
enum Op {
    Put,
    Check,
    Delete,
}

/// A grant operation; the route's rule (`identity:create_grant`,
/// `identity:check_system_grant_for_user`, ...) is checked on the user,
/// target and role.
async fn grant_op(id: &Identity, caller: &Caller, target: Target, uid: String, rid: String, op: Op) -> ApiResult {
    caller.authorize(&grant_target(id, &target, &uid, Some(&rid)).await?)?;
    let a = Assignment { target, user_id: uid, role_id: rid };
    if let Op::Check = op {
        let mut tx = id.db.read().await?;
        need_target(&mut tx, &a.target).await?;
        need_user(&mut tx, &a.user_id).await?;
        need_role(&mut tx, &a.role_id).await?;
        let found = repo::list_assignments(
            &mut tx,
            &AssignmentFilter {
                user_id: Some(a.user_id.clone()),
                role_id: Some(a.role_id.clone()),
                target: Some(a.target.clone()),
                ..Default::default()
            },
        )
        .await?;
        if found.is_empty() {
            return Err(IdentityError::not_found("Could not find role assignment."));
        }
        return Ok(no_content());
    }
    let mut w = id.db.write().await?;
    need_target(&mut w.tx, &a.target).await?;
    need_user(&mut w.tx, &a.user_id).await?;
    need_role(&mut w.tx, &a.role_id).await?;
    match op {
        Op::Put => {
            repo::grant(&mut w.tx, &a, berth_time::now()).await?;
        }
        Op::Delete => {
            if !repo::revoke(&mut w.tx, &a).await? {
                return Err(IdentityError::not_found("Could not find role assignment."));
            }
        }
        Op::Check => unreachable!("handled above"),
    }
    w.commit().await?;
    Ok(no_content())
}

async fn list_grants(id: &Identity, caller: &Caller, headers: &HeaderMap, target: Target, uid: String) -> ApiResult {
    caller.authorize(&grant_target(id, &target, &uid, None).await?)?;
    let v3 = v3_url(id, headers);
    let mut tx = id.db.read().await?;
    need_target(&mut tx, &target).await?;
    need_user(&mut tx, &uid).await?;
    let ids: BTreeSet<String> = repo::list_assignments(
        &mut tx,
        &AssignmentFilter { user_id: Some(uid.clone()), target: Some(target.clone()), ..Default::default() },
    )
    .await?
    .into_iter()
    .map(|a| a.role_id)
    .collect();
    let items = repo::list_roles(&mut tx, None)
        .await?
        .iter()
        .filter(|r| ids.contains(&r.id))
        .map(|r| super::resources::role_json(r, &v3))
        .collect();
    Ok(list_response("roles", items, format!("{}/users/{uid}/roles", target_url(&v3, &target))))
}

pub(crate) async fn put_project_grant(
    State(id): State<AppState>,
    caller: Caller,
    Path((p, u, r)): Path<(String, String, String)>,
) -> ApiResult {
    grant_op(&id, &caller, Target::Project(p), u, r, Op::Put).await
}
pub(crate) async fn check_project_grant(
    State(id): State<AppState>,
    caller: Caller,
    Path((p, u, r)): Path<(String, String, String)>,
) -> ApiResult {
    grant_op(&id, &caller, Target::Project(p), u, r, Op::Check).await
}
pub(crate) async fn delete_project_grant(
    State(id): State<AppState>,
    caller: Caller,
    Path((p, u, r)): Path<(String, String, String)>,
) -> ApiResult {
    grant_op(&id, &caller, Target::Project(p), u, r, Op::Delete).await
}
pub(crate) async fn list_project_grants(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((p, u)): Path<(String, String)>,
) -> ApiResult {
    list_grants(&id, &caller, &headers, Target::Project(p), u).await
}
pub(crate) async fn put_domain_grant(
    State(id): State<AppState>,
    caller: Caller,
    Path((d, u, r)): Path<(String, String, String)>,
) -> ApiResult {
    grant_op(&id, &caller, Target::Domain(d), u, r, Op::Put).await
}
pub(crate) async fn check_domain_grant(
    State(id): State<AppState>,
    caller: Caller,
    Path((d, u, r)): Path<(String, String, String)>,
) -> ApiResult {
    grant_op(&id, &caller, Target::Domain(d), u, r, Op::Check).await
}
pub(crate) async fn delete_domain_grant(
    State(id): State<AppState>,
    caller: Caller,
    Path((d, u, r)): Path<(String, String, String)>,
) -> ApiResult {
    grant_op(&id, &caller, Target::Domain(d), u, r, Op::Delete).await
}
pub(crate) async fn list_domain_grants(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((d, u)): Path<(String, String)>,
) -> ApiResult {
    list_grants(&id, &caller, &headers, Target::Domain(d), u).await
}
pub(crate) async fn put_system_grant(
    State(id): State<AppState>,
    caller: Caller,
    Path((u, r)): Path<(String, String)>,
) -> ApiResult {
    grant_op(&id, &caller, Target::System, u, r, Op::Put).await
}
pub(crate) async fn check_system_grant(
    State(id): State<AppState>,
    caller: Caller,
    Path((u, r)): Path<(String, String)>,
) -> ApiResult {
    grant_op(&id, &caller, Target::System, u, r, Op::Check).await
}
pub(crate) async fn delete_system_grant(
    State(id): State<AppState>,
    caller: Caller,
    Path((u, r)): Path<(String, String)>,
) -> ApiResult {
    grant_op(&id, &caller, Target::System, u, r, Op::Delete).await
}
pub(crate) async fn list_system_grants(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(u): Path<String>,
) -> ApiResult {
    list_grants(&id, &caller, &headers, Target::System, u).await
}

// ---------------------------------------------------------------- role assignments

/// `GET /v3/role_assignments`
pub(crate) async fn role_assignments(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let ctx = &caller.token;
    let q = parse_query(raw)?;
    let user_filter = query_get(&q, "user.id").map(str::to_string);
    // berth lets anyone list their own assignments (openstackclient's
    // `role assignment list --user <self>`); everything else is policy. As
    // in Keystone, a domain-scoped caller is checked against its own domain
    // and sees only the assignments on that domain and its projects.
    let mut only_domain = None;
    if user_filter.as_deref() == Some(ctx.user.id.as_str()) {
        caller.own_assignments();
    } else {
        let mut target = PolicyTarget::new();
        if let ResolvedScope::Domain(d) = &ctx.scope {
            target = target.set("target.domain_id", d.id.as_str());
            only_domain = Some(d.id.clone());
        }
        caller.authorize(&target)?;
    }
    let v3 = v3_url(&id, &headers);
    let self_url = format!("{v3}/role_assignments");
    let project = query_get(&q, "scope.project.id");
    let domain = query_get(&q, "scope.domain.id");
    let system = query_get(&q, "scope.system");
    if [project.is_some(), domain.is_some(), system.is_some()].iter().filter(|b| **b).count() > 1 {
        return Err(IdentityError::bad_request("Specify one of domain, project or system scope, not several."));
    }
    // Groups and inherited assignments are not implemented: nothing matches.
    if query_get(&q, "group.id").is_some() || query_get(&q, "scope.OS-INHERIT:inherited_to").is_some() {
        return Ok(list_response("role_assignments", Vec::new(), self_url));
    }
    let effective = query_flag(&q, "effective");
    let include_names = query_flag(&q, "include_names");
    let role_filter = query_get(&q, "role.id").map(str::to_string);
    let mut filter = AssignmentFilter { user_id: user_filter, ..Default::default() };
    if let Some(p) = project {
        filter.target = Some(Target::Project(p.to_string()));
    } else if let Some(d) = domain {
        filter.target = Some(Target::Domain(d.to_string()));
    } else if system.is_some() {
        filter.target = Some(Target::System);
    }
    if !effective {
        filter.role_id = role_filter.clone();
    }
    let mut tx = id.db.read().await?;
    let direct = repo::list_assignments(&mut tx, &filter).await?;

    // (assignment, prior role when reached through an implication)
    let mut rows: Vec<(Assignment, Option<String>)> = Vec::new();
    if effective {
        let implications = repo::list_implications(&mut tx).await?;
        let mut grouped: BTreeMap<(Target, String), Vec<String>> = BTreeMap::new();
        for a in &direct {
            grouped.entry((a.target.clone(), a.user_id.clone())).or_default().push(a.role_id.clone());
        }
        for ((target, user_id), roles) in grouped {
            for (role_id, from) in repo::expand_implied(&roles, &implications) {
                let prior = if roles.contains(&role_id) { None } else { Some(from) };
                rows.push((Assignment { target: target.clone(), user_id: user_id.clone(), role_id }, prior));
            }
        }
        if let Some(r) = &role_filter {
            rows.retain(|(a, _)| &a.role_id == r);
        }
    } else {
        rows = direct.into_iter().map(|a| (a, None)).collect();
    }
    if let Some(d) = &only_domain {
        let in_domain: BTreeSet<String> =
            repo::list_projects(&mut tx, &repo::ProjectFilter { domain_id: Some(d.clone()), ..Default::default() })
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect();
        rows.retain(|(a, _)| match &a.target {
            Target::Domain(x) => x == d,
            Target::Project(p) => in_domain.contains(p),
            Target::System => false,
        });
    }

    let names = if include_names { Some(Names::load(&mut tx).await?) } else { None };
    let items = rows.iter().map(|(a, prior)| assignment_json(a, prior.as_deref(), &v3, names.as_ref())).collect();
    Ok(list_response("role_assignments", items, self_url))
}

/// Lookup tables for `include_names`.
struct Names {
    roles: BTreeMap<String, String>,
    users: BTreeMap<String, (String, String)>,
    projects: BTreeMap<String, (String, String)>,
    domains: BTreeMap<String, String>,
}

impl Names {
    async fn load(c: &mut Conn) -> Result<Names> {
        Ok(Names {
            roles: repo::list_roles(&mut *c, None).await?.into_iter().map(|r| (r.id, r.name)).collect(),
            users: repo::list_users(&mut *c, &Default::default())
                .await?
                .into_iter()
                .map(|u| (u.id, (u.name, u.domain_id)))
                .collect(),
            projects: repo::list_projects(&mut *c, &Default::default())
                .await?
                .into_iter()
                .map(|p| (p.id, (p.name, p.domain_id)))
                .collect(),
            domains: repo::list_domains(&mut *c, &Default::default())
                .await?
                .into_iter()
                .map(|d| (d.id, d.name))
                .collect(),
        })
    }
    fn domain(&self, id: &str) -> Value {
        json!({"id": id, "name": self.domains.get(id).cloned().unwrap_or_default()})
    }
}

fn assignment_json(a: &Assignment, prior: Option<&str>, v3: &str, names: Option<&Names>) -> Value {
    let mut role = Map::new();
    role.insert("id".into(), json!(a.role_id));
    let mut user = Map::new();
    user.insert("id".into(), json!(a.user_id));
    let mut scope_obj = Map::new();
    let (scope_key, link_base) = match &a.target {
        Target::Project(p) => {
            scope_obj.insert("id".into(), json!(p));
            ("project", format!("{v3}/projects/{p}"))
        }
        Target::Domain(d) => {
            scope_obj.insert("id".into(), json!(d));
            ("domain", format!("{v3}/domains/{d}"))
        }
        Target::System => ("system", format!("{v3}/system")),
    };
    if let Some(n) = names {
        role.insert("name".into(), json!(n.roles.get(&a.role_id).cloned().unwrap_or_default()));
        if let Some((name, dom)) = n.users.get(&a.user_id) {
            user.insert("name".into(), json!(name));
            user.insert("domain".into(), n.domain(dom));
        }
        match &a.target {
            Target::Project(p) => {
                if let Some((name, dom)) = n.projects.get(p) {
                    scope_obj.insert("name".into(), json!(name));
                    scope_obj.insert("domain".into(), n.domain(dom));
                }
            }
            Target::Domain(d) => {
                scope_obj.insert("name".into(), json!(n.domains.get(d).cloned().unwrap_or_default()));
            }
            Target::System => {}
        }
    }
    let scope = match a.target {
        Target::System => json!({"system": {"all": true}}),
        _ => json!({ scope_key: Value::Object(scope_obj) }),
    };
    let granted = prior.unwrap_or(&a.role_id);
    let mut links = Map::new();
    links.insert("assignment".into(), json!(format!("{link_base}/users/{}/roles/{granted}", a.user_id)));
    if let Some(p) = prior {
        links.insert("prior_role".into(), json!(format!("{v3}/roles/{p}")));
    }
    json!({"role": Value::Object(role), "user": Value::Object(user), "scope": scope, "links": Value::Object(links)})
}

// ---------------------------------------------------------------- implied roles

fn role_ref(r: &Role, v3: &str) -> Value {
    json!({"id": r.id, "name": r.name, "links": {"self": format!("{v3}/roles/{}", r.id)}})
}

fn inference_json(prior: &Role, implied: &Role, v3: &str) -> Value {
    json!({
        "role_inference": {"prior_role": role_ref(prior, v3), "implies": role_ref(implied, v3)},
        "links": {"self": format!("{v3}/roles/{}/implies/{}", prior.id, implied.id)},
    })
}

pub(crate) async fn create_implied(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    let mut w = id.db.write().await?;
    let p = need_role(&mut w.tx, &prior).await?;
    let i = need_role(&mut w.tx, &implied).await?;
    if p.id == i.id {
        return Err(IdentityError::bad_request("A role cannot imply itself."));
    }
    if i.name == "admin" {
        return Err(IdentityError::forbidden("The admin role may not be implied."));
    }
    repo::insert_implication(&mut w.tx, &p.id, &i.id).await?;
    w.commit().await?;
    Ok(json_response(StatusCode::CREATED, inference_json(&p, &i, &v3)))
}

pub(crate) async fn check_implied(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let p = need_role(&mut tx, &prior).await?;
    let i = need_role(&mut tx, &implied).await?;
    let exists = repo::list_implications(&mut tx).await?.iter().any(|(a, b)| *a == p.id && *b == i.id);
    if !exists {
        return Err(IdentityError::not_found(format!("{prior} does not imply {implied}.")));
    }
    Ok(json_response(StatusCode::OK, inference_json(&p, &i, &v3)))
}

pub(crate) async fn delete_implied(
    State(id): State<AppState>,
    caller: Caller,

    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let mut w = id.db.write().await?;
    if !repo::delete_implication(&mut w.tx, &prior, &implied).await? {
        return Err(IdentityError::not_found(format!("{prior} does not imply {implied}.")));
    }
    w.commit().await?;
    Ok(no_content())
}

async fn inferences(c: &mut Conn, v3: &str, only: Option<&str>) -> Result<Vec<Value>> {
    let roles: BTreeMap<String, Role> =
        repo::list_roles(&mut *c, None).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
    let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (p, i) in repo::list_implications(&mut *c).await? {
        if only.is_some_and(|o| o != p) {
            continue;
        }
        if let Some(ir) = roles.get(&i) {
            grouped.entry(p).or_default().push(role_ref(ir, v3));
        }
    }
    Ok(grouped
        .into_iter()
        .filter_map(|(p, implies)| roles.get(&p).map(|pr| json!({"prior_role": role_ref(pr, v3), "implies": implies})))
        .collect())
}

pub(crate) async fn list_implied(
    State(id): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(prior): Path<String>,
) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let p = need_role(&mut tx, &prior).await?;
    let mut list = inferences(&mut tx, &v3, Some(&p.id)).await?;
    let inference = list.pop().unwrap_or_else(|| json!({"prior_role": role_ref(&p, &v3), "implies": []}));
    Ok(json_response(
        StatusCode::OK,
        json!({"role_inference": inference, "links": {"self": format!("{v3}/roles/{}/implies", p.id)}}),
    ))
}

pub(crate) async fn role_inferences(State(id): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult {
    caller.authorize(&PolicyTarget::new())?;
    let v3 = v3_url(&id, &headers);
    let mut tx = id.db.read().await?;
    let list = inferences(&mut tx, &v3, None).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({"role_inferences": list, "links": {"self": format!("{v3}/role_inferences"), "previous": null, "next": null}}),
    ))
}
