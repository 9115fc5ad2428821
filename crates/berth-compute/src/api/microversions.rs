//! Compute's microversion history, one entry per version from 2.1 on. The
//! last entry is the maximum this server speaks; handlers test versions
//! with `Ctx::v(2, N)`. Descriptions summarise what each version changed in
//! the Nova API (berth implements the subset its routes cover).

use berth_http::Version;

pub const MIN_VERSION: Version = Version::new(2, 1);
/// The last entry of the history below.
pub const MAX_VERSION: Version = Version::new(2, HISTORY[HISTORY.len() - 1].0);

/// `(minor, what changed)` for 2.1, 2.2, ...
pub const HISTORY: &[(u16, &str)] = &[
    (1, "the v2.1 API as the baseline"),
    (2, "keypairs have a type (ssh or x509)"),
    (3, "more extended server attributes (reservation id, launch index, hostname, user data...)"),
    (4, "reserved flag in fixed IP details"),
    (5, "admins may filter servers by IPv6 address"),
    (6, "one remote-consoles API for every console type"),
    (7, "granting access to a public flavor is a conflict"),
    (8, "WebMKS consoles"),
    (9, "locked flag in server views"),
    (10, "admins may act on other users' keypairs"),
    (11, "forced_down on compute services"),
    (12, "network id of virtual interfaces"),
    (13, "project and user of server groups"),
    (14, "evacuate no longer takes onSharedStorage"),
    (15, "soft affinity and soft anti-affinity server groups"),
    (16, "host_status in server views"),
    (17, "trigger a crash dump of a server"),
    (18, "project id optional in URLs"),
    (19, "server descriptions"),
    (20, "volume attach and detach on shelved-offloaded servers"),
    (21, "actions of deleted servers can be listed"),
    (22, "force-complete a live migration"),
    (23, "migration id and type, in-progress migrations of a server"),
    (24, "abort a live migration"),
    (25, "automatic block migration choice, disk_over_commit gone"),
    (26, "server tags"),
    (27, "the OpenStack-API-Version header"),
    (28, "hypervisor cpu_info as an object"),
    (29, "force flag on evacuate"),
    (30, "force flag on live migration"),
    (31, "serial console tokens usable across services"),
    (32, "device tags on networks and block devices at boot"),
    (33, "hypervisor list pagination"),
    (34, "live migration pre-checks run asynchronously"),
    (35, "keypair list pagination"),
    (36, "network, image and volume proxy APIs and their quotas removed"),
    (37, "networks (auto, none or a list) required at server create"),
    (38, "an unknown status filter on server lists is a bad request"),
    (39, "image metadata proxy and maxImageMeta limit removed"),
    (40, "simple tenant usage pagination"),
    (41, "aggregate uuids"),
    (42, "device tags at boot restored"),
    (43, "os-hosts deprecated in favour of services and hypervisors"),
    (44, "fixed and floating IP actions and virtual interfaces deprecated"),
    (45, "createImage answers the image id in its body"),
    (46, "request id of instance actions"),
    (47, "the flavor embedded in server views"),
    (48, "standard diagnostics format"),
    (49, "device tags on volume and interface attach"),
    (50, "server group quotas in quota class sets"),
    (51, "volume-extended events and event details for owners"),
    (52, "tags at server create"),
    (53, "services and hypervisors identified by uuid"),
    (54, "keypair replaced on rebuild"),
    (55, "flavor descriptions"),
    (56, "target host on cold migration"),
    (57, "personality files removed, user data on rebuild, their quotas removed"),
    (58, "updated_at and changes-since on instance actions"),
    (59, "migration list pagination and changes-since"),
    (60, "multi-attach volumes"),
    (61, "extra specs in flavor views"),
    (62, "host and hostId of instance action events"),
    (63, "trusted image certificates"),
    (64, "server group policy and rules fields"),
    (65, "abort a queued live migration"),
    (66, "changes-before filter"),
    (67, "volume type in block device mappings"),
    (68, "force flags on live migration and evacuate removed"),
    (69, "partial results when a cell is down"),
    (70, "device tags in interface and volume attachment views"),
    (71, "server groups in server views"),
    (72, "ports with resource requests at create"),
    (73, "locked_reason on lock"),
    (74, "host and hypervisor_hostname at create"),
    (75, "consistency fixes: unknown list filters rejected, full rebuild answer"),
    (76, "power-update external events"),
    (77, "availability zone on unshelve"),
    (78, "server topology"),
    (79, "delete_on_termination on volume attach"),
    (80, "user and project filters on migrations"),
    (81, "image pre-caching on aggregates"),
    (82, "accelerator request events"),
    (83, "more server list filters for non-admins"),
    (84, "details of instance action events"),
    (85, "update delete_on_termination of an attachment"),
    (86, "flavor extra specs validated"),
    (87, "stable device rescue of volume-backed servers"),
    (88, "hypervisor statistics and resource fields removed"),
    (89, "attachment and block device mapping ids in attachment views"),
    (90, "hostname at create, update and rebuild"),
    (91, "unshelve to a host, or to no zone"),
    (92, "keypairs imported only, never generated"),
    (93, "rebuild of volume-backed servers"),
    (94, "fully qualified hostnames"),
    (95, "evacuated servers stay stopped"),
    (96, "pinned_availability_zone in server views"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_contiguous_from_the_minimum_to_the_maximum() {
        assert_eq!(HISTORY[0].0, MIN_VERSION.minor);
        for pair in HISTORY.windows(2) {
            assert_eq!(pair[1].0, pair[0].0 + 1, "gap or repeat after 2.{}", pair[0].0);
        }
        assert_eq!(HISTORY.last().unwrap().0, MAX_VERSION.minor);
        assert_eq!(MAX_VERSION, Version::new(2, 96));
        assert!(HISTORY.iter().all(|(_, what)| !what.is_empty()));
    }
}
