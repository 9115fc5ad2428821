//! Query-string parsing and validation of `GET /allocation_candidates`,
//! mirroring upstream's JSON schema (`schemas/allocation_candidate.py`),
//! `RequestWideParams.from_request` and `RequestGroup.dict_from_request`
//! (`lib.py`, `util.py`), with the same error texts.

use uuid::Uuid;

use crate::pyfmt::{self, Py};

use super::request::{CandidatesRequest, GroupPolicy, RequestGroup};

/// Error codes upstream attaches to some 400s (`placement/errors.py`).
pub mod codes {
    pub const QUERYPARAM_BAD_VALUE: &str = "placement.query.bad_value";
    pub const QUERYPARAM_MISSING_VALUE: &str = "placement.query.missing_value";
    pub const ILLEGAL_DUPLICATE_QUERYPARAM: &str = "placement.query.duplicate_key";
}

/// A 400 answer: upstream's detail text and, where upstream sets one, its
/// error code (otherwise the caller uses `placement.undefined_code`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadRequest {
    pub message: String,
    pub code: Option<&'static str>,
}

impl BadRequest {
    fn new(message: impl Into<String>) -> BadRequest {
        BadRequest { message: message.into(), code: None }
    }

    fn with_code(message: impl Into<String>, code: &'static str) -> BadRequest {
        BadRequest { message: message.into(), code: Some(code) }
    }
}

const RESOURCES: &str = "resources";
const REQUIRED: &str = "required";
const MEMBER_OF: &str = "member_of";
const IN_TREE: &str = "in_tree";

const GROUP_PAT: &str = "[1-9][0-9]*";
const GROUP_PAT_1_33: &str = "[a-zA-Z0-9_-]{1,64}";

/// Parse and validate the query of `GET /allocation_candidates` at
/// `microversion` (1.10 or later; the route does not exist before). `pairs`
/// are the decoded query parameters in order, repeated keys included.
pub fn parse_query(pairs: &[(String, String)], microversion: (u16, u16)) -> Result<CandidatesRequest, BadRequest> {
    let mv = microversion;
    validate_schema(pairs, mv)?;
    let mut req = CandidatesRequest::new(mv);
    parse_request_wide(pairs, &mut req)?;
    req.groups = parse_groups(pairs, mv)?;

    if mv >= (1, 36) {
        check_resourceless(&req)?;
    } else {
        check_orphans(&req.groups)?;
    }
    if mv >= (1, 22) {
        check_forbidden_conflicts(&req.groups)?;
    }
    if req.group_policy.is_none() && req.groups.iter().filter(|g| g.use_same_provider()).count() > 1 {
        return Err(BadRequest::new(
            "The \"group_policy\" parameter is required when specifying more than one \"resources{N}\" parameter.",
        ));
    }
    Ok(req)
}

fn get_all<'a>(pairs: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------
// Schema validation

/// Whether `s` matches upstream's suffix pattern for the microversion.
fn is_suffix(s: &str, mv: (u16, u16)) -> bool {
    if mv >= (1, 33) {
        (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    } else {
        let b = s.as_bytes();
        !b.is_empty() && b[0] != b'0' && b.iter().all(|c| c.is_ascii_digit())
    }
}

/// Split a group key into (prefix, suffix) if it is one.
fn split_group_key(key: &str, mv: (u16, u16)) -> Option<(&'static str, &str)> {
    for prefix in [RESOURCES, REQUIRED, MEMBER_OF, IN_TREE] {
        if let Some(rest) = key.strip_prefix(prefix) {
            if rest.is_empty() || is_suffix(rest, mv) {
                return Some((prefix, rest));
            }
            return None;
        }
    }
    None
}

fn schema_properties(mv: (u16, u16)) -> Vec<&'static str> {
    let mut p = Vec::new();
    if mv < (1, 25) {
        p.push(RESOURCES);
    }
    if mv >= (1, 16) {
        p.push("limit");
    }
    if mv < (1, 25) {
        if mv >= (1, 17) {
            p.push(REQUIRED);
        }
        if mv >= (1, 21) {
            p.push(MEMBER_OF);
        }
    } else {
        p.push("group_policy");
    }
    if mv >= (1, 35) {
        p.push("root_required");
    }
    if mv >= (1, 36) {
        p.push("same_subtree");
    }
    p
}

/// Group key prefixes allowed as schema `patternProperties`.
fn schema_pattern_prefixes(mv: (u16, u16)) -> Vec<&'static str> {
    if mv < (1, 25) {
        Vec::new()
    } else if mv < (1, 31) {
        vec![RESOURCES, REQUIRED, MEMBER_OF]
    } else {
        vec![RESOURCES, REQUIRED, MEMBER_OF, IN_TREE]
    }
}

fn pattern_of(prefix: &str, mv: (u16, u16)) -> String {
    let group = if mv >= (1, 33) { GROUP_PAT_1_33 } else { GROUP_PAT };
    format!("^{prefix}({group})?$")
}

/// Python `repr()` of a string.
pub(crate) fn py_repr(s: &str) -> String {
    pyfmt::repr_str(s)
}

fn py_list<S: AsRef<str>>(items: &[S]) -> String {
    format!("[{}]", items.iter().map(|s| py_repr(s.as_ref())).collect::<Vec<_>>().join(", "))
}

fn limit_schema() -> Py {
    Py::dict([
        ("type", Py::list([Py::str("integer"), Py::str("string")])),
        ("pattern", Py::str("^[1-9][0-9]*$")),
        ("minimum", Py::raw("1")),
        ("minLength", Py::raw("1")),
    ])
}

fn group_policy_schema() -> Py {
    Py::dict([("type", Py::str("string")), ("enum", Py::list([Py::str("none"), Py::str("isolate")]))])
}

/// The query schema of microversion `mv`, as jsonschema prints it.
fn schema_value(mv: (u16, u16)) -> Py {
    let props: Vec<(&str, Py)> = schema_properties(mv)
        .into_iter()
        .map(|p| {
            let v = match p {
                "limit" => limit_schema(),
                "group_policy" => group_policy_schema(),
                "resources" => Py::dict([("type", Py::str("string"))]),
                _ => Py::dict([("type", Py::list([Py::str("string")]))]),
            };
            (p, v)
        })
        .collect();
    let mut top: Vec<(String, Py)> = vec![("type".into(), Py::str("object")), ("properties".into(), Py::dict(props))];
    if mv < (1, 25) {
        top.push(("required".into(), Py::list([Py::str("resources")])));
    }
    top.push(("additionalProperties".into(), Py::raw("False")));
    let pats = schema_pattern_prefixes(mv);
    if !pats.is_empty() {
        let pp: Vec<(String, Py)> =
            pats.iter().map(|p| (pattern_of(p, mv), Py::dict([("type", Py::str("string"))]))).collect();
        top.push(("patternProperties".into(), Py::Dict(pp)));
    }
    Py::Dict(top)
}

fn instance_value(keys: &[(&str, &str)]) -> Py {
    Py::dict(keys.iter().map(|(k, v)| (*k, Py::str(*v))))
}

fn schema_error(message: String, validator: &str, path: Option<&str>, schema: &Py, instance: &Py) -> BadRequest {
    let (schema_path, instance_path) = match path {
        None => ("schema".to_string(), "instance".to_string()),
        Some(p) => (format!("schema['properties'][{}]", py_repr(p)), format!("instance[{}]", py_repr(p))),
    };
    BadRequest::new(format!(
        "Invalid query string parameters: {message}\n\nFailed validating {} in {schema_path}:\n    {}\n\nOn {instance_path}:\n    {}",
        py_repr(validator),
        pyfmt::pretty(schema),
        pyfmt::pretty(instance)
    ))
}

/// Upstream validates `dict(req.GET)` (last value of each key) against the
/// microversion's JSON schema and reports jsonschema's best match: a
/// top-level error (`required`, then `additionalProperties`) before a
/// property error.
fn validate_schema(pairs: &[(String, String)], mv: (u16, u16)) -> Result<(), BadRequest> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for (k, v) in pairs {
        match keys.iter_mut().find(|(kk, _)| kk == k) {
            Some(e) => e.1 = v,
            None => keys.push((k, v)),
        }
    }
    let props = schema_properties(mv);
    let prefixes = schema_pattern_prefixes(mv);
    if mv < (1, 25) && !keys.iter().any(|(k, _)| *k == RESOURCES) {
        return Err(schema_error(
            "'resources' is a required property".to_string(),
            "required",
            None,
            &schema_value(mv),
            &instance_value(&keys),
        ));
    }
    let mut extras: Vec<&str> = keys
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !props.contains(k) && !split_group_key(k, mv).is_some_and(|(prefix, _)| prefixes.contains(&prefix)))
        .collect();
    if !extras.is_empty() {
        extras.sort_unstable();
        let joined = extras.iter().map(|e| py_repr(e)).collect::<Vec<_>>().join(", ");
        let message = if prefixes.is_empty() {
            let verb = if extras.len() == 1 { "was" } else { "were" };
            format!("Additional properties are not allowed ({joined} {verb} unexpected)")
        } else {
            let verb = if extras.len() == 1 { "does" } else { "do" };
            let mut pats: Vec<String> = prefixes.iter().map(|p| pattern_of(p, mv)).collect();
            pats.sort_unstable();
            let pats = pats.iter().map(|p| py_repr(p)).collect::<Vec<_>>().join(", ");
            format!("{joined} {verb} not match any of the regexes: {pats}")
        };
        return Err(schema_error(message, "additionalProperties", None, &schema_value(mv), &instance_value(&keys)));
    }
    // Property errors: jsonschema prefers the lexically greatest path, so a
    // bad `limit` is reported before a bad `group_policy`.
    if let Some((_, v)) = keys.iter().find(|(k, _)| *k == "limit") {
        let b = v.as_bytes();
        let ok = !b.is_empty() && b[0] != b'0' && b.iter().all(|c| c.is_ascii_digit());
        if !ok {
            let pattern = "^[1-9][0-9]*$";
            return Err(schema_error(
                format!("{} does not match {}", py_repr(v), py_repr(pattern)),
                "pattern",
                Some("limit"),
                &limit_schema(),
                &Py::str(*v),
            ));
        }
    }
    if mv >= (1, 25) {
        if let Some((_, v)) = keys.iter().find(|(k, _)| *k == "group_policy") {
            if *v != "none" && *v != "isolate" {
                return Err(schema_error(
                    format!("{} is not one of ['none', 'isolate']", py_repr(v)),
                    "enum",
                    Some("group_policy"),
                    &group_policy_schema(),
                    &Py::str(*v),
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Request-wide parameters

/// Python `int()` of a decimal string: surrounding whitespace, a sign and
/// single underscores between digits are accepted. Saturates at i64 bounds.
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let b = digits.as_bytes();
    if b.is_empty() || b[0] == b'_' || b[b.len() - 1] == b'_' || digits.contains("__") {
        return None;
    }
    let mut v: i128 = 0;
    for &c in b {
        match c {
            b'_' => {}
            b'0'..=b'9' => v = (v * 10 + (c - b'0') as i128).min(i64::MAX as i128 + 1),
            _ => return None,
        }
    }
    let v = if neg { -v } else { v };
    Some(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

fn parse_request_wide(pairs: &[(String, String)], req: &mut CandidatesRequest) -> Result<(), BadRequest> {
    if let Some(first) = get_all(pairs, "limit").next() {
        match py_int(first) {
            Some(n) => req.limit = Some(n.max(0) as u64),
            None => {
                return Err(BadRequest::new(format!(
                    "Invalid query string parameters: invalid literal for int() with base 10: {}",
                    py_repr(first)
                )))
            }
        }
    }
    if let Some(first) = get_all(pairs, "group_policy").next() {
        req.group_policy = Some(if first == "isolate" { GroupPolicy::Isolate } else { GroupPolicy::None });
    }
    let root_required: Vec<&str> = get_all(pairs, "root_required").collect();
    if root_required.len() > 1 {
        return Err(BadRequest::with_code(
            "Query parameter 'root_required' may be specified only once.",
            codes::ILLEGAL_DUPLICATE_QUERYPARAM,
        ));
    }
    if let Some(val) = root_required.first() {
        let (required, forbidden) = parse_traits(val, true, false)?;
        let mut req_names: Vec<String> = Vec::new();
        for any in required {
            for t in any {
                if !req_names.contains(&t) {
                    req_names.push(t);
                }
            }
        }
        let mut conflicts: Vec<&str> = forbidden.iter().filter(|f| req_names.contains(f)).map(String::as_str).collect();
        if !conflicts.is_empty() {
            conflicts.sort_unstable();
            return Err(BadRequest::with_code(
                format!("Conflicting required and forbidden traits found in root_required: {}", conflicts.join(", ")),
                codes::QUERYPARAM_BAD_VALUE,
            ));
        }
        req.root_required = req_names;
        req.root_forbidden = forbidden;
    }
    for val in get_all(pairs, "same_subtree") {
        let mut set: Vec<String> = Vec::new();
        for s in val.split(',') {
            let s = s.trim().to_string();
            if s.is_empty() {
                return Err(BadRequest::with_code(
                    "Empty string (unsuffixed group) can not be specified in `same_subtree` ",
                    codes::QUERYPARAM_BAD_VALUE,
                ));
            }
            if !set.contains(&s) {
                set.push(s);
            }
        }
        req.same_subtrees.push(set);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Request groups

/// Upstream `normalize_resources_qs_param`.
fn parse_resources(qs: &str) -> Result<Vec<(String, i64)>, BadRequest> {
    if qs.trim().is_empty() {
        return Err(BadRequest::new(
            "Badly formed resources parameter. Expected resources query string parameter in form: \
             ?resources=VCPU:2,MEMORY_MB:1024. Got: empty string.",
        ));
    }
    let mut out: Vec<(String, i64)> = Vec::new();
    for rt in qs.split(',') {
        let parts: Vec<&str> = rt.split(':').collect();
        if parts.len() != 2 {
            return Err(BadRequest::new(format!(
                "Badly formed resources parameter. Expected resources query string parameter in form: \
                 ?resources=VCPU:2,MEMORY_MB:1024. Got: {rt}."
            )));
        }
        let (name, amount) = (parts[0], parts[1]);
        let Some(n) = py_int(amount) else {
            return Err(BadRequest::new(format!(
                "Requested resource {name} expected positive integer amount. Got: {amount}."
            )));
        };
        if n < 1 {
            return Err(BadRequest::new(format!("Requested resource {name} requires amount >= 1. Got: {n}.")));
        }
        match out.iter_mut().find(|(k, _)| k == name) {
            Some(e) => e.1 = n,
            None => out.push((name.to_string(), n)),
        }
    }
    Ok(out)
}

/// Upstream `normalize_traits_qs_param`: (any-of sets, forbidden traits).
fn parse_traits(
    val: &str,
    allow_forbidden: bool,
    allow_any_traits: bool,
) -> Result<(Vec<Vec<String>>, Vec<String>), BadRequest> {
    if let Some(rest) = val.strip_prefix("in:") {
        if !allow_any_traits {
            return Err(BadRequest::new(format!(
                "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported \
                 since microversion 1.39. Got: {val}"
            )));
        }
        let mut any: Vec<String> = Vec::new();
        for t in rest.split(',') {
            let t = t.trim().to_string();
            if !any.contains(&t) {
                any.push(t);
            }
        }
        if any.iter().any(String::is_empty) {
            return Err(BadRequest::new(format!(
                "Invalid query string parameters: Expected 'required' parameter value of the form: \
                 in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: {val}"
            )));
        }
        if any.iter().any(|t| t.starts_with('!')) {
            return Err(BadRequest::new(format!(
                "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does not support \
                 forbidden traits. Got: {val}"
            )));
        }
        return Ok((vec![any], Vec::new()));
    }
    let all: Vec<&str> = val.split(',').map(str::trim).collect();
    let mut forbidden: Vec<String> = Vec::new();
    for t in all.iter().filter(|t| t.starts_with('!')) {
        let f = t.trim_start_matches('!').to_string();
        if !forbidden.contains(&f) {
            forbidden.push(f);
        }
    }
    if all.iter().any(|t| t.is_empty()) || forbidden.iter().any(String::is_empty) {
        let form = if allow_forbidden { "HW_CPU_X86_VMX,!CUSTOM_MAGIC" } else { "HW_CPU_X86_VMX,CUSTOM_MAGIC" };
        return Err(BadRequest::new(format!(
            "Invalid query string parameters: Expected 'required' parameter value of the form: {form}. \
             Got an empty trait in: {val}"
        )));
    }
    let required: Vec<Vec<String>> = all.iter().filter(|t| !t.starts_with('!')).map(|t| vec![t.to_string()]).collect();
    if !forbidden.is_empty() && !allow_forbidden {
        return Err(BadRequest::new(format!(
            "Invalid query string parameters: Expected 'required' parameter value of the form: \
             HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {val}"
        )));
    }
    Ok((required, forbidden))
}

/// Upstream `normalize_traits_qs_params`: before 1.39 only the last
/// `required<suffix>` counts.
fn parse_group_traits(
    pairs: &[(String, String)],
    suffix: &str,
    mv: (u16, u16),
) -> Result<(Vec<Vec<String>>, Vec<String>), BadRequest> {
    let key = format!("{REQUIRED}{suffix}");
    let values: Vec<&str> = get_all(pairs, &key).collect();
    let values = if mv >= (1, 39) { &values[..] } else { &values[values.len().saturating_sub(1)..] };
    let mut required = Vec::new();
    let mut forbidden: Vec<String> = Vec::new();
    for v in values {
        let (r, f) = parse_traits(v, mv >= (1, 22), mv >= (1, 39))?;
        required.extend(r);
        for t in f {
            if !forbidden.contains(&t) {
                forbidden.push(t);
            }
        }
    }
    Ok((required, forbidden))
}

/// oslo `uuidutils.is_uuid_like`, returning the uuid.
pub(crate) fn parse_uuid_like(val: &str) -> Option<Uuid> {
    let s = val.replace("urn:", "").replace("uuid:", "");
    let s = s.trim_matches(|c| c == '{' || c == '}').replace('-', "");
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Uuid::parse_str(&s).ok()
}

/// Upstream `normalize_member_of_qs_param`: (any-of required, forbidden).
fn parse_member_of(value: &str) -> Result<(Vec<Uuid>, Vec<Uuid>), BadRequest> {
    if value.contains(',') && !(value.starts_with("in:") || value.starts_with("!in:")) {
        return Err(BadRequest::new(format!(
            "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword using the valid \
             microversion. Got: {value}"
        )));
    }
    let (required, forbidden): (Vec<&str>, Vec<&str>) = if let Some(r) = value.strip_prefix("!in:") {
        (Vec::new(), r.split(',').collect())
    } else if let Some(r) = value.strip_prefix('!') {
        (Vec::new(), vec![r])
    } else if let Some(r) = value.strip_prefix("in:") {
        (r.split(',').collect(), Vec::new())
    } else {
        (vec![value], Vec::new())
    };
    let conv = |v: Vec<&str>| -> Result<Vec<Uuid>, BadRequest> {
        let mut out: Vec<Uuid> = Vec::new();
        for s in v {
            let Some(u) = parse_uuid_like(s) else {
                return Err(BadRequest::new(format!(
                    "Invalid query string parameters: Expected 'member_of' parameter to contain valid UUID(s). \
                     Got: {s}"
                )));
            };
            if !out.contains(&u) {
                out.push(u);
            }
        }
        Ok(out)
    };
    Ok((conv(required)?, conv(forbidden)?))
}

/// Upstream `normalize_member_of_qs_params`.
fn parse_group_member_of(
    pairs: &[(String, String)],
    suffix: &str,
    mv: (u16, u16),
) -> Result<(Vec<Vec<Uuid>>, Vec<Uuid>), BadRequest> {
    let key = format!("{MEMBER_OF}{suffix}");
    let values: Vec<&str> = get_all(pairs, &key).collect();
    if mv < (1, 24) && values.len() > 1 {
        return Err(BadRequest::new(format!("Multiple member_of{suffix} parameters are not supported")));
    }
    let mut required = Vec::new();
    let mut forbidden: Vec<Uuid> = Vec::new();
    for v in values {
        let (r, f) = parse_member_of(v)?;
        if !r.is_empty() {
            required.push(r);
        }
        if !f.is_empty() {
            if mv < (1, 32) {
                return Err(BadRequest::new(format!(
                    "Forbidden member_of{suffix} parameters are not supported in the specified microversion"
                )));
            }
            for u in f {
                if !forbidden.contains(&u) {
                    forbidden.push(u);
                }
            }
        }
    }
    Ok((required, forbidden))
}

fn parse_groups(pairs: &[(String, String)], mv: (u16, u16)) -> Result<Vec<RequestGroup>, BadRequest> {
    let mut groups: Vec<RequestGroup> = Vec::new();
    for (key, val) in pairs {
        let Some((prefix, suffix)) = split_group_key(key, mv) else {
            continue;
        };
        let gi = match groups.iter().position(|g| g.suffix == suffix) {
            Some(i) => i,
            None => {
                groups.push(RequestGroup { suffix: suffix.to_string(), ..RequestGroup::default() });
                groups.len() - 1
            }
        };
        match prefix {
            RESOURCES => groups[gi].resources = parse_resources(val)?,
            REQUIRED => {
                let (r, f) = parse_group_traits(pairs, suffix, mv)?;
                groups[gi].required_traits = r;
                groups[gi].forbidden_traits = f;
            }
            MEMBER_OF => {
                let (r, f) = parse_group_member_of(pairs, suffix, mv)?;
                groups[gi].member_of = r;
                groups[gi].forbidden_aggs = f;
            }
            _ => {
                let v = val.trim();
                match parse_uuid_like(v) {
                    Some(u) => groups[gi].in_tree = Some(u),
                    None => {
                        return Err(BadRequest::new(format!(
                            "Invalid query string parameters: Expected 'in_tree' parameter to be a format of uuid. \
                             Got: {val}"
                        )))
                    }
                }
            }
        }
    }
    Ok(groups)
}

/// Checks from 1.36 on, where resourceless groups are allowed in `same_subtree`.
fn check_resourceless(req: &CandidatesRequest) -> Result<(), BadRequest> {
    let resourceless: Vec<&str> =
        req.groups.iter().filter(|g| g.resources.is_empty()).map(|g| g.suffix.as_str()).collect();
    if resourceless.len() == req.groups.len() {
        return Err(BadRequest::with_code(
            "There must be at least one resources or resources[$S] parameter.",
            codes::QUERYPARAM_MISSING_VALUE,
        ));
    }
    let mut subtree: Vec<&str> = Vec::new();
    for s in req.same_subtrees.iter().flatten() {
        if !subtree.contains(&s.as_str()) {
            subtree.push(s);
        }
    }
    let bad: Vec<&str> = resourceless.iter().copied().filter(|s| !subtree.contains(s)).collect();
    if !bad.is_empty() {
        return Err(BadRequest::with_code(
            format!(
                "Resourceless suffixed group request should be specified in `same_subtree` query param: bad \
                 group(s) - {}.",
                py_list(&bad)
            ),
            codes::QUERYPARAM_BAD_VALUE,
        ));
    }
    let bad: Vec<&str> = subtree.iter().copied().filter(|s| req.group_index(s).is_none()).collect();
    if !bad.is_empty() {
        let all: Vec<&str> = req.groups.iter().map(|g| g.suffix.as_str()).collect();
        return Err(BadRequest::with_code(
            format!(
                "Real suffixes should be specified in `same_subtree`: {} not found in {}.",
                py_list(&bad),
                py_list(&all)
            ),
            codes::QUERYPARAM_BAD_VALUE,
        ));
    }
    Ok(())
}

/// Checks before 1.36: every group needs resources.
fn check_orphans(groups: &[RequestGroup]) -> Result<(), BadRequest> {
    let orphans: Vec<String> = groups
        .iter()
        .filter(|g| !g.required_traits.is_empty() && g.resources.is_empty())
        .map(|g| format!("{REQUIRED}{}", g.suffix))
        .collect();
    if !orphans.is_empty() {
        return Err(BadRequest::new(format!(
            "All traits parameters must be associated with resources.  Found the following orphaned traits keys: {}",
            orphans.join(", ")
        )));
    }
    let orphans: Vec<String> = groups
        .iter()
        .filter(|g| g.resources.is_empty() && (!g.member_of.is_empty() || !g.forbidden_aggs.is_empty()))
        .map(|g| format!("{MEMBER_OF}{}", g.suffix))
        .collect();
    if !orphans.is_empty() {
        return Err(BadRequest::new(format!(
            "All member_of parameters must be associated with resources. Found the following orphaned member_of \
             keys: {}",
            orphans.join(", ")
        )));
    }
    if groups.iter().any(|g| g.resources.is_empty()) {
        return Err(BadRequest::new("All request groups must specify resources."));
    }
    if groups.is_empty() {
        return Err(BadRequest::new("At least one request group (`resources` or `resources{$S}`) is required."));
    }
    Ok(())
}

/// From 1.22: an any-of set whose traits are all forbidden is a conflict.
fn check_forbidden_conflicts(groups: &[RequestGroup]) -> Result<(), BadRequest> {
    let mut conflicts: Vec<String> = Vec::new();
    for g in groups {
        for any in &g.required_traits {
            if any.iter().all(|t| g.forbidden_traits.contains(t)) {
                let mut sorted: Vec<&str> = any.iter().map(String::as_str).collect();
                sorted.sort_unstable();
                conflicts.push(format!("{REQUIRED}{}: ({})", g.suffix, sorted.join(", ")));
            }
        }
    }
    if conflicts.is_empty() {
        return Ok(());
    }
    conflicts.sort_unstable();
    Err(BadRequest::new(format!(
        "Conflicting required and forbidden traits found in the following traits keys: {}",
        conflicts.join(", ")
    )))
}
