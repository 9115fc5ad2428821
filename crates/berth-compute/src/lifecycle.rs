//! The server lifecycle in one place: Nova's `vm_state` and `task_state`
//! vocabularies as types, the API status they map to, which transitions
//! each action allows, and the states of the work queue's rows.
//!
//! Storage binds these values into SQL (`.bind(VmState::Active.as_str())`);
//! no state is spelled as a string literal anywhere else.

use std::fmt;

use serde::{Serialize, Serializer};

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The value stored in the database and shown by the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The state a stored value names (`None`: not one of ours).
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Nova's `vm_states`: where an instance is at rest.
    VmState {
        Active => "active",
        Building => "building",
        Paused => "paused",
        Suspended => "suspended",
        Stopped => "stopped",
        Rescued => "rescued",
        Resized => "resized",
        SoftDeleted => "soft-delete",
        Deleted => "deleted",
        Error => "error",
        Shelved => "shelved",
        ShelvedOffloaded => "shelved_offloaded",
    }
}

vocabulary! {
    /// Nova's `task_states`: what is being done to an instance right now.
    TaskState {
        Scheduling => "scheduling",
        Spawning => "spawning",
        PoweringOff => "powering-off",
        PoweringOn => "powering-on",
        Rebooting => "rebooting",
        RebootingHard => "rebooting_hard",
        Rebuilding => "rebuilding",
        ResizePrep => "resize_prep",
        ResizeMigrating => "resize_migrating",
        ResizeFinish => "resize_finish",
        ResizeReverting => "resize_reverting",
        ResizeConfirming => "resize_confirming",
        Migrating => "migrating",
        Deleting => "deleting",
        Pausing => "pausing",
        Unpausing => "unpausing",
        Suspending => "suspending",
        Resuming => "resuming",
        Rescuing => "rescuing",
        Unrescuing => "unrescuing",
        ImageSnapshot => "image_snapshot",
        ImageBackup => "image_backup",
        Shelving => "shelving",
        ShelvingOffloading => "shelving_offloading",
        Unshelving => "unshelving",
        RebuildSpawning => "rebuild_spawning",
    }
}

vocabulary! {
    /// The status the API shows (`server.status`).
    Status {
        Active => "ACTIVE",
        Build => "BUILD",
        Shutoff => "SHUTOFF",
        Error => "ERROR",
        Deleted => "DELETED",
        SoftDeleted => "SOFT_DELETED",
        Reboot => "REBOOT",
        HardReboot => "HARD_REBOOT",
        Rebuild => "REBUILD",
        Resize => "RESIZE",
        RevertResize => "REVERT_RESIZE",
        VerifyResize => "VERIFY_RESIZE",
        Migrating => "MIGRATING",
        Paused => "PAUSED",
        Suspended => "SUSPENDED",
        Rescue => "RESCUE",
        Shelved => "SHELVED",
        ShelvedOffloaded => "SHELVED_OFFLOADED",
    }
}

vocabulary! {
    /// A row of the work queue (`compute_tasks.state`).
    QueueState {
        Pending => "pending",
        Running => "running",
        Failed => "failed",
    }
}

/// Nova's `power_state` numbers.
pub mod power_state {
    pub const NOSTATE: i64 = 0;
    pub const RUNNING: i64 = 1;
    pub const PAUSED: i64 = 3;
    pub const SHUTDOWN: i64 = 4;
    pub const SUSPENDED: i64 = 7;
}

/// Migration statuses after which a migration no longer holds resources.
pub const FINISHED_MIGRATION_STATUSES: &[&str] =
    &["completed", "confirmed", "reverted", "error", "failed", "cancelled", "done"];

/// Nova's API status of an instance (`vm_state` refined by `task_state`).
pub fn status(vm: VmState, task: Option<TaskState>) -> Status {
    use TaskState as T;
    match (vm, task) {
        (VmState::Active | VmState::Stopped | VmState::Error, Some(T::Rebuilding | T::RebuildSpawning)) => {
            Status::Rebuild
        }
        (VmState::Active | VmState::Stopped, Some(T::ResizePrep | T::ResizeMigrating | T::ResizeFinish)) => {
            Status::Resize
        }
        (VmState::Resized, Some(T::ResizeReverting)) => Status::RevertResize,
        (VmState::Active, Some(T::Rebooting)) => Status::Reboot,
        (VmState::Active, Some(T::RebootingHard)) => Status::HardReboot,
        (VmState::Active | VmState::Paused, Some(T::Migrating)) => Status::Migrating,
        (VmState::Active, _) => Status::Active,
        (VmState::Building, _) => Status::Build,
        (VmState::Stopped, _) => Status::Shutoff,
        (VmState::Error, _) => Status::Error,
        (VmState::Deleted, _) => Status::Deleted,
        (VmState::SoftDeleted, _) => Status::SoftDeleted,
        (VmState::Resized, _) => Status::VerifyResize,
        (VmState::Paused, _) => Status::Paused,
        (VmState::Suspended, _) => Status::Suspended,
        (VmState::Rescued, _) => Status::Rescue,
        (VmState::Shelved, _) => Status::Shelved,
        (VmState::ShelvedOffloaded, _) => Status::ShelvedOffloaded,
    }
}

/// Something that moves an instance: an API action, or an agent
/// finishing (or failing) the work an action queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `os-stop` on a hosted instance: the agent powers it off.
    Stop,
    /// `os-start` on a hosted instance.
    Start,
    /// `reboot` (`hard`: `HARD`).
    Reboot {
        hard: bool,
    },
    /// `DELETE` on an instance whose host is up: the agent deletes it.
    Delete,
    /// The agent starts building a scheduled instance.
    Spawn,
    /// The agent powered the guest off.
    PoweredOff,
    /// The agent powered the guest on.
    PoweredOn,
    /// The agent rebooted the guest.
    Rebooted,
    /// Scheduling or a task failed for good.
    Fail,
    /// `pause` / `unpause`, `suspend` / `resume`, `rescue` / `unrescue`:
    /// the agent changes the guest.
    Pause,
    Unpause,
    Suspend,
    Resume,
    Rescue,
    Unrescue,
    /// `createImage` (`backup`: `createBackup`): the agent snapshots.
    Snapshot {
        backup: bool,
    },
    /// The agent finished the guest change an event above asked for.
    Paused,
    Unpaused,
    Suspended,
    Resumed,
    Rescued,
    Unrescued,
    SnapshotTaken,
}

/// Where an event takes an instance, and the task states the instance
/// must still be in when the change is written (compare-and-set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// `None`: the vm state does not change.
    pub vm_state: Option<VmState>,
    pub task_state: Option<TaskState>,
    /// `None`: the power state does not change.
    pub power_state: Option<i64>,
    /// `None`: any task state.
    pub expected: Option<&'static [Option<TaskState>]>,
}

const IDLE: &[Option<TaskState>] = &[None];
const SNAPSHOTTING: &[Option<TaskState>] = &[Some(TaskState::ImageSnapshot), Some(TaskState::ImageBackup)];
const REBOOTABLE_HARD: &[Option<TaskState>] = &[
    None,
    Some(TaskState::Rebooting),
    Some(TaskState::RebootingHard),
    Some(TaskState::PoweringOn),
    Some(TaskState::PoweringOff),
];

/// What `event` writes, whatever the instance's state: the target states
/// and the compare-and-set on the task state. Agents apply these directly
/// (the compare-and-set decides); the API checks [`transition`] first.
pub fn effect(event: Event) -> Transition {
    use TaskState as T;
    let step = |vm_state, task_state, power_state, expected| Transition { vm_state, task_state, power_state, expected };
    match event {
        Event::Stop => step(None, Some(T::PoweringOff), None, Some(IDLE)),
        Event::Start => step(None, Some(T::PoweringOn), None, Some(IDLE)),
        Event::Reboot { hard: false } => step(Some(VmState::Active), Some(T::Rebooting), None, Some(IDLE)),
        Event::Reboot { hard: true } => {
            step(Some(VmState::Active), Some(T::RebootingHard), None, Some(REBOOTABLE_HARD))
        }
        Event::Delete => step(None, Some(T::Deleting), None, None),
        Event::Spawn => step(Some(VmState::Building), Some(T::Spawning), None, Some(&[Some(T::Scheduling)])),
        Event::PoweredOff => {
            step(Some(VmState::Stopped), None, Some(power_state::SHUTDOWN), Some(&[Some(T::PoweringOff)]))
        }
        Event::PoweredOn => step(Some(VmState::Active), None, Some(power_state::RUNNING), Some(&[Some(T::PoweringOn)])),
        Event::Rebooted => step(
            Some(VmState::Active),
            None,
            Some(power_state::RUNNING),
            Some(&[Some(T::Rebooting), Some(T::RebootingHard)]),
        ),
        Event::Fail => step(Some(VmState::Error), None, None, None),
        Event::Pause => step(None, Some(T::Pausing), None, Some(IDLE)),
        Event::Unpause => step(None, Some(T::Unpausing), None, Some(IDLE)),
        Event::Suspend => step(None, Some(T::Suspending), None, Some(IDLE)),
        Event::Resume => step(None, Some(T::Resuming), None, Some(IDLE)),
        Event::Rescue => step(None, Some(T::Rescuing), None, Some(IDLE)),
        Event::Unrescue => step(None, Some(T::Unrescuing), None, Some(IDLE)),
        Event::Snapshot { backup: false } => step(None, Some(T::ImageSnapshot), None, Some(IDLE)),
        Event::Snapshot { backup: true } => step(None, Some(T::ImageBackup), None, Some(IDLE)),
        Event::Paused => step(Some(VmState::Paused), None, Some(power_state::PAUSED), Some(&[Some(T::Pausing)])),
        Event::Unpaused => step(Some(VmState::Active), None, Some(power_state::RUNNING), Some(&[Some(T::Unpausing)])),
        Event::Suspended => {
            step(Some(VmState::Suspended), None, Some(power_state::SUSPENDED), Some(&[Some(T::Suspending)]))
        }
        Event::Resumed => step(Some(VmState::Active), None, Some(power_state::RUNNING), Some(&[Some(T::Resuming)])),
        Event::Rescued => step(Some(VmState::Rescued), None, Some(power_state::RUNNING), Some(&[Some(T::Rescuing)])),
        Event::Unrescued => step(Some(VmState::Active), None, Some(power_state::RUNNING), Some(&[Some(T::Unrescuing)])),
        Event::SnapshotTaken => step(None, None, None, Some(SNAPSHOTTING)),
    }
}

/// The event that finishes the guest change a task state stands for
/// (an agent finishing queued work, or recovering it at start-up).
pub fn completion(task: TaskState) -> Option<Event> {
    use TaskState as T;
    Some(match task {
        T::PoweringOff => Event::PoweredOff,
        T::PoweringOn => Event::PoweredOn,
        T::Rebooting | T::RebootingHard => Event::Rebooted,
        T::Pausing => Event::Paused,
        T::Unpausing => Event::Unpaused,
        T::Suspending => Event::Suspended,
        T::Resuming => Event::Resumed,
        T::Rescuing => Event::Rescued,
        T::Unrescuing => Event::Unrescued,
        T::ImageSnapshot | T::ImageBackup => Event::SnapshotTaken,
        _ => return None,
    })
}

/// The power state a guest at rest in `vm` has (`None`: no guest).
pub fn resting_power(vm: VmState) -> Option<i64> {
    match vm {
        VmState::Active | VmState::Rescued => Some(power_state::RUNNING),
        VmState::Stopped => Some(power_state::SHUTDOWN),
        VmState::Paused => Some(power_state::PAUSED),
        VmState::Suspended => Some(power_state::SUSPENDED),
        _ => None,
    }
}

/// The vm states an event may start from.
fn vm_allows(event: Event, vm: VmState) -> bool {
    match event {
        Event::Stop => matches!(vm, VmState::Active | VmState::Error),
        Event::Start => vm == VmState::Stopped,
        Event::Reboot { hard: false } => vm == VmState::Active,
        Event::Reboot { hard: true } => matches!(vm, VmState::Active | VmState::Stopped | VmState::Error),
        Event::Delete => vm != VmState::Deleted,
        // Nova's `check_instance_state` lists of compute/api.py.
        Event::Pause | Event::Suspend => vm == VmState::Active,
        Event::Unpause => vm == VmState::Paused,
        Event::Resume => vm == VmState::Suspended,
        Event::Rescue => matches!(vm, VmState::Active | VmState::Stopped | VmState::Error),
        Event::Unrescue => vm == VmState::Rescued,
        Event::Snapshot { backup: false } => {
            matches!(vm, VmState::Active | VmState::Stopped | VmState::Paused | VmState::Suspended)
        }
        Event::Snapshot { backup: true } => matches!(vm, VmState::Active | VmState::Stopped),
        Event::Spawn
        | Event::PoweredOff
        | Event::PoweredOn
        | Event::Rebooted
        | Event::Fail
        | Event::Paused
        | Event::Unpaused
        | Event::Suspended
        | Event::Resumed
        | Event::Rescued
        | Event::Unrescued
        | Event::SnapshotTaken => true,
    }
}

/// The transition `event` makes from (`vm`, `task`), or `None` when the
/// instance's state does not allow it (the API answers 409).
pub fn transition(event: Event, vm: VmState, task: Option<TaskState>) -> Option<Transition> {
    if !vm_allows(event, vm) {
        return None;
    }
    let t = effect(event);
    match t.expected {
        Some(exp) if !exp.contains(&task) => None,
        _ => Some(t),
    }
}

/// What the instance becomes when an action on an instance without a host
/// completes at once (no agent to wait for): `Stop` and `Start` only.
pub fn immediate(event: Event, vm: VmState, task: Option<TaskState>) -> Option<Transition> {
    transition(event, vm, task)?;
    let done = match event {
        Event::Stop => effect(Event::PoweredOff),
        Event::Start => effect(Event::PoweredOn),
        _ => return None,
    };
    Some(Transition { expected: Some(IDLE), ..done })
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState as T;

    #[test]
    fn vocabularies_round_trip() {
        for v in VmState::ALL {
            assert_eq!(VmState::parse(v.as_str()), Some(*v));
        }
        for t in TaskState::ALL {
            assert_eq!(TaskState::parse(t.as_str()), Some(*t));
        }
        for q in QueueState::ALL {
            assert_eq!(QueueState::parse(q.as_str()), Some(*q));
        }
        assert_eq!(VmState::parse("ACTIVE"), None);
        assert_eq!(serde_json::to_value(T::PoweringOff).unwrap(), "powering-off");
    }

    #[test]
    fn status_map() {
        let cases = [
            (VmState::Active, None, "ACTIVE"),
            (VmState::Active, Some(T::Rebooting), "REBOOT"),
            (VmState::Active, Some(T::RebootingHard), "HARD_REBOOT"),
            (VmState::Active, Some(T::PoweringOff), "ACTIVE"),
            (VmState::Active, Some(T::Deleting), "ACTIVE"),
            (VmState::Active, Some(T::Migrating), "MIGRATING"),
            (VmState::Active, Some(T::Rebuilding), "REBUILD"),
            (VmState::Building, Some(T::Scheduling), "BUILD"),
            (VmState::Building, Some(T::Spawning), "BUILD"),
            (VmState::Stopped, None, "SHUTOFF"),
            (VmState::Stopped, Some(T::PoweringOn), "SHUTOFF"),
            (VmState::Stopped, Some(T::ResizePrep), "RESIZE"),
            (VmState::Active, Some(T::Pausing), "ACTIVE"),
            (VmState::Paused, Some(T::Unpausing), "PAUSED"),
            (VmState::Suspended, None, "SUSPENDED"),
            (VmState::Rescued, Some(T::Unrescuing), "RESCUE"),
            (VmState::Active, Some(T::ImageSnapshot), "ACTIVE"),
            (VmState::Error, None, "ERROR"),
            (VmState::Error, Some(T::Rebuilding), "REBUILD"),
            (VmState::Deleted, None, "DELETED"),
            (VmState::SoftDeleted, None, "SOFT_DELETED"),
            (VmState::Resized, None, "VERIFY_RESIZE"),
            (VmState::Resized, Some(T::ResizeReverting), "REVERT_RESIZE"),
            (VmState::Active, Some(T::ResizeFinish), "RESIZE"),
            (VmState::Shelved, None, "SHELVED"),
            (VmState::ShelvedOffloaded, None, "SHELVED_OFFLOADED"),
        ];
        for (vm, task, want) in cases {
            assert_eq!(status(vm, task).as_str(), want, "{vm} / {task:?}");
        }
    }

    #[test]
    fn transitions() {
        use Event::*;
        // (event, vm, task, allowed, resulting vm, resulting task)
        type Case = (Event, VmState, Option<TaskState>, bool, Option<VmState>, Option<TaskState>);
        let cases: &[Case] = &[
            (Stop, VmState::Active, None, true, None, Some(T::PoweringOff)),
            (Stop, VmState::Error, None, true, None, Some(T::PoweringOff)),
            (Stop, VmState::Stopped, None, false, None, None),
            (Stop, VmState::Building, Some(T::Spawning), false, None, None),
            (Stop, VmState::Active, Some(T::Rebooting), false, None, None),
            (Start, VmState::Stopped, None, true, None, Some(T::PoweringOn)),
            (Start, VmState::Active, None, false, None, None),
            (Start, VmState::Stopped, Some(T::PoweringOn), false, None, None),
            (Reboot { hard: false }, VmState::Active, None, true, Some(VmState::Active), Some(T::Rebooting)),
            (Reboot { hard: false }, VmState::Stopped, None, false, None, None),
            (Reboot { hard: false }, VmState::Active, Some(T::Rebooting), false, None, None),
            (Reboot { hard: true }, VmState::Stopped, None, true, Some(VmState::Active), Some(T::RebootingHard)),
            (Reboot { hard: true }, VmState::Error, None, true, Some(VmState::Active), Some(T::RebootingHard)),
            (
                Reboot { hard: true },
                VmState::Active,
                Some(T::Rebooting),
                true,
                Some(VmState::Active),
                Some(T::RebootingHard),
            ),
            (Reboot { hard: true }, VmState::Building, Some(T::Spawning), false, None, None),
            (Reboot { hard: true }, VmState::Active, Some(T::Deleting), false, None, None),
            (Delete, VmState::Active, Some(T::PoweringOff), true, None, Some(T::Deleting)),
            (Delete, VmState::Building, Some(T::Scheduling), true, None, Some(T::Deleting)),
            (Delete, VmState::Deleted, None, false, None, None),
            (Spawn, VmState::Building, Some(T::Scheduling), true, Some(VmState::Building), Some(T::Spawning)),
            (Spawn, VmState::Building, Some(T::Deleting), false, None, None),
            (PoweredOff, VmState::Active, Some(T::PoweringOff), true, Some(VmState::Stopped), None),
            (PoweredOff, VmState::Active, None, false, None, None),
            (PoweredOn, VmState::Stopped, Some(T::PoweringOn), true, Some(VmState::Active), None),
            (Rebooted, VmState::Active, Some(T::RebootingHard), true, Some(VmState::Active), None),
            (Rebooted, VmState::Active, Some(T::Deleting), false, None, None),
            (Fail, VmState::Building, Some(T::Spawning), true, Some(VmState::Error), None),
            (Pause, VmState::Active, None, true, None, Some(T::Pausing)),
            (Pause, VmState::Stopped, None, false, None, None),
            (Pause, VmState::Active, Some(T::Rebooting), false, None, None),
            (Paused, VmState::Active, Some(T::Pausing), true, Some(VmState::Paused), None),
            (Unpause, VmState::Paused, None, true, None, Some(T::Unpausing)),
            (Unpause, VmState::Active, None, false, None, None),
            (Unpaused, VmState::Paused, Some(T::Unpausing), true, Some(VmState::Active), None),
            (Suspend, VmState::Active, None, true, None, Some(T::Suspending)),
            (Suspend, VmState::Paused, None, false, None, None),
            (Suspended, VmState::Active, Some(T::Suspending), true, Some(VmState::Suspended), None),
            (Resume, VmState::Suspended, None, true, None, Some(T::Resuming)),
            (Resume, VmState::Stopped, None, false, None, None),
            (Resumed, VmState::Suspended, Some(T::Resuming), true, Some(VmState::Active), None),
            (Rescue, VmState::Stopped, None, true, None, Some(T::Rescuing)),
            (Rescue, VmState::Error, None, true, None, Some(T::Rescuing)),
            (Rescue, VmState::Paused, None, false, None, None),
            (Rescued, VmState::Stopped, Some(T::Rescuing), true, Some(VmState::Rescued), None),
            (Unrescue, VmState::Rescued, None, true, None, Some(T::Unrescuing)),
            (Unrescue, VmState::Active, None, false, None, None),
            (Unrescued, VmState::Rescued, Some(T::Unrescuing), true, Some(VmState::Active), None),
            (Snapshot { backup: false }, VmState::Paused, None, true, None, Some(T::ImageSnapshot)),
            (Snapshot { backup: false }, VmState::Building, Some(T::Spawning), false, None, None),
            (Snapshot { backup: true }, VmState::Paused, None, false, None, None),
            (Snapshot { backup: true }, VmState::Stopped, None, true, None, Some(T::ImageBackup)),
            (SnapshotTaken, VmState::Active, Some(T::ImageSnapshot), true, None, None),
            (SnapshotTaken, VmState::Active, Some(T::Deleting), false, None, None),
        ];
        for &(event, vm, task, allowed, to_vm, to_task) in cases {
            let t = transition(event, vm, task);
            assert_eq!(t.is_some(), allowed, "{event:?} from {vm} / {task:?}");
            if let Some(t) = t {
                assert_eq!((t.vm_state, t.task_state), (to_vm, to_task), "{event:?} from {vm} / {task:?}");
                if let Some(exp) = t.expected {
                    assert!(exp.contains(&task), "{event:?}: the current task state must pass the compare-and-set");
                }
            }
        }
    }

    #[test]
    fn actions_without_a_host_complete_at_once() {
        let stop = immediate(Event::Stop, VmState::Active, None).unwrap();
        assert_eq!((stop.vm_state, stop.task_state, stop.power_state), (Some(VmState::Stopped), None, Some(4)));
        assert_eq!(stop.expected, Some(IDLE));
        let start = immediate(Event::Start, VmState::Stopped, None).unwrap();
        assert_eq!((start.vm_state, start.task_state, start.power_state), (Some(VmState::Active), None, Some(1)));
        assert_eq!(immediate(Event::Start, VmState::Active, None), None);
        assert_eq!(immediate(Event::Reboot { hard: true }, VmState::Active, None), None);
    }
}
