//! Records of the infrastructure APIs: host aggregates and server groups.

use std::collections::BTreeMap;

use uuid::Uuid;

/// The metadata key of an aggregate that makes its hosts a zone.
pub const AZ_KEY: &str = "availability_zone";

/// A host aggregate (`os-aggregates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub metadata: BTreeMap<String, String>,
    /// Host names, sorted.
    pub hosts: Vec<String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

impl Aggregate {
    /// The zone its hosts are in, if it defines one.
    pub fn availability_zone(&self) -> Option<&str> {
        self.metadata.get(AZ_KEY).map(String::as_str)
    }
}

/// A server group (`os-server-groups`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerGroup {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    /// `max_server_per_host` (anti-affinity only, from 2.64).
    pub max_server_per_host: Option<i64>,
    /// Member instance uuids (deleted instances included; views hide them).
    pub members: Vec<Uuid>,
    pub created_at: i64,
}

/// What a new server group holds.
pub struct NewServerGroup<'a> {
    pub name: &'a str,
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub policy: &'a str,
    pub max_server_per_host: Option<i64>,
}
