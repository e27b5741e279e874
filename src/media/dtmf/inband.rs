//! In-band DTMF detection with the Goertzel algorithm (sans-io).
//!
//! Used when the caller's phone did not negotiate telephone-event, so key
//! presses only exist as tone pairs in the audio. Input is 8 kHz linear PCM
//! (decoded G.711) in slices of any length; digits come out once per press.
//!
//! Block size: 102 samples (12.75 ms) rather than one 160-sample RTP frame.
//! ITU-T Q.24 asks that tones of 40 ms be accepted and tones under ~23 ms
//! rejected. Requiring two consecutive matching blocks does both with 102:
//! any 40 ms tone covers at least two whole blocks, and two whole blocks
//! need at least 25.5 ms of tone. With 160-sample blocks a 40 ms tone that
//! straddles frame edges fills only one block, so it would be missed. At 102
//! samples the Goertzel main lobe (±78 Hz) still separates neighbouring
//! DTMF frequencies (at least 73 Hz apart, and the relative-peak check
//! covers the overlap).
//!
//! Checks on each block, the usual ones (after Asterisk and spandsp):
//! - level: each tone's amplitude at least [`MIN_TONE_AMPLITUDE`] (~ -33 dBm0);
//! - twist: the row (low) tone may be up to 8 dB louder than the column tone
//!   ("normal" twist, lines lose high frequencies) and the column up to 4 dB
//!   louder than the row ("reverse" twist);
//! - relative peak: the chosen row and column are 8 dB above the other rows
//!   and columns;
//! - energy ratio: the two tones hold at least [`MIN_TONE_ENERGY_RATIO`] of the
//!   block's energy. Speech and music spread energy over many harmonics and
//!   fail here; this is the main guard against talk-off;
//! - second harmonic of the column tone at least 10 dB down (voiced sounds
//!   have strong harmonics). Row harmonics are not checked: at this block size
//!   2 x 697/770/852 Hz falls inside the main lobe of a column frequency.
//!
//! A digit counts after two consecutive matching blocks and is emitted when
//! released (two blocks without it), so its duration is known and a held key
//! counts once; the same key must be released before it counts again.

use std::collections::VecDeque;

use super::{DtmfDigit, DtmfSource};

/// Samples per Goertzel block (see the module documentation).
pub const BLOCK: usize = 102;
/// Minimum amplitude of each tone (16-bit scale): about -33 dBm0 in G.711.
pub const MIN_TONE_AMPLITUDE: f32 = 500.0;
/// Share of the block's energy that must be in the two detected tones.
pub const MIN_TONE_ENERGY_RATIO: f32 = 0.8;
/// Row may exceed column by 8 dB (power ratio).
const NORMAL_TWIST: f32 = 6.31;
/// Column may exceed row by 4 dB (power ratio).
const REVERSE_TWIST: f32 = 2.51;
/// Chosen tone must be 8 dB above the others of its group.
const RELATIVE_PEAK: f32 = 6.31;
/// Second harmonic at least 10 dB below the fundamental.
const HARMONIC_RATIO: f32 = 10.0;
/// Consecutive matching blocks before a digit counts (2 x 12.75 ms).
const MIN_HITS: u32 = 2;
/// Consecutive other blocks that release a digit.
const RELEASE_BLOCKS: u32 = 2;
const SAMPLE_RATE: f32 = 8000.0;

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Goertzel coefficient `2 cos(2 pi f / fs)` for frequency `f`.
fn coeff(f: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE).cos()
}

/// Power of `block` at the frequency whose coefficient is `c`; a sine of
/// amplitude A gives about (A * N / 2)^2.
fn goertzel(block: &[f32], c: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in block {
        let s0 = x + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

/// Detects DTMF digits in 8 kHz linear PCM.
#[derive(Debug)]
pub struct InbandDetector {
    block: [f32; BLOCK],
    fill: usize,
    row_c: [f32; 4],
    col_c: [f32; 4],
    col_harmonic_c: [f32; 4],
    /// Result of the previous block and how many blocks in a row had it.
    last: Option<char>,
    run: u32,
    /// The digit being held, its length in matching blocks, and how many
    /// blocks in a row have not matched it.
    active: Option<char>,
    active_blocks: u32,
    misses: u32,
    out: VecDeque<DtmfDigit>,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    pub fn new() -> Self {
        Self {
            block: [0.0; BLOCK],
            fill: 0,
            row_c: ROWS.map(coeff),
            col_c: COLS.map(coeff),
            col_harmonic_c: COLS.map(|f| coeff(2.0 * f)),
            last: None,
            run: 0,
            active: None,
            active_blocks: 0,
            misses: 0,
            out: VecDeque::with_capacity(8),
        }
    }

    /// Feed decoded audio; any slice length, blocks carry over between calls.
    pub fn handle_audio(&mut self, pcm: &[i16]) {
        for &s in pcm {
            self.block[self.fill] = f32::from(s);
            self.fill += 1;
            if self.fill == BLOCK {
                self.fill = 0;
                let key = self.classify();
                self.step(key);
            }
        }
    }

    /// The next released digit, in order.
    pub fn poll_output(&mut self) -> Option<DtmfDigit> {
        self.out.pop_front()
    }

    /// Which key, if any, the current full block holds.
    fn classify(&self) -> Option<char> {
        let b = &self.block;
        let energy: f32 = b.iter().map(|x| x * x).sum();
        if energy <= 0.0 {
            return None;
        }
        let rows = self.row_c.map(|c| goertzel(b, c));
        let cols = self.col_c.map(|c| goertzel(b, c));
        let (r, pr) = best(&rows);
        let (c, pc) = best(&cols);
        let n = BLOCK as f32;
        // Amplitude A gives power (A N / 2)^2.
        let min_power = (MIN_TONE_AMPLITUDE * n / 2.0).powi(2);
        let level_ok = pr >= min_power && pc >= min_power;
        let twist_ok = pr <= pc * NORMAL_TWIST && pc <= pr * REVERSE_TWIST;
        let peak_ok = rows
            .iter()
            .enumerate()
            .all(|(i, &p)| i == r || p * RELATIVE_PEAK < pr)
            && cols
                .iter()
                .enumerate()
                .all(|(i, &p)| i == c || p * RELATIVE_PEAK < pc);
        // Two pure tones hold (pr + pc) = energy * N / 2.
        let ratio_ok = pr + pc >= MIN_TONE_ENERGY_RATIO * energy * n / 2.0;
        if !(level_ok && twist_ok && peak_ok && ratio_ok) {
            return None;
        }
        let harmonic = goertzel(b, self.col_harmonic_c[c]);
        if harmonic * HARMONIC_RATIO > pc {
            return None;
        }
        Some(KEYS[r][c])
    }

    /// Advance the press/release state machine by one block result.
    fn step(&mut self, key: Option<char>) {
        if key == self.last {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = key;
            self.run = 1;
        }
        if let Some(held) = self.active {
            if key == Some(held) {
                self.active_blocks = self.active_blocks.saturating_add(1);
                self.misses = 0;
                return;
            }
            self.misses += 1;
            if self.misses < RELEASE_BLOCKS {
                return; // one bad block inside a tone is bridged
            }
            self.out.push_back(DtmfDigit {
                digit: held,
                duration_ms: self.active_blocks.saturating_mul(BLOCK as u32 * 1000) / 8000,
                source: DtmfSource::InBand,
            });
            self.active = None;
        }
        if let Some(k) = key {
            if self.run >= MIN_HITS {
                self.active = Some(k);
                self.active_blocks = self.run;
                self.misses = 0;
            }
        }
    }
}

fn best(p: &[f32; 4]) -> (usize, f32) {
    let mut i_best = 0;
    for i in 1..4 {
        if p[i] > p[i_best] {
            i_best = i;
        }
    }
    (i_best, p[i_best])
}

#[cfg(test)]
#[path = "inband_tests.rs"]
mod tests;
