//! Immutable, indexed, in-memory picture of every resource provider, built once
//! from plain data and then queried by [`find_candidates`](super::find_candidates).

use std::collections::HashMap;
use std::fmt;

use uuid::Uuid;

use super::bitset::Bitset;

/// Index of a provider inside a [`Snapshot`] (its position in the input list).
pub type ProviderIdx = u32;

/// Interned resource class of a [`Snapshot`]; its name is
/// [`Snapshot::resource_class_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RcId(pub(crate) u32);

/// Interned trait of a [`Snapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TraitId(pub(crate) u32);

/// Interned aggregate of a [`Snapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AggId(pub(crate) u32);

/// Providers with this trait share their inventory with every provider tree
/// that has a member in one of their aggregates.
pub const SHARING_TRAIT: &str = "MISC_SHARES_VIA_AGGREGATE";

/// One provider as loaded from storage: the input of [`Snapshot::new`].
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderData {
    pub uuid: Uuid,
    pub name: String,
    pub generation: i64,
    pub parent_uuid: Option<Uuid>,
    /// Trait names, in the order provider summaries should list them
    /// (upstream: ascending internal trait id).
    pub traits: Vec<String>,
    pub aggregates: Vec<Uuid>,
    pub inventories: Vec<InventoryData>,
}

/// One inventory record plus the current usage of that class on the provider.
#[derive(Clone, Debug, PartialEq)]
pub struct InventoryData {
    pub resource_class: String,
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
    /// Sum of all allocations of this class against this provider.
    pub used: i64,
}

/// An inventory of a provider inside a [`Snapshot`].
#[derive(Clone, Debug, PartialEq)]
pub struct Inventory {
    pub resource_class: RcId,
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
    pub used: i64,
    /// `int((total - reserved) * allocation_ratio)` as upstream computes it
    /// (float product, truncated toward zero).
    pub capacity: i64,
}

impl Inventory {
    /// Whether one request group may take `amount` of this inventory: the
    /// SQL filter of upstream's `get_providers_with_resource` (capacity,
    /// min_unit, max_unit, step_size).
    pub fn fits(&self, amount: i64) -> bool {
        amount >= self.min_unit
            && amount <= self.max_unit
            && self.step_size > 0
            && amount % self.step_size == 0
            && self.fits_total(amount)
    }

    /// Whether `amount` (possibly summed over several request groups) stays
    /// within capacity and max_unit: upstream's final `exceeds_capacity` check,
    /// which does not look at min_unit or step_size again.
    pub fn fits_total(&self, amount: i64) -> bool {
        (self.used as i128 + amount as i128) <= self.capacity as i128 && amount <= self.max_unit
    }
}

/// A provider inside a [`Snapshot`].
#[derive(Clone, Debug)]
pub struct Provider {
    pub uuid: Uuid,
    pub name: String,
    pub generation: i64,
    pub parent: Option<ProviderIdx>,
    pub root: ProviderIdx,
    /// Trait names in input order.
    pub traits: Vec<String>,
    pub aggregates: Vec<Uuid>,
    /// Sorted by resource class id.
    pub inventories: Vec<Inventory>,
    sharing: bool,
}

impl Provider {
    pub fn inventory(&self, rc: RcId) -> Option<&Inventory> {
        self.inventories.binary_search_by_key(&rc, |i| i.resource_class).ok().map(|i| &self.inventories[i])
    }

    /// Whether the provider has the `MISC_SHARES_VIA_AGGREGATE` trait.
    pub fn is_sharing(&self) -> bool {
        self.sharing
    }
}

/// The parts of an inventory the search reads, stored contiguously.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HotInv {
    pub(crate) rc: RcId,
    pub(crate) min_unit: i64,
    pub(crate) max_unit: i64,
    pub(crate) step_size: i64,
    pub(crate) used: i64,
    pub(crate) capacity: i64,
}

impl HotInv {
    /// Same as [`Inventory::fits`].
    #[inline]
    pub(crate) fn fits(&self, amount: i64) -> bool {
        amount >= self.min_unit
            && amount <= self.max_unit
            && self.step_size > 0
            && amount % self.step_size == 0
            && self.fits_total(amount)
    }

    /// Same as [`Inventory::fits_total`].
    #[inline]
    pub(crate) fn fits_total(&self, amount: i64) -> bool {
        (self.used as i128 + amount as i128) <= self.capacity as i128 && amount <= self.max_unit
    }
}

const NO_PARENT: u32 = u32::MAX;

/// Why a [`Snapshot`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("duplicate provider uuid {0}")]
    DuplicateUuid(Uuid),
    #[error("provider {child} names unknown parent {parent}")]
    UnknownParent { child: Uuid, parent: Uuid },
    #[error("provider {0} is part of a parent cycle")]
    ParentCycle(Uuid),
}

/// All providers, with indexes by resource class, trait, aggregate and tree.
/// Immutable; share it behind an `Arc`.
#[derive(Clone)]
pub struct Snapshot {
    providers: Vec<Provider>,
    by_uuid: HashMap<Uuid, ProviderIdx>,
    rc_names: Vec<String>,
    rc_ids: HashMap<String, RcId>,
    trait_names: Vec<String>,
    trait_ids: HashMap<String, TraitId>,
    agg_ids: HashMap<Uuid, AggId>,
    /// Per resource class: (provider, index in `inv_flat`), by provider.
    by_rc: Vec<Vec<(ProviderIdx, u32)>>,
    // Hot per-provider data, in flat arrays indexed by provider.
    roots: Vec<ProviderIdx>,
    parents: Vec<u32>,
    depths: Vec<u32>,
    sharing_bits: Bitset,
    trait_off: Vec<u32>,
    trait_flat: Vec<TraitId>,
    inv_off: Vec<u32>,
    inv_flat: Vec<HotInv>,
    /// Per trait: providers having it, ascending.
    by_trait: Vec<Vec<ProviderIdx>>,
    /// Per aggregate: member providers, ascending.
    by_agg: Vec<Vec<ProviderIdx>>,
    /// Per provider: its aggregates, sorted.
    agg_lists: Vec<Vec<AggId>>,
    /// Per sharing provider: roots of every provider sharing an aggregate
    /// with it (itself included), ascending.
    sharing_anchors: HashMap<ProviderIdx, Vec<ProviderIdx>>,
    /// Per root: every provider of its tree, ascending. Empty for non-roots.
    /// Providers grouped by root (ascending within a tree); the tree of root
    /// `r` is `tree_flat[tree_off[r]..tree_off[r + 1]]` (empty for non-roots).
    tree_off: Vec<u32>,
    tree_flat: Vec<ProviderIdx>,
    has_trees: bool,
    any_sharing: bool,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("providers", &self.providers.len())
            .field("resource_classes", &self.rc_names.len())
            .field("traits", &self.trait_names.len())
            .field("aggregates", &self.agg_ids.len())
            .finish()
    }
}

impl Snapshot {
    /// Build a snapshot. `providers` should be in ascending internal id
    /// (creation) order: it is the order of results. `known_traits` and
    /// `known_resource_classes` are every trait and class that exists (even
    /// unused ones); names used by providers are added automatically. Naming
    /// one that exists in neither makes `find_candidates` fail like upstream
    /// does for a name missing from its tables.
    pub fn new<T, R>(
        providers: Vec<ProviderData>,
        known_traits: T,
        known_resource_classes: R,
    ) -> Result<Snapshot, SnapshotError>
    where
        T: IntoIterator,
        T::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        let n = providers.len();
        let mut by_uuid = HashMap::with_capacity(n);
        for (i, p) in providers.iter().enumerate() {
            if by_uuid.insert(p.uuid, i as ProviderIdx).is_some() {
                return Err(SnapshotError::DuplicateUuid(p.uuid));
            }
        }
        let mut parents: Vec<Option<ProviderIdx>> = Vec::with_capacity(n);
        for p in &providers {
            parents.push(match p.parent_uuid {
                None => None,
                Some(pu) => Some(*by_uuid.get(&pu).ok_or(SnapshotError::UnknownParent { child: p.uuid, parent: pu })?),
            });
        }
        // Roots and depths, iteratively with memoisation.
        const UNSET: u32 = u32::MAX;
        let mut roots = vec![UNSET; n];
        let mut depths = vec![0u32; n];
        let mut chain = Vec::new();
        for start in 0..n {
            if roots[start] != UNSET {
                continue;
            }
            chain.clear();
            let mut cur = start;
            loop {
                if roots[cur] != UNSET {
                    break;
                }
                chain.push(cur);
                if chain.len() > n {
                    return Err(SnapshotError::ParentCycle(providers[start].uuid));
                }
                match parents[cur] {
                    None => {
                        roots[cur] = cur as u32;
                        depths[cur] = 0;
                        chain.pop();
                        break;
                    }
                    Some(pp) => cur = pp as usize,
                }
            }
            while let Some(c) = chain.pop() {
                let pp = parents[c].expect("chained providers have parents") as usize;
                roots[c] = roots[pp];
                depths[c] = depths[pp] + 1;
            }
        }

        let mut snap = Snapshot {
            providers: Vec::with_capacity(n),
            by_uuid,
            rc_names: Vec::new(),
            rc_ids: HashMap::new(),
            trait_names: Vec::new(),
            trait_ids: HashMap::new(),
            agg_ids: HashMap::new(),
            by_rc: Vec::new(),
            roots: roots.clone(),
            parents: parents.iter().map(|p| p.unwrap_or(NO_PARENT)).collect(),
            depths: depths.clone(),
            sharing_bits: Bitset::new(n),
            trait_off: Vec::with_capacity(n + 1),
            trait_flat: Vec::new(),
            inv_off: Vec::with_capacity(n + 1),
            inv_flat: Vec::new(),
            by_trait: Vec::new(),
            by_agg: Vec::new(),
            sharing_anchors: HashMap::new(),
            agg_lists: Vec::with_capacity(n),
            tree_off: Vec::new(),
            tree_flat: Vec::new(),
            has_trees: parents.iter().any(|p| p.is_some()),
            any_sharing: false,
        };
        for t in known_traits {
            snap.intern_trait(&t.into());
        }
        for rc in known_resource_classes {
            snap.intern_rc(&rc.into());
        }
        for (i, p) in providers.into_iter().enumerate() {
            let idx = i as ProviderIdx;
            let mut trait_ids: Vec<TraitId> = p.traits.iter().map(|t| snap.intern_trait(t)).collect();
            trait_ids.sort_unstable();
            trait_ids.dedup();
            let mut agg_ids: Vec<AggId> = p.aggregates.iter().map(|a| snap.intern_agg(*a)).collect();
            agg_ids.sort_unstable();
            agg_ids.dedup();
            let mut inventories: Vec<Inventory> = p
                .inventories
                .iter()
                .map(|inv| {
                    let rc = snap.intern_rc(&inv.resource_class);
                    let cap = ((inv.total.saturating_sub(inv.reserved)) as f64 * inv.allocation_ratio) as i64;
                    Inventory {
                        resource_class: rc,
                        total: inv.total,
                        reserved: inv.reserved,
                        min_unit: inv.min_unit,
                        max_unit: inv.max_unit,
                        step_size: inv.step_size,
                        allocation_ratio: inv.allocation_ratio,
                        used: inv.used,
                        capacity: cap,
                    }
                })
                .collect();
            inventories.sort_by_key(|i| i.resource_class);
            inventories.dedup_by_key(|i| i.resource_class);
            for t in &trait_ids {
                snap.by_trait[t.0 as usize].push(idx);
            }
            for a in &agg_ids {
                snap.by_agg[a.0 as usize].push(idx);
            }
            snap.inv_off.push(snap.inv_flat.len() as u32);
            for inv in &inventories {
                snap.by_rc[inv.resource_class.0 as usize].push((idx, snap.inv_flat.len() as u32));
                snap.inv_flat.push(HotInv {
                    rc: inv.resource_class,
                    min_unit: inv.min_unit,
                    max_unit: inv.max_unit,
                    step_size: inv.step_size,
                    used: inv.used,
                    capacity: inv.capacity,
                });
            }
            let sharing = snap.trait_ids.get(SHARING_TRAIT).is_some_and(|t| trait_ids.binary_search(t).is_ok());
            if sharing {
                snap.sharing_bits.insert(idx);
            }
            snap.any_sharing |= sharing;
            snap.trait_off.push(snap.trait_flat.len() as u32);
            snap.trait_flat.extend_from_slice(&trait_ids);
            snap.agg_lists.push(agg_ids);
            snap.providers.push(Provider {
                uuid: p.uuid,
                name: p.name,
                generation: p.generation,
                parent: parents[i],
                root: roots[i],
                traits: p.traits,
                aggregates: p.aggregates,
                inventories,
                sharing,
            });
        }
        snap.trait_off.push(snap.trait_flat.len() as u32);
        snap.inv_off.push(snap.inv_flat.len() as u32);
        // Trees: counting sort of providers by root.
        let mut off = vec![0u32; n + 1];
        for &r in &roots {
            off[r as usize + 1] += 1;
        }
        for i in 0..n {
            off[i + 1] += off[i];
        }
        let mut fill = off.clone();
        let mut flat = vec![0; n];
        for (i, &r) in roots.iter().enumerate() {
            flat[fill[r as usize] as usize] = i as ProviderIdx;
            fill[r as usize] += 1;
        }
        snap.tree_off = off;
        snap.tree_flat = flat;
        // Anchors of each sharing provider.
        for i in 0..n {
            if !snap.providers[i].sharing {
                continue;
            }
            let mut anchors = Vec::new();
            for a in &snap.agg_lists[i] {
                for &m in &snap.by_agg[a.0 as usize] {
                    anchors.push(roots[m as usize]);
                }
            }
            anchors.sort_unstable();
            anchors.dedup();
            snap.sharing_anchors.insert(i as ProviderIdx, anchors);
        }
        Ok(snap)
    }

    fn intern_trait(&mut self, name: &str) -> TraitId {
        if let Some(t) = self.trait_ids.get(name) {
            return *t;
        }
        let name = name.to_string();
        let id = TraitId(self.trait_names.len() as u32);
        self.trait_names.push(name.clone());
        self.trait_ids.insert(name, id);
        self.by_trait.push(Vec::new());
        id
    }

    fn intern_rc(&mut self, name: &str) -> RcId {
        if let Some(r) = self.rc_ids.get(name) {
            return *r;
        }
        let name = name.to_string();
        let id = RcId(self.rc_names.len() as u32);
        self.rc_names.push(name.clone());
        self.rc_ids.insert(name, id);
        self.by_rc.push(Vec::new());
        id
    }

    fn intern_agg(&mut self, uuid: Uuid) -> AggId {
        if let Some(a) = self.agg_ids.get(&uuid) {
            return *a;
        }
        let id = AggId(self.by_agg.len() as u32);
        self.agg_ids.insert(uuid, id);
        self.by_agg.push(Vec::new());
        id
    }

    /// The same graph with the usages replaced: every inventory's `used` is
    /// the amount given for its (provider, class), 0 when none is given.
    /// Amounts for providers or classes the graph does not have, or for a
    /// class the provider has no inventory of, are ignored (as a full build
    /// ignores usage without inventory). For a cache whose structure is
    /// current and only allocations changed: a copy, no rebuild.
    pub fn with_usages<'a>(&self, usages: impl IntoIterator<Item = (Uuid, &'a str, i64)>) -> Snapshot {
        let mut snap = self.clone();
        for p in &mut snap.providers {
            for inv in &mut p.inventories {
                inv.used = 0;
            }
        }
        for h in &mut snap.inv_flat {
            h.used = 0;
        }
        for (uuid, rc, used) in usages {
            let (Some(&idx), Some(&rc)) = (self.by_uuid.get(&uuid), self.rc_ids.get(rc)) else { continue };
            let p = &mut snap.providers[idx as usize];
            if let Ok(k) = p.inventories.binary_search_by_key(&rc, |i| i.resource_class) {
                p.inventories[k].used = used;
            }
            let (lo, hi) = (snap.inv_off[idx as usize] as usize, snap.inv_off[idx as usize + 1] as usize);
            for h in &mut snap.inv_flat[lo..hi] {
                if h.rc == rc {
                    h.used = used;
                }
            }
        }
        snap
    }

    pub fn len(&self) -> usize {
        self.providers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    pub fn provider(&self, idx: ProviderIdx) -> &Provider {
        &self.providers[idx as usize]
    }

    pub fn index_of(&self, uuid: &Uuid) -> Option<ProviderIdx> {
        self.by_uuid.get(uuid).copied()
    }

    pub fn resource_class_name(&self, rc: RcId) -> &str {
        &self.rc_names[rc.0 as usize]
    }

    pub fn resource_class_id(&self, name: &str) -> Option<RcId> {
        self.rc_ids.get(name).copied()
    }

    /// Whether any provider has a parent (upstream's `_has_provider_trees`).
    pub fn has_trees(&self) -> bool {
        self.has_trees
    }

    /// Every provider of the tree rooted at `root` (empty if it is no root).
    pub fn tree_members(&self, root: ProviderIdx) -> &[ProviderIdx] {
        &self.tree_flat[self.tree_off[root as usize] as usize..self.tree_off[root as usize + 1] as usize]
    }

    #[inline]
    pub(crate) fn root_of(&self, p: ProviderIdx) -> ProviderIdx {
        self.roots[p as usize]
    }

    #[inline]
    pub(crate) fn parent_of(&self, p: ProviderIdx) -> Option<ProviderIdx> {
        let q = self.parents[p as usize];
        (q != NO_PARENT).then_some(q)
    }

    #[inline]
    pub(crate) fn sharing(&self, p: ProviderIdx) -> bool {
        self.sharing_bits.contains(p)
    }

    #[inline]
    pub(crate) fn traits_of(&self, p: ProviderIdx) -> &[TraitId] {
        &self.trait_flat[self.trait_off[p as usize] as usize..self.trait_off[p as usize + 1] as usize]
    }

    #[inline]
    pub(crate) fn has_trait(&self, p: ProviderIdx, t: TraitId) -> bool {
        let ts = self.traits_of(p);
        if ts.len() <= 16 {
            ts.contains(&t)
        } else {
            ts.binary_search(&t).is_ok()
        }
    }

    #[inline]
    pub(crate) fn has_any_trait(&self, p: ProviderIdx, wanted: &[TraitId]) -> bool {
        wanted.iter().any(|t| self.has_trait(p, *t))
    }

    #[inline]
    pub(crate) fn hot_inv(&self, idx: u32) -> &HotInv {
        &self.inv_flat[idx as usize]
    }

    #[inline]
    pub(crate) fn inv_of(&self, p: ProviderIdx, rc: RcId) -> Option<&HotInv> {
        let invs = &self.inv_flat[self.inv_off[p as usize] as usize..self.inv_off[p as usize + 1] as usize];
        invs.iter().find(|i| i.rc == rc)
    }

    pub(crate) fn any_sharing(&self) -> bool {
        self.any_sharing
    }

    pub(crate) fn trait_id(&self, name: &str) -> Option<TraitId> {
        self.trait_ids.get(name).copied()
    }

    pub(crate) fn agg_id(&self, uuid: &Uuid) -> Option<AggId> {
        self.agg_ids.get(uuid).copied()
    }

    pub(crate) fn providers_with_rc(&self, rc: RcId) -> &[(ProviderIdx, u32)] {
        &self.by_rc[rc.0 as usize]
    }

    pub(crate) fn providers_with_trait(&self, t: TraitId) -> &[ProviderIdx] {
        &self.by_trait[t.0 as usize]
    }

    pub(crate) fn agg_members(&self, a: AggId) -> &[ProviderIdx] {
        &self.by_agg[a.0 as usize]
    }

    pub(crate) fn sharing_anchors(&self, p: ProviderIdx) -> &[ProviderIdx] {
        self.sharing_anchors.get(&p).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Providers that are members of at least one of `aggs` (unknown
    /// aggregates match nothing).
    pub(crate) fn members_of_any(&self, aggs: &[Uuid]) -> Bitset {
        let mut b = Bitset::new(self.len());
        for a in aggs {
            if let Some(id) = self.agg_id(a) {
                for &m in self.agg_members(id) {
                    b.insert(m);
                }
            }
        }
        b
    }

    /// Whether `anc` is `p` or one of its ancestors.
    pub(crate) fn is_ancestor_or_self(&self, anc: ProviderIdx, p: ProviderIdx) -> bool {
        let target_depth = self.depths[anc as usize];
        let mut cur = p;
        loop {
            let d = self.depths[cur as usize];
            if d < target_depth {
                return false;
            }
            if d == target_depth {
                return cur == anc;
            }
            match self.parent_of(cur) {
                Some(pp) => cur = pp,
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod with_usages_tests {
    use super::*;

    fn provider(n: u128, parent: Option<u128>, invs: &[(&str, i64, i64)]) -> ProviderData {
        ProviderData {
            uuid: Uuid::from_u128(n),
            name: format!("p{n}"),
            generation: 1,
            parent_uuid: parent.map(Uuid::from_u128),
            traits: vec!["HW_CPU_X86_AVX".into()],
            aggregates: vec![Uuid::from_u128(99)],
            inventories: invs
                .iter()
                .map(|(rc, total, used)| InventoryData {
                    resource_class: rc.to_string(),
                    total: *total,
                    reserved: 1,
                    min_unit: 1,
                    max_unit: *total,
                    step_size: 1,
                    allocation_ratio: 2.0,
                    used: *used,
                })
                .collect(),
        }
    }

    fn graph(used: [i64; 4]) -> Vec<ProviderData> {
        vec![
            provider(1, None, &[("VCPU", 8, used[0]), ("MEMORY_MB", 4096, used[1])]),
            provider(2, Some(1), &[("DISK_GB", 100, used[2])]),
            provider(3, None, &[("VCPU", 4, used[3])]),
        ]
    }

    fn usages(s: &Snapshot) -> Vec<(Vec<i64>, Vec<i64>)> {
        let cold =
            s.providers.iter().map(|p| p.inventories.iter().map(|i| i.used).collect()).collect::<Vec<Vec<i64>>>();
        let hot: Vec<i64> = s.inv_flat.iter().map(|h| h.used).collect();
        cold.into_iter().map(|c| (c, hot.clone())).collect()
    }

    #[test]
    fn patched_usages_equal_a_full_build() {
        let classes = ["VCPU", "MEMORY_MB", "DISK_GB", "CUSTOM_UNUSED"];
        let before = Snapshot::new(graph([0, 0, 0, 0]), Vec::<String>::new(), classes).unwrap();
        let want = Snapshot::new(graph([3, 1024, 0, 4]), Vec::<String>::new(), classes).unwrap();
        let got = before.with_usages([
            (Uuid::from_u128(1), "VCPU", 3),
            (Uuid::from_u128(1), "MEMORY_MB", 1024),
            (Uuid::from_u128(3), "VCPU", 4),
            // Ignored: no such provider, no inventory of the class, an
            // unknown class.
            (Uuid::from_u128(7), "VCPU", 5),
            (Uuid::from_u128(3), "DISK_GB", 9),
            (Uuid::from_u128(1), "CUSTOM_NOPE", 9),
        ]);
        assert_eq!(usages(&got), usages(&want));
        assert_eq!(usages(&before.with_usages([])), usages(&before), "no usage: every used is 0");
        // Everything else is the same graph.
        assert_eq!(got.len(), want.len());
        for (a, b) in got.providers().iter().zip(want.providers()) {
            assert_eq!(
                (a.uuid, a.parent, a.root, &a.traits, &a.aggregates),
                (b.uuid, b.parent, b.root, &b.traits, &b.aggregates)
            );
            let caps = |p: &Provider| p.inventories.iter().map(|i| (i.resource_class, i.capacity)).collect::<Vec<_>>();
            assert_eq!(caps(a), caps(b));
        }
        // A full build and a patched one answer the same question alike.
        let vcpu = got.resource_class_id("VCPU").unwrap();
        let free =
            |s: &Snapshot| s.providers().iter().map(|p| p.inventory(vcpu).map(|i| i.fits_total(6))).collect::<Vec<_>>();
        assert_eq!(free(&got), free(&want));
        assert_eq!(free(&got), vec![Some(true), None, Some(false)]);
    }
}
