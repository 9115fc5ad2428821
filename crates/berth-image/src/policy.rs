//! The image API's default policy rules, after Glance's secure-RBAC
//! defaults (`glance/policies/*.py`).
//!
//! The check strings match Glance's current defaults for every route berth
//! serves (compared again for issues 8 and 11; `tests/policy_coverage.rs`
//! walks each route with callers of no role, reader, member and admin).
//! Glance's rules for routes berth does not serve (locations, cache, copy
//! import, store details) are not registered. Staging and importing data
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
