//! Media building blocks: pure, sans-io pieces that the RTP shell drives.
//!
//! - [`codec`]: G.711 µ-law / A-law.
//! - [`dtmf`]: key presses from RFC 4733 packets, SIP INFO bodies and in-band tones.
//! - [`prompt`]: WAV prompts, validated, converted and pre-encoded in a shared cache.
//! - [`record`]: WAV recorder (mono voice note, stereo caller/agent), files
//!   mode 0600, a full disk stops it cleanly.
//! - [`sdp`]: offer/answer for one G.711 stream with telephone-event.
//! - [`rtp`]: RTP header parse/write without allocation.
//! - [`ports`]: even RTP ports from the configured range, freed on drop.
//! - [`session`]: one call's live media, an actor around a sans-io core
//!   (paced sending, looped music on hold, symmetric RTP, RTP timeout,
//!   merged DTMF, recording), and the bridge of two sessions
//!   ([`session::bridge`]): one task relays both legs (G.711 passthrough
//!   or PCMU/PCMA byte maps, continuous numbering per leg, RFC 4733 with
//!   each leg's payload type) and feeds the stereo recording, which a
//!   writer thread puts on disk.

pub mod codec;
pub mod dtmf;
pub mod ports;
pub mod prompt;
pub mod record;
pub mod rtp;
pub mod sdp;
pub mod session;
