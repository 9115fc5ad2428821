//! The storage core under Placement's store, on SQLite and PostgreSQL: the
//! data version advances after commits only, a column that fails to decode
//! is an error (never a default), text the database refuses is a 400 without
//! database text, and the seconds-to-microseconds migration converts old
//! rows.

use std::collections::BTreeMap;

use berth_placement::ErrorKind;
use berth_store::{AllocationWrite, ProviderFilter, Store, StoreConfig};
use berth_testkit::{both_engines, Backend, TestDb};
use uuid::Uuid;

async fn open(db: &TestDb) -> Store {
    Store::open(&StoreConfig { url: db.url.clone(), max_connections: 4 }).await.expect("open store")
}

async fn raw(db: &TestDb) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match db.backend {
        Backend::Sqlite => format!("{}?mode=rwc", db.url),
        Backend::Postgres => db.url.clone(),
    };
    sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.expect("raw pool")
}

async fn data_version_follows_commits(db: TestDb) {
    let s = open(&db).await;
    let v0 = s.data_version().await.unwrap();
    let rp = Uuid::new_v4();
    s.create_provider(rp, "dv", None).await.unwrap();
    let v1 = s.data_version().await.unwrap();
    assert!(v1 > v0, "a committed write advances the data version ({v0} -> {v1})");
    // A refused write rolls back and runs no commit hook.
    let err = s.create_provider(rp, "dv", None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(s.data_version().await.unwrap(), v1, "a rolled-back write leaves the data version alone");
    // Reads do not advance it either.
    s.list_providers(&ProviderFilter::default()).await.unwrap();
    assert_eq!(s.data_version().await.unwrap(), v1);
    s.close().await;
}
both_engines!(data_version_follows_commits);

/// Allocation writes advance the data version only; everything else (here
/// a provider and its inventory) the structure version too. The usages
/// read by provider are what the allocations add up to.
async fn structure_version_ignores_allocation_writes(db: TestDb) {
    let s = open(&db).await;
    let (d0, s0) = s.versions().await.unwrap();
    let rp = Uuid::new_v4();
    let gen = s.create_provider(rp, "sv", None).await.unwrap().generation;
    let inv = berth_placement::model::Inventory {
        resource_class: "VCPU".into(),
        total: 8,
        reserved: 0,
        min_unit: 1,
        max_unit: 8,
        step_size: 1,
        allocation_ratio: 1.0,
    };
    s.set_inventories(&rp, gen, &[inv]).await.unwrap();
    let (d1, s1) = s.versions().await.unwrap();
    assert!(d1 > d0 && s1 > s0, "structural writes advance both: ({d0}, {s0}) -> ({d1}, {s1})");
    assert!(s.usages_by_provider().await.unwrap().is_empty());
    let consumer = Uuid::new_v4();
    let write = AllocationWrite {
        consumer,
        project_id: "p".into(),
        user_id: "u".into(),
        consumer_generation: Some(None),
        consumer_type: None,
        allocations: BTreeMap::from([(rp, BTreeMap::from([("VCPU".to_string(), 3)]))]),
    };
    s.write_allocations(&[write]).await.unwrap();
    let (d2, s2) = s.versions().await.unwrap();
    assert!(d2 > d1, "an allocation write advances the data version");
    assert_eq!(s2, s1, "an allocation write leaves the structure version alone");
    assert_eq!(s.usages_by_provider().await.unwrap(), vec![(rp, "VCPU".to_string(), 3)]);
    assert!(s.delete_consumer_allocations(&consumer).await.unwrap());
    let (d3, s3) = s.versions().await.unwrap();
    assert!(d3 > d2);
    assert_eq!(s3, s1, "removing allocations leaves the structure version alone");
    assert!(s.usages_by_provider().await.unwrap().is_empty());
    assert_eq!(s.data_version().await.unwrap(), d3);
    s.close().await;
}
both_engines!(structure_version_ignores_allocation_writes);

async fn undecodable_columns_are_errors(db: TestDb) {
    let s = open(&db).await;
    let rp = Uuid::new_v4();
    s.create_provider(rp, "broken", None).await.unwrap();
    let pool = raw(&db).await;
    sqlx::query("UPDATE resource_providers SET uuid = 'not-a-uuid' WHERE name = 'broken'")
        .execute(&pool)
        .await
        .unwrap();
    let err = s.list_providers(&ProviderFilter::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal, "a malformed UUID is an error, not the nil UUID: {err:?}");
    assert!(!err.detail.contains("not-a-uuid"), "no stored or database text in the detail: {err:?}");
    if db.backend == Backend::Sqlite {
        // SQLite's dynamic typing lets a non-integer into a BIGINT column:
        // it must not read back as generation 0.
        let rp2 = Uuid::new_v4();
        s.create_provider(rp2, "typed", None).await.unwrap();
        sqlx::query("UPDATE resource_providers SET generation = 'abc' WHERE name = 'typed'")
            .execute(&pool)
            .await
            .unwrap();
        let err = s.get_provider(&rp2).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Internal, "{err:?}");
    }
    pool.close().await;
    s.close().await;
}
both_engines!(undecodable_columns_are_errors);

async fn nul_text_is_a_client_error(db: TestDb) {
    let s = open(&db).await;
    let created = s.create_provider(Uuid::new_v4(), "a\u{0}b", None).await;
    let exists = s.trait_exists("CUSTOM_A\u{0}").await;
    let write = AllocationWrite {
        consumer: Uuid::new_v4(),
        project_id: "p\u{0}".into(),
        user_id: "u".into(),
        consumer_generation: None,
        consumer_type: None,
        allocations: BTreeMap::new(),
    };
    let claimed = s.write_allocations(&[write]).await;
    match db.backend {
        // SQLite stores the character; nothing to refuse.
        Backend::Sqlite => {
            created.unwrap();
            assert!(!exists.unwrap());
            claimed.unwrap();
        }
        // PostgreSQL refuses it: a 400 with no database text, not a 500.
        Backend::Postgres => {
            for err in [created.unwrap_err(), exists.unwrap_err(), claimed.unwrap_err()] {
                assert_eq!(err.kind, ErrorKind::BadRequest, "{err:?}");
                assert!(!err.detail.to_lowercase().contains("utf8"), "no database text: {err:?}");
                assert!(err.detail.contains("NUL"), "{err:?}");
            }
        }
    }
    s.close().await;
}
both_engines!(nul_text_is_a_client_error);

/// A database written by the seconds-era schema: the paired migration
/// multiplies every stored time by 1 000 000.
async fn seconds_become_microseconds(db: TestDb) {
    let dir = match db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
    let all = sqlx::migrate::Migrator::new(path).await.expect("read migrations");
    let first: Vec<_> = all.migrations.iter().filter(|m| m.version == 20261125000001).cloned().collect();
    assert_eq!(first.len(), 1);
    let old = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(first),
        ignore_missing: true,
        locking: all.locking,
        no_tx: all.no_tx,
    };
    let pool = raw(&db).await;
    old.run(&pool).await.expect("apply the seconds-era schema");
    let secs: i64 = 1_700_000_000;
    for sql in [
        "INSERT INTO resource_classes (name, created_at, updated_at) VALUES ('CUSTOM_OLD', $1, $1)",
        "INSERT INTO traits (name, created_at, updated_at) VALUES ('CUSTOM_OLD', $1, $1)",
        "INSERT INTO resource_providers (uuid, name, generation, created_at, updated_at) \
         VALUES ('5e2a0a37-5a4c-4b5e-9b6b-6f0c2e3a1d11', 'old', 0, $1, $1)",
    ] {
        sqlx::query(sql).bind(secs).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let s = open(&db).await;
    let rc = s.get_resource_class("CUSTOM_OLD").await.unwrap().unwrap();
    assert_eq!(rc.updated_at, secs * 1_000_000);
    let (_, last) = s
        .list_traits(&berth_store::TraitFilter { name_in: Some(vec!["CUSTOM_OLD".into()]), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(last, secs * 1_000_000);
    let rp = s.get_provider(&"5e2a0a37-5a4c-4b5e-9b6b-6f0c2e3a1d11".parse().unwrap()).await.unwrap().unwrap();
    assert_eq!((rp.created_at, rp.updated_at), (secs * 1_000_000, secs * 1_000_000));
    // New rows are written in microseconds too (berth_time::now()).
    let before = berth_time_now_micros();
    let fresh = s.create_provider(Uuid::new_v4(), "new", None).await.unwrap();
    assert!(fresh.created_at >= before - 1_000_000 && fresh.created_at > secs * 1_000_000, "{fresh:?}");
    s.close().await;
}
both_engines!(seconds_become_microseconds);

fn berth_time_now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}
