//! The load probe: a task that sleeps [`PROBE_EVERY`] over and over and
//! measures how late it wakes (the runtime's scheduling lag), and every
//! [`WINDOW`] publishes the worst lag of the window with the worst RTP send
//! lateness the media sessions reported meanwhile. The dispatcher adds its
//! own queue depth and feeds the [`super::LoadGauge`].
//!
//! The probe is cheap (100 wake-ups a second) and does no I/O; it ends
//! when the dispatcher drops the receiver.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::LoadSample;

/// How often the probe wakes.
pub const PROBE_EVERY: Duration = Duration::from_millis(10);
/// How often it publishes a sample (the worst wake of the window).
pub const WINDOW: Duration = Duration::from_millis(100);

/// Start the probe; samples go to `tx` until its receivers are gone.
pub fn spawn(tx: watch::Sender<LoadSample>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        let mut window_end = Instant::now() + WINDOW;
        // What a late wake cost already (tokio's timer wheel has 1 ms
        // slots: an on-time wake is up to 1 ms after its deadline).
        crate::media::session::take_peak_lateness();
        loop {
            let due = Instant::now() + PROBE_EVERY;
            tokio::time::sleep_until(due).await;
            let now = Instant::now();
            worst = worst.max(now.saturating_duration_since(due));
            if now >= window_end {
                let sample = LoadSample {
                    scheduling_lag: worst,
                    dispatch_queue: 0,
                    rtp_lateness: crate::media::session::take_peak_lateness(),
                };
                if tx.send(sample).is_err() {
                    break;
                }
                worst = Duration::ZERO;
                window_end = now + WINDOW;
            }
        }
    })
}
