//! Moves over HTTP, with Nova's allocation model checked on the source and
//! destination providers at every step (after Nova's functional tests:
//! `ServerMovingTests`, `_move_and_check_allocations`,
//! `_check_allocation_during_evacuate`, `_delete_and_check_allocations`):
//! resize and cold migration (confirm, revert, same host), live migration
//! (force-complete, abort), evacuation, shelve / offload / unshelve and
//! rebuild, each failure rolling back to exactly the allocations before;
//! state conflicts, policy, the migration and instance-action views.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use berth_compute::{ComputeAgent, ComputeConfig};
use common::*;
use serde_json::{json, Value};
use uuid::Uuid;

const SMALL: (i64, i64, i64) = (1, 512, 5);
/// An Ed25519 public key in OpenSSH's format (generated for these tests).
const PUBLIC_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICSmf3LDMI8MBd5GfXFssDbacIt9V5Vs8NKJ/5dYb7ah test";
const BIG: (i64, i64, i64) = (2, 1024, 10);

fn u((v, m, d): (i64, i64, i64)) -> BTreeMap<String, i64> {
    usage(v, m, d)
}

fn sum(a: (i64, i64, i64), b: (i64, i64, i64)) -> BTreeMap<String, i64> {
    usage(a.0 + b.0, a.1 + b.1, a.2 + b.2)
}

struct Cloud {
    env: Env,
    a1: Arc<ComputeAgent>,
    a2: Arc<ComputeAgent>,
    small: String,
    big: String,
}

impl Cloud {
    async fn new(backend: Backend, config: ComputeConfig) -> Cloud {
        let env = Env::with_config(backend, config).await;
        let a1 = env.agent("host1", "fake:8,8192,100", &[]).await;
        let a2 = env.agent("host2", "fake:8,8192,100", &[]).await;
        let small = env.create_flavor("small", SMALL.0, SMALL.1, SMALL.2).await;
        let big = env.create_flavor("big", BIG.0, BIG.1, BIG.2).await;
        Cloud { env, a1, a2, small, big }
    }

    async fn drain(&self) {
        drain(&[&self.a1, &self.a2]).await;
    }

    fn agent(&self, host: &str) -> &Arc<ComputeAgent> {
        if host == "host1" {
            &self.a1
        } else {
            &self.a2
        }
    }

    fn rp(&self, host: &str) -> Uuid {
        self.agent(host).node_uuid().unwrap()
    }

    fn other(host: &str) -> &'static str {
        if host == "host1" {
            "host2"
        } else {
            "host1"
        }
    }

    /// An ACTIVE server of `flavor` on `host` (created with the admin's
    /// `availability_zone` host form).
    async fn server_on(&self, host: &str, flavor: &str) -> String {
        let (s, v) = self
            .env
            .req(
                Method::POST,
                "/servers",
                Some(json!({"server": {"name": "mover", "flavorRef": flavor, "imageRef": IMAGE,
                    "networks": "none", "availability_zone": format!("nova:{host}")}})),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let id = v["server"]["id"].as_str().unwrap().to_string();
        self.drain().await;
        assert_eq!(self.env.status(&id).await, "ACTIVE");
        assert_eq!(self.host_of(&id).await, host);
        id
    }

    async fn host_of(&self, id: &str) -> String {
        let (_, v) = self.env.server(id).await;
        v["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or("").to_string()
    }

    async fn act(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.env.req(Method::POST, &format!("/servers/{id}/action"), Some(body)).await
    }

    async fn usages(&self, host: &str) -> BTreeMap<String, i64> {
        self.env.usages(self.rp(host)).await
    }

    /// The migrations of a server (2.96 view: uuid, type, user, project).
    async fn migrations(&self, id: &str) -> Vec<Value> {
        let (s, v) = self.env.req(Method::GET, &format!("/os-migrations?instance_uuid={id}"), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["migrations"].as_array().unwrap().clone()
    }

    async fn last_migration(&self, id: &str) -> Value {
        // Newest first from 2.59.
        self.migrations(id).await.first().cloned().expect("a migration")
    }

    /// What a consumer holds, by provider.
    async fn held(&self, consumer: &str) -> BTreeMap<Uuid, BTreeMap<String, i64>> {
        self.env.placement.get_allocations(Uuid::parse_str(consumer).unwrap()).await.unwrap().resources()
    }

    async fn audit_clean(&self) {
        let r = self.env.svc.audit(false).await.unwrap();
        assert!(r.is_clean(), "{r:?}");
    }

    fn guest_on(&self, host: &str, id: &str) -> bool {
        self.agent(host).driver().guests().contains_key(&Uuid::parse_str(id).unwrap())
    }
}

/// Resize to another host, then confirm: the migration holds the source
/// while the instance holds the destination; confirm gives the source back.
async fn resize_confirm(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    assert_eq!(c.usages("host1").await, u(SMALL));
    let (s, v) = c.act(&id, json!({"resize": {"flavorRef": c.big}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(c.env.status(&id).await, "RESIZE");
    // Swapped already: source held by the migration, destination by the
    // instance.
    let m = c.last_migration(&id).await;
    assert_eq!((m["migration_type"].as_str(), m["status"].as_str()), (Some("resize"), Some("migrating")));
    assert_eq!((m["source_compute"].as_str(), m["dest_compute"].as_str()), (Some("host1"), Some("host2")));
    let mig = m["uuid"].as_str().unwrap().to_string();
    assert_eq!(c.held(&mig).await, [(c.rp("host1"), u(SMALL))].into_iter().collect());
    assert_eq!(c.held(&id).await, [(c.rp("host2"), u(BIG))].into_iter().collect());
    c.audit_clean().await;
    c.drain().await;
    let (_, v) = c.env.server(&id).await;
    assert_eq!(v["status"], "VERIFY_RESIZE");
    assert_eq!(v["OS-EXT-SRV-ATTR:host"], "host2");
    assert_eq!(v["flavor"]["original_name"], "big");
    assert_eq!(c.last_migration(&id).await["status"], "finished");
    assert_eq!(c.usages("host1").await, u(SMALL));
    assert_eq!(c.usages("host2").await, u(BIG));
    c.audit_clean().await;
    // Confirm: 204, the source's allocation goes, the source guest too.
    let (s, v) = c.act(&id, json!({"confirmResize": null})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert_eq!(c.usages("host2").await, u(BIG));
    assert!(c.held(&mig).await.is_empty());
    assert_eq!(c.last_migration(&id).await["status"], "confirmed");
    c.drain().await;
    assert!(!c.guest_on("host1", &id) && c.guest_on("host2", &id));
    c.audit_clean().await;
    // Confirming again: not resized any more.
    let (s, v) = c.act(&id, json!({"confirmResize": null})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["conflictingRequest"]["message"].as_str().unwrap().contains("Cannot 'confirmResize' instance"), "{v}");
    // Deleting frees everything.
    c.env.req(Method::DELETE, &format!("/servers/{id}"), None).await;
    c.drain().await;
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    c.audit_clean().await;
}
both_backends!(resize_confirm);

/// Revert: the source allocation goes back onto the instance, the
/// destination's is dropped, the server is ACTIVE on its source.
async fn resize_revert(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host2", &c.small).await;
    let (s, v) = c.act(&id, json!({"resize": {"flavorRef": c.big}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "VERIFY_RESIZE");
    let mig = c.last_migration(&id).await["uuid"].as_str().unwrap().to_string();
    let (s, v) = c.act(&id, json!({"revertResize": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(c.env.status(&id).await, "REVERT_RESIZE");
    assert_eq!(c.last_migration(&id).await["status"], "reverting");
    c.drain().await;
    let (_, v) = c.env.server(&id).await;
    assert_eq!(v["status"], "ACTIVE");
    assert_eq!(v["OS-EXT-SRV-ATTR:host"], "host2");
    assert_eq!(v["flavor"]["original_name"], "small");
    assert_eq!(c.usages("host2").await, u(SMALL));
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert!(c.held(&mig).await.is_empty());
    assert_eq!(c.held(&id).await, [(c.rp("host2"), u(SMALL))].into_iter().collect());
    assert_eq!(c.last_migration(&id).await["status"], "reverted");
    assert!(c.guest_on("host2", &id) && !c.guest_on("host1", &id));
    c.audit_clean().await;
}
both_backends!(resize_revert);

/// With `allow_resize_to_same_host` and one host: old and new flavor on
/// the one provider until confirm (new only) or revert (old only).
async fn same_host_resize(backend: Backend) {
    let env = Env::with_config(backend, ComputeConfig { allow_resize_to_same_host: true, ..Default::default() }).await;
    let a = env.agent("host1", "fake:8,8192,100", &[]).await;
    let rp = a.node_uuid().unwrap();
    let small = env.create_flavor("small", SMALL.0, SMALL.1, SMALL.2).await;
    let big = env.create_flavor("big", BIG.0, BIG.1, BIG.2).await;
    for (finish, want) in [("confirmResize", u(BIG)), ("revertResize", u(SMALL))] {
        let id = env.create_server("same", &small).await;
        drain(&[&a]).await;
        let (s, v) =
            env.req(Method::POST, &format!("/servers/{id}/action"), Some(json!({"resize": {"flavorRef": big}}))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        assert_eq!(env.usages(rp).await, sum(SMALL, BIG), "old and new flavor on one provider");
        drain(&[&a]).await;
        assert_eq!(env.status(&id).await, "VERIFY_RESIZE");
        assert_eq!(env.usages(rp).await, sum(SMALL, BIG));
        let (s, v) = env.req(Method::POST, &format!("/servers/{id}/action"), Some(json!({finish: null}))).await;
        assert!(s.is_success(), "{finish}: {v}");
        drain(&[&a]).await;
        assert_eq!(env.status(&id).await, "ACTIVE");
        assert_eq!(env.usages(rp).await, want, "after {finish}");
        assert!(a.driver().guests().contains_key(&Uuid::parse_str(&id).unwrap()), "{finish}: the guest stays");
        assert!(env.svc.audit(false).await.unwrap().is_clean());
        env.req(Method::DELETE, &format!("/servers/{id}"), None).await;
        drain(&[&a]).await;
        assert_eq!(env.usages(rp).await, u((0, 0, 0)));
    }
}
both_backends!(same_host_resize);

/// Cold migration (to a named host from 2.56) and confirm; the rules and
/// checks of `migrate`.
async fn cold_migrate(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    // Same host, unknown host, a body before 2.56.
    let (s, v) = c.act(&id, json!({"migrate": {"host": "host1"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["badRequest"]["message"].as_str().unwrap().contains("Cannot migrate to the host"), "{v}");
    let (s, v) = c.act(&id, json!({"migrate": {"host": "nowhere"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = c
        .env
        .raw(
            Method::POST,
            &format!("/compute/v2.1/servers/{id}/action"),
            json!({"migrate": {"host": "host2"}}).to_string().into_bytes(),
            &[("openstack-api-version", "compute 2.55")],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // A member may not migrate (admin only).
    let (s, _) =
        c.env.req_as("admin", Method::POST, &format!("/servers/{id}/action"), Some(json!({"migrate": null}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = c.act(&id, json!({"migrate": {"host": "host2"}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let m = c.last_migration(&id).await;
    assert_eq!(m["migration_type"], "migration");
    let mig = m["uuid"].as_str().unwrap().to_string();
    assert_eq!(c.held(&mig).await, [(c.rp("host1"), u(SMALL))].into_iter().collect());
    assert_eq!(c.usages("host2").await, u(SMALL));
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "VERIFY_RESIZE");
    let (s, v) = c.act(&id, json!({"confirmResize": null})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert_eq!(c.usages("host2").await, u(SMALL));
    assert_eq!(c.host_of(&id).await, "host2");
    c.audit_clean().await;
}
both_backends!(cold_migrate);

/// No valid host: 400 with Nova's message; the server and its allocations
/// exactly as before; the migration in `error`.
async fn no_valid_host_rolls_back(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let huge = c.env.create_flavor("huge", 1, 1024, 5000).await;
    let id = c.server_on("host1", &c.small).await;
    let before = c.held(&id).await;
    let (s, v) = c.act(&id, json!({"resize": {"flavorRef": huge}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["badRequest"]["message"].as_str().unwrap().starts_with("No valid host was found."), "{v}");
    let (_, srv) = c.env.server(&id).await;
    assert_eq!((srv["status"].as_str(), srv["OS-EXT-STS:task_state"].as_str()), (Some("ACTIVE"), None));
    assert_eq!(c.held(&id).await, before);
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    assert_eq!(c.last_migration(&id).await["status"], "error");
    // Cold migration with the only other host disabled.
    c.env.update_service("host2", json!({"status": "disabled", "disabled_reason": "full"})).await;
    let (s, v) = c.act(&id, json!({"migrate": null})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(c.held(&id).await, before);
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    c.audit_clean().await;
}
both_backends!(no_valid_host_rolls_back);

/// The destination's driver fails: the allocations are back as before
/// (source on the instance, nothing on the destination), the server is
/// ERROR with a fault, the migration in `error`.
async fn destination_failure_rolls_back(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    c.a2.driver().fail("finish_resize", 1);
    let (s, v) = c.act(&id, json!({"resize": {"flavorRef": c.big}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    let (_, srv) = c.env.server(&id).await;
    assert_eq!(srv["status"], "ERROR", "{srv}");
    assert!(srv["fault"]["message"].as_str().unwrap().contains("injected failure"), "{srv}");
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], "host1");
    assert_eq!(c.held(&id).await, [(c.rp("host1"), u(SMALL))].into_iter().collect());
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    let m = c.last_migration(&id).await;
    assert_eq!(m["status"], "error");
    assert!(c.held(m["uuid"].as_str().unwrap()).await.is_empty());
    c.audit_clean().await;
    let (s, v) = c.env.req(Method::GET, &format!("/servers/{id}/os-instance-actions"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let resize = v["instanceActions"].as_array().unwrap().iter().find(|a| a["action"] == "resize").unwrap().clone();
    let rid = resize["request_id"].as_str().unwrap();
    let (_, v) = c.env.req(Method::GET, &format!("/servers/{id}/os-instance-actions/{rid}"), None).await;
    let ev = &v["instanceAction"]["events"][0];
    assert_eq!((ev["event"].as_str(), ev["result"].as_str()), (Some("compute_finish_resize"), Some("Error")), "{v}");
    assert_eq!(ev["host"], "host2");
}
both_backends!(destination_failure_rolls_back);

/// Live migration: the same swap; completion gives the migration's
/// (source) allocation back. Held: listed under the server, force-completed;
/// another aborted (back on the source); a failing one rolled back.
async fn live_migration(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    let body = json!({"os-migrateLive": {"host": null, "block_migration": "auto"}});
    let (s, v) = c.act(&id, body.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(c.env.status(&id).await, "MIGRATING");
    let mig = c.last_migration(&id).await["uuid"].as_str().unwrap().to_string();
    assert_eq!(c.held(&mig).await, [(c.rp("host1"), u(SMALL))].into_iter().collect());
    assert_eq!(c.held(&id).await, [(c.rp("host2"), u(SMALL))].into_iter().collect());
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    assert_eq!(c.host_of(&id).await, "host2");
    assert_eq!(c.last_migration(&id).await["status"], "completed");
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert_eq!(c.usages("host2").await, u(SMALL));
    assert!(!c.guest_on("host1", &id) && c.guest_on("host2", &id));
    c.audit_clean().await;
    // Held in `running`: shown under the server, then forced to complete.
    c.a1.driver().hold_live_migrations(true);
    let (s, v) = c.act(&id, body.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    let (s, v) = c.env.req(Method::GET, &format!("/servers/{id}/migrations"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let running = v["migrations"].as_array().unwrap();
    assert_eq!(running.len(), 1, "{v}");
    assert_eq!(running[0]["status"], "running");
    assert_eq!(running[0]["server_uuid"], id.as_str());
    let mid = running[0]["id"].as_i64().unwrap();
    let (s, v) = c.env.req(Method::GET, &format!("/servers/{id}/migrations/{mid}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["migration"]["dest_compute"], "host1");
    let (s, v) = c
        .env
        .req(Method::POST, &format!("/servers/{id}/migrations/{mid}/action"), Some(json!({"force_complete": null})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    assert_eq!(c.host_of(&id).await, "host1");
    assert_eq!(c.usages("host1").await, u(SMALL));
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    let (s, v) = c.env.req(Method::GET, &format!("/servers/{id}/migrations/{mid}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // Held again, then aborted: back on host1 with exactly its allocation.
    c.a2.driver().hold_live_migrations(true);
    let (s, _) = c.act(&id, body.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    c.drain().await;
    let m = c.last_migration(&id).await;
    let mid = m["id"].as_i64().unwrap();
    let (s, v) = c.env.req(Method::DELETE, &format!("/servers/{id}/migrations/{mid}"), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    assert_eq!(c.host_of(&id).await, "host1");
    assert_eq!(c.held(&id).await, [(c.rp("host1"), u(SMALL))].into_iter().collect());
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    assert_eq!(c.last_migration(&id).await["status"], "cancelled");
    let (s, v) = c.env.req(Method::DELETE, &format!("/servers/{id}/migrations/{mid}"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "abort of a cancelled migration: {v}");
    c.audit_clean().await;
    // The destination fails: rolled back, ACTIVE on the source.
    c.a2.driver().hold_live_migrations(false);
    c.a2.driver().fail("live_migration", 1);
    let (s, _) = c.act(&id, body).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    assert_eq!(c.host_of(&id).await, "host1");
    assert_eq!(c.held(&id).await, [(c.rp("host1"), u(SMALL))].into_iter().collect());
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    assert_eq!(c.last_migration(&id).await["status"], "error");
    c.audit_clean().await;
}
both_backends!(live_migration);

/// Evacuation: refused while the source is up; with it forced down the
/// instance holds source and destination until the source's agent is back,
/// which destroys the guest and drops the source part. A failing rebuild
/// leaves only the source allocation and the server in ERROR.
async fn evacuate(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    let (s, v) = c.act(&id, json!({"evacuate": {}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["badRequest"]["message"], "Compute service of host1 is still in use.");
    c.env.update_service("host1", json!({"forced_down": true})).await;
    let (s, v) = c.act(&id, json!({"evacuate": {"host": "host1"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = c.act(&id, json!({"evacuate": {"host": "elsewhere"}})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // The destination fails first: only the source allocation is left.
    c.a2.driver().fail("rebuild", 1);
    let (s, v) = c.act(&id, json!({"evacuate": {}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(c.usages("host2").await, u(SMALL), "source and destination while it rebuilds");
    c.drain().await;
    let (_, srv) = c.env.server(&id).await;
    assert_eq!(srv["status"], "ERROR");
    assert_eq!(c.held(&id).await, [(c.rp("host1"), u(SMALL))].into_iter().collect());
    assert_eq!(c.last_migration(&id).await["status"], "failed");
    // Again (ERROR servers may be evacuated): it works this time.
    let (s, v) = c.act(&id, json!({"evacuate": {"host": "host2"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(c.env.status(&id).await, "REBUILD");
    c.drain().await;
    let (_, srv) = c.env.server(&id).await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], "host2");
    // 2.95: the evacuated server stays stopped.
    assert_eq!(srv["status"], "SHUTOFF");
    let m = c.last_migration(&id).await;
    assert_eq!((m["migration_type"].as_str(), m["status"].as_str()), (Some("evacuation"), Some("done")));
    assert_eq!(c.usages("host1").await, u(SMALL), "the source keeps its part while it is down");
    assert_eq!(c.usages("host2").await, u(SMALL));
    c.audit_clean().await;
    // The source comes back: guest destroyed, its part of the allocation gone.
    assert!(c.guest_on("host1", &id));
    c.env.update_service("host1", json!({"forced_down": false})).await;
    // Brought up through the API: its agent is told at once (a restarted
    // agent does it at start, any agent in its periodic run).
    c.drain().await;
    assert!(!c.guest_on("host1", &id));
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert_eq!(c.held(&id).await, [(c.rp("host2"), u(SMALL))].into_iter().collect());
    assert_eq!(c.last_migration(&id).await["status"], "completed");
    c.audit_clean().await;
}
both_backends!(evacuate);

/// An evacuation whose destination agent dies between claiming its task
/// and rebuilding (the task still leased for two minutes, the hypervisor
/// outliving the agent) is settled when that agent restarts: its next
/// incarnation runs the re-offered step at once. It finishes (server on
/// the destination, migration done, the instance holding source and
/// destination until the source returns, then the destination only), or,
/// when the rebuild fails there, rolls back as Nova does (ERROR on the
/// source, migration failed, the destination's part given back). A
/// destination that dies in the middle of such a rollback (its part given
/// back, the failure not recorded yet) has the rollback finished by its
/// next incarnation, never a rebuild on a host the instance no longer holds.
async fn evacuation_destination_crash(backend: Backend) {
    for (rebuild_fails, dies_at) in [(false, "rebuild"), (true, "rebuild"), (true, "cleanup")] {
        let c = Cloud::new(backend, ComputeConfig::default()).await;
        let id = c.server_on("host1", &c.small).await;
        c.env.update_service("host1", json!({"forced_down": true})).await;
        let fake2 = c.a2.driver().clone();
        fake2.hold(dies_at, true);
        if dies_at == "cleanup" {
            fake2.fail("rebuild", 1);
        }
        let (s, v) = c.act(&id, json!({"evacuate": {"host": "host2"}})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let both: BTreeMap<Uuid, BTreeMap<String, i64>> =
            [(c.rp("host1"), u(SMALL)), (c.rp("host2"), u(SMALL))].into_iter().collect();
        assert_eq!(c.held(&id).await, both);
        // host2's agent claims the step and dies before rebuilding.
        let a2 = c.a2.clone();
        let work = tokio::spawn(async move {
            let _ = a2.process_tasks().await;
        });
        let start = std::time::Instant::now();
        while fake2.waiting(dies_at) == 0 {
            assert!(start.elapsed() < std::time::Duration::from_secs(30), "the destination never reached {dies_at}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        work.abort();
        let _ = work.await;
        assert_eq!(fake2.waiting(dies_at), 0);
        fake2.hold(dies_at, false);
        assert_eq!(c.env.status(&id).await, "REBUILD");
        assert_eq!(c.env.svc.open_tasks("host2").await.unwrap(), 1);
        if dies_at == "cleanup" {
            assert_eq!(
                c.held(&id).await,
                [(c.rp("host1"), u(SMALL))].into_iter().collect(),
                "given back, not recorded"
            );
        } else if rebuild_fails {
            fake2.fail("rebuild", 1);
        }
        // Restart: the leased step runs on the first pass, not in 2 minutes.
        let a2 = c.env.agent_with("host2", "fake:8,8192,100", &[], fake2.clone()).await;
        assert_eq!(a2.process_tasks().await.unwrap(), 1);
        assert_eq!(c.env.svc.open_tasks("host2").await.unwrap(), 0);
        let (_, srv) = c.env.server(&id).await;
        let m = c.last_migration(&id).await;
        assert_eq!(srv["OS-EXT-STS:task_state"], Value::Null);
        if rebuild_fails {
            assert_eq!(srv["status"], "ERROR");
            assert_eq!(srv["OS-EXT-SRV-ATTR:host"], "host1");
            assert_eq!(m["status"], "failed");
            assert_eq!(c.held(&id).await, [(c.rp("host1"), u(SMALL))].into_iter().collect());
            assert_eq!(c.usages("host2").await, u((0, 0, 0)));
            a2.reconcile().await.unwrap();
            assert!(!c.guest_on("host2", &id), "no guest left on the destination");
            c.audit_clean().await;
            // The source returns: the server is still its own.
            c.env.update_service("host1", json!({"forced_down": false})).await;
            drain(&[&c.a1, &a2]).await;
            c.a1.reconcile().await.unwrap();
            assert!(c.guest_on("host1", &id));
            assert_eq!(c.held(&id).await, [(c.rp("host1"), u(SMALL))].into_iter().collect());
        } else {
            // 2.95: an evacuated server stays stopped.
            assert_eq!(srv["status"], "SHUTOFF");
            assert_eq!(srv["OS-EXT-SRV-ATTR:host"], "host2");
            assert_eq!(m["status"], "done");
            assert!(fake2.guests().contains_key(&Uuid::parse_str(&id).unwrap()));
            assert_eq!(c.held(&id).await, both, "source and destination until the source returns");
            c.audit_clean().await;
            c.env.update_service("host1", json!({"forced_down": false})).await;
            drain(&[&c.a1, &a2]).await;
            assert!(!c.guest_on("host1", &id));
            assert_eq!(c.held(&id).await, [(c.rp("host2"), u(SMALL))].into_iter().collect());
            assert_eq!(c.last_migration(&id).await["status"], "completed");
        }
        c.audit_clean().await;
    }
}
both_backends!(evacuation_destination_crash);

/// Shelve keeps the allocation, offload gives it back, unshelve claims
/// afresh; offload at once with `shelved_offload_time` 0; a failing spawn
/// on unshelve leaves the server offloaded with nothing allocated.
async fn shelve_unshelve(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig { shelved_offload_time: -1, ..Default::default() }).await;
    let id = c.server_on("host1", &c.small).await;
    let (s, v) = c.act(&id, json!({"shelveOffload": null})).await;
    assert_eq!(s, StatusCode::CONFLICT, "not shelved: {v}");
    let (s, v) = c.act(&id, json!({"shelve": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "SHELVED");
    assert_eq!(c.usages("host1").await, u(SMALL), "shelved keeps its allocation");
    c.a1.reconcile().await.unwrap();
    assert_eq!(c.env.status(&id).await, "SHELVED", "-1: never offloaded by the periodic run");
    let (s, v) = c.act(&id, json!({"shelveOffload": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    let (_, srv) = c.env.server(&id).await;
    assert_eq!(srv["status"], "SHELVED_OFFLOADED");
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], Value::Null);
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert!(c.held(&id).await.is_empty());
    c.audit_clean().await;
    // Unshelve to a named host (2.91); the spawn fails there first.
    c.a2.driver().fail("unshelve", 1);
    let (s, v) = c.act(&id, json!({"unshelve": {"host": "host2"}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(c.usages("host2").await, u(SMALL), "claimed afresh");
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "SHELVED_OFFLOADED");
    assert!(c.held(&id).await.is_empty());
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    let (s, v) = c.act(&id, json!({"unshelve": {"host": "host2"}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    assert_eq!(c.host_of(&id).await, "host2");
    assert_eq!(c.held(&id).await, [(c.rp("host2"), u(SMALL))].into_iter().collect());
    c.audit_clean().await;
    // Shelved (not offloaded) unshelves where it is; a host is refused.
    let (s, _) = c.act(&id, json!({"shelve": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    c.drain().await;
    let (s, v) = c.act(&id, json!({"unshelve": {"host": "host1"}})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = c.act(&id, json!({"unshelve": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    assert_eq!(c.usages("host2").await, u(SMALL));
    c.audit_clean().await;
}
both_backends!(shelve_unshelve);

/// Nova's default `shelved_offload_time` (0): offloaded at once.
async fn shelve_offloads_at_once(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    let (s, _) = c.act(&id, json!({"shelve": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "SHELVED_OFFLOADED");
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert!(!c.guest_on("host1", &id));
    let (s, _) = c.act(&id, json!({"unshelve": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    let host = c.host_of(&id).await;
    assert_eq!(c.usages(&host).await, u(SMALL));
    assert_eq!(c.usages(Cloud::other(&host)).await, u((0, 0, 0)));
    c.audit_clean().await;
}
both_backends!(shelve_offloads_at_once);

/// The periodic offload of shelved servers (the agents' periodic run, with
/// the service's clock moved ahead instead of real waits): with
/// `shelved_offload_time` > 0 a shelved server keeps its host and
/// allocation until the time has passed, then is offloaded (allocation
/// removed, SHELVED_OFFLOADED, no host, guest gone); with 0 it is offloaded
/// as it is shelved; with -1 never.
async fn periodic_shelved_offload(backend: Backend) {
    const HOUR: u64 = 3600;
    for offload_after in [HOUR as i64, 0, -1] {
        let c = Cloud::new(backend, ComputeConfig { shelved_offload_time: offload_after, ..Default::default() }).await;
        let id = c.server_on("host1", &c.small).await;
        let (s, v) = c.act(&id, json!({"shelve": null})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        c.drain().await;
        if offload_after == 0 {
            let (_, srv) = c.env.server(&id).await;
            assert_eq!(srv["status"], "SHELVED_OFFLOADED");
            assert_eq!(srv["OS-EXT-SRV-ATTR:host"], Value::Null);
            assert!(c.held(&id).await.is_empty());
            assert_eq!(c.usages("host1").await, u((0, 0, 0)));
            c.audit_clean().await;
            continue;
        }
        let shelved = |why: &'static str| {
            let c = &c;
            let id = id.clone();
            async move {
                let (_, srv) = c.env.server(&id).await;
                assert_eq!(srv["status"], "SHELVED", "{why}");
                assert_eq!(srv["OS-EXT-SRV-ATTR:host"], "host1", "{why}");
                assert_eq!(c.held(&id).await, [(c.rp("host1"), u(SMALL))].into_iter().collect(), "{why}");
            }
        };
        shelved("just shelved").await;
        c.a1.reconcile().await.unwrap();
        shelved("the periodic run before the time").await;
        c.env.svc.advance_clock(std::time::Duration::from_secs(HOUR - 60));
        c.a1.reconcile().await.unwrap();
        c.a2.reconcile().await.unwrap();
        shelved("a minute before the time").await;
        c.env.svc.advance_clock(std::time::Duration::from_secs(120));
        c.a2.reconcile().await.unwrap();
        shelved("only the server's host offloads it").await;
        c.a1.reconcile().await.unwrap();
        if offload_after < 0 {
            c.env.svc.advance_clock(std::time::Duration::from_secs(10 * 365 * 24 * HOUR));
            c.a1.reconcile().await.unwrap();
            shelved("-1: never offloaded").await;
            assert!(c.guest_on("host1", &id));
            c.audit_clean().await;
            continue;
        }
        let (_, srv) = c.env.server(&id).await;
        assert_eq!(srv["status"], "SHELVED_OFFLOADED");
        assert_eq!(srv["OS-EXT-SRV-ATTR:host"], Value::Null);
        assert_eq!(srv["OS-EXT-STS:task_state"], Value::Null);
        assert!(c.held(&id).await.is_empty());
        assert_eq!(c.usages("host1").await, u((0, 0, 0)));
        assert!(!c.guest_on("host1", &id));
        c.audit_clean().await;
        // Unshelving claims afresh.
        let (s, v) = c.act(&id, json!({"unshelve": null})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        c.drain().await;
        assert_eq!(c.env.status(&id).await, "ACTIVE");
        let host = c.host_of(&id).await;
        assert_eq!(c.held(&id).await, [(c.rp(&host), u(SMALL))].into_iter().collect());
        c.audit_clean().await;
    }
}
both_backends!(periodic_shelved_offload);

/// Rebuild on the same host with a new image; the image must fit the
/// flavor; a failing rebuild leaves ERROR and the allocation unchanged.
async fn rebuild(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    let (s, v) = c.act(&id, json!({"rebuild": {"imageRef": BIG_IMAGE}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["badRequest"]["message"], "Flavor's memory is too small for requested image.");
    let (s, v) = c.act(&id, json!({"rebuild": {"imageRef": ARM_IMAGE, "name": "rebuilt"}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["server"]["status"], "REBUILD");
    assert!(v["server"]["adminPass"].is_string());
    c.drain().await;
    let (_, srv) = c.env.server(&id).await;
    assert_eq!((srv["status"].as_str(), srv["name"].as_str()), (Some("ACTIVE"), Some("rebuilt")));
    assert_eq!(srv["image"]["id"], ARM_IMAGE);
    assert_eq!(c.usages("host1").await, u(SMALL));
    c.a1.driver().fail("rebuild", 1);
    let (s, _) = c.act(&id, json!({"rebuild": {"imageRef": IMAGE}})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "ERROR");
    assert_eq!(c.usages("host1").await, u(SMALL));
    c.audit_clean().await;
}
both_backends!(rebuild);

/// The fields of a server view, as Nova's view builder shows them at
/// microversion 2.`mv` to an admin or a project member: `show` for
/// `GET /servers/{id}`, `update` and `rebuild` for those answers (which
/// before 2.75 leave out zone, config drive, key name (rebuild shows it
/// from 2.54), usage times, extended status, volumes, extended attributes
/// and host status). The server is ACTIVE, so `progress` is shown.
fn expected_view_keys(mv: u16, kind: &str, admin: bool) -> std::collections::BTreeSet<String> {
    let mut k: Vec<&str> = vec![
        "id",
        "name",
        "links",
        "status",
        "tenant_id",
        "user_id",
        "metadata",
        "hostId",
        "image",
        "flavor",
        "created",
        "updated",
        "addresses",
        "accessIPv4",
        "accessIPv6",
        "OS-DCF:diskConfig",
        "progress",
    ];
    let all = kind == "show" || mv >= 75;
    if all {
        k.extend([
            "OS-EXT-AZ:availability_zone",
            "config_drive",
            "key_name",
            "OS-SRV-USG:launched_at",
            "OS-SRV-USG:terminated_at",
            "OS-EXT-STS:task_state",
            "OS-EXT-STS:vm_state",
            "OS-EXT-STS:power_state",
            "os-extended-volumes:volumes_attached",
        ]);
    } else if kind == "rebuild" && mv >= 54 {
        k.push("key_name");
    }
    if all && admin {
        k.extend(["OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:hypervisor_hostname", "OS-EXT-SRV-ATTR:instance_name"]);
        if mv >= 3 {
            k.extend([
                "OS-EXT-SRV-ATTR:reservation_id",
                "OS-EXT-SRV-ATTR:launch_index",
                "OS-EXT-SRV-ATTR:hostname",
                "OS-EXT-SRV-ATTR:kernel_id",
                "OS-EXT-SRV-ATTR:ramdisk_id",
                "OS-EXT-SRV-ATTR:root_device_name",
            ]);
            if kind != "rebuild" {
                k.push("OS-EXT-SRV-ATTR:user_data");
            }
        }
    } else if mv >= 90 {
        k.push("OS-EXT-SRV-ATTR:hostname");
    }
    for (key, since) in [
        ("locked", 9),
        ("description", 19),
        ("tags", 26),
        ("trusted_image_certificates", 63),
        ("server_groups", 71),
        ("locked_reason", 73),
    ] {
        if mv >= since {
            k.push(key);
        }
    }
    if mv >= 16 && all && admin {
        k.push("host_status");
    }
    if mv >= 96 && all {
        k.push("pinned_availability_zone");
    }
    if kind == "rebuild" {
        k.push("adminPass");
        if mv >= 57 {
            k.push("user_data");
        }
    }
    k.into_iter().map(str::to_string).collect()
}

/// Every server view, field by field, at each microversion where Nova's
/// changes (show, update and rebuild answers; admin and member), and the
/// fields a rebuild replaces besides the image.
async fn server_views_per_microversion(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    // Created by a project member (the admin sees it too), with user data.
    let (s, v) = c
        .env
        .req_as(
            "p1",
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "viewed", "flavorRef": c.small, "imageRef": IMAGE,
                "networks": "none", "user_data": "aGVsbG8=", "metadata": {"a": "1"}}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    c.env.schedule().await;
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    let member_token = "user-p1:p1";
    let at = |mv: u16, token: &'static str| {
        let version = format!("compute 2.{mv}");
        let env = &c.env;
        let id = id.clone();
        move |method: Method, body: Option<Value>| {
            let version = version.clone();
            let path = match &body {
                Some(b) if b.get("rebuild").is_some() => format!("/compute/v2.1/servers/{id}/action"),
                _ => format!("/compute/v2.1/servers/{id}"),
            };
            async move {
                let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
                let mut headers = vec![("openstack-api-version", version.as_str()), ("x-auth-token", token)];
                if token != "admin" {
                    headers.push(("x-roles", "member,reader"));
                }
                env.raw(method, &path, body, &headers).await
            }
        }
    };
    let keys = |v: &Value| v["server"].as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
    for mv in [1, 2, 3, 9, 16, 19, 26, 47, 54, 57, 63, 71, 73, 74, 75, 90, 96] {
        for (token, admin) in [("admin", true), (member_token, false)] {
            let (s, v) = at(mv, token)(Method::GET, None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert_eq!(keys(&v), expected_view_keys(mv, "show", admin), "GET at 2.{mv}, admin {admin}");
            let (s, v) = at(mv, token)(Method::PUT, Some(json!({"server": {"name": "viewed"}}))).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert_eq!(keys(&v), expected_view_keys(mv, "update", admin), "PUT at 2.{mv}, admin {admin}");
        }
        // The detail list shows what GET shows, but no server groups.
        let (s, v) = c
            .env
            .raw(
                Method::GET,
                "/compute/v2.1/servers/detail?all_tenants=1",
                vec![],
                &[("openstack-api-version", &format!("compute 2.{mv}"))],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let mut want = expected_view_keys(mv, "show", true);
        want.remove("server_groups");
        let got: std::collections::BTreeSet<String> = v["servers"][0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(got, want, "detail at 2.{mv}");
    }
    // The admin sees the user data given at create; the flavor is embedded
    // from 2.47.
    let (_, v) = at(47, "admin")(Method::GET, None).await;
    assert_eq!(v["server"]["OS-EXT-SRV-ATTR:user_data"], "aGVsbG8=");
    assert_eq!(v["server"]["OS-EXT-SRV-ATTR:root_device_name"], "/dev/vda");
    assert_eq!(v["server"]["flavor"]["original_name"], "small");
    // Rebuild answers, each drained back to ACTIVE.
    for mv in [53, 54, 57, 75, 96] {
        let (s, v) = at(mv, member_token)(Method::POST, Some(json!({"rebuild": {"imageRef": IMAGE}}))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let mut want = expected_view_keys(mv, "rebuild", false);
        want.remove("progress"); // REBUILD shows progress too, but it is 0
        want.insert("progress".into());
        assert_eq!(keys(&v), want, "rebuild at 2.{mv}");
        assert_eq!(v["server"]["status"], "REBUILD");
        c.drain().await;
    }
    // What a rebuild replaces (name, metadata, description, access
    // addresses, key pair, user data, hostname), and what it keeps.
    let (s, v) = c
        .env
        .req_as("p1", Method::POST, "/os-keypairs", Some(json!({"keypair": {"name": "k1", "public_key": PUBLIC_KEY}})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = at(96, member_token)(
        Method::POST,
        Some(json!({"rebuild": {"imageRef": ARM_IMAGE, "name": "re", "metadata": {"b": "2"}, "description": "d",
            "accessIPv4": "192.0.2.7", "key_name": "k1", "user_data": "Ynll", "hostname": "re-host",
            "adminPass": "chosen"}})),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let srv = &v["server"];
    assert_eq!(
        (&srv["name"], &srv["metadata"], &srv["description"], &srv["accessIPv4"], &srv["key_name"]),
        (&json!("re"), &json!({"b": "2"}), &json!("d"), &json!("192.0.2.7"), &json!("k1"))
    );
    assert_eq!((&srv["user_data"], &srv["adminPass"]), (&json!("Ynll"), &json!("chosen")));
    assert_eq!(srv["OS-EXT-SRV-ATTR:hostname"], "re-host");
    c.drain().await;
    let (_, v) = at(96, "admin")(Method::GET, None).await;
    assert_eq!(v["server"]["OS-EXT-SRV-ATTR:user_data"], "Ynll");
    assert_eq!(v["server"]["accessIPv6"], "");
    assert_eq!(v["server"]["image"]["id"], ARM_IMAGE);
    // Null removes the key pair and the user data; absent fields are kept.
    let (s, v) = at(96, member_token)(
        Method::POST,
        Some(json!({"rebuild": {"imageRef": ARM_IMAGE, "key_name": null, "user_data": null}})),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!((&v["server"]["key_name"], &v["server"]["user_data"]), (&Value::Null, &Value::Null));
    assert_eq!((&v["server"]["name"], &v["server"]["metadata"]), (&json!("re"), &json!({"b": "2"})));
    c.drain().await;
    // Bad values are refused before anything changes.
    for (body, needle) in [
        (json!({"imageRef": IMAGE, "key_name": "nope"}), "Invalid key_name provided."),
        (json!({"imageRef": IMAGE, "user_data": "not base64!"}), "user_data"),
        (json!({"imageRef": IMAGE, "accessIPv4": "2001:db8::1"}), "accessIPv4"),
        (json!({"imageRef": IMAGE, "metadata": {"k": 1}}), "metadata"),
    ] {
        let (s, v) = at(96, member_token)(Method::POST, Some(json!({ "rebuild": body }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["badRequest"]["message"].as_str().unwrap().contains(needle), "{v}");
    }
    // Fields are refused before their microversion.
    let (s, v) =
        at(56, member_token)(Method::POST, Some(json!({"rebuild": {"imageRef": IMAGE, "user_data": "Ynll"}}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (_, v) = c.env.server(&id).await;
    assert_eq!((v["name"].as_str(), v["status"].as_str()), (Some("re"), Some("ACTIVE")));
    // User data at create is base64 too.
    let (s, v) = c
        .env
        .req(
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "x", "flavorRef": c.small, "imageRef": IMAGE, "networks": "none",
                "user_data": "%%%"}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}
both_backends!(server_views_per_microversion);

/// Deleting a server in VERIFY_RESIZE gives back both allocations (its
/// own and its migration's).
async fn delete_while_resized(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    c.act(&id, json!({"resize": {"flavorRef": c.big}})).await;
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "VERIFY_RESIZE");
    let (s, _) = c.env.req(Method::DELETE, &format!("/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    c.drain().await;
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    c.audit_clean().await;
}
both_backends!(delete_while_resized);

/// `resize_confirm_window`: the destination's agent confirms on its next
/// periodic run once the window has passed (here: at once).
async fn automatic_confirm(backend: Backend) {
    let config = ComputeConfig { resize_confirm_window: std::time::Duration::from_nanos(1), ..Default::default() };
    let c = Cloud::new(backend, config).await;
    let id = c.server_on("host1", &c.small).await;
    c.act(&id, json!({"resize": {"flavorRef": c.big}})).await;
    c.drain().await;
    assert_eq!(c.env.status(&id).await, "VERIFY_RESIZE");
    c.a1.reconcile().await.unwrap();
    assert_eq!(c.env.status(&id).await, "VERIFY_RESIZE", "only the destination confirms");
    c.a2.reconcile().await.unwrap();
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert_eq!(c.usages("host2").await, u(BIG));
    c.audit_clean().await;
}
both_backends!(automatic_confirm);

/// An agent killed mid-move: the task it leased is offered again to its
/// next incarnation, which finishes the step.
async fn agent_restart_mid_move(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    c.act(&id, json!({"resize": {"flavorRef": c.big}})).await;
    // host2's agent restarts before running the step (its hypervisor
    // outlives it): the next incarnation finishes it.
    assert_eq!(c.env.svc.open_tasks("host2").await.unwrap(), 1);
    let fake = c.a2.driver().clone();
    let a2 = c.env.agent_with("host2", "fake:8,8192,100", &[], fake).await;
    drain(&[&c.a1, &a2]).await;
    assert_eq!(c.env.status(&id).await, "VERIFY_RESIZE");
    assert_eq!(c.usages("host2").await, u(BIG));
    assert_eq!(c.usages("host1").await, u(SMALL));
    c.audit_clean().await;
}
both_backends!(agent_restart_mid_move);

/// The destination's agent dies with an evacuation's rebuild queued for
/// it: its next incarnation finishes the evacuation, and when the source
/// returns it gives its part back, as without the crash.
async fn agent_restart_mid_evacuation(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    c.env.update_service("host1", json!({"forced_down": true})).await;
    let (s, v) = c.act(&id, json!({"evacuate": {}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(c.env.svc.open_tasks("host2").await.unwrap(), 1);
    assert_eq!(c.usages("host1").await, u(SMALL));
    assert_eq!(c.usages("host2").await, u(SMALL));
    let fake = c.a2.driver().clone();
    let a2 = c.env.agent_with("host2", "fake:8,8192,100", &[], fake).await;
    drain(&[&a2]).await;
    let (_, srv) = c.env.server(&id).await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], "host2");
    assert_eq!(srv["OS-EXT-STS:task_state"], Value::Null);
    assert_eq!(c.last_migration(&id).await["status"], "done");
    assert!(a2.driver().guests().contains_key(&Uuid::parse_str(&id).unwrap()));
    assert_eq!(c.usages("host1").await, u(SMALL), "the source keeps its part while it is down");
    assert_eq!(c.usages("host2").await, u(SMALL));
    c.audit_clean().await;
    c.env.update_service("host1", json!({"forced_down": false})).await;
    drain(&[&c.a1, &a2]).await;
    assert!(!c.guest_on("host1", &id));
    assert_eq!(c.usages("host1").await, u((0, 0, 0)));
    assert_eq!(c.held(&id).await, [(c.rp("host2"), u(SMALL))].into_iter().collect());
    assert_eq!(c.last_migration(&id).await["status"], "completed");
    c.audit_clean().await;
}
both_backends!(agent_restart_mid_evacuation);

/// State conflicts (409, Nova's messages), policy of the new rules, and
/// the migration view's fields by microversion.
async fn conflicts_policy_and_views(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    for (body, action) in [
        (json!({"confirmResize": null}), "confirmResize"),
        (json!({"revertResize": null}), "revertResize"),
        (json!({"unshelve": null}), "unshelve"),
        (json!({"shelveOffload": null}), "shelveOffload"),
    ] {
        let (s, v) = c.act(&id, body).await;
        assert_eq!(s, StatusCode::CONFLICT, "{action}: {v}");
        assert_eq!(
            v["conflictingRequest"]["message"],
            format!("Cannot '{action}' instance {id} while it is in vm_state active"),
        );
    }
    // Same flavor; unknown flavor; hostile bodies.
    let (s, v) = c.act(&id, json!({"resize": {"flavorRef": c.small}})).await;
    assert_eq!(
        (s, v["badRequest"]["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("When resizing, instances must change flavor!"))
    );
    let (s, v) = c.act(&id, json!({"resize": {"flavorRef": "nope"}})).await;
    assert_eq!(
        (s, v["badRequest"]["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Unable to locate requested flavor."))
    );
    for body in [
        json!({"resize": null}),
        json!({"resize": {}}),
        json!({"resize": {"flavorRef": c.big, "extra": 1}}),
        json!({"resize": {"flavorRef": [1]}}),
        json!({"os-migrateLive": {"host": null}}),
        json!({"os-migrateLive": {"host": 7, "block_migration": "auto"}}),
        json!({"os-migrateLive": {"host": null, "block_migration": "sometimes"}}),
        json!({"evacuate": "host2"}),
        json!({"rebuild": {}}),
        json!({"rebuild": {"imageRef": 12}}),
        json!({"unshelve": {"availability_zone": 5}}),
        json!({"migrate": {"host": {"a": 1}}}),
    ] {
        let (s, v) = c.act(&id, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["badRequest"]["message"].is_string(), "{body}: {v}");
    }
    // Growing past the project's cores quota: 403.
    let (s, v) = c.env.req(Method::PUT, "/os-quota-sets/admin", Some(json!({"quota_set": {"cores": 1}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = c.act(&id, json!({"resize": {"flavorRef": c.big}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["forbidden"]["message"].as_str().unwrap().starts_with("Quota exceeded for cores"), "{v}");
    c.env.req(Method::DELETE, "/os-quota-sets/admin", None).await;
    // A task in progress: 409.
    let (s, _) = c.act(&id, json!({"resize": {"flavorRef": c.big}})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, v) = c.act(&id, json!({"shelve": null})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    c.drain().await;
    // Policy: migrations, evacuation and live migration are the admin's;
    // a project member may resize their own server.
    let (s, v) = c
        .env
        .req_as(
            "proj",
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "m",
        "flavorRef": c.small, "imageRef": IMAGE, "networks": "none"}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let mine = v["server"]["id"].as_str().unwrap().to_string();
    c.drain().await;
    let path = format!("/servers/{mine}/action");
    for body in [
        json!({"migrate": null}),
        json!({"os-migrateLive": {"host": null, "block_migration": "auto"}}),
        json!({"evacuate": {}}),
    ] {
        let (s, v) = c.env.req_as("proj", Method::POST, &path, Some(body.clone())).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}: {v}");
    }
    for path in ["/os-migrations".to_string(), format!("/servers/{mine}/migrations")] {
        let (s, _) = c.env.req_as("proj", Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, v) = c.env.req_as("proj", Method::POST, &path, Some(json!({"resize": {"flavorRef": c.big}}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    c.drain().await;
    let (s, v) = c.env.req_as("proj", Method::POST, &path, Some(json!({"confirmResize": null}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    // The member sees its actions, without events' hosts.
    let (s, v) = c.env.req_as("proj", Method::GET, &format!("/servers/{mine}/os-instance-actions"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let actions: Vec<&str> =
        v["instanceActions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["confirmResize", "resize", "create"]);
    let rid = v["instanceActions"][1]["request_id"].as_str().unwrap().to_string();
    let (s, v) = c.env.req_as("proj", Method::GET, &format!("/servers/{mine}/os-instance-actions/{rid}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ev = &v["instanceAction"]["events"][0];
    assert_eq!(ev["event"], "compute_finish_resize");
    assert!(ev.get("host").is_none() && ev["hostId"].is_string(), "{ev}");
    let (s, _) =
        c.env.req_as("proj", Method::GET, &format!("/servers/{mine}/os-instance-actions/req-nope"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // os-migrations fields by microversion; filters; paging.
    let get = |mv: &'static str, q: &'static str| {
        let env = &c.env;
        async move {
            let (s, v) = env
                .raw(Method::GET, &format!("/compute/v2.1/os-migrations{q}"), vec![], &[("openstack-api-version", mv)])
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v["migrations"].as_array().unwrap().clone()
        }
    };
    let old = get("compute 2.1", "").await;
    assert_eq!(old.len(), 2);
    assert!(old[0].get("uuid").is_none() && old[0].get("migration_type").is_none(), "{:?}", old[0]);
    assert!(old[0]["old_instance_type_id"].is_i64());
    let new = get("compute 2.80", "?limit=1").await;
    assert_eq!(new.len(), 1);
    assert!(new[0]["uuid"].is_string() && new[0]["migration_type"] == "resize");
    assert_eq!(new[0]["project_id"], "proj", "newest first");
    assert_eq!(get("compute 2.80", "?project_id=admin").await.len(), 1);
    assert_eq!(get("compute 2.80", "?migration_type=evacuation").await.len(), 0);
    assert_eq!(get("compute 2.80", "?host=host2&status=confirmed").await.len(), 1);
    assert_eq!(get("compute 2.80", "?host=host2").await.len(), 2);
    let (s, _) = c
        .env
        .raw(
            Method::GET,
            "/compute/v2.1/os-migrations?marker=nope",
            vec![],
            &[("openstack-api-version", "compute 2.80")],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Server migrations do not exist before 2.23.
    let (s, _) = c
        .env
        .raw(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}/migrations"),
            vec![],
            &[("openstack-api-version", "compute 2.22")],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    c.audit_clean().await;
}
both_backends!(conflicts_policy_and_views);

/// The swap lands but its answer is lost: the resize fails (Placement
/// unavailable) and the allocations are exactly as before.
async fn lost_swap_answer_rolls_back(backend: Backend) {
    let c = Cloud::new(backend, ComputeConfig::default()).await;
    let id = c.server_on("host1", &c.small).await;
    let before = c.held(&id).await;
    c.env.api_placement.lose_post_answers.store(true, std::sync::atomic::Ordering::SeqCst);
    let (s, v) = c.act(&id, json!({"resize": {"flavorRef": c.big}})).await;
    c.env.api_placement.lose_post_answers.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(c.env.status(&id).await, "ACTIVE");
    assert_eq!(c.held(&id).await, before);
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    let m = c.last_migration(&id).await;
    assert_eq!(m["status"], "error");
    assert!(c.held(m["uuid"].as_str().unwrap()).await.is_empty());
    c.audit_clean().await;
}
both_backends!(lost_swap_answer_rolls_back);

/// The API process dies between the swap and recording the destination
/// (the request is dropped there): the audit's fix, past
/// `scheduling_timeout`, puts the allocation back on the instance, closes
/// the migration and leaves the server ACTIVE where it was.
async fn abandoned_move_rolled_back(backend: Backend) {
    let config = ComputeConfig { scheduling_timeout: std::time::Duration::ZERO, ..Default::default() };
    let c = Cloud::new(backend, config).await;
    let id = c.server_on("host1", &c.small).await;
    let before = c.held(&id).await;
    let (reached_tx, reached_rx) = tokio::sync::oneshot::channel::<()>();
    c.env.svc.set_claim_seam(Box::new(move || {
        Box::pin(async move {
            let _ = reached_tx.send(());
            std::future::pending::<()>().await;
        })
    }));
    let app = c.env.app.clone();
    let uri = format!("/compute/v2.1/servers/{id}/action");
    let body = json!({"resize": {"flavorRef": c.big}}).to_string();
    let call = tokio::spawn(async move {
        use tower::ServiceExt;
        let req = axum::http::Request::post(uri)
            .header("x-auth-token", "admin")
            .header("openstack-api-version", MV)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .unwrap();
        let _ = app.oneshot(req).await;
    });
    reached_rx.await.unwrap();
    call.abort();
    let _ = call.await;
    // Swapped, never recorded.
    assert_eq!(c.usages("host2").await, u(BIG));
    let m = c.last_migration(&id).await;
    assert_eq!(m["status"], "pre-migrating");
    assert_eq!(c.env.status(&id).await, "RESIZE");
    let r = c.env.svc.audit(true).await.unwrap();
    assert!(r.fixed >= 1, "{r:?}");
    assert_eq!(c.held(&id).await, before);
    assert_eq!(c.usages("host2").await, u((0, 0, 0)));
    assert!(c.held(m["uuid"].as_str().unwrap()).await.is_empty());
    assert_eq!(c.last_migration(&id).await["status"], "error");
    let (_, srv) = c.env.server(&id).await;
    assert_eq!((srv["status"].as_str(), srv["OS-EXT-STS:task_state"].as_str()), (Some("ACTIVE"), None));
    c.audit_clean().await;
}
both_backends!(abandoned_move_rolled_back);
