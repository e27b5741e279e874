//! SIP signalling, sans-io core.
//!
//! Everything here but [`transport`] is pure: bytes and `Instant`s go in, bytes, decisions and
//! deadlines come out. The async shell (transport, call tasks) moves them.
//!
//! - [`auth`]: digest authentication (MD5, SHA-256): HA1, challenges, stateless
//!   HMAC nonces, the `Authorization` parser (fuzzed), nonce-count replay checks,
//!   brute-force lock-out, and [`auth::Authenticator::check`] doing it all in one step.
//! - [`message`]: the wire format. Parsing, our own typed view of a request or
//!   response, response building, serialisation. Nothing outside this module
//!   sees the wire syntax.
//! - [`error`]: the one place where a protocol error becomes a SIP status code
//!   and a stable searchable code (`HL-SIP-400`, ...).
//! - [`transaction`]: RFC 3261 §17 transactions as state machines driven by
//!   `handle(now, input)` / `poll_output()` / `poll_timeout()`, and the table
//!   that routes messages to them.
//! - [`uas`]: the UAS-core piece RFC 6026 moved out of the transaction: the
//!   2xx-to-INVITE retransmission until ACK ([`uas::AckWaiter`]).
//! - [`dialog`]: dialogs on either leg (UAS: the caller's, UAC: the agent's):
//!   identity, route set, CSeq, building in-dialog ACK, BYE, re-INVITE,
//!   UPDATE and INFO.
//! - [`uac`]: pure builders for the requests that ring an agent: INVITE to a
//!   registered contact, CANCEL, OPTIONS keep-alive.
//! - [`registrar`]: REGISTER (RFC 3261 §10.3) sans-io: an authenticated
//!   request and an agent's bindings in, the new binding set or a refusal
//!   (423, 500, 403, 400) out, and the 200 that lists the bindings.
//! - [`transport`]: the async shell: UDP and TCP sockets, Via stamping,
//!   immediate answers to rejected requests, drop counters; sends that never
//!   wait on a peer, and the TCP limits.
//! - [`identity`]: who is calling (P-Asserted-Identity / Remote-Party-ID /
//!   From) and whether they asked for privacy.
//! - [`validate`]: request checks the UAS core runs before accepting a request
//!   (483, 420, 405, 501, 416, 415, 406, 481, Contact and Request-URI) and
//!   RFC 4028 session timers.
//!
//! ## Why our own parser and not `rsip`
//! The crate card names `rsip` 0.4.0. It has had no release since 2022 and,
//! tried on the RFC 4475 torture messages, it rejects unknown methods (we
//! must answer those 501, so we must parse them), truncates user parts that
//! contain `;` (`sip:user;par=u%40example.net@example.com`), rejects IPv6
//! hosts and URI headers, and does not know the compact header forms. A
//! normalising pre-pass can fix compact forms but not the URI or method
//! grammar, so [`message`] holds a small hand-written parser (framing, header
//! normalisation, the handful of header grammars a UAS needs) and `rsip` is
//! not used. The parser is fuzzed (`fuzz/`) and tested on RFC 4475.

pub mod auth;
pub mod dialog;
pub mod error;
pub mod identity;
pub mod message;
pub mod registrar;
pub mod transaction;
pub mod transport;
pub mod uac;
pub mod uas;
pub mod validate;
