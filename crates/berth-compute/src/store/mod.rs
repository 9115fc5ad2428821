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
    get_bool, get_f64, get_i64, get_opt_i64, get_opt_str, get_opt_uuid, get_str, get_uuid, ms_to_us, now_us, Db,
    Engine, Tx,
};
use crate::error::{ComputeError, ErrorKind, Result};
use crate::lifecycle::{QueueState, Transition, FINISHED_MIGRATION_STATUSES};
use crate::model::*;

/// A TEXT column holding JSON (strict: malformed JSON is an error).
fn get_json<T: serde::de::DeserializeOwned>(r: &AnyRow, col: &str) -> Result<T> {
    let s = get_str(r, col)?;
    serde_json::from_str(&s).map_err(|e| ComputeError::internal(format!("column {col}: stored JSON is malformed: {e}")))
}

fn b(v: bool) -> i64 {
    v as i64
}
