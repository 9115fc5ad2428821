//! Allocation candidates on the perfload layouts: flat (10 000 root
//! providers) and nested (1 000 trees of 7 providers), microversion 1.39.
//! Each iteration parses the query and runs the search on a prebuilt
//! snapshot; snapshot construction is measured separately.

use berth_placement::candidates::{find_candidates, parse_query, Options};
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "candidates/layouts.rs"]
mod layouts;

const MV: (u16, u16) = (1, 39);

fn bench(c: &mut Criterion) {
    let opts = Options::upstream();
    let layouts = [
        ("flat10k", layouts::flat(10_000), layouts::flat_queries(10_000)),
        ("nested1000", layouts::nested(1_000), layouts::nested_queries(1_000)),
    ];
    for (layout, snap, queries) in &layouts {
        let mut g = c.benchmark_group(*layout);
        for (name, q, want) in queries {
            let pairs = layouts::pairs(q);
            let req = parse_query(&pairs, MV).expect("valid query");
            let got = find_candidates(snap, &req, &opts).expect("search").len();
            assert_eq!(got, *want, "{layout} {name}");
            g.bench_function(*name, |b| {
                b.iter(|| {
                    let req = parse_query(&pairs, MV).expect("valid query");
                    find_candidates(snap, &req, &opts).expect("search")
                })
            });
        }
        g.finish();
    }
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    g.bench_function("build-flat10k", |b| b.iter(|| layouts::flat(10_000)));
    g.bench_function("build-nested1000", |b| b.iter(|| layouts::nested(1_000)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
