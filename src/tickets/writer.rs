//! The one thread that does the ticket store's file work: journal entries
//! (create, write, fsync, rename, delete) and the number reserve's file.
//!
//! Why a thread: an fsync takes milliseconds and, on a loaded disk, much
//! longer. Done on a runtime worker (or under a lock a worker waits for)
//! it stalls every task on that worker, RTP pacing included. Here async
//! callers send a job and await its answer; nothing they lock is held
//! while a file is written.
//!
//! Group commit: entries that wait together are written (each file
//! fsync'd) and then share one directory fsync; every waiter is answered
//! after it, so "appended" still means durable (survives kill -9 and a
//! power cut), as it did with one entry at a time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::journal::{Entries, JournalError, JournalFiles};
use super::numbers::NumberPool;

/// The thread's name: tests check journal I/O happens only here.
pub const THREAD_NAME: &str = "hotline-journal";

/// At most this many jobs per group commit.
const BATCH: usize = 256;

/// What the writer thread owns.
pub struct State {
    pub files: JournalFiles,
    pub numbers: NumberPool,
}

/// What opening the data directory found.
pub struct Opened {
    pub entries: Entries,
    pub problems: Vec<JournalError>,
    pub available: usize,
    /// The data directory's lock, held by the store for its life.
    pub lock: File,
}

/// Why the store could not open its directory.
pub enum OpenError {
    Locked,
    Journal(JournalError),
}

type Task = Box<dyn FnOnce(&mut State) + Send>;

enum Job {
    Append {
        seq: u64,
        bytes: Vec<u8>,
        done: oneshot::Sender<Result<(), JournalError>>,
    },
    Run(Task),
}

/// A handle to the writer thread; the thread ends when the last handle
/// is dropped (after finishing the jobs already sent).
pub struct Writer {
    tx: mpsc::Sender<Job>,
    dir: PathBuf,
}

fn gone(dir: &Path) -> JournalError {
    JournalError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::other("the journal writer thread stopped"),
    }
}

impl Writer {
    /// Start the thread and open `data_dir` on it (lock, journal, numbers).
    pub async fn start(data_dir: &Path) -> Result<(Self, Opened), OpenError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (opened_tx, opened_rx) = oneshot::channel();
        let dir = data_dir.to_path_buf();
        let thread_dir = dir.clone();
        std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || match open(&thread_dir) {
                Ok((state, opened)) => {
                    let _ = opened_tx.send(Ok(opened));
                    run(state, rx);
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                }
            })
            .map_err(|source| {
                OpenError::Journal(JournalError::Io {
                    path: dir.clone(),
                    source,
                })
            })?;
        let opened = opened_rx
            .await
            .map_err(|_| OpenError::Journal(gone(&dir)))??;
        Ok((Self { tx, dir }, opened))
    }

    /// Write entry `seq`; returns once it is durable.
    pub async fn append(&self, seq: u64, bytes: Vec<u8>) -> Result<(), JournalError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Job::Append { seq, bytes, done })
            .map_err(|_| gone(&self.dir))?;
        rx.await.map_err(|_| gone(&self.dir))?
    }

    /// Run `f` on the writer thread, in order with the appends.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut State) -> R + Send + 'static,
    ) -> Result<R, JournalError> {
        let (done, rx) = oneshot::channel();
        let task: Task = Box::new(move |state| {
            let _ = done.send(f(state));
        });
        self.tx.send(Job::Run(task)).map_err(|_| gone(&self.dir))?;
        rx.await.map_err(|_| gone(&self.dir))
    }
}

fn open(dir: &Path) -> Result<(State, Opened), OpenError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OpenError::Journal(JournalError::Io { path, source })
    };
    super::perms::private_dir(dir).map_err(io(dir))?;
    let lock_path = dir.join("tickets.lock");
    let lock = super::perms::create_private(&lock_path).map_err(io(&lock_path))?;
    if lock.try_lock().is_err() {
        return Err(OpenError::Locked);
    }
    let (files, entries, problems) =
        JournalFiles::open(&dir.join("journal")).map_err(OpenError::Journal)?;
    let numbers = NumberPool::open(&dir.join("ticket-numbers.json")).map_err(OpenError::Journal)?;
    let available = numbers.available();
    Ok((
        State { files, numbers },
        Opened {
            entries,
            problems,
            available,
            lock,
        },
    ))
}

fn run(mut state: State, rx: mpsc::Receiver<Job>) {
    let mut waiting = Vec::new();
    while let Ok(job) = rx.recv() {
        let mut batch = vec![job];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        for job in batch {
            match job {
                Job::Append { seq, bytes, done } => {
                    waiting.push((state.files.write(seq, &bytes), done));
                }
                Job::Run(task) => {
                    commit(&state, &mut waiting);
                    task(&mut state);
                }
            }
        }
        commit(&state, &mut waiting);
    }
}

/// One directory fsync for every entry written since the last; then each
/// waiter learns its entry is durable (or why not).
type Waiting = Vec<(
    Result<(), JournalError>,
    oneshot::Sender<Result<(), JournalError>>,
)>;

fn commit(state: &State, waiting: &mut Waiting) {
    if waiting.is_empty() {
        return;
    }
    let synced = if waiting.iter().any(|(r, _)| r.is_ok()) {
        state.files.sync().map_err(|e| e.to_string())
    } else {
        Ok(())
    };
    for (written, done) in waiting.drain(..) {
        let result = written.and_then(|()| {
            synced.clone().map_err(|e| JournalError::Io {
                path: state.files.dir().to_path_buf(),
                source: std::io::Error::other(e),
            })
        });
        let _ = done.send(result);
    }
}
