//! The receiving half of a call's media (sans-io): symmetric RTP, the RTP
//! timeout, DTMF from telephone-event or in-band tones, and the recorder.
//!
//! Symmetric RTP: phones behind NAT send from an address other than the one
//! in their SDP, and only packets sent back to that address get through. The
//! first valid RTP packet of the negotiated payload types from an address
//! the call names fixes ("latches") where we send; packets from anywhere
//! else are dropped and counted, so a stranger cannot inject audio or key
//! presses ([`PeerGuard`] has the rules). A re-INVITE naming a new address
//! (`SetRemote`) unlatches.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::media::codec::Codec;
use crate::media::dtmf::inband::InbandDetector;
use crate::media::dtmf::rfc4733::{EventPacket, Rfc4733Decoder};
use crate::media::dtmf::DtmfDigit;
use crate::media::record::{Layout, Recorder};
use crate::media::rtp::{self, RtpPacket, COMFORT_NOISE_PT, SAMPLES_PER_PACKET};

use super::peer::{PeerGuard, PeerRules};
use super::MediaEvent;

const FRAME: usize = SAMPLES_PER_PACKET as usize;

/// Counters for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveStats {
    pub packets: u64,
    pub malformed: u64,
    /// From an address the call does not name (before the latch), or
    /// other than the latched one (after it): dropped.
    pub foreign: u64,
    /// Payload types that are neither the codec nor telephone-event.
    pub other_pt: u64,
}

/// See the module documentation.
pub struct RtpReceiver {
    codec: Codec,
    payload_type: u8,
    event_pt: Option<u8>,
    peer: PeerGuard,
    timeout: Duration,
    last_rx: Instant,
    timed_out: bool,
    held: bool,
    rfc4733: Option<Rfc4733Decoder>,
    /// Boxed: only calls without telephone-event pay for its buffers.
    inband: Option<Box<InbandDetector>>,
    recorder: Option<Recorder>,
    pcm: [i16; FRAME],
    digits: VecDeque<DtmfDigit>,
    stats: ReceiveStats,
}

impl std::fmt::Debug for RtpReceiver {
    // By hand: the recorder holds a file writer without `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpReceiver")
            .field("peer", &self.peer)
            .field("held", &self.held)
            .field("recording", &self.recorder.is_some())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl RtpReceiver {
    pub fn new(
        codec: Codec,
        payload_type: u8,
        event_pt: Option<u8>,
        remote: SocketAddr,
        rules: PeerRules,
        timeout: Duration,
        now: Instant,
    ) -> Self {
        Self {
            codec,
            payload_type,
            event_pt,
            peer: PeerGuard::new(remote, rules),
            timeout,
            last_rx: now,
            timed_out: false,
            held: false,
            rfc4733: event_pt.map(|_| Rfc4733Decoder::new(codec.clock_rate())),
            // In-band detection only when the phone cannot send events:
            // otherwise the tones are usually removed from the audio anyway,
            // and detecting both would count each key twice.
            inband: event_pt.is_none().then(|| Box::new(InbandDetector::new())),
            recorder: None,
            pcm: [0; FRAME],
            digits: VecDeque::with_capacity(4),
            stats: ReceiveStats::default(),
        }
    }

    /// Where to send: the latched source, else the SDP address once the
    /// rules allow it; `None`: nowhere yet.
    pub fn target(&self) -> Option<SocketAddr> {
        self.peer.target()
    }

    pub fn peer(&self) -> &PeerGuard {
        &self.peer
    }

    /// The dialog is confirmed (ACK): the SDP address may be sent to.
    pub fn confirm(&mut self) {
        self.peer.confirm();
    }

    pub fn stats(&self) -> ReceiveStats {
        self.stats
    }

    /// A re-INVITE moved the caller's media: expect it there and latch
    /// afresh.
    pub fn set_remote(&mut self, remote: SocketAddr) {
        self.peer.set_sdp(remote);
    }

    /// On hold the caller may send nothing, so the RTP timeout is off; on
    /// resume the caller gets a full timeout period again.
    pub fn set_held(&mut self, held: bool, now: Instant) {
        self.held = held;
        self.last_rx = now;
        self.timed_out = false;
    }

    pub fn start_recording(&mut self, path: PathBuf) -> Result<(), MediaEvent> {
        self.stop_recording(&mut Vec::new());
        let rec = Recorder::create(path, Layout::Mono).map_err(MediaEvent::RecordingError)?;
        self.recorder = Some(rec);
        Ok(())
    }

    /// Finish the recording, if any, pushing its outcome to `events`.
    pub fn stop_recording(&mut self, events: &mut Vec<MediaEvent>) {
        if let Some(rec) = self.recorder.take() {
            events.push(match rec.finish() {
                Ok(done) => MediaEvent::RecordingStopped(done),
                Err(e) => MediaEvent::RecordingError(e),
            });
        }
    }

    /// One datagram from `src`. Digits found are appended to `digits()`;
    /// recording errors to `events`. Returns the packet when it was
    /// accepted (latched source, negotiated payload type), with whether it
    /// is a telephone-event, for a bridge to relay.
    pub fn handle_datagram<'b>(
        &mut self,
        now: Instant,
        bytes: &'b [u8],
        src: SocketAddr,
        events: &mut Vec<MediaEvent>,
    ) -> Option<(RtpPacket<'b>, bool)> {
        let packet = match rtp::parse(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                tracing::debug!(%src, error = %e, "dropping a malformed RTP packet");
                return None;
            }
        };
        if !self.peer.admits(src) {
            self.stats.foreign += 1;
            if self.stats.foreign == 1 {
                tracing::info!(%src, sdp = %self.peer.sdp(), latched = ?self.peer.latched(),
                    "RTP from an address the call does not name: dropped (counted from now on)");
            }
            return None;
        }
        let pt = packet.header.payload_type;
        let is_event = self.event_pt == Some(pt);
        if pt != self.payload_type && !is_event {
            if pt != COMFORT_NOISE_PT {
                self.stats.other_pt += 1;
            }
            return None;
        }
        if self.peer.latch(src) && src != self.peer.sdp() {
            tracing::info!(sdp = %self.peer.sdp(), actual = %src, "symmetric RTP: sending to the packets' source");
        }
        self.stats.packets += 1;
        self.last_rx = now;
        self.timed_out = false;
        if is_event {
            if let Some(dec) = self.rfc4733.as_mut() {
                let ev = EventPacket {
                    timestamp: packet.header.timestamp,
                    marker: packet.header.marker,
                    seq: packet.header.sequence,
                    payload: packet.payload,
                };
                if let Err(e) = dec.handle_packet(now, ev) {
                    tracing::debug!(error = %e, "telephone-event packet ignored");
                }
                self.digits.extend(std::iter::from_fn(|| dec.poll_output()));
            }
            return Some((packet, true));
        }
        if self.inband.is_none() && self.recorder.is_none() {
            return Some((packet, false)); // nobody here needs the audio
        }
        for chunk in packet.payload.chunks(FRAME) {
            let n = self.codec.decode(chunk, &mut self.pcm);
            let pcm = &self.pcm[..n];
            if let Some(det) = self.inband.as_mut() {
                det.handle_audio(pcm);
                self.digits.extend(std::iter::from_fn(|| det.poll_output()));
            }
            if let Some(rec) = self.recorder.as_mut() {
                if let Err(e) = rec.write_mono(pcm) {
                    // A full disk stops the recording, never the call.
                    tracing::warn!(error = %e, "recording stopped");
                    events.push(MediaEvent::RecordingError(e));
                    self.stop_recording(events);
                }
            }
        }
        Some((packet, false))
    }

    /// The oldest digit not yet taken.
    pub fn pop_digit(&mut self) -> Option<DtmfDigit> {
        self.digits.pop_front()
    }

    /// The earliest of the RTP timeout and the telephone-event end timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let rtp = (!self.held && !self.timed_out).then(|| self.last_rx + self.timeout);
        let dtmf = self.rfc4733.as_ref().and_then(Rfc4733Decoder::poll_timeout);
        match (rtp, dtmf) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, events: &mut Vec<MediaEvent>) {
        if let Some(dec) = self.rfc4733.as_mut() {
            dec.handle_timeout(now);
            self.digits.extend(std::iter::from_fn(|| dec.poll_output()));
        }
        if !self.held && !self.timed_out && now >= self.last_rx + self.timeout {
            self.timed_out = true;
            events.push(MediaEvent::RtpTimeout {
                silent_for: now.saturating_duration_since(self.last_rx),
            });
        }
    }
}
