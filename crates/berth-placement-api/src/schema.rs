//! Request-body validation with JSON Schema (the `jsonschema` crate), with
//! error text in the shape Python's jsonschema gives (upstream Placement's
//! clients and tests match on phrases such as `'name' is a required property`
//! and `Failed validating 'minimum' in schema['properties']['total']`).

use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::Validator;
use serde_json::Value;

use crate::error::ApiError;

/// A compiled schema. Build once (in a `LazyLock`) and reuse.
pub struct Schema {
    validator: Validator,
    raw: Arc<Value>,
}

/// Whether `s` is a UUID in any form Python's `uuid.UUID()` accepts
/// (hyphens optional, braces, `urn:uuid:` prefix, any case).
pub fn is_uuid_like(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

impl Schema {
    pub fn new(raw: Value) -> Schema {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .with_format("uuid", is_uuid_like)
            .build(&raw)
            .unwrap_or_else(|e| panic!("invalid built-in schema {raw}: {e}"));
        Schema { validator, raw: Arc::new(raw) }
    }

    /// Validate, returning the first error as Python's jsonschema words it.
    pub fn check(&self, instance: &Value) -> Result<(), String> {
        match self.validator.iter_errors(instance).next() {
            None => Ok(()),
            Some(e) => Err(python_message(&self.raw, &e)),
        }
    }

    /// Validate a request body: 400 `JSON does not validate: ...`.
    pub fn validate_body(&self, instance: &Value) -> Result<(), ApiError> {
        self.check(instance).map_err(|m| ApiError::bad_request(format!("JSON does not validate: {m}")))
    }

    /// Validate query parameters: 400 `Invalid query string parameters: ...`.
    pub fn validate_query(&self, instance: &Value) -> Result<(), ApiError> {
        self.check(instance).map_err(|m| ApiError::bad_request(format!("Invalid query string parameters: {m}")))
    }
}

/// Python `repr()` of a JSON value, as jsonschema prints instances.
pub fn pyrepr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => pystr(s),
        Value::Array(a) => format!("[{}]", a.iter().map(pyrepr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", pyrepr(&Value::String(k.clone())), pyrepr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python `repr()` of a string: single quotes unless the text has a single
/// quote and no double quote; backslashes and control characters escaped.
fn pystr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `pprint.pformat(v, width=72, sort_dicts=False)`, as jsonschema
/// prints the schema and the instance of an error: whatever fits in the
/// width on one line stays `repr()`, longer dicts and lists get one item a
/// line, longer strings are cut at whitespace into adjacent literals.
pub fn pformat(v: &Value) -> String {
    let mut out = String::new();
    pp_format(v, &mut out, 0, 0, 0);
    out
}

const PP_WIDTH: i64 = 72;

fn char_len(s: &str) -> i64 {
    s.chars().count() as i64
}

fn pp_format(v: &Value, out: &mut String, indent: i64, allowance: i64, level: u32) {
    let rep = pyrepr(v);
    if char_len(&rep) > PP_WIDTH - indent - allowance {
        match v {
            Value::Object(o) => {
                out.push('{');
                let indent = indent + 1;
                let last = o.len().saturating_sub(1);
                for (i, (k, ent)) in o.iter().enumerate() {
                    let krep = pystr(k);
                    out.push_str(&krep);
                    out.push_str(": ");
                    let allow = if i == last { allowance + 1 } else { 1 };
                    pp_format(ent, out, indent + char_len(&krep) + 2, allow, level + 1);
                    if i != last {
                        out.push_str(",\n");
                        out.push_str(&" ".repeat(indent as usize));
                    }
                }
                out.push('}');
                return;
            }
            Value::Array(a) => {
                out.push('[');
                let indent = indent + 1;
                let last = a.len().saturating_sub(1);
                for (i, ent) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n");
                        out.push_str(&" ".repeat(indent as usize));
                    }
                    let allow = if i == last { allowance + 1 } else { 1 };
                    pp_format(ent, out, indent, allow, level + 1);
                }
                out.push(']');
                return;
            }
            Value::String(s) if !s.is_empty() => {
                pp_str(s, out, indent, allowance, level + 1);
                return;
            }
            _ => {}
        }
    }
    out.push_str(&rep);
}

/// pprint's `_pprint_str`.
fn pp_str(s: &str, out: &mut String, mut indent: i64, mut allowance: i64, level: u32) {
    let lines: Vec<&str> = s.split_inclusive('\n').collect();
    if level == 1 {
        indent += 1;
        allowance += 1;
    }
    let max_width = PP_WIDTH - indent;
    let mut max_width1 = max_width;
    let mut chunks: Vec<String> = Vec::new();
    let mut rep = String::new();
    for (i, line) in lines.iter().enumerate() {
        rep = pystr(line);
        if i == lines.len() - 1 {
            max_width1 -= allowance;
        }
        if char_len(&rep) <= max_width1 {
            chunks.push(rep.clone());
            continue;
        }
        // Alternating runs: non-space then space.
        let mut parts: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut in_space = false;
        for c in line.chars() {
            if !c.is_whitespace() && in_space {
                parts.push(std::mem::take(&mut cur));
                in_space = false;
            }
            if c.is_whitespace() {
                in_space = true;
            }
            cur.push(c);
        }
        if !cur.is_empty() {
            parts.push(cur);
        }
        let mut max_width2 = max_width;
        let mut current = String::new();
        for (j, part) in parts.iter().enumerate() {
            let candidate = format!("{current}{part}");
            if j == parts.len() - 1 && i == lines.len() - 1 {
                max_width2 -= allowance;
            }
            if char_len(&pystr(&candidate)) > max_width2 {
                if !current.is_empty() {
                    chunks.push(pystr(&current));
                }
                current = part.clone();
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            chunks.push(pystr(&current));
        }
    }
    if chunks.len() == 1 {
        out.push_str(&rep);
        return;
    }
    if level == 1 {
        out.push('(');
    }
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent as usize));
        }
        out.push_str(c);
    }
    if level == 1 {
        out.push(')');
    }
}

/// jsonschema's `_pretty`: `pformat`, continuation lines indented by four.
fn pretty(v: &Value) -> String {
    pformat(v).split('\n').collect::<Vec<_>>().join("\n    ")
}

fn type_name(t: &jsonschema::JsonType) -> String {
    format!("{t}")
}

fn headline(e: &jsonschema::ValidationError<'_>, schema_here: Option<&Value>) -> String {
    let inst = pyrepr(&e.instance);
    match &e.kind {
        ValidationErrorKind::Required { property } => format!("{} is a required property", pyrepr(property)),
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            // With patternProperties Python reports "does not match any of the regexes".
            if let Some(pp) = schema_here.and_then(|s| s.get("patternProperties")).and_then(|p| p.as_object()) {
                let pats: Vec<String> = pp.keys().map(|k| pyrepr(&Value::String(k.clone()))).collect();
                let names: Vec<String> = unexpected.iter().map(|u| pyrepr(&Value::String(u.clone()))).collect();
                let verb = if names.len() == 1 { "does" } else { "do" };
                return format!("{} {verb} not match any of the regexes: {}", names.join(", "), pats.join(", "));
            }
            let names: Vec<String> = unexpected.iter().map(|u| pyrepr(&Value::String(u.clone()))).collect();
            let verb = if names.len() == 1 { "was" } else { "were" };
            format!("Additional properties are not allowed ({} {verb} unexpected)", names.join(", "))
        }
        ValidationErrorKind::Minimum { limit } => format!("{inst} is less than the minimum of {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("{inst} is greater than the maximum of {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("{inst} is less than or equal to the minimum of {limit}")
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("{inst} is greater than or equal to the maximum of {limit}")
        }
        ValidationErrorKind::MaxLength { .. } => format!("{inst} is too long"),
        ValidationErrorKind::MinLength { .. } => {
            if e.instance.as_str() == Some("") {
                format!("{inst} should be non-empty")
            } else {
                format!("{inst} is too short")
            }
        }
        ValidationErrorKind::MinItems { .. } => {
            if e.instance.as_array().is_some_and(|a| a.is_empty()) {
                format!("{inst} should be non-empty")
            } else {
                format!("{inst} is too short")
            }
        }
        ValidationErrorKind::MaxItems { .. } => format!("{inst} is too long"),
        ValidationErrorKind::MinProperties { .. } => {
            if e.instance.as_object().is_some_and(|o| o.is_empty()) {
                format!("{inst} should be non-empty")
            } else {
                format!("{inst} does not have enough properties")
            }
        }
        ValidationErrorKind::MaxProperties { .. } => format!("{inst} has too many properties"),
        ValidationErrorKind::Pattern { pattern } => {
            format!("{inst} does not match {}", pyrepr(&Value::String(pattern.clone())))
        }
        ValidationErrorKind::Format { format } => format!("{inst} is not a {}", pyrepr(&Value::String(format.clone()))),
        ValidationErrorKind::Type { kind } => {
            let names: Vec<String> = match kind {
                TypeKind::Single(t) => vec![type_name(t)],
                TypeKind::Multiple(ts) => ts.iter().map(|t| type_name(&t)).collect(),
            };
            let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            if quoted.len() == 1 {
                format!("{inst} is not of type {}", quoted[0])
            } else {
                format!("{inst} is not of type {}", quoted.join(", "))
            }
        }
        ValidationErrorKind::Enum { options } => format!("{inst} is not one of {}", pyrepr(options)),
        ValidationErrorKind::Constant { expected_value } => format!("{} was expected", pyrepr(expected_value)),
        ValidationErrorKind::UniqueItems => format!("{inst} has non-unique elements"),
        ValidationErrorKind::AnyOf => format!("{inst} is not valid under any of the given schemas"),
        ValidationErrorKind::OneOfNotValid => format!("{inst} is not valid under any of the given schemas"),
        ValidationErrorKind::OneOfMultipleValid => format!("{inst} is valid under each of the given schemas"),
        ValidationErrorKind::Not { schema } => format!("{} should not be valid under {}", inst, pyrepr(schema)),
        ValidationErrorKind::FalseSchema => format!("False schema does not allow {inst}"),
        _ => e.to_string(),
    }
}

fn python_path(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| match s.parse::<usize>() {
            Ok(n) => format!("[{n}]"),
            Err(_) => format!("[{}]", pyrepr(&Value::String(s.clone()))),
        })
        .collect()
}

fn pointer_segments(p: &str) -> Vec<String> {
    p.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

/// `<headline>\n\nFailed validating '<kw>' in schema<path>:\n    <schema>\n\nOn instance<path>:\n    <instance>`
fn python_message(raw: &Value, e: &jsonschema::ValidationError<'_>) -> String {
    let mut schema_segs = pointer_segments(e.schema_path.as_str());
    let keyword = schema_segs.pop().unwrap_or_default();
    // Required/additionalProperties errors point at the keyword itself; the
    // subschema is its parent either way.
    let sub_ptr: String = schema_segs.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect();
    let sub = raw.pointer(&sub_ptr);
    let head = headline(e, sub);
    let inst_segs = pointer_segments(e.instance_path.as_str());
    format!(
        "{head}\n\nFailed validating {} in schema{}:\n    {}\n\nOn instance{}:\n    {}",
        pyrepr(&Value::String(keyword)),
        python_path(&schema_segs),
        sub.map(pretty).unwrap_or_default(),
        python_path(&inst_segs),
        pretty(&e.instance)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::new(json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 5},
                "total": {"type": "integer", "minimum": 1},
                "uuid": {"type": "string", "format": "uuid"},
                "traits": {"type": "array", "uniqueItems": true},
                "rc": {"type": "string", "pattern": "^[A-Z0-9_]+$"}
            },
            "required": ["name"],
            "additionalProperties": false
        }))
    }

    #[test]
    fn python_style_messages() {
        let s = schema();
        let m = s.check(&json!({})).unwrap_err();
        assert!(m.starts_with("'name' is a required property"), "{m}");
        assert!(m.contains("Failed validating 'required' in schema:"), "{m}");
        let m = s.check(&json!({"name": "a", "total": 0})).unwrap_err();
        assert!(m.starts_with("0 is less than the minimum of 1"), "{m}");
        assert!(m.contains("Failed validating 'minimum' in schema['properties']['total']"), "{m}");
        let m = s.check(&json!({"name": "a", "bad_field": 1})).unwrap_err();
        assert!(m.contains("Additional properties are not allowed ('bad_field' was unexpected)"), "{m}");
        let m = s.check(&json!({"name": "abcdefg"})).unwrap_err();
        assert!(m.contains("'abcdefg' is too long"), "{m}");
        assert!(m.contains("Failed validating 'maxLength'"), "{m}");
        let m = s.check(&json!({"name": "a", "uuid": "nope"})).unwrap_err();
        assert!(m.contains("'nope' is not a 'uuid'"), "{m}");
        let m = s.check(&json!({"name": "a", "traits": ["x", "x"]})).unwrap_err();
        assert!(m.contains("has non-unique elements"), "{m}");
        let m = s.check(&json!({"name": "a", "rc": "instance"})).unwrap_err();
        assert!(m.contains("'instance' does not match '^[A-Z0-9_]+$'"), "{m}");
        let m = s.check(&json!({"name": 5})).unwrap_err();
        assert!(m.contains("5 is not of type 'string'"), "{m}");
        assert!(s.check(&json!({"name": "ok", "uuid": "6d7a2f1c8b9e4f0aa1b2c3d4e5f60718"})).is_ok());
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(pyrepr(&json!({"a": [1, null, true, "x"]})), "{'a': [1, None, True, 'x']}");
    }
}
