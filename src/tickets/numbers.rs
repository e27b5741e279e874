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
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

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
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, &self.file).map_err(io)?;
        if let Some(dir) = self.file.parent() {
            sync_dir(dir)?;
        }
        Ok(())
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
    fn exhausted_pool_says_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = NumberPool::open(&dir.path().join("n.json")).unwrap();
        assert_eq!(p.take().unwrap(), None);
        p.add([5]).unwrap();
        assert_eq!(p.take().unwrap(), Some(TicketNumber(5)));
        assert_eq!(p.take().unwrap(), None);
    }
}
