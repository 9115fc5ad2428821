//! The image API's default policy rules, after Glance's secure-RBAC
//! defaults (`glance/policies/*.py`).
//!
//! The check strings match Glance's current defaults for every route berth
//! serves (compared again for issues 8 and 11; `tests/policy_coverage.rs`
//! walks each route with callers of no role, reader, member and admin).
//! Glance's rules for routes berth does not serve (locations, cache, copy
//! import, store details) are not registered. Metadata definitions follow
//! Glance's: reads for readers of the owning project (or of any project
//! for a public namespace), writes for administrators (`metadef_admin`). Staging and importing data
//! check `modify_image`, as Glance's handlers do; the task routes check
//! `get_task(s)` and then `tasks_api_access` (admin only by default). Note that `deactivate` and
//! `reactivate` are project-member operations in Glance, not admin-only;
//! making an image public (`publicize_image`) is admin-only.

use berth_policy::{RuleDefault, Scope};

const PROJECT: &[Scope] = &[Scope::Project];

const fn rule(
    name: &'static str,
    check_str: &'static str,
    description: &'static str,
    operations: &'static [(&'static str, &'static str)],
) -> RuleDefault {
    RuleDefault { name, check_str, description, operations, scope_types: PROJECT, deprecated_rule: None }
}

const ADMIN: &str = "rule:context_is_admin";
const ADMIN_OR_PROJECT_MEMBER: &str = "rule:context_is_admin or (role:member and project_id:%(project_id)s)";
const ADMIN_OR_PROJECT_READER: &str = "rule:context_is_admin or (role:reader and project_id:%(project_id)s)";

/// Glance's metadef rules: readers of the owning project, or anyone with a
/// reader role for a public namespace, read; administrators write.
const READ_NAMESPACE: &str =
    "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))";
const METADEF_ADMIN: &str = "rule:metadef_admin";
const NS: &str = "/v2/metadefs/namespaces/{namespace_name}";
const OBJECTS: &str = "/v2/metadefs/namespaces/{namespace_name}/objects";
const OBJECT: &str = "/v2/metadefs/namespaces/{namespace_name}/objects/{object_name}";
const PROPERTIES: &str = "/v2/metadefs/namespaces/{namespace_name}/properties";
const PROPERTY: &str = "/v2/metadefs/namespaces/{namespace_name}/properties/{property_name}";
const TAGS: &str = "/v2/metadefs/namespaces/{namespace_name}/tags";
const TAG: &str = "/v2/metadefs/namespaces/{namespace_name}/tags/{tag_name}";
const RESOURCE_TYPES: &str = "/v2/metadefs/namespaces/{namespace_name}/resource_types";

static DEFAULTS: &[RuleDefault] = &[
    RuleDefault {
        name: "context_is_admin",
        check_str: "role:admin",
        description: "Administrators: see and manage every image.",
        operations: &[],
        scope_types: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "default",
        check_str: "",
        description: "Defines the default rule used for policies that historically had an empty policy.",
        operations: &[],
        scope_types: &[],
        deprecated_rule: None,
    },
    rule(
        "add_image",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)",
        "Create new image",
        &[("POST", "/v2/images")],
    ),
    rule("delete_image", ADMIN_OR_PROJECT_MEMBER, "Deletes the image", &[("DELETE", "/v2/images/{image_id}")]),
    rule(
        "get_image",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s or \
         'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))",
        "Get specified image",
        &[("GET", "/v2/images/{image_id}")],
    ),
    rule("get_images", ADMIN_OR_PROJECT_READER, "Get all available images", &[("GET", "/v2/images")]),
    rule("modify_image", ADMIN_OR_PROJECT_MEMBER, "Updates given image", &[("PATCH", "/v2/images/{image_id}")]),
    rule("publicize_image", ADMIN, "Publicize given image", &[("PATCH", "/v2/images/{image_id}")]),
    rule(
        "communitize_image",
        ADMIN_OR_PROJECT_MEMBER,
        "Communitize given image",
        &[("PATCH", "/v2/images/{image_id}")],
    ),
    rule(
        "download_image",
        "rule:context_is_admin or (role:member and (project_id:%(project_id)s or project_id:%(member_id)s or \
         'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))",
        "Downloads given image",
        &[("GET", "/v2/images/{image_id}/file")],
    ),
    rule(
        "upload_image",
        ADMIN_OR_PROJECT_MEMBER,
        "Uploads data to specified image",
        &[("PUT", "/v2/images/{image_id}/file")],
    ),
    rule("add_member", ADMIN_OR_PROJECT_MEMBER, "Create image member", &[("POST", "/v2/images/{image_id}/members")]),
    rule(
        "delete_member",
        ADMIN_OR_PROJECT_MEMBER,
        "Delete image member",
        &[("DELETE", "/v2/images/{image_id}/members/{member_id}")],
    ),
    rule(
        "get_member",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s))",
        "Show image member details",
        &[("GET", "/v2/images/{image_id}/members/{member_id}")],
    ),
    rule(
        "get_members",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s))",
        "List image members",
        &[("GET", "/v2/images/{image_id}/members")],
    ),
    rule(
        "modify_member",
        "rule:context_is_admin or (role:member and project_id:%(member_id)s)",
        "Update image member",
        &[("PUT", "/v2/images/{image_id}/members/{member_id}")],
    ),
    rule(
        "deactivate",
        ADMIN_OR_PROJECT_MEMBER,
        "Deactivate image",
        &[("POST", "/v2/images/{image_id}/actions/deactivate")],
    ),
    rule(
        "reactivate",
        ADMIN_OR_PROJECT_MEMBER,
        "Reactivate image",
        &[("POST", "/v2/images/{image_id}/actions/reactivate")],
    ),
    RuleDefault {
        name: "metadef_default",
        check_str: "",
        description: "Metadata definitions: the former default of the read rules.",
        operations: &[],
        scope_types: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "metadef_admin",
        check_str: ADMIN,
        description: "Metadata definitions: the default of the write rules.",
        operations: &[],
        scope_types: &[],
        deprecated_rule: None,
    },
    rule("get_metadef_namespace", READ_NAMESPACE, "Get a specific namespace.", &[("GET", NS)]),
    rule("get_metadef_namespaces", ADMIN_OR_PROJECT_READER, "List namespace.", &[("GET", "/v2/metadefs/namespaces")]),
    rule("modify_metadef_namespace", METADEF_ADMIN, "Modify an existing namespace.", &[("PUT", NS)]),
    rule("add_metadef_namespace", METADEF_ADMIN, "Create a namespace.", &[("POST", "/v2/metadefs/namespaces")]),
    rule("delete_metadef_namespace", METADEF_ADMIN, "Delete a namespace.", &[("DELETE", NS)]),
    rule("get_metadef_object", READ_NAMESPACE, "Get a specific object from a namespace.", &[("GET", OBJECT)]),
    rule("get_metadef_objects", READ_NAMESPACE, "Get objects from a namespace.", &[("GET", OBJECTS)]),
    rule("modify_metadef_object", METADEF_ADMIN, "Update an object within a namespace.", &[("PUT", OBJECT)]),
    rule("add_metadef_object", METADEF_ADMIN, "Create an object within a namespace.", &[("POST", OBJECTS)]),
    rule("delete_metadef_object", METADEF_ADMIN, "Delete an object within a namespace.", &[("DELETE", OBJECT)]),
    rule(
        "list_metadef_resource_types",
        READ_NAMESPACE,
        "List meta definition resource types.",
        &[("GET", "/v2/metadefs/resource_types")],
    ),
    rule(
        "get_metadef_resource_type",
        READ_NAMESPACE,
        "Get meta definition resource types associations.",
        &[("GET", RESOURCE_TYPES)],
    ),
    rule(
        "add_metadef_resource_type_association",
        METADEF_ADMIN,
        "Create meta definition resource types association.",
        &[("POST", RESOURCE_TYPES)],
    ),
    rule(
        "remove_metadef_resource_type_association",
        METADEF_ADMIN,
        "Delete meta definition resource types association.",
        &[("POST", "/v2/metadefs/namespaces/{namespace_name}/resource_types/{name}")],
    ),
    rule("get_metadef_property", READ_NAMESPACE, "Get a specific meta definition property.", &[("GET", PROPERTY)]),
    rule("get_metadef_properties", READ_NAMESPACE, "List meta definition properties.", &[("GET", PROPERTIES)]),
    rule("modify_metadef_property", METADEF_ADMIN, "Update meta definition property.", &[("GET", PROPERTY)]),
    rule("add_metadef_property", METADEF_ADMIN, "Create meta definition property.", &[("POST", PROPERTIES)]),
    rule("remove_metadef_property", METADEF_ADMIN, "Delete meta definition property.", &[("DELETE", PROPERTY)]),
    rule("get_metadef_tag", READ_NAMESPACE, "Get tag definition.", &[("GET", TAG)]),
    rule("get_metadef_tags", READ_NAMESPACE, "List tag definitions.", &[("GET", TAGS)]),
    rule("modify_metadef_tag", METADEF_ADMIN, "Update tag definition.", &[("PUT", TAG)]),
    rule("add_metadef_tag", METADEF_ADMIN, "Add tag definition.", &[("POST", TAG)]),
    rule("add_metadef_tags", METADEF_ADMIN, "Create tag definitions.", &[("POST", TAGS)]),
    rule("delete_metadef_tag", METADEF_ADMIN, "Delete tag definition.", &[("DELETE", TAG)]),
    rule("delete_metadef_tags", METADEF_ADMIN, "Delete tag definitions.", &[("DELETE", TAGS)]),
    rule(
        "stores_info_detail",
        "role:admin",
        "Show the stores with their details",
        &[("GET", "/v2/info/stores/detail")],
    ),
    rule("get_task", "rule:default", "Get an image task", &[("GET", "/v2/tasks/{task_id}")]),
    rule("get_tasks", "rule:default", "List tasks for all images", &[("GET", "/v2/tasks")]),
    rule(
        "tasks_api_access",
        ADMIN,
        "Access the tasks API (every task route checks it after get_task or get_tasks)",
        &[("GET", "/v2/tasks/{task_id}"), ("GET", "/v2/tasks")],
    ),
];

/// Default rules of the image API, registered with a
/// [`berth_policy::Enforcer`].
pub fn policy_defaults() -> &'static [RuleDefault] {
    DEFAULTS
}
