//! The whole `Store` API as one story, run against SQLite and PostgreSQL
//! (throw-away databases from `berth-testkit`; `BERTH_TEST_SKIP_POSTGRES=1`
//! skips PostgreSQL, otherwise an unreachable server fails the test).

use std::collections::{BTreeMap, BTreeSet};

use berth_placement::model::Inventory;
use berth_placement::{codes, standard, ErrorKind};
use berth_store::{AllocationWrite, ProviderFilter, ProviderUpdate, Store, StoreConfig, TraitFilter};
use berth_testkit::{both_engines, Backend, TestDb};
use uuid::Uuid;

// ---------------------------------------------------------------- helpers --

#[track_caller]
fn assert_err<T: std::fmt::Debug>(r: berth_placement::Result<T>, kind: ErrorKind, code: &str, detail_has: &str) {
    match r {
        Ok(v) => panic!("expected {kind:?} ({code}) containing {detail_has:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind, kind, "kind of {e:?}");
            assert_eq!(e.code, code, "code of {e:?}");
            assert!(e.detail.contains(detail_has), "detail {:?} should contain {detail_has:?}", e.detail);
        }
    }
}

fn inv(rc: &str, total: i64) -> Inventory {
    Inventory::with_defaults(rc.to_string(), total)
}

fn inv_full(rc: &str, total: i64, reserved: i64, min: i64, max: i64, step: i64, ratio: f64) -> Inventory {
    Inventory {
        resource_class: rc.to_string(),
        total,
        reserved,
        min_unit: min,
        max_unit: max,
        step_size: step,
        allocation_ratio: ratio,
    }
}

struct Claim<'a> {
    project: &'a str,
    user: &'a str,
    generation: Option<Option<i64>>,
    consumer_type: Option<&'a str>,
}

const NEW: Claim<'static> = Claim { project: "p1", user: "u1", generation: Some(None), consumer_type: None };

fn alloc(consumer: Uuid, c: &Claim<'_>, items: &[(Uuid, &[(&str, i64)])]) -> AllocationWrite {
    let mut allocations: BTreeMap<Uuid, BTreeMap<String, i64>> = BTreeMap::new();
    for (rp, res) in items {
        let e = allocations.entry(*rp).or_default();
        for (rc, n) in *res {
            e.insert(rc.to_string(), *n);
        }
    }
    AllocationWrite {
        consumer,
        project_id: c.project.to_string(),
        user_id: c.user.to_string(),
        consumer_generation: c.generation,
        consumer_type: c.consumer_type.map(str::to_string),
        allocations,
    }
}

async fn gen_of(s: &Store, rp: Uuid) -> i64 {
    s.get_provider(&rp).await.unwrap().expect("provider exists").generation
}

async fn names(s: &Store, f: ProviderFilter) -> Vec<String> {
    s.list_providers(&f).await.unwrap().into_iter().map(|rp| rp.name).collect()
}

fn set<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
    items.iter().cloned().collect()
}

fn res(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

// ------------------------------------------------------------------ story --

async fn story(s: Store, url: String) {
    standard_data(&s, &url).await;
    let p = providers(&s).await;
    inventories(&s, p.a).await;
    resource_classes(&s, p.b).await;
    traits(&s, &p).await;
    aggregates(&s, &p).await;
    allocations(&s, &p).await;
    usages(&s, &p).await;
    in_use_refusals(&s, &p).await;
    reshape(&s).await;
    teardown(&s, &p).await;
}

async fn standard_data(s: &Store, url: &str) {
    let rcs = s.list_resource_classes().await.unwrap();
    let names: Vec<&str> = rcs.iter().map(|r| r.name.as_str()).collect();
    // Standard classes, in os-resource-classes order (the order is their id).
    assert_eq!(names, standard::RESOURCE_CLASSES.to_vec());
    assert!(rcs.iter().all(|r| r.updated_at > 0));
    let (traits, last) = s.list_traits(&TraitFilter::default()).await.unwrap();
    assert_eq!(traits, standard::traits().map(str::to_string).collect::<Vec<_>>());
    assert!(last > 0);
    assert!(s.trait_exists("HW_CPU_X86_AVX2").await.unwrap());

    // Opening again (another process starting) migrates and syncs idempotently.
    let again = Store::open(&StoreConfig { url: url.to_string(), max_connections: 2 }).await.unwrap();
    again.sync_standard().await.unwrap();
    assert_eq!(again.list_resource_classes().await.unwrap().len(), standard::RESOURCE_CLASSES.len());
    assert_eq!(again.list_traits(&TraitFilter::default()).await.unwrap().0.len(), standard::traits().count());
    again.ping().await.unwrap();
    again.close().await;
}

struct Providers {
    a: Uuid,
    b: Uuid,
    c: Uuid,
    g: Uuid,
}

async fn providers(s: &Store) -> Providers {
    let a = Uuid::new_v4();
    let rp = s.create_provider(a, "rp-a", None).await.unwrap();
    assert_eq!(rp.uuid, a);
    assert_eq!(rp.name, "rp-a");
    assert_eq!(rp.generation, 0);
    assert_eq!(rp.parent_uuid, None);
    assert_eq!(rp.root_uuid, a);
    assert!(rp.created_at > 0 && rp.updated_at >= rp.created_at);
    assert_eq!(s.get_provider(&a).await.unwrap(), Some(rp));
    assert_eq!(s.get_provider(&Uuid::new_v4()).await.unwrap(), None);

    // Duplicates: uuid, name, both.
    assert_err(
        s.create_provider(a, "other", None).await,
        ErrorKind::Conflict,
        codes::DUPLICATE_NAME,
        &format!("uuid: {a}"),
    );
    assert_err(
        s.create_provider(Uuid::new_v4(), "rp-a", None).await,
        ErrorKind::Conflict,
        codes::DUPLICATE_NAME,
        "name: rp-a",
    );
    assert_err(
        s.create_provider(a, "rp-a", None).await,
        ErrorKind::Conflict,
        codes::DUPLICATE_NAME,
        &format!("uuid: {a}, name: rp-a"),
    );
    // Bad parents.
    let x = Uuid::new_v4();
    assert_err(
        s.create_provider(x, "x", Some(x)).await,
        ErrorKind::BadRequest,
        codes::DEFAULT,
        "cannot be same as UUID",
    );
    assert_err(
        s.create_provider(x, "x", Some(Uuid::new_v4())).await,
        ErrorKind::BadRequest,
        codes::DEFAULT,
        "parent provider UUID does not exist",
    );
    assert_eq!(s.get_provider(&x).await.unwrap(), None, "failed creates leave nothing behind");

    // A tree: a <- c <- g, and a separate root b.
    let b = Uuid::new_v4();
    s.create_provider(b, "rp-b", None).await.unwrap();
    let c = Uuid::new_v4();
    let rc = s.create_provider(c, "rp-c", Some(a)).await.unwrap();
    assert_eq!((rc.parent_uuid, rc.root_uuid), (Some(a), a));
    let g = Uuid::new_v4();
    let rg = s.create_provider(g, "rp-g", Some(c)).await.unwrap();
    assert_eq!((rg.parent_uuid, rg.root_uuid), (Some(c), a));

    // Listing and filters.
    assert_eq!(names(s, ProviderFilter::default()).await, ["rp-a", "rp-b", "rp-c", "rp-g"]);
    assert_eq!(names(s, ProviderFilter { in_tree: Some(g), ..Default::default() }).await, ["rp-a", "rp-c", "rp-g"]);
    assert_eq!(names(s, ProviderFilter { name: Some("rp-b".into()), ..Default::default() }).await, ["rp-b"]);
    assert_eq!(names(s, ProviderFilter { uuid: Some(c), ..Default::default() }).await, ["rp-c"]);
    assert!(names(s, ProviderFilter { uuid: Some(Uuid::new_v4()), ..Default::default() }).await.is_empty());
    assert!(names(s, ProviderFilter { in_tree: Some(Uuid::new_v4()), ..Default::default() }).await.is_empty());

    // Renames.
    let up = |name: &str| ProviderUpdate { name: Some(name.to_string()), ..Default::default() };
    assert_eq!(s.update_provider(&b, up("rp-b2")).await.unwrap().name, "rp-b2");
    assert_eq!(s.update_provider(&b, up("rp-b2")).await.unwrap().name, "rp-b2", "renaming to its own name is fine");
    assert_err(s.update_provider(&b, up("rp-a")).await, ErrorKind::Conflict, codes::DUPLICATE_NAME, "rp-a");
    assert_err(
        s.update_provider(&Uuid::new_v4(), up("zzz")).await,
        ErrorKind::NotFound,
        codes::DEFAULT,
        "No resource provider",
    );
    s.update_provider(&b, up("rp-b")).await.unwrap();

    // Re-parenting needs allow_reparenting (1.37); the whole subtree moves.
    let parent = |p: Option<Uuid>, allow: bool| ProviderUpdate {
        parent: Some(p),
        allow_reparenting: allow,
        ..Default::default()
    };
    assert_err(
        s.update_provider(&c, parent(Some(b), false)).await,
        ErrorKind::BadRequest,
        codes::DEFAULT,
        "re-parenting",
    );
    let moved = s.update_provider(&c, parent(Some(b), true)).await.unwrap();
    assert_eq!((moved.parent_uuid, moved.root_uuid), (Some(b), b));
    let rg = s.get_provider(&g).await.unwrap().unwrap();
    assert_eq!((rg.parent_uuid, rg.root_uuid), (Some(c), b), "descendants follow to the new root");
    assert_eq!(names(s, ProviderFilter { in_tree: Some(b), ..Default::default() }).await, ["rp-b", "rp-c", "rp-g"]);
    // Setting the parent it already has is a no-op, even without permission.
    assert_eq!(s.update_provider(&c, parent(Some(b), false)).await.unwrap().parent_uuid, Some(b));
    // Loops are refused.
    assert_err(s.update_provider(&b, parent(Some(g), true)).await, ErrorKind::BadRequest, codes::DEFAULT, "loop");
    assert_err(s.update_provider(&c, parent(Some(c), true)).await, ErrorKind::BadRequest, codes::DEFAULT, "loop");
    assert_err(
        s.update_provider(&c, parent(Some(Uuid::new_v4()), true)).await,
        ErrorKind::BadRequest,
        codes::DEFAULT,
        "does not exist",
    );
    // Un-parenting.
    assert_err(s.update_provider(&g, parent(None, false)).await, ErrorKind::BadRequest, codes::DEFAULT, "un-parenting");
    let rg = s.update_provider(&g, parent(None, true)).await.unwrap();
    assert_eq!((rg.parent_uuid, rg.root_uuid), (None, g));
    // A root provider may gain a parent without re-parenting permission.
    let d = Uuid::new_v4();
    s.create_provider(d, "rp-d", None).await.unwrap();
    let rd = s.update_provider(&d, parent(Some(a), false)).await.unwrap();
    assert_eq!((rd.parent_uuid, rd.root_uuid), (Some(a), a));

    // Deletes: parents and unknown providers are refused; leaves go.
    assert_err(s.delete_provider(&b).await, ErrorKind::Conflict, codes::PROVIDER_CANNOT_DELETE_PARENT, "child");
    assert_err(s.delete_provider(&Uuid::new_v4()).await, ErrorKind::NotFound, codes::DEFAULT, "found for delete");
    s.delete_provider(&d).await.unwrap();
    assert_eq!(s.get_provider(&d).await.unwrap(), None);
    assert_eq!(names(s, ProviderFilter { in_tree: Some(a), ..Default::default() }).await, ["rp-a"]);

    Providers { a, b, c, g }
}

async fn inventories(s: &Store, a: Uuid) {
    let (gen, invs, _) = s.get_inventories(&a).await.unwrap().unwrap();
    assert_eq!((gen, invs.len()), (0, 0));
    assert_eq!(s.get_inventories(&Uuid::new_v4()).await.unwrap(), None);

    // VCPU: capacity (8 - 0) * 2.0 = 16, at most 4 per allocation.
    // MEMORY_MB: capacity 2048 - 512 = 1536, 64..=1024 in steps of 64.
    let vcpu = inv_full("VCPU", 8, 0, 1, 4, 1, 2.0);
    let mem = inv_full("MEMORY_MB", 2048, 512, 64, 1024, 64, 1.0);
    assert_eq!(s.set_inventories(&a, 0, &[mem.clone(), vcpu.clone()]).await.unwrap(), 1);
    let (gen, invs, last) = s.get_inventories(&a).await.unwrap().unwrap();
    assert_eq!(gen, 1);
    assert_eq!(invs, vec![vcpu.clone(), mem.clone()], "ordered by resource class id, values round-trip");
    assert!(last > 0);

    // Stale generation and unknown classes change nothing.
    assert_err(
        s.set_inventories(&a, 0, &[inv("VCPU", 1)]).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "generation",
    );
    assert_err(
        s.set_inventories(&a, 1, &[inv("CUSTOM_NOPE", 1)]).await,
        ErrorKind::BadRequest,
        codes::DEFAULT,
        "CUSTOM_NOPE",
    );
    assert_err(
        s.set_inventories(&Uuid::new_v4(), 0, &[inv("VCPU", 1)]).await,
        ErrorKind::NotFound,
        codes::DEFAULT,
        "No resource provider",
    );
    assert_eq!(s.get_inventories(&a).await.unwrap().unwrap().0, 1);
    assert_eq!(s.get_inventories(&a).await.unwrap().unwrap().1, vec![vcpu.clone(), mem.clone()]);

    // POST one.
    assert_eq!(s.add_inventory(&a, &inv("DISK_GB", 100)).await.unwrap(), 2);
    assert_err(
        s.add_inventory(&a, &inv("DISK_GB", 100)).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "already exists",
    );
    assert_err(s.add_inventory(&a, &inv("CUSTOM_NOPE", 1)).await, ErrorKind::BadRequest, codes::DEFAULT, "CUSTOM_NOPE");
    assert_err(
        s.add_inventory(&Uuid::new_v4(), &inv("VCPU", 1)).await,
        ErrorKind::NotFound,
        codes::DEFAULT,
        "No resource provider",
    );

    // PUT one.
    assert_err(
        s.update_inventory(&a, 1, &inv("DISK_GB", 200)).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "generation",
    );
    assert_eq!(s.update_inventory(&a, 2, &inv("DISK_GB", 200)).await.unwrap(), 3);
    let (_, invs, _) = s.get_inventories(&a).await.unwrap().unwrap();
    assert_eq!(invs.iter().find(|i| i.resource_class == "DISK_GB").unwrap().total, 200);
    assert_err(
        s.update_inventory(&a, 3, &inv("PCI_DEVICE", 2)).await,
        ErrorKind::BadRequest,
        codes::DEFAULT,
        "PCI_DEVICE",
    );
    assert_eq!(gen_of(s, a).await, 3, "a failed update does not advance the generation");

    // DELETE one.
    assert_err(s.delete_inventory(&a, "PCI_DEVICE").await, ErrorKind::NotFound, codes::DEFAULT, "PCI_DEVICE");
    assert_eq!(gen_of(s, a).await, 3);
    s.delete_inventory(&a, "DISK_GB").await.unwrap();
    assert_eq!(gen_of(s, a).await, 4);
    assert_eq!(s.get_inventories(&a).await.unwrap().unwrap().1, vec![vcpu, mem]);
}

async fn resource_classes(s: &Store, b: Uuid) {
    assert!(s.create_resource_class("CUSTOM_GOLD").await.unwrap());
    assert!(!s.create_resource_class("CUSTOM_GOLD").await.unwrap(), "second create reports it existed");
    assert!(!s.create_resource_class("VCPU").await.unwrap());
    assert_eq!(s.get_resource_class("CUSTOM_GOLD").await.unwrap().unwrap().name, "CUSTOM_GOLD");
    assert_eq!(s.list_resource_classes().await.unwrap().last().unwrap().name, "CUSTOM_GOLD");
    assert_eq!(s.get_resource_class("CUSTOM_NOPE").await.unwrap(), None);

    // Rename (1.2 - 1.6).
    s.rename_resource_class("CUSTOM_GOLD", "CUSTOM_SILVER").await.unwrap();
    assert_eq!(s.get_resource_class("CUSTOM_GOLD").await.unwrap(), None);
    assert!(s.get_resource_class("CUSTOM_SILVER").await.unwrap().is_some());
    assert_err(s.rename_resource_class("VCPU", "CUSTOM_VCPU").await, ErrorKind::BadRequest, codes::DEFAULT, "standard");
    assert_err(
        s.rename_resource_class("CUSTOM_NOPE", "CUSTOM_X").await,
        ErrorKind::NotFound,
        codes::DEFAULT,
        "CUSTOM_NOPE",
    );
    assert!(s.create_resource_class("CUSTOM_BRONZE").await.unwrap());
    assert_err(
        s.rename_resource_class("CUSTOM_SILVER", "CUSTOM_BRONZE").await,
        ErrorKind::Conflict,
        codes::DUPLICATE_NAME,
        "CUSTOM_BRONZE",
    );

    // A class in an inventory cannot be deleted; a rename carries the inventory along.
    let gb = gen_of(s, b).await;
    assert_eq!(s.set_inventories(&b, gb, &[inv("CUSTOM_SILVER", 10)]).await.unwrap(), gb + 1);
    assert_err(s.delete_resource_class("CUSTOM_SILVER").await, ErrorKind::Conflict, codes::DEFAULT, "in use");
    s.rename_resource_class("CUSTOM_SILVER", "CUSTOM_PLATINUM").await.unwrap();
    let (_, invs, _) = s.get_inventories(&b).await.unwrap().unwrap();
    assert_eq!(invs, vec![inv("CUSTOM_PLATINUM", 10)]);

    assert_err(s.delete_resource_class("VCPU").await, ErrorKind::BadRequest, codes::DEFAULT, "standard");
    assert_err(s.delete_resource_class("CUSTOM_NOPE").await, ErrorKind::NotFound, codes::DEFAULT, "CUSTOM_NOPE");
    s.delete_resource_class("CUSTOM_BRONZE").await.unwrap();
    assert_eq!(s.get_resource_class("CUSTOM_BRONZE").await.unwrap(), None);
    assert_eq!(s.list_resource_classes().await.unwrap().len(), standard::RESOURCE_CLASSES.len() + 1);
}

async fn traits(s: &Store, p: &Providers) {
    let n_std = standard::traits().count();
    assert!(s.create_trait("CUSTOM_FAST").await.unwrap());
    assert!(!s.create_trait("CUSTOM_FAST").await.unwrap());
    assert!(s.trait_exists("CUSTOM_FAST").await.unwrap());
    assert!(!s.trait_exists("CUSTOM_NOPE").await.unwrap());

    let ga = gen_of(s, p.a).await;
    let wanted = vec!["HW_CPU_X86_AVX2".to_string(), "CUSTOM_FAST".to_string(), "CUSTOM_FAST".to_string()];
    assert_eq!(s.set_provider_traits(&p.a, ga, &wanted).await.unwrap(), ga + 1);
    let (gen, names_a, last) = s.get_provider_traits(&p.a).await.unwrap().unwrap();
    assert_eq!(gen, ga + 1);
    assert_eq!(names_a, ["CUSTOM_FAST", "HW_CPU_X86_AVX2"], "sorted, de-duplicated");
    assert!(last > 0);
    assert_eq!(s.get_provider_traits(&Uuid::new_v4()).await.unwrap(), None);

    assert_err(
        s.set_provider_traits(&p.a, ga, &["CUSTOM_FAST".into()]).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "generation",
    );
    // Unknown traits are reported even with a stale generation.
    assert_err(
        s.set_provider_traits(&p.a, ga, &["CUSTOM_NOPE".into()]).await,
        ErrorKind::BadRequest,
        codes::DEFAULT,
        "CUSTOM_NOPE",
    );
    assert_eq!(gen_of(s, p.a).await, ga + 1);

    // GET /traits filters.
    let lt = |f: TraitFilter| async move { s.list_traits(&f).await.unwrap().0 };
    assert_eq!(lt(TraitFilter::default()).await.len(), n_std + 1);
    assert_eq!(
        lt(TraitFilter { associated: Some(true), ..Default::default() }).await,
        ["CUSTOM_FAST", "HW_CPU_X86_AVX2"]
    );
    let unassociated = lt(TraitFilter { associated: Some(false), ..Default::default() }).await;
    assert_eq!(unassociated.len(), n_std + 1 - 2);
    assert!(!unassociated.contains(&"CUSTOM_FAST".to_string()));
    assert_eq!(lt(TraitFilter { prefix: Some("CUSTOM_".into()), ..Default::default() }).await, ["CUSTOM_FAST"]);
    assert_eq!(
        lt(TraitFilter {
            name_in: Some(vec!["HW_CPU_X86_AVX2".into(), "CUSTOM_NOPE".into(), "CUSTOM_FAST".into()]),
            ..Default::default()
        })
        .await,
        ["CUSTOM_FAST", "HW_CPU_X86_AVX2"]
    );
    assert!(lt(TraitFilter { prefix: Some("CUSTOM_".into()), associated: Some(false), ..Default::default() })
        .await
        .is_empty());

    // Provider list by traits.
    let gc = gen_of(s, p.c).await;
    s.set_provider_traits(&p.c, gc, &["CUSTOM_FAST".into()]).await.unwrap();
    let req = |sets: &[&[&str]]| ProviderFilter {
        required_traits: sets.iter().map(|any| any.iter().map(|t| t.to_string()).collect()).collect(),
        ..Default::default()
    };
    assert_eq!(names(s, req(&[&["CUSTOM_FAST"]])).await, ["rp-a", "rp-c"]);
    assert_eq!(names(s, req(&[&["CUSTOM_FAST"], &["HW_CPU_X86_AVX2"]])).await, ["rp-a"]);
    assert_eq!(names(s, req(&[&["HW_CPU_X86_AVX2", "COMPUTE_STATUS_DISABLED"]])).await, ["rp-a"]);
    let forbid = ProviderFilter { forbidden_traits: set(&["HW_CPU_X86_AVX2".to_string()]), ..Default::default() };
    assert_eq!(names(s, forbid).await, ["rp-b", "rp-c", "rp-g"]);

    // Deleting traits.
    assert_err(s.delete_trait("CUSTOM_FAST").await, ErrorKind::Conflict, codes::DEFAULT, "in use");
    assert_err(s.delete_trait("HW_CPU_X86_AVX2").await, ErrorKind::BadRequest, codes::DEFAULT, "standard");
    assert_err(s.delete_trait("CUSTOM_NOPE").await, ErrorKind::NotFound, codes::DEFAULT, "CUSTOM_NOPE");
    s.delete_provider_traits(&p.c).await.unwrap();
    assert_eq!(s.get_provider_traits(&p.c).await.unwrap().unwrap(), (gc + 2, vec![], 0));
    assert!(s.create_trait("CUSTOM_TEMP").await.unwrap());
    s.delete_trait("CUSTOM_TEMP").await.unwrap();
    assert!(!s.trait_exists("CUSTOM_TEMP").await.unwrap());
    assert_err(
        s.delete_provider_traits(&Uuid::new_v4()).await,
        ErrorKind::NotFound,
        codes::DEFAULT,
        "No resource provider",
    );
}

async fn aggregates(s: &Store, p: &Providers) {
    let (agg1, agg2, agg3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let ga = gen_of(s, p.a).await;
    let (gen, aggs, _) = s.get_provider_aggregates(&p.a).await.unwrap().unwrap();
    assert_eq!((gen, aggs), (ga, vec![]));
    assert_eq!(s.get_provider_aggregates(&Uuid::new_v4()).await.unwrap(), None);

    // 1.1 - 1.18: no generation check, no bump; duplicates collapse; first-seen order.
    assert_eq!(s.set_provider_aggregates(&p.a, None, &[agg2, agg1, agg2]).await.unwrap(), ga);
    let (gen, aggs, last) = s.get_provider_aggregates(&p.a).await.unwrap().unwrap();
    assert_eq!((gen, aggs), (ga, vec![agg2, agg1]));
    assert!(last > 0);

    // 1.19+: conditional, bumps.
    assert_err(
        s.set_provider_aggregates(&p.a, Some(ga - 1), &[agg1]).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "generation",
    );
    assert_eq!(s.set_provider_aggregates(&p.a, Some(ga), &[agg1]).await.unwrap(), ga + 1);
    assert_eq!(s.get_provider_aggregates(&p.a).await.unwrap().unwrap().1, vec![agg1]);
    assert_err(
        s.set_provider_aggregates(&Uuid::new_v4(), None, &[agg1]).await,
        ErrorKind::NotFound,
        codes::DEFAULT,
        "No resource provider",
    );

    s.set_provider_aggregates(&p.b, None, &[agg3, agg1]).await.unwrap();
    let member = |sets: &[&[Uuid]]| ProviderFilter {
        member_of: sets.iter().map(|any| any.iter().copied().collect()).collect(),
        ..Default::default()
    };
    assert_eq!(names(s, member(&[&[agg1]])).await, ["rp-a", "rp-b"]);
    assert_eq!(names(s, member(&[&[agg3]])).await, ["rp-b"]);
    assert_eq!(names(s, member(&[&[agg2, agg3]])).await, ["rp-b"]);
    assert_eq!(names(s, member(&[&[agg1], &[agg3]])).await, ["rp-b"]);
    assert!(names(s, member(&[&[agg2]])).await.is_empty());
    let forbid = ProviderFilter { forbidden_aggregates: set(&[agg3]), ..Default::default() };
    assert_eq!(names(s, forbid).await, ["rp-a", "rp-c", "rp-g"]);

    // Emptying.
    let gb = gen_of(s, p.b).await;
    assert_eq!(s.set_provider_aggregates(&p.b, Some(gb), &[] as &[Uuid]).await.unwrap(), gb + 1);
    assert!(s.get_provider_aggregates(&p.b).await.unwrap().unwrap().1.is_empty());
    assert_eq!(names(s, member(&[&[agg1]])).await, ["rp-a"]);
}

async fn allocations(s: &Store, p: &Providers) {
    let a = p.a;
    let [c1, c2, c3, c4, c5, c6, c7] = [(); 7].map(|_| Uuid::new_v4());
    let write = |w: AllocationWrite| async move { s.write_allocations(&[w]).await };

    // Consumer generations: a new consumer must be claimed with null.
    assert_err(
        write(alloc(c1, &Claim { generation: Some(Some(3)), ..NEW }, &[(a, &[("VCPU", 2)])])).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "consumer generation conflict",
    );
    assert_eq!(s.get_consumer_allocations(&c1).await.unwrap(), None);

    let ga = gen_of(s, a).await;
    let instance = Claim { consumer_type: Some("INSTANCE"), ..NEW };
    write(alloc(c1, &instance, &[(a, &[("VCPU", 2), ("MEMORY_MB", 512)])])).await.unwrap();
    assert_eq!(gen_of(s, a).await, ga + 1, "an allocation write advances the provider generation");
    let got = s.get_consumer_allocations(&c1).await.unwrap().unwrap();
    assert_eq!(got.consumer.uuid, c1);
    assert_eq!(got.consumer.generation, 1);
    assert_eq!((got.consumer.project_id.as_str(), got.consumer.user_id.as_str()), ("p1", "u1"));
    assert_eq!(got.consumer.consumer_type.as_deref(), Some("INSTANCE"));
    assert_eq!(got.allocations.len(), 1);
    assert_eq!(got.allocations[0].provider, a);
    assert_eq!(got.allocations[0].provider_generation, ga + 1);
    assert_eq!(got.allocations[0].resources, res(&[("MEMORY_MB", 512), ("VCPU", 2)]));
    assert!(got.updated_at > 0);

    // Existing consumer: null and wrong generations conflict.
    assert_err(
        write(alloc(c1, &NEW, &[(a, &[("VCPU", 1)])])).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "expected 1 but got None",
    );
    assert_err(
        write(alloc(c1, &Claim { generation: Some(Some(5)), ..NEW }, &[(a, &[("VCPU", 1)])])).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "consumer generation conflict",
    );

    // min_unit / max_unit / step_size.
    for (rc, n) in [("VCPU", 5), ("MEMORY_MB", 32), ("MEMORY_MB", 100), ("MEMORY_MB", 2048)] {
        assert_err(
            write(alloc(c2, &NEW, &[(a, &[(rc, n)])])).await,
            ErrorKind::Conflict,
            codes::DEFAULT,
            "would violate inventory constraints",
        );
    }
    // Unknown class, class without inventory, unknown provider.
    assert_err(
        write(alloc(c2, &NEW, &[(a, &[("CUSTOM_NOPE", 1)])])).await,
        ErrorKind::NotFound,
        codes::DEFAULT,
        "CUSTOM_NOPE",
    );
    assert_err(write(alloc(c2, &NEW, &[(a, &[("DISK_GB", 1)])])).await, ErrorKind::Conflict, codes::DEFAULT, "invalid");
    let ghost = Uuid::new_v4();
    assert_err(
        write(alloc(c2, &NEW, &[(ghost, &[("VCPU", 1)])])).await,
        ErrorKind::BadRequest,
        codes::DEFAULT,
        "does not exist",
    );
    assert_eq!(s.get_consumer_allocations(&c2).await.unwrap(), None, "failed writes create no consumer");

    // Capacity: VCPU capacity 16, c1 holds 2.
    let other = Claim { user: "u2", consumer_type: Some("INSTANCE"), ..NEW };
    let migration = Claim { consumer_type: Some("MIGRATION"), ..NEW };
    write(alloc(c2, &instance, &[(a, &[("VCPU", 4)])])).await.unwrap();
    write(alloc(c3, &other, &[(a, &[("VCPU", 4)])])).await.unwrap();
    write(alloc(c4, &migration, &[(a, &[("VCPU", 4)])])).await.unwrap(); // 14 used
    assert_err(
        write(alloc(c5, &NEW, &[(a, &[("VCPU", 3)])])).await,
        ErrorKind::Conflict,
        codes::DEFAULT,
        "exceed the capacity",
    );
    write(alloc(c5, &NEW, &[(a, &[("VCPU", 2)])])).await.unwrap(); // 16: full
    assert_err(
        write(alloc(c6, &NEW, &[(a, &[("VCPU", 1)])])).await,
        ErrorKind::Conflict,
        codes::DEFAULT,
        "exceed the capacity",
    );
    assert!(s.delete_consumer_allocations(&c5).await.unwrap());
    assert!(!s.delete_consumer_allocations(&c5).await.unwrap(), "second delete finds nothing");
    assert_eq!(s.get_consumer_allocations(&c5).await.unwrap(), None);

    // Several consumers in one write are all-or-nothing.
    let r = s
        .write_allocations(&[alloc(c6, &NEW, &[(a, &[("VCPU", 1)])]), alloc(c7, &NEW, &[(a, &[("MEMORY_MB", 4096)])])])
        .await;
    assert_err(r, ErrorKind::Conflict, codes::DEFAULT, "violate");
    assert_eq!(s.get_consumer_allocations(&c6).await.unwrap(), None);
    // Amounts for the same provider and class add up across consumers in one write.
    let r =
        s.write_allocations(&[alloc(c6, &NEW, &[(a, &[("VCPU", 1)])]), alloc(c7, &NEW, &[(a, &[("VCPU", 2)])])]).await;
    assert_err(r, ErrorKind::Conflict, codes::DEFAULT, "exceed the capacity");
    s.write_allocations(&[alloc(c6, &NEW, &[(a, &[("VCPU", 1)])]), alloc(c7, &NEW, &[(a, &[("VCPU", 1)])])])
        .await
        .unwrap();
    assert!(s.delete_consumer_allocations(&c6).await.unwrap());
    assert!(s.delete_consumer_allocations(&c7).await.unwrap());

    // Replace c1's allocations, spanning two providers (b has CUSTOM_PLATINUM 10).
    let gen1 = Claim { generation: Some(Some(1)), ..NEW };
    write(alloc(c1, &gen1, &[(a, &[("VCPU", 1)]), (p.b, &[("CUSTOM_PLATINUM", 3)])])).await.unwrap();
    let got = s.get_consumer_allocations(&c1).await.unwrap().unwrap();
    assert_eq!(got.consumer.generation, 2);
    assert_eq!(got.consumer.consumer_type.as_deref(), Some("INSTANCE"), "a write without a type keeps the type");
    let by_rp: BTreeMap<Uuid, BTreeMap<String, i64>> =
        got.allocations.iter().map(|x| (x.provider, x.resources.clone())).collect();
    assert_eq!(by_rp, BTreeMap::from([(a, res(&[("VCPU", 1)])), (p.b, res(&[("CUSTOM_PLATINUM", 3)]))]));
    for x in &got.allocations {
        assert_eq!(x.provider_generation, gen_of(s, x.provider).await);
    }
    // Before 1.28 there is no generation check at all.
    write(alloc(c1, &Claim { generation: None, ..NEW }, &[(a, &[("VCPU", 1)]), (p.b, &[("CUSTOM_PLATINUM", 3)])]))
        .await
        .unwrap();
    assert_eq!(s.get_consumer_allocations(&c1).await.unwrap().unwrap().consumer.generation, 3);

    // Per provider.
    let (gen, by_consumer, last) = s.get_provider_allocations(&a).await.unwrap().unwrap();
    assert_eq!(gen, gen_of(s, a).await);
    assert!(last > 0);
    assert_eq!(
        by_consumer,
        BTreeMap::from([
            (c1, res(&[("VCPU", 1)])),
            (c2, res(&[("VCPU", 4)])),
            (c3, res(&[("VCPU", 4)])),
            (c4, res(&[("VCPU", 4)])),
        ])
    );
    assert_eq!(s.get_provider_allocations(&Uuid::new_v4()).await.unwrap(), None);

    // Emptying a consumer deletes it and advances the generations of the
    // providers it held.
    let (ga, gb) = (gen_of(s, a).await, gen_of(s, p.b).await);
    write(alloc(c1, &Claim { generation: Some(Some(3)), ..NEW }, &[])).await.unwrap();
    assert_eq!(s.get_consumer_allocations(&c1).await.unwrap(), None);
    assert_eq!((gen_of(s, a).await, gen_of(s, p.b).await), (ga + 1, gb + 1));
    assert!(s.get_provider_allocations(&p.b).await.unwrap().unwrap().1.is_empty());
    // Gone means new again: the next claim uses null.
    write(alloc(c1, &NEW, &[(p.b, &[("CUSTOM_PLATINUM", 1)])])).await.unwrap();
    assert_eq!(s.get_consumer_allocations(&c1).await.unwrap().unwrap().consumer.generation, 1);
    assert!(s.delete_consumer_allocations(&c1).await.unwrap());
}

async fn usages(s: &Store, p: &Providers) {
    // Left from allocations(): on a, c2 (p1/u1 INSTANCE 4), c3 (p1/u2 INSTANCE 4),
    // c4 (p1/u1 MIGRATION 4). Add one untyped consumer in another project.
    let c9 = Uuid::new_v4();
    s.write_allocations(&[alloc(c9, &Claim { project: "p2", ..NEW }, &[(p.a, &[("MEMORY_MB", 128)])])]).await.unwrap();

    let (gen, u) = s.get_provider_usages(&p.a).await.unwrap().unwrap();
    assert_eq!(gen, gen_of(s, p.a).await);
    assert_eq!(u, res(&[("MEMORY_MB", 128), ("VCPU", 12)]));
    let (_, u) = s.get_provider_usages(&p.b).await.unwrap().unwrap();
    assert_eq!(u, res(&[("CUSTOM_PLATINUM", 0)]), "classes with inventory but no allocations report 0");
    let (_, u) = s.get_provider_usages(&p.g).await.unwrap().unwrap();
    assert!(u.is_empty());
    assert_eq!(s.get_provider_usages(&Uuid::new_v4()).await.unwrap(), None);

    let rows = s.get_total_usages("p1", None, None).await.unwrap();
    let summary: Vec<(Option<&str>, i64, BTreeMap<String, i64>)> =
        rows.iter().map(|r| (r.consumer_type.as_deref(), r.consumer_count, r.usages.clone())).collect();
    assert_eq!(summary, vec![(Some("INSTANCE"), 2, res(&[("VCPU", 8)])), (Some("MIGRATION"), 1, res(&[("VCPU", 4)]))]);
    let rows = s.get_total_usages("p1", Some("u1"), None).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.consumer_type.clone(), r.consumer_count)).collect::<Vec<_>>(),
        [(Some("INSTANCE".into()), 1), (Some("MIGRATION".into()), 1)]
    );
    let rows = s.get_total_usages("p1", None, Some("INSTANCE")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].consumer_count, &rows[0].usages), (2, &res(&[("VCPU", 8)])));
    let rows = s.get_total_usages("p1", None, Some("all")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].consumer_type.as_deref(), Some("all"));
    assert_eq!((rows[0].consumer_count, &rows[0].usages), (3, &res(&[("VCPU", 12)])));
    assert!(s.get_total_usages("p1", None, Some("unknown")).await.unwrap().is_empty());
    let rows = s.get_total_usages("p2", None, Some("unknown")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].consumer_type.clone(), rows[0].consumer_count), (None, 1));
    assert_eq!(rows[0].usages, res(&[("MEMORY_MB", 128)]));
    assert!(s.get_total_usages("p3", None, None).await.unwrap().is_empty());
    assert!(s.get_total_usages("p1", Some("nobody"), None).await.unwrap().is_empty());
    assert!(s.delete_consumer_allocations(&c9).await.unwrap());
}

async fn in_use_refusals(s: &Store, p: &Providers) {
    // a still holds VCPU allocations (c2, c3, c4).
    let ga = gen_of(s, p.a).await;
    let mem = inv_full("MEMORY_MB", 2048, 512, 64, 1024, 64, 1.0);
    assert_err(s.set_inventories(&p.a, ga, &[mem]).await, ErrorKind::Conflict, codes::INVENTORY_INUSE, "VCPU");
    // Upstream reports DELETE of one in-use inventory with the concurrent_update code.
    assert_err(s.delete_inventory(&p.a, "VCPU").await, ErrorKind::Conflict, codes::CONCURRENT_UPDATE, "in use");
    assert_err(s.delete_all_inventories(&p.a).await, ErrorKind::Conflict, codes::INVENTORY_INUSE, "in use");
    assert_err(s.delete_provider(&p.a).await, ErrorKind::Conflict, codes::PROVIDER_IN_USE, "has allocations");
    assert_eq!(gen_of(s, p.a).await, ga, "refused writes leave the generation alone");
    assert_eq!(s.get_inventories(&p.a).await.unwrap().unwrap().1.len(), 2);
    // Removing an unused class is fine while others are in use.
    let gb = gen_of(s, p.b).await;
    assert_eq!(s.set_inventories(&p.b, gb, &[]).await.unwrap(), gb + 1);
}

async fn reshape(s: &Store) {
    let r = Uuid::new_v4();
    s.create_provider(r, "rp-r", None).await.unwrap();
    assert_eq!(s.set_inventories(&r, 0, &[inv("VCPU", 8), inv("MEMORY_MB", 1024)]).await.unwrap(), 1);
    let x = Uuid::new_v4();
    s.write_allocations(&[alloc(x, &NEW, &[(r, &[("VCPU", 2), ("MEMORY_MB", 256)])])]).await.unwrap();
    let child = Uuid::new_v4();
    s.create_provider(child, "rp-r-child", Some(r)).await.unwrap();
    let gr = gen_of(s, r).await;
    let moved = |gen_x: i64| {
        vec![alloc(
            x,
            &Claim { generation: Some(Some(gen_x)), ..NEW },
            &[(r, &[("MEMORY_MB", 256)]), (child, &[("VCPU", 2)])],
        )]
    };
    let before = (s.get_inventories(&r).await.unwrap(), s.get_consumer_allocations(&x).await.unwrap());

    // Stale provider generation.
    assert_err(
        s.reshape(&[(r, gr - 1, vec![inv("MEMORY_MB", 1024)]), (child, 0, vec![inv("VCPU", 8)])], &moved(1)).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "generation",
    );
    // Stale consumer generation.
    assert_err(
        s.reshape(&[(r, gr, vec![inv("MEMORY_MB", 1024)]), (child, 0, vec![inv("VCPU", 8)])], &moved(7)).await,
        ErrorKind::Conflict,
        codes::CONCURRENT_UPDATE,
        "consumer generation",
    );
    // Removing inventory that allocations still use, without moving them.
    assert_err(
        s.reshape(&[(r, gr, vec![inv("MEMORY_MB", 1024)]), (child, 0, vec![inv("VCPU", 8)])], &[]).await,
        ErrorKind::Conflict,
        codes::INVENTORY_INUSE,
        "VCPU",
    );
    // Moving onto a child without the inventory to hold it.
    assert_err(
        s.reshape(&[(r, gr, vec![inv("MEMORY_MB", 1024)]), (child, 0, vec![inv("VCPU", 1)])], &moved(1)).await,
        ErrorKind::Conflict,
        codes::DEFAULT,
        "exceed the capacity",
    );
    // Every refusal is atomic.
    let after = (s.get_inventories(&r).await.unwrap(), s.get_consumer_allocations(&x).await.unwrap());
    assert_eq!(before, after);
    assert_eq!(gen_of(s, child).await, 0);

    // The real thing: VCPU moves from the root to the child, with its allocation.
    s.reshape(&[(r, gr, vec![inv("MEMORY_MB", 1024)]), (child, 0, vec![inv("VCPU", 8)])], &moved(1)).await.unwrap();
    assert_eq!(s.get_inventories(&r).await.unwrap().unwrap().1, vec![inv("MEMORY_MB", 1024)]);
    assert_eq!(s.get_inventories(&child).await.unwrap().unwrap().1, vec![inv("VCPU", 8)]);
    let got = s.get_consumer_allocations(&x).await.unwrap().unwrap();
    assert_eq!(got.consumer.generation, 2);
    let by_rp: BTreeMap<Uuid, BTreeMap<String, i64>> =
        got.allocations.iter().map(|a| (a.provider, a.resources.clone())).collect();
    assert_eq!(by_rp, BTreeMap::from([(r, res(&[("MEMORY_MB", 256)])), (child, res(&[("VCPU", 2)]))]));
    assert_eq!(s.get_provider_usages(&r).await.unwrap().unwrap().1, res(&[("MEMORY_MB", 256)]));
    assert_eq!(s.get_provider_usages(&child).await.unwrap().unwrap().1, res(&[("VCPU", 2)]));
    assert!(gen_of(s, r).await > gr);
    assert!(gen_of(s, child).await > 0);
    // The old generation no longer works.
    assert_err(s.reshape(&[(r, gr, vec![])], &[]).await, ErrorKind::Conflict, codes::CONCURRENT_UPDATE, "generation");

    assert!(s.delete_consumer_allocations(&x).await.unwrap());
    s.delete_provider(&child).await.unwrap();
    s.delete_provider(&r).await.unwrap();
}

async fn teardown(s: &Store, p: &Providers) {
    let mut consumers = BTreeSet::new();
    for rp in [p.a, p.b, p.c, p.g] {
        if let Some((_, allocs, _)) = s.get_provider_allocations(&rp).await.unwrap() {
            consumers.extend(allocs.into_keys());
        }
    }
    for c in consumers {
        assert!(s.delete_consumer_allocations(&c).await.unwrap());
    }
    // Deleting a provider takes its traits and aggregates with it.
    s.delete_provider(&p.a).await.unwrap();
    assert_eq!(s.get_provider(&p.a).await.unwrap(), None);
    assert_eq!(s.get_inventories(&p.a).await.unwrap(), None);
    let associated = s.list_traits(&TraitFilter { associated: Some(true), ..Default::default() }).await.unwrap().0;
    assert!(associated.is_empty(), "{associated:?}");
    s.delete_trait("CUSTOM_FAST").await.unwrap();
    assert_err(s.delete_provider(&p.b).await, ErrorKind::Conflict, codes::PROVIDER_CANNOT_DELETE_PARENT, "child");
    s.delete_provider(&p.c).await.unwrap();
    s.delete_provider(&p.b).await.unwrap();
    s.delete_provider(&p.g).await.unwrap();
    assert!(s.list_providers(&ProviderFilter::default()).await.unwrap().is_empty());
    // The class is free again once the last inventory using it is gone.
    s.delete_resource_class("CUSTOM_PLATINUM").await.unwrap();
}

// ------------------------------------------------------------------ runs --

async fn story_on(db: TestDb) {
    let store = Store::open(&StoreConfig { url: db.url.clone(), max_connections: 8 }).await.expect("open store");
    let engine = match db.backend {
        Backend::Sqlite => berth_store::Engine::Sqlite,
        Backend::Postgres => berth_store::Engine::Postgres,
    };
    assert_eq!(store.engine(), engine);
    story(store.clone(), db.url.clone()).await;
    store.close().await;
}

both_engines!(story_on);
