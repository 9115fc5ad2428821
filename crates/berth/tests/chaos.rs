//! `berth chaos` checks itself: with an allocation planted that no server
//! owns, the run must fail and name it, in its own Placement check and in
//! `berth audit`'s. (The chaos runs proper, with every fault, are
//! `scripts/chaos-ci` in CI: they take minutes.)

use std::process::Command;

use serde_json::Value;

#[test]
fn the_checks_find_a_planted_leak() {
    let out = std::env::temp_dir().join(format!("berth-chaos-test-{}.json", uuid::Uuid::new_v4().simple()));
    let status = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["chaos", "--seed", "11", "--duration", "3", "--faults", "none", "--hosts", "2"])
        .args(["--agent-processes", "1", "--clients", "2", "--max-servers", "4", "--plant-leak", "--out"])
        .arg(&out)
        .env("BERTH_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run berth chaos");
    assert!(!status.success(), "a planted leak must fail the run");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("the JSON report")).unwrap();
    std::fs::remove_file(&out).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["seed"], 11);
    let planted = report["planted"].as_str().expect("the planted consumer").to_string();
    let problems: Vec<&str> = report["problems"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let naming = |what: &str| problems.iter().filter(|p| p.contains(&planted) && p.contains(what)).count();
    assert!(naming("which is no server") >= 1, "the Placement check names the leak: {problems:?}");
    assert!(naming("berth audit exited") >= 1, "berth audit names the leak: {problems:?}");
    // Nothing but the planted leak: the servers of the run hold exactly
    // their flavors.
    assert!(problems.iter().all(|p| p.contains(&planted)), "{problems:?}");
    assert!(report["operations"]["create"]["accepted"].as_u64().unwrap_or(0) > 0, "servers were created: {report}");
}
