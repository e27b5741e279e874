//! Nonce-count replay checks (RFC 7616 §3.3 `nc`, §5.12).
//!
//! Nonces are stateless, so a captured `Authorization` could be sent again
//! until its nonce goes stale. The guard remembers, per nonce, the highest
//! `nc` accepted; the same or a lower count again is a replay. Memory is
//! bounded: past `capacity` the oldest nonce is forgotten, and so that a
//! forgotten nonce cannot be replayed from nc=1 again, any nonce issued no
//! later than the newest forgotten one and not in the table is refused as
//! [`NcVerdict::Forgotten`] (the phone gets a new challenge, no harm done).
//! Nonces older than the lifetime are dropped first: they are stale anyway.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::nonce::{nonce_issued_secs, unix_secs};

/// What [`ReplayGuard::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NcVerdict {
    /// A count higher than any before for this nonce: recorded.
    Accepted,
    /// The same or a lower count than one already accepted.
    Replay,
    /// The nonce may have been evicted: ask for a new one.
    Forgotten,
}

/// Bounded map nonce → highest nc accepted.
#[derive(Debug)]
pub struct ReplayGuard {
    capacity: usize,
    lifetime_secs: u64,
    /// nonce → (highest nc, issue secs).
    seen: HashMap<String, (u32, u64)>,
    /// First-seen order, for eviction.
    order: VecDeque<String>,
    /// Issue time of the newest evicted nonce (0: none evicted).
    forgotten_upto: u64,
}

impl ReplayGuard {
    /// Remember at most `capacity` nonces (at least 1), each at most
    /// `lifetime` past its issue time.
    pub fn new(capacity: usize, lifetime: Duration) -> ReplayGuard {
        ReplayGuard {
            capacity: capacity.max(1),
            lifetime_secs: lifetime.as_secs(),
            seen: HashMap::new(),
            order: VecDeque::new(),
            forgotten_upto: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Check and record `nc` for `nonce` (one of ours, already checked).
    pub fn check(&mut self, now: DateTime<Utc>, nonce: &str, nc: u32) -> NcVerdict {
        self.drop_expired(unix_secs(now));
        if let Some((highest, _)) = self.seen.get_mut(nonce) {
            if nc <= *highest {
                return NcVerdict::Replay;
            }
            *highest = nc;
            return NcVerdict::Accepted;
        }
        let issued = nonce_issued_secs(nonce).unwrap_or(0);
        if self.forgotten_upto != 0 && issued <= self.forgotten_upto {
            return NcVerdict::Forgotten;
        }
        if self.seen.len() >= self.capacity {
            self.evict_oldest();
        }
        self.seen.insert(nonce.to_string(), (nc, issued));
        self.order.push_back(nonce.to_string());
        NcVerdict::Accepted
    }

    /// Drop nonces from the front while they are past their lifetime. The
    /// order is first-seen, close to issue order; a late straggler waits
    /// for eviction, which is safe.
    fn drop_expired(&mut self, now: u64) {
        while let Some(front) = self.order.front() {
            let expired = self
                .seen
                .get(front)
                .is_none_or(|(_, issued)| issued.saturating_add(self.lifetime_secs) < now);
            if !expired {
                break;
            }
            if let Some(n) = self.order.pop_front() {
                self.seen.remove(&n);
            }
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(n) = self.order.pop_front() {
            if let Some((_, issued)) = self.seen.remove(&n) {
                self.forgotten_upto = self.forgotten_upto.max(issued);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::NonceKey;
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    const LIFE: Duration = Duration::from_secs(300);

    #[test]
    fn rising_counts_pass_repeats_and_lower_are_replays() {
        let k = NonceKey::random();
        let n = k.issue(at(0));
        let mut g = ReplayGuard::new(10, LIFE);
        assert_eq!(g.check(at(0), &n, 1), NcVerdict::Accepted);
        assert_eq!(g.check(at(1), &n, 1), NcVerdict::Replay);
        assert_eq!(g.check(at(1), &n, 3), NcVerdict::Accepted);
        assert_eq!(g.check(at(2), &n, 2), NcVerdict::Replay);
        assert_eq!(g.check(at(2), &n, 4), NcVerdict::Accepted);
        // Another nonce is counted on its own.
        let m = k.issue(at(0));
        assert_eq!(g.check(at(2), &m, 1), NcVerdict::Accepted);
    }

    #[test]
    fn at_the_bound_the_oldest_is_forgotten_and_cannot_be_replayed() {
        let k = NonceKey::random();
        let mut g = ReplayGuard::new(3, LIFE);
        let nonces: Vec<String> = (0..4).map(|i| k.issue(at(i))).collect();
        for n in &nonces[..3] {
            assert_eq!(g.check(at(5), n, 1), NcVerdict::Accepted);
        }
        assert_eq!(g.len(), 3);
        assert_eq!(g.check(at(5), &nonces[3], 1), NcVerdict::Accepted);
        assert_eq!(g.len(), 3, "never more than the capacity");
        // nonces[0] was evicted: its replay is not let through.
        assert_eq!(g.check(at(5), &nonces[0], 1), NcVerdict::Forgotten);
        // The others are still tracked.
        assert_eq!(g.check(at(5), &nonces[1], 1), NcVerdict::Replay);
        // A nonce issued after the eviction is accepted.
        let fresh = k.issue(at(6));
        assert_eq!(g.check(at(6), &fresh, 1), NcVerdict::Accepted);
        assert_eq!(g.len(), 3);
    }

    #[test]
    fn expired_nonces_are_dropped_without_forgetting() {
        let k = NonceKey::random();
        let mut g = ReplayGuard::new(100, LIFE);
        for i in 0..50 {
            g.check(at(0), &k.issue(at(i)), 1);
        }
        assert_eq!(g.len(), 50);
        let n = k.issue(at(400));
        assert_eq!(g.check(at(400), &n, 1), NcVerdict::Accepted);
        assert_eq!(g.len(), 1, "all 50 were past the lifetime");
    }
}
