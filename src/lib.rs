//! hotline: SIP call intake for technical-support hotlines.
//!
//! Module map (see README "Architecture" for the path of one call):
//! - [`config`]: typed `config/hotline.toml`, validation naming file and key.
//! - [`tickets`]: PostgreSQL ticket store, SLA policy, the on-disk journal
//!   that keeps tickets while the database is down, the embedded cluster.

pub mod config;
pub mod tickets;
