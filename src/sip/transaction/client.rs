//! Non-INVITE client transaction (RFC 3261 §17.1.2): the BYE we send when
//! a call ends, or when the caller never ACKs our 200.

use std::collections::VecDeque;
use std::time::Instant;

use super::{due, earliest, Input, Output, Reliability, Retransmit, Timers};
use crate::sip::message::Request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct NonInviteClient {
    state: ClientState,
    timers: Timers,
    reliability: Reliability,
    request: Request,
    timer_e: Option<Retransmit>,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
    out: VecDeque<Output>,
}

impl NonInviteClient {
    /// Start: send the request now; Timer E (retransmit, unreliable only)
    /// and Timer F (give up after 64*T1).
    pub fn new(now: Instant, request: Request, timers: Timers, reliability: Reliability) -> Self {
        let timer_e = (reliability == Reliability::Unreliable).then(|| Retransmit {
            at: now + timers.t1,
            interval: timers.t1,
        });
        NonInviteClient {
            state: ClientState::Trying,
            timers,
            reliability,
            out: VecDeque::from([Output::SendRequest(request.clone())]),
            request,
            timer_e,
            timer_f: Some(now + timers.timeout()),
            timer_k: None,
        }
    }

    pub fn state(&self) -> ClientState {
        self.state
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        match (self.state, input) {
            (ClientState::Trying | ClientState::Proceeding, Input::Response(resp)) => {
                let final_ = resp.is_final();
                self.out.push_back(Output::PassResponse(resp));
                if !final_ {
                    self.state = ClientState::Proceeding;
                    return;
                }
                self.state = ClientState::Completed;
                self.timer_e = None;
                self.timer_f = None;
                match self.reliability {
                    Reliability::Unreliable => self.timer_k = Some(now + self.timers.t4),
                    Reliability::Reliable => self.terminate(),
                }
            }
            (ClientState::Trying | ClientState::Proceeding, Input::Timeout) => {
                if due(self.timer_f, now) {
                    self.out.push_back(Output::Timeout);
                    self.terminate();
                } else if let Some(e) = self.timer_e.filter(|e| e.at <= now) {
                    self.out
                        .push_back(Output::SendRequest(self.request.clone()));
                    // §17.1.2.2: doubling up to T2 while Trying, T2 once a
                    // provisional response arrived.
                    let interval = match self.state {
                        ClientState::Proceeding => self.timers.t2,
                        _ => (e.interval * 2).min(self.timers.t2),
                    };
                    self.timer_e = Some(Retransmit {
                        at: now + interval,
                        interval,
                    });
                }
            }
            (ClientState::Completed, Input::Timeout) if due(self.timer_k, now) => self.terminate(),
            (ClientState::Terminated, _) => {}
            (_, Input::TransportError) => {
                self.out.push_back(Output::Timeout);
                self.terminate();
            }
            _ => {} // response retransmissions in Completed are absorbed
        }
    }

    fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
        self.out.push_back(Output::Terminated);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[self.timer_e.map(|e| e.at), self.timer_f, self.timer_k])
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sip::transaction::testutil::{request, response};

    fn sends(tx: &mut NonInviteClient) -> usize {
        std::iter::from_fn(|| tx.poll_output())
            .filter(|o| matches!(o, Output::SendRequest(_)))
            .count()
    }

    #[test]
    fn retransmits_on_e_and_times_out_on_f() {
        let t0 = Instant::now();
        let bye = request("BYE", "z9hG4bKc1");
        let mut tx = NonInviteClient::new(t0, bye, Timers::default(), Reliability::Unreliable);
        assert_eq!(sends(&mut tx), 1);
        let mut now = t0;
        let mut gaps = Vec::new();
        let mut resent = 0;
        while let Some(next) = tx.poll_timeout() {
            gaps.push(next - now);
            now = next;
            tx.handle(now, Input::Timeout);
            let outs: Vec<Output> = std::iter::from_fn(|| tx.poll_output()).collect();
            resent += outs
                .iter()
                .filter(|o| matches!(o, Output::SendRequest(_)))
                .count();
            if outs.contains(&Output::Timeout) {
                assert_eq!(outs.last(), Some(&Output::Terminated));
                break;
            }
        }
        assert_eq!(
            &gaps[..5],
            &[500, 1000, 2000, 4000, 4000].map(Duration::from_millis)
        );
        assert_eq!(now - t0, Duration::from_secs(32), "Timer F = 64*T1");
        assert_eq!(resent, 10, "E fires at .5,1.5,3.5,7.5,11.5,...,31.5 s");
    }

    #[test]
    fn provisional_then_final_then_k() {
        let t0 = Instant::now();
        let bye = request("BYE", "z9hG4bKc2");
        let mut tx =
            NonInviteClient::new(t0, bye.clone(), Timers::default(), Reliability::Unreliable);
        sends(&mut tx);
        tx.handle(t0, Input::Response(response(&bye, 100)));
        assert_eq!(tx.state(), ClientState::Proceeding);
        tx.handle(t0 + Duration::from_millis(500), Input::Timeout);
        tx.poll_output();
        assert_eq!(tx.poll_output(), Some(Output::SendRequest(bye.clone())));
        assert_eq!(
            tx.poll_timeout(),
            Some(t0 + Duration::from_millis(4500)),
            "T2 in Proceeding"
        );
        let ok = response(&bye, 200);
        tx.handle(t0 + Duration::from_secs(1), Input::Response(ok.clone()));
        assert_eq!(tx.poll_output(), Some(Output::PassResponse(ok.clone())));
        tx.handle(t0 + Duration::from_secs(2), Input::Response(ok));
        assert_eq!(tx.poll_output(), None, "retransmitted 200 absorbed");
        assert_eq!(
            tx.poll_timeout(),
            Some(t0 + Duration::from_secs(6)),
            "Timer K = T4"
        );
        tx.handle(t0 + Duration::from_secs(6), Input::Timeout);
        assert_eq!(tx.poll_output(), Some(Output::Terminated));
    }
}
