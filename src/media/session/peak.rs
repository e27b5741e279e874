//! The worst RTP send lateness of any session since the last reading: a
//! process-wide gauge that the call layer's load probe reads and resets
//! every window (`call::admission::probe`), so admission can refuse new
//! calls when the media of the accepted ones falls behind.
//!
//! One atomic, written only when a packet is later than the peak so far:
//! on time, a send costs one relaxed load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static PEAK_US: AtomicU64 = AtomicU64::new(0);

/// A packet left `late` after its deadline.
pub fn note_lateness(late: Duration) {
    let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
    if us > PEAK_US.load(Ordering::Relaxed) {
        PEAK_US.fetch_max(us, Ordering::Relaxed);
    }
}

/// The worst lateness since the last call, and start over.
pub fn take_peak_lateness() -> Duration {
    Duration::from_micros(PEAK_US.swap(0, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_worst_since_the_last_reading() {
        // Other tests' sessions may write too: only check what they cannot
        // undo (a peak is never lowered by a smaller note).
        note_lateness(Duration::from_secs(3600));
        note_lateness(Duration::from_millis(1));
        assert!(take_peak_lateness() >= Duration::from_secs(3600));
        assert!(take_peak_lateness() < Duration::from_secs(3600));
    }
}
