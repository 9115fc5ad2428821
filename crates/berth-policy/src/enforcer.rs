//! Rule defaults, operator overrides and the [`Enforcer`] that authorizes
//! actions, following oslo.policy 6.x.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::eval::{evaluate, Credentials, RuleSource, Target};
use crate::parser::{parse_atom, parse_lenient, Check, ParseError};

/// Token scopes a rule may be restricted to (oslo's `scope_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    System,
    Project,
    Domain,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::System => "system",
            Scope::Project => "project",
            Scope::Domain => "domain",
        }
    }

    /// The scope of a request as oslo.policy decides it: system when
    /// `system_scope` is set (non-empty), else domain when `domain_id` is
    /// set, else project.
    pub fn of(creds: &Credentials) -> Scope {
        if creds.system_scope.as_deref().is_some_and(|s| !s.is_empty()) {
            Scope::System
        } else if creds.domain_id.as_deref().is_some_and(|s| !s.is_empty()) {
            Scope::Domain
        } else {
            Scope::Project
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule registered in code (oslo's `RuleDefault` / `DocumentedRuleDefault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDefault {
    pub name: &'static str,
    /// Default check string.
    pub check_str: &'static str,
    pub description: &'static str,
    /// The API operations guarded by the rule: `(method, path)`.
    pub operations: &'static [(&'static str, &'static str)],
    /// Scopes a request must have; empty means any scope.
    pub scope_types: &'static [Scope],
    /// The rule this one replaces: `(old name, old check string)`. While new
    /// defaults are not enforced, the old check is OR'd into the new one.
    pub deprecated_rule: Option<(&'static str, &'static str)>,
}

/// Enforcer options (`[oslo_policy]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnforcerConfig {
    /// `enforce_new_defaults`: when false, a rule with a deprecated rule of
    /// a different check string accepts either check.
    pub enforce_new_defaults: bool,
    /// When true (always the case in oslo.policy 6.x), a request whose
    /// scope is not in a rule's `scope_types` is refused with
    /// [`Denied::InvalidScope`]. When false, scope types are ignored.
    pub enforce_scope: bool,
}

impl Default for EnforcerConfig {
    /// oslo.policy 6.x defaults: new defaults enforced, scope checked.
    fn default() -> Self {
        EnforcerConfig { enforce_new_defaults: true, enforce_scope: true }
    }
}

/// A problem with a policy file or the rule set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy file is not valid YAML/JSON: {0}")]
    Syntax(String),
    #[error("policy file must be a mapping of rule names to check strings")]
    NotAMapping,
    #[error("policy rule {rule:?} has a value that is not a check string")]
    InvalidValue { rule: String },
    #[error("policy rule {rule:?} = {check:?}: {error}")]
    Parse { rule: String, check: String, error: ParseError },
    #[error("policy rule {rule:?} references undefined rule {reference:?}")]
    UndefinedReference { rule: String, reference: String },
    #[error("policy rule {rule:?} is part of a cyclical reference")]
    Cycle { rule: String },
}

/// Why [`Enforcer::authorize`] refused an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The action names no registered rule: a programming error (oslo's
    /// `PolicyNotRegistered`; Placement answers 500).
    #[error("Policy {rule} has not been registered")]
    NotRegistered { rule: String },
    /// The request's scope is not one of the rule's scope types (oslo's
    /// `InvalidScope`; Placement answers 403 with the message below).
    #[error("Policy does not allow {rule} to be performed.")]
    InvalidScope { rule: String, scope_types: Vec<Scope>, token_scope: Scope },
    /// The rule's check failed (oslo's `PolicyNotAuthorized`; 403).
    #[error("Policy does not allow {rule} to be performed.")]
    Unauthorized { rule: String },
}

impl Denied {
    /// The action that was refused.
    pub fn rule(&self) -> &str {
        match self {
            Denied::NotRegistered { rule } | Denied::InvalidScope { rule, .. } | Denied::Unauthorized { rule } => rule,
        }
    }
}

#[derive(Debug, Clone)]
struct Effective {
    check_str: String,
    check: Check,
}

/// An override from a policy file.
#[derive(Debug, Clone)]
struct FileRule {
    check_str: String,
    check: Check,
}

/// Authorizes actions against registered defaults plus operator overrides.
#[derive(Debug, Clone)]
pub struct Enforcer {
    config: EnforcerConfig,
    defaults: Vec<RuleDefault>,
    registered: HashMap<&'static str, usize>,
    file_rules: BTreeMap<String, FileRule>,
    /// Effective rules: registered ones in registration order, then
    /// file-only ones by name.
    order: Vec<String>,
    rules: HashMap<String, Effective>,
    default_rule: Option<String>,
}

impl Enforcer {
    /// Registers `defaults` (later duplicates of a name are ignored; use
    /// distinct names) and computes the effective rules.
    pub fn new(defaults: &[RuleDefault], config: EnforcerConfig) -> Self {
        let mut registered = HashMap::new();
        let mut kept = Vec::new();
        for d in defaults {
            if !registered.contains_key(d.name) {
                registered.insert(d.name, kept.len());
                kept.push(*d);
            }
        }
        let mut e = Enforcer {
            config,
            defaults: kept,
            registered,
            file_rules: BTreeMap::new(),
            order: Vec::new(),
            rules: HashMap::new(),
            default_rule: Some("default".to_string()),
        };
        e.rebuild();
        e
    }

    /// Applies a policy file (YAML, or JSON which YAML includes): a mapping
    /// of rule name to check string. Overrides apply over the defaults and
    /// may define extra rules for `rule:` references; calling this again
    /// adds to (and replaces same-named) earlier overrides. A `null` value
    /// means "always"; a list is oslo's legacy list-of-lists syntax.
    ///
    /// Any unparseable check string is an error. See
    /// [`Enforcer::with_overrides_yaml_lenient`] to load such a file the
    /// way oslo does (bad checks deny).
    pub fn with_overrides_yaml(self, yaml: &str) -> Result<Self, PolicyError> {
        let (e, mut problems) = self.with_overrides_yaml_lenient(yaml)?;
        match problems.is_empty() {
            true => Ok(e),
            false => Err(problems.swap_remove(0)),
        }
    }

    /// Like [`Enforcer::with_overrides_yaml`], but only a file that is not a
    /// mapping of names to check strings fails; checks that do not parse are
    /// loaded as oslo.policy does (the bad part denies) and reported.
    pub fn with_overrides_yaml_lenient(mut self, yaml: &str) -> Result<(Self, Vec<PolicyError>), PolicyError> {
        let doc: serde_yaml::Value = serde_yaml::from_str(yaml).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let map = match doc {
            serde_yaml::Value::Null => serde_yaml::Mapping::new(),
            serde_yaml::Value::Mapping(m) => m,
            _ => return Err(PolicyError::NotAMapping),
        };
        let mut parsed = Vec::new();
        let mut problems = Vec::new();
        for (k, v) in map {
            let name = match k {
                serde_yaml::Value::String(s) => s,
                _ => return Err(PolicyError::NotAMapping),
            };
            let (check_str, check, errors) = match v {
                serde_yaml::Value::Null => (String::new(), Check::True, Vec::new()),
                serde_yaml::Value::String(s) => {
                    let (c, errs) = parse_lenient(&s);
                    (s, c, errs)
                }
                serde_yaml::Value::Sequence(seq) => match parse_list_rule(&seq) {
                    Some((c, errs)) => (c.to_string(), c, errs),
                    None => return Err(PolicyError::InvalidValue { rule: name }),
                },
                _ => return Err(PolicyError::InvalidValue { rule: name }),
            };
            problems.extend(errors.into_iter().map(|error| PolicyError::Parse {
                rule: name.clone(),
                check: check_str.clone(),
                error,
            }));
            parsed.push((name, FileRule { check_str, check }));
        }
        self.file_rules.extend(parsed);
        self.rebuild();
        Ok((self, problems))
    }

    /// Sets the rule used in place of a missing rule (for `rule:NAME` and
    /// [`Enforcer::enforce`]) when a rule of that name exists; oslo's
    /// `policy_default_rule`, `"default"` unless changed. `None` disables.
    pub fn with_default_rule(mut self, name: Option<&str>) -> Self {
        self.default_rule = name.map(str::to_string);
        self
    }

    /// The options this enforcer was built with.
    pub fn config(&self) -> EnforcerConfig {
        self.config
    }

    /// The registered defaults, in registration order.
    pub fn defaults(&self) -> &[RuleDefault] {
        &self.defaults
    }

    /// Authorizes `rule` (which must be registered) for `creds` on
    /// `target`: checks the rule's scope types, then its effective check.
    pub fn authorize(&self, rule: &str, target: &Target, creds: &Credentials) -> Result<(), Denied> {
        let Some(&idx) = self.registered.get(rule) else {
            return Err(Denied::NotRegistered { rule: rule.to_string() });
        };
        let default = &self.defaults[idx];
        if self.config.enforce_scope && !default.scope_types.is_empty() {
            let token_scope = Scope::of(creds);
            if !default.scope_types.contains(&token_scope) {
                return Err(Denied::InvalidScope {
                    rule: rule.to_string(),
                    scope_types: default.scope_types.to_vec(),
                    token_scope,
                });
            }
        }
        let check = self.lookup(rule).unwrap_or(&Check::False);
        if self.check(check, target, creds) {
            Ok(())
        } else {
            Err(Denied::Unauthorized { rule: rule.to_string() })
        }
    }

    /// Evaluates any effective rule by name, registered or only defined in
    /// the policy file, without scope checks (oslo's `enforce` with a rule
    /// name). A missing rule is `false` (after the default rule fallback).
    pub fn enforce(&self, rule: &str, target: &Target, creds: &Credentials) -> bool {
        match self.lookup(rule) {
            Some(check) => self.check(check, target, creds),
            None => false,
        }
    }

    /// Evaluates a check tree (with `rule:` references resolved against
    /// this enforcer's rules), without scope checks.
    pub fn check(&self, check: &Check, target: &Target, creds: &Credentials) -> bool {
        let roles: Vec<String> = creds.roles.iter().map(|r| r.to_lowercase()).collect();
        evaluate(check, target, &creds.to_policy_values(), &roles, self, 0)
    }

    /// The effective rules as `(name, check string)`: registered rules in
    /// registration order, then rules only defined by overrides. Deprecated
    /// fallbacks show as `(new) or (old)`.
    pub fn rules(&self) -> impl Iterator<Item = (&str, &str)> {
        self.order.iter().map(|n| (n.as_str(), self.rules[n].check_str.as_str()))
    }

    /// The effective check string of one rule.
    pub fn rule(&self, name: &str) -> Option<&str> {
        self.rules.get(name).map(|e| e.check_str.as_str())
    }

    /// Looks for obviously broken rules, as oslo's `check_rules` does:
    /// references to undefined rules and cyclical references.
    pub fn check_rules(&self) -> Vec<PolicyError> {
        let mut out = Vec::new();
        for name in &self.order {
            let check = &self.rules[name].check;
            let mut refs = Vec::new();
            collect_refs(check, &mut refs);
            for r in refs {
                if !self.rules.contains_key(r) {
                    out.push(PolicyError::UndefinedReference { rule: name.clone(), reference: r.to_string() });
                }
            }
            let mut seen = BTreeSet::new();
            seen.insert(name.as_str());
            if self.has_cycle(check, &mut seen) {
                out.push(PolicyError::Cycle { rule: name.clone() });
            }
        }
        out
    }

    fn has_cycle<'a>(&'a self, check: &'a Check, seen: &mut BTreeSet<&'a str>) -> bool {
        let mut refs = Vec::new();
        collect_refs(check, &mut refs);
        for r in refs {
            if seen.contains(r) {
                return true;
            }
            if let Some(e) = self.rules.get(r) {
                seen.insert(r);
                if self.has_cycle(&e.check, seen) {
                    return true;
                }
                seen.remove(r);
            }
        }
        false
    }

    /// Recomputes the effective rules (oslo's `load_rules`).
    fn rebuild(&mut self) {
        self.order.clear();
        self.rules.clear();
        for d in &self.defaults {
            let eff = match self.file_rules.get(d.name) {
                Some(f) => Effective { check_str: f.check_str.clone(), check: f.check.clone() },
                None => self.default_effective(d),
            };
            self.order.push(d.name.to_string());
            self.rules.insert(d.name.to_string(), eff);
        }
        for (name, f) in &self.file_rules {
            if !self.registered.contains_key(name.as_str()) {
                self.order.push(name.clone());
                self.rules.insert(name.clone(), Effective { check_str: f.check_str.clone(), check: f.check.clone() });
            }
        }
    }

    /// The effective rule for a default the policy file does not override
    /// (oslo's `_handle_deprecated_rule`).
    fn default_effective(&self, d: &RuleDefault) -> Effective {
        let new = parse_lenient(d.check_str).0;
        let Some((old_name, old_str)) = d.deprecated_rule else {
            return Effective { check_str: d.check_str.to_string(), check: new };
        };
        let old = parse_lenient(old_str).0;
        // The operator overrode the rule under its old name: keep honouring
        // that override, unless it is the deprecated default itself or just
        // points at the new rule.
        if old_name != d.name {
            if let Some(f) = self.file_rules.get(old_name) {
                if f.check != old && f.check != Check::Rule(d.name.to_string()) {
                    return Effective { check_str: f.check_str.clone(), check: f.check.clone() };
                }
            }
        }
        if !self.config.enforce_new_defaults && old_str != d.check_str {
            let paren = |s: &str| {
                if s.is_empty() {
                    "@".to_string()
                } else {
                    format!("({s})")
                }
            };
            return Effective {
                check_str: format!("{} or {}", paren(d.check_str), paren(old_str)),
                check: Check::Or(vec![new, old]),
            };
        }
        Effective { check_str: d.check_str.to_string(), check: new }
    }
}

impl RuleSource for Enforcer {
    fn lookup(&self, name: &str) -> Option<&Check> {
        if let Some(e) = self.rules.get(name) {
            return Some(&e.check);
        }
        let fallback = self.default_rule.as_deref()?;
        self.rules.get(fallback).map(|e| &e.check)
    }
}

fn collect_refs<'a>(check: &'a Check, out: &mut Vec<&'a str>) {
    match check {
        Check::Rule(n) => out.push(n),
        Check::Not(c) => collect_refs(c, out),
        Check::And(v) | Check::Or(v) => v.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

/// oslo's legacy list syntax: a list of alternatives, each a word or a
/// list of words that must all pass. `None` when the shape is wrong.
fn parse_list_rule(seq: &[serde_yaml::Value]) -> Option<(Check, Vec<ParseError>)> {
    if seq.is_empty() {
        return Some((Check::True, Vec::new()));
    }
    let mut errors = Vec::new();
    let mut alternatives = Vec::new();
    for inner in seq {
        let words: Vec<&str> = match inner {
            serde_yaml::Value::String(s) if s.is_empty() => continue,
            serde_yaml::Value::String(s) => vec![s.as_str()],
            serde_yaml::Value::Sequence(v) if v.is_empty() => continue,
            serde_yaml::Value::Sequence(v) => v.iter().map(|w| w.as_str()).collect::<Option<Vec<_>>>()?,
            _ => return None,
        };
        let mut all: Vec<Check> = words.iter().map(|w| parse_atom(w, &mut errors)).collect();
        alternatives.push(if all.len() == 1 { all.remove(0) } else { Check::And(all) });
    }
    let check = match alternatives.len() {
        0 => Check::False,
        1 => alternatives.remove(0),
        _ => Check::Or(alternatives),
    };
    Some((check, errors))
}
