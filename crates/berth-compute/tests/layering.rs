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
