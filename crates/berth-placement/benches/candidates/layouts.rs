//! The provider layouts of the perfload benchmark (/work/shared/bench/README.md),
//! built directly as snapshot input.
#![allow(dead_code)]

use berth_placement::candidates::{InventoryData, ProviderData, Snapshot};
use uuid::Uuid;

pub const AGGS: [u128; 3] = [0x14a5c8a3, 0x66d98e7c, 0xa59dbb28];
pub const FLAT_TRAITS: [&str; 3] = ["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE2", "STORAGE_DISK_SSD"];

pub fn agg(i: usize) -> Uuid {
    Uuid::from_u128(AGGS[i] << 96 | 0x4000_8000_0000_0000_0000)
}

fn inv(rc: &str, total: i64, reserved: i64, min_unit: i64, max_unit: i64, step_size: i64) -> InventoryData {
    InventoryData {
        resource_class: rc.to_string(),
        total,
        reserved,
        min_unit,
        max_unit,
        step_size,
        allocation_ratio: 1.0,
        used: 0,
    }
}

/// `n` root providers with VCPU/MEMORY_MB/DISK_GB, in 1-3 of three
/// aggregates and with 1-3 of three traits.
pub fn flat(n: usize) -> Snapshot {
    let providers = (0..n)
        .map(|i| ProviderData {
            uuid: Uuid::from_u128(0xf1a7_0000_0000_4000_8000_0000_0000_0000 + i as u128),
            name: format!("cn{i}"),
            generation: 3,
            parent_uuid: None,
            traits: FLAT_TRAITS[..(i / 3) % 3 + 1].iter().map(|t| t.to_string()).collect(),
            aggregates: (0..i % 3 + 1).map(agg).collect(),
            inventories: vec![
                inv("VCPU", 32, 0, 1, 16, 1),
                inv("MEMORY_MB", 8192, 0, 128, 8192, 1),
                inv("DISK_GB", 8192, 0, 5, 8192, 1),
            ],
        })
        .collect();
    Snapshot::new(providers, FLAT_TRAITS, ["VCPU", "MEMORY_MB", "DISK_GB"]).expect("valid layout")
}

/// `n` trees of 7 providers (compute node, two NUMA nodes, FPGAs, a pGPU).
pub fn nested(n: usize) -> Snapshot {
    let mut providers = Vec::with_capacity(7 * n);
    let mut k: u128 = 0;
    let mut next = |name: String, parent: Option<Uuid>, traits: &[&str], invs: Vec<InventoryData>| {
        k += 1;
        let uuid = Uuid::from_u128(0x4e57_0000_0000_4000_8000_0000_0000_0000 + k);
        providers.push(ProviderData {
            uuid,
            name,
            generation: 1,
            parent_uuid: parent,
            traits: traits.iter().map(|t| t.to_string()).collect(),
            aggregates: Vec::new(),
            inventories: invs,
        });
        uuid
    };
    for t in 0..n {
        let cn =
            next(format!("cn{t}"), None, &["COMPUTE_VOLUME_MULTI_ATTACH"], vec![inv("DISK_GB", 20480, 0, 1, 20480, 1)]);
        let numa0 = next(
            format!("numa0_{t}"),
            Some(cn),
            &["HW_NUMA_ROOT"],
            vec![inv("VCPU", 4, 2, 1, 4, 1), inv("MEMORY_MB", 2048, 0, 512, 2048, 256)],
        );
        next(format!("fpga0_0_{t}"), Some(numa0), &[], vec![inv("FPGA", 1, 0, 1, 1, 1)]);
        next(format!("pgpu0_0_{t}"), Some(numa0), &[], vec![inv("VGPU", 8, 0, 1, 8, 1)]);
        let numa1 = next(
            format!("numa1_{t}"),
            Some(cn),
            &["HW_NUMA_ROOT", "CUSTOM_FOO"],
            vec![inv("VCPU", 4, 0, 1, 4, 1), inv("MEMORY_MB", 2048, 0, 256, 1024, 1)],
        );
        next(format!("fpga1_0_{t}"), Some(numa1), &[], vec![inv("FPGA", 1, 0, 1, 1, 1)]);
        next(format!("fpga1_1_{t}"), Some(numa1), &[], vec![inv("FPGA", 1, 0, 1, 1, 1)]);
    }
    Snapshot::new(
        providers,
        ["COMPUTE_VOLUME_MULTI_ATTACH", "HW_NUMA_ROOT", "CUSTOM_FOO"],
        ["VCPU", "MEMORY_MB", "DISK_GB", "FPGA", "VGPU"],
    )
    .expect("valid layout")
}

pub const RES: &str = "resources=VCPU:1,DISK_GB:10,MEMORY_MB:256";

/// (name, query, expected answer count) for the flat layout of `n` providers.
pub fn flat_queries(n: usize) -> Vec<(&'static str, String, usize)> {
    let third = |r: usize| (0..n).filter(|i| i % 3 == r || r == 99).count();
    vec![
        ("ac-perfload", format!("{RES}&member_of={}&required=HW_CPU_X86_AVX2", agg(0)), n),
        (
            "ac-perfload-limit1000",
            format!("{RES}&member_of={}&required=HW_CPU_X86_AVX2&limit=1000", agg(0)),
            n.min(1000),
        ),
        ("ac-resources", RES.to_string(), n),
        ("ac-required", format!("{RES}&required=STORAGE_DISK_SSD"), (0..n).filter(|i| (i / 3) % 3 == 2).count()),
        ("ac-member-of", format!("{RES}&member_of={}", agg(2)), third(2)),
    ]
}

/// (name, query, expected answer count) for the nested layout of `n` trees.
pub fn nested_queries(n: usize) -> Vec<(&'static str, String, usize)> {
    let perfload = "resources=DISK_GB:10&required=COMPUTE_VOLUME_MULTI_ATTACH&resources_COMPUTE=VCPU:1,MEMORY_MB:256\
                    &required_COMPUTE=CUSTOM_FOO&resources_FPGA=FPGA:1&group_policy=none&same_subtree=_COMPUTE,_FPGA";
    vec![
        ("ac-nested-perfload", perfload.to_string(), 2 * n),
        ("ac-nested-perfload-limit1000", format!("{perfload}&limit=1000"), (2 * n).min(1000)),
        ("ac-nested-unsuffixed", "resources=VCPU:1,MEMORY_MB:512".to_string(), 4 * n),
        ("ac-nested-isolate", "resources1=VGPU:1&resources2=FPGA:1&group_policy=isolate".to_string(), 3 * n),
    ]
}

pub fn pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}
