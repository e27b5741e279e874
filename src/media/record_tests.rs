//! Recorder tests: real files in a tempdir, /dev/full, and a storage that
//! runs out of space part-way through a chunk.

use super::*;
use std::io::SeekFrom;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// In-memory storage that holds at most `cap` bytes, like a nearly full disk:
/// a write that crosses the limit is partly done, then fails.
#[derive(Clone)]
struct Capped {
    data: Arc<Mutex<Vec<u8>>>,
    pos: u64,
    cap: usize,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Self {
            data: Arc::default(),
            pos: 0,
            cap,
        }
    }
    fn bytes(&self) -> Vec<u8> {
        self.data.lock().unwrap().clone()
    }
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut d = self.data.lock().unwrap();
        let pos = self.pos as usize;
        if pos >= self.cap {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device",
            ));
        }
        let n = buf.len().min(self.cap - pos);
        if d.len() < pos + n {
            d.resize(pos + n, 0);
        }
        d[pos..pos + n].copy_from_slice(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Capped {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.data.lock().unwrap().len() as i64;
        let new = match to {
            SeekFrom::Start(p) => p as i64,
            SeekFrom::End(d) => len + d,
            SeekFrom::Current(d) => self.pos as i64 + d,
        };
        self.pos = u64::try_from(new).map_err(|_| io::Error::other("negative seek"))?;
        Ok(self.pos)
    }
}

impl RecordStorage for Capped {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            pos: 0,
            ..self.clone()
        })
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.data.lock().unwrap().resize(len as usize, 0);
        Ok(())
    }
}

fn ramp(n: usize) -> Vec<i16> {
    (0..n).map(|i| (i % 30000) as i16 - 15000).collect()
}

fn read_back(bytes: Vec<u8>) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::new(io::Cursor::new(bytes)).expect("valid WAV");
    let samples = r
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .expect("all samples readable");
    (r.spec(), samples)
}

#[test]
fn mono_recording_round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("note.wav");
    let pcm = ramp(8000 * 2 + 123);
    let mut rec = Recorder::create(&path, Layout::Mono).unwrap();
    for frame in pcm.chunks(160) {
        rec.write_mono(frame).unwrap();
    }
    let done = rec.finish().unwrap();
    assert_eq!(done.frames, pcm.len() as u64);
    assert!(done.complete);
    assert_eq!(done.duration(), Duration::from_micros(2_015_375));
    let (spec, samples) = read_back(std::fs::read(&path).unwrap());
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 8000, 16)
    );
    assert_eq!(samples, pcm);
}

#[test]
fn stereo_puts_caller_left_and_agent_right_padding_the_shorter() {
    let storage = Capped::new(usize::MAX);
    let mut rec =
        Recorder::with_storage("call.wav".into(), Layout::Stereo, storage.clone()).unwrap();
    rec.write_stereo(&[1, 2, 3], &[-1, -2]).unwrap();
    rec.write_stereo(&[4], &[-4]).unwrap();
    assert!(matches!(
        rec.write_mono(&[9]),
        Err(RecordError::Layout { .. })
    ));
    let done = rec.finish().unwrap();
    assert_eq!(done.frames, 4);
    let (spec, samples) = read_back(storage.bytes());
    assert_eq!(spec.channels, 2);
    assert_eq!(samples, vec![1, -1, 2, -2, 3, 0, 4, -4]);
}

#[test]
fn a_full_disk_stops_the_recording_and_leaves_a_valid_file() {
    // Room for the header, one 0.5 s chunk and part of the next.
    let storage = Capped::new(44 + CHUNK_FRAMES * 2 + 1000);
    let mut rec = Recorder::with_storage("note.wav".into(), Layout::Mono, storage.clone()).unwrap();
    let pcm = ramp(8000 * 2);
    let mut errors = Vec::new();
    for frame in pcm.chunks(160) {
        if let Err(e) = rec.write_mono(frame) {
            errors.push(e);
        }
    }
    assert_eq!(errors.len(), 1, "the error is reported once: {errors:?}");
    let msg = errors[0].to_string();
    assert!(
        msg.starts_with("HL-REC-002 writing recording note.wav failed after 500 ms"),
        "{msg}"
    );
    assert!(msg.contains("No space left"), "{msg}");
    assert!(!rec.is_recording());
    let done = rec.finish().unwrap();
    assert_eq!((done.frames, done.complete), (CHUNK_FRAMES as u64, false));
    let bytes = storage.bytes();
    assert_eq!(bytes.len(), 44 + CHUNK_FRAMES * 2, "partial chunk cut off");
    let (_, samples) = read_back(bytes);
    assert_eq!(samples, pcm[..CHUNK_FRAMES]);
}

#[test]
fn dropping_without_finish_still_finalises() {
    let storage = Capped::new(usize::MAX);
    let mut rec = Recorder::with_storage("x.wav".into(), Layout::Mono, storage.clone()).unwrap();
    rec.write_mono(&[5, 6, 7]).unwrap();
    drop(rec);
    assert_eq!(read_back(storage.bytes()).1, vec![5, 6, 7]);
}

#[test]
fn paths_that_cannot_be_written_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no/such/dir/note.wav");
    let err = Recorder::create(&missing_dir, Layout::Mono)
        .err()
        .expect("fails");
    assert!(matches!(err, RecordError::Create { .. }), "{err:?}");
    assert!(err
        .to_string()
        .starts_with("HL-REC-001 cannot create recording "));
    assert!(err.to_string().contains("no/such/dir/note.wav"));

    // /dev/full accepts the open but fails every write with ENOSPC.
    if Path::new("/dev/full").exists() {
        let err = Recorder::create("/dev/full", Layout::Mono)
            .err()
            .expect("fails");
        assert!(matches!(err, RecordError::Create { .. }), "{err:?}");
        assert!(err.to_string().contains("No space left"), "{err}");
    }
}

#[test]
fn voice_notes_are_readable_by_their_owner_only_even_over_an_old_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.wav");
    let old = dir.path().join("old.wav");
    std::fs::write(&old, b"left over").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    for path in [&fresh, &old] {
        let mut rec = Recorder::create(path, Layout::Mono).unwrap();
        rec.write_mono(&ramp(160)).unwrap();
        rec.finish().unwrap();
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
}
