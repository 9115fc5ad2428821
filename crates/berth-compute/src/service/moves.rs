//! Moves, with Nova's allocation model: resize and cold migration
//! (confirm, revert), live migration (force-complete, abort), evacuation,
//! shelve / offload / unshelve and rebuild.
//!
//! The API side (this module) checks states, records the migration, chooses
//! the destination and makes the Placement changes a conductor makes; the
//! agents (`agent/moves.rs`) do the hypervisor work and commit its outcome.
//! Every step is one `Db::commit_move` transaction (instance compare-and-set,
//! migration compare-and-set, agent tasks, outbox), so a step either
//! happened or did not, and a re-offered task finds where it stopped.
//!
//! Allocations, as Nova holds them:
//! - resize, cold and live migration: one atomic `POST /allocations` moves
//!   the instance's source allocation to the migration's uuid (consumer type
//!   `MIGRATION`) and claims the destination for the instance, with both
//!   consumer generations; confirm (or the end of a live migration) gives
//!   the migration's allocation back; revert moves it back onto the
//!   instance (again one `POST`), dropping the destination's. A same-host
//!   resize holds old and new flavor on the one provider.
//! - evacuation: the instance holds source and destination until the source
//!   host's agent returns, destroys the guest and drops the source part.
//! - shelve keeps the allocation, offload gives it back, unshelve claims
//!   afresh.

use std::collections::BTreeMap;

use berth_placement_client::{AllocationWrite, PlacementError, Resources};
use serde_json::json;
use uuid::Uuid;

use super::ComputeService;
use crate::clock::now_us;
use crate::error::{ComputeError, Result};
use crate::lifecycle::power_state;
use crate::model::*;
use crate::scheduler::{filter_and_weigh, RequestSpec, Weighed};

const IDLE: &[Option<TaskState>] = &[None];
const ACTIVE_OR_STOPPED: &[VmState] = &[VmState::Active, VmState::Stopped];

/// Who asked for a move (recorded on the migration and in task payloads).
#[derive(Debug, Clone, Default)]
pub(crate) struct Requester {
    pub user_id: String,
    pub project_id: String,
    pub request_id: String,
}

/// How a move that could not find a destination ended (the instance is
/// back where it was, with a fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoValidHost(pub String);

/// A destination chosen and claimed.
struct Claimed {
    node: ComputeNode,
    az: String,
}

/// The vm state an instance at rest has for its power state.
pub(crate) fn resting_vm_state(power: i64) -> VmState {
    if power == power_state::SHUTDOWN {
        VmState::Stopped
    } else {
        VmState::Active
    }
}

fn node_ref(n: &ComputeNode) -> NodeRef {
    NodeRef { host: n.host.clone(), node: n.hypervisor_hostname.clone(), node_uuid: n.uuid }
}

fn write_for(
    i: &Instance,
    allocations: BTreeMap<Uuid, Resources>,
    generation: Option<i64>,
    kind: &str,
) -> AllocationWrite {
    AllocationWrite {
        allocations,
        project_id: i.project_id.clone(),
        user_id: i.user_id.clone(),
        consumer_generation: generation,
        consumer_type: kind.into(),
    }
}

fn no_valid_host(why: &str) -> String {
    format!("No valid host was found. {why}")
}

impl ComputeService {
    /// A new migration record for `i` (source = where it is now).
    fn new_migration(
        i: &Instance,
        kind: &str,
        status: &str,
        new_flavor: Option<&Flavor>,
        who: &Requester,
    ) -> MigrationRecord {
        MigrationRecord {
            id: 0,
            uuid: Uuid::new_v4(),
            instance_uuid: i.uuid,
            source_compute: i.host.clone(),
            dest_compute: None,
            source_node: i.node.clone(),
            dest_node: None,
            dest_host: None,
            source_node_uuid: i.node_uuid,
            dest_node_uuid: None,
            old_flavor: Some(i.flavor.clone()),
            new_flavor: Some(new_flavor.unwrap_or(&i.flavor).clone()),
            status: status.into(),
            migration_type: kind.into(),
            user_id: Some(who.user_id.clone()),
            project_id: Some(who.project_id.clone()),
            created_at: now_us(),
            updated_at: None,
        }
    }

    /// Commit a step and run the outbox entries it recorded; `false` when
    /// the instance or migration had changed (nothing written).
    pub(crate) async fn commit_step(&self, c: &MoveCommit) -> Result<bool> {
        match self.db.commit_move(c).await? {
            None => Ok(false),
            Some(entries) => {
                for e in entries {
                    self.run_outbox_entry(e, false).await?;
                }
                Ok(true)
            }
        }
    }

    /// The candidates for moving `i` with `flavor`: filtered and weighed as
    /// a build is, in the instance's requested zone, without `exclude`
    /// hosts, on `only_host` when given.
    async fn move_candidates(
        &self,
        i: &Instance,
        flavor: &Flavor,
        exclude: &[String],
        only_host: Option<&str>,
        az: Option<String>,
    ) -> Result<std::result::Result<Vec<Weighed>, NoValidHost>> {
        let mut spec = RequestSpec::new(flavor, None);
        let az = az.or_else(|| i.requested_az.as_deref().and_then(|r| super::split_az(r).0));
        if let Some(az) = &az {
            match self.db.find_az_aggregate(az).await? {
                Some(agg) => spec.member_of = vec![agg],
                None => return Ok(Err(NoValidHost(no_valid_host("The availability zone has no hosts.")))),
            }
            spec.availability_zone = Some(az.clone());
        }
        spec.force_host = only_host.map(str::to_string);
        let hosts = self.host_state().await?;
        let candidates = self.placement.allocation_candidates(&spec.query(self.config.max_placement_results)).await?;
        let chosen: Vec<Weighed> = filter_and_weigh(&candidates, &hosts, &spec, self.config.weigher, &mut rand::rng())
            .into_iter()
            .filter(|w| !exclude.contains(&w.node.host))
            .collect();
        if chosen.is_empty() {
            return Ok(Err(NoValidHost(no_valid_host("There are not enough hosts available."))));
        }
        Ok(Ok(chosen))
    }

    /// Choose a destination and, in one `POST /allocations`, move the
    /// instance's allocation to the migration consumer and claim the
    /// destination for the instance. Nothing changes in Placement unless
    /// it returns a destination.
    async fn swap_to_destination(
        &self,
        i: &Instance,
        migration: Uuid,
        flavor: &Flavor,
        exclude: &[String],
        only_host: Option<&str>,
    ) -> Result<std::result::Result<Claimed, NoValidHost>> {
        let chosen = match self.move_candidates(i, flavor, exclude, only_host, None).await? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let mut last = String::new();
        for w in chosen {
            for _ in 0..5 {
                let current = self.placement.get_allocations(i.uuid).await?;
                let mut writes = BTreeMap::new();
                writes.insert(i.uuid, write_for(i, w.request.resources(), current.consumer_generation, "INSTANCE"));
                if !current.is_empty() {
                    writes.insert(migration, write_for(i, current.resources(), None, "MIGRATION"));
                }
                match self.placement.post_allocations(&writes).await {
                    Ok(()) => {
                        self.recheck_deleted(i.uuid, &[migration]).await?;
                        return Ok(Ok(Claimed { az: w.service.availability_zone.clone(), node: w.node }));
                    }
                    Err(e) if e.is_generation_conflict() => {
                        last = e.to_string();
                        continue;
                    }
                    Err(e) if e.is_conflict() => {
                        last = e.to_string();
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(Err(NoValidHost(no_valid_host(&format!("There are not enough hosts available ({last})")))))
    }

    /// Put the migration consumer's allocation back on the instance and
    /// drop what the instance held (the destination), in one `POST`. A
    /// migration that holds nothing (already swapped back) changes nothing.
    pub(crate) async fn swap_back(&self, i: &Instance, migration: Uuid) -> Result<(), PlacementError> {
        for _ in 0..10 {
            let held = self.placement.get_allocations(migration).await?;
            if held.is_empty() {
                return Ok(());
            }
            let current = self.placement.get_allocations(i.uuid).await?;
            let mut writes = BTreeMap::new();
            writes.insert(i.uuid, write_for(i, held.resources(), current.consumer_generation, "INSTANCE"));
            writes.insert(migration, write_for(i, BTreeMap::new(), held.consumer_generation, "MIGRATION"));
            match self.placement.post_allocations(&writes).await {
                Ok(()) => {
                    self.recheck_deleted(i.uuid, &[migration])
                        .await
                        .map_err(|e| PlacementError::Unavailable(format!("re-check after the swap back: {e}")))?;
                    return Ok(());
                }
                Err(e) if e.is_generation_conflict() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(PlacementError::Unavailable("allocations kept changing".into()))
    }

    /// After a write that gave `instance` (and `migrations`) allocations:
    /// when the instance was deleted meanwhile, its delete may already have
    /// removed what they held, and the write recreated the consumers; they
    /// go again (durably). In every interleaving one of the two removes
    /// the write: a delete committed before this read is seen here, one
    /// committed after it runs its own removal after the write.
    pub(crate) async fn recheck_deleted(&self, instance: Uuid, migrations: &[Uuid]) -> Result<()> {
        if self.db.get_instance(instance).await?.is_none_or(|i| i.deleted) {
            tracing::info!(%instance, "instance deleted during a move; its allocations go again");
            for c in std::iter::once(instance).chain(migrations.iter().copied()) {
                self.remove_allocations_durably(c).await?;
            }
        }
        Ok(())
    }

    /// Undo a swap that may have happened (its answer lost). When
    /// Placement cannot be reached either, the audit heals what is left
    /// (the migration consumer is unknown once the migration is closed, the
    /// instance's allocation on the wrong provider).
    async fn best_effort_swap_back(&self, i: &Instance, migration: Uuid) {
        if let Err(e) = self.swap_back(i, migration).await {
            tracing::warn!(instance = %i.uuid, %migration, error = %e, "cannot check for a lost swap; the audit will heal it");
        }
    }

    /// Moves whose API process died between choosing a destination and
    /// recording it (the migration still in its first status since before
    /// `cutoff_us`): the swap, if it happened, is undone, the migration
    /// closed in `error` and the instance idle again. Returns how many.
    pub(crate) async fn recover_abandoned_moves(&self, cutoff_us: i64) -> Result<usize> {
        let mut n = 0;
        for m in self.db.list_migrations(None).await? {
            let first = match m.migration_type.as_str() {
                migration_type::RESIZE | migration_type::MIGRATION => migration_status::PRE_MIGRATING,
                _ => migration_status::ACCEPTED,
            };
            if m.status != first || m.updated_at.unwrap_or(m.created_at) > cutoff_us {
                continue;
            }
            match self.db.get_instance(m.instance_uuid).await?.filter(|i| !i.deleted) {
                Some(i) if m.migration_type == migration_type::EVACUATION => {
                    // Only the source allocation may stay.
                    let held = self.placement.get_allocations(i.uuid).await?;
                    if held.allocations.keys().any(|rp| Some(*rp) != i.node_uuid) {
                        self.rewrite_allocations(&i).await?;
                    }
                }
                Some(i) => self.swap_back(&i, m.uuid).await?,
                None => self.remove_allocations_durably(m.uuid).await?,
            }
            let task = match m.migration_type.as_str() {
                migration_type::RESIZE | migration_type::MIGRATION => TaskState::ResizePrep,
                migration_type::LIVE_MIGRATION => TaskState::Migrating,
                _ => TaskState::Rebuilding,
            };
            let expected: &'static [&'static str] = if first == migration_status::ACCEPTED {
                &[migration_status::ACCEPTED]
            } else {
                &[migration_status::PRE_MIGRATING]
            };
            let closed = self
                .commit_step(&MoveCommit {
                    instance: m.instance_uuid,
                    expect_task: Some(match task {
                        TaskState::ResizePrep => &[Some(TaskState::ResizePrep)],
                        TaskState::Migrating => &[Some(TaskState::Migrating)],
                        _ => &[Some(TaskState::Rebuilding)],
                    }),
                    task_state: Some(None),
                    migration: Some(MigrationUpdate {
                        uuid: m.uuid,
                        expected,
                        status: migration_status::ERROR,
                        dest: None,
                    }),
                    fault: Some((
                        500,
                        "The move was abandoned by its API process before it was recorded.".into(),
                        None,
                    )),
                    ..Default::default()
                })
                .await?;
            if !closed {
                self.db.set_migration_status(m.uuid, expected, migration_status::ERROR).await?;
            }
            tracing::warn!(instance = %m.instance_uuid, migration = %m.uuid, "abandoned move rolled back");
            n += 1;
        }
        Ok(n)
    }

    /// Remove one provider from a consumer's allocations (read, modify,
    /// write with its generation); `false` when it held nothing there.
    pub(crate) async fn drop_provider(&self, i: &Instance, rp: Uuid) -> Result<bool, PlacementError> {
        for _ in 0..10 {
            let cur = self.placement.get_allocations(i.uuid).await?;
            let mut res = cur.resources();
            if res.remove(&rp).is_none() {
                return Ok(false);
            }
            let w = write_for(i, res, cur.consumer_generation, "INSTANCE");
            let r = if w.allocations.is_empty() {
                self.placement.delete_allocations(i.uuid).await.map(|_| ())
            } else {
                self.placement.put_allocations(i.uuid, &w).await
            };
            match r {
                Ok(()) => {
                    self.recheck_deleted(i.uuid, &[])
                        .await
                        .map_err(|e| PlacementError::Unavailable(format!("re-check after the write: {e}")))?;
                    return Ok(true);
                }
                Err(e) if e.is_generation_conflict() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(PlacementError::Unavailable("allocations kept changing".into()))
    }

    /// Take the move back when no destination was found: the migration
    /// ends in `error`, the instance is idle again in its vm state, with a
    /// fault.
    async fn abandon_move(&self, i: &Instance, m: Uuid, from: &'static [&'static str], why: &str) -> Result<()> {
        self.commit_step(&MoveCommit {
            instance: i.uuid,
            task_state: Some(None),
            migration: Some(MigrationUpdate { uuid: m, expected: from, status: migration_status::ERROR, dest: None }),
            fault: Some((500, why.to_string(), None)),
            ..Default::default()
        })
        .await?;
        Ok(())
    }

    // ------------------------------------------------ resize / migrate

    /// `resize` (a new flavor) or cold `migrate` (`flavor` `None`; `host`
    /// from 2.56). Synchronous like Nova's conductor call: no valid host
    /// is the caller's 400, with the instance back as it was.
    pub(crate) async fn resize_or_migrate(
        &self,
        i: &Instance,
        flavor: Option<&Flavor>,
        host: Option<&str>,
        who: &Requester,
    ) -> Result<std::result::Result<(), NoValidHost>> {
        let kind = if flavor.is_some() { migration_type::RESIZE } else { migration_type::MIGRATION };
        let m = Self::new_migration(i, kind, migration_status::PRE_MIGRATING, flavor, who);
        let begun = self
            .commit_step(&MoveCommit {
                instance: i.uuid,
                expect_task: Some(IDLE),
                expect_vm: Some(ACTIVE_OR_STOPPED),
                task_state: Some(Some(TaskState::ResizePrep)),
                new_migration: Some(m.clone()),
                ..Default::default()
            })
            .await?;
        if !begun {
            return Err(ComputeError::conflict(format!(
                "Cannot '{}' instance {} while it is in task_state {}",
                if flavor.is_some() { "resize" } else { "migrate" },
                i.uuid,
                self.db.get_instance(i.uuid).await?.and_then(|x| x.task_state).map(|t| t.as_str()).unwrap_or("None")
            )));
        }
        let source = i.host.clone().unwrap_or_default();
        let exclude = if flavor.is_some() && self.config.allow_resize_to_same_host { vec![] } else { vec![source] };
        let new_flavor = flavor.unwrap_or(&i.flavor);
        let claimed = match self.swap_to_destination(i, m.uuid, new_flavor, &exclude, host).await {
            Ok(c) => c,
            Err(e) => {
                // The swap may have landed with its answer lost.
                self.best_effort_swap_back(i, m.uuid).await;
                self.abandon_move(i, m.uuid, &[migration_status::PRE_MIGRATING], &e.message).await?;
                return Err(e);
            }
        };
        let dest = match claimed {
            Ok(c) => c,
            Err(NoValidHost(why)) => {
                self.abandon_move(i, m.uuid, &[migration_status::PRE_MIGRATING], &why).await?;
                return Ok(Err(NoValidHost(why)));
            }
        };
        // Test seam: between the swap and recording the destination.
        let seam = self.claim_seam.lock().ok().and_then(|mut g| g.take());
        if let Some(seam) = seam {
            seam().await;
        }
        let done = self
            .commit_step(&MoveCommit {
                instance: i.uuid,
                expect_task: Some(&[Some(TaskState::ResizePrep)]),
                task_state: Some(Some(TaskState::ResizeMigrating)),
                migration: Some(MigrationUpdate {
                    uuid: m.uuid,
                    expected: &[migration_status::PRE_MIGRATING],
                    status: migration_status::MIGRATING,
                    dest: Some(node_ref(&dest.node)),
                }),
                tasks: vec![(
                    dest.node.host.clone(),
                    task_kind::FINISH_RESIZE,
                    json!({"migration": m.uuid, "request_id": who.request_id, "az": dest.az}),
                )],
                ..Default::default()
            })
            .await?;
        if !done {
            // The instance changed meanwhile (deleted): the swap is undone.
            self.undo_swap(i, m.uuid).await?;
        }
        Ok(Ok(()))
    }

    /// After a lost race: give the swap back (or, when the instance is
    /// gone, just the migration's allocation) and close the migration.
    async fn undo_swap(&self, i: &Instance, m: Uuid) -> Result<()> {
        let live = self.db.get_instance(i.uuid).await?.is_some_and(|x| !x.deleted);
        if live {
            self.swap_back(i, m).await?;
        } else {
            self.remove_allocations_durably(m).await?;
        }
        self.db.set_migration_status(m, &[], migration_status::ERROR).await?;
        Ok(())
    }

    /// The migration of a server in VERIFY_RESIZE, or the API's 400.
    async fn resized_migration(&self, i: &Instance) -> Result<MigrationRecord> {
        let m =
            self.db.latest_migration(i.uuid, &[migration_status::FINISHED]).await?.filter(|m| {
                m.migration_type == migration_type::RESIZE || m.migration_type == migration_type::MIGRATION
            });
        match m {
            Some(m) if i.vm_state == VmState::Resized => Ok(m),
            _ => Err(ComputeError::bad_request("Instance has not been resized.")),
        }
    }

    /// `confirmResize`: the migration's (source) allocation is given back,
    /// the source guest destroyed; the server is ACTIVE (or SHUTOFF) again.
    pub(crate) async fn confirm_resize(&self, i: &Instance) -> Result<bool> {
        let m = self.resized_migration(i).await?;
        let mut tasks = Vec::new();
        if m.source_compute.is_some() && m.source_compute != m.dest_compute {
            tasks.push((m.source_compute.clone().unwrap_or_default(), task_kind::DESTROY_GUEST, json!({})));
        }
        self.commit_step(&MoveCommit {
            instance: i.uuid,
            expect_task: Some(IDLE),
            expect_vm: Some(&[VmState::Resized]),
            vm_state: Some(resting_vm_state(i.power_state)),
            task_state: Some(None),
            migration: Some(MigrationUpdate {
                uuid: m.uuid,
                expected: &[migration_status::FINISHED],
                status: migration_status::CONFIRMED,
                dest: None,
            }),
            tasks,
            give_back: vec![m.uuid],
            ..Default::default()
        })
        .await
    }

    /// `revertResize`: REVERT_RESIZE while the destination's agent
    /// destroys its guest and moves the allocation back.
    pub(crate) async fn revert_resize(&self, i: &Instance, who: &Requester) -> Result<bool> {
        let m = self.resized_migration(i).await?;
        let dest = m.dest_compute.clone().unwrap_or_default();
        self.commit_step(&MoveCommit {
            instance: i.uuid,
            expect_task: Some(IDLE),
            expect_vm: Some(&[VmState::Resized]),
            task_state: Some(Some(TaskState::ResizeReverting)),
            migration: Some(MigrationUpdate {
                uuid: m.uuid,
                expected: &[migration_status::FINISHED],
                status: "reverting",
                dest: None,
            }),
            tasks: vec![(dest, task_kind::REVERT_RESIZE, json!({"migration": m.uuid, "request_id": who.request_id}))],
            ..Default::default()
        })
        .await
    }

    // ------------------------------------------------ live migration

    /// `os-migrateLive`. No valid host: the migration ends in `error`, the
    /// server stays ACTIVE where it is (asynchronous from 2.25).
    pub(crate) async fn live_migrate(
        &self,
        i: &Instance,
        host: Option<&str>,
        who: &Requester,
    ) -> Result<std::result::Result<(), NoValidHost>> {
        let m = Self::new_migration(i, migration_type::LIVE_MIGRATION, "accepted", None, who);
        let begun = self
            .commit_step(&MoveCommit {
                instance: i.uuid,
                expect_task: Some(IDLE),
                expect_vm: Some(&[VmState::Active, VmState::Paused]),
                task_state: Some(Some(TaskState::Migrating)),
                new_migration: Some(m.clone()),
                ..Default::default()
            })
            .await?;
        if !begun {
            return Err(ComputeError::conflict(format!(
                "Cannot 'os-migrateLive' instance {} while it is in a task state",
                i.uuid
            )));
        }
        let exclude = vec![i.host.clone().unwrap_or_default()];
        let claimed = match self.swap_to_destination(i, m.uuid, &i.flavor, &exclude, host).await {
            Ok(c) => c,
            Err(e) => {
                self.best_effort_swap_back(i, m.uuid).await;
                self.abandon_move(i, m.uuid, &["accepted"], &e.message).await?;
                return Err(e);
            }
        };
        let dest = match claimed {
            Ok(c) => c,
            Err(NoValidHost(why)) => {
                self.abandon_move(i, m.uuid, &["accepted"], &why).await?;
                return Ok(Err(NoValidHost(why)));
            }
        };
        let done = self
            .commit_step(&MoveCommit {
                instance: i.uuid,
                expect_task: Some(&[Some(TaskState::Migrating)]),
                migration: Some(MigrationUpdate {
                    uuid: m.uuid,
                    expected: &["accepted"],
                    status: migration_status::PREPARING,
                    dest: Some(node_ref(&dest.node)),
                }),
                tasks: vec![(
                    dest.node.host.clone(),
                    task_kind::LIVE_MIGRATE,
                    json!({"migration": m.uuid, "request_id": who.request_id, "az": dest.az}),
                )],
                ..Default::default()
            })
            .await?;
        if !done {
            self.undo_swap(i, m.uuid).await?;
        }
        Ok(Ok(()))
    }

    /// A live migration of `i` by id, or Nova's 404.
    pub(crate) async fn server_migration(&self, i: &Instance, id: &str) -> Result<MigrationRecord> {
        let nf = || {
            ComputeError::not_found(format!(
                "Instance {} is not migrating: migration {} not found.",
                i.uuid,
                id.chars().take(64).collect::<String>()
            ))
        };
        let id: i64 = id.parse().map_err(|_| nf())?;
        self.db
            .list_migrations(Some(i.uuid))
            .await?
            .into_iter()
            .find(|m| m.id == id && m.migration_type == migration_type::LIVE_MIGRATION)
            .ok_or_else(nf)
    }

    /// `force_complete` of a running live migration.
    pub(crate) async fn force_complete(&self, i: &Instance, m: &MigrationRecord, who: &Requester) -> Result<()> {
        let dest = m.dest_compute.clone().unwrap_or_default();
        let ok = m.status == migration_status::RUNNING
            && self
                .commit_step(&MoveCommit {
                    instance: i.uuid,
                    expect_task: Some(&[Some(TaskState::Migrating)]),
                    migration: Some(MigrationUpdate {
                        uuid: m.uuid,
                        expected: &[migration_status::RUNNING],
                        status: migration_status::RUNNING,
                        dest: None,
                    }),
                    tasks: vec![(
                        dest,
                        task_kind::LIVE_MIGRATE,
                        json!({"migration": m.uuid, "request_id": who.request_id, "force": true}),
                    )],
                    ..Default::default()
                })
                .await?;
        if !ok {
            return Err(ComputeError::bad_request(format!(
                "Migration {} state of instance {} is {}. Cannot force_complete while the migration is in this state.",
                m.id, i.uuid, m.status
            )));
        }
        Ok(())
    }

    /// Abort (`DELETE .../migrations/{id}`) a live migration not yet
    /// complete: the migration is cancelled, the instance idle on its
    /// source, and its source allocation back on it.
    pub(crate) async fn abort_live_migration(&self, i: &Instance, m: &MigrationRecord) -> Result<()> {
        let ok = self
            .commit_step(&MoveCommit {
                instance: i.uuid,
                expect_task: Some(&[Some(TaskState::Migrating)]),
                task_state: Some(None),
                migration: Some(MigrationUpdate {
                    uuid: m.uuid,
                    expected: &[migration_status::PREPARING, migration_status::RUNNING, "queued"],
                    status: migration_status::CANCELLED,
                    dest: None,
                }),
                ..Default::default()
            })
            .await?;
        if !ok {
            return Err(ComputeError::bad_request(format!(
                "Migration {} state of instance {} is {}. Cannot abort live migration while the migration is in this state.",
                m.id, i.uuid, m.status
            )));
        }
        // If Placement fails here the audit finds the difference (instance
        // on the wrong provider, migration consumer unknown) and heals it.
        self.swap_back(i, m.uuid).await?;
        Ok(())
    }

    // ------------------------------------------------ evacuate

    /// `evacuate`: only when the source's compute service is down. The
    /// instance claims the destination in addition to its source
    /// allocation; the destination's agent rebuilds it there.
    pub(crate) async fn evacuate(
        &self,
        i: &Instance,
        host: Option<&str>,
        target_stopped: bool,
        who: &Requester,
    ) -> Result<std::result::Result<(), NoValidHost>> {
        let source = i.host.clone().unwrap_or_default();
        let m = Self::new_migration(i, migration_type::EVACUATION, migration_status::ACCEPTED, None, who);
        let begun = self
            .commit_step(&MoveCommit {
                instance: i.uuid,
                expect_task: Some(IDLE),
                expect_vm: Some(&[VmState::Active, VmState::Stopped, VmState::Error]),
                task_state: Some(Some(TaskState::Rebuilding)),
                new_migration: Some(m.clone()),
                ..Default::default()
            })
            .await?;
        if !begun {
            return Err(ComputeError::conflict(format!(
                "Cannot 'evacuate' instance {} while it is in a task state",
                i.uuid
            )));
        }
        let fail = |why: String| async move {
            // Nova's conductor: the migration errors, the instance is ERROR.
            self.commit_step(&MoveCommit {
                instance: i.uuid,
                vm_state: Some(VmState::Error),
                task_state: Some(None),
                migration: Some(MigrationUpdate {
                    uuid: m.uuid,
                    expected: &[migration_status::ACCEPTED],
                    status: migration_status::ERROR,
                    dest: None,
                }),
                fault: Some((500, why.clone(), None)),
                ..Default::default()
            })
            .await?;
            Ok::<_, ComputeError>(why)
        };
        let chosen = match self.move_candidates(i, &i.flavor, std::slice::from_ref(&source), host, None).await {
            Ok(Ok(c)) => c,
            Ok(Err(NoValidHost(why))) => return Ok(Err(NoValidHost(fail(why).await?))),
            Err(e) => {
                fail(e.message.clone()).await?;
                return Err(e);
            }
        };
        let mut last = String::new();
        let mut claimed = None;
        'hosts: for w in chosen {
            for _ in 0..5 {
                let cur = self.placement.get_allocations(i.uuid).await?;
                let mut res = cur.resources();
                for (rp, r) in w.request.resources() {
                    res.insert(rp, r);
                }
                match self
                    .placement
                    .put_allocations(i.uuid, &write_for(i, res, cur.consumer_generation, "INSTANCE"))
                    .await
                {
                    Ok(()) => {
                        self.recheck_deleted(i.uuid, &[]).await?;
                        claimed = Some(w);
                        break 'hosts;
                    }
                    Err(e) if e.is_generation_conflict() => continue,
                    Err(e) if e.is_conflict() => {
                        last = e.to_string();
                        continue 'hosts;
                    }
                    Err(e) => {
                        fail(e.to_string()).await?;
                        return Err(e.into());
                    }
                }
            }
        }
        let Some(w) = claimed else {
            let why = no_valid_host(&format!("There are not enough hosts available ({last})"));
            return Ok(Err(NoValidHost(fail(why).await?)));
        };
        let done = self
            .commit_step(&MoveCommit {
                instance: i.uuid,
                expect_task: Some(&[Some(TaskState::Rebuilding)]),
                migration: Some(MigrationUpdate {
                    uuid: m.uuid,
                    expected: &[migration_status::ACCEPTED],
                    status: migration_status::PRE_MIGRATING,
                    dest: Some(node_ref(&w.node)),
                }),
                tasks: vec![(
                    w.node.host.clone(),
                    task_kind::EVACUATE,
                    json!({"migration": m.uuid, "request_id": who.request_id, "stopped": target_stopped,
                           "az": w.service.availability_zone}),
                )],
                ..Default::default()
            })
            .await?;
        if !done {
            let _ = self.drop_provider(i, w.node.uuid).await;
            self.db.set_migration_status(m.uuid, &[], migration_status::ERROR).await?;
        }
        Ok(Ok(()))
    }

    // ------------------------------------------------ shelve

    /// `shelve`: the agent powers the guest off (and offloads at once when
    /// `shelved_offload_time` is 0).
    pub(crate) async fn shelve(&self, i: &Instance, who: &Requester) -> Result<bool> {
        let Some(host) = i.host.clone() else { return Ok(false) };
        self.commit_step(&MoveCommit {
            instance: i.uuid,
            expect_task: Some(IDLE),
            expect_vm: Some(&[VmState::Active, VmState::Stopped, VmState::Paused, VmState::Suspended]),
            task_state: Some(Some(TaskState::Shelving)),
            tasks: vec![(host, task_kind::SHELVE, json!({"request_id": who.request_id}))],
            ..Default::default()
        })
        .await
    }

    /// `shelveOffload` of a SHELVED server.
    pub(crate) async fn shelve_offload(&self, i: &Instance, who: &Requester) -> Result<bool> {
        match i.host.clone() {
            Some(host) => {
                self.commit_step(&MoveCommit {
                    instance: i.uuid,
                    expect_task: Some(IDLE),
                    expect_vm: Some(&[VmState::Shelved]),
                    task_state: Some(Some(TaskState::ShelvingOffloading)),
                    tasks: vec![(host, task_kind::SHELVE_OFFLOAD, json!({"request_id": who.request_id}))],
                    ..Default::default()
                })
                .await
            }
            None => Ok(false),
        }
    }

    /// Offload now (the agent's step): no host, allocation given back.
    pub(crate) async fn offload_commit(&self, i: &Instance, expect: &'static [Option<TaskState>]) -> Result<bool> {
        self.commit_step(&MoveCommit {
            instance: i.uuid,
            expect_task: Some(expect),
            expect_vm: Some(&[
                VmState::Shelved,
                VmState::Active,
                VmState::Stopped,
                VmState::Paused,
                VmState::Suspended,
            ]),
            vm_state: Some(VmState::ShelvedOffloaded),
            task_state: Some(None),
            power_state: Some(power_state::NOSTATE),
            place: Some(None),
            give_back: vec![i.uuid],
            ..Default::default()
        })
        .await
    }

    /// `unshelve`: a SHELVED server is powered on where it is; an
    /// offloaded one is scheduled afresh (zone from 2.77, host from 2.91)
    /// and claims again. No valid host: it stays SHELVED_OFFLOADED with a
    /// fault (Nova's unshelve is asynchronous).
    pub(crate) async fn unshelve(
        &self,
        i: &Instance,
        az: Option<String>,
        host: Option<&str>,
        who: &Requester,
    ) -> Result<bool> {
        if i.vm_state == VmState::Shelved {
            let Some(h) = i.host.clone() else { return Ok(false) };
            return self
                .commit_step(&MoveCommit {
                    instance: i.uuid,
                    expect_task: Some(IDLE),
                    expect_vm: Some(&[VmState::Shelved]),
                    task_state: Some(Some(TaskState::Unshelving)),
                    tasks: vec![(h, task_kind::UNSHELVE, json!({"request_id": who.request_id}))],
                    ..Default::default()
                })
                .await;
        }
        // An offload's give-back still queued would remove the new claim.
        let pending: Vec<OutboxEntry> =
            self.db.list_outbox().await?.into_iter().filter(|e| e.consumer_uuid == i.uuid).collect();
        for e in pending {
            self.run_outbox_entry(e.id, false).await?;
        }
        if self.db.list_outbox().await?.iter().any(|e| e.consumer_uuid == i.uuid) {
            return Err(ComputeError::unavailable("Placement is unavailable; try again later."));
        }
        let begun = self
            .commit_step(&MoveCommit {
                instance: i.uuid,
                expect_task: Some(IDLE),
                expect_vm: Some(&[VmState::ShelvedOffloaded]),
                task_state: Some(Some(TaskState::Unshelving)),
                ..Default::default()
            })
            .await?;
        if !begun {
            return Ok(false);
        }
        let back = |why: String| MoveCommit {
            instance: i.uuid,
            expect_task: Some(&[Some(TaskState::Unshelving)]),
            task_state: Some(None),
            fault: Some((500, why, None)),
            ..Default::default()
        };
        let chosen = match self.move_candidates(i, &i.flavor, &[], host, az.clone()).await {
            Ok(Ok(c)) => c,
            Ok(Err(NoValidHost(why))) => {
                self.commit_step(&back(why)).await?;
                return Ok(true);
            }
            Err(e) => {
                self.commit_step(&back(e.message.clone())).await?;
                return Err(e);
            }
        };
        let mut last = String::new();
        for w in chosen {
            let cur = self.placement.get_allocations(i.uuid).await?;
            let write = write_for(i, w.request.resources(), cur.consumer_generation, "INSTANCE");
            match self.placement.put_allocations(i.uuid, &write).await {
                Ok(()) => {
                    let done = self
                        .commit_step(&MoveCommit {
                            instance: i.uuid,
                            expect_task: Some(&[Some(TaskState::Unshelving)]),
                            place: Some(Some(node_ref(&w.node))),
                            availability_zone: Some(w.service.availability_zone.clone()),
                            tasks: vec![(
                                w.node.host.clone(),
                                task_kind::UNSHELVE,
                                json!({"request_id": who.request_id}),
                            )],
                            ..Default::default()
                        })
                        .await?;
                    if !done {
                        self.remove_allocations_durably(i.uuid).await?;
                    }
                    return Ok(true);
                }
                Err(e) if e.is_conflict() => last = e.to_string(),
                Err(e) => {
                    self.commit_step(&back(e.to_string())).await?;
                    return Err(e.into());
                }
            }
        }
        self.commit_step(&back(no_valid_host(&format!("There are not enough hosts available ({last})")))).await?;
        Ok(true)
    }

    // ------------------------------------------------ rebuild

    /// `rebuild` on the same host with (maybe) a new image.
    pub(crate) async fn rebuild(&self, i: &Instance, image: &str, who: &Requester) -> Result<bool> {
        let Some(host) = i.host.clone() else { return Ok(false) };
        self.commit_step(&MoveCommit {
            instance: i.uuid,
            expect_task: Some(IDLE),
            expect_vm: Some(&[VmState::Active, VmState::Stopped, VmState::Error]),
            task_state: Some(Some(TaskState::Rebuilding)),
            image_ref: Some(image.to_string()),
            tasks: vec![(host, task_kind::REBUILD, json!({"request_id": who.request_id}))],
            ..Default::default()
        })
        .await
    }

    /// A compute service is no longer forced down: its agent cleans up
    /// after the evacuations away from it now (not at its next periodic
    /// run).
    pub(crate) async fn after_service_update(&self, s: &Service) -> Result<()> {
        if s.forced_down || s.binary != super::NOVA_COMPUTE {
            return Ok(());
        }
        for m in self.db.evacuations_from(&s.host).await? {
            if m.status == migration_status::DONE {
                self.commit_step(&MoveCommit {
                    instance: m.instance_uuid,
                    tasks: vec![(s.host.clone(), task_kind::EVACUATION_CLEANUP, json!({}))],
                    ..Default::default()
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Refuse a resize whose growth would exceed the project's cores or
    /// ram quota (Nova's upsize check: 403 with its message).
    pub(crate) async fn check_resize_quota(&self, i: &Instance, new: &Flavor) -> Result<()> {
        let grow =
            [("cores", (new.vcpus - i.flavor.vcpus).max(0)), ("ram", (new.memory_mb - i.flavor.memory_mb).max(0))];
        let limits = self.quota_limits(&i.project_id).await?;
        let limit_of = |r: &str| limits.get(r).copied().unwrap_or(-1);
        if grow.iter().all(|(r, n)| *n == 0 || limit_of(r) < 0) {
            return Ok(());
        }
        let used = self.count_usage(&i.project_id, true).await?;
        for (r, n) in grow {
            let (limit, u) = (limit_of(r), used.get(r).copied().unwrap_or(0));
            if n > 0 && limit >= 0 && u + n > limit {
                return Err(ComputeError::forbidden(format!(
                    "Quota exceeded for {r}: Requested {n}, but already used {u} of {limit} {r}"
                )));
            }
        }
        Ok(())
    }

    /// Does a zone of this name exist?
    pub(crate) async fn availability_zone_exists(&self, az: &str) -> Result<bool> {
        Ok(self.db.find_az_aggregate(az).await?.is_some())
    }

    /// The actions of an instance, newest first.
    pub(crate) async fn instance_actions(&self, instance: Uuid) -> Result<Vec<InstanceAction>> {
        self.db.list_actions(instance).await
    }

    /// One action of an instance with its events.
    pub(crate) async fn instance_action(
        &self,
        instance: Uuid,
        request_id: &str,
    ) -> Result<Option<(InstanceAction, Vec<ActionEvent>)>> {
        self.db.get_action(instance, request_id).await
    }

    /// Record that a request started `action` on instances (failures are
    /// logged: the action itself already happened).
    pub(crate) async fn record_actions(&self, instances: &[Uuid], action: &str, who: &Requester) {
        for u in instances {
            if let Err(e) = self.db.record_action(*u, action, &who.request_id, &who.user_id, &who.project_id).await {
                tracing::warn!(instance = %u, error = %e, "cannot record the instance action");
            }
        }
    }

    /// Migration records (`os-migrations`), oldest first.
    pub(crate) async fn migrations(&self, instance: Option<Uuid>) -> Result<Vec<MigrationRecord>> {
        self.db.list_migrations(instance).await
    }
}
