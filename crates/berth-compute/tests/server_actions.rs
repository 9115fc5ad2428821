//! Server actions beyond power over HTTP on both engines: lock/unlock
//! (who may unlock, the reason from 2.73, locked servers refusing actions),
//! pause/suspend/rescue and their inverses through the agent, the admin
//! state reset, the console log, tags (2.26) with list filters and create
//! (2.52), ips, diagnostics, the server password, createImage and
//! createBackup with rotation, and the list filters Nova applies (name as a
//! regular expression, `tenant_id` only with `all_tenants`).

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

fn message(v: &Value) -> String {
    v.as_object().and_then(|o| o.values().next()).and_then(|f| f["message"].as_str()).unwrap_or_default().to_string()
}

async fn act(env: &Env, id: &str, body: Value) -> (StatusCode, Value) {
    env.req(Method::POST, &format!("/servers/{id}/action"), Some(body)).await
}

async fn act_as(env: &Env, project: &str, id: &str, body: Value) -> (StatusCode, Value) {
    env.req_as(project, Method::POST, &format!("/servers/{id}/action"), Some(body)).await
}

/// A server of project `p1` built on `host` (agent drained).
async fn built(env: &Env, agent: &std::sync::Arc<berth_compute::ComputeAgent>, name: &str) -> String {
    let flavor = env.create_flavor(&format!("f-{name}"), 1, 256, 1).await;
    let (s, v) = env
        .req_as(
            "p1",
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": name, "flavorRef": flavor, "imageRef": IMAGE, "networks": "none"}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    drain(&[agent]).await;
    let id = v["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(env.status(&id).await, "ACTIVE");
    id
}

async fn guest_changes_through_the_agent(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("h1", "fake", &[]).await;
    let id = built(&env, &agent, "vm").await;
    let power = |v: &Value| v["OS-EXT-STS:power_state"].as_i64().unwrap();

    // pause: ACTIVE/pausing until the agent has paused the guest.
    assert_eq!(act_as(&env, "p1", &id, json!({"pause": null})).await.0, StatusCode::ACCEPTED);
    let (_, v) = env.server(&id).await;
    assert_eq!((v["status"].as_str(), v["OS-EXT-STS:task_state"].as_str()), (Some("ACTIVE"), Some("pausing")));
    let (s, v) = act_as(&env, "p1", &id, json!({"suspend": null})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(message(&v), format!("Cannot 'suspend' instance {id} while it is in task_state pausing"));
    drain(&[&agent]).await;
    let (_, v) = env.server(&id).await;
    assert_eq!((v["status"].as_str(), power(&v)), (Some("PAUSED"), 3));
    assert_eq!(agent.driver().guests().get(&id.parse().unwrap()), Some(&3));
    // Paused: only unpause (and the like) are allowed.
    let (s, v) = act_as(&env, "p1", &id, json!({"suspend": null})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(message(&v), format!("Cannot 'suspend' instance {id} while it is in vm_state paused"));
    assert_eq!(act_as(&env, "p1", &id, json!({"unpause": null})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "ACTIVE");

    // suspend / resume
    assert_eq!(act_as(&env, "p1", &id, json!({"suspend": {}})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    let (_, v) = env.server(&id).await;
    assert_eq!((v["status"].as_str(), power(&v)), (Some("SUSPENDED"), 7));
    assert_eq!(act_as(&env, "p1", &id, json!({"resume": null})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "ACTIVE");

    // rescue (a password back, the caller's when given) / unrescue
    let (s, v) = act_as(&env, "p1", &id, json!({"rescue": {"adminPass": "s3cret"}})).await;
    assert_eq!((s, v["adminPass"].as_str()), (StatusCode::OK, Some("s3cret")), "{v}");
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "RESCUE");
    assert_eq!(act_as(&env, "p1", &id, json!({"unrescue": null})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "ACTIVE");
    let (s, v) =
        act_as(&env, "p1", &id, json!({"rescue": {"rescue_image_ref": "9c6b7c2e-1111-4b5e-8d6a-000000000000"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = act_as(&env, "p1", &id, json!({"rescue": null})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["adminPass"].as_str().map(str::len), Some(12));
    drain(&[&agent]).await;

    // A stopped server can be rescued (Nova: ACTIVE, STOPPED, ERROR).
    assert_eq!(act_as(&env, "p1", &id, json!({"unrescue": null})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    assert_eq!(act_as(&env, "p1", &id, json!({"os-stop": null})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    assert_eq!(act_as(&env, "p1", &id, json!({"pause": null})).await.0, StatusCode::CONFLICT);
    assert_eq!(act_as(&env, "p1", &id, json!({"rescue": null})).await.0, StatusCode::OK);
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "RESCUE");

    // Bodies: these actions take null (or {}); anything else is a 400.
    let (s, v) = act_as(&env, "p1", &id, json!({"pause": 1})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // An agent restarting with work half done finishes it (start-up
    // recovery): queue unrescue, then recover instead of processing.
    assert_eq!(act_as(&env, "p1", &id, json!({"unrescue": null})).await.0, StatusCode::ACCEPTED);
    let report = agent.recover().await.unwrap();
    assert_eq!(report.power_actions_completed, 1);
    assert_eq!(env.status(&id).await, "ACTIVE");
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "ACTIVE");
}
both_backends!(guest_changes_through_the_agent);

async fn locks(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("h1", "fake", &[]).await;
    let id = built(&env, &agent, "vm").await;

    // The owner locks with a reason (2.73); the view shows it.
    assert_eq!(
        act_as(&env, "p1", &id, json!({"lock": {"locked_reason": "maintenance"}})).await.0,
        StatusCode::ACCEPTED
    );
    let (_, v) = env.req_as("p1", Method::GET, &format!("/servers/{id}"), None).await;
    assert_eq!(
        (v["server"]["locked"].as_bool(), v["server"]["locked_reason"].as_str()),
        (Some(true), Some("maintenance"))
    );
    // Locked: the owner cannot stop, pause or delete it...
    for body in [json!({"os-stop": null}), json!({"pause": null})] {
        let (s, v) = act_as(&env, "p1", &id, body).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(message(&v), format!("Instance {id} is locked"));
    }
    let (s, _) = env.req_as("p1", Method::DELETE, &format!("/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // ...the admin can (unlock_override), and the owner can unlock.
    assert_eq!(act(&env, &id, json!({"pause": null})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    assert_eq!(act_as(&env, "p1", &id, json!({"unlock": null})).await.0, StatusCode::ACCEPTED);
    let (_, v) = env.req_as("p1", Method::GET, &format!("/servers/{id}"), None).await;
    assert_eq!((v["server"]["locked"].as_bool(), v["server"]["locked_reason"].clone()), (Some(false), Value::Null));
    // Locked by an admin (another project): the owner may not unlock.
    assert_eq!(act(&env, &id, json!({"lock": null})).await.0, StatusCode::ACCEPTED);
    let (s, v) = act_as(&env, "p1", &id, json!({"unlock": null})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(act(&env, &id, json!({"unlock": null})).await.0, StatusCode::ACCEPTED);
    // Before 2.73 there is no reason in the view, and a reason is invalid
    // at 2.73 when not a string.
    let (s, v) = act_as(&env, "p1", &id, json!({"lock": {"locked_reason": 5}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = act_as(&env, "p1", &id, json!({"lock": {"nope": "x"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (_, v) = env
        .raw(Method::GET, &format!("/compute/v2.1/servers/{id}"), vec![], &[("openstack-api-version", "compute 2.72")])
        .await;
    assert!(v["server"].get("locked_reason").is_none(), "{v}");
    assert_eq!(v["server"]["locked"], json!(false));
    // The list filter `locked` (2.73).
    assert_eq!(act_as(&env, "p1", &id, json!({"lock": null})).await.0, StatusCode::ACCEPTED);
    let (_, v) = env.req_as("p1", Method::GET, "/servers?locked=true", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    let (_, v) = env.req_as("p1", Method::GET, "/servers?locked=false", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 0);
}
both_backends!(locks);

async fn reset_state_and_console(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("h1", "fake", &[]).await;
    let id = built(&env, &agent, "vm").await;

    // The console holds what the guest printed while booting.
    let (s, v) = act_as(&env, "p1", &id, json!({"os-getConsoleOutput": {}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let out = v["output"].as_str().unwrap().to_string();
    assert!(out.contains(&format!("cloud-init: booted instance {id}")), "{out}");
    assert!(out.starts_with("[    0.000000] Linux version"), "{out}");
    let (_, v) = act_as(&env, "p1", &id, json!({"os-getConsoleOutput": {"length": 1}})).await;
    assert_eq!(v["output"], json!("login: \n"));
    let (_, v) = act_as(&env, "p1", &id, json!({"os-getConsoleOutput": {"length": "-1"}})).await;
    assert_eq!(v["output"].as_str(), Some(out.as_str()));
    for bad in [json!({"length": -2}), json!({"length": "x"}), json!({"length": 1.5}), json!({"lines": 1})] {
        let (s, v) = act_as(&env, "p1", &id, json!({"os-getConsoleOutput": bad})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    // A reboot appends to it.
    assert_eq!(act_as(&env, "p1", &id, json!({"reboot": {"type": "SOFT"}})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    let (_, v) = act_as(&env, "p1", &id, json!({"os-getConsoleOutput": {"length": 6}})).await;
    assert!(v["output"].as_str().unwrap().starts_with("[    1.000000] reboot: Restarting system\n"), "{v}");

    // os-resetState is an admin's: back to ACTIVE (no task) or ERROR.
    let (s, _) = act_as(&env, "p1", &id, json!({"os-resetState": {"state": "error"}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(act(&env, &id, json!({"os-resetState": {"state": "error"}})).await.0, StatusCode::ACCEPTED);
    assert_eq!(env.status(&id).await, "ERROR");
    assert_eq!(act(&env, &id, json!({"pause": null})).await.0, StatusCode::CONFLICT);
    // Reset in the middle of a pause: the queued work changes nothing.
    assert_eq!(act(&env, &id, json!({"os-resetState": {"state": "active"}})).await.0, StatusCode::ACCEPTED);
    assert_eq!(act(&env, &id, json!({"pause": null})).await.0, StatusCode::ACCEPTED);
    assert_eq!(act(&env, &id, json!({"os-resetState": {"state": "active"}})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    let (_, v) = env.server(&id).await;
    assert_eq!((v["status"].as_str(), v["OS-EXT-STS:task_state"].clone()), (Some("ACTIVE"), Value::Null));
    assert_eq!(v["OS-EXT-STS:power_state"], json!(1), "the guest was not paused");
    assert_eq!(agent.driver().guests().get(&id.parse().unwrap()), Some(&1));
    for bad in [json!({"state": "paused"}), json!({}), json!({"state": "active", "x": 1}), json!(null)] {
        let (s, v) = act(&env, &id, json!({"os-resetState": bad})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // changePassword: ACTIVE servers only.
    assert_eq!(act_as(&env, "p1", &id, json!({"changePassword": {"adminPass": "x"}})).await.0, StatusCode::ACCEPTED);
    let (s, _) = act_as(&env, "p1", &id, json!({"changePassword": {}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The console log goes with the server.
    let (s, _) = env.req_as("p1", Method::DELETE, &format!("/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    drain(&[&agent]).await;
    let uuid: uuid::Uuid = id.parse().unwrap();
    assert_eq!(agent.service().console_output(uuid, None).await.unwrap(), "");
}
both_backends!(reset_state_and_console);

async fn tags(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("h1", "fake", &[]).await;
    let a = built(&env, &agent, "a").await;
    let b = built(&env, &agent, "b").await;
    let tags_of = |id: &str| format!("/servers/{id}/tags");

    let (s, v) = env.req_as("p1", Method::PUT, &tags_of(&a), Some(json!({"tags": ["web", "prod", "web"]}))).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"tags": ["prod", "web"]})));
    let (s, _) = env.req_as("p1", Method::PUT, &format!("{}/db", tags_of(&b)), None).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = env.req_as("p1", Method::PUT, &format!("{}/db", tags_of(&b)), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = env.req_as("p1", Method::PUT, &format!("{}/prod", tags_of(&b)), None).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(env.req_as("p1", Method::GET, &format!("{}/db", tags_of(&b)), None).await.0, StatusCode::NO_CONTENT);
    let (s, v) = env.req_as("p1", Method::GET, &format!("{}/web", tags_of(&b)), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(message(&v), format!("Server {b} has no tag 'web'"));
    // Views (2.26 on) and filters.
    let (_, v) = env.req_as("p1", Method::GET, &format!("/servers/{a}"), None).await;
    assert_eq!(v["server"]["tags"], json!(["prod", "web"]));
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> =
            v["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
        n.sort();
        n
    };
    for (q, want) in [
        ("tags=prod", vec!["a", "b"]),
        ("tags=prod,web", vec!["a"]),
        ("tags-any=web,db", vec!["a", "b"]),
        ("not-tags=prod,web", vec!["b"]),
        ("not-tags-any=db", vec!["a"]),
        ("tags=prod&not-tags-any=web", vec!["b"]),
    ] {
        let (_, v) = env.req_as("p1", Method::GET, &format!("/servers/detail?{q}"), None).await;
        assert_eq!(names(&v), want, "{q}");
    }
    // Deletes.
    assert_eq!(env.req_as("p1", Method::DELETE, &format!("{}/db", tags_of(&b)), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(env.req_as("p1", Method::DELETE, &format!("{}/db", tags_of(&b)), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.req_as("p1", Method::DELETE, &tags_of(&a), None).await.0, StatusCode::NO_CONTENT);
    let (_, v) = env.req_as("p1", Method::GET, &tags_of(&a), None).await;
    assert_eq!(v, json!({"tags": []}));
    // Validation: no '/' or ',', 1 to 60 characters, at most 50 tags.
    let long = "x".repeat(61);
    for bad in
        [json!({"tags": ["a,b"]}), json!({"tags": [""]}), json!({"tags": [long]}), json!({"tags": "a"}), json!({})]
    {
        let (s, v) = env.req_as("p1", Method::PUT, &tags_of(&a), Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let fifty: Vec<String> = (0..50).map(|n| format!("t{n}")).collect();
    assert_eq!(env.req_as("p1", Method::PUT, &tags_of(&a), Some(json!({"tags": fifty}))).await.0, StatusCode::OK);
    let (s, v) = env.req_as("p1", Method::PUT, &format!("{}/one-more", tags_of(&a)), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(message(&v), "The number of tags exceeded the per-server limit 50");
    let (s, _) = env.req_as("p1", Method::PUT, &format!("{}/a%2Cb", tags_of(&b)), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Not before 2.26; other projects see nothing.
    let (s, _) = env
        .raw(
            Method::GET,
            &format!("/compute/v2.1/servers/{a}/tags"),
            vec![],
            &[("openstack-api-version", "compute 2.25")],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(env.req_as("p2", Method::GET, &tags_of(&a), None).await.0, StatusCode::NOT_FOUND);
    // A server in a transitional vm state cannot be tagged (Nova's rule).
    assert_eq!(act(&env, &b, json!({"os-resetState": {"state": "error"}})).await.0, StatusCode::ACCEPTED);
    let (s, v) = env.req_as("p1", Method::PUT, &format!("{}/x", tags_of(&b)), None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(message(&v), format!("Cannot 'update tag' instance {b} while it is in vm_state error"));

    // Create with tags (2.52), visible at once.
    let flavor = env.create_flavor("f-tagged", 1, 128, 1).await;
    let (s, v) = env
        .req_as(
            "p1",
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "c", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none", "tags": ["new"]}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let c = v["server"]["id"].as_str().unwrap();
    let (_, v) = env.req_as("p1", Method::GET, &tags_of(c), None).await;
    assert_eq!(v, json!({"tags": ["new"]}));
    drain(&[&agent]).await;
}
both_backends!(tags);

async fn sub_resources(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("h1", "fake", &[]).await;
    let id = built(&env, &agent, "vm").await;

    let (s, v) = env.req_as("p1", Method::GET, &format!("/servers/{id}/ips"), None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"addresses": {}})));
    let (s, v) = env.req_as("p1", Method::GET, &format!("/servers/{id}/ips/private"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(message(&v), "Instance is not a member of specified network");
    let (s, v) = env.req_as("p1", Method::GET, &format!("/servers/{id}/os-server-password"), None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"password": ""})));
    let (s, _) = env.req_as("p1", Method::DELETE, &format!("/servers/{id}/os-server-password"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Diagnostics are an admin's, in the 2.48 standard form.
    let (s, _) = env.req_as("p1", Method::GET, &format!("/servers/{id}/diagnostics"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = env.req(Method::GET, &format!("/servers/{id}/diagnostics"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["num_cpus"].as_i64(), v["driver"].as_str()),
        (Some("running"), Some(1), Some("fake"))
    );
    assert_eq!(v["memory_details"]["maximum"], json!(256 * 1024));
    let (_, v) = env
        .raw(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}/diagnostics"),
            vec![],
            &[("openstack-api-version", "compute 2.47")],
        )
        .await;
    assert!(v.get("cpu0_time").is_some() && v.get("state").is_none(), "{v}");
    // A stopped guest has none.
    assert_eq!(act_as(&env, "p1", &id, json!({"os-stop": null})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    assert_eq!(env.req(Method::GET, &format!("/servers/{id}/diagnostics"), None).await.0, StatusCode::CONFLICT);
}
both_backends!(sub_resources);

async fn snapshots_and_backups(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("h1", "fake", &[]).await;
    let id = built(&env, &agent, "vm").await;

    let (s, v) =
        act_as(&env, "p1", &id, json!({"createImage": {"name": "snap", "metadata": {"purpose": "test"}}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let image = v["image_id"].as_str().unwrap().to_string();
    let (_, sv) = env.server(&id).await;
    assert_eq!(sv["OS-EXT-STS:task_state"], json!("image_snapshot"));
    // While snapshotting, another snapshot waits.
    assert_eq!(act_as(&env, "p1", &id, json!({"createImage": {"name": "again"}})).await.0, StatusCode::CONFLICT);
    drain(&[&agent]).await;
    let (_, sv) = env.server(&id).await;
    assert_eq!((sv["status"].as_str(), sv["OS-EXT-STS:task_state"].clone()), (Some("ACTIVE"), Value::Null));
    let caller = berth_http::RequestContext {
        project_id: Some("p1".into()),
        user_id: Some("user-p1".into()),
        roles: vec!["member".into()],
        ..Default::default()
    };
    let info = berth_compute::ImageLookup::lookup(env.images.as_ref(), &image, &caller).await.unwrap().unwrap();
    assert_eq!((info.name.as_str(), info.visibility.as_str(), info.owner.as_deref()), ("snap", "private", Some("p1")));
    for (k, want) in [("image_type", "snapshot"), ("purpose", "test"), ("base_image_ref", IMAGE)] {
        assert_eq!(info.properties.get(k).map(String::as_str), Some(want), "{k}");
    }
    assert_eq!(info.properties.get("instance_uuid"), Some(&id));
    // Before 2.45: no body, the image's address in Location.
    let (s, headers, body) = env
        .exchange(
            Method::POST,
            &format!("/compute/v2.1/servers/{id}/action"),
            json!({"createImage": {"name": "old-style"}}).to_string().into_bytes(),
            &[
                ("openstack-api-version", b"compute 2.44"),
                ("x-auth-token", b"user-p1:p1"),
                ("x-roles", b"member,reader"),
                ("content-type", b"application/json"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert!(body.is_empty());
    let location = headers.get("location").unwrap().to_str().unwrap();
    assert!(location.starts_with("http://berth.test/compute/v2.1/images/"), "{location}");
    drain(&[&agent]).await;
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": 5}),
        json!({"name": "x", "metadata": {"k": 1}}),
        json!({"name": "x", "y": 1}),
    ] {
        let (s, v) = act_as(&env, "p1", &id, json!({"createImage": bad})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // Backups rotate: three daily backups with rotation 2 leave the newest two.
    let mut made = Vec::new();
    for n in 0..3 {
        let (s, v) = act_as(
            &env,
            "p1",
            &id,
            json!({"createBackup": {"name": format!("daily-{n}"), "backup_type": "daily", "rotation": 2}}),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        made.push(v["image_id"].as_str().unwrap().to_string());
        drain(&[&agent]).await;
    }
    let left = berth_compute::ImageLookup::server_backups(env.images.as_ref(), &id, "daily", &caller).await.unwrap();
    let left: Vec<&str> = left.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(left, vec![made[1].as_str(), made[2].as_str()]);
    // A weekly backup does not rotate the daily ones out.
    let (s, _) =
        act_as(&env, "p1", &id, json!({"createBackup": {"name": "w", "backup_type": "weekly", "rotation": 1}})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    assert_eq!(
        berth_compute::ImageLookup::server_backups(env.images.as_ref(), &id, "daily", &caller).await.unwrap().len(),
        2
    );
    for bad in [
        json!({"name": "b", "backup_type": "daily"}),
        json!({"name": "b", "backup_type": "daily", "rotation": -1}),
        json!({"name": "b", "rotation": 1}),
    ] {
        let (s, v) = act_as(&env, "p1", &id, json!({"createBackup": bad})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    // A paused server can be snapshotted but not backed up (Nova's lists).
    assert_eq!(act_as(&env, "p1", &id, json!({"pause": null})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    let (s, _) =
        act_as(&env, "p1", &id, json!({"createBackup": {"name": "b", "backup_type": "daily", "rotation": 1}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(act_as(&env, "p1", &id, json!({"createImage": {"name": "paused"}})).await.0, StatusCode::ACCEPTED);
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "PAUSED");
}
both_backends!(snapshots_and_backups);

async fn list_filters(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("h1", "fake", &[]).await;
    for n in ["web-1", "web-2", "db-1"] {
        built(&env, &agent, n).await;
    }
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> =
            v["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
        n.sort();
        n
    };
    for (q, want) in [
        ("name=web", vec!["web-1", "web-2"]),
        ("name=%5Eweb-%5B2-9%5D%24", vec!["web-2"]),
        ("name=-1%24", vec!["db-1", "web-1"]),
        ("name=WEB", vec!["web-1", "web-2"]),
        // Not a valid expression: matched as text.
        ("name=%28", vec![]),
    ] {
        let (s, v) = env.req_as("p1", Method::GET, &format!("/servers?{q}"), None).await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        assert_eq!(names(&v), want, "{q}");
    }
    // A 10 kB expression (that does not compile): matched as text.
    let (s, v) = env.req_as("p1", Method::GET, &format!("/servers?name={}", "(".repeat(10_000)), None).await;
    assert_eq!((s, names(&v).len()), (StatusCode::OK, 0));
    // tenant_id narrows only an all_tenants listing.
    let (_, v) = env.req(Method::GET, "/servers?tenant_id=p1", None).await;
    assert_eq!(names(&v), Vec::<String>::new(), "the admin's own project has no servers");
    let (_, v) = env.req(Method::GET, "/servers?all_tenants=1&tenant_id=p1", None).await;
    assert_eq!(names(&v).len(), 3);
    let (_, v) = env.req(Method::GET, "/servers?all_tenants=1&tenant_id=p9", None).await;
    assert_eq!(names(&v).len(), 0);
    // A member's tenant_id is ignored: their own project it is.
    let (_, v) = env.req_as("p2", Method::GET, "/servers?tenant_id=p1", None).await;
    assert_eq!(names(&v).len(), 0);
}
both_backends!(list_filters);

async fn admin_pass_on_create(backend: Backend) {
    let env = Env::new(backend).await;
    let _agent = env.agent("h1", "fake", &[]).await;
    let flavor = env.create_flavor("f", 1, 128, 1).await;
    let body = |pass: Value| json!({"server": {"name": "p", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none", "adminPass": pass}});
    let (s, v) = env.req_as("p1", Method::POST, "/servers", Some(body(json!("chosen-one")))).await;
    assert_eq!((s, v["server"]["adminPass"].as_str()), (StatusCode::ACCEPTED, Some("chosen-one")));
    let (s, v) = env.req_as("p1", Method::POST, "/servers", Some(body(json!(5)))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    env.schedule().await;
}
both_backends!(admin_pass_on_create);
