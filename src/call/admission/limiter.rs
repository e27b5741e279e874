//! The per-source INVITE rate limit: a token bucket per source IP address
//! (`rate` new INVITEs per second, up to `burst` at once), in a map of
//! bounded size.
//!
//! Why bounded: a flood of spoofed UDP sources would otherwise grow the
//! map by one entry per datagram. At `max_sources` entries the map first
//! forgets every bucket that has refilled (such a source is
//! indistinguishable from a new one), at most once per `SWEEP_EVERY` so a
//! full map of active sources costs O(1) per INVITE, not a scan; a source
//! that still finds no room shares one overflow bucket with every other
//! such source. So memory stays at `max_sources` entries and a spoofing
//! flood can at most exhaust the overflow bucket, never the callers who
//! already have their own.
//!
//! Sans-io: time comes in as an argument, so tests drive it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How often a full map is swept at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// One source's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(now: Instant, burst: f64) -> Self {
        Self {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant, rate: f64, burst: f64) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = self.at.max(now);
    }

    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        self.refill(now, rate, burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn is_full(&self, now: Instant, rate: f64, burst: f64) -> bool {
        let mut b = *self;
        b.refill(now, rate, burst);
        b.tokens >= burst
    }
}

/// The limit's settings (`[admission]` `invite_rate`, `invite_burst`,
/// `max_sources`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// New INVITEs per second per source; 0 turns the limit off.
    pub rate: f64,
    /// INVITEs a source may send at once (the bucket's size).
    pub burst: u32,
    /// Sources tracked at most.
    pub max_sources: usize,
}

/// Per-source token buckets; see the module comment.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
    overflow: Option<Bucket>,
    next_sweep: Option<Instant>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
            overflow: None,
            next_sweep: None,
        }
    }

    /// New settings (a reload). Buckets keep their tokens, capped to the
    /// new burst on their next refill; a smaller map is trimmed by the
    /// next sweep.
    pub fn set_limit(&mut self, limit: RateLimit) {
        self.limit = limit;
    }

    /// Sources with a bucket of their own (for tests and the bound).
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Whether `source` may start a call now (and take a token if so).
    pub fn allow(&mut self, now: Instant, source: IpAddr) -> bool {
        let RateLimit {
            rate,
            burst,
            max_sources,
        } = self.limit;
        if rate <= 0.0 {
            return true;
        }
        let burst = f64::from(burst.max(1));
        if let Some(b) = self.buckets.get_mut(&source) {
            return b.take(now, rate, burst);
        }
        if self.buckets.len() >= max_sources {
            self.sweep(now, rate, burst);
        }
        if self.buckets.len() < max_sources {
            let mut b = Bucket::full(now, burst);
            let ok = b.take(now, rate, burst);
            self.buckets.insert(source, b);
            return ok;
        }
        self.overflow
            .get_or_insert_with(|| Bucket::full(now, burst))
            .take(now, rate, burst)
    }

    /// Forget refilled buckets (and trim to `max_sources`), at most once
    /// per [`SWEEP_EVERY`].
    fn sweep(&mut self, now: Instant, rate: f64, burst: f64) {
        if self.next_sweep.is_some_and(|t| now < t) {
            return;
        }
        self.next_sweep = Some(now + SWEEP_EVERY);
        self.buckets.retain(|_, b| !b.is_full(now, rate, burst));
        let max = self.limit.max_sources;
        if self.buckets.len() > max {
            let extra: Vec<IpAddr> = self.buckets.keys().skip(max).copied().collect();
            for ip in extra {
                self.buckets.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    fn limiter(rate: f64, burst: u32, max_sources: usize) -> RateLimiter {
        RateLimiter::new(RateLimit {
            rate,
            burst,
            max_sources,
        })
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut l = limiter(10.0, 5, 100);
        let t0 = Instant::now();
        let allowed = (0..20).filter(|_| l.allow(t0, ip(1))).count();
        assert_eq!(allowed, 5, "the burst, no more");
        // 10 per second: one more token every 100 ms.
        assert!(!l.allow(t0 + Duration::from_millis(50), ip(1)));
        assert!(l.allow(t0 + Duration::from_millis(150), ip(1)));
        assert!(!l.allow(t0 + Duration::from_millis(160), ip(1)));
        // Over one second at 10/s: 10 calls (plus what was left).
        let mut n = 0;
        for ms in (200..1200).step_by(10) {
            n += usize::from(l.allow(t0 + Duration::from_millis(ms), ip(1)));
        }
        assert!((9..=11).contains(&n), "{n} in a second at 10/s");
    }

    #[test]
    fn one_source_over_its_rate_does_not_limit_another() {
        let mut l = limiter(1.0, 2, 100);
        let t0 = Instant::now();
        for _ in 0..100 {
            l.allow(t0, ip(1));
        }
        assert!(!l.allow(t0, ip(1)));
        assert!(l.allow(t0, ip(2)), "another source has its own bucket");
        assert!(l.allow(t0, ip(2)));
        assert!(!l.allow(t0, ip(2)));
    }

    #[test]
    fn a_zero_rate_turns_the_limit_off() {
        let mut l = limiter(0.0, 1, 1);
        let t0 = Instant::now();
        assert!((0..1000).all(|n| l.allow(t0, ip(n % 7))));
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn spoofed_sources_never_grow_the_map_past_its_bound() {
        let mut l = limiter(1.0, 1, 64);
        let t0 = Instant::now();
        // A caller with its own bucket before the flood.
        assert!(l.allow(t0, ip(0)));
        let mut admitted = 0;
        for n in 1..100_000u32 {
            let now = t0 + Duration::from_micros(u64::from(n) * 10);
            admitted += usize::from(l.allow(now, ip(n)));
            assert!(l.tracked() <= 64);
        }
        // 63 new sources got a bucket of their own; past that, all of them
        // shared one bucket at 1/s over the flood's one second.
        assert!(admitted <= 63 + 3, "{admitted} admitted");
        // The earlier caller keeps its bucket (it refills at 1/s).
        assert!(l.allow(t0 + Duration::from_secs(2), ip(0)));
    }

    #[test]
    fn refilled_sources_are_forgotten_when_the_map_is_full() {
        let mut l = limiter(10.0, 2, 4);
        let t0 = Instant::now();
        for n in 0..4 {
            assert!(l.allow(t0, ip(n)));
        }
        assert_eq!(l.tracked(), 4);
        // Half a second later all four have refilled: a new source takes
        // a bucket of its own again instead of the shared one.
        let later = t0 + Duration::from_millis(500);
        assert!(l.allow(later, ip(10)));
        assert!(l.allow(later, ip(10)));
        assert!(!l.allow(later, ip(10)), "its own burst of 2, spent");
        assert_eq!(l.tracked(), 1);
    }
}
