//! The load gauge: whether the process keeps up, from three signals, with
//! hysteresis so that shedding does not flap.
//!
//! - scheduling lag: how late the probe task ([`super::probe`]) wakes on
//!   the runtime; when the workers are saturated every task is late,
//!   including the timers that pace 200 OKs and RTP;
//! - the dispatcher's queue: datagrams parsed but not yet handled;
//! - RTP send lateness: how far behind their 20 ms deadlines the media
//!   sessions send.
//!
//! Shedding starts once one signal has stayed at or over its limit for
//! `shed_after` (a lone hiccup, such as one 80 ms stall of a shared
//! machine, is not overload: the 20 ms media clock catches up after it),
//! and stops once every signal has stayed under its limit for `calm_for`. While it lasts,
//! new calls are refused at once (503) so that the calls already accepted
//! get their answers and their media on time: shed, never starve.
//!
//! Sans-io: samples and time come in as arguments.

use std::fmt;
use std::time::{Duration, Instant};

/// One reading of the signals (the worst value over the probe's window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadSample {
    pub scheduling_lag: Duration,
    pub dispatch_queue: usize,
    pub rtp_lateness: Duration,
}

/// Which signal said "too much".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    SchedulingLag,
    DispatchQueue,
    RtpLateness,
}

impl Signal {
    /// Stable names, for log lines and the `[admission]` keys they match.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SchedulingLag => "scheduling_lag",
            Self::DispatchQueue => "dispatch_queue",
            Self::RtpLateness => "rtp_lateness",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits (`[admission]` `max_scheduling_lag`, `max_dispatch_queue`,
/// `max_rtp_lateness`, `shed_after`, `calm_for`). A signal at or above its
/// limit is overload, so a limit of 0 sheds every new call (a test
/// setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    pub max_scheduling_lag: Duration,
    pub max_dispatch_queue: usize,
    pub max_rtp_lateness: Duration,
    pub shed_after: Duration,
    pub calm_for: Duration,
}

/// A change of the gauge's state, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Started { signal: Signal, sample: LoadSample },
    Stopped { lasted: Duration },
}

#[derive(Debug, Clone, Copy)]
struct Shedding {
    since: Instant,
    last_over: Instant,
    signal: Signal,
}

/// See the module comment.
#[derive(Debug)]
pub struct LoadGauge {
    limits: LoadLimits,
    shedding: Option<Shedding>,
    /// Not shedding: since when every reading has been over a limit.
    over_since: Option<Instant>,
}

impl LoadGauge {
    pub fn new(limits: LoadLimits) -> Self {
        Self {
            limits,
            shedding: None,
            over_since: None,
        }
    }

    pub fn set_limits(&mut self, limits: LoadLimits) {
        self.limits = limits;
    }

    /// The first signal at or over its limit in `s`, if any.
    pub fn over(&self, s: &LoadSample) -> Option<Signal> {
        let l = &self.limits;
        if s.scheduling_lag >= l.max_scheduling_lag {
            Some(Signal::SchedulingLag)
        } else if s.dispatch_queue >= l.max_dispatch_queue {
            Some(Signal::DispatchQueue)
        } else if s.rtp_lateness >= l.max_rtp_lateness {
            Some(Signal::RtpLateness)
        } else {
            None
        }
    }

    /// Take a reading; returns the transition it caused, if any.
    pub fn observe(&mut self, now: Instant, sample: LoadSample) -> Option<Transition> {
        match (self.over(&sample), self.shedding.as_mut()) {
            (Some(signal), None) => {
                let since = *self.over_since.get_or_insert(now);
                if now.saturating_duration_since(since) < self.limits.shed_after {
                    return None;
                }
                self.over_since = None;
                self.shedding = Some(Shedding {
                    since: now,
                    last_over: now,
                    signal,
                });
                Some(Transition::Started { signal, sample })
            }
            (Some(_), Some(s)) => {
                s.last_over = now;
                None
            }
            (None, Some(s))
                if now.saturating_duration_since(s.last_over) >= self.limits.calm_for =>
            {
                let lasted = now.saturating_duration_since(s.since);
                self.shedding = None;
                Some(Transition::Stopped { lasted })
            }
            (None, None) => {
                self.over_since = None;
                None
            }
            (None, Some(_)) => None,
        }
    }

    /// The signal new calls are shed for, while shedding.
    pub fn shedding(&self) -> Option<Signal> {
        self.shedding.map(|s| s.signal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: LoadLimits = LoadLimits {
        max_scheduling_lag: Duration::from_millis(50),
        max_dispatch_queue: 1000,
        max_rtp_lateness: Duration::from_millis(20),
        shed_after: Duration::ZERO,
        calm_for: Duration::from_secs(2),
    };

    fn lag(ms: u64) -> LoadSample {
        LoadSample {
            scheduling_lag: Duration::from_millis(ms),
            ..LoadSample::default()
        }
    }

    #[test]
    fn an_idle_process_sheds_nothing() {
        let mut g = LoadGauge::new(LIMITS);
        let t0 = Instant::now();
        for i in 0..100 {
            assert_eq!(g.observe(t0 + Duration::from_millis(i * 100), lag(2)), None);
        }
        assert_eq!(g.shedding(), None);
    }

    #[test]
    fn each_signal_at_its_limit_starts_shedding() {
        let t0 = Instant::now();
        let cases = [
            (lag(50), Signal::SchedulingLag),
            (
                LoadSample {
                    dispatch_queue: 1000,
                    ..LoadSample::default()
                },
                Signal::DispatchQueue,
            ),
            (
                LoadSample {
                    rtp_lateness: Duration::from_millis(25),
                    ..LoadSample::default()
                },
                Signal::RtpLateness,
            ),
        ];
        for (sample, signal) in cases {
            let mut g = LoadGauge::new(LIMITS);
            assert_eq!(
                g.observe(t0, sample),
                Some(Transition::Started { signal, sample })
            );
            assert_eq!(g.shedding(), Some(signal));
        }
    }

    #[test]
    fn shedding_stops_only_after_calm_for_without_overload() {
        let mut g = LoadGauge::new(LIMITS);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(g.observe(at(0), lag(80)).is_some());
        // Calm for 1.5 s, then one more late wake: the clock restarts.
        assert_eq!(g.observe(at(1500), lag(1)), None);
        assert_eq!(g.observe(at(1600), lag(70)), None);
        assert_eq!(g.observe(at(3500), lag(1)), None, "1.9 s calm only");
        assert_eq!(g.shedding(), Some(Signal::SchedulingLag));
        assert_eq!(
            g.observe(at(3600), lag(1)),
            Some(Transition::Stopped {
                lasted: Duration::from_millis(3600)
            })
        );
        assert_eq!(g.shedding(), None);
    }

    #[test]
    fn a_hiccup_shorter_than_shed_after_sheds_nothing() {
        let mut g = LoadGauge::new(LoadLimits {
            shed_after: Duration::from_millis(300),
            ..LIMITS
        });
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // One window with an 80 ms stall, then normal, twice.
        for base in [0, 1000] {
            assert_eq!(g.observe(at(base), lag(80)), None);
            assert_eq!(g.observe(at(base + 100), lag(80)), None);
            assert_eq!(g.observe(at(base + 200), lag(3)), None);
        }
        assert_eq!(g.shedding(), None);
        // Sustained: over at 2000, 2100, 2200 and still at 2300 (300 ms).
        for ms in [2000, 2100, 2200] {
            assert_eq!(g.observe(at(ms), lag(80)), None);
        }
        assert!(matches!(
            g.observe(at(2300), lag(80)),
            Some(Transition::Started { .. })
        ));
    }

    #[test]
    fn a_zero_limit_is_always_overload() {
        let mut g = LoadGauge::new(LoadLimits {
            max_scheduling_lag: Duration::ZERO,
            ..LIMITS
        });
        assert!(g.observe(Instant::now(), LoadSample::default()).is_some());
    }
}
