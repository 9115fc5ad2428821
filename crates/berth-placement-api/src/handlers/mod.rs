//! One module per resource, one function per method.

pub mod aggregate;
pub mod allocation;
pub mod allocation_candidate;
pub mod inventory;
pub mod params;
pub mod reshaper;
pub mod resource_class;
pub mod resource_provider;
pub mod root;
pub mod trait_;
pub mod usage;

use crate::error::ApiError;
use crate::req::Req;
use uuid::Uuid;

/// 404 unless the request's microversion is at least 1.`minor` (upstream's
/// `version_handler`).
pub fn require_version(req: &Req, minor: u16) -> Result<(), ApiError> {
    if req.want(minor) {
        Ok(())
    } else {
        Err(ApiError::not_found(""))
    }
}

/// A provider uuid from the path; malformed ones cannot exist (404).
pub fn path_uuid(req: &Req, name: &str) -> Result<Uuid, ApiError> {
    let raw = req.param(name);
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(format!("No resource provider with uuid {raw} found")))
}
