//! The compute API over HTTP: scheduling (capacity, traits, disabled
//! services, image properties), concurrency, versions, flavors, services,
//! hypervisors, limits and quotas, policy, and bad input.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

async fn scheduling_respects_capacity(backend: Backend) {
    let env = Env::new(backend).await;
    // 2048 MB with 512 reserved: room for one 1024 MB server.
    let a = env.agent("small", "fake:2,2048,20", &[]).await;
    let rp = a.node_uuid().unwrap();
    let f = env.create_flavor("big", 1, 1024, 5).await;
    let first = env.create_server("one", &f).await;
    let second = env.create_server("two", &f).await;
    drain(&[&a]).await;
    assert_eq!(env.status(&first).await, "ACTIVE");
    assert_eq!(env.status(&second).await, "ERROR");
    let (_, v) = env.server(&second).await;
    assert!(v["fault"]["message"].as_str().unwrap().contains("No valid host"), "{v}");
    assert_eq!(v["fault"]["code"], 500);
    assert_eq!(env.usages(rp).await, usage(1, 1024, 5));
    // Deleting the failed server (never scheduled) is immediate.
    let (s, _) = env.req(Method::DELETE, &format!("/servers/{second}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(env.status(&second).await, "GONE");
    assert!(env.svc.audit(false).await.unwrap().is_clean());
}
both_backends!(scheduling_respects_capacity);

async fn scheduling_respects_traits_and_images(backend: Backend) {
    let env = Env::new(backend).await;
    let plain = env.agent("plain", "fake:8,8192,100", &[]).await;
    let gold = env.agent("gold", "fake:8,8192,100", &["CUSTOM_GOLD"]).await;
    let f = env.create_flavor("gold", 1, 256, 1).await;
    env.set_specs(&f, json!({"trait:CUSTOM_GOLD": "required"})).await;
    let g = env.create_flavor("notgold", 1, 256, 1).await;
    env.set_specs(&g, json!({"trait:CUSTOM_GOLD": "forbidden"})).await;
    for _ in 0..3 {
        let id = env.create_server("g", &f).await;
        let (_, v) = env.server(&id).await;
        assert_eq!(v["OS-EXT-SRV-ATTR:host"], "gold");
        let id = env.create_server("n", &g).await;
        let (_, v) = env.server(&id).await;
        assert_eq!(v["OS-EXT-SRV-ATTR:host"], "plain");
    }
    // Custom resources nobody has: no valid host.
    let r = env.create_flavor("gpu", 1, 256, 1).await;
    env.set_specs(&r, json!({"resources:CUSTOM_GPU": "1"})).await;
    let id = env.create_server("gpu", &r).await;
    assert_eq!(env.status(&id).await, "ERROR");
    // An aarch64 image cannot land on the x86_64 simulated hosts.
    let plainf = env.create_flavor("plainf", 1, 256, 1).await;
    let id = env.create_server_image("arm", &plainf, ARM_IMAGE).await;
    assert_eq!(env.status(&id).await, "ERROR");
    drain(&[&plain, &gold]).await;
}
both_backends!(scheduling_respects_traits_and_images);

async fn disabled_services_get_no_servers(backend: Backend) {
    let env = Env::new(backend).await;
    let a1 = env.agent("host1", "fake:8,8192,100", &[]).await;
    let a2 = env.agent("host2", "fake:8,8192,100", &[]).await;
    let rp1 = a1.node_uuid().unwrap();
    let svc = env.update_service("host1", json!({"status": "disabled", "disabled_reason": "maintenance"})).await;
    assert_eq!(svc["disabled_reason"], "maintenance");
    let traits = env.placement.get_traits(rp1).await.unwrap().traits;
    assert!(traits.contains(&"COMPUTE_STATUS_DISABLED".to_string()), "{traits:?}");
    let f = env.create_flavor("f", 1, 256, 1).await;
    for i in 0..4 {
        let id = env.create_server(&format!("s{i}"), &f).await;
        let (_, v) = env.server(&id).await;
        assert_eq!(v["OS-EXT-SRV-ATTR:host"], "host2", "{v}");
    }
    // Re-enabling clears the trait; the agent's periodic sync agrees.
    env.update_service("host1", json!({"status": "enabled"})).await;
    a1.update_resources().await.unwrap();
    let traits = env.placement.get_traits(rp1).await.unwrap().traits;
    assert!(!traits.contains(&"COMPUTE_STATUS_DISABLED".to_string()));
    // A forced-down host is filtered too (no trait, but the service is down).
    env.update_service("host2", json!({"forced_down": true})).await;
    let id = env.create_server("after", &f).await;
    let (_, v) = env.server(&id).await;
    assert_eq!(v["OS-EXT-SRV-ATTR:host"], "host1");
    assert_eq!(v["host_status"], "UP");
    drain(&[&a1, &a2]).await;
    // Hypervisors show the usage from Placement (2.87: with usage fields).
    let (s, v) = env
        .raw(Method::GET, "/compute/v2.1/os-hypervisors/detail", vec![], &[("openstack-api-version", "compute 2.87")])
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let hv: Vec<&Value> = v["hypervisors"].as_array().unwrap().iter().collect();
    assert_eq!(hv.len(), 2);
    let h2 = hv.iter().find(|h| h["hypervisor_hostname"] == "host2").unwrap();
    assert_eq!(h2["vcpus_used"], 4);
    assert_eq!(h2["memory_mb_used"], 1024);
    assert_eq!(h2["running_vms"], 4);
    assert_eq!(h2["state"], "down");
    let (s, v) = env.req(Method::GET, "/os-hypervisors", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["hypervisors"][0]["status"], "enabled");
    let id = v["hypervisors"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = env.req(Method::GET, &format!("/os-hypervisors/{id}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["hypervisor"]["service"]["host"].is_string());
}
both_backends!(disabled_services_get_no_servers);

async fn concurrent_creates_never_overcommit(backend: Backend) {
    let env = Arc::new(Env::new(backend).await);
    // Two hosts with room for 3 servers each (4096 - 512 reserved = 3584 MB).
    let a1 = env.agent("c1", "fake:64,4096,1000", &[]).await;
    let a2 = env.agent("c2", "fake:64,4096,1000", &[]).await;
    let f = env.create_flavor("m", 1, 1024, 1).await;
    let (s, _) = env.req(Method::PUT, "/os-quota-sets/admin", Some(json!({"quota_set": {"instances": 100}}))).await;
    assert_eq!(s, StatusCode::OK);
    let mut handles = Vec::new();
    for i in 0..12 {
        let env = env.clone();
        let f = f.clone();
        handles.push(tokio::spawn(async move { env.create_server(&format!("c{i}"), &f).await }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap());
    }
    drain(&[&a1, &a2]).await;
    let mut active = 0;
    for id in &ids {
        match env.status(id).await.as_str() {
            "ACTIVE" => active += 1,
            "ERROR" => {
                let (_, v) = env.server(id).await;
                let msg = v["fault"]["message"].as_str().unwrap_or_default().to_string();
                assert!(msg.contains("There are not enough hosts available"), "{msg}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(active, 6, "exactly the capacity is used");
    for a in [&a1, &a2] {
        let u = env.usages(a.node_uuid().unwrap()).await;
        assert_eq!(u.get("MEMORY_MB"), Some(&3072), "{u:?}");
    }
}
both_backends!(concurrent_creates_never_overcommit);

/// Concurrent creates that each pass the first quota check must not leave the
/// project over its limit: the recheck after the claim undoes the excess.
async fn concurrent_creates_respect_quota(backend: Backend) {
    let env = Arc::new(Env::new(backend).await);
    let a1 = env.agent("q1", "fake:64,65536,1000", &[]).await;
    let f = env.create_flavor("q", 1, 256, 1).await;
    let (s, _) = env.req(Method::PUT, "/os-quota-sets/admin", Some(json!({"quota_set": {"instances": 4}}))).await;
    assert_eq!(s, StatusCode::OK);
    let mut handles = Vec::new();
    for i in 0..12 {
        let env = env.clone();
        let f = f.clone();
        handles.push(tokio::spawn(async move {
            env.req(
                Method::POST,
                "/servers",
                Some(json!({"server": {"name": format!("q{i}"), "flavorRef": f,
                "imageRef": IMAGE, "networks": "none"}})),
            )
            .await
        }));
    }
    let mut accepted = 0;
    for h in handles {
        let (s, v) = h.await.unwrap();
        match s {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::FORBIDDEN => assert!(v.to_string().contains("uota"), "{v}"),
            other => panic!("create answered {other}: {v}"),
        }
    }
    drain(&[&a1]).await;
    let (_, v) = env.req(Method::GET, "/servers", None).await;
    let live = v["servers"].as_array().map(Vec::len).unwrap_or(0);
    // As in Nova, racing creates may all be refused by the recheck; what
    // must hold is that the project never ends over its quota and nothing
    // refused is left behind.
    assert!(live <= 4, "{live} servers exceed the quota of 4");
    assert_eq!(live, accepted, "every accepted create is a live server, every refused one left nothing");
    let u = env.usages(a1.node_uuid().unwrap()).await;
    assert_eq!(u.get("MEMORY_MB").copied().unwrap_or(0), 256 * live as i64, "{u:?}");
    // One at a time, creates succeed up to the quota and the next is refused.
    for i in live..4 {
        env.create_server(&format!("s{i}"), &f).await;
    }
    let (s, v) = env
        .req(
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "over", "flavorRef": f, "imageRef": IMAGE, "networks": "none"}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
}
both_backends!(concurrent_creates_respect_quota);

async fn server_lifecycle_and_views(backend: Backend) {
    let env = Env::new(backend).await;
    let a = env.agent("host1", "fake", &[]).await;
    let f = env.create_flavor("m1.tiny", 1, 512, 1).await;
    let (s, v) = env
        .req(
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "web", "flavorRef": f, "imageRef": IMAGE, "networks": "auto", "metadata": {"a": "1"}, "description": "d"}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    assert!(v["server"]["adminPass"].is_string());
    drain(&[&a]).await;
    let (_, sv) = env.server(&id).await;
    assert_eq!(sv["status"], "ACTIVE");
    assert_eq!(sv["OS-EXT-STS:power_state"], 1);
    assert_eq!(sv["flavor"]["original_name"], "m1.tiny");
    assert_eq!(sv["flavor"]["ram"], 512);
    assert_eq!(sv["metadata"]["a"], "1");
    assert_eq!(sv["description"], "d");
    assert_eq!(sv["image"]["id"], IMAGE);
    assert_eq!(sv["OS-EXT-AZ:availability_zone"], "nova");
    assert_eq!(sv["pinned_availability_zone"], Value::Null);
    assert!(sv["hostId"].as_str().unwrap().len() == 56);
    // Old microversion: flavor by reference.
    let (_, old) = env.raw(Method::GET, &format!("/compute/v2.1/servers/{id}"), vec![], &[]).await;
    assert_eq!(old["server"]["flavor"]["id"], f.as_str());
    assert!(old["server"].get("description").is_none());
    // Stop / start / reboot.
    let act = |body: Value| {
        let env = &env;
        let id = id.clone();
        async move { env.req(Method::POST, &format!("/servers/{id}/action"), Some(body)).await.0 }
    };
    assert_eq!(act(json!({"os-stop": null})).await, StatusCode::ACCEPTED);
    assert_eq!(act(json!({"os-stop": null})).await, StatusCode::CONFLICT, "already stopping");
    drain(&[&a]).await;
    assert_eq!(env.status(&id).await, "SHUTOFF");
    assert_eq!(act(json!({"os-start": null})).await, StatusCode::ACCEPTED);
    drain(&[&a]).await;
    assert_eq!(env.status(&id).await, "ACTIVE");
    assert_eq!(act(json!({"reboot": {"type": "SOFT"}})).await, StatusCode::ACCEPTED);
    assert_eq!(env.status(&id).await, "REBOOT");
    drain(&[&a]).await;
    assert_eq!(env.status(&id).await, "ACTIVE");
    assert_eq!(act(json!({"reboot": {"type": "BOGUS"}})).await, StatusCode::BAD_REQUEST);
    assert_eq!(act(json!({"os-migrateLive": null})).await, StatusCode::BAD_REQUEST);
    // Update and metadata.
    let (s, v) = env.req(Method::PUT, &format!("/servers/{id}"), Some(json!({"server": {"name": "web2"}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["server"]["name"], "web2");
    let (s, v) = env.req(Method::POST, &format!("/servers/{id}/metadata"), Some(json!({"metadata": {"b": "2"}}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["metadata"], json!({"a": "1", "b": "2"}));
    let (s, v) = env.req(Method::PUT, &format!("/servers/{id}/metadata/c"), Some(json!({"meta": {"c": "3"}}))).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"meta": {"c": "3"}})));
    let (s, _) = env.req(Method::PUT, &format!("/servers/{id}/metadata/c"), Some(json!({"meta": {"d": "3"}}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.req(Method::DELETE, &format!("/servers/{id}/metadata/a"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = env.req(Method::GET, &format!("/servers/{id}/metadata/a"), None).await;
    assert_eq!(v["itemNotFound"]["code"], 404);
    // Lists and filters.
    let (_, v) = env.req(Method::GET, "/servers", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    let (_, v) = env.req(Method::GET, "/servers/detail?status=ACTIVE&host=host1", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    let (_, v) = env.req(Method::GET, "/servers/detail?host=nowhere", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 0);
    let (_, v) = env.req(Method::GET, "/servers/detail?name=eb2", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    // Another project sees nothing, cannot show, and cannot list all.
    let (s, v) = env.req_as("other", Method::GET, "/servers/detail", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["servers"].as_array().unwrap().len(), 0);
    let (s, _) = env.req_as("other", Method::GET, &format!("/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = env.req_as("other", Method::GET, "/servers?all_tenants=1", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.req_as("other", Method::GET, "/os-hypervisors", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = env.req_as("other", Method::GET, "/servers?all_tenants=1", None).await;
    assert_eq!(v["forbidden"]["code"], 403, "{s} {v}");
    let (_, v) = env.req(Method::GET, "/servers?all_tenants=1", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    // forceDelete.
    assert_eq!(act(json!({"forceDelete": null})).await, StatusCode::ACCEPTED);
    drain(&[&a]).await;
    assert_eq!(env.status(&id).await, "GONE");
    let (_, v) = env.req(Method::GET, "/servers/detail?deleted=true", None).await;
    assert_eq!(v["servers"][0]["status"], "DELETED");
}
both_backends!(server_lifecycle_and_views);

async fn flavors_crud(backend: Backend) {
    let env = Env::new(backend).await;
    let (s, v) = env
        .req(
            Method::POST,
            "/flavors",
            Some(json!({"flavor": {"name": "priv", "vcpus": 2, "ram": 256, "disk": 1, "id": "p1", "os-flavor-access:is_public": false, "description": "x", "swap": 0}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["flavor"]["os-flavor-access:is_public"], false);
    assert_eq!(v["flavor"]["extra_specs"], json!({}));
    assert_eq!(v["flavor"]["swap"], 0);
    let (s, _) = env
        .req(Method::POST, "/flavors", Some(json!({"flavor": {"name": "priv", "vcpus": 2, "ram": 256, "disk": 1}})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Private: invisible to others until access is granted.
    let (_, v) = env.req_as("proj", Method::GET, "/flavors", None).await;
    assert_eq!(v["flavors"].as_array().unwrap().len(), 0);
    let (s, _) = env.req_as("proj", Method::GET, "/flavors/p1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) =
        env.req(Method::POST, "/flavors/p1/action", Some(json!({"addTenantAccess": {"tenant": "proj"}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["flavor_access"], json!([{"flavor_id": "p1", "tenant_id": "proj"}]));
    let (s, _) =
        env.req(Method::POST, "/flavors/p1/action", Some(json!({"addTenantAccess": {"tenant": "proj"}}))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, v) = env.req_as("proj", Method::GET, "/flavors/detail", None).await;
    assert_eq!(v["flavors"][0]["id"], "p1");
    let (s, _) = env
        .req_as(
            "proj",
            Method::POST,
            "/flavors",
            Some(json!({"flavor": {"name": "n", "vcpus": 1, "ram": 1, "disk": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Admin listing: is_public=None shows private flavors.
    let (_, v) = env.req(Method::GET, "/flavors?is_public=None", None).await;
    assert_eq!(v["flavors"].as_array().unwrap().len(), 1);
    // Extra specs.
    env.set_specs("p1", json!({"hw:cpu_policy": "dedicated", "trait:CUSTOM_A": "required"})).await;
    let (_, v) = env.req(Method::GET, "/flavors/p1/os-extra_specs/hw:cpu_policy", None).await;
    assert_eq!(v, json!({"hw:cpu_policy": "dedicated"}));
    let (s, _) = env
        .req(Method::POST, "/flavors/p1/os-extra_specs", Some(json!({"extra_specs": {"trait:CUSTOM_A": "maybe"}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env
        .req(Method::POST, "/flavors/p1/os-extra_specs", Some(json!({"extra_specs": {"resources:VCPU": "-1"}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.req(Method::DELETE, "/flavors/p1/os-extra_specs/trait:CUSTOM_A", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = env.req(Method::DELETE, "/flavors/p1/os-extra_specs/trait:CUSTOM_A", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = env.req(Method::PUT, "/flavors/p1", Some(json!({"flavor": {"description": "new"}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["flavor"]["description"], "new");
    let (s, _) = env.req(Method::DELETE, "/flavors/p1", None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, v) = env.req(Method::GET, "/flavors/p1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["itemNotFound"]["message"], "Flavor p1 could not be found.");
}
both_backends!(flavors_crud);

async fn services_zones_limits_quotas(backend: Backend) {
    let env = Env::new(backend).await;
    let a = env.agent("host1", "fake", &[]).await;
    // Pre-2.53 services: integer ids and the host/binary forms.
    let (s, v) =
        env.raw(Method::GET, "/compute/v2.1/os-services", vec![], &[("x-openstack-nova-api-version", "2.11")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["services"][0]["id"].is_number());
    assert_eq!(v["services"][0]["state"], "up");
    let body = json!({"host": "host1", "binary": "nova-compute", "disabled_reason": "why"}).to_string().into_bytes();
    let (s, v) = env
        .raw(
            Method::PUT,
            "/compute/v2.1/os-services/disable-log-reason",
            body,
            &[("x-openstack-nova-api-version", "2.11")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["service"]["status"], "disabled");
    let body = json!({"host": "host1", "binary": "nova-compute", "forced_down": true}).to_string().into_bytes();
    let (s, v) = env
        .raw(Method::PUT, "/compute/v2.1/os-services/force-down", body, &[("x-openstack-nova-api-version", "2.11")])
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["service"]["forced_down"], true);
    let (_, v) = env.req(Method::GET, "/os-services", None).await;
    assert_eq!(v["services"][0]["state"], "down");
    assert_eq!(v["services"][0]["status"], "disabled");
    assert_eq!(v["services"][0]["disabled_reason"], "why");
    // 2.53+: reason without disabling is refused; bad uuid 400; unknown 404.
    let id = env.service_id("host1").await;
    let (s, _) = env
        .req(Method::PUT, &format!("/os-services/{id}"), Some(json!({"status": "enabled", "disabled_reason": "x"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.req(Method::PUT, "/os-services/42", Some(json!({"status": "enabled"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env
        .req(Method::PUT, &format!("/os-services/{}", uuid::Uuid::new_v4()), Some(json!({"status": "enabled"})))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = env.req(Method::PUT, &format!("/os-services/{id}"), Some(json!({}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    env.update_service("host1", json!({"status": "enabled", "forced_down": false})).await;
    // Zones.
    let (_, v) = env.req(Method::GET, "/os-availability-zone", None).await;
    assert_eq!(
        v["availabilityZoneInfo"],
        json!([{"zoneName": "nova", "zoneState": {"available": true}, "hosts": null}])
    );
    let (_, v) = env.req(Method::GET, "/os-availability-zone/detail", None).await;
    assert_eq!(v["availabilityZoneInfo"][0]["hosts"]["host1"]["nova-compute"]["active"], true);
    // Quotas and limits, usage from Placement.
    let f = env.create_flavor("q", 4, 2048, 1).await;
    let (s, v) = env.req(Method::PUT, "/os-quota-sets/admin", Some(json!({"quota_set": {"cores": 6}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["quota_set"]["cores"], 6);
    env.create_server("q1", &f).await;
    let (s, v) = env
        .req(
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "q2", "flavorRef": f, "imageRef": IMAGE, "networks": "none"}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["forbidden"]["message"].as_str().unwrap().contains("Quota exceeded for cores"), "{v}");
    let (_, v) = env.req(Method::GET, "/limits", None).await;
    assert_eq!(v["limits"]["absolute"]["totalCoresUsed"], 4);
    assert_eq!(v["limits"]["absolute"]["maxTotalCores"], 6);
    assert_eq!(v["limits"]["absolute"]["totalInstancesUsed"], 1);
    let (_, v) = env.req(Method::GET, "/os-quota-sets/admin/detail", None).await;
    assert_eq!(v["quota_set"]["ram"]["in_use"], 2048);
    let (s, _) = env.req(Method::PUT, "/os-quota-sets/admin", Some(json!({"quota_set": {"cores": 1}}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "below usage");
    let (s, _) = env.req(Method::DELETE, "/os-quota-sets/admin", None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, v) = env.req(Method::GET, "/os-quota-sets/admin/defaults", None).await;
    assert_eq!(v["quota_set"]["cores"], 20);
    let (_, v) = env.req(Method::GET, "/os-keypairs", None).await;
    assert_eq!(v, json!({"keypairs": []}));
    // A service with instances cannot be deleted.
    let (s, _) = env.req(Method::DELETE, &format!("/os-services/{id}"), None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    drain(&[&a]).await;
}
both_backends!(services_zones_limits_quotas);

async fn versions_and_bad_input(backend: Backend) {
    let env = Env::new(backend).await;
    let _a = env.agent("host1", "fake", &[]).await;
    let f = env.create_flavor("m", 1, 256, 1).await;
    // Version discovery is public.
    let (s, v) = env.raw(Method::GET, "/compute", vec![], &[("x-auth-token", "")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["versions"][0]["version"], "2.96");
    assert_eq!(v["versions"][0]["links"][0]["href"], "http://berth.test/compute/v2.1/");
    let (s, v) = env.raw(Method::GET, "/compute/v2.1/", vec![], &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["version"]["min_version"], "2.1");
    // No token: 401.
    let req = axum::http::Request::builder().uri("/compute/v2.1/servers").body(axum::body::Body::empty()).unwrap();
    let resp = tower::ServiceExt::oneshot(env.app.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Microversions.
    for (hv, want) in [("compute 2.97", 406), ("compute 1.0", 406), ("compute 2.x", 400), ("compute latest", 200)] {
        let (s, v) = env.raw(Method::GET, "/compute/v2.1/flavors", vec![], &[("openstack-api-version", hv)]).await;
        assert_eq!(s.as_u16(), want, "{hv}: {v}");
    }
    let (s, _) =
        env.raw(Method::GET, "/compute/v2.1/flavors", vec![], &[("x-openstack-nova-api-version", "2.200")]).await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE);
    let post = |body: Vec<u8>| {
        let env = &env;
        async move { env.raw(Method::POST, "/compute/v2.1/servers", body, &[("openstack-api-version", MV)]).await }
    };
    let server = |extra: Value| {
        let mut s = json!({"name": "x", "flavorRef": f, "imageRef": IMAGE, "networks": "none"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                s.as_object_mut().unwrap().remove(k);
            } else {
                s[k] = v.clone();
            }
        }
        json!({"server": s}).to_string().into_bytes()
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "badRequest"),
        (vec![0xff, 0xfe, 0x7b, 0x7d], 400, "badRequest"),
        (b"[]".to_vec(), 400, "badRequest"),
        (server(json!({"flavorRef": "nope"})), 400, "badRequest"),
        (server(json!({"imageRef": uuid::Uuid::new_v4().to_string()})), 400, "badRequest"),
        (server(json!({"imageRef": "not-a-uuid"})), 400, "badRequest"),
        (server(json!({"imageRef": BIG_IMAGE})), 400, "badRequest"),
        (server(json!({"networks": null})), 400, "badRequest"),
        (server(json!({"networks": [{"uuid": "x"}]})), 400, "badRequest"),
        (server(json!({"name": "x".repeat(256)})), 400, "badRequest"),
        (server(json!({"name": ""})), 400, "badRequest"),
        (server(json!({"name": 5})), 400, "badRequest"),
        (server(json!({"bogus": 1})), 400, "badRequest"),
        (server(json!({"metadata": {"k": 5}})), 400, "badRequest"),
        (server(json!({"availability_zone": "mars"})), 400, "badRequest"),
        (server(json!({"min_count": 0})), 400, "badRequest"),
        (server(json!({"name": "x".repeat(10 * 1024 * 1024)})), 413, "overLimit"),
    ];
    for (body, want, key) in cases {
        let preview = String::from_utf8_lossy(&body[..body.len().min(120)]).to_string();
        let (s, v) = post(body).await;
        assert_eq!(s.as_u16(), want, "{preview}: {v}");
        assert_eq!(v[key]["code"], want, "{preview}: {v}");
    }
    // Unknown ids and paths are 404 in Nova's format; bad methods 405.
    let (s, v) = env.req(Method::GET, &format!("/servers/{}", uuid::Uuid::new_v4()), None).await;
    assert_eq!((s, v["itemNotFound"]["code"].clone()), (StatusCode::NOT_FOUND, json!(404)));
    let (s, _) = env.req(Method::GET, "/servers/not-a-uuid", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = env.req(Method::GET, "/no-such-thing", None).await;
    assert_eq!((s, v["itemNotFound"]["code"].clone()), (StatusCode::NOT_FOUND, json!(404)));
    let (s, v) = env.req(Method::PATCH, "/servers", None).await;
    assert_eq!((s, v["badMethod"]["code"].clone()), (StatusCode::METHOD_NOT_ALLOWED, json!(405)));
    let (s, _) = env.req(Method::GET, "/servers?limit=abc", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.req(Method::GET, "/servers?marker=nope", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env
        .req(Method::POST, "/flavors", Some(json!({"flavor": {"name": "z", "vcpus": -1, "ram": 1, "disk": 1}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.req(Method::POST, "/flavors", Some(json!({"flavor": {"name": "z", "vcpus": 1, "ram": 1}}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Nothing was created by the failed requests.
    let (_, v) = env.req(Method::GET, "/servers", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 0);
}
both_backends!(versions_and_bad_input);

/// `GET /limits` with a bad `tenant_id` or without a project answers 4xx in
/// Nova's format, never a 500 from Placement's refusal.
async fn limits_with_bad_projects(backend: Backend) {
    let env = Env::new(backend).await;
    let long = "x".repeat(256);
    let cases: Vec<(String, bool, u16, &str)> = vec![
        ("/limits?tenant_id=".into(), true, 400, "badRequest"),
        ("/limits?tenant_id".into(), true, 400, "badRequest"),
        (format!("/limits?tenant_id={long}"), true, 400, "badRequest"),
        ("/limits?tenant_id=a%00b".into(), true, 400, "badRequest"),
        ("/limits?tenant_id=".into(), false, 400, "badRequest"),
        ("/limits?tenant_id=other".into(), false, 403, "forbidden"),
        ("/limits?tenant_id=other".into(), true, 200, ""),
        (format!("/limits?tenant_id={}", "y".repeat(255)), true, 200, ""),
        ("/limits".into(), false, 200, ""),
        // A NUL in a path names nothing: the edge answers 404 before any
        // handler (or database) sees it.
        ("/os-quota-sets/a%00b/detail".into(), true, 404, "itemNotFound"),
        ("/os-quota-sets/a%00b".into(), true, 404, "itemNotFound"),
    ];
    for (path, admin, want, fault) in cases {
        let (s, v) = if admin {
            env.req(Method::GET, &path, None).await
        } else {
            env.req_as("proj", Method::GET, &path, None).await
        };
        assert_eq!(s.as_u16(), want, "{path} (admin: {admin}): {v}");
        if !fault.is_empty() {
            assert_eq!(v[fault]["code"], want, "{path}: {v}");
        } else {
            assert!(v["limits"]["absolute"]["maxTotalCores"].is_i64(), "{path}: {v}");
        }
    }
    let (s, v) = env.req(Method::PUT, "/os-quota-sets/a%00b", Some(json!({"quota_set": {"cores": 1}}))).await;
    assert_eq!((s.as_u16(), v["itemNotFound"]["code"].clone()), (404, json!(404)), "{v}");
}
both_backends!(limits_with_bad_projects);

/// An unscoped token (no project) has no limits to show: 403, not a 500.
async fn limits_with_an_unscoped_token(backend: Backend) {
    for (roles, other_project) in [(vec!["admin".to_string()], 200), (vec!["reader".to_string()], 403)] {
        let caller = berth_http::RequestContext {
            user_id: Some("u".into()),
            project_id: None,
            domain_id: None,
            roles,
            system_scope: None,
            access_rules: None,
        };
        let config =
            berth_compute::ComputeConfig { auth: berth_http::AuthStrategy::Trusted(caller), ..Default::default() };
        let env = Env::with_config(backend, config).await;
        let (s, v) = env.req(Method::GET, "/limits", None).await;
        assert_eq!((s.as_u16(), v["forbidden"]["code"].clone()), (403, json!(403)), "{v}");
        // Naming a project works for whoever may see other projects' limits.
        let (s, v) = env.req(Method::GET, "/limits?tenant_id=p1", None).await;
        assert_eq!(s.as_u16(), other_project, "{v}");
    }
}
both_backends!(limits_with_an_unscoped_token);
