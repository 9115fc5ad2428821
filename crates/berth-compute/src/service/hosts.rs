//! Compute services, nodes and their Placement providers, for the API.

use super::ComputeService;
use crate::error::{ComputeError, Result};
use crate::model::{ComputeNode, InstanceQuery, Service};

impl ComputeService {
    /// The service of `binary` on `host`.
    pub(crate) async fn service(&self, host: &str, binary: &str) -> Result<Option<Service>> {
        self.db.service_by_host(host, binary).await
    }

    pub(crate) async fn services(&self) -> Result<Vec<Service>> {
        self.db.list_services().await
    }

    /// Save a service's disabled/forced-down flags and, when the disabled
    /// flag changed, reflect it on its providers.
    pub(crate) async fn update_service(&self, s: &Service, was_disabled: bool) -> Result<()> {
        self.db.update_service(s).await?;
        if was_disabled != s.disabled {
            self.sync_disabled_trait(s).await;
        }
        Ok(())
    }

    /// Delete a compute service, its nodes and their resource providers;
    /// a conflict while it hosts instances or its providers hold
    /// allocations.
    pub(crate) async fn delete_service(&self, s: &Service) -> Result<()> {
        let hosted =
            self.db.list_instances(&InstanceQuery { host: Some(s.host.clone()), ..Default::default() }).await?;
        if !hosted.is_empty() {
            return Err(ComputeError::conflict(
                "Unable to delete compute service that is hosting instances. Migrate or delete the instances first.",
            ));
        }
        for n in self.db.nodes_on_host(&s.host).await? {
            match self.placement.delete_provider(n.uuid).await {
                Ok(_) => {}
                Err(e) if e.is_conflict() => {
                    return Err(ComputeError::conflict(format!(
                        "Unable to delete compute service {}: its resource provider {} still has allocations.",
                        s.host, n.uuid
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.db.delete_service(s).await
    }

    pub(crate) async fn nodes(&self) -> Result<Vec<ComputeNode>> {
        self.db.list_nodes().await
    }

    /// Resources used on a node's provider, by class.
    pub(crate) async fn node_usages(&self, n: &ComputeNode) -> Result<std::collections::BTreeMap<String, i64>> {
        Ok(self.placement.provider_usages(n.uuid).await?)
    }
}
