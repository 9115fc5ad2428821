//! berth's image registry: a subset of the OpenStack Image (Glance) v2 API,
//! enough for python-openstackclient and openstacksdk to create, list,
//! show, update, share, upload, download and delete images, import staged
//! data (`glance-direct`, recorded as tasks), and keep the metadata
//! definitions catalog.
//!
//! Layout:
//! - `db` / `repo`: storage on berth-db's `Db` (SQLite and PostgreSQL, same
//!   SQL), migrations in `migrations/{sqlite,postgres}`.
//! - `store`: image data files (streamed, hashed, renamed into place).
//! - `service`: [`ImageService`] and [`ImageConfig`]; the caller, visibility
//!   and policy checks.
//! - `metadef` / `metadef_repo`: metadata definitions (namespaces, objects,
//!   properties, tags, resource types) and their SQL.
//! - `api`: the route table behind berth-http's edge ([`router`], mounted
//!   by the binary at `/image`; [`route_specs`] for tests).
//!
//! Visibility follows Glance: a caller sees public and community images,
//! its project's images, and shared images its project is a member of;
//! administrators see everything. Images a caller cannot see answer 404.

mod api;
mod db;
mod error;
mod metadef;
mod metadef_repo;
mod model;
mod patch;
mod policy;
mod repo;
mod server_images;
mod service;
mod store;

pub use api::{route_specs, router, MAX_BODY};
pub use db::{redact, Engine};
pub use error::{GlanceErrors, ImageError, Result};
pub use model::{DEFAULT_CONTAINER_FORMATS, DEFAULT_DISK_FORMATS};
pub use policy::policy_defaults;
pub use server_images::ServerImageRequest;
pub use service::{ImageConfig, ImageService, ImageSummary};
