//! The UAC half of the table: INVITE client transactions, CANCEL (held
//! until the INVITE has a provisional, §9.1) and the TU's ACK for a 2xx.

use std::time::Instant;

use super::{Entry, Transaction, TransactionTable};
use crate::sip::message::Request;
use crate::sip::transaction::{
    InviteClient, InviteClientState, Output, Reliability, TransactionKey,
};

/// A CANCEL that must wait for the INVITE's first provisional (§9.1).
#[derive(Debug)]
pub(super) struct HeldCancel {
    pub(super) request: Request,
    pub(super) reliability: Reliability,
}

impl TransactionTable {
    /// Start an INVITE client transaction (ringing an agent, a re-INVITE).
    pub fn send_invite(
        &mut self,
        now: Instant,
        invite: Request,
        rel: Reliability,
    ) -> TransactionKey {
        let key = TransactionKey::for_request(&invite);
        let tx = InviteClient::new(now, invite, self.timers, rel);
        self.insert(key.clone(), Transaction::InviteClient(Box::new(tx)));
        key
    }

    /// Cancel our pending INVITE `invite` with `cancel` (built by
    /// [`crate::sip::uac::cancel`]). Returns the CANCEL's own transaction
    /// key, or `None` when there is nothing left to cancel (the INVITE got
    /// its final answer or is gone: a 2xx must then be ACKed and BYEd), or
    /// when `cancel` does not carry the INVITE's branch (it would cancel
    /// nothing at the UAS). Cancelling twice sends one CANCEL.
    ///
    /// §9.1: a CANCEL must not be sent before a provisional response, so
    /// while the INVITE is still in Calling the CANCEL is held and goes out
    /// with the first 1xx; if a final (or Timer B) comes first it is
    /// dropped and its key reports only `Terminated`.
    pub fn cancel(
        &mut self,
        now: Instant,
        invite: &TransactionKey,
        cancel: Request,
        rel: Reliability,
    ) -> Option<TransactionKey> {
        let state = match self.live.get(invite).map(|e| &e.tx) {
            Some(Transaction::InviteClient(t)) => t.state(),
            _ => return None,
        };
        let cancel_key = TransactionKey::for_request(&cancel);
        if cancel_key.cancelled_invite() != *invite {
            return None;
        }
        match state {
            InviteClientState::Calling => {
                self.held_cancels.insert(
                    invite.clone(),
                    HeldCancel {
                        request: cancel,
                        reliability: rel,
                    },
                );
                Some(cancel_key)
            }
            InviteClientState::Proceeding => {
                if !self.live.contains_key(&cancel_key) {
                    self.start_cancel(now, invite, cancel, rel);
                }
                Some(cancel_key)
            }
            _ => None,
        }
    }

    fn start_cancel(
        &mut self,
        now: Instant,
        invite: &TransactionKey,
        cancel: Request,
        rel: Reliability,
    ) {
        if let Some(Entry {
            tx: Transaction::InviteClient(t),
            ..
        }) = self.live.get_mut(invite)
        {
            t.cancel_sent(now);
        }
        self.settle(invite);
        self.send_request(now, cancel, rel);
    }

    /// Send the TU's ACK for a 2xx to our INVITE `invite` on that INVITE's
    /// route (the ACK is a transaction of its own with no state: §17.1.1.3).
    /// Returns false once the INVITE transaction is gone (Timer M passed).
    pub fn send_ack(&mut self, invite: &TransactionKey, ack: Request) -> bool {
        match self.live.get(invite).map(|e| &e.tx) {
            Some(Transaction::InviteClient(_)) => {
                self.out
                    .push_back((invite.clone(), Output::SendRequest(ack)));
                true
            }
            _ => false,
        }
    }

    /// A held CANCEL goes out once its INVITE is in Proceeding, and is
    /// dropped once the INVITE is past it.
    pub(super) fn release_held_cancel(&mut self, now: Instant, invite: &TransactionKey) {
        if !self.held_cancels.contains_key(invite) {
            return;
        }
        let state = match self.live.get(invite).map(|e| &e.tx) {
            Some(Transaction::InviteClient(t)) => t.state(),
            _ => InviteClientState::Terminated,
        };
        match state {
            InviteClientState::Calling => {}
            InviteClientState::Proceeding => {
                if let Some(held) = self.held_cancels.remove(invite) {
                    self.start_cancel(now, invite, held.request, held.reliability);
                }
            }
            _ => {
                if let Some(held) = self.held_cancels.remove(invite) {
                    let key = TransactionKey::for_request(&held.request);
                    self.out.push_back((key, Output::Terminated));
                }
            }
        }
    }
}
