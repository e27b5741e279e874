//! The relay of a bridged call: the caller's leg and the agent's leg, run
//! by one task (the caller's session task) that owns both sockets and the
//! recorder.
//!
//! Why one task: a packet from one leg goes out on the other in the same
//! wake-up, from the receive buffer, with no channel hop, no second task
//! to wake and no copy into a frame queue; the recorder sees both legs on
//! one clock. [`bridge`] asks the agent's task to lend its leg (socket,
//! core, command and event channels: the agent's [`MediaHandle`] keeps
//! working, its commands now reach this task) and gives the caller's task
//! the bridge; [`BridgeHandle::stop`] (or dropping it) hands the leg back
//! and both sessions go on alone, their numbering intact.
//!
//! Latency: alone, a session reads its socket on the 20 ms send tick (an
//! IVR does not notice 20 ms). Bridged, that would add up to 20 ms per
//! direction, so both sockets are registered for readiness and each
//! datagram is relayed as it arrives: added latency is the wake-up and one
//! `send_to`.
//!
//! Relay rules ([`BridgeCore`], sans-io):
//! - audio: same codec, the payload is copied as it is; PCMU against PCMA,
//!   each byte goes through a 256-entry table (G.711 to G.711 conversion
//!   is a per-byte mapping, no linear buffer needed);
//! - header: this leg's SSRC, the other phone's sequence and timestamp
//!   shifted onto this leg's (see the sender), so a phone's jitter buffer
//!   sees one continuous stream from the first prompt to the last;
//! - RFC 4733 packets: relayed with the receiving leg's telephone-event
//!   payload type (dropped when that leg has none: its audio may still
//!   carry the tones); a SIP INFO digit on one leg is generated as RFC 4733
//!   on the other. Digits keep being reported as `MediaEvent::Digit` by
//!   both legs;
//! - a leg on hold (`Hold`) gets nothing; a leg playing its own prompt or
//!   loop (music on hold while the other side holds) hears that instead of
//!   the other leg until it stops;
//! - recording: see [`super::tap`].

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant as StdInstant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::core::SessionCore;
use super::sender::TICK;
use super::stats::Lateness;
use super::tap::{Side, StereoTap, TapStats, Target};
use super::{Back, Leg, MediaCommand, MediaError, MediaHandle, Msg, MAX_READS_PER_WAKE};
use crate::media::codec::Codec;
use crate::media::rtp::{self, HEADER_LEN, MAX_PACKET, SAMPLES_PER_PACKET};

const FRAME: usize = SAMPLES_PER_PACKET as usize;

/// Why a bridge ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BridgeEnd {
    /// `BridgeHandle::stop` or the handle dropped.
    #[default]
    Stopped,
    /// The caller's session got `Close`: the agent's session goes on alone.
    CallerClosed,
    /// The agent's session got `Close`: the caller's goes on alone.
    AgentClosed,
}

/// What a bridge did.
#[derive(Debug, Clone, Default)]
pub struct BridgeReport {
    pub end: BridgeEnd,
    /// Packets relayed caller to agent, and agent to caller.
    pub to_agent: u64,
    pub to_caller: u64,
    /// Packets not relayed because the receiving leg was held, playing its
    /// own audio, sending a key, or could not carry telephone-event.
    pub withheld: u64,
    /// SIP INFO digits generated as RFC 4733 on the other leg.
    pub keys_generated: u64,
    /// From reading a datagram to `send_to` returning on the other leg.
    pub relay_latency: Lateness,
    pub recording: Option<TapStats>,
}

/// The relay's rules as a pure state machine; see the module documentation.
pub struct BridgeCore {
    /// Payload byte maps caller to agent and agent to caller (`None`: same
    /// codec, copied as is).
    to_agent: Option<[u8; 256]>,
    to_caller: Option<[u8; 256]>,
    caller_codec: Codec,
    agent_codec: Codec,
    out: [u8; MAX_PACKET],
    pcm: [i16; FRAME],
    tap: Option<StereoTap>,
    start: StdInstant,
    tick: u64,
    report: BridgeReport,
}

impl std::fmt::Debug for BridgeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeCore")
            .field("caller_codec", &self.caller_codec)
            .field("agent_codec", &self.agent_codec)
            .field("tap", &self.tap)
            .finish_non_exhaustive()
    }
}

fn byte_map(from: Codec, to: Codec) -> Option<[u8; 256]> {
    if from == to {
        return None;
    }
    let mut map = [0u8; 256];
    for (b, m) in map.iter_mut().enumerate() {
        *m = to.encode_sample(from.decode_sample(b as u8));
    }
    Some(map)
}

impl BridgeCore {
    /// A bridge between two legs, starting its recording clock at `now`.
    pub fn new(
        caller: &SessionCore,
        agent: &SessionCore,
        tap: Option<StereoTap>,
        now: StdInstant,
    ) -> Self {
        Self {
            to_agent: byte_map(caller.codec(), agent.codec()),
            to_caller: byte_map(agent.codec(), caller.codec()),
            caller_codec: caller.codec(),
            agent_codec: agent.codec(),
            out: [0; MAX_PACKET],
            pcm: [0; FRAME],
            tap,
            start: now,
            tick: 1,
            report: BridgeReport::default(),
        }
    }

    /// One datagram received on `from`'s socket. Returns the packet to send
    /// to the other leg's remote address, if any.
    pub fn handle_datagram(
        &mut self,
        now: StdInstant,
        from: Side,
        bytes: &[u8],
        src: SocketAddr,
        caller: &mut SessionCore,
        agent: &mut SessionCore,
    ) -> Option<&[u8]> {
        let (rx, tx, map, codec) = match from {
            Side::Caller => (caller, agent, &self.to_agent, self.caller_codec),
            Side::Agent => (agent, caller, &self.to_caller, self.agent_codec),
        };
        let (packet, is_event) = rx.receive(now, bytes, src)?;
        let pt = if is_event {
            tx.event_pt()
        } else {
            if let Some(tap) = self.tap.as_mut() {
                for chunk in packet.payload.chunks(FRAME) {
                    let n = codec.decode(chunk, &mut self.pcm);
                    tap.push(from, &self.pcm[..n]);
                }
            }
            Some(tx.payload_type())
        };
        let Some(header) = pt.and_then(|pt| tx.map_relayed(now, &packet.header, pt)) else {
            self.report.withheld += 1;
            return None;
        };
        let len = HEADER_LEN + packet.payload.len();
        if len > self.out.len() {
            return None; // cannot happen: the datagram fit the same size
        }
        let _ = rtp::write_header(&header, &mut self.out);
        let body = &mut self.out[HEADER_LEN..len];
        match map {
            Some(map) if !is_event => {
                for (o, &b) in body.iter_mut().zip(packet.payload) {
                    *o = map[usize::from(b)];
                }
            }
            _ => body.copy_from_slice(packet.payload),
        }
        match from {
            Side::Caller => self.report.to_agent += 1,
            Side::Agent => self.report.to_caller += 1,
        }
        Some(&self.out[..len])
    }

    /// SIP INFO digits taken on either leg go out as RFC 4733 on the other.
    pub fn forward_keys(&mut self, caller: &mut SessionCore, agent: &mut SessionCore) {
        if let Some(d) = caller.take_key() {
            self.report.keys_generated += u64::from(agent.send_key(d));
        }
        if let Some(d) = agent.take_key() {
            self.report.keys_generated += u64::from(caller.send_key(d));
        }
    }

    /// The next recording tick, when recording.
    pub fn poll_timeout(&self) -> Option<StdInstant> {
        self.tap
            .as_ref()
            .filter(|t| t.is_recording())
            .map(|_| self.start + TICK * self.tick as u32)
    }

    /// Append a stereo frame for every tick due by `now`. After a stall of
    /// more than a second the missed ticks are skipped (no flood of
    /// silence).
    pub fn handle_timeout(&mut self, now: StdInstant) {
        let Some(tap) = self.tap.as_mut() else {
            return;
        };
        let due = now.saturating_duration_since(self.start).as_millis() as u64 / 20;
        if due > self.tick + 50 {
            self.tick = due - 50;
        }
        while self.tick <= due {
            tap.tick();
            self.tick += 1;
        }
    }

    /// Record how long a relay took (read to sent).
    pub fn record_latency(&mut self, took: Duration) {
        self.report.relay_latency.record(took);
    }

    /// End the bridge: the recording is closed (its outcome arrives as an
    /// event on the caller's channel).
    pub fn finish(mut self) -> BridgeReport {
        if let Some(tap) = self.tap.take() {
            self.report.recording = Some(tap.stats());
            tap.finish();
        }
        self.report
    }
}

/// What the agent's leg and the caller's task need to run a bridge.
pub(crate) struct Adopt {
    other: Leg,
    back: oneshot::Sender<Back>,
    recording: Option<Target>,
    stop: oneshot::Receiver<()>,
    ack: oneshot::Sender<Result<(), MediaError>>,
    ended: oneshot::Sender<BridgeReport>,
}

impl Adopt {
    /// Not bridging after all: the leg goes back to its task.
    pub(crate) fn refuse(self, why: MediaError) {
        let _ = self.back.send(Back::Leg(Box::new(self.other)));
        let _ = self.ack.send(Err(why));
    }
}

/// A running bridge. Dropping it stops the bridge like [`BridgeHandle::stop`]
/// (without waiting).
#[derive(Debug)]
pub struct BridgeHandle {
    stop: Option<oneshot::Sender<()>>,
    ended: oneshot::Receiver<BridgeReport>,
}

impl BridgeHandle {
    /// Stop relaying and wait until both sessions run on their own again
    /// (the caller's can play a prompt at once). Returns what the bridge
    /// did; a bridge that had already ended (a leg closed) reports that.
    pub async fn stop(mut self) -> BridgeReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.ended).await.unwrap_or_default()
    }
}

/// Bridge two running sessions: the caller's and the agent's. Their
/// current playback stops; from then on each leg hears the other (see the
/// module documentation for the rules). With `recording`, both legs go
/// into one stereo WAV (caller left, agent right, mode 0600); its outcome
/// arrives on the caller's events as `RecordingStopped` (layout `Stereo`)
/// or `RecordingError`. Fails when a session has ended or is already in a
/// bridge.
pub async fn bridge(
    caller: &MediaHandle,
    agent: &MediaHandle,
    recording: Option<PathBuf>,
) -> Result<BridgeHandle, MediaError> {
    bridge_to(caller, agent, recording.map(Target::Path)).await
}

/// [`bridge`] recording into any [`Target`] (tests use a storage that runs
/// out of space).
pub async fn bridge_to(
    caller: &MediaHandle,
    agent: &MediaHandle,
    recording: Option<Target>,
) -> Result<BridgeHandle, MediaError> {
    if caller.tx.same_channel(&agent.tx) {
        return Err(MediaError::Busy);
    }
    let (give, given) = oneshot::channel();
    agent
        .tx
        .send(Msg::Detach(give))
        .await
        .map_err(|_| MediaError::Closed)?;
    let (other, back) = given.await.map_err(|_| MediaError::Closed)??;
    let (stop_tx, stop) = oneshot::channel();
    let (ack, acked) = oneshot::channel();
    let (ended, ended_rx) = oneshot::channel();
    let adopt = Box::new(Adopt {
        other,
        back,
        recording,
        stop,
        ack,
        ended,
    });
    if let Err(e) = caller.tx.send(Msg::Adopt(adopt)).await {
        if let Msg::Adopt(adopt) = e.0 {
            adopt.refuse(MediaError::Closed);
        }
        return Err(MediaError::Closed);
    }
    acked.await.map_err(|_| MediaError::Closed)??;
    Ok(BridgeHandle {
        stop: Some(stop_tx),
        ended: ended_rx,
    })
}

/// A socket's descriptor, for readiness (the socket stays in its port).
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Run the bridge in the caller's task until it stops or a leg closes.
/// Returns true when the caller's own session was closed.
pub(crate) async fn run_bridged(me: &mut Leg, adopt: Adopt) -> bool {
    let Adopt {
        mut other,
        back,
        recording,
        mut stop,
        ack,
        ended,
    } = adopt;
    // SAFETY: both sockets stay open while the registrations live: they
    // belong to `me` and `other`, which outlive `me_fd` and `other_fd`
    // (dropped explicitly below, before `other` is handed back).
    let fds = unsafe {
        (
            AsyncFd::register_with_interest(Fd(me.port.socket().as_raw_fd()), Interest::READABLE)
                .map_err(std::io::Error::from),
            AsyncFd::register_with_interest(
                Fd(other.port.socket().as_raw_fd()),
                Interest::READABLE,
            )
            .map_err(std::io::Error::from),
        )
    };
    let (me_fd, other_fd) = match fds {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot watch the RTP sockets: not bridging");
            let _ = back.send(Back::Leg(Box::new(other)));
            let _ = ack.send(Err(MediaError::Closed));
            return false;
        }
    };
    let _ = ack.send(Ok(()));
    tracing::info!(agent_rtp = ?other.core.remote(), "media bridged");
    me.core.set_bridged(true);
    other.core.set_bridged(true);
    let tap = recording.map(|t| StereoTap::start(t, me.events.clone()));
    let mut core = BridgeCore::new(&me.core, &other.core, tap, Instant::now().into_std());
    me.flush_events();
    other.flush_events();
    let mut buf = [0u8; MAX_PACKET];
    let next = |me: &Leg, other: &Leg, core: &BridgeCore| {
        let t = me.core.poll_timeout().min(other.core.poll_timeout());
        Instant::from_std(core.poll_timeout().map_or(t, |r| r.min(t)))
    };
    let mut deadline = next(me, &other, &core);
    let sleep = tokio::time::sleep_until(deadline);
    tokio::pin!(sleep);
    let end = loop {
        tokio::select! {
            msg = me.cmds.recv() => on_msg(&mut me.core, msg),
            msg = other.cmds.recv() => on_msg(&mut other.core, msg),
            _ = &mut stop => break BridgeEnd::Stopped,
            () = &mut sleep => {
                let now = Instant::now().into_std();
                me.core.handle_timeout(now);
                other.core.handle_timeout(now);
                me.transmit(now);
                other.transmit(now);
                core.handle_timeout(now);
            }
            ready = me_fd.readable() => {
                if let Ok(mut guard) = ready {
                    if relay(Side::Caller, me, &mut other, &mut core, &mut buf) {
                        guard.clear_ready();
                    }
                }
            }
            ready = other_fd.readable() => {
                if let Ok(mut guard) = ready {
                    if relay(Side::Agent, &mut other, me, &mut core, &mut buf) {
                        guard.clear_ready();
                    }
                }
            }
        }
        core.forward_keys(&mut me.core, &mut other.core);
        me.flush_events();
        other.flush_events();
        if me.core.is_closed() {
            break BridgeEnd::CallerClosed;
        }
        if other.core.is_closed() {
            break BridgeEnd::AgentClosed;
        }
        // Most wakes are a relayed packet that moves no deadline: touch
        // the timer only when the deadline moved.
        let due = next(me, &other, &core);
        if due != deadline || sleep.is_elapsed() {
            deadline = due;
            sleep.as_mut().reset(due);
        }
    };
    // Deregister before the sockets go back to reading on the tick.
    drop((me_fd, other_fd));
    me.core.set_bridged(false);
    other.core.set_bridged(false);
    let mut report = core.finish();
    report.end = end;
    tracing::info!(
        ?end,
        to_agent = report.to_agent,
        to_caller = report.to_caller,
        "media bridge ended"
    );
    me.flush_events();
    other.flush_events();
    let _ = back.send(match end {
        BridgeEnd::AgentClosed => Back::Closed(Box::new(other.finish())),
        _ => Back::Leg(Box::new(other)),
    });
    let _ = ended.send(report);
    end == BridgeEnd::CallerClosed
}

fn on_msg(core: &mut SessionCore, msg: Option<Msg>) {
    let now = Instant::now().into_std();
    match msg.unwrap_or(Msg::Cmd(MediaCommand::Close)) {
        Msg::Cmd(cmd) => core.handle_command(now, cmd),
        // A leg is in one bridge at a time.
        Msg::Detach(give) => {
            let _ = give.send(Err(MediaError::Busy));
        }
        Msg::Adopt(adopt) => adopt.refuse(MediaError::Busy),
    }
}

/// Relay what `from`'s socket holds to `to`. Returns true once the socket
/// is drained (its readiness may be cleared).
fn relay(
    side: Side,
    from: &mut Leg,
    to: &mut Leg,
    core: &mut BridgeCore,
    buf: &mut [u8; MAX_PACKET],
) -> bool {
    for _ in 0..MAX_READS_PER_WAKE {
        let (n, src) = match from.port.socket().recv_from(buf) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) => {
                // ICMP port unreachable surfaces here; read on.
                tracing::debug!(error = %e, "RTP receive error");
                continue;
            }
        };
        let now = Instant::now().into_std();
        let (caller, agent) = match side {
            Side::Caller => (&mut from.core, &mut to.core),
            Side::Agent => (&mut to.core, &mut from.core),
        };
        let Some(packet) = core.handle_datagram(now, side, &buf[..n], src, caller, agent) else {
            continue;
        };
        // A packet is only mapped for a leg that may be sent to.
        let Some(dest) = to.core.remote() else {
            continue;
        };
        match to.port.socket().send_to(packet, dest) {
            Ok(_) => {
                to.report.sent += 1;
                core.record_latency(Instant::now().into_std().saturating_duration_since(now));
            }
            Err(e) => {
                to.report.send_errors += 1;
                tracing::debug!(error = %e, remote = %dest, "RTP relay send failed");
            }
        }
    }
    false
}
