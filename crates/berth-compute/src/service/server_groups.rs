//! Server groups: creation and membership under the `server_groups` and
//! `server_group_members` quotas, and what the scheduler needs to honour
//! them (and the `same_host` / `different_host` hints).

use std::collections::BTreeSet;

use uuid::Uuid;

use super::ComputeService;
use crate::error::{ComputeError, Result};
use crate::infra_model::NewServerGroup;
use crate::infra_model::ServerGroup;
use crate::scheduler::{GroupPolicy, HostConstraints, RequestSpec};

impl ComputeService {
    pub(crate) async fn create_server_group(&self, new: &NewServerGroup<'_>) -> Result<ServerGroup> {
        let limit = self.quota_limits(new.project_id).await?.get("server_groups").copied().unwrap_or(-1);
        self.db.create_server_group(new, limit).await
    }

    /// Groups of `project`, or of every project.
    pub(crate) async fn server_groups(&self, project: Option<&str>) -> Result<Vec<ServerGroup>> {
        self.db.list_server_groups(project).await
    }

    pub(crate) async fn server_group(&self, uuid: Uuid) -> Result<Option<ServerGroup>> {
        self.db.get_server_group(uuid).await
    }

    pub(crate) async fn delete_server_group(&self, g: &ServerGroup) -> Result<()> {
        if !self.db.delete_server_group(g.id).await? {
            return Err(ComputeError::not_found(format!("Instance group {} could not be found.", g.uuid)));
        }
        Ok(())
    }

    /// The group an instance belongs to.
    pub(crate) async fn server_group_of(&self, instance: Uuid) -> Result<Option<ServerGroup>> {
        self.db.server_group_of(instance).await
    }

    /// Members of `groups` whose instances are not deleted.
    pub(crate) async fn live_members(&self, groups: &[ServerGroup]) -> Result<BTreeSet<Uuid>> {
        let all: Vec<Uuid> = groups.iter().flat_map(|g| g.members.iter().copied()).collect();
        if all.is_empty() {
            return Ok(BTreeSet::new());
        }
        Ok(self.db.get_instances(&all).await?.into_iter().filter(|i| !i.deleted).map(|i| i.uuid).collect())
    }

    /// Add new instances to a group (before they are recorded, so the
    /// scheduler never sees one without its group), under the group's
    /// `server_group_members` quota of its project.
    pub(crate) async fn join_server_group(&self, g: &ServerGroup, members: &[Uuid]) -> Result<()> {
        let limit = self.quota_limits(&g.project_id).await?.get("server_group_members").copied().unwrap_or(-1);
        self.db.add_server_group_members(g, members, limit).await
    }

    /// Undo [`Self::join_server_group`] for a create that failed.
    pub(crate) async fn leave_server_groups(&self, members: &[Uuid]) -> Result<()> {
        self.db.remove_server_group_members(members).await
    }

    /// Resolve a request's group and host hints against where the other
    /// instances are now.
    pub(crate) async fn host_constraints(&self, spec: &RequestSpec, me: Uuid) -> Result<HostConstraints> {
        let mut c = HostConstraints::default();
        let hosts_of = |list: Vec<crate::model::Instance>| -> Vec<String> {
            list.into_iter().filter(|i| !i.deleted && i.uuid != me).filter_map(|i| i.host).collect()
        };
        if let Some(group) = spec.group {
            // A group deleted meanwhile constrains nothing.
            if let Some(g) = self.db.get_server_group(group).await? {
                if let Some(p) = GroupPolicy::parse(&g.policy) {
                    c.policy = Some((p, g.max_server_per_host.unwrap_or(1)));
                }
                for h in hosts_of(self.db.get_instances(&g.members).await?) {
                    *c.group_hosts.entry(h).or_default() += 1;
                }
            }
        }
        if !spec.same_host.is_empty() {
            c.same_hosts = Some(hosts_of(self.db.get_instances(&spec.same_host).await?).into_iter().collect());
        }
        if !spec.different_host.is_empty() {
            c.different_hosts = hosts_of(self.db.get_instances(&spec.different_host).await?).into_iter().collect();
        }
        Ok(c)
    }

    /// Nova's late group check on the compute host, before a build
    /// spawns: schedulers working in parallel (several API processes) may
    /// each have placed a member of a hard (anti-)affinity group without
    /// seeing the other. The reason the policy is violated on `host`, if it
    /// is. Of two members in conflict only one yields: a member counts
    /// against this one when it is already launched or, while both are
    /// building, when its uuid is smaller.
    pub(crate) async fn group_policy_violation(&self, instance: Uuid, host: &str) -> Result<Option<String>> {
        let Some(g) = self.db.server_group_of(instance).await? else { return Ok(None) };
        let policy = GroupPolicy::parse(&g.policy);
        if !matches!(policy, Some(GroupPolicy::AntiAffinity | GroupPolicy::Affinity)) {
            return Ok(None);
        }
        let building = |i: &crate::model::Instance| i.vm_state == crate::lifecycle::VmState::Building;
        let others: Vec<crate::model::Instance> = self
            .db
            .get_instances(&g.members)
            .await?
            .into_iter()
            .filter(|i| !i.deleted && i.uuid != instance && i.host.is_some())
            .filter(|i| !building(i) || i.uuid < instance)
            .collect();
        Ok(match policy {
            Some(GroupPolicy::AntiAffinity) => {
                let here = others.iter().filter(|i| i.host.as_deref() == Some(host)).count() as i64;
                (here >= g.max_server_per_host.unwrap_or(1).max(1))
                    .then(|| "Anti-affinity instance group policy was violated.".to_string())
            }
            _ => others
                .iter()
                .any(|i| i.host.as_deref() != Some(host))
                .then(|| "Affinity instance group policy was violated.".to_string()),
        })
    }

    /// Server groups a project holds (limits' `totalServerGroupsUsed`).
    pub(crate) async fn count_server_groups(&self, project: &str) -> Result<i64> {
        self.db.count_server_groups(project).await
    }
}
