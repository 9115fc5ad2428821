//! Servers: listing, recording, editing and power actions, for the API.

use uuid::Uuid;

use super::ComputeService;
use crate::error::Result;
use crate::lifecycle::{self, Event};
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

    /// Save the user-editable fields (name, description, hostname,
    /// metadata, access IPs).
    pub(crate) async fn save_instance_fields(&self, i: &Instance) -> Result<()> {
        self.db.save_instance_fields(i).await
    }

    /// Stop (`stop`) or start an instance: through its host's agent, or at
    /// once when it has no host. `false` when its state does not allow it.
    pub(crate) async fn start_or_stop(&self, i: &Instance, stop: bool) -> Result<bool> {
        let event = if stop { Event::Stop } else { Event::Start };
        match &i.host {
            None => match lifecycle::immediate(event, i.vm_state, i.task_state) {
                Some(t) => {
                    self.db.set_instance_state(i.uuid, &t).await?;
                    Ok(true)
                }
                None => Ok(false),
            },
            Some(h) => match lifecycle::transition(event, i.vm_state, i.task_state) {
                Some(t) => {
                    let kind = if stop { task_kind::STOP } else { task_kind::START };
                    self.db.transition_and_enqueue(i.uuid, &t, h, kind).await
                }
                None => Ok(false),
            },
        }
    }

    /// Reboot an instance through its host's agent. `false` when its state
    /// does not allow it (or it has no host).
    pub(crate) async fn reboot(&self, i: &Instance, hard: bool) -> Result<bool> {
        let (Some(h), Some(t)) = (&i.host, lifecycle::transition(Event::Reboot { hard }, i.vm_state, i.task_state))
        else {
            return Ok(false);
        };
        self.db.transition_and_enqueue(i.uuid, &t, h, task_kind::REBOOT).await
    }
}
