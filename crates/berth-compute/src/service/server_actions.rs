//! Server actions that change a guest through its host's agent (pause,
//! suspend, rescue and their inverses, snapshots), locks, the admin state
//! reset, tags and the console log.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::ComputeService;
use crate::error::Result;
use crate::lifecycle::{self, Event};
use crate::model::*;

/// Nova's `MAX_TAG_COUNT`: tags per server.
pub const MAX_TAGS: usize = 50;

impl ComputeService {
    /// Queue a guest change (`event`, run by the agent as a task of `kind`):
    /// `false` when the instance has no host or its state does not allow it.
    pub(crate) async fn guest_change(&self, i: &Instance, event: Event, kind: &str) -> Result<bool> {
        let (Some(h), Some(t)) = (&i.host, lifecycle::transition(event, i.vm_state, i.task_state)) else {
            return Ok(false);
        };
        self.db.transition_and_enqueue(i.uuid, &t, h, kind).await
    }

    /// Lock (`by` is `owner` or `admin`) or unlock.
    pub(crate) async fn set_lock(&self, uuid: Uuid, lock: Option<(&str, Option<&str>)>) -> Result<bool> {
        self.db.set_lock(uuid, lock).await
    }

    /// `os-resetState`.
    pub(crate) async fn reset_state(&self, uuid: Uuid, vm: VmState) -> Result<bool> {
        self.db.reset_state(uuid, vm).await
    }

    pub(crate) async fn tags_of(&self, uuids: &[Uuid]) -> Result<BTreeMap<Uuid, Vec<String>>> {
        if uuids.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.db.tags_of(uuids).await
    }

    pub(crate) async fn replace_tags(&self, uuid: Uuid, tags: &[String]) -> Result<()> {
        self.db.replace_tags(uuid, tags).await
    }

    /// `Ok(false)`: it already had the tag.
    pub(crate) async fn add_tag(&self, uuid: Uuid, tag: &str) -> Result<bool> {
        self.db.add_tag(uuid, tag, MAX_TAGS).await
    }

    pub(crate) async fn delete_tag(&self, uuid: Uuid, tag: &str) -> Result<bool> {
        self.db.delete_tag(uuid, tag).await
    }

    /// The guest's console output, the last `tail` lines (`None`: all kept).
    pub async fn console_output(&self, uuid: Uuid, tail: Option<i64>) -> Result<String> {
        let lines = self.db.console_lines(uuid, tail).await?;
        let mut out = lines.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        Ok(out)
    }
}
