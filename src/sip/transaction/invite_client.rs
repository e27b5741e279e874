//! INVITE client transaction (RFC 3261 §17.1.1 as amended by RFC 6026):
//! the INVITE hotline sends to ring an agent's phone, or a re-INVITE.
//!
//! ```text
//!            send INVITE (Timer A on UDP, Timer B)
//!   Calling ──1xx──▶ Proceeding ──2xx──▶ Accepted ──Timer M──▶ Terminated
//!      │                 │  └─300-699: ACK──▶ Completed ──Timer D──▶ Terminated
//!      └─ Timer B: Timeout ───────────────────────────────────────▶ Terminated
//! ```
//!
//! Why the split of duties looks like this:
//! - The ACK for a non-2xx final belongs to the transaction (§17.1.1.3): it
//!   reuses the INVITE's branch, so only the transaction can build it, and
//!   it must be resent for every retransmitted final during Timer D.
//! - The ACK for a 2xx belongs to the TU (§13.2.2.4): it is a new
//!   transaction with its own branch, sent along the dialog's route set.
//!   RFC 6026 keeps the transaction alive in `Accepted` for Timer M so that
//!   retransmitted 2xx (and 2xx from other forks, with another To tag) are
//!   passed up instead of being treated as strays; the TU re-sends its ACK,
//!   or ACKs and BYEs a fork it does not want.
//! - Timer B only runs in `Calling`: once a provisional arrived, the phone is
//!   ringing and how long to let it ring is the TU's decision (ring timeout,
//!   then CANCEL). After a CANCEL went out, [`InviteClient::cancel_sent`]
//!   arms a 64*T1 guard (§9.1: a UAS that never answers the INVITE with 487
//!   must not keep the transaction forever).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{due, earliest, Input, Output, Reliability, Retransmit, Timers};
use crate::sip::error::ProtocolError;
use crate::sip::message::{Headers, Method, Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    /// INVITE sent, nothing heard yet.
    Calling,
    /// A provisional response arrived: ringing.
    Proceeding,
    /// RFC 6026: a 2xx arrived; further 2xx are passed up until Timer M.
    Accepted,
    /// A 300-699 arrived and was ACKed; retransmissions are re-ACKed.
    Completed,
    Terminated,
}

/// Timer D (§17.1.1.2): long enough to absorb every retransmission of a
/// non-2xx final (the server's Timer H is 64*T1, 32 s by default).
fn timer_d(timers: &Timers, reliability: Reliability) -> Duration {
    match reliability {
        Reliability::Reliable => Duration::ZERO,
        Reliability::Unreliable => Duration::from_secs(32).max(timers.timeout()),
    }
}

/// The client side of one INVITE.
#[derive(Debug)]
pub struct InviteClient {
    state: InviteClientState,
    timers: Timers,
    reliability: Reliability,
    invite: Request,
    /// The ACK sent for our non-2xx final, resent on its retransmissions.
    ack: Option<Request>,
    timer_a: Option<Retransmit>,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
    /// 64*T1 after our CANCEL: give up waiting for the INVITE's final.
    cancel_guard: Option<Instant>,
    out: VecDeque<Output>,
}

impl InviteClient {
    /// Start: send the INVITE now; Timer A (UDP only) and Timer B.
    pub fn new(now: Instant, invite: Request, timers: Timers, reliability: Reliability) -> Self {
        let timer_a = (reliability == Reliability::Unreliable).then(|| Retransmit {
            at: now + timers.t1,
            interval: timers.t1,
        });
        InviteClient {
            state: InviteClientState::Calling,
            timers,
            reliability,
            out: VecDeque::from([Output::SendRequest(invite.clone())]),
            invite,
            ack: None,
            timer_a,
            timer_b: Some(now + timers.timeout()),
            timer_d: None,
            timer_m: None,
            cancel_guard: None,
        }
    }

    pub fn state(&self) -> InviteClientState {
        self.state
    }

    /// The INVITE this transaction sends (the TU builds CANCEL and the
    /// dialog from it).
    pub fn request(&self) -> &Request {
        &self.invite
    }

    /// Our CANCEL for this INVITE went out at `now` (§9.1). If no final
    /// response arrives within 64*T1 the transaction times out.
    pub fn cancel_sent(&mut self, now: Instant) {
        if matches!(
            self.state,
            InviteClientState::Calling | InviteClientState::Proceeding
        ) {
            self.cancel_guard = Some(now + self.timers.timeout());
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        use InviteClientState::*;
        match (self.state, input) {
            (Terminated, _) => {}
            (Calling | Proceeding, Input::Response(resp)) => match resp.status {
                100..=199 => {
                    self.state = Proceeding;
                    // §17.1.1.2: a provisional stops retransmissions, and
                    // Timer B only guards Calling.
                    self.timer_a = None;
                    self.timer_b = None;
                    self.out.push_back(Output::PassResponse(resp));
                }
                200..=299 => {
                    self.state = Accepted;
                    self.stop_calling_timers();
                    self.timer_m = Some(now + self.timers.timeout());
                    self.out.push_back(Output::PassResponse(resp));
                }
                _ => {
                    self.stop_calling_timers();
                    self.ack = build_ack(&self.invite, &resp).ok();
                    self.out.push_back(Output::PassResponse(resp));
                    self.send_ack();
                    self.state = Completed;
                    match timer_d(&self.timers, self.reliability) {
                        d if d.is_zero() => self.terminate(),
                        d => self.timer_d = Some(now + d),
                    }
                }
            },
            // RFC 6026, Accepted: every 2xx goes to the TU (a
            // retransmission to re-ACK, or another fork's answer).
            (Accepted, Input::Response(resp)) if (200..300).contains(&resp.status) => {
                self.out.push_back(Output::PassResponse(resp))
            }
            // §17.1.1.2: a retransmitted non-2xx final is re-ACKed, not passed up.
            (Completed, Input::Response(resp)) if resp.status >= 300 => self.send_ack(),
            (_, Input::Response(_)) => {} // absorbed
            (_, Input::Request(_)) => {}  // a looped request is no business of ours
            (_, Input::Timeout) => self.on_timeout(now),
            (Calling | Proceeding, Input::TransportError) => {
                self.out.push_back(Output::Timeout);
                self.terminate();
            }
            // After a final, a failed ACK send changes nothing for the TU.
            (_, Input::TransportError) => {}
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        use InviteClientState::*;
        match self.state {
            Calling | Proceeding if due(self.timer_b, now) || due(self.cancel_guard, now) => {
                self.out.push_back(Output::Timeout);
                self.terminate();
            }
            Calling => {
                if let Some(a) = self.timer_a.filter(|a| a.at <= now) {
                    // Timer A doubles without the T2 cap non-INVITE uses
                    // (§17.1.1.2): 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
                    self.out.push_back(Output::SendRequest(self.invite.clone()));
                    let interval = a.interval * 2;
                    self.timer_a = Some(Retransmit {
                        at: now + interval,
                        interval,
                    });
                }
            }
            Completed if due(self.timer_d, now) => self.terminate(),
            Accepted if due(self.timer_m, now) => self.terminate(),
            _ => {}
        }
    }

    fn stop_calling_timers(&mut self) {
        self.timer_a = None;
        self.timer_b = None;
        self.cancel_guard = None;
    }

    fn send_ack(&mut self) {
        if let Some(ack) = &self.ack {
            self.out.push_back(Output::SendRequest(ack.clone()));
        }
    }

    fn terminate(&mut self) {
        self.state = InviteClientState::Terminated;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
        self.cancel_guard = None;
        self.out.push_back(Output::Terminated);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[
            self.timer_a.map(|a| a.at),
            self.timer_b,
            self.timer_d,
            self.timer_m,
            self.cancel_guard,
        ])
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == InviteClientState::Terminated
    }
}

/// The ACK for a non-2xx final response (§17.1.1.3): the INVITE's
/// Request-URI, top Via (same branch), Call-ID, From and Route headers,
/// the response's To (with the tag it added), and the INVITE's CSeq number
/// with method ACK. No body.
pub fn build_ack(invite: &Request, resp: &Response) -> Result<Request, ProtocolError> {
    let src = invite.headers();
    let mut h = Headers::new();
    // Only the top Via: ours. A request we send carries exactly one.
    if let Some(via) = src.get("Via") {
        let top = crate::sip::message::split_list(via)
            .into_iter()
            .next()
            .unwrap_or(via);
        h.push("Via", top);
    }
    h.push("Max-Forwards", "70");
    for name in ["From", "Call-ID"] {
        if let Some(v) = src.get(name) {
            h.push(name, v);
        }
    }
    let to = resp
        .headers
        .get("To")
        .or_else(|| src.get("To"))
        .unwrap_or_default();
    h.push("To", to);
    h.push("CSeq", format!("{} ACK", invite.cseq().seq));
    for r in src.get_all("Route") {
        h.push("Route", r);
    }
    Request::from_parts(Method::Ack, invite.uri().clone(), h, Vec::new())
}

#[cfg(test)]
#[path = "invite_client_tests.rs"]
mod tests;
