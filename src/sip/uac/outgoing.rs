//! The UAC core's rules for one outgoing INVITE, without time or sockets:
//! what to do with each response the INVITE client transaction passes up.
//!
//! The transaction retransmits and ACKs non-2xx finals; what is left for
//! the UAC core (RFC 3261 §13.2.2, RFC 6026) is easy to get wrong in a call
//! task, so it lives here and is tested once:
//! - every 2xx is ACKed, each fork's with its own ACK, and a retransmitted
//!   2xx gets the same ACK again (not a new one);
//! - the first 2xx makes the call; a 2xx from another fork (another To tag)
//!   is ACKed and hung up with BYE at once;
//! - a 2xx that crosses our CANCEL (ring timeout, or `ring_all` where
//!   another agent answered first) is ACKed and BYEd too;
//! - one failure or timeout is reported once.
//!
//! The ring timeout is the caller's clock: on expiry it calls
//! [`OutgoingInvite::cancel`] and hands the CANCEL to the table.

use std::collections::HashMap;

use crate::sip::dialog::{Dialog, Local};
use crate::sip::message::{Request, Response, Tag};
use crate::sip::transaction::TransactionKey;

/// What the call task should do after a response or a timeout.
#[derive(Debug, Clone)]
pub enum UacAction {
    /// A provisional: ringing (180) or early media (183, its SDP).
    Progress(Response),
    /// The first 2xx: the agent answered. Its dialog now belongs to the
    /// call (BYE, re-INVITE, in-dialog requests); an `Ack` follows.
    Answered(Box<Dialog>, Response),
    /// Send this ACK for a 2xx: `table.send_ack(key, ack)`.
    Ack(Request),
    /// Send this BYE as a new client transaction (`table.send_request`):
    /// a fork we do not want, or a 2xx that crossed our CANCEL.
    Bye(Request),
    /// The INVITE ended with this final response (the transaction ACKed
    /// it): 486/600/603 busy or declined, 487 after our CANCEL, 408/480/503
    /// unreachable. Also a 2xx we cannot build a dialog from (no Contact
    /// or To tag), which cannot even be ACKed.
    Failed(Response),
    /// No final response at all (Timer B, the CANCEL guard, a transport
    /// error): the binding is unreachable.
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Answered,
    Ended,
}

/// One INVITE we sent, from the UAC core's side.
#[derive(Debug)]
pub struct OutgoingInvite {
    invite: Request,
    key: TransactionKey,
    local: Local,
    phase: Phase,
    cancelled: bool,
    /// The ACK sent for each To tag that answered 2xx, to resend as is.
    acks: HashMap<Tag, Request>,
}

impl OutgoingInvite {
    /// `key` is what `table.send_invite(now, invite.clone(), rel)` returned.
    pub fn new(invite: Request, key: TransactionKey, local: Local) -> Self {
        OutgoingInvite {
            invite,
            key,
            local,
            phase: Phase::Pending,
            cancelled: false,
            acks: HashMap::new(),
        }
    }

    pub fn invite(&self) -> &Request {
        &self.invite
    }

    pub fn key(&self) -> &TransactionKey {
        &self.key
    }

    /// True once a 2xx made the call.
    pub fn is_answered(&self) -> bool {
        self.phase == Phase::Answered
    }

    /// Stop ringing: the CANCEL to pass to `table.cancel(now, key, ..)`, or
    /// `None` when there is nothing to cancel (answered, failed, or already
    /// cancelled). `reason` as for [`super::cancel`].
    pub fn cancel(&mut self, reason: Option<&str>) -> Option<Request> {
        if self.phase != Phase::Pending || self.cancelled {
            return None;
        }
        let req = super::cancel(&self.invite, reason).ok()?;
        self.cancelled = true;
        Some(req)
    }

    /// A `PassResponse` for our INVITE's key.
    pub fn on_response(&mut self, resp: Response) -> Vec<UacAction> {
        match resp.status {
            100..=199 if self.phase == Phase::Pending && !self.cancelled => {
                vec![UacAction::Progress(resp)]
            }
            100..=199 => Vec::new(),
            200..=299 => self.on_2xx(resp),
            _ if self.phase == Phase::Pending => {
                self.phase = Phase::Ended;
                vec![UacAction::Failed(resp)]
            }
            // Another fork failing after one answered: nothing to do.
            _ => Vec::new(),
        }
    }

    fn on_2xx(&mut self, resp: Response) -> Vec<UacAction> {
        if let Some(ack) = resp.to_tag().and_then(|t| self.acks.get(&t)) {
            return vec![UacAction::Ack(ack.clone())];
        }
        let built = Dialog::new_uac(&self.invite, &resp).and_then(|d| {
            let ack = d.ack(self.invite.cseq().seq, &self.local)?;
            Ok((d, ack))
        });
        let Ok((mut dialog, ack)) = built else {
            if self.phase == Phase::Pending {
                self.phase = Phase::Ended;
                return vec![UacAction::Failed(resp)];
            }
            return Vec::new();
        };
        self.acks.insert(dialog.id.remote_tag.clone(), ack.clone());
        if self.phase == Phase::Pending && !self.cancelled {
            self.phase = Phase::Answered;
            return vec![
                UacAction::Answered(Box::new(dialog), resp),
                UacAction::Ack(ack),
            ];
        }
        // §13.2.2.4: a second fork, or an answer we no longer want.
        self.phase = match self.phase {
            Phase::Pending => Phase::Ended,
            p => p,
        };
        let mut out = vec![UacAction::Ack(ack)];
        if let Ok(bye) = dialog.bye(&self.local.transport, &self.local.sent_by) {
            out.push(UacAction::Bye(bye));
        }
        out
    }

    /// An `Output::Timeout` for our INVITE's key.
    pub fn on_timeout(&mut self) -> Vec<UacAction> {
        if self.phase == Phase::Pending {
            self.phase = Phase::Ended;
            return vec![UacAction::TimedOut];
        }
        Vec::new()
    }
}

#[cfg(test)]
#[path = "outgoing_tests.rs"]
mod tests;
