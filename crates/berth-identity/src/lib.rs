//! berth's built-in identity service: a subset of the OpenStack Identity
//! (Keystone) v3 API, enough for keystoneauth1 and python-openstackclient to
//! authenticate with passwords, get scoped tokens and a service catalog, and
//! manage projects, users, roles and role assignments.
//!
//! Layout:
//! - `db` / `repo` / `token`: storage on `berth_db::Db` (SQLite and
//!   PostgreSQL, same SQL), migrations in `migrations/{sqlite,postgres}`;
//!   database errors become [`IdentityError`]s by kind in `error`.
//! - `service`: [`Identity`] (authentication, token validation) and
//!   [`bootstrap`].
//! - `api`: the axum [`router`] (one route table naming each route's access
//!   and Keystone rule, [`route_specs`], behind `berth_http::Edge`), mounted
//!   by the binary at `/identity`.
//!
//! Security invariants: tokens are 32 random bytes, stored only as SHA-256
//! digests, never logged; passwords are Argon2id hashes; a token's roles are
//! recomputed on every validation.

mod api;
mod appcred;
mod catalog;
mod credential;
mod db;
mod error;
mod password;
mod repo;
mod service;
mod token;
mod trust;
mod util;
mod validator;

pub use api::{route_specs, router};
pub use db::{redact, Engine};
pub use error::{ErrorKind, IdentityError, Result};
pub use password::PasswordHashing;
pub use service::{
    bootstrap, bootstrap_with, BootstrapOptions, BootstrapReport, Identity, IdentityConfig, ValidatedToken,
    DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME,
};
pub use validator::IdentityValidator;
