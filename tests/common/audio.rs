//! Audio helpers for end-to-end tests: a talking microphone file, WAV
//! reading, and the correlation that proves a phone heard a given prompt.

use std::path::{Path, PathBuf};

/// A microphone that talks for `seconds` (a quiet 300 Hz tone).
pub fn microphone(dir: &Path, seconds: u32) -> PathBuf {
    let path = dir.join("mic.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for n in 0..8000 * seconds {
        let v = (2000.0 * (2.0 * std::f64::consts::PI * 300.0 * n as f64 / 8000.0).sin()) as i16;
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    path
}

pub fn read_wav(path: &Path) -> Vec<f64> {
    let mut r = hound::WavReader::open(path).unwrap();
    r.samples::<i16>().map(|s| s.unwrap() as f64).collect()
}

/// Best normalised cross-correlation of `heard` against `sent` over lags.
pub fn correlation(sent: &[f64], heard: &[f64]) -> f64 {
    let n = sent.len().min(heard.len());
    let mut best: f64 = 0.0;
    for lag in 0..heard.len().saturating_sub(n / 2).min(4000) {
        let h = &heard[lag..];
        let m = n.min(h.len());
        let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
        for i in 0..m {
            xy += sent[i] * h[i];
            xx += sent[i] * sent[i];
            yy += h[i] * h[i];
        }
        if xx > 0.0 && yy > 0.0 {
            best = best.max(xy / (xx * yy).sqrt());
        }
    }
    best
}
