//! Keystone's default policy rules (`keystone/common/policies/*.py`) for the
//! identity operations berth serves: the base rules, then one rule per
//! operation with its secure-RBAC check string, its scope types and the
//! legacy rule it replaced (OR'd in while `enforce_new_defaults` is off).
//!
//! Targets are flat keys, as Keystone builds them: `target.user.id`,
//! `target.user.domain_id`, `target.project.id`, `target.project.domain_id`,
//! `target.domain.id`, `target.domain_id` (list filters), `target.role.name`,
//! `target.role.domain_id` (`None` for global roles), `target.token.user_id`,
//! `target.group.id`, `target.group.domain_id`, `target.credential.user_id`
//! and `user_id` (the user named in the path). Credentials carry the token
//! as nested `extra` values (`token.domain.id`, `token.project.domain.id`).

use crate::enforcer::{RuleDefault, Scope};

const ALL: &[Scope] = &[Scope::System, Scope::Domain, Scope::Project];
const SYSTEM_PROJECT: &[Scope] = &[Scope::System, Scope::Project];

const ADMIN_REQUIRED: &str = "rule:admin_required";
const ADMIN_OR_SYSTEM_READER: &str = "rule:admin_required or (role:reader and system_scope:all)";
const SYSTEM_READER: &str = "role:reader and system_scope:all";
const TRUST_PARTY: &str = "user_id:%(target.trust.trustor_user_id)s or user_id:%(target.trust.trustee_user_id)s";
const TRUST_READER_OR_PARTY: &str = "(role:reader and system_scope:all) or \
     user_id:%(target.trust.trustor_user_id)s or user_id:%(target.trust.trustee_user_id)s";
const TRUST_READER_OR_TRUSTOR: &str = "(role:reader and system_scope:all) or user_id:%(target.trust.trustor_user_id)s";
const TRUST_READER_OR_TRUSTEE: &str = "(role:reader and system_scope:all) or user_id:%(target.trust.trustee_user_id)s";
/// The legacy form of most rules.
const LEGACY_ADMIN: Option<&str> = Some("rule:admin_required");

/// A base rule (no operations, any scope).
const fn base(name: &'static str, check_str: &'static str, description: &'static str) -> RuleDefault {
    RuleDefault { name, check_str, description, operations: &[], scope_types: &[], deprecated_rule: None }
}

/// An `identity:*` rule.
const fn op(
    name: &'static str,
    check_str: &'static str,
    scope_types: &'static [Scope],
    legacy: Option<&'static str>,
    description: &'static str,
    operations: &'static [(&'static str, &'static str)],
) -> RuleDefault {
    // Keystone deprecates each rule under its own name.
    let deprecated_rule = match legacy {
        Some(old) => Some((name, old)),
        None => None,
    };
    RuleDefault { name, check_str, description, operations, scope_types, deprecated_rule }
}

static DEFAULTS: &[RuleDefault] = &[
    // Base rules (keystone/common/policies/base.py).
    base("admin_required", "role:admin or is_admin:1", "Base rule: administrators."),
    base("service_role", "role:service", "Base rule: other services."),
    base("service_or_admin", "rule:admin_required or rule:service_role", "Base rule: administrators or services."),
    base("owner", "user_id:%(user_id)s", "Base rule: the user named by the request."),
    base("admin_or_owner", "rule:admin_required or rule:owner", "Base rule: administrators or the user named."),
    base("token_subject", "user_id:%(target.token.user_id)s", "Base rule: the user a token was issued to."),
    base(
        "admin_or_token_subject",
        "rule:admin_required or rule:token_subject",
        "Base rule: administrators or the token's user.",
    ),
    base(
        "service_admin_or_token_subject",
        "rule:service_or_admin or rule:token_subject",
        "Base rule: services, administrators or the token's user.",
    ),
    base(
        "domain_managed_target_role",
        "'manager':%(target.role.name)s or 'member':%(target.role.name)s or 'reader':%(target.role.name)s",
        "Base rule: the roles a domain manager may hand out.",
    ),
    // Tokens (token.py).
    op(
        "identity:check_token",
        "rule:admin_required or (role:reader and system_scope:all) or rule:token_subject",
        ALL,
        Some("rule:admin_or_token_subject"),
        "Checks a token.",
        &[("HEAD", "/v3/auth/tokens")],
    ),
    op(
        "identity:validate_token",
        "rule:admin_required or (role:reader and system_scope:all) or rule:service_role or rule:token_subject",
        ALL,
        Some("rule:service_admin_or_token_subject"),
        "Validates a token.",
        &[("GET", "/v3/auth/tokens")],
    ),
    op(
        "identity:revoke_token",
        "rule:admin_required or rule:token_subject",
        ALL,
        Some("rule:admin_or_token_subject"),
        "Revokes a token.",
        &[("DELETE", "/v3/auth/tokens")],
    ),
    // Auth (auth.py): any valid token.
    op("identity:get_auth_catalog", "", &[], None, "Gets the service catalog of a token.", &[("GET", "/v3/auth/catalog")]),
    op("identity:get_auth_projects", "", &[], None, "Lists the projects a token may be scoped to.", &[("GET", "/v3/auth/projects")]),
    op("identity:get_auth_domains", "", &[], None, "Lists the domains a token may be scoped to.", &[("GET", "/v3/auth/domains")]),
    op("identity:get_auth_system", "", &[], None, "Lists the system scopes a token may have.", &[("GET", "/v3/auth/system")]),
    // Domains (domain.py).
    op(
        "identity:get_domain",
        "rule:admin_required or (role:reader and system_scope:all) or token.domain.id:%(target.domain.id)s \
         or token.project.domain.id:%(target.domain.id)s",
        ALL,
        Some("rule:admin_required or token.project.domain.id:%(target.domain.id)s"),
        "Shows a domain.",
        &[("GET", "/v3/domains/{domain_id}")],
    ),
    op(
        "identity:list_domains",
        "rule:admin_required or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain.id)s)",
        ALL,
        LEGACY_ADMIN,
        "Lists domains.",
        &[("GET", "/v3/domains")],
    ),
    op("identity:create_domain", ADMIN_REQUIRED, SYSTEM_PROJECT, LEGACY_ADMIN, "Creates a domain.", &[("POST", "/v3/domains")]),
    op(
        "identity:update_domain",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Updates a domain.",
        &[("PATCH", "/v3/domains/{domain_id}")],
    ),
    op(
        "identity:delete_domain",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Deletes a domain.",
        &[("DELETE", "/v3/domains/{domain_id}")],
    ),
    // Projects (project.py).
    op(
        "identity:get_project",
        "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
         domain_id:%(target.project.domain_id)s and not None:%(target.project.domain_id)s) or \
         project_id:%(target.project.id)s",
        ALL,
        Some("rule:admin_required or project_id:%(target.project.id)s"),
        "Shows a project.",
        &[("GET", "/v3/projects/{project_id}")],
    ),
    op(
        "identity:list_projects",
        "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s)",
        ALL,
        LEGACY_ADMIN,
        "Lists projects.",
        &[("GET", "/v3/projects")],
    ),
    op(
        "identity:list_user_projects",
        "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
         domain_id:%(target.user.domain_id)s) or user_id:%(target.user.id)s",
        ALL,
        Some("rule:admin_or_owner"),
        "Lists the projects a user has a role on.",
        &[("GET", "/v3/users/{user_id}/projects")],
    ),
    op(
        "identity:create_project",
        PROJECT_ADMIN_OR_DOMAIN_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Creates a project.",
        &[("POST", "/v3/projects")],
    ),
    op(
        "identity:update_project",
        PROJECT_ADMIN_OR_DOMAIN_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Updates a project.",
        &[("PATCH", "/v3/projects/{project_id}")],
    ),
    op(
        "identity:delete_project",
        PROJECT_ADMIN_OR_DOMAIN_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Deletes a project.",
        &[("DELETE", "/v3/projects/{project_id}")],
    ),
    // Users (user.py, group.py).
    op(
        "identity:get_user",
        "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
         token.domain.id:%(target.user.domain_id)s) or user_id:%(target.user.id)s",
        ALL,
        Some("rule:admin_or_owner"),
        "Shows a user.",
        &[("GET", "/v3/users/{user_id}")],
    ),
    op(
        "identity:list_users",
        "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s)",
        ALL,
        LEGACY_ADMIN,
        "Lists users.",
        &[("GET", "/v3/users")],
    ),
    op("identity:create_user", USER_ADMIN_OR_DOMAIN_MANAGER, ALL, LEGACY_ADMIN, "Creates a user.", &[("POST", "/v3/users")]),
    op(
        "identity:update_user",
        USER_ADMIN_OR_DOMAIN_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Updates a user.",
        &[("PATCH", "/v3/users/{user_id}")],
    ),
    op(
        "identity:delete_user",
        USER_ADMIN_OR_DOMAIN_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Deletes a user.",
        &[("DELETE", "/v3/users/{user_id}")],
    ),
    op(
        "identity:list_groups_for_user",
        "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
         domain_id:%(target.user.domain_id)s) or user_id:%(user_id)s",
        ALL,
        Some("rule:admin_or_owner"),
        "Lists the groups a user belongs to.",
        &[("GET", "/v3/users/{user_id}/groups")],
    ),
    // Roles (role.py).
    op(
        "identity:get_role",
        "(rule:admin_required or (role:reader and system_scope:all)) or (role:manager and \
         rule:domain_managed_target_role)",
        ALL,
        LEGACY_ADMIN,
        "Shows a role.",
        &[("GET", "/v3/roles/{role_id}")],
    ),
    op(
        "identity:list_roles",
        "(rule:admin_required or (role:reader and system_scope:all)) or (role:manager and not domain_id:None)",
        ALL,
        LEGACY_ADMIN,
        "Lists roles.",
        &[("GET", "/v3/roles")],
    ),
    op("identity:create_role", ADMIN_REQUIRED, SYSTEM_PROJECT, LEGACY_ADMIN, "Creates a role.", &[("POST", "/v3/roles")]),
    op(
        "identity:update_role",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Updates a role.",
        &[("PATCH", "/v3/roles/{role_id}")],
    ),
    op(
        "identity:delete_role",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Deletes a role.",
        &[("DELETE", "/v3/roles/{role_id}")],
    ),
    // Implied roles (implied_role.py).
    op(
        "identity:get_implied_role",
        ADMIN_OR_SYSTEM_READER,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Shows one role inference.",
        &[("GET", "/v3/roles/{prior_role_id}/implies/{implied_role_id}")],
    ),
    op(
        "identity:list_implied_roles",
        ADMIN_OR_SYSTEM_READER,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Lists the roles a role implies.",
        &[("GET", "/v3/roles/{prior_role_id}/implies")],
    ),
    op(
        "identity:create_implied_role",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Creates a role inference.",
        &[("PUT", "/v3/roles/{prior_role_id}/implies/{implied_role_id}")],
    ),
    op(
        "identity:delete_implied_role",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Deletes a role inference.",
        &[("DELETE", "/v3/roles/{prior_role_id}/implies/{implied_role_id}")],
    ),
    op(
        "identity:list_role_inference_rules",
        ADMIN_OR_SYSTEM_READER,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Lists all role inferences.",
        &[("GET", "/v3/role_inferences")],
    ),
    op(
        "identity:check_implied_role",
        ADMIN_OR_SYSTEM_READER,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Checks a role inference.",
        &[("HEAD", "/v3/roles/{prior_role_id}/implies/{implied_role_id}")],
    ),
    // Role assignments (role_assignment.py).
    op(
        "identity:list_role_assignments",
        "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s)",
        ALL,
        LEGACY_ADMIN,
        "Lists role assignments.",
        &[("GET", "/v3/role_assignments")],
    ),
    // Grants (grant.py).
    op(
        "identity:check_grant",
        GRANT_READER,
        ALL,
        LEGACY_ADMIN,
        "Checks a role grant on a project or domain.",
        &[
            ("HEAD", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"),
            ("GET", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"),
            ("HEAD", "/v3/domains/{domain_id}/users/{user_id}/roles/{role_id}"),
            ("GET", "/v3/domains/{domain_id}/users/{user_id}/roles/{role_id}"),
            ("HEAD", "/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}"),
            ("GET", "/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}"),
            ("HEAD", "/v3/domains/{domain_id}/groups/{group_id}/roles/{role_id}"),
            ("GET", "/v3/domains/{domain_id}/groups/{group_id}/roles/{role_id}"),
            ("HEAD", "/v3/OS-INHERIT/domains/{domain_id}/users/{user_id}/roles/{role_id}/inherited_to_projects"),
            ("HEAD", "/v3/OS-INHERIT/domains/{domain_id}/groups/{group_id}/roles/{role_id}/inherited_to_projects"),
            ("HEAD", "/v3/OS-INHERIT/projects/{project_id}/users/{user_id}/roles/{role_id}/inherited_to_projects"),
            ("HEAD", "/v3/OS-INHERIT/projects/{project_id}/groups/{group_id}/roles/{role_id}/inherited_to_projects"),
        ],
    ),
    op(
        "identity:list_grants",
        GRANT_LIST_READER,
        ALL,
        LEGACY_ADMIN,
        "Lists role grants on a project or domain.",
        &[
            ("GET", "/v3/projects/{project_id}/users/{user_id}/roles"),
            ("GET", "/v3/domains/{domain_id}/users/{user_id}/roles"),
            ("GET", "/v3/projects/{project_id}/groups/{group_id}/roles"),
            ("GET", "/v3/domains/{domain_id}/groups/{group_id}/roles"),
            ("GET", "/v3/OS-INHERIT/domains/{domain_id}/users/{user_id}/roles/inherited_to_projects"),
            ("GET", "/v3/OS-INHERIT/domains/{domain_id}/groups/{group_id}/roles/inherited_to_projects"),
        ],
    ),
    op(
        "identity:create_grant",
        GRANT_WRITER,
        ALL,
        LEGACY_ADMIN,
        "Grants a role on a project or domain.",
        &[
            ("PUT", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"),
            ("PUT", "/v3/domains/{domain_id}/users/{user_id}/roles/{role_id}"),
            ("PUT", "/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}"),
            ("PUT", "/v3/domains/{domain_id}/groups/{group_id}/roles/{role_id}"),
            ("PUT", "/v3/OS-INHERIT/domains/{domain_id}/users/{user_id}/roles/{role_id}/inherited_to_projects"),
            ("PUT", "/v3/OS-INHERIT/domains/{domain_id}/groups/{group_id}/roles/{role_id}/inherited_to_projects"),
            ("PUT", "/v3/OS-INHERIT/projects/{project_id}/users/{user_id}/roles/{role_id}/inherited_to_projects"),
            ("PUT", "/v3/OS-INHERIT/projects/{project_id}/groups/{group_id}/roles/{role_id}/inherited_to_projects"),
        ],
    ),
    op(
        "identity:revoke_grant",
        GRANT_WRITER,
        ALL,
        LEGACY_ADMIN,
        "Revokes a role on a project or domain.",
        &[
            ("DELETE", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"),
            ("DELETE", "/v3/domains/{domain_id}/users/{user_id}/roles/{role_id}"),
            ("DELETE", "/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}"),
            ("DELETE", "/v3/domains/{domain_id}/groups/{group_id}/roles/{role_id}"),
            ("DELETE", "/v3/OS-INHERIT/domains/{domain_id}/users/{user_id}/roles/{role_id}/inherited_to_projects"),
            ("DELETE", "/v3/OS-INHERIT/domains/{domain_id}/groups/{group_id}/roles/{role_id}/inherited_to_projects"),
            ("DELETE", "/v3/OS-INHERIT/projects/{project_id}/users/{user_id}/roles/{role_id}/inherited_to_projects"),
            ("DELETE", "/v3/OS-INHERIT/projects/{project_id}/groups/{group_id}/roles/{role_id}/inherited_to_projects"),
        ],
    ),
    op(
        "identity:list_system_grants_for_user",
        ADMIN_OR_SYSTEM_READER,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Lists a user's roles on the system.",
        &[("GET", "/v3/system/users/{user_id}/roles")],
    ),
    op(
        "identity:check_system_grant_for_user",
        ADMIN_OR_SYSTEM_READER,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Checks a user's role on the system.",
        &[("GET", "/v3/system/users/{user_id}/roles/{role_id}"), ("HEAD", "/v3/system/users/{user_id}/roles/{role_id}")],
    ),
    op(
        "identity:create_system_grant_for_user",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Grants a user a role on the system.",
        &[("PUT", "/v3/system/users/{user_id}/roles/{role_id}")],
    ),
    op(
        "identity:revoke_system_grant_for_user",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Revokes a user's role on the system.",
        &[("DELETE", "/v3/system/users/{user_id}/roles/{role_id}")],
    ),
    // Catalog (service.py, endpoint.py, region.py).
    op("identity:get_service", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT, LEGACY_ADMIN, "Shows a service.", &[("GET", "/v3/services/{service_id}")]),
    op("identity:list_services", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT, LEGACY_ADMIN, "Lists services.", &[("GET", "/v3/services")]),
    op(
        "identity:get_endpoint",
        ADMIN_OR_SYSTEM_READER,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Shows an endpoint.",
        &[("GET", "/v3/endpoints/{endpoint_id}")],
    ),
    op("identity:list_endpoints", ADMIN_OR_SYSTEM_READER, SYSTEM_PROJECT, LEGACY_ADMIN, "Lists endpoints.", &[("GET", "/v3/endpoints")]),
    op("identity:get_region", "", ALL, None, "Shows a region.", &[("GET", "/v3/regions/{region_id}")]),
    op("identity:list_regions", "", ALL, None, "Lists regions.", &[("GET", "/v3/regions")]),
    op("identity:create_service", ADMIN_REQUIRED, SYSTEM_PROJECT, LEGACY_ADMIN, "Creates a service.", &[("POST", "/v3/services")]),
    op(
        "identity:update_service",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Updates a service.",
        &[("PATCH", "/v3/services/{service_id}")],
    ),
    op(
        "identity:delete_service",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Deletes a service and its endpoints.",
        &[("DELETE", "/v3/services/{service_id}")],
    ),
    op("identity:create_endpoint", ADMIN_REQUIRED, SYSTEM_PROJECT, LEGACY_ADMIN, "Creates an endpoint.", &[("POST", "/v3/endpoints")]),
    op(
        "identity:update_endpoint",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Updates an endpoint.",
        &[("PATCH", "/v3/endpoints/{endpoint_id}")],
    ),
    op(
        "identity:delete_endpoint",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Deletes an endpoint.",
        &[("DELETE", "/v3/endpoints/{endpoint_id}")],
    ),
    op("identity:create_region", ADMIN_REQUIRED, SYSTEM_PROJECT, LEGACY_ADMIN, "Creates a region.", &[("POST", "/v3/regions"), ("PUT", "/v3/regions/{region_id}")]),
    op(
        "identity:update_region",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Updates a region.",
        &[("PATCH", "/v3/regions/{region_id}")],
    ),
    op(
        "identity:delete_region",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Deletes a region.",
        &[("DELETE", "/v3/regions/{region_id}")],
    ),
    // Groups (group.py).
    op("identity:get_group", GROUP_READER, ALL, LEGACY_ADMIN, "Shows a group.", &[("GET", "/v3/groups/{group_id}")]),
    op("identity:list_groups", GROUP_READER, ALL, LEGACY_ADMIN, "Lists groups.", &[("GET", "/v3/groups")]),
    op("identity:create_group", GROUP_MANAGER, ALL, LEGACY_ADMIN, "Creates a group.", &[("POST", "/v3/groups")]),
    op("identity:update_group", GROUP_MANAGER, ALL, LEGACY_ADMIN, "Updates a group.", &[("PATCH", "/v3/groups/{group_id}")]),
    op("identity:delete_group", GROUP_MANAGER, ALL, LEGACY_ADMIN, "Deletes a group.", &[("DELETE", "/v3/groups/{group_id}")]),
    op(
        "identity:list_users_in_group",
        GROUP_READER,
        ALL,
        LEGACY_ADMIN,
        "Lists the users of a group.",
        &[("GET", "/v3/groups/{group_id}/users")],
    ),
    op(
        "identity:check_user_in_group",
        "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
         domain_id:%(target.group.domain_id)s and domain_id:%(target.user.domain_id)s)",
        ALL,
        LEGACY_ADMIN,
        "Checks whether a user is a member of a group.",
        &[("HEAD", "/v3/groups/{group_id}/users/{user_id}"), ("GET", "/v3/groups/{group_id}/users/{user_id}")],
    ),
    op(
        "identity:add_user_to_group",
        GROUP_MEMBERSHIP_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Adds a user to a group.",
        &[("PUT", "/v3/groups/{group_id}/users/{user_id}")],
    ),
    op(
        "identity:remove_user_from_group",
        GROUP_MEMBERSHIP_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Removes a user from a group.",
        &[("DELETE", "/v3/groups/{group_id}/users/{user_id}")],
    ),
    // Group grants on the system (grant.py).
    op(
        "identity:list_system_grants_for_group",
        ADMIN_OR_SYSTEM_READER,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Lists a group's roles on the system.",
        &[("GET", "/v3/system/groups/{group_id}/roles")],
    ),
    op(
        "identity:check_system_grant_for_group",
        ADMIN_OR_SYSTEM_READER,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Checks a group's role on the system.",
        &[("GET", "/v3/system/groups/{group_id}/roles/{role_id}"), ("HEAD", "/v3/system/groups/{group_id}/roles/{role_id}")],
    ),
    op(
        "identity:create_system_grant_for_group",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Grants a group a role on the system.",
        &[("PUT", "/v3/system/groups/{group_id}/roles/{role_id}")],
    ),
    op(
        "identity:revoke_system_grant_for_group",
        ADMIN_REQUIRED,
        SYSTEM_PROJECT,
        LEGACY_ADMIN,
        "Revokes a group's role on the system.",
        &[("DELETE", "/v3/system/groups/{group_id}/roles/{role_id}")],
    ),
    // Project tags (project.py).
    op(
        "identity:list_project_tags",
        PROJECT_TAG_READER,
        ALL,
        Some("rule:admin_required or project_id:%(target.project.id)s"),
        "Lists the tags of a project.",
        &[("GET", "/v3/projects/{project_id}/tags")],
    ),
    op(
        "identity:get_project_tag",
        PROJECT_TAG_READER,
        ALL,
        Some("rule:admin_required or project_id:%(target.project.id)s"),
        "Checks a tag of a project.",
        &[("GET", "/v3/projects/{project_id}/tags/{value}"), ("HEAD", "/v3/projects/{project_id}/tags/{value}")],
    ),
    op(
        "identity:update_project_tags",
        PROJECT_ADMIN_OR_DOMAIN_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Replaces the tags of a project.",
        &[("PUT", "/v3/projects/{project_id}/tags")],
    ),
    op(
        "identity:create_project_tag",
        PROJECT_ADMIN_OR_DOMAIN_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Adds a tag to a project.",
        &[("PUT", "/v3/projects/{project_id}/tags/{value}")],
    ),
    op(
        "identity:delete_project_tags",
        PROJECT_ADMIN_OR_DOMAIN_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Removes every tag of a project.",
        &[("DELETE", "/v3/projects/{project_id}/tags")],
    ),
    op(
        "identity:delete_project_tag",
        PROJECT_ADMIN_OR_DOMAIN_MANAGER,
        ALL,
        LEGACY_ADMIN,
        "Removes a tag of a project.",
        &[("DELETE", "/v3/projects/{project_id}/tags/{value}")],
    ),
    // Application credentials (application_credential.py, access_rule.py).
    op(
        "identity:get_application_credential",
        ADMIN_OR_SYSTEM_READER_OR_OWNER,
        SYSTEM_PROJECT,
        Some("rule:admin_or_owner"),
        "Shows an application credential.",
        &[
            ("GET", "/v3/users/{user_id}/application_credentials/{application_credential_id}"),
            ("HEAD", "/v3/users/{user_id}/application_credentials/{application_credential_id}"),
        ],
    ),
    op(
        "identity:list_application_credentials",
        ADMIN_OR_SYSTEM_READER_OR_OWNER,
        SYSTEM_PROJECT,
        Some("rule:admin_or_owner"),
        "Lists a user's application credentials.",
        &[("GET", "/v3/users/{user_id}/application_credentials"), ("HEAD", "/v3/users/{user_id}/application_credentials")],
    ),
    op(
        "identity:create_application_credential",
        "user_id:%(user_id)s",
        &[Scope::Project],
        None,
        "Creates an application credential.",
        &[("POST", "/v3/users/{user_id}/application_credentials")],
    ),
    op(
        "identity:delete_application_credential",
        "rule:admin_or_owner",
        SYSTEM_PROJECT,
        Some("rule:admin_or_owner"),
        "Deletes an application credential.",
        &[("DELETE", "/v3/users/{user_id}/application_credentials/{application_credential_id}")],
    ),
    op(
        "identity:get_access_rule",
        "(role:reader and system_scope:all) or user_id:%(target.user.id)s",
        SYSTEM_PROJECT,
        None,
        "Shows an access rule.",
        &[("GET", "/v3/users/{user_id}/access_rules/{access_rule_id}"), ("HEAD", "/v3/users/{user_id}/access_rules/{access_rule_id}")],
    ),
    op(
        "identity:list_access_rules",
        "(role:reader and system_scope:all) or user_id:%(target.user.id)s",
        SYSTEM_PROJECT,
        None,
        "Lists a user's access rules.",
        &[("GET", "/v3/users/{user_id}/access_rules"), ("HEAD", "/v3/users/{user_id}/access_rules")],
    ),
    op(
        "identity:delete_access_rule",
        "(role:admin and system_scope:all) or user_id:%(target.user.id)s",
        SYSTEM_PROJECT,
        None,
        "Deletes an access rule.",
        &[("DELETE", "/v3/users/{user_id}/access_rules/{access_rule_id}")],
    ),
    // Trusts (trust.py).
    op(
        "identity:create_trust",
        "user_id:%(trust.trustor_user_id)s",
        &[Scope::Project],
        None,
        "Creates a trust.",
        &[("POST", "/v3/OS-TRUST/trusts")],
    ),
    op(
        "identity:list_trusts",
        SYSTEM_READER,
        &[Scope::System],
        LEGACY_ADMIN,
        "Lists trusts.",
        &[("GET", "/v3/OS-TRUST/trusts"), ("HEAD", "/v3/OS-TRUST/trusts")],
    ),
    op(
        "identity:list_trusts_for_trustor",
        TRUST_READER_OR_TRUSTOR,
        SYSTEM_PROJECT,
        None,
        "Lists the trusts of a trustor.",
        &[("GET", "/v3/OS-TRUST/trusts?trustor_user_id={trustor_user_id}")],
    ),
    op(
        "identity:list_trusts_for_trustee",
        TRUST_READER_OR_TRUSTEE,
        SYSTEM_PROJECT,
        None,
        "Lists the trusts of a trustee.",
        &[("GET", "/v3/OS-TRUST/trusts?trustee_user_id={trustee_user_id}")],
    ),
    op(
        "identity:list_roles_for_trust",
        TRUST_READER_OR_PARTY,
        SYSTEM_PROJECT,
        Some(TRUST_PARTY),
        "Lists the roles a trust delegates.",
        &[("GET", "/v3/OS-TRUST/trusts/{trust_id}/roles"), ("HEAD", "/v3/OS-TRUST/trusts/{trust_id}/roles")],
    ),
    op(
        "identity:get_role_for_trust",
        TRUST_READER_OR_PARTY,
        SYSTEM_PROJECT,
        Some(TRUST_PARTY),
        "Checks that a trust delegates a role.",
        &[
            ("GET", "/v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}"),
            ("HEAD", "/v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}"),
        ],
    ),
    op(
        "identity:delete_trust",
        "(role:admin and system_scope:all) or user_id:%(target.trust.trustor_user_id)s",
        SYSTEM_PROJECT,
        Some("user_id:%(target.trust.trustor_user_id)s"),
        "Deletes a trust.",
        &[("DELETE", "/v3/OS-TRUST/trusts/{trust_id}")],
    ),
    op(
        "identity:get_trust",
        TRUST_READER_OR_PARTY,
        SYSTEM_PROJECT,
        Some(TRUST_PARTY),
        "Shows a trust.",
        &[("GET", "/v3/OS-TRUST/trusts/{trust_id}"), ("HEAD", "/v3/OS-TRUST/trusts/{trust_id}")],
    ),
    // Credentials (credential.py).
    op(
        "identity:get_credential",
        CREDENTIAL_READER,
        ALL,
        LEGACY_ADMIN,
        "Shows a credential.",
        &[("GET", "/v3/credentials/{credential_id}")],
    ),
    op("identity:list_credentials", CREDENTIAL_READER, ALL, LEGACY_ADMIN, "Lists credentials.", &[("GET", "/v3/credentials")]),
    op("identity:create_credential", CREDENTIAL_OWNER, ALL, LEGACY_ADMIN, "Creates a credential.", &[("POST", "/v3/credentials")]),
    op(
        "identity:update_credential",
        CREDENTIAL_OWNER,
        ALL,
        LEGACY_ADMIN,
        "Updates a credential.",
        &[("PATCH", "/v3/credentials/{credential_id}")],
    ),
    op(
        "identity:delete_credential",
        CREDENTIAL_OWNER,
        ALL,
        LEGACY_ADMIN,
        "Deletes a credential.",
        &[("DELETE", "/v3/credentials/{credential_id}")],
    ),
];

const GROUP_READER: &str = "(rule:admin_required) or (role:reader and system_scope:all) or \
     (role:reader and domain_id:%(target.group.domain_id)s)";

const GROUP_MANAGER: &str = "(rule:admin_required) or (role:manager and domain_id:%(target.group.domain_id)s)";

const GROUP_MEMBERSHIP_MANAGER: &str = "(rule:admin_required) or (role:manager and \
     domain_id:%(target.group.domain_id)s and domain_id:%(target.user.domain_id)s)";

const PROJECT_TAG_READER: &str = "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
     domain_id:%(target.project.domain_id)s and not None:%(target.project.domain_id)s) or \
     project_id:%(target.project.id)s";

const ADMIN_OR_SYSTEM_READER_OR_OWNER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or rule:owner";

const CREDENTIAL_READER: &str = "(rule:admin_required) or (role:reader and system_scope:all) or \
     user_id:%(target.credential.user_id)s";

const CREDENTIAL_OWNER: &str = "(rule:admin_required) or user_id:%(target.credential.user_id)s";

const PROJECT_ADMIN_OR_DOMAIN_MANAGER: &str = "(rule:admin_required) or (role:manager and \
     domain_id:%(target.project.domain_id)s and not None:%(target.project.domain_id)s)";

const USER_ADMIN_OR_DOMAIN_MANAGER: &str =
    "(rule:admin_required) or (role:manager and token.domain.id:%(target.user.domain_id)s)";

const GRANT_READER: &str = concat!(
    "(rule:admin_required) or ((role:reader and system_scope:all) or (",
    "(role:reader and domain_id:%(target.user.domain_id)s and domain_id:%(target.project.domain_id)s) or ",
    "(role:reader and domain_id:%(target.user.domain_id)s and domain_id:%(target.domain.id)s) or ",
    "(role:reader and domain_id:%(target.group.domain_id)s and domain_id:%(target.project.domain_id)s) or ",
    "(role:reader and domain_id:%(target.group.domain_id)s and domain_id:%(target.domain.id)s)",
    ") and (domain_id:%(target.role.domain_id)s or None:%(target.role.domain_id)s))"
);

const GRANT_LIST_READER: &str = concat!(
    "(rule:admin_required) or ((role:reader and system_scope:all) or ",
    "(role:reader and domain_id:%(target.user.domain_id)s and domain_id:%(target.project.domain_id)s) or ",
    "(role:reader and domain_id:%(target.user.domain_id)s and domain_id:%(target.domain.id)s) or ",
    "(role:reader and domain_id:%(target.group.domain_id)s and domain_id:%(target.project.domain_id)s) or ",
    "(role:reader and domain_id:%(target.group.domain_id)s and domain_id:%(target.domain.id)s))"
);

const GRANT_WRITER: &str = concat!(
    "(rule:admin_required) or (",
    "(role:admin and domain_id:%(target.user.domain_id)s and domain_id:%(target.project.domain_id)s) or ",
    "(role:admin and domain_id:%(target.user.domain_id)s and domain_id:%(target.domain.id)s) or ",
    "(role:admin and domain_id:%(target.group.domain_id)s and domain_id:%(target.project.domain_id)s) or ",
    "(role:admin and domain_id:%(target.group.domain_id)s and domain_id:%(target.domain.id)s)",
    ") and (domain_id:%(target.role.domain_id)s or None:%(target.role.domain_id)s) or (",
    "(role:manager and domain_id:%(target.user.domain_id)s and domain_id:%(target.project.domain_id)s) or ",
    "(role:manager and domain_id:%(target.user.domain_id)s and domain_id:%(target.domain.id)s) or ",
    "(role:manager and domain_id:%(target.group.domain_id)s and domain_id:%(target.project.domain_id)s) or ",
    "(role:manager and domain_id:%(target.group.domain_id)s and domain_id:%(target.domain.id)s)",
    ") and rule:domain_managed_target_role"
);

/// Keystone's default rules for the operations berth serves, base rules
/// first.
pub fn defaults() -> &'static [RuleDefault] {
    DEFAULTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, Credentials, Denied, Enforcer, EnforcerConfig, Target};
    use serde_json::json;

    fn enforcer(new_defaults: bool) -> Enforcer {
        Enforcer::new(defaults(), EnforcerConfig { enforce_new_defaults: new_defaults, enforce_scope: true })
    }

    fn t(pairs: &[(&str, &str)]) -> Target {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// A token scoped to `project` (in `domain`), as identity builds them.
    fn project_creds(user: &str, project: &str, domain: &str, roles: &[&str]) -> Credentials {
        let mut c = Credentials::project(user, project, roles);
        c.extra = json!({"token": {"project": {"id": project, "domain": {"id": domain}}}}).as_object().unwrap().clone();
        c
    }

    fn domain_creds(user: &str, domain: &str, roles: &[&str]) -> Credentials {
        Credentials {
            user_id: Some(user.into()),
            domain_id: Some(domain.into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            extra: json!({"token": {"domain": {"id": domain}}}).as_object().unwrap().clone(),
            ..Default::default()
        }
    }

    #[test]
    fn every_rule_parses_and_references_resolve() {
        for d in defaults() {
            parse(d.check_str).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            if let Some((old_name, old)) = d.deprecated_rule {
                assert_eq!(old_name, d.name, "Keystone deprecates rules under their own name");
                parse(old).unwrap_or_else(|e| panic!("{} (legacy): {e}", d.name));
            }
            assert!(d.name.starts_with("identity:") || d.operations.is_empty(), "{}", d.name);
        }
        for new in [true, false] {
            assert_eq!(enforcer(new).check_rules(), vec![], "new defaults: {new}");
        }
        let names: std::collections::BTreeSet<_> = defaults().iter().map(|d| d.name).collect();
        assert_eq!(names.len(), defaults().len(), "rule names are unique");
    }

    #[test]
    fn admin_may_do_everything_on_any_scope_it_is_allowed() {
        let e = enforcer(true);
        let admin = project_creds("a", "p", "default", &["admin", "member", "reader"]);
        let sys_admin = Credentials::system("a", &["admin", "member", "reader"]);
        // Upstream keeps these to the owner (and, for access rules, the
        // system): an admin does not make another user's application
        // credential nor read a project user's access rules.
        let owner_only = [
            "identity:create_application_credential",
            "identity:get_access_rule",
            "identity:list_access_rules",
            "identity:delete_access_rule",
        ];
        // Trusts: only their parties, and the system (a project admin is
        // no party to another user's trust); a trust is created by its
        // trustor alone.
        let parties_or_system = [
            "identity:list_trusts",
            "identity:list_trusts_for_trustor",
            "identity:list_trusts_for_trustee",
            "identity:list_roles_for_trust",
            "identity:get_role_for_trust",
            "identity:get_trust",
            "identity:delete_trust",
        ];
        for d in defaults().iter().filter(|d| {
            d.name.starts_with("identity:") && !owner_only.contains(&d.name) && d.name != "identity:create_trust"
        }) {
            if !parties_or_system.contains(&d.name) {
                assert_eq!(e.authorize(d.name, &Target::new(), &admin), Ok(()), "{}", d.name);
            } else {
                assert!(e.authorize(d.name, &Target::new(), &admin).is_err(), "{}", d.name);
            }
            assert_eq!(e.authorize(d.name, &Target::new(), &sys_admin), Ok(()), "{}", d.name);
        }
        let trustor: Target = [("trust.trustor_user_id", "a")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(e.authorize("identity:create_trust", &trustor, &admin), Ok(()));
        assert!(e.authorize("identity:create_trust", &Target::new(), &admin).is_err());
        let party: Target =
            [("target.trust.trustee_user_id", "a")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(e.authorize("identity:get_trust", &party, &admin), Ok(()));
        let own: Target = [("user_id", "a"), ("target.user.id", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let other: Target = [("user_id", "b"), ("target.user.id", "b")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for rule in owner_only {
            assert_eq!(e.authorize(rule, &own, &admin), Ok(()), "{rule}: the owner");
            assert!(e.authorize(rule, &other, &admin).is_err(), "{rule}: not another user's");
        }
    }

    #[test]
    fn system_reader_reads_but_does_not_write() {
        let e = enforcer(true);
        let r = Credentials::system("r", &["reader"]);
        for rule in ["identity:list_users", "identity:get_user", "identity:list_projects", "identity:list_grants"] {
            assert_eq!(e.authorize(rule, &Target::new(), &r), Ok(()), "{rule}");
        }
        for rule in ["identity:create_user", "identity:delete_project", "identity:create_grant", "identity:create_role"]
        {
            assert!(matches!(e.authorize(rule, &Target::new(), &r), Err(Denied::Unauthorized { .. })), "{rule}");
        }
    }

    #[test]
    fn owner_rules_use_the_target_user() {
        let e = enforcer(true);
        let me = project_creds("u1", "p1", "default", &["member", "reader"]);
        let mine = t(&[("target.user.id", "u1"), ("target.user.domain_id", "default"), ("user_id", "u1")]);
        let theirs = t(&[("target.user.id", "u2"), ("target.user.domain_id", "default"), ("user_id", "u2")]);
        for rule in ["identity:get_user", "identity:list_user_projects", "identity:list_groups_for_user"] {
            assert_eq!(e.authorize(rule, &mine, &me), Ok(()), "{rule}");
            assert!(e.authorize(rule, &theirs, &me).is_err(), "{rule}");
        }
        assert!(e.authorize("identity:update_user", &mine, &me).is_err());
        // Token subjects may validate and revoke their own tokens.
        let tok = t(&[("target.token.user_id", "u1")]);
        assert_eq!(e.authorize("identity:validate_token", &tok, &me), Ok(()));
        assert_eq!(e.authorize("identity:revoke_token", &tok, &me), Ok(()));
        let other = t(&[("target.token.user_id", "u2")]);
        assert!(e.authorize("identity:validate_token", &other, &me).is_err());
        let svc = project_creds("nova", "service", "default", &["service"]);
        assert_eq!(e.authorize("identity:validate_token", &other, &svc), Ok(()));
        assert!(e.authorize("identity:revoke_token", &other, &svc).is_err());
    }

    #[test]
    fn project_and_domain_targets() {
        let e = enforcer(true);
        let me = project_creds("u1", "p1", "d1", &["reader"]);
        assert_eq!(e.authorize("identity:get_project", &t(&[("target.project.id", "p1")]), &me), Ok(()));
        assert!(e.authorize("identity:get_project", &t(&[("target.project.id", "p2")]), &me).is_err());
        // token.project.domain.id
        assert_eq!(e.authorize("identity:get_domain", &t(&[("target.domain.id", "d1")]), &me), Ok(()));
        assert!(e.authorize("identity:get_domain", &t(&[("target.domain.id", "d2")]), &me).is_err());
        // token.domain.id and domain readers
        let dr = domain_creds("u2", "d1", &["reader"]);
        assert_eq!(e.authorize("identity:get_domain", &t(&[("target.domain.id", "d1")]), &dr), Ok(()));
        assert_eq!(e.authorize("identity:list_users", &t(&[("target.domain_id", "d1")]), &dr), Ok(()));
        assert!(e.authorize("identity:list_users", &t(&[("target.domain_id", "d2")]), &dr).is_err());
        assert!(e.authorize("identity:list_users", &Target::new(), &dr).is_err());
        let pd = t(&[("target.project.id", "p9"), ("target.project.domain_id", "d1")]);
        assert_eq!(e.authorize("identity:get_project", &pd, &dr), Ok(()));
        // `not None:%(...)s`: a project without a domain is nobody's.
        let pn = t(&[("target.project.id", "p9"), ("target.project.domain_id", "None")]);
        let dn = domain_creds("u2", "None", &["reader", "manager"]);
        assert!(e.authorize("identity:get_project", &pn, &dn).is_err());
        // Domain managers manage users and projects of their domain only.
        let dm = domain_creds("m", "d1", &["manager"]);
        assert_eq!(e.authorize("identity:create_user", &t(&[("target.user.domain_id", "d1")]), &dm), Ok(()));
        assert!(e.authorize("identity:create_user", &t(&[("target.user.domain_id", "d2")]), &dm).is_err());
        assert_eq!(e.authorize("identity:update_project", &pd, &dm), Ok(()));
    }

    #[test]
    fn grants_follow_domains_and_managed_roles() {
        let e = enforcer(true);
        let target = |role: &str, project_domain: &str| {
            t(&[
                ("target.user.domain_id", "d1"),
                ("target.project.id", "p1"),
                ("target.project.domain_id", project_domain),
                ("target.role.name", role),
                ("target.role.domain_id", "None"),
            ])
        };
        let dm = domain_creds("m", "d1", &["manager"]);
        assert_eq!(e.authorize("identity:create_grant", &target("member", "d1"), &dm), Ok(()));
        assert!(e.authorize("identity:create_grant", &target("admin", "d1"), &dm).is_err());
        assert!(e.authorize("identity:create_grant", &target("member", "d2"), &dm).is_err());
        let da = domain_creds("a", "d1", &["admin"]);
        assert_eq!(e.authorize("identity:create_grant", &target("admin", "d1"), &da), Ok(()));
        let dr = domain_creds("r", "d1", &["reader"]);
        assert_eq!(e.authorize("identity:check_grant", &target("admin", "d1"), &dr), Ok(()));
        assert_eq!(e.authorize("identity:list_grants", &target("admin", "d1"), &dr), Ok(()));
        assert!(e.authorize("identity:create_grant", &target("reader", "d1"), &dr).is_err());
        let member = project_creds("u", "p1", "d1", &["member", "reader"]);
        assert!(e.authorize("identity:create_grant", &target("member", "d1"), &member).is_err());
        assert!(e.authorize("identity:check_grant", &target("member", "d1"), &member).is_err());
    }

    #[test]
    fn scopes_are_enforced() {
        let e = enforcer(true);
        let da = domain_creds("a", "d1", &["admin"]);
        assert!(matches!(e.authorize("identity:create_domain", &Target::new(), &da), Err(Denied::InvalidScope { .. })));
        assert_eq!(e.authorize("identity:create_user", &Target::new(), &da), Ok(()));
    }

    #[test]
    fn legacy_rules_apply_until_new_defaults_are_enforced() {
        // The legacy get_user rule is `admin_or_owner`, on the `user_id` key.
        let target = t(&[("user_id", "u1"), ("target.user.id", "other")]);
        let me = project_creds("u1", "p1", "d1", &[]);
        assert!(enforcer(true).authorize("identity:get_user", &target, &me).is_err());
        assert_eq!(enforcer(false).authorize("identity:get_user", &target, &me), Ok(()));
        assert_eq!(
            enforcer(false).rule("identity:create_user"),
            Some(
                "((rule:admin_required) or (role:manager and token.domain.id:%(target.user.domain_id)s)) or \
                 (rule:admin_required)"
            )
        );
    }

    #[test]
    fn a_policy_file_overrides_a_default() {
        let e = enforcer(true).with_overrides_yaml("\"identity:list_users\": \"role:member\"\n").unwrap();
        let member = project_creds("u", "p", "d", &["member"]);
        assert_eq!(e.authorize("identity:list_users", &Target::new(), &member), Ok(()));
        let sys_reader = Credentials::system("r", &["reader"]);
        assert!(e.authorize("identity:list_users", &Target::new(), &sys_reader).is_err());
    }
}
