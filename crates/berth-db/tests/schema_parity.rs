//! Schema parity: every service's migrations (`crates/*/migrations/{sqlite,
//! postgres}`, read from the source tree and applied in file-name order, as
//! they share one database in `berth up`) give the same tables, columns
//! (name, type class: integer, float, text, and NOT NULL) and indexes (name, columns,
//! unique) on SQLite and PostgreSQL.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_db::RowExt;
use berth_testkit::{Backend, TestDb};
use sqlx::AnyPool;

/// Known differences in crates whose owners will fix them, each with its
/// reason. The test fails when one of them disappears, so the list stays
/// true. (Empty: every service's migrations agree.)
const KNOWN_DISPARITIES: &[&str] = &[];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/").to_path_buf()
}

/// Every migration file of `engine` across all crates, in file-name order.
fn migration_files(engine: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(crates_dir()).unwrap().flatten() {
        let dir = krate.path().join("migrations").join(engine);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "sql")));
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files
}

#[test]
fn every_crate_pairs_its_migration_files() {
    let names = |engine: &str| -> BTreeSet<String> {
        migration_files(engine)
            .iter()
            .map(|p| {
                let krate = p.ancestors().nth(3).unwrap().file_name().unwrap().to_string_lossy().into_owned();
                format!("{krate}/{}", p.file_name().unwrap().to_string_lossy())
            })
            .collect()
    };
    let (sqlite, postgres) = (names("sqlite"), names("postgres"));
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres, "every migration exists for both engines under the same file name");
}

/// Services share one `_sqlx_migrations` table in a shared database, keyed
/// by version: two migrations with one version (in one crate or in two)
/// would make the second fail to apply.
#[test]
fn migration_versions_are_unique_across_services() {
    let mut seen: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for p in migration_files("sqlite") {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let version = name.split('_').next().unwrap().to_string();
        assert!(version.bytes().all(|b| b.is_ascii_digit()), "{name}: the version is the leading digits");
        if let Some(other) = seen.insert(version.clone(), p.clone()) {
            panic!("migration version {version} is used twice: {} and {}", other.display(), p.display());
        }
    }
}

/// A column type as the `Any` driver sees it.
fn type_class(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") || t == "bigserial" || t == "serial" {
        "integer".into()
    } else if t.contains("double") || t.contains("real") || t.contains("float") {
        "float".into()
    } else if t.contains("text") || t.contains("char") || t.contains("clob") {
        "text".into()
    } else {
        format!("other({t})")
    }
}

async fn apply_all(pool: &AnyPool, engine: &str) {
    for f in migration_files(engine) {
        let sql = std::fs::read_to_string(&f).unwrap();
        sqlx::raw_sql(&sql).execute(pool).await.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

/// `table`, `table.column: class`, `table index name(cols) unique?` lines.
async fn describe_sqlite(pool: &AnyPool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let tables = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for t in tables {
        let table: String = t.col(0).unwrap();
        out.insert(format!("table {table}"));
        let cols = sqlx::query(&format!("SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"))
            .fetch_all(pool)
            .await
            .unwrap();
        for c in cols {
            let name: String = c.col(0).unwrap();
            let ty: String = c.col(1).unwrap();
            // Primary-key columns are NOT NULL on PostgreSQL by definition.
            let not_null = c.col::<i64, _>(2).unwrap() == 1 || c.col::<i64, _>(3).unwrap() > 0;
            out.insert(format!(
                "column {table}.{name}: {}{}",
                type_class(&ty),
                if not_null { " not null" } else { "" }
            ));
        }
        let indexes = sqlx::query(&format!("SELECT name, \"unique\", origin FROM pragma_index_list('{table}')"))
            .fetch_all(pool)
            .await
            .unwrap();
        for i in indexes {
            let name: String = i.col(0).unwrap();
            let unique: i64 = i.col(1).unwrap();
            let origin: String = i.col(2).unwrap();
            if origin == "pk" {
                continue; // primary keys: compared as part of the table
            }
            let cols: Vec<String> =
                sqlx::query(&format!("SELECT name FROM pragma_index_info('{name}') ORDER BY seqno"))
                    .fetch_all(pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.col::<Option<String>, _>(0).unwrap().unwrap_or_else(|| "<expr>".into()))
                    .collect();
            // Indexes behind UNIQUE constraints are named by each engine.
            let label = if origin == "u" { "<unique constraint>".to_string() } else { name };
            out.insert(format!(
                "index {table} {label}({}){}",
                cols.join(","),
                if unique == 1 { " unique" } else { "" }
            ));
        }
    }
    out
}

async fn describe_postgres(pool: &AnyPool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let tables = sqlx::query(
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for t in tables {
        let table: String = t.col(0).unwrap();
        out.insert(format!("table {table}"));
    }
    let cols = sqlx::query(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT), CAST(data_type AS TEXT), \
                CAST(is_nullable AS TEXT) \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for c in cols {
        let (table, name, ty): (String, String, String) = (c.col(0).unwrap(), c.col(1).unwrap(), c.col(2).unwrap());
        let nullable: String = c.col(3).unwrap();
        out.insert(format!(
            "column {table}.{name}: {}{}",
            type_class(&ty),
            if nullable == "NO" { " not null" } else { "" }
        ));
    }
    let indexes = sqlx::query(
        "SELECT CAST(t.relname AS TEXT), CAST(i.relname AS TEXT), \
                CAST(CASE WHEN ix.indisunique THEN 1 ELSE 0 END AS BIGINT), \
                CAST(CASE WHEN ix.indisprimary THEN 1 ELSE 0 END AS BIGINT), \
                CAST(CASE WHEN EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) \
                     THEN 1 ELSE 0 END AS BIGINT), \
                array_to_string(ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k, true) \
                     FROM generate_series(1, ix.indnkeyatts) k ORDER BY k), ',') \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND t.relname <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for i in indexes {
        let table: String = i.col(0).unwrap();
        let name: String = i.col(1).unwrap();
        let unique: i64 = i.col(2).unwrap();
        let primary: i64 = i.col(3).unwrap();
        let constraint: i64 = i.col(4).unwrap();
        let cols: String = i.col(5).unwrap();
        if primary == 1 {
            continue;
        }
        let label = if constraint == 1 { "<unique constraint>".to_string() } else { name };
        out.insert(format!("index {table} {label}({cols}){}", if unique == 1 { " unique" } else { "" }));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_agree() {
    sqlx::any::install_default_drivers();
    let sqlite_db = TestDb::sqlite();
    let sqlite = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{}?mode=rwc", sqlite_db.url))
        .await
        .unwrap();
    apply_all(&sqlite, "sqlite").await;
    let lite = describe_sqlite(&sqlite).await;
    sqlite.close().await;
    assert!(lite.contains("table resource_providers"), "the describer sees Placement's tables: {lite:?}");
    assert!(lite.contains("column allocations.used: integer not null"));
    assert!(lite.contains("column consumers.consumer_type: text"));
    assert!(lite.contains("index allocations allocations_consumer(consumer_uuid)"));

    let Some(pg_db) = TestDb::new(Backend::Postgres).await else { return };
    let postgres = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&pg_db.url).await.unwrap();
    apply_all(&postgres, "postgres").await;
    let pg = describe_postgres(&postgres).await;
    postgres.close().await;

    let mut diff: Vec<String> = lite.difference(&pg).map(|l| format!("only on SQLite:     {l}")).collect();
    diff.extend(pg.difference(&lite).map(|l| format!("only on PostgreSQL: {l}")));
    let known: BTreeSet<&str> = KNOWN_DISPARITIES.iter().copied().collect();
    let unexpected: Vec<&String> = diff.iter().filter(|d| !known.contains(d.as_str())).collect();
    let gone: Vec<&&str> = known.iter().filter(|k| !diff.iter().any(|d| d == *k)).collect();
    assert!(
        unexpected.is_empty() && gone.is_empty(),
        "schema disparities between SQLite and PostgreSQL:\n{}\nlisted as known but no longer found: {gone:?}",
        unexpected.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}
