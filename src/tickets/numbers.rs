//! Ticket numbers reserved from the database sequence ahead of need.
//!
//! A caller must hear the ticket's *final* number even while PostgreSQL is
//! down, so numbers are fetched from `ticket_number_seq` in advance and kept
//! in a file. Numbers are handed out from an in-memory lease of
//! [`LEASE`] numbers; the file always lists only numbers outside any lease,
//! rewritten (fsync'd) each time a lease is taken. A crash loses at most the
//! unused part of one lease (a gap, which is harmless) and never hands out a
//! number twice, whether the database is up or down at restart.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::journal::{sync_dir, JournalError};
use super::model::TicketNumber;

/// Numbers taken from the file at a time: one fsync per this many tickets.
pub const LEASE: usize = 16;

#[derive(Serialize, Deserialize, Default)]
struct PoolFile {
    /// Reserved in the database sequence, never handed out.
    pool: Vec<i64>,
}

/// The reserved numbers of this data directory.
#[derive(Debug)]
pub struct NumberPool {
    file: PathBuf,
    pool: VecDeque<i64>,
    lease: VecDeque<i64>,
}

impl NumberPool {
    /// Load the numbers earlier runs reserved and did not use.
    pub fn open(file: &Path) -> Result<Self, JournalError> {
        super::journal::note_numbers_io();
        if file.exists() {
            // Written by an older version with the umask's mode: tighten.
            let _ = super::perms::private_file(file);
        }
        let pool = match fs::read(file) {
            Ok(bytes) => serde_json::from_slice::<PoolFile>(&bytes)
                .map_err(|e| JournalError::Corrupt {
                    path: file.to_path_buf(),
                    reason: e.to_string(),
                })?
                .pool
                .into(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => VecDeque::new(),
            Err(source) => {
                return Err(JournalError::Io {
                    path: file.to_path_buf(),
                    source,
                })
            }
        };
        Ok(Self {
            file: file.to_path_buf(),
            pool,
            lease: VecDeque::new(),
        })
    }

    /// Numbers available without asking the database.
    pub fn available(&self) -> usize {
        self.pool.len() + self.lease.len()
    }

    /// The next number, or `None` when the reserve is exhausted.
    pub fn take(&mut self) -> Result<Option<TicketNumber>, JournalError> {
        if self.lease.is_empty() && !self.pool.is_empty() {
            let n = LEASE.min(self.pool.len());
            let lease: VecDeque<i64> = self.pool.drain(..n).collect();
            // Persist first: once the file no longer lists them, these
            // numbers can never be handed out by a later run.
            if let Err(e) = self.persist() {
                self.pool.extend(lease);
                self.pool.rotate_right(n);
                return Err(e);
            }
            self.lease = lease;
        }
        Ok(self.lease.pop_front().map(TicketNumber))
    }

    /// Add numbers fresh from the database sequence.
    pub fn add(&mut self, numbers: impl IntoIterator<Item = i64>) -> Result<(), JournalError> {
        self.pool.extend(numbers);
        self.persist()
    }

    fn persist(&self) -> Result<(), JournalError> {
        super::journal::note_numbers_io();
        let io = |source| JournalError::Io {
            path: self.file.clone(),
            source,
        };
        let body = serde_json::to_vec(&PoolFile {
            pool: self.pool.iter().copied().collect(),
        })
        .map_err(|e| JournalError::Corrupt {
            path: self.file.clone(),
            reason: e.to_string(),
        })?;
        let tmp = self.file.with_extension("tmp");
        let mut f = super::perms::create_private(&tmp).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, &self.file).map_err(io)?;
        if let Some(dir) = self.file.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

/// How many numbers to hold: enough for `cover` of intake at the rate
/// measured, and never fewer than the configured `floor`. A fixed reserve
/// covers a fixed number of tickets, so at 11 calls/s 200 numbers last 18 s
/// of outage; sizing it by rate makes the configured cover the promise.
#[derive(Debug)]
pub struct ReserveTarget {
    floor: u32,
    cover: Duration,
    window_start: Instant,
    in_window: u32,
    /// Tickets per second over the last complete window (or the current
    /// one if busier).
    rate: f64,
}

/// The rate is measured over windows this long.
const WINDOW: Duration = Duration::from_secs(10);

/// Most numbers reserved in one refill query.
pub const MAX_REFILL: u32 = 100_000;

impl ReserveTarget {
    pub fn new(floor: u32, cover: Duration) -> Self {
        Self {
            floor,
            cover,
            window_start: Instant::now(),
            in_window: 0,
            rate: 0.0,
        }
    }

    /// A ticket took a number at `now`.
    pub fn taken(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= WINDOW {
            self.rate = f64::from(self.in_window) / elapsed.as_secs_f64();
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window += 1;
    }

    /// The reserve wanted now.
    pub fn wanted(&self, now: Instant) -> u32 {
        let elapsed = now
            .saturating_duration_since(self.window_start)
            .max(Duration::from_secs(1));
        let current = f64::from(self.in_window) / elapsed.as_secs_f64();
        let rate = self.rate.max(current);
        let by_rate = (rate * self.cover.as_secs_f64())
            .ceil()
            .min(f64::from(MAX_REFILL)) as u32;
        self.floor.max(by_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_never_reuses_a_leased_number() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("numbers.json");
        let mut p = NumberPool::open(&file).unwrap();
        p.add(1001..1101).unwrap();
        let first: Vec<_> = (0..3).map(|_| p.take().unwrap().unwrap()).collect();
        assert_eq!(
            first,
            vec![TicketNumber(1001), TicketNumber(1002), TicketNumber(1003)]
        );
        drop(p); // a crash: the rest of the lease is lost
        let mut p = NumberPool::open(&file).unwrap();
        let next = p.take().unwrap().unwrap();
        assert_eq!(next, TicketNumber(1001 + LEASE as i64));
        assert_eq!(p.available(), 100 - LEASE - 1);
    }

    #[test]
    fn the_reserve_follows_the_intake_rate() {
        let t0 = Instant::now();
        let mut t = ReserveTarget::new(200, Duration::from_secs(600));
        assert_eq!(t.wanted(t0), 200, "no intake yet: the floor");
        // 11 tickets a second for 20 s.
        for i in 0..220u64 {
            t.taken(t0 + Duration::from_millis(i * 1000 / 11));
        }
        let wanted = t.wanted(t0 + Duration::from_secs(20));
        assert!(
            (6_000..=7_300).contains(&wanted),
            "10 minutes at 11/s is about 6,600 numbers, got {wanted}"
        );
    }

    #[test]
    fn exhausted_pool_says_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = NumberPool::open(&dir.path().join("n.json")).unwrap();
        assert_eq!(p.take().unwrap(), None);
        p.add([5]).unwrap();
        assert_eq!(p.take().unwrap(), Some(TicketNumber(5)));
        assert_eq!(p.take().unwrap(), None);
    }
}
