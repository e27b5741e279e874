//! Sample conversions applied when a prompt file is not already 8 kHz mono
//! 16-bit: channel mix-down, bit-depth scaling and resampling. They run once
//! per file at load time, never per packet, so they favour quality over speed.

/// Average interleaved frames of `channels` samples into one channel.
/// Averaging (not summing) cannot clip, and keeps a mono file's level when it
/// was stored as two identical channels.
pub fn mix_to_mono(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// Scale an integer sample of `bits` significant bits to the 16-bit range.
pub fn int_to_16bit_scale(sample: i32, bits: u16) -> f32 {
    // 2^(16 - bits): 256 for 8-bit, 1/256 for 24-bit, 1/65536 for 32-bit.
    sample as f32 * (2.0f32).powi(16 - i32::from(bits))
}

/// Scale a float sample (full scale = 1.0) to the 16-bit range.
pub fn float_to_16bit_scale(sample: f32) -> f32 {
    if sample.is_finite() {
        sample * 32768.0
    } else {
        0.0
    }
}

/// Round and clamp to i16.
pub fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| s.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Zero crossings of the sinc kernel on each side: 16 gives a stop band of
/// roughly -70 dB with the Blackman window, plenty for telephone audio.
const ZERO_CROSSINGS: f64 = 16.0;
/// The pass band ends at this share of the lower Nyquist frequency, leaving
/// the rest as transition band so nothing above it folds back.
const ROLLOFF: f64 = 0.92;

/// Resample with a Blackman-windowed sinc.
///
/// Why not linear interpolation: prompts usually come at 44.1 or 48 kHz, and
/// going down to 8 kHz needs a low-pass filter below 4 kHz first, or every
/// sibilant above 4 kHz folds back into the band as hiss. Linear
/// interpolation has no such filter; the windowed sinc is that filter and
/// the interpolator in one. Cost is ~2 x 16 x (from / to) taps per output
/// sample, paid once when the prompt is loaded.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() || from == 0 || to == 0 {
        return input.to_vec();
    }
    let ratio = f64::from(to) / f64::from(from);
    // Cut-off in cycles per input sample.
    let cutoff = 0.5 * ratio.min(1.0) * ROLLOFF;
    // Kernel half-width in input samples.
    let half = ZERO_CROSSINGS / (2.0 * cutoff);
    let out_len = (input.len() as f64 * ratio).round() as usize;
    let last = input.len() as i64 - 1;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let t = n as f64 / ratio;
        let lo = (t - half).ceil() as i64;
        let hi = (t + half).floor() as i64;
        let (mut acc, mut gain) = (0.0f64, 0.0f64);
        for k in lo..=hi {
            let x = t - k as f64;
            let h = kernel(x, cutoff, half);
            gain += h;
            if (0..=last).contains(&k) {
                acc += f64::from(input[k as usize]) * h;
            }
        }
        // Dividing by the kernel's own sum makes the DC gain exactly 1.
        out.push(if gain > 0.0 { (acc / gain) as f32 } else { 0.0 });
    }
    out
}

/// Windowed sinc: `2 fc sinc(2 fc x)` times a Blackman window over `half`.
fn kernel(x: f64, cutoff: f64, half: f64) -> f64 {
    use std::f64::consts::PI;
    let u = x / half;
    if u.abs() >= 1.0 {
        return 0.0;
    }
    let window = 0.42 + 0.5 * (PI * u).cos() + 0.08 * (2.0 * PI * u).cos();
    let arg = 2.0 * cutoff * x;
    let sinc = if arg.abs() < 1e-12 {
        1.0
    } else {
        (PI * arg).sin() / (PI * arg)
    };
    2.0 * cutoff * sinc * window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(f: f32, rate: u32, secs: f32, amp: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| amp * (2.0 * std::f32::consts::PI * f * i as f32 / rate as f32).sin())
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn resampling_keeps_in_band_tones_and_length() {
        for from in [11025, 16000, 22050, 44100, 48000] {
            let input = sine(1000.0, from, 0.5, 10000.0);
            let out = resample(&input, from, 8000);
            assert_eq!(out.len(), 4000, "{from} Hz");
            // Compare the middle (edges see the zero padding).
            let mid = &out[400..3600];
            let expect = sine(1000.0, 8000, 0.5, 10000.0);
            let err: Vec<f32> = mid
                .iter()
                .zip(&expect[400..3600])
                .map(|(a, b)| a - b)
                .collect();
            assert!(rms(&err) < 100.0, "{from} Hz: error rms {}", rms(&err));
        }
    }

    #[test]
    fn downsampling_removes_what_would_fold_back() {
        // 6 kHz at 48 kHz would alias to 2 kHz at 8 kHz without filtering.
        let input = sine(6000.0, 48000, 0.5, 10000.0);
        let out = resample(&input, 48000, 8000);
        assert!(rms(&out[400..3600]) < 50.0, "rms {}", rms(&out[400..3600]));
    }

    #[test]
    fn upsampling_from_a_lower_rate() {
        let input = sine(500.0, 6000, 0.5, 8000.0);
        let out = resample(&input, 6000, 8000);
        assert_eq!(out.len(), 4000);
        assert!((rms(&out[400..3600]) - 8000.0 / 2f32.sqrt()).abs() < 100.0);
    }

    #[test]
    fn mix_and_scale() {
        assert_eq!(
            mix_to_mono(&[1000.0, 3000.0, -2.0, 2.0], 2),
            vec![2000.0, 0.0]
        );
        assert_eq!(int_to_16bit_scale(127, 8), 32512.0);
        assert_eq!(int_to_16bit_scale(-8_388_608, 24), -32768.0);
        assert_eq!(int_to_16bit_scale(i32::MAX, 32).round(), 32768.0);
        assert_eq!(float_to_16bit_scale(-1.0), -32768.0);
        assert_eq!(float_to_16bit_scale(f32::NAN), 0.0);
        assert_eq!(to_i16(&[40000.0, -40000.0, 1.4]), vec![32767, -32768, 1]);
    }
}
