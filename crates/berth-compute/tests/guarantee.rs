//! Nova's `TestLocalDeleteAllocations`, and the variants berth adds: a
//! server deleted while its compute service is down never leaks its
//! Placement allocations.

mod common;

use axum::http::{Method, StatusCode};
use berth_compute::FakeDriver;
use common::*;
use serde_json::json;
use uuid::Uuid;

/// Create a server on host1 and check the provider's usage.
async fn setup(env: &Env) -> (std::sync::Arc<berth_compute::ComputeAgent>, Uuid, String) {
    let agent = env.agent("host1", "fake:8,8192,100", &[]).await;
    let rp = agent.node_uuid().unwrap();
    assert_eq!(env.usages(rp).await, usage(0, 0, 0), "no usage before the server exists");
    let flavor = env.create_flavor("m1.small", 2, 1024, 10).await;
    let id = env.create_server("victim", &flavor).await;
    assert_eq!(env.status(&id).await, "BUILD");
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "ACTIVE");
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10));
    (agent, rp, id)
}

async fn take_host_down(env: &Env) {
    let s = env.update_service("host1", json!({"status": "disabled", "disabled_reason": "test"})).await;
    assert_eq!(s["status"], "disabled");
    let s = env.update_service("host1", json!({"forced_down": true})).await;
    assert_eq!(s["state"], "down");
    assert_eq!(s["forced_down"], true);
}

async fn bring_host_up(env: &Env) {
    let s = env.update_service("host1", json!({"status": "enabled"})).await;
    assert_eq!(s["status"], "enabled");
    let s = env.update_service("host1", json!({"forced_down": false})).await;
    assert_eq!(s["forced_down"], false);
}

/// Allocations are gone right after the local delete, and stay gone when
/// the compute service comes back.
async fn local_delete_removes_allocations(backend: Backend) {
    let env = Env::new(backend).await;
    let (agent, rp, id) = setup(&env).await;
    take_host_down(&env).await;
    let (s, v) = env.req(Method::DELETE, &format!("/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    // Local delete: gone at once, no agent involved.
    assert_eq!(env.status(&id).await, "GONE");
    assert_eq!(env.usages(rp).await, usage(0, 0, 0));
    assert!(env.svc.pending_outbox().await.unwrap().is_empty());
    assert_eq!(env.svc.open_tasks("host1").await.unwrap(), 0);
    // The guest still runs on the "down" host until its agent comes back.
    let fake = agent.driver().clone();
    assert!(fake.guests().contains_key(&Uuid::parse_str(&id).unwrap()));
    drop(agent);
    bring_host_up(&env).await;
    let agent = env.agent_with("host1", "fake:8,8192,100", &[], fake.clone()).await;
    drain(&[&agent]).await;
    assert!(fake.guests().is_empty(), "the restarted agent destroyed the deleted guest");
    assert_eq!(env.usages(rp).await, usage(0, 0, 0));
    assert!(env.svc.audit(false).await.unwrap().is_clean());
}
both_backends!(local_delete_removes_allocations);

/// With the API-side removal prevented, the allocations are gone once the
/// compute agent restarts and reconciles.
async fn local_delete_cleaned_by_agent_restart(backend: Backend) {
    let env = Env::new(backend).await;
    let (agent, rp, id) = setup(&env).await;
    take_host_down(&env).await;
    env.api_placement.set_block_deletes(true);
    let (s, v) = env.req(Method::DELETE, &format!("/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(env.status(&id).await, "GONE");
    // The removal did not happen; it is queued durably, and the audit sees
    // the orphan.
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10));
    let pending = env.svc.pending_outbox().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].consumer_uuid.to_string(), id);
    let report = env.svc.audit(false).await.unwrap();
    assert_eq!(report.orphaned_allocations.len(), 1, "{report:?}");
    assert_eq!(report.orphaned_allocations[0].reason, "deleted_instance");
    // The agent restarts (its Placement works) and reconciles.
    let fake = agent.driver().clone();
    drop(agent);
    bring_host_up(&env).await;
    let agent = env.agent_with("host1", "fake:8,8192,100", &[], fake.clone()).await;
    assert_eq!(env.usages(rp).await, usage(0, 0, 0), "agent restart removed the orphaned allocations");
    assert!(fake.guests().is_empty());
    // The outbox entry finds nothing left to delete and completes.
    env.api_placement.set_block_deletes(false);
    // Not due before its backoff (1 s after the first failure).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = env.svc.drain_outbox().await.unwrap();
    assert_eq!((r.done, r.remaining), (1, 0));
    assert!(env.svc.audit(false).await.unwrap().is_clean());
    drop(agent);
}
both_backends!(local_delete_cleaned_by_agent_restart);

/// Placement is down during the local delete: the delete still succeeds,
/// the removal waits in the outbox and happens when Placement returns.
async fn local_delete_while_placement_down(backend: Backend) {
    let env = Env::new(backend).await;
    let (_agent, rp, id) = setup(&env).await;
    take_host_down(&env).await;
    env.api_placement.set_down(true);
    let (s, v) = env.req(Method::DELETE, &format!("/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(env.status(&id).await, "GONE");
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10));
    // Draining while Placement is still down keeps the entry.
    let r = env.svc.drain_outbox().await.unwrap();
    assert_eq!(r.remaining, 1);
    let pending = env.svc.pending_outbox().await.unwrap();
    assert!(pending[0].attempts >= 1 && pending[0].last_error.is_some(), "{pending:?}");
    // Placement returns; the background drainer empties the outbox.
    env.api_placement.set_down(false);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = env.svc.spawn_background(async move {
        let _ = rx.await;
    });
    let mut gone = false;
    for _ in 0..100 {
        if env.usages(rp).await.is_empty() && env.svc.pending_outbox().await.unwrap().is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = tx.send(());
    handle.await.unwrap();
    assert!(gone, "outbox drained once Placement came back");
    assert!(env.svc.audit(false).await.unwrap().is_clean());
}
both_backends!(local_delete_while_placement_down);

/// A delete through a live host goes through its agent.
async fn delete_through_agent(backend: Backend) {
    let env = Env::new(backend).await;
    let (agent, rp, id) = setup(&env).await;
    let (s, _) = env.req(Method::DELETE, &format!("/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = env.server(&id).await;
    assert_eq!(v["OS-EXT-STS:task_state"], "deleting");
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10));
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "GONE");
    assert_eq!(env.usages(rp).await, usage(0, 0, 0));
    assert!(agent.driver().guests().is_empty());
}
both_backends!(delete_through_agent);

/// The audit finds and heals orphaned, missing and misplaced allocations.
async fn audit_heals(backend: Backend) {
    let env = Env::new(backend).await;
    let a1 = env.agent("host1", "fake:8,8192,100", &[]).await;
    let a2 = env.agent("host2", "fake:8,8192,100", &[]).await;
    let (rp1, rp2) = (a1.node_uuid().unwrap(), a2.node_uuid().unwrap());
    let flavor = env.create_flavor("m1.small", 1, 512, 1).await;
    let id = env.create_server("s", &flavor).await;
    drain(&[&a1, &a2]).await;
    let (_, v) = env.server(&id).await;
    let host = v["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    let (mine, other) = if host == "host1" { (rp1, rp2) } else { (rp2, rp1) };
    let uuid = Uuid::parse_str(&id).unwrap();
    // 1. An allocation by a consumer compute knows nothing about.
    let stray = Uuid::new_v4();
    env.placement
        .put_allocations(
            stray,
            &berth_placement_client::AllocationWrite {
                allocations: [(other, [("VCPU".to_string(), 1)].into_iter().collect())].into_iter().collect(),
                project_id: "p".into(),
                user_id: "u".into(),
                consumer_generation: None,
                consumer_type: "INSTANCE".into(),
            },
        )
        .await
        .unwrap();
    // 2. The instance's allocations moved to the wrong provider.
    let cur = env.placement.get_allocations(uuid).await.unwrap();
    env.placement
        .put_allocations(
            uuid,
            &berth_placement_client::AllocationWrite {
                allocations: [(
                    other,
                    berth_compute::flavor_resources(&env.svc.instance(uuid).await.unwrap().unwrap().flavor),
                )]
                .into_iter()
                .collect(),
                project_id: "admin".into(),
                user_id: "admin".into(),
                consumer_generation: cur.consumer_generation,
                consumer_type: "INSTANCE".into(),
            },
        )
        .await
        .unwrap();
    let report = env.svc.audit(false).await.unwrap();
    assert_eq!(report.orphaned_allocations.len(), 1, "{report:?}");
    assert_eq!(report.orphaned_allocations[0].reason, "unknown_consumer");
    assert_eq!(report.allocations_on_wrong_provider.len(), 1, "{report:?}");
    assert_eq!(report.instances_without_allocations.len(), 1, "{report:?}");
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["orphaned_allocations"].is_array());
    let fixed = env.svc.audit(true).await.unwrap();
    assert!(fixed.fixed >= 2, "{fixed:?}");
    assert!(fixed.errors.is_empty(), "{fixed:?}");
    assert!(env.svc.audit(false).await.unwrap().is_clean());
    assert_eq!(env.usages(mine).await, usage(1, 512, 1));
    assert_eq!(env.usages(other).await, usage(0, 0, 0));
    // 3. Missing allocations are healed by the host's agent too.
    env.placement.delete_allocations(uuid).await.unwrap();
    let agent = if host == "host1" { &a1 } else { &a2 };
    let r = agent.reconcile().await.unwrap();
    assert_eq!(r.allocations_healed, 1);
    assert_eq!(env.usages(mine).await, usage(1, 512, 1));
}
both_backends!(audit_heals);

/// An agent that restarts with an empty hypervisor restores its guests.
async fn agent_restart_restores_guests(backend: Backend) {
    let env = Env::new(backend).await;
    let (agent, _rp, id) = setup(&env).await;
    drop(agent);
    let agent = env.agent_with("host1", "fake:8,8192,100", &[], FakeDriver::new()).await;
    assert!(agent.driver().guests().contains_key(&Uuid::parse_str(&id).unwrap()));
}
both_backends!(agent_restart_restores_guests);

/// Pause the next reconciliation between its two reads; returns "it is
/// paused" and "go on" signals.
fn pause_reconcile(env: &Env) -> (tokio::sync::oneshot::Receiver<()>, tokio::sync::oneshot::Sender<()>) {
    let (at_tx, at_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    env.svc.set_reconcile_seam(Box::new(move || {
        Box::pin(async move {
            let _ = at_tx.send(());
            let _ = go_rx.await;
        })
    }));
    (at_rx, go_tx)
}

/// The reconciler race: a server created and claimed between a
/// reconciliation's two reads is a live instance, and neither the audit
/// (with fix, as the background reconciler runs it) nor the agent's
/// reconcile removes its fresh allocation.
async fn reconcile_race_keeps_fresh_claims(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("host1", "fake:8,8192,100", &[]).await;
    let rp = agent.node_uuid().unwrap();
    let flavor = env.create_flavor("m1.small", 2, 1024, 10).await;

    // The audit that heals.
    let (at, go) = pause_reconcile(&env);
    let svc = env.svc.clone();
    let audit = tokio::spawn(async move { svc.audit(true).await });
    at.await.expect("the audit reached the seam");
    let first = env.create_server("raced-audit", &flavor).await;
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10), "claimed while the audit was between its reads");
    go.send(()).unwrap();
    let report = audit.await.unwrap().unwrap();
    assert!(report.orphaned_allocations.is_empty(), "{report:?}");
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10), "the audit kept the fresh claim");

    // The agent's reconcile.
    let (at, go) = pause_reconcile(&env);
    let a = agent.clone();
    let reconcile = tokio::spawn(async move { a.reconcile().await });
    at.await.expect("the agent's reconcile reached the seam");
    let second = env.create_server("raced-agent", &flavor).await;
    assert_eq!(env.usages(rp).await, usage(4, 2048, 20));
    go.send(()).unwrap();
    let report = reconcile.await.unwrap().unwrap();
    assert_eq!(report.allocations_removed, 0, "{report:?}");
    assert_eq!(env.usages(rp).await, usage(4, 2048, 20), "the agent kept the fresh claim");

    drain(&[&agent]).await;
    assert_eq!(env.status(&first).await, "ACTIVE");
    assert_eq!(env.status(&second).await, "ACTIVE");
    assert_eq!(env.usages(rp).await, usage(4, 2048, 20));
    assert!(env.svc.audit(false).await.unwrap().is_clean());
}
both_backends!(reconcile_race_keeps_fresh_claims);

/// Poll `cond` until it holds; a generous bound only so a broken build
/// fails instead of hanging (never a timing assertion).
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..6000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

/// Heartbeats never wait behind task work: while the agent's run loop is
/// inside a task that does not finish (a spawn that takes an hour), its
/// service keeps reporting.
async fn heartbeats_while_tasks_run(backend: Backend) {
    let env = Env::new(backend).await;
    let mut cfg = berth_compute::AgentConfig::new("host1", "fake:8,8192,100".parse().unwrap());
    cfg.report_interval = std::time::Duration::from_millis(20);
    cfg.poll_interval = std::time::Duration::from_millis(10);
    cfg.spawn_time = std::time::Duration::from_secs(3600);
    let agent = std::sync::Arc::new(berth_compute::ComputeAgent::new(
        env.svc.with_placement(env.placement.clone()),
        cfg,
        FakeDriver::new(),
    ));
    agent.start().await.unwrap();
    let flavor = env.create_flavor("m1.small", 2, 1024, 10).await;
    let id = env.create_server("slow", &flavor).await;
    let uuid = Uuid::parse_str(&id).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(agent.clone().run(async move {
        let _ = stop_rx.await;
    }));
    let spawning = || async {
        env.svc.instance(uuid).await.unwrap().unwrap().task_state == Some(berth_compute::TaskState::Spawning)
    };
    eventually("the agent picked up the build", spawning).await;
    let before = env.svc.compute_service("host1").await.unwrap().unwrap();
    eventually("heartbeats while the build runs", || async {
        let now = env.svc.compute_service("host1").await.unwrap().unwrap();
        now.report_count >= before.report_count + 3 && now.last_seen_up > before.last_seen_up
    })
    .await;
    assert!(spawning().await, "the build was still running while the host reported");
    assert!(env.svc.host_is_up("host1").await.unwrap());
    stop_tx.send(()).unwrap();
    run.await.unwrap();
}
both_backends!(heartbeats_while_tasks_run);

/// Work owned by a process that died is recovered at start-up, not after
/// the task lease: a build whose worker died after its `spawning` commit
/// (task still leased for 120 s) is finished and its task re-offered at
/// once; a queued delete and a reboot left in their task states are
/// completed by the restarted agent's start.
async fn restart_recovers_dead_work(backend: Backend) {
    let env = Env::new(backend).await;
    let fake = FakeDriver::new();
    let mut cfg = berth_compute::AgentConfig::new("host1", "fake:8,8192,100".parse().unwrap());
    cfg.spawn_time = std::time::Duration::from_secs(3600);
    let old = std::sync::Arc::new(berth_compute::ComputeAgent::new(
        env.svc.with_placement(env.placement.clone()),
        cfg,
        fake.clone(),
    ));
    old.start().await.unwrap();
    let rp = old.node_uuid().unwrap();
    let flavor = env.create_flavor("m1.small", 2, 1024, 10).await;
    // Two servers that are ACTIVE (their builds run without the slow spawn).
    let quick = env.agent_with("host1", "fake:8,8192,100", &[], fake.clone()).await;
    let doomed = env.create_server("doomed", &flavor).await;
    let rebooted = env.create_server("rebooted", &flavor).await;
    drain(&[&quick]).await;
    drop(quick);
    assert_eq!(env.status(&doomed).await, "ACTIVE");
    assert_eq!(env.status(&rebooted).await, "ACTIVE");
    // A build the old agent takes and dies in, after `spawning`.
    let built = env.create_server("built", &flavor).await;
    let built_uuid = Uuid::parse_str(&built).unwrap();
    let o = old.clone();
    let work = tokio::spawn(async move { o.process_tasks().await });
    eventually("the old agent is spawning", || async {
        env.svc.instance(built_uuid).await.unwrap().unwrap().task_state == Some(berth_compute::TaskState::Spawning)
    })
    .await;
    work.abort();
    let _ = work.await;
    drop(old);
    // A delete and a reboot queued for the host, never run.
    let (s, v) = env.req(Method::DELETE, &format!("/servers/{doomed}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) =
        env.req(Method::POST, &format!("/servers/{rebooted}/action"), Some(json!({"reboot": {"type": "SOFT"}}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(env.status(&rebooted).await, "REBOOT");
    assert_eq!(env.svc.open_tasks("host1").await.unwrap(), 3);

    // The restart: start() alone resolves the instances.
    let new = env.agent_with("host1", "fake:8,8192,100", &[], fake.clone()).await;
    assert_eq!(env.status(&built).await, "ACTIVE", "the interrupted build was finished at start-up");
    assert!(fake.guests().contains_key(&built_uuid));
    assert_eq!(env.status(&doomed).await, "GONE", "the pending delete was finished at start-up");
    assert!(!fake.guests().contains_key(&Uuid::parse_str(&doomed).unwrap()));
    assert_eq!(env.status(&rebooted).await, "ACTIVE", "the pending reboot was completed at start-up");
    // The leased build task is runnable now, not in two minutes.
    assert_eq!(new.process_tasks().await.unwrap(), 3, "every task ran at once, the dead worker's lease included");
    assert_eq!(env.svc.open_tasks("host1").await.unwrap(), 0);
    assert_eq!(env.status(&built).await, "ACTIVE");
    assert_eq!(env.status(&rebooted).await, "ACTIVE");
    assert_eq!(env.usages(rp).await, usage(4, 2048, 20));
    assert!(env.svc.audit(false).await.unwrap().is_clean());
}
both_backends!(restart_recovers_dead_work);

/// A build task re-offered after its worker died mid-spawn (the same agent
/// instance, lease expired) carries the spawn on instead of dropping it.
async fn reoffered_build_resumes_spawn(backend: Backend) {
    let env = Env::new(backend).await;
    let fake = FakeDriver::new();
    let mut cfg = berth_compute::AgentConfig::new("host1", "fake:8,8192,100".parse().unwrap());
    cfg.spawn_time = std::time::Duration::from_secs(3600);
    cfg.task_lease = std::time::Duration::ZERO;
    let slow = std::sync::Arc::new(berth_compute::ComputeAgent::new(
        env.svc.with_placement(env.placement.clone()),
        cfg,
        fake.clone(),
    ));
    slow.start().await.unwrap();
    let flavor = env.create_flavor("m1.small", 2, 1024, 10).await;
    let id = env.create_server("resumed", &flavor).await;
    let uuid = Uuid::parse_str(&id).unwrap();
    let o = slow.clone();
    let work = tokio::spawn(async move { o.process_tasks().await });
    eventually("spawning", || async {
        env.svc.instance(uuid).await.unwrap().unwrap().task_state == Some(berth_compute::TaskState::Spawning)
    })
    .await;
    work.abort();
    let _ = work.await;
    // Another worker for the host (no start-up recovery) takes the
    // expired lease and must finish the build.
    let mut cfg = berth_compute::AgentConfig::new("host1", "fake:8,8192,100".parse().unwrap());
    cfg.task_lease = std::time::Duration::from_secs(120);
    let other = berth_compute::ComputeAgent::new(env.svc.with_placement(env.placement.clone()), cfg, fake.clone());
    assert_eq!(other.process_tasks().await.unwrap(), 1);
    assert_eq!(env.status(&id).await, "ACTIVE");
    assert!(fake.guests().contains_key(&uuid));
}
both_backends!(reoffered_build_resumes_spawn);

/// Create a server and run the scheduler in a task that stops after its
/// claim, before recording the host (the claim seam). Returns the
/// scheduler's task, the instance and the sender that lets it go on.
async fn build_stopped_after_claim(
    env: &Env,
    name: &str,
    flavor: &str,
) -> (tokio::task::JoinHandle<()>, Uuid, tokio::sync::oneshot::Sender<()>) {
    let body = json!({"server": {"name": name, "flavorRef": flavor, "imageRef": IMAGE, "networks": "none"}});
    create_stopped_after_claim(env, body).await
}

/// [`build_stopped_after_claim`] with the whole `POST /servers` body.
async fn create_stopped_after_claim(
    env: &Env,
    body: serde_json::Value,
) -> (tokio::task::JoinHandle<()>, Uuid, tokio::sync::oneshot::Sender<()>) {
    let (at_tx, at_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    env.svc.set_claim_seam(Box::new(move || {
        Box::pin(async move {
            let _ = at_tx.send(());
            let _ = go_rx.await;
        })
    }));
    let (s, v) = env.req(Method::POST, "/servers", Some(body)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["servers"][0]["id"].as_str().or(v["server"]["id"].as_str()).expect("server id").to_string();
    let svc = env.svc.clone();
    let task = tokio::spawn(async move {
        let _ = svc.schedule_pending(&format!("paused-{}", Uuid::new_v4())).await;
    });
    at_rx.await.expect("the scheduler claimed");
    (task, Uuid::parse_str(&id).unwrap(), go_tx)
}

/// A claim whose host is not recorded yet: while its scheduling request
/// is open it is a build in progress (the audit and the agents leave it
/// alone); a scheduler killed after its claim is replaced by one that
/// adopts the claim (no second claim); a build deleted while its
/// scheduler was paused gets its claim given back when the scheduler
/// goes on, and no build is queued.
async fn abandoned_claim_given_back(backend: Backend) {
    let cfg = berth_compute::ComputeConfig { scheduling_timeout: std::time::Duration::ZERO, ..Default::default() };
    let env = Env::with_config(backend, cfg).await;
    let agent = env.agent("host1", "fake:8,8192,100", &[]).await;
    let rp = agent.node_uuid().unwrap();
    let flavor = env.create_flavor("m1.small", 2, 1024, 10).await;

    // Paused scheduler: in progress, even with no grace at all.
    let (task, uuid, go) = build_stopped_after_claim(&env, "paused", &flavor).await;
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10));
    let report = env.svc.audit(true).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(agent.reconcile().await.unwrap().allocations_removed, 0);
    go.send(()).unwrap();
    task.await.unwrap();
    drain(&[&agent]).await;
    assert_eq!(env.status(&uuid.to_string()).await, "ACTIVE");
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10));

    // Killed scheduler: its request is still queued (not abandoned); the
    // next scheduler (leases of dead workers released, as a restart does)
    // adopts the claim.
    let (task, uuid, _go) = build_stopped_after_claim(&env, "killed", &flavor).await;
    task.abort();
    let _ = task.await;
    let id = uuid.to_string();
    assert_eq!(env.status(&id).await, "BUILD");
    assert_eq!(env.usages(rp).await, usage(4, 2048, 20));
    let report = env.svc.audit(true).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(env.svc.release_scheduler_leases("restarted").await.unwrap(), 1);
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "ACTIVE");
    assert_eq!(env.usages(rp).await, usage(4, 2048, 20), "the claim was adopted, not made twice");

    // Deleted while the scheduler is paused after its claim: the
    // scheduler loses the race to record the host and gives its claim
    // back; no build is queued.
    let (task, uuid, go) = build_stopped_after_claim(&env, "raced", &flavor).await;
    let (s, _) = env.req(Method::DELETE, &format!("/servers/{uuid}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    go.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(env.status(&uuid.to_string()).await, "GONE");
    assert_eq!(env.svc.open_tasks("host1").await.unwrap(), 0, "the losing scheduler queued no build");
    assert_eq!(env.usages(rp).await, usage(4, 2048, 20), "the losing scheduler gave its claim back");
    assert!(env.svc.audit(false).await.unwrap().is_clean());

    // A claim without a host and without an open request (left by a build
    // from before the queue, whose request is gone): the audit reports it
    // as abandoned and the fix sets the build to ERROR and gives it back.
    let (task, uuid, _go) = build_stopped_after_claim(&env, "orphan", &flavor).await;
    task.abort();
    let _ = task.await;
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&env.url).await.unwrap();
        sqlx::query("DELETE FROM compute_tasks WHERE kind = 'schedule'").execute(&mut c).await.unwrap();
    }
    let report = env.svc.audit(false).await.unwrap();
    assert_eq!(report.abandoned_claims.len(), 1, "{report:?}");
    assert_eq!(report.abandoned_claims[0].instance, uuid);
    assert_eq!(report.abandoned_claims[0].providers, vec![rp]);
    let report = env.svc.audit(true).await.unwrap();
    assert_eq!(report.fixed, 1, "{report:?}");
    let id = uuid.to_string();
    assert_eq!(env.status(&id).await, "ERROR");
    let (_, v) = env.server(&id).await;
    assert!(v["fault"]["message"].as_str().unwrap_or_default().contains("No valid host"), "{v}");
    assert_eq!(env.usages(rp).await, usage(4, 2048, 20), "the abandoned claim was given back");
    assert!(env.svc.audit(false).await.unwrap().is_clean());
}
both_backends!(abandoned_claim_given_back);

/// A spawn that fails aborts the build as Nova does when it cannot
/// reschedule: ERROR with a fault, no host, and its claim given back; the
/// next build on the host is unaffected.
async fn failed_spawn_gives_the_claim_back(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("host1", "fake:8,8192,100", &[]).await;
    let rp = agent.node_uuid().unwrap();
    let flavor = env.create_flavor("m1.small", 2, 1024, 10).await;
    agent.driver().fail("spawn", 1);
    let id = env.create_server("doomed", &flavor).await;
    drain(&[&agent]).await;
    assert_eq!(env.status(&id).await, "ERROR");
    let (s, v) = env.server(&id).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["OS-EXT-SRV-ATTR:host"], serde_json::Value::Null, "{v}");
    assert_eq!(v["OS-EXT-STS:task_state"], serde_json::Value::Null, "{v}");
    let fault = v["fault"]["message"].as_str().unwrap_or_default();
    assert!(fault.contains("aborted") && fault.contains("injected failure of spawn"), "{v}");
    assert_eq!(env.usages(rp).await, usage(0, 0, 0), "the claim is given back");
    assert!(env.svc.pending_outbox().await.unwrap().is_empty());
    assert!(!agent.driver().guests().contains_key(&Uuid::parse_str(&id).unwrap()));
    assert!(env.svc.audit(false).await.unwrap().is_clean());
    let ok = env.create_server("fine", &flavor).await;
    drain(&[&agent]).await;
    assert_eq!(env.status(&ok).await, "ACTIVE");
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10));
    // Deleting the ERROR server leaves the other's claim alone.
    let (s, v) = env.req(Method::DELETE, &format!("/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    drain(&[&agent]).await;
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10));
}
both_backends!(failed_spawn_gives_the_claim_back);

/// Nova's late group check: two schedulers working in parallel each
/// place a member of an anti-affinity group on the same host without
/// seeing the other (here: the first paused between its claim and
/// recording its host while the second schedules). On the host, one
/// member yields: ERROR with Nova's reason and its claim given back; the
/// other runs.
async fn late_anti_affinity_check(backend: Backend) {
    let env = Env::new(backend).await;
    let agent = env.agent("host1", "fake:8,8192,100", &[]).await;
    let rp = agent.node_uuid().unwrap();
    let flavor = env.create_flavor("m1.small", 2, 1024, 10).await;
    let (s, v) = env
        .req(
            Method::POST,
            "/os-server-groups",
            Some(json!({"server_group": {"name": "apart", "policy": "anti-affinity"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let group = v["server_group"]["id"].as_str().unwrap().to_string();
    let body = |name: &str| {
        json!({"server": {"name": name, "flavorRef": flavor, "imageRef": IMAGE, "networks": "none"},
            "os:scheduler_hints": {"group": group}})
    };
    // The first member's scheduler stops after its claim.
    let (first, a, go_tx) = create_stopped_after_claim(&env, body("a")).await;
    let a = a.to_string();
    // Another scheduler places the second member meanwhile: the first has
    // no host yet, so host1 looks free of the group.
    let (s, v) = env.req(Method::POST, "/servers", Some(body("b"))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let b = v["server"]["id"].as_str().unwrap().to_string();
    env.svc.schedule_pending("scheduler-two").await.unwrap();
    let _ = go_tx.send(());
    first.await.unwrap();
    assert_eq!(env.usages(rp).await, usage(4, 2048, 20), "both claimed on host1");
    drain(&[&agent]).await;
    let (keep, lose) = if a < b { (a, b) } else { (b, a) };
    assert_eq!(env.status(&keep).await, "ACTIVE");
    assert_eq!(env.status(&lose).await, "ERROR");
    let (_, v) = env.server(&lose).await;
    let fault = v["fault"]["message"].as_str().unwrap_or_default();
    assert!(fault.contains("Anti-affinity instance group policy was violated."), "{v}");
    assert_eq!(v["OS-EXT-SRV-ATTR:host"], serde_json::Value::Null, "{v}");
    assert_eq!(env.usages(rp).await, usage(2, 1024, 10), "the loser's claim is given back");
    assert!(env.svc.audit(false).await.unwrap().is_clean());
}
both_backends!(late_anti_affinity_check);
