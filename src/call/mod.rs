//! Calls: the UAS core that turns SIP requests into calls ([`dispatch`]),
//! and the one task per call that owns the call's state ([`session`]):
//! its legs ([`leg`]: the signalling with each phone), its media
//! ([`media`]: SDP and RTP) and its IVR intake ([`intake`]).
//!
//! `call` sits above `sip`, `media` and `tickets` and uses them; none of
//! them know about calls. Everything that talks to a call holds a
//! [`CallHandle`] and sends it [`CallEvent`]s; nothing else touches the
//! call's state.

pub mod admission;
pub mod desk;
pub mod dispatch;
pub mod intake;
pub mod leg;
pub mod media;
pub mod registrar;
pub mod route;
pub mod routed;
pub mod session;
mod settings;

use std::fmt;

use tokio::sync::{mpsc, oneshot};

use crate::sip::dialog::DialogId;
use crate::sip::message::{Request, Response};
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::ReplyTo;
use crate::sip::validate::Accepted;

pub use settings::CallSettings;

/// What every call shares for the daemon's life (not reloaded).
#[derive(Clone)]
pub struct CallServices {
    pub ports: crate::media::ports::PortAllocator,
    pub store: crate::tickets::TicketStore,
    /// Voice notes and call recordings go under here.
    pub recordings: std::path::PathBuf,
    /// The agents' registrar (REGISTER, feature-code digests); `None`
    /// serves callers only (REGISTER gets 501).
    pub registrar: Option<registrar::RegistrarHandle>,
    /// The roster, for agents' state changes.
    pub agents: Option<crate::agents::AgentStore>,
    /// The routing desk the flow's `queue` step hands callers to; `None`:
    /// the step says goodbye instead.
    pub desk: Option<desk::DeskHandle>,
}

/// How a call ended: kept in the summary log line (and, with the IVR, in
/// the call record the desk's reports are computed from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller hung up (BYE) after the call was answered.
    CallerHungUp,
    /// The caller gave up while it rang (CANCEL).
    CallerCancelled,
    /// We could not take the call (no common codec, bad offer, no RTP port).
    Rejected,
    /// No ACK for our 200 OK within 64*T1: we sent BYE.
    NoAck,
    /// The session timer ran out without a refresh: we sent BYE.
    SessionExpired,
    /// The daemon shut down and the drain timeout passed: we sent BYE.
    Shutdown,
    /// No RTP from the caller for `media.rtp_timeout`: we sent BYE.
    RtpTimeout,
    /// The IVR flow ran to its end (or gave up on a silent caller).
    FlowEnded,
}

impl EndReason {
    /// How the desk's call record names it.
    pub fn for_record(self) -> crate::tickets::EndReason {
        use crate::tickets::EndReason as R;
        match self {
            Self::CallerHungUp | Self::CallerCancelled => R::CallerHungUp,
            Self::Shutdown => R::Shutdown,
            Self::FlowEnded => R::Completed,
            Self::Rejected | Self::NoAck | Self::SessionExpired | Self::RtpTimeout => R::Error,
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CallerHungUp => "caller_hung_up",
            Self::CallerCancelled => "caller_cancelled",
            Self::Rejected => "rejected",
            Self::NoAck => "no_ack",
            Self::SessionExpired => "session_expired",
            Self::Shutdown => "shutdown",
            Self::RtpTimeout => "rtp_timeout",
            Self::FlowEnded => "flow_ended",
        })
    }
}

/// What the dispatcher tells a call.
#[derive(Debug)]
pub enum CallEvent {
    /// An in-dialog request (BYE, INFO, UPDATE, re-INVITE) with its server
    /// transaction; the call answers it with [`ToDispatch::Respond`].
    Request {
        key: TransactionKey,
        request: Box<Request>,
        accepted: Accepted,
    },
    /// The ACK for our 2xx (it has no transaction of its own).
    Ack(Box<Request>),
    /// A CANCEL matched our INVITE; its 200 was already sent.
    Cancel,
    /// The daemon's drain timeout passed: end the call now.
    Shutdown,
    /// A response to an INVITE this call sent (an agent's leg): every
    /// provisional, final and retransmitted 2xx.
    Response {
        key: TransactionKey,
        response: Box<Response>,
    },
    /// That INVITE got no final response at all (Timer B, transport).
    InviteTimedOut { key: TransactionKey },
    /// What routing decided for this call's queue entry.
    Routing(Box<crate::call::desk::ToCall>),
}

/// A call as seen from outside: cheap to clone, talks by messages.
#[derive(Debug, Clone)]
pub struct CallHandle {
    tx: mpsc::Sender<CallEvent>,
}

impl CallHandle {
    /// A handle and the queue its call task reads.
    pub fn channel() -> (CallHandle, mpsc::Receiver<CallEvent>) {
        let (tx, rx) = mpsc::channel(64);
        (CallHandle { tx }, rx)
    }

    /// Deliver `event`; a call that already ended ignores it.
    pub fn send(&self, event: CallEvent) {
        // Bounded and never awaited: the dispatcher must not block on one
        // slow call. A full queue means the call is stuck; dropping one
        // event (the peer retransmits) is the safe choice.
        if let Err(mpsc::error::TrySendError::Full(e)) = self.tx.try_send(event) {
            tracing::warn!(event = ?e, "call queue full; event dropped");
        }
    }
}

/// What calls ask the dispatcher to do.
#[derive(Debug)]
pub enum ToDispatch {
    /// Answer the request of server transaction `key`.
    Respond {
        key: TransactionKey,
        response: Box<Response>,
    },
    /// Send an in-dialog request (our BYE) in a client transaction, to
    /// `dest` over `reply`'s transport; `done` gets the final response, or
    /// `None` on timeout.
    Request {
        request: Box<Request>,
        dest: std::net::SocketAddr,
        reply: ReplyTo,
        done: Option<oneshot::Sender<Option<Response>>>,
    },
    /// Put a response on the wire outside any transaction: our 2xx to an
    /// INVITE, retransmitted until the ACK (RFC 6026 gives that to the TU).
    Transmit {
        response: Box<Response>,
        dest: std::net::SocketAddr,
        reply: ReplyTo,
    },
    /// Send our INVITE (to an agent's phone) in an INVITE client
    /// transaction; its responses come back as [`CallEvent::Response`].
    Invite {
        request: Box<Request>,
        dest: std::net::SocketAddr,
        reply: ReplyTo,
        call: CallHandle,
    },
    /// CANCEL our pending INVITE `invite` (RFC 3261 §9.1).
    Cancel {
        invite: TransactionKey,
        request: Box<Request>,
    },
    /// The ACK for a 2xx to our INVITE `invite`, sent along its route.
    Ack {
        invite: TransactionKey,
        request: Box<Request>,
    },
    /// Route requests of another dialog (an agent's leg) to `call` too.
    AddDialog { dialog: DialogId, call: CallHandle },
    /// Forget one of a call's dialogs (its agent leg ended).
    RemoveDialog { dialog: DialogId },
    /// The call is over: forget its dialog.
    Ended { dialog: DialogId },
}
