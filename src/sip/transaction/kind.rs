//! The one enum over every transaction kind, so the table can hold them
//! in one map and drive them the same way.

use std::time::Instant;

use super::{Input, InviteClient, InviteServer, NonInviteClient, NonInviteServer, Output};

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
    pub(crate) fn is_server(&self) -> bool {
        matches!(
            self,
            Transaction::InviteServer(_) | Transaction::NonInviteServer(_)
        )
    }
}
