//! The route walk: every route of `berth_compute::route_specs()` (the route
//! table the router is built from), called with concrete ids and a valid
//! body, by callers with no roles, reader, member and admin. A route whose
//! rule denies the caller answers 403; one whose rule allows it never
//! answers 403 (nor 500, which is also what a route that forgets to check
//! its rule answers in debug builds). Expectations come from compute's
//! default policy, evaluated for the caller against its own project; a
//! table of spot checks pins where Nova's defaults differ between roles.
//!
//! SQLite only: policy does not depend on the engine (the hostile table
//! and the API tests cover both engines).

mod common;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use berth_http::Access;
use berth_policy::{Credentials, EnforcerConfig, Target};
use common::*;
use serde_json::{json, Value};

const PROJECT: &str = "proj";
const USER: &str = "user-proj";

/// The concrete path and a valid body for a route.
struct Fixture {
    flavor: String,
    server: String,
    service: String,
    hypervisor: String,
    aggregate: String,
    server_group: String,
}

impl Fixture {
    fn path(&self, template: &str) -> String {
        let mut out = Vec::new();
        let segs: Vec<&str> = template.split('/').collect();
        for (i, seg) in segs.iter().enumerate() {
            let prev = if i > 0 { segs[i - 1] } else { "" };
            out.push(match (*seg, prev) {
                ("{id}", "flavors") => self.flavor.clone(),
                ("{id}", "servers") => self.server.clone(),
                ("{id}", "os-services") => self.service.clone(),
                ("{id}", "os-hypervisors") => self.hypervisor.clone(),
                ("{id}", "os-aggregates") => self.aggregate.clone(),
                ("{id}", "os-server-groups") => self.server_group.clone(),
                ("{project}", _) => PROJECT.to_string(),
                ("{key}", "os-extra_specs") => "hw:cpu_policy".to_string(),
                ("{key}", "metadata") => "k".to_string(),
                ("{name}", "os-keypairs") => "walk".to_string(),
                ("{tag}", "tags") => "walk".to_string(),
                ("{network}", "ips") => "private".to_string(),
                ("{host}", "os-hosts") => "h1".to_string(),
                ("{id}", "os-quota-class-sets") => "default".to_string(),
                ("{id}", "images") => IMAGE.to_string(),
                ("{id}", "extensions") => "OS-DCF".to_string(),
                ("{id}", "os-instance_usage_audit_log") => "2026-11-15%2000:00:00".to_string(),
                ("{migration}", "migrations") => "1".to_string(),
                ("{request_id}", "os-instance-actions") => "req-walk".to_string(),
                (s, _) if s.starts_with('{') => panic!("route walk: no value for {s} in {template}"),
                (s, _) => s.to_string(),
            });
        }
        if template == "/" {
            // The version list is the mount point itself.
            return "/compute".to_string();
        }
        format!("/compute{}", out.join("/"))
    }

    fn body(&self, method: &Method, template: &str) -> Option<Value> {
        let b = match (method.as_str(), template) {
            ("POST", "/v2.1/flavors") => json!({"flavor": {"name": "walk", "vcpus": 1, "ram": 64, "disk": 1}}),
            ("PUT", "/v2.1/flavors/{id}") => json!({"flavor": {"description": "walked"}}),
            ("POST", "/v2.1/flavors/{id}/action") => json!({"addTenantAccess": {"tenant": "other"}}),
            ("POST", "/v2.1/flavors/{id}/os-extra_specs") => json!({"extra_specs": {"hw:cpu_policy": "shared"}}),
            ("PUT", "/v2.1/flavors/{id}/os-extra_specs/{key}") => json!({"hw:cpu_policy": "dedicated"}),
            ("POST", "/v2.1/servers") => {
                json!({"server": {"name": "walk", "flavorRef": self.flavor, "imageRef": IMAGE, "networks": "none"}})
            }
            ("PUT", "/v2.1/servers/{id}") => json!({"server": {"name": "walked"}}),
            ("POST", "/v2.1/servers/{id}/action") => json!({"os-stop": null}),
            ("POST", "/v2.1/servers/{id}/metadata") | ("PUT", "/v2.1/servers/{id}/metadata") => {
                json!({"metadata": {"k": "v"}})
            }
            ("PUT", "/v2.1/servers/{id}/metadata/{key}") => json!({"meta": {"k": "w"}}),
            ("PUT", "/v2.1/servers/{id}/tags") => json!({"tags": ["walk"]}),
            ("PUT", "/v2.1/servers/{id}/tags/{tag}") => Value::Null,
            ("PUT", "/v2.1/os-services/{id}") => json!({"status": "enabled"}),
            ("POST", "/v2.1/images/{id}/metadata") | ("PUT", "/v2.1/images/{id}/metadata") => {
                json!({"metadata": {"k": "v"}})
            }
            ("PUT", "/v2.1/images/{id}/metadata/{key}") => json!({"meta": {"k": "v"}}),
            ("PUT", "/v2.1/os-quota-class-sets/{id}") => json!({"quota_class_set": {"key_pairs": 100}}),
            ("PUT", "/v2.1/os-hosts/{host}") => json!({"maintenance_mode": "disable"}),
            ("POST", "/v2.1/servers/{id}/migrations/{migration}/action") => json!({"force_complete": null}),
            ("PUT", "/v2.1/os-quota-sets/{project}") => json!({"quota_set": {"cores": 40}}),
            ("POST", "/v2.1/os-aggregates") => json!({"aggregate": {"name": "walk"}}),
            ("PUT", "/v2.1/os-aggregates/{id}") => json!({"aggregate": {"name": "walked"}}),
            ("POST", "/v2.1/os-aggregates/{id}/action") => json!({"set_metadata": {"metadata": {"k": "v"}}}),
            ("POST", "/v2.1/os-aggregates/{id}/images") => json!({"cache": [{"id": IMAGE}]}),
            ("POST", "/v2.1/os-server-groups") => json!({"server_group": {"name": "walk", "policy": "affinity"}}),
            ("POST", "/v2.1/os-keypairs") => json!({"keypair": {"name": "walk", "public_key": WALK_KEY}}),
            (m, _) if m == "POST" || m == "PUT" => panic!("route walk: no body for {m} {template}"),
            _ => return None,
        };
        Some(b)
    }
}

/// An OpenSSH public key for the walk's key pair.
const WALK_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM4AE4lkNqwolTzCM8RK/D0EWZ6Gcdzd2Vb+Gn0sboZX walk";

/// The rule a route checks for the walk's request (for `AnyOf`, the one
/// its body picks).
fn walked_rule(access: Access, template: &str) -> Option<&'static str> {
    match access {
        Access::Public | Access::Authenticated => None,
        Access::Rule(r) => Some(r),
        Access::AnyOf(rules) => {
            let picked = match template {
                "/v2.1/servers/{id}/action" => "os_compute_api:servers:stop",
                "/v2.1/flavors/{id}/action" => "os_compute_api:os-flavor-access:add_tenant_access",
                "/v2.1/os-aggregates/{id}/action" => "os_compute_api:os-aggregates:set_metadata",
                other => panic!("route walk: which rule does a body for {other} pick?"),
            };
            assert!(rules.contains(&picked), "{template} does not name {picked}");
            Some(picked)
        }
    }
}

fn allowed(policy: &berth_policy::Enforcer, rule: &str, roles: &[&str]) -> bool {
    let creds = Credentials {
        user_id: Some(USER.into()),
        project_id: Some(PROJECT.into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    };
    let target: Target = BTreeMap::from([("project_id".into(), PROJECT.into()), ("user_id".into(), USER.into())]);
    policy.authorize(rule, &target, &creds).is_ok()
}

/// The walk's microversion: the newest at which every route exists
/// (`os-hypervisors/statistics` is gone from 2.88).
const WALK_MV: &str = "compute 2.87";

/// The microversion a route is walked at: the newest at which it exists.
fn walk_mv(template: &str) -> &'static str {
    if template.starts_with("/v2.1/os-hosts") {
        "compute 2.42"
    } else if template.ends_with("/search") || template.ends_with("/servers") {
        "compute 2.52"
    } else if template.starts_with("/v2.1/images") {
        "compute 2.35"
    } else {
        WALK_MV
    }
}

async fn call_at(
    env: &Env,
    mv: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    roles: &[&str],
) -> (StatusCode, Value) {
    let token = format!("{USER}:{PROJECT}");
    let roles = roles.join(",");
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    env.raw(method, path, body, &[("x-auth-token", &token), ("x-roles", &roles), ("openstack-api-version", mv)]).await
}

async fn call(env: &Env, method: Method, path: &str, body: Option<Value>, roles: &[&str]) -> (StatusCode, Value) {
    call_at(env, MV, method, path, body, roles).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_follows_its_rule_for_every_role() {
    let env = Env::new(Backend::Sqlite).await;
    let _agent = env.agent("h1", "fake:8,8192,100", &[]).await;
    let flavor = env.create_flavor("walk-flavor", 1, 64, 1).await;
    env.set_specs(&flavor, json!({"hw:cpu_policy": "shared"})).await;
    // A server of the walking callers' project, with a metadata item.
    let (s, v) = env
        .req_as(
            PROJECT,
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "mine", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none", "metadata": {"k": "v"}}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let server = v["server"]["id"].as_str().unwrap().to_string();
    let service = env.service_id("h1").await;
    let (_, v) = env.req(Method::GET, "/os-hypervisors", None).await;
    let hypervisor = v["hypervisors"][0]["id"].as_str().expect("a hypervisor").to_string();
    let (_, v) = env.req(Method::POST, "/os-aggregates", Some(json!({"aggregate": {"name": "walk-agg"}}))).await;
    let aggregate = v["aggregate"]["id"].as_i64().expect("an aggregate").to_string();
    // A server group of the walking callers' project.
    let (s, v) = env
        .req_as(
            PROJECT,
            Method::POST,
            "/os-server-groups",
            Some(json!({"server_group": {"name": "g", "policy": "affinity"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let server_group = v["server_group"]["id"].as_str().unwrap().to_string();
    let fx = Fixture { flavor, server, service, hypervisor, aggregate, server_group };
    let policy = berth_compute::ComputeService::default_policy(EnforcerConfig::default());

    let specs = berth_compute::route_specs();
    assert!(specs.len() >= 40, "route table shrank: {}", specs.len());
    let mut denied_without_roles = 0;
    // Deletes last, so the objects other routes need still exist, and
    // nested ones (a server's migration) before their parents.
    let mut order: Vec<_> = specs.iter().collect();
    order.sort_by_key(|s| {
        let delete = s.method == Method::DELETE;
        (delete, std::cmp::Reverse(if delete { s.path.len() } else { 0 }))
    });
    for roles in [&[][..], &["reader"][..], &["member", "reader"][..], &["admin", "member", "reader"][..]] {
        for spec in &order {
            let path = fx.path(spec.path);
            let body = fx.body(&spec.method, spec.path);
            let (status, v) = call_at(&env, walk_mv(spec.path), spec.method.clone(), &path, body, roles).await;
            let what = format!("{} {} as {roles:?}", spec.method, spec.path);
            assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {v}");
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{what}: {v}");
            match walked_rule(spec.access, spec.path) {
                // The image proxy checks no rule of its own (the image
                // API decides; this cloud has none to reach).
                None if spec.access == Access::Authenticated => {
                    assert_ne!(status, StatusCode::FORBIDDEN, "{what}: {v}");
                }
                None => {
                    assert_eq!(spec.access, Access::Public, "{what}");
                    assert!(status.is_success(), "{what}: public route answered {status}: {v}");
                }
                Some(rule) if allowed(&policy, rule, roles) => {
                    assert_ne!(status, StatusCode::FORBIDDEN, "{what}: {rule} allows it: {v}");
                }
                Some(rule) => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {rule} denies it: {v}");
                    assert_eq!(v["forbidden"]["code"], 403, "{what}: {v}");
                    if roles.is_empty() {
                        denied_without_roles += 1;
                    }
                }
            }
        }
    }
    // Most of the API needs a role.
    assert!(denied_without_roles >= 30, "only {denied_without_roles} routes refused a caller without roles");
}

/// Roles, method, path, body, expected status.
type SpotCheck = (&'static [&'static str], Method, String, Option<Value>, u16);

/// Where Nova's defaults tell reader, member and admin apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_member_admin_differences() {
    let env = Env::new(Backend::Sqlite).await;
    let _agent = env.agent("h1", "fake:8,8192,100", &[]).await;
    let flavor = env.create_flavor("f", 1, 64, 1).await;
    let create = json!({"server": {"name": "s", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none"}});
    let reader: &[&str] = &["reader"];
    let member: &[&str] = &["member", "reader"];
    let admin: &[&str] = &["admin", "member", "reader"];
    let cases: Vec<SpotCheck> = vec![
        // Servers: readers list and look, members act.
        (reader, Method::GET, "/servers".into(), None, 200),
        (reader, Method::POST, "/servers".into(), Some(create.clone()), 403),
        (member, Method::POST, "/servers".into(), Some(create.clone()), 202),
        (member, Method::GET, "/servers?all_tenants=1".into(), None, 403),
        (admin, Method::GET, "/servers?all_tenants=1".into(), None, 200),
        // Flavors: anyone lists; only admins manage.
        (&[], Method::GET, "/flavors".into(), None, 200),
        (
            member,
            Method::POST,
            "/flavors".into(),
            Some(json!({"flavor": {"name": "x", "vcpus": 1, "ram": 64, "disk": 1}})),
            403,
        ),
        (
            admin,
            Method::POST,
            "/flavors".into(),
            Some(json!({"flavor": {"name": "x", "vcpus": 1, "ram": 64, "disk": 1}})),
            200,
        ),
        (reader, Method::GET, format!("/flavors/{flavor}/os-extra_specs"), None, 200),
        (
            member,
            Method::POST,
            format!("/flavors/{flavor}/os-extra_specs"),
            Some(json!({"extra_specs": {"a": "b"}})),
            403,
        ),
        // Migration records: admins only.
        (member, Method::GET, "/os-migrations".into(), None, 403),
        (admin, Method::GET, "/os-migrations".into(), None, 200),
        // Infrastructure: admins only.
        (member, Method::GET, "/os-services".into(), None, 403),
        (admin, Method::GET, "/os-services".into(), None, 200),
        (member, Method::GET, "/os-hypervisors".into(), None, 403),
        (admin, Method::GET, "/os-hypervisors/detail".into(), None, 200),
        (reader, Method::GET, "/os-availability-zone".into(), None, 200),
        (member, Method::GET, "/os-availability-zone/detail".into(), None, 403),
        (admin, Method::GET, "/os-availability-zone/detail".into(), None, 200),
        (member, Method::GET, "/os-aggregates".into(), None, 403),
        (admin, Method::GET, "/os-aggregates".into(), None, 200),
        // Server groups: readers list, members create.
        (reader, Method::GET, "/os-server-groups".into(), None, 200),
        (
            reader,
            Method::POST,
            "/os-server-groups".into(),
            Some(json!({"server_group": {"name": "g", "policy": "affinity"}})),
            403,
        ),
        (
            member,
            Method::POST,
            "/os-server-groups".into(),
            Some(json!({"server_group": {"name": "g", "policy": "affinity"}})),
            200,
        ),
        // Quotas: readers see their own, admins change them.
        (reader, Method::GET, format!("/os-quota-sets/{PROJECT}"), None, 200),
        (reader, Method::GET, "/os-quota-sets/someone-else".into(), None, 403),
        (member, Method::PUT, format!("/os-quota-sets/{PROJECT}"), Some(json!({"quota_set": {"cores": 5}})), 403),
        (admin, Method::PUT, format!("/os-quota-sets/{PROJECT}"), Some(json!({"quota_set": {"cores": 5}})), 200),
        // Limits: anyone for their project, admins for others.
        (&[], Method::GET, "/limits".into(), None, 200),
        (member, Method::GET, "/limits?tenant_id=other".into(), None, 403),
        (admin, Method::GET, "/limits?tenant_id=other".into(), None, 200),
        // Key pairs: a user's own, whatever the roles; another user's for
        // admins only.
        (&[], Method::GET, "/os-keypairs".into(), None, 200),
        (
            &[],
            Method::POST,
            "/os-keypairs".into(),
            Some(json!({"keypair": {"name": "mine", "public_key": WALK_KEY}})),
            201,
        ),
        (&[], Method::GET, "/os-keypairs/mine".into(), None, 200),
        (member, Method::GET, "/os-keypairs?user_id=other".into(), None, 403),
        (admin, Method::GET, "/os-keypairs?user_id=other".into(), None, 200),
        (
            member,
            Method::POST,
            "/os-keypairs".into(),
            Some(json!({"keypair": {"name": "theirs", "public_key": WALK_KEY, "user_id": "other"}})),
            403,
        ),
        (
            admin,
            Method::POST,
            "/os-keypairs".into(),
            Some(json!({"keypair": {"name": "theirs", "public_key": WALK_KEY, "user_id": "other"}})),
            201,
        ),
        (member, Method::GET, "/os-keypairs/theirs?user_id=other".into(), None, 403),
        (admin, Method::GET, "/os-keypairs/theirs?user_id=other".into(), None, 200),
        (member, Method::DELETE, "/os-keypairs/theirs?user_id=other".into(), None, 403),
        (admin, Method::DELETE, "/os-keypairs/theirs?user_id=other".into(), None, 204),
        (&[], Method::DELETE, "/os-keypairs/mine".into(), None, 204),
    ];
    for (roles, method, path, body, want) in cases {
        let (s, v) = call(&env, method.clone(), &format!("/compute/v2.1{path}"), body, roles).await;
        assert_eq!(s.as_u16(), want, "{method} {path} as {roles:?}: {v}");
    }
}
