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
//! Server transactions the TU never answers are capped (default 64*T1,
//! [`TransactionTable::set_answer_cap`]): an INVITE gets a 500 from the
//! transaction itself (the caller must not ring into nothing, and the
//! transaction then ends through Completed), a non-INVITE ends silently
//! (its client's Timer F has fired by then; a response would be dropped).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::{
    Input, InviteClient, InviteClientState, InviteServer, NonInviteClient, NonInviteServer, Output,
    Reliability, Timers, TransactionKey,
};
use crate::sip::message::{Method, Request, Response};

/// Any of our transaction kinds.
#[derive(Debug)]
pub enum Transaction {
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
    /// Boxed: it keeps a copy of the request to retransmit.
    NonInviteClient(Box<NonInviteClient>),
    /// Boxed: it keeps the INVITE and the ACK of a non-2xx.
    InviteClient(Box<InviteClient>),
}

impl Transaction {
    pub fn handle(&mut self, now: Instant, input: Input) {
        match self {
            Transaction::InviteServer(t) => t.handle(now, input),
            Transaction::NonInviteServer(t) => t.handle(now, input),
            Transaction::NonInviteClient(t) => t.handle(now, input),
            Transaction::InviteClient(t) => t.handle(now, input),
        }
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Transaction::InviteServer(t) => t.poll_timeout(),
            Transaction::NonInviteServer(t) => t.poll_timeout(),
            Transaction::NonInviteClient(t) => t.poll_timeout(),
            Transaction::InviteClient(t) => t.poll_timeout(),
        }
    }
    pub fn poll_output(&mut self) -> Option<Output> {
        match self {
            Transaction::InviteServer(t) => t.poll_output(),
            Transaction::NonInviteServer(t) => t.poll_output(),
            Transaction::NonInviteClient(t) => t.poll_output(),
            Transaction::InviteClient(t) => t.poll_output(),
        }
    }
    pub fn is_terminated(&self) -> bool {
        match self {
            Transaction::InviteServer(t) => t.is_terminated(),
            Transaction::NonInviteServer(t) => t.is_terminated(),
            Transaction::NonInviteClient(t) => t.is_terminated(),
            Transaction::InviteClient(t) => t.is_terminated(),
        }
    }
    fn is_server(&self) -> bool {
        matches!(
            self,
            Transaction::InviteServer(_) | Transaction::NonInviteServer(_)
        )
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

#[derive(Debug)]
struct Entry {
    tx: Transaction,
    /// Tie-breaker in the deadline map; unique per transaction.
    id: u64,
    /// The deadline currently filed in `TransactionTable::deadlines`.
    deadline: Option<Instant>,
}

/// A CANCEL that must wait for the INVITE's first provisional (§9.1).
#[derive(Debug)]
struct HeldCancel {
    request: Request,
    reliability: Reliability,
}

/// All live transactions of one UA.
#[derive(Debug, Default)]
pub struct TransactionTable {
    timers: Timers,
    answer_cap: Option<Duration>,
    live: HashMap<TransactionKey, Entry>,
    deadlines: BTreeMap<(Instant, u64), TransactionKey>,
    next_id: u64,
    out: VecDeque<(TransactionKey, Output)>,
    /// INVITE client key -> the CANCEL held until it is in Proceeding.
    held_cancels: HashMap<TransactionKey, HeldCancel>,
    touched: u64,
}

impl TransactionTable {
    pub fn new(timers: Timers) -> Self {
        TransactionTable {
            timers,
            ..TransactionTable::default()
        }
    }

    /// How long the TU may leave a server transaction unanswered (default
    /// 64*T1). Applies to transactions created from now on.
    pub fn set_answer_cap(&mut self, cap: Duration) {
        self.answer_cap = Some(cap);
    }

    fn answer_cap(&self) -> Duration {
        self.answer_cap.unwrap_or_else(|| self.timers.timeout())
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

    /// A live transaction, to look at its state.
    pub fn get(&self, key: &TransactionKey) -> Option<&Transaction> {
        self.live.get(key).map(|e| &e.tx)
    }

    /// Route a request from the network.
    pub fn on_request(&mut self, now: Instant, req: Request, rel: Reliability) -> Incoming {
        let key = TransactionKey::for_request(&req);
        if self.live.contains_key(&key) {
            self.handle(now, &key, Input::Request(req));
            return Incoming::Matched(key);
        }
        if req.method() == &Method::Ack {
            return Incoming::Ack(Box::new(req));
        }
        let tx = self.new_server(now, req, rel);
        self.insert(key.clone(), tx);
        Incoming::New(key)
    }

    /// The server transaction for a new request, with the answer cap set.
    fn new_server(&self, now: Instant, req: Request, rel: Reliability) -> Transaction {
        let deadline = now + self.answer_cap();
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
    /// its final answer or is gone: a 2xx must then be ACKed and BYEd).
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
                self.start_cancel(now, invite, cancel, rel);
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

    /// A held CANCEL goes out once its INVITE is in Proceeding, and is
    /// dropped once the INVITE is past it.
    fn release_held_cancel(&mut self, now: Instant, invite: &TransactionKey) {
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

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "table_scale_tests.rs"]
mod scale_tests;
