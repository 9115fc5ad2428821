//! HTTP glue shared by every berth API family: the edge every API runs
//! behind (request ids, error rendering through one trait, panic
//! containment, body limits, authentication, microversions, route tables
//! naming policy rules), microversion parsing, the authenticated request
//! context, and public URLs.
//!
//! Architecture invariant: nothing here knows a particular API's resources or
//! error body format; each API implements [`ErrorFormat`] for its body.

pub mod context;
pub mod edge;
pub mod fault;
pub mod input;
pub mod microversion;
pub mod public_url;
pub mod request_id;

pub use context::{noauth2_context, path_matches, AccessRule, AuthStrategy, RequestContext, TokenValidator};
pub use edge::{Access, Edge, Microversions, RouteCheck, RouteSpec, RouteTable, X_REQUEST_ID_HEADER};
pub use fault::{json_error, ErrorFormat, Fault, FaultContext};
pub use input::json_has_nul;
pub use microversion::{Version, VersionError};
pub use public_url::{public_base, valid_host};
pub use request_id::{request_id_layer, RequestId, REQUEST_ID_HEADER};
