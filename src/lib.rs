//! hotline: SIP call intake for technical-support hotlines.
//!
//! Module map (see README "Architecture" for the path of one call):
//! - [`config`]: typed `config/hotline.toml`, validation naming file and key.
//! - [`media`]: G.711 codecs, DTMF from RFC 4733 / SIP INFO / in-band
//!   Goertzel, WAV prompts (shared, pre-encoded cache), recorder, SDP
//!   offer/answer, RTP ports and the per-call media session (paced RTP,
//!   symmetric latching, RTP timeout, one digit stream).
//! - [`tickets`]: PostgreSQL ticket store, SLA policy, the on-disk journal
//!   that keeps tickets while the database is down, the embedded cluster.

pub mod config;
pub mod media;
pub mod tickets;
