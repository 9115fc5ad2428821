//! Usage reports (`os-simple-tenant-usage`) and quota classes.

use std::collections::BTreeMap;

use super::ComputeService;
use crate::error::Result;
use crate::model::{Instance, InstanceQuery};

/// The class whose limits are every project's defaults.
pub(crate) const DEFAULT_CLASS: &str = "default";

impl ComputeService {
    /// Instances (deleted ones included) active at some time in
    /// `[start, end]`, of `project` or of all projects, oldest first (as
    /// Nova's `get_active_by_window_joined`).
    pub(crate) async fn instances_active_between(
        &self,
        project: Option<&str>,
        start: i64,
        end: i64,
    ) -> Result<Vec<Instance>> {
        let q = InstanceQuery { project_id: project.map(str::to_string), include_deleted: true, ..Default::default() };
        let mut list: Vec<Instance> = self
            .db
            .list_instances(&q)
            .await?
            .into_iter()
            .filter(|i| i.terminated_at.is_none_or(|t| t >= start) && i.launched_at.is_none_or(|l| l <= end))
            .collect();
        list.sort_by_key(|i| (i.created_at, i.id));
        Ok(list)
    }

    /// A quota class's limits: the configured defaults overridden by the
    /// class's own.
    pub(crate) async fn quota_class(&self, class: &str) -> Result<BTreeMap<String, i64>> {
        let mut m = self.config.quota_defaults.as_map();
        m.extend(self.db.quota_class(class).await?);
        Ok(m)
    }

    pub(crate) async fn set_quota_class(&self, class: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
        self.db.set_quota_class(class, limits).await
    }
}
