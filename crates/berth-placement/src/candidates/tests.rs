//! Unit tests of parsing details and of search edge cases.

use uuid::Uuid;

use super::*;

fn q(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

fn parse(s: &str, minor: u16) -> CandidatesRequest {
    parse_query(&q(s), (1, minor)).unwrap_or_else(|e| panic!("{s}: {}", e.message))
}

fn err(s: &str, minor: u16) -> BadRequest {
    match parse_query(&q(s), (1, minor)) {
        Ok(r) => panic!("{s}: expected an error, got {r:?}"),
        Err(e) => e,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const AGG: &str = "7ea1c4d5-0d61-4ae5-9c1c-a3f0c7e7a0b1";

// ---------------------------------------------------------------------------
// Parsing

#[test]
fn parses_simple_resources() {
    let r = parse("resources=VCPU:1,MEMORY_MB:1024", 10);
    assert_eq!(r.groups.len(), 1);
    assert_eq!(r.groups[0].resources, vec![("VCPU".to_string(), 1), ("MEMORY_MB".to_string(), 1024)]);
    assert!(!r.groups[0].use_same_provider());
    assert_eq!(r.limit, None);
    assert_eq!(r.group_policy, None);
}

#[test]
fn resources_last_key_and_last_class_win() {
    let r = parse("resources=VCPU:1&resources=DISK_GB:5,VCPU:2,DISK_GB:7", 10);
    assert_eq!(r.groups[0].resources, vec![("DISK_GB".to_string(), 7), ("VCPU".to_string(), 2)]);
}

#[test]
fn amounts_are_python_ints() {
    let r = parse("resources=A: 5,B:+6,C:1_0", 10);
    assert_eq!(r.groups[0].resources, vec![("A".to_string(), 5), ("B".to_string(), 6), ("C".to_string(), 10)]);
    for bad in ["1__0", "_1", "1.0", "", "abc"] {
        let e = err(&format!("resources=VCPU:{bad}"), 10);
        assert_eq!(e.message, format!("Requested resource VCPU expected positive integer amount. Got: {bad}."));
    }
    assert_eq!(err("resources=VCPU:0", 10).message, "Requested resource VCPU requires amount >= 1. Got: 0.");
    assert_eq!(err("resources=VCPU:-3", 10).message, "Requested resource VCPU requires amount >= 1. Got: -3.");
    assert!(err("resources=VCPU", 10).message.ends_with("Got: VCPU."));
    assert!(err("resources=VCPU:1:2", 10).message.ends_with("Got: VCPU:1:2."));
    assert!(err("resources=VCPU:1,", 10).message.ends_with("Got: ."));
    let huge = parse("resources=VCPU:99999999999999999999999", 10);
    assert_eq!(huge.groups[0].resources[0].1, i64::MAX);
}

#[test]
fn groups_in_order_of_first_key() {
    let r = parse("required1=HW_CPU_X86_AVX&resources=VCPU:1&resources1=VGPU:1", 25);
    let suffixes: Vec<&str> = r.groups.iter().map(|g| g.suffix.as_str()).collect();
    assert_eq!(suffixes, ["1", ""]);
    assert_eq!(r.group_index(""), Some(1));
    assert_eq!(r.groups[0].required_traits, vec![strings(&["HW_CPU_X86_AVX"])]);
}

#[test]
fn required_repetition_by_microversion() {
    let r = parse("resources=VCPU:1&required=A&required=B,!C", 38);
    assert_eq!(r.groups[0].required_traits, vec![strings(&["B"])]);
    assert_eq!(r.groups[0].forbidden_traits, strings(&["C"]));
    let r = parse("resources=VCPU:1&required=A&required=B,!C&required=in:D,E,D", 39);
    assert_eq!(r.groups[0].required_traits, vec![strings(&["A"]), strings(&["B"]), strings(&["D", "E"])]);
    let r = parse("resources=VCPU:1&required=!!FOO", 22);
    assert_eq!(r.groups[0].forbidden_traits, strings(&["FOO"]));
    assert!(r.groups[0].required_traits.is_empty());
}

#[test]
fn any_trait_errors() {
    let e = err("resources=VCPU:1&required=in:A,,B", 39);
    assert!(e.message.contains("in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: in:A,,B"), "{}", e.message);
    let e = err("resources=VCPU:1&required=in:A,!B", 39);
    assert!(e.message.contains("does not support forbidden traits. Got: in:A,!B"));
    // root_required never accepts the in: form.
    let e = err("resources=VCPU:1&root_required=in:A,B", 39);
    assert!(e.message.contains("only supported since microversion 1.39"));
}

#[test]
fn forbidden_conflicts() {
    let e = err("resources=VCPU:1&required=A,!A", 22);
    assert_eq!(
        e.message,
        "Conflicting required and forbidden traits found in the following traits keys: required: (A)"
    );
    let e =
        err("resources=VCPU:1&required=in:B,A&required=!A,!B&resources1=VCPU:1&required1=C,!C&group_policy=none", 39);
    assert_eq!(
        e.message,
        "Conflicting required and forbidden traits found in the following traits keys: required1: (C), required: (A, B)"
    );
    // Only one trait of an any-of set forbidden: no conflict.
    parse("resources=VCPU:1&required=in:A,B&required=!A", 39);
    // Before 1.22 the forbidden form is rejected instead.
    assert!(err("resources=VCPU:1&required=A,!A", 21).message.ends_with("Got: A,!A"));
}

#[test]
fn member_of_forms() {
    let plain = Uuid::parse_str(AGG).unwrap();
    let compact = AGG.replace('-', "").to_uppercase();
    let r = parse(&format!("resources=VCPU:1&member_of=in:{compact},{{{AGG}}}&member_of=urn:uuid:{AGG}"), 24);
    assert_eq!(r.groups[0].member_of, vec![vec![plain], vec![plain]]);
    let r = parse(&format!("resources=VCPU:1&member_of=!in:{AGG},{AGG}&member_of=!{AGG}"), 32);
    assert_eq!(r.groups[0].forbidden_aggs, vec![plain]);
    assert!(r.groups[0].member_of.is_empty());
    let e = err(&format!("resources=VCPU:1&member_of={AGG}&member_of=in:{AGG},nope"), 24);
    assert!(e.message.ends_with("to contain valid UUID(s). Got: nope"));
    let r = parse(&format!("resources1=VCPU:1&member_of1={AGG}&member_of1={AGG}"), 25);
    assert_eq!(r.groups[0].member_of, vec![vec![plain], vec![plain]]);
}

#[test]
fn member_of_suffix_in_messages() {
    // 1.24 allows repeated member_of; the suffixed message form is used
    // before that only for the unsuffixed key, which is all 1.21-1.23 allow.
    let e = err(&format!("resources=VCPU:1&member_of={AGG}&member_of={AGG}"), 21);
    assert_eq!(e.message, "Multiple member_of parameters are not supported");
    let e = err(&format!("resources1=VCPU:1&member_of1=!{AGG}"), 31);
    assert_eq!(e.message, "Forbidden member_of1 parameters are not supported in the specified microversion");
}

#[test]
fn request_wide_first_values() {
    let r = parse("resources=VCPU:1&limit=10&limit=1", 16);
    assert_eq!(r.limit, Some(10));
    let r = parse("resources1=VCPU:1&resources2=VCPU:1&group_policy=bogus&group_policy=none", 25);
    assert_eq!(r.group_policy, Some(GroupPolicy::None));
    let r = parse("resources1=VCPU:1&resources2=VCPU:1&group_policy=isolate&group_policy=none", 25);
    assert_eq!(r.group_policy, Some(GroupPolicy::Isolate));
    let r =
        parse("resources_A=VCPU:1&resources_B=VCPU:1&same_subtree= _A, _B,_A&same_subtree=_B&group_policy=none", 36);
    assert_eq!(r.same_subtrees, vec![strings(&["_A", "_B"]), strings(&["_B"])]);
    let r = parse("resources=VCPU:1&root_required=A,!B,A", 35);
    assert_eq!((r.root_required, r.root_forbidden), (strings(&["A"]), strings(&["B"])));
}

#[test]
fn schema_error_choice_and_text() {
    // `required` beats `additionalProperties` at the top level.
    let e = err("foo=1", 10);
    assert!(e.message.starts_with("Invalid query string parameters: 'resources' is a required property\n\n"));
    assert!(e.message.contains("Failed validating 'required' in schema:"));
    let e = err("resources=VCPU:1&b=1&a=2", 10);
    assert!(e.message.contains("Additional properties are not allowed ('a', 'b' were unexpected)"), "{}", e.message);
    // Top-level errors beat property errors; `limit` beats `group_policy`.
    let e = err("resources=VCPU:1&limit=x&foo=1", 25);
    assert!(e.message.contains("'foo' does not match any of the regexes: '^member_of([1-9][0-9]*)?$', '^required([1-9][0-9]*)?$', '^resources([1-9][0-9]*)?$'"), "{}", e.message);
    let e = err("resources=VCPU:1&limit=x&group_policy=y", 25);
    assert!(e.message.contains("'x' does not match '^[1-9][0-9]*$'"));
    assert!(e.message.contains("Failed validating 'pattern' in schema['properties']['limit']"));
    // Only the last value is validated by the schema.
    parse("resources=VCPU:1&limit=0&limit=1", 16);
    let e = err("resources=VCPU:1&limit=x&limit=1", 16);
    assert!(e.message.starts_with("Invalid query string parameters"));
    // Pattern keys by microversion.
    assert!(err("resources=VCPU:1&in_tree=x", 30).message.contains("'in_tree' does not match any of the regexes"));
    assert!(err("resources_X=VCPU:1", 32).message.contains("'resources_X' does not match any of the regexes"));
    assert!(err("resources=VCPU:1&same_subtree=_X", 35).message.contains("'same_subtree' does not match"));
}

#[test]
fn python_reprs() {
    assert_eq!(parse::py_repr("a'b"), "\"a'b\"");
    assert_eq!(parse::py_repr("a'b\""), "'a\\'b\"'");
    assert_eq!(parse::py_repr("x\ny"), "'x\\ny'");
}

#[test]
fn orphans_and_resourceless() {
    assert_eq!(
        err("resources=VCPU:1&required1=A", 35).message,
        "All traits parameters must be associated with resources.  Found the following orphaned traits keys: required1"
    );
    assert_eq!(err("resources=VCPU:1&required1=!A", 35).message, "All request groups must specify resources.");
    let r = parse("resources=VCPU:1&required_X=A&same_subtree=_X", 36);
    assert!(r.groups[1].resources.is_empty());
    let e = err("required=A&resources_X=VCPU:1", 36);
    assert_eq!(
        e.message,
        "Resourceless suffixed group request should be specified in `same_subtree` query param: bad group(s) - ['']."
    );
    assert_eq!(e.code, Some(codes::QUERYPARAM_BAD_VALUE));
    let e = err("group_policy=none", 36);
    assert_eq!(e.code, Some(codes::QUERYPARAM_MISSING_VALUE));
    assert_eq!(
        err("resources_X=VCPU:1&in_tree_X=nope", 36).message,
        "Invalid query string parameters: Expected 'in_tree' parameter to be a format of uuid. Got: nope"
    );
}

// ---------------------------------------------------------------------------
// Search edge cases

fn provider(i: u128, parent: Option<u128>, traits: &[&str], aggs: &[Uuid], invs: &[(&str, i64)]) -> ProviderData {
    ProviderData {
        uuid: Uuid::from_u128(i),
        name: format!("rp{i}"),
        generation: 0,
        parent_uuid: parent.map(Uuid::from_u128),
        traits: strings(traits),
        aggregates: aggs.to_vec(),
        inventories: invs
            .iter()
            .map(|(rc, total)| InventoryData {
                resource_class: rc.to_string(),
                total: *total,
                reserved: 0,
                min_unit: 1,
                max_unit: *total,
                step_size: 1,
                allocation_ratio: 1.0,
                used: 0,
            })
            .collect(),
    }
}

fn snap(ps: Vec<ProviderData>) -> Snapshot {
    Snapshot::new(ps, ["A", "B", SHARING_TRAIT], ["VCPU", "DISK_GB"]).unwrap()
}

fn find(s: &Snapshot, query: &str, minor: u16) -> Result<Candidates, CandidatesError> {
    find_candidates(s, &parse(query, minor), &Options::upstream())
}

#[test]
fn snapshot_validation_and_capacity() {
    let dup = vec![provider(1, None, &[], &[], &[]), provider(1, None, &[], &[], &[])];
    assert_eq!(Snapshot::new(dup, [""; 0], [""; 0]).unwrap_err(), SnapshotError::DuplicateUuid(Uuid::from_u128(1)));
    let orphan = vec![provider(1, Some(9), &[], &[], &[])];
    assert!(matches!(Snapshot::new(orphan, [""; 0], [""; 0]), Err(SnapshotError::UnknownParent { .. })));
    let cycle = vec![provider(1, Some(2), &[], &[], &[]), provider(2, Some(1), &[], &[], &[])];
    assert!(matches!(Snapshot::new(cycle, [""; 0], [""; 0]), Err(SnapshotError::ParentCycle(_))));

    let mut p = provider(1, None, &[], &[], &[("VCPU", 10)]);
    p.inventories[0].reserved = 1;
    p.inventories[0].allocation_ratio = 1.5;
    p.inventories[0].used = 3;
    let s = snap(vec![p, provider(2, Some(1), &[], &[], &[]), provider(3, Some(2), &[], &[], &[])]);
    let inv = &s.provider(0).inventories[0];
    assert_eq!(inv.capacity, 13);
    assert!(inv.fits(10) && !inv.fits(11));
    assert_eq!(s.provider(2).root, 0);
    assert_eq!(s.tree_members(0), [0, 1, 2]);
    assert!(s.tree_members(1).is_empty());
    assert!(s.has_trees());
    assert!(s.is_ancestor_or_self(0, 2) && s.is_ancestor_or_self(2, 2) && !s.is_ancestor_or_self(2, 1));
}

#[test]
fn empty_group_ends_search_before_later_errors() {
    let s = snap(vec![provider(1, None, &["A"], &[], &[("VCPU", 4)])]);
    // The unsuffixed group matches nothing: later unknown names are not looked at.
    assert_eq!(find(&s, "resources=VCPU:100&resources1=MCPU:1", 25).unwrap().len(), 0);
    assert_eq!(find(&s, "resources=VCPU:1&required=B&resources1=VCPU:1&required1=NOPE", 25).unwrap().len(), 0);
    assert_eq!(
        find(&s, "resources1=MCPU:1&resources=VCPU:100", 25).unwrap_err(),
        CandidatesError::ResourceClassNotFound("MCPU".into())
    );
    assert_eq!(find(&s, "resources=VCPU:1&required=NOPE", 17).unwrap_err().http_detail(), "No such trait(s): NOPE.");
    assert_eq!(
        find(&s, "resources=MCPU:1", 10).unwrap_err().http_detail(),
        "Invalid resource class in resources parameter: No such resource class MCPU."
    );
    // Unknown aggregate: nothing matches, before the unknown trait is seen.
    assert_eq!(find(&s, &format!("resources=VCPU:1&member_of={AGG}&required=NOPE"), 24).unwrap().len(), 0);
    // root_required traits are checked before anything else.
    assert!(find(&s, "resources=MCPU:1&root_required=NOPE", 35).unwrap_err().to_string().contains("NOPE"));
    // Unknown in_tree provider: empty.
    assert_eq!(find(&s, &format!("resources=VCPU:1&in_tree={AGG}"), 31).unwrap().len(), 0);
}

#[test]
fn resourceless_group_needs_a_positive_filter() {
    let s = snap(vec![provider(1, None, &["A"], &[], &[("VCPU", 4)])]);
    assert_eq!(find(&s, "resources_X=VCPU:1&required_Y=A&same_subtree=_X,_Y&group_policy=none", 36).unwrap().len(), 1);
    assert_eq!(find(&s, "resources_X=VCPU:1&required_Y=!B&same_subtree=_X,_Y&group_policy=none", 36).unwrap().len(), 0);
}

#[test]
fn randomize_limit_and_max() {
    let ps: Vec<ProviderData> = (1..=20).map(|i| provider(i, None, &[], &[], &[("VCPU", 4)])).collect();
    let s = snap(ps);
    let req = parse("resources=VCPU:1", 39);
    let plain = find_candidates(&s, &req, &Options::upstream()).unwrap();
    let order: Vec<u32> = plain.allocation_requests().map(|a| a.resources[0].provider).collect();
    assert_eq!(order, (0..20).collect::<Vec<u32>>());
    let shuffled =
        find_candidates(&s, &req, &Options { randomize: true, seed: Some(1), ..Options::upstream() }).unwrap();
    let mut got: Vec<u32> = shuffled.allocation_requests().map(|a| a.resources[0].provider).collect();
    assert_ne!(got, order);
    got.sort_unstable();
    assert_eq!(got, order);
    let mut limited = req.clone();
    limited.limit = Some(5);
    let c = find_candidates(&s, &limited, &Options { randomize: true, seed: Some(2), ..Options::upstream() }).unwrap();
    assert_eq!(c.len(), 5);
    let picked: Vec<u32> = c.allocation_requests().map(|a| a.resources[0].provider).collect();
    assert_eq!(c.provider_summaries, {
        let mut p = picked.clone();
        p.sort_unstable();
        p
    });
    assert_ne!(picked, [0, 1, 2, 3, 4]);
    // max_allocation_candidates = 0 still yields one candidate, like upstream.
    let c = find_candidates(&s, &req, &Options { max_allocation_candidates: 0, ..Options::upstream() }).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(Options::default().max_allocation_candidates, DEFAULT_MAX_ALLOCATION_CANDIDATES);
}

#[test]
fn sharing_only_candidates_are_deduplicated() {
    let agg = Uuid::parse_str(AGG).unwrap();
    let s = snap(vec![
        provider(1, None, &[], &[agg], &[("VCPU", 4)]),
        provider(2, None, &[], &[agg], &[("VCPU", 4)]),
        provider(3, None, &[SHARING_TRAIT], &[agg], &[("DISK_GB", 100)]),
    ]);
    let c = find(&s, "resources=DISK_GB:10", 39).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c.provider_summaries, [2]);
    let c = find(&s, "resources=VCPU:1,DISK_GB:10", 39).unwrap();
    assert_eq!(c.len(), 2);
    let c = find(&s, "resources=VCPU:1&resources1=DISK_GB:60&resources2=DISK_GB:50&group_policy=none", 39).unwrap();
    assert_eq!(c.len(), 0, "110 > 100 on the sharing provider");
    let c = find(&s, "resources=VCPU:1&resources1=DISK_GB:50&resources2=DISK_GB:50&group_policy=none", 39).unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c.get(0).amount(2, s.resource_class_id("DISK_GB").unwrap()), Some(100));
}
