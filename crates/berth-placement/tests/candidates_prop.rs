//! Property tests: on random small provider trees and random requests, the
//! engine returns exactly the set of candidates a brute-force enumerator
//! (every anchor × every provider for every level, then every rule checked)
//! finds, without duplicates, and with the right provider summaries.

use std::collections::BTreeSet;

use berth_placement::candidates::*;
use proptest::prelude::*;
use uuid::Uuid;

const RCS: &[&str] = &["R0", "R1", "R2"];
const TRAITS: &[&str] = &["T0", "T1", "T2", SHARING_TRAIT];
const N_AGGS: u128 = 2;

fn agg(i: u128) -> Uuid {
    Uuid::from_u128(0xA000 + i)
}

fn prov_uuid(i: usize) -> Uuid {
    Uuid::from_u128(0xB000 + i as u128)
}

type InvSpec = Option<(i64, i64, i64, i64, i64, bool, i64)>;

fn inventory_spec() -> impl Strategy<Value = InvSpec> {
    prop::option::weighted(
        0.7,
        (
            1i64..9,
            prop_oneof![4 => Just(0i64), 1 => 1i64..3],
            prop_oneof![4 => Just(1i64), 1 => Just(2i64)],
            0i64..8,
            prop_oneof![4 => Just(1i64), 1 => Just(2i64)],
            any::<bool>(),
            prop_oneof![3 => Just(0i64), 1 => 1i64..4],
        ),
    )
}

#[derive(Clone, Debug)]
struct ProvSpec {
    parent: Option<u8>,
    traits: Vec<bool>,
    aggs: Vec<bool>,
    invs: Vec<InvSpec>,
}

fn prov_spec() -> impl Strategy<Value = ProvSpec> {
    (
        prop::option::weighted(0.6, any::<u8>()),
        prop::collection::vec(prop::bool::weighted(0.45), TRAITS.len()),
        prop::collection::vec(prop::bool::weighted(0.5), N_AGGS as usize),
        prop::collection::vec(inventory_spec(), RCS.len()),
    )
        .prop_map(|(parent, traits, aggs, invs)| ProvSpec { parent, traits, aggs, invs })
}

fn build_providers(specs: &[ProvSpec]) -> Vec<ProviderData> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| ProviderData {
            uuid: prov_uuid(i),
            name: format!("p{i}"),
            generation: 0,
            parent_uuid: match (s.parent, i) {
                (Some(p), i) if i > 0 => Some(prov_uuid(p as usize % i)),
                _ => None,
            },
            traits: TRAITS.iter().zip(&s.traits).filter(|(_, b)| **b).map(|(t, _)| t.to_string()).collect(),
            aggregates: (0..N_AGGS).zip(&s.aggs).filter(|(_, b)| **b).map(|(a, _)| agg(a)).collect(),
            inventories: RCS
                .iter()
                .zip(&s.invs)
                .filter_map(|(rc, inv)| {
                    inv.map(|(total, reserved, min_unit, max_off, step, ratio, used)| InventoryData {
                        resource_class: rc.to_string(),
                        total,
                        reserved,
                        min_unit,
                        max_unit: (min_unit + max_off).min(total.max(min_unit)),
                        step_size: step,
                        allocation_ratio: if ratio { 1.5 } else { 1.0 },
                        used,
                    })
                })
                .collect(),
        })
        .collect()
}

#[derive(Clone, Debug)]
struct GroupSpec {
    resources: Vec<Option<i64>>,
    required: Vec<Vec<u8>>,
    forbidden: Vec<u8>,
    member_of: Vec<Vec<u8>>,
    forbidden_aggs: Vec<u8>,
    in_tree: Option<u8>,
}

fn group_spec() -> impl Strategy<Value = GroupSpec> {
    (
        prop::collection::vec(prop::option::weighted(0.4, 1i64..3), RCS.len()),
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(prop::collection::vec(0u8..3, 1..3), 1..3)],
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(0u8..4, 1..2)],
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(prop::collection::vec(0u8..2, 1..3), 1..3)],
        prop_oneof![4 => Just(Vec::new()), 1 => prop::collection::vec(0u8..2, 1..2)],
        prop::option::weighted(0.08, any::<u8>()),
    )
        .prop_map(|(resources, required, forbidden, member_of, forbidden_aggs, in_tree)| GroupSpec {
            resources,
            required,
            forbidden,
            member_of,
            forbidden_aggs,
            in_tree,
        })
}

#[derive(Clone, Debug)]
struct ReqSpec {
    unsuffixed: Option<GroupSpec>,
    suffixed: Vec<GroupSpec>,
    isolate: bool,
    subtree: Vec<bool>,
    root_required: Vec<u8>,
    root_forbidden: Vec<u8>,
}

fn req_spec() -> impl Strategy<Value = ReqSpec> {
    (
        prop::option::weighted(0.7, group_spec()),
        prop::collection::vec(group_spec(), 0..3),
        any::<bool>(),
        prop::collection::vec(prop::bool::weighted(0.3), 3),
        prop_oneof![4 => Just(Vec::new()), 1 => prop::collection::vec(0u8..4, 1..2)],
        prop_oneof![4 => Just(Vec::new()), 1 => prop::collection::vec(0u8..4, 1..2)],
    )
        .prop_map(|(unsuffixed, suffixed, isolate, subtree, root_required, root_forbidden)| ReqSpec {
            unsuffixed,
            suffixed,
            isolate,
            subtree,
            root_required,
            root_forbidden,
        })
}

fn to_group(suffix: &str, g: &GroupSpec, n: usize) -> RequestGroup {
    let names = |v: &[u8]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in v {
            let s = TRAITS[*t as usize].to_string();
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    };
    let aggs = |v: &[u8]| -> Vec<Uuid> {
        let mut out: Vec<Uuid> = Vec::new();
        for a in v {
            if !out.contains(&agg(*a as u128)) {
                out.push(agg(*a as u128));
            }
        }
        out
    };
    RequestGroup {
        suffix: suffix.to_string(),
        resources: RCS.iter().zip(&g.resources).filter_map(|(rc, a)| a.map(|a| (rc.to_string(), a))).collect(),
        required_traits: g.required.iter().map(|s| names(s)).collect(),
        forbidden_traits: names(&g.forbidden),
        member_of: g.member_of.iter().map(|s| aggs(s)).collect(),
        forbidden_aggs: aggs(&g.forbidden_aggs),
        // 255 stands for a provider that does not exist.
        in_tree: g
            .in_tree
            .map(|t| if t == 255 || n == 0 { Uuid::from_u128(0xDEAD) } else { prov_uuid(t as usize % n) }),
    }
}

fn build_request(spec: &ReqSpec, n: usize) -> CandidatesRequest {
    let mut req = CandidatesRequest::new((1, 39));
    if let Some(g) = &spec.unsuffixed {
        let mut g = to_group("", g, n);
        if g.resources.is_empty() {
            g.resources.push(("R0".to_string(), 1));
        }
        req.groups.push(g);
    }
    let mut subtree = Vec::new();
    for (i, g) in spec.suffixed.iter().enumerate() {
        let suffix = format!("_G{i}");
        let mut g = to_group(&suffix, g, n);
        if g.resources.is_empty() && g.required_traits.is_empty() && g.member_of.is_empty() && i % 2 == 0 {
            g.resources.push(("R0".to_string(), 1));
        }
        if g.resources.is_empty() || spec.subtree.get(i).copied().unwrap_or(false) {
            subtree.push(suffix);
        }
        req.groups.push(g);
    }
    if subtree.len() > 1 || (subtree.len() == 1 && req.groups.iter().any(|g| g.resources.is_empty())) {
        req.same_subtrees.push(subtree);
    }
    if req.groups.is_empty() {
        req.groups.push(RequestGroup { resources: vec![("R1".to_string(), 1)], ..RequestGroup::default() });
    }
    req.group_policy = Some(if spec.isolate { GroupPolicy::Isolate } else { GroupPolicy::None });
    let trait_names = |v: &[u8]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in v {
            let s = TRAITS[*t as usize].to_string();
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    };
    req.root_required = trait_names(&spec.root_required);
    req.root_forbidden =
        trait_names(&spec.root_forbidden).into_iter().filter(|t| !req.root_required.contains(t)).collect();
    req
}

// ---------------------------------------------------------------------------
// Brute-force reference

struct World<'a> {
    ps: &'a [ProviderData],
    parent: Vec<Option<usize>>,
    root: Vec<usize>,
}

impl<'a> World<'a> {
    fn new(ps: &'a [ProviderData]) -> World<'a> {
        let parent: Vec<Option<usize>> =
            ps.iter().map(|p| p.parent_uuid.map(|u| ps.iter().position(|q| q.uuid == u).unwrap())).collect();
        let root = (0..ps.len())
            .map(|mut i| {
                while let Some(p) = parent[i] {
                    i = p;
                }
                i
            })
            .collect();
        World { ps, parent, root }
    }
    fn has_trait(&self, i: usize, t: &str) -> bool {
        self.ps[i].traits.iter().any(|x| x == t)
    }
    fn in_agg(&self, i: usize, a: &Uuid) -> bool {
        self.ps[i].aggregates.contains(a)
    }
    fn inv(&self, i: usize, rc: &str) -> Option<&InventoryData> {
        self.ps[i].inventories.iter().find(|x| x.resource_class == rc)
    }
    fn cap(inv: &InventoryData) -> i64 {
        ((inv.total - inv.reserved) as f64 * inv.allocation_ratio) as i64
    }
    fn fits(inv: &InventoryData, amount: i64) -> bool {
        inv.min_unit <= amount
            && amount <= inv.max_unit
            && inv.step_size > 0
            && amount % inv.step_size == 0
            && inv.used + amount <= Self::cap(inv)
    }
    fn sharing(&self, i: usize) -> bool {
        self.has_trait(i, SHARING_TRAIT)
    }
    /// Roots of providers sharing an aggregate with `i`.
    fn shares_with(&self, i: usize, anchor: usize) -> bool {
        (0..self.ps.len())
            .any(|m| self.root[m] == anchor && self.ps[i].aggregates.iter().any(|a| self.ps[m].aggregates.contains(a)))
    }
    fn is_ancestor_or_self(&self, anc: usize, mut p: usize) -> bool {
        loop {
            if p == anc {
                return true;
            }
            match self.parent[p] {
                Some(q) => p = q,
                None => return false,
            }
        }
    }
    fn member_ok(&self, g: &RequestGroup, i: usize) -> bool {
        g.member_of.iter().all(|any| any.iter().any(|a| self.in_agg(i, a)))
    }
    fn forbidden_agg(&self, g: &RequestGroup, i: usize) -> bool {
        g.forbidden_aggs.iter().any(|a| self.in_agg(i, a))
    }
}

type Cand = (Vec<(u32, String, i64)>, Vec<(u32, u32)>);

fn reference(ps: &[ProviderData], req: &CandidatesRequest) -> BTreeSet<Cand> {
    let w = World::new(ps);
    let n = ps.len();
    let mut out = BTreeSet::new();
    // Whole-request short cuts upstream takes.
    let mut tree_roots: Vec<Option<usize>> = Vec::new();
    for g in &req.groups {
        match &g.in_tree {
            None => tree_roots.push(None),
            Some(u) => match ps.iter().position(|p| p.uuid == *u) {
                None => return out,
                Some(i) => tree_roots.push(Some(w.root[i])),
            },
        }
        if g.use_same_provider() && g.resources.is_empty() && g.required_traits.is_empty() && g.member_of.is_empty() {
            return out;
        }
    }
    let anchor_ok = |a: usize| {
        w.parent[a].is_none()
            && req.root_required.iter().all(|t| w.has_trait(a, t))
            && !req.root_forbidden.iter().any(|t| w.has_trait(a, t))
    };
    // Levels: (group, Some(rc index in group) | None).
    let mut levels: Vec<(usize, Option<usize>)> = Vec::new();
    for (gi, g) in req.groups.iter().enumerate() {
        if g.use_same_provider() {
            levels.push((gi, None));
        } else {
            for ri in 0..g.resources.len() {
                levels.push((gi, Some(ri)));
            }
        }
    }
    let nl = levels.len();
    let mut roots: Vec<usize> = w.root.clone();
    roots.sort_unstable();
    roots.dedup();
    for &a in &roots {
        let level_ok = |l: usize, p: usize| -> bool {
            let (gi, ri) = levels[l];
            let g = &req.groups[gi];
            let tree_root = tree_roots[gi];
            match ri {
                Some(ri) => {
                    let (rc, amount) = &g.resources[ri];
                    let Some(inv) = w.inv(p, rc) else { return false };
                    if !World::fits(inv, *amount) || tree_root.is_some_and(|t| w.root[p] != t) {
                        return false;
                    }
                    if g.forbidden_traits.iter().any(|t| w.has_trait(p, t)) {
                        return false;
                    }
                    let own = w.root[p] == a;
                    let shared = w.sharing(p)
                        && tree_root.is_none()
                        && (g.member_of.is_empty() || w.member_ok(g, p))
                        && w.shares_with(p, a);
                    (own || shared)
                        && anchor_ok(a)
                        && (g.member_of.is_empty() || w.member_ok(g, p) || w.member_ok(g, a))
                        && !w.forbidden_agg(g, p)
                        && !w.forbidden_agg(g, a)
                }
                None => {
                    let all_fit =
                        g.resources.iter().all(|(rc, amount)| w.inv(p, rc).is_some_and(|i| World::fits(i, *amount)));
                    let eligible = all_fit
                        && (g.resources.is_empty() || tree_root.is_none_or(|t| w.root[p] == t))
                        && g.required_traits.iter().all(|any| any.iter().any(|t| w.has_trait(p, t)))
                        && !g.forbidden_traits.iter().any(|t| w.has_trait(p, t))
                        && w.member_ok(g, p)
                        && !w.forbidden_agg(g, p);
                    eligible && anchor_ok(a) && (w.root[p] == a || (w.sharing(p) && w.shares_with(p, a)))
                }
            }
        };
        if nl == 0 {
            continue;
        }
        let mut choice = vec![0usize; nl];
        'odometer: loop {
            if choice.iter().enumerate().all(|(l, &p)| level_ok(l, p)) {
                if let Some(c) = check_combo(&w, req, &levels, &choice) {
                    out.insert(c);
                }
            }
            let mut l = 0;
            loop {
                choice[l] += 1;
                if choice[l] < n {
                    break;
                }
                choice[l] = 0;
                l += 1;
                if l == nl {
                    break 'odometer;
                }
            }
        }
    }
    out
}

fn check_combo(
    w: &World,
    req: &CandidatesRequest,
    levels: &[(usize, Option<usize>)],
    choice: &[usize],
) -> Option<Cand> {
    // Unsuffixed required traits, collectively.
    for (gi, g) in req.groups.iter().enumerate() {
        if g.use_same_provider() {
            continue;
        }
        let chosen: Vec<usize> = levels.iter().zip(choice).filter(|((g2, _), _)| *g2 == gi).map(|(_, p)| *p).collect();
        if !g.required_traits.iter().all(|any| any.iter().any(|t| chosen.iter().any(|&p| w.has_trait(p, t)))) {
            return None;
        }
    }
    if req.group_policy == Some(GroupPolicy::Isolate) {
        let sfx: Vec<usize> = levels
            .iter()
            .zip(choice)
            .filter(|((gi, _), _)| req.groups[*gi].use_same_provider())
            .map(|(_, p)| *p)
            .collect();
        let set: BTreeSet<usize> = sfx.iter().copied().collect();
        if set.len() != sfx.len() {
            return None;
        }
    }
    for st in &req.same_subtrees {
        let provs: BTreeSet<usize> = levels
            .iter()
            .zip(choice)
            .filter(|((gi, _), _)| st.contains(&req.groups[*gi].suffix))
            .map(|(_, p)| *p)
            .collect();
        if provs.len() > 1 && !provs.iter().any(|&c| provs.iter().all(|&x| w.is_ancestor_or_self(c, x))) {
            return None;
        }
    }
    let mut sums: Vec<(u32, String, i64)> = Vec::new();
    for (&(gi, ri), &p) in levels.iter().zip(choice) {
        let g = &req.groups[gi];
        let contrib: Vec<&(String, i64)> = match ri {
            Some(ri) => vec![&g.resources[ri]],
            None => g.resources.iter().collect(),
        };
        for (rc, amount) in contrib {
            match sums.iter_mut().find(|(q, r, _)| *q == p as u32 && r == rc) {
                Some(e) => e.2 += amount,
                None => sums.push((p as u32, rc.clone(), *amount)),
            }
        }
    }
    for (p, rc, total) in &sums {
        let inv = w.inv(*p as usize, rc).unwrap();
        if inv.used + total > World::cap(inv) || *total > inv.max_unit {
            return None;
        }
    }
    sums.sort();
    let mut mappings: Vec<(u32, u32)> = levels.iter().zip(choice).map(|((gi, _), p)| (*gi as u32, *p as u32)).collect();
    mappings.sort();
    mappings.dedup();
    Some((sums, mappings))
}

fn engine_set(snap: &Snapshot, c: &Candidates) -> (BTreeSet<Cand>, usize) {
    let set: BTreeSet<Cand> = c
        .allocation_requests()
        .map(|a| {
            let mut r: Vec<(u32, String, i64)> = a
                .resources
                .iter()
                .map(|x| (x.provider, snap.resource_class_name(x.resource_class).to_string(), x.amount))
                .collect();
            r.sort();
            (r, a.mappings.iter().map(|m| (m.group, m.provider)).collect())
        })
        .collect();
    (set, c.len())
}

fn snapshot(ps: &[ProviderData]) -> Snapshot {
    Snapshot::new(ps.to_vec(), TRAITS.iter().copied(), RCS.iter().copied()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, .. ProptestConfig::default() })]

    #[test]
    fn engine_matches_brute_force(specs in prop::collection::vec(prov_spec(), 1..8), rs in req_spec()) {
        let ps = build_providers(&specs);
        let req = build_request(&rs, ps.len());
        let snap = snapshot(&ps);
        let c = find_candidates(&snap, &req, &Options::upstream()).unwrap();
        let (got, n) = engine_set(&snap, &c);
        prop_assert_eq!(n, got.len(), "duplicate candidates");
        let want = reference(&ps, &req);
        prop_assert_eq!(&got, &want);

        // Summaries: every provider of every tree a candidate takes from.
        let w = World::new(&ps);
        let roots: BTreeSet<usize> = got.iter().flat_map(|(r, _)| r.iter().map(|x| w.root[x.0 as usize])).collect();
        let want_sum: Vec<u32> = (0..ps.len()).filter(|i| roots.contains(&w.root[*i])).map(|i| i as u32).collect();
        prop_assert_eq!(&c.provider_summaries, &want_sum);

        // Breadth-first finds the same set.
        let bf = Options { strategy: GenerationStrategy::BreadthFirst, ..Options::upstream() };
        let (got_bf, _) = engine_set(&snap, &find_candidates(&snap, &req, &bf).unwrap());
        prop_assert_eq!(&got_bf, &want);
    }

    #[test]
    fn bounds_return_subsets(
        specs in prop::collection::vec(prov_spec(), 1..8),
        rs in req_spec(),
        max in 0i64..4,
        limit in 1u64..4,
        randomize in any::<bool>(),
        breadth in any::<bool>(),
    ) {
        let ps = build_providers(&specs);
        let mut req = build_request(&rs, ps.len());
        let snap = snapshot(&ps);
        let all = reference(&ps, &req);
        let strategy = if breadth { GenerationStrategy::BreadthFirst } else { GenerationStrategy::DepthFirst };
        let opts = Options { max_allocation_candidates: max, strategy, randomize, seed: Some(3) };
        let (got, n) = engine_set(&snap, &find_candidates(&snap, &req, &opts).unwrap());
        prop_assert_eq!(n, got.len());
        prop_assert!(got.is_subset(&all));
        prop_assert_eq!(got.len(), all.len().min(max.max(1) as usize));

        req.limit = Some(limit);
        let opts = Options { randomize, seed: Some(5), ..Options::upstream() };
        let c = find_candidates(&snap, &req, &opts).unwrap();
        let (got, _) = engine_set(&snap, &c);
        prop_assert!(got.is_subset(&all));
        prop_assert_eq!(got.len(), all.len().min(limit as usize));
        let w = World::new(&ps);
        let roots: BTreeSet<usize> = got.iter().flat_map(|(r, _)| r.iter().map(|x| w.root[x.0 as usize])).collect();
        let want_sum: Vec<u32> = (0..ps.len()).filter(|i| roots.contains(&w.root[*i])).map(|i| i as u32).collect();
        prop_assert_eq!(&c.provider_summaries, &want_sum);
    }

    #[test]
    fn old_microversions_use_one_provider_per_tree(
        specs in prop::collection::vec(prov_spec(), 1..8),
        rs in req_spec(),
    ) {
        let ps = build_providers(&specs);
        let mut req = build_request(&rs, ps.len());
        req.microversion = (1, 28);
        let snap = snapshot(&ps);
        let c = find_candidates(&snap, &req, &Options::upstream()).unwrap();
        let (got, _) = engine_set(&snap, &c);
        let w = World::new(&ps);
        let all = reference(&ps, &req);
        let want: BTreeSet<Cand> = if snap.has_trees() {
            all.into_iter()
                .filter(|(r, _)| {
                    let provs: BTreeSet<u32> = r.iter().map(|x| x.0).collect();
                    let roots: BTreeSet<usize> = provs.iter().map(|p| w.root[*p as usize]).collect();
                    provs.len() == roots.len()
                })
                .collect()
        } else {
            all
        };
        prop_assert_eq!(&got, &want);
        let used: Vec<u32> = got.iter().flat_map(|(r, _)| r.iter().map(|x| x.0)).collect::<BTreeSet<_>>().into_iter().collect();
        if snap.has_trees() {
            prop_assert_eq!(&c.provider_summaries, &used);
        }
    }
}
