//! Placement 16.0.0's default policy rules (`placement/policies/*.py`).

use crate::enforcer::{RuleDefault, Scope};

const PROJECT: &[Scope] = &[Scope::Project];
/// Every base rule except `admin_api` used to be `role:admin`.
const DEPRECATED_ADMIN: Option<(&str, &str)> = Some(("rule:admin_api", "role:admin"));

const ADMIN_OR_SERVICE: &str = "rule:admin_or_service_api";

/// One `placement:*` API rule: admin or service, project scope.
const fn api(
    name: &'static str,
    description: &'static str,
    operations: &'static [(&'static str, &'static str)],
) -> RuleDefault {
    RuleDefault {
        name,
        check_str: ADMIN_OR_SERVICE,
        description,
        operations,
        scope_types: PROJECT,
        deprecated_rule: None,
    }
}

static DEFAULTS: &[RuleDefault] = &[
    // Base rules.
    RuleDefault {
        name: "admin_api",
        check_str: "role:admin",
        description: "Base rule: administrators.",
        operations: &[],
        scope_types: PROJECT,
        deprecated_rule: None,
    },
    RuleDefault {
        name: "service_api",
        check_str: "role:service",
        description: "Base rule: other OpenStack services.",
        operations: &[],
        scope_types: PROJECT,
        deprecated_rule: DEPRECATED_ADMIN,
    },
    RuleDefault {
        name: "admin_or_service_api",
        check_str: "role:admin or role:service",
        description: "Base rule: administrators or other services; guards most APIs.",
        operations: &[],
        scope_types: PROJECT,
        deprecated_rule: DEPRECATED_ADMIN,
    },
    RuleDefault {
        name: "project_reader_api",
        check_str: "role:reader and project_id:%(project_id)s",
        description: "Base rule: readers of the target project.",
        operations: &[],
        scope_types: &[],
        deprecated_rule: DEPRECATED_ADMIN,
    },
    RuleDefault {
        name: "admin_or_project_reader_or_service_api",
        check_str: "role:admin or rule:project_reader_api or role:service",
        description: "Base rule: administrators, readers of the target project, or services.",
        operations: &[],
        scope_types: PROJECT,
        deprecated_rule: DEPRECATED_ADMIN,
    },
    // Resource providers.
    api("placement:resource_providers:list", "Lists resource providers.", &[("GET", "/resource_providers")]),
    api("placement:resource_providers:create", "Creates a resource provider.", &[("POST", "/resource_providers")]),
    api("placement:resource_providers:show", "Shows one resource provider.", &[("GET", "/resource_providers/{uuid}")]),
    api(
        "placement:resource_providers:update",
        "Updates a resource provider.",
        &[("PUT", "/resource_providers/{uuid}")],
    ),
    api(
        "placement:resource_providers:delete",
        "Deletes a resource provider.",
        &[("DELETE", "/resource_providers/{uuid}")],
    ),
    // Resource classes.
    api("placement:resource_classes:list", "Lists resource classes.", &[("GET", "/resource_classes")]),
    api("placement:resource_classes:create", "Creates a custom resource class.", &[("POST", "/resource_classes")]),
    api("placement:resource_classes:show", "Shows one resource class.", &[("GET", "/resource_classes/{name}")]),
    api(
        "placement:resource_classes:update",
        "Creates or renames a custom resource class.",
        &[("PUT", "/resource_classes/{name}")],
    ),
    api(
        "placement:resource_classes:delete",
        "Deletes a custom resource class.",
        &[("DELETE", "/resource_classes/{name}")],
    ),
    // Inventories.
    api(
        "placement:resource_providers:inventories:list",
        "Lists a provider's inventories.",
        &[("GET", "/resource_providers/{uuid}/inventories")],
    ),
    api(
        "placement:resource_providers:inventories:create",
        "Adds one inventory to a provider.",
        &[("POST", "/resource_providers/{uuid}/inventories")],
    ),
    api(
        "placement:resource_providers:inventories:show",
        "Shows one inventory of a provider.",
        &[("GET", "/resource_providers/{uuid}/inventories/{resource_class}")],
    ),
    api(
        "placement:resource_providers:inventories:update",
        "Replaces a provider's inventories or updates one of them.",
        &[
            ("PUT", "/resource_providers/{uuid}/inventories"),
            ("PUT", "/resource_providers/{uuid}/inventories/{resource_class}"),
        ],
    ),
    api(
        "placement:resource_providers:inventories:delete",
        "Deletes all or one of a provider's inventories.",
        &[
            ("DELETE", "/resource_providers/{uuid}/inventories"),
            ("DELETE", "/resource_providers/{uuid}/inventories/{resource_class}"),
        ],
    ),
    // Aggregates.
    api(
        "placement:resource_providers:aggregates:list",
        "Lists the aggregates a provider belongs to.",
        &[("GET", "/resource_providers/{uuid}/aggregates")],
    ),
    api(
        "placement:resource_providers:aggregates:update",
        "Replaces the aggregates a provider belongs to.",
        &[("PUT", "/resource_providers/{uuid}/aggregates")],
    ),
    // Usages.
    api(
        "placement:resource_providers:usages",
        "Shows a provider's usages.",
        &[("GET", "/resource_providers/{uuid}/usages")],
    ),
    RuleDefault {
        name: "placement:usages",
        check_str: "rule:admin_or_project_reader_or_service_api",
        description: "Shows the total usages of a project (readers: their own project only).",
        operations: &[("GET", "/usages")],
        scope_types: PROJECT,
        deprecated_rule: None,
    },
    // Traits.
    api("placement:traits:list", "Lists traits.", &[("GET", "/traits")]),
    api("placement:traits:show", "Checks that a trait exists.", &[("GET", "/traits/{name}")]),
    api("placement:traits:update", "Creates a custom trait.", &[("PUT", "/traits/{name}")]),
    api("placement:traits:delete", "Deletes a custom trait.", &[("DELETE", "/traits/{name}")]),
    api(
        "placement:resource_providers:traits:list",
        "Lists a provider's traits.",
        &[("GET", "/resource_providers/{uuid}/traits")],
    ),
    api(
        "placement:resource_providers:traits:update",
        "Replaces a provider's traits.",
        &[("PUT", "/resource_providers/{uuid}/traits")],
    ),
    api(
        "placement:resource_providers:traits:delete",
        "Removes all traits from a provider.",
        &[("DELETE", "/resource_providers/{uuid}/traits")],
    ),
    // Allocations.
    api("placement:allocations:manage", "Writes allocations of several consumers.", &[("POST", "/allocations")]),
    api("placement:allocations:list", "Lists a consumer's allocations.", &[("GET", "/allocations/{consumer_uuid}")]),
    api(
        "placement:allocations:update",
        "Replaces a consumer's allocations.",
        &[("PUT", "/allocations/{consumer_uuid}")],
    ),
    api(
        "placement:allocations:delete",
        "Deletes a consumer's allocations.",
        &[("DELETE", "/allocations/{consumer_uuid}")],
    ),
    api(
        "placement:resource_providers:allocations:list",
        "Lists the allocations against a provider.",
        &[("GET", "/resource_providers/{uuid}/allocations")],
    ),
    // Allocation candidates.
    api("placement:allocation_candidates:list", "Lists allocation candidates.", &[("GET", "/allocation_candidates")]),
    // Reshaper.
    RuleDefault {
        name: "placement:reshaper:reshape",
        check_str: "rule:service_api",
        description: "Moves inventories and allocations between providers atomically.",
        operations: &[("POST", "/reshaper")],
        scope_types: PROJECT,
        deprecated_rule: None,
    },
];

/// All of Placement's default rules, base rules first.
pub fn defaults() -> &'static [RuleDefault] {
    DEFAULTS
}
