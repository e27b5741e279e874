//! The sending half of a call's media (sans-io): an absolute 20 ms clock and
//! the prompt queue cut into RTP packets.
//!
//! Tick `k` is due at `start + k * 20 ms` and carries RTP timestamp
//! `ts0 + 160 k`. Deadlines are computed from the tick index, never by adding
//! sleeps, so lateness of one packet never shifts the next and there is no
//! drift. Silence (nothing queued, hold) sends nothing but still advances the
//! tick, so the timestamp keeps time across gaps, and the first packet after
//! a gap carries the marker bit (a new talkspurt, RFC 3551 section 4.1).
//! Sequence numbers count packets actually sent, so they stay continuous.
//!
//! When the shell wakes late it catches up by sending the missed packets
//! back to back, up to [`MAX_CATCH_UP`] ticks: a phone's jitter buffer
//! absorbs that. After a longer stall the missed ticks are skipped instead:
//! the audio resumes where it stopped, after a timestamp gap and with the
//! marker bit, rather than flooding the phone with stale packets.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::media::codec::Codec;
use crate::media::prompt::Prompt;
use crate::media::rtp::{self, RtpHeader, HEADER_LEN, SAMPLES_PER_PACKET};

/// Packet interval.
pub const TICK: Duration = Duration::from_millis(20);
/// Ticks a late shell may still send back to back.
pub const MAX_CATCH_UP: u64 = 5;
const FRAME: usize = SAMPLES_PER_PACKET as usize;

/// What the sender starts from; random in production, fixed in tests.
#[derive(Debug, Clone, Copy)]
pub struct SenderIds {
    pub ssrc: u32,
    pub first_sequence: u16,
    pub first_timestamp: u32,
}

impl SenderIds {
    /// Random SSRC, sequence and timestamp (RFC 3550 section 5.1: makes
    /// known-plaintext attacks harder and keeps streams apart).
    pub fn random() -> Self {
        Self {
            ssrc: rand::random(),
            first_sequence: rand::random(),
            first_timestamp: rand::random(),
        }
    }
}

/// Paces and packetizes prompts for one call.
#[derive(Debug)]
pub struct RtpSender {
    codec: Codec,
    payload_type: u8,
    ids: SenderIds,
    start: Instant,
    /// Index of the next tick to handle.
    tick: u64,
    next_sequence: u16,
    queue: VecDeque<Arc<Prompt>>,
    /// Bytes of the front prompt already sent.
    pos: usize,
    barge_in: bool,
    /// A `Play` is in progress (cleared when it ends or is stopped).
    playing: bool,
    muted: bool,
    /// The previous tick sent a packet; false means the next one starts a
    /// talkspurt.
    talking: bool,
    /// `Some(interrupted)` once a playback has ended, until taken.
    done: Option<bool>,
    skipped_ticks: u64,
    packet: [u8; HEADER_LEN + FRAME],
}

impl RtpSender {
    pub fn new(codec: Codec, payload_type: u8, ids: SenderIds, start: Instant) -> Self {
        Self {
            codec,
            payload_type,
            ids,
            start,
            tick: 0,
            next_sequence: ids.first_sequence,
            queue: VecDeque::new(),
            pos: 0,
            barge_in: false,
            playing: false,
            muted: false,
            talking: false,
            done: None,
            skipped_ticks: 0,
            packet: [0; HEADER_LEN + FRAME],
        }
    }

    /// Replace what is playing with `prompts`, played back to back. A
    /// playback that was replaced ends as interrupted.
    pub fn play(&mut self, prompts: Vec<Arc<Prompt>>, barge_in: bool) {
        if self.playing {
            self.done = Some(true);
        }
        self.queue = prompts.into();
        self.pos = 0;
        self.barge_in = barge_in;
        self.playing = true;
    }

    /// Stop playing; returns whether something was playing.
    pub fn stop(&mut self) -> bool {
        let was = self.playing;
        if was {
            self.done = Some(true);
        }
        self.queue.clear();
        self.pos = 0;
        self.playing = false;
        was
    }

    /// Whether a key press may interrupt the current playback.
    pub fn barge_in_allowed(&self) -> bool {
        self.playing && self.barge_in
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Hold: send nothing and keep the prompt position.
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// `Some(interrupted)` once per finished playback.
    pub fn take_done(&mut self) -> Option<bool> {
        self.done.take()
    }

    pub fn ssrc(&self) -> u32 {
        self.ids.ssrc
    }

    /// Ticks dropped after stalls longer than [`MAX_CATCH_UP`].
    pub fn skipped_ticks(&self) -> u64 {
        self.skipped_ticks
    }

    /// When tick `k` is due.
    pub fn deadline(&self, k: u64) -> Instant {
        self.start + Duration::from_millis(20 * k)
    }

    /// When [`RtpSender::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Instant {
        self.deadline(self.tick)
    }

    /// Handle the next due tick, if `now` has reached it. Returns the tick's
    /// deadline when it produced a packet, which [`RtpSender::packet`] then
    /// holds. Call again while [`RtpSender::poll_timeout`] `<= now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Instant> {
        if now < self.poll_timeout() {
            return None;
        }
        let behind = now
            .saturating_duration_since(self.poll_timeout())
            .as_millis() as u64
            / 20;
        if behind > MAX_CATCH_UP {
            // Too far behind: skip to the tick that is due now.
            self.tick += behind;
            self.skipped_ticks += behind;
            self.talking = false;
        }
        let k = self.tick;
        self.tick += 1;
        let sent = self.fill(k);
        self.talking = sent;
        sent.then(|| self.deadline(k))
    }

    /// The packet produced by the last successful `handle_timeout`.
    pub fn packet(&self) -> &[u8] {
        &self.packet
    }

    /// Build tick `k`'s packet in place; false when there is nothing to send.
    fn fill(&mut self, k: u64) -> bool {
        if self.muted || !self.playing {
            return false;
        }
        let silence = self.codec.silence_byte();
        let mut filled = 0;
        while filled < FRAME {
            let Some(front) = self.queue.front() else {
                break;
            };
            let src = front.payload(self.codec);
            let take = (src.len() - self.pos.min(src.len())).min(FRAME - filled);
            self.packet[HEADER_LEN + filled..HEADER_LEN + filled + take]
                .copy_from_slice(&src[self.pos..self.pos + take]);
            filled += take;
            self.pos += take;
            if self.pos >= src.len() {
                self.queue.pop_front();
                self.pos = 0;
            }
        }
        if self.queue.is_empty() {
            self.playing = false;
            self.done = Some(false);
        }
        if filled == 0 {
            return false; // an empty Play, or prompts without audio
        }
        self.packet[HEADER_LEN + filled..].fill(silence);
        let header = RtpHeader {
            marker: !self.talking,
            payload_type: self.payload_type,
            sequence: self.next_sequence,
            timestamp: self
                .ids
                .first_timestamp
                .wrapping_add((k as u32).wrapping_mul(SAMPLES_PER_PACKET)),
            ssrc: self.ids.ssrc,
        };
        self.next_sequence = self.next_sequence.wrapping_add(1);
        // The buffer is sized for the header: this cannot fail.
        rtp::write_header(&header, &mut self.packet).is_ok()
    }
}

#[cfg(test)]
#[path = "sender_tests.rs"]
mod tests;
