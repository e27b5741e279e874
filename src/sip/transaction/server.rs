//! Server transactions: INVITE (RFC 3261 §17.2.1 with RFC 6026) and
//! non-INVITE (§17.2.2).

use std::collections::VecDeque;
use std::time::Instant;

use super::{due, earliest, Input, Output, Reliability, Retransmit, Timers};
use crate::sip::message::{Method, Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteState {
    Proceeding,
    /// RFC 6026: a 2xx was sent; absorb retransmitted INVITEs until Timer L.
    Accepted,
    Completed,
    Confirmed,
    Terminated,
}

/// The server side of one INVITE.
#[derive(Debug)]
pub struct InviteServer {
    state: InviteState,
    timers: Timers,
    reliability: Reliability,
    last_response: Option<Response>,
    timer_g: Option<Retransmit>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
    /// The TU's deadline for a final response (see [`Self::answer_by`]).
    answer_by: Option<Instant>,
    out: VecDeque<Output>,
}

impl InviteServer {
    /// Start on a new INVITE: pass it to the TU and answer 100 Trying at
    /// once (§17.2.1), which also stops the caller's INVITE retransmissions.
    pub fn new(now: Instant, invite: Request, timers: Timers, reliability: Reliability) -> Self {
        let _ = now;
        let trying = Response::for_request(&invite, 100, "Trying");
        let mut out = VecDeque::new();
        out.push_back(Output::PassRequest(invite));
        out.push_back(Output::SendResponse(trying.clone()));
        InviteServer {
            state: InviteState::Proceeding,
            timers,
            reliability,
            last_response: Some(trying),
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
            answer_by: None,
            out,
        }
    }

    /// Cap the time the TU may take to send a final response. If none was
    /// sent by `at`, the transaction answers 500 itself: the caller gets a
    /// final answer instead of ringing into nothing, and the transaction
    /// then ends through the normal Completed path (Timer G/H, ACK), so its
    /// state stays bounded even when the TU is stuck.
    pub fn answer_by(&mut self, at: Instant) {
        if self.state == InviteState::Proceeding {
            self.answer_by = Some(at);
        }
    }

    pub fn state(&self) -> InviteState {
        self.state
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        match (self.state, input) {
            (InviteState::Terminated, _) => {}
            (state, Input::Request(req)) => match (state, req.method()) {
                (InviteState::Proceeding | InviteState::Completed, Method::Invite) => {
                    self.resend_last()
                }
                (InviteState::Completed, Method::Ack) => {
                    self.state = InviteState::Confirmed;
                    self.timer_g = None;
                    self.timer_h = None;
                    match self.reliability {
                        Reliability::Unreliable => self.timer_i = Some(now + self.timers.t4),
                        Reliability::Reliable => self.terminate(),
                    }
                }
                // RFC 6026 §8.7: an ACK matching in Accepted goes to the TU.
                (InviteState::Accepted, Method::Ack) => {
                    self.out.push_back(Output::PassRequest(req))
                }
                _ => {} // absorbed
            },
            (InviteState::Proceeding, Input::Response(resp)) => self.respond(now, resp),
            (InviteState::Accepted, Input::Response(resp)) if (200..300).contains(&resp.status) => {
                // The UAS core's 2xx retransmissions pass straight through.
                self.out.push_back(Output::SendResponse(resp));
            }
            (_, Input::Response(_)) => {}
            (_, Input::Timeout) => self.on_timeout(now),
            (_, Input::TransportError) => {
                self.out.push_back(Output::Timeout);
                self.terminate();
            }
        }
    }

    fn respond(&mut self, now: Instant, resp: Response) {
        if resp.is_final() {
            self.answer_by = None;
        }
        self.out.push_back(Output::SendResponse(resp.clone()));
        match resp.status {
            100..=199 => {}
            200..=299 => {
                self.state = InviteState::Accepted;
                self.timer_l = Some(now + self.timers.timeout());
            }
            _ => {
                self.state = InviteState::Completed;
                self.timer_h = Some(now + self.timers.timeout());
                if self.reliability == Reliability::Unreliable {
                    self.timer_g = Some(Retransmit {
                        at: now + self.timers.t1,
                        interval: self.timers.t1,
                    });
                }
            }
        }
        self.last_response = Some(resp);
    }

    fn on_timeout(&mut self, now: Instant) {
        match self.state {
            InviteState::Proceeding if due(self.answer_by, now) => {
                // Built from our last response (100 or the TU's 18x), which
                // copied Via, From, To, Call-ID and CSeq from the INVITE and
                // carries the TU's To tag if it chose one.
                let unanswered = self
                    .last_response
                    .as_ref()
                    .and_then(|r| Response::for_raw_headers(&r.headers, 500, ""));
                match unanswered {
                    Some(resp) => self.respond(now, resp),
                    None => {
                        self.out.push_back(Output::Timeout);
                        self.terminate();
                    }
                }
            }
            InviteState::Completed if due(self.timer_h, now) => {
                self.out.push_back(Output::Timeout);
                self.terminate();
            }
            InviteState::Completed => {
                if let Some(g) = self.timer_g.filter(|g| g.at <= now) {
                    self.resend_last();
                    let interval = (g.interval * 2).min(self.timers.t2);
                    self.timer_g = Some(Retransmit {
                        at: now + interval,
                        interval,
                    });
                }
            }
            InviteState::Confirmed if due(self.timer_i, now) => self.terminate(),
            InviteState::Accepted if due(self.timer_l, now) => self.terminate(),
            _ => {}
        }
    }

    fn resend_last(&mut self) {
        if let Some(r) = &self.last_response {
            self.out.push_back(Output::SendResponse(r.clone()));
        }
    }

    fn terminate(&mut self) {
        self.state = InviteState::Terminated;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
        self.answer_by = None;
        self.out.push_back(Output::Terminated);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[
            self.timer_g.map(|g| g.at),
            self.timer_h,
            self.timer_i,
            self.timer_l,
            self.answer_by,
        ])
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == InviteState::Terminated
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// The server side of a non-INVITE request (BYE, OPTIONS, CANCEL, INFO...).
#[derive(Debug)]
pub struct NonInviteServer {
    state: NonInviteState,
    timers: Timers,
    reliability: Reliability,
    last_response: Option<Response>,
    timer_j: Option<Instant>,
    answer_by: Option<Instant>,
    out: VecDeque<Output>,
}

impl NonInviteServer {
    pub fn new(now: Instant, req: Request, timers: Timers, reliability: Reliability) -> Self {
        let _ = now;
        NonInviteServer {
            state: NonInviteState::Trying,
            timers,
            reliability,
            last_response: None,
            timer_j: None,
            answer_by: None,
            out: VecDeque::from([Output::PassRequest(req)]),
        }
    }

    /// Cap the time the TU may take to answer. Past `at` the transaction
    /// reports `Timeout` and ends without sending anything: a non-INVITE
    /// client gives up after its Timer F (64*T1, the table's default cap),
    /// so a late 500 would be discarded, and staying silent costs a flood
    /// nothing (RFC 4320 also advises against late 408s to non-INVITE).
    pub fn answer_by(&mut self, at: Instant) {
        if matches!(
            self.state,
            NonInviteState::Trying | NonInviteState::Proceeding
        ) {
            self.answer_by = Some(at);
        }
    }

    pub fn state(&self) -> NonInviteState {
        self.state
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        match (self.state, input) {
            (NonInviteState::Terminated, _) => {}
            // Retransmission: silent in Trying, else resend our last answer.
            (NonInviteState::Trying, Input::Request(_)) => {}
            (_, Input::Request(_)) => {
                if let Some(r) = &self.last_response {
                    self.out.push_back(Output::SendResponse(r.clone()));
                }
            }
            (NonInviteState::Trying | NonInviteState::Proceeding, Input::Response(resp)) => {
                self.out.push_back(Output::SendResponse(resp.clone()));
                if resp.is_final() {
                    self.answer_by = None;
                    self.state = NonInviteState::Completed;
                    match self.reliability {
                        Reliability::Unreliable => self.timer_j = Some(now + self.timers.timeout()),
                        Reliability::Reliable => self.terminate(),
                    }
                } else {
                    self.state = NonInviteState::Proceeding;
                }
                self.last_response = Some(resp);
            }
            (_, Input::Response(_)) => {}
            (_, Input::Timeout) => {
                if self.state == NonInviteState::Completed && due(self.timer_j, now) {
                    self.terminate();
                } else if due(self.answer_by, now) {
                    self.out.push_back(Output::Timeout);
                    self.terminate();
                }
            }
            (_, Input::TransportError) => {
                self.out.push_back(Output::Timeout);
                self.terminate();
            }
        }
    }

    fn terminate(&mut self) {
        self.state = NonInviteState::Terminated;
        self.timer_j = None;
        self.answer_by = None;
        self.out.push_back(Output::Terminated);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[self.timer_j, self.answer_by])
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == NonInviteState::Terminated
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
