//! Parsing of image PATCH bodies: Glance's JSON-patch dialects
//! (`application/openstack-images-v2.1-json-patch`, RFC 6902 style, and the
//! older `v2.0` draft-4 style `{"replace": "/name", "value": ...}`).

use serde_json::Value;

use crate::error::{ImageError, Result};
use crate::model::shown;

pub(crate) const PATCH_V20: &str = "application/openstack-images-v2.0-json-patch";
pub(crate) const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub op: Op,
    /// Decoded pointer tokens; `path[0]` is the attribute.
    pub path: Vec<String>,
    pub value: Option<Value>,
    /// 4 for the v2.0 dialect, 10 for v2.1.
    pub draft: u8,
}

const OPS: &str = "add, remove, replace";

fn op_from(s: &str) -> Option<Op> {
    match s {
        "add" => Some(Op::Add),
        "remove" => Some(Op::Remove),
        "replace" => Some(Op::Replace),
        _ => None,
    }
}

/// The JSON-schema draft a PATCH content type selects, or `None` for an
/// unsupported media type.
pub(crate) fn draft_for(content_type: &str) -> Option<u8> {
    let base = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match base.as_str() {
        PATCH_V20 => Some(4),
        PATCH_V21 => Some(10),
        _ => None,
    }
}

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::bad_request(msg)
}

/// Validate and decode a JSON pointer the way Glance does.
pub(crate) fn decode_pointer(pointer: &str) -> Result<Vec<String>> {
    let quoted = shown(pointer);
    if !pointer.starts_with('/') {
        return Err(bad(format!("Pointer `{quoted}` does not start with \"/\".")));
    }
    let rest = &pointer[1..];
    if pointer.len() > 1 && pointer.ends_with('/') {
        return Err(bad(format!("Pointer `{quoted}` end with \"/\".")));
    }
    if rest.trim().is_empty() {
        return Err(bad(format!("Pointer `{quoted}` does not contains valid token.")));
    }
    if rest.split('/').any(|p| p.trim().is_empty()) {
        return Err(bad(format!("Pointer `{quoted}` contains adjacent \"/\".")));
    }
    let b = pointer.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'~' && !matches!(b.get(i + 1), Some(b'0') | Some(b'1')) {
            return Err(bad(format!("Pointer `{quoted}` contains \"~\" not part of a recognized escape sequence.")));
        }
    }
    Ok(rest.split('/').map(|p| p.replace("~1", "/").replace("~0", "~").trim().to_string()).collect())
}

/// Parse a PATCH body in the given dialect.
pub(crate) fn parse(body: &Value, draft: u8) -> Result<Vec<Change>> {
    let Value::Array(items) = body else {
        return Err(bad("Request body must be a JSON array of operation objects."));
    };
    let mut out = Vec::with_capacity(items.len());
    for raw in items {
        let Value::Object(obj) = raw else {
            return Err(bad("Operations must be JSON objects."));
        };
        let (op, pointer) = if draft == 10 {
            let op = match obj.get("op") {
                None => {
                    return Err(bad(format!(
                        "Unable to find `op` in JSON Schema change. It must be one of the following: {OPS}."
                    )))
                }
                Some(Value::String(s)) => op_from(s),
                Some(_) => None,
            }
            .ok_or_else(|| {
                bad(format!(
                    "Invalid operation: `{}`. It must be one of the following: {OPS}.",
                    shown(&obj.get("op").map(|v| v.to_string()).unwrap_or_default())
                ))
            })?;
            let path = match obj.get("path") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => return Err(bad(format!("Invalid JSON pointer: {}", shown(&v.to_string())))),
                None => return Err(bad("Unable to find 'path' in JSON Schema change")),
            };
            (op, path)
        } else {
            let mut found = None;
            for name in ["add", "remove", "replace"] {
                if obj.contains_key(name) {
                    if found.is_some() {
                        return Err(bad(
                            "Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".",
                        ));
                    }
                    found = Some(name);
                }
            }
            let name = found.ok_or_else(|| {
                bad("Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".")
            })?;
            let path = match &obj[name] {
                Value::String(s) => s.clone(),
                v => return Err(bad(format!("Invalid JSON pointer: {}", shown(&v.to_string())))),
            };
            (op_from(name).unwrap_or(Op::Add), path)
        };
        let path = decode_pointer(&pointer)?;
        // Only `/tags/<index>` (and `/tags/-`) may go deeper than one level.
        let depth_ok = path.len() == 1 || (path.len() == 2 && path[0] == "tags");
        if !depth_ok {
            return Err(bad(format!("Invalid JSON pointer for this resource: '/{}'", shown(&path.join("/")))));
        }
        let value = if op == Op::Remove {
            None
        } else {
            Some(obj.get("value").cloned().ok_or_else(|| {
                bad(format!(
                    "Operation \"{}\" requires a member named \"value\".",
                    if op == Op::Add { "add" } else { "replace" }
                ))
            })?)
        };
        out.push(Change { op, path, value, draft });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers() {
        assert_eq!(decode_pointer("/name").unwrap(), vec!["name"]);
        assert_eq!(decode_pointer("/a~1b~0c").unwrap(), vec!["a/b~c"]);
        assert_eq!(decode_pointer("/tags/0").unwrap(), vec!["tags", "0"]);
        for p in ["name", "/", "/a//b", "/a/", "/a~2", "/a~"] {
            assert!(decode_pointer(p).is_err(), "{p}");
        }
    }

    #[test]
    fn dialects() {
        let c = parse(&json!([{"op": "replace", "path": "/name", "value": "x"}]), 10).unwrap();
        assert_eq!(c[0].op, Op::Replace);
        assert_eq!(c[0].value, Some(json!("x")));
        let c = parse(&json!([{"remove": "/foo"}]), 4).unwrap();
        assert_eq!((c[0].op, c[0].path.clone()), (Op::Remove, vec!["foo".to_string()]));
        assert!(parse(&json!({"op": "add"}), 10).is_err());
        assert!(parse(&json!(["x"]), 10).is_err());
        assert!(parse(&json!([{"op": "move", "path": "/a"}]), 10).is_err());
        assert!(parse(&json!([{"op": "add", "path": "/a"}]), 10).is_err());
        assert!(parse(&json!([{"path": "/a"}]), 10).is_err());
        assert!(parse(&json!([{"op": "add", "path": "/a/b", "value": 1}]), 10).is_err());
        assert!(parse(&json!([{"add": "/a", "remove": "/b", "value": 1}]), 4).is_err());
        assert_eq!(draft_for("application/openstack-images-v2.1-json-patch; charset=UTF-8"), Some(10));
        assert_eq!(draft_for("application/json"), None);
    }
}
