//! Media building blocks: pure, sans-io pieces that the RTP shell drives.
//!
//! - [`codec`]: G.711 µ-law / A-law.
//! - [`dtmf`]: key presses from RFC 4733 packets, SIP INFO bodies and in-band tones.
//! - [`prompt`]: WAV prompts, validated, converted and pre-encoded in a shared cache.
//! - [`record`]: WAV recorder (mono voice note, stereo caller/agent).
//! - [`sdp`]: offer/answer for one G.711 stream with telephone-event.

pub mod codec;
pub mod dtmf;
pub mod prompt;
pub mod record;
pub mod sdp;
