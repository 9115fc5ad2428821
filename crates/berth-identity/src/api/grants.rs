//! Role grants on projects, domains and the system; role assignment
//! listing; implied roles.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::policy::PolicyTarget;
use super::{
    json_response, list_response, no_content, parse_query, query_flag, query_get, v3_url, ApiResult, AppState, Caller,
};
use crate::error::{IdentityError, Result};
use crate::repo::{self, Actor, Assignment, AssignmentFilter, Conn, Role, Target};
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

/// The path of an assignment (its `links.assignment`), without the role.
fn actor_url(v3: &str, target: &Target, actor: &Actor, inherited: bool) -> String {
    let actor = match actor {
        Actor::User(u) => format!("users/{u}"),
        Actor::Group(g) => format!("groups/{g}"),
    };
    if inherited {
        let t = match target {
            Target::Project(p) => format!("projects/{p}"),
            Target::Domain(d) => format!("domains/{d}"),
            Target::System => "system".to_string(),
        };
        format!("{v3}/OS-INHERIT/{t}/{actor}")
    } else {
        format!("{}/{actor}", target_url(v3, target))
    }
}

fn assignment_url(v3: &str, target: &Target, actor: &Actor, inherited: bool, role: &str) -> String {
    let base = actor_url(v3, target, actor, inherited);
    if inherited {
        format!("{base}/roles/{role}/inherited_to_projects")
    } else {
        format!("{base}/roles/{role}")
    }
}

async fn need_actor(c: &mut Conn, a: &Actor) -> Result<()> {
    match a {
        Actor::User(u) => need_user(c, u).await,
        Actor::Group(g) => {
            repo::get_group(c, g).await?.ok_or_else(|| not_found("group", g))?;
            Ok(())
        }
    }
}

/// The target of a grant operation: the user or group, the project or
/// domain and the role, with their domains, for whichever of them exist.
async fn grant_target(id: &Identity, target: &Target, actor: &Actor, rid: Option<&str>) -> Result<PolicyTarget> {
    let mut tx = id.db.read().await?;
    let mut t = match actor {
        Actor::User(uid) => match repo::get_user(&mut tx, uid).await? {
            Some(u) => PolicyTarget::new().user(&u),
            None => PolicyTarget::new().set("target.user.id", uid.as_str()),
        },
        Actor::Group(gid) => match repo::get_group(&mut tx, gid).await? {
            Some(g) => PolicyTarget::new().group(&g),
            None => PolicyTarget::new().set("target.group.id", gid.as_str()),
        },
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

/// What a grant route is about: its target kind, user or group, and
/// whether the assignment is inherited (OS-INHERIT).
#[derive(Clone, Copy)]
pub(crate) struct GrantKind {
    target: TargetKind,
    group: bool,
    inherited: bool,
}

#[derive(Clone, Copy)]
enum TargetKind {
    Project,
    Domain,
    System,
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Result<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| IdentityError::internal(format!("route has no {{{key}}} parameter")))
}

fn grant_parts(kind: GrantKind, params: &[(String, String)]) -> Result<(Target, Actor)> {
    let target = match kind.target {
        TargetKind::Project => Target::Project(param(params, "id")?.to_string()),
        TargetKind::Domain => Target::Domain(param(params, "id")?.to_string()),
        TargetKind::System => Target::System,
    };
    let actor = if kind.group {
        Actor::Group(param(params, "group")?.to_string())
    } else {
        Actor::User(param(params, "user")?.to_string())
    };
    Ok((target, actor))
}

/// A grant operation (PUT grants, GET/HEAD checks, DELETE revokes); the
/// route's rule (`identity:create_grant`, `identity:check_system_grant_for_group`,
/// ...) is checked on the actor, target and role.
async fn grant_route(
    id: &Identity,
    caller: &Caller,
    method: &Method,
    kind: GrantKind,
    params: &[(String, String)],
) -> ApiResult {
    let (target, actor) = grant_parts(kind, params)?;
    let rid = param(params, "role")?.to_string();
    caller.authorize(&grant_target(id, &target, &actor, Some(&rid)).await?)?;
    let a = Assignment { actor, target, role_id: rid, inherited: kind.inherited };
    if *method == Method::GET || *method == Method::HEAD {
        let mut tx = id.db.read().await?;
        need_target(&mut tx, &a.target).await?;
        need_actor(&mut tx, &a.actor).await?;
        need_role(&mut tx, &a.role_id).await?;
        let found = repo::list_assignments(
            &mut tx,
            &AssignmentFilter {
                actor: Some(a.actor.clone()),
                role_id: Some(a.role_id.clone()),
                target: Some(a.target.clone()),
                inherited: Some(a.inherited),
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
    need_actor(&mut w.tx, &a.actor).await?;
    need_role(&mut w.tx, &a.role_id).await?;
    if *method == Method::PUT {
        repo::grant(&mut w.tx, &a, berth_time::now()).await?;
    } else {
        if !repo::revoke(&mut w.tx, &a).await? {
            return Err(IdentityError::not_found("Could not find role assignment."));
        }
        if let Actor::User(u) = &a.actor {
            // As Keystone: losing a role on a project ends the user's
            // application credentials there.
            if let Target::Project(p) = &a.target {
                crate::appcred::delete_for_user_project(&mut w.tx, u, p).await?;
            }
        }
    }
    w.commit().await?;
    Ok(no_content())
}

/// The roles granted on a target to a user or group (`GET .../roles`).
async fn list_route(
    id: &Identity,
    caller: &Caller,
    headers: &HeaderMap,
    kind: GrantKind,
    params: &[(String, String)],
) -> ApiResult {
    let (target, actor) = grant_parts(kind, params)?;
    caller.authorize(&grant_target(id, &target, &actor, None).await?)?;
    let v3 = v3_url(id, headers);
    let mut tx = id.db.read().await?;
    need_target(&mut tx, &target).await?;
    need_actor(&mut tx, &actor).await?;
    let ids: BTreeSet<String> = repo::list_assignments(
        &mut tx,
        &AssignmentFilter {
            actor: Some(actor.clone()),
            target: Some(target.clone()),
            inherited: Some(kind.inherited),
            ..Default::default()
        },
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
    let mut self_url = format!("{}/roles", actor_url(&v3, &target, &actor, kind.inherited));
    if kind.inherited {
        self_url.push_str("/inherited_to_projects");
    }
    Ok(list_response("roles", items, self_url))
}

macro_rules! grant_handlers {
    ($($op:ident => $target:ident, $group:expr, $inherited:expr;)*) => { $(
        pub(crate) async fn $op(
            State(id): State<AppState>,
            caller: Caller,
            method: Method,
            Path(params): Path<Vec<(String, String)>>,
        ) -> ApiResult {
            let kind = GrantKind { target: TargetKind::$target, group: $group, inherited: $inherited };
            grant_route(&id, &caller, &method, kind, &params).await
        }
    )* };
}

macro_rules! list_handlers {
    ($($list:ident => $target:ident, $group:expr, $inherited:expr;)*) => { $(
        pub(crate) async fn $list(
            State(id): State<AppState>,
            caller: Caller,
            headers: HeaderMap,
            Path(params): Path<Vec<(String, String)>>,
        ) -> ApiResult {
            let kind = GrantKind { target: TargetKind::$target, group: $group, inherited: $inherited };
            list_route(&id, &caller, &headers, kind, &params).await
        }
    )* };
}

grant_handlers! {
    project_user_grant => Project, false, false;
    project_group_grant => Project, true, false;
    domain_user_grant => Domain, false, false;
    domain_group_grant => Domain, true, false;
    system_user_grant => System, false, false;
    system_group_grant => System, true, false;
    inherited_domain_user_grant => Domain, false, true;
    inherited_domain_group_grant => Domain, true, true;
    inherited_project_user_grant => Project, false, true;
    inherited_project_group_grant => Project, true, true;
}

list_handlers! {
    list_project_user_grants => Project, false, false;
    list_project_group_grants => Project, true, false;
    list_domain_user_grants => Domain, false, false;
    list_domain_group_grants => Domain, true, false;
    list_system_user_grants => System, false, false;
    list_system_group_grants => System, true, false;
    list_inherited_domain_user_grants => Domain, false, true;
    list_inherited_domain_group_grants => Domain, true, true;
}

// ---------------------------------------------------------------- role assignments

/// One line of `/v3/role_assignments`: who holds which role where, and
/// the assignment that gives it (for effective lines, expanded from a
/// group, an inherited assignment or an implied role).
struct Line {
    actor: Actor,
    target: Target,
    role_id: String,
    /// Shown as `scope."OS-INHERIT:inherited_to": "projects"`.
    inherited: bool,
    source: Assignment,
    via_group: Option<String>,
    prior: Option<String>,
}

/// The projects strictly below `pid` (any depth).
fn descendants(projects: &[repo::Project], pid: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut frontier = vec![pid.to_string()];
    while let Some(p) = frontier.pop() {
        for child in projects.iter().filter(|c| c.parent_id.as_deref() == Some(p.as_str())) {
            if out.insert(child.id.clone()) {
                frontier.push(child.id.clone());
            }
        }
    }
    out
}

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
    let group_filter = query_get(&q, "group.id").map(str::to_string);
    let effective = query_flag(&q, "effective");
    let include_names = query_flag(&q, "include_names");
    let include_subtree = query_flag(&q, "include_subtree");
    let project = query_get(&q, "scope.project.id");
    let domain = query_get(&q, "scope.domain.id");
    let system = query_get(&q, "scope.system");
    let inherited_only = match query_get(&q, "scope.OS-INHERIT:inherited_to") {
        None => false,
        Some("projects") => true,
        Some(other) => {
            return Err(IdentityError::bad_request(format!(
                "Invalid input for field 'scope.OS-INHERIT:inherited_to': '{other}' is not 'projects'"
            )))
        }
    };
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
    if [project.is_some(), domain.is_some(), system.is_some()].iter().filter(|b| **b).count() > 1 {
        return Err(IdentityError::bad_request("Specify one of domain, project or system scope, not several."));
    }
    if user_filter.is_some() && group_filter.is_some() {
        return Err(IdentityError::bad_request("Specify one of user or group, not both."));
    }
    if effective && group_filter.is_some() {
        return Err(IdentityError::bad_request(
            "Combining effective and group filter will always result in an empty list.",
        ));
    }
    if include_subtree && project.is_none() {
        return Err(IdentityError::bad_request(
            "scope.project.id needs to be specified if include_subtree is also specified",
        ));
    }
    let v3 = v3_url(&id, &headers);
    let self_url = format!("{v3}/role_assignments");
    let role_filter = query_get(&q, "role.id").map(str::to_string);

    let mut tx = id.db.read().await?;
    let mut all = repo::list_assignments(&mut tx, &AssignmentFilter::default()).await?;
    if inherited_only {
        all.retain(|a| a.inherited);
    }
    let projects = repo::list_projects(&mut tx, &repo::ProjectFilter::default()).await?;
    let mut lines: Vec<Line> = Vec::new();
    if effective {
        let memberships = repo::all_memberships(&mut tx).await?;
        let implications = repo::list_implications(&mut tx).await?;
        for a in &all {
            let users: Vec<(String, Option<String>)> = match &a.actor {
                Actor::User(u) => vec![(u.clone(), None)],
                Actor::Group(g) => {
                    memberships.iter().filter(|(mg, _)| mg == g).map(|(_, u)| (u.clone(), Some(g.clone()))).collect()
                }
            };
            let targets: Vec<Target> = if !a.inherited {
                vec![a.target.clone()]
            } else {
                match &a.target {
                    Target::Domain(d) => {
                        projects.iter().filter(|p| &p.domain_id == d).map(|p| Target::Project(p.id.clone())).collect()
                    }
                    Target::Project(p) => descendants(&projects, p).into_iter().map(Target::Project).collect(),
                    Target::System => Vec::new(),
                }
            };
            let roles = repo::expand_implied(std::slice::from_ref(&a.role_id), &implications);
            for (user, via_group) in &users {
                for t in &targets {
                    for role_id in roles.keys() {
                        let prior = (role_id != &a.role_id).then(|| a.role_id.clone());
                        lines.push(Line {
                            actor: Actor::User(user.clone()),
                            target: t.clone(),
                            role_id: role_id.clone(),
                            inherited: false,
                            source: a.clone(),
                            via_group: via_group.clone(),
                            prior,
                        });
                    }
                }
            }
        }
    } else {
        lines = all
            .iter()
            .map(|a| Line {
                actor: a.actor.clone(),
                target: a.target.clone(),
                role_id: a.role_id.clone(),
                inherited: a.inherited,
                source: a.clone(),
                via_group: None,
                prior: None,
            })
            .collect();
    }
    let subtree: Option<BTreeSet<String>> = match project {
        Some(p) if include_subtree => {
            let mut set = descendants(&projects, p);
            set.insert(p.to_string());
            Some(set)
        }
        Some(p) => Some(BTreeSet::from([p.to_string()])),
        None => None,
    };
    lines.retain(|l| {
        user_filter.as_ref().is_none_or(|u| l.actor == Actor::User(u.clone()))
            && group_filter.as_ref().is_none_or(|g| l.actor == Actor::Group(g.clone()))
            && role_filter.as_ref().is_none_or(|r| &l.role_id == r)
            && match (&subtree, domain, system) {
                (Some(set), _, _) => matches!(&l.target, Target::Project(p) if set.contains(p)),
                (_, Some(d), _) => l.target == Target::Domain(d.to_string()),
                (_, _, Some(_)) => l.target == Target::System,
                _ => true,
            }
    });
    if let Some(d) = &only_domain {
        let in_domain: BTreeSet<&str> = projects.iter().filter(|p| &p.domain_id == d).map(|p| p.id.as_str()).collect();
        lines.retain(|l| match &l.target {
            Target::Domain(x) => x == d,
            Target::Project(p) => in_domain.contains(p.as_str()),
            Target::System => false,
        });
    }

    let names = if include_names { Some(Names::load(&mut tx).await?) } else { None };
    let items = lines.iter().map(|l| line_json(l, &v3, names.as_ref())).collect();
    Ok(list_response("role_assignments", items, self_url))
}

/// Lookup tables for `include_names`.
struct Names {
    roles: BTreeMap<String, String>,
    users: BTreeMap<String, (String, String)>,
    groups: BTreeMap<String, (String, String)>,
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
            groups: repo::list_groups(&mut *c, &Default::default())
                .await?
                .into_iter()
                .map(|g| (g.id, (g.name, g.domain_id)))
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

fn line_json(l: &Line, v3: &str, names: Option<&Names>) -> Value {
    let mut role = Map::new();
    role.insert("id".into(), json!(l.role_id));
    let mut actor = Map::new();
    let (actor_key, actor_id) = match &l.actor {
        Actor::User(u) => ("user", u),
        Actor::Group(g) => ("group", g),
    };
    actor.insert("id".into(), json!(actor_id));
    let mut scope_obj = Map::new();
    let scope_key = match &l.target {
        Target::Project(p) => {
            scope_obj.insert("id".into(), json!(p));
            "project"
        }
        Target::Domain(d) => {
            scope_obj.insert("id".into(), json!(d));
            "domain"
        }
        Target::System => "system",
    };
    if let Some(n) = names {
        role.insert("name".into(), json!(n.roles.get(&l.role_id).cloned().unwrap_or_default()));
        let who = match &l.actor {
            Actor::User(u) => n.users.get(u),
            Actor::Group(g) => n.groups.get(g),
        };
        if let Some((name, dom)) = who {
            actor.insert("name".into(), json!(name));
            actor.insert("domain".into(), n.domain(dom));
        }
        match &l.target {
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
    let mut scope = Map::new();
    match l.target {
        Target::System => {
            scope.insert("system".into(), json!({"all": true}));
        }
        _ => {
            scope.insert(scope_key.into(), Value::Object(scope_obj));
        }
    }
    if l.inherited {
        scope.insert("OS-INHERIT:inherited_to".into(), json!("projects"));
    }
    let src = &l.source;
    let mut links = Map::new();
    links.insert("assignment".into(), json!(assignment_url(v3, &src.target, &src.actor, src.inherited, &src.role_id)));
    if let (Some(g), Actor::User(u)) = (&l.via_group, &l.actor) {
        links.insert("membership".into(), json!(format!("{v3}/groups/{g}/users/{u}")));
    }
    if let Some(p) = &l.prior {
        links.insert("prior_role".into(), json!(format!("{v3}/roles/{p}")));
    }
    let mut out = Map::new();
    out.insert("role".into(), Value::Object(role));
    out.insert(actor_key.into(), Value::Object(actor));
    out.insert("scope".into(), Value::Object(scope));
    out.insert("links".into(), Value::Object(links));
    Value::Object(out)
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
