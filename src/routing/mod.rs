//! Routing: which agent of which tier takes a queued caller, and when.
//!
//! Protocol-free like [`crate::ivr`]: a sans-io core ([`Router`]: the
//! queue, the agents' states and the strategy) driven with `Instant`s, so
//! tests play hours of a desk in microseconds. The call task owns the legs
//! (dialogs, media); routing only decides. It never imports `sip`, `media`
//! or `call`.
//!
//! Time: the core takes `std::time::Instant` (no tokio in it); the actor
//! converts tokio's clock with `into_std`/`from_std`, so paused-time tests
//! of the actor drive the core too. Tickets' deadlines are wall-clock
//! (`DateTime<Utc>`, what the database and people see); each is turned
//! into an `Instant` once, at enqueue, from the wall clock the shell read
//! with `now` (see [`queue::Entry::due`]), and only the `Instant` times
//! and orders anything afterwards: a wall-clock step cannot reorder the
//! queue or fire a breach early.
//!
//! - [`queue`]: entries and their order (SLA deadline or FIFO per
//!   severity, escalations first), per-tier idle sets, positions.
//! - [`agent`]: agents as the router sees them, the free-agent index.
//! - [`strategy`]: longest idle, fewest calls, round robin, ring all.
//! - [`core`]: the [`Router`] (inputs, outputs, timers, dispatch); its
//!   agent-side handlers live in `core_agents.rs`.
//! - [`settings`]: the `[routing]` configuration resolved for the core.
//! - [`actor`]: the task that owns a `Router` with real timers, and
//!   [`RoutingHandle`], the cheap clone everyone else holds.

pub mod actor;
pub mod agent;
pub mod core;
pub mod io;
pub mod queue;
pub mod settings;
pub mod strategy;
mod timers;

pub use actor::{RoutingError, RoutingHandle, Snapshot};
pub use agent::AgentView;
pub use core::Router;
pub use io::{Input, LeaveReason, OfferFailure, Output, StateReason};
pub use queue::{NewEntry, QueueEntryId};
pub use settings::{Settings, SeverityRoute};

#[cfg(test)]
mod tests;
