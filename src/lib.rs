//! hotline: SIP call intake for technical-support hotlines.
//!
//! Module map (see README "Architecture" for the path of one call):
//! - [`admin`]: the administrators' HTTP API and page (axum): health,
//!   counters, tickets and their history, status changes, call records.
//! - [`agents`]: the roster, registered bindings and agent states in
//!   PostgreSQL (`AgentStore`: events per change, the atomic claim,
//!   `NOTIFY hotline_agents` on every change).
//! - [`call`]: the UAS core ([`call::dispatch`]) and one task per call
//!   ([`call::session`]); the only module that uses all the others.
//! - [`callgen`]: a built-in SIP caller (RFC 4733 keys, talking) for
//!   `hotline demo`, the tests and the load generator.
//! - [`daemon`]: wiring for `hotline run`: listeners, database, signals,
//!   shutdown order.
//! - [`config`]: typed `config/hotline.toml`, validation naming file and key.
//! - [`sip`]: signalling. A hand-written, fuzzed message parser, sans-io
//!   transactions (RFC 3261 §17, RFC 6026), dialogs, caller identity,
//!   request validation, and the UDP/TCP transport shell.
//! - [`media`]: G.711 codecs, DTMF from RFC 4733 / SIP INFO / in-band
//!   Goertzel, WAV prompts (shared, pre-encoded cache), recorder, SDP
//!   offer/answer, RTP ports and the per-call media session (paced RTP,
//!   symmetric latching, RTP timeout, one digit stream).
//! - [`ivr`]: the call flow language (`config/ivr.toml`), its validation,
//!   the sans-io interpreter run on each call, and the reloadable registry.
//! - [`shipped`]: what the binary carries (default flow, every prompt under
//!   `prompts/`, version with git revision) and the installed paths and
//!   prompt layers.
//! - [`tickets`]: PostgreSQL ticket store, SLA policy, the on-disk journal
//!   that keeps tickets while the database is down, the embedded cluster.

pub mod admin;
pub mod agents;
pub mod call;
pub mod callgen;
pub mod config;
pub mod daemon;
pub mod ivr;
pub mod media;
pub mod shipped;
pub mod sip;
pub mod tickets;
