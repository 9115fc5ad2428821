//! The API layer talks to the service layer only: nothing under `src/api/`
//! names the store, the database handle, transactions or sqlx.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/api") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Identifiers that belong to the storage layer.
const FORBIDDEN_IDENTS: &[&str] = &["db", "store", "sqlx", "Tx", "WriteTx", "Db", "AnyPool", "AnyRow", "Transaction"];
/// Paths and member accesses that reach into it.
const FORBIDDEN_TEXT: &[&str] = &["store::", ".store", "db::", ".db", "sqlx", "db_err", "write()"];

/// Violations in one file's text: `(line, what)`.
fn violations(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        // Comments may talk about the database.
        let code = line.split("//").next().unwrap_or("");
        for t in FORBIDDEN_TEXT {
            if code.contains(t) {
                out.push((n + 1, (*t).to_string()));
            }
        }
        for ident in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if FORBIDDEN_IDENTS.contains(&ident) {
                out.push((n + 1, ident.to_string()));
            }
        }
    }
    out
}

#[test]
fn the_checker_catches_storage_access() {
    assert!(!violations("    ctx.svc.db.list_services().await?;").is_empty());
    assert!(!violations("use crate::store::InstanceQuery;").is_empty());
    assert!(!violations("use crate::db::now_ms;").is_empty());
    assert!(!violations("let mut w: WriteTx = todo!();").is_empty());
    assert!(!violations("async fn f(tx: &mut Tx) {}").is_empty());
    assert!(!violations("sqlx::query(\"SELECT 1\")").is_empty());
    assert!(!violations("    let s = ctx\n        .svc\n        .db\n        .service_by_host(h, b)").is_empty());
    assert!(violations("    ctx.svc.services().await?; // not the db").is_empty());
    assert!(violations("fn f(ctx: &Ctx) {}").is_empty());
}

#[test]
fn api_reaches_storage_only_through_the_service() {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut files = Vec::new();
    rust_files(&api, &mut files);
    assert!(files.len() >= 5, "expected the api modules under {}", api.display());
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read source");
        for (line, what) in violations(&text) {
            found.push(format!("{}:{line}: {what}", f.display()));
        }
    }
    assert!(found.is_empty(), "api/ must call ComputeService, not storage:\n{}", found.join("\n"));
}

/// Tables the catalog cache (`db::CatalogCache`) keeps rows of.
const CATALOG_TABLES: &[&str] = &[
    "compute_flavors",
    "compute_flavor_extra_specs",
    "compute_flavor_projects",
    "compute_quotas",
    "compute_quota_classes",
];

/// Whether a line of code writes one of the catalog tables.
fn writes_catalog(code: &str) -> bool {
    let upper = code.to_ascii_uppercase();
    CATALOG_TABLES.iter().any(|t| {
        let t = t.to_ascii_uppercase();
        [format!("INSERT INTO {t} "), format!("INSERT INTO {t}("), format!("UPDATE {t} "), format!("DELETE FROM {t} ")]
            .iter()
            .any(|w| upper.contains(w.as_str()))
    })
}

#[test]
fn the_catalog_checker_sees_writes() {
    assert!(writes_catalog(r#"sqlx::query("DELETE FROM compute_quotas WHERE project_id = $1")"#));
    assert!(writes_catalog(r#""UPDATE compute_flavors SET description = $1""#));
    assert!(writes_catalog(r#""INSERT INTO compute_flavor_projects (flavor_id) VALUES ($1)""#));
    assert!(!writes_catalog(r#""SELECT resource FROM compute_quotas WHERE project_id = $1""#));
}

/// The catalog cache is exact within a process only if every write to its
/// tables commits through `Db::write_catalog`: such writes live in the
/// catalog's store modules, which open no other kind of write transaction.
#[test]
fn catalog_tables_are_written_only_through_write_catalog() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let catalog_modules = ["store/flavors.rs", "store/quotas.rs", "store/quota_classes.rs"];
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read source");
        let rel = f.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        let is_catalog = catalog_modules.contains(&rel.as_str());
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if writes_catalog(code) && !is_catalog {
                found.push(format!("{rel}:{}: writes a catalog table outside the catalog modules", n + 1));
            }
            if is_catalog && (code.contains(".write()") || code.contains("write_single")) {
                found.push(format!("{rel}:{}: a catalog module opens a write that skips the cache", n + 1));
            }
        }
        if is_catalog {
            assert!(text.contains("write_catalog()"), "{rel} no longer writes through write_catalog");
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
