//! The perfload layouts give the answer counts the benchmark README states.

#[path = "../benches/candidates/layouts.rs"]
mod layouts;

use berth_placement::candidates::{find_candidates, parse_query, GenerationStrategy, Options};

#[test]
fn flat_layout_counts() {
    let n = 3_000;
    let snap = layouts::flat(n);
    for (name, q, want) in layouts::flat_queries(n) {
        let req = parse_query(&layouts::pairs(&q), (1, 39)).unwrap();
        let c = find_candidates(&snap, &req, &Options::upstream()).unwrap();
        assert_eq!(c.len(), want, "{name}");
        assert_eq!(c.provider_summaries.len(), want, "{name}");
    }
}

#[test]
fn nested_layout_counts() {
    let n = 300;
    let snap = layouts::nested(n);
    for (name, q, want) in layouts::nested_queries(n) {
        let req = parse_query(&layouts::pairs(&q), (1, 39)).unwrap();
        for strategy in [GenerationStrategy::DepthFirst, GenerationStrategy::BreadthFirst] {
            let opts = Options { strategy, ..Options::upstream() };
            let c = find_candidates(&snap, &req, &opts).unwrap();
            assert_eq!(c.len(), want, "{name}");
            let trees = want.min(if name.ends_with("limit1000") { 500 } else { n });
            assert_eq!(c.provider_summaries.len(), 7 * trees.min(n), "{name}");
        }
    }
}

#[test]
fn max_allocation_candidates_bounds_nested_search() {
    let snap = layouts::nested(50);
    let req = parse_query(&layouts::pairs("resources=VCPU:1,MEMORY_MB:512"), (1, 39)).unwrap();
    let depth = Options { max_allocation_candidates: 10, ..Options::upstream() };
    let c = find_candidates(&snap, &req, &depth).unwrap();
    assert_eq!(c.len(), 10);
    // Depth-first: the first trees' four candidates each (3 trees).
    assert_eq!(c.provider_summaries.len(), 7 * 3);
    let breadth = Options { strategy: GenerationStrategy::BreadthFirst, ..depth };
    let c = find_candidates(&snap, &req, &breadth).unwrap();
    assert_eq!(c.len(), 10);
    // Breadth-first: one candidate from each of ten trees.
    assert_eq!(c.provider_summaries.len(), 7 * 10);
}
