//! The desk's agents: who they are (the roster), how their phones are
//! reached (registered bindings) and what state they are in, stored in
//! PostgreSQL.
//!
//! - [`feature`]: the feature codes agents dial (`*50` .. `*53`).
//! - [`model`]: typed IDs, tiers and states shared by the registrar, the
//!   routing core, the CLI and the admin API.
//!
//! `agents` knows no SIP wire format and no call: the registrar (in `sip`)
//! decides bindings, `call` wires REGISTER and feature codes to this
//! store, and `routing` decides which agent gets a call.

pub mod feature;
pub mod model;

pub use feature::FeatureCode;
pub use model::{AgentId, AgentState, Tier};
