//! Walk every route and method of the image API with five callers and check
//! each answer against Glance's secure-RBAC defaults (`glance/policies`):
//!
//! - a caller with a valid token and no roles, in the image owner's project:
//!   403 on the collection routes (`get_images`, `add_image`) and 404 on the
//!   routes of an image (Glance hides an image whose `get_image` check fails,
//!   even from its own project, rather than admit it exists);
//! - a reader of the owner's project: may look, may not change (403);
//! - a member of the owner's project: may change, may not publicize (admin
//!   only);
//! - a member of another project the image is shared with;
//! - an administrator.
//!
//! Every image route answers 404 to the roleless caller only because of a
//! policy check (the image is visible to its project by Glance's visibility
//! rules), so a handler that forgot its check would answer 2xx and fail here.
//! The table is complete: every other method on each path answers 405.

mod common;

use axum::http::{Method, StatusCode};
use berth_http::Access;
use common::{Backend, Env, Who};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fixture {
    /// No image needed.
    None,
    /// A shared image of project `pa`, tagged `t1`, shared with `pb`, no data.
    Queued,
    /// The same with data uploaded.
    Active,
    /// The same, deactivated.
    Deactivated,
    /// The queued image with data staged (`uploading`).
    Staged,
    /// An import task (of a fresh image of `pa`); `{id}` is the task's id.
    Task,
    /// A public metadef namespace of project `pa` (created by an
    /// administrator) holding object `o1`, property `p1`, tag `t1` and an
    /// association with `OS::Glance::Image`; `{id}` is its name.
    Namespace,
    /// The same namespace, empty.
    EmptyNamespace,
}

#[derive(Debug, Clone, Copy)]
enum Payload {
    Empty,
    Json(&'static str),
    Patch(&'static str),
    Octets,
}

struct Row {
    method: Method,
    /// `{id}` is the fixture image.
    path: &'static str,
    payload: Payload,
    fixture: Fixture,
    /// The rule(s) Glance checks, for the failure message.
    rule: &'static str,
    /// Expected status for: no roles, reader, member, member of the project
    /// the image is shared with, admin.
    want: [u16; 5],
}

const PERSONAS: [&str; 5] = ["no roles", "reader", "member", "shared-with member", "admin"];

fn row(
    method: Method,
    path: &'static str,
    payload: Payload,
    fixture: Fixture,
    rule: &'static str,
    want: [u16; 5],
) -> Row {
    Row { method, path, payload, fixture, rule, want }
}

/// A metadef read: refused without a role, allowed to every reader.
const READS: [u16; 5] = [403, 200, 200, 200, 200];
/// A metadef delete: administrators only.
const WRITES_204: [u16; 5] = [403, 403, 403, 403, 204];
const MD_NS_GET: (Method, &str) = (Method::GET, "/image/v2/metadefs/namespaces/{id}");

static NAMESPACES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn table() -> Vec<Row> {
    use Fixture::*;
    use Payload::*;
    let patch_name = Patch(r#"[{"op": "replace", "path": "/name", "value": "renamed"}]"#);
    let patch_public = Patch(r#"[{"op": "replace", "path": "/visibility", "value": "public"}]"#);
    let patch_community = Patch(r#"[{"op": "replace", "path": "/visibility", "value": "community"}]"#);
    vec![
        // Discovery (public) and schemas (any valid token): no policy.
        row(Method::GET, "/image", Empty, None, "(none)", [300; 5]),
        row(Method::GET, "/image/versions", Empty, None, "(none)", [200; 5]),
        row(Method::GET, "/image/v2", Empty, None, "(none)", [300; 5]),
        row(Method::GET, "/image/v2/", Empty, None, "(none)", [300; 5]),
        row(Method::GET, "/image/v2/schemas/image", Empty, None, "(none)", [200; 5]),
        row(Method::GET, "/image/v2/schemas/images", Empty, None, "(none)", [200; 5]),
        row(Method::GET, "/image/v2/schemas/member", Empty, None, "(none)", [200; 5]),
        row(Method::GET, "/image/v2/schemas/members", Empty, None, "(none)", [200; 5]),
        row(Method::GET, "/image/v2/schemas/task", Empty, None, "(none)", [200; 5]),
        row(Method::GET, "/image/v2/schemas/tasks", Empty, None, "(none)", [200; 5]),
        row(Method::GET, "/image/v2/info/import", Empty, None, "(none)", [200; 5]),
        row(Method::GET, "/image/v2/info/stores", Empty, None, "(none)", [200; 5]),
        row(Method::GET, "/image/v2/info/stores/detail", Empty, None, "stores_info_detail", [403, 403, 403, 403, 200]),
        row(Method::GET, "/image/v2/info/usage", Empty, None, "(none)", [200; 5]),
        // Collection.
        row(Method::GET, "/image/v2/images", Empty, None, "get_images", [403, 200, 200, 200, 200]),
        row(Method::POST, "/image/v2/images", Json(r#"{"name": "n"}"#), None, "add_image", [403, 403, 201, 201, 201]),
        row(
            Method::POST,
            "/image/v2/images",
            Json(r#"{"name": "n", "visibility": "public"}"#),
            None,
            "add_image + publicize_image",
            [403, 403, 403, 403, 201],
        ),
        row(
            Method::POST,
            "/image/v2/images",
            Json(r#"{"name": "n", "visibility": "community"}"#),
            None,
            "add_image + communitize_image",
            [403, 403, 201, 201, 201],
        ),
        // One image.
        row(Method::GET, "/image/v2/images/{id}", Empty, Active, "get_image", [404, 200, 200, 200, 200]),
        row(Method::PATCH, "/image/v2/images/{id}", patch_name, Queued, "modify_image", [404, 403, 200, 403, 200]),
        row(
            Method::PATCH,
            "/image/v2/images/{id}",
            patch_public,
            Queued,
            "modify_image + publicize_image",
            [404, 403, 403, 403, 200],
        ),
        row(
            Method::PATCH,
            "/image/v2/images/{id}",
            patch_community,
            Queued,
            "modify_image + communitize_image",
            [404, 403, 200, 403, 200],
        ),
        row(Method::DELETE, "/image/v2/images/{id}", Empty, Active, "delete_image", [404, 403, 204, 403, 204]),
        // Data.
        row(Method::GET, "/image/v2/images/{id}/file", Empty, Active, "download_image", [404, 403, 200, 200, 200]),
        row(Method::PUT, "/image/v2/images/{id}/file", Octets, Queued, "upload_image", [404, 403, 204, 403, 204]),
        // Metadata definitions: readers read (public namespaces: any
        // project's readers), administrators write.
        row(Method::GET, "/image/v2/schemas/metadefs/namespace", Empty, None, "(none)", [200; 5]),
        row(
            Method::GET,
            "/image/v2/metadefs/namespaces",
            Empty,
            None,
            "get_metadef_namespaces",
            [403, 200, 200, 200, 200],
        ),
        row(
            Method::POST,
            "/image/v2/metadefs/namespaces",
            Json(r#"{"namespace": "created-by-the-walk"}"#),
            None,
            "add_metadef_namespace",
            [403, 403, 403, 403, 201],
        ),
        row(MD_NS_GET.0, MD_NS_GET.1, Empty, Namespace, "get_metadef_namespace", [404, 200, 200, 200, 200]),
        row(
            Method::PUT,
            "/image/v2/metadefs/namespaces/{id}",
            Json(r#"{"namespace": "renamed-by-the-walk", "visibility": "public"}"#),
            Namespace,
            "modify_metadef_namespace",
            [403, 403, 403, 403, 200],
        ),
        row(Method::DELETE, MD_NS_GET.1, Empty, Namespace, "delete_metadef_namespace", [403, 403, 403, 403, 204]),
        row(Method::GET, "/image/v2/metadefs/namespaces/{id}/objects", Empty, Namespace, "get_metadef_objects", READS),
        row(
            Method::POST,
            "/image/v2/metadefs/namespaces/{id}/objects",
            Json(r#"{"name": "o1"}"#),
            EmptyNamespace,
            "add_metadef_object",
            [403, 403, 403, 403, 201],
        ),
        row(
            Method::DELETE,
            "/image/v2/metadefs/namespaces/{id}/objects",
            Empty,
            Namespace,
            "delete_metadef_namespace",
            WRITES_204,
        ),
        row(
            Method::GET,
            "/image/v2/metadefs/namespaces/{id}/objects/o1",
            Empty,
            Namespace,
            "get_metadef_object",
            READS,
        ),
        row(
            Method::PUT,
            "/image/v2/metadefs/namespaces/{id}/objects/o1",
            Json(r#"{"name": "o1", "description": "d"}"#),
            Namespace,
            "modify_metadef_object",
            [403, 403, 403, 403, 200],
        ),
        row(
            Method::DELETE,
            "/image/v2/metadefs/namespaces/{id}/objects/o1",
            Empty,
            Namespace,
            "delete_metadef_object",
            WRITES_204,
        ),
        row(
            Method::GET,
            "/image/v2/metadefs/namespaces/{id}/properties",
            Empty,
            Namespace,
            "get_metadef_properties",
            READS,
        ),
        row(
            Method::POST,
            "/image/v2/metadefs/namespaces/{id}/properties",
            Json(r#"{"name": "p1", "title": "P", "type": "string"}"#),
            EmptyNamespace,
            "add_metadef_property",
            [403, 403, 403, 403, 201],
        ),
        row(
            Method::DELETE,
            "/image/v2/metadefs/namespaces/{id}/properties",
            Empty,
            Namespace,
            "delete_metadef_namespace",
            WRITES_204,
        ),
        row(
            Method::GET,
            "/image/v2/metadefs/namespaces/{id}/properties/p1",
            Empty,
            Namespace,
            "get_metadef_property",
            READS,
        ),
        row(
            Method::PUT,
            "/image/v2/metadefs/namespaces/{id}/properties/p1",
            Json(r#"{"name": "p1", "title": "P1", "type": "integer"}"#),
            Namespace,
            "modify_metadef_property",
            [403, 403, 403, 403, 200],
        ),
        row(
            Method::DELETE,
            "/image/v2/metadefs/namespaces/{id}/properties/p1",
            Empty,
            Namespace,
            "remove_metadef_property",
            WRITES_204,
        ),
        row(Method::GET, "/image/v2/metadefs/namespaces/{id}/tags", Empty, Namespace, "get_metadef_tags", READS),
        row(
            Method::POST,
            "/image/v2/metadefs/namespaces/{id}/tags",
            Json(r#"{"tags": [{"name": "t1"}]}"#),
            Namespace,
            "add_metadef_tags",
            [403, 403, 403, 403, 201],
        ),
        row(
            Method::DELETE,
            "/image/v2/metadefs/namespaces/{id}/tags",
            Empty,
            Namespace,
            "delete_metadef_tags + delete_metadef_namespace",
            WRITES_204,
        ),
        row(Method::GET, "/image/v2/metadefs/namespaces/{id}/tags/t1", Empty, Namespace, "get_metadef_tag", READS),
        row(
            Method::POST,
            "/image/v2/metadefs/namespaces/{id}/tags/t1",
            Empty,
            EmptyNamespace,
            "add_metadef_tag",
            [403, 403, 403, 403, 201],
        ),
        row(
            Method::PUT,
            "/image/v2/metadefs/namespaces/{id}/tags/t1",
            Json(r#"{"name": "t1"}"#),
            Namespace,
            "modify_metadef_tag",
            [403, 403, 403, 403, 200],
        ),
        row(
            Method::DELETE,
            "/image/v2/metadefs/namespaces/{id}/tags/t1",
            Empty,
            Namespace,
            "delete_metadef_tag",
            WRITES_204,
        ),
        row(
            Method::GET,
            "/image/v2/metadefs/resource_types",
            Empty,
            None,
            "list_metadef_resource_types",
            [403, 200, 200, 200, 200],
        ),
        row(
            Method::GET,
            "/image/v2/metadefs/namespaces/{id}/resource_types",
            Empty,
            Namespace,
            "list_metadef_resource_types + get_metadef_resource_type",
            READS,
        ),
        row(
            Method::POST,
            "/image/v2/metadefs/namespaces/{id}/resource_types",
            Json(r#"{"name": "OS::Nova::Server"}"#),
            Namespace,
            "add_metadef_resource_type_association",
            [403, 403, 403, 403, 201],
        ),
        row(
            Method::DELETE,
            "/image/v2/metadefs/namespaces/{id}/resource_types/OS::Glance::Image",
            Empty,
            Namespace,
            "remove_metadef_resource_type_association",
            WRITES_204,
        ),
        // Interoperable import (Glance checks modify_image for both).
        row(Method::PUT, "/image/v2/images/{id}/stage", Octets, Queued, "modify_image", [404, 403, 204, 403, 204]),
        row(
            Method::POST,
            "/image/v2/images/{id}/import",
            Json(r#"{"method": {"name": "glance-direct"}}"#),
            Staged,
            "modify_image",
            [404, 403, 202, 403, 202],
        ),
        row(Method::GET, "/image/v2/images/{id}/tasks", Empty, Active, "get_image", [404, 200, 200, 200, 200]),
        // Tasks: get_task(s) is open, tasks_api_access is admin only.
        row(Method::GET, "/image/v2/tasks", Empty, None, "get_tasks + tasks_api_access", [403, 403, 403, 403, 200]),
        row(Method::GET, "/image/v2/tasks/{id}", Empty, Task, "get_task + tasks_api_access", [403, 403, 403, 403, 200]),
        // Tags (Glance checks modify_image).
        row(Method::PUT, "/image/v2/images/{id}/tags/t1", Empty, Queued, "modify_image", [404, 403, 204, 403, 204]),
        row(Method::DELETE, "/image/v2/images/{id}/tags/t1", Empty, Queued, "modify_image", [404, 403, 204, 403, 204]),
        // Actions.
        row(
            Method::POST,
            "/image/v2/images/{id}/actions/deactivate",
            Empty,
            Active,
            "deactivate",
            [404, 403, 204, 403, 204],
        ),
        row(
            Method::POST,
            "/image/v2/images/{id}/actions/reactivate",
            Empty,
            Deactivated,
            "reactivate",
            [404, 403, 204, 403, 204],
        ),
        // Members.
        row(Method::GET, "/image/v2/images/{id}/members", Empty, Queued, "get_members", [404, 200, 200, 200, 200]),
        row(
            Method::POST,
            "/image/v2/images/{id}/members",
            Json(r#"{"member": "pc"}"#),
            Queued,
            "add_member",
            [404, 403, 200, 403, 200],
        ),
        row(Method::GET, "/image/v2/images/{id}/members/pb", Empty, Queued, "get_member", [404, 200, 200, 200, 200]),
        row(
            Method::PUT,
            "/image/v2/images/{id}/members/pb",
            Json(r#"{"status": "accepted"}"#),
            Queued,
            "get_member + modify_member",
            [404, 403, 403, 200, 200],
        ),
        row(
            Method::DELETE,
            "/image/v2/images/{id}/members/pb",
            Empty,
            Queued,
            "get_member + delete_member",
            [404, 403, 204, 403, 204],
        ),
    ]
}

/// A fresh shared image of project `pa` (tag `t1`, shared with `pb`), or
/// a fresh metadef namespace.
async fn fixture(env: &Env, kind: Fixture) -> String {
    if matches!(kind, Fixture::Namespace | Fixture::EmptyNamespace) {
        let name = format!("walk-{}", NAMESPACES.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let mut body = json!({"namespace": name, "visibility": "public", "owner": "pa"});
        if kind == Fixture::Namespace {
            body["objects"] = json!([{"name": "o1"}]);
            body["properties"] = json!({"p1": {"title": "P1", "type": "string"}});
            body["tags"] = json!([{"name": "t1"}]);
            body["resource_type_associations"] = json!([{"name": "OS::Glance::Image"}]);
        }
        let (s, v) = env.post("/image/v2/metadefs/namespaces", &env.admin, body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        return name;
    }
    let img = env
        .create(
            &env.alice,
            json!({"name": "probe", "disk_format": "raw", "container_format": "bare", "visibility": "shared", "tags": ["t1"]}),
        )
        .await;
    let id = img["id"].as_str().unwrap().to_string();
    let (s, v) = env.post(&format!("/image/v2/images/{id}/members"), &env.alice, json!({"member": "pb"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    if matches!(kind, Fixture::Active | Fixture::Deactivated) {
        assert_eq!(env.upload(&id, &env.alice, b"image data").await.status, StatusCode::NO_CONTENT);
    }
    if matches!(kind, Fixture::Staged | Fixture::Task) {
        let r = env
            .raw(
                Method::PUT,
                &format!("/image/v2/images/{id}/stage"),
                Some(&env.alice),
                &[("content-type", "application/octet-stream")],
                b"staged".to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    if kind == Fixture::Task {
        let r = env
            .raw(
                Method::POST,
                &format!("/image/v2/images/{id}/import"),
                Some(&env.alice),
                &[("content-type", "application/json")],
                br#"{"method": {"name": "glance-direct"}}"#.to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        let (s, v) = env.get(&format!("/image/v2/images/{id}/tasks"), &env.alice).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        return v["tasks"][0]["id"].as_str().unwrap().to_string();
    }
    if kind == Fixture::Deactivated {
        let r = env
            .raw(Method::POST, &format!("/image/v2/images/{id}/actions/deactivate"), Some(&env.alice), &[], vec![])
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    id
}

async fn send(env: &Env, r: &Row, path: &str, who: &Who) -> common::Response {
    let (headers, body): (Vec<(&str, &str)>, Vec<u8>) = match r.payload {
        Payload::Empty => (vec![], vec![]),
        Payload::Json(b) => (vec![("content-type", "application/json")], b.as_bytes().to_vec()),
        Payload::Patch(b) => (vec![("content-type", common::PATCH)], b.as_bytes().to_vec()),
        Payload::Octets => (vec![("content-type", "application/octet-stream")], b"new data".to_vec()),
    };
    env.raw(r.method.clone(), path, Some(who), &headers, body).await
}

async fn every_route_follows_glance_defaults(backend: Backend) {
    let env = Env::new(backend).await;
    let nobody = Who { token: "nobody:pa".into(), roles: Some(String::new()) };
    let personas = [&nobody, &env.rita, &env.alice, &env.bob, &env.admin];
    let mut failures = Vec::new();
    let mut refused_without_roles = 0;
    for r in table() {
        for (i, who) in personas.iter().enumerate() {
            let path = if r.fixture == Fixture::None {
                r.path.to_string()
            } else {
                r.path.replace("{id}", &fixture(&env, r.fixture).await)
            };
            let resp = send(&env, &r, &path, who).await;
            if resp.status.as_u16() != r.want[i] {
                failures.push(format!(
                    "{} {} [{}] as {}: want {}, got {} {}",
                    r.method,
                    r.path,
                    r.rule,
                    PERSONAS[i],
                    r.want[i],
                    resp.status,
                    String::from_utf8_lossy(&resp.bytes)
                ));
            }
            if i == 0 && matches!(resp.status.as_u16(), 403 | 404) {
                refused_without_roles += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{} cells differ from Glance's defaults:\n{}", failures.len(), failures.join("\n"));
    // Every route but discovery and the schemas needs a role.
    assert_eq!(refused_without_roles, table().iter().filter(|r| r.rule != "(none)").count());

    // Every registered rule is exercised by some row.
    let rows = table();
    for rule in berth_image::policy_defaults() {
        // Rules other rules name, not routes.
        if ["context_is_admin", "default", "metadef_default", "metadef_admin"].contains(&rule.name) {
            continue;
        }
        assert!(
            rows.iter().any(|r| r.rule.split(" + ").any(|n| n == rule.name)),
            "rule {} is checked by no row of the table",
            rule.name
        );
    }

    // The walk covers the route table: every route of `route_specs()` has a
    // row, and each row's rules include the rule the route table names
    // (the rule the handler checks); public and token-only routes are the
    // rows without a rule.
    let specs = berth_image::route_specs();
    let template = |path: &str| -> Vec<String> {
        path.trim_end_matches('/').split('/').skip(1).map(str::to_string).collect::<Vec<_>>()
    };
    let concrete = |spec_path: &str| -> String {
        // The API's `/` is its mount point itself.
        let p = if spec_path == "/" { "" } else { spec_path };
        format!(
            "/image{}",
            p.replace("{tag}", "t1")
                .replace("{member}", "pb")
                .replace("{namespace}", "{id}")
                .replace("{object}", "o1")
                .replace("{property}", "p1")
                .replace("{resource_type}", "OS::Glance::Image")
                .replace("{name}", "namespace")
        )
    };
    for spec in &specs {
        let want = concrete(spec.path);
        let covering: Vec<&Row> =
            rows.iter().filter(|r| r.method == spec.method && template(r.path) == template(&want)).collect();
        assert!(!covering.is_empty(), "route {} {} has no row in the walk", spec.method, spec.path);
        for r in covering {
            match spec.access {
                Access::Rule(rule) => assert!(
                    r.rule.split(" + ").any(|n| n == rule),
                    "{} {}: the route table names {rule}, the walk expects {}",
                    spec.method,
                    spec.path,
                    r.rule
                ),
                Access::Public | Access::Authenticated => {
                    assert_eq!(r.rule, "(none)", "{} {}: the route table names no rule", spec.method, spec.path)
                }
                Access::AnyOf(_) => panic!("{} {}: the image API picks no rule by body", spec.method, spec.path),
            }
        }
    }

    // Without a token: every route but the public ones answers 401 (before
    // routing, whatever the path names); the public ones answer.
    let id = fixture(&env, Fixture::Active).await;
    for spec in &specs {
        let p = concrete(spec.path).replace("{id}", &id);
        let resp = env.raw(spec.method.clone(), &p, None, &[], vec![]).await;
        if spec.access == Access::Public {
            assert!(resp.status.as_u16() < 400, "{} {p}: public route answers {}", spec.method, resp.status);
        } else {
            assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{} {p} without a token", spec.method);
        }
    }

    // The table is complete: any other method on its paths answers 405
    // with `Allow` naming the methods it has.
    let mut paths: Vec<&str> = specs.iter().map(|s| s.path).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let listed: Vec<&Method> = specs.iter().filter(|s| s.path == path).map(|s| &s.method).collect();
        let p = concrete(path).replace("{id}", &id);
        for m in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            if listed.contains(&&m) {
                continue;
            }
            let resp = env.raw(m.clone(), &p, Some(&env.admin), &[], vec![]).await;
            assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {path} is not in the table but answers");
            let allow = resp.header("allow").unwrap_or_else(|| panic!("{m} {path}: 405 without Allow"));
            for l in &listed {
                assert!(allow.contains(l.as_str()), "{m} {path}: Allow {allow:?} lacks {l}");
            }
        }
    }
}
both_engines!(every_route_follows_glance_defaults);
