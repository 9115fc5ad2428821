//! HTTP glue shared by every berth API family: request ids, microversion
//! parsing and negotiation, and the authenticated request context.
//!
//! Architecture invariant: nothing here knows a particular API's resources or
//! error body format; each API crate renders its own errors.

pub mod context;
pub mod microversion;
pub mod request_id;

pub use context::{noauth2_context, AuthStrategy, RequestContext, TokenValidator};
pub use microversion::{Version, VersionError};
pub use request_id::{request_id_layer, RequestId, REQUEST_ID_HEADER};
