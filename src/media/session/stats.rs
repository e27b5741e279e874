//! Send-time lateness of a session's packets: how long after its absolute
//! deadline each packet actually left. A fixed array of 0.1 ms buckets, so
//! recording costs no allocation and merging sessions is a sum.

use std::time::Duration;

/// Bucket width.
const STEP_US: u64 = 100;
/// Buckets cover 0-25.6 ms; later packets land in the last one.
const BUCKETS: usize = 256;

/// Histogram of per-packet lateness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lateness {
    counts: [u32; BUCKETS],
    count: u64,
    max: Duration,
}

impl Default for Lateness {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
            count: 0,
            max: Duration::ZERO,
        }
    }
}

impl Lateness {
    pub fn record(&mut self, late: Duration) {
        let bucket = (late.as_micros() as u64 / STEP_US).min(BUCKETS as u64 - 1);
        self.counts[bucket as usize] = self.counts[bucket as usize].saturating_add(1);
        self.count += 1;
        self.max = self.max.max(late);
    }

    /// Add another session's histogram.
    pub fn merge(&mut self, other: &Lateness) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// Upper edge of the bucket holding quantile `q` (0.0-1.0): the true
    /// value is at most 0.1 ms below it. `None` when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64 * q.clamp(0.0, 1.0)).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                if i == BUCKETS - 1 {
                    return Some(self.max);
                }
                let edge = Duration::from_micros((i as u64 + 1) * STEP_US);
                return Some(edge.min(self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets_and_merge_adds_up() {
        let mut a = Lateness::default();
        assert_eq!(a.quantile(0.5), None);
        for us in 0..99 {
            a.record(Duration::from_micros(50 + us));
        }
        a.record(Duration::from_millis(40)); // one very late packet
        assert_eq!(a.quantile(0.5), Some(Duration::from_micros(100)));
        assert_eq!(a.quantile(0.99), Some(Duration::from_micros(200)));
        assert_eq!(a.quantile(1.0), Some(Duration::from_millis(40)));
        assert_eq!(a.max(), Duration::from_millis(40));
        let mut b = Lateness::default();
        b.record(Duration::from_millis(3));
        b.merge(&a);
        assert_eq!(b.count(), 101);
        assert_eq!(b.max(), Duration::from_millis(40));
    }
}
