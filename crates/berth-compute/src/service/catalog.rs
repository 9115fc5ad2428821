//! Flavors, their extra specs and project access, for the API.

use std::collections::BTreeMap;

use super::ComputeService;
use crate::error::Result;
use crate::model::Flavor;

impl ComputeService {
    pub(crate) async fn flavor(&self, flavorid: &str) -> Result<Option<Flavor>> {
        self.db.get_flavor(flavorid).await
    }

    /// Every flavor with its extra specs, ordered by internal id.
    pub(crate) async fn flavors(&self) -> Result<Vec<Flavor>> {
        self.db.list_flavors().await
    }

    /// Projects granted a private flavor.
    pub(crate) async fn flavor_projects(&self, f: &Flavor) -> Result<Vec<String>> {
        self.db.flavor_projects(f.internal_id).await
    }

    /// Internal ids of the flavors a project has been granted.
    pub(crate) async fn flavors_granted_to(&self, project: &str) -> Result<Vec<i64>> {
        self.db.flavors_of_project(project).await
    }

    /// Create a flavor (conflict when its id or name is taken).
    pub(crate) async fn create_flavor(&self, f: &Flavor) -> Result<Flavor> {
        self.db.insert_flavor(f).await
    }

    pub(crate) async fn set_flavor_description(&self, f: &Flavor, description: Option<&str>) -> Result<()> {
        self.db.update_flavor_description(f.internal_id, description).await
    }

    pub(crate) async fn delete_flavor(&self, f: &Flavor) -> Result<bool> {
        self.db.delete_flavor(f.internal_id).await
    }

    /// Grant a project a private flavor; `false` when it already had it.
    pub(crate) async fn grant_flavor(&self, f: &Flavor, project: &str) -> Result<bool> {
        self.db.add_flavor_project(f.internal_id, project).await
    }

    /// Revoke a project's access; `false` when it had none.
    pub(crate) async fn revoke_flavor(&self, f: &Flavor, project: &str) -> Result<bool> {
        self.db.remove_flavor_project(f.internal_id, project).await
    }

    /// Add or replace extra specs.
    pub(crate) async fn set_extra_specs(&self, f: &Flavor, specs: &BTreeMap<String, String>) -> Result<()> {
        self.db.set_extra_specs(f.internal_id, specs).await
    }

    /// `false` when the key was not set.
    pub(crate) async fn delete_extra_spec(&self, f: &Flavor, key: &str) -> Result<bool> {
        self.db.delete_extra_spec(f.internal_id, key).await
    }
}
