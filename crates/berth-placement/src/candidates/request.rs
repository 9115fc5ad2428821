//! A parsed `GET /allocation_candidates` query.

use uuid::Uuid;

/// How suffixed (granular) groups may share providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupPolicy {
    /// Suffixed groups may be satisfied by the same provider.
    None,
    /// Every suffixed group must be satisfied by a different provider.
    Isolate,
}

/// One request group: the unsuffixed one (`resources`, `required`, ...) or a
/// suffixed one (`resources1`, `required_NET`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RequestGroup {
    /// `""` for the unsuffixed group, else the suffix as written (`"1"`, `"_NET"`).
    pub suffix: String,
    /// Resource class name and amount (>= 1), in query order, one entry per class.
    pub resources: Vec<(String, i64)>,
    /// Conjunction of disjunctions: every inner list needs one of its traits.
    /// `required=A,B` gives `[[A],[B]]`; `required=in:A,B` gives `[[A,B]]`.
    pub required_traits: Vec<Vec<String>>,
    /// Traits no provider of this group may have (`required=!A`).
    pub forbidden_traits: Vec<String>,
    /// Conjunction of disjunctions of aggregates (`member_of=in:X,Y&member_of=Z`).
    pub member_of: Vec<Vec<Uuid>>,
    /// Aggregates no provider of this group may be in (`member_of=!X`, `!in:X,Y`).
    pub forbidden_aggs: Vec<Uuid>,
    /// `in_tree`: the group must be satisfied inside the tree of this provider.
    pub in_tree: Option<Uuid>,
}

impl RequestGroup {
    /// Suffixed groups must be satisfied by a single provider each.
    pub fn use_same_provider(&self) -> bool {
        !self.suffix.is_empty()
    }
}

/// Everything `GET /allocation_candidates` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidatesRequest {
    /// Microversion the request was made at.
    pub microversion: (u16, u16),
    /// Groups in order of the first query key naming them.
    pub groups: Vec<RequestGroup>,
    /// `limit` (first value when repeated).
    pub limit: Option<u64>,
    /// `group_policy` (first value when repeated).
    pub group_policy: Option<GroupPolicy>,
    /// `root_required` traits the root of each candidate's anchor tree must have.
    pub root_required: Vec<String>,
    /// `root_required=!X` traits the anchor root must not have.
    pub root_forbidden: Vec<String>,
    /// `same_subtree` values: suffixes (deduplicated, in query order).
    pub same_subtrees: Vec<Vec<String>>,
}

impl CandidatesRequest {
    /// A request at `microversion` with no groups and no request-wide options.
    pub fn new(microversion: (u16, u16)) -> CandidatesRequest {
        CandidatesRequest {
            microversion,
            groups: Vec::new(),
            limit: None,
            group_policy: None,
            root_required: Vec::new(),
            root_forbidden: Vec::new(),
            same_subtrees: Vec::new(),
        }
    }

    /// Whether the microversion is at least `(major, minor)`.
    pub fn at_least(&self, major: u16, minor: u16) -> bool {
        self.microversion >= (major, minor)
    }

    /// From 1.29 candidates may combine several providers of one tree; before
    /// that such candidates are dropped and summaries list only the providers
    /// used.
    pub fn nested_aware(&self) -> bool {
        self.at_least(1, 29)
    }

    /// Every resource class named by any group (provider summaries before 1.27
    /// list only these), in first-seen order.
    pub fn requested_resource_classes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for g in &self.groups {
            for (rc, _) in &g.resources {
                if !out.contains(&rc.as_str()) {
                    out.push(rc);
                }
            }
        }
        out
    }

    /// Index of the group with this suffix.
    pub fn group_index(&self, suffix: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.suffix == suffix)
    }
}
