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
//! `play_loop` repeats its prompts until replaced or stopped (music on
//! hold); its playback ends only as interrupted.
//!
//! Bridged, the sender also numbers packets relayed from the other leg
//! ([`RtpSender::map_relayed`]): the other phone's sequence numbers and
//! timestamps are shifted onto this leg's, anchored at the first relayed
//! packet so that they continue from what this leg sent last and from this
//! leg's clock. Whatever this leg sends afterwards (a prompt after the
//! bridge) continues from the relayed numbers in turn: one SSRC, sequence
//! numbers without a jump and timestamps that never go back. RFC 4733
//! key presses injected on the other leg are generated here, on the tick.
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
use crate::media::dtmf::{digit_to_event, DtmfDigit};
use crate::media::prompt::Prompt;
use crate::media::rtp::{self, RtpHeader, HEADER_LEN, SAMPLES_PER_PACKET};

/// Packet interval.
pub const TICK: Duration = Duration::from_millis(20);
/// Ticks a late shell may still send back to back.
pub const MAX_CATCH_UP: u64 = 5;
const FRAME: usize = SAMPLES_PER_PACKET as usize;
/// A relayed sequence number this far from the last one re-anchors (the
/// other phone restarted its stream).
const SEQ_JUMP: i16 = 1000;
/// Length of a generated key press when its source did not say.
const DEFAULT_KEY_MS: u32 = 100;
/// Generated key presses waiting to be sent, at most.
const KEYS_QUEUED: usize = 8;

/// How relayed packets are renumbered onto this leg.
#[derive(Debug, Clone, Copy)]
struct RelayMap {
    src_ssrc: u32,
    last_in_seq: u16,
    seq_offset: u16,
    ts_offset: u32,
}

/// An RFC 4733 key press being generated, one packet per tick.
#[derive(Debug, Clone, Copy)]
struct KeyOut {
    event: u8,
    /// Timestamp of the event's start (the same in all its packets).
    timestamp: u32,
    /// Ticks sent so far.
    sent: u32,
    /// Ticks of tone, then three end packets.
    ticks: u32,
}

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
    packet_len: usize,
    /// The prompts of a `play_loop`, played again when the queue runs out.
    looped: Option<Vec<Arc<Prompt>>>,
    /// Telephone-event payload type of this leg, for generated key presses.
    event_pt: Option<u8>,
    /// Added to the clock's timestamps so they never go back after relayed
    /// packets (whose timing follows the other phone's clock).
    ts_adjust: u32,
    /// Timestamp of the last packet sent, own or relayed.
    last_ts: Option<u32>,
    relay: Option<RelayMap>,
    keys: VecDeque<DtmfDigit>,
    key: Option<KeyOut>,
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
            packet_len: HEADER_LEN + FRAME,
            looped: None,
            event_pt: None,
            ts_adjust: 0,
            last_ts: None,
            relay: None,
            keys: VecDeque::with_capacity(KEYS_QUEUED),
            key: None,
        }
    }

    /// This leg's telephone-event payload type (`None`: no key presses
    /// can be generated).
    pub fn set_event_pt(&mut self, pt: Option<u8>) {
        self.event_pt = pt;
    }

    /// Play `prompts` over and over until replaced or stopped; the
    /// playback then ends as interrupted. A list without audio plays as an
    /// empty `play` (done at once).
    pub fn play_loop(&mut self, prompts: Vec<Arc<Prompt>>) {
        let audible = prompts.iter().any(|p| !p.payload(self.codec).is_empty());
        self.play(prompts.clone(), false);
        if audible {
            self.looped = Some(prompts);
        }
    }

    /// Whether a `play_loop` is what plays now.
    pub fn is_looping(&self) -> bool {
        self.playing && self.looped.is_some()
    }

    /// Replace what is playing with `prompts`, played back to back. A
    /// playback that was replaced ends as interrupted.
    pub fn play(&mut self, prompts: Vec<Arc<Prompt>>, barge_in: bool) {
        if self.playing {
            self.done = Some(true);
        }
        self.looped = None;
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
        self.looped = None;
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

    /// Queue an RFC 4733 key press (from the other leg of a bridge). Sent
    /// on the following ticks; dropped when this leg has no telephone-event
    /// or too many are queued. Returns whether it was queued.
    pub fn send_key(&mut self, digit: DtmfDigit) -> bool {
        if self.event_pt.is_none()
            || digit_to_event(digit.digit).is_none()
            || self.keys.len() >= KEYS_QUEUED
        {
            return false;
        }
        self.keys.push_back(digit);
        true
    }

    /// A key press is being generated (relayed audio waits meanwhile).
    pub fn sending_key(&self) -> bool {
        self.key.is_some() || !self.keys.is_empty()
    }

    /// The header for a packet relayed from the other leg, numbered onto
    /// this leg, with payload type `pt`; `None` when this leg must not
    /// carry it now (on hold, playing its own prompt, sending a key).
    pub fn map_relayed(&mut self, now: Instant, h: &RtpHeader, pt: u8) -> Option<RtpHeader> {
        if self.muted || self.playing || self.sending_key() {
            return None;
        }
        let fresh = match self.relay {
            None => true,
            Some(m) => {
                m.src_ssrc != h.ssrc
                    || (h.sequence.wrapping_sub(m.last_in_seq) as i16).abs() >= SEQ_JUMP
            }
        };
        if fresh {
            // Continue from what this leg sent last and from its clock.
            let mut ts = self.clock_ts(now);
            if let Some(last) = self.last_ts {
                if (ts.wrapping_sub(last) as i32) <= 0 {
                    ts = last.wrapping_add(SAMPLES_PER_PACKET);
                }
            }
            self.relay = Some(RelayMap {
                src_ssrc: h.ssrc,
                last_in_seq: h.sequence,
                seq_offset: self.next_sequence.wrapping_sub(h.sequence),
                ts_offset: ts.wrapping_sub(h.timestamp),
            });
        }
        let map = self.relay.as_mut()?;
        if (h.sequence.wrapping_sub(map.last_in_seq) as i16) > 0 {
            map.last_in_seq = h.sequence;
        }
        let out = RtpHeader {
            marker: h.marker || fresh,
            payload_type: pt,
            sequence: h.sequence.wrapping_add(map.seq_offset),
            timestamp: h.timestamp.wrapping_add(map.ts_offset),
            ssrc: self.ids.ssrc,
        };
        if (out.sequence.wrapping_sub(self.next_sequence) as i16) >= 0 {
            self.next_sequence = out.sequence.wrapping_add(1);
        }
        match self.last_ts {
            Some(last) if (out.timestamp.wrapping_sub(last) as i32) <= 0 => {}
            _ => self.last_ts = Some(out.timestamp),
        }
        // Our own next packet starts a talkspurt.
        self.talking = false;
        Some(out)
    }

    /// Forget the relay numbering: the next relayed packet re-anchors.
    pub fn end_relay(&mut self) {
        self.relay = None;
        self.keys.clear();
    }

    /// This leg's clock at `now`, in timestamp units.
    fn clock_ts(&self, now: Instant) -> u32 {
        let samples = now.saturating_duration_since(self.start).as_micros() as u64 * 8 / 1000;
        self.ids
            .first_timestamp
            .wrapping_add(self.ts_adjust)
            .wrapping_add(samples as u32)
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
        // Audio after a key press starts a talkspurt.
        self.talking = sent && self.packet_len == HEADER_LEN + FRAME;
        sent.then(|| self.deadline(k))
    }

    /// The packet produced by the last successful `handle_timeout`.
    pub fn packet(&self) -> &[u8] {
        &self.packet[..self.packet_len]
    }

    /// Build tick `k`'s packet in place; false when there is nothing to send.
    fn fill(&mut self, k: u64) -> bool {
        if self.muted {
            return false;
        }
        if self.key.is_none() {
            if let Some(d) = self.keys.pop_front() {
                let ms = if d.duration_ms == 0 {
                    DEFAULT_KEY_MS
                } else {
                    d.duration_ms.clamp(40, 2000)
                };
                self.key = Some(KeyOut {
                    event: digit_to_event(d.digit).unwrap_or(0),
                    timestamp: self.tick_ts(k),
                    sent: 0,
                    ticks: ms.div_ceil(20),
                });
            }
        }
        if self.key.is_some() {
            return self.fill_key();
        }
        if !self.playing {
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
                if self.queue.is_empty() {
                    if let Some(list) = &self.looped {
                        // Capacity is kept: refilling does not allocate.
                        self.queue.extend(list.iter().cloned());
                    }
                }
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
        let timestamp = self.tick_ts(k);
        self.write(self.payload_type, !self.talking, timestamp);
        self.packet_len = HEADER_LEN + FRAME;
        true
    }

    /// One packet of the key press being generated (RFC 4733 section 2.5:
    /// the start with the marker, updates with a growing duration, the end
    /// packet three times, all with the event's start timestamp).
    fn fill_key(&mut self) -> bool {
        let (Some(mut key), Some(pt)) = (self.key, self.event_pt) else {
            self.key = None;
            return false;
        };
        let end = key.sent >= key.ticks;
        let duration = (key.ticks.min(key.sent + 1) * SAMPLES_PER_PACKET).min(u32::from(u16::MAX));
        let d = (duration as u16).to_be_bytes();
        // Volume 10 (-10 dBm0), E bit on the end packets.
        let flags = if end { 0x80 | 10 } else { 10 };
        self.packet[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&[key.event, flags, d[0], d[1]]);
        self.write(pt, key.sent == 0, key.timestamp);
        self.packet_len = HEADER_LEN + 4;
        key.sent += 1;
        self.key = (key.sent < key.ticks + 3).then_some(key);
        true
    }

    /// The timestamp of tick `k`, never at or before the last one sent.
    fn tick_ts(&mut self, k: u64) -> u32 {
        let mut ts = self
            .ids
            .first_timestamp
            .wrapping_add(self.ts_adjust)
            .wrapping_add((k as u32).wrapping_mul(SAMPLES_PER_PACKET));
        if let Some(last) = self.last_ts {
            if (ts.wrapping_sub(last) as i32) <= 0 {
                let bump = last.wrapping_add(SAMPLES_PER_PACKET).wrapping_sub(ts);
                self.ts_adjust = self.ts_adjust.wrapping_add(bump);
                ts = ts.wrapping_add(bump);
            }
        }
        ts
    }

    fn write(&mut self, payload_type: u8, marker: bool, timestamp: u32) {
        let header = RtpHeader {
            marker,
            payload_type,
            sequence: self.next_sequence,
            timestamp,
            ssrc: self.ids.ssrc,
        };
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.last_ts = Some(timestamp);
        // An own packet ends the relay numbering: relayed packets re-anchor.
        self.relay = None;
        // The buffer is sized for the header: this cannot fail.
        let _ = rtp::write_header(&header, &mut self.packet);
    }
}

#[cfg(test)]
#[path = "sender_tests.rs"]
mod tests;
