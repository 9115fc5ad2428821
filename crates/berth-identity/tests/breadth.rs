//! Keystone breadth over HTTP on SQLite and PostgreSQL: groups and
//! membership, roles through groups and inheritance (tokens and effective
//! role assignments), the catalog as data, application credentials (and
//! authenticating with them), credentials, project tags and extra
//! attributes.

mod common;

use axum::http::{Method, StatusCode};
use berth_testkit::{both_engines, TestDb};
use common::{Env, ADMIN_PW, HOST};
use serde_json::{json, Value};

fn id_of(v: &Value, key: &str) -> String {
    v[key]["id"].as_str().unwrap_or_else(|| panic!("{key} in {v}")).to_string()
}

fn names(v: &Value, key: &str, field: &str) -> Vec<String> {
    let mut out: Vec<String> =
        v[key].as_array().unwrap().iter().map(|x| x[field].as_str().unwrap_or_default().to_string()).collect();
    out.sort();
    out
}

async fn new_user(env: &Env, admin: &str, name: &str) -> String {
    let (s, v) = env
        .post("/identity/v3/users", admin, json!({"user": {"name": name, "password": "pw-1", "domain_id": "default"}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    id_of(&v, "user")
}

async fn new_project(env: &Env, admin: &str, name: &str, parent: Option<&str>) -> String {
    let mut p = json!({"name": name, "domain_id": "default"});
    if let Some(parent) = parent {
        p["parent_id"] = json!(parent);
    }
    let (s, v) = env.post("/identity/v3/projects", admin, json!({ "project": p })).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    id_of(&v, "project")
}

async fn new_group(env: &Env, admin: &str, name: &str) -> String {
    let (s, v) = env.post("/identity/v3/groups", admin, json!({"group": {"name": name}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    id_of(&v, "group")
}

/// A password token of `user` (password `pw-1`) with `scope`: status, token, body.
async fn token(env: &Env, user: &str, scope: Value) -> (StatusCode, Option<String>, Value) {
    env.auth(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": "pw-1"}}}, "scope": scope}}))
        .await
}

fn role_names(token_body: &Value) -> Vec<String> {
    names(&token_body["token"], "roles", "name")
}

// ---------------------------------------------------------------- groups

async fn groups_and_membership(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (s, v) = env
        .post(
            "/identity/v3/groups",
            &admin,
            json!({"group": {"name": "ops", "description": "operators", "team": {"floor": 3}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let gid = id_of(&v, "group");
    assert_eq!(v["group"]["domain_id"], "default");
    assert_eq!(v["group"]["team"], json!({"floor": 3}), "extra attributes are kept: {v}");
    assert_eq!(v["group"]["links"]["self"], format!("http://{HOST}/identity/v3/groups/{gid}"));
    let (s, _) = env.post("/identity/v3/groups", &admin, json!({"group": {"name": "ops"}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = env.post("/identity/v3/groups", &admin, json!({"group": {"name": "x", "domain_id": "nope"}})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = env.post("/identity/v3/groups", &admin, json!({"group": {"description": "no name"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    new_group(&env, &admin, "devs").await;
    let (_, v) = env.get("/identity/v3/groups", &admin).await;
    assert_eq!(names(&v, "groups", "name"), vec!["devs", "ops"]);
    let (_, v) = env.get("/identity/v3/groups?name=ops", &admin).await;
    assert_eq!(names(&v, "groups", "name"), vec!["ops"]);
    let (_, v) = env.get("/identity/v3/groups?domain_id=elsewhere", &admin).await;
    assert!(v["groups"].as_array().unwrap().is_empty(), "{v}");
    let (s, v) = env.patch(&format!("/identity/v3/groups/{gid}"), &admin, json!({"group": {"name": "ops2"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["group"]["name"].as_str(), &v["group"]["team"]), (Some("ops2"), &json!({"floor": 3})));
    let (s, v) = env.get(&format!("/identity/v3/groups/{gid}"), &admin).await;
    assert_eq!((s, v["group"]["description"].as_str()), (StatusCode::OK, Some("operators")));

    let uid = new_user(&env, &admin, "gina").await;
    let member = format!("/identity/v3/groups/{gid}/users/{uid}");
    assert_eq!(env.head(&member, &admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.put(&member, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.put(&member, &admin).await, StatusCode::NO_CONTENT, "adding twice is fine");
    assert_eq!(env.head(&member, &admin).await, StatusCode::NO_CONTENT);
    let (_, v) = env.get(&format!("/identity/v3/groups/{gid}/users"), &admin).await;
    assert_eq!(names(&v, "users", "name"), vec!["gina"]);
    let (_, v) = env.get(&format!("/identity/v3/users/{uid}/groups"), &admin).await;
    assert_eq!(names(&v, "groups", "name"), vec!["ops2"]);
    // The user sees its own groups.
    let (s, _, _) = token(&env, "gina", Value::Null).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(env.put(&format!("/identity/v3/groups/{gid}/users/nope"), &admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.put(&format!("/identity/v3/groups/nope/users/{uid}"), &admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.delete(&member, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&member, &admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.put(&member, &admin).await, StatusCode::NO_CONTENT);
    // Deleting the user ends its memberships; deleting the group ends the group.
    assert_eq!(env.delete(&format!("/identity/v3/users/{uid}"), &admin).await, StatusCode::NO_CONTENT);
    let (_, v) = env.get(&format!("/identity/v3/groups/{gid}/users"), &admin).await;
    assert!(v["users"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(env.delete(&format!("/identity/v3/groups/{gid}"), &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&format!("/identity/v3/groups/{gid}"), &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.delete(&format!("/identity/v3/groups/{gid}"), &admin).await, StatusCode::NOT_FOUND);
}
both_engines!(groups_and_membership);

async fn roles_through_groups(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let pid = new_project(&env, &admin, "shared", None).await;
    let uid = new_user(&env, &admin, "gus").await;
    let gid = new_group(&env, &admin, "team").await;
    let member = env.role_id(&admin, "member").await;
    let reader = env.role_id(&admin, "reader").await;
    let scope = json!({"project": {"id": pid}});
    let (s, _, _) = token(&env, "gus", scope.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no role yet");
    let grant = format!("/identity/v3/projects/{pid}/groups/{gid}/roles/{member}");
    assert_eq!(env.head(&grant, &admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.put(&grant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.head(&grant, &admin).await, StatusCode::NO_CONTENT);
    let (_, v) = env.get(&format!("/identity/v3/projects/{pid}/groups/{gid}/roles"), &admin).await;
    assert_eq!(names(&v, "roles", "name"), vec!["member"]);
    let (s, _, _) = token(&env, "gus", scope.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "not a member of the group yet");
    assert_eq!(env.put(&format!("/identity/v3/groups/{gid}/users/{uid}"), &admin).await, StatusCode::NO_CONTENT);
    let (s, tok, v) = token(&env, "gus", scope.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(role_names(&v), vec!["member", "reader"]);
    let tok = tok.unwrap();
    let (_, v) = env.get("/identity/v3/auth/projects", &tok).await;
    assert_eq!(names(&v, "projects", "name"), vec!["shared"]);
    let (_, v) = env.get(&format!("/identity/v3/users/{uid}/projects"), &admin).await;
    assert_eq!(names(&v, "projects", "name"), vec!["shared"]);

    // Direct listing shows the group's assignment; effective expands it to
    // its members, with the membership and the implied role.
    let (_, v) = env.get(&format!("/identity/v3/role_assignments?group.id={gid}"), &admin).await;
    let list = v["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["group"]["id"], gid.as_str());
    assert_eq!(
        list[0]["links"]["assignment"],
        format!("http://{HOST}/identity/v3/projects/{pid}/groups/{gid}/roles/{member}")
    );
    let (_, v) = env.get(&format!("/identity/v3/role_assignments?user.id={uid}"), &admin).await;
    assert!(v["role_assignments"].as_array().unwrap().is_empty(), "no direct assignment: {v}");
    let (_, v) = env
        .get(
            &format!("/identity/v3/role_assignments?user.id={uid}&effective&include_names&scope.project.id={pid}"),
            &admin,
        )
        .await;
    let list = v["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    for a in list {
        assert_eq!(a["user"]["id"], uid.as_str());
        assert_eq!(a["user"]["name"], "gus");
        assert_eq!(a["scope"]["project"]["name"], "shared");
        assert_eq!(a["links"]["membership"], format!("http://{HOST}/identity/v3/groups/{gid}/users/{uid}"));
        assert_eq!(
            a["links"]["assignment"],
            format!("http://{HOST}/identity/v3/projects/{pid}/groups/{gid}/roles/{member}")
        );
    }
    let implied = list.iter().find(|a| a["role"]["id"] == reader.as_str()).expect("implied reader");
    assert_eq!(implied["links"]["prior_role"], format!("http://{HOST}/identity/v3/roles/{member}"));
    let (s, v) = env.get(&format!("/identity/v3/role_assignments?group.id={gid}&effective"), &admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // The user lists its own effective assignments.
    let (s, v) = env.get(&format!("/identity/v3/role_assignments?user.id={uid}&effective"), &tok).await;
    assert_eq!((s, v["role_assignments"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{v}");

    // Group grants on domains and the system.
    let dgrant = format!("/identity/v3/domains/default/groups/{gid}/roles/{reader}");
    assert_eq!(env.put(&dgrant, &admin).await, StatusCode::NO_CONTENT);
    let (s, _, v) = token(&env, "gus", json!({"domain": {"id": "default"}})).await;
    assert_eq!((s, role_names(&v)), (StatusCode::CREATED, vec!["reader".to_string()]));
    let sgrant = format!("/identity/v3/system/groups/{gid}/roles/{reader}");
    assert_eq!(env.put(&sgrant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&sgrant, &admin).await.0, StatusCode::NO_CONTENT);
    let (_, v) = env.get(&format!("/identity/v3/system/groups/{gid}/roles"), &admin).await;
    assert_eq!(names(&v, "roles", "name"), vec!["reader"]);
    let (s, _, _) = token(&env, "gus", json!({"system": {"all": true}})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(env.delete(&sgrant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&dgrant, &admin).await, StatusCode::NO_CONTENT);
    let (s, _, _) = token(&env, "gus", json!({"system": {"all": true}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Leaving the group ends the roles at once, tokens included.
    assert_eq!(env.delete(&format!("/identity/v3/groups/{gid}/users/{uid}"), &admin).await, StatusCode::NO_CONTENT);
    let (s, _, _) =
        env.req(Method::GET, "/identity/v3/auth/tokens", Some(&admin), &[("x-subject-token", &tok)], None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a token whose roles came through the group is no longer valid");
    let (s, _, _) = token(&env, "gus", scope).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&grant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&grant, &admin).await, StatusCode::NOT_FOUND);
}
both_engines!(roles_through_groups);

async fn inherited_assignments(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let parent = new_project(&env, &admin, "parent", None).await;
    let child = new_project(&env, &admin, "child", Some(&parent)).await;
    let grandchild = new_project(&env, &admin, "grandchild", Some(&child)).await;
    let uid = new_user(&env, &admin, "ivy").await;
    let member = env.role_id(&admin, "member").await;
    let reader = env.role_id(&admin, "reader").await;

    // Inherited from a project: the projects below it, not the project.
    let pgrant = format!("/identity/v3/OS-INHERIT/projects/{parent}/users/{uid}/roles/{member}/inherited_to_projects");
    assert_eq!(env.put(&pgrant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.head(&pgrant, &admin).await, StatusCode::NO_CONTENT);
    let (s, _, _) = token(&env, "ivy", json!({"project": {"id": parent}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an inherited role is not on the project itself");
    for p in [&child, &grandchild] {
        let (s, _, v) = token(&env, "ivy", json!({"project": {"id": p}})).await;
        assert_eq!((s, role_names(&v)), (StatusCode::CREATED, vec!["member".to_string(), "reader".to_string()]));
    }
    let (_, v) = env.get(&format!("/identity/v3/role_assignments?user.id={uid}"), &admin).await;
    let list = v["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["scope"]["project"]["id"], parent.as_str());
    assert_eq!(list[0]["scope"]["OS-INHERIT:inherited_to"], "projects");
    assert_eq!(
        list[0]["links"]["assignment"],
        format!(
            "http://{HOST}/identity/v3/OS-INHERIT/projects/{parent}/users/{uid}/roles/{member}/inherited_to_projects"
        )
    );
    let (_, v) = env.get(&format!("/identity/v3/role_assignments?user.id={uid}&effective"), &admin).await;
    let mut got: Vec<(String, String)> = v["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (a["scope"]["project"]["id"].as_str().unwrap().to_string(), a["role"]["id"].as_str().unwrap().to_string())
        })
        .collect();
    got.sort();
    let mut want = vec![
        (child.clone(), member.clone()),
        (child.clone(), reader.clone()),
        (grandchild.clone(), member.clone()),
        (grandchild.clone(), reader.clone()),
    ];
    want.sort();
    assert_eq!(got, want, "{v}");
    assert!(v["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["scope"].get("OS-INHERIT:inherited_to").is_none()));
    let (_, v) = env
        .get(&format!("/identity/v3/role_assignments?scope.project.id={child}&include_subtree=true&effective"), &admin)
        .await;
    assert_eq!(v["role_assignments"].as_array().unwrap().len(), 4, "child and grandchild: {v}");
    let (s, _) = env.get("/identity/v3/role_assignments?include_subtree=true", &admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(env.delete(&pgrant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.head(&pgrant, &admin).await, StatusCode::NOT_FOUND);

    // Inherited from a domain, for a group: every project of the domain,
    // not the domain.
    let gid = new_group(&env, &admin, "domain-readers").await;
    assert_eq!(env.put(&format!("/identity/v3/groups/{gid}/users/{uid}"), &admin).await, StatusCode::NO_CONTENT);
    let dgrant = format!("/identity/v3/OS-INHERIT/domains/default/groups/{gid}/roles/{reader}/inherited_to_projects");
    assert_eq!(env.put(&dgrant, &admin).await, StatusCode::NO_CONTENT);
    let (_, v) = env
        .get(&format!("/identity/v3/OS-INHERIT/domains/default/groups/{gid}/roles/inherited_to_projects"), &admin)
        .await;
    assert_eq!(names(&v, "roles", "name"), vec!["reader"]);
    for p in [&parent, &child, &env.boot.admin_project_id] {
        let (s, _, v) = token(&env, "ivy", json!({"project": {"id": p}})).await;
        assert_eq!((s, role_names(&v)), (StatusCode::CREATED, vec!["reader".to_string()]), "{p}");
    }
    let (s, _, _) = token(&env, "ivy", json!({"domain": {"id": "default"}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an inherited role is not on the domain itself");
    let (_, v) = env.get("/identity/v3/role_assignments?scope.OS-INHERIT:inherited_to=projects", &admin).await;
    let list = v["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["group"]["id"], gid.as_str());
    assert_eq!(list[0]["scope"]["domain"]["id"], "default");
    let (_, v) = env
        .get(&format!("/identity/v3/role_assignments?user.id={uid}&effective&scope.project.id={child}"), &admin)
        .await;
    let list = v["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["links"]["assignment"], format!("http://{HOST}{dgrant}"));
    assert_eq!(list[0]["links"]["membership"], format!("http://{HOST}/identity/v3/groups/{gid}/users/{uid}"));
    // User inherited grants on a domain, listed.
    let ugrant = format!("/identity/v3/OS-INHERIT/domains/default/users/{uid}/roles/{member}/inherited_to_projects");
    assert_eq!(env.put(&ugrant, &admin).await, StatusCode::NO_CONTENT);
    let (_, v) = env
        .get(&format!("/identity/v3/OS-INHERIT/domains/default/users/{uid}/roles/inherited_to_projects"), &admin)
        .await;
    assert_eq!(names(&v, "roles", "name"), vec!["member"]);
    assert_eq!(env.delete(&ugrant, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&dgrant, &admin).await, StatusCode::NO_CONTENT);
    let (s, _, _) = token(&env, "ivy", json!({"project": {"id": child}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Unknown things: 404.
    let bad = format!("/identity/v3/OS-INHERIT/domains/nope/users/{uid}/roles/{member}/inherited_to_projects");
    assert_eq!(env.put(&bad, &admin).await, StatusCode::NOT_FOUND);
    let bad = format!("/identity/v3/OS-INHERIT/projects/{child}/groups/nope/roles/{member}/inherited_to_projects");
    assert_eq!(env.put(&bad, &admin).await, StatusCode::NOT_FOUND);
}
both_engines!(inherited_assignments);

// ---------------------------------------------------------------- catalog

async fn catalog_as_data(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (_, v) = env.get("/identity/v3/services", &admin).await;
    let seeded = names(&v, "services", "type");
    assert_eq!(seeded, vec!["compute", "identity", "image", "placement"]);
    let (_, v) = env.get("/identity/v3/endpoints?interface=public", &admin).await;
    assert_eq!(v["endpoints"].as_array().unwrap().len(), 4, "{v}");
    assert!(
        v["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["url"].as_str().unwrap().starts_with(&format!("http://{HOST}/"))),
        "{v}"
    );

    // Regions.
    let (s, v) = env.post("/identity/v3/regions", &admin, json!({"region": {"id": "East", "description": "e"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["region"]["parent_region_id"], Value::Null);
    let (s, _) = env.post("/identity/v3/regions", &admin, json!({"region": {"id": "East"}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) =
        env.post("/identity/v3/regions", &admin, json!({"region": {"id": "Sub", "parent_region_id": "nope"}})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) =
        env.post("/identity/v3/regions", &admin, json!({"region": {"id": "Sub", "parent_region_id": "East"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = env.patch("/identity/v3/regions/East", &admin, json!({"region": {"parent_region_id": "Sub"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a cycle is refused");
    let (_, v) = env.get("/identity/v3/regions?parent_region_id=East", &admin).await;
    assert_eq!(names(&v, "regions", "id"), vec!["Sub"]);
    let (s, _, v) =
        env.req(Method::PUT, "/identity/v3/regions/West", Some(&admin), &[], Some(r#"{"region": {}}"#)).await;
    assert_eq!((s, v["region"]["id"].as_str()), (StatusCode::CREATED, Some("West")), "{v}");
    let (s, _, _) =
        env.req(Method::PUT, "/identity/v3/regions/West", Some(&admin), &[], Some(r#"{"region": {}}"#)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _, _) = env
        .req(Method::PUT, "/identity/v3/regions/North", Some(&admin), &[], Some(r#"{"region": {"id": "South"}}"#))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(env.delete("/identity/v3/regions/West", &admin).await, StatusCode::NO_CONTENT);
    let (s, v) = env.post("/identity/v3/regions", &admin, json!({"region": {}})).await;
    assert_eq!(s, StatusCode::CREATED, "an id is generated: {v}");
    assert_eq!(
        env.delete(&format!("/identity/v3/regions/{}", id_of(&v, "region")), &admin).await,
        StatusCode::NO_CONTENT
    );

    // Services.
    let (s, _) = env.post("/identity/v3/services", &admin, json!({"service": {"name": "no type"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = env
        .post(
            "/identity/v3/services",
            &admin,
            json!({"service": {"type": "volumev3", "name": "cinder", "owner": "ops"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sid = id_of(&v, "service");
    assert_eq!((v["service"]["enabled"].as_bool(), v["service"]["owner"].as_str()), (Some(true), Some("ops")));
    let (_, v) = env.get("/identity/v3/services?type=volumev3", &admin).await;
    assert_eq!(names(&v, "services", "name"), vec!["cinder"]);

    // Endpoints: validated, then in every token's catalog.
    for (body, why) in [
        (json!({"service_id": sid, "interface": "sideways", "url": "http://c/v3"}), "bad interface"),
        (json!({"service_id": sid, "interface": "public", "url": "not a url"}), "bad url"),
        (json!({"service_id": "nope", "interface": "public", "url": "http://c/v3"}), "unknown service"),
        (
            json!({"service_id": sid, "interface": "public", "url": "http://c/v3", "region_id": "nope"}),
            "unknown region",
        ),
        (json!({"interface": "public", "url": "http://c/v3"}), "no service"),
    ] {
        let (s, v) = env.post("/identity/v3/endpoints", &admin, json!({ "endpoint": body })).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{why}: {v}");
    }
    let (s, v) = env
        .post(
            "/identity/v3/endpoints",
            &admin,
            json!({"endpoint": {"service_id": sid, "interface": "public", "url": "http://cinder:8776/v3/%(project_id)s", "region": "East"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let eid = id_of(&v, "endpoint");
    assert_eq!((v["endpoint"]["region_id"].as_str(), v["endpoint"]["region"].as_str()), (Some("East"), Some("East")));
    assert_eq!(v["endpoint"]["url"], "http://cinder:8776/v3/%(project_id)s");
    let (s, _, v) = env.password_token("admin", ADMIN_PW, Some("admin")).await;
    assert_eq!(s, StatusCode::CREATED);
    let cinder = v["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "volumev3")
        .cloned()
        .expect("volumev3 in the catalog");
    assert_eq!(cinder["name"], "cinder");
    assert_eq!(cinder["endpoints"][0]["url"], format!("http://cinder:8776/v3/{}", env.boot.admin_project_id));
    assert_eq!(cinder["endpoints"][0]["region_id"], "East");
    let (_, v) = env.get("/identity/v3/auth/catalog", &admin).await;
    assert!(v["catalog"].as_array().unwrap().iter().any(|s| s["type"] == "volumev3"), "{v}");
    // A system token has no project: the endpoint needing one is left out.
    let (_, _, v) = env
        .auth(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PW}}}, "scope": {"system": {"all": true}}}}))
        .await;
    let cinder = v["token"]["catalog"].as_array().unwrap().iter().find(|s| s["type"] == "volumev3").cloned().unwrap();
    assert!(cinder["endpoints"].as_array().unwrap().is_empty(), "{cinder}");
    // Disabled endpoints and services leave the catalog.
    let (s, v) =
        env.patch(&format!("/identity/v3/endpoints/{eid}"), &admin, json!({"endpoint": {"enabled": false}})).await;
    assert_eq!((s, v["endpoint"]["enabled"].as_bool()), (StatusCode::OK, Some(false)), "{v}");
    let (_, v) = env.get("/identity/v3/auth/catalog", &admin).await;
    let cinder = v["catalog"].as_array().unwrap().iter().find(|s| s["type"] == "volumev3").cloned().unwrap();
    assert!(cinder["endpoints"].as_array().unwrap().is_empty(), "{cinder}");
    let (s, _) =
        env.patch(&format!("/identity/v3/services/{sid}"), &admin, json!({"service": {"enabled": false}})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = env.get("/identity/v3/auth/catalog", &admin).await;
    assert!(!v["catalog"].as_array().unwrap().iter().any(|s| s["type"] == "volumev3"), "{v}");
    // A region with endpoints (below it too) is not deleted; a service takes its endpoints along.
    let (s, _) =
        env.patch(&format!("/identity/v3/endpoints/{eid}"), &admin, json!({"endpoint": {"region_id": "Sub"}})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(env.delete("/identity/v3/regions/East", &admin).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("/identity/v3/services/{sid}"), &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&format!("/identity/v3/endpoints/{eid}"), &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.delete(&format!("/identity/v3/endpoints/{eid}"), &admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.delete("/identity/v3/regions/East", &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.get("/identity/v3/regions/Sub", &admin).await.0, StatusCode::NOT_FOUND, "children go along");

    // berth's own entries are seeded once: deleted, they stay deleted.
    let (_, v) = env.get("/identity/v3/services?type=image", &admin).await;
    let image = v["services"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(env.delete(&format!("/identity/v3/services/{image}"), &admin).await, StatusCode::NO_CONTENT);
    berth_identity::bootstrap(&env.identity, ADMIN_PW).await.expect("bootstrap again");
    let (_, v) = env.get("/identity/v3/services", &admin).await;
    assert_eq!(names(&v, "services", "type"), vec!["compute", "identity", "placement"]);
}
both_engines!(catalog_as_data);

// ---------------------------------------------------------------- application credentials

fn app_cred_auth(cred: Value) -> Value {
    json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": cred}}})
}

async fn application_credentials(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (pid, uid) = env.user_with_role(&admin, "ada", "pw-1", "apps", "member").await;
    let (s, tok, _) = token(&env, "ada", json!({"project": {"id": pid}})).await;
    assert_eq!(s, StatusCode::CREATED);
    let tok = tok.unwrap();
    let base = format!("/identity/v3/users/{uid}/application_credentials");

    // Created with a generated secret, returned once; the caller's roles by default.
    let (s, v) = env
        .post(&base, &tok, json!({"application_credential": {"name": "ci", "description": "for CI", "roles": []}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ac = &v["application_credential"];
    let acid = ac["id"].as_str().unwrap().to_string();
    let secret = ac["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 86);
    assert_eq!((ac["project_id"].as_str(), ac["unrestricted"].as_bool()), (Some(pid.as_str()), Some(false)));
    assert_eq!(names(ac, "roles", "name"), vec!["member", "reader"]);
    assert_eq!(ac["expires_at"], Value::Null);
    let (s, _) = env.post(&base, &tok, json!({"application_credential": {"name": "ci"}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, v) = env.get(&base, &tok).await;
    let list = v["application_credentials"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].get("secret").is_none(), "the secret is shown only once");
    let (s, v) = env.get(&format!("{base}/{acid}"), &tok).await;
    assert_eq!((s, v["application_credential"]["name"].as_str()), (StatusCode::OK, Some("ci")));
    assert!(v["application_credential"].get("secret").is_none());
    let (_, v) = env.get(&format!("{base}?name=nope"), &tok).await;
    assert!(v["application_credentials"].as_array().unwrap().is_empty());

    // Authenticates by id, and by name and user.
    let (s, ac_tok, v) = env.auth(app_cred_auth(json!({"id": acid, "secret": secret}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let t = &v["token"];
    assert_eq!(t["methods"], json!(["application_credential"]));
    assert_eq!(t["project"]["id"], pid.as_str());
    assert_eq!(t["user"]["id"], uid.as_str());
    assert_eq!(t["application_credential"], json!({"id": acid, "name": "ci", "restricted": true}));
    assert_eq!(role_names(&v), vec!["member", "reader"]);
    assert!(t["catalog"].is_array());
    let ac_tok = ac_tok.unwrap();
    let vt = env.identity.validate_token(&ac_tok).await.expect("valid for the other APIs");
    assert_eq!(vt.project_id.as_deref(), Some(pid.as_str()));
    let (s, _, _) = env
        .auth(app_cred_auth(
            json!({"name": "ci", "user": {"name": "ada", "domain": {"name": "Default"}}, "secret": secret}),
        ))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = env.auth(app_cred_auth(json!({"name": "ci", "user": {"id": uid}, "secret": secret}))).await;
    assert_eq!(s, StatusCode::CREATED);
    // Refused: wrong secret, unknown id, a scope, other methods alongside, no secret.
    for (body, want) in [
        (app_cred_auth(json!({"id": acid, "secret": "wrong"})), StatusCode::UNAUTHORIZED),
        (app_cred_auth(json!({"id": "nope", "secret": secret})), StatusCode::UNAUTHORIZED),
        (app_cred_auth(json!({"name": "ci", "user": {"id": "nope"}, "secret": secret})), StatusCode::UNAUTHORIZED),
        (app_cred_auth(json!({"id": acid})), StatusCode::BAD_REQUEST),
        (app_cred_auth(json!({"name": "ci", "secret": secret})), StatusCode::BAD_REQUEST),
        (app_cred_auth(json!({"id": acid, "secret": 7})), StatusCode::BAD_REQUEST),
        (
            json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": acid, "secret": secret}},
                "scope": {"project": {"id": env.boot.admin_project_id}}}}),
            StatusCode::UNAUTHORIZED,
        ),
        (json!({"auth": {"identity": {"methods": ["application_credential"]}}}), StatusCode::BAD_REQUEST),
    ] {
        let (s, _, v) = env.auth(body.clone()).await;
        assert_eq!(s, want, "{body}: {v}");
    }
    // Its token does not make other tokens (they would shed its limits).
    let (s, _, v) = env
        .auth(json!({"auth": {"identity": {"methods": ["token"], "token": {"id": ac_tok}},
            "scope": {"project": {"id": pid}}}}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // A restricted credential's token does not manage credentials.
    let (s, v) = env.post(&base, &ac_tok, json!({"application_credential": {"name": "more"}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(env.delete(&format!("{base}/{acid}"), &ac_tok).await, StatusCode::FORBIDDEN);

    // A subset of roles; a role the user lacks is refused.
    let reader = env.role_id(&admin, "reader").await;
    let admin_role = env.role_id(&admin, "admin").await;
    let (s, v) = env
        .post(
            &base,
            &tok,
            json!({"application_credential": {"name": "ro", "roles": [{"name": "reader"}], "secret": "my-own-secret"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["application_credential"]["secret"], "my-own-secret");
    let ro = id_of(&v, "application_credential");
    let (s, _, v) = env.auth(app_cred_auth(json!({"id": ro, "secret": "my-own-secret"}))).await;
    assert_eq!((s, role_names(&v)), (StatusCode::CREATED, vec!["reader".to_string()]));
    let (s, v) =
        env.post(&base, &tok, json!({"application_credential": {"name": "up", "roles": [{"id": admin_role}]}})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) =
        env.post(&base, &tok, json!({"application_credential": {"name": "up", "roles": [{"id": "nope"}]}})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // Another user's credentials are not ours to make or read.
    let (s, _) = env
        .post(
            &format!("/identity/v3/users/{}/application_credentials", env.boot.admin_user_id),
            &tok,
            json!({"application_credential": {"name": "x"}}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Expiry: in the past is refused; once passed, the credential and its tokens stop working.
    let (s, _) = env
        .post(&base, &tok, json!({"application_credential": {"name": "old", "expires_at": "2001-01-01T00:00:00Z"}}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = env
        .post(&base, &tok, json!({"application_credential": {"name": "soon", "expires_at": "2999-01-01T00:00:00Z", "unrestricted": true}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["application_credential"]["expires_at"], "2999-01-01T00:00:00.000000Z");
    let soon = id_of(&v, "application_credential");
    let soon_secret = v["application_credential"]["secret"].as_str().unwrap().to_string();
    let (s, soon_tok, v) = env.auth(app_cred_auth(json!({"id": soon, "secret": soon_secret}))).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["token"]["application_credential"]["restricted"], false);
    let soon_tok = soon_tok.unwrap();
    assert_eq!(v["token"]["expires_at"].as_str().map(|e| e < "2999"), Some(true));
    // Make it expire (the clock is not waited on): set its expiry in the past.
    let db = berth_db::Db::connect(&env.url, 1).await.expect("open the database");
    sqlx::query("UPDATE identity_app_creds SET expires_at = 1 WHERE id = $1")
        .bind(soon.clone())
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
    let (s, _, _) = env.auth(app_cred_auth(json!({"id": soon, "secret": soon_secret}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "expired");
    assert!(env.identity.validate_token(&soon_tok).await.is_none(), "its tokens end with it");

    // Deleted: no more tokens, and those issued end.
    assert_eq!(env.delete(&format!("{base}/{acid}"), &tok).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("{base}/{acid}"), &tok).await, StatusCode::NOT_FOUND);
    let (s, _, _) = env.auth(app_cred_auth(json!({"id": acid, "secret": secret}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "deleted");
    assert!(env.identity.validate_token(&ac_tok).await.is_none());

    // The user losing its role on the project ends its credentials there.
    let (s, _, _) = env.auth(app_cred_auth(json!({"id": ro, "secret": "my-own-secret"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let member = env.role_id(&admin, "member").await;
    assert_eq!(
        env.delete(&format!("/identity/v3/projects/{pid}/users/{uid}/roles/{member}"), &admin).await,
        StatusCode::NO_CONTENT
    );
    let (s, _, _) = env.auth(app_cred_auth(json!({"id": ro, "secret": "my-own-secret"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "roles lost");
    assert_eq!(env.get(&format!("{base}/{ro}"), &admin).await.0, StatusCode::NOT_FOUND);
    assert!(!reader.is_empty());
}
both_engines!(application_credentials);

async fn access_rules(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let uid = env.boot.admin_user_id.clone();
    let base = format!("/identity/v3/users/{uid}/application_credentials");
    let rule = json!({"service": "compute", "path": "/v2.1/servers", "method": "GET"});
    let (s, v) =
        env.post(&base, &admin, json!({"application_credential": {"name": "ruled", "access_rules": [rule]}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let rules = v["application_credential"]["access_rules"].as_array().unwrap().clone();
    assert_eq!(rules.len(), 1, "{v}");
    assert_eq!((rules[0]["service"].as_str(), rules[0]["method"].as_str()), (Some("compute"), Some("GET")));
    let rid = rules[0]["id"].as_str().unwrap().to_string();
    // The same rule again is the same rule; a rule by id is reused.
    let (s, v) = env
        .post(&base, &admin, json!({"application_credential": {"name": "ruled2", "access_rules": [{"id": rid}]}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, v) = env.get(&format!("/identity/v3/users/{uid}/access_rules"), &admin).await;
    assert_eq!(v["access_rules"].as_array().unwrap().len(), 1, "{v}");
    let (s, v) = env.get(&format!("/identity/v3/users/{uid}/access_rules/{rid}"), &admin).await;
    assert_eq!((s, v["access_rule"]["path"].as_str()), (StatusCode::OK, Some("/v2.1/servers")));
    for bad in [
        json!([{"service": "compute", "path": "/x", "method": "FETCH"}]),
        json!([{"service": "compute", "method": "GET"}]),
        json!("all"),
        json!([{"id": "nope"}]),
    ] {
        let (s, v) =
            env.post(&base, &admin, json!({"application_credential": {"name": "bad", "access_rules": bad}})).await;
        assert!(s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND, "{bad}: {s} {v}");
    }
    let rule_path = format!("/identity/v3/users/{uid}/access_rules/{rid}");
    assert_eq!(env.delete(&rule_path, &admin).await, StatusCode::FORBIDDEN, "in use");
    let (_, v) = env.get(&base, &admin).await;
    for a in v["application_credentials"].as_array().unwrap() {
        assert_eq!(env.delete(&format!("{base}/{}", a["id"].as_str().unwrap()), &admin).await, StatusCode::NO_CONTENT);
    }
    assert_eq!(env.delete(&rule_path, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&rule_path, &admin).await.0, StatusCode::NOT_FOUND);
}
both_engines!(access_rules);

// ---------------------------------------------------------------- credentials, tags, extras

async fn credentials(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (pid, uid) = env.user_with_role(&admin, "cara", "pw-1", "creds", "member").await;
    let (_, tok, _) = token(&env, "cara", json!({"project": {"id": pid}})).await;
    let tok = tok.unwrap();
    let blob = json!({"access": "AKIA1", "secret": "s3cr3t"}).to_string();
    let (s, v) = env
        .post(
            "/identity/v3/credentials",
            &tok,
            json!({"credential": {"user_id": uid, "project_id": pid, "type": "ec2", "blob": blob}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ec2 = id_of(&v, "credential");
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(b"AKIA1").iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!(ec2, digest, "an ec2 credential's id is the SHA-256 of its access key");
    assert_eq!(v["credential"]["blob"], blob.as_str());
    let (s, _) = env
        .post(
            "/identity/v3/credentials",
            &tok,
            json!({"credential": {"user_id": uid, "project_id": pid, "type": "ec2", "blob": blob}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "the same access key twice");
    for (body, want) in [
        (json!({"user_id": uid, "type": "ec2", "blob": blob}), StatusCode::BAD_REQUEST),
        (json!({"user_id": uid, "project_id": pid, "type": "ec2", "blob": "not json"}), StatusCode::BAD_REQUEST),
        (json!({"user_id": uid, "type": "totp"}), StatusCode::BAD_REQUEST),
        (json!({"user_id": uid, "blob": "x"}), StatusCode::BAD_REQUEST),
        (json!({"user_id": uid, "type": "totp", "blob": 5}), StatusCode::BAD_REQUEST),
        (json!({"user_id": env.boot.admin_user_id, "type": "totp", "blob": "x"}), StatusCode::FORBIDDEN),
    ] {
        let (s, v) = env.post("/identity/v3/credentials", &tok, json!({ "credential": body })).await;
        assert_eq!(s, want, "{body}: {v}");
    }
    let (s, v) = env
        .post(
            "/identity/v3/credentials",
            &tok,
            json!({"credential": {"user_id": uid, "type": "totp", "blob": "JBSWY3DPEHPK3PXP"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let totp = id_of(&v, "credential");
    let (s, v) = env
        .post(
            "/identity/v3/credentials",
            &admin,
            json!({"credential": {"user_id": env.boot.admin_user_id, "type": "cert", "blob": "PEM"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let cert = id_of(&v, "credential");
    // The owner lists its own; the admin all; filters by type and user.
    let (_, v) = env.get("/identity/v3/credentials", &tok).await;
    assert_eq!(names(&v, "credentials", "type"), vec!["ec2", "totp"]);
    let (_, v) = env.get("/identity/v3/credentials", &admin).await;
    assert_eq!(names(&v, "credentials", "type"), vec!["cert", "ec2", "totp"]);
    let (_, v) = env.get("/identity/v3/credentials?type=totp", &admin).await;
    assert_eq!(names(&v, "credentials", "id"), vec![totp.clone()]);
    let (_, v) = env.get(&format!("/identity/v3/credentials?user_id={uid}&type=ec2"), &admin).await;
    assert_eq!(names(&v, "credentials", "id"), vec![ec2.clone()]);
    assert_eq!(env.get(&format!("/identity/v3/credentials/{cert}"), &tok).await.0, StatusCode::FORBIDDEN);
    let (s, v) = env
        .patch(&format!("/identity/v3/credentials/{totp}"), &tok, json!({"credential": {"blob": "NEWSECRET"}}))
        .await;
    assert_eq!((s, v["credential"]["blob"].as_str()), (StatusCode::OK, Some("NEWSECRET")), "{v}");
    let (s, _) = env
        .patch(
            &format!("/identity/v3/credentials/{ec2}"),
            &tok,
            json!({"credential": {"blob": "{\"access\": \"other\"}"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an ec2 blob keeps its access key");
    for id in [&ec2, &totp] {
        assert_eq!(env.delete(&format!("/identity/v3/credentials/{id}"), &tok).await, StatusCode::NO_CONTENT);
    }
    // Gone: 404 for the admin; for the former owner the rule has no owner
    // to match any more (Keystone builds the target from the stored credential).
    assert_eq!(env.delete(&format!("/identity/v3/credentials/{ec2}"), &admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.delete(&format!("/identity/v3/credentials/{ec2}"), &tok).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("/identity/v3/credentials/{cert}"), &tok).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("/identity/v3/credentials/{cert}"), &admin).await, StatusCode::NO_CONTENT);
}
both_engines!(credentials);

async fn project_tags_and_extra_attributes(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (s, v) = env
        .post(
            "/identity/v3/projects",
            &admin,
            json!({"project": {"name": "tagged", "tags": ["a", "b"], "cost_center": "42"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["project"]["cost_center"], "42");
    let pid = id_of(&v, "project");
    new_project(&env, &admin, "plain", None).await;
    let tags = format!("/identity/v3/projects/{pid}/tags");
    let (_, v) = env.get(&tags, &admin).await;
    assert_eq!(v["tags"], json!(["a", "b"]));
    let (s, _, v) = env.req(Method::PUT, &format!("{tags}/c"), Some(&admin), &[], None).await;
    assert_eq!((s, &v["tags"]), (StatusCode::CREATED, &json!(["a", "b", "c"])), "{v}");
    assert_eq!(env.head(&format!("{tags}/c"), &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&format!("{tags}/c"), &admin).await.0, StatusCode::NO_CONTENT);
    assert_eq!(env.head(&format!("{tags}/zzz"), &admin).await, StatusCode::NOT_FOUND);
    for (q, want) in [
        ("tags=a,b", vec!["tagged"]),
        ("tags=a,zzz", vec![]),
        ("tags-any=zzz,c", vec!["tagged"]),
        ("not-tags=a,c", vec!["admin", "plain", "service"]),
        ("not-tags=a,zzz", vec!["admin", "plain", "service", "tagged"]),
        ("not-tags-any=zzz,b", vec!["admin", "plain", "service"]),
    ] {
        let (_, v) = env.get(&format!("/identity/v3/projects?{q}"), &admin).await;
        assert_eq!(names(&v, "projects", "name"), want, "{q}");
    }
    assert_eq!(env.delete(&format!("{tags}/a"), &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("{tags}/a"), &admin).await, StatusCode::NOT_FOUND);
    let (s, _, v) = env.req(Method::PUT, &tags, Some(&admin), &[], Some(r#"{"tags": ["x", "y"]}"#)).await;
    assert_eq!((s, &v["tags"]), (StatusCode::OK, &json!(["x", "y"])));
    let (s, _, _) = env.req(Method::PUT, &tags, Some(&admin), &[], Some(r#"{"tags": ["x/y"]}"#)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = env.req(Method::PUT, &format!("{tags}/a,b"), Some(&admin), &[], None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(env.delete(&tags, &admin).await, StatusCode::NO_CONTENT);
    let (_, v) = env.get(&format!("/identity/v3/projects/{pid}"), &admin).await;
    assert_eq!((&v["project"]["tags"], &v["project"]["cost_center"]), (&json!([]), &json!("42")));
    assert_eq!(env.get("/identity/v3/projects/nope/tags", &admin).await.0, StatusCode::NOT_FOUND);

    // Users keep attributes Keystone does not know, in every view.
    let (s, v) = env
        .post(
            "/identity/v3/users",
            &admin,
            json!({"user": {"name": "xena", "phone": "555", "prefs": {"theme": "dark"}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let uid = id_of(&v, "user");
    assert_eq!((&v["user"]["phone"], &v["user"]["prefs"]), (&json!("555"), &json!({"theme": "dark"})));
    let (s, v) = env.patch(&format!("/identity/v3/users/{uid}"), &admin, json!({"user": {"phone": "556"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((&v["user"]["phone"], &v["user"]["prefs"]), (&json!("556"), &json!({"theme": "dark"})));
    let (_, v) = env.get(&format!("/identity/v3/users/{uid}"), &admin).await;
    assert_eq!(v["user"]["phone"], "556");
    let (_, v) = env.get("/identity/v3/users?name=xena", &admin).await;
    assert_eq!(v["users"][0]["prefs"]["theme"], "dark");
    // Known attributes are not shadowed by extras.
    assert_eq!(v["users"][0]["id"], uid.as_str());
}
both_engines!(project_tags_and_extra_attributes);

/// Bootstrap seeds the roles current Keystone bootstraps, with their
/// implications, and effective roles expand through them.
async fn bootstrap_roles(b: TestDb) {
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (_, v) = env.get("/identity/v3/roles", &admin).await;
    assert_eq!(names(&v, "roles", "name"), vec!["admin", "manager", "member", "reader", "service"]);
    assert!(!env.boot.manager_role_id.is_empty() && !env.boot.service_role_id.is_empty());
    let (_, v) = env.get(&format!("/identity/v3/roles/{}/implies", env.boot.manager_role_id), &admin).await;
    assert_eq!(v["role_inference"]["implies"][0]["name"], "member");
    let (_, v) = env.get(&format!("/identity/v3/roles/{}/implies", env.boot.admin_role_id), &admin).await;
    assert_eq!(names(&v["role_inference"], "implies", "name"), vec!["manager"]);
    let (_, v) = env.get(&format!("/identity/v3/roles/{}/implies", env.boot.service_role_id), &admin).await;
    assert!(v["role_inference"]["implies"].as_array().unwrap().is_empty());
    let (pid, _) = env.user_with_role(&admin, "mona", "pw-1", "managed", "manager").await;
    let (s, _, v) = token(&env, "mona", json!({"project": {"id": pid}})).await;
    assert_eq!(
        (s, role_names(&v)),
        (StatusCode::CREATED, vec!["manager".to_string(), "member".to_string(), "reader".to_string()])
    );
}
both_engines!(bootstrap_roles);
