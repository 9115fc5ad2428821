//! Name rules for resource classes and traits.

/// Longest resource class or trait name Placement accepts.
pub const MAX_NAME_LEN: usize = 255;

/// Custom resource class and trait names share this prefix.
pub const CUSTOM_PREFIX: &str = "CUSTOM_";

fn is_name_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
}

/// `CUSTOM_[A-Z0-9_]+`, at most 255 characters.
pub fn is_valid_custom_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name.len() > CUSTOM_PREFIX.len()
        && name.starts_with(CUSTOM_PREFIX)
        && name.chars().all(is_name_char)
}

/// Any resource class name as used in inventories and allocations:
/// `[A-Z0-9_]+` up to 255 characters (standard names or custom ones).
pub fn is_valid_class_pattern(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.chars().all(is_name_char)
}

/// Turn an arbitrary string into a valid custom name the way os-resource-classes
/// and os-traits normalize: upper-case, non `[A-Z0-9_]` replaced by `_`, prefixed.
pub fn normalize_custom_name(raw: &str) -> String {
    let body: String = raw
        .chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if is_name_char(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if body.starts_with(CUSTOM_PREFIX) {
        body
    } else {
        format!("{CUSTOM_PREFIX}{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_names() {
        assert!(is_valid_custom_name("CUSTOM_IRON_NFV"));
        assert!(is_valid_custom_name("CUSTOM_1"));
        assert!(!is_valid_custom_name("CUSTOM_"));
        assert!(!is_valid_custom_name("custom_lower"));
        assert!(!is_valid_custom_name("CUSTOM_lower"));
        assert!(!is_valid_custom_name("VCPU"));
        assert!(!is_valid_custom_name("CUSTOM_Ünicode"));
        assert!(!is_valid_custom_name(&format!("CUSTOM_{}", "A".repeat(249))));
        assert!(is_valid_custom_name(&format!("CUSTOM_{}", "A".repeat(248))));
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_custom_name("foo-bar.baz"), "CUSTOM_FOO_BAR_BAZ");
        assert_eq!(normalize_custom_name("CUSTOM_X"), "CUSTOM_X");
    }
}
