//! Tickets: the PostgreSQL store with SLA deadlines, the journal that keeps
//! tickets while the database is down, and the embedded cluster used when
//! no database URL is configured.
//!
//! - [`calls`]: call records, one per call, ticket or not.
//! - [`model`]: ticket, update, history event, typed [`TicketNumber`].
//! - [`sla`]: the severity table in force and the deadlines it gives.
//! - [`store`]: [`TicketStore`], what the call path uses.
//! - [`journal`], [`numbers`]: the on-disk parts that make outages safe;
//!   `writer`: the one thread that does their file work; `replay`: the
//!   journal into the database; `perms`: the modes of what they write.
//! - [`repo`]: the SQL. [`db`]: connecting and migrating.
//! - [`embedded`]: the private PostgreSQL cluster. [`report`]: CLI output.
//! - [`scan`]: the SLA clock without calls (breaches, escalation, progress).

pub mod calls;
pub mod db;
pub mod embedded;
pub mod journal;
mod journal_index;
pub mod model;
pub mod numbers;
pub(crate) mod perms;
mod replay;
pub mod repo;
pub mod report;
pub mod scan;
pub mod sla;
pub mod store;
mod writer;

pub use calls::{CallRecord, EndReason};
pub use model::{
    Assignment, NewTicket, RoutingEvent, Ticket, TicketEvent, TicketNumber, TicketStatus,
    TicketUpdate,
};
pub use sla::SlaPolicy;
pub use store::{Created, StoreError, StoreOptions, TicketStore};
pub use writer::THREAD_NAME as JOURNAL_THREAD;
