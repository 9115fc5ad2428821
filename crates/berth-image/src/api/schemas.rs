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
