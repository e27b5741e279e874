//! Send-time stamps in RTP payloads, so that the delay a relay adds can be
//! measured on one clock: the built-in caller and the built-in agent run
//! in one process, each stamps the moment a packet leaves into its G.711
//! payload, and the other end reads it on arrival.
//!
//! A relay that copies the payload as it is (hotline's bridge does when
//! both legs use one codec) keeps the stamp intact; a transcoding relay
//! destroys it and the packet counts as unstamped.
//!
//! Layout (the first 16 of the 160 payload bytes; the rest is silence):
//! magic `HLst`, the send time in nanoseconds since [`clock_ns`]'s epoch
//! (u64, big-endian), and the stream's own counter (u32, big-endian), from
//! which the receiver counts what was lost.

use std::sync::OnceLock;
use std::time::Instant;

const MAGIC: &[u8; 4] = b"HLst";
/// Bytes of a stamp at the start of a payload.
pub const STAMP_LEN: usize = 16;

/// Nanoseconds since the first call in this process: the one clock both
/// ends of a measured stream read.
pub fn clock_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Write a stamp for packet `counter` sent now into `payload` (at least
/// [`STAMP_LEN`] bytes; the rest is left as it is).
pub fn write(payload: &mut [u8], counter: u32) {
    payload[..4].copy_from_slice(MAGIC);
    payload[4..12].copy_from_slice(&clock_ns().to_be_bytes());
    payload[12..16].copy_from_slice(&counter.to_be_bytes());
}

/// The (send time, counter) of a stamped payload.
pub fn read(payload: &[u8]) -> Option<(u64, u32)> {
    if payload.len() < STAMP_LEN || &payload[..4] != MAGIC {
        return None;
    }
    let sent = u64::from_be_bytes(payload[4..12].try_into().ok()?);
    let counter = u32::from_be_bytes(payload[12..16].try_into().ok()?);
    Some((sent, counter))
}

/// What one receiving end saw of one stamped stream.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    /// Send-to-arrival time of every stamped packet, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Stamped packets received.
    pub received: u64,
    first: Option<u32>,
    last: u32,
}

impl StreamStats {
    /// Note the stamp of a packet that arrived at `now_ns` ([`clock_ns`]).
    pub fn record(&mut self, now_ns: u64, sent_ns: u64, counter: u32) {
        let us = now_ns.saturating_sub(sent_ns) / 1000;
        self.latencies_us.push(us.min(u32::MAX as u64) as u32);
        self.received += 1;
        match self.first {
            None => {
                self.first = Some(counter);
                self.last = counter;
            }
            Some(_) if counter > self.last => self.last = counter,
            Some(_) => {}
        }
    }

    /// Packets the sender numbered between the first and the last one
    /// received (what was sent while the stream was being relayed).
    pub fn expected(&self) -> u64 {
        self.first
            .map_or(0, |f| u64::from(self.last.saturating_sub(f)) + 1)
    }

    /// Packets of that window that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// Add another stream's figures (for totals over many calls).
    pub fn merge(&mut self, other: &StreamStats) {
        // Keep `expected - received` additive: shift the window.
        let lost = self.lost() + other.lost();
        self.latencies_us.extend_from_slice(&other.latencies_us);
        self.received += other.received;
        self.first = Some(0);
        self.last = (self.received + lost).saturating_sub(1) as u32;
        if self.received + lost == 0 {
            self.first = None;
            self.last = 0;
        }
    }
}

/// Receive-side check of a packet: records it if stamped. Returns whether
/// it was.
pub fn observe(stats: &mut StreamStats, payload: &[u8]) -> bool {
    match read(payload) {
        Some((sent, counter)) => {
            stats.record(clock_ns(), sent, counter);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_and_loss_counts_the_gaps() {
        let mut p = [0xFFu8; 160];
        write(&mut p, 7);
        let (sent, counter) = read(&p).unwrap();
        assert_eq!(counter, 7);
        assert!(sent <= clock_ns());
        assert!(read(&[0xFF; 160]).is_none());

        let mut s = StreamStats::default();
        for c in [10, 11, 13, 14] {
            s.record(sent + 2_000_000, sent, c);
        }
        assert_eq!((s.expected(), s.received, s.lost()), (5, 4, 1));
        assert_eq!(s.latencies_us[0], 2000);
        let mut total = StreamStats::default();
        total.merge(&s);
        total.merge(&s);
        assert_eq!((total.received, total.lost()), (8, 2));
    }
}
