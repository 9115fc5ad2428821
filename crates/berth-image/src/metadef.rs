//! Metadata definitions (Glance's metadefs catalog): the records, their
//! JSON views, and validation of request bodies after Glance's schemas
//! (`glance/api/v2/metadef_*.py`). Every error is Glance's 400 "Provided
//! object does not match schema '<name>': <reason>", or 403 for a read-only
//! attribute.

use serde_json::{json, Map, Value};

use crate::error::{ImageError, Result};
use crate::model::{isotime, shown};

pub(crate) const NS_VISIBILITIES: &[&str] = &["public", "private"];
const PROPERTY_TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Namespace {
    pub namespace: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub visibility: String,
    pub protected: bool,
    pub owner: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetadefObject {
    pub name: String,
    pub description: Option<String>,
    pub required: Option<Vec<String>>,
    /// Property name → property type (each without its name).
    pub properties: Option<Map<String, Value>>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Property {
    pub name: String,
    /// The property type without its name.
    pub schema: Map<String, Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag {
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceType {
    pub name: String,
    pub protected: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Association {
    pub name: String,
    pub prefix: Option<String>,
    pub properties_target: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn put_opt(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(key.into(), Value::String(v.clone()));
    }
}

pub(crate) fn namespace_href(ns: &str) -> String {
    format!("/v2/metadefs/namespaces/{ns}")
}

impl Namespace {
    /// The namespace alone, as Glance shows it (unset attributes omitted).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("namespace".into(), Value::String(self.namespace.clone()));
        put_opt(&mut m, "display_name", &self.display_name);
        put_opt(&mut m, "description", &self.description);
        m.insert("visibility".into(), Value::String(self.visibility.clone()));
        m.insert("protected".into(), Value::Bool(self.protected));
        put_opt(&mut m, "owner", &self.owner);
        m.insert("created_at".into(), Value::String(isotime(self.created_at)));
        m.insert("updated_at".into(), Value::String(isotime(self.updated_at)));
        m.insert("schema".into(), Value::String("/v2/schemas/metadefs/namespace".into()));
        m.insert("self".into(), Value::String(namespace_href(&self.namespace)));
        m
    }
}

impl MetadefObject {
    pub fn to_json(&self, namespace: &str) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        put_opt(&mut m, "description", &self.description);
        if let Some(r) = &self.required {
            m.insert("required".into(), json!(r));
        }
        if let Some(p) = &self.properties {
            m.insert("properties".into(), Value::Object(p.clone()));
        }
        m.insert("created_at".into(), Value::String(isotime(self.created_at)));
        m.insert("updated_at".into(), Value::String(isotime(self.updated_at)));
        m.insert("self".into(), Value::String(format!("{}/objects/{}", namespace_href(namespace), self.name)));
        m.insert("schema".into(), Value::String("/v2/schemas/metadefs/object".into()));
        Value::Object(m)
    }

    /// The object with `prefix` before its property names (a namespace
    /// shown for a resource type).
    pub fn prefixed(&mut self, prefix: &str) {
        if let Some(p) = self.properties.take() {
            self.properties = Some(p.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)).collect());
        }
        if let Some(r) = self.required.as_mut() {
            for n in r.iter_mut() {
                *n = format!("{prefix}{n}");
            }
        }
    }
}

impl Property {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        m.extend(self.schema.clone());
        Value::Object(m)
    }
}

impl Tag {
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "created_at": isotime(self.created_at), "updated_at": isotime(self.updated_at)})
    }
}

impl ResourceType {
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "created_at": isotime(self.created_at), "updated_at": isotime(self.updated_at)})
    }
}

impl Association {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        put_opt(&mut m, "prefix", &self.prefix);
        put_opt(&mut m, "properties_target", &self.properties_target);
        m.insert("created_at".into(), Value::String(isotime(self.created_at)));
        m.insert("updated_at".into(), Value::String(isotime(self.updated_at)));
        Value::Object(m)
    }
}

// ---------------------------------------------------------------- validation

/// A schema violation, worded as Glance's (jsonschema's reason after the
/// schema's name).
fn mismatch(schema: &str, reason: impl std::fmt::Display) -> ImageError {
    ImageError::bad_request(format!("Provided object does not match schema '{schema}': {reason}"))
}

/// A value as Python's `repr` shows it (jsonschema's messages quote so).
fn repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", shown(s)),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => shown(&other.to_string()),
    }
}

fn not_of_type(v: &Value, want: &str) -> String {
    format!("{} is not of type '{want}'", repr(v))
}

/// The JSON body as an object (jsonschema's wording for anything else).
pub(crate) fn object_body<'a>(schema: &str, v: &'a Value) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| mismatch(schema, not_of_type(v, "object")))
}

/// Glance refuses the server's attributes in a body with 403.
pub(crate) fn refuse_read_only(body: &Map<String, Value>, keys: &[&str]) -> Result<()> {
    for k in keys {
        if body.contains_key(*k) {
            return Err(ImageError::forbidden(format!("Attribute '{k}' is read-only.")));
        }
    }
    Ok(())
}

fn no_extra(schema: &str, body: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    let extra: Vec<String> =
        body.keys().filter(|k| !allowed.contains(&k.as_str())).map(|k| format!("'{}'", shown(k))).collect();
    if extra.is_empty() {
        return Ok(());
    }
    let verb = if extra.len() == 1 { "was" } else { "were" };
    Err(mismatch(schema, format!("Additional properties are not allowed ({} {verb} unexpected)", extra.join(", "))))
}

fn required(schema: &str, body: &Map<String, Value>, key: &str) -> Result<()> {
    if body.contains_key(key) {
        Ok(())
    } else {
        Err(mismatch(schema, format!("'{key}' is a required property")))
    }
}

/// An optional string attribute of at most `max` characters.
fn text(schema: &str, body: &Map<String, Value>, key: &str, max: Option<usize>) -> Result<Option<String>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => {
            if let Some(max) = max {
                if s.chars().count() > max {
                    return Err(mismatch(schema, format!("'{}' is too long", shown(s))));
                }
            }
            Ok(Some(s.clone()))
        }
        Some(v) => Err(mismatch(schema, not_of_type(v, "string"))),
    }
}

fn boolean(schema: &str, body: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(mismatch(schema, not_of_type(v, "boolean"))),
    }
}

/// An array of distinct strings (`stringArray`).
fn string_array(schema: &str, v: &Value, min_items: usize) -> Result<Vec<String>> {
    let Value::Array(items) = v else { return Err(mismatch(schema, not_of_type(v, "array"))) };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        let Value::String(s) = i else { return Err(mismatch(schema, not_of_type(i, "string"))) };
        if out.contains(s) {
            return Err(mismatch(schema, format!("{} has non-unique elements", repr(v))));
        }
        out.push(s.clone());
    }
    if out.len() < min_items {
        return Err(mismatch(schema, format!("{} is too short", repr(v))));
    }
    Ok(out)
}

fn non_negative(schema: &str, v: &Value) -> Result<()> {
    match v.as_i64() {
        Some(n) if n >= 0 => Ok(()),
        Some(n) => Err(mismatch(schema, format!("{n} is less than the minimum of 0"))),
        None => Err(mismatch(schema, not_of_type(v, "integer"))),
    }
}

const PROPERTY_KEYS: &[&str] = &[
    "name",
    "title",
    "description",
    "operators",
    "type",
    "required",
    "minimum",
    "maximum",
    "maxLength",
    "minLength",
    "pattern",
    "enum",
    "readonly",
    "default",
    "items",
    "maxItems",
    "minItems",
    "uniqueItems",
    "additionalItems",
    "confidential",
];

/// Attributes of a property type Glance keeps (its `PropertyType` model;
/// `required` is accepted by the schema but not kept).
const PROPERTY_KEPT: &[&str] = &[
    "type",
    "title",
    "description",
    "operators",
    "default",
    "readonly",
    "minimum",
    "maximum",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "confidential",
    "items",
    "uniqueItems",
    "minItems",
    "maxItems",
    "additionalItems",
];

fn property_type_value(schema: &str, v: &Value) -> Result<()> {
    match v {
        Value::Null => Ok(()),
        Value::String(s) if PROPERTY_TYPES.contains(&s.as_str()) => Ok(()),
        _ => Err(mismatch(
            schema,
            format!("{} is not one of ['array', 'boolean', 'integer', 'number', 'object', 'string', None]", repr(v)),
        )),
    }
}

/// Validate one property type (`name` required when `with_name`); the kept
/// attributes, without the name.
pub(crate) fn property_type(schema: &str, v: &Value, with_name: bool) -> Result<(Option<String>, Map<String, Value>)> {
    let body = object_body(schema, v)?;
    no_extra(schema, body, PROPERTY_KEYS)?;
    for k in ["title", "type"] {
        required(schema, body, k)?;
    }
    if with_name {
        required(schema, body, "name")?;
    }
    let name = text(schema, body, "name", Some(80))?;
    text(schema, body, "title", None)?;
    text(schema, body, "description", None)?;
    text(schema, body, "pattern", None)?;
    property_type_value(schema, &body["type"])?;
    for (k, v) in body {
        match k.as_str() {
            "operators" => {
                string_array(schema, v, 0)?;
            }
            "required" => {
                string_array(schema, v, 1)?;
            }
            "enum" if !v.is_array() => return Err(mismatch(schema, not_of_type(v, "array"))),
            "minimum" | "maximum" if !v.is_number() => return Err(mismatch(schema, not_of_type(v, "number"))),
            "maxLength" | "minLength" | "maxItems" | "minItems" => non_negative(schema, v)?,
            "readonly" | "uniqueItems" | "additionalItems" | "confidential" if !v.is_boolean() => {
                return Err(mismatch(schema, not_of_type(v, "boolean")))
            }
            "items" => {
                let Value::Object(items) = v else { return Err(mismatch(schema, not_of_type(v, "object"))) };
                if let Some(t) = items.get("type") {
                    property_type_value(schema, t)?;
                }
                if let Some(e) = items.get("enum") {
                    if !e.is_array() {
                        return Err(mismatch(schema, not_of_type(e, "array")));
                    }
                }
            }
            _ => {}
        }
    }
    let kept = body.iter().filter(|(k, _)| PROPERTY_KEPT.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone()));
    Ok((name, kept.collect()))
}

/// A map of property name → property type.
fn property_map(schema: &str, v: &Value) -> Result<Map<String, Value>> {
    let Value::Object(m) = v else { return Err(mismatch(schema, not_of_type(v, "object"))) };
    let mut out = Map::new();
    for (name, p) in m {
        if name.chars().count() > 80 {
            return Err(mismatch(schema, format!("'{}' is too long", shown(name))));
        }
        let (_, kept) = property_type(schema, p, false)?;
        out.insert(name.clone(), Value::Object(kept));
    }
    Ok(out)
}

/// What a namespace body holds.
#[derive(Debug, Default)]
pub(crate) struct NamespaceBody {
    pub namespace: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
    pub protected: Option<bool>,
    pub owner: Option<String>,
    pub associations: Vec<AssociationBody>,
    pub properties: Vec<(String, Map<String, Value>)>,
    pub objects: Vec<ObjectBody>,
    pub tags: Vec<String>,
}

pub(crate) const READ_ONLY: &[&str] = &["self", "schema", "created_at", "updated_at"];

pub(crate) fn namespace_body(v: &Value) -> Result<NamespaceBody> {
    const S: &str = "namespace";
    let body = object_body(S, v)?;
    refuse_read_only(body, READ_ONLY)?;
    no_extra(
        S,
        body,
        &[
            "namespace",
            "display_name",
            "description",
            "visibility",
            "protected",
            "owner",
            "resource_type_associations",
            "properties",
            "objects",
            "tags",
        ],
    )?;
    required(S, body, "namespace")?;
    let mut out = NamespaceBody {
        namespace: text(S, body, "namespace", Some(80))?.unwrap_or_default(),
        display_name: text(S, body, "display_name", Some(80))?,
        description: text(S, body, "description", Some(500))?,
        visibility: text(S, body, "visibility", None)?,
        protected: boolean(S, body, "protected")?,
        owner: text(S, body, "owner", Some(255))?,
        ..Default::default()
    };
    if let Some(vis) = &out.visibility {
        if !NS_VISIBILITIES.contains(&vis.as_str()) {
            return Err(mismatch(S, format!("'{}' is not one of ['public', 'private']", shown(vis))));
        }
    }
    if let Some(v) = body.get("resource_type_associations") {
        let Value::Array(items) = v else { return Err(mismatch(S, not_of_type(v, "array"))) };
        for i in items {
            out.associations.push(association_fields(S, i)?);
        }
    }
    if let Some(v) = body.get("properties") {
        out.properties =
            property_map(S, v)?.into_iter().map(|(k, v)| (k, v.as_object().cloned().unwrap_or_default())).collect();
    }
    if let Some(v) = body.get("objects") {
        let Value::Array(items) = v else { return Err(mismatch(S, not_of_type(v, "array"))) };
        for i in items {
            out.objects.push(object_fields(S, i, false)?);
        }
    }
    if let Some(v) = body.get("tags") {
        let Value::Array(items) = v else { return Err(mismatch(S, not_of_type(v, "array"))) };
        for i in items {
            out.tags.push(tag_fields(S, i)?);
        }
    }
    Ok(out)
}

/// What an object body holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct ObjectBody {
    pub name: String,
    pub description: Option<String>,
    pub required: Option<Vec<String>>,
    pub properties: Option<Map<String, Value>>,
}

fn object_fields(schema: &str, v: &Value, strict: bool) -> Result<ObjectBody> {
    let body = object_body(schema, v)?;
    if strict {
        refuse_read_only(body, READ_ONLY)?;
        no_extra(schema, body, &["name", "description", "required", "properties", "self", "schema"])?;
    }
    required(schema, body, "name")?;
    Ok(ObjectBody {
        name: text(schema, body, "name", Some(80))?.unwrap_or_default(),
        description: text(schema, body, "description", None)?,
        required: body.get("required").map(|r| string_array(schema, r, 0)).transpose()?,
        properties: body.get("properties").map(|p| property_map(schema, p)).transpose()?,
    })
}

pub(crate) fn object_body_of(v: &Value) -> Result<ObjectBody> {
    object_fields("object", v, true)
}

/// What a resource-type association body holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct AssociationBody {
    pub name: String,
    pub prefix: Option<String>,
    pub properties_target: Option<String>,
}

fn association_fields(schema: &str, v: &Value) -> Result<AssociationBody> {
    let body = object_body(schema, v)?;
    required(schema, body, "name")?;
    Ok(AssociationBody {
        name: text(schema, body, "name", Some(80))?.unwrap_or_default(),
        prefix: text(schema, body, "prefix", Some(80))?,
        properties_target: text(schema, body, "properties_target", Some(80))?,
    })
}

pub(crate) fn association_body(v: &Value) -> Result<AssociationBody> {
    const S: &str = "resource_type_association";
    let body = object_body(S, v)?;
    refuse_read_only(body, &["created_at", "updated_at"])?;
    no_extra(S, body, &["name", "prefix", "properties_target"])?;
    association_fields(S, v)
}

fn tag_fields(schema: &str, v: &Value) -> Result<String> {
    let body = object_body(schema, v)?;
    required(schema, body, "name")?;
    text(schema, body, "name", Some(255)).map(Option::unwrap_or_default)
}

/// `PUT .../tags/{tag}`: `{"name": ...}`.
pub(crate) fn tag_body(v: &Value) -> Result<String> {
    const S: &str = "tag";
    let body = object_body(S, v)?;
    refuse_read_only(body, &["created_at", "updated_at"])?;
    no_extra(S, body, &["name"])?;
    tag_fields(S, v)
}

/// `POST .../tags`: `{"tags": [{"name": ...}, ...]}`.
pub(crate) fn tags_body(v: &Value) -> Result<Vec<String>> {
    const S: &str = "tags";
    let body = object_body(S, v)?;
    refuse_read_only(body, &["created_at", "updated_at"])?;
    no_extra(S, body, &["tags"])?;
    required(S, body, "tags")?;
    let Value::Array(items) = &body["tags"] else { return Err(mismatch(S, not_of_type(&body["tags"], "array"))) };
    items.iter().map(|i| tag_fields(S, i)).collect()
}

/// A tag name as given in a path (Glance's tag schema: at most 255
/// characters).
pub(crate) fn tag_name(name: &str) -> Result<String> {
    if name.chars().count() > 255 {
        return Err(mismatch("tag", format!("'{}' is too long", shown(name))));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().message
    }

    #[test]
    fn property_types_follow_glances_schema() {
        let (name, kept) =
            property_type("property", &json!({"name": "hw", "title": "HW", "type": "string", "required": ["a"]}), true)
                .unwrap();
        assert_eq!(name.as_deref(), Some("hw"));
        assert_eq!(Value::Object(kept), json!({"title": "HW", "type": "string"}));
        assert_eq!(
            msg(property_type("property", &json!({"name": "x", "type": "string"}), true)),
            "Provided object does not match schema 'property': 'title' is a required property"
        );
        assert!(msg(property_type("property", &json!({"name": "x", "title": "t", "type": "text"}), true))
            .contains("is not one of ['array'"));
        assert!(msg(property_type("property", &json!({"name": "x", "title": "t", "type": "string", "pony": 1}), true))
            .ends_with("Additional properties are not allowed ('pony' was unexpected)"));
        assert!(msg(property_type(
            "property",
            &json!({"name": "x", "title": "t", "type": "string", "maxLength": -1}),
            true
        ))
        .ends_with("-1 is less than the minimum of 0"));
        assert!(property_type("property", &json!({"title": "t", "type": "string"}), true).is_err());
        assert!(property_type("property", &json!({"title": "t", "type": null}), false).is_ok());
    }

    #[test]
    fn namespace_bodies() {
        let b = namespace_body(&json!({"namespace": "n", "visibility": "public", "tags": [{"name": "t"}],
            "objects": [{"name": "o", "properties": {"p": {"title": "P", "type": "integer"}}}],
            "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}]}))
        .unwrap();
        assert_eq!((b.namespace.as_str(), b.tags.len(), b.objects.len(), b.associations.len()), ("n", 1, 1, 1));
        assert_eq!(msg(namespace_body(&json!({"namespace": "n", "self": "x"}))), "Attribute 'self' is read-only.");
        assert!(msg(namespace_body(&json!({"namespace": "n", "visibility": "shared"})))
            .ends_with("'shared' is not one of ['public', 'private']"));
        assert!(msg(namespace_body(&json!({"display_name": "x"}))).ends_with("'namespace' is a required property"));
        assert!(msg(namespace_body(&json!({"namespace": "x".repeat(81)}))).ends_with("is too long"));
        assert!(msg(namespace_body(&json!([]))).ends_with("[] is not of type 'object'"));
        assert!(msg(tags_body(&json!({"tags": [{"name": 1}]}))).ends_with("1 is not of type 'string'"));
        assert!(msg(object_body_of(&json!({"name": "o", "required": ["a", "a"]}))).ends_with("has non-unique elements"));
    }
}
