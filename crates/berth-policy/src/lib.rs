//! An oslo.policy-compatible policy engine and default rule tables.
//!
//! * [`parser`]: the rule language (`role:admin or rule:x and not
//!   project_id:%(project_id)s`) parsed into a [`Check`] tree.
//! * [`Enforcer`]: registered [`RuleDefault`]s plus operator overrides from a
//!   policy file, deprecated-rule fallbacks (`enforce_new_defaults`), scope
//!   checks (`scope_types`) and authorization of actions.
//! * [`placement`]: Placement 16.0.0's default rules.
//! * [`keystone`]: Keystone's default rules for the identity operations berth serves.
//!
//! ```
//! use berth_policy::{placement, Credentials, Enforcer, EnforcerConfig, Target};
//!
//! let enforcer = Enforcer::new(placement::defaults(), EnforcerConfig::default());
//! let admin = Credentials::project("admin", "admin", &["admin"]);
//! assert!(enforcer
//!     .authorize("placement:resource_providers:list", &Target::new(), &admin)
//!     .is_ok());
//! ```

pub mod enforcer;
pub mod eval;
pub mod keystone;
pub mod parser;
pub mod placement;

pub use enforcer::{Denied, Enforcer, EnforcerConfig, PolicyError, RuleDefault, Scope};
pub use eval::{Credentials, Target};
pub use parser::{parse, parse_lenient, Check, ParseError};

#[cfg(test)]
mod tests;
