//! The IVR: the flow language administrators write in `config/ivr.toml`,
//! its validation, the interpreter that runs it on one call, and the
//! registry that swaps in a new flow on reload.
//!
//! - [`flow`]: serde types of the file. [`load`]: reading it.
//! - [`validate`]: `check-config` rules, every problem naming file, step, key.
//! - [`machine`]: [`IvrMachine`], a sans-io state machine; the call task
//!   feeds it [`IvrInput`]s and time and performs its [`IvrAction`]s.
//! - [`words`]: numbers and SLA targets as prompt sequences.
//! - [`announce`]: what a queued caller hears (position, expected wait,
//!   callback offer, connecting, call cut) as prompt sequences.
//! - [`registry`]: [`FlowRegistry`], the flow new calls start on.

pub mod announce;
pub mod flow;
mod graph;
mod intake;
pub mod load;
pub mod machine;
mod problem;
pub mod registry;
mod staffing;
pub mod validate;
pub mod words;

pub use flow::{Field, Flow, Step};
pub use load::{load_flow, parse_flow};
pub use machine::{CallFacts, Intake, IvrAction, IvrInput, IvrMachine, Progress, QueueRequest};
pub use problem::{FlowProblem, IvrError};
pub use registry::{FlowPaths, FlowRegistry, LoadedFlow};
pub use staffing::{AlwaysStaffed, Staffing};
