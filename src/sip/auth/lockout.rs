//! Brute-force lock-out, sans-io: the caller passes the time.
//!
//! Failed authentications are counted per source address and per claimed
//! user within a sliding window. When either count reaches the threshold
//! the *source* that just failed is locked out for a period: it gets 403
//! without a digest check. The user is never locked, so an agent who
//! authenticates correctly from another address is never affected (one
//! behind the same NAT as the attacker is: the address is all we see).
//! The per-user count catches a guesser spread over many addresses: once
//! a user is being guessed at, each further failing source is locked at
//! its first failure.
//!
//! Memory is bounded: at most `max_tracked` sources and as many users;
//! when full, idle entries are swept, then the least recently active one
//! is dropped. Each entry keeps at most `threshold` timestamps.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::AgentsConfig;

/// Default cap on tracked sources (and, separately, users).
pub const DEFAULT_MAX_TRACKED: usize = 10_000;

/// When to lock out, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures within `window` that lock the source (at least 1).
    pub threshold: u32,
    pub window: Duration,
    pub period: Duration,
    pub max_tracked: usize,
}

impl LockoutPolicy {
    pub fn from_config(c: &AgentsConfig) -> LockoutPolicy {
        LockoutPolicy {
            threshold: c.lockout_threshold,
            window: c.lockout_window.as_duration(),
            period: c.lockout_period.as_duration(),
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

/// A lock-out that just began: log it (WARN, user and source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutStarted {
    pub source: IpAddr,
    /// The user named in the failure that tipped it.
    pub user: String,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Failures {
    /// The latest failures, at most `threshold` of them.
    times: VecDeque<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
}

impl Failures {
    /// Record one failure; the count within the window afterwards.
    fn push(&mut self, now: DateTime<Utc>, window: chrono::Duration, cap: usize) -> usize {
        self.times.push_back(now);
        while self.times.len() > cap {
            self.times.pop_front();
        }
        self.last_seen = Some(now);
        self.times.iter().filter(|t| now - **t < window).count()
    }

    fn idle(&self, now: DateTime<Utc>, window: chrono::Duration) -> bool {
        let locked = self.locked_until.is_some_and(|u| now < u);
        let recent = self.times.back().is_some_and(|t| now - *t < window);
        !locked && !recent
    }
}

/// Failure counters and lock-outs.
#[derive(Debug)]
pub struct Lockout {
    policy: LockoutPolicy,
    sources: HashMap<IpAddr, Failures>,
    users: HashMap<String, Failures>,
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Lockout {
        Lockout {
            policy,
            sources: HashMap::new(),
            users: HashMap::new(),
        }
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.policy.window).unwrap_or(chrono::Duration::MAX)
    }

    fn cap(&self) -> usize {
        self.policy.threshold.max(1) as usize
    }

    /// Is `source` locked out at `now`?
    pub fn is_locked(&self, now: DateTime<Utc>, source: IpAddr) -> bool {
        self.sources
            .get(&source)
            .and_then(|f| f.locked_until)
            .is_some_and(|until| now < until)
    }

    /// Count a failed authentication of `user` from `source`; `Some` when
    /// this failure starts a lock-out of `source`.
    pub fn record_failure(
        &mut self,
        now: DateTime<Utc>,
        source: IpAddr,
        user: &str,
    ) -> Option<LockoutStarted> {
        let (window, cap) = (self.window(), self.cap());
        let max = self.policy.max_tracked;
        let user_count =
            entry(&mut self.users, user.to_string(), now, window, max).push(now, window, cap);
        let src = entry(&mut self.sources, source, now, window, max);
        let src_count = src.push(now, window, cap);
        if src.locked_until.is_some_and(|u| now < u) {
            return None;
        }
        if src_count.max(user_count) < cap {
            return None;
        }
        let period =
            chrono::Duration::from_std(self.policy.period).unwrap_or(chrono::Duration::MAX);
        let until = now
            .checked_add_signed(period)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        src.locked_until = Some(until);
        // A new lock starts a fresh count for when it ends.
        src.times.clear();
        Some(LockoutStarted {
            source,
            user: user.to_string(),
            until,
        })
    }

    /// Sources and users currently tracked (for tests and metrics).
    pub fn tracked(&self) -> (usize, usize) {
        (self.sources.len(), self.users.len())
    }
}

/// The entry for `key`, making room first when the map is full.
fn entry<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Failures>,
    key: K,
    now: DateTime<Utc>,
    window: chrono::Duration,
    max: usize,
) -> &mut Failures {
    if !map.contains_key(&key) && map.len() >= max.max(1) {
        map.retain(|_, f| !f.idle(now, window));
        if map.len() >= max.max(1) {
            let oldest = map
                .iter()
                .min_by_key(|(_, f)| f.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
    }
    map.entry(key).or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
    }

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            threshold: 5,
            window: Duration::from_secs(60),
            period: Duration::from_secs(300),
            max_tracked: 100,
        }
    }

    #[test]
    fn five_failures_in_the_window_lock_the_source_for_the_period() {
        let mut l = Lockout::new(policy());
        for i in 0..4 {
            assert_eq!(l.record_failure(at(i), ip(1), "agent1"), None);
            assert!(!l.is_locked(at(i), ip(1)));
        }
        let started = l
            .record_failure(at(4), ip(1), "agent1")
            .expect("lock-out starts");
        assert_eq!(started.source, ip(1));
        assert_eq!(started.user, "agent1");
        assert_eq!(started.until, at(304));
        assert!(l.is_locked(at(5), ip(1)));
        assert!(l.is_locked(at(303), ip(1)));
        assert!(!l.is_locked(at(304), ip(1)));
        // Another source is not affected.
        assert!(!l.is_locked(at(5), ip(2)));
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let mut l = Lockout::new(policy());
        for i in 0..20 {
            assert_eq!(l.record_failure(at(i * 16), ip(1), "agent1"), None, "{i}");
        }
        assert!(!l.is_locked(at(400), ip(1)));
    }

    #[test]
    fn a_guessed_user_locks_each_further_failing_source() {
        let mut l = Lockout::new(policy());
        for n in 1..=4 {
            assert_eq!(l.record_failure(at(0), ip(n), "agent1"), None);
        }
        let s = l
            .record_failure(at(1), ip(5), "agent1")
            .expect("fifth failure for the user");
        assert_eq!(s.source, ip(5));
        let s = l
            .record_failure(at(2), ip(6), "agent1")
            .expect("next source, first failure");
        assert_eq!(s.source, ip(6));
        // The sources that failed only once before the tip are not locked.
        assert!(!l.is_locked(at(2), ip(1)));
    }

    #[test]
    fn memory_stays_bounded_and_locked_sources_survive_a_sweep() {
        let mut l = Lockout::new(policy());
        for i in 0..5 {
            l.record_failure(at(i), ip(1), "agent1");
        }
        assert!(l.is_locked(at(10), ip(1)));
        for n in 0..150u32 {
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            l.record_failure(at(100 + i64::from(n)), src, &format!("user{n}"));
        }
        let (s, u) = l.tracked();
        assert!(s <= 100 && u <= 100, "{s} {u}");
        assert!(
            l.is_locked(at(250), ip(1)),
            "idle entries go first, the lock stays"
        );
    }
}
