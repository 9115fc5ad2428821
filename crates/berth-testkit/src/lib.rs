//! Test support for every berth crate with a database (use it as a
//! dev-dependency): a throw-away SQLite file or PostgreSQL database per
//! test, removed afterwards (also when the test panics), and running a test
//! body on both engines.
//!
//! PostgreSQL: `BERTH_TEST_POSTGRES_URL` names the server (default
//! `postgresql://postgres@127.0.0.1:5432/postgres`); each test creates and
//! drops its own uniquely named database there. The one switch to skip
//! PostgreSQL is `BERTH_TEST_SKIP_POSTGRES=1`; without it an unreachable
//! server fails the test loudly, naming the switch.

use std::future::Future;
use std::path::PathBuf;

use sqlx::Connection;

pub use tokio;

/// The environment variable that skips every PostgreSQL run.
pub const SKIP_POSTGRES_VAR: &str = "BERTH_TEST_SKIP_POSTGRES";
/// The environment variable naming the PostgreSQL server used by tests.
pub const POSTGRES_URL_VAR: &str = "BERTH_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

/// The database engines a test can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
}

/// Whether PostgreSQL runs are switched off (`BERTH_TEST_SKIP_POSTGRES` set
/// to anything but empty or `0`).
pub fn skip_postgres() -> bool {
    std::env::var(SKIP_POSTGRES_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The PostgreSQL server tests use (a URL of its maintenance database).
pub fn pg_admin_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

/// `admin_url` with its database name replaced by `db` (query kept).
pub fn url_for_db(admin_url: &str, db: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].rfind('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{db}{query}")
}

async fn pg_admin_exec(sql: &str) -> Result<(), String> {
    let url = pg_admin_url();
    let mut conn = sqlx::PgConnection::connect(&url).await.map_err(|e| {
        format!("cannot reach PostgreSQL at {url} ({e}); set {SKIP_POSTGRES_VAR}=1 to skip the PostgreSQL runs")
    })?;
    let res = sqlx::query(sql).execute(&mut conn).await.map(|_| ()).map_err(|e| format!("{sql}: {e}"));
    let _ = conn.close().await;
    res
}

enum Cleanup {
    Dir(PathBuf),
    PgDb(String),
}

/// A throw-away database; dropping it removes the SQLite directory or drops
/// the PostgreSQL database (`WITH (FORCE)`, so pools left open do not stop
/// it). Close the pools you opened first when you can.
pub struct TestDb {
    pub backend: Backend,
    /// The URL to open it with.
    pub url: String,
    cleanup: Cleanup,
}

impl TestDb {
    /// A fresh SQLite database file in its own temp directory.
    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("berth-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a temp directory for the SQLite test database");
        TestDb {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}/test.db", dir.display()),
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` when `BERTH_TEST_SKIP_POSTGRES`
    /// is set. Panics, naming the switch, when the server is unreachable.
    pub async fn postgres() -> Option<TestDb> {
        if skip_postgres() {
            eprintln!("{SKIP_POSTGRES_VAR} set: skipping the PostgreSQL run");
            return None;
        }
        let name = format!("berth_test_{}", uuid::Uuid::new_v4().simple());
        pg_admin_exec(&format!("CREATE DATABASE {name}")).await.unwrap_or_else(|e| panic!("{e}"));
        Some(TestDb {
            backend: Backend::Postgres,
            url: url_for_db(&pg_admin_url(), &name),
            cleanup: Cleanup::PgDb(name),
        })
    }

    /// A fresh database on `backend` (`None`: PostgreSQL skipped).
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::sqlite()),
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    /// The database's name on PostgreSQL (`None` on SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        match &self.cleanup {
            Cleanup::PgDb(n) => Some(n),
            Cleanup::Dir(_) => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PgDb(name) => {
                // Drop may run inside a runtime (or while unwinding from a
                // panic): use a runtime of our own on a thread of our own.
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let outcome = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                    match rt {
                        Ok(rt) => rt.block_on(pg_admin_exec(&sql)),
                        Err(e) => Err(format!("no runtime to drop the test database: {e}")),
                    }
                })
                .join();
                match outcome {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("warning: could not drop test database {name}: {e}"),
                    Err(_) => eprintln!("warning: could not drop test database {name}: cleanup thread panicked"),
                }
            }
        }
    }
}

/// Run `body` once per engine (SQLite, then PostgreSQL unless skipped),
/// each time on a fresh database that is removed afterwards, also when the
/// body panics (the panic is then re-raised).
pub async fn on_both_engines<F, Fut>(mut body: F)
where
    F: FnMut(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in Backend::ALL {
        if let Some(db) = TestDb::new(backend).await {
            body(db).await;
        }
    }
}

/// Define one test per engine from an async function taking a [`TestDb`]:
/// `berth_testkit::both_engines!(my_test);` makes `my_test::sqlite` and
/// `my_test::postgres` (multi-threaded runtimes).
#[macro_export]
macro_rules! both_engines {
    ($name:ident) => {
        mod $name {
            #[$crate::tokio::test(flavor = "multi_thread", worker_threads = 2, crate = "berth_testkit::tokio")]
            async fn sqlite() {
                super::$name($crate::TestDb::sqlite()).await
            }
            #[$crate::tokio::test(flavor = "multi_thread", worker_threads = 2, crate = "berth_testkit::tokio")]
            async fn postgres() {
                if let Some(db) = $crate::TestDb::postgres().await {
                    super::$name(db).await
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_for_db_replaces_the_database() {
        assert_eq!(
            url_for_db("postgresql://postgres@127.0.0.1:5432/postgres", "x"),
            "postgresql://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(url_for_db("postgres://u:p@h/db?sslmode=disable", "y"), "postgres://u:p@h/y?sslmode=disable");
        assert_eq!(url_for_db("postgres://u@h", "z"), "postgres://u@h/z");
    }

    #[test]
    fn sqlite_directory_is_removed_on_drop() {
        let db = TestDb::sqlite();
        let Cleanup::Dir(dir) = &db.cleanup else { panic!("SQLite test databases live in a directory") };
        let dir = dir.clone();
        assert!(dir.is_dir());
        assert!(db.url.starts_with("sqlite://"));
        drop(db);
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn postgres_database_is_dropped_even_after_a_panic() {
        let Some(db) = TestDb::postgres().await else { return };
        let name = db.pg_name().unwrap().to_string();
        let exists = |name: String| async move {
            let mut c = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut c)
                .await
                .unwrap();
            c.close().await.ok();
            n
        };
        assert_eq!(exists(name.clone()).await, 1);
        let joined = tokio::spawn(async move {
            let _db = db;
            panic!("test body fails");
        })
        .await;
        assert!(joined.is_err());
        assert_eq!(exists(name).await, 0, "the database is gone after the panicking body");
    }
}
