//! Placement's microversion history, one line per version. The last entry is
//! the maximum this server speaks.

use berth_http::Version;

pub const SERVICE_TYPE: &str = "placement";
pub const MIN_VERSION: Version = Version::new(1, 0);
pub const MAX_VERSION: Version = Version::new(1, 39);

/// What each microversion added (for operators; handlers test versions with
/// `Version::at_least`).
pub const HISTORY: &[(u16, &str)] = &[
    (0, "initial API"),
    (1, "provider aggregates"),
    (2, "custom resource classes"),
    (3, "member_of on GET /resource_providers"),
    (4, "resources filter on GET /resource_providers"),
    (5, "DELETE all inventories of a provider"),
    (6, "traits"),
    (7, "bodiless PUT /resource_classes/{name}"),
    (8, "project_id and user_id required in PUT /allocations"),
    (9, "GET /usages"),
    (10, "GET /allocation_candidates"),
    (11, "allocations link on providers"),
    (12, "dict form of allocations in PUT and GET"),
    (13, "POST /allocations"),
    (14, "nested providers: parent and root, in_tree"),
    (15, "last-modified and cache-control"),
    (16, "limit on allocation candidates"),
    (17, "required traits on allocation candidates"),
    (18, "required traits on GET /resource_providers"),
    (19, "generation in provider aggregates"),
    (20, "POST /resource_providers returns the provider"),
    (21, "member_of on allocation candidates"),
    (22, "forbidden traits"),
    (23, "error codes in error bodies"),
    (24, "repeated member_of"),
    (25, "granular request groups"),
    (26, "reserved may equal total"),
    (27, "all inventories in provider summaries"),
    (28, "consumer generations"),
    (29, "nested providers in allocation candidates"),
    (30, "POST /reshaper"),
    (31, "in_tree on allocation candidates"),
    (32, "forbidden aggregates"),
    (33, "arbitrary request group suffixes"),
    (34, "mappings in allocation requests"),
    (35, "root_required"),
    (36, "same_subtree and resourceless groups"),
    (37, "re-parenting providers"),
    (38, "consumer types"),
    (39, "any-of traits with in:"),
];

/// The message of a malformed version (400), as microversion-parse words
/// it: Python's `int()` error for the first part of `X.Y` that is not an
/// integer, or the complaint about a missing minor version.
pub fn invalid_version_message(s: &str) -> String {
    let why = match s.split_once('.') {
        None => match python_int(s) {
            Some(_) => "Version.__new__() missing 1 required positional argument: 'minor'".to_string(),
            None => int_error(s),
        },
        Some((a, b)) => match (python_int(a), python_int(b)) {
            (None, _) => int_error(a),
            (_, None) => int_error(b),
            _ => "not a version".to_string(),
        },
    };
    format!("Invalid microversion: invalid version string: {s}; {why}")
}

/// Python's `int(text)` (surrounding whitespace, a sign and `_` between
/// digits allowed), or `None` where it raises.
fn python_int(text: &str) -> Option<i64> {
    let t = text.trim_matches(|c: char| c.is_whitespace());
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    t.replace('_', "").parse().ok()
}

fn int_error(text: &str) -> String {
    format!("invalid literal for int() with base 10: {}", berth_placement::pyfmt::repr_str(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_contiguous_and_ends_at_max() {
        for (i, (minor, _)) in HISTORY.iter().enumerate() {
            assert_eq!(*minor as usize, i);
        }
        assert_eq!(HISTORY.last().unwrap().0, MAX_VERSION.minor);
    }
}
