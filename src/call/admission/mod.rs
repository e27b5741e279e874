//! Admission of new calls under flood and overload (issue 14, hardening 4
//! and 5): which new INVITE may start a call now, decided at once, so that
//! the excess hears 503 within milliseconds and the calls already accepted
//! keep their promises (answer within the ring delay, RTP on time).
//!
//! Two checks, both sans-io and driven by the dispatcher:
//! - [`RateLimiter`]: new INVITEs per second per source IP address;
//! - [`LoadGauge`]: whether the process keeps up (scheduling lag measured
//!   by the [`probe`] task, the dispatcher's queue depth, RTP send
//!   lateness), with hysteresis.
//!
//! [`Admission`] puts them together with counters and log lines that are
//! themselves rate-limited (a flood must not become a flood of log lines).
//! The `max_calls` count and draining stay in the dispatcher.

mod gauge;
mod limiter;
pub mod probe;

use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use gauge::{LoadGauge, LoadLimits, LoadSample, Signal, Transition};
pub use limiter::{RateLimit, RateLimiter};

/// At most one "rate limited" log line per this.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The `[admission]` settings, as the dispatcher uses them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionSettings {
    pub rate: RateLimit,
    pub load: LoadLimits,
    /// Live SIP transactions at most; over it a new request gets a
    /// stateless 503 from the transaction table.
    pub max_transactions: usize,
    /// Seconds a refused caller is told to wait (Retry-After).
    pub retry_after: u32,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        Self {
            rate: RateLimit {
                rate: 50.0,
                burst: 100,
                max_sources: 10_000,
            },
            load: LoadLimits {
                max_scheduling_lag: Duration::from_millis(50),
                max_dispatch_queue: 2000,
                max_rtp_lateness: Duration::from_millis(20),
                shed_after: Duration::from_millis(300),
                calm_for: Duration::from_secs(2),
            },
            max_transactions: 20_000,
            retry_after: 30,
        }
    }
}

/// Why a new call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source sent new INVITEs faster than `invite_rate`.
    RateLimited,
    /// The process is shedding load, for this signal.
    Overloaded(Signal),
}

impl Refusal {
    /// For the 503's log line.
    pub fn why(self) -> &'static str {
        match self {
            Self::RateLimited => "source over its INVITE rate",
            Self::Overloaded(_) => "overloaded",
        }
    }
}

/// Counters (cumulative, for stats and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    pub rate_limited: u64,
    pub shed: u64,
    /// Times shedding started.
    pub shed_episodes: u64,
}

/// One log line per `every`, counting what it held back.
#[derive(Debug)]
pub struct LogThrottle {
    every: Duration,
    next: Option<Instant>,
    held: u64,
}

impl LogThrottle {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            next: None,
            held: 0,
        }
    }

    /// `Some(lines held back since the last one)` when a line may go out.
    pub fn ready(&mut self, now: Instant) -> Option<u64> {
        if self.next.is_some_and(|t| now < t) {
            self.held += 1;
            return None;
        }
        self.next = Some(now + self.every);
        Some(std::mem::take(&mut self.held))
    }
}

/// The rate limiter and the load gauge, with counters and log lines.
#[derive(Debug)]
pub struct Admission {
    limiter: RateLimiter,
    gauge: LoadGauge,
    stats: AdmissionStats,
    /// The last sample from the probe (the queue depth replaced per call).
    last: LoadSample,
    /// Calls shed in the current episode.
    shed_now: u64,
    rate_log: LogThrottle,
}

impl Admission {
    pub fn new(s: &AdmissionSettings) -> Self {
        Self {
            limiter: RateLimiter::new(s.rate),
            gauge: LoadGauge::new(s.load),
            stats: AdmissionStats::default(),
            last: LoadSample::default(),
            shed_now: 0,
            rate_log: LogThrottle::new(LOG_EVERY),
        }
    }

    /// New settings (a reload); state and counters stay.
    pub fn configure(&mut self, s: &AdmissionSettings) {
        self.limiter.set_limit(s.rate);
        self.gauge.set_limits(s.load);
    }

    pub fn stats(&self) -> AdmissionStats {
        self.stats
    }

    /// A reading (from the probe, with the dispatcher's queue depth).
    pub fn observe(&mut self, now: Instant, sample: LoadSample) {
        tracing::trace!(?sample, "load");
        self.last = sample;
        match self.gauge.observe(now, sample) {
            Some(Transition::Started { signal, sample }) => {
                self.stats.shed_episodes += 1;
                self.shed_now = 0;
                tracing::warn!(
                    code = "HL-SIP-SHED",
                    %signal,
                    scheduling_lag_ms = sample.scheduling_lag.as_secs_f64() * 1e3,
                    dispatch_queue = sample.dispatch_queue,
                    rtp_lateness_ms = sample.rtp_lateness.as_secs_f64() * 1e3,
                    "overloaded: shedding load, new calls get 503 until it falls"
                );
            }
            Some(Transition::Stopped { lasted }) => {
                tracing::info!(
                    code = "HL-SIP-SHED-END",
                    ?lasted,
                    shed = self.shed_now,
                    "load back under the limits: taking new calls again"
                );
            }
            None => {}
        }
    }

    /// May a new call from `source` start now? `queue` is the dispatcher's
    /// backlog at this moment: checked on every INVITE, since a burst
    /// fills the queue faster than the probe's window.
    pub fn admit(&mut self, now: Instant, source: IpAddr, queue: usize) -> Result<(), Refusal> {
        if queue != self.last.dispatch_queue {
            let sample = LoadSample {
                dispatch_queue: queue,
                ..self.last
            };
            if self.gauge.shedding().is_none() && self.gauge.over(&sample).is_some() {
                self.observe(now, sample);
            }
        }
        if let Some(signal) = self.gauge.shedding() {
            self.stats.shed += 1;
            self.shed_now += 1;
            return Err(Refusal::Overloaded(signal));
        }
        if !self.limiter.allow(now, source) {
            self.stats.rate_limited += 1;
            if let Some(held) = self.rate_log.ready(now) {
                tracing::warn!(
                    code = "HL-SIP-RATE",
                    %source,
                    held_back = held,
                    "new INVITEs over the per-source rate limit get 503 (admission.invite_rate; one line per 10 s)"
                );
            }
            return Err(Refusal::RateLimited);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_flooding_source_is_limited_and_counted_while_others_get_in() {
        let s = AdmissionSettings {
            rate: RateLimit {
                rate: 10.0,
                burst: 10,
                max_sources: 100,
            },
            ..AdmissionSettings::default()
        };
        let mut a = Admission::new(&s);
        let t0 = Instant::now();
        let ok = (0..1000)
            .filter(|_| a.admit(t0, ip("127.0.0.1"), 0).is_ok())
            .count();
        assert_eq!(ok, 10);
        assert_eq!(a.stats().rate_limited, 990);
        assert_eq!(a.admit(t0, ip("127.0.0.2"), 0), Ok(()));
    }

    fn immediate() -> AdmissionSettings {
        let mut s = AdmissionSettings::default();
        s.load.shed_after = Duration::ZERO;
        s
    }

    #[test]
    fn overload_sheds_every_source_until_calm() {
        let s = immediate();
        let mut a = Admission::new(&s);
        let t0 = Instant::now();
        a.observe(
            t0,
            LoadSample {
                scheduling_lag: Duration::from_millis(200),
                ..LoadSample::default()
            },
        );
        for src in ["127.0.0.1", "127.0.0.2", "10.1.2.3"] {
            assert_eq!(
                a.admit(t0, ip(src), 0),
                Err(Refusal::Overloaded(Signal::SchedulingLag))
            );
        }
        assert_eq!(a.stats().shed, 3);
        assert_eq!(a.stats().rate_limited, 0, "shed calls take no token");
        let calm = t0 + s.load.calm_for;
        a.observe(calm, LoadSample::default());
        assert_eq!(a.admit(calm, ip("127.0.0.1"), 0), Ok(()));
        assert_eq!(a.stats().shed_episodes, 1);
    }

    #[test]
    fn a_full_dispatch_queue_sheds_at_once_without_waiting_for_the_probe() {
        let s = immediate();
        let mut a = Admission::new(&s);
        let t0 = Instant::now();
        assert_eq!(a.admit(t0, ip("127.0.0.1"), 10), Ok(()));
        assert_eq!(
            a.admit(t0, ip("127.0.0.1"), s.load.max_dispatch_queue),
            Err(Refusal::Overloaded(Signal::DispatchQueue))
        );
    }

    #[test]
    fn the_log_throttle_lets_one_line_through_per_period() {
        let mut t = LogThrottle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(t.ready(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(t.ready(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(t.ready(t0 + Duration::from_secs(10)), Some(5));
    }
}
