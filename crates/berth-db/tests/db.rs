//! The `Db` handle on SQLite and PostgreSQL: write transactions and their
//! hooks, error kinds from real database errors, strict decoding.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use berth_db::{Db, DbErrorKind, RowExt};
use berth_testkit::{both_engines, Backend, TestDb};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations/postgres");

async fn open(t: &TestDb) -> Db {
    let db = Db::connect(&t.url, 4).await.expect("connect");
    db.migrate(&SQLITE, &POSTGRES).await.expect("migrate");
    db
}

async fn hooks_run_after_commits_only(t: TestDb) {
    let commits = Arc::new(AtomicUsize::new(0));
    let seen = commits.clone();
    let db = open(&t).await.with_commit_hook(move |db| {
        let seen = seen.clone();
        Box::pin(async move {
            // The hook sees the committed row (it runs after the commit).
            let n: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM kit_items")
                .fetch_one(db.write_pool())
                .await
                .unwrap()
                .col(0)
                .unwrap();
            seen.store(n as usize, Ordering::SeqCst);
        })
    });
    let tx_hook = Arc::new(AtomicUsize::new(0));

    let mut w = db.write().await.unwrap();
    sqlx::query("INSERT INTO kit_items (name, amount) VALUES ('a', 1)").execute(&mut *w.tx).await.unwrap();
    let flag = tx_hook.clone();
    w.after_commit(async move {
        flag.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(tx_hook.load(Ordering::SeqCst), 0, "nothing runs before the commit");
    w.commit().await.unwrap();
    assert_eq!(tx_hook.load(Ordering::SeqCst), 1);
    assert_eq!(commits.load(Ordering::SeqCst), 1, "the handle's hook ran and saw the committed row");

    // Dropped (rolled back) and explicitly rolled back: no hook runs.
    let mut w = db.write().await.unwrap();
    sqlx::query("INSERT INTO kit_items (name, amount) VALUES ('b', 2)").execute(&mut *w.tx).await.unwrap();
    let flag = tx_hook.clone();
    w.after_commit(async move {
        flag.fetch_add(1, Ordering::SeqCst);
    });
    drop(w);
    let mut w = db.write().await.unwrap();
    sqlx::query("INSERT INTO kit_items (name, amount) VALUES ('c', 3)").execute(&mut *w.tx).await.unwrap();
    w.rollback().await.unwrap();
    assert_eq!(tx_hook.load(Ordering::SeqCst), 1);
    let mut r = db.read().await.unwrap();
    let n: i64 =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM kit_items").fetch_one(&mut *r).await.unwrap().col(0).unwrap();
    r.commit().await.unwrap();
    assert_eq!(n, 1, "rolled-back rows are gone");
    db.ping().await.unwrap();
    db.close().await;
}
both_engines!(hooks_run_after_commits_only);

async fn errors_have_kinds(t: TestDb) {
    let db = open(&t).await;
    let mut w = db.write().await.unwrap();
    sqlx::query("INSERT INTO kit_items (name, amount) VALUES ('dup', 1)").execute(&mut *w.tx).await.unwrap();
    w.commit().await.unwrap();

    let mut w = db.write().await.unwrap();
    let e: berth_db::DbError = sqlx::query("INSERT INTO kit_items (name, amount) VALUES ('dup', 2)")
        .execute(&mut *w.tx)
        .await
        .unwrap_err()
        .into();
    assert_eq!(e.kind(), DbErrorKind::UniqueViolation, "{e}");
    assert!(!e.is_retryable());
    drop(w);

    // PostgreSQL refuses NUL in text; SQLite stores it.
    let res = sqlx::query("SELECT id FROM kit_items WHERE name = $1").bind("a\u{0}b").fetch_optional(db.pool()).await;
    match t.backend {
        Backend::Sqlite => assert!(res.unwrap().is_none()),
        Backend::Postgres => {
            let e: berth_db::DbError = res.err().expect("PostgreSQL refuses NUL").into();
            assert_eq!(e.kind(), DbErrorKind::InvalidText, "{e}");
            assert!(!e.log_text().is_empty(), "the database's text is kept for the log");
            assert!(!DbErrorKind::InvalidText.public_message().contains("UTF8"));
        }
    }

    // Strict decoding: a TEXT column is not an integer, NULL is not a value.
    let row =
        sqlx::query("SELECT name, amount, note FROM kit_items WHERE name = 'dup'").fetch_one(db.pool()).await.unwrap();
    assert_eq!(row.col::<String, _>(0).unwrap(), "dup");
    assert_eq!(row.col::<i64, _>(1).unwrap(), 1);
    assert_eq!(row.col::<i64, _>(0).unwrap_err().kind(), DbErrorKind::Decode);
    assert_eq!(row.col::<String, _>(2).unwrap_err().kind(), DbErrorKind::Decode);
    assert_eq!(row.col::<Option<String>, _>(2).unwrap(), None);
    assert_eq!(row.uuid(0).unwrap_err().kind(), DbErrorKind::Decode);
    assert_eq!(row.col::<i64, _>(7).unwrap_err().kind(), DbErrorKind::Decode);
    assert_eq!(row.col::<i64, _>("nope").unwrap_err().kind(), DbErrorKind::Decode);
    assert!(row.flag(1).unwrap());

    #[derive(sqlx::FromRow)]
    struct Item {
        name: String,
        amount: i64,
    }
    let item: Item = berth_db::from_row(&row).unwrap();
    assert_eq!((item.name.as_str(), item.amount), ("dup", 1));
    #[derive(Debug, sqlx::FromRow)]
    #[allow(dead_code)]
    struct Wrong {
        note: String,
    }
    assert_eq!(berth_db::from_row::<Wrong>(&row).unwrap_err().kind(), DbErrorKind::Decode);

    db.close().await;
    let closed = db.read().await.unwrap_err();
    assert_eq!(closed.kind(), DbErrorKind::Unavailable, "{closed}");
}
both_engines!(errors_have_kinds);

/// Two handles on one SQLite file (two services of `berth up`): the second
/// writer waits for the first (BEGIN IMMEDIATE + busy_timeout) instead of
/// failing.
#[berth_testkit::tokio::test(flavor = "multi_thread", worker_threads = 2, crate = "berth_testkit::tokio")]
async fn sqlite_writers_of_two_handles_wait_for_each_other() {
    let t = TestDb::sqlite();
    let a = open(&t).await;
    let b = open(&t).await;
    let mut wa = a.write().await.unwrap();
    sqlx::query("INSERT INTO kit_items (name, amount) VALUES ('first', 1)").execute(&mut *wa.tx).await.unwrap();
    let second = tokio::spawn(async move {
        let mut wb = b.write().await?;
        sqlx::query("INSERT INTO kit_items (name, amount) VALUES ('second', 2)").execute(&mut *wb.tx).await?;
        wb.commit().await?;
        let n: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM kit_items").fetch_one(b.pool()).await?.col(0)?;
        b.close().await;
        Ok::<i64, berth_db::DbError>(n)
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    wa.commit().await.unwrap();
    assert_eq!(second.await.unwrap().unwrap(), 2, "the second writer waited and then committed");
    a.close().await;
}

/// A process's liveness lock is visible to others while it lives and gone
/// as soon as its session ends (here: its backend terminated, as a killed
/// process's socket closing would end it).
#[tokio::test]
async fn liveness_locks_mark_live_processes() {
    // Without PostgreSQL the testkit says how to skip (or the run fails).
    let Some(t) = TestDb::postgres().await else { return };
    let db = open(&t).await;
    let a = berth_db::Liveness::hold(&t.url).await.expect("hold a");
    let b = berth_db::Liveness::hold(&t.url).await.expect("hold b");
    assert_ne!(a.key(), b.key());
    assert!(a.is_held() && b.is_held());
    let dead = |key: i64| {
        let db = db.clone();
        async move {
            let sql = format!(
                "SELECT CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT)",
                berth_db::owner_is_dead_sql(&format!("CAST({key} AS BIGINT)"))
            );
            let n: i64 = sqlx::query(&sql).fetch_one(db.pool()).await.unwrap().col(0).unwrap();
            n == 1
        }
    };
    assert!(!dead(a.key()).await && !dead(b.key()).await, "both live");
    assert!(dead(a.key() ^ 0x1000).await, "a key nobody holds is dead");
    // End a's session from outside, as a crash would.
    sqlx::query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = {} AND objid = {}",
        berth_db::LIVENESS_CLASS,
        a.key()
    ))
    .execute(db.pool())
    .await
    .unwrap();
    let mut gone = false;
    for _ in 0..50 {
        if dead(a.key()).await {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "a's lock goes with its session");
    assert!(!dead(b.key()).await, "b is untouched");
    // Dropping the holder releases the lock too.
    let bk = b.key();
    drop(b);
    let mut gone = false;
    for _ in 0..100 {
        if dead(bk).await {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "a dropped holder's lock goes");
    drop(a);
    db.close().await;
}
