//! The UAS core's duty RFC 6026 took away from the INVITE transaction:
//! retransmitting our 2xx until the ACK arrives, and giving up (the call
//! must then be torn down with BYE) after 64*T1 without one.
//! RFC 3261 §13.3.1.4.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::sip::message::Response;
use crate::sip::transaction::Timers;

/// Events for [`AckWaiter::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckInput {
    /// The ACK for our 2xx arrived.
    Ack,
    /// A deadline from `poll_timeout` passed.
    Timeout,
}

/// What the waiter asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutput {
    /// Send this 2xx again.
    Retransmit(Response),
    /// 64*T1 passed without ACK: confirm the dialog, then send BYE.
    GiveUp,
}

/// Retransmits one 2xx (T1, 2*T1, ... capped at T2) until ACK or 64*T1.
#[derive(Debug)]
pub struct AckWaiter {
    response: Response,
    timers: Timers,
    next: Option<Instant>,
    interval: Duration,
    give_up_at: Instant,
    out: VecDeque<AckOutput>,
}

impl AckWaiter {
    /// Start when the 2xx is first sent at `now`. The retransmissions apply
    /// on every transport: proxies on the way may use UDP.
    pub fn new(now: Instant, response: Response, timers: Timers) -> Self {
        AckWaiter {
            response,
            timers,
            next: Some(now + timers.t1),
            interval: timers.t1,
            give_up_at: now + timers.timeout(),
            out: VecDeque::new(),
        }
    }

    pub fn handle(&mut self, now: Instant, input: AckInput) {
        let Some(next) = self.next else { return };
        match input {
            AckInput::Ack => self.next = None,
            AckInput::Timeout if now >= self.give_up_at => {
                self.next = None;
                self.out.push_back(AckOutput::GiveUp);
            }
            AckInput::Timeout if now >= next => {
                self.out
                    .push_back(AckOutput::Retransmit(self.response.clone()));
                self.interval = (self.interval * 2).min(self.timers.t2);
                self.next = Some(now + self.interval);
            }
            AckInput::Timeout => {}
        }
    }

    /// True while still waiting for the ACK.
    pub fn is_waiting(&self) -> bool {
        self.next.is_some()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next.map(|n| n.min(self.give_up_at))
    }

    pub fn poll_output(&mut self) -> Option<AckOutput> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::testutil::{request, response};

    fn ok() -> Response {
        response(&request("INVITE", "z9hG4bKu1"), 200)
    }

    #[test]
    fn retransmits_doubling_to_t2_then_gives_up_at_64_t1() {
        let t0 = Instant::now();
        let mut w = AckWaiter::new(t0, ok(), Timers::default());
        let mut times = Vec::new();
        let mut gave_up = None;
        while let Some(at) = w.poll_timeout() {
            w.handle(at, AckInput::Timeout);
            while let Some(o) = w.poll_output() {
                match o {
                    AckOutput::Retransmit(r) => {
                        assert_eq!(r.status, 200);
                        times.push((at - t0).as_millis());
                    }
                    AckOutput::GiveUp => gave_up = Some(at - t0),
                }
            }
        }
        assert_eq!(&times[..6], &[500, 1500, 3500, 7500, 11500, 15500]);
        assert_eq!(times.len(), 10);
        assert_eq!(gave_up, Some(Duration::from_secs(32)));
        assert!(!w.is_waiting());
    }

    #[test]
    fn ack_stops_everything() {
        let t0 = Instant::now();
        let mut w = AckWaiter::new(t0, ok(), Timers::default());
        w.handle(t0 + Duration::from_millis(500), AckInput::Timeout);
        assert!(matches!(w.poll_output(), Some(AckOutput::Retransmit(_))));
        w.handle(t0 + Duration::from_millis(600), AckInput::Ack);
        assert_eq!(w.poll_timeout(), None);
        w.handle(t0 + Duration::from_secs(40), AckInput::Timeout);
        assert_eq!(w.poll_output(), None, "no BYE after a late timeout");
    }

    #[test]
    fn early_wakeup_does_nothing() {
        let t0 = Instant::now();
        let mut w = AckWaiter::new(t0, ok(), Timers::default());
        w.handle(t0 + Duration::from_millis(100), AckInput::Timeout);
        assert_eq!(w.poll_output(), None);
        assert_eq!(w.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    }
}
