//! One call's media as a pure state machine: commands, datagrams and time in;
//! packets to send and [`MediaEvent`]s out. The tokio shell in `mod.rs` only
//! moves bytes and time, so every rule here is tested with explicit
//! `Instant`s and no sockets.
//!
//! Digits from the three sources become one stream here. Phones that send a
//! key both as RFC 4733 and as SIP INFO would count it twice, so a digit equal
//! to the previous one but from another source within [`DUPLICATE_WINDOW`] is
//! dropped. A digit stops the current prompt when that playback allowed
//! barge-in.
//!
//! Nothing is sent while the leg has nowhere it may send to (see
//! [`super::peer`]: before the ACK and before the peer's first packet, or
//! with a strict remote-address policy): the sender is held like on hold,
//! so a prompt starts when sending becomes allowed instead of playing to
//! nobody.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::media::codec::Codec;
use crate::media::dtmf::{DtmfDigit, DtmfSource};
use crate::media::rtp::{RtpHeader, RtpPacket};

use super::peer::PeerRules;
use super::receiver::{ReceiveStats, RtpReceiver};
use super::sender::{RtpSender, SenderIds};
use super::{MediaCommand, MediaEvent, SessionConfig};

/// Same key from a second source within this time is the same press.
pub const DUPLICATE_WINDOW: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub struct SessionCore {
    sender: RtpSender,
    receiver: RtpReceiver,
    /// Pending events; reused, drained by the shell.
    events: Vec<MediaEvent>,
    last_digit: Option<(DtmfDigit, Instant)>,
    closed: bool,
    codec: Codec,
    payload_type: u8,
    event_pt: Option<u8>,
    /// Bridged: SIP INFO digits are kept for the other leg.
    bridged: bool,
    /// On hold (the offer said so, or `Hold`).
    held: bool,
    keys_out: Option<DtmfDigit>,
}

impl SessionCore {
    /// A session whose first packet slot is `now`, with random RTP ids,
    /// exchanging media with the SDP address only ([`PeerRules::sdp_only`]).
    pub fn new(config: &SessionConfig, now: Instant) -> Self {
        Self::with_rules(config, PeerRules::sdp_only(), now, SenderIds::random())
    }

    /// As [`SessionCore::new`] with chosen ids (tests).
    pub fn with_ids(config: &SessionConfig, now: Instant, ids: SenderIds) -> Self {
        Self::with_rules(config, PeerRules::sdp_only(), now, ids)
    }

    /// A session whose peer is checked against `rules`.
    pub fn with_rules(
        config: &SessionConfig,
        rules: PeerRules,
        now: Instant,
        ids: SenderIds,
    ) -> Self {
        let mut receiver = RtpReceiver::new(
            config.codec,
            config.payload_type,
            config.telephone_event,
            config.remote,
            rules,
            config.rtp_timeout,
            now,
        );
        let mut sender = RtpSender::new(config.codec, config.payload_type, ids, now);
        sender.set_event_pt(config.telephone_event);
        if config.start_on_hold {
            receiver.set_held(true, now);
        }
        let mut core = Self {
            sender,
            receiver,
            events: Vec::with_capacity(4),
            last_digit: None,
            closed: false,
            codec: config.codec,
            payload_type: config.payload_type,
            event_pt: config.telephone_event,
            bridged: false,
            held: config.start_on_hold,
            keys_out: None,
        };
        core.gate();
        core
    }

    /// Hold the sender while on hold or while there is nowhere to send.
    fn gate(&mut self) {
        let closed = self.held || self.receiver.target().is_none();
        self.sender.set_muted(closed);
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The codec's payload type on this leg.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// This leg's telephone-event payload type, if negotiated.
    pub fn event_pt(&self) -> Option<u8> {
        self.event_pt
    }

    /// Enter or leave a bridge. Entering stops what plays (a
    /// `PlaybackDone { interrupted: true }` if something did); leaving
    /// forgets the relay numbering and pending generated keys.
    pub fn set_bridged(&mut self, bridged: bool) {
        self.bridged = bridged;
        self.keys_out = None;
        if bridged {
            self.sender.stop();
        } else {
            self.sender.end_relay();
        }
        self.collect();
    }

    /// A SIP INFO digit accepted while bridged, for the other leg.
    pub fn take_key(&mut self) -> Option<DtmfDigit> {
        self.keys_out.take()
    }

    /// Queue an RFC 4733 key press on this leg (from the other leg).
    pub fn send_key(&mut self, digit: DtmfDigit) -> bool {
        self.sender.send_key(digit)
    }

    /// The header under which a packet from the other leg goes out on this
    /// leg, or `None` when this leg must not carry it now (held, playing
    /// its own prompt, sending a key).
    pub fn map_relayed(&mut self, now: Instant, h: &RtpHeader, pt: u8) -> Option<RtpHeader> {
        self.sender.map_relayed(now, h, pt)
    }

    /// Like [`Self::handle_datagram`], returning the accepted packet (and
    /// whether it is a telephone-event) for a bridge to relay.
    pub fn receive<'b>(
        &mut self,
        now: Instant,
        bytes: &'b [u8],
        src: SocketAddr,
    ) -> Option<(RtpPacket<'b>, bool)> {
        let got = self
            .receiver
            .handle_datagram(now, bytes, src, &mut self.events);
        self.digits(now);
        self.gate();
        got
    }

    /// Apply a command. After `Close` the session is over ([`Self::is_closed`]).
    pub fn handle_command(&mut self, now: Instant, cmd: MediaCommand) {
        match cmd {
            MediaCommand::Play { prompts, barge_in } => self.sender.play(prompts, barge_in),
            MediaCommand::PlayLoop { prompts } => self.sender.play_loop(prompts),
            MediaCommand::StopPlayback => {
                self.sender.stop();
            }
            MediaCommand::SetRemote(addr) => self.receiver.set_remote(addr),
            MediaCommand::Confirmed => self.receiver.confirm(),
            MediaCommand::Hold => {
                self.held = true;
                self.receiver.set_held(true, now);
            }
            MediaCommand::Resume => {
                self.held = false;
                self.receiver.set_held(false, now);
            }
            MediaCommand::StartRecording(path) => {
                if let Err(ev) = self.receiver.start_recording(path) {
                    self.events.push(ev);
                }
            }
            MediaCommand::StopRecording => self.receiver.stop_recording(&mut self.events),
            MediaCommand::InjectDigit(d) => self.on_digit(now, d),
            MediaCommand::Close => {
                self.sender.stop();
                self.receiver.stop_recording(&mut self.events);
                self.closed = true;
            }
        }
        self.gate();
        self.collect();
    }

    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8], src: SocketAddr) {
        self.receiver
            .handle_datagram(now, bytes, src, &mut self.events);
        self.digits(now);
        self.gate();
    }

    /// The next instant something is due: a packet slot (every 20 ms, which
    /// is also when the shell reads the socket) or a receive timeout.
    pub fn poll_timeout(&self) -> Instant {
        let tick = self.sender.poll_timeout();
        self.receiver.poll_timeout().map_or(tick, |t| t.min(tick))
    }

    /// Run receive-side timers (RTP timeout, telephone-event end).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.receiver.handle_timeout(now, &mut self.events);
        self.digits(now);
    }

    /// The next packet due by `now`: its deadline; the bytes are in
    /// [`Self::packet`] and go to [`Self::remote`] (which is `Some` whenever
    /// a packet is produced). Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Instant> {
        while self.sender.poll_timeout() <= now {
            let due = self.sender.handle_timeout(now);
            self.collect();
            if due.is_some() {
                return due;
            }
        }
        None
    }

    pub fn packet(&self) -> &[u8] {
        self.sender.packet()
    }

    /// Where this leg's packets go now; `None` while nothing may be sent.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.receiver.target()
    }

    /// The peer's latched address, if any packet latched yet.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.receiver.peer().latched()
    }

    /// Events produced so far, oldest first.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, MediaEvent> {
        self.events.drain(..)
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn receive_stats(&self) -> ReceiveStats {
        self.receiver.stats()
    }

    pub fn ssrc(&self) -> u32 {
        self.sender.ssrc()
    }

    fn digits(&mut self, now: Instant) {
        while let Some(d) = self.receiver.pop_digit() {
            self.on_digit(now, d);
        }
        self.collect();
    }

    fn on_digit(&mut self, now: Instant, d: DtmfDigit) {
        if let Some((last, at)) = self.last_digit {
            let dup = last.digit == d.digit
                && last.source != d.source
                && now.saturating_duration_since(at) < DUPLICATE_WINDOW;
            if dup {
                tracing::debug!(digit = %d.digit, ?d.source, "same key from a second DTMF source; dropped");
                return;
            }
        }
        self.last_digit = Some((d, now));
        if self.bridged && d.source == DtmfSource::SipInfo {
            // RFC 4733 packets are relayed as they come; in-band tones are
            // in the relayed audio. INFO digits must be generated.
            self.keys_out = Some(d);
        }
        let barge = self.sender.barge_in_allowed();
        self.events.push(MediaEvent::Digit(d));
        if barge {
            self.sender.stop();
        }
    }

    /// Move a finished playback into the event list.
    fn collect(&mut self) {
        if let Some(interrupted) = self.sender.take_done() {
            self.events.push(MediaEvent::PlaybackDone { interrupted });
        }
    }
}
