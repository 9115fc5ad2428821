//! Compute's default policy rules, after Nova's 2023+ defaults: admins do
//! everything; project members manage their project's servers; project
//! readers read them; hosts, hypervisors, services and flavor management
//! are admin-only.

use berth_policy::{RuleDefault, Scope};

const PROJECT: &[Scope] = &[Scope::Project];

/// Who sees private flavors and may filter flavors by `is_public`: Nova
/// decides with `context.is_admin`, i.e. its `context_is_admin` rule.
pub(crate) const SEE_PRIVATE_FLAVORS: &str = "context_is_admin";
/// Who sees the details (traceback) of a server's 500 fault: Nova decides
/// with `context.is_admin`, i.e. its `context_is_admin` rule.
pub(crate) const SEE_FAULT_DETAILS: &str = "context_is_admin";

const ADMIN: &str = "rule:context_is_admin";
const MEMBER: &str = "rule:project_member_or_admin";
const READER: &str = "rule:project_reader_or_admin";
const ANY: &str = "@";
/// Key pairs are a user's: the user or an admin (Nova's default).
const OWNER: &str = "(rule:context_is_admin) or user_id:%(user_id)s";

const fn rule(name: &'static str, check_str: &'static str, description: &'static str) -> RuleDefault {
    RuleDefault { name, check_str, description, operations: &[], scope_types: PROJECT, deprecated_rule: None }
}

const fn base(name: &'static str, check_str: &'static str, description: &'static str) -> RuleDefault {
    RuleDefault { name, check_str, description, operations: &[], scope_types: &[], deprecated_rule: None }
}

static DEFAULTS: &[RuleDefault] = &[
    base("context_is_admin", "role:admin", "Base rule: administrators."),
    base("admin_api", "role:admin", "Base rule: administrators (legacy name)."),
    base(
        "project_member_api",
        "role:member and project_id:%(project_id)s",
        "Base rule: members of the target project.",
    ),
    base(
        "project_reader_api",
        "role:reader and project_id:%(project_id)s",
        "Base rule: readers of the target project.",
    ),
    base(
        "project_member_or_admin",
        "rule:project_member_api or rule:context_is_admin",
        "Base rule: project members or admins.",
    ),
    base(
        "project_reader_or_admin",
        "rule:project_reader_api or rule:context_is_admin",
        "Base rule: project readers or admins.",
    ),
    // Servers.
    rule("os_compute_api:servers:index", READER, "List servers."),
    rule("os_compute_api:servers:detail", READER, "List servers with details."),
    rule("os_compute_api:servers:index:get_all_tenants", ADMIN, "List servers of all projects."),
    rule("os_compute_api:servers:detail:get_all_tenants", ADMIN, "List servers of all projects with details."),
    rule("os_compute_api:servers:allow_all_filters", ADMIN, "Filter server lists by any attribute."),
    rule("os_compute_api:servers:show", READER, "Show a server."),
    rule("os_compute_api:servers:show:host_status", ADMIN, "Show the host status of a server."),
    rule(
        "os_compute_api:servers:show:host_status:unknown-only",
        ADMIN,
        "Show a server's host status when it is UNKNOWN.",
    ),
    rule("os_compute_api:os-extended-server-attributes", ADMIN, "Show host attributes of servers."),
    rule("os_compute_api:servers:create", MEMBER, "Create a server."),
    rule("os_compute_api:servers:create:forced_host", ADMIN, "Create a server on a given host."),
    rule("os_compute_api:servers:update", MEMBER, "Update a server."),
    rule("os_compute_api:servers:delete", MEMBER, "Delete a server."),
    rule("os_compute_api:servers:start", MEMBER, "Start a server."),
    rule("os_compute_api:servers:stop", MEMBER, "Stop a server."),
    rule("os_compute_api:servers:reboot", MEMBER, "Reboot a server."),
    rule("os_compute_api:os-deferred-delete:force", MEMBER, "Force-delete a server."),
    rule("os_compute_api:os-deferred-delete:restore", MEMBER, "Restore a soft-deleted server."),
    rule("os_compute_api:os-lock-server:lock", MEMBER, "Lock a server."),
    rule("os_compute_api:os-lock-server:unlock", MEMBER, "Unlock a server."),
    rule("os_compute_api:os-lock-server:unlock:unlock_override", ADMIN, "Act on servers locked by others."),
    rule("os_compute_api:os-pause-server:pause", MEMBER, "Pause a server."),
    rule("os_compute_api:os-pause-server:unpause", MEMBER, "Unpause a paused server."),
    rule("os_compute_api:os-suspend-server:suspend", MEMBER, "Suspend a server."),
    rule("os_compute_api:os-suspend-server:resume", MEMBER, "Resume a suspended server."),
    rule("os_compute_api:os-rescue", MEMBER, "Rescue a server."),
    rule("os_compute_api:os-unrescue", MEMBER, "Unrescue a server."),
    rule("os_compute_api:os-admin-actions:reset_state", ADMIN, "Reset the state of a server."),
    rule("os_compute_api:os-admin-password", MEMBER, "Change the administrative password of a server."),
    rule("os_compute_api:servers:create_image", MEMBER, "Create an image from a server."),
    rule("os_compute_api:os-create-backup", MEMBER, "Create a rotating backup image of a server."),
    rule("os_compute_api:os-console-output", MEMBER, "Show the console output of a server."),
    rule("os_compute_api:os-server-diagnostics", ADMIN, "Show the diagnostics of a server."),
    rule("os_compute_api:os-server-password:show", READER, "Show the encrypted password of a server."),
    rule("os_compute_api:os-server-password:clear", MEMBER, "Clear the encrypted password of a server."),
    rule("os_compute_api:ips:index", READER, "List the addresses of a server."),
    rule("os_compute_api:ips:show", READER, "List the addresses of a server on one network."),
    rule("os_compute_api:os-server-tags:index", READER, "List the tags of a server."),
    rule("os_compute_api:os-server-tags:show", READER, "Check a tag of a server."),
    rule("os_compute_api:os-server-tags:update", MEMBER, "Add a tag to a server."),
    rule("os_compute_api:os-server-tags:update_all", MEMBER, "Replace the tags of a server."),
    rule("os_compute_api:os-server-tags:delete", MEMBER, "Delete a tag of a server."),
    rule("os_compute_api:os-server-tags:delete_all", MEMBER, "Delete every tag of a server."),
    rule("os_compute_api:server-metadata:index", READER, "List server metadata."),
    rule("os_compute_api:server-metadata:show", READER, "Show a server metadata item."),
    rule("os_compute_api:server-metadata:create", MEMBER, "Add server metadata."),
    rule("os_compute_api:server-metadata:update", MEMBER, "Update a server metadata item."),
    rule("os_compute_api:server-metadata:update_all", MEMBER, "Replace server metadata."),
    rule("os_compute_api:server-metadata:delete", MEMBER, "Delete a server metadata item."),
    // Moves (Nova's 2023+ defaults: resize, rebuild, shelve and unshelve
    // are the project's; migrations, evacuation and offloading the
    // admin's).
    rule("os_compute_api:servers:resize", MEMBER, "Resize a server."),
    rule("os_compute_api:servers:confirm_resize", MEMBER, "Confirm a server resize."),
    rule("os_compute_api:servers:revert_resize", MEMBER, "Revert a server resize."),
    rule("os_compute_api:servers:rebuild", MEMBER, "Rebuild a server."),
    rule("os_compute_api:os-migrate-server:migrate", ADMIN, "Cold migrate a server to a host chosen by the scheduler."),
    rule("os_compute_api:os-migrate-server:migrate:host", ADMIN, "Cold migrate a server to a given host."),
    rule("os_compute_api:os-migrate-server:migrate_live", ADMIN, "Live migrate a server."),
    rule("os_compute_api:os-evacuate", ADMIN, "Evacuate a server from a failed host."),
    rule("os_compute_api:os-shelve:shelve", MEMBER, "Shelve a server."),
    rule("os_compute_api:os-shelve:shelve_offload", ADMIN, "Offload a shelved server."),
    rule("os_compute_api:os-shelve:unshelve", MEMBER, "Unshelve a server."),
    rule("os_compute_api:os-shelve:unshelve_to_host", ADMIN, "Unshelve an offloaded server to a given host."),
    rule("os_compute_api:os-migrations:index", ADMIN, "List migrations."),
    rule("os_compute_api:servers:migrations:index", ADMIN, "List the in-progress live migrations of a server."),
    rule("os_compute_api:servers:migrations:show", ADMIN, "Show an in-progress live migration of a server."),
    rule("os_compute_api:servers:migrations:force_complete", ADMIN, "Force an in-progress live migration to complete."),
    rule("os_compute_api:servers:migrations:delete", ADMIN, "Abort an in-progress live migration."),
    rule("os_compute_api:os-instance-actions:list", READER, "List the actions of a server."),
    rule("os_compute_api:os-instance-actions:show", READER, "Show an action of a server."),
    rule("os_compute_api:os-instance-actions:events", ADMIN, "Show the events of a server's action."),
    rule("os_compute_api:os-instance-actions:events:details", ADMIN, "Show the details of a server action's events."),
    // Flavors.
    rule("os_compute_api:flavors", ANY, "List and show flavors."),
    rule("os_compute_api:os-flavor-manage:create", ADMIN, "Create a flavor."),
    rule("os_compute_api:os-flavor-manage:update", ADMIN, "Update a flavor."),
    rule("os_compute_api:os-flavor-manage:delete", ADMIN, "Delete a flavor."),
    rule("os_compute_api:os-flavor-extra-specs:index", READER, "List flavor extra specs."),
    rule("os_compute_api:os-flavor-extra-specs:show", READER, "Show a flavor extra spec."),
    rule("os_compute_api:os-flavor-extra-specs:create", ADMIN, "Create flavor extra specs."),
    rule("os_compute_api:os-flavor-extra-specs:update", ADMIN, "Update a flavor extra spec."),
    rule("os_compute_api:os-flavor-extra-specs:delete", ADMIN, "Delete a flavor extra spec."),
    rule("os_compute_api:os-flavor-access", ADMIN, "List projects with access to a private flavor."),
    rule("os_compute_api:os-flavor-access:add_tenant_access", ADMIN, "Grant a project a private flavor."),
    rule("os_compute_api:os-flavor-access:remove_tenant_access", ADMIN, "Revoke a project's private flavor."),
    // Infrastructure.
    rule("os_compute_api:os-services:list", ADMIN, "List compute services."),
    rule("os_compute_api:os-services:update", ADMIN, "Enable, disable or force down a compute service."),
    rule("os_compute_api:os-services:delete", ADMIN, "Delete a compute service."),
    rule("os_compute_api:os-hypervisors:list", ADMIN, "List hypervisors."),
    rule("os_compute_api:os-hypervisors:list-detail", ADMIN, "List hypervisors with details."),
    rule("os_compute_api:os-hypervisors:show", ADMIN, "Show a hypervisor."),
    rule("os_compute_api:os-hypervisors:statistics", ADMIN, "Show hypervisor statistics."),
    rule("os_compute_api:os-hypervisors:servers", ADMIN, "List servers of hypervisors."),
    rule("os_compute_api:os-hypervisors:uptime", ADMIN, "Show a hypervisor's uptime."),
    rule("os_compute_api:os-hypervisors:search", ADMIN, "Search hypervisors by hostname pattern."),
    rule("os_compute_api:os-hosts:list", ADMIN, "List hosts (deprecated API)."),
    rule("os_compute_api:os-hosts:show", ADMIN, "Show a host's resources (deprecated API)."),
    rule(
        "os_compute_api:os-hosts:update",
        ADMIN,
        "Enable or disable a host, or its maintenance mode (deprecated API).",
    ),
    rule("os_compute_api:os-hosts:start", ADMIN, "Start a host (deprecated API)."),
    rule("os_compute_api:os-hosts:shutdown", ADMIN, "Shut a host down (deprecated API)."),
    rule("os_compute_api:os-hosts:reboot", ADMIN, "Reboot a host (deprecated API)."),
    rule("os_compute_api:os-availability-zone:list", READER, "List availability zones."),
    rule("os_compute_api:os-availability-zone:detail", ADMIN, "List availability zones with hosts."),
    rule("os_compute_api:os-aggregates:index", ADMIN, "List host aggregates."),
    rule("os_compute_api:os-aggregates:create", ADMIN, "Create a host aggregate."),
    rule("os_compute_api:os-aggregates:show", ADMIN, "Show a host aggregate."),
    rule("os_compute_api:os-aggregates:update", ADMIN, "Rename a host aggregate or change its zone."),
    rule("os_compute_api:os-aggregates:delete", ADMIN, "Delete a host aggregate."),
    rule("os_compute_api:os-aggregates:add_host", ADMIN, "Add a host to a host aggregate."),
    rule("os_compute_api:os-aggregates:remove_host", ADMIN, "Remove a host from a host aggregate."),
    rule("os_compute_api:os-aggregates:set_metadata", ADMIN, "Set a host aggregate's metadata."),
    rule("compute:aggregates:images", ADMIN, "Request that the hosts of an aggregate cache images."),
    rule("os_compute_api:os-server-groups:index", READER, "List the project's server groups."),
    rule("os_compute_api:os-server-groups:index:all_projects", ADMIN, "List the server groups of all projects."),
    rule("os_compute_api:os-server-groups:show", READER, "Show a server group."),
    rule("os_compute_api:os-server-groups:create", MEMBER, "Create a server group."),
    rule("os_compute_api:os-server-groups:delete", MEMBER, "Delete a server group."),
    rule("os_compute_api:os-simple-tenant-usage:list", ADMIN, "List usage of all projects."),
    rule("os_compute_api:os-simple-tenant-usage:show", READER, "Show a project's usage."),
    rule("os_compute_api:os-quota-class-sets:show", ADMIN, "Show a quota class."),
    rule("os_compute_api:os-quota-class-sets:update", ADMIN, "Update a quota class."),
    rule("os_compute_api:extensions", ANY, "List and show API extensions."),
    rule("os_compute_api:os-instance-usage-audit-log:list", ADMIN, "List instance usage audit logs."),
    rule("os_compute_api:os-instance-usage-audit-log:show", ADMIN, "Show an instance usage audit log."),
    // Limits and quotas.
    rule("os_compute_api:limits", ANY, "Show rate and absolute limits of the caller's project."),
    rule("os_compute_api:limits:other_project", ADMIN, "Show limits of another project."),
    rule("os_compute_api:os-quota-sets:show", READER, "Show a project's quotas."),
    rule("os_compute_api:os-quota-sets:detail", READER, "Show a project's quotas with usage."),
    rule("os_compute_api:os-quota-sets:defaults", ANY, "Show default quotas."),
    rule("os_compute_api:os-quota-sets:update", ADMIN, "Update a project's quotas."),
    rule("os_compute_api:os-quota-sets:delete", ADMIN, "Revert a project's quotas to the defaults."),
    // Keypairs.
    rule("os_compute_api:os-keypairs:index", OWNER, "List a user's key pairs."),
    rule("os_compute_api:os-keypairs:create", OWNER, "Create or import a key pair for a user."),
    rule("os_compute_api:os-keypairs:show", OWNER, "Show a user's key pair."),
    rule("os_compute_api:os-keypairs:delete", OWNER, "Delete a user's key pair."),
];

/// Compute's default rules.
pub fn defaults() -> &'static [RuleDefault] {
    DEFAULTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_policy::{Credentials, Enforcer, EnforcerConfig, Target};

    fn creds(roles: &[&str]) -> Credentials {
        Credentials {
            user_id: Some("u".into()),
            project_id: Some("p".into()),
            domain_id: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            system_scope: None,
            extra: Default::default(),
        }
    }

    fn target() -> Target {
        let mut t = Target::new();
        t.insert("project_id".into(), "p".into());
        t
    }

    #[test]
    fn admin_only_views_are_rules() {
        let e = Enforcer::new(defaults(), EnforcerConfig::default());
        let cases: &[(&str, &[&str], bool)] = &[
            (SEE_PRIVATE_FLAVORS, &["admin"], true),
            (SEE_PRIVATE_FLAVORS, &["member", "reader"], false),
            (SEE_PRIVATE_FLAVORS, &[], false),
            (SEE_FAULT_DETAILS, &["admin"], true),
            (SEE_FAULT_DETAILS, &["member"], false),
            ("os_compute_api:servers:detail:get_all_tenants", &["admin"], true),
            ("os_compute_api:servers:detail:get_all_tenants", &["member"], false),
            ("os_compute_api:os-hypervisors:list", &["admin"], true),
            ("os_compute_api:os-hypervisors:list", &["reader"], false),
            ("os_compute_api:limits:other_project", &["member"], false),
        ];
        for (rule, roles, allowed) in cases {
            assert_eq!(e.authorize(rule, &target(), &creds(roles)).is_ok(), *allowed, "{rule} for {roles:?}");
        }
    }

    #[test]
    fn operators_can_move_the_admin_views() {
        let e = Enforcer::new(defaults(), EnforcerConfig::default())
            .with_overrides_yaml("context_is_admin: \"role:cloud_admin\"\n")
            .unwrap();
        assert!(e.authorize(SEE_PRIVATE_FLAVORS, &target(), &creds(&["cloud_admin"])).is_ok());
        assert!(e.authorize(SEE_PRIVATE_FLAVORS, &target(), &creds(&["admin"])).is_err());
        assert!(e.authorize(SEE_FAULT_DETAILS, &target(), &creds(&["cloud_admin"])).is_ok());
    }

    #[test]
    fn every_rule_parses() {
        let e = Enforcer::new(defaults(), EnforcerConfig::default());
        assert!(e.check_rules().is_empty(), "{:?}", e.check_rules());
    }
}
