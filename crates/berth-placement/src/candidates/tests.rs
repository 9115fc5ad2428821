//! Unit tests of parsing and of small search scenarios.

use super::*;

fn q(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

#[test]
fn parses_simple_resources() {
    let r = parse_query(&q("resources=VCPU:1,MEMORY_MB:1024"), (1, 10)).unwrap();
    assert_eq!(r.groups.len(), 1);
    assert_eq!(r.groups[0].resources, vec![("VCPU".to_string(), 1), ("MEMORY_MB".to_string(), 1024)]);
}
