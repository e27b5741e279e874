//! The transaction table: routes each incoming message to its transaction
//! (creating server transactions for new requests), collects outputs and
//! deadlines, and forgets transactions once they terminate.
//!
//! Cost per event is O(log n) in the number of live transactions, never a
//! scan (issue 14, hardening 3): every transaction the table touches is
//! settled at once, its outputs moved to one queue and its next deadline
//! re-filed in a `BTreeMap` ordered by (deadline, id). The map holds exactly
//! one entry per transaction that has a deadline (the old one is removed
//! when it changes), so it never grows with stale entries; `poll_timeout`
//! reads its first key, `handle_timeout` pops only what is due.
//!
//! Server transactions the TU never answers are capped
//! ([`TransactionTable::set_answer_caps`]): an INVITE gets a 500 from the
//! transaction itself (the caller must not ring into nothing, and the
//! transaction then ends through Completed), a non-INVITE ends silently
//! (its client's Timer F has fired by then; a response would be dropped).
//! The defaults bound the TU, not the network, so they do not shrink with
//! a small configured T1: INVITE 60 s (twice the longest ringing the
//! configuration allows, 3 rings of 10 s), non-INVITE 32 s (Timer F at the
//! standard T1); each at least 64*T1.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub use super::kind::Transaction;
use super::{
    Input, InviteServer, NonInviteClient, NonInviteServer, Output, Reliability, Timers,
    TransactionKey,
};
use crate::sip::message::{Method, Request, Response};
use uac::HeldCancel;

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

#[derive(Debug)]
struct Entry {
    tx: Transaction,
    /// Tie-breaker in the deadline map; unique per transaction.
    id: u64,
    /// The deadline currently filed in `TransactionTable::deadlines`.
    deadline: Option<Instant>,
}

/// All live transactions of one UA.
#[derive(Debug, Default)]
pub struct TransactionTable {
    timers: Timers,
    /// (INVITE, non-INVITE) caps; `None` for the defaults.
    answer_caps: Option<(Duration, Duration)>,
    max_live: Option<usize>,
    live: HashMap<TransactionKey, Entry>,
    deadlines: BTreeMap<(Instant, u64), TransactionKey>,
    next_id: u64,
    out: VecDeque<(TransactionKey, Output)>,
    /// INVITE client key -> the CANCEL held until it is in Proceeding.
    held_cancels: HashMap<TransactionKey, HeldCancel>,
    touched: u64,
    refused: u64,
}

impl TransactionTable {
    pub fn new(timers: Timers) -> Self {
        TransactionTable {
            timers,
            ..TransactionTable::default()
        }
    }

    /// How long the TU may leave an INVITE and a non-INVITE server
    /// transaction without a final response. Applies to transactions
    /// created from now on.
    pub fn set_answer_caps(&mut self, invite: Duration, non_invite: Duration) {
        self.answer_caps = Some((invite, non_invite));
    }

    /// Refuse new server transactions once `max` transactions are live:
    /// the request gets a stateless 503 with Retry-After and no
    /// transaction. Unlimited by default; our own client transactions are
    /// never refused.
    pub fn set_max_live(&mut self, max: usize) {
        self.max_live = Some(max);
    }

    fn answer_cap(&self, method: &Method) -> Duration {
        let (invite, non_invite) = self.answer_caps.unwrap_or_else(|| {
            let f = self.timers.timeout();
            (
                f.max(Duration::from_secs(60)),
                f.max(Duration::from_secs(32)),
            )
        });
        match method {
            Method::Invite => invite,
            _ => non_invite,
        }
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// How many times a transaction was visited (handled or settled) since
    /// the table was made: the work done, for tests and metrics.
    pub fn touched(&self) -> u64 {
        self.touched
    }

    /// How many requests were refused with 503 over the live limit.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// A live transaction, to look at its state.
    pub fn get(&self, key: &TransactionKey) -> Option<&Transaction> {
        self.live.get(key).map(|e| &e.tx)
    }

    /// Route a request from the network.
    ///
    /// Over [`Self::set_max_live`] a new request is refused and still
    /// reported as `New`: its outputs are a 503 and `Terminated`, no
    /// `PassRequest`, so an owner that routes `New` keys' outputs answers it
    /// without any other change.
    pub fn on_request(&mut self, now: Instant, req: Request, rel: Reliability) -> Incoming {
        let key = TransactionKey::for_request(&req);
        if self.live.contains_key(&key) {
            self.handle(now, &key, Input::Request(req));
            return Incoming::Matched(key);
        }
        if req.method() == &Method::Ack {
            return Incoming::Ack(Box::new(req));
        }
        if self.max_live.is_some_and(|max| self.live.len() >= max) {
            let mut busy = Response::for_request(&req, 503, "");
            busy.headers.push("Retry-After", "5");
            self.refused += 1;
            self.out
                .push_back((key.clone(), Output::SendResponse(busy)));
            self.out.push_back((key.clone(), Output::Terminated));
            return Incoming::New(key);
        }
        let tx = self.new_server(now, req, rel);
        self.insert(key.clone(), tx);
        Incoming::New(key)
    }

    /// The server transaction for a new request, with the answer cap set.
    fn new_server(&self, now: Instant, req: Request, rel: Reliability) -> Transaction {
        let deadline = now + self.answer_cap(req.method());
        if req.method() == &Method::Invite {
            let mut t = InviteServer::new(now, req, self.timers, rel);
            t.answer_by(deadline);
            Transaction::InviteServer(t)
        } else {
            let mut t = NonInviteServer::new(now, req, self.timers, rel);
            t.answer_by(deadline);
            Transaction::NonInviteServer(t)
        }
    }

    /// Route a response from the network to the client transaction.
    pub fn on_response(&mut self, now: Instant, resp: Response) -> Incoming {
        let Some(key) = TransactionKey::for_response(&resp) else {
            return Incoming::Stray;
        };
        match self.live.get(&key) {
            Some(e) if !e.tx.is_server() => {
                self.handle(now, &key, Input::Response(resp));
                Incoming::Matched(key)
            }
            _ => Incoming::Stray,
        }
    }

    /// The TU answers the request of server transaction `key`. Returns
    /// false if that transaction is gone (answer too late: drop it).
    pub fn respond(&mut self, now: Instant, key: &TransactionKey, resp: Response) -> bool {
        match self.live.get(key) {
            Some(e) if e.tx.is_server() => {
                self.handle(now, key, Input::Response(resp));
                true
            }
            _ => false,
        }
    }

    /// Start a client transaction for a request we send: an INVITE gets an
    /// INVITE client transaction, anything else a non-INVITE one (BYE,
    /// OPTIONS, CANCEL, INFO, UPDATE). Not for ACK, which has none.
    pub fn send_request(&mut self, now: Instant, req: Request, rel: Reliability) -> TransactionKey {
        if req.method() == &Method::Invite {
            return self.send_invite(now, req, rel);
        }
        let key = TransactionKey::for_request(&req);
        let tx = NonInviteClient::new(now, req, self.timers, rel);
        self.insert(key.clone(), Transaction::NonInviteClient(Box::new(tx)));
        key
    }

    /// For a CANCEL's transaction key: the INVITE server transaction it
    /// cancels, if it is still live (else the CANCEL gets 481).
    pub fn cancel_target(&self, cancel: &TransactionKey) -> Option<TransactionKey> {
        let key = cancel.cancelled_invite();
        matches!(
            self.live.get(&key).map(|e| &e.tx),
            Some(Transaction::InviteServer(_))
        )
        .then_some(key)
    }

    /// The transport failed to send for transaction `key`.
    pub fn transport_error(&mut self, now: Instant, key: &TransactionKey) {
        if self.live.contains_key(key) {
            self.handle(now, key, Input::TransportError);
        }
    }

    /// Fire every deadline that has passed. Each due transaction is handled
    /// once per call, even if it asks for another deadline at or before
    /// `now`, so one call always ends.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        for key in due {
            if let Some(e) = self.live.get_mut(&key) {
                e.deadline = None; // its map entry was just removed
            }
            self.handle(now, &key, Input::Timeout);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|(at, _)| *at)
    }

    /// Next output of any transaction, tagged with its key. Terminated
    /// transactions are already forgotten by then.
    pub fn poll_output(&mut self) -> Option<(TransactionKey, Output)> {
        self.out.pop_front()
    }

    fn insert(&mut self, key: TransactionKey, tx: Transaction) {
        let id = self.next_id;
        self.next_id += 1;
        // A key reused while live (a peer reusing a branch, or our own
        // request sent twice) replaces the old transaction: unfile it.
        if let Some(old) = self.live.remove(&key) {
            if let Some(d) = old.deadline {
                self.deadlines.remove(&(d, old.id));
            }
        }
        self.live.insert(
            key.clone(),
            Entry {
                tx,
                id,
                deadline: None,
            },
        );
        self.settle(&key);
    }

    fn handle(&mut self, now: Instant, key: &TransactionKey, input: Input) {
        if let Some(e) = self.live.get_mut(key) {
            e.tx.handle(now, input);
            self.settle(key);
            self.release_held_cancel(now, key);
        }
    }

    /// After a transaction was touched: move its outputs to the queue,
    /// re-file its deadline, forget it if it terminated.
    fn settle(&mut self, key: &TransactionKey) {
        let Some(e) = self.live.get_mut(key) else {
            return;
        };
        self.touched += 1;
        while let Some(o) = e.tx.poll_output() {
            self.out.push_back((key.clone(), o));
        }
        let next = (!e.tx.is_terminated())
            .then(|| e.tx.poll_timeout())
            .flatten();
        if next != e.deadline {
            if let Some(old) = e.deadline {
                self.deadlines.remove(&(old, e.id));
            }
            if let Some(new) = next {
                self.deadlines.insert((new, e.id), key.clone());
            }
            e.deadline = next;
        }
        if e.tx.is_terminated() {
            self.live.remove(key);
        }
    }
}

#[path = "table_uac.rs"]
mod uac;

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "table_scale_tests.rs"]
mod scale_tests;
