//! The desk's agents: who they are (the roster), how their phones are
//! reached (registered bindings) and what state they are in, stored in
//! PostgreSQL.
//!
//! - [`follow`]: a view of the roster now and after every change (NOTIFY).
//! - [`feature`]: the feature codes agents dial (`*50` .. `*53`).
//! - [`model`]: typed IDs, tiers and states shared by the registrar, the
//!   routing core, the CLI and the admin API; the records the store reads
//!   and writes (an agent, a binding, an event, credentials).
//! - [`store`]: [`AgentStore`], the SQL: the roster, state changes with
//!   their events, bindings, the atomic claim, change notifications.
//! - [`bindings`]: the registered contacts (`AgentStore::replace_bindings`
//!   and friends), in their own file.
//! - [`report`]: the roster as the CLI prints it for people.
//!
//! `agents` knows no SIP wire format and no call: the registrar (in `sip`)
//! decides bindings, `call` wires REGISTER and feature codes to this
//! store, and `routing` decides which agent gets a call.

pub mod bindings;
pub mod feature;
pub mod follow;
pub mod model;
pub mod report;
mod rows;
mod states;
pub mod store;

pub use bindings::BindingsReplaced;
pub use feature::FeatureCode;
pub use model::{
    Actor, Agent, AgentEntry, AgentEvent, AgentId, AgentState, Binding, BindingRecord, Credentials,
    Password, SipUser, Tier, Transition, Transport,
};
pub use store::{AgentError, AgentStore, Cause, NewAgent};
