//! The scheduler's pure parts: the request spec built from the flavor and
//! image, and the filter-and-weigh step over Placement's allocation
//! candidates and the known hosts. No I/O here; the service
//! (`service/schedule.rs`) fetches candidates, calls [`filter_and_weigh`]
//! and claims (`PUT /allocations/{instance}`), moving on to the next host
//! when Placement says no.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use berth_placement_client::{
    encode, AllocationCandidates, AllocationRequest, PlacementError, ProviderSummary, Resources,
};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ComputeError;
use crate::images::ImageInfo;
use crate::model::{ComputeNode, Flavor, Service};

/// The trait Nova sets on the providers of disabled compute services.
pub const COMPUTE_STATUS_DISABLED: &str = "COMPUTE_STATUS_DISABLED";

/// The simulated hosts' CPU architecture and hypervisor type, which image
/// properties (`hw_architecture`, `img_hv_type`) are matched against.
pub const HOST_ARCHITECTURE: &str = "x86_64";
pub const HYPERVISOR_TYPE: &str = "fake";

/// How the weigher orders hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Weigher {
    /// Most free RAM first (Nova's default `ram_weight_multiplier = 1.0`).
    #[default]
    Spread,
    /// Least free RAM first (a negative multiplier).
    Pack,
}

/// What an instance needs from a host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RequestSpec {
    pub resources: Resources,
    pub required_traits: BTreeSet<String>,
    pub forbidden_traits: BTreeSet<String>,
    /// Aggregates the root provider must be in (any of them).
    pub member_of: Vec<Uuid>,
    pub availability_zone: Option<String>,
    pub force_host: Option<String>,
    pub force_node: Option<String>,
    /// Required CPU architecture (image `hw_architecture`).
    pub architecture: Option<String>,
    /// Required hypervisor type (image `img_hv_type`).
    pub hypervisor_type: Option<String>,
    /// The server group (scheduler hint `group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Uuid>,
    /// Scheduler hint `same_host`: on a host of one of these instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub same_host: Vec<Uuid>,
    /// Scheduler hint `different_host`: on no host of these instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub different_host: Vec<Uuid>,
    /// The group and hints resolved to hosts when scheduling (not stored).
    #[serde(skip)]
    pub placement: HostConstraints,
}

/// A server group's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPolicy {
    Affinity,
    AntiAffinity,
    SoftAffinity,
    SoftAntiAffinity,
}

impl GroupPolicy {
    pub fn parse(s: &str) -> Option<GroupPolicy> {
        Some(match s {
            "affinity" => GroupPolicy::Affinity,
            "anti-affinity" => GroupPolicy::AntiAffinity,
            "soft-affinity" => GroupPolicy::SoftAffinity,
            "soft-anti-affinity" => GroupPolicy::SoftAntiAffinity,
            _ => return None,
        })
    }
}

/// Where an instance may go, from its server group and its `same_host` /
/// `different_host` hints, resolved against where the other instances are
/// when it is scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostConstraints {
    /// The group's policy and `max_server_per_host` (anti-affinity).
    pub policy: Option<(GroupPolicy, i64)>,
    /// Members of the group (not this instance) on each host.
    pub group_hosts: BTreeMap<String, i64>,
    /// `same_host`: the hosts allowed (`None`: no such hint).
    pub same_hosts: Option<BTreeSet<String>>,
    /// `different_host`: the hosts refused.
    pub different_hosts: BTreeSet<String>,
}

impl HostConstraints {
    /// ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter,
    /// SameHostFilter, DifferentHostFilter.
    fn allows(&self, host: &str) -> bool {
        let here = self.group_hosts.get(host).copied().unwrap_or(0);
        let group_ok = match self.policy {
            Some((GroupPolicy::Affinity, _)) => self.group_hosts.is_empty() || here > 0,
            Some((GroupPolicy::AntiAffinity, max)) => here < max.max(1),
            _ => true,
        };
        group_ok && self.same_hosts.as_ref().is_none_or(|s| s.contains(host)) && !self.different_hosts.contains(host)
    }

    /// The soft-affinity weighers: more members first (soft-affinity),
    /// fewer first (soft-anti-affinity); 0 otherwise.
    fn weight(&self, host: &str) -> i64 {
        let here = self.group_hosts.get(host).copied().unwrap_or(0);
        match self.policy {
            Some((GroupPolicy::SoftAffinity, _)) => here,
            Some((GroupPolicy::SoftAntiAffinity, _)) => -here,
            _ => 0,
        }
    }
}

/// The resources a flavor asks for, after its `resources:*` and `hw:*`
/// extra specs.
pub fn flavor_resources(flavor: &Flavor) -> Resources {
    let mut r = Resources::new();
    let dedicated = flavor.extra_specs.get("hw:cpu_policy").is_some_and(|v| v == "dedicated");
    r.insert(if dedicated { "PCPU" } else { "VCPU" }.to_string(), flavor.vcpus);
    r.insert("MEMORY_MB".into(), flavor.memory_mb);
    let swap_gb = (flavor.swap + 1023) / 1024;
    r.insert("DISK_GB".into(), flavor.root_gb + flavor.ephemeral_gb + swap_gb);
    for (k, v) in &flavor.extra_specs {
        if let Some(rc) = k.strip_prefix("resources:") {
            // Numbered groups (`resources1:...`) are not supported; plain
            // overrides only.
            if let Ok(n) = v.trim().parse::<i64>() {
                r.insert(rc.to_string(), n);
            }
        }
    }
    r.retain(|_, v| *v > 0);
    r
}

impl RequestSpec {
    /// Whether where other instances are decides where this one may go
    /// (a server group or host hints): such requests are scheduled one at a
    /// time, each seeing where the previous ones landed.
    pub fn needs_placement_of_others(&self) -> bool {
        self.group.is_some() || !self.same_host.is_empty() || !self.different_host.is_empty()
    }

    pub fn new(flavor: &Flavor, image: Option<&ImageInfo>) -> RequestSpec {
        let mut spec = RequestSpec { resources: flavor_resources(flavor), ..Default::default() };
        let mut trait_spec = |k: &str, v: &str| {
            if let Some(t) = k.strip_prefix("trait:") {
                match v.trim() {
                    "required" => {
                        spec.required_traits.insert(t.to_string());
                    }
                    "forbidden" => {
                        spec.forbidden_traits.insert(t.to_string());
                    }
                    _ => {}
                }
            }
        };
        for (k, v) in &flavor.extra_specs {
            trait_spec(k, v);
        }
        if let Some(img) = image {
            for (k, v) in &img.properties {
                trait_spec(k, v);
            }
        }
        match flavor.extra_specs.get("hw:cpu_thread_policy").map(String::as_str) {
            Some("isolate") => {
                spec.forbidden_traits.insert("HW_CPU_HYPERTHREADING".into());
            }
            Some("require") => {
                spec.required_traits.insert("HW_CPU_HYPERTHREADING".into());
            }
            _ => {}
        }
        if let Some(img) = image {
            spec.architecture =
                img.properties.get("hw_architecture").or_else(|| img.properties.get("architecture")).cloned();
            spec.hypervisor_type =
                img.properties.get("img_hv_type").or_else(|| img.properties.get("hypervisor_type")).cloned();
        }
        spec.forbidden_traits.insert(COMPUTE_STATUS_DISABLED.into());
        spec
    }

    /// The `GET /allocation_candidates` query string.
    pub fn query(&self, limit: usize) -> String {
        let res: Vec<String> = self.resources.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let mut q = format!("resources={}", encode(&res.join(",")));
        let mut traits: Vec<String> = self.required_traits.iter().cloned().collect();
        traits.extend(self.forbidden_traits.iter().map(|t| format!("!{t}")));
        if !traits.is_empty() {
            q.push_str(&format!("&required={}", encode(&traits.join(","))));
        }
        if !self.member_of.is_empty() {
            let ids: Vec<String> = self.member_of.iter().map(Uuid::to_string).collect();
            q.push_str(&format!("&member_of=in:{}", ids.join(",")));
        }
        q.push_str(&format!("&limit={limit}"));
        q
    }
}

/// What the filters know about the hosts: compute nodes by uuid, compute
/// services by host, and the clock and threshold that decide "up".
#[derive(Debug, Clone, Default)]
pub(crate) struct Hosts {
    pub nodes: Arc<BTreeMap<Uuid, ComputeNode>>,
    pub services: Arc<BTreeMap<String, Service>>,
    pub now_us: i64,
    pub down_after_ms: i64,
}

/// A host that passed the filters, with the allocation request to claim
/// and its weight.
#[derive(Debug, Clone)]
pub(crate) struct Weighed {
    pub node: ComputeNode,
    pub service: Service,
    pub request: AllocationRequest,
    pub free_ram: i64,
}

/// Why scheduling failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    NoValidHost(String),
    Placement(PlacementError),
    Internal(String),
}

impl From<ComputeError> for ScheduleError {
    fn from(e: ComputeError) -> Self {
        ScheduleError::Internal(e.message)
    }
}

/// Where an instance landed.
#[derive(Debug, Clone)]
pub struct Placed {
    pub node: ComputeNode,
    pub service: Service,
}

/// Filter the candidates (one per root provider) and order them best
/// first. Filters: the node and its compute service are known, the service
/// is enabled and up (ComputeFilter), in the requested zone
/// (AvailabilityZoneFilter), the forced host/node, and the image's
/// architecture and hypervisor type (ImagePropertiesFilter). Weigher: free
/// RAM, most first (`Spread`) or least first (`Pack`); equal weights are
/// shuffled with `rng` so concurrent requests spread over equal hosts.
pub(crate) fn filter_and_weigh<R: Rng + ?Sized>(
    candidates: &AllocationCandidates,
    hosts: &Hosts,
    spec: &RequestSpec,
    weigher: Weigher,
    rng: &mut R,
) -> Vec<Weighed> {
    let mut out = Vec::new();
    let mut seen_roots = BTreeSet::new();
    for req in &candidates.allocation_requests {
        // The compute node is the root of the providers used.
        let root = req
            .allocations
            .keys()
            .map(|rp| candidates.provider_summaries.get(rp).and_then(|s| s.root_provider_uuid).unwrap_or(*rp))
            .next();
        let Some(root) = root else { continue };
        if !seen_roots.insert(root) {
            continue;
        }
        let Some(node) = hosts.nodes.get(&root) else { continue };
        let Some(service) = hosts.services.get(&node.host) else { continue };
        if !passes(spec, hosts, node, service) {
            continue;
        }
        let free_ram = candidates
            .provider_summaries
            .get(&root)
            .and_then(|s| s.resources.get("MEMORY_MB"))
            .map(|c| c.capacity - c.used)
            .unwrap_or(0);
        out.push(Weighed { node: node.clone(), service: service.clone(), request: req.clone(), free_ram });
    }
    // Shuffle first so equal weights do not all pick the same host
    // (fewer claim conflicts under concurrency), then a stable sort.
    out.shuffle(rng);
    // The group weighers (soft policies) first, then RAM.
    let group = |w: &Weighed| std::cmp::Reverse(spec.placement.weight(&w.node.host));
    match weigher {
        Weigher::Spread => out.sort_by_key(|w| (group(w), std::cmp::Reverse(w.free_ram))),
        Weigher::Pack => out.sort_by_key(|w| (group(w), w.free_ram)),
    }
    out
}

/// Choose hosts for `n` identical requests from one weighed list (best
/// first), as Nova's host manager consumes each pick from its in-memory
/// host state: every pick takes its resources from the candidates'
/// provider summaries, so a host is chosen again only while it still has
/// room, and the weigher sees the free RAM left after earlier picks.
/// `None` for a request no host has room for. Placement re-checks every
/// claim; this only avoids choosing what is already known to be full.
///
/// Each pick is the candidate a scan would choose (the best free RAM
/// after earlier picks, the first of equals), found in a heap instead of a
/// scan: a pick changes only the weights of the candidates on the
/// providers it took memory from, which go back into the heap with their
/// new weight (entries whose weight changed since are skipped), and a
/// candidate that no longer fits never fits again (picks only take). So a
/// batch costs O((n + candidates) log candidates), not n x candidates.
pub(crate) fn pick_many(
    weighed: &[Weighed],
    summaries: &BTreeMap<Uuid, ProviderSummary>,
    n: usize,
    weigher: Weigher,
    taken: &mut Taken,
) -> Vec<Option<usize>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let fits = |w: &Weighed, taken: &Taken| {
        w.request.allocations.iter().all(|(rp, res)| {
            res.resources.iter().all(|(rc, amount)| match summaries.get(rp).and_then(|s| s.resources.get(rc)) {
                Some(c) => c.capacity - c.used - taken.of(*rp, rc) >= *amount,
                None => true,
            })
        })
    };
    // Higher is better; equal weights go to the lower index.
    let weight = |idx: usize, taken: &Taken| {
        let w = &weighed[idx];
        let free = w.free_ram - taken.of(w.node.uuid, "MEMORY_MB");
        match weigher {
            Weigher::Spread => free,
            Weigher::Pack => free.checked_neg().unwrap_or(i64::MAX),
        }
    };
    let mut by_node: HashMap<Uuid, Vec<usize>> = HashMap::new();
    for (idx, w) in weighed.iter().enumerate() {
        by_node.entry(w.node.uuid).or_default().push(idx);
    }
    let mut heap: BinaryHeap<(i64, Reverse<usize>)> =
        (0..weighed.len()).map(|idx| (weight(idx, taken), Reverse(idx))).collect();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut pick = None;
        while let Some((w, Reverse(idx))) = heap.pop() {
            if w != weight(idx, taken) || !fits(&weighed[idx], taken) {
                continue;
            }
            pick = Some(idx);
            break;
        }
        if let Some(idx) = pick {
            let mut changed = Vec::new();
            for (rp, res) in &weighed[idx].request.allocations {
                for (rc, amount) in &res.resources {
                    taken.add(*rp, rc, *amount);
                }
                if res.resources.contains_key("MEMORY_MB") {
                    changed.extend(by_node.get(rp).into_iter().flatten().copied());
                }
            }
            // The picked candidate goes back too: it may fit again.
            changed.push(idx);
            changed.sort_unstable();
            changed.dedup();
            for c in changed {
                heap.push((weight(c, taken), Reverse(c)));
            }
        }
        out.push(pick);
    }
    out
}

/// What picks took from each provider (by resource class) since the
/// candidates' summaries were read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Taken(BTreeMap<Uuid, BTreeMap<String, i64>>);

impl Taken {
    fn of(&self, rp: Uuid, rc: &str) -> i64 {
        self.0.get(&rp).and_then(|m| m.get(rc)).copied().unwrap_or(0)
    }

    fn add(&mut self, rp: Uuid, rc: &str, amount: i64) {
        *self.0.entry(rp).or_default().entry(rc.to_string()).or_default() += amount;
    }
}

/// The host filters.
fn passes(spec: &RequestSpec, hosts: &Hosts, node: &ComputeNode, service: &Service) -> bool {
    // ComputeFilter: the service is enabled and up.
    if service.disabled || !service.is_up(hosts.now_us, hosts.down_after_ms) {
        return false;
    }
    // AvailabilityZoneFilter.
    if spec.availability_zone.as_ref().is_some_and(|az| &service.availability_zone != az) {
        return false;
    }
    if spec.force_host.as_ref().is_some_and(|h| h != &node.host) {
        return false;
    }
    if spec.force_node.as_ref().is_some_and(|n| n != &node.hypervisor_hostname) {
        return false;
    }
    // Server group filters, SameHostFilter, DifferentHostFilter.
    if !spec.placement.allows(&node.host) {
        return false;
    }
    // ImagePropertiesFilter.
    if spec.architecture.as_ref().is_some_and(|a| !a.eq_ignore_ascii_case(HOST_ARCHITECTURE)) {
        return false;
    }
    spec.hypervisor_type.as_ref().is_none_or(|h| h.eq_ignore_ascii_case(HYPERVISOR_TYPE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor(specs: &[(&str, &str)]) -> Flavor {
        Flavor {
            internal_id: 1,
            flavorid: "1".into(),
            name: "f".into(),
            vcpus: 2,
            memory_mb: 512,
            root_gb: 1,
            ephemeral_gb: 1,
            swap: 1,
            rxtx_factor: 1.0,
            is_public: true,
            disabled: false,
            description: None,
            extra_specs: specs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn resources_from_flavor() {
        let r = flavor_resources(&flavor(&[]));
        assert_eq!(r.get("VCPU"), Some(&2));
        assert_eq!(r.get("MEMORY_MB"), Some(&512));
        assert_eq!(r.get("DISK_GB"), Some(&3));
        let r = flavor_resources(&flavor(&[
            ("hw:cpu_policy", "dedicated"),
            ("resources:DISK_GB", "0"),
            ("resources:CUSTOM_GPU", "1"),
        ]));
        assert_eq!(r.get("PCPU"), Some(&2));
        assert!(!r.contains_key("VCPU"));
        assert!(!r.contains_key("DISK_GB"));
        assert_eq!(r.get("CUSTOM_GPU"), Some(&1));
    }

    #[test]
    fn query_string() {
        let mut img = ImageInfo::public("i", "i");
        img.properties.insert("trait:CUSTOM_IMG".into(), "required".into());
        let spec = RequestSpec::new(
            &flavor(&[("trait:HW_CPU_X86_AVX", "required"), ("trait:CUSTOM_NO", "forbidden")]),
            Some(&img),
        );
        let q = spec.query(10);
        assert!(q.starts_with("resources=DISK_GB:3,MEMORY_MB:512,VCPU:2&required="), "{q}");
        assert!(q.contains("CUSTOM_IMG,HW_CPU_X86_AVX,!COMPUTE_STATUS_DISABLED,!CUSTOM_NO"), "{q}");
        assert!(q.ends_with("&limit=10"));
    }

    // ---------------------------------------------------------- filter and weigh

    use berth_placement_client::{CapacityUsed, ResourcesOf};

    const NOW: i64 = 1_000_000_000_000;
    const DOWN_AFTER: i64 = 60_000;

    struct H {
        name: &'static str,
        az: &'static str,
        disabled: bool,
        up: bool,
        free_ram: i64,
    }

    fn h(name: &'static str, free_ram: i64) -> H {
        H { name, az: "nova", disabled: false, up: true, free_ram }
    }

    fn node_uuid(name: &str) -> Uuid {
        let mut b = [0u8; 16];
        for (i, c) in name.bytes().enumerate().take(16) {
            b[i] = c;
        }
        Uuid::from_bytes(b)
    }

    /// Hosts and one allocation candidate per host.
    fn world(hs: &[H]) -> (AllocationCandidates, Hosts) {
        let mut cands = AllocationCandidates { allocation_requests: vec![], provider_summaries: BTreeMap::new() };
        let mut hosts = Hosts { now_us: NOW, down_after_ms: DOWN_AFTER, ..Default::default() };
        for x in hs {
            let u = node_uuid(x.name);
            let resources: Resources = [("MEMORY_MB".to_string(), 64)].into_iter().collect();
            cands.allocation_requests.push(AllocationRequest {
                allocations: [(u, ResourcesOf { resources, generation: None })].into_iter().collect(),
                mappings: None,
            });
            cands.provider_summaries.insert(
                u,
                ProviderSummary {
                    resources: [("MEMORY_MB".to_string(), CapacityUsed { capacity: x.free_ram + 100, used: 100 })]
                        .into_iter()
                        .collect(),
                    traits: vec![],
                    parent_provider_uuid: None,
                    root_provider_uuid: Some(u),
                },
            );
            Arc::make_mut(&mut hosts.nodes).insert(
                u,
                ComputeNode {
                    id: 0,
                    uuid: u,
                    host: x.name.into(),
                    hypervisor_hostname: format!("{}.node", x.name),
                    hypervisor_type: HYPERVISOR_TYPE.into(),
                    hypervisor_version: 1,
                    host_ip: "10.0.0.1".into(),
                    vcpus: 8,
                    memory_mb: x.free_ram,
                    local_gb: 100,
                    cpu_allocation_ratio: 1.0,
                    ram_allocation_ratio: 1.0,
                    disk_allocation_ratio: 1.0,
                    reserved_host_cpus: 0,
                    reserved_host_memory_mb: 0,
                    reserved_host_disk_gb: 0,
                    created_at: 0,
                    updated_at: None,
                },
            );
            Arc::make_mut(&mut hosts.services).insert(
                x.name.into(),
                Service {
                    id: 0,
                    uuid: Uuid::nil(),
                    host: x.name.into(),
                    binary: "nova-compute".into(),
                    availability_zone: x.az.into(),
                    disabled: x.disabled,
                    disabled_reason: None,
                    forced_down: false,
                    last_seen_up: Some(if x.up { NOW - 1_000_000 } else { NOW - DOWN_AFTER * 1000 - 1 }),
                    report_count: 1,
                    created_at: 0,
                    updated_at: None,
                },
            );
        }
        (cands, hosts)
    }

    fn chosen(hs: &[H], spec: &RequestSpec, weigher: Weigher) -> Vec<String> {
        let (cands, hosts) = world(hs);
        filter_and_weigh(&cands, &hosts, spec, weigher, &mut rand::rng()).into_iter().map(|w| w.node.host).collect()
    }

    #[test]
    fn filters_and_weighers() {
        let any = RequestSpec::default();
        let in_az = RequestSpec { availability_zone: Some("az2".into()), ..Default::default() };
        let forced = RequestSpec { force_host: Some("b".into()), ..Default::default() };
        let forced_node = RequestSpec { force_node: Some("c.node".into()), ..Default::default() };
        let arm = RequestSpec { architecture: Some("aarch64".into()), ..Default::default() };
        let x86 = RequestSpec { architecture: Some("X86_64".into()), ..Default::default() };
        let kvm = RequestSpec { hypervisor_type: Some("kvm".into()), ..Default::default() };
        let three = || vec![h("a", 1000), h("b", 3000), h("c", 2000)];
        type Case<'a> = (&'a str, Vec<H>, &'a RequestSpec, Weigher, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            ("spread: most free RAM first", three(), &any, Weigher::Spread, vec!["b", "c", "a"]),
            ("pack: least free RAM first", three(), &any, Weigher::Pack, vec!["a", "c", "b"]),
            (
                "disabled service filtered",
                vec![h("a", 1000), H { disabled: true, ..h("b", 3000) }],
                &any,
                Weigher::Spread,
                vec!["a"],
            ),
            (
                "down service filtered",
                vec![h("a", 1000), H { up: false, ..h("b", 3000) }],
                &any,
                Weigher::Spread,
                vec!["a"],
            ),
            (
                "availability zone",
                vec![h("a", 1000), H { az: "az2", ..h("b", 500) }, H { az: "az2", ..h("c", 900) }],
                &in_az,
                Weigher::Spread,
                vec!["c", "b"],
            ),
            ("forced host", three(), &forced, Weigher::Spread, vec!["b"]),
            ("forced node", three(), &forced_node, Weigher::Pack, vec!["c"]),
            ("image architecture mismatch", three(), &arm, Weigher::Spread, vec![]),
            ("image architecture, any case", three(), &x86, Weigher::Spread, vec!["b", "c", "a"]),
            ("image hypervisor type mismatch", three(), &kvm, Weigher::Spread, vec![]),
            ("no hosts", vec![], &any, Weigher::Spread, vec![]),
        ];
        for (name, hs, spec, weigher, want) in cases {
            assert_eq!(chosen(&hs, spec, weigher), want, "{name}");
        }
    }

    #[test]
    fn unknown_nodes_and_duplicate_roots_are_skipped() {
        let (mut cands, mut hosts) = world(&[h("a", 1000), h("b", 2000)]);
        // A second candidate on the same root counts once.
        let dup = cands.allocation_requests[0].clone();
        cands.allocation_requests.push(dup);
        // A node without a compute service, and a provider that is no node.
        Arc::make_mut(&mut hosts.services).remove("b");
        let stray = Uuid::new_v4();
        cands.allocation_requests.push(AllocationRequest {
            allocations: [(stray, ResourcesOf { resources: Resources::new(), generation: None })].into_iter().collect(),
            mappings: None,
        });
        let got: Vec<String> =
            filter_and_weigh(&cands, &hosts, &RequestSpec::default(), Weigher::Spread, &mut rand::rng())
                .into_iter()
                .map(|w| w.node.host)
                .collect();
        assert_eq!(got, vec!["a"]);
    }

    #[test]
    fn equal_weights_keep_every_host() {
        let got = chosen(&[h("a", 1000), h("b", 1000), h("c", 1000)], &RequestSpec::default(), Weigher::Spread);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, vec!["a", "b", "c"]);
    }

    /// The scan `pick_many` replaced: for each request, the first
    /// candidate with the best free RAM among those that fit.
    fn pick_many_by_scan(
        weighed: &[Weighed],
        summaries: &BTreeMap<Uuid, ProviderSummary>,
        n: usize,
        weigher: Weigher,
        taken: &mut Taken,
    ) -> Vec<Option<usize>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut best: Option<(usize, i64)> = None;
            for (idx, w) in weighed.iter().enumerate() {
                let fits = w.request.allocations.iter().all(|(rp, res)| {
                    res.resources.iter().all(|(rc, amount)| match summaries.get(rp).and_then(|s| s.resources.get(rc)) {
                        Some(c) => c.capacity - c.used - taken.of(*rp, rc) >= *amount,
                        None => true,
                    })
                });
                if !fits {
                    continue;
                }
                let free = w.free_ram - taken.of(w.node.uuid, "MEMORY_MB");
                let better = match (best, weigher) {
                    (None, _) => true,
                    (Some((_, b)), Weigher::Spread) => free > b,
                    (Some((_, b)), Weigher::Pack) => free < b,
                };
                if better {
                    best = Some((idx, free));
                }
            }
            if let Some((idx, _)) = best {
                for (rp, res) in &weighed[idx].request.allocations {
                    for (rc, amount) in &res.resources {
                        taken.add(*rp, rc, *amount);
                    }
                }
            }
            out.push(best.map(|(i, _)| i));
        }
        out
    }

    proptest::proptest! {
        /// The heap picks exactly what the scan picks, request after
        /// request, whatever the hosts' room (memory and a second class
        /// that can run out first), ties, request sizes, weigher, and what
        /// earlier batches took.
        #[test]
        fn heap_picks_what_the_scan_picks(
            hosts in proptest::collection::vec((0i64..400, 0i64..4), 0..24),
            mb in 1i64..160,
            n in 0usize..40,
            pack in proptest::bool::ANY,
            earlier in 0usize..6,
        ) {
            let names: Vec<&'static str> =
                (0..hosts.len()).map(|i| &*Box::leak(format!("h{i}").into_boxed_str())).collect();
            let hs: Vec<H> = hosts.iter().zip(&names).map(|((free, _), name)| h(name, *free)).collect();
            let (mut cands, hosts_state) = world(&hs);
            for (req, (_, vcpus)) in cands.allocation_requests.iter_mut().zip(&hosts) {
                for res in req.allocations.values_mut() {
                    res.resources = [("MEMORY_MB".to_string(), mb), ("VCPU".to_string(), 1)].into_iter().collect();
                }
                let rp = *req.allocations.keys().next().unwrap();
                cands.provider_summaries.get_mut(&rp).unwrap().resources.insert(
                    "VCPU".to_string(),
                    CapacityUsed { capacity: *vcpus, used: 0 },
                );
            }
            let weigher = if pack { Weigher::Pack } else { Weigher::Spread };
            let weighed = filter_and_weigh(&cands, &hosts_state, &RequestSpec::default(), weigher, &mut rand::rng());
            let (mut a, mut b) = (Taken::default(), Taken::default());
            let s = &cands.provider_summaries;
            proptest::prop_assert_eq!(pick_many(&weighed, s, earlier, weigher, &mut a), pick_many_by_scan(&weighed, s, earlier, weigher, &mut b));
            proptest::prop_assert_eq!(pick_many(&weighed, s, n, weigher, &mut a), pick_many_by_scan(&weighed, s, n, weigher, &mut b));
            proptest::prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn many_picks_consume_what_each_takes() {
        // Each request takes 64 MB; a has 200 free, b 100.
        let (cands, hosts) = world(&[h("a", 200), h("b", 100)]);
        for (weigher, want) in [
            (Weigher::Spread, vec![Some("a"), Some("a"), Some("b"), Some("a"), None]),
            (Weigher::Pack, vec![Some("b"), Some("a"), Some("a"), Some("a"), None]),
        ] {
            let weighed = filter_and_weigh(&cands, &hosts, &RequestSpec::default(), weigher, &mut rand::rng());
            let mut taken = Taken::default();
            let got: Vec<Option<&str>> = pick_many(&weighed, &cands.provider_summaries, 5, weigher, &mut taken)
                .into_iter()
                .map(|i| i.map(|i| weighed[i].node.host.as_str()))
                .collect();
            assert_eq!(got, want, "{weigher:?}");
        }
        // Picks carry over: what earlier picks took is still taken.
        let weighed = filter_and_weigh(&cands, &hosts, &RequestSpec::default(), Weigher::Spread, &mut rand::rng());
        let mut taken = Taken::default();
        assert_eq!(pick_many(&weighed, &cands.provider_summaries, 4, Weigher::Spread, &mut taken).len(), 4);
        assert_eq!(pick_many(&weighed, &cands.provider_summaries, 1, Weigher::Spread, &mut taken), vec![None]);
        // Nothing to choose from: every request unplaced.
        assert_eq!(
            pick_many(&[], &cands.provider_summaries, 2, Weigher::Spread, &mut Taken::default()),
            vec![None, None]
        );
    }
}
