//! The image record, its JSON view, and validation of the attributes
//! clients may set (the rules of Glance's image schema).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{ImageError, Result};

pub(crate) const STATUSES: &[&str] =
    &["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"];
pub(crate) const VISIBILITIES: &[&str] = &["community", "public", "private", "shared"];
pub(crate) const MEMBER_STATUSES: &[&str] = &["pending", "accepted", "rejected"];

/// Glance's default container formats.
pub const DEFAULT_CONTAINER_FORMATS: &[&str] = &["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"];
/// Glance's default disk formats.
pub const DEFAULT_DISK_FORMATS: &[&str] =
    &["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"];

/// Attributes a client may never send (403 "read-only").
pub(crate) const DISALLOWED: &[&str] = &["direct_url", "self", "file", "schema", "stores"];
/// Attributes the server computes.
pub(crate) const READ_ONLY: &[&str] = &[
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
];
/// Names reserved by Glance.
pub(crate) const RESERVED: &[&str] = &["location", "deleted", "deleted_at"];
pub(crate) const RESERVED_NAMESPACE: &str = "os_glance";
/// Largest value Glance's INTEGER columns hold (min_disk, min_ram).
const MAX_INT: i64 = i32::MAX as i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Image {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub visibility: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub properties: BTreeMap<String, String>,
    /// Sorted, without duplicates.
    pub tags: Vec<String>,
}

impl Image {
    pub fn new(id: String, owner: Option<String>, now: i64) -> Image {
        Image {
            id,
            name: None,
            status: "queued".into(),
            visibility: "shared".into(),
            protected: false,
            os_hidden: false,
            owner,
            disk_format: None,
            container_format: None,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: 0,
            min_ram: 0,
            created_at: now,
            updated_at: now,
            properties: BTreeMap::new(),
            tags: Vec::new(),
        }
    }

    /// Glance's JSON view: extra properties first, then the attributes.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.properties {
            m.insert(k.clone(), Value::String(v.clone()));
        }
        let s = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        let n = |v: Option<i64>| v.map(Value::from).unwrap_or(Value::Null);
        m.insert("name".into(), s(&self.name));
        m.insert("disk_format".into(), s(&self.disk_format));
        m.insert("container_format".into(), s(&self.container_format));
        m.insert("visibility".into(), Value::String(self.visibility.clone()));
        m.insert("size".into(), n(self.size));
        m.insert("virtual_size".into(), n(self.virtual_size));
        m.insert("status".into(), Value::String(self.status.clone()));
        m.insert("checksum".into(), s(&self.checksum));
        m.insert("protected".into(), Value::Bool(self.protected));
        m.insert("min_ram".into(), Value::from(self.min_ram));
        m.insert("min_disk".into(), Value::from(self.min_disk));
        m.insert("owner".into(), s(&self.owner));
        m.insert("os_hidden".into(), Value::Bool(self.os_hidden));
        m.insert("os_hash_algo".into(), s(&self.os_hash_algo));
        m.insert("os_hash_value".into(), s(&self.os_hash_value));
        m.insert("id".into(), Value::String(self.id.clone()));
        m.insert("created_at".into(), Value::String(isotime(self.created_at)));
        m.insert("updated_at".into(), Value::String(isotime(self.updated_at)));
        m.insert("tags".into(), Value::Array(self.tags.iter().cloned().map(Value::String).collect()));
        m.insert("self".into(), Value::String(format!("/v2/images/{}", self.id)));
        m.insert("file".into(), Value::String(format!("/v2/images/{}/file", self.id)));
        m.insert("schema".into(), Value::String("/v2/schemas/image".into()));
        Value::Object(m)
    }

    pub fn set_tags(&mut self, tags: impl IntoIterator<Item = String>) {
        let mut t: Vec<String> = tags.into_iter().collect();
        t.sort();
        t.dedup();
        self.tags = t;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub image_id: String,
    pub member: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Member {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "created_at": isotime(self.created_at),
            "image_id": self.image_id,
            "member_id": self.member,
            "schema": "/v2/schemas/member",
            "status": self.status,
            "updated_at": isotime(self.updated_at),
        })
    }
}

// ---------------------------------------------------------------- times

/// Glance's timestamp format (oslo `isotime`): `2015-11-06T15:32:17Z`.
pub(crate) fn isotime(micros: i64) -> String {
    berth_time::iso_seconds_z(micros)
}

// ---------------------------------------------------------------- validation

fn invalid(key: &str, detail: impl std::fmt::Display) -> ImageError {
    ImageError::bad_request(format!("Invalid value for '{}': {detail}", shown(key)))
}

/// A client's value as quoted in an error message: at most 64 characters,
/// so a 1 MB name never comes back whole.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        None => s.to_string(),
        Some((i, _)) => format!("{}...", &s[..i]),
    }
}

/// A JSON value as quoted in an error message (bounded like [`shown`]).
fn shown_value(v: &Value) -> String {
    shown(&v.to_string())
}

/// Text with a NUL character is refused everywhere (400): no database
/// stores it and no name or id can contain it.
pub(crate) fn refuse_nul(key: &str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(invalid(key, "the NUL character is not allowed"));
    }
    Ok(())
}

/// Which formats the deployment accepts.
#[derive(Debug, Clone)]
pub(crate) struct Formats {
    pub disk: Vec<String>,
    pub container: Vec<String>,
}

/// `null` or a string of at most `max` characters.
fn nullable_string(key: &str, v: &Value, max: usize) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= max => {
            refuse_nul(key, s)?;
            Ok(Some(s.clone()))
        }
        Value::String(s) => Err(invalid(key, format!("'{}' is too long (at most {max} characters)", shown(s)))),
        v => Err(invalid(key, format!("{} is not of type 'null', 'string'", shown_value(v)))),
    }
}

fn one_of(key: &str, v: &Value, allowed: &[&str]) -> Result<String> {
    match v {
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(s.clone()),
        v => Err(invalid(key, format!("{} is not one of {allowed:?}", shown_value(v)))),
    }
}

fn format_value(key: &str, v: &Value, allowed: &[String]) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if allowed.iter().any(|a| a == s) => Ok(Some(s.clone())),
        v => Err(invalid(key, format!("{} is not one of {allowed:?}", shown_value(v)))),
    }
}

fn boolean(key: &str, v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| invalid(key, format!("{} is not of type 'boolean'", shown_value(v))))
}

fn non_negative_int(key: &str, v: &Value) -> Result<i64> {
    let n = match v {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64))
        }
        _ => None,
    };
    match n {
        Some(n) if (0..=MAX_INT).contains(&n) => Ok(n),
        Some(_) => Err(invalid(key, format!("{} must be between 0 and {MAX_INT}", shown_value(v)))),
        None => Err(invalid(key, format!("{} is not of type 'integer'", shown_value(v)))),
    }
}

pub(crate) fn tag_value(v: &Value) -> Result<String> {
    match v {
        Value::String(s) if s.chars().count() <= 255 => {
            refuse_nul("tags", s)?;
            Ok(s.clone())
        }
        Value::String(_) => Err(invalid("tags", "a tag is longer than 255 characters")),
        v => Err(invalid("tags", format!("{} is not of type 'string'", shown_value(v)))),
    }
}

pub(crate) fn tags_value(v: &Value) -> Result<Vec<String>> {
    match v {
        Value::Array(items) => items.iter().map(tag_value).collect(),
        v => Err(invalid("tags", format!("{} is not of type 'array'", shown_value(v)))),
    }
}

/// The check every custom property key and value gets.
pub(crate) fn check_property(key: &str, v: &Value) -> Result<String> {
    if key.chars().count() > 255 {
        return Err(ImageError::bad_request("Custom property should not be greater than 255 characters."));
    }
    check_not_reserved(key)?;
    refuse_nul("a property name", key)?;
    match v {
        Value::String(s) if s.chars().count() <= 65_535 => {
            refuse_nul(key, s)?;
            Ok(s.clone())
        }
        Value::String(_) => Err(invalid(key, "the value is too long")),
        v => Err(invalid(key, format!("{} is not of type 'string'", shown_value(v)))),
    }
}

pub(crate) fn check_not_reserved(key: &str) -> Result<()> {
    if RESERVED.contains(&key) || key.starts_with(RESERVED_NAMESPACE) {
        return Err(ImageError::forbidden(format!("Attribute '{}' is reserved.", shown(key))));
    }
    Ok(())
}

/// Set one writable attribute (a column, tags, or a custom property) on an
/// image from a JSON value, validating it. `key` must not be read-only.
pub(crate) fn set_attribute(img: &mut Image, key: &str, v: &Value, formats: &Formats) -> Result<()> {
    match key {
        "name" => img.name = nullable_string(key, v, 255)?,
        "visibility" => img.visibility = one_of(key, v, VISIBILITIES)?,
        "protected" => img.protected = boolean(key, v)?,
        "os_hidden" => img.os_hidden = boolean(key, v)?,
        "owner" => img.owner = nullable_string(key, v, 255)?,
        "min_disk" => img.min_disk = non_negative_int(key, v)?,
        "min_ram" => img.min_ram = non_negative_int(key, v)?,
        "tags" => {
            let t = tags_value(v)?;
            img.set_tags(t)
        }
        "disk_format" => img.disk_format = format_value(key, v, &formats.disk)?,
        "container_format" => img.container_format = format_value(key, v, &formats.container)?,
        _ => {
            let val = check_property(key, v)?;
            img.properties.insert(key.to_string(), val);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_nul() {
        assert_eq!(shown("short"), "short");
        let long = "\u{e9}".repeat(1000);
        assert_eq!(shown(&long), format!("{}...", "\u{e9}".repeat(64)));
        assert!(refuse_nul("name", "a\0b").is_err());
        assert!(refuse_nul("name", "ab").is_ok());
        let f = Formats { disk: vec!["raw".into()], container: vec!["bare".into()] };
        let mut img = Image::new("x".into(), None, 0);
        for (k, v) in [
            ("name", serde_json::json!("a\u{0}")),
            ("owner", serde_json::json!("\u{0}")),
            ("tags", serde_json::json!(["\u{0}"])),
            ("os_distro", serde_json::json!("a\u{0}")),
            ("a\u{0}", serde_json::json!("x")),
        ] {
            assert_eq!(set_attribute(&mut img, k, &v, &f).unwrap_err().status.as_u16(), 400, "{k:?}");
        }
        assert_eq!(img, Image::new("x".into(), None, 0));
    }

    #[test]
    fn formats_times() {
        assert_eq!(isotime(0), "1970-01-01T00:00:00Z");
        assert_eq!(isotime(1_446_823_937_893_769), "2015-11-06T15:32:17Z");
    }

    #[test]
    fn validates_attributes() {
        let f = Formats {
            disk: DEFAULT_DISK_FORMATS.iter().map(|s| s.to_string()).collect(),
            container: DEFAULT_CONTAINER_FORMATS.iter().map(|s| s.to_string()).collect(),
        };
        let mut img = Image::new("x".into(), None, 0);
        set_attribute(&mut img, "min_disk", &serde_json::json!(3), &f).unwrap();
        assert_eq!(img.min_disk, 3);
        assert!(set_attribute(&mut img, "min_disk", &serde_json::json!(-1), &f).is_err());
        assert!(set_attribute(&mut img, "min_disk", &serde_json::json!("3"), &f).is_err());
        assert!(set_attribute(&mut img, "disk_format", &serde_json::json!("floppy"), &f).is_err());
        assert!(set_attribute(&mut img, "visibility", &serde_json::json!("everyone"), &f).is_err());
        assert!(set_attribute(&mut img, "hw_disk_bus", &serde_json::json!(1), &f).is_err());
        assert_eq!(
            set_attribute(&mut img, "os_glance_x", &serde_json::json!("1"), &f).unwrap_err().status,
            axum::http::StatusCode::FORBIDDEN
        );
        set_attribute(&mut img, "tags", &serde_json::json!(["b", "a", "b"]), &f).unwrap();
        assert_eq!(img.tags, vec!["a", "b"]);
    }
}

// ---------------------------------------------------------------- tasks

/// A Glance task: berth records one `api_image_import` task per import.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Task {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub owner: Option<String>,
    pub user_id: Option<String>,
    pub image_id: Option<String>,
    pub request_id: Option<String>,
    pub input: Value,
    pub result: Option<Value>,
    pub message: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: Option<i64>,
}

impl Task {
    /// The list view (Glance's task stub).
    pub fn to_stub_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.id.clone()));
        m.insert("type".into(), Value::String(self.kind.clone()));
        m.insert("status".into(), Value::String(self.status.clone()));
        m.insert("owner".into(), self.owner.clone().map(Value::String).unwrap_or(Value::Null));
        m.insert("created_at".into(), Value::String(isotime(self.created_at)));
        m.insert("updated_at".into(), Value::String(isotime(self.updated_at)));
        m.insert("self".into(), Value::String(format!("/v2/tasks/{}", self.id)));
        m.insert("schema".into(), Value::String("/v2/schemas/task".into()));
        if let Some(e) = self.expires_at {
            m.insert("expires_at".into(), Value::String(isotime(e)));
        }
        Value::Object(m)
    }

    /// The full view (`GET /v2/tasks/{id}`).
    pub fn to_json(&self) -> Value {
        let mut v = self.to_stub_json();
        let m = v.as_object_mut().expect("an object");
        m.insert("input".into(), self.input.clone());
        m.insert("result".into(), self.result.clone().unwrap_or(Value::Null));
        m.insert("message".into(), Value::String(self.message.clone()));
        for (k, val) in [("image_id", &self.image_id), ("request_id", &self.request_id), ("user_id", &self.user_id)] {
            if let Some(x) = val {
                m.insert(k.into(), Value::String(x.clone()));
            }
        }
        v
    }
}
