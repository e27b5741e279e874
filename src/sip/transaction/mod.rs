//! RFC 3261 §17 transactions as sans-io state machines.
//!
//! Each machine has the shape used by str0m and ezk: feed it with
//! `handle(now, input)`, ask `poll_timeout()` when to wake it next (then
//! call `handle(now, Input::Timeout)`), and drain `poll_output()`. No
//! sockets, no clocks: tests drive time by passing `Instant`s.
//!
//! RFC 6026 is applied on both sides: a 2xx to INVITE moves the server
//! transaction to `Accepted`, where it absorbs INVITE retransmissions
//! (retransmitting the 2xx until the ACK comes is the UAS core's job,
//! [`crate::sip::uas`]), and moves the INVITE client transaction to
//! `Accepted`, where retransmitted or forked 2xx are passed up so the UAC
//! core can ACK each (ACKing a 2xx is the UAC core's job, see
//! [`crate::sip::dialog::Dialog::ack`]).
//!
//! Files: `server` (INVITE and non-INVITE server), `client` (non-INVITE
//! client), `invite_client` (INVITE client), `table` (routing by key, one
//! deadline map and one output queue for all of them).

mod client;
mod invite_client;
mod kind;
mod server;
mod table;

use std::time::{Duration, Instant};

use crate::sip::message::{Branch, Method, Request, Response};

pub use client::{ClientState, NonInviteClient};
pub use invite_client::{build_ack, InviteClient, InviteClientState};
pub use server::{InviteServer, InviteState, NonInviteServer, NonInviteState};
pub use table::{Incoming, Transaction, TransactionTable};

/// RFC 3261 timer base values (§17.1.1.1, table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, 500 ms.
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE
    /// responses, 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64*T1: Timer B, F, H, J and L; 32 s by default.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }
}

/// A fresh branch for a request we send (RFC 3261 §8.1.1.7): the magic
/// cookie and 64 random bits, unique per transaction.
pub fn new_branch() -> Branch {
    Branch(format!("{}{:016x}", Branch::MAGIC, rand::random::<u64>()))
}

/// Whether the transport retransmits for us (TCP) or not (UDP). Unreliable
/// transports need the retransmit timers (E, G) and the linger timers
/// (I, J, K) that absorb late retransmissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    Unreliable,
    Reliable,
}

/// What a transaction is fed.
// Moved once per event; boxing the request would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Input {
    /// A request from the network: a retransmission, or the ACK for a
    /// non-2xx final response.
    Request(Request),
    /// For a server transaction: a response the TU wants sent. For a client
    /// transaction: a response from the network.
    Response(Response),
    /// A deadline returned by `poll_timeout` has passed.
    Timeout,
    /// The transport could not send (RFC 3261 §17.1.4 / §17.2.4).
    TransportError,
}

/// What a transaction asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Put this response on the wire (server transactions).
    SendResponse(Response),
    /// Put this request on the wire (client transactions).
    SendRequest(Request),
    /// Hand this request to the TU (new request; ACK in `Accepted`).
    PassRequest(Request),
    /// Hand this response to the TU (client transactions).
    PassResponse(Response),
    /// Timer H (no ACK for our non-2xx final) or Timer F (no final response
    /// to our request) fired, or the transport failed.
    Timeout,
    /// The transaction is over and can be forgotten.
    Terminated,
}

/// What identifies a transaction (RFC 3261 §17.2.3): top Via branch and
/// sent-by, and the method, with ACK counted as INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    pub branch: Branch,
    pub sent_by: String,
    pub method: Method,
}

impl TransactionKey {
    /// The key of the server transaction a request belongs to.
    ///
    /// Requests from RFC 2543 peers (no `z9hG4bK` branch) get a key built
    /// from Call-ID, CSeq number and From tag, which is enough to match
    /// retransmissions and the ACK of a non-2xx (§17.2.3, simplified).
    pub fn for_request(req: &Request) -> TransactionKey {
        let via = req.top_via();
        let method = match req.method() {
            Method::Ack => Method::Invite,
            m => m.clone(),
        };
        let branch = match via.branch() {
            Some(b) if b.is_rfc3261() => b,
            _ => Branch(format!(
                "rfc2543:{}:{}:{}",
                req.call_id(),
                req.cseq().seq,
                req.from().tag().map(|t| t.0).unwrap_or_default()
            )),
        };
        TransactionKey {
            branch,
            sent_by: via.sent_by(),
            method,
        }
    }

    /// The key of the client transaction a response belongs to (§17.1.3).
    pub fn for_response(resp: &Response) -> Option<TransactionKey> {
        let via = resp.top_via()?;
        Some(TransactionKey {
            branch: via.branch()?,
            sent_by: via.sent_by(),
            method: resp.cseq()?.method,
        })
    }

    /// The INVITE transaction a CANCEL with this key targets (§9.2).
    pub fn cancelled_invite(&self) -> TransactionKey {
        TransactionKey {
            method: Method::Invite,
            ..self.clone()
        }
    }
}

/// A restartable deadline with its current interval (Timers E and G).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retransmit {
    pub at: Instant,
    pub interval: Duration,
}

/// Earliest of a set of optional deadlines.
pub(crate) fn earliest(deadlines: &[Option<Instant>]) -> Option<Instant> {
    deadlines.iter().flatten().min().copied()
}

/// `deadline` has passed at `now`.
pub(crate) fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

#[cfg(test)]
pub(crate) mod testutil;
