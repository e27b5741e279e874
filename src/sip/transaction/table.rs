//! The transaction table: routes each incoming message to its transaction
//! (creating server transactions for new requests), collects outputs and
//! deadlines, and forgets transactions once they terminate.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::{
    Input, InviteServer, NonInviteClient, NonInviteServer, Output, Reliability, Timers,
    TransactionKey,
};
use crate::sip::message::{Method, Request, Response};

/// Any of our transaction kinds.
#[derive(Debug)]
pub enum Transaction {
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
    /// Boxed: it keeps a copy of the request to retransmit.
    NonInviteClient(Box<NonInviteClient>),
}

impl Transaction {
    pub fn handle(&mut self, now: Instant, input: Input) {
        match self {
            Transaction::InviteServer(t) => t.handle(now, input),
            Transaction::NonInviteServer(t) => t.handle(now, input),
            Transaction::NonInviteClient(t) => t.handle(now, input),
        }
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Transaction::InviteServer(t) => t.poll_timeout(),
            Transaction::NonInviteServer(t) => t.poll_timeout(),
            Transaction::NonInviteClient(t) => t.poll_timeout(),
        }
    }
    pub fn poll_output(&mut self) -> Option<Output> {
        match self {
            Transaction::InviteServer(t) => t.poll_output(),
            Transaction::NonInviteServer(t) => t.poll_output(),
            Transaction::NonInviteClient(t) => t.poll_output(),
        }
    }
    pub fn is_terminated(&self) -> bool {
        match self {
            Transaction::InviteServer(t) => t.is_terminated(),
            Transaction::NonInviteServer(t) => t.is_terminated(),
            Transaction::NonInviteClient(t) => t.is_terminated(),
        }
    }
}

/// Where an incoming message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new server transaction; its `PassRequest` output carries the request.
    New(TransactionKey),
    /// An existing transaction took it (retransmission, ACK of a non-2xx,
    /// response to our request).
    Matched(TransactionKey),
    /// An ACK outside any transaction: the ACK for our 2xx, for the dialog.
    Ack(Box<Request>),
    /// A response no client transaction waits for: drop it.
    Stray,
}

/// All live transactions of one UA.
#[derive(Debug, Default)]
pub struct TransactionTable {
    timers: Timers,
    live: HashMap<TransactionKey, Transaction>,
    out: VecDeque<(TransactionKey, Output)>,
}

impl TransactionTable {
    pub fn new(timers: Timers) -> Self {
        TransactionTable {
            timers,
            live: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Route a request from the network.
    pub fn on_request(&mut self, now: Instant, req: Request, rel: Reliability) -> Incoming {
        let key = TransactionKey::for_request(&req);
        if let Some(tx) = self.live.get_mut(&key) {
            tx.handle(now, Input::Request(req));
            return Incoming::Matched(key);
        }
        let tx = match req.method() {
            Method::Ack => return Incoming::Ack(Box::new(req)),
            Method::Invite => {
                Transaction::InviteServer(InviteServer::new(now, req, self.timers, rel))
            }
            _ => Transaction::NonInviteServer(NonInviteServer::new(now, req, self.timers, rel)),
        };
        self.live.insert(key.clone(), tx);
        Incoming::New(key)
    }

    /// Route a response from the network to the client transaction.
    pub fn on_response(&mut self, now: Instant, resp: Response) -> Incoming {
        let Some(key) = TransactionKey::for_response(&resp) else {
            return Incoming::Stray;
        };
        match self.live.get_mut(&key) {
            Some(tx @ Transaction::NonInviteClient(_)) => {
                tx.handle(now, Input::Response(resp));
                Incoming::Matched(key)
            }
            _ => Incoming::Stray,
        }
    }

    /// The TU answers the request of server transaction `key`. Returns
    /// false if that transaction is gone (answer too late: drop it).
    pub fn respond(&mut self, now: Instant, key: &TransactionKey, resp: Response) -> bool {
        match self.live.get_mut(key) {
            Some(tx) if !matches!(tx, Transaction::NonInviteClient(_)) => {
                tx.handle(now, Input::Response(resp));
                true
            }
            _ => false,
        }
    }

    /// Start a non-INVITE client transaction (our BYE).
    pub fn send_request(&mut self, now: Instant, req: Request, rel: Reliability) -> TransactionKey {
        let key = TransactionKey::for_request(&req);
        let tx = NonInviteClient::new(now, req, self.timers, rel);
        self.live
            .insert(key.clone(), Transaction::NonInviteClient(Box::new(tx)));
        key
    }

    /// For a CANCEL's transaction key: the INVITE server transaction it
    /// cancels, if it is still live (else the CANCEL gets 481).
    pub fn cancel_target(&self, cancel: &TransactionKey) -> Option<TransactionKey> {
        let key = cancel.cancelled_invite();
        self.live.contains_key(&key).then_some(key)
    }

    /// The transport failed to send for transaction `key`.
    pub fn transport_error(&mut self, now: Instant, key: &TransactionKey) {
        if let Some(tx) = self.live.get_mut(key) {
            tx.handle(now, Input::TransportError);
        }
    }

    /// Fire every deadline that has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        for tx in self.live.values_mut() {
            if tx.poll_timeout().is_some_and(|t| t <= now) {
                tx.handle(now, Input::Timeout);
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.live
            .values()
            .filter_map(Transaction::poll_timeout)
            .min()
    }

    /// Next output of any transaction, tagged with its key. Terminated
    /// transactions are removed once their outputs are drained.
    pub fn poll_output(&mut self) -> Option<(TransactionKey, Output)> {
        if self.out.is_empty() {
            for (key, tx) in self.live.iter_mut() {
                while let Some(o) = tx.poll_output() {
                    self.out.push_back((key.clone(), o));
                }
            }
            self.live.retain(|_, tx| !tx.is_terminated());
        }
        self.out.pop_front()
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
