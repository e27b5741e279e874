//! The on-disk journal that keeps ticket writes while PostgreSQL is down.
//!
//! One file per entry (`<seq>.json`), written to a temporary name, fsync'd,
//! renamed and the directory fsync'd: once `append` returns, the entry
//! survives a crash or kill -9. Entries are replayed in sequence order and
//! removed only after the database has committed them; every operation is
//! idempotent there (Call-ID and op-id are unique), so a crash between
//! commit and removal replays an entry harmlessly: exactly once in effect.
//!
//! This is plain synchronous file I/O: callers run it on a blocking thread.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calls::CallRecord;
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

/// The journal directory and the entries not yet applied.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    next_seq: u64,
    pending: BTreeMap<u64, JournalOp>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// Open (creating) `dir` and read the entries left by earlier runs.
    /// Unreadable entries are set aside in `failed/`, never deleted.
    pub fn open(dir: &Path) -> Result<(Self, Vec<JournalError>), JournalError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
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
        let next_seq = pending.keys().next_back().map_or(1, |s| s + 1);
        Ok((
            Self {
                dir: dir.to_path_buf(),
                next_seq,
                pending,
            },
            problems,
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Durably add `op`; returns its sequence number.
    pub fn append(&mut self, op: JournalOp) -> Result<u64, JournalError> {
        let seq = self.next_seq;
        let bytes = serde_json::to_vec(&op).map_err(|e| JournalError::Corrupt {
            path: self.dir.clone(),
            reason: e.to_string(),
        })?;
        let tmp = self.dir.join(format!("tmp-{seq:020}"));
        let path = self.dir.join(format!("{seq:020}.json"));
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&self.dir)?;
        self.next_seq += 1;
        self.pending.insert(seq, op);
        Ok(seq)
    }

    /// The oldest entry not yet applied.
    pub fn first(&self) -> Option<(u64, JournalOp)> {
        self.pending.iter().next().map(|(s, o)| (*s, o.clone()))
    }

    /// The database has committed entry `seq`: forget it.
    pub fn remove(&mut self, seq: u64) -> Result<(), JournalError> {
        let path = self.dir.join(format!("{seq:020}.json"));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        self.pending.remove(&seq);
        Ok(())
    }

    /// The database refused entry `seq` for good (not an outage): keep the
    /// file under `failed/` for a person, and go on with the next.
    pub fn set_aside(&mut self, seq: u64) {
        let path = self.dir.join(format!("{seq:020}.json"));
        set_aside(&self.dir, &path);
        self.pending.remove(&seq);
    }

    /// A ticket created in this journal and not yet in the database.
    pub fn pending_ticket_by_call_id(&self, call_id: &str) -> Option<Ticket> {
        self.pending.values().find_map(|op| match op {
            JournalOp::Create { ticket } if ticket.call_id == call_id => Some((**ticket).clone()),
            _ => None,
        })
    }

    /// A pending ticket by number, with pending updates applied, so readers
    /// see what the caller was promised even before the database has it.
    pub fn pending_ticket(&self, number: TicketNumber) -> Option<Ticket> {
        let mut found: Option<Ticket> = None;
        for op in self.pending.values() {
            match op {
                JournalOp::Create { ticket } if ticket.number == number => {
                    found = Some((**ticket).clone())
                }
                JournalOp::Update {
                    number: n, update, ..
                } if *n == number => {
                    if let Some(t) = found.as_mut() {
                        super::repo::apply_in_memory(t, update);
                    }
                }
                JournalOp::Assign {
                    number: n,
                    assignment,
                    ..
                } if *n == number => {
                    if let Some(t) = found.as_mut() {
                        super::repo::assign_in_memory(t, assignment);
                    }
                }
                JournalOp::Event {
                    number: n,
                    at,
                    event,
                    ..
                } if *n == number => {
                    if let Some(t) = found.as_mut() {
                        super::repo::event_in_memory(t, *at, event);
                    }
                }
                _ => {}
            }
        }
        found
    }
}

fn set_aside(dir: &Path, path: &Path) {
    let failed = dir.join("failed");
    let _ = fs::create_dir_all(&failed);
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
