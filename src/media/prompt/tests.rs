//! Prompt loading tests: WAVs written by hound into a temporary directory.

use super::*;
use std::sync::Arc;

fn spec(channels: u16, rate: u32, bits: u16, float: bool) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    }
}

fn write_i16(path: &Path, spec: hound::WavSpec, samples: &[i16]) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

fn sine(rate: u32, secs: f32, amp: f32) -> Vec<i16> {
    (0..(rate as f32 * secs) as usize)
        .map(|i| (amp * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin()) as i16)
        .collect()
}

fn rms(x: &[i16]) -> f32 {
    (x.iter().map(|&v| f32::from(v).powi(2)).sum::<f32>() / x.len() as f32).sqrt()
}

#[test]
fn native_format_is_used_as_is_and_encoded_for_both_codecs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hello.wav");
    let pcm = sine(8000, 0.25, 9000.0);
    write_i16(&path, spec(1, 8000, 16, false), &pcm);
    let p = Prompt::load("hello", &path).unwrap();
    assert_eq!(p.pcm(), &pcm[..]);
    assert_eq!(p.duration(), Duration::from_millis(250));
    for codec in Codec::ALL {
        assert_eq!(p.payload(codec).len(), pcm.len());
        assert_eq!(p.payload(codec)[17], codec.encode_sample(pcm[17]));
    }
}

#[test]
fn stereo_44k1_is_mixed_and_resampled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cd.wav");
    let mono = sine(44100, 0.5, 10000.0);
    // Left carries the tone, right is silent: the mix is half the level.
    let stereo: Vec<i16> = mono.iter().flat_map(|&s| [s, 0]).collect();
    write_i16(&path, spec(2, 44100, 16, false), &stereo);
    let pcm = load_wav(&path).unwrap();
    assert_eq!(pcm.len(), 4000);
    let level = rms(&pcm[400..3600]);
    let expect = 5000.0 / 2f32.sqrt();
    assert!(
        (level - expect).abs() < 100.0,
        "rms {level}, expected {expect}"
    );
}

#[test]
fn other_bit_depths_are_scaled_to_16_bit() {
    let dir = tempfile::tempdir().unwrap();
    let p8 = dir.path().join("8.wav");
    let mut w = hound::WavWriter::create(&p8, spec(1, 8000, 8, false)).unwrap();
    for s in [64i8, -128, 0] {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    assert_eq!(load_wav(&p8).unwrap(), vec![16384, -32768, 0]);

    let p24 = dir.path().join("24.wav");
    let mut w = hound::WavWriter::create(&p24, spec(1, 8000, 24, false)).unwrap();
    for s in [0x40_0000i32, -0x80_0000, 256] {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    assert_eq!(load_wav(&p24).unwrap(), vec![16384, -32768, 1]);

    let p32 = dir.path().join("32.wav");
    let mut w = hound::WavWriter::create(&p32, spec(1, 8000, 32, false)).unwrap();
    for s in [0x4000_0000i32, i32::MIN] {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    assert_eq!(load_wav(&p32).unwrap(), vec![16384, -32768]);

    let pf = dir.path().join("f.wav");
    let mut w = hound::WavWriter::create(&pf, spec(1, 8000, 32, true)).unwrap();
    for s in [0.5f32, -1.0, 2.0, f32::NAN] {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    assert_eq!(load_wav(&pf).unwrap(), vec![16384, -32768, 32767, 0]);
}

#[test]
fn a_text_file_is_not_a_wav_and_the_error_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("greeting.wav");
    std::fs::write(&path, "this is not audio, just some text").unwrap();
    let err = load_wav(&path).unwrap_err();
    assert!(matches!(err, PromptError::NotWav { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("HL-PROMPT-002 "), "{msg}");
    assert!(
        msg.contains("greeting.wav: not a WAV file (RIFF header missing)"),
        "{msg}"
    );
    assert!(
        msg.ends_with("re-export as 8 kHz mono 16-bit PCM WAV"),
        "{msg}"
    );
}

#[test]
fn missing_empty_truncated_and_compressed_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.wav");
    assert!(matches!(load_wav(&missing), Err(PromptError::Read { .. })));

    let empty = dir.path().join("empty.wav");
    write_i16(&empty, spec(1, 8000, 16, false), &[]);
    assert!(matches!(load_wav(&empty), Err(PromptError::Empty { .. })));

    let cut = dir.path().join("cut.wav");
    write_i16(&cut, spec(1, 8000, 16, false), &sine(8000, 0.1, 1000.0));
    let len = std::fs::metadata(&cut).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(len - 101)
        .unwrap();
    let err = load_wav(&cut).unwrap_err();
    assert!(matches!(err, PromptError::Damaged { .. }), "{err:?}");

    // G.711 µ-law inside WAV (format tag 7): a valid RIFF/WAVE that hound
    // does not decode (telephony tools export this).
    let adpcm = dir.path().join("ulaw.wav");
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(4 + 8 + 16 + 8 + 4u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    for v in [7u16, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    for v in [1u16, 8] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(b"data");
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&[0xFF; 4]);
    std::fs::write(&adpcm, b).unwrap();
    let err = load_wav(&adpcm).unwrap_err();
    assert!(matches!(err, PromptError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("ulaw.wav"));
}

#[test]
fn cache_names_sharing_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("en")).unwrap();
    write_i16(
        &dir.path().join("beep.wav"),
        spec(1, 8000, 16, false),
        &[1, 2, 3],
    );
    write_i16(
        &dir.path().join("en/hello.wav"),
        spec(1, 8000, 16, false),
        &[4, 5],
    );
    std::fs::write(dir.path().join("README.md"), "not a prompt").unwrap();

    let cache = PromptCache::load_dir(dir.path()).unwrap();
    assert_eq!(cache.names(), vec!["beep", "en/hello"]);
    let a = cache.get("en/hello").unwrap();
    let b = cache.get("en/hello").unwrap();
    assert!(Arc::ptr_eq(&a, &b), "calls share one prompt");
    assert!(cache.get("en/missing").is_none());

    write_i16(
        &dir.path().join("en/hello.wav"),
        spec(1, 8000, 16, false),
        &[7, 8, 9],
    );
    let fresh = cache.reload().unwrap();
    assert_eq!(fresh.get("en/hello").unwrap().pcm(), &[7, 8, 9]);
    assert_eq!(a.pcm(), &[4, 5], "a call's prompt survives the reload");
}

#[test]
fn cache_lists_every_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.wav"), "x").unwrap();
    std::fs::write(dir.path().join("two.wav"), "y").unwrap();
    write_i16(&dir.path().join("good.wav"), spec(1, 8000, 16, false), &[1]);
    let err = PromptCache::load_dir(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("HL-PROMPT-009 2 prompt files"), "{msg}");
    assert!(msg.contains("one.wav") && msg.contains("two.wav"), "{msg}");

    let err = PromptCache::load_dir(dir.path().join("absent")).unwrap_err();
    assert!(matches!(err, PromptError::Dir { .. }), "{err:?}");
}

#[test]
fn shipped_prompts_load_in_both_languages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let cache = PromptCache::load_dir(&root).unwrap();
    for name in [
        "beep",
        "language-choice",
        "en/greeting-hello",
        "zh/greeting-hello",
    ] {
        assert!(cache.get(name).is_some(), "{name} missing");
    }
    let beep = cache.get("beep").unwrap();
    assert_eq!(beep.duration(), Duration::from_millis(200));
    // Every English prompt has a Mandarin twin, so a flow works in both.
    for name in cache.names().iter().filter_map(|n| n.strip_prefix("en/")) {
        assert!(
            cache.get(&format!("zh/{name}")).is_some(),
            "zh/{name} missing"
        );
    }
    assert!(cache.len() >= 70, "{} prompts", cache.len());
}
