//! Every SQL aggregate in the scanned crates' sources is wrapped in a CAST to
//! BIGINT or DOUBLE PRECISION, so both engines decode it the same way
//! through sqlx's `Any` driver: PostgreSQL's SUM(bigint) is NUMERIC (which
//! `Any` cannot decode), COUNT is BIGINT, and SQLite's result types follow
//! the values' affinity. An aggregate that stops decoding must not be read
//! as 0 — and with strict decoding it would be an error instead.
//!
//! Every crate under `crates/` is scanned (a new crate cannot slip past);
//! the services with SQL must be among them.

use std::path::{Path, PathBuf};

/// Crates with SQL: they must exist and be scanned.
const SQL_CRATES: &[&str] = &["berth-store", "berth-identity", "berth-image", "berth-compute"];

const AGGREGATES: &[&str] = &["SUM(", "COUNT(", "MAX(", "MIN(", "TOTAL(", "AVG("];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/").to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The index of the `)` matching the `(` at `open`, if any.
fn matching_close(text: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &b) in text.iter().enumerate().skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether the aggregate starting at `at` sits inside some
/// `CAST(... AS BIGINT)` or `CAST(... AS DOUBLE PRECISION)`.
fn is_cast(text: &[u8], at: usize) -> bool {
    let mut depth = 0usize;
    let mut i = at;
    while i > 0 {
        i -= 1;
        match text[i] {
            b')' => depth += 1,
            b'(' if depth > 0 => depth -= 1,
            b'(' => {
                // An enclosing parenthesis: is it CAST's?
                let before = String::from_utf8_lossy(&text[i.saturating_sub(8)..i]).to_ascii_uppercase();
                let before = before.trim_end();
                let word_start = before.len().saturating_sub(4);
                let boundary = word_start == 0 || !is_ident(before.as_bytes()[word_start - 1]);
                if before.ends_with("CAST") && boundary {
                    if let Some(close) = matching_close(text, i) {
                        let inner = String::from_utf8_lossy(&text[i + 1..close]).to_ascii_uppercase();
                        let words: Vec<&str> = inner.split_whitespace().collect();
                        let tail = words.join(" ");
                        if tail.ends_with(" AS BIGINT") || tail.ends_with(" AS DOUBLE PRECISION") {
                            return true;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// `path:line: text` of every uncast aggregate in `file`.
fn offenders_in(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if !trimmed.starts_with("//") {
            for agg in AGGREGATES {
                let mut from = 0;
                while let Some(pos) = line[from..].find(agg) {
                    let col = from + pos;
                    from = col + agg.len();
                    let abs = line_start + col;
                    if abs > 0 && is_ident(bytes[abs - 1]) {
                        continue; // e.g. CHECKSUM(
                    }
                    if !is_cast(bytes, abs) {
                        let n = text[..abs].matches('\n').count() + 1;
                        let rel = file.strip_prefix(crates_dir().parent().unwrap()).unwrap_or(file);
                        out.push(format!("{}:{n}: {}", rel.display(), line.trim()));
                    }
                }
            }
        }
        line_start += line.len();
    }
    out
}

#[test]
fn aggregates_are_cast_in_scanned_crates() {
    let mut crates: Vec<String> = std::fs::read_dir(crates_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("src").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    for c in SQL_CRATES {
        assert!(crates.iter().any(|x| x == c), "{c} is not under crates/");
    }
    let mut offenders = Vec::new();
    let mut scanned_files = 0;
    for c in &crates {
        let src = crates_dir().join(c).join("src");
        assert!(src.is_dir(), "{} does not exist", src.display());
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        scanned_files += files.len();
        for f in files {
            offenders.extend(offenders_in(&f));
        }
    }
    assert!(scanned_files > 0);
    assert!(
        offenders.is_empty(),
        "wrap these aggregates in CAST(... AS BIGINT) or CAST(... AS DOUBLE PRECISION):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_scanner_tells_cast_from_uncast() {
    let check = |sql: &str| {
        let at = AGGREGATES.iter().filter_map(|a| sql.find(a)).min().unwrap();
        is_cast(sql.as_bytes(), at)
    };
    assert!(check("SELECT CAST(SUM(used) AS BIGINT) FROM a"));
    assert!(check("SELECT CAST(COALESCE(SUM(used), 0) AS BIGINT) FROM a"));
    assert!(check("SELECT cast( count(*)\n   as   double precision) FROM a".to_uppercase().as_str()));
    assert!(check(
        "SELECT x, CAST(COALESCE((SELECT SUM(a.used) FROM allocations a WHERE a.p = i.p), 0) AS BIGINT) FROM i"
    ));
    assert!(!check("SELECT SUM(used) FROM a"));
    assert!(!check("SELECT COALESCE(SUM(used), 0) FROM a"));
    assert!(!check("SELECT CAST(x AS BIGINT), COUNT(*) FROM a"));
    assert!(!check("SELECT CAST(SUM(used) AS NUMERIC) FROM a"));
    assert!(!check("SELECT BROADCAST(SUM(used) AS BIGINT) FROM a"));
}
