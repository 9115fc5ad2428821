//! Evaluation of [`Check`] trees against a target and credentials, with
//! oslo.policy's semantics for each check kind.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::parser::Check;

/// Attributes of the object an action is performed on, used for
/// `%(key)s` substitutions (for example `{"project_id": "..."}`). Keys are
/// flat: a rule writing `%(target.user.id)s` needs a key `target.user.id`.
pub type Target = BTreeMap<String, String>;

/// Who is making the request: the policy values oslo.context would hand to
/// oslo.policy.
///
/// Generic checks (`KIND:MATCH`) look `KIND` up as a dotted path in these
/// values: `user_id`, `project_id`, `domain_id`, `system_scope` (a missing
/// value compares equal to the text `None`, as in Python), `roles` (matches
/// when any role equals the text exactly), `system` (an alias of a
/// non-empty `system_scope`), then anything in [`Credentials::extra`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub roles: Vec<String>,
    /// `Some("all")` for a system-scoped token.
    pub system_scope: Option<String>,
    /// Further attributes (for example `user_domain_id`,
    /// `is_admin_project`, or nested objects such as `token`), reachable by
    /// generic checks with dotted paths. Never overrides the typed fields.
    pub extra: Map<String, Value>,
}

impl Credentials {
    /// Credentials of a project-scoped token.
    pub fn project(user_id: &str, project_id: &str, roles: &[&str]) -> Self {
        Credentials {
            user_id: Some(user_id.to_string()),
            project_id: Some(project_id.to_string()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Credentials of a system-scoped (`all`) token.
    pub fn system(user_id: &str, roles: &[&str]) -> Self {
        Credentials {
            user_id: Some(user_id.to_string()),
            system_scope: Some("all".to_string()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    /// The credentials as the dictionary generic checks search.
    pub fn to_policy_values(&self) -> Map<String, Value> {
        let opt = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("user_id".into(), opt(&self.user_id));
        m.insert("project_id".into(), opt(&self.project_id));
        m.insert("domain_id".into(), opt(&self.domain_id));
        m.insert("system_scope".into(), opt(&self.system_scope));
        m.insert("roles".into(), Value::Array(self.roles.iter().cloned().map(Value::String).collect()));
        for (k, v) in &self.extra {
            if !m.contains_key(k) {
                m.insert(k.clone(), v.clone());
            }
        }
        if let Some(s) = self.system_scope.as_deref().filter(|s| !s.is_empty()) {
            m.insert("system".into(), Value::String(s.to_string()));
        }
        m
    }
}

/// Looks rules up by name while evaluating `rule:NAME`.
pub(crate) trait RuleSource {
    fn lookup(&self, name: &str) -> Option<&Check>;
}

/// Nesting limit for `rule:` references; deeper (cyclic) rules fail.
const MAX_DEPTH: usize = 64;

pub(crate) fn evaluate(
    check: &Check,
    target: &Target,
    creds: &Map<String, Value>,
    roles_lower: &[String],
    rules: &dyn RuleSource,
    depth: usize,
) -> bool {
    let recurse = |c: &Check, d: usize| evaluate(c, target, creds, roles_lower, rules, d);
    match check {
        Check::True => true,
        Check::False => false,
        Check::Not(c) => !recurse(c, depth),
        Check::And(v) => v.iter().all(|c| recurse(c, depth)),
        Check::Or(v) => v.iter().any(|c| recurse(c, depth)),
        Check::Rule(name) => {
            if depth >= MAX_DEPTH {
                return false;
            }
            match rules.lookup(name) {
                Some(c) => recurse(c, depth + 1),
                None => false,
            }
        }
        Check::Role(m) => match py_format(m, target) {
            Some(role) => {
                let role = role.to_lowercase();
                roles_lower.contains(&role)
            }
            None => false,
        },
        Check::Generic { kind, matcher } => {
            let Some(m) = py_format(matcher, target) else {
                return false;
            };
            match py_literal(kind) {
                Literal::Value(lit) => m == lit,
                Literal::Invalid => false,
                Literal::Path => {
                    let path: Vec<&str> = kind.split('.').collect();
                    find_in_dict(creds, &path, &m)
                }
            }
        }
    }
}

/// oslo's `GenericCheck._find_in_dict`: walk `path` through nested objects;
/// a list at any step matches when any element matches the rest of the path.
fn find_in_dict(obj: &Map<String, Value>, path: &[&str], m: &str) -> bool {
    let Some((key, rest)) = path.split_first() else {
        return false;
    };
    match obj.get(*key) {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|v| find_value(v, rest, m)),
        Some(v) => find_value(v, rest, m),
    }
}

fn find_value(v: &Value, path: &[&str], m: &str) -> bool {
    if path.is_empty() {
        return py_str(v).is_some_and(|s| s == m);
    }
    match v {
        Value::Object(o) => find_in_dict(o, path, m),
        // Python would raise indexing a non-mapping; treat as no match.
        _ => false,
    }
}

/// Python's `str()` of a scalar JSON value (containers are not compared).
fn py_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Null => Some("None".into()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

enum Literal {
    /// The kind is a Python literal; this is its `str()`.
    Value(String),
    /// The kind is Python syntax oslo cannot evaluate (it would raise).
    Invalid,
    /// The kind is an attribute path.
    Path,
}

/// A subset of `ast.literal_eval` sufficient for policy kinds: `True`,
/// `False`, `None`, quoted strings and integers.
fn py_literal(kind: &str) -> Literal {
    match kind {
        "True" | "False" | "None" => return Literal::Value(kind.to_string()),
        _ => {}
    }
    let b = kind.as_bytes();
    if let Some(&q) = b.first() {
        if q == b'\'' || q == b'"' {
            return if b.len() >= 2 && b[b.len() - 1] == q && !kind[1..kind.len() - 1].contains(q as char) {
                let inner = &kind[1..kind.len() - 1];
                if inner.contains('\\') {
                    Literal::Invalid
                } else {
                    Literal::Value(inner.to_string())
                }
            } else {
                Literal::Invalid
            };
        }
    }
    let digits = kind.strip_prefix(['-', '+']).unwrap_or(kind);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        if digits.len() > 1 && digits.starts_with('0') {
            // Python 3 rejects leading zeros (unless the number is zero).
            return if digits.bytes().all(|c| c == b'0') { Literal::Value("0".into()) } else { Literal::Invalid };
        }
        let negative = kind.starts_with('-') && digits != "0";
        return Literal::Value(format!("{}{}", if negative { "-" } else { "" }, digits));
    }
    if kind.bytes().next().is_some_and(|c| c.is_ascii_digit()) {
        // `1a`, `1.5`, ...: not supported (floats) or a Python syntax error.
        return Literal::Invalid;
    }
    Literal::Path
}

/// Python's `fmt % target` for a mapping: `%(key)s` substitutions and `%%`.
/// `None` when a key is missing or the format is not supported (both make
/// the check fail, as oslo does for a missing key).
pub(crate) fn py_format(fmt: &str, target: &Target) -> Option<String> {
    if !fmt.contains('%') {
        return Some(fmt.to_string());
    }
    let mut out = String::with_capacity(fmt.len());
    let mut rest = fmt;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(r) = rest.strip_prefix('%') {
            out.push('%');
            rest = r;
            continue;
        }
        let r = rest.strip_prefix('(')?;
        // The key extends to the matching parenthesis.
        let mut level = 1usize;
        let mut end = None;
        for (i, ch) in r.char_indices() {
            match ch {
                '(' => level += 1,
                ')' => {
                    level -= 1;
                    if level == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end?;
        let key = &r[..end];
        let r = r[end + 1..].strip_prefix('s')?;
        out.push_str(target.get(key)?);
        rest = r;
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    struct NoRules;
    impl RuleSource for NoRules {
        fn lookup(&self, _: &str) -> Option<&Check> {
            None
        }
    }

    fn eval(rule: &str, target: &Target, creds: &Credentials) -> bool {
        let roles: Vec<String> = creds.roles.iter().map(|r| r.to_lowercase()).collect();
        evaluate(&parse(rule).unwrap(), target, &creds.to_policy_values(), &roles, &NoRules, 0)
    }

    fn t(pairs: &[(&str, &str)]) -> Target {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn format() {
        let tg = t(&[("project_id", "p1"), ("a.b", "x"), ("w(x)", "y")]);
        assert_eq!(py_format("%(project_id)s", &tg).as_deref(), Some("p1"));
        assert_eq!(py_format("pre-%(a.b)s-%%-post", &tg).as_deref(), Some("pre-x-%-post"));
        assert_eq!(py_format("%(w(x))s", &tg).as_deref(), Some("y"));
        assert_eq!(py_format("plain", &tg).as_deref(), Some("plain"));
        assert_eq!(py_format("%(missing)s", &tg), None);
        assert_eq!(py_format("%(project_id)d", &tg), None);
        assert_eq!(py_format("100%", &tg), None);
        assert_eq!(py_format("%(project_id", &tg), None);
    }

    #[test]
    fn roles_are_case_insensitive_and_substituted() {
        let c = Credentials::project("u", "p", &["Admin", "reader"]);
        assert!(eval("role:admin", &t(&[]), &c));
        assert!(eval("role:ADMIN", &t(&[]), &c));
        assert!(!eval("role:member", &t(&[]), &c));
        assert!(eval("role:%(r)s", &t(&[("r", "Reader")]), &c));
        assert!(!eval("role:%(r)s", &t(&[]), &c));
        // The generic form on `roles` is exact.
        assert!(eval("roles:Admin", &t(&[]), &c));
        assert!(!eval("roles:admin", &t(&[]), &c));
    }

    #[test]
    fn generic_checks_on_credentials() {
        let c = Credentials::project("u1", "p1", &[]);
        let tg = t(&[("project_id", "p1"), ("user_id", "other")]);
        assert!(eval("project_id:%(project_id)s", &tg, &c));
        assert!(!eval("user_id:%(user_id)s", &tg, &c));
        assert!(!eval("project_id:%(nope)s", &tg, &c));
        assert!(eval("user_id:u1", &tg, &c));
        assert!(!eval("user_id:'u1'", &tg, &c), "quotes on the match side are literal");
        // Python's str(None).
        assert!(eval("domain_id:None", &tg, &c));
        assert!(!eval("system_scope:all", &tg, &c));
        assert!(!eval("unknown_attr:x", &tg, &c));

        let s = Credentials::system("admin", &["admin"]);
        assert!(eval("system_scope:all", &tg, &s));
        assert!(eval("system:all", &tg, &s));
        assert!(eval("role:admin and system_scope:all", &tg, &s));
    }

    #[test]
    fn literal_kinds() {
        let c = Credentials::default();
        let tg = t(&[("enabled", "True"), ("name", "Member"), ("n", "42")]);
        assert!(eval("True:%(enabled)s", &tg, &c));
        assert!(!eval("False:%(enabled)s", &tg, &c));
        assert!(eval("'Member':%(name)s", &tg, &c));
        assert!(eval("\"Member\":%(name)s", &tg, &c));
        assert!(eval("42:%(n)s", &tg, &c));
        assert!(eval("+42:%(n)s", &tg, &c));
        assert!(!eval("1a:%(n)s", &tg, &c));
        assert!(!eval("'Member:%(name)s", &tg, &c));
    }

    #[test]
    fn nested_extra_attributes() {
        let extra = serde_json::json!({
            "token": {"project": {"domain": {"id": "d1"}}},
            "groups": [{"id": "g1"}, {"id": "g2"}],
            "is_admin_project": true,
            "project_id": "ignored",
        })
        .as_object()
        .unwrap()
        .clone();
        let c = Credentials { extra, ..Default::default() };
        let tg = t(&[("target.domain.id", "d1")]);
        assert!(eval("token.project.domain.id:%(target.domain.id)s", &tg, &c));
        assert!(eval("groups.id:g2", &tg, &c));
        assert!(!eval("groups.id:g3", &tg, &c));
        assert!(eval("is_admin_project:True", &tg, &c));
        assert!(!eval("token.project:x", &tg, &c));
        assert!(!eval("project_id:ignored", &tg, &c), "extra never overrides typed fields");
    }
}
