//! The RFC 4028 session timer of one leg, sans-io: given the negotiated
//! interval and who refreshes, when to send a refresh (we refresh) or when
//! to give up on the peer's (they refresh). Both legs use it, so the
//! caller's and the agent's sessions follow the same rules.
//!
//! - We refresh: a refresh (re-INVITE) goes out at half the interval
//!   (§10: "half the interval ... is RECOMMENDED"); its 2xx starts a new
//!   interval. If none succeeds, the session ends when it expires.
//! - They refresh: if no refresh arrives, the session ends (BYE) at the
//!   expiry minus the smaller of 32 seconds and a third of the interval
//!   (§10), so our BYE is not raced by a refresh that was merely late.
//!
//! Pure: `now` comes in, deadlines and actions come out, so tests drive
//! hours of refreshes without a clock.

use std::time::{Duration, Instant};

/// RFC 4028's floor for Min-SE (§4: 90 seconds).
pub const MIN_SE_FLOOR: Duration = Duration::from_secs(90);

/// What the leg must do when [`SessionTimer::poll_timeout`] passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    /// Send a session refresh now (re-INVITE or UPDATE).
    Refresh,
    /// No refresh in time: end the session (BYE).
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    interval: Duration,
    we_refresh: bool,
    /// Start of the current interval (the last successful refresh).
    since: Instant,
    /// When our next refresh goes out; `None` while one is out (or we
    /// gave up on refreshing, or they refresh).
    next_refresh: Option<Instant>,
    /// The dialog is known gone (408/481 to a refresh): end at this time.
    gone_at: Option<Instant>,
}

impl SessionTimer {
    /// A session refreshed at `now` (its 2xx), of `interval`, refreshed by
    /// us when `we_refresh`.
    pub fn new(now: Instant, interval: Duration, we_refresh: bool) -> Self {
        SessionTimer {
            interval,
            we_refresh,
            since: now,
            next_refresh: we_refresh.then(|| now + interval / 2),
            gone_at: None,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn we_refresh(&self) -> bool {
        self.we_refresh
    }

    /// A refresh succeeded at `now` (either side's), possibly with a new
    /// interval or refresher (RFC 4028 lets each refresh renegotiate).
    pub fn refreshed(&mut self, now: Instant, interval: Duration, we_refresh: bool) {
        *self = SessionTimer::new(now, interval, we_refresh);
    }

    /// Our refresh was refused (not 2xx, not 422 or 491): the session goes
    /// on until it expires, with no further attempt.
    pub fn refresh_failed(&mut self) {
        self.next_refresh = None;
    }

    /// Our refresh met 491 (glare) or 422 (a larger interval wanted): try
    /// again at `at` (the caller picks it), never past the expiry.
    pub fn retry_at(&mut self, at: Instant) -> Instant {
        let at = at.min(self.expires_at());
        self.next_refresh = Some(at);
        at
    }

    /// The peer asked for a longer interval (422 to our refresh): the
    /// current one lasts that long from its start.
    pub fn lengthen(&mut self, interval: Duration) {
        self.interval = self.interval.max(interval);
    }

    /// The dialog is gone (408 or 481 to our refresh, RFC 4028 §10): the
    /// session ends at `now`.
    pub fn gone(&mut self, now: Instant) {
        self.next_refresh = None;
        self.gone_at = Some(now);
    }

    /// When the session expires without a refresh.
    pub fn expires_at(&self) -> Instant {
        self.since + self.interval
    }

    /// When the session is given up on (we end it with BYE).
    pub fn give_up_at(&self) -> Instant {
        if let Some(at) = self.gone_at {
            return at;
        }
        if self.we_refresh {
            // Our own refresh had until the very end.
            return self.expires_at();
        }
        let margin = Duration::from_secs(32).min(self.interval / 3);
        self.expires_at() - margin
    }

    /// When our next refresh is due, if we refresh and none is out.
    pub fn refresh_at(&self) -> Option<Instant> {
        self.next_refresh
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Instant {
        self.refresh_at()
            .map_or(self.give_up_at(), |r| r.min(self.give_up_at()))
    }

    /// What is due at `now`, if anything. A `Refresh` marks the refresh as
    /// sent (the next deadline is the expiry, until `refreshed`).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        if now >= self.give_up_at() {
            return Some(TimerAction::Expired);
        }
        if self.next_refresh.is_some_and(|r| now >= r) {
            self.next_refresh = None;
            return Some(TimerAction::Refresh);
        }
        None
    }
}

/// What a final (or provisional) answer to our refresh means for the leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshAnswer {
    /// 1xx: wait for the final answer.
    Pending,
    /// 2xx: ACK it (every copy); the timer started a new interval.
    Accepted,
    /// Anything else: the timer knows what comes next (a retry, the
    /// expiry, or the end at once); nothing to send now.
    Refused,
}

/// Apply the answer to our refresh (RFC 4028 §10) to `timer` at `now`:
/// a 2xx starts a new interval (the one its Session-Expires names, and its
/// refresher; ours by default); 422 lengthens the interval to its Min-SE
/// and retries at once; 491 (glare) retries in 2 s; 408 and 481 say the
/// dialog is gone (end now); any other refusal leaves the session to
/// expire. In the answer, `refresher=uac` names us (we sent the refresh).
pub fn on_refresh_answer(
    timer: &mut SessionTimer,
    now: Instant,
    status: u16,
    session_expires: Option<SessionExpires>,
    min_se: Option<Duration>,
) -> RefreshAnswer {
    match status {
        100..=199 => RefreshAnswer::Pending,
        200..=299 => {
            let (interval, we) = match session_expires {
                Some(se) if !se.interval.is_zero() => {
                    (se.interval, se.refresher_uac.unwrap_or(true))
                }
                _ => (timer.interval(), timer.we_refresh()),
            };
            timer.refreshed(now, interval, we);
            RefreshAnswer::Accepted
        }
        422 => {
            if let Some(min) = min_se {
                timer.lengthen(min);
                timer.retry_at(now);
            } else {
                timer.refresh_failed();
            }
            RefreshAnswer::Refused
        }
        491 => {
            timer.retry_at(now + Duration::from_secs(2));
            RefreshAnswer::Refused
        }
        408 | 481 => {
            timer.gone(now);
            RefreshAnswer::Refused
        }
        _ => {
            timer.refresh_failed();
            RefreshAnswer::Refused
        }
    }
}

/// A 422's Min-SE (delta-seconds).
pub fn min_se_of(value: Option<&str>) -> Option<Duration> {
    let secs: u64 = value?.split(';').next()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// A `Session-Expires` value: delta-seconds and the `refresher` param.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    pub interval: Duration,
    /// `Some(true)`: `refresher=uac`; `Some(false)`: `uas`; `None`: absent.
    pub refresher_uac: Option<bool>,
}

impl SessionExpires {
    /// Parse `1800;refresher=uac` (the compact `x` header reads the same).
    pub fn parse(value: &str) -> Option<SessionExpires> {
        let mut parts = value.split(';');
        let secs: u64 = parts.next()?.trim().parse().ok()?;
        let mut refresher_uac = None;
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            if k.trim().eq_ignore_ascii_case("refresher") {
                refresher_uac = match v.trim().to_ascii_lowercase().as_str() {
                    "uac" => Some(true),
                    "uas" => Some(false),
                    _ => None,
                };
            }
        }
        Some(SessionExpires {
            interval: Duration::from_secs(secs),
            refresher_uac,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn we_refresh_at_half_the_interval_and_every_2xx_starts_anew() {
        let t0 = Instant::now();
        let mut st = SessionTimer::new(t0, secs(1800), true);
        assert_eq!(st.poll_timeout(), t0 + secs(900));
        assert_eq!(st.handle_timeout(t0 + secs(899)), None);
        assert_eq!(
            st.handle_timeout(t0 + secs(900)),
            Some(TimerAction::Refresh)
        );
        // Sent: the next deadline is the expiry, and nothing fires twice.
        assert_eq!(st.poll_timeout(), t0 + secs(1800));
        assert_eq!(st.handle_timeout(t0 + secs(901)), None);
        st.refreshed(t0 + secs(901), secs(1800), true);
        assert_eq!(st.poll_timeout(), t0 + secs(901 + 900));
        // Hours of refreshes keep the session up.
        let mut now = t0 + secs(901);
        for _ in 0..10 {
            now = st.poll_timeout();
            assert_eq!(st.handle_timeout(now), Some(TimerAction::Refresh));
            st.refreshed(now, secs(1800), true);
        }
        assert_eq!(st.expires_at(), now + secs(1800));
    }

    #[test]
    fn a_refresh_that_never_succeeds_ends_the_session_at_expiry() {
        let t0 = Instant::now();
        let mut st = SessionTimer::new(t0, secs(90), true);
        assert_eq!(st.handle_timeout(t0 + secs(45)), Some(TimerAction::Refresh));
        st.refresh_failed();
        assert_eq!(st.poll_timeout(), t0 + secs(90));
        assert_eq!(st.handle_timeout(t0 + secs(89)), None);
        assert_eq!(st.handle_timeout(t0 + secs(90)), Some(TimerAction::Expired));
    }

    #[test]
    fn glare_retries_but_never_past_the_expiry() {
        let t0 = Instant::now();
        let mut st = SessionTimer::new(t0, secs(90), true);
        st.handle_timeout(t0 + secs(45));
        assert_eq!(st.retry_at(t0 + secs(47)), t0 + secs(47));
        assert_eq!(st.poll_timeout(), t0 + secs(47), "the refresh is due again");
        assert_eq!(st.handle_timeout(t0 + secs(46)), None);
        assert_eq!(st.handle_timeout(t0 + secs(47)), Some(TimerAction::Refresh));
        assert_eq!(st.retry_at(t0 + secs(300)), t0 + secs(90));
    }

    #[test]
    fn a_longer_interval_asked_by_422_and_a_dialog_gone() {
        let t0 = Instant::now();
        let mut st = SessionTimer::new(t0, secs(90), true);
        st.handle_timeout(t0 + secs(45));
        st.lengthen(secs(300));
        assert_eq!(st.retry_at(t0 + secs(45)), t0 + secs(45));
        assert_eq!(st.expires_at(), t0 + secs(300));
        assert_eq!(st.handle_timeout(t0 + secs(45)), Some(TimerAction::Refresh));
        st.gone(t0 + secs(46));
        assert_eq!(st.poll_timeout(), t0 + secs(46));
        assert_eq!(st.handle_timeout(t0 + secs(46)), Some(TimerAction::Expired));
    }

    #[test]
    fn when_they_refresh_we_give_up_before_the_expiry_by_the_rfc_margin() {
        let t0 = Instant::now();
        // 1800 s: the margin is 32 s.
        let mut st = SessionTimer::new(t0, secs(1800), false);
        assert_eq!(st.poll_timeout(), t0 + secs(1768));
        assert_eq!(st.handle_timeout(t0 + secs(900)), None, "we never refresh");
        st.refreshed(t0 + secs(1700), secs(1800), false);
        assert_eq!(st.handle_timeout(t0 + secs(1768)), None);
        assert_eq!(
            st.handle_timeout(t0 + secs(1700 + 1768)),
            Some(TimerAction::Expired)
        );
        // 90 s: a third, 30 s.
        let st = SessionTimer::new(t0, secs(90), false);
        assert_eq!(st.give_up_at(), t0 + secs(60));
    }

    #[test]
    fn answers_to_our_refresh() {
        let t0 = Instant::now();
        let fresh = || {
            let mut st = SessionTimer::new(t0, secs(1800), true);
            st.handle_timeout(t0 + secs(900));
            st
        };
        let now = t0 + secs(901);
        let mut st = fresh();
        assert_eq!(
            on_refresh_answer(&mut st, now, 100, None, None),
            RefreshAnswer::Pending
        );
        assert_eq!(st.poll_timeout(), t0 + secs(1800), "still waiting");
        // 2xx naming the phone as refresher from now on.
        let se = SessionExpires::parse("600;refresher=uas");
        assert_eq!(
            on_refresh_answer(&mut st, now, 200, se, None),
            RefreshAnswer::Accepted
        );
        assert!(!st.we_refresh());
        assert_eq!(st.give_up_at(), now + secs(600 - 32));
        // 2xx without Session-Expires: the same terms again.
        let mut st = fresh();
        on_refresh_answer(&mut st, now, 200, None, None);
        assert_eq!(
            (st.interval(), st.refresh_at()),
            (secs(1800), Some(now + secs(900)))
        );
        // 422 with Min-SE: longer, at once.
        let mut st = fresh();
        on_refresh_answer(&mut st, now, 422, None, Some(secs(3600)));
        assert_eq!((st.interval(), st.refresh_at()), (secs(3600), Some(now)));
        // 491: two seconds later.
        let mut st = fresh();
        on_refresh_answer(&mut st, now, 491, None, None);
        assert_eq!(st.refresh_at(), Some(now + secs(2)));
        // 481: the dialog is gone, end now.
        let mut st = fresh();
        on_refresh_answer(&mut st, now, 481, None, None);
        assert_eq!(st.handle_timeout(now), Some(TimerAction::Expired));
        // 500: no more tries; the session expires.
        let mut st = fresh();
        on_refresh_answer(&mut st, now, 500, None, None);
        assert_eq!(
            (st.refresh_at(), st.poll_timeout()),
            (None, t0 + secs(1800))
        );
        assert_eq!(min_se_of(Some("120")), Some(secs(120)));
        assert_eq!(min_se_of(Some("x")), None);
    }

    #[test]
    fn session_expires_values() {
        assert_eq!(
            SessionExpires::parse("1800;refresher=uac"),
            Some(SessionExpires {
                interval: secs(1800),
                refresher_uac: Some(true)
            })
        );
        assert_eq!(
            SessionExpires::parse(" 90 ; Refresher = UAS"),
            Some(SessionExpires {
                interval: secs(90),
                refresher_uac: Some(false)
            })
        );
        assert_eq!(
            SessionExpires::parse("600").map(|s| s.refresher_uac),
            Some(None)
        );
        assert_eq!(SessionExpires::parse("soon"), None);
        assert_eq!(SessionExpires::parse(""), None);
    }
}
