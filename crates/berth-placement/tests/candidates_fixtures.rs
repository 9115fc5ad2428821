//! Rust rebuilds of the upstream gabbi fixtures used by the allocation
//! candidates tests (see /work/shared/conformance/lib/conformance_fixtures.py).
#![allow(dead_code)]

use std::collections::HashMap;

use berth_placement::candidates::*;
use uuid::Uuid;

pub const STANDARD_RCS: &[&str] = &[
    "VCPU",
    "MEMORY_MB",
    "DISK_GB",
    "PCI_DEVICE",
    "SRIOV_NET_VF",
    "NUMA_SOCKET",
    "NUMA_CORE",
    "NUMA_THREAD",
    "NUMA_MEMORY_MB",
    "IPV4_ADDRESS",
    "VGPU",
    "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU",
    "MEM_ENCRYPTION_CONTEXT",
    "FPGA",
    "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
];

/// A subset of os-traits, enough for the scenarios.
pub const STANDARD_TRAITS: &[&str] = &[
    "HW_CPU_X86_SSE",
    "HW_CPU_X86_SSE2",
    "HW_CPU_X86_SSE3",
    "HW_CPU_X86_AVX",
    "HW_CPU_X86_AVX2",
    "HW_CPU_X86_MMX",
    "HW_CPU_X86_VMX",
    "HW_GPU_API_DXVA",
    "HW_NIC_DCB_PFC",
    "HW_NIC_ACCEL_TLS",
    "HW_NIC_OFFLOAD_GENEVE",
    "HW_NUMA_ROOT",
    "COMPUTE_VOLUME_MULTI_ATTACH",
    "MISC_SHARES_VIA_AGGREGATE",
    "STORAGE_DISK_SSD",
];

#[derive(Default)]
pub struct Fx {
    pub providers: Vec<ProviderData>,
    pub ids: HashMap<String, Uuid>,
    counter: u128,
}

pub struct Inv {
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: Option<i64>,
    pub step_size: i64,
    pub allocation_ratio: f64,
}

pub fn inv(total: i64) -> Inv {
    Inv { total, reserved: 0, min_unit: 1, max_unit: None, step_size: 1, allocation_ratio: 1.0 }
}

impl Inv {
    pub fn reserved(mut self, v: i64) -> Inv {
        self.reserved = v;
        self
    }
    pub fn min(mut self, v: i64) -> Inv {
        self.min_unit = v;
        self
    }
    pub fn max(mut self, v: i64) -> Inv {
        self.max_unit = Some(v);
        self
    }
    pub fn step(mut self, v: i64) -> Inv {
        self.step_size = v;
        self
    }
    pub fn ratio(mut self, v: f64) -> Inv {
        self.allocation_ratio = v;
        self
    }
}

impl Fx {
    fn next_uuid(&mut self) -> Uuid {
        self.counter += 1;
        Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + self.counter)
    }

    /// A named uuid (aggregate or any identifier).
    pub fn id(&mut self, name: &str) -> Uuid {
        if let Some(u) = self.ids.get(name) {
            return *u;
        }
        let u = self.next_uuid();
        self.ids.insert(name.to_string(), u);
        u
    }

    pub fn rp(&mut self, name: &str, parent: Option<&str>, aggs: &[&str]) -> &mut Fx {
        let uuid = self.id(name);
        let parent_uuid = parent.map(|p| self.ids[p]);
        let aggregates = aggs.iter().map(|a| self.id(a)).collect();
        self.providers.push(ProviderData {
            uuid,
            name: name.to_string(),
            generation: 0,
            parent_uuid,
            traits: Vec::new(),
            aggregates,
            inventories: Vec::new(),
        });
        self
    }

    fn get(&mut self, name: &str) -> &mut ProviderData {
        let u = self.ids[name];
        self.providers.iter_mut().find(|p| p.uuid == u).expect("provider exists")
    }

    pub fn aggs(&mut self, name: &str, aggs: &[&str]) -> &mut Fx {
        let aggregates: Vec<Uuid> = aggs.iter().map(|a| self.id(a)).collect();
        self.get(name).aggregates = aggregates;
        self
    }

    pub fn inv(&mut self, name: &str, rc: &str, i: Inv) -> &mut Fx {
        self.get(name).inventories.push(InventoryData {
            resource_class: rc.to_string(),
            total: i.total,
            reserved: i.reserved,
            min_unit: i.min_unit,
            max_unit: i.max_unit.unwrap_or(i.total),
            step_size: i.step_size,
            allocation_ratio: i.allocation_ratio,
            used: 0,
        });
        self
    }

    pub fn traits(&mut self, name: &str, traits: &[&str]) -> &mut Fx {
        self.get(name).traits = traits.iter().map(|t| t.to_string()).collect();
        self
    }

    pub fn used(&mut self, name: &str, rc: &str, amount: i64) -> &mut Fx {
        let p = self.get(name);
        p.inventories.iter_mut().find(|i| i.resource_class == rc).expect("inventory exists").used += amount;
        self
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.providers.clone(), STANDARD_TRAITS.iter().copied(), STANDARD_RCS.iter().copied())
            .expect("valid fixture")
    }

    /// Replace `{name}` with the uuid of that name.
    pub fn subst(&self, q: &str) -> String {
        let mut out = String::new();
        let mut rest = q;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            let name = &rest[start + 1..end];
            out.push_str(&self.ids.get(name).unwrap_or_else(|| panic!("unknown name {name}")).to_string());
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
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

/// Result of one query against a fixture, with name-based accessors.
pub struct Answer<'a> {
    pub fx: &'a Fx,
    pub snap: Snapshot,
    pub req: CandidatesRequest,
    pub c: Candidates,
}

pub enum Outcome<'a> {
    Ok(Box<Answer<'a>>),
    BadRequest(BadRequest),
    SearchError(CandidatesError),
}

impl<'a> Outcome<'a> {
    pub fn ok(self) -> Answer<'a> {
        match self {
            Outcome::Ok(a) => *a,
            Outcome::BadRequest(b) => panic!("unexpected 400: {}", b.message),
            Outcome::SearchError(e) => panic!("unexpected search error: {e}"),
        }
    }
    /// The 400 detail, from parsing or from the search.
    pub fn err(self) -> String {
        match self {
            Outcome::Ok(a) => panic!("expected an error, got {} candidates", a.c.len()),
            Outcome::BadRequest(b) => b.message,
            Outcome::SearchError(e) => e.http_detail(),
        }
    }
    pub fn bad_request(self) -> BadRequest {
        match self {
            Outcome::BadRequest(b) => b,
            _ => panic!("expected a parse error"),
        }
    }
}

pub fn run<'a>(fx: &'a Fx, query: &str, mv: (u16, u16)) -> Outcome<'a> {
    run_opts(fx, query, mv, &Options::upstream())
}

pub fn run_opts<'a>(fx: &'a Fx, query: &str, mv: (u16, u16), opts: &Options) -> Outcome<'a> {
    let q = fx.subst(query);
    let req = match parse_query(&pairs(&q), mv) {
        Ok(r) => r,
        Err(b) => return Outcome::BadRequest(b),
    };
    let snap = fx.snapshot();
    match find_candidates(&snap, &req, opts) {
        Ok(c) => Outcome::Ok(Box::new(Answer { fx, snap, req, c })),
        Err(e) => Outcome::SearchError(e),
    }
}

impl Answer<'_> {
    pub fn n(&self) -> usize {
        self.c.len()
    }

    pub fn n_summaries(&self) -> usize {
        self.c.provider_summaries.len()
    }

    fn idx(&self, name: &str) -> ProviderIdx {
        self.snap.index_of(&self.fx.ids[name]).expect("provider in snapshot")
    }

    /// Sorted amounts of `rc` taken from provider `name`, one per candidate using it.
    pub fn amounts(&self, name: &str, rc: &str) -> Vec<i64> {
        let p = self.idx(name);
        let rc = self.snap.resource_class_id(rc).expect("known class");
        let mut v: Vec<i64> = self.c.allocation_requests().filter_map(|a| a.amount(p, rc)).collect();
        v.sort_unstable();
        v
    }

    /// Number of candidates taking anything from provider `name`.
    pub fn uses(&self, name: &str) -> usize {
        let p = self.idx(name);
        self.c.allocation_requests().filter(|a| a.resources.iter().any(|r| r.provider == p)).count()
    }

    pub fn summarized(&self, name: &str) -> bool {
        self.c.provider_summaries.contains(&self.idx(name))
    }

    /// Candidates as sorted lists of "provider:CLASS=amount".
    pub fn describe(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = self
            .c
            .allocation_requests()
            .map(|a| {
                a.resources
                    .iter()
                    .map(|r| {
                        format!(
                            "{}:{}={}",
                            self.snap.provider(r.provider).name,
                            self.snap.resource_class_name(r.resource_class),
                            r.amount
                        )
                    })
                    .collect()
            })
            .collect();
        out.sort();
        out
    }

    /// Mappings of each candidate: sorted "suffix=provider,provider".
    pub fn mappings(&self) -> Vec<Vec<String>> {
        self.c
            .allocation_requests()
            .map(|a| {
                a.mappings_by_group()
                    .map(|(g, ps)| {
                        let names: Vec<&str> =
                            ps.iter().map(|m| self.snap.provider(m.provider).name.as_str()).collect();
                        format!("{}={}", self.req.groups[g as usize].suffix, names.join(","))
                    })
                    .collect()
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Fixtures

pub fn shared_storage() -> Fx {
    let mut f = Fx::default();
    f.rp("cn1", None, &["agg"]).rp("cn2", None, &["agg"]).rp("ss", None, &["agg"]).rp("ss2", None, &["agg"]);
    f.rp("numa1_1", Some("cn1"), &[]).rp("numa1_2", Some("cn1"), &[]);
    f.rp("numa2_1", Some("cn2"), &[]).rp("numa2_2", Some("cn2"), &[]);
    f.rp("pf1_1", Some("numa1_1"), &[]).rp("pf1_2", Some("numa1_2"), &[]);
    f.rp("pf2_1", Some("numa2_1"), &[]).rp("pf2_2", Some("numa2_2"), &[]);
    for cn in ["cn1", "cn2"] {
        f.inv(cn, "VCPU", inv(24).ratio(16.0));
        f.inv(cn, "MEMORY_MB", inv(128 * 1024).ratio(1.5));
    }
    f.traits("cn1", &["HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"]);
    f.inv("cn2", "DISK_GB", inv(2000).reserved(100));
    for ss in ["ss", "ss2"] {
        f.inv(ss, "DISK_GB", inv(2000).reserved(100));
        f.traits(ss, &["MISC_SHARES_VIA_AGGREGATE"]);
    }
    for pf in ["pf1_1", "pf1_2", "pf2_1", "pf2_2"] {
        f.inv(pf, "SRIOV_NET_VF", inv(8));
    }
    f
}

pub fn numa_aggregate() -> Fx {
    let mut f = Fx::default();
    f.rp("cn1", None, &["aggA"]).rp("cn2", None, &["aggA", "aggB"]);
    f.rp("ss1", None, &["aggA"]).rp("ss2", None, &["aggC"]);
    f.rp("numa1_1", Some("cn1"), &["aggC"]).rp("numa1_2", Some("cn1"), &[]);
    f.rp("numa2_1", Some("cn2"), &[]).rp("numa2_2", Some("cn2"), &[]);
    for n in ["numa1_1", "numa1_2", "numa2_1", "numa2_2"] {
        f.inv(n, "VCPU", inv(24).ratio(16.0));
    }
    for ss in ["ss1", "ss2"] {
        f.inv(ss, "DISK_GB", inv(2000).reserved(100));
        f.traits(ss, &["MISC_SHARES_VIA_AGGREGATE"]);
    }
    f
}

fn numa_network_entities(f: &mut Fx, cn1_parent: Option<&str>, cn2_parent: Option<&str>) {
    f.rp("ss1", None, &["aggA"]).traits("ss1", &["MISC_SHARES_VIA_AGGREGATE"]).inv("ss1", "DISK_GB", inv(2000));
    f.rp("cn1", cn1_parent, &["aggA"]).traits("cn1", &["COMPUTE_VOLUME_MULTI_ATTACH"]);
    f.rp("numa0", Some("cn1"), &[]).traits("numa0", &["HW_NUMA_ROOT"]).inv("numa0", "VCPU", inv(4));
    f.rp("numa1", Some("cn1"), &[]).traits("numa1", &["HW_NUMA_ROOT", "CUSTOM_FOO"]).inv("numa1", "VCPU", inv(4));
    f.inv("numa0", "MEMORY_MB", inv(2048).min(512).step(256));
    f.inv("numa1", "MEMORY_MB", inv(2048).min(256).max(1024));
    f.used("numa0", "VCPU", 2);
    f.rp("fpga0", Some("numa0"), &[]).inv("fpga0", "FPGA", inv(1));
    f.rp("pgpu0", Some("numa0"), &[]).inv("pgpu0", "VGPU", inv(8));
    f.rp("fpga1_0", Some("numa1"), &[]).inv("fpga1_0", "FPGA", inv(1));
    f.rp("fpga1_1", Some("numa1"), &[]).inv("fpga1_1", "FPGA", inv(1));
    f.rp("sriov_agent", Some("cn1"), &[]).traits("sriov_agent", &["CUSTOM_VNIC_TYPE_DIRECT"]);
    f.rp("esn1", Some("sriov_agent"), &[]).traits("esn1", &["CUSTOM_PHYSNET1"]);
    f.inv("esn1", "NET_BW_EGR_KILOBIT_PER_SEC", inv(10000));
    f.rp("esn2", Some("sriov_agent"), &[]).traits("esn2", &["CUSTOM_PHYSNET2"]);
    f.inv("esn2", "NET_BW_EGR_KILOBIT_PER_SEC", inv(20000));
    f.rp("ovs_agent", Some("cn1"), &[]).traits("ovs_agent", &["CUSTOM_VNIC_TYPE_NORMAL"]);
    f.rp("br_int", Some("ovs_agent"), &[]).traits("br_int", &["CUSTOM_PHYSNET0"]);
    f.inv("br_int", "NET_BW_EGR_KILOBIT_PER_SEC", inv(1000));
    f.rp("cn2", cn2_parent, &["aggA"]);
    f.inv("cn2", "VCPU", inv(8)).used("cn2", "VCPU", 3);
    f.inv("cn2", "MEMORY_MB", inv(2048).min(1024).step(128));
    f.inv("cn2", "DISK_GB", inv(1000));
    f.traits("cn2", &["CUSTOM_FOO"]);
    for i in 1..=3 {
        let nic = format!("nic{i}");
        f.rp(&nic, Some("cn2"), &[]).traits(&nic, &["CUSTOM_HW_NIC_ROOT"]);
    }
    for i in 1..=2 {
        let pf = format!("pf1_{i}");
        f.rp(&pf, Some("nic1"), &[]).traits(&pf, &[&format!("CUSTOM_PHYSNET{i}")]).inv(&pf, "CUSTOM_VF", inv(4));
    }
    for i in 1..=4 {
        let pf = format!("pf2_{i}");
        let physnet = format!("CUSTOM_PHYSNET{}", (i - 1) % 2 + 1);
        f.rp(&pf, Some("nic2"), &[]).traits(&pf, &[&physnet]).inv(&pf, "CUSTOM_VF", inv(2));
    }
    f.rp("pf3_1", Some("nic3"), &[]).traits("pf3_1", &["CUSTOM_PHYSNET1"]).inv("pf3_1", "CUSTOM_VF", inv(8));
}

pub fn numa_network() -> Fx {
    let mut f = Fx::default();
    numa_network_entities(&mut f, None, None);
    f
}

pub fn deep_numa_network() -> Fx {
    let mut f = Fx::default();
    f.rp("gp1", None, &[]).rp("p1", Some("gp1"), &[]).rp("p2", Some("gp1"), &[]);
    numa_network_entities(&mut f, Some("p1"), Some("p2"));
    f
}

pub fn non_shared_storage() -> Fx {
    let mut f = Fx::default();
    for a in ["aggA", "aggB", "aggC"] {
        f.id(a);
    }
    for cn in ["cn1", "cn2", "cn3"] {
        f.rp(cn, None, &[]);
    }
    for cn in ["cn1", "cn2", "cn3"] {
        f.inv(cn, "VCPU", inv(24)).inv(cn, "MEMORY_MB", inv(128 * 1024)).inv(cn, "DISK_GB", inv(2000));
    }
    f
}

pub fn granular() -> Fx {
    let mut f = Fx::default();
    f.rp("cn_left", None, &["aggA"]);
    f.inv("cn_left", "VCPU", inv(8)).inv("cn_left", "MEMORY_MB", inv(4096)).inv("cn_left", "DISK_GB", inv(500));
    f.inv("cn_left", "VGPU", inv(8)).inv("cn_left", "SRIOV_NET_VF", inv(8)).inv(
        "cn_left",
        "CUSTOM_NET_MBPS",
        inv(4000),
    );
    f.traits("cn_left", &["HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_GPU_API_DXVA", "HW_NIC_DCB_PFC", "CUSTOM_FOO"]);
    f.rp("cn_middle", None, &["aggA", "aggB"]);
    f.inv("cn_middle", "VCPU", inv(8)).inv("cn_middle", "MEMORY_MB", inv(4096));
    f.inv("cn_middle", "SRIOV_NET_VF", inv(8)).inv("cn_middle", "CUSTOM_NET_MBPS", inv(4000));
    f.traits("cn_middle", &["HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_NIC_ACCEL_TLS"]);
    f.rp("cn_right", None, &["aggB", "aggC"]);
    f.inv("cn_right", "VCPU", inv(8)).inv("cn_right", "MEMORY_MB", inv(4096)).inv("cn_right", "DISK_GB", inv(500));
    f.inv("cn_right", "VGPU", inv(8).max(2));
    f.traits("cn_right", &["HW_CPU_X86_MMX", "HW_GPU_API_DXVA", "CUSTOM_DISK_SSD"]);
    f.rp("shr_disk_1", None, &["aggA"]).inv("shr_disk_1", "DISK_GB", inv(1000));
    f.traits("shr_disk_1", &["MISC_SHARES_VIA_AGGREGATE", "CUSTOM_DISK_SSD"]);
    f.rp("shr_disk_2", None, &["aggA", "aggB"]).inv("shr_disk_2", "DISK_GB", inv(1000));
    f.traits("shr_disk_2", &["MISC_SHARES_VIA_AGGREGATE"]);
    f.rp("shr_net", None, &["aggC"]).inv("shr_net", "SRIOV_NET_VF", inv(16)).inv(
        "shr_net",
        "CUSTOM_NET_MBPS",
        inv(40000),
    );
    f.traits("shr_net", &["MISC_SHARES_VIA_AGGREGATE"]);
    f
}

pub fn neutron_qos() -> Fx {
    let mut f = Fx::default();
    let normal = ["CUSTOM_VNIC_TYPE_NORMAL"];
    let direct = ["CUSTOM_VNIC_TYPE_DIRECT", "CUSTOM_VNIC_TYPE_DIRECT_PHYSICAL", "CUSTOM_VNIC_TYPE_MACVTAP"];
    type Dev<'a> = (&'a str, &'a str, i64);
    let layout: [(&str, Vec<Dev>, Vec<Dev>); 4] = [
        ("compute0", vec![("br_ex", "CUSTOM_PHYSNET_OTHER", 5000)], vec![("pf0", "CUSTOM_PHYSNET_OTHER", 10000)]),
        ("compute1", vec![("br_ex", "CUSTOM_PHYSNET_MSN_S1", 5000)], vec![("pf0", "CUSTOM_PHYSNET_MSN_S1", 10000)]),
        ("compute2", vec![("br_ex", "CUSTOM_PHYSNET_MSN_S2", 5000)], vec![("pf0", "CUSTOM_PHYSNET_MSN_S2", 10000)]),
        (
            "compute3",
            vec![("br_ex", "CUSTOM_PHYSNET_MSN_S1", 1000), ("br_ex2", "CUSTOM_PHYSNET_MSN_S2", 1000)],
            vec![("pf0", "CUSTOM_PHYSNET_MSN_S1", 1000), ("pf1", "CUSTOM_PHYSNET_MSN_S2", 1000)],
        ),
    ];
    for (cn, bridges, pfs) in layout {
        f.rp(cn, None, &[]);
        f.inv(cn, "VCPU", inv(8)).inv(cn, "MEMORY_MB", inv(4096)).inv(cn, "DISK_GB", inv(500));
        let ovs = format!("{cn}:ovs_agent");
        f.rp(&ovs, Some(cn), &[]).inv(&ovs, "NET_PACKET_RATE_KILOPACKET_PER_SEC", inv(1000)).traits(&ovs, &normal);
        for (dev, physnet, kbps) in bridges {
            let br = format!("{cn}:{dev}");
            f.rp(&br, Some(&ovs), &[]);
            f.inv(&br, "NET_BW_EGR_KILOBIT_PER_SEC", inv(kbps)).inv(&br, "NET_BW_IGR_KILOBIT_PER_SEC", inv(kbps));
            f.traits(&br, &[normal[0], physnet]);
        }
        let sriov = format!("{cn}:sriov_agent");
        f.rp(&sriov, Some(cn), &[]).traits(&sriov, &direct);
        for (dev, physnet, kbps) in pfs {
            let pf = format!("{cn}:{dev}");
            f.rp(&pf, Some(&sriov), &[]);
            f.inv(&pf, "NET_BW_EGR_KILOBIT_PER_SEC", inv(kbps)).inv(&pf, "NET_BW_IGR_KILOBIT_PER_SEC", inv(kbps));
            let mut t: Vec<&str> = direct.to_vec();
            t.push(physnet);
            f.traits(&pf, &t);
        }
    }
    f
}
