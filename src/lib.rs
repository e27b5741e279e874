//! hotline: SIP call intake for technical-support hotlines.
//!
//! Module map (ARCHITECTURE.md has the path of one call, the tasks and
//! their channels, and the shutdown order):
//! - [`admin`]: the administrators' HTTP API and page (axum): health,
//!   counters, tickets and their history, status changes, call records.
//! - [`agents`]: the roster, registered bindings and agent states in
//!   PostgreSQL (`AgentStore`: events per change, the atomic claim,
//!   `NOTIFY hotline_agents` on every change).
//! - [`call`]: where the parts meet, and the only module that uses all the
//!   others: the UAS core ([`call::dispatch`]) with admission of new calls
//!   under flood and load ([`call::admission`]), one task per call
//!   ([`call::session`]) owning the caller's leg ([`call::leg::uas`]), the
//!   agents' legs ([`call::leg::uac`], [`call::routed`]), the media and the
//!   IVR intake; the agents' registrar ([`call::registrar`]) and the
//!   routing desk ([`call::desk`]).
//! - [`callgen`]: a built-in SIP caller (RFC 4733 keys, talking) for
//!   `hotline demo`, the tests and the load generator.
//! - [`daemon`]: wiring for `hotline run`: listeners, database, signals,
//!   shutdown order.
//! - [`config`]: typed `config/hotline.toml`, validation naming file and key.
//! - [`sip`]: signalling. A hand-written, fuzzed message parser, sans-io
//!   transactions (RFC 3261 §17, RFC 6026) for both sides, dialogs, digest
//!   authentication and the registrar's rules, UAC builders, caller
//!   identity, request validation, and the UDP/TCP transport shell.
//! - [`media`]: G.711 codecs, DTMF from RFC 4733 / SIP INFO / in-band
//!   Goertzel, WAV prompts (shared, pre-encoded cache), recorder, SDP
//!   offer/answer, RTP ports and the per-call media session (paced RTP,
//!   symmetric latching, RTP timeout, one digit stream) and the bridge
//!   that relays a caller's and an agent's legs with a stereo recording.
//! - [`ivr`]: the call flow language (`config/ivr.toml`), its validation,
//!   the sans-io interpreter run on each call (its queue phase: music,
//!   announcements, the callback offer; [`ivr::announce`]), and the
//!   reloadable registry.
//! - [`report`]: the desk's key figures in SQL (`hotline report`,
//!   `GET /api/report`) beside the standard's targets, and the
//!   quality-control sample.
//! - [`routing`]: the protocol-free routing core: the queue ordered by
//!   SLA deadline, tiers and overflow, agent states and the strategy that
//!   picks who rings, as a sans-io state machine driven with time.
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
pub mod hours;
pub mod ivr;
pub mod media;
pub mod report;
pub mod routing;
pub mod shipped;
pub mod sip;
pub mod tickets;
