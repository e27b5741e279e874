//! The on-disk journal that keeps ticket writes while PostgreSQL is down.
//!
//! One file per entry (`<seq>.json`), written to a temporary name, fsync'd,
//! renamed and the directory fsync'd: once `append` returns, the entry
//! survives a crash or kill -9. Entries are replayed in sequence order and
//! removed only after the database has committed them; every operation is
//! idempotent there (Call-ID and op-id are unique), so a crash between
//! commit and removal replays an entry harmlessly: exactly once in effect.
//!
//! This is plain synchronous file I/O. In the daemon only the journal's
//! writer thread (`hotline-journal`, see `tickets::writer`) runs it; the
//! in-memory index of what is pending ([`JournalIndex`]) is separate, so
//! reading it never waits for an fsync.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calls::CallRecord;
pub use super::journal_index::JournalIndex;
use super::model::{Assignment, RoutingEvent, Ticket, TicketNumber, TicketUpdate};

/// A write the database has not yet seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalOp {
    Create {
        ticket: Box<Ticket>,
    },
    Update {
        number: TicketNumber,
        op_id: String,
        at: DateTime<Utc>,
        actor: String,
        update: Box<TicketUpdate>,
    },
    /// A call's record (upserted by Call-ID, so replaying it is harmless).
    CallRecord {
        record: Box<CallRecord>,
    },
    /// An agent took the call (applied once: its op-ids come from it).
    Assign {
        number: TicketNumber,
        actor: String,
        assignment: Box<Assignment>,
    },
    /// A routing event on the ticket's history, under `op_id`.
    Event {
        number: TicketNumber,
        op_id: String,
        at: DateTime<Utc>,
        actor: String,
        event: Box<RoutingEvent>,
    },
}

/// Journal I/O failures; the call path treats these as fatal for the write.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("HL-JOURNAL-IO: {}: {source}; check the data directory's free space and permissions", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HL-JOURNAL-CORRUPT: {}: {reason}; the file was moved to journal/failed/ for inspection", path.display())]
    Corrupt { path: PathBuf, reason: String },
}

/// The journal's files: one fsync'd file per entry. Only the writer
/// thread (`tickets::writer`) touches them in the daemon; `Journal` below
/// bundles files and index for plain synchronous use (tools, tests).
#[derive(Debug)]
pub struct JournalFiles {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Entries read back from disk, by sequence number.
pub type Entries = BTreeMap<u64, JournalOp>;

impl JournalFiles {
    /// Open (creating, mode 0700) `dir` and read the entries left by
    /// earlier runs. Unreadable entries are set aside in `failed/`, never
    /// deleted.
    pub fn open(dir: &Path) -> Result<(Self, Entries, Vec<JournalError>), JournalError> {
        note_io();
        super::perms::private_dir(dir).map_err(io(dir))?;
        let mut pending = BTreeMap::new();
        let mut problems = Vec::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("tmp-") {
                // Never renamed: the append did not return, nobody was told.
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(seq) = name
                .strip_suffix(".json")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            // Files of an older version may be world-readable: tighten.
            let _ = super::perms::private_file(&path);
            let parsed = fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<JournalOp>(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(op) => {
                    pending.insert(seq, op);
                }
                Err(reason) => {
                    set_aside(dir, &path);
                    problems.push(JournalError::Corrupt { path, reason });
                }
            }
        }
        Ok((
            Self {
                dir: dir.to_path_buf(),
            },
            pending,
            problems,
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write entry `seq` (mode 0600) and fsync the file; it is durable
    /// once [`JournalFiles::sync`] has run after it (one directory fsync
    /// covers every entry written since: the group commit).
    pub fn write(&self, seq: u64, bytes: &[u8]) -> Result<(), JournalError> {
        note_io();
        let tmp = self.dir.join(format!("tmp-{seq:020}"));
        let path = self.dir.join(format!("{seq:020}.json"));
        let mut f = super::perms::create_private(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// fsync the directory: the renames before it survive a crash.
    pub fn sync(&self) -> Result<(), JournalError> {
        note_io();
        sync_dir(&self.dir)
    }

    /// The database has committed entry `seq`: delete its file.
    pub fn remove(&self, seq: u64) -> Result<(), JournalError> {
        note_io();
        let path = self.dir.join(format!("{seq:020}.json"));
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The database refused entry `seq` for good: keep it under `failed/`.
    pub fn set_aside(&self, seq: u64) {
        note_io();
        let path = self.dir.join(format!("{seq:020}.json"));
        set_aside(&self.dir, &path);
    }
}

/// Serialise an entry (no I/O: done by the caller, off the writer thread).
pub fn encode(op: &JournalOp) -> Result<Vec<u8>, JournalError> {
    serde_json::to_vec(op).map_err(|e| JournalError::Corrupt {
        path: PathBuf::from("journal"),
        reason: e.to_string(),
    })
}

/// Files and index together, synchronously: for tools and tests that
/// own a journal directory outright (the daemon splits the two so that
/// no lock is held while a file is written).
#[derive(Debug)]
pub struct Journal {
    files: JournalFiles,
    index: JournalIndex,
}

impl Journal {
    /// Open (creating) `dir` and read the entries left by earlier runs.
    pub fn open(dir: &Path) -> Result<(Self, Vec<JournalError>), JournalError> {
        let (files, entries, problems) = JournalFiles::open(dir)?;
        Ok((
            Self {
                files,
                index: JournalIndex::new(entries),
            },
            problems,
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Durably add `op`; returns its sequence number.
    pub fn append(&mut self, op: JournalOp) -> Result<u64, JournalError> {
        let bytes = encode(&op)?;
        let seq = self.index.allocate();
        self.files.write(seq, &bytes)?;
        self.files.sync()?;
        self.index.insert(seq, op);
        Ok(seq)
    }

    /// The oldest entry not yet applied.
    pub fn first(&self) -> Option<(u64, JournalOp)> {
        self.index.first()
    }

    /// The database has committed entry `seq`: forget it.
    pub fn remove(&mut self, seq: u64) -> Result<(), JournalError> {
        self.files.remove(seq)?;
        self.index.remove(seq);
        Ok(())
    }

    pub fn index(&self) -> &JournalIndex {
        &self.index
    }
}

static IO_THREADS: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Remember which thread did journal file I/O (a set of names: cheap).
fn note_io() {
    let name = std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_string();
    let mut set = IO_THREADS.lock().unwrap_or_else(|p| p.into_inner());
    if !set.contains(&name) {
        set.insert(name);
    }
}

/// The names of the threads that have done journal or number-reserve
/// file I/O in this process: how a test proves that none of it ran on a
/// runtime worker (the daemon does it all on `hotline-journal`).
#[doc(hidden)]
pub fn io_thread_names() -> std::collections::BTreeSet<String> {
    IO_THREADS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

pub(crate) fn note_numbers_io() {
    note_io();
}

fn set_aside(dir: &Path, path: &Path) {
    let failed = dir.join("failed");
    let _ = super::perms::private_dir(&failed);
    if let Some(name) = path.file_name() {
        let _ = fs::rename(path, failed.join(name));
    }
}

/// fsync a directory so a rename in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    OpenOptions::new()
        .read(true)
        .open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(n: i64) -> JournalOp {
        JournalOp::Update {
            number: TicketNumber(n),
            op_id: format!("op-{n}"),
            at: Utc::now(),
            actor: "test".into(),
            update: Box::default(),
        }
    }

    #[test]
    fn entries_survive_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path()).unwrap();
        for n in 1..=5 {
            j.append(update(n)).unwrap();
        }
        j.remove(1).unwrap();
        drop(j);
        let (j, problems) = Journal::open(dir.path()).unwrap();
        assert!(problems.is_empty());
        assert_eq!(j.len(), 4);
        match j.first().unwrap() {
            (2, JournalOp::Update { number, .. }) => assert_eq!(number, TicketNumber(2)),
            other => panic!("oldest entry should be seq 2, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_entry_is_set_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(format!("{:020}.json", 7)), b"{half").unwrap();
        fs::write(dir.path().join("tmp-00000000000000000008"), b"x").unwrap();
        let (j, problems) = Journal::open(dir.path()).unwrap();
        assert!(j.is_empty());
        assert_eq!(problems.len(), 1);
        assert!(dir
            .path()
            .join("failed")
            .join(format!("{:020}.json", 7))
            .exists());
        assert!(!dir.path().join("tmp-00000000000000000008").exists());
    }
}
