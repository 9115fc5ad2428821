//! Request-body validation with JSON Schema (the `jsonschema` crate), with
//! error text in the shape Python's jsonschema gives (upstream Placement's
//! clients and tests match on phrases such as `'name' is a required property`
//! and `Failed validating 'minimum' in schema['properties']['total']`).

use std::sync::Arc;

use berth_placement::pyfmt::{self, Py};
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
    /// Validate, returning the error Python's jsonschema `best_match` picks
    /// (the shallowest; `anyOf`/`oneOf` last; one whose instance is not of
    /// the schema's type first; the earliest among equals) as it words it.
    pub fn check(&self, instance: &Value) -> Result<(), String> {
        let mut best: Option<(jsonschema::ValidationError<'_>, (i64, bool, bool))> = None;
        for e in self.validator.iter_errors(instance) {
            let key = self.relevance(&e);
            if best.as_ref().is_none_or(|(_, k)| key > *k) {
                best = Some((e, key));
            }
        }
        match best {
            None => Ok(()),
            Some((e, _)) => Err(python_message(&self.raw, &e)),
        }
    }

    fn relevance(&self, e: &jsonschema::ValidationError<'_>) -> (i64, bool, bool) {
        let depth = e.instance_path.as_str().split('/').skip(1).count() as i64;
        let weak = matches!(e.kind, ValidationErrorKind::AnyOf | ValidationErrorKind::OneOfNotValid);
        let mut segs = pointer_segments(e.schema_path.as_str());
        segs.pop();
        let ptr: String = segs.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect();
        let matches_type = self.raw.pointer(&ptr).and_then(|sub| sub.get("type")).is_some_and(|t| match t {
            Value::String(t) => is_type(&e.instance, t),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| is_type(&e.instance, t)),
            _ => false,
        });
        (-depth, !weak, !matches_type)
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

/// jsonschema's type check of `v` against one JSON Schema type name.
fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

/// Python `repr()` of a JSON value, as jsonschema prints instances.
pub fn pyrepr(v: &Value) -> String {
    pyfmt::repr(&to_py(v))
}

/// A JSON value as the Python value jsonschema prints.
fn to_py(v: &Value) -> Py {
    match v {
        Value::Null => Py::raw("None"),
        Value::Bool(true) => Py::raw("True"),
        Value::Bool(false) => Py::raw("False"),
        Value::Number(n) => Py::raw(n.to_string()),
        Value::String(s) => Py::str(s.clone()),
        Value::Array(a) => Py::list(a.iter().map(to_py)),
        Value::Object(o) => Py::dict(o.iter().map(|(k, v)| (k.clone(), to_py(v)))),
    }
}

/// jsonschema's `_pretty`: `pformat`, continuation lines indented by four.
fn pretty(v: &Value) -> String {
    pyfmt::pretty(&to_py(v))
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
