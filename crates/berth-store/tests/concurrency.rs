//! Concurrent claims against small providers: several `Store` handles (separate
//! pools, like several API processes) on PostgreSQL, one handle shared by many
//! tasks on SQLite. Capacity must never be exceeded, usage must equal the sum
//! of the successful claims, and every refusal must be a conflict.
//!
//! Databases come from `berth-testkit`; `BERTH_TEST_SKIP_POSTGRES=1` skips
//! the PostgreSQL runs.

use std::collections::{BTreeMap, BTreeSet};

use berth_placement::model::Inventory;
use berth_placement::{codes, ErrorKind};
use berth_store::{AllocationWrite, Store, StoreConfig};
use berth_testkit::TestDb;
use uuid::Uuid;

const CAPACITY: i64 = 20;
const CLAIMS: usize = 200;

// ---------------------------------------------------------------- harness --

/// Run a test body, then always clean up, then re-raise a panic.
async fn guarded<Fut>(body: Fut) -> Result<(), Box<dyn std::any::Any + Send>>
where
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(body).await.map_err(|e| e.into_panic())
}

fn config(url: &str) -> StoreConfig {
    StoreConfig { url: url.to_string(), max_connections: 6 }
}

// ------------------------------------------------------------------ claims --

#[derive(Debug, Clone)]
struct Claim {
    consumer: Uuid,
    /// provider index -> VCPU
    wants: BTreeMap<usize, i64>,
}

/// Deterministic mix: most claims take 1-3 VCPU from one provider; every
/// fifth takes from two providers at once (exercises the provider lock order).
fn plan(n_providers: usize) -> Vec<Claim> {
    (0..CLAIMS)
        .map(|i| {
            let amount = (i % 3) as i64 + 1;
            let first = i % n_providers;
            let mut wants = BTreeMap::from([(first, amount)]);
            if n_providers > 1 && i % 5 == 0 {
                wants.insert((first + 1) % n_providers, 1);
            }
            Claim { consumer: Uuid::new_v4(), wants }
        })
        .collect()
}

fn write_for(claim: &Claim, providers: &[Uuid]) -> AllocationWrite {
    AllocationWrite {
        consumer: claim.consumer,
        project_id: "proj".into(),
        user_id: "user".into(),
        consumer_generation: Some(None),
        consumer_type: None,
        allocations: claim
            .wants
            .iter()
            .map(|(p, n)| (providers[*p], BTreeMap::from([("VCPU".to_string(), *n)])))
            .collect(),
    }
}

async fn setup_providers(s: &Store, n: usize) -> Vec<Uuid> {
    let mut out = Vec::new();
    for i in 0..n {
        let rp = Uuid::new_v4();
        s.create_provider(rp, &format!("conc-{i}"), None).await.unwrap();
        let inv = Inventory { max_unit: CAPACITY, ..Inventory::with_defaults("VCPU".into(), CAPACITY) };
        s.set_inventories(&rp, 0, &[inv]).await.unwrap();
        out.push(rp);
    }
    out
}

/// Fire every claim at once, spread over `stores`, and check the outcome.
/// With `tolerate_locked`, a claim may fail as unavailable (SQLite busy);
/// such claims must leave nothing behind. Returns how many did.
async fn claim_storm(stores: Vec<Store>, n_providers: usize, tolerate_locked: bool) -> usize {
    let providers = setup_providers(&stores[0], n_providers).await;
    let claims = plan(n_providers);
    let start_gens: Vec<i64> = {
        let mut v = Vec::new();
        for rp in &providers {
            v.push(stores[0].get_provider(rp).await.unwrap().unwrap().generation);
        }
        v
    };

    let mut tasks = Vec::new();
    for (i, claim) in claims.iter().enumerate() {
        let store = stores[i % stores.len()].clone();
        let write = write_for(claim, &providers);
        tasks.push(tokio::spawn(async move { store.write_allocations(&[write]).await }));
    }
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    let mut locked = Vec::new();
    for (claim, t) in claims.iter().zip(tasks) {
        match t.await.expect("claim task panicked") {
            Ok(()) => ok.push(claim.clone()),
            Err(e) if tolerate_locked && e.kind == ErrorKind::Unavailable => locked.push(claim.clone()),
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Conflict, "every refusal is a conflict, got {e:?}");
                assert!(e.detail.contains("exceed the capacity"), "refused for capacity only, got {e:?}");
                refused.push(claim.clone());
            }
        }
    }
    assert!(!ok.is_empty(), "some claims succeed");
    assert!(!refused.is_empty(), "{CLAIMS} claims cannot all fit into {n_providers} x {CAPACITY}");

    let check = &stores[stores.len() - 1];
    let mut final_usage = Vec::new();
    for (p, rp) in providers.iter().enumerate() {
        let expected: i64 = ok.iter().filter_map(|c| c.wants.get(&p)).sum();
        let (gen, usages) = check.get_provider_usages(rp).await.unwrap().unwrap();
        let used = usages.get("VCPU").copied().unwrap_or(0);
        assert_eq!(used, expected, "provider {p}: usage equals the sum of successful claims");
        assert!(used <= CAPACITY, "provider {p}: {used} > capacity {CAPACITY}");
        // Every successful claim bumps each provider it touches exactly once.
        let writes = ok.iter().filter(|c| c.wants.contains_key(&p)).count() as i64;
        assert_eq!(gen, start_gens[p] + writes, "provider {p}: generation advanced once per successful claim");
        // The consumers recorded on the provider are exactly the successful ones.
        let (_, allocs, _) = check.get_provider_allocations(rp).await.unwrap().unwrap();
        let expected_consumers: BTreeSet<Uuid> =
            ok.iter().filter(|c| c.wants.contains_key(&p)).map(|c| c.consumer).collect();
        assert_eq!(allocs.keys().copied().collect::<BTreeSet<_>>(), expected_consumers);
        final_usage.push(used);
    }
    // No spurious refusals: usage only grows, so a refused claim must still
    // not fit at the end on at least one of its providers.
    for c in &refused {
        assert!(
            c.wants.iter().any(|(p, n)| final_usage[*p] + n > CAPACITY),
            "claim {c:?} was refused although it fits the final usage {final_usage:?}"
        );
        assert_eq!(
            check.get_consumer_allocations(&c.consumer).await.unwrap(),
            None,
            "refused claims leave no consumer"
        );
    }
    for c in &locked {
        assert_eq!(check.get_consumer_allocations(&c.consumer).await.unwrap(), None, "failed claims leave no consumer");
    }
    for c in &ok {
        let got = check.get_consumer_allocations(&c.consumer).await.unwrap().expect("successful consumer exists");
        assert_eq!(got.consumer.generation, 1);
    }
    locked.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_postgres_three_processes() {
    let Some(db) = TestDb::postgres().await else { return };
    let first = Store::open(&config(&db.url)).await.unwrap();
    let mut stores = vec![first];
    for _ in 0..2 {
        stores.push(Store::open(&config(&db.url)).await.unwrap());
    }
    let stores_clone = stores.clone();
    let outcome = guarded(async move {
        claim_storm(stores_clone, 2, false).await;
    })
    .await;
    for s in &stores {
        s.close().await;
    }
    drop(db);
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_sqlite_one_process() {
    let dir = TestDb::sqlite();
    let store = Store::open(&config(&dir.url)).await.unwrap();
    let s = store.clone();
    let outcome = guarded(async move {
        let locked = claim_storm(vec![s], 2, false).await;
        assert_eq!(locked, 0);
    })
    .await;
    store.close().await;
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

// ---------------------------------------------------------- consumer race --

/// How a round of the consumer race went.
#[derive(Debug, Default)]
struct RaceOutcome {
    rounds: usize,
    /// Rounds where a loser got SQLite's "database is locked".
    locked: usize,
}

/// `stores` race to create the same new consumer, several rounds: exactly
/// one wins each round; the others get a consumer-generation conflict.
/// With `tolerate_locked`, a loser may instead fail with SQLite's
/// "database is locked" (counted, not accepted silently).
async fn consumer_race(stores: Vec<Store>, tolerate_locked: bool) -> RaceOutcome {
    let providers = setup_providers(&stores[0], 1).await;
    let rp = providers[0];
    let mut outcome = RaceOutcome::default();
    for round in 0..15 {
        let consumer = Uuid::new_v4();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
        let mut tasks = Vec::new();
        for s in &stores {
            let s = s.clone();
            let barrier = barrier.clone();
            let w = AllocationWrite {
                consumer,
                project_id: "proj".into(),
                user_id: "user".into(),
                consumer_generation: Some(None),
                consumer_type: None,
                allocations: BTreeMap::from([(rp, BTreeMap::from([("VCPU".to_string(), 1)]))]),
            };
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                s.write_allocations(&[w]).await
            }));
        }
        let mut wins = 0;
        let mut locked = 0;
        for t in tasks {
            match t.await.expect("race task panicked") {
                Ok(()) => wins += 1,
                Err(e) if tolerate_locked && e.kind == ErrorKind::Unavailable => locked += 1,
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::Conflict, "round {round}: loser gets a conflict, got {e:?}");
                    assert_eq!(e.code, codes::CONCURRENT_UPDATE, "round {round}: {e:?}");
                }
            }
        }
        outcome.rounds += 1;
        if locked > 0 {
            outcome.locked += 1;
        }
        let got = stores[0].get_consumer_allocations(&consumer).await.unwrap();
        if locked == 0 {
            assert_eq!(wins, 1, "round {round}: exactly one creator wins");
        }
        assert!(wins <= 1, "round {round}: {wins} creators of one consumer won");
        match got {
            Some(got) => {
                assert_eq!(wins, 1, "round {round}: a consumer exists although nobody won");
                assert_eq!(got.consumer.generation, 1);
                assert_eq!(got.allocations.len(), 1);
                assert_eq!(got.allocations[0].resources["VCPU"], 1);
                assert!(stores[0].delete_consumer_allocations(&consumer).await.unwrap());
            }
            None => assert_eq!(wins, 0, "round {round}: the winner's consumer is missing"),
        }
    }
    let (_, usages) = stores[0].get_provider_usages(&rp).await.unwrap().unwrap();
    assert_eq!(usages["VCPU"], 0);
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_race_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Store::open(&config(&db.url)).await.unwrap());
    }
    let racers = stores.clone();
    let outcome = guarded(async move {
        consumer_race(racers, true).await;
    })
    .await;
    for s in &stores {
        s.close().await;
    }
    drop(db);
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_race_sqlite() {
    let dir = TestDb::sqlite();
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Store::open(&config(&dir.url)).await.unwrap());
    }
    // Separate stores on one file stand for separate processes: BEGIN
    // IMMEDIATE makes every loser wait and then see a conflict.
    let racers = stores.clone();
    let outcome = guarded(async move {
        let o = consumer_race(racers, false).await;
        assert_eq!(o.locked, 0, "no round may hit \"database is locked\"");
    })
    .await;
    for s in &stores {
        s.close().await;
    }
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

// ---------------------------------------------------------------- startup --

/// Several processes starting at once on a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_race_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move { Store::open(&config(&url)).await }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    for r in results.iter().flatten() {
        r.close().await;
    }
    let failures: Vec<String> = results.iter().filter_map(|r| r.as_ref().err()).map(|e| format!("{e:?}")).collect();
    let after = Store::open(&config(&db.url)).await;
    let checked = match &after {
        Ok(s) => {
            let classes = s.list_resource_classes().await.unwrap().len();
            let traits = s.list_traits(&Default::default()).await.unwrap().0.len();
            s.close().await;
            Some((classes, traits))
        }
        Err(_) => None,
    };
    drop(db);
    assert!(failures.is_empty(), "every concurrent Store::open succeeds: {failures:?}");
    // Whatever happened, the database ends up complete and a restart works.
    assert_eq!(
        checked.expect("a later open succeeds"),
        (berth_placement::standard::RESOURCE_CLASSES.len(), berth_placement::standard::traits().count())
    );
}
