//! The bridge's stereo recording: both legs' audio, aligned on the bridge's
//! 20 ms clock, written by a writer thread so no file I/O (create, write,
//! header rewrite, truncate) ever runs on an async worker.
//!
//! Alignment: each leg's decoded audio goes into a small ring as it arrives;
//! every tick takes 160 samples from each ring (silence where a leg sent
//! nothing) and appends one stereo 20 ms frame. A ring holding more than
//! [`MAX_LAG`] samples after a tick (a burst after a network stall) drops
//! its oldest samples, so a leg can never drift more than 40 ms behind the
//! other in the file.
//!
//! Writing: frames are gathered in 0.5 s chunks from a pool of
//! [`POOL_CHUNKS`] buffers allocated when the recording starts; a full
//! chunk goes to the one process-wide writer thread over a bounded queue
//! and its buffer comes back once written. A writer that falls behind (a
//! slow disk) costs dropped chunks, counted, never a blocked call. The
//! writer reports the outcome itself on the caller's event channel:
//! `RecordingStopped` when the recording ends (with `complete: false` after
//! a write error, preceded by `RecordingError`), or `RecordingError` alone
//! when the file cannot be created.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self as std_mpsc, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use crate::media::record::{open_private, DynStorage, Layout, RecordError, Recorder};
use crate::media::rtp::SAMPLES_PER_PACKET;

use super::MediaEvent;

const FRAME: usize = SAMPLES_PER_PACKET as usize;
/// Samples per leg kept waiting for the tick: 80 ms.
const RING: usize = 4 * FRAME;
/// Samples a ring may still hold after a tick: 40 ms.
const MAX_LAG: usize = 2 * FRAME;
/// Stereo frames per chunk handed to the writer: 0.5 s.
const CHUNK_FRAMES: usize = 4000;
/// Chunk buffers per recording (1.5 s of audio in flight at most).
pub const POOL_CHUNKS: usize = 3;
/// Jobs queued for the writer thread, all recordings together.
const WRITER_QUEUE: usize = 4096;

/// Which leg of a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The caller: left channel.
    Caller,
    /// The agent: right channel.
    Agent,
}

/// Where a recording is written.
pub enum Target {
    Path(PathBuf),
    /// Any storage (tests: a buffer that runs out of space).
    Storage {
        name: PathBuf,
        storage: Box<dyn DynStorage>,
    },
}

impl Target {
    fn name(&self) -> PathBuf {
        match self {
            Target::Path(p) => p.clone(),
            Target::Storage { name, .. } => name.clone(),
        }
    }
}

enum Job {
    Open {
        id: u64,
        target: Target,
        events: mpsc::UnboundedSender<MediaEvent>,
        recycle: Sender<Vec<i16>>,
        failed: Arc<AtomicBool>,
    },
    Write {
        id: u64,
        chunk: Vec<i16>,
    },
    Finish {
        id: u64,
    },
}

struct Open {
    rec: Recorder<Box<dyn DynStorage>>,
    events: mpsc::UnboundedSender<MediaEvent>,
    recycle: Sender<Vec<i16>>,
    failed: Arc<AtomicBool>,
}

fn writer() -> &'static SyncSender<Job> {
    static WRITER: OnceLock<SyncSender<Job>> = OnceLock::new();
    WRITER.get_or_init(|| {
        let (tx, rx) = std_mpsc::sync_channel(WRITER_QUEUE);
        std::thread::Builder::new()
            .name("hotline-recorder".into())
            .spawn(move || serve(rx))
            .expect("spawn the recording writer thread");
        tx
    })
}

/// The writer thread: one open recorder per bridge recording.
fn serve(rx: Receiver<Job>) {
    let mut open: HashMap<u64, Open> = HashMap::new();
    for job in rx {
        match job {
            Job::Open {
                id,
                target,
                events,
                recycle,
                failed,
            } => {
                let name = target.name();
                let storage: Result<Box<dyn DynStorage>, _> = match target {
                    Target::Path(path) => open_private(&path).map(|f| Box::new(f) as _),
                    Target::Storage { storage, .. } => Ok(storage),
                };
                let rec = storage
                    .map_err(|source| RecordError::Create {
                        path: name.clone(),
                        source,
                    })
                    .and_then(|s| Recorder::with_storage(name, Layout::Stereo, s));
                match rec {
                    Ok(rec) => {
                        open.insert(
                            id,
                            Open {
                                rec,
                                events,
                                recycle,
                                failed,
                            },
                        );
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "bridge recording not started");
                        failed.store(true, Ordering::Relaxed);
                        let _ = events.send(MediaEvent::RecordingError(e));
                    }
                }
            }
            Job::Write { id, chunk } => {
                let Some(o) = open.get_mut(&id) else {
                    continue;
                };
                let mut chunk = chunk;
                let result = o.rec.write_interleaved(&chunk);
                chunk.clear();
                let _ = o.recycle.send(chunk);
                if let Err(e) = result {
                    tracing::warn!(error = %e, "bridge recording stopped");
                    let o = open.remove(&id).expect("present");
                    o.failed.store(true, Ordering::Relaxed);
                    let _ = o.events.send(MediaEvent::RecordingError(e));
                    let _ = o.events.send(match o.rec.finish() {
                        Ok(done) => MediaEvent::RecordingStopped(done),
                        Err(e) => MediaEvent::RecordingError(e),
                    });
                }
            }
            Job::Finish { id } => {
                if let Some(o) = open.remove(&id) {
                    let _ = o.events.send(match o.rec.finish() {
                        Ok(done) => MediaEvent::RecordingStopped(done),
                        Err(e) => MediaEvent::RecordingError(e),
                    });
                }
            }
        }
    }
}

/// One leg's audio waiting for the tick.
struct Ring {
    buf: [i16; RING],
    head: usize,
    len: usize,
}

impl Ring {
    fn new() -> Self {
        Self {
            buf: [0; RING],
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, pcm: &[i16]) {
        for &s in pcm {
            if self.len == RING {
                // Full: drop the oldest sample.
                self.head = (self.head + 1) % RING;
                self.len -= 1;
            }
            self.buf[(self.head + self.len) % RING] = s;
            self.len += 1;
        }
    }

    /// The next sample, silence when empty.
    fn pop(&mut self) -> i16 {
        if self.len == 0 {
            return 0;
        }
        let s = self.buf[self.head];
        self.head = (self.head + 1) % RING;
        self.len -= 1;
        s
    }

    fn trim(&mut self, keep: usize) {
        if self.len > keep {
            let drop = self.len - keep;
            self.head = (self.head + drop) % RING;
            self.len = keep;
        }
    }
}

/// Counters of a bridge recording.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TapStats {
    /// Stereo 20 ms frames handed on.
    pub frames: u64,
    /// Chunks dropped because the writer was behind.
    pub dropped_chunks: u64,
}

/// The recording side of a bridge; see the module documentation.
pub struct StereoTap {
    id: u64,
    caller: Ring,
    agent: Ring,
    cur: Vec<i16>,
    free: Receiver<Vec<i16>>,
    failed: Arc<AtomicBool>,
    stats: TapStats,
    stopped: bool,
}

impl std::fmt::Debug for StereoTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StereoTap")
            .field("id", &self.id)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl StereoTap {
    /// Start a recording into `target`; its outcome comes on `events`.
    /// Allocates the chunk pool now, once.
    pub fn start(target: Target, events: mpsc::UnboundedSender<MediaEvent>) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        let (recycle, free) = std_mpsc::channel();
        for _ in 0..POOL_CHUNKS - 1 {
            let _ = recycle.send(Vec::with_capacity(CHUNK_FRAMES * 2));
        }
        let failed = Arc::new(AtomicBool::new(false));
        let job = Job::Open {
            id,
            target,
            events: events.clone(),
            recycle,
            failed: Arc::clone(&failed),
        };
        let mut stopped = false;
        if let Err(e) = writer().try_send(job) {
            let (name, reason) = match e {
                TrySendError::Full(Job::Open { target, .. }) => (target.name(), "busy"),
                TrySendError::Disconnected(Job::Open { target, .. }) => (target.name(), "gone"),
                _ => (PathBuf::new(), "busy"),
            };
            let _ = events.send(MediaEvent::RecordingError(RecordError::Create {
                path: name,
                source: std::io::Error::other(format!("the recording writer is {reason}")),
            }));
            stopped = true;
        }
        Self {
            id,
            caller: Ring::new(),
            agent: Ring::new(),
            cur: Vec::with_capacity(CHUNK_FRAMES * 2),
            free,
            failed,
            stats: TapStats::default(),
            stopped,
        }
    }

    /// False once the writer gave up (create or write error) or after
    /// `finish`.
    pub fn is_recording(&self) -> bool {
        !self.stopped && !self.failed.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> TapStats {
        self.stats
    }

    /// Audio a leg sent, decoded, as it arrives.
    pub fn push(&mut self, side: Side, pcm: &[i16]) {
        match side {
            Side::Caller => self.caller.push(pcm),
            Side::Agent => self.agent.push(pcm),
        }
    }

    /// One 20 ms tick: append a stereo frame (caller left, agent right).
    pub fn tick(&mut self) {
        if !self.is_recording() {
            return;
        }
        for _ in 0..FRAME {
            let l = self.caller.pop();
            let r = self.agent.pop();
            self.cur.push(l);
            self.cur.push(r);
        }
        self.caller.trim(MAX_LAG);
        self.agent.trim(MAX_LAG);
        self.stats.frames += 1;
        if self.cur.len() >= CHUNK_FRAMES * 2 {
            self.hand_over();
        }
    }

    /// Send the current chunk to the writer and take an empty buffer.
    fn hand_over(&mut self) {
        let Ok(next) = self.free.try_recv() else {
            // Every buffer is still with the writer: drop this chunk (the
            // file then lacks this half second).
            if self.stats.dropped_chunks == 0 {
                tracing::warn!("recording writer behind (slow disk): dropping 0.5 s of audio");
            }
            self.stats.dropped_chunks += 1;
            self.cur.clear();
            return;
        };
        let chunk = std::mem::replace(&mut self.cur, next);
        if let Err(e) = writer().try_send(Job::Write { id: self.id, chunk }) {
            self.stats.dropped_chunks += 1;
            if let TrySendError::Full(Job::Write { mut chunk, .. })
            | TrySendError::Disconnected(Job::Write { mut chunk, .. }) = e
            {
                // Keep the buffer: swap it back in as the current one.
                chunk.clear();
                self.cur = chunk;
            }
        }
    }

    /// Write what is gathered and close the file; the writer then reports
    /// `RecordingStopped` on the event channel.
    pub fn finish(mut self) {
        if !self.is_recording() {
            return;
        }
        self.stopped = true;
        if !self.cur.is_empty() {
            let chunk = std::mem::take(&mut self.cur);
            if writer()
                .try_send(Job::Write { id: self.id, chunk })
                .is_err()
            {
                self.stats.dropped_chunks += 1;
            }
        }
        // Blocking send: the end of a recording must not be lost, and the
        // queue drains at disk speed (this happens once per call).
        if writer().send(Job::Finish { id: self.id }).is_err() {
            tracing::warn!("recording writer gone; the file may lack its header");
        }
    }
}

impl Drop for StereoTap {
    fn drop(&mut self) {
        if !self.stopped {
            // Dropped without finish (a panic): still close the file.
            let _ = writer().try_send(Job::Finish { id: self.id });
        }
    }
}
