//! Placement domain model: names, standard classes and traits, error kinds and
//! the allocation-candidates engine.
//!
//! Architecture invariant: this crate knows nothing of HTTP, SQL or
//! microversion headers. It is pure data and algorithms, so every layer above
//! (storage, HTTP, the compute scheduler) can share it and it can be tested
//! without I/O.

pub mod candidates;
pub mod error;
pub mod model;
pub mod names;
pub mod pyfmt;
pub mod standard;

pub use error::{codes, Error, ErrorKind, Result};
