//! The allocation-candidates search (upstream `AllocationCandidates.get_by_requests`).
//!
//! Each request group is turned into one or more *levels*: a sorted list of
//! `(anchor root, provider)` entries. A suffixed group is one level (its
//! provider gives all of its resources); the unsuffixed group is one level per
//! resource class (its classes may come from different providers of the anchor
//! tree, or from sharing providers). Candidates are the combinations of one
//! entry per level with the same anchor, found by a depth-first search per
//! anchor that checks capacity of amounts summed over groups, `group_policy`,
//! the unsuffixed group's required traits and `same_subtree` as soon as the
//! levels they depend on are chosen. The search is lazy, so
//! `max_allocation_candidates` bounds the work, not just the output.

use std::collections::HashSet;

use super::bitset::Bitset;
use super::request::{CandidatesRequest, GroupPolicy, RequestGroup};
use super::rng::Rng;
use super::snapshot::{ProviderIdx, RcId, Snapshot, TraitId};

/// Default of [`Options::max_allocation_candidates`] for berth: 100 000, the
/// "good initial value" upstream's documentation recommends. It bounds memory
/// and time of one request on wide, symmetric trees (whose combinations grow
/// exponentially) while staying far above what any realistic query returns
/// without a limit (the flat 10 000-provider benchmark returns 10 000).
/// Upstream's own default is -1 (unlimited), see [`Options::upstream`].
pub const DEFAULT_MAX_ALLOCATION_CANDIDATES: i64 = 100_000;

/// Order in which anchor trees are visited while generating candidates
/// (upstream `[placement]allocation_candidates_generation_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerationStrategy {
    /// All candidates of one anchor before the next one (upstream default).
    DepthFirst,
    /// One candidate of each anchor in turn.
    BreadthFirst,
}

/// Server-side settings of the search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Shuffle the candidates (sample when `limit` cuts them).
    pub randomize: bool,
    /// Stop generating after this many distinct candidates; -1 = no bound.
    pub max_allocation_candidates: i64,
    pub strategy: GenerationStrategy,
    /// Seed for `randomize` (None: seeded from the clock).
    pub seed: Option<u64>,
}

impl Options {
    /// Upstream Placement's defaults: no randomization, no bound, depth-first.
    pub fn upstream() -> Options {
        Options {
            randomize: false,
            max_allocation_candidates: -1,
            strategy: GenerationStrategy::DepthFirst,
            seed: None,
        }
    }
}

impl Default for Options {
    /// Upstream's defaults except `max_allocation_candidates`, which is
    /// [`DEFAULT_MAX_ALLOCATION_CANDIDATES`].
    fn default() -> Options {
        Options { max_allocation_candidates: DEFAULT_MAX_ALLOCATION_CANDIDATES, ..Options::upstream() }
    }
}

/// Errors upstream reports as 400 from the search itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CandidatesError {
    #[error("No such resource class {0}.")]
    ResourceClassNotFound(String),
    #[error("No such trait(s): {0}.")]
    TraitNotFound(String),
}

impl CandidatesError {
    /// The 400 error detail upstream's handler sends.
    pub fn http_detail(&self) -> String {
        match self {
            CandidatesError::ResourceClassNotFound(_) => {
                format!("Invalid resource class in resources parameter: {self}")
            }
            CandidatesError::TraitNotFound(_) => self.to_string(),
        }
    }
}

/// `amount` of `resource_class` taken from `provider`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceAmount {
    pub provider: ProviderIdx,
    pub resource_class: RcId,
    pub amount: i64,
}

/// `provider` satisfies (part of) request group number `group`
/// (an index into [`CandidatesRequest::groups`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mapping {
    pub group: u32,
    pub provider: ProviderIdx,
}

/// One allocation candidate: a view into [`Candidates`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AllocationRequest<'a> {
    /// Sorted by provider then resource class, one entry per pair (amounts
    /// of several groups on the same provider and class are summed).
    pub resources: &'a [ResourceAmount],
    /// Sorted by group then provider. Every group appears (a resourceless
    /// group only here); the unsuffixed group may map to several providers.
    pub mappings: &'a [Mapping],
}

impl<'a> AllocationRequest<'a> {
    /// Resources grouped by provider.
    pub fn by_provider(&self) -> impl Iterator<Item = (ProviderIdx, &'a [ResourceAmount])> + 'a {
        self.resources.chunk_by(|a, b| a.provider == b.provider).map(|c| (c[0].provider, c))
    }

    /// Mappings grouped by group index (each chunk lists that group's
    /// providers in `Mapping::provider`, ascending).
    pub fn mappings_by_group(&self) -> impl Iterator<Item = (u32, &'a [Mapping])> + 'a {
        self.mappings.chunk_by(|a, b| a.group == b.group).map(|c| (c[0].group, c))
    }

    /// Amount of `rc` taken from `provider`, if any.
    pub fn amount(&self, provider: ProviderIdx, rc: RcId) -> Option<i64> {
        self.resources.iter().find(|r| r.provider == provider && r.resource_class == rc).map(|r| r.amount)
    }
}

/// Where one candidate lives in the arenas of [`Candidates`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    res: u32,
    n_res: u32,
    map: u32,
    n_map: u32,
}

/// Candidates stored contiguously (two arenas and one span per candidate),
/// so a large answer costs a handful of allocations.
#[derive(Clone, Debug, Default)]
struct Arena {
    spans: Vec<Span>,
    resources: Vec<ResourceAmount>,
    mappings: Vec<Mapping>,
}

impl Arena {
    fn get(&self, s: Span) -> AllocationRequest<'_> {
        AllocationRequest {
            resources: &self.resources[s.res as usize..(s.res + s.n_res) as usize],
            mappings: &self.mappings[s.map as usize..(s.map + s.n_map) as usize],
        }
    }
}

/// Result of [`find_candidates`].
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    arena: Arena,
    /// Providers to describe in `provider_summaries`, ascending. From 1.29:
    /// every provider of every tree a candidate takes resources from; before:
    /// the providers candidates take resources from.
    pub provider_summaries: Vec<ProviderIdx>,
}

impl Candidates {
    /// Number of allocation requests.
    pub fn len(&self) -> usize {
        self.arena.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arena.spans.is_empty()
    }

    /// The `i`-th allocation request.
    pub fn get(&self, i: usize) -> AllocationRequest<'_> {
        self.arena.get(self.arena.spans[i])
    }

    /// The allocation requests, in answer order.
    pub fn allocation_requests(&self) -> impl ExactSizeIterator<Item = AllocationRequest<'_>> + '_ {
        self.arena.spans.iter().map(|s| self.arena.get(*s))
    }
}

/// Find allocation candidates for `req` in `snap`.
///
/// Errors only for names unknown to the snapshot, in the order upstream
/// checks them (root_required traits; then per group: resource classes,
/// required and forbidden traits). As upstream, a group that matches nothing
/// ends the search with an empty answer before later groups are checked.
pub fn find_candidates(
    snap: &Snapshot,
    req: &CandidatesRequest,
    opts: &Options,
) -> Result<Candidates, CandidatesError> {
    let Some(plan) = Plan::build(snap, req)? else {
        return Ok(Candidates::default());
    };
    let mut arena = plan.generate(opts);

    // Before 1.29 a candidate may not use two providers of one tree.
    let used_only = !req.nested_aware() && snap.has_trees();
    if used_only {
        let mut spans = std::mem::take(&mut arena.spans);
        spans.retain(|s| {
            let mut roots: Vec<ProviderIdx> = arena.get(*s).by_provider().map(|(p, _)| snap.root_of(p)).collect();
            let n = roots.len();
            roots.sort_unstable();
            roots.dedup();
            roots.len() == n
        });
        arena.spans = spans;
    }
    let used_before_limit: Vec<ProviderIdx> = if used_only { used_providers(&arena) } else { Vec::new() };

    let spans = &mut arena.spans;
    match req.limit {
        Some(limit) if limit > 0 && (limit as usize) < spans.len() => {
            if opts.randomize {
                Rng::new(opts.seed).partial_shuffle(spans, limit as usize);
            }
            spans.truncate(limit as usize);
        }
        _ => {
            if opts.randomize {
                let n = spans.len();
                Rng::new(opts.seed).partial_shuffle(spans, n);
            }
        }
    }

    let mut roots = Bitset::new(snap.len());
    for s in &arena.spans {
        for r in arena.get(*s).resources {
            roots.insert(snap.root_of(r.provider));
        }
    }
    let provider_summaries = if used_only {
        used_before_limit.into_iter().filter(|p| roots.contains(snap.root_of(*p))).collect()
    } else {
        let mut all: Vec<ProviderIdx> = Vec::new();
        let mut nested = false;
        for r in roots.iter() {
            let members = snap.tree_members(r);
            nested |= members.len() > 1;
            all.extend_from_slice(members);
        }
        if nested {
            all.sort_unstable();
        }
        all
    };
    Ok(Candidates { arena, provider_summaries })
}

fn used_providers(arena: &Arena) -> Vec<ProviderIdx> {
    let mut v: Vec<ProviderIdx> =
        arena.spans.iter().flat_map(|s| arena.get(*s).resources.iter().map(|r| r.provider)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// One level of the search: a choice of one provider per anchor.
struct Level {
    group: u32,
    /// What the chosen provider gives: one class for an unsuffixed level, all
    /// of the group's classes for a suffixed one (none if resourceless).
    contrib: Vec<(RcId, i64)>,
    /// (anchor root, provider), sorted.
    entries: Vec<(ProviderIdx, ProviderIdx)>,
}

struct Plan<'s> {
    snap: &'s Snapshot,
    levels: Vec<Level>,
    isolate: bool,
    /// Per level: the group is suffixed (isolate applies).
    suffixed: Vec<bool>,
    /// Per level: required traits of the unsuffixed group to check once this
    /// level is chosen, collectively over levels `start..=level`.
    trait_check: Vec<Option<(usize, Vec<Vec<TraitId>>)>>,
    /// Per level: same_subtree constraints (as level lists) complete at it.
    subtree_check: Vec<Vec<Vec<usize>>>,
    /// Deduplicate candidates made only of sharing providers (the only ones
    /// that can come out identical under two anchors).
    dedup: bool,
}

/// Filters of one group, resolved against the snapshot.
struct GroupFilter {
    rcs: Vec<(RcId, i64)>,
    required: Vec<Vec<TraitId>>,
    forbidden: Vec<TraitId>,
    member_of: Option<Bitset>,
    forbidden_aggs: Option<Bitset>,
    tree_root: Option<ProviderIdx>,
}

enum Resolved {
    Filter(GroupFilter),
    /// The group can match nothing: the whole answer is empty.
    Nothing,
}

fn resolve_traits(snap: &Snapshot, names: &[String]) -> Result<Vec<TraitId>, CandidatesError> {
    names.iter().map(|n| snap.trait_id(n).ok_or_else(|| CandidatesError::TraitNotFound(n.clone()))).collect()
}

fn resolve_group(snap: &Snapshot, g: &RequestGroup) -> Result<Resolved, CandidatesError> {
    let mut rcs = Vec::with_capacity(g.resources.len());
    for (name, amount) in &g.resources {
        let rc = snap.resource_class_id(name).ok_or_else(|| CandidatesError::ResourceClassNotFound(name.clone()))?;
        match rcs.iter_mut().find(|(r, _)| *r == rc) {
            Some(e) => e.1 = *amount,
            None => rcs.push((rc, *amount)),
        }
    }
    let member_of = if g.member_of.is_empty() {
        None
    } else {
        let mut acc: Option<Bitset> = None;
        for any in &g.member_of {
            let b = snap.members_of_any(any);
            match &mut acc {
                None => acc = Some(b),
                Some(a) => a.intersect_with(&b),
            }
        }
        let acc = acc.expect("member_of is not empty");
        if acc.is_empty() {
            return Ok(Resolved::Nothing);
        }
        Some(acc)
    };
    let mut required = Vec::with_capacity(g.required_traits.len());
    for any in &g.required_traits {
        required.push(resolve_traits(snap, any)?);
    }
    let forbidden = resolve_traits(snap, &g.forbidden_traits)?;
    let tree_root = match &g.in_tree {
        None => None,
        Some(u) => match snap.index_of(u) {
            None => return Ok(Resolved::Nothing),
            Some(p) => Some(snap.root_of(p)),
        },
    };
    let forbidden_aggs = if g.forbidden_aggs.is_empty() { None } else { Some(snap.members_of_any(&g.forbidden_aggs)) };
    Ok(Resolved::Filter(GroupFilter { rcs, required, forbidden, member_of, forbidden_aggs, tree_root }))
}

/// Whether resolving `g` could fail (names a class or trait the snapshot lacks).
fn may_fail(snap: &Snapshot, g: &RequestGroup) -> bool {
    g.resources.iter().any(|(rc, _)| snap.resource_class_id(rc).is_none())
        || g.required_traits.iter().flatten().any(|t| snap.trait_id(t).is_none())
        || g.forbidden_traits.iter().any(|t| snap.trait_id(t).is_none())
}

impl<'s> Plan<'s> {
    /// Resolve names and build every level. `Ok(None)`: the answer is empty.
    fn build(snap: &'s Snapshot, req: &CandidatesRequest) -> Result<Option<Plan<'s>>, CandidatesError> {
        if req.groups.is_empty() {
            return Ok(None);
        }
        let anchor_ok = if req.root_required.is_empty() && req.root_forbidden.is_empty() {
            None
        } else {
            let required = resolve_traits(snap, &req.root_required)?;
            let forbidden = resolve_traits(snap, &req.root_forbidden)?;
            let mut b = Bitset::new(snap.len());
            for p in 0..snap.len() as ProviderIdx {
                if snap.parent_of(p).is_none()
                    && required.iter().all(|t| snap.has_trait(p, *t))
                    && !snap.has_any_trait(p, &forbidden)
                {
                    b.insert(p);
                }
            }
            if b.is_empty() {
                return Ok(None);
            }
            Some(b)
        };

        let mut levels: Vec<Level> = Vec::new();
        let mut group_levels: Vec<(usize, usize)> = Vec::with_capacity(req.groups.len());
        let mut trait_checks: Vec<(usize, usize, Vec<Vec<TraitId>>)> = Vec::new();
        for (gi, g) in req.groups.iter().enumerate() {
            let f = match resolve_group(snap, g)? {
                Resolved::Nothing => return Ok(None),
                Resolved::Filter(f) => f,
            };
            let start = levels.len();
            let multi = !g.use_same_provider() && !f.rcs.is_empty();
            if multi {
                for &(rc, amount) in &f.rcs {
                    match unsuffixed_level(snap, &f, anchor_ok.as_ref(), gi as u32, rc, amount) {
                        Some(l) => levels.push(l),
                        None => return Ok(None),
                    }
                }
                let end = levels.len() - 1;
                if !f.required.is_empty() {
                    trait_checks.push((start, end, f.required.clone()));
                }
                // Upstream stops at the first group with no match, before
                // looking at later groups (whose names might not exist).
                if req.groups[gi + 1..].iter().any(|g| may_fail(snap, g)) {
                    let probe = Plan {
                        snap,
                        levels: levels.drain(start..).collect(),
                        isolate: false,
                        suffixed: vec![false; end + 1 - start],
                        trait_check: (start..=end)
                            .map(|l| (l == end && !f.required.is_empty()).then(|| (0, f.required.clone())))
                            .collect(),
                        subtree_check: vec![Vec::new(); end + 1 - start],
                        dedup: false,
                    };
                    if !probe.has_any_candidate() {
                        return Ok(None);
                    }
                    levels.extend(probe.levels);
                }
            } else if !g.use_same_provider() && (snap.has_trees() || snap.any_sharing()) {
                // A resourceless unsuffixed group (only possible when built
                // by hand): upstream's tree search finds nothing.
                return Ok(None);
            } else {
                match single_provider_level(snap, &f, anchor_ok.as_ref(), gi as u32) {
                    Some(l) => levels.push(l),
                    None => return Ok(None),
                }
            }
            group_levels.push((start, levels.len() - 1));
        }

        let n = levels.len();
        let mut suffixed = vec![false; n];
        for (gi, g) in req.groups.iter().enumerate() {
            if g.use_same_provider() {
                let (s, e) = group_levels[gi];
                suffixed[s..=e].iter_mut().for_each(|x| *x = true);
            }
        }
        let mut trait_check: Vec<Option<(usize, Vec<Vec<TraitId>>)>> = (0..n).map(|_| None).collect();
        for (s, e, r) in trait_checks {
            trait_check[e] = Some((s, r));
        }
        let mut subtree_check: Vec<Vec<Vec<usize>>> = vec![Vec::new(); n];
        for set in &req.same_subtrees {
            let mut lv: Vec<usize> = Vec::new();
            for suffix in set {
                if let Some(gi) = req.group_index(suffix) {
                    let (s, e) = group_levels[gi];
                    lv.extend(s..=e);
                }
            }
            lv.sort_unstable();
            lv.dedup();
            if let Some(&last) = lv.last() {
                subtree_check[last].push(lv);
            }
        }
        Ok(Some(Plan {
            snap,
            levels,
            isolate: req.group_policy == Some(GroupPolicy::Isolate),
            suffixed,
            trait_check,
            subtree_check,
            dedup: snap.any_sharing(),
        }))
    }

    /// Anchors present in every level, with each level's entry range.
    fn common_anchors(&self) -> (Vec<ProviderIdx>, Vec<(u32, u32)>) {
        let nl = self.levels.len();
        let mut pos = vec![0usize; nl];
        let mut anchors = Vec::new();
        let mut ranges = Vec::new();
        'outer: loop {
            let mut target = 0;
            for (l, level) in self.levels.iter().enumerate() {
                match level.entries.get(pos[l]) {
                    None => break 'outer,
                    Some(e) => target = target.max(e.0),
                }
            }
            let mut all = true;
            for (l, level) in self.levels.iter().enumerate() {
                let e = &level.entries;
                if e[pos[l]].0 < target {
                    pos[l] = gallop_to(e, pos[l], target);
                    if pos[l] >= e.len() {
                        break 'outer;
                    }
                }
                if e[pos[l]].0 != target {
                    all = false;
                }
            }
            if !all {
                continue;
            }
            anchors.push(target);
            for (l, level) in self.levels.iter().enumerate() {
                let e = &level.entries;
                let mut end = pos[l] + 1;
                while end < e.len() && e[end].0 == target {
                    end += 1;
                }
                ranges.push((pos[l] as u32, end as u32));
                pos[l] = end;
            }
        }
        (anchors, ranges)
    }

    /// Whether some anchor has at least one candidate.
    fn has_any_candidate(&self) -> bool {
        let (anchors, ranges) = self.common_anchors();
        let nl = self.levels.len();
        let mut dfs = Dfs::new(nl);
        let mut arena = Arena::default();
        (0..anchors.len()).any(|i| {
            dfs.reset(&ranges[i * nl..(i + 1) * nl]);
            dfs.next(self, &mut arena)
        })
    }

    fn generate(&self, opts: &Options) -> Arena {
        let (anchors, ranges) = self.common_anchors();
        let nl = self.levels.len();
        let max = opts.max_allocation_candidates;
        let mut arena = Arena::default();
        arena.spans.reserve(anchors.len());
        arena.mappings.reserve(anchors.len() * nl);
        arena.resources.reserve(anchors.len() * self.levels.iter().map(|l| l.contrib.len()).sum::<usize>());
        let mut seen: HashSet<(Vec<ResourceAmount>, Vec<Mapping>)> = HashSet::new();
        let snap = self.snap;
        let dedup = self.dedup;
        // Keeps or drops the candidate just built; true when generation must stop.
        let mut emit = |arena: &mut Arena| -> bool {
            let s = *arena.spans.last().expect("a candidate was just built");
            let a = arena.get(s);
            if dedup
                && a.mappings.iter().all(|m| snap.sharing(m.provider))
                && !seen.insert((a.resources.to_vec(), a.mappings.to_vec()))
            {
                arena.spans.pop();
                arena.resources.truncate(s.res as usize);
                arena.mappings.truncate(s.map as usize);
                return false;
            }
            max >= 0 && arena.spans.len() as i64 >= max
        };
        match opts.strategy {
            GenerationStrategy::DepthFirst => {
                let mut dfs = Dfs::new(nl);
                'anchors: for i in 0..anchors.len() {
                    dfs.reset(&ranges[i * nl..(i + 1) * nl]);
                    while dfs.next(self, &mut arena) {
                        if emit(&mut arena) {
                            break 'anchors;
                        }
                    }
                }
            }
            GenerationStrategy::BreadthFirst => {
                let mut active: Vec<Dfs> = (0..anchors.len())
                    .map(|i| {
                        let mut d = Dfs::new(nl);
                        d.reset(&ranges[i * nl..(i + 1) * nl]);
                        d
                    })
                    .collect();
                'rounds: while !active.is_empty() {
                    for d in active.iter_mut() {
                        if d.next(self, &mut arena) && emit(&mut arena) {
                            break 'rounds;
                        }
                    }
                    active.retain(|d| !d.done);
                }
            }
        }
        arena
    }
}

/// Entries of one resource class of the unsuffixed group (upstream
/// `get_trees_matching_all`): providers with capacity anchored at their own
/// root, plus sharing providers anchored at every tree they share with.
/// `None` when nothing qualifies.
fn unsuffixed_level(
    snap: &Snapshot,
    f: &GroupFilter,
    anchor_ok: Option<&Bitset>,
    group: u32,
    rc: RcId,
    amount: i64,
) -> Option<Level> {
    let ok = |p: ProviderIdx, a: ProviderIdx| {
        anchor_ok.is_none_or(|b| b.contains(a))
            && f.member_of.as_ref().is_none_or(|m| m.contains(p) || m.contains(a))
            && f.forbidden_aggs.as_ref().is_none_or(|m| !m.contains(p) && !m.contains(a))
    };
    let mut entries = Vec::with_capacity(snap.providers_with_rc(rc).len());
    for &(p, inv) in snap.providers_with_rc(rc) {
        if !snap.hot_inv(inv).fits(amount) {
            continue;
        }
        let root = snap.root_of(p);
        if f.tree_root.is_some_and(|t| root != t) {
            continue;
        }
        // A provider with a forbidden trait can never be part of a valid
        // combination of this group.
        if !f.forbidden.is_empty() && snap.has_any_trait(p, &f.forbidden) {
            continue;
        }
        if ok(p, root) {
            entries.push((root, p));
        }
        if snap.sharing(p) && f.tree_root.is_none() && f.member_of.as_ref().is_none_or(|m| m.contains(p)) {
            for &a in snap.sharing_anchors(p) {
                if a != root && ok(p, a) {
                    entries.push((a, p));
                }
            }
        }
    }
    if entries.is_empty() {
        return None;
    }
    entries.sort_unstable();
    Some(Level { group, contrib: vec![(rc, amount)], entries })
}

/// Entries of a suffixed group (upstream `get_provider_ids_matching` plus
/// `_alloc_candidates_single_provider`): providers that alone satisfy the
/// whole group, anchored at their root and, for sharing providers, at every
/// tree they share with. `None` when nothing qualifies.
fn single_provider_level(snap: &Snapshot, f: &GroupFilter, anchor_ok: Option<&Bitset>, group: u32) -> Option<Level> {
    let eligible = |p: ProviderIdx| {
        f.rcs.iter().all(|&(rc, amount)| snap.inv_of(p, rc).is_some_and(|i| i.fits(amount)))
            && (f.rcs.is_empty() || f.tree_root.is_none_or(|t| snap.root_of(p) == t))
            && f.required.iter().all(|any| snap.has_any_trait(p, any))
            && !snap.has_any_trait(p, &f.forbidden)
            && f.member_of.as_ref().is_none_or(|m| m.contains(p))
            && f.forbidden_aggs.as_ref().is_none_or(|m| !m.contains(p))
    };
    let candidates: Vec<ProviderIdx> =
        if let Some(&(rc, _)) = f.rcs.iter().min_by_key(|(rc, _)| snap.providers_with_rc(*rc).len()) {
            snap.providers_with_rc(rc).iter().map(|(p, _)| *p).collect()
        } else if let Some(first) = f.required.first() {
            // Resourceless group: upstream only finds providers through a
            // positive filter (required traits or member_of).
            let mut v: Vec<ProviderIdx> =
                first.iter().flat_map(|t| snap.providers_with_trait(*t).iter().copied()).collect();
            v.sort_unstable();
            v.dedup();
            v
        } else if let Some(m) = &f.member_of {
            m.iter().collect()
        } else {
            return None;
        };
    let mut entries = Vec::with_capacity(candidates.len());
    for p in candidates {
        if !eligible(p) {
            continue;
        }
        let root = snap.root_of(p);
        if anchor_ok.is_none_or(|b| b.contains(root)) {
            entries.push((root, p));
        }
        if snap.sharing(p) {
            for &a in snap.sharing_anchors(p) {
                if a != root && anchor_ok.is_none_or(|b| b.contains(a)) {
                    entries.push((a, p));
                }
            }
        }
    }
    if entries.is_empty() {
        return None;
    }
    entries.sort_unstable();
    let contrib = f.rcs.clone();
    Some(Level { group, contrib, entries })
}

/// First position at or after `from` whose anchor is >= `target`
/// (exponential then binary search).
fn gallop_to(e: &[(ProviderIdx, ProviderIdx)], from: usize, target: ProviderIdx) -> usize {
    let mut lo = from;
    let mut step = 1;
    let mut hi = from + 1;
    while hi < e.len() && e[hi].0 < target {
        lo = hi;
        hi += step;
        step *= 2;
    }
    let hi = hi.min(e.len());
    lo + e[lo..hi].partition_point(|x| x.0 < target)
}

/// Depth-first search over the levels for one anchor, resumable.
struct Dfs {
    ranges: Vec<(u32, u32)>,
    choice: Vec<u32>,
    chosen: Vec<ProviderIdx>,
    depth: usize,
    /// Summed amounts: (provider, class, amount).
    acc: Vec<(ProviderIdx, RcId, i64)>,
    /// Undo log: (index in acc, amount added, entry was new).
    ops: Vec<(u32, i64, bool)>,
    /// Per level: ops length before the level's choice was applied.
    marks: Vec<u32>,
    done: bool,
}

impl Dfs {
    fn new(nl: usize) -> Dfs {
        Dfs {
            ranges: vec![(0, 0); nl],
            choice: vec![0; nl],
            chosen: vec![0; nl],
            depth: 0,
            acc: Vec::new(),
            ops: Vec::new(),
            marks: vec![0; nl],
            done: nl == 0,
        }
    }

    fn reset(&mut self, ranges: &[(u32, u32)]) {
        self.ranges.copy_from_slice(ranges);
        self.choice.iter_mut().for_each(|c| *c = 0);
        self.depth = 0;
        self.acc.clear();
        self.ops.clear();
        self.done = self.ranges.is_empty();
    }

    /// Find the next candidate and append it to `arena`; false when done.
    fn next(&mut self, plan: &Plan<'_>, arena: &mut Arena) -> bool {
        let nl = plan.levels.len();
        while !self.done {
            if self.depth == nl {
                self.build(plan, arena);
                self.step_back();
                return true;
            }
            let d = self.depth;
            let (lo, hi) = self.ranges[d];
            let c = self.choice[d];
            if lo + c >= hi {
                if d == 0 {
                    self.done = true;
                    break;
                }
                self.choice[d] = 0;
                self.step_back();
                continue;
            }
            let p = plan.levels[d].entries[(lo + c) as usize].1;
            if self.apply(plan, d, p) {
                self.depth += 1;
            } else {
                self.choice[d] += 1;
            }
        }
        false
    }

    fn step_back(&mut self) {
        self.depth -= 1;
        let d = self.depth;
        self.undo_to(self.marks[d] as usize);
        self.choice[d] += 1;
    }

    fn undo_to(&mut self, mark: usize) {
        while self.ops.len() > mark {
            let (i, amount, new) = self.ops.pop().expect("ops above mark");
            if new {
                self.acc.pop();
            } else {
                self.acc[i as usize].2 -= amount;
            }
        }
    }

    /// Choose `p` at level `d`; false (and nothing changed) if that breaks a
    /// constraint.
    fn apply(&mut self, plan: &Plan<'_>, d: usize, p: ProviderIdx) -> bool {
        let mark = self.ops.len();
        self.marks[d] = mark as u32;
        if plan.isolate && plan.suffixed[d] && (0..d).any(|l| plan.suffixed[l] && self.chosen[l] == p) {
            return false;
        }
        for &(rc, amount) in &plan.levels[d].contrib {
            match self.acc.iter().position(|x| x.0 == p && x.1 == rc) {
                Some(i) => {
                    let total = self.acc[i].2 + amount;
                    let fits = plan.snap.inv_of(p, rc).is_some_and(|inv| inv.fits_total(total));
                    if !fits {
                        self.undo_to(mark);
                        return false;
                    }
                    self.acc[i].2 = total;
                    self.ops.push((i as u32, amount, false));
                }
                None => {
                    self.acc.push((p, rc, amount));
                    self.ops.push(((self.acc.len() - 1) as u32, amount, true));
                }
            }
        }
        self.chosen[d] = p;
        if let Some((start, required)) = &plan.trait_check[d] {
            let chosen = &self.chosen[*start..=d];
            let ok = required.iter().all(|any| chosen.iter().any(|&q| plan.snap.has_any_trait(q, any)));
            if !ok {
                self.undo_to(mark);
                return false;
            }
        }
        for set in &plan.subtree_check[d] {
            if !same_subtree(plan.snap, set.iter().map(|&l| self.chosen[l])) {
                self.undo_to(mark);
                return false;
            }
        }
        true
    }

    fn build(&self, plan: &Plan<'_>, arena: &mut Arena) {
        let res = arena.resources.len();
        arena.resources.extend(self.acc.iter().map(|&(provider, resource_class, amount)| ResourceAmount {
            provider,
            resource_class,
            amount,
        }));
        arena.resources[res..].sort_unstable();
        let map = arena.mappings.len();
        arena
            .mappings
            .extend(plan.levels.iter().zip(&self.chosen).map(|(l, &provider)| Mapping { group: l.group, provider }));
        let tail = &mut arena.mappings[map..];
        tail.sort_unstable();
        // Remove duplicates (the unsuffixed group may use one provider for
        // several classes).
        let mut w = 0;
        for r in 0..tail.len() {
            if r == 0 || tail[r] != tail[w - 1] {
                tail[w] = tail[r];
                w += 1;
            }
        }
        arena.mappings.truncate(map + w);
        arena.spans.push(Span {
            res: res as u32,
            n_res: (arena.resources.len() - res) as u32,
            map: map as u32,
            n_map: w as u32,
        });
    }
}

/// Upstream `_check_same_subtree`: one of the providers is an ancestor (or
/// self) of all the others.
fn same_subtree(snap: &Snapshot, providers: impl Iterator<Item = ProviderIdx>) -> bool {
    let mut v: Vec<ProviderIdx> = providers.collect();
    v.sort_unstable();
    v.dedup();
    if v.len() <= 1 {
        return true;
    }
    v.iter().any(|&c| v.iter().all(|&x| snap.is_ancestor_or_self(c, x)))
}
