//! WAV recorder (hound): mono for the caller's voice note, stereo with the
//! caller left and the agent right for bridged calls. 8 kHz 16-bit PCM.
//!
//! Samples are gathered in a buffer allocated once and written half a second
//! at a time (one `write` per chunk instead of one per 20 ms packet). When a
//! write fails (a full disk), the recording stops at once: the header is
//! finalised for the chunks that made it, any partly written chunk is cut
//! off, and the error is returned once, typed. The file stays a valid WAV of
//! what was written so far; the call itself never depends on the recorder.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Recording sample rate (G.711).
pub const RECORD_RATE: u32 = 8000;
/// Frames buffered before a write: 0.5 s.
const CHUNK_FRAMES: usize = 4000;
/// hound's header for <= 2 channels of 16-bit PCM (RIFF + fmt + data headers).
const HEADER_BYTES: u64 = 44;

/// Mono (one voice) or stereo (caller left, agent right).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Mono,
    Stereo,
}

impl Layout {
    fn channels(self) -> u16 {
        match self {
            Layout::Mono => 1,
            Layout::Stereo => 2,
        }
    }
}

/// Where a recording goes: a file in production, a capped buffer in tests.
/// The second handle lets the recorder cut off a partly written chunk after
/// hound has taken ownership of the first.
pub trait RecordStorage: Write + Seek + Sized {
    fn try_clone(&self) -> io::Result<Self>;
    fn set_len(&self, len: u64) -> io::Result<()>;
}

impl RecordStorage for File {
    fn try_clone(&self) -> io::Result<Self> {
        File::try_clone(self)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

/// Recorder errors; the call logs them and notes them on the ticket.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("HL-REC-001 cannot create recording {}: {source}; check that the data directory exists, is writable and has free space", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("HL-REC-002 writing recording {} failed after {kept_ms} ms of audio: {source}; recording stopped, the file holds what was written (check free disk space)", path.display())]
    Write {
        path: PathBuf,
        kept_ms: u64,
        source: io::Error,
    },
    #[error("HL-REC-003 recording {} is {expected:?} but was given {given:?} audio", path.display())]
    Layout {
        path: PathBuf,
        expected: Layout,
        given: Layout,
    },
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub path: PathBuf,
    /// Sample frames in the file (one per 1/8000 s).
    pub frames: u64,
    /// False when a write error stopped the recording early.
    pub complete: bool,
    /// Mono (a voice note) or stereo (a bridged call).
    pub layout: Layout,
}

impl Recording {
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.frames * 1_000_000 / u64::from(RECORD_RATE))
    }
}

/// Writes one WAV file; see the module documentation.
pub struct Recorder<S: RecordStorage = File> {
    path: PathBuf,
    layout: Layout,
    writer: Option<hound::WavWriter<S>>,
    trim: S,
    /// Interleaved samples not yet written; capacity fixed at creation.
    buf: Vec<i16>,
    complete: bool,
    /// Frames in the file once closed.
    frames: u64,
}

impl Recorder<File> {
    /// Create (or overwrite) the file at `path`, readable by its owner
    /// only (mode 0600: recordings are personal data).
    pub fn create(path: impl Into<PathBuf>, layout: Layout) -> Result<Self, RecordError> {
        let path = path.into();
        match open_private(&path) {
            Ok(file) => Self::with_storage(path, layout, file),
            Err(source) => Err(RecordError::Create { path, source }),
        }
    }
}

/// Create or truncate `path` with mode 0600 (also when it existed).
pub fn open_private(path: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its mode on open: set it.
    if file.metadata()?.is_file() {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

impl<S: RecordStorage> Recorder<S> {
    /// Record into `storage`; `path` is used in messages and the result.
    pub fn with_storage(path: PathBuf, layout: Layout, storage: S) -> Result<Self, RecordError> {
        let spec = hound::WavSpec {
            channels: layout.channels(),
            sample_rate: RECORD_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let create_err = |source| RecordError::Create {
            path: path.clone(),
            source,
        };
        let trim = storage.try_clone().map_err(create_err)?;
        let writer = hound::WavWriter::new(storage, spec).map_err(|e| create_err(io_error(e)))?;
        Ok(Self {
            layout,
            writer: Some(writer),
            trim,
            buf: Vec::with_capacity(CHUNK_FRAMES * usize::from(layout.channels())),
            complete: true,
            frames: 0,
            path,
        })
    }

    /// Append the caller's voice (mono recordings).
    pub fn write_mono(&mut self, pcm: &[i16]) -> Result<(), RecordError> {
        self.check_layout(Layout::Mono)?;
        for &s in pcm {
            self.push(s)?;
        }
        Ok(())
    }

    /// Append caller (left) and agent (right) audio for the same stretch of
    /// time; the shorter side is padded with silence.
    pub fn write_stereo(&mut self, caller: &[i16], agent: &[i16]) -> Result<(), RecordError> {
        self.check_layout(Layout::Stereo)?;
        for i in 0..caller.len().max(agent.len()) {
            self.push(caller.get(i).copied().unwrap_or(0))?;
            self.push(agent.get(i).copied().unwrap_or(0))?;
        }
        Ok(())
    }

    /// Append interleaved frames (caller, agent, caller, ...) as the layout
    /// has them; an odd sample at the end of a stereo chunk is dropped.
    pub fn write_interleaved(&mut self, samples: &[i16]) -> Result<(), RecordError> {
        let ch = usize::from(self.layout.channels());
        for &s in &samples[..samples.len() / ch * ch] {
            self.push(s)?;
        }
        Ok(())
    }

    /// False once a write error has stopped the recording.
    pub fn is_recording(&self) -> bool {
        self.writer.is_some()
    }

    /// Write what is buffered and finalise the file.
    pub fn finish(mut self) -> Result<Recording, RecordError> {
        if self.writer.is_some() {
            self.flush_chunk()?;
        }
        self.close().map_err(|source| RecordError::Write {
            path: self.path.clone(),
            kept_ms: self.frames * 1000 / u64::from(RECORD_RATE),
            source,
        })?;
        Ok(Recording {
            path: self.path.clone(),
            frames: self.frames,
            complete: self.complete,
            layout: self.layout,
        })
    }

    fn check_layout(&self, given: Layout) -> Result<(), RecordError> {
        if given == self.layout {
            return Ok(());
        }
        Err(RecordError::Layout {
            path: self.path.clone(),
            expected: self.layout,
            given,
        })
    }

    #[inline]
    fn push(&mut self, sample: i16) -> Result<(), RecordError> {
        if self.writer.is_none() {
            return Ok(()); // stopped after an error: drop audio quietly
        }
        self.buf.push(sample);
        if self.buf.len() == self.buf.capacity() {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<(), RecordError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        // Whole frames only, so a failure can never split a stereo frame.
        let mut sw = writer.get_i16_writer(self.buf.len() as u32);
        for &s in &self.buf {
            sw.write_sample(s);
        }
        let result = sw.flush();
        self.buf.clear();
        let Err(err) = result else {
            return Ok(());
        };
        self.complete = false;
        if let Err(e) = self.close() {
            tracing::warn!(file = %self.path.display(), error = %e, "recording not finalised");
        }
        Err(RecordError::Write {
            path: self.path.clone(),
            kept_ms: self.frames * 1000 / u64::from(RECORD_RATE),
            source: io_error(err),
        })
    }

    /// Finalise the header and cut the file to the audio hound counted;
    /// records the frames kept. Does nothing when already closed.
    fn close(&mut self) -> io::Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let samples = u64::from(writer.len());
        self.frames = samples / u64::from(self.layout.channels());
        let finalised = writer.finalize().map_err(io_error);
        self.trim.set_len(HEADER_BYTES + samples * 2)?;
        finalised
    }
}

impl<S: RecordStorage> Drop for Recorder<S> {
    /// A recorder dropped without `finish` (the call task ended abruptly)
    /// still leaves a valid file of what was buffered.
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = self.flush_chunk();
            if let Err(e) = self.close() {
                tracing::warn!(file = %self.path.display(), error = %e, "recording not finalised");
            }
        }
    }
}

/// A storage of any kind behind one type, so one writer thread serves
/// files and (in tests) capped buffers alike.
pub trait DynStorage: Write + Seek + Send {
    fn try_clone_box(&self) -> io::Result<Box<dyn DynStorage>>;
    fn set_len_dyn(&self, len: u64) -> io::Result<()>;
}

impl<S: RecordStorage + Send + 'static> DynStorage for S {
    fn try_clone_box(&self) -> io::Result<Box<dyn DynStorage>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn set_len_dyn(&self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

impl RecordStorage for Box<dyn DynStorage> {
    fn try_clone(&self) -> io::Result<Self> {
        self.as_ref().try_clone_box()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.as_ref().set_len_dyn(len)
    }
}

fn io_error(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
