//! `berth bench boot` end to end against the built binary: it starts its own
//! cloud (3 hosts), boots 6 servers with 3 clients, checks Placement, deletes
//! them and writes a JSON report. On SQLite and on PostgreSQL (berth-testkit's
//! server, `BERTH_TEST_POSTGRES_URL`; the benchmark creates and drops its own
//! database there with psql).

use std::process::Command;

use serde_json::{json, Value};

fn bench(db: &str) -> Value {
    let out = std::env::temp_dir().join(format!("berth-bench-test-{}.json", uuid::Uuid::new_v4().simple()));
    let status = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["bench", "boot", "--hosts", "3", "--servers", "6", "--concurrency", "3", "--idle-seconds", "1"])
        .args(["--db", db, "--postgres", &pg_server(), "--poll-ms", "50", "--timeout", "300", "--out"])
        .arg(&out)
        .env("BERTH_LOG", "warn")
        .status()
        .expect("run berth bench boot");
    assert!(status.success(), "berth bench boot failed: {status}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("the JSON report")).unwrap();
    std::fs::remove_file(&out).unwrap();
    report
}

/// The testkit's PostgreSQL server without its maintenance database.
fn pg_server() -> String {
    let admin = berth_testkit::pg_admin_url();
    let admin = admin.split('?').next().unwrap_or_default();
    admin.rsplit_once('/').map_or(admin, |(server, _)| server).to_string()
}

fn check(r: &Value, db: &str) {
    let p = &r["parameters"];
    assert_eq!((p["hosts"].clone(), p["servers"].clone(), p["concurrency"].clone()), (json!(3), json!(6), json!(3)));
    assert_eq!(p["db"], db);
    assert_eq!(p["api_processes"], 1);
    assert!(r["readiness"]["apis_s"].as_f64().unwrap() <= r["readiness"]["hosts_s"].as_f64().unwrap());

    let b = &r["boot"];
    assert_eq!(b["posted"], 6, "{b}");
    assert_eq!(b["post_errors"], 0, "{b}");
    assert_eq!(b["active"], 6, "{b}");
    assert_eq!(b["error"], 0, "{b}");
    assert!(b["servers_per_s"].as_f64().unwrap() > 0.0);
    assert!(b["post_ms"]["p50"].as_f64().unwrap() <= b["post_ms"]["p99"].as_f64().unwrap());
    assert!(b["to_active_ms"]["p99"].as_f64().unwrap() > 0.0);

    // Six m1.tiny (1 VCPU, 512 MB, 1 GB) over three providers.
    let pl = &r["placement"];
    assert_eq!(pl["usage"]["passed"], true, "{pl}");
    assert_eq!(pl["usage"]["providers"], 3);
    assert_eq!(pl["usage"]["live_servers"], 6);
    let six_tiny = json!({"DISK_GB": 6, "MEMORY_MB": 3072, "VCPU": 6});
    assert_eq!(pl["usage"]["total_usage"], six_tiny);
    assert_eq!(pl["expected_ours"], six_tiny);
    assert_eq!(pl["allocations_passed"], true, "{pl}");

    let d = &r["delete"];
    assert_eq!(d["deleted"], 6);
    assert_eq!(d["delete_errors"], 0);
    assert_eq!(d["usage"]["passed"], true, "{d}");
    assert_eq!(d["usage"]["live_servers"], 0);
    assert_eq!(d["usage"]["total_usage"], json!({}), "every provider's usage is back to zero");

    let i = &r["idle"];
    assert_eq!(i["processes"], 1);
    assert!(i["cpu_percent_of_core"].as_f64().is_some());
    assert!(i["rss_mib"].as_f64().unwrap() > 0.0);
    assert!(i["peak_rss_mib"].as_f64().unwrap() >= i["rss_mib"].as_f64().unwrap());
    assert_eq!(r["passed"], true);
}

#[test]
fn boot_benchmark_on_sqlite() {
    check(&bench("sqlite"), "sqlite");
}

#[test]
fn boot_benchmark_on_postgres() {
    if berth_testkit::skip_postgres() {
        eprintln!("{} set: skipping the PostgreSQL run", berth_testkit::SKIP_POSTGRES_VAR);
        return;
    }
    check(&bench("postgres"), "postgres");
}
