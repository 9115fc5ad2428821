//! Work reaches the workers of another process without their polling:
//! on PostgreSQL a queued task wakes them through `NOTIFY` (sent at the
//! enqueueing commit), and on either engine the process's dispatcher —
//! one query for all its queues — wakes a worker whose queue has work.

mod common;

use std::sync::Arc;
use std::time::Duration;

use berth_compute::{ComputeConfig, ComputeService};
use berth_policy::EnforcerConfig;
use common::*;

/// A second compute service on the same database: another process, with
/// wake-ups of its own.
async fn other_process(env: &Env) -> Arc<ComputeService> {
    ComputeService::open(
        &env.url,
        env.placement.clone(),
        env.images.clone(),
        ComputeService::default_policy(EnforcerConfig::default()),
        ComputeConfig::default(),
    )
    .await
    .expect("second compute service")
}

/// The build queued for host1 by this process wakes host1's worker in the
/// other one.
async fn build_wakes(env: &Env, woken: &tokio::sync::Notify) {
    let flavor = env.create_flavor("m1.small", 2, 1024, 10).await;
    env.create_server("w", &flavor).await;
    assert_eq!(env.svc.open_tasks("host1").await.unwrap(), 1, "the build is queued for host1");
    tokio::time::timeout(Duration::from_secs(20), woken.notified()).await.expect("the other process was woken");
}

async fn notify_wakes_other_processes(backend: Backend) {
    let env = Env::new(backend).await;
    let _agent = env.agent("host1", "fake:8,8192,100", &[]).await;
    let other = other_process(&env).await;
    let woken = other.wakeups().waiter("host1");
    match backend {
        Backend::Postgres => {
            let listener = other.spawn_wake_listener().expect("a listener on PostgreSQL");
            // LISTEN is issued as the listener connects.
            tokio::time::sleep(Duration::from_millis(500)).await;
            build_wakes(&env, &woken).await;
            listener.abort();
        }
        Backend::Sqlite => {
            assert!(other.spawn_wake_listener().is_none(), "no NOTIFY on SQLite");
            // The dispatcher's slow poll carries the wake-up instead.
            let dispatcher = tokio::spawn(other.clone().run_dispatcher(Duration::from_millis(50)));
            build_wakes(&env, &woken).await;
            dispatcher.abort();
        }
    }
}
both_backends!(notify_wakes_other_processes);

/// The dispatcher wakes only queues with runnable work: nothing queued,
/// no wake-up.
async fn dispatcher_wakes_only_queues_with_work(backend: Backend) {
    let env = Env::new(backend).await;
    let _agent = env.agent("host1", "fake:8,8192,100", &[]).await;
    let other = other_process(&env).await;
    let woken = other.wakeups().waiter("host1");
    let dispatcher = tokio::spawn(other.clone().run_dispatcher(Duration::from_millis(20)));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), woken.notified()).await.is_err(),
        "woken with an empty queue"
    );
    build_wakes(&env, &woken).await;
    dispatcher.abort();
}
both_backends!(dispatcher_wakes_only_queues_with_work);
