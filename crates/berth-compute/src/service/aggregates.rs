//! Host aggregates as Nova's `AggregateAPI` manages them: an
//! `availability_zone` metadata key puts the aggregate's hosts in that zone
//! (a host is in at most one zone, and a zone change that would move
//! instances is refused), and host membership is mirrored into Placement:
//! the aggregate's uuid is added to (removed from) the aggregates of the
//! host's compute node providers, so `member_of` finds them.

use std::collections::{BTreeMap, BTreeSet};

use super::ComputeService;
use crate::error::{ComputeError, Result};
use crate::infra_model::{Aggregate, AZ_KEY};
use crate::model::InstanceQuery;
use crate::store::AggregateView;

/// What an aggregate change was, for Nova's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggregateAction {
    AddHost,
    RemoveHost,
    Update,
    UpdateMeta,
}

fn invalid_action(action: AggregateAction, id: i64, reason: &str) -> ComputeError {
    let m = match action {
        AggregateAction::AddHost => format!("Cannot add host to aggregate {id}. Reason: {reason}."),
        AggregateAction::RemoveHost => format!("Cannot remove host from aggregate {id}. Reason: {reason}."),
        AggregateAction::Update => format!("Cannot update aggregate {id}. Reason: {reason}."),
        AggregateAction::UpdateMeta => format!("Cannot update metadata of aggregate {id}. Reason: {reason}."),
    };
    match action {
        // Nova answers 409 for host changes, 400 for updates.
        AggregateAction::AddHost | AggregateAction::RemoveHost => ComputeError::conflict(m),
        _ => ComputeError::bad_request(m),
    }
}

/// A Python list of strings as Nova's messages print it.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

fn not_found(id: i64) -> ComputeError {
    ComputeError::not_found(format!("Aggregate {id} could not be found."))
}

impl ComputeService {
    pub(crate) async fn aggregates(&self) -> Result<Vec<Aggregate>> {
        self.db.list_aggregates().await
    }

    pub(crate) async fn aggregate(&self, id: i64) -> Result<Aggregate> {
        self.db.get_aggregate(id).await?.ok_or_else(|| not_found(id))
    }

    pub(crate) async fn create_aggregate(&self, name: &str, az: Option<&str>) -> Result<Aggregate> {
        let mut meta = BTreeMap::new();
        if let Some(az) = az {
            meta.insert(AZ_KEY.to_string(), az.to_string());
        }
        self.db.create_aggregate(name, &meta).await
    }

    /// Rename and/or move to a zone (`PUT /os-aggregates/{id}`).
    pub(crate) async fn update_aggregate(
        &self,
        id: i64,
        name: Option<&str>,
        az: Option<Option<&str>>,
    ) -> Result<Aggregate> {
        let mut changes = BTreeMap::new();
        if let Some(az) = az {
            changes.insert(AZ_KEY.to_string(), az.map(str::to_string));
        }
        self.db
            .edit_aggregate(|view| {
                let mut a = view.get(id).cloned().ok_or_else(|| not_found(id))?;
                if let Some(n) = name {
                    a.name = n.to_string();
                }
                check_az_change(view, &a, &changes, None, AggregateAction::Update, true)?;
                apply_metadata(&mut a, &changes);
                Ok(a)
            })
            .await?;
        self.aggregate(id).await
    }

    /// Merge metadata (a `None` value removes the key).
    pub(crate) async fn set_aggregate_metadata(
        &self,
        id: i64,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<Aggregate> {
        self.db
            .edit_aggregate(|view| {
                let mut a = view.get(id).cloned().ok_or_else(|| not_found(id))?;
                check_az_change(view, &a, changes, None, AggregateAction::UpdateMeta, true)?;
                apply_metadata(&mut a, changes);
                Ok(a)
            })
            .await?;
        self.aggregate(id).await
    }

    pub(crate) async fn delete_aggregate(&self, id: i64) -> Result<()> {
        let a = self.aggregate(id).await?;
        if !a.hosts.is_empty() {
            return Err(ComputeError::bad_request(format!(
                "Cannot remove host from aggregate {id}. Reason: Host aggregate is not empty."
            )));
        }
        if !self.db.delete_aggregate(id).await? {
            return Err(not_found(id));
        }
        Ok(())
    }

    pub(crate) async fn add_aggregate_host(&self, id: i64, host: &str) -> Result<Aggregate> {
        if self.service(host, super::NOVA_COMPUTE).await?.is_none() {
            return Err(ComputeError::not_found(format!("Compute host {host} could not be found.")));
        }
        // Checked and written in one transaction holding the aggregate
        // lock: a concurrent change cannot put the host in a second zone.
        let a = self
            .db
            .add_aggregate_host(id, host, |view| {
                let a = view.get(id).ok_or_else(|| not_found(id))?;
                if a.hosts.iter().any(|h| h == host) {
                    return Err(ComputeError::conflict(format!("Aggregate {id} already has host {host}.")));
                }
                let meta: BTreeMap<String, Option<String>> =
                    a.metadata.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
                check_az_change(view, a, &meta, Some(&[host.to_string()]), AggregateAction::AddHost, false)?;
                if let Some(new_az) = a.availability_zone() {
                    let n = view.live_on(host);
                    let old = az_from(&view.aggregates, host, None);
                    if n > 0 && old.as_deref() != Some(new_az) {
                        return Err(invalid_action(
                            AggregateAction::AddHost,
                            id,
                            &move_message("added to", old.as_deref(), Some(new_az), n),
                        ));
                    }
                }
                Ok(a.clone())
            })
            .await?;
        // Mirrored into Placement; a failure is logged (as Nova does) and
        // repaired by the host's agent, which publishes its aggregates.
        for n in self.db.nodes_on_host(host).await? {
            if let Err(e) = self.placement.update_aggregates(n.uuid, &[a.uuid], &[]).await {
                tracing::warn!(provider = %n.uuid, aggregate = %a.uuid, error = %e, "cannot add the provider to the aggregate in Placement; the agent will retry");
            }
        }
        self.aggregate(id).await
    }

    pub(crate) async fn remove_aggregate_host(&self, id: i64, host: &str) -> Result<Aggregate> {
        let gone = || ComputeError::not_found(format!("Cannot remove host {host} in aggregate {id}"));
        if self.service(host, super::NOVA_COMPUTE).await?.is_none() {
            return Err(gone());
        }
        // Nova's checks: the host is in the aggregate, and leaving it does
        // not move the host's instances to another zone.
        let check = |view: &AggregateView| -> Result<Aggregate> {
            let a = view.get(id).filter(|a| a.hosts.iter().any(|h| h == host)).ok_or_else(gone)?;
            if let Some(cur) = a.availability_zone() {
                let n = view.live_on(host);
                let new = az_from(&view.aggregates, host, Some(id));
                if n > 0 && new.as_deref() != Some(cur) {
                    return Err(invalid_action(
                        AggregateAction::RemoveHost,
                        id,
                        &move_message("removed from", Some(cur), new.as_deref(), n),
                    ));
                }
            }
            Ok(a.clone())
        };
        let view = AggregateView {
            aggregates: self.db.list_aggregates().await?,
            instances_on: [(host.to_string(), self.live_instances_on(host).await?)].into_iter().collect(),
        };
        let a = check(&view)?;
        // Placement first (as Nova does), so a failure can be retried; not
        // inside the transaction (Placement may share the database). The
        // checks are made again with the write: when they fail now, the
        // host's agent puts the provider back in the aggregate.
        for n in self.db.nodes_on_host(host).await? {
            match self.placement.update_aggregates(n.uuid, &[], &[a.uuid]).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) if e.is_conflict() => return Err(ComputeError::conflict(e.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
        self.db.remove_aggregate_host(id, host, check).await?;
        self.aggregate(id).await
    }

    async fn live_instances_on(&self, host: &str) -> Result<i64> {
        let q = InstanceQuery { host: Some(host.to_string()), ..Default::default() };
        Ok(self.db.list_instances(&q).await?.iter().filter(|i| !i.deleted).count() as i64)
    }

    /// The host aggregates `host` is in (its agent mirrors them into
    /// Placement).
    pub(crate) async fn host_aggregate_uuids(&self, host: &str) -> Result<Vec<uuid::Uuid>> {
        self.db.aggregate_uuids_of_host(host).await
    }
}

/// Nova's `is_safe_to_update_az`: an `availability_zone` key must name a
/// zone, must not put a host in two zones, and (`check_instances`) must not
/// change the zone of hosts that have instances. Decided on the locked
/// view (see [`AggregateView`]).
fn check_az_change(
    view: &AggregateView,
    a: &Aggregate,
    changes: &BTreeMap<String, Option<String>>,
    hosts: Option<&[String]>,
    action: AggregateAction,
    check_instances: bool,
) -> Result<()> {
    let Some(new_az) = changes.get(AZ_KEY) else { return Ok(()) };
    let Some(new_az) = new_az.as_deref().filter(|z| !z.is_empty()) else {
        return Err(invalid_action(
            action,
            a.id,
            &format!("Aggregate {} does not support empty named availability zone", a.name),
        ));
    };
    let hosts: Vec<String> = hosts.map(<[String]>::to_vec).unwrap_or_else(|| a.hosts.clone());
    let conflicting: Vec<String> = view
        .aggregates
        .iter()
        .filter(|o| o.id != a.id && o.hosts.iter().any(|h| hosts.contains(h)))
        .filter_map(|o| o.availability_zone().filter(|z| *z != new_az).map(str::to_string))
        .collect();
    if !conflicting.is_empty() {
        return Err(invalid_action(
            action,
            a.id,
            &format!("One or more hosts already in availability zone(s) {}", py_list(&conflicting)),
        ));
    }
    if check_instances && a.availability_zone() != Some(new_az) && hosts.iter().any(|h| view.live_on(h) > 0) {
        return Err(invalid_action(action, a.id, "One or more hosts contain instances in this zone"));
    }
    Ok(())
}

/// The zone `host` has from its aggregates, leaving out aggregate `except`.
fn az_from(aggregates: &[Aggregate], host: &str, except: Option<i64>) -> Option<String> {
    let zones: BTreeSet<&str> = aggregates
        .iter()
        .filter(|a| Some(a.id) != except && a.hosts.iter().any(|h| h == host))
        .filter_map(Aggregate::availability_zone)
        .collect();
    zones.into_iter().next().map(str::to_string)
}

fn apply_metadata(a: &mut Aggregate, changes: &BTreeMap<String, Option<String>>) {
    for (k, v) in changes {
        match v {
            Some(v) => {
                a.metadata.insert(k.clone(), v.clone());
            }
            None => {
                a.metadata.remove(k);
            }
        }
    }
}

/// Python's `'%s'` of an optional zone.
fn py_opt(z: Option<&str>) -> String {
    z.unwrap_or("None").to_string()
}

fn move_message(verb: &str, from: Option<&str>, to: Option<&str>, n: i64) -> String {
    format!(
        "The host cannot be {verb} the aggregate as the availability zone of the host would change from '{}' to '{}' \
         but the host already has {n} instance(s). Changing the AZ of an existing instance is not supported by this \
         action. Move the instances away from this host then try again. If you need to move the instances between \
         AZs then you can use shelve_offload and unshelve to achieve this.",
        py_opt(from),
        py_opt(to),
    )
}
