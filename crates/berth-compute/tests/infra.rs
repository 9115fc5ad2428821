//! The infrastructure APIs over HTTP, on SQLite and PostgreSQL: host
//! aggregates (zones, Placement mirroring), server groups and scheduler
//! hints honoured by the scheduler with several agents, os-hosts and the
//! hypervisor extras, usage, quota classes, extensions, the image proxy.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

async fn at(env: &Env, mv: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    env.raw(method, &format!("/compute/v2.1{path}"), body, &[("openstack-api-version", mv)]).await
}

async fn agg_action(env: &Env, id: i64, body: Value) -> (StatusCode, Value) {
    env.req(Method::POST, &format!("/os-aggregates/{id}/action"), Some(body)).await
}

fn msg(v: &Value) -> String {
    v.as_object().and_then(|o| o.values().next()).and_then(|f| f["message"].as_str()).unwrap_or_default().to_string()
}

async fn zone_of(env: &Env, host: &str) -> String {
    let (_, v) = env.req(Method::GET, &format!("/os-services?host={host}"), None).await;
    v["services"][0]["zone"].as_str().unwrap_or_default().to_string()
}

async fn host_of(env: &Env, id: &str) -> String {
    let (_, v) = env.server(id).await;
    v["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or("-").to_string()
}

/// POST /servers with `extra` merged into the server and `hints`; the
/// server ids (`min_count` many), after the scheduler ran.
async fn boot(env: &Env, flavor: &str, extra: Value, hints: Option<Value>) -> (StatusCode, Vec<String>, Value) {
    let mut server = json!({"name": "s", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none"});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        server[k] = v;
    }
    let mut body = json!({ "server": server });
    if let Some(h) = hints {
        body["os:scheduler_hints"] = h;
    }
    let before: BTreeSet<String> = list_ids(env).await;
    let (s, v) = env.req(Method::POST, "/servers", Some(body)).await;
    env.schedule().await;
    let after: BTreeSet<String> = list_ids(env).await;
    (s, after.difference(&before).cloned().collect(), v)
}

async fn list_ids(env: &Env) -> BTreeSet<String> {
    let (_, v) = env.req(Method::GET, "/servers", None).await;
    v["servers"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

async fn aggregates_zones_and_placement(backend: Backend) {
    let env = Env::new(backend).await;
    let a1 = env.agent("h1", "fake:8,8192,100", &[]).await;
    let a2 = env.agent("h2", "fake:8,8192,100", &[]).await;
    let rp1 = a1.node_uuid().unwrap();
    let flavor = env.create_flavor("small", 1, 256, 1).await;

    let (s, v) = env
        .req(Method::POST, "/os-aggregates", Some(json!({"aggregate": {"name": "agg1", "availability_zone": "az1"}})))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let agg = v["aggregate"].clone();
    let id = agg["id"].as_i64().unwrap();
    let uuid: uuid::Uuid = agg["uuid"].as_str().unwrap().parse().unwrap();
    assert_eq!(agg["name"], "agg1");
    assert_eq!(agg["availability_zone"], "az1");
    assert_eq!(agg["deleted"], false);
    assert!(
        agg.get("hosts").is_none() && agg.get("metadata").is_none(),
        "create answers without hosts/metadata: {agg}"
    );
    // Before 2.41 no uuid.
    let (_, v) = at(&env, "compute 2.40", Method::GET, &format!("/os-aggregates/{id}"), None).await;
    assert!(v["aggregate"].get("uuid").is_none(), "{v}");
    assert_eq!(v["aggregate"]["metadata"], json!({"availability_zone": "az1"}));
    assert_eq!(v["aggregate"]["hosts"], json!([]));
    // Nova's refusals.
    let (s, v) = env.req(Method::POST, "/os-aggregates", Some(json!({"aggregate": {"name": "agg1"}}))).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::CONFLICT, "Aggregate agg1 already exists."));
    let (s, _) = env
        .req(Method::POST, "/os-aggregates", Some(json!({"aggregate": {"name": "x", "availability_zone": "a:b"}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = agg_action(&env, id, json!({"add_host": {"host": "nope"}})).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::NOT_FOUND, "Compute host nope could not be found."));
    let (s, v) = env.req(Method::GET, "/os-aggregates/abc", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = env.req(Method::GET, "/os-aggregates/999", None).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::NOT_FOUND, "Aggregate 999 could not be found."));

    // Adding h1: its zone, and its provider in the Placement aggregate.
    assert_eq!(zone_of(&env, "h1").await, "nova");
    let (s, v) = agg_action(&env, id, json!({"add_host": {"host": "h1"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["aggregate"]["hosts"], json!(["h1"]));
    let (s, v) = agg_action(&env, id, json!({"add_host": {"host": "h1"}})).await;
    assert_eq!((s, msg(&v)), (StatusCode::CONFLICT, format!("Aggregate {id} already has host h1.")));
    assert!(env.placement.get_aggregates(rp1).await.unwrap().aggregates.contains(&uuid));
    let members = env.placement.list_providers(&format!("member_of={uuid}")).await.unwrap();
    assert_eq!(members.iter().map(|p| p.uuid).collect::<Vec<_>>(), vec![rp1]);
    assert_eq!(zone_of(&env, "h1").await, "az1");
    assert_eq!(zone_of(&env, "h2").await, "nova");
    let (_, v) = env.req(Method::GET, "/os-availability-zone", None).await;
    let zones: BTreeSet<&str> =
        v["availabilityZoneInfo"].as_array().unwrap().iter().map(|z| z["zoneName"].as_str().unwrap()).collect();
    assert_eq!(zones, BTreeSet::from(["az1", "nova"]));
    // The agent's periodic publication keeps the aggregate.
    a1.update_resources().await.unwrap();
    assert!(env.placement.get_aggregates(rp1).await.unwrap().aggregates.contains(&uuid));

    // A host is in one zone only.
    let (_, v) = env
        .req(Method::POST, "/os-aggregates", Some(json!({"aggregate": {"name": "agg2", "availability_zone": "az2"}})))
        .await;
    let id2 = v["aggregate"]["id"].as_i64().unwrap();
    let (s, v) = agg_action(&env, id2, json!({"add_host": {"host": "h1"}})).await;
    assert_eq!(
        (s, msg(&v)),
        (StatusCode::CONFLICT, format!("Cannot add host to aggregate {id2}. Reason: One or more hosts already in availability zone(s) ['az1'].")),
    );
    // An aggregate without a zone takes any host.
    let (_, v) = env.req(Method::POST, "/os-aggregates", Some(json!({"aggregate": {"name": "plain"}}))).await;
    let id3 = v["aggregate"]["id"].as_i64().unwrap();
    assert_eq!(v["aggregate"]["availability_zone"], Value::Null);
    let (s, _) = agg_action(&env, id3, json!({"add_host": {"host": "h1"}})).await;
    assert_eq!(s, StatusCode::OK);
    // Setting a zone on it now conflicts with az1.
    let (s, v) = agg_action(&env, id3, json!({"set_metadata": {"metadata": {"availability_zone": "az9"}}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(msg(&v).contains("One or more hosts already in availability zone(s) ['az1']"), "{v}");
    let (s, v) = agg_action(&env, id3, json!({"set_metadata": {"metadata": {"ssd": "true", "gone": null}}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["aggregate"]["metadata"], json!({"ssd": "true"}));
    let (s, v) = agg_action(&env, id3, json!({"set_metadata": {"metadata": {"ssd": null}}})).await;
    assert_eq!((s, &v["aggregate"]["metadata"]), (StatusCode::OK, &json!({})));
    let (s, _) = agg_action(&env, id3, json!({"remove_host": {"host": "h1"}})).await;
    assert_eq!(s, StatusCode::OK);

    // Renaming and moving the zone (no instances yet).
    let (s, v) = env
        .req(
            Method::PUT,
            &format!("/os-aggregates/{id}"),
            Some(json!({"aggregate": {"availability_zone": "az3", "name": "renamed"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((&v["aggregate"]["name"], &v["aggregate"]["availability_zone"]), (&json!("renamed"), &json!("az3")));
    assert!(v["aggregate"]["updated_at"].is_string());
    let (s, v) =
        env.req(Method::PUT, &format!("/os-aggregates/{id}"), Some(json!({"aggregate": {"name": "agg2"}}))).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::CONFLICT, "Aggregate agg2 already exists."));
    let (s, _) = env.req(Method::PUT, &format!("/os-aggregates/{id}"), Some(json!({"aggregate": {}}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(zone_of(&env, "h1").await, "az3");

    // Servers asking for a zone land in it; the scheduler honours zones of
    // aggregates.
    for _ in 0..3 {
        let (s, ids, v) = boot(&env, &flavor, json!({"availability_zone": "az3"}), None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        assert_eq!(host_of(&env, &ids[0]).await, "h1");
        let (_, sv) = env.server(&ids[0]).await;
        assert_eq!(sv["OS-EXT-AZ:availability_zone"], "az3");
        let (_, ids, _) = boot(&env, &flavor, json!({"availability_zone": "nova"}), None).await;
        assert_eq!(host_of(&env, &ids[0]).await, "h2");
    }
    // A zone whose aggregate has no hosts is no zone.
    let (s, _, v) = boot(&env, &flavor, json!({"availability_zone": "az2"}), None).await;
    assert_eq!(
        (s, msg(&v).as_str()),
        (StatusCode::BAD_REQUEST, "The requested availability zone is not available: az2")
    );
    drain(&[&a1, &a2]).await;

    // With instances on h1 its zone may not change.
    let (s, v) = agg_action(&env, id, json!({"set_metadata": {"metadata": {"availability_zone": "az4"}}})).await;
    assert_eq!(
        (s, msg(&v)),
        (
            StatusCode::BAD_REQUEST,
            format!(
                "Cannot update metadata of aggregate {id}. Reason: One or more hosts contain instances in this zone."
            )
        ),
    );
    let (s, v) = agg_action(&env, id, json!({"remove_host": {"host": "h1"}})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(msg(&v).starts_with(&format!("Cannot remove host from aggregate {id}. Reason: The host cannot be removed from the aggregate as the availability zone of the host would change from 'az3' to 'None'")), "{v}");
    let (s, v) = env.req(Method::DELETE, &format!("/os-aggregates/{id}"), None).await;
    assert_eq!(
        (s, msg(&v)),
        (
            StatusCode::BAD_REQUEST,
            format!("Cannot remove host from aggregate {id}. Reason: Host aggregate is not empty.")
        )
    );
    let (s, v) = agg_action(&env, id, json!({"remove_host": {"host": "h2"}})).await;
    assert_eq!((s, msg(&v)), (StatusCode::NOT_FOUND, format!("Cannot remove host h2 in aggregate {id}")));

    // Once the servers are gone the host leaves, in Placement too.
    for sid in list_ids(&env).await {
        env.req(Method::DELETE, &format!("/servers/{sid}"), None).await;
    }
    drain(&[&a1, &a2]).await;
    let (s, v) = agg_action(&env, id, json!({"remove_host": {"host": "h1"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["aggregate"]["hosts"], json!([]));
    assert!(!env.placement.get_aggregates(rp1).await.unwrap().aggregates.contains(&uuid));
    assert_eq!(zone_of(&env, "h1").await, "nova");
    for i in [id, id2, id3] {
        let (s, v) = env.req(Method::DELETE, &format!("/os-aggregates/{i}"), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (_, v) = env.req(Method::GET, "/os-aggregates", None).await;
    assert_eq!(v["aggregates"], json!([]));
    // Admin only.
    let (s, _) = env.req_as("p", Method::GET, "/os-aggregates", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
both_backends!(aggregates_zones_and_placement);

/// Zone changes racing each other: a host added at the same time to two
/// aggregates of different zones, or added to one while the other takes a
/// zone, ends in exactly one zone (the check and the write are one locked
/// transaction), whichever wins.
async fn aggregate_zone_races(backend: Backend) {
    let env = Env::new(backend).await;
    let _a = env.agent("h1", "fake:8,8192,100", &[]).await;
    let create = |name: String, az: Option<&'static str>| {
        let env = &env;
        async move {
            let mut body = json!({"aggregate": {"name": name}});
            if let Some(az) = az {
                body["aggregate"]["availability_zone"] = json!(az);
            }
            let (s, v) = env.req(Method::POST, "/os-aggregates", Some(body)).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v["aggregate"]["id"].as_i64().unwrap()
        }
    };
    let zones_of_h1 = || async {
        let (_, v) = env.req(Method::GET, "/os-aggregates", None).await;
        let mut zones: Vec<String> = v["aggregates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["hosts"].as_array().unwrap().iter().any(|h| h == "h1"))
            .filter_map(|a| a["availability_zone"].as_str().map(str::to_string))
            .collect();
        zones.sort();
        zones.dedup();
        zones
    };
    let add = |id: i64| agg_action(&env, id, json!({"add_host": {"host": "h1"}}));
    let remove = |id: i64| agg_action(&env, id, json!({"remove_host": {"host": "h1"}}));
    for round in 0..8 {
        // Two zones at once.
        let (x, y) = (create(format!("x{round}"), Some("zx")).await, create(format!("y{round}"), Some("zy")).await);
        let ((s1, v1), (s2, v2)) = tokio::join!(add(x), add(y));
        let ok = [s1, s2].iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "round {round}: exactly one add wins: {v1} {v2}");
        assert!([s1, s2].contains(&StatusCode::CONFLICT), "{v1} {v2}");
        assert_eq!(zones_of_h1().await.len(), 1, "round {round}");
        let winner = if s1 == StatusCode::OK { x } else { y };
        assert_eq!(remove(winner).await.0, StatusCode::OK);
        // A zone given to an aggregate while the host joins another.
        let (plain, zoned) = (create(format!("p{round}"), None).await, create(format!("z{round}"), Some("zz")).await);
        assert_eq!(add(zoned).await.0, StatusCode::OK);
        let set = agg_action(&env, plain, json!({"set_metadata": {"metadata": {"availability_zone": "other"}}}));
        let ((s1, v1), (s2, v2)) = tokio::join!(add(plain), set);
        assert!(
            [s1, s2].iter().any(|s| !s.is_success()),
            "round {round}: both the add and the zone went through: {v1} {v2}"
        );
        assert_eq!(zones_of_h1().await, ["zz"], "round {round}");
        if s1 == StatusCode::OK {
            assert_eq!(remove(plain).await.0, StatusCode::OK);
        }
        assert_eq!(remove(zoned).await.0, StatusCode::OK);
    }
}
both_backends!(aggregate_zone_races);

/// `POST /os-aggregates/{id}/images` (2.81): Nova's checks and statuses.
async fn aggregate_image_cache_requests(backend: Backend) {
    let env = Env::new(backend).await;
    let (s, v) = env.req(Method::POST, "/os-aggregates", Some(json!({"aggregate": {"name": "cache"}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["aggregate"]["id"].as_i64().unwrap();
    let path = format!("/os-aggregates/{id}/images");
    let cache = |ids: &[&str]| json!({"cache": ids.iter().map(|i| json!({"id": i})).collect::<Vec<_>>()});
    let (s, v) = env.req(Method::POST, &path, Some(cache(&[IMAGE, ARM_IMAGE]))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v, Value::Null, "no body");
    let (s, v) = at(&env, "compute 2.80", Method::POST, &path, Some(cache(&[IMAGE]))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "before 2.81: {v}");
    let (s, v) = env.req(Method::POST, &path, Some(cache(&[IMAGE, IMAGE]))).await;
    assert_eq!((s, msg(&v)), (StatusCode::BAD_REQUEST, "Duplicate images in request".to_string()));
    let missing = "0b4d3c1e-6a0f-4b7e-9d8c-1a2b3c4d5e6f";
    let (s, v) = env.req(Method::POST, &path, Some(cache(&[IMAGE, missing]))).await;
    assert_eq!((s, msg(&v)), (StatusCode::BAD_REQUEST, format!("Image {missing} could not be found.")));
    let (s, v) = env.req(Method::POST, "/os-aggregates/9999/images", Some(cache(&[IMAGE]))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = env.req(Method::POST, "/os-aggregates/x/images", Some(cache(&[IMAGE]))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    for bad in [
        json!({}),
        json!({"cache": []}),
        json!({"cache": [{"id": "nope"}]}),
        json!({"cache": [{"id": IMAGE, "x": 1}]}),
        json!({"cache": "x"}),
        json!({"cache": [IMAGE]}),
        json!({"cache": [{"id": IMAGE}], "more": 1}),
    ] {
        let (s, v) = env.req(Method::POST, &path, Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (s, v) = env.req_as("demo", Method::POST, &path, Some(cache(&[IMAGE]))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "admin only: {v}");
}
both_backends!(aggregate_image_cache_requests);

async fn new_group(env: &Env, body: Value) -> String {
    let (s, v) = env.req(Method::POST, "/os-server-groups", Some(json!({ "server_group": body }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["server_group"]["id"].as_str().unwrap().to_string()
}

/// A cloud whose default quotas fit the scenarios.
async fn roomy(backend: Backend) -> Env {
    let quota_defaults = berth_compute::QuotaDefaults { instances: 100, cores: 200, ram: -1, ..Default::default() };
    Env::with_config(backend, berth_compute::ComputeConfig { quota_defaults, ..Default::default() }).await
}

async fn server_groups_and_hints(backend: Backend) {
    let env = roomy(backend).await;
    let a1 = env.agent("h1", "fake:8,8192,100", &[]).await;
    let a2 = env.agent("h2", "fake:8,8192,100", &[]).await;
    let a3 = env.agent("h3", "fake:8,8192,100", &[]).await;
    let flavor = env.create_flavor("small", 1, 256, 1).await;

    // Views per microversion.
    let (s, v) = env
        .req(
            Method::POST,
            "/os-server-groups",
            Some(json!({"server_group": {"name": "anti", "policy": "anti-affinity"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let g = &v["server_group"];
    assert_eq!((&g["policy"], &g["rules"], &g["members"]), (&json!("anti-affinity"), &json!({}), &json!([])));
    assert!(g.get("policies").is_none() && g["project_id"].is_string() && g["user_id"].is_string(), "{g}");
    let anti = g["id"].as_str().unwrap().to_string();
    let (_, v) = at(&env, "compute 2.12", Method::GET, &format!("/os-server-groups/{anti}"), None).await;
    assert_eq!(v["server_group"]["policies"], json!(["anti-affinity"]));
    assert_eq!(v["server_group"]["metadata"], json!({}));
    assert!(v["server_group"].get("project_id").is_none(), "{v}");
    let (s, _) = at(
        &env,
        "compute 2.14",
        Method::POST,
        "/os-server-groups",
        Some(json!({"server_group": {"name": "x", "policies": ["soft-affinity"]}})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "soft policies from 2.15");
    let (s, v) = at(
        &env,
        "compute 2.15",
        Method::POST,
        "/os-server-groups",
        Some(json!({"server_group": {"name": "x", "policies": ["soft-affinity"]}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let old_style = v["server_group"]["id"].as_str().unwrap().to_string();
    let (s, v) = env
        .req(
            Method::POST,
            "/os-server-groups",
            Some(json!({"server_group": {"name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}})),
        )
        .await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::BAD_REQUEST, "Only anti-affinity policy supports rules."));
    for bad in [
        json!({"name": "x", "policy": "spread"}),
        json!({"name": "x"}),
        json!({"policy": "affinity"}),
        json!({"name": "x", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}),
        json!({"name": "x", "policy": "anti-affinity", "rules": {"other": 1}}),
        json!({"name": "x", "policies": ["affinity"]}),
    ] {
        let (s, v) = env.req(Method::POST, "/os-server-groups", Some(json!({ "server_group": bad }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // Anti-affinity: a multi-create of three lands on three hosts; a
    // fourth member finds no host.
    let (s, ids, v) = boot(&env, &flavor, json!({"min_count": 3}), Some(json!({"group": anti}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(ids.len(), 3);
    let mut hosts = BTreeSet::new();
    for id in &ids {
        hosts.insert(host_of(&env, id).await);
    }
    assert_eq!(hosts, BTreeSet::from(["h1".to_string(), "h2".into(), "h3".into()]));
    let (_, fourth, _) = boot(&env, &flavor, json!({}), Some(json!({"group": anti}))).await;
    assert_eq!(env.status(&fourth[0]).await, "ERROR");
    let (_, v) = env.req(Method::GET, &format!("/os-server-groups/{anti}"), None).await;
    let members: BTreeSet<String> =
        v["server_group"]["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
    assert_eq!(members.len(), 4, "{v}");
    // server_groups in server views from 2.71.
    let (_, v) = env.server(&ids[0]).await;
    assert_eq!(v["server_groups"], json!([anti]));
    let (_, v) = at(&env, "compute 2.70", Method::GET, &format!("/servers/{}", ids[0]), None).await;
    assert!(v["server"].get("server_groups").is_none(), "{v}");
    // Deleted members leave the views.
    env.req(Method::DELETE, &format!("/servers/{}", fourth[0]), None).await;
    let (_, v) = env.req(Method::GET, &format!("/os-server-groups/{anti}"), None).await;
    assert_eq!(v["server_group"]["members"].as_array().unwrap().len(), 3, "{v}");

    // Affinity: all on the host of the first.
    let aff = new_group(&env, json!({"name": "aff", "policy": "affinity"})).await;
    let (_, ids, _) = boot(&env, &flavor, json!({"min_count": 2}), Some(json!({"group": aff}))).await;
    let first = host_of(&env, &ids[0]).await;
    assert_eq!(host_of(&env, &ids[1]).await, first);
    for _ in 0..2 {
        let (_, more, _) = boot(&env, &flavor, json!({}), Some(json!({"group": aff}))).await;
        assert_eq!(host_of(&env, &more[0]).await, first);
    }
    // Soft anti-affinity spreads; soft affinity (2.15-style group) packs.
    let soft_anti = new_group(&env, json!({"name": "sa", "policy": "soft-anti-affinity"})).await;
    let (_, ids, _) = boot(&env, &flavor, json!({"min_count": 3}), Some(json!({"group": soft_anti}))).await;
    let mut hosts = BTreeSet::new();
    for id in &ids {
        hosts.insert(host_of(&env, id).await);
    }
    assert_eq!(hosts.len(), 3, "soft-anti-affinity spreads while it can");
    let (_, ids, _) = boot(&env, &flavor, json!({"min_count": 3}), Some(json!({"group": old_style}))).await;
    let mut hosts = BTreeSet::new();
    for id in &ids {
        hosts.insert(host_of(&env, id).await);
    }
    assert_eq!(hosts.len(), 1, "soft-affinity packs");
    // max_server_per_host.
    let two =
        new_group(&env, json!({"name": "two", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}})).await;
    let (_, ids, _) = boot(&env, &flavor, json!({"min_count": 6}), Some(json!({"group": two}))).await;
    let mut per_host = std::collections::BTreeMap::<String, usize>::new();
    for id in &ids {
        *per_host.entry(host_of(&env, id).await).or_default() += 1;
    }
    assert_eq!(per_host.values().copied().collect::<Vec<_>>(), vec![2, 2, 2], "{per_host:?}");
    let (_, v) = env.req(Method::GET, &format!("/os-server-groups/{two}"), None).await;
    assert_eq!(v["server_group"]["rules"], json!({"max_server_per_host": 2}));

    // same_host / different_host.
    let (_, base, _) = boot(&env, &flavor, json!({}), None).await;
    let base_host = host_of(&env, &base[0]).await;
    for _ in 0..3 {
        let (_, ids, _) = boot(&env, &flavor, json!({}), Some(json!({"same_host": base[0]}))).await;
        assert_eq!(host_of(&env, &ids[0]).await, base_host);
        let (_, ids, _) = boot(&env, &flavor, json!({}), Some(json!({"different_host": [base[0]]}))).await;
        assert_ne!(host_of(&env, &ids[0]).await, base_host);
    }
    // Bad hints.
    let missing = uuid::Uuid::new_v4();
    let (s, _, v) = boot(&env, &flavor, json!({}), Some(json!({"group": missing.to_string()}))).await;
    assert_eq!((s, msg(&v)), (StatusCode::BAD_REQUEST, format!("Instance group {missing} could not be found.")));
    for bad in [json!({"group": "nope"}), json!({"same_host": 5}), json!({"different_host": ["x"]}), json!("hints")] {
        let (s, _, v) = boot(&env, &flavor, json!({}), Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    // Unknown hints are accepted (Nova's schema allows them).
    let (s, _, v) = boot(&env, &flavor, json!({}), Some(json!({"build_near_host_ip": "10.0.0.1"}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    drain(&[&a1, &a2, &a3]).await;

    // Quotas: server groups per project, members per group.
    let (s, v) = env.req_as("q", Method::GET, "/limits", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["limits"]["absolute"]["totalServerGroupsUsed"], 0);
    let (s, _) = env
        .req(
            Method::PUT,
            "/os-quota-sets/q",
            Some(json!({"quota_set": {"server_groups": 1, "server_group_members": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = env
        .req_as(
            "q",
            Method::POST,
            "/os-server-groups",
            Some(json!({"server_group": {"name": "q1", "policy": "affinity"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let qg = v["server_group"]["id"].as_str().unwrap().to_string();
    let (s, v) = env
        .req_as(
            "q",
            Method::POST,
            "/os-server-groups",
            Some(json!({"server_group": {"name": "q2", "policy": "affinity"}})),
        )
        .await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::FORBIDDEN, "Quota exceeded, too many server groups."));
    let (_, v) = env.req_as("q", Method::GET, "/limits", None).await;
    assert_eq!(v["limits"]["absolute"]["totalServerGroupsUsed"], 1);
    assert_eq!(v["limits"]["absolute"]["maxServerGroups"], 1);
    let body = |n: &str| json!({"server": {"name": n, "flavorRef": flavor, "imageRef": IMAGE, "networks": "none"}, "os:scheduler_hints": {"group": qg}});
    let (s, v) = env.req_as("q", Method::POST, "/servers", Some(body("m1"))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (s, v) = env.req_as("q", Method::POST, "/servers", Some(body("m2"))).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::FORBIDDEN, "Quota exceeded, too many servers in group"));
    // Listing: own groups; all projects for admins only.
    let (_, v) = env.req_as("q", Method::GET, "/os-server-groups?all_projects=1", None).await;
    assert_eq!(v["server_groups"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = env.req(Method::GET, "/os-server-groups?all_projects=1", None).await;
    assert_eq!(v["server_groups"].as_array().unwrap().len(), 6, "{v}");
    let (_, v) = env.req(Method::GET, "/os-server-groups?all_projects=1&limit=2&offset=1", None).await;
    assert_eq!(v["server_groups"].as_array().unwrap().len(), 2, "{v}");
    let (s, _) = env.req(Method::GET, "/os-server-groups?limit=-1", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Another project's group is not theirs to see or delete.
    let (s, _) = env.req_as("other", Method::GET, &format!("/os-server-groups/{qg}"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.req_as("other", Method::DELETE, &format!("/os-server-groups/{qg}"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.req_as("q", Method::DELETE, &format!("/os-server-groups/{qg}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = env.req(Method::GET, &format!("/os-server-groups/{qg}"), None).await;
    assert_eq!((s, msg(&v)), (StatusCode::NOT_FOUND, format!("Instance group {qg} could not be found.")));
    let (s, _) = env.req(Method::GET, "/os-server-groups/not-a-uuid", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
both_backends!(server_groups_and_hints);

async fn hosts_and_hypervisor_extras(backend: Backend) {
    let env = Env::new(backend).await;
    let a1 = env.agent("h1", "fake:8,8192,100", &[]).await;
    let a2 = env.agent("h2", "fake:4,4096,50", &[]).await;
    let flavor = env.create_flavor("small", 1, 256, 1).await;
    let (_, ids, _) = boot(&env, &flavor, json!({"availability_zone": "nova:h1"}), None).await;
    drain(&[&a1, &a2]).await;
    let server = ids[0].clone();

    // os-hosts until 2.42.
    let v21 = "compute 2.1";
    let (s, v) = at(&env, v21, Method::GET, "/os-hosts", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["hosts"],
        json!([{"host_name": "h1", "service": "compute", "zone": "nova"}, {"host_name": "h2", "service": "compute", "zone": "nova"}])
    );
    let (_, v) = at(&env, v21, Method::GET, "/os-hosts?zone=elsewhere", None).await;
    assert_eq!(v["hosts"], json!([]));
    let (s, v) = at(&env, v21, Method::GET, "/os-hosts/h1", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rows: Vec<&Value> = v["host"].as_array().unwrap().iter().map(|r| &r["resource"]).collect();
    assert_eq!(rows[0], &json!({"host": "h1", "project": "(total)", "cpu": 8, "memory_mb": 8192, "disk_gb": 100}));
    assert_eq!(rows[1]["project"], "(used_now)");
    assert_eq!((&rows[1]["cpu"], &rows[1]["memory_mb"], &rows[1]["disk_gb"]), (&json!(1), &json!(256), &json!(1)));
    assert_eq!(rows[2], &json!({"host": "h1", "project": "(used_max)", "cpu": 1, "memory_mb": 256, "disk_gb": 1}));
    assert_eq!(rows.len(), 4, "one row per project: {v}");
    let (s, v) = at(&env, v21, Method::GET, "/os-hosts/nope", None).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::NOT_FOUND, "Host 'nope' is not mapped to any cell"));
    // Disabling through os-hosts disables the compute service.
    let (s, v) =
        at(&env, v21, Method::PUT, "/os-hosts/h2", Some(json!({"status": "disable", "maintenance_mode": "Enable"})))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"host": "h2", "status": "disabled", "maintenance_mode": "on_maintenance"}));
    let (_, v) = env.req(Method::GET, "/os-services?host=h2", None).await;
    assert_eq!(v["services"][0]["status"], "disabled");
    let (_, v) = at(&env, v21, Method::GET, "/os-hosts", None).await;
    assert_eq!(v["hosts"].as_array().unwrap().len(), 1, "disabled hosts are not listed: {v}");
    let (s, v) = at(&env, v21, Method::PUT, "/os-hosts/h2", Some(json!({"status": "ENABLE"}))).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"host": "h2", "status": "enabled"})));
    for bad in [json!({}), json!({"status": "on"}), json!({"other": "enable"}), json!({"status": 1})] {
        let (s, v) = at(&env, v21, Method::PUT, "/os-hosts/h2", Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (s, v) = at(&env, v21, Method::PUT, "/os-hosts/nope", Some(json!({"status": "enable"}))).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::NOT_FOUND, "Host nope could not be found."));
    let (s, v) = at(&env, v21, Method::GET, "/os-hosts/h1/reboot", None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"host": "h1", "power_action": "reboot"})));
    for path in ["/os-hosts", "/os-hosts/h1", "/os-hosts/h1/startup"] {
        let (s, _) = at(&env, "compute 2.43", Method::GET, path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path} is gone from 2.43");
    }

    // Hypervisor uptime: integer ids before 2.53, uuids after, gone at 2.88
    // (the detail view carries it).
    let (_, v) = at(&env, "compute 2.52", Method::GET, "/os-hypervisors", None).await;
    let int_id =
        v["hypervisors"].as_array().unwrap().iter().find(|h| h["hypervisor_hostname"] == "h1").unwrap()["id"].clone();
    assert!(int_id.is_i64(), "{v}");
    let (s, v) = at(&env, "compute 2.52", Method::GET, &format!("/os-hypervisors/{int_id}/uptime"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["hypervisor"]["hypervisor_hostname"], "h1");
    assert!(v["hypervisor"]["uptime"].as_str().unwrap().contains(" up 0 days,"), "{v}");
    let node1 = a1.node_uuid().unwrap();
    let (s, v) = at(&env, "compute 2.87", Method::GET, &format!("/os-hypervisors/{node1}/uptime"), None).await;
    assert_eq!((s, &v["hypervisor"]["id"]), (StatusCode::OK, &json!(node1)), "{v}");
    let (s, _) = at(&env, "compute 2.87", Method::GET, "/os-hypervisors/abc/uptime", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = at(&env, "compute 2.88", Method::GET, &format!("/os-hypervisors/{node1}/uptime"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = env.req(Method::GET, &format!("/os-hypervisors/{node1}"), None).await;
    assert!(v["hypervisor"]["uptime"].as_str().is_some_and(|u| u.contains("load average")), "{v}");
    assert!(v["hypervisor"].get("vcpus").is_none(), "2.88 removed the resource fields: {v}");

    // search and servers until 2.52.
    let (s, v) = at(&env, "compute 2.52", Method::GET, "/os-hypervisors/h/search", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["hypervisors"].as_array().unwrap().len(), 2);
    assert!(v["hypervisors"][0].get("vcpus").is_none(), "search shows the summary view: {v}");
    let (s, v) = at(&env, "compute 2.52", Method::GET, "/os-hypervisors/zz/search", None).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::NOT_FOUND, "No hypervisor matching 'zz' could be found."));
    let (_, v) = at(&env, "compute 2.52", Method::GET, "/os-hypervisors/h/servers", None).await;
    let h1 = v["hypervisors"].as_array().unwrap().iter().find(|h| h["hypervisor_hostname"] == "h1").unwrap().clone();
    let h2 = v["hypervisors"].as_array().unwrap().iter().find(|h| h["hypervisor_hostname"] == "h2").unwrap().clone();
    assert_eq!(h1["servers"][0]["uuid"], json!(server));
    assert!(h1["servers"][0]["name"].as_str().unwrap().starts_with("instance-"));
    assert!(h2.get("servers").is_none(), "{h2}");
    for path in ["/os-hypervisors/h/search", "/os-hypervisors/h/servers"] {
        let (s, _) = at(&env, "compute 2.53", Method::GET, path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path} is gone from 2.53");
    }
    // 2.53's query forms.
    let (_, v) = env.req(Method::GET, "/os-hypervisors?hypervisor_hostname_pattern=h1&with_servers=true", None).await;
    assert_eq!(v["hypervisors"].as_array().unwrap().len(), 1);
    assert_eq!(v["hypervisors"][0]["servers"][0]["uuid"], json!(server));
    let (_, v) = env.req(Method::GET, "/os-hypervisors?hypervisor_hostname_pattern=h2&with_servers=1", None).await;
    assert_eq!(v["hypervisors"][0]["servers"], json!([]), "an empty list from 2.75");
    let (_, v) =
        at(&env, "compute 2.74", Method::GET, "/os-hypervisors?hypervisor_hostname_pattern=h2&with_servers=1", None)
            .await;
    assert!(v["hypervisors"][0].get("servers").is_none(), "no key before 2.75: {v}");
    let (s, v) = env.req(Method::GET, "/os-hypervisors?hypervisor_hostname_pattern=zz", None).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::NOT_FOUND, "No hypervisor matching 'zz' could be found."));
    let (s, _) = env.req(Method::GET, "/os-hypervisors?hypervisor_hostname_pattern=h&limit=1", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.req(Method::GET, "/os-hypervisors/detail?with_servers=maybe", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, v) = env.req(Method::GET, &format!("/os-hypervisors/{node1}?with_servers=true"), None).await;
    assert_eq!(v["hypervisor"]["servers"][0]["uuid"], json!(server));
    // A host that is down has no uptime.
    env.update_service("h2", json!({"forced_down": true})).await;
    let node2 = a2.node_uuid().unwrap();
    let (s, v) = at(&env, "compute 2.87", Method::GET, &format!("/os-hypervisors/{node2}/uptime"), None).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::BAD_REQUEST, "Compute service of h2 is unavailable at this time."));
    let (_, v) = env.req(Method::GET, &format!("/os-hypervisors/{node2}"), None).await;
    assert_eq!(v["hypervisor"]["uptime"], Value::Null);
    env.update_service("h2", json!({"forced_down": false})).await;
}
both_backends!(hosts_and_hypervisor_extras);

async fn usage_quota_classes_extensions_audit(backend: Backend) {
    let env = Env::new(backend).await;
    let a1 = env.agent("h1", "fake:8,8192,100", &[]).await;
    let flavor = env.create_flavor("small", 2, 512, 3).await;
    let before = berth_time::iso_micros(berth_time::now() - 1_000_000);
    let (_, ids, _) = boot(&env, &flavor, json!({"min_count": 3}), None).await;
    drain(&[&a1]).await;
    env.req(Method::DELETE, &format!("/servers/{}", ids[2]), None).await;
    drain(&[&a1]).await;

    // All projects (admin), summary and detailed.
    let (s, v) = env.req(Method::GET, &format!("/os-simple-tenant-usage?start={before}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let u = &v["tenant_usages"][0];
    assert!(u["tenant_id"].is_string() && u.get("server_usages").is_none(), "{v}");
    assert!(u["total_hours"].as_f64().unwrap() > 0.0 && u["total_vcpus_usage"].as_f64().unwrap() > 0.0, "{v}");
    let project = u["tenant_id"].as_str().unwrap().to_string();
    let (_, v) = env.req(Method::GET, &format!("/os-simple-tenant-usage?start={before}&detailed=1"), None).await;
    let servers = v["tenant_usages"][0]["server_usages"].as_array().unwrap().clone();
    assert_eq!(servers.len(), 3, "deleted servers are reported too: {v}");
    let states: BTreeSet<&str> = servers.iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, BTreeSet::from(["active", "terminated"]));
    let s0 = &servers[0];
    assert_eq!(
        (&s0["vcpus"], &s0["memory_mb"], &s0["local_gb"], &s0["flavor"]),
        (&json!(2), &json!(512), &json!(3), &json!("small"))
    );
    // One project; paging (2.40) with a next link.
    let (s, v) = env.req(Method::GET, &format!("/os-simple-tenant-usage/{project}?start={before}&limit=2"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tenant_usage"]["server_usages"].as_array().unwrap().len(), 2);
    let next = v["tenant_usage_links"][0]["href"].as_str().unwrap();
    assert!(next.contains("marker=") && next.contains(&format!("os-simple-tenant-usage/{project}")), "{v}");
    let marker = v["tenant_usage"]["server_usages"][1]["instance_id"].as_str().unwrap();
    let (_, v) = env
        .req(Method::GET, &format!("/os-simple-tenant-usage/{project}?start={before}&limit=2&marker={marker}"), None)
        .await;
    assert_eq!(v["tenant_usage"]["server_usages"].as_array().unwrap().len(), 1, "{v}");
    assert!(v.get("tenant_usage_links").is_none());
    let (_, v) = at(
        &env,
        "compute 2.39",
        Method::GET,
        &format!("/os-simple-tenant-usage/{project}?start={before}&limit=1"),
        None,
    )
    .await;
    assert_eq!(v["tenant_usage"]["server_usages"].as_array().unwrap().len(), 3, "no paging before 2.40");
    let (_, v) = env.req(Method::GET, "/os-simple-tenant-usage/nobody", None).await;
    assert_eq!(v, json!({"tenant_usage": {}}));
    for q in ["start=2030-01-01T00:00:00&end=2020-01-01T00:00:00", "start=yesterday", "limit=-1", "marker=nope"] {
        let (s, v) = env.req(Method::GET, &format!("/os-simple-tenant-usage?{q}"), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {v}");
    }
    let (s, _) = env.req_as("p", Method::GET, "/os-simple-tenant-usage", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.req_as("p", Method::GET, "/os-simple-tenant-usage/p", None).await;
    assert_eq!(s, StatusCode::OK);

    // Quota classes: the default class is every project's defaults.
    let (s, v) = env.req(Method::GET, "/os-quota-class-sets/default", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((&v["quota_class_set"]["id"], &v["quota_class_set"]["instances"]), (&json!("default"), &json!(10)));
    assert!(v["quota_class_set"].get("injected_files").is_none() && v["quota_class_set"]["server_groups"] == 10);
    let (_, v) = at(&env, "compute 2.49", Method::GET, "/os-quota-class-sets/default", None).await;
    assert!(v["quota_class_set"].get("server_groups").is_none() && v["quota_class_set"]["floating_ips"] == 10, "{v}");
    let (s, v) = env
        .req(
            Method::PUT,
            "/os-quota-class-sets/default",
            Some(json!({"quota_class_set": {"instances": 2, "key_pairs": 7}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((&v["quota_class_set"]["instances"], v["quota_class_set"].get("id")), (&json!(2), None));
    let (_, v) = env.req_as("fresh", Method::GET, "/limits", None).await;
    assert_eq!(v["limits"]["absolute"]["maxTotalInstances"], 2, "{v}");
    let (_, v) = env.req(Method::GET, "/os-quota-sets/fresh/defaults", None).await;
    assert_eq!(v["quota_set"]["key_pairs"], 7);
    let body =
        json!({"server": {"name": "q", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none", "min_count": 3}});
    let (s, _) = env.req_as("fresh", Method::POST, "/servers", Some(body)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the default class limits projects");
    for bad in [
        json!({"quota_class_set": {"instances": "many"}}),
        json!({"quota_class_set": {"bogus": 1}}),
        json!({"quota_class_set": {"injected_files": 1}}),
        json!({"other": {}}),
    ] {
        let (s, v) = env.req(Method::PUT, "/os-quota-class-sets/default", Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (s, _) = env.req_as("p", Method::GET, "/os-quota-class-sets/default", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Extensions.
    let (s, v) = env.req_as("p", Method::GET, "/extensions", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["extensions"].as_array().unwrap().len() > 50);
    let (_, v) = env.req(Method::GET, "/extensions/OS-EXT-AZ", None).await;
    assert_eq!(v["extension"]["name"], "ExtendedAvailabilityZone");
    let (s, _) = env.req(Method::GET, "/extensions/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Instance usage audit log: berth runs no audit task.
    let (s, v) = env.req(Method::GET, "/os-instance_usage_audit_log", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let log = &v["instance_usage_audit_logs"];
    assert_eq!(
        (&log["num_hosts"], &log["hosts_not_run"], &log["overall_status"]),
        (&json!(1), &json!(["h1"]), &json!("0 of 1 hosts done. 0 errors."))
    );
    let (_, v) = env.req(Method::GET, "/os-instance_usage_audit_log/2024-03-15%2010:00:00", None).await;
    let log = &v["instance_usage_audit_log"];
    assert_eq!(
        (&log["period_beginning"], &log["period_ending"]),
        (&json!("2024-02-01 00:00:00"), &json!("2024-03-01 00:00:00"))
    );
    let (_, v) = env.req(Method::GET, "/os-instance_usage_audit_log/2024-01-15%2010:00:00.5", None).await;
    assert_eq!(v["instance_usage_audit_log"]["period_beginning"], "2023-12-01 00:00:00");
    let (s, v) = env.req(Method::GET, "/os-instance_usage_audit_log/yesterday", None).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::BAD_REQUEST, "Invalid timestamp for date yesterday"));
}
both_backends!(usage_quota_classes_extensions_audit);

async fn image_proxy(backend: Backend) {
    let env = Env::with_glance(backend).await;
    let v235 = "compute 2.35";
    // Two images in the image API.
    let mut ids = Vec::new();
    for name in ["alpha", "beta"] {
        let body =
            json!({"name": name, "disk_format": "raw", "container_format": "bare", "min_ram": 64, "hw_arch": "x86_64"});
        let (s, v) = env.raw(Method::POST, "/image/v2/images", body.to_string().into_bytes(), &[]).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let (s, v) = at(&env, v235, Method::GET, "/images", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let names: BTreeSet<&str> = v["images"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["alpha", "beta"]));
    assert_eq!(v["images"][0]["links"].as_array().unwrap().len(), 3, "{v}");
    let (_, v) = at(&env, v235, Method::GET, "/images/detail?name=alpha", None).await;
    let img = &v["images"][0];
    assert_eq!(
        (&img["name"], &img["status"], &img["progress"], &img["minRam"]),
        (&json!("alpha"), &json!("SAVING"), &json!(25), &json!(64))
    );
    assert_eq!(img["metadata"], json!({"hw_arch": "x86_64"}));
    // Nova's filters, as its image client translates them.
    let names_of = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> =
            v["images"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect();
        n.sort();
        n
    };
    let patch = json!([{"op": "add", "path": "/image_type", "value": "snapshot"},
        {"op": "add", "path": "/instance_uuid", "value": "0e4a8c52-1d7b-4f4a-9d36-5a5b0b7c0f11"},
        {"op": "replace", "path": "/min_disk", "value": 5}]);
    let (s, v) = env
        .raw(
            Method::PATCH,
            &format!("/image/v2/images/{}", ids[1]),
            patch.to_string().into_bytes(),
            &[("content-type", "application/openstack-images-v2.1-json-patch")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for (query, want) in [
        ("type=snapshot", vec!["beta"]),
        ("server=0e4a8c52-1d7b-4f4a-9d36-5a5b0b7c0f11", vec!["beta"]),
        ("server=http%3A%2F%2Fx%2Fcompute%2Fv2.1%2Fservers%2F0e4a8c52-1d7b-4f4a-9d36-5a5b0b7c0f11", vec!["beta"]),
        ("minDisk=5", vec!["beta"]),
        ("minRam=64", vec!["alpha", "beta"]),
        ("minRam=65", vec![]),
        ("property-hw_arch=x86_64", vec!["alpha", "beta"]),
        ("property-hw_arch=arm", vec![]),
        // Passed through lower-cased, as Nova does (its SAVING is the
        // image API's queued or saving).
        ("status=QUEUED", vec!["alpha", "beta"]),
        ("status=active", vec![]),
        ("changes-since=2000-01-01T00:00:00Z", vec!["alpha", "beta"]),
        ("changes-since=2999-01-01T00:00:00Z", vec![]),
    ] {
        let (s, v) = at(&env, v235, Method::GET, &format!("/images/detail?{query}"), None).await;
        assert_eq!(s, StatusCode::OK, "{query}: {v}");
        assert_eq!(names_of(&v), want, "{query}");
    }
    let (_, v) = at(&env, v235, Method::GET, "/images?limit=1", None).await;
    assert_eq!(v["images"].as_array().unwrap().len(), 1);
    assert!(v["images_links"][0]["href"].as_str().unwrap().contains("marker="), "{v}");
    let (s, v) = at(&env, v235, Method::GET, &format!("/images/{}", ids[0]), None).await;
    assert_eq!((s, &v["image"]["id"]), (StatusCode::OK, &json!(ids[0])));
    let (s, v) = at(&env, v235, Method::GET, &format!("/images/{}", uuid::Uuid::new_v4()), None).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::NOT_FOUND, "Image not found."));

    // Metadata: merge, replace, one key, delete.
    let path = format!("/images/{}/metadata", ids[0]);
    let (s, v) = at(&env, v235, Method::POST, &path, Some(json!({"metadata": {"os_distro": "cirros"}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"], json!({"hw_arch": "x86_64", "os_distro": "cirros"}));
    let (_, v) = at(&env, v235, Method::GET, &format!("{path}/os_distro"), None).await;
    assert_eq!(v, json!({"meta": {"os_distro": "cirros"}}));
    let (s, v) =
        at(&env, v235, Method::PUT, &format!("{path}/os_distro"), Some(json!({"meta": {"os_distro": "fedora"}}))).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"meta": {"os_distro": "fedora"}})));
    let (s, v) = at(&env, v235, Method::PUT, &format!("{path}/os_distro"), Some(json!({"meta": {"other": "x"}}))).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::BAD_REQUEST, "Request body and URI mismatch"));
    let (s, v) = at(&env, v235, Method::PUT, &path, Some(json!({"metadata": {"only": "this"}}))).await;
    assert_eq!((s, &v["metadata"]), (StatusCode::OK, &json!({"only": "this"})));
    let (_, v) = env.raw(Method::GET, &format!("/image/v2/images/{}", ids[0]), Vec::new(), &[]).await;
    assert_eq!((&v["only"], v.get("hw_arch")), (&json!("this"), None), "the image API holds the change: {v}");
    let (s, _) = at(&env, v235, Method::DELETE, &format!("{path}/only"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = at(&env, v235, Method::DELETE, &format!("{path}/only"), None).await;
    assert_eq!((s, msg(&v).as_str()), (StatusCode::NOT_FOUND, "Invalid metadata key"));
    let (s, _) = at(&env, v235, Method::POST, &path, Some(json!({"metadata": {"k": 1}}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Another project cannot see a private image.
    let (s, _) = env
        .raw(
            Method::GET,
            &format!("/compute/v2.1/images/{}", ids[1]),
            Vec::new(),
            &[("openstack-api-version", v235), ("x-auth-token", "u:other"), ("x-roles", "member")],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Delete; gone from 2.36.
    let (s, _) = at(&env, v235, Method::DELETE, &format!("/images/{}", ids[1]), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = at(&env, v235, Method::GET, "/images", None).await;
    assert_eq!(v["images"].as_array().unwrap().len(), 1);
    for path in ["/images".to_string(), format!("/images/{}", ids[0]), format!("/images/{}/metadata", ids[0])] {
        let (s, _) = at(&env, "compute 2.36", Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path} is gone from 2.36");
    }
}
both_backends!(image_proxy);
