//! Both transports against berth's real Placement router (SQLite): the
//! in-process one through `oneshot`, the HTTP one through a TCP listener.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_placement_api::{AppState, PlacementConfig};
use berth_placement_client::*;
use berth_policy::EnforcerConfig;
use berth_store::{Store, StoreConfig};
use uuid::Uuid;

struct Db(std::path::PathBuf);
impl Drop for Db {
    fn drop(&mut self) {
        for s in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(s);
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn placement_router() -> (axum::Router, Db) {
    let path = std::env::temp_dir().join(format!("berth_pc_{}_{}.db", std::process::id(), Uuid::new_v4().simple()));
    let store = Store::open(&StoreConfig::new(format!("sqlite://{}", path.display()))).await.unwrap();
    let policy = berth_policy::Enforcer::new(berth_policy::placement::defaults(), EnforcerConfig::default());
    (berth_placement_api::router(Arc::new(AppState::new(store, policy, PlacementConfig::default()))), Db(path))
}

fn res(pairs: &[(&str, i64)]) -> Resources {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

async fn scenario(c: &dyn PlacementClient) {
    let rp = Uuid::new_v4();
    assert_eq!(c.get_provider(rp).await.unwrap(), None);
    let p = c.ensure_provider(rp, "node1", None).await.unwrap();
    assert_eq!((p.uuid, p.name.as_str()), (rp, "node1"));
    // Idempotent.
    assert_eq!(c.ensure_provider(rp, "node1", None).await.unwrap().uuid, rp);
    let inv: BTreeMap<String, Inventory> = [
        ("VCPU".to_string(), Inventory::new(4, 0, 2.0)),
        ("MEMORY_MB".to_string(), Inventory::new(2048, 512, 1.0)),
        ("CUSTOM_WIDGET".to_string(), Inventory::new(3, 0, 1.0)),
    ]
    .into_iter()
    .collect();
    let g1 = c.set_inventories(rp, &inv).await.unwrap();
    assert_eq!(c.set_inventories(rp, &inv).await.unwrap(), g1, "no-op when unchanged");
    assert_eq!(c.get_inventories(rp).await.unwrap().inventories, inv);
    let t =
        c.update_traits(rp, &["CUSTOM_GOLD".to_string(), "COMPUTE_STATUS_DISABLED".to_string()], &[]).await.unwrap();
    assert!(t.contains("CUSTOM_GOLD"));
    c.set_trait(rp, "COMPUTE_STATUS_DISABLED", false).await.unwrap();
    assert_eq!(c.get_traits(rp).await.unwrap().traits, vec!["CUSTOM_GOLD".to_string()]);
    let agg = Uuid::new_v4();
    c.update_aggregates(rp, &[agg], &[]).await.unwrap();
    assert_eq!(c.get_aggregates(rp).await.unwrap().aggregates, vec![agg]);
    // Candidates.
    let q = format!("resources=VCPU:2,MEMORY_MB:1024&required=CUSTOM_GOLD,!COMPUTE_STATUS_DISABLED&member_of={agg}");
    let cands = c.allocation_candidates(&q).await.unwrap();
    assert_eq!(cands.allocation_requests.len(), 1);
    assert_eq!(cands.provider_summaries[&rp].resources["MEMORY_MB"].capacity, 1536);
    let none = c.allocation_candidates("resources=VCPU:2&required=!CUSTOM_GOLD").await.unwrap();
    assert!(none.allocation_requests.is_empty());
    // Allocations with consumer generations.
    let consumer = Uuid::new_v4();
    assert!(c.get_allocations(consumer).await.unwrap().is_empty());
    let mut w = AllocationWrite {
        allocations: [(rp, res(&[("VCPU", 2), ("MEMORY_MB", 1024)]))].into_iter().collect(),
        project_id: "p".into(),
        user_id: "u".into(),
        consumer_generation: None,
        consumer_type: "INSTANCE".into(),
    };
    c.put_allocations(consumer, &w).await.unwrap();
    let e = c.put_allocations(consumer, &w).await.unwrap_err();
    assert!(e.is_generation_conflict(), "{e:?}");
    let got = c.get_allocations(consumer).await.unwrap();
    assert_eq!(got.resources(), w.allocations);
    assert_eq!(got.consumer_type.as_deref(), Some("INSTANCE"));
    w.consumer_generation = got.consumer_generation;
    w.allocations = [(rp, res(&[("VCPU", 1), ("MEMORY_MB", 512)]))].into_iter().collect();
    c.put_allocations(consumer, &w).await.unwrap();
    // Capacity conflict for another consumer.
    let other = Uuid::new_v4();
    let big = AllocationWrite {
        allocations: [(rp, res(&[("MEMORY_MB", 1500)]))].into_iter().collect(),
        consumer_generation: None,
        ..w.clone()
    };
    let e = c.put_allocations(other, &big).await.unwrap_err();
    assert!(e.is_conflict() && !e.is_generation_conflict(), "{e:?}");
    assert_eq!(c.provider_usages(rp).await.unwrap(), res(&[("CUSTOM_WIDGET", 0), ("MEMORY_MB", 512), ("VCPU", 1)]));
    assert_eq!(c.project_usages("p", None).await.unwrap(), res(&[("MEMORY_MB", 512), ("VCPU", 1)]));
    let pa = c.provider_allocations(rp).await.unwrap();
    assert_eq!(pa.allocations.keys().copied().collect::<Vec<_>>(), vec![consumer]);
    // Deleting inventory in use is refused with its code.
    let e = c.set_inventories(rp, &BTreeMap::new()).await.unwrap_err();
    assert!(matches!(&e, PlacementError::Conflict { code, .. } if code == INVENTORY_IN_USE), "{e:?}");
    assert!(c.delete_allocations(consumer).await.unwrap());
    assert!(!c.delete_allocations(consumer).await.unwrap());
    assert!(c.delete_provider(rp).await.unwrap());
    assert!(!c.delete_provider(rp).await.unwrap());
    assert_eq!(c.list_providers("name=node1").await.unwrap(), vec![]);
}

#[tokio::test]
async fn in_process() {
    let (router, _db) = placement_router().await;
    let c = InProcessPlacementClient::new(router.clone(), Arc::new(StaticToken::new("admin")));
    scenario(&c).await;
    // Mounted under a prefix.
    let nested = axum::Router::new().nest("/placement", router);
    let c = InProcessPlacementClient::new(nested, Arc::new(StaticToken::new("admin"))).with_prefix("/placement");
    scenario(&c).await;
    // Without a token: policy/auth failure is "other", not unavailable.
    let (router, _db2) = placement_router().await;
    let c = InProcessPlacementClient::new(router, Arc::new(StaticToken::none()));
    let e = c.get_provider(Uuid::new_v4()).await.unwrap_err();
    assert!(matches!(e, PlacementError::Other { status: 401, .. }), "{e:?}");
}

#[tokio::test]
async fn over_http() {
    let (router, _db) = placement_router().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let c = HttpPlacementClient::new(format!("http://{addr}/"), Arc::new(StaticToken::new("admin")));
    scenario(&c).await;
    server.abort();
    // Nothing listening: unavailable.
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let c = HttpPlacementClient::new(format!("http://{free}"), Arc::new(StaticToken::new("admin")));
    let e = c.delete_allocations(Uuid::new_v4()).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
}
