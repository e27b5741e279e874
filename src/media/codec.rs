//! G.711 µ-law (PCMU) and A-law (PCMA), ITU-T G.711.
//!
//! Every phone speaks one of these two, so they are the only audio codecs the
//! daemon needs. Decoding uses a 256-entry table built at compile time (one
//! load per sample); encoding finds the segment with `leading_zeros`, which is
//! a single instruction, so neither direction branches on a search loop. The
//! slice functions write into caller-provided buffers: the RTP path calls them
//! per packet and must not allocate.

/// Bias added before µ-law segment search (G.711, 16-bit formulation).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can represent before the bias overflows 15 bits.
const ULAW_CLIP: i32 = 32635;

/// The two G.711 variants, identified by their static RTP payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, RTP payload type 0 (North America, Japan; most SIP phones' default).
    Pcmu,
    /// A-law, RTP payload type 8 (Europe, China).
    Pcma,
}

impl Codec {
    /// Both codecs, in the order the daemon prefers when the caller does not care.
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// Static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec for a static payload type, if it is one of ours.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Encoding name as written in `a=rtpmap` (compared case-insensitively).
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The codec for an `a=rtpmap` encoding name (case-insensitive, RFC 4855).
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
    }

    /// G.711 is always sampled at 8 kHz.
    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// The byte that decodes to (near) zero: used to pad and for comfort silence.
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Encode one linear sample.
    #[inline]
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(sample),
            Codec::Pcma => linear_to_alaw(sample),
        }
    }

    /// Decode one payload byte.
    #[inline]
    pub fn decode_sample(self, byte: u8) -> i16 {
        match self {
            Codec::Pcmu => ULAW_DECODE[byte as usize],
            Codec::Pcma => ALAW_DECODE[byte as usize],
        }
    }

    /// Encode `pcm` into `out`; encodes `min(pcm.len(), out.len())` samples and
    /// returns that count.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        let n = pcm.len().min(out.len());
        for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
            *o = self.encode_sample(s);
        }
        n
    }

    /// Decode `payload` into `out`; decodes `min(payload.len(), out.len())`
    /// bytes and returns that count.
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> usize {
        let table = match self {
            Codec::Pcmu => &ULAW_DECODE,
            Codec::Pcma => &ALAW_DECODE,
        };
        let n = payload.len().min(out.len());
        for (o, &b) in out[..n].iter_mut().zip(&payload[..n]) {
            *o = table[b as usize];
        }
        n
    }
}

/// µ-law encode (G.711 section 2, 16-bit input, bias 0x84).
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let s = i32::from(sample);
    let (sign, magnitude) = if s < 0 { (0x80, -s) } else { (0x00, s) };
    let biased = magnitude.min(ULAW_CLIP) + ULAW_BIAS;
    // biased is in [0x84, 0x7FFF]: its top set bit is between 7 and 14, and
    // the segment (exponent) is that bit's position minus 7.
    let exponent = 24 - (biased as u32).leading_zeros() as i32;
    let mantissa = (biased >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// A-law encode (G.711 section 3, 16-bit input reduced to 13 bits).
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 3; // 13-bit, in [-4096, 4095]
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1; // one's-complement magnitude, in [0, 4095]
        0x55
    };
    // Segment 0 covers 0..32; above that, the top bit's position minus 4.
    let top_bit = 31 - (v as u32 | 1).leading_zeros() as i32;
    let seg = (top_bit - 4).max(0);
    let mantissa = if seg < 2 {
        (v >> 1) & 0x0F
    } else {
        (v >> seg) & 0x0F
    };
    (((seg << 4) | mantissa) as u8) ^ mask
}

const fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let seg = ((a & 0x70) >> 4) as i32;
    let mut t = ((a & 0x0F) as i32) << 4;
    t += if seg == 0 { 8 } else { 0x108 };
    if seg > 1 {
        t <<= seg - 1;
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_to_linear(i as u8)
        } else {
            ulaw_to_linear(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_DECODE: [i16; 256] = build_table(false);
static ALAW_DECODE: [i16; 256] = build_table(true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_vectors() {
        // Values from the G.711 reference tables (16-bit scaling).
        assert_eq!(Codec::Pcmu.decode_sample(0x00), -32124);
        assert_eq!(Codec::Pcmu.decode_sample(0x80), 32124);
        assert_eq!(Codec::Pcmu.decode_sample(0xFF), 0);
        assert_eq!(Codec::Pcmu.decode_sample(0x7F), 0);
        assert_eq!(Codec::Pcmu.decode_sample(0xF0), 120);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
    }

    #[test]
    fn alaw_known_vectors() {
        assert_eq!(Codec::Pcma.decode_sample(0xD5), 8);
        assert_eq!(Codec::Pcma.decode_sample(0x55), -8);
        assert_eq!(Codec::Pcma.decode_sample(0xAA), 32256);
        assert_eq!(Codec::Pcma.decode_sample(0x2A), -32256);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(linear_to_alaw(1000), 0xFA);
    }

    #[test]
    fn silence_bytes_decode_to_near_zero_and_zero_encodes_to_them() {
        for codec in Codec::ALL {
            let s = codec.silence_byte();
            assert!(codec.decode_sample(s).abs() <= 8, "{codec:?}");
            assert_eq!(codec.encode_sample(0), s, "{codec:?}");
        }
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for b in 0..=255u8 {
            let pcm = Codec::Pcma.decode_sample(b);
            assert_eq!(linear_to_alaw(pcm), b, "A-law code {b:#04x}");
            // µ-law has two zeros (0xFF and 0x7F); 0 encodes to 0xFF.
            if b != 0x7F {
                let pcm = Codec::Pcmu.decode_sample(b);
                assert_eq!(linear_to_ulaw(pcm), b, "µ-law code {b:#04x}");
            }
        }
    }

    #[test]
    fn round_trip_error_is_within_half_a_quantisation_step() {
        // 4-bit mantissa: the step is at most 1/16 of the magnitude, so the
        // error is at most ~1/32 of it, plus the small fixed step near zero.
        for x in (-32000i32..=32000).step_by(7) {
            let x = x as i16;
            for codec in Codec::ALL {
                let y = codec.decode_sample(codec.encode_sample(x));
                let err = (i32::from(y) - i32::from(x)).abs();
                let bound = i32::from(x).abs() / 32 + 16;
                assert!(err <= bound, "{codec:?} x={x} y={y} err={err}");
            }
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        // Decoded values must never decrease as the input grows.
        for codec in Codec::ALL {
            let mut last = i16::MIN;
            for x in i16::MIN..=i16::MAX {
                let y = codec.decode_sample(codec.encode_sample(x));
                assert!(y >= last, "{codec:?} at {x}");
                last = y;
            }
        }
    }

    #[test]
    fn slice_functions_stop_at_the_shorter_buffer() {
        let pcm = [0i16, 1000, -1000, 32000];
        let mut out = [0u8; 3];
        assert_eq!(Codec::Pcmu.encode(&pcm, &mut out), 3);
        assert_eq!(out, [0xFF, 0xCE, 0x4E]);
        let mut back = [0i16; 8];
        assert_eq!(Codec::Pcmu.decode(&out, &mut back), 3);
        assert_eq!(back[0], 0);
        assert!((i32::from(back[1]) - 1000).abs() < 40);
        assert!((i32::from(back[2]) + 1000).abs() < 40);
    }

    #[test]
    fn payload_types_and_names() {
        assert_eq!(Codec::from_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(18), None);
        assert_eq!(Codec::from_encoding_name("pcma"), Some(Codec::Pcma));
        assert_eq!(Codec::from_encoding_name("G722"), None);
        for c in Codec::ALL {
            assert_eq!(Codec::from_payload_type(c.payload_type()), Some(c));
        }
    }
}
