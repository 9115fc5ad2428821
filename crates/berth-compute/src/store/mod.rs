//! All SQL of the compute service, one module per aggregate. Functions
//! return [`crate::error::ComputeError`] kinds (not found, conflict,
//! unavailable, internal), never HTTP statuses.

mod actions;
mod aggregates;
mod azs;
mod creates;
mod extras;
mod flavors;
mod group;
mod instances;
mod keypairs;
mod migrations;
mod nodes;
mod outbox;
mod quota_classes;
mod quotas;
mod server_groups;
mod services;
mod tasks;

pub(crate) use aggregates::AggregateView;
pub(crate) use group::Groups;
pub(crate) use instances::set_state_tx;
pub(crate) use keypairs::NewKeyPair;
pub(crate) use outbox::insert_outbox_tx;
pub(crate) use tasks::{delete_tasks_tx, enqueue_tx};

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{
    get_bool, get_f64, get_i64, get_opt_i64, get_opt_str, get_opt_uuid, get_str, get_uuid, ms_to_us, now_us, Db,
    Engine, Tx, WriteTx,
};
use crate::error::{ComputeError, ErrorKind, Result};
use crate::lifecycle::{QueueState, Transition, FINISHED_MIGRATION_STATUSES};
use crate::model::*;
use crate::wake::SCHEDULER_QUEUE;

/// A TEXT column holding JSON (strict: malformed JSON is an error).
fn get_json<T: serde::de::DeserializeOwned>(r: &AnyRow, col: &str) -> Result<T> {
    let s = get_str(r, col)?;
    serde_json::from_str(&s).map_err(|e| ComputeError::internal(format!("column {col}: stored JSON is malformed: {e}")))
}

fn b(v: bool) -> i64 {
    v as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDb {
        db: Db,
        dir: std::path::PathBuf,
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn sqlite() -> TempDb {
        let dir = std::env::temp_dir().join(format!("berth-compute-store-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::connect(&format!("sqlite://{}/c.db", dir.display()), 2).await.unwrap();
        db.migrate().await.unwrap();
        TempDb { db, dir }
    }

    /// Agents claiming at the same time share one transaction (group
    /// commit) and two statements: each still gets only its own host's
    /// runnable tasks, oldest first, at most its limit; a host named twice
    /// in one batch is served once; leased tasks are not offered again
    /// until their lease runs out.
    #[tokio::test]
    async fn agents_claiming_together_get_their_own_hosts_tasks() {
        let t = sqlite().await;
        let mut w = t.db.write().await.unwrap();
        for (host, n) in [("h1", 5), ("h2", 2), ("h4", 3), ("h5", 3)] {
            for _ in 0..n {
                tasks::enqueue_tx(&mut w.tx, host, "reboot", None, &Value::Null).await.unwrap();
            }
        }
        w.commit().await.unwrap();
        let (h1, h2, h3, again, h5) = tokio::join!(
            t.db.claim_host_tasks("h1", "w1", 60_000, 3),
            t.db.claim_host_tasks("h2", "w2", 60_000, 3),
            t.db.claim_host_tasks("h3", "w3", 60_000, 3),
            t.db.claim_host_tasks("h1", "w1b", 60_000, 3),
            t.db.claim_host_tasks("h5", "w5", 60_000, 1),
        );
        let ids = |r: Result<(Vec<Task>, Vec<Uuid>)>, host: &str| {
            let (tasks, spawning) = r.unwrap();
            assert!(spawning.is_empty());
            assert!(tasks.iter().all(|t| t.host == host && t.attempts == 1), "{tasks:?}");
            tasks.iter().map(|t| t.id).collect::<Vec<i64>>()
        };
        let h1 = ids(h1, "h1");
        assert_eq!(h1.len(), 3, "the limit");
        assert!(h1.windows(2).all(|w| w[0] < w[1]), "oldest first: {h1:?}");
        assert_eq!(ids(h2, "h2").len(), 2);
        assert!(ids(h3, "h3").is_empty());
        assert!(ids(again, "h1").is_empty(), "a host named twice in one batch is served once");
        // A smaller limit in the same batch: nothing beyond it is leased.
        let h5 = ids(h5, "h5");
        assert_eq!(h5.len(), 1);
        let (leased,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM compute_tasks WHERE host = 'h5' AND state = 'running'",
        )
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
        assert_eq!(leased, 1);
        assert_eq!(ids(t.db.claim_host_tasks("h5", "w5", 60_000, 5).await, "h5").len(), 2);
        let owners: Vec<(String, i64)> = sqlx::query_as(
            "SELECT claimed_by, id FROM compute_tasks WHERE host = 'h1' AND state = 'running' ORDER BY id",
        )
        .fetch_all(&t.db.pool)
        .await
        .unwrap();
        assert_eq!(owners.iter().map(|(_, id)| *id).collect::<Vec<_>>(), h1);
        assert!(owners.iter().all(|(w, _)| w == "w1"));

        // The rest of h1's queue, not the leased ones; h4's tasks leased
        // for no time at all are offered again.
        let rest = ids(t.db.claim_host_tasks("h1", "w1", 60_000, 3).await, "h1");
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|id| !h1.contains(id)));
        let first = ids(t.db.claim_host_tasks("h4", "w4", -1, 10).await, "h4");
        assert_eq!(first.len(), 3);
        let (second, _) = t.db.claim_host_tasks("h4", "w4", 60_000, 10).await.unwrap();
        assert_eq!(second.iter().map(|t| t.id).collect::<Vec<_>>(), first);
        assert!(second.iter().all(|t| t.attempts == 2));
    }

    #[tokio::test]
    async fn a_column_that_does_not_decode_is_an_error_not_a_default() {
        let t = sqlite().await;
        let s = t.db.register_service("h1", "nova-compute", "nova").await.unwrap();
        assert!(s.created_at > 1_000_000_000_000_000, "created_at in microseconds: {}", s.created_at);
        assert_eq!(t.db.list_services().await.unwrap().len(), 1);
        for (sql, what) in [
            ("UPDATE compute_services SET uuid = 'not-a-uuid'", "a malformed UUID"),
            ("UPDATE compute_services SET disabled = 7", "a flag that is not 0 or 1"),
            ("UPDATE compute_services SET report_count = 'many'", "text in an integer column"),
        ] {
            let s2 = t.db.register_service("h2", "nova-compute", "nova").await.unwrap();
            sqlx::query(&format!("{sql} WHERE id = $1")).bind(s2.id).execute(&t.db.pool).await.unwrap();
            let e = t.db.list_services().await.expect_err(what);
            assert_eq!(e.kind, ErrorKind::Internal, "{what}: {e}");
            sqlx::query("DELETE FROM compute_services WHERE id = $1").bind(s2.id).execute(&t.db.pool).await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_micros_migration_converts_milliseconds() {
        let sqlite_sql = include_str!("../../migrations/sqlite/20261202300001_compute_micros.sql");
        let pg_sql = include_str!("../../migrations/postgres/20261202300001_compute_micros.sql");
        assert_eq!(sqlite_sql, pg_sql, "the paired migrations differ");
        let t = sqlite().await;
        // A row as the millisecond schema wrote it.
        sqlx::query(
            "INSERT INTO compute_services (uuid, host, service_binary, availability_zone, last_seen_up, created_at, updated_at) \
             VALUES ($1, 'old', 'nova-compute', 'nova', 1700000000123, 1700000000000, NULL)",
        )
        .bind(Uuid::new_v4().to_string())
        .execute(&t.db.pool)
        .await
        .unwrap();
        let code: Vec<&str> = sqlite_sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
        for stmt in code.join("\n").split(';').filter(|s| !s.trim().is_empty()) {
            sqlx::query(stmt).execute(&t.db.pool).await.unwrap();
        }
        let s = t.db.service_by_host("old", "nova-compute").await.unwrap().unwrap();
        assert_eq!(s.last_seen_up, Some(1_700_000_000_123_000));
        assert_eq!(s.created_at, 1_700_000_000_000_000);
        assert_eq!(s.updated_at, None);
        assert_eq!(berth_time::iso_micros(s.last_seen_up.unwrap()), "2023-11-14T22:13:20.123000");
    }

    /// On PostgreSQL a lease dies with the process that holds it: another
    /// process takes the work over on its next claim, not when the lease
    /// runs out (the scheduler's queue, an agent's tasks, the outbox).
    #[tokio::test]
    async fn leases_of_a_dead_process_are_taken_over_at_once() {
        let Some(t) = berth_testkit::TestDb::postgres().await else { return };
        let a = Db::connect(&t.url, 2).await.unwrap();
        a.migrate().await.unwrap();
        let b = Db::connect(&t.url, 2).await.unwrap();
        assert_ne!(a.proc_key(), b.proc_key());
        let mut w = a.write().await.unwrap();
        tasks::enqueue_tx(&mut w.tx, "queue", "build", None, &serde_json::Value::Null).await.unwrap();
        w.commit().await.unwrap();
        let entry = a.add_outbox(crate::model::outbox_kind::DELETE_ALLOCATIONS, Uuid::new_v4()).await.unwrap();
        // a leases both for two minutes.
        assert_eq!(a.claim_tasks("queue", "worker-a", 120_000, 10).await.unwrap().len(), 1);
        assert!(a.lease_outbox(entry, 120_000, false).await.unwrap().is_some());
        // While a lives, its leases hold.
        assert!(b.claim_tasks("queue", "worker-b", 120_000, 10).await.unwrap().is_empty());
        assert!(!b.runnable_queues().await.unwrap().contains(&"queue".to_string()));
        assert!(b.due_outbox(10).await.unwrap().is_empty());
        assert!(b.lease_outbox(entry, 30_000, true).await.unwrap().is_none());
        // a dies (its liveness connection closes with it).
        a.close().await;
        drop(a);
        let mut taken = Vec::new();
        for _ in 0..100 {
            taken = b.claim_tasks("queue", "worker-b", 120_000, 10).await.unwrap();
            if !taken.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(taken.len(), 1, "b takes the dead process's task over well before its lease ends");
        assert_eq!(b.due_outbox(10).await.unwrap(), vec![entry]);
        assert!(b.lease_outbox(entry, 30_000, true).await.unwrap().is_some(), "and its outbox entry");
        // b's own leases hold against a third process.
        let c = Db::connect(&t.url, 2).await.unwrap();
        assert!(c.claim_tasks("queue", "worker-c", 120_000, 10).await.unwrap().is_empty());
        assert!(c.lease_outbox(entry, 30_000, true).await.unwrap().is_none());
        b.close().await;
        c.close().await;
    }
}
