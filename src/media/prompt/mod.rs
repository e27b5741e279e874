//! Prompts: WAV files read with `hound`, validated, converted to 8 kHz mono
//! 16-bit, and pre-encoded to PCMU and PCMA once, so every call playing a
//! prompt shares the same bytes and nothing is encoded per packet.
//!
//! A file that cannot be used is an error naming the file, what is wrong and
//! how to fix it; one that can be used but is not 8 kHz mono 16-bit is
//! converted with an `info` log line naming the file and the conversion.

mod cache;
mod convert;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cache::PromptCache;

use super::codec::Codec;

/// The one format RTP needs; anything else is converted when loaded.
pub const PROMPT_RATE: u32 = 8000;
/// A prompt longer than this is almost certainly the wrong file (and would
/// hold ~2 MB per codec in memory).
pub const MAX_PROMPT_SECONDS: u32 = 300;
const FIX: &str = "re-export as 8 kHz mono 16-bit PCM WAV";

/// Why a prompt file cannot be used. The code is stable and searchable.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("HL-PROMPT-001 {}: cannot read the file ({source}); check that it exists and is readable by the daemon", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HL-PROMPT-002 {}: not a WAV file ({detail}); {FIX}", path.display())]
    NotWav { path: PathBuf, detail: String },
    #[error("HL-PROMPT-003 {}: unsupported WAV encoding ({detail}); {FIX}", path.display())]
    Unsupported { path: PathBuf, detail: String },
    #[error("HL-PROMPT-004 {}: the audio data is damaged or cut short ({detail}); {FIX}", path.display())]
    Damaged { path: PathBuf, detail: String },
    #[error("HL-PROMPT-005 {}: holds no audio; {FIX} with the intended sound", path.display())]
    Empty { path: PathBuf },
    #[error("HL-PROMPT-006 {}: {seconds} s long, longer than the {MAX_PROMPT_SECONDS} s a prompt may last; shorten or split it", path.display())]
    TooLong { path: PathBuf, seconds: u64 },
    #[error("HL-PROMPT-007 {}: sample rate {rate} Hz is not usable (4000-192000 Hz); {FIX}", path.display())]
    BadRate { path: PathBuf, rate: u32 },
    #[error("HL-PROMPT-008 prompt directory {}: {source}; check the prompts directory in the configuration", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HL-PROMPT-009 {} prompt files cannot be used:\n{}", .0.len(), list(.0))]
    Several(Vec<PromptError>),
}

fn list(errors: &[PromptError]) -> String {
    let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    lines.join("\n")
}

/// One prompt, ready to send: linear samples plus both G.711 encodings.
#[derive(Debug)]
pub struct Prompt {
    name: String,
    pcm: Vec<i16>,
    pcmu: Vec<u8>,
    pcma: Vec<u8>,
}

impl Prompt {
    /// Build a prompt from 8 kHz mono samples, encoding both codecs now.
    pub fn from_pcm(name: impl Into<String>, pcm: Vec<i16>) -> Self {
        let mut pcmu = vec![0; pcm.len()];
        let mut pcma = vec![0; pcm.len()];
        Codec::Pcmu.encode(&pcm, &mut pcmu);
        Codec::Pcma.encode(&pcm, &mut pcma);
        Self {
            name: name.into(),
            pcm,
            pcmu,
            pcma,
        }
    }

    /// Load and convert one WAV file.
    pub fn load(name: impl Into<String>, path: &Path) -> Result<Self, PromptError> {
        Ok(Self::from_pcm(name, load_wav(path)?))
    }

    /// Convert one WAV held in memory (a prompt built into the binary);
    /// `path` names it in errors.
    pub fn from_wav_bytes(
        name: impl Into<String>,
        bytes: &[u8],
        path: &Path,
    ) -> Result<Self, PromptError> {
        let reader = hound::WavReader::new(std::io::Cursor::new(bytes));
        Ok(Self::from_pcm(
            name,
            decode_wav(reader.map_err(|e| classify(path, e))?, path)?,
        ))
    }

    /// The cache key, e.g. `en/greeting-hello`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// 8 kHz mono linear samples (for in-band checks, mixing, tests).
    pub fn pcm(&self) -> &[i16] {
        &self.pcm
    }

    /// The encoded payload bytes for `codec`: one byte per sample, so the RTP
    /// sender slices 160-byte packets straight out of it.
    pub fn payload(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        }
    }

    /// Playing time.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.pcm.len() as u64 * 1_000_000 / u64::from(PROMPT_RATE))
    }
}

/// Read a WAV file as 8 kHz mono 16-bit samples, converting if needed.
pub fn load_wav(path: &Path) -> Result<Vec<i16>, PromptError> {
    let reader = hound::WavReader::open(path).map_err(|e| classify(path, e))?;
    decode_wav(reader, path)
}

fn decode_wav<R: std::io::Read>(
    mut reader: hound::WavReader<R>,
    path: &Path,
) -> Result<Vec<i16>, PromptError> {
    let spec = reader.spec();
    if !(4000..=192_000).contains(&spec.sample_rate) {
        return Err(PromptError::BadRate {
            path: path.into(),
            rate: spec.sample_rate,
        });
    }
    let seconds = u64::from(reader.duration()) / u64::from(spec.sample_rate);
    if seconds > u64::from(MAX_PROMPT_SECONDS) {
        return Err(PromptError::TooLong {
            path: path.into(),
            seconds,
        });
    }
    if reader.duration() == 0 {
        return Err(PromptError::Empty { path: path.into() });
    }
    let native = spec.channels == 1
        && spec.bits_per_sample == 16
        && spec.sample_format == hound::SampleFormat::Int
        && spec.sample_rate == PROMPT_RATE;
    if native {
        return reader
            .samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(|e| classify(path, e));
    }
    let file = path.display();
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            if spec.bits_per_sample != 16 {
                tracing::info!(%file, bits = spec.bits_per_sample, "prompt: converting integer samples to 16-bit");
            }
            let bits = spec.bits_per_sample;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| convert::int_to_16bit_scale(s, bits)))
                .collect::<Result<_, _>>()
        }
        hound::SampleFormat::Float => {
            tracing::info!(%file, bits = spec.bits_per_sample, "prompt: converting float samples to 16-bit");
            reader
                .samples::<f32>()
                .map(|s| s.map(convert::float_to_16bit_scale))
                .collect::<Result<_, _>>()
        }
    }
    .map_err(|e| classify(path, e))?;
    let channels = usize::from(spec.channels);
    if channels != 1 {
        tracing::info!(%file, channels, "prompt: mixing channels down to mono");
    }
    let mono = convert::mix_to_mono(&interleaved, channels);
    let resampled = if spec.sample_rate != PROMPT_RATE {
        tracing::info!(%file, from_hz = spec.sample_rate, to_hz = PROMPT_RATE,
            "prompt: resampling (Blackman-windowed sinc)");
        convert::resample(&mono, spec.sample_rate, PROMPT_RATE)
    } else {
        mono
    };
    Ok(convert::to_i16(&resampled))
}

/// Map hound's error to one that says what is wrong with the file.
fn classify(path: &Path, err: hound::Error) -> PromptError {
    use std::io::ErrorKind;
    let path = path.to_path_buf();
    match err {
        // hound reports a short read as a custom `Other` error.
        hound::Error::IoError(e)
            if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::Other) =>
        {
            PromptError::Damaged {
                path,
                detail: format!("the file ends before its declared length: {e}"),
            }
        }
        hound::Error::IoError(source) => PromptError::Read { path, source },
        hound::Error::FormatError(msg) if msg.contains("RIFF") => PromptError::NotWav {
            path,
            detail: "RIFF header missing".into(),
        },
        hound::Error::FormatError(msg) if msg.contains("WAVE") => PromptError::NotWav {
            path,
            detail: "RIFF file but not WAVE".into(),
        },
        hound::Error::FormatError(msg) => PromptError::Damaged {
            path,
            detail: msg.into(),
        },
        hound::Error::Unsupported => PromptError::Unsupported {
            path,
            detail: "compressed or non-PCM format (e.g. ADPCM, MP3, G.711 inside WAV)".into(),
        },
        hound::Error::TooWide | hound::Error::InvalidSampleFormat => PromptError::Unsupported {
            path,
            detail: "sample width or format hound cannot read".into(),
        },
        hound::Error::UnfinishedSample => PromptError::Damaged {
            path,
            detail: "the last sample is incomplete".into(),
        },
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
