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

/// Microseconds since the Unix epoch.
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Glance's timestamp format (oslo `isotime`): `2015-11-06T15:32:17Z`.
pub(crate) fn isotime(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", sod / 3600, (sod / 60) % 60, sod % 60)
}

/// Parse an ISO 8601 date-time (`YYYY-MM-DD[THH:MM[:SS[.ffffff]]][Z|±HH:MM]`)
/// to microseconds since the epoch.
pub(crate) fn parse_isotime(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut micros = days_from_civil(y, mo as u32, d as u32) * 86_400_000_000;
    let mut rest = &s[10..];
    if let Some(r) = rest.strip_prefix(['T', ' ']) {
        let hh: i64 = r.get(0..2)?.parse().ok()?;
        if r.as_bytes().get(2) != Some(&b':') {
            return None;
        }
        let mm: i64 = r.get(3..5)?.parse().ok()?;
        let mut idx = 5;
        let mut ss = 0i64;
        if r.as_bytes().get(5) == Some(&b':') {
            ss = r.get(6..8)?.parse().ok()?;
            idx = 8;
        }
        let mut frac = 0i64;
        if r.as_bytes().get(idx) == Some(&b'.') {
            let digits: String = r[idx + 1..].chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.is_empty() {
                return None;
            }
            let padded = format!("{:0<6}", &digits[..digits.len().min(6)]);
            frac = padded.parse().ok()?;
            idx += 1 + digits.len();
        }
        if hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        micros += ((hh * 60 + mm) * 60 + ss) * 1_000_000 + frac;
        rest = &r[idx..];
    }
    match rest {
        "" | "Z" | "z" => Some(micros),
        tz => {
            let sign = match tz.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let tz = &tz[1..];
            let (h, m) = match tz.split_once(':') {
                Some((h, m)) => (h, m),
                None if tz.len() == 4 => (&tz[..2], &tz[2..]),
                None => return None,
            };
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let off: i64 = h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?;
            Some(micros - sign * off * 60_000_000)
        }
    }
}

// ---------------------------------------------------------------- validation

fn invalid(key: &str, detail: impl std::fmt::Display) -> ImageError {
    ImageError::bad_request(format!("Invalid value for '{key}': {detail}"))
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
        Value::String(s) if s.chars().count() <= max => Ok(Some(s.clone())),
        Value::String(s) => Err(invalid(key, format!("'{s}' is too long (at most {max} characters)"))),
        v => Err(invalid(key, format!("{v} is not of type 'null', 'string'"))),
    }
}

fn one_of(key: &str, v: &Value, allowed: &[&str]) -> Result<String> {
    match v {
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(s.clone()),
        v => Err(invalid(key, format!("{v} is not one of {allowed:?}"))),
    }
}

fn format_value(key: &str, v: &Value, allowed: &[String]) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if allowed.iter().any(|a| a == s) => Ok(Some(s.clone())),
        v => Err(invalid(key, format!("{v} is not one of {allowed:?}"))),
    }
}

fn boolean(key: &str, v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| invalid(key, format!("{v} is not of type 'boolean'")))
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
        Some(_) => Err(invalid(key, format!("{v} must be between 0 and {MAX_INT}"))),
        None => Err(invalid(key, format!("{v} is not of type 'integer'"))),
    }
}

pub(crate) fn tag_value(v: &Value) -> Result<String> {
    match v {
        Value::String(s) if s.chars().count() <= 255 => Ok(s.clone()),
        Value::String(_) => Err(invalid("tags", "a tag is longer than 255 characters")),
        v => Err(invalid("tags", format!("{v} is not of type 'string'"))),
    }
}

pub(crate) fn tags_value(v: &Value) -> Result<Vec<String>> {
    match v {
        Value::Array(items) => items.iter().map(tag_value).collect(),
        v => Err(invalid("tags", format!("{v} is not of type 'array'"))),
    }
}

/// The check every custom property key and value gets.
pub(crate) fn check_property(key: &str, v: &Value) -> Result<String> {
    if key.chars().count() > 255 {
        return Err(ImageError::bad_request("Custom property should not be greater than 255 characters."));
    }
    check_not_reserved(key)?;
    match v {
        Value::String(s) if s.chars().count() <= 65_535 => Ok(s.clone()),
        Value::String(_) => Err(invalid(key, "the value is too long")),
        v => Err(invalid(key, format!("{v} is not of type 'string'"))),
    }
}

pub(crate) fn check_not_reserved(key: &str) -> Result<()> {
    if RESERVED.contains(&key) || key.starts_with(RESERVED_NAMESPACE) {
        return Err(ImageError::forbidden(format!("Attribute '{key}' is reserved.")));
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
    fn formats_times() {
        assert_eq!(isotime(0), "1970-01-01T00:00:00Z");
        assert_eq!(isotime(1_446_823_937_893_769), "2015-11-06T15:32:17Z");
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_isotime("2015-11-06T15:32:17Z"), Some(1_446_823_937_000_000));
        assert_eq!(parse_isotime("2015-11-06T15:32:17.5Z"), Some(1_446_823_937_500_000));
        assert_eq!(parse_isotime("2015-11-06T16:32:17+01:00"), Some(1_446_823_937_000_000));
        assert_eq!(parse_isotime("2015-11-06"), Some(1_446_768_000_000_000));
        assert_eq!(parse_isotime("1970-01-01T00:00Z"), Some(0));
        assert_eq!(parse_isotime("yesterday"), None);
        assert_eq!(parse_isotime("2015-13-06"), None);
        assert_eq!(parse_isotime("2015-11-06T25:00Z"), None);
        assert_eq!(parse_isotime("2015-11-06T10:00+0x:00"), None);
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
