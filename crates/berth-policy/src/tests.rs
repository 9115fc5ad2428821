//! Enforcer behaviour, mostly through Placement's rule table.

use crate::*;

const LIST: &str = "placement:resource_providers:list";

fn enforcer(new_defaults: bool) -> Enforcer {
    Enforcer::new(placement::defaults(), EnforcerConfig { enforce_new_defaults: new_defaults, enforce_scope: true })
}

fn target(project: &str) -> Target {
    [("project_id".to_string(), project.to_string())].into_iter().collect()
}

fn ok(e: &Enforcer, rule: &str, t: &Target, c: &Credentials) -> bool {
    match e.authorize(rule, t, c) {
        Ok(()) => true,
        Err(Denied::Unauthorized { .. }) => false,
        Err(other) => panic!("{rule}: unexpected {other:?}"),
    }
}

#[test]
fn resource_providers_list_by_role() {
    let admin = Credentials::project("admin", "admin", &["admin"]);
    let service = Credentials::project("nova", "service", &["service"]);
    let reader = Credentials::project("u", "p1", &["reader", "member"]);
    let nobody = Credentials::project("u", "p1", &[]);
    let t = target("p1");
    for new in [true, false] {
        let e = enforcer(new);
        assert!(ok(&e, LIST, &t, &admin), "admin, new={new}");
        assert!(ok(&e, LIST, &t, &service), "service, new={new}");
        assert!(!ok(&e, LIST, &t, &reader), "reader, new={new}");
        assert!(!ok(&e, LIST, &t, &nobody), "no roles, new={new}");
        // Role names are case-insensitive.
        assert!(ok(&e, LIST, &t, &Credentials::project("x", "y", &["ADMIN"])));
    }
}

#[test]
fn system_scope_is_refused_for_project_scoped_rules() {
    let sys_admin = Credentials::system("admin", &["admin", "member", "reader"]);
    for new in [true, false] {
        let e = enforcer(new);
        let err = e.authorize(LIST, &Target::new(), &sys_admin).unwrap_err();
        assert_eq!(
            err,
            Denied::InvalidScope { rule: LIST.into(), scope_types: vec![Scope::Project], token_scope: Scope::System }
        );
        assert_eq!(err.to_string(), format!("Policy does not allow {LIST} to be performed."));
        assert!(matches!(e.authorize("placement:usages", &target("p"), &sys_admin), Err(Denied::InvalidScope { .. })));
        // project_reader_api has no scope types: evaluated normally (the
        // system token has no project; legacy also accepts role:admin).
        assert_eq!(ok(&e, "project_reader_api", &target("p"), &sys_admin), !new);
        let mut sys_reader = Credentials::system("r", &["reader"]);
        sys_reader.project_id = Some("p".into());
        assert!(ok(&e, "project_reader_api", &target("p"), &sys_reader));
    }
    // Without scope enforcement, the check alone decides.
    let e = Enforcer::new(placement::defaults(), EnforcerConfig { enforce_new_defaults: true, enforce_scope: false });
    assert!(ok(&e, LIST, &Target::new(), &sys_admin));
    // A domain-scoped token is not project-scoped either.
    let mut dom = Credentials::project("admin", "p", &["admin"]);
    dom.domain_id = Some("d".into());
    assert!(matches!(
        enforcer(true).authorize(LIST, &Target::new(), &dom),
        Err(Denied::InvalidScope { token_scope: Scope::Domain, .. })
    ));
}

#[test]
fn reshaper_is_service_only_under_new_defaults() {
    let admin = Credentials::project("admin", "admin", &["admin"]);
    let service = Credentials::project("nova", "service", &["service"]);
    let t = Target::new();
    let rule = "placement:reshaper:reshape";
    assert!(ok(&enforcer(true), rule, &t, &service));
    assert!(!ok(&enforcer(true), rule, &t, &admin));
    // Legacy: service_api also accepts the deprecated `role:admin`.
    assert!(ok(&enforcer(false), rule, &t, &service));
    assert!(ok(&enforcer(false), rule, &t, &admin));
    assert_eq!(enforcer(false).rule("service_api"), Some("(role:service) or (role:admin)"));
    assert_eq!(enforcer(true).rule("service_api"), Some("role:service"));
    // admin_api has no deprecated rule.
    assert_eq!(enforcer(false).rule("admin_api"), Some("role:admin"));
}

#[test]
fn usages_match_the_target_project() {
    let reader = Credentials::project("u", "p1", &["reader"]);
    let member_only = Credentials::project("u", "p1", &["member"]);
    let admin = Credentials::project("admin", "admin", &["admin"]);
    let service = Credentials::project("nova", "service", &["service"]);
    let rule = "placement:usages";
    for new in [true, false] {
        let e = enforcer(new);
        assert!(ok(&e, rule, &target("p1"), &reader), "own project, new={new}");
        assert!(!ok(&e, rule, &target("p2"), &reader), "other project, new={new}");
        assert!(!ok(&e, rule, &Target::new(), &reader), "no project in target, new={new}");
        assert!(!ok(&e, rule, &target("p1"), &member_only), "member, new={new}");
        assert!(ok(&e, rule, &target("p2"), &admin), "admin, new={new}");
        assert!(ok(&e, rule, &target("p2"), &service), "service, new={new}");
    }
    // The per-provider usages rule is not project based.
    assert!(!ok(&enforcer(true), "placement:resource_providers:usages", &target("p1"), &reader));
}

#[test]
fn unknown_rules() {
    let e = enforcer(true);
    let admin = Credentials::project("admin", "admin", &["admin"]);
    assert_eq!(
        e.authorize("placement:nope", &Target::new(), &admin),
        Err(Denied::NotRegistered { rule: "placement:nope".into() })
    );
    assert!(!e.enforce("placement:nope", &Target::new(), &admin));
    // Defined only by the policy file: not registered, but usable by name
    // and by reference.
    let e = e.with_overrides_yaml("extra: role:admin\n").unwrap();
    assert!(matches!(e.authorize("extra", &Target::new(), &admin), Err(Denied::NotRegistered { .. })));
    assert!(e.enforce("extra", &Target::new(), &admin));
    assert!(e.check(&parse("rule:extra").unwrap(), &Target::new(), &admin));
    assert!(!e.check(&parse("rule:missing").unwrap(), &Target::new(), &admin));
}

#[test]
fn open_policy_overrides() {
    // Conformance `OpenPolicyFixture`: everything but admin_api is "@".
    let mut yaml = String::new();
    for d in placement::defaults() {
        if d.name != "admin_api" {
            yaml.push_str(&format!("\"{}\": \"@\"\n", d.name));
        }
    }
    let reader = Credentials::project("u", "p1", &["reader"]);
    for new in [true, false] {
        let e = enforcer(new).with_overrides_yaml(&yaml).unwrap();
        assert!(ok(&e, LIST, &Target::new(), &reader));
        assert!(ok(&e, "placement:reshaper:reshape", &Target::new(), &Credentials::default()));
        assert!(!ok(&e, "admin_api", &Target::new(), &reader));
        assert_eq!(e.rule(LIST), Some("@"));
        // Scope types still apply to overridden rules.
        assert!(matches!(
            e.authorize(LIST, &Target::new(), &Credentials::system("a", &[])),
            Err(Denied::InvalidScope { .. })
        ));
    }
}

#[test]
fn an_override_replaces_the_deprecated_fallback() {
    let admin = Credentials::project("admin", "admin", &["admin"]);
    let e = enforcer(false).with_overrides_yaml("admin_or_service_api: role:service").unwrap();
    assert!(!ok(&e, LIST, &Target::new(), &admin));
    assert_eq!(e.rule("admin_or_service_api"), Some("role:service"));
    // JSON works too, and a second file adds to the first.
    let e = e.with_overrides_yaml(r#"{"placement:resource_providers:list": "role:admin"}"#).unwrap();
    assert!(ok(&e, LIST, &Target::new(), &admin));
    assert_eq!(e.rule("admin_or_service_api"), Some("role:service"));
}

#[test]
fn deprecated_name_overrides() {
    static DEFAULTS: &[RuleDefault] = &[RuleDefault {
        name: "foo:new",
        check_str: "role:new",
        description: "test",
        operations: &[],
        scope_types: &[],
        deprecated_rule: Some(("foo:old", "role:old")),
    }];
    let c = |r: &str| Credentials::project("u", "p", &[r]);
    let t = Target::new();
    let strict = EnforcerConfig { enforce_new_defaults: true, enforce_scope: true };
    let legacy = EnforcerConfig { enforce_new_defaults: false, enforce_scope: true };

    let e = Enforcer::new(DEFAULTS, legacy);
    assert!(ok(&e, "foo:new", &t, &c("new")) && ok(&e, "foo:new", &t, &c("old")));
    let e = Enforcer::new(DEFAULTS, strict);
    assert!(ok(&e, "foo:new", &t, &c("new")) && !ok(&e, "foo:new", &t, &c("old")));

    // An override under the old name wins, even with new defaults.
    let e = Enforcer::new(DEFAULTS, strict).with_overrides_yaml("foo:old: role:custom").unwrap();
    assert!(ok(&e, "foo:new", &t, &c("custom")) && !ok(&e, "foo:new", &t, &c("new")));
    // ...unless it is the old default or points at the new rule.
    let e = Enforcer::new(DEFAULTS, strict).with_overrides_yaml("foo:old: role:old").unwrap();
    assert!(ok(&e, "foo:new", &t, &c("new")) && !ok(&e, "foo:new", &t, &c("old")));
    let e = Enforcer::new(DEFAULTS, strict).with_overrides_yaml("foo:old: rule:foo:new").unwrap();
    assert!(ok(&e, "foo:new", &t, &c("new")));
    // ...or the new name is overridden as well.
    let e = Enforcer::new(DEFAULTS, strict).with_overrides_yaml("foo:old: role:custom\nfoo:new: role:other").unwrap();
    assert!(ok(&e, "foo:new", &t, &c("other")) && !ok(&e, "foo:new", &t, &c("custom")));
}

#[test]
fn policy_file_errors() {
    let e = || enforcer(true);
    assert!(matches!(e().with_overrides_yaml("a: [b"), Err(PolicyError::Syntax(_))));
    assert!(matches!(e().with_overrides_yaml("- a"), Err(PolicyError::NotAMapping)));
    assert!(matches!(e().with_overrides_yaml("a: 3"), Err(PolicyError::InvalidValue { .. })));
    let err = e().with_overrides_yaml(&format!("{LIST}: \"role:admin or\"")).unwrap_err();
    assert!(matches!(&err, PolicyError::Parse { rule, error: ParseError::Structure(_), .. } if rule == LIST));
    assert!(e().with_overrides_yaml("").is_ok());
    assert!(e().with_overrides_yaml("# only a comment\n").is_ok());

    // Lenient loading keeps going; the broken rule denies, the broken word
    // alone is false.
    let admin = Credentials::project("admin", "admin", &["admin"]);
    let (e2, problems) = e()
        .with_overrides_yaml_lenient(&format!(
            "{LIST}: \"role:admin or\"\nplacement:traits:list: role:admin or admin\n"
        ))
        .unwrap();
    assert_eq!(problems.len(), 2);
    assert!(!ok(&e2, LIST, &Target::new(), &admin));
    assert!(ok(&e2, "placement:traits:list", &Target::new(), &admin));
}

#[test]
fn null_and_list_values() {
    let reader = Credentials::project("u", "p1", &["reader"]);
    let t = target("p1");
    let e = enforcer(true).with_overrides_yaml(&format!("{LIST}:\n")).unwrap();
    assert!(ok(&e, LIST, &t, &reader));
    // [[a, b], c] = (a and b) or c
    let e = enforcer(true)
        .with_overrides_yaml(&format!("{LIST}: [[\"role:reader\", \"project_id:%(project_id)s\"], \"role:admin\"]"))
        .unwrap();
    assert!(ok(&e, LIST, &t, &reader));
    assert!(!ok(&e, LIST, &target("p2"), &reader));
    assert!(ok(&e, LIST, &target("p2"), &Credentials::project("a", "b", &["admin"])));
    let e = enforcer(true).with_overrides_yaml(&format!("{LIST}: []")).unwrap();
    assert!(ok(&e, LIST, &t, &Credentials::default()));
    let e = enforcer(true).with_overrides_yaml(&format!("{LIST}: [[]]")).unwrap();
    assert!(!ok(&e, LIST, &t, &Credentials::project("a", "b", &["admin"])));
}

#[test]
fn default_rule_fallback() {
    let anyone = Credentials::project("u", "p", &[]);
    let e = enforcer(true).with_overrides_yaml(&format!("default: \"@\"\n{LIST}: rule:does_not_exist\n")).unwrap();
    assert!(ok(&e, LIST, &Target::new(), &anyone));
    assert!(e.enforce("whatever", &Target::new(), &anyone));
    let e = e.with_default_rule(None);
    assert!(!ok(&e, LIST, &Target::new(), &anyone));
}

#[test]
fn cycles_are_reported_and_deny() {
    let admin = Credentials::project("admin", "admin", &["admin"]);
    let e =
        enforcer(true).with_overrides_yaml(&format!("{LIST}: rule:a\na: rule:b or role:nobody\nb: rule:a\n")).unwrap();
    assert!(!ok(&e, LIST, &Target::new(), &admin));
    let problems = e.check_rules();
    assert!(problems.contains(&PolicyError::Cycle { rule: "a".into() }), "{problems:?}");
    let e = enforcer(true).with_overrides_yaml(&format!("{LIST}: rule:ghost")).unwrap();
    assert_eq!(e.check_rules(), vec![PolicyError::UndefinedReference { rule: LIST.into(), reference: "ghost".into() }]);
}

#[test]
fn placement_table_is_complete_and_consistent() {
    let defaults = placement::defaults();
    assert_eq!(defaults.len(), 38);
    let mut names: Vec<&str> = defaults.iter().map(|d| d.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), defaults.len(), "duplicate rule names");
    for d in defaults {
        assert!(parse(d.check_str).is_ok(), "{}", d.name);
        if d.name == "project_reader_api" {
            assert!(d.scope_types.is_empty());
        } else {
            assert_eq!(d.scope_types, &[Scope::Project], "{}", d.name);
        }
        if d.name.starts_with("placement:") {
            assert!(!d.operations.is_empty(), "{}", d.name);
            assert!(d.deprecated_rule.is_none(), "{}", d.name);
        }
    }
    // Every `rule:` reference resolves, under both settings.
    for new in [true, false] {
        let e = enforcer(new);
        assert_eq!(e.check_rules(), vec![], "new={new}");
        assert_eq!(e.rules().count(), 38);
        for (name, check) in e.rules() {
            let mut stack = vec![parse(check).unwrap()];
            while let Some(c) = stack.pop() {
                match c {
                    Check::Rule(r) => assert!(defaults.iter().any(|d| d.name == r), "{name} references missing {r}"),
                    Check::Not(c) => stack.push(*c),
                    Check::And(v) | Check::Or(v) => stack.extend(v),
                    _ => {}
                }
            }
        }
    }
    let ops: Vec<_> = defaults.iter().flat_map(|d| d.operations.iter()).collect();
    assert!(ops.contains(&&("PUT", "/resource_providers/{uuid}/inventories/{resource_class}")));
    assert!(ops.contains(&&("GET", "/usages")));
}
