//! What the journal holds, in memory: the entries not yet in the database,
//! by sequence number, with the readers the call path needs (a pending
//! ticket by key or number). No I/O here, so the lock around it is only
//! ever held for microseconds, never across a file write.
//!
//! Provisional tickets: a ticket journaled with no final number (the
//! reserve ran out during an outage) carries a negative number, unique in
//! this journal. When its `Create` replays, the database gives it a number
//! from the sequence; later entries that name the provisional number are
//! translated then. Its `Create` is *retained* (kept on disk, skipped by
//! [`JournalIndex::first`]) until no other entry names the provisional
//! number, so a crash in between replays the `Create` again, which is
//! idempotent by key and gives the same final number back.

use std::collections::{BTreeSet, HashMap};

use super::journal::{Entries, JournalOp};
use super::model::{Ticket, TicketNumber};

#[derive(Debug)]
pub struct JournalIndex {
    pending: Entries,
    /// Applied provisional `Create`s still needed for their number.
    retained: BTreeSet<u64>,
    next_seq: u64,
    next_provisional: i64,
    /// Sequence numbers allocated whose entries are not yet durable.
    in_flight: usize,
    /// Provisional numbers replayed so far, and the final numbers the
    /// database gave them.
    finals: HashMap<i64, TicketNumber>,
}

/// `op` with its ticket number passed through `f`.
pub fn with_number(op: JournalOp, f: impl Fn(TicketNumber) -> TicketNumber) -> JournalOp {
    match op {
        JournalOp::Create { mut ticket } => {
            ticket.number = f(ticket.number);
            JournalOp::Create { ticket }
        }
        JournalOp::Update {
            number,
            op_id,
            at,
            actor,
            update,
        } => JournalOp::Update {
            number: f(number),
            op_id,
            at,
            actor,
            update,
        },
        JournalOp::Assign {
            number,
            actor,
            assignment,
        } => JournalOp::Assign {
            number: f(number),
            actor,
            assignment,
        },
        JournalOp::Event {
            number,
            op_id,
            at,
            actor,
            event,
        } => {
            // The op-id names the ticket: a provisional number is only
            // unique in one journal, so it is renamed with the final one.
            let to = f(number);
            let op_id = if to != number {
                event.op_id(to, at)
            } else {
                op_id
            };
            JournalOp::Event {
                number: to,
                op_id,
                at,
                actor,
                event,
            }
        }
        JournalOp::CallRecord { mut record } => {
            record.ticket_number = record.ticket_number.map(f);
            JournalOp::CallRecord { record }
        }
    }
}

/// The ticket number an entry names, if any.
pub fn number_of(op: &JournalOp) -> Option<TicketNumber> {
    match op {
        JournalOp::Create { ticket } => Some(ticket.number),
        JournalOp::Update { number, .. }
        | JournalOp::Assign { number, .. }
        | JournalOp::Event { number, .. } => Some(*number),
        JournalOp::CallRecord { record } => record.ticket_number,
    }
}

impl JournalIndex {
    pub fn new(pending: Entries) -> Self {
        let next_seq = pending.keys().next_back().map_or(1, |s| s + 1);
        let lowest = pending
            .values()
            .filter_map(number_of)
            .map(|n| n.0)
            .min()
            .unwrap_or(0);
        Self {
            pending,
            retained: BTreeSet::new(),
            next_seq,
            next_provisional: lowest.min(0) - 1,
            in_flight: 0,
            finals: HashMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// The sequence number for the next entry (entries become visible with
    /// [`JournalIndex::insert`] once durable).
    pub fn allocate(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight += 1;
        seq
    }

    /// An allocated entry was not written after all.
    pub fn abandon(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A provisional ticket number no pending entry uses.
    pub fn provisional(&mut self) -> TicketNumber {
        let n = self.next_provisional;
        self.next_provisional -= 1;
        TicketNumber(n)
    }

    /// Entry `seq` is durable: from now on it is pending.
    pub fn insert(&mut self, seq: u64, op: JournalOp) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.pending.insert(seq, op);
    }

    /// `n`'s final number, if it is provisional and has been replayed.
    pub fn resolve(&self, n: TicketNumber) -> TicketNumber {
        if n.is_provisional() {
            self.finals.get(&n.0).copied().unwrap_or(n)
        } else {
            n
        }
    }

    /// `op` naming final numbers where the provisional ones have them.
    pub fn translate(&self, op: JournalOp) -> JournalOp {
        with_number(op, |n| self.resolve(n))
    }

    /// The provisional `Create` `seq` reached the database as `number`:
    /// remember the final number and keep the entry until nothing else
    /// names the provisional one.
    pub fn replayed_provisional(
        &mut self,
        seq: u64,
        provisional: TicketNumber,
        number: TicketNumber,
    ) {
        self.finals.insert(provisional.0, number);
        self.retained.insert(seq);
    }

    /// With every other entry applied and none being written, the retained
    /// `Create`s are no longer needed: forget them and return their
    /// sequence numbers (their files go next). A crash before the files go
    /// replays them, which is harmless (idempotent by key).
    pub fn release_retained(&mut self) -> Vec<u64> {
        if self.in_flight > 0 || self.first().is_some() {
            return Vec::new();
        }
        let seqs: Vec<u64> = std::mem::take(&mut self.retained).into_iter().collect();
        for s in &seqs {
            self.pending.remove(s);
        }
        seqs
    }

    pub fn remove(&mut self, seq: u64) -> Option<JournalOp> {
        self.retained.remove(&seq);
        self.pending.remove(&seq)
    }

    /// The oldest entry not yet applied (retained `Create`s are applied).
    pub fn first(&self) -> Option<(u64, JournalOp)> {
        self.pending
            .iter()
            .find(|(s, _)| !self.retained.contains(s))
            .map(|(s, o)| (*s, o.clone()))
    }

    /// A ticket created in this journal and not yet in the database, by
    /// its key ([`Ticket::key`]).
    pub fn pending_ticket_by_key(&self, key: &str) -> Option<Ticket> {
        self.pending
            .iter()
            .filter(|(s, _)| !self.retained.contains(s))
            .find_map(|(_, op)| match op {
                JournalOp::Create { ticket } if ticket.key() == key => Some((**ticket).clone()),
                _ => None,
            })
    }

    /// A pending ticket by number, with pending updates applied, so readers
    /// see what the caller was promised even before the database has it.
    pub fn pending_ticket(&self, number: TicketNumber) -> Option<Ticket> {
        let mut found: Option<Ticket> = None;
        for (seq, op) in &self.pending {
            if self.retained.contains(seq) {
                continue;
            }
            match op {
                JournalOp::Create { ticket } if ticket.number == number => {
                    found = Some((**ticket).clone())
                }
                JournalOp::Update {
                    number: n, update, ..
                } if *n == number => {
                    if let Some(t) = found.as_mut() {
                        super::repo::apply_in_memory(t, update);
                    }
                }
                JournalOp::Assign {
                    number: n,
                    assignment,
                    ..
                } if *n == number => {
                    if let Some(t) = found.as_mut() {
                        super::repo::assign_in_memory(t, assignment);
                    }
                }
                JournalOp::Event {
                    number: n,
                    at,
                    event,
                    ..
                } if *n == number => {
                    if let Some(t) = found.as_mut() {
                        super::repo::event_in_memory(t, *at, event);
                    }
                }
                _ => {}
            }
        }
        found
    }
}
