//! Servers: listing, recording, editing and power actions, for the API.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::ComputeService;
use crate::error::Result;
use crate::model::*;

impl ComputeService {
    /// Instances matching `q`, newest first.
    pub(crate) async fn instances(&self, q: &InstanceQuery) -> Result<Vec<Instance>> {
        self.db.list_instances(q).await
    }

    /// The latest fault recorded for an instance.
    pub(crate) async fn latest_fault(&self, uuid: Uuid) -> Result<Option<InstanceFault>> {
        self.db.latest_fault(uuid).await
    }

    /// Record a new instance (before it is scheduled).
    pub(crate) async fn record_instance(&self, i: &Instance) -> Result<()> {
        self.db.insert_instance(i).await
    }

    /// Save the user-editable fields (name, description, hostname,
    /// metadata, access IPs).
    pub(crate) async fn save_instance_fields(&self, i: &Instance) -> Result<()> {
        self.db.save_instance_fields(i).await
    }

    /// Services of `binary` by host.
    pub(crate) async fn services_by_host(&self, binary: &str) -> Result<BTreeMap<String, Service>> {
        Ok(self
            .db
            .list_services()
            .await?
            .into_iter()
            .filter(|s| s.binary == binary)
            .map(|s| (s.host.clone(), s))
            .collect())
    }

    /// Stop (`stop`) or start an instance: through its host's agent, or at
    /// once when it has no host. `false` when its state does not allow it.
    pub(crate) async fn start_or_stop(&self, i: &Instance, stop: bool) -> Result<bool> {
        let (from, task, kind, to_vm) = if stop {
            (&[vm_state::ACTIVE, vm_state::ERROR][..], task_state::POWERING_OFF, task_kind::STOP, vm_state::STOPPED)
        } else {
            (&[vm_state::STOPPED][..], task_state::POWERING_ON, task_kind::START, vm_state::ACTIVE)
        };
        if !from.contains(&i.vm_state.as_str()) || i.task_state.is_some() {
            return Ok(false);
        }
        match &i.host {
            None => {
                let power = if stop { power_state::SHUTDOWN } else { power_state::RUNNING };
                self.db.set_instance_state(i.uuid, to_vm, None, Some(power), Some(&[None])).await?;
                Ok(true)
            }
            Some(h) => self.db.transition_and_enqueue(i.uuid, &i.vm_state, Some(task), Some(&[None]), h, kind).await,
        }
    }

    /// Reboot an instance through its host's agent. `false` when its state
    /// does not allow it.
    pub(crate) async fn reboot(&self, i: &Instance, hard: bool) -> Result<bool> {
        let ok_state = if hard {
            matches!(i.vm_state.as_str(), vm_state::ACTIVE | vm_state::STOPPED | vm_state::ERROR)
        } else {
            i.vm_state == vm_state::ACTIVE && i.task_state.is_none()
        };
        let Some(h) = i.host.clone().filter(|_| ok_state) else {
            return Ok(false);
        };
        let task = if hard { task_state::REBOOTING_HARD } else { task_state::REBOOTING };
        let expected: &[Option<&str>] = if hard {
            &[
                None,
                Some(task_state::REBOOTING),
                Some(task_state::REBOOTING_HARD),
                Some(task_state::POWERING_ON),
                Some(task_state::POWERING_OFF),
            ]
        } else {
            &[None]
        };
        self.db
            .transition_and_enqueue(i.uuid, vm_state::ACTIVE, Some(task), Some(expected), &h, task_kind::REBOOT)
            .await
    }
}
