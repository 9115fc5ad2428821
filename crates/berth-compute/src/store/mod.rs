//! All SQL of the compute service, one module per aggregate. Functions
//! return [`crate::error::ComputeError`] kinds (not found, conflict,
//! unavailable, internal), never HTTP statuses.

mod azs;
mod flavors;
mod instances;
mod migrations;
mod nodes;
mod outbox;
mod quotas;
mod services;
mod tasks;

pub(crate) use instances::set_state_tx;
pub(crate) use outbox::insert_outbox_tx;
pub(crate) use tasks::enqueue_tx;

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{
    db_err, get_bool, get_f64, get_i64, get_opt_i64, get_opt_str, get_str, is_unique_violation, now_ms, Db, Engine, Tx,
};
use crate::error::{ComputeError, Result};
use crate::lifecycle::{QueueState, Transition, FINISHED_MIGRATION_STATUSES};
use crate::model::*;

fn parse_uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_default()
}

fn opt_uuid(s: Option<String>) -> Option<Uuid> {
    s.and_then(|s| Uuid::parse_str(&s).ok())
}

fn b(v: bool) -> i64 {
    v as i64
}
