//! Checks on client input every API shares.

use serde_json::Value;

/// Does any string or object key in `v` contain a NUL character? No name,
/// id or property berth stores may: PostgreSQL refuses NUL in text and
/// SQLite would keep it, so an API refuses it up front and answers the same
/// on both engines.
pub fn json_has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_nul_anywhere() {
        assert!(!json_has_nul(&json!({"name": "ok", "list": ["a", 1, null, {"k": "v"}]})));
        assert!(json_has_nul(&json!({"name": "a\u{0}b"})));
        assert!(json_has_nul(&json!({"a\u{0}": 1})));
        assert!(json_has_nul(&json!([[["\u{0}"]]])));
        assert!(!json_has_nul(&json!("\\u0000")));
    }
}
