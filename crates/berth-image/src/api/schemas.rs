//! `/v2/schemas/*`: the JSON schemas glanceclient and others fetch.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{json_response, ApiResult, AppState};
use crate::service::ImageService;

fn nullable(kind: &str) -> Value {
    json!(["null", kind])
}

fn enum_with_null(values: &[String]) -> Value {
    let mut v = vec![Value::Null];
    v.extend(values.iter().cloned().map(Value::String));
    Value::Array(v)
}

pub(crate) fn image_schema(svc: &ImageService) -> Value {
    json!({
        "name": "image",
        "properties": {
            "id": {"type": "string", "description": "An identifier for the image",
                   "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": {"type": nullable("string"), "description": "Descriptive name for the image", "maxLength": 255},
            "status": {"type": "string", "readOnly": true, "description": "Status of the image",
                       "enum": crate::model::STATUSES},
            "visibility": {"type": "string", "description": "Scope of image accessibility",
                           "enum": crate::model::VISIBILITIES},
            "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
            "os_hidden": {"type": "boolean",
                          "description": "If true, image will not appear in default image list response."},
            "checksum": {"type": nullable("string"), "readOnly": true, "description": "md5 hash of image contents.",
                         "maxLength": 32},
            "os_hash_algo": {"type": nullable("string"), "readOnly": true,
                             "description": "Algorithm to calculate the os_hash_value", "maxLength": 64},
            "os_hash_value": {"type": nullable("string"), "readOnly": true,
                              "description": "Hexdigest of the image contents using the algorithm specified by the os_hash_algo",
                              "maxLength": 128},
            "owner": {"type": nullable("string"), "description": "Owner of the image", "maxLength": 255},
            "size": {"type": nullable("integer"), "readOnly": true, "description": "Size of image file in bytes"},
            "virtual_size": {"type": nullable("integer"), "readOnly": true, "description": "Virtual size of image in bytes"},
            "container_format": {"type": nullable("string"), "description": "Format of the container",
                                 "enum": enum_with_null(&svc.formats.container)},
            "disk_format": {"type": nullable("string"), "description": "Format of the disk",
                            "enum": enum_with_null(&svc.formats.disk)},
            "created_at": {"type": "string", "readOnly": true, "description": "Date and time of image registration"},
            "updated_at": {"type": "string", "readOnly": true,
                           "description": "Date and time of the last image modification"},
            "tags": {"type": "array", "description": "List of strings related to the image",
                     "items": {"type": "string", "maxLength": 255}},
            "direct_url": {"type": "string", "readOnly": true,
                           "description": "URL to access the image file kept in external store"},
            "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
            "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
            "self": {"type": "string", "readOnly": true, "description": "An image self url"},
            "file": {"type": "string", "readOnly": true, "description": "An image file url"},
            "stores": {"type": "string", "readOnly": true, "description": "Store in which image data resides."},
            "schema": {"type": "string", "readOnly": true, "description": "An image schema url"},
            "locations": {"type": "array", "items": {"type": "object", "properties": {
                "url": {"type": "string", "maxLength": 255}, "metadata": {"type": "object"}},
                "required": ["url", "metadata"]},
                "description": "A set of URLs to access the image file kept in external store"}
        },
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

fn member_schema() -> Value {
    json!({
        "name": "member",
        "properties": {
            "created_at": {"type": "string", "description": "Date and time of image member creation"},
            "image_id": {"type": "string", "description": "An identifier for the image",
                         "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
            "status": {"type": "string", "description": "The status of this image member",
                       "enum": crate::model::MEMBER_STATUSES},
            "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
            "schema": {"type": "string", "readOnly": true}
        }
    })
}

pub(crate) async fn image(State(svc): State<AppState>) -> ApiResult {
    Ok(json_response(StatusCode::OK, image_schema(&svc)))
}

pub(crate) async fn images(State(svc): State<AppState>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        json!({
            "name": "images",
            "properties": {
                "images": {"type": "array", "items": image_schema(&svc)},
                "first": {"type": "string"},
                "next": {"type": "string"},
                "schema": {"type": "string"}
            },
            "links": [
                {"rel": "first", "href": "{first}"},
                {"rel": "next", "href": "{next}"},
                {"rel": "describedby", "href": "{schema}"}
            ]
        }),
    ))
}

pub(crate) async fn member() -> ApiResult {
    Ok(json_response(StatusCode::OK, member_schema()))
}

pub(crate) async fn members() -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        json!({
            "name": "members",
            "properties": {
                "members": {"type": "array", "items": member_schema()},
                "schema": {"type": "string"}
            },
            "links": [{"rel": "describedby", "href": "{schema}"}]
        }),
    ))
}

fn task_schema() -> Value {
    json!({
        "name": "task",
        "properties": {
            "id": {"type": "string", "description": "An identifier for the task",
                   "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "type": {"type": "string", "description": "The type of task represented by this content",
                     "enum": ["import", "api_image_import", "location_import"]},
            "status": {"type": "string", "description": "The current status of this task",
                       "enum": ["pending", "processing", "success", "failure"]},
            "input": {"type": ["null", "object"], "description": "The parameters required by task, JSON blob"},
            "result": {"type": ["null", "object"], "description": "The result of current task, JSON blob"},
            "owner": {"type": "string", "description": "An identifier for the owner of this task"},
            "message": {"type": "string", "description": "Human-readable informative message only included when appropriate (usually on failure)"},
            "image_id": {"type": "string", "description": "Image associated with the task"},
            "request_id": {"type": "string", "description": "Human-readable informative request-id"},
            "user_id": {"type": "string", "description": "User associated with the task"},
            "expires_at": {"type": ["null", "string"], "description": "Datetime when this resource would be subject to removal"},
            "created_at": {"type": "string", "description": "Datetime when this resource was created"},
            "updated_at": {"type": "string", "description": "Datetime when this resource was updated"},
            "self": {"type": "string"},
            "schema": {"type": "string"}
        }
    })
}

pub(crate) async fn task() -> ApiResult {
    Ok(json_response(StatusCode::OK, task_schema()))
}

pub(crate) async fn tasks() -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        json!({
            "name": "tasks",
            "properties": {
                "tasks": {"type": "array", "items": task_schema()},
                "first": {"type": "string"},
                "next": {"type": "string"},
                "schema": {"type": "string"}
            },
            "links": [
                {"rel": "first", "href": "{first}"},
                {"rel": "next", "href": "{next}"},
                {"rel": "describedby", "href": "{schema}"}
            ]
        }),
    ))
}

// ---------------------------------------------------------------- metadefs

fn property_type_properties() -> Value {
    let types = json!(["array", "boolean", "integer", "number", "object", "string", null]);
    json!({
        "name": {"type": "string", "maxLength": 80},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": types},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"$ref": "#/definitions/positiveInteger"},
        "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {"type": "object", "properties": {"type": {"type": "string", "enum": types}, "enum": {"type": "array"}}},
        "maxItems": {"$ref": "#/definitions/positiveInteger"},
        "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "uniqueItems": {"type": "boolean", "default": false},
        "additionalItems": {"type": "boolean"}
    })
}

fn metadef_definitions() -> Value {
    json!({
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]},
        "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
        "property": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["title", "type"], "properties": property_type_properties()}}
    })
}

fn timestamps(what: &str) -> (Value, Value) {
    (
        json!({"type": "string", "readOnly": true, "description": format!("Date and time of {what} creation"),
               "format": "date-time"}),
        json!({"type": "string", "readOnly": true, "description": format!("Date and time of the last {what} modification"),
               "format": "date-time"}),
    )
}

fn metadef_namespace_schema() -> Value {
    let (created, updated) = timestamps("namespace");
    json!({
        "name": "namespace",
        "properties": {
            "namespace": {"type": "string", "description": "The unique namespace text.", "maxLength": 80},
            "display_name": {"type": "string", "maxLength": 80,
                             "description": "The user friendly name for the namespace. Used by UI if available."},
            "description": {"type": "string", "maxLength": 500,
                            "description": "Provides a user friendly description of the namespace."},
            "visibility": {"type": "string", "description": "Scope of namespace accessibility.",
                           "enum": ["public", "private"]},
            "protected": {"type": "boolean", "description": "If true, namespace will not be deletable."},
            "owner": {"type": "string", "description": "Owner of the namespace.", "maxLength": 255},
            "created_at": created,
            "updated_at": updated,
            "schema": {"readOnly": true, "type": "string"},
            "self": {"readOnly": true, "type": "string"},
            "resource_type_associations": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "prefix": {"type": "string"}, "properties_target": {"type": "string"}}}},
            "properties": {"$ref": "#/definitions/property"},
            "objects": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "description": {"type": "string"},
                "required": {"$ref": "#/definitions/stringArray"}, "properties": {"$ref": "#/definitions/property"}}}},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
        },
        "additionalProperties": false,
        "definitions": metadef_definitions(),
        "required": ["namespace"]
    })
}

fn metadef_object_schema() -> Value {
    let (created, updated) = timestamps("object");
    json!({
        "name": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 80},
            "description": {"type": "string"},
            "required": {"$ref": "#/definitions/stringArray"},
            "properties": {"$ref": "#/definitions/property"},
            "schema": {"readOnly": true, "type": "string"},
            "self": {"readOnly": true, "type": "string"},
            "created_at": created,
            "updated_at": updated
        },
        "additionalProperties": false,
        "definitions": metadef_definitions(),
        "required": ["name"]
    })
}

fn metadef_property_schema() -> Value {
    json!({
        "name": "property",
        "properties": property_type_properties(),
        "additionalProperties": false,
        "definitions": {
            "positiveInteger": {"type": "integer", "minimum": 0},
            "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]},
            "stringArray": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": true}
        },
        "required": ["type", "title", "name"]
    })
}

fn metadef_tag_schema() -> Value {
    let (created, updated) = timestamps("tag");
    json!({
        "name": "tag",
        "properties": {"name": {"type": "string", "maxLength": 255}, "created_at": created, "updated_at": updated},
        "additionalProperties": false,
        "required": ["name"]
    })
}

fn metadef_resource_type_schema() -> Value {
    let (created, updated) = timestamps("resource type association");
    json!({
        "name": "resource_type_association",
        "properties": {
            "name": {"type": "string", "maxLength": 80,
                     "description": "Resource type names should be aligned with Heat resource types whenever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html"},
            "prefix": {"type": "string", "maxLength": 80,
                       "description": "Specifies the prefix to use for the given resource type. Any properties in the namespace should be prefixed with this prefix when being applied to the specified resource type. Must include prefix separator (e.g. a colon :)."},
            "properties_target": {"type": "string", "maxLength": 80,
                                  "description": "Some resource types allow more than one key / value pair per instance.  For example, Cinder allows user and image metadata on volumes. Only the image properties metadata is evaluated by Nova (scheduling or drivers). This property allows a namespace target to remove the ambiguity."},
            "created_at": created,
            "updated_at": updated
        },
        "additionalProperties": false,
        "required": ["name"]
    })
}

fn collection(name: &str, items: Value) -> Value {
    json!({
        "name": name,
        "properties": {
            name: {"type": "array", "items": items},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"}
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

/// `GET /v2/schemas/metadefs/{name}`: Glance's metadef schemas.
pub(crate) async fn metadef(axum::extract::Path(name): axum::extract::Path<String>) -> ApiResult {
    let v = match name.as_str() {
        "namespace" => metadef_namespace_schema(),
        "namespaces" => collection("namespaces", metadef_namespace_schema()),
        "object" => metadef_object_schema(),
        "objects" => collection("objects", metadef_object_schema()),
        "property" => metadef_property_schema(),
        "properties" => {
            let mut item = metadef_property_schema();
            item["required"] = json!(["type", "title"]);
            json!({
                "name": "properties",
                "properties": {
                    "properties": {"type": "object", "additionalProperties": item},
                    "first": {"type": "string"},
                    "next": {"type": "string"},
                    "schema": {"type": "string"}
                },
                "links": [
                    {"rel": "first", "href": "{first}"},
                    {"rel": "next", "href": "{next}"},
                    {"rel": "describedby", "href": "{schema}"}
                ]
            })
        }
        "tag" => metadef_tag_schema(),
        "tags" => collection("tags", metadef_tag_schema()),
        "resource_type" => metadef_resource_type_schema(),
        "resource_types" => collection("resource_type_associations", metadef_resource_type_schema()),
        _ => return Err(crate::error::ImageError::not_found("The resource could not be found.")),
    };
    Ok(json_response(StatusCode::OK, v))
}
