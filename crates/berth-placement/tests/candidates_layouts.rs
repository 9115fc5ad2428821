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

#[test]
fn wide_symmetric_tree_is_bounded_by_max_allocation_candidates() {
    use berth_placement::candidates::{InventoryData, ProviderData, Snapshot};
    use uuid::Uuid;
    // One root with 64 identical GPU children: eight isolated one-GPU groups
    // have 64!/56! (about 1.8e14) combinations.
    let mut ps = vec![ProviderData {
        uuid: Uuid::from_u128(1),
        name: "root".into(),
        generation: 0,
        parent_uuid: None,
        traits: vec![],
        aggregates: vec![],
        inventories: vec![],
    }];
    for i in 0..64u128 {
        ps.push(ProviderData {
            uuid: Uuid::from_u128(100 + i),
            name: format!("gpu{i}"),
            generation: 0,
            parent_uuid: Some(Uuid::from_u128(1)),
            traits: vec![],
            aggregates: vec![],
            inventories: vec![InventoryData {
                resource_class: "VGPU".into(),
                total: 1,
                reserved: 0,
                min_unit: 1,
                max_unit: 1,
                step_size: 1,
                allocation_ratio: 1.0,
                used: 0,
            }],
        });
    }
    let snap = Snapshot::new(ps, [""; 0], ["VGPU"]).unwrap();
    let q: String = (1..=8).map(|i| format!("resources{i}=VGPU:1&")).collect::<String>() + "group_policy=isolate";
    let req = parse_query(&layouts::pairs(&q), (1, 39)).unwrap();
    let opts = Options { max_allocation_candidates: 2_000, ..Options::default() };
    let c = find_candidates(&snap, &req, &opts).unwrap();
    assert_eq!(c.len(), 2_000);
    assert_eq!(c.provider_summaries.len(), 65);
    for a in c.allocation_requests() {
        assert_eq!(a.resources.len(), 8, "eight distinct GPUs");
    }
}
