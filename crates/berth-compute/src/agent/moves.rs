//! The agent's side of moves: the hypervisor work of each step and the
//! commit of its outcome (see `service/moves.rs`). Each task is
//! idempotent: it acts only while the migration (or the instance's task
//! state) says the step is still to do, so a task re-offered after a crash
//! finishes the step or finds it done.

use serde_json::Value;

use super::*;
use crate::service::moves::resting_vm_state;

/// Task kinds this module runs.
pub(super) fn is_move_task(kind: &str) -> bool {
    use task_kind::*;
    [
        FINISH_RESIZE,
        REVERT_RESIZE,
        LIVE_MIGRATE,
        EVACUATE,
        EVACUATION_CLEANUP,
        DESTROY_GUEST,
        RESPAWN_GUEST,
        SHELVE,
        SHELVE_OFFLOAD,
        UNSHELVE,
        REBUILD,
    ]
    .contains(&kind)
}

fn payload_str<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

impl ComputeAgent {
    fn me(&self) -> Option<NodeRef> {
        let n = self.node.lock().ok().and_then(|n| n.clone())?;
        Some(NodeRef { host: n.host.clone(), node: n.hypervisor_hostname.clone(), node_uuid: n.uuid })
    }

    fn running_power(i: &Instance) -> i64 {
        if i.vm_state == VmState::Stopped || i.power_state == power_state::SHUTDOWN {
            power_state::SHUTDOWN
        } else {
            power_state::RUNNING
        }
    }

    /// Record an instance-action event for the request that queued `task`.
    async fn event(&self, task: &Task, uuid: Uuid, event: &str, error: Option<&str>) {
        let Some(rid) = payload_str(&task.payload, "request_id") else { return };
        let r = self.svc.db.record_event(uuid, rid, event, Some(&self.config.host), error).await;
        if let Err(e) = r {
            tracing::warn!(instance = %uuid, error = %e, "cannot record the instance action event");
        }
    }

    async fn task_migration(&self, task: &Task) -> Result<Option<MigrationRecord>> {
        match payload_str(&task.payload, "migration").and_then(|s| Uuid::parse_str(s).ok()) {
            Some(m) => self.svc.db.get_migration(m).await,
            None => Ok(None),
        }
    }

    pub(super) async fn run_move_task(&self, task: &Task, uuid: Uuid) -> Result<()> {
        let Some(i) = self.svc.db.get_instance(uuid).await?.filter(|i| !i.deleted) else {
            self.driver.destroy(uuid);
            return Ok(());
        };
        let host = self.config.host.clone();
        let me = self.me().ok_or_else(|| ComputeError::unavailable("compute node not registered yet"))?;
        let svc = &self.svc;
        let fault = |why: &str| Some((500, why.to_string(), Some(host.clone())));
        match task.kind.as_str() {
            task_kind::FINISH_RESIZE => {
                let Some(m) = self.task_migration(task).await? else { return Ok(()) };
                if m.status != migration_status::MIGRATING || i.task_state != Some(TaskState::ResizeMigrating) {
                    return Ok(());
                }
                if let Err(why) = self.driver.check("finish_resize") {
                    svc.swap_back(&i, m.uuid).await?;
                    svc.commit_step(&MoveCommit {
                        instance: uuid,
                        expect_task: Some(&[Some(TaskState::ResizeMigrating)]),
                        vm_state: Some(VmState::Error),
                        task_state: Some(None),
                        migration: Some(MigrationUpdate {
                            uuid: m.uuid,
                            expected: &[migration_status::MIGRATING],
                            status: migration_status::ERROR,
                            dest: None,
                        }),
                        fault: fault(&format!("Resize error: {why}")),
                        ..Default::default()
                    })
                    .await?;
                    self.event(task, uuid, "compute_finish_resize", Some(&why)).await;
                    return Ok(());
                }
                self.driver.set_power(uuid, Self::running_power(&i));
                let done = svc
                    .commit_step(&MoveCommit {
                        instance: uuid,
                        expect_task: Some(&[Some(TaskState::ResizeMigrating)]),
                        vm_state: Some(VmState::Resized),
                        task_state: Some(None),
                        place: Some(Some(me)),
                        flavor: m.new_flavor.clone(),
                        availability_zone: payload_str(&task.payload, "az").map(str::to_string),
                        migration: Some(MigrationUpdate {
                            uuid: m.uuid,
                            expected: &[migration_status::MIGRATING],
                            status: migration_status::FINISHED,
                            dest: None,
                        }),
                        ..Default::default()
                    })
                    .await?;
                if !done && m.source_compute.as_deref() != Some(host.as_str()) {
                    self.driver.destroy(uuid);
                }
                self.event(task, uuid, "compute_finish_resize", None).await;
            }
            task_kind::REVERT_RESIZE => {
                let Some(m) = self.task_migration(task).await? else { return Ok(()) };
                if m.status != "reverting" {
                    return Ok(());
                }
                let same_host = m.source_compute.as_deref() == Some(host.as_str());
                if !same_host {
                    self.driver.destroy(uuid);
                }
                svc.swap_back(&i, m.uuid).await?;
                let source = match (&m.source_compute, &m.source_node, m.source_node_uuid) {
                    (Some(h), n, Some(u)) => {
                        NodeRef { host: h.clone(), node: n.clone().unwrap_or_default(), node_uuid: u }
                    }
                    _ => return Err(ComputeError::internal("migration without a source")),
                };
                let power = Self::running_power(&i);
                let mut tasks = Vec::new();
                if same_host {
                    self.driver.set_power(uuid, power);
                } else {
                    tasks.push((source.host.clone(), task_kind::RESPAWN_GUEST, json!({})));
                }
                svc.commit_step(&MoveCommit {
                    instance: uuid,
                    expect_task: Some(&[Some(TaskState::ResizeReverting)]),
                    vm_state: Some(resting_vm_state(power)),
                    task_state: Some(None),
                    place: Some(Some(source)),
                    flavor: m.old_flavor.clone(),
                    migration: Some(MigrationUpdate {
                        uuid: m.uuid,
                        expected: &["reverting"],
                        status: migration_status::REVERTED,
                        dest: None,
                    }),
                    tasks,
                    ..Default::default()
                })
                .await?;
                self.event(task, uuid, "compute_revert_resize", None).await;
            }
            task_kind::LIVE_MIGRATE => {
                let Some(m) = self.task_migration(task).await? else { return Ok(()) };
                let open = [migration_status::PREPARING, migration_status::RUNNING];
                if !open.contains(&m.status.as_str()) {
                    return Ok(());
                }
                const OPEN: &[&str] = &[migration_status::PREPARING, migration_status::RUNNING];
                if let Err(why) = self.driver.check("live_migration") {
                    svc.swap_back(&i, m.uuid).await?;
                    svc.commit_step(&MoveCommit {
                        instance: uuid,
                        expect_task: Some(&[Some(TaskState::Migrating)]),
                        task_state: Some(None),
                        migration: Some(MigrationUpdate {
                            uuid: m.uuid,
                            expected: OPEN,
                            status: migration_status::ERROR,
                            dest: None,
                        }),
                        ..Default::default()
                    })
                    .await?;
                    self.event(task, uuid, "compute_live_migration", Some(&why)).await;
                    return Ok(());
                }
                let force = task.payload.get("force").and_then(Value::as_bool).unwrap_or(false);
                if self.driver.holds_live_migrations() && !force {
                    svc.db
                        .set_migration_status(m.uuid, &[migration_status::PREPARING], migration_status::RUNNING)
                        .await?;
                    return Ok(());
                }
                self.driver.set_power(uuid, Self::running_power(&i));
                let done = svc
                    .commit_step(&MoveCommit {
                        instance: uuid,
                        expect_task: Some(&[Some(TaskState::Migrating)]),
                        task_state: Some(None),
                        place: Some(Some(me)),
                        availability_zone: payload_str(&task.payload, "az").map(str::to_string),
                        migration: Some(MigrationUpdate {
                            uuid: m.uuid,
                            expected: OPEN,
                            status: migration_status::COMPLETED,
                            dest: None,
                        }),
                        tasks: m
                            .source_compute
                            .clone()
                            .map(|s| vec![(s, task_kind::DESTROY_GUEST, json!({}))])
                            .unwrap_or_default(),
                        give_back: vec![m.uuid],
                        ..Default::default()
                    })
                    .await?;
                if !done {
                    // Aborted (or deleted) meanwhile.
                    self.driver.destroy(uuid);
                }
                self.event(task, uuid, "compute_live_migration", None).await;
            }
            task_kind::EVACUATE => {
                let Some(m) = self.task_migration(task).await? else { return Ok(()) };
                if m.status != migration_status::PRE_MIGRATING {
                    return Ok(());
                }
                self.driver.gate("rebuild").await;
                // An earlier attempt that failed here may have given this
                // host's part of the allocation back and died before
                // recording the failure: finish that rollback instead of
                // rebuilding on a host the instance no longer holds.
                let held = svc.placement.get_allocations(uuid).await?;
                let outcome = if held.allocations.contains_key(&me.node_uuid) {
                    self.driver.check("rebuild")
                } else {
                    Err("the destination's allocation was already given back".to_string())
                };
                if let Err(why) = outcome {
                    svc.drop_provider(&i, me.node_uuid).await?;
                    // The failed guest is cleaned up on this host.
                    self.driver.gate("cleanup").await;
                    self.driver.destroy(uuid);
                    svc.commit_step(&MoveCommit {
                        instance: uuid,
                        expect_task: Some(&[Some(TaskState::Rebuilding)]),
                        vm_state: Some(VmState::Error),
                        task_state: Some(None),
                        migration: Some(MigrationUpdate {
                            uuid: m.uuid,
                            expected: &[migration_status::PRE_MIGRATING],
                            status: migration_status::FAILED,
                            dest: None,
                        }),
                        fault: fault(&format!("Evacuation failed: {why}")),
                        ..Default::default()
                    })
                    .await?;
                    self.event(task, uuid, "compute_rebuild_instance", Some(&why)).await;
                    return Ok(());
                }
                let stopped = task.payload.get("stopped").and_then(Value::as_bool).unwrap_or(false);
                let power = if stopped { power_state::SHUTDOWN } else { power_state::RUNNING };
                self.driver.set_power(uuid, power);
                let done = svc
                    .commit_step(&MoveCommit {
                        instance: uuid,
                        expect_task: Some(&[Some(TaskState::Rebuilding)]),
                        vm_state: Some(resting_vm_state(power)),
                        power_state: Some(power),
                        task_state: Some(None),
                        place: Some(Some(me)),
                        availability_zone: payload_str(&task.payload, "az").map(str::to_string),
                        migration: Some(MigrationUpdate {
                            uuid: m.uuid,
                            expected: &[migration_status::PRE_MIGRATING],
                            status: migration_status::DONE,
                            dest: None,
                        }),
                        ..Default::default()
                    })
                    .await?;
                if !done {
                    self.driver.destroy(uuid);
                }
                self.event(task, uuid, "compute_rebuild_instance", None).await;
            }
            task_kind::EVACUATION_CLEANUP => self.cleanup_evacuations().await?,
            task_kind::DESTROY_GUEST if i.host.as_deref() != Some(host.as_str()) => {
                self.driver.destroy(uuid);
            }
            task_kind::RESPAWN_GUEST if i.host.as_deref() == Some(host.as_str()) && i.task_state.is_none() => {
                self.driver.set_power(uuid, Self::running_power(&i));
            }
            task_kind::SHELVE => {
                if i.task_state != Some(TaskState::Shelving) {
                    return Ok(());
                }
                self.driver.set_power(uuid, power_state::SHUTDOWN);
                if svc.config.shelved_offload_time == 0 {
                    self.driver.destroy(uuid);
                    svc.offload_commit(&i, &[Some(TaskState::Shelving)]).await?;
                } else {
                    svc.commit_step(&MoveCommit {
                        instance: uuid,
                        expect_task: Some(&[Some(TaskState::Shelving)]),
                        vm_state: Some(VmState::Shelved),
                        power_state: Some(power_state::SHUTDOWN),
                        task_state: Some(None),
                        ..Default::default()
                    })
                    .await?;
                }
                self.event(task, uuid, "compute_shelve_instance", None).await;
            }
            task_kind::SHELVE_OFFLOAD => {
                if i.task_state != Some(TaskState::ShelvingOffloading) {
                    return Ok(());
                }
                self.driver.destroy(uuid);
                svc.offload_commit(&i, &[Some(TaskState::ShelvingOffloading)]).await?;
                self.event(task, uuid, "compute_shelve_offload_instance", None).await;
            }
            task_kind::UNSHELVE => {
                if i.task_state != Some(TaskState::Unshelving) {
                    return Ok(());
                }
                if i.vm_state == VmState::ShelvedOffloaded {
                    if let Err(why) = self.driver.check("unshelve") {
                        self.driver.destroy(uuid);
                        svc.commit_step(&MoveCommit {
                            instance: uuid,
                            expect_task: Some(&[Some(TaskState::Unshelving)]),
                            task_state: Some(None),
                            place: Some(None),
                            give_back: vec![uuid],
                            fault: fault(&format!("Unshelve failed: {why}")),
                            ..Default::default()
                        })
                        .await?;
                        self.event(task, uuid, "compute_unshelve_instance", Some(&why)).await;
                        return Ok(());
                    }
                }
                self.driver.set_power(uuid, power_state::RUNNING);
                svc.commit_step(&MoveCommit {
                    instance: uuid,
                    expect_task: Some(&[Some(TaskState::Unshelving)]),
                    vm_state: Some(VmState::Active),
                    power_state: Some(power_state::RUNNING),
                    task_state: Some(None),
                    ..Default::default()
                })
                .await?;
                self.event(task, uuid, "compute_unshelve_instance", None).await;
            }
            task_kind::REBUILD => {
                if i.task_state != Some(TaskState::Rebuilding) {
                    return Ok(());
                }
                if let Err(why) = self.driver.check("rebuild") {
                    svc.commit_step(&MoveCommit {
                        instance: uuid,
                        expect_task: Some(&[Some(TaskState::Rebuilding)]),
                        vm_state: Some(VmState::Error),
                        task_state: Some(None),
                        fault: fault(&format!("Rebuild failed: {why}")),
                        ..Default::default()
                    })
                    .await?;
                    self.event(task, uuid, "compute_rebuild_instance", Some(&why)).await;
                    return Ok(());
                }
                let power = if i.vm_state == VmState::Stopped { power_state::SHUTDOWN } else { power_state::RUNNING };
                self.driver.set_power(uuid, power);
                svc.commit_step(&MoveCommit {
                    instance: uuid,
                    expect_task: Some(&[Some(TaskState::Rebuilding)]),
                    vm_state: Some(resting_vm_state(power)),
                    power_state: Some(power),
                    task_state: Some(None),
                    ..Default::default()
                })
                .await?;
                self.event(task, uuid, "compute_rebuild_instance", None).await;
            }
            _ => {}
        }
        Ok(())
    }

    /// Periodic move work of this host (and at start): finish the
    /// evacuations away from it once it is up again (destroy the guest,
    /// drop this host's part of the allocation), confirm resizes waiting
    /// longer than `resize_confirm_window`, offload servers shelved longer
    /// than `shelved_offload_time`.
    pub(super) async fn move_housekeeping(&self) -> Result<()> {
        self.cleanup_evacuations().await?;
        let host = self.config.host.clone();
        let svc = &self.svc;
        let db = &svc.db;
        let now = svc.periodic_now_us();
        let window = svc.config.resize_confirm_window;
        if !window.is_zero() {
            for m in db.list_migrations(None).await? {
                let due = m.updated_at.unwrap_or(m.created_at) + window.as_micros() as i64 <= now;
                if m.status == migration_status::FINISHED && m.dest_compute.as_deref() == Some(host.as_str()) && due {
                    if let Some(i) = db.get_instance(m.instance_uuid).await?.filter(|i| !i.deleted) {
                        match svc.confirm_resize(&i).await {
                            Ok(_) => tracing::info!(instance = %i.uuid, "resize confirmed automatically"),
                            Err(e) => tracing::warn!(instance = %i.uuid, error = %e, "automatic confirm failed"),
                        }
                    }
                }
            }
        }
        let offload_after = svc.config.shelved_offload_time;
        if offload_after > 0 {
            let mine = db.list_instances(&InstanceQuery { host: Some(host.clone()), ..Default::default() }).await?;
            for i in mine {
                let due = i.updated_at.unwrap_or(i.created_at) + offload_after.saturating_mul(1_000_000) <= now;
                if i.vm_state == VmState::Shelved && i.task_state.is_none() && due {
                    self.driver.destroy(i.uuid);
                    svc.offload_commit(&i, &[None]).await?;
                }
            }
        }
        Ok(())
    }

    /// Once this host is up, finish the evacuations away from it: destroy
    /// the guest, drop this host's part of the instance's allocation, and
    /// complete the migration.
    pub(super) async fn cleanup_evacuations(&self) -> Result<()> {
        let host = self.config.host.clone();
        let svc = &self.svc;
        let db = &svc.db;
        if svc.host_is_up(&host).await? {
            for m in db.evacuations_from(&host).await? {
                let i = db.get_instance(m.instance_uuid).await?;
                if m.status == migration_status::ACCEPTED && i.as_ref().is_some_and(|i| !i.deleted) {
                    continue;
                }
                if i.as_ref().is_none_or(|i| i.host.as_deref() != Some(host.as_str())) {
                    self.driver.destroy(m.instance_uuid);
                }
                if let (Some(i), Some(rp)) = (i.as_ref().filter(|i| !i.deleted), m.source_node_uuid) {
                    if i.node_uuid != Some(rp) {
                        svc.drop_provider(i, rp).await?;
                    }
                }
                db.set_migration_status(m.uuid, &[m.status.as_str()], migration_status::COMPLETED).await?;
                tracing::info!(instance = %m.instance_uuid, host, "evacuated instance cleaned up on its source");
            }
        }
        Ok(())
    }
}

use serde_json::json;
