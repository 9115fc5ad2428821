//! Records of the compute database and their state vocabulary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::lifecycle::{power_state, TaskState, VmState};

/// A flavor; instances keep a copy (the snapshot) taken when built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flavor {
    #[serde(default)]
    pub internal_id: i64,
    pub flavorid: String,
    pub name: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    /// MB.
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    pub extra_specs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub id: i64,
    pub uuid: Uuid,
    pub display_name: String,
    pub hostname: Option<String>,
    pub description: Option<String>,
    pub project_id: String,
    pub user_id: String,
    pub image_ref: String,
    pub flavor: Flavor,
    pub vm_state: VmState,
    pub task_state: Option<TaskState>,
    pub power_state: i64,
    pub host: Option<String>,
    pub node: Option<String>,
    pub node_uuid: Option<Uuid>,
    pub availability_zone: Option<String>,
    pub requested_az: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub key_name: Option<String>,
    /// Base64 user data given at create or rebuild (2.57).
    pub user_data: Option<String>,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    pub locked: bool,
    /// `owner` or `admin`: who locked it (decides who may unlock).
    pub locked_by: Option<String>,
    /// Why (2.73).
    pub locked_reason: Option<String>,
    pub reservation_id: String,
    pub launch_index: i64,
    pub launched_at: Option<i64>,
    pub terminated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceFault {
    pub code: i64,
    pub message: String,
    pub details: String,
    pub host: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub id: i64,
    pub uuid: Uuid,
    pub host: String,
    pub binary: String,
    pub availability_zone: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    pub last_seen_up: Option<i64>,
    pub report_count: i64,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

impl Service {
    /// Up: not forced down, and heard from within `down_after_ms`.
    /// Up: not forced down, and seen within `down_after_ms` of `now_us`
    /// (times in microseconds since the epoch).
    pub fn is_up(&self, now_us: i64, down_after_ms: i64) -> bool {
        !self.forced_down && self.last_seen_up.is_some_and(|t| now_us - t <= down_after_ms.saturating_mul(1000))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComputeNode {
    pub id: i64,
    pub uuid: Uuid,
    pub host: String,
    pub hypervisor_hostname: String,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub host_ip: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    pub reserved_host_cpus: i64,
    pub reserved_host_memory_mb: i64,
    pub reserved_host_disk_gb: i64,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

/// A unit of work for one host's agent, from the durable queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: i64,
    pub host: String,
    pub kind: String,
    pub instance_uuid: Option<Uuid>,
    pub payload: serde_json::Value,
    pub attempts: i64,
}

/// Task kinds.
pub mod task_kind {
    pub const BUILD: &str = "build";
    pub const DELETE: &str = "delete";
    pub const STOP: &str = "stop";
    pub const START: &str = "start";
    pub const REBOOT: &str = "reboot";
    /// Guest changes through the agent (pause, suspend, rescue and their
    /// inverses; a snapshot for createImage / createBackup).
    pub const PAUSE: &str = "pause";
    pub const UNPAUSE: &str = "unpause";
    pub const SUSPEND: &str = "suspend";
    pub const RESUME: &str = "resume";
    pub const RESCUE: &str = "rescue";
    pub const UNRESCUE: &str = "unrescue";
    pub const SNAPSHOT: &str = "snapshot";
    /// Choose a host and claim (the scheduler's queue).
    pub const SCHEDULE: &str = "schedule";
    /// Destination of a resize or cold migration: spawn the guest there
    /// (allocations already swapped), VERIFY_RESIZE.
    pub const FINISH_RESIZE: &str = "finish_resize";
    /// Destination of a live migration.
    pub const LIVE_MIGRATE: &str = "live_migrate";
    /// Destination of an evacuation: rebuild the guest there.
    pub const EVACUATE: &str = "evacuate";
    /// The source of an evacuation is up again: clean up after it.
    pub const EVACUATION_CLEANUP: &str = "evacuation_cleanup";
    /// Destroy the guest left on a host the instance moved away from.
    pub const DESTROY_GUEST: &str = "destroy_guest";
    /// Bring the guest back (revert) on the instance's host.
    pub const RESPAWN_GUEST: &str = "respawn_guest";
    pub const SHELVE: &str = "shelve";
    pub const SHELVE_OFFLOAD: &str = "shelve_offload";
    pub const UNSHELVE: &str = "unshelve";
    pub const REBUILD: &str = "rebuild";
    /// Destination of a resize being reverted: destroy the guest there and
    /// move the allocation back.
    pub const REVERT_RESIZE: &str = "revert_resize";
}

/// Nova's `migration_type` values.
pub mod migration_type {
    pub const MIGRATION: &str = "migration";
    pub const RESIZE: &str = "resize";
    pub const LIVE_MIGRATION: &str = "live-migration";
    pub const EVACUATION: &str = "evacuation";
}

/// Nova's migration statuses (the ones berth uses).
pub mod migration_status {
    pub const PRE_MIGRATING: &str = "pre-migrating";
    pub const MIGRATING: &str = "migrating";
    pub const FINISHED: &str = "finished";
    pub const CONFIRMED: &str = "confirmed";
    pub const REVERTED: &str = "reverted";
    pub const ERROR: &str = "error";
    pub const FAILED: &str = "failed";
    pub const PREPARING: &str = "preparing";
    pub const RUNNING: &str = "running";
    pub const COMPLETED: &str = "completed";
    pub const CANCELLED: &str = "cancelled";
    pub const ACCEPTED: &str = "accepted";
    pub const DONE: &str = "done";
}

/// A full migration record (`os-migrations`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationRecord {
    pub id: i64,
    pub uuid: Uuid,
    pub instance_uuid: Uuid,
    pub source_compute: Option<String>,
    pub dest_compute: Option<String>,
    pub source_node: Option<String>,
    pub dest_node: Option<String>,
    pub dest_host: Option<String>,
    pub source_node_uuid: Option<Uuid>,
    pub dest_node_uuid: Option<Uuid>,
    pub old_flavor: Option<Flavor>,
    pub new_flavor: Option<Flavor>,
    pub status: String,
    pub migration_type: String,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

/// Where an instance is (or goes): host, node name and node uuid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    pub host: String,
    pub node: String,
    pub node_uuid: Uuid,
}

/// A migration's status change in a [`MoveCommit`].
#[derive(Debug, Clone)]
pub struct MigrationUpdate {
    pub uuid: Uuid,
    /// Statuses it must be in (any when empty).
    pub expected: &'static [&'static str],
    pub status: &'static str,
    /// Record the destination.
    pub dest: Option<NodeRef>,
}

/// One step of a move, committed in one transaction by
/// `Db::commit_move`.
#[derive(Debug, Clone, Default)]
pub struct MoveCommit {
    pub instance: Uuid,
    /// Task states the instance must be in (`None`: any).
    pub expect_task: Option<&'static [Option<TaskState>]>,
    /// Vm states the instance must be in (`None`: any).
    pub expect_vm: Option<&'static [VmState]>,
    pub vm_state: Option<VmState>,
    /// `Some(t)`: set the task state to `t`.
    pub task_state: Option<Option<TaskState>>,
    pub power_state: Option<i64>,
    /// `Some(None)`: no host any more (offloaded).
    pub place: Option<Option<NodeRef>>,
    pub flavor: Option<Flavor>,
    pub image_ref: Option<String>,
    pub availability_zone: Option<String>,
    pub new_migration: Option<MigrationRecord>,
    pub migration: Option<MigrationUpdate>,
    /// Agent tasks: (host, kind, payload).
    pub tasks: Vec<(String, &'static str, serde_json::Value)>,
    /// Consumers whose allocations must go (through the outbox).
    pub give_back: Vec<Uuid>,
    /// A fault to record: (code, message, host).
    pub fault: Option<(i64, String, Option<String>)>,
}

/// A Placement operation that must eventually happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub kind: String,
    pub consumer_uuid: Uuid,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// Outbox kinds.
pub mod outbox_kind {
    /// Delete every allocation of a consumer.
    pub const DELETE_ALLOCATIONS: &str = "delete_allocations";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migration {
    pub uuid: Uuid,
    pub instance_uuid: Uuid,
    pub source_node_uuid: Option<Uuid>,
    pub dest_node_uuid: Option<Uuid>,
    pub status: String,
}

/// Which instances to list (further filters apply in memory).
#[derive(Debug, Clone, Default)]
pub struct InstanceQuery {
    pub project_id: Option<String>,
    pub host: Option<String>,
    pub include_deleted: bool,
}

/// A stored key pair (`os-keypairs`), one name per user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub id: i64,
    pub user_id: String,
    pub name: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    pub public_key: String,
    pub fingerprint: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

/// An instance action (`os-instance-actions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceAction {
    pub id: i64,
    pub instance_uuid: Uuid,
    pub action: String,
    pub request_id: String,
    pub user_id: String,
    pub project_id: String,
    pub message: Option<String>,
    pub start_time: i64,
    pub finish_time: Option<i64>,
    pub updated_at: Option<i64>,
}

/// An event of an instance action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionEvent {
    pub event: String,
    pub result: Option<String>,
    pub traceback: Option<String>,
    pub details: Option<String>,
    pub host: Option<String>,
    pub start_time: i64,
    pub finish_time: Option<i64>,
}
