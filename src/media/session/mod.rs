//! One call's live media: an actor task owning the RTP socket and a
//! [`SessionCore`], driven through a [`MediaHandle`], reporting
//! [`MediaEvent`]s on a channel.
//!
//! The task wakes once per 20 ms packet slot (absolute deadlines from the
//! core) and at receive timeouts; on each wake it reads every datagram queued
//! on the non-blocking socket, then sends the packets due. Reading on the
//! send tick instead of on socket readiness halves the wake-ups of a two-way
//! call (one per 20 ms instead of two) and keeps the socket out of epoll;
//! the cost is up to 20 ms of extra latency on received key presses, which an
//! IVR does not notice. Nothing on this path allocates per packet: one
//! receive buffer per task, the send buffer inside the core, prompts shared.
//!
//! Dropping every handle closes the session like `Close`. The task ends with
//! a [`SessionReport`] (packet counts, send lateness) for logs and the
//! benchmark.
//!
//! Two sessions can be bridged ([`bridge`]): the agent's task hands its leg
//! (socket, core, command and event channels) to the caller's task, which
//! then runs both, relaying between them, and hands the leg back when the
//! bridge stops; see [`bridge`](self::bridge) for why one task.

mod bridge;
mod core;
mod peak;
pub mod peer;
mod receiver;
mod sender;
mod stats;
mod tap;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

pub use self::bridge::{bridge, BridgeCore, BridgeHandle, BridgeReport};
pub use self::bridge::{bridge_to, BridgeEnd};
pub use self::core::{SessionCore, DUPLICATE_WINDOW};
pub use peak::{note_lateness, take_peak_lateness};
pub use peer::{PeerRules, RemotePolicy};
pub use receiver::{ReceiveStats, RtpReceiver};
pub use sender::{RtpSender, SenderIds, MAX_CATCH_UP, TICK};
pub use stats::Lateness;
pub use tap::{Side, StereoTap, TapStats, Target};

use super::codec::Codec;
use super::dtmf::DtmfDigit;
use super::ports::RtpPort;
use super::prompt::Prompt;
use super::record::{RecordError, Recording};
use super::rtp::MAX_PACKET;
use super::sdp::{Direction, Negotiated};

/// No RTP for this long (not on hold) and the call is considered dead.
pub const DEFAULT_RTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Commands queued per session before `MediaHandle::send` waits.
const COMMAND_QUEUE: usize = 16;
/// Datagrams read per wake at most, so a flood cannot starve the sender.
const MAX_READS_PER_WAKE: usize = 32;

/// What the session needs from the SDP negotiation.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub codec: Codec,
    /// The codec's payload type as the caller numbered it.
    pub payload_type: u8,
    /// The caller's telephone-event payload type; `None` turns on in-band
    /// detection.
    pub telephone_event: Option<u8>,
    /// The SDP address, used until symmetric RTP latches (see [`peer`] for
    /// when it is used at all).
    pub remote: SocketAddr,
    pub rtp_timeout: Duration,
    /// Start as on hold (the offer was not sendrecv).
    pub start_on_hold: bool,
}

impl SessionConfig {
    pub fn from_negotiated(neg: &Negotiated, rtp_timeout: Duration) -> Self {
        Self {
            codec: neg.codec,
            payload_type: neg.payload_type,
            telephone_event: neg.telephone_event,
            remote: neg.remote,
            rtp_timeout,
            start_on_hold: neg.direction != Direction::SendRecv,
        }
    }
}

/// What the call task can ask of its media.
#[derive(Debug)]
pub enum MediaCommand {
    /// Play `prompts` back to back, replacing what plays now. `barge_in`:
    /// a key press stops it.
    Play {
        prompts: Vec<Arc<Prompt>>,
        barge_in: bool,
    },
    /// Play `prompts` over and over (music on hold) until a `Play`,
    /// another `PlayLoop` or `StopPlayback` replaces it; that playback then
    /// ends with one `PlaybackDone { interrupted: true }`. Bridged, a
    /// playing loop (or prompt) takes the place of the other leg's voice on
    /// this leg until it stops.
    PlayLoop {
        prompts: Vec<Arc<Prompt>>,
    },
    StopPlayback,
    /// A re-INVITE changed the caller's media address.
    SetRemote(SocketAddr),
    /// The dialog is confirmed (the caller's ACK): the SDP address may be
    /// sent to before the caller's first packet (see [`peer`]).
    Confirmed,
    /// Stop sending and stop the RTP timeout (the caller put us on hold).
    Hold,
    Resume,
    /// Record the caller's audio (mono WAV, the voice note) to this path.
    /// A bridged call's stereo recording is [`bridge`]'s argument instead.
    StartRecording(PathBuf),
    StopRecording,
    /// A digit the SIP layer got by INFO, merged into the one digit stream.
    InjectDigit(DtmfDigit),
    Close,
}

/// What the media tells the call task.
#[derive(Debug)]
pub enum MediaEvent {
    /// A key press from any source, once.
    Digit(DtmfDigit),
    /// Exactly once per `Play`: finished, or stopped/replaced/barged in.
    PlaybackDone { interrupted: bool },
    /// Nothing received for the configured time: end the call (BYE).
    RtpTimeout { silent_for: Duration },
    /// The recording stopped on an error (e.g. a full disk); the call goes on.
    RecordingError(RecordError),
    /// A recording was finished by `StopRecording` or `Close`.
    RecordingStopped(Recording),
}

/// The session's task is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("HL-RTP-020 media session has ended")]
    Closed,
    #[error("HL-RTP-021 media session is already bridged")]
    Busy,
}

/// Cheap to clone; every clone talks to the same session.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    tx: mpsc::Sender<Msg>,
    local: SocketAddr,
}

impl MediaHandle {
    pub async fn send(&self, cmd: MediaCommand) -> Result<(), MediaError> {
        self.tx
            .send(Msg::Cmd(cmd))
            .await
            .map_err(|_| MediaError::Closed)
    }

    pub async fn play_loop(&self, prompts: Vec<Arc<Prompt>>) -> Result<(), MediaError> {
        self.send(MediaCommand::PlayLoop { prompts }).await
    }

    pub async fn play(&self, prompts: Vec<Arc<Prompt>>, barge_in: bool) -> Result<(), MediaError> {
        self.send(MediaCommand::Play { prompts, barge_in }).await
    }

    pub async fn inject_digit(&self, digit: DtmfDigit) -> Result<(), MediaError> {
        self.send(MediaCommand::InjectDigit(digit)).await
    }

    pub async fn close(&self) -> Result<(), MediaError> {
        self.send(MediaCommand::Close).await
    }

    /// Our RTP address (for the SDP answer).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// What a session task receives: commands, and the bridge hand-over.
pub(crate) enum Msg {
    Cmd(MediaCommand),
    /// Give this leg to a bridge; it comes back through the sender passed.
    Detach(oneshot::Sender<Result<(Leg, oneshot::Sender<Back>), MediaError>>),
    /// Bridge this leg with another one.
    Adopt(Box<bridge::Adopt>),
}

/// A detached leg's return from a bridge.
pub(crate) enum Back {
    Leg(Box<Leg>),
    /// The leg was closed while bridged.
    Closed(Box<SessionReport>),
}

/// One leg's media: what a session task owns, and what moves into the
/// caller's task for a bridge.
pub(crate) struct Leg {
    port: RtpPort,
    core: SessionCore,
    cmds: mpsc::Receiver<Msg>,
    events: mpsc::UnboundedSender<MediaEvent>,
    report: SessionReport,
}

impl Leg {
    fn finish(mut self) -> SessionReport {
        self.report.received = self.core.receive_stats();
        tracing::debug!(
            sent = self.report.sent,
            received = self.report.received.packets,
            "media session closed"
        );
        self.report
    }

    fn flush_events(&mut self) {
        for ev in self.core.drain_events() {
            // The call task may be gone already; the session ends on Close.
            let _ = self.events.send(ev);
        }
    }

    /// Send every packet due on this leg's own clock.
    fn transmit(&mut self, now: std::time::Instant) {
        while let Some(due) = self.core.poll_transmit(now) {
            // The core produces no packet while it has nowhere to send.
            let Some(to) = self.core.remote() else {
                continue;
            };
            match self.port.socket().send_to(self.core.packet(), to) {
                Ok(_) => {
                    self.report.sent += 1;
                    let left = Instant::now().into_std();
                    let late = left.saturating_duration_since(due);
                    self.report.lateness.record(late);
                    peak::note_lateness(late);
                }
                Err(e) => {
                    self.report.send_errors += 1;
                    tracing::debug!(error = %e, remote = %to, "RTP send failed");
                }
            }
        }
    }
}

/// What a finished session did.
#[derive(Debug, Clone, Default)]
pub struct SessionReport {
    pub sent: u64,
    /// Datagrams queued on the port before the session started (while
    /// ringing, when no peer of ours knew the port): discarded unread.
    pub stale: u64,
    pub send_errors: u64,
    pub lateness: Lateness,
    pub received: ReceiveStats,
}

/// A running session: its handle, its events, and its task.
#[derive(Debug)]
pub struct MediaSession {
    pub handle: MediaHandle,
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    pub task: JoinHandle<SessionReport>,
}

/// Start the media of one call on `port` (from the [`super::ports::PortAllocator`]),
/// exchanging media with the SDP address's host only
/// ([`PeerRules::sdp_only`]). Must be called inside a tokio runtime; the
/// task runs in the current tracing span, so its logs carry the call's
/// fields.
pub fn spawn(port: RtpPort, config: &SessionConfig) -> std::io::Result<MediaSession> {
    spawn_with(port, config, PeerRules::sdp_only())
}

/// As [`spawn`], the peer checked against `rules` (a call's leg: its
/// signalling source, the remote-address policy, whether the dialog is
/// confirmed yet).
pub fn spawn_with(
    port: RtpPort,
    config: &SessionConfig,
    rules: PeerRules,
) -> std::io::Result<MediaSession> {
    let local = port.local_addr()?;
    let stale = discard_queued(&port);
    if stale > 0 {
        tracing::info!(
            stale,
            "datagrams sent to the RTP port before the call's media began: discarded"
        );
    }
    let core = SessionCore::with_rules(
        config,
        rules,
        Instant::now().into_std(),
        sender::SenderIds::random(),
    );
    let (tx, cmds) = mpsc::channel(COMMAND_QUEUE);
    // Unbounded: events are a few per call-minute and must not be lost
    // (a dropped PlaybackDone would stall the IVR).
    let (events_tx, events) = mpsc::unbounded_channel();
    let leg = Leg {
        port,
        core,
        cmds,
        events: events_tx,
        report: SessionReport {
            stale,
            ..SessionReport::default()
        },
    };
    let task = tokio::spawn(run(leg).in_current_span());
    Ok(MediaSession {
        handle: MediaHandle { tx, local },
        events,
        task,
    })
}

/// Read and drop what the port holds: nobody entitled to send media there
/// knew the port before the session started (the caller learns it from our
/// 200; what came while ringing is a stranger's, or stale). Bounded, so a
/// flood cannot hold the caller's task.
fn discard_queued(port: &RtpPort) -> u64 {
    let mut buf = [0u8; MAX_PACKET];
    let mut n = 0;
    while n < 4096 && port.socket().recv_from(&mut buf).is_ok() {
        n += 1;
    }
    n
}

/// The session task: alone, lent to a bridge, or running a bridge.
async fn run(mut leg: Leg) -> SessionReport {
    loop {
        match run_alone(&mut leg).await {
            Alone::Closed => break,
            Alone::Detach(give) => {
                let (back_tx, back_rx) = oneshot::channel();
                leg = match give.send(Ok((leg, back_tx))) {
                    Ok(()) => match back_rx.await {
                        Ok(Back::Leg(l)) => *l,
                        Ok(Back::Closed(report)) => return *report,
                        // The bridging task vanished (a panic) with our leg.
                        Err(_) => return SessionReport::default(),
                    },
                    // bridge() gave up waiting: carry on alone.
                    Err(Ok((l, _))) => l,
                    Err(Err(_)) => unreachable!("sent Ok"),
                };
            }
            Alone::Adopt(adopt) => {
                if bridge::run_bridged(&mut leg, *adopt).await {
                    break;
                }
            }
        }
    }
    // Bridges asked for after the end: give their legs back.
    leg.cmds.close();
    while let Ok(msg) = leg.cmds.try_recv() {
        if let Msg::Adopt(adopt) = msg {
            adopt.refuse(MediaError::Closed);
        }
    }
    leg.finish()
}

enum Alone {
    Closed,
    Detach(oneshot::Sender<Result<(Leg, oneshot::Sender<Back>), MediaError>>),
    Adopt(Box<bridge::Adopt>),
}

/// One leg on its own: wake on the 20 ms tick, read what queued, send.
async fn run_alone(leg: &mut Leg) -> Alone {
    let mut buf = [0u8; MAX_PACKET];
    let sleep = tokio::time::sleep_until(Instant::from_std(leg.core.poll_timeout()));
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            biased;
            msg = leg.cmds.recv() => {
                let now = Instant::now().into_std();
                match msg.unwrap_or(Msg::Cmd(MediaCommand::Close)) {
                    Msg::Cmd(cmd) => leg.core.handle_command(now, cmd),
                    Msg::Detach(give) => return Alone::Detach(give),
                    Msg::Adopt(adopt) => return Alone::Adopt(adopt),
                }
            }
            () = &mut sleep => {
                let now = Instant::now().into_std();
                for _ in 0..MAX_READS_PER_WAKE {
                    match leg.port.socket().recv_from(&mut buf) {
                        Ok((n, src)) => leg.core.handle_datagram(now, &buf[..n], src),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            // ICMP port unreachable surfaces here; not fatal.
                            tracing::debug!(error = %e, "RTP receive error");
                            break;
                        }
                    }
                }
                leg.core.handle_timeout(now);
                leg.transmit(now);
            }
        }
        leg.flush_events();
        if leg.core.is_closed() {
            return Alone::Closed;
        }
        sleep
            .as_mut()
            .reset(Instant::from_std(leg.core.poll_timeout()));
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod core_tests;

#[cfg(test)]
#[path = "bridge_tests.rs"]
mod bridge_tests;

#[cfg(test)]
#[path = "guard_tests.rs"]
mod guard_tests;
