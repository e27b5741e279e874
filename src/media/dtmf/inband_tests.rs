//! Tests for the in-band detector: synthetic tones, talk-off signals, and the
//! shipped espeak-ng prompts as real speech.

use super::*;
use crate::media::codec::Codec;

const RATE: f32 = 8000.0;

fn freqs(digit: char) -> (f32, f32) {
    for (r, row) in KEYS.iter().enumerate() {
        for (c, &k) in row.iter().enumerate() {
            if k == digit {
                return (ROWS[r], COLS[c]);
            }
        }
    }
    panic!("not a DTMF key: {digit}");
}

/// A tone pair; `row_amp`/`col_amp` are peak amplitudes of each sine.
fn tone(digit: char, ms: usize, row_amp: f32, col_amp: f32) -> Vec<i16> {
    let (fr, fc) = freqs(digit);
    (0..ms * 8)
        .map(|n| {
            let t = n as f32 / RATE;
            let v = row_amp * (2.0 * std::f32::consts::PI * fr * t).sin()
                + col_amp * (2.0 * std::f32::consts::PI * fc * t).sin();
            v as i16
        })
        .collect()
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * 8]
}

/// Run audio through the detector in 160-sample frames, as RTP delivers it.
fn detect(pcm: &[i16]) -> Vec<DtmfDigit> {
    let mut det = InbandDetector::new();
    let mut out = Vec::new();
    for frame in pcm.chunks(160) {
        det.handle_audio(frame);
        out.extend(std::iter::from_fn(|| det.poll_output()));
    }
    out
}

fn digits(pcm: &[i16]) -> String {
    detect(pcm).iter().map(|d| d.digit).collect()
}

fn sequence(keys: &str, on_ms: usize, off_ms: usize) -> Vec<i16> {
    let mut pcm = silence(30);
    for k in keys.chars() {
        pcm.extend(tone(k, on_ms, 7000.0, 7000.0));
        pcm.extend(silence(off_ms));
    }
    pcm
}

fn mulaw_round_trip(pcm: &[i16]) -> Vec<i16> {
    pcm.iter()
        .map(|&s| Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(s)))
        .collect()
}

#[test]
fn all_sixteen_keys_in_order() {
    let pcm = sequence("1234567890*#ABCD", 60, 60);
    assert_eq!(digits(&pcm), "1234567890*#ABCD");
}

#[test]
fn keys_survive_a_mulaw_and_alaw_round_trip() {
    let pcm = sequence("90210#", 50, 50);
    assert_eq!(digits(&mulaw_round_trip(&pcm)), "90210#");
    let alaw: Vec<i16> = pcm
        .iter()
        .map(|&s| Codec::Pcma.decode_sample(Codec::Pcma.encode_sample(s)))
        .collect();
    assert_eq!(digits(&alaw), "90210#");
}

#[test]
fn a_held_key_counts_once_with_its_duration() {
    let mut pcm = tone('5', 500, 6000.0, 6000.0);
    pcm.extend(silence(50));
    let got = detect(&pcm);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].digit, '5');
    assert_eq!(got[0].source, DtmfSource::InBand);
    assert!(
        (470..=510).contains(&got[0].duration_ms),
        "{}",
        got[0].duration_ms
    );
}

#[test]
fn the_same_key_twice_needs_a_release_between() {
    assert_eq!(digits(&sequence("11", 60, 45)), "11");
}

#[test]
fn minimum_duration_40ms_accepted_20ms_rejected() {
    for offset in 0..4 {
        // Shift the tone across block boundaries.
        let mut pcm = silence(offset * 3 + 1);
        pcm.extend(tone('7', 40, 7000.0, 7000.0));
        pcm.extend(silence(60));
        assert_eq!(digits(&pcm), "7", "40 ms at offset {offset}");
        let mut pcm = silence(offset * 3 + 1);
        pcm.extend(tone('7', 20, 7000.0, 7000.0));
        pcm.extend(silence(60));
        assert_eq!(digits(&pcm), "", "20 ms at offset {offset}");
    }
}

#[test]
fn twist_limits() {
    let db = |d: f32| 10f32.powf(-d / 20.0);
    let with = |row: f32, col: f32| {
        let mut pcm = tone('6', 80, row, col);
        pcm.extend(silence(40));
        digits(&pcm)
    };
    assert_eq!(
        with(8000.0, 8000.0 * db(6.0)),
        "6",
        "6 dB normal twist is fine"
    );
    assert_eq!(
        with(8000.0, 8000.0 * db(10.0)),
        "",
        "10 dB normal twist is too much"
    );
    assert_eq!(
        with(8000.0 * db(3.0), 8000.0),
        "6",
        "3 dB reverse twist is fine"
    );
    assert_eq!(
        with(8000.0 * db(6.0), 8000.0),
        "",
        "6 dB reverse twist is too much"
    );
}

#[test]
fn quiet_tones_are_ignored() {
    let mut pcm = tone('3', 100, 300.0, 300.0);
    pcm.extend(silence(40));
    assert_eq!(digits(&pcm), "");
    let mut pcm = tone('3', 100, 900.0, 900.0);
    pcm.extend(silence(40));
    assert_eq!(digits(&pcm), "3", "just above the level floor");
}

#[test]
fn white_noise_gives_no_digits() {
    let mut x: u32 = 0x1234_5678;
    let pcm: Vec<i16> = (0..8000 * 5)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 16) as i16 / 4
        })
        .collect();
    assert_eq!(digits(&pcm), "");
}

#[test]
fn a_single_tone_gives_no_digits() {
    for f in [1000.0f32, 697.0, 1209.0] {
        let pcm: Vec<i16> = (0..8000 * 2)
            .map(|n| (12000.0 * (2.0 * std::f32::consts::PI * f * n as f32 / RATE).sin()) as i16)
            .collect();
        assert_eq!(digits(&pcm), "", "{f} Hz");
    }
}

/// A steady vowel: harmonics of `f0` shaped by formant resonances. /a/ has
/// formants near 700 and 1200 Hz, right on the DTMF row and column bands,
/// which makes it the hardest case for talk-off.
fn vowel(f0: f32, ms: usize) -> Vec<i16> {
    let formants = [(700.0f32, 90.0f32), (1220.0, 110.0), (2600.0, 160.0)];
    let mut harmonics = Vec::new();
    let mut h = f0;
    while h < 3800.0 {
        let gain: f32 = formants
            .iter()
            .map(|&(f, bw)| 1.0 / (1.0 + ((h - f) / bw).powi(2)))
            .sum();
        harmonics.push((h, gain));
        h += f0;
    }
    let norm: f32 = harmonics.iter().map(|&(_, g)| g).sum();
    (0..ms * 8)
        .map(|n| {
            let t = n as f32 / RATE;
            let v: f32 = harmonics
                .iter()
                .map(|&(f, g)| g * (2.0 * std::f32::consts::PI * f * t).sin())
                .sum();
            (v / norm * 16000.0) as i16
        })
        .collect()
}

#[test]
fn steady_vowels_give_no_digits() {
    for f0 in (90..=260).step_by(7) {
        let pcm = vowel(f0 as f32, 400);
        assert_eq!(digits(&mulaw_round_trip(&pcm)), "", "vowel at F0 {f0} Hz");
    }
}

#[test]
fn shipped_speech_prompts_give_no_digits() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let mut checked = 0;
    for lang in ["en", "zh"] {
        let Ok(entries) = std::fs::read_dir(dir.join(lang)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "wav") || path.ends_with("beep.wav") {
                continue;
            }
            let mut reader = hound::WavReader::open(&path).expect("shipped prompt opens");
            let pcm: Vec<i16> = reader
                .samples::<i16>()
                .map(|s| s.expect("sample"))
                .collect();
            assert_eq!(digits(&mulaw_round_trip(&pcm)), "", "{}", path.display());
            checked += 1;
        }
    }
    assert!(
        checked >= 20,
        "expected the shipped prompts, found {checked}"
    );
}
