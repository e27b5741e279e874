//! DTMF: one digit stream from three sources.
//!
//! Phones signal key presses in one of three ways and the IVR must not care
//! which: RFC 4733 telephone-event packets ([`rfc4733`]), SIP INFO requests
//! ([`info`]), or the tones themselves inside the audio ([`inband`], used when
//! telephone-event was not negotiated). Each source is a pure state machine
//! that turns its input into the same [`DtmfDigit`] value, so the call task
//! merges them without knowing where a digit came from.

pub mod inband;
pub mod info;
pub mod rfc4733;

/// Where a digit was detected; kept for logs and tests, not for IVR logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event RTP packets.
    Rfc4733,
    /// A SIP INFO request (`application/dtmf-relay` or `application/dtmf`).
    SipInfo,
    /// Goertzel detection on the decoded audio.
    InBand,
}

/// One key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DtmfDigit {
    /// One of `0-9`, `*`, `#`, `A-D`.
    pub digit: char,
    /// How long the key was held; 0 when the source did not say.
    pub duration_ms: u32,
    /// Which of the three sources produced it.
    pub source: DtmfSource,
}

/// Keys in RFC 4733 event-code order: event `n` is `EVENT_DIGITS[n]`.
const EVENT_DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// The key for an RFC 4733 event code 0-15; other codes (flash, modem tones)
/// are not key presses.
pub fn event_to_digit(event: u8) -> Option<char> {
    EVENT_DIGITS.get(usize::from(event)).copied()
}

/// The RFC 4733 event code for a key (accepts lower-case `a-d`).
pub fn digit_to_event(digit: char) -> Option<u8> {
    let d = digit.to_ascii_uppercase();
    EVENT_DIGITS.iter().position(|&c| c == d).map(|i| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_map_both_ways() {
        assert_eq!(event_to_digit(0), Some('0'));
        assert_eq!(event_to_digit(10), Some('*'));
        assert_eq!(event_to_digit(11), Some('#'));
        assert_eq!(event_to_digit(15), Some('D'));
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('#'), Some(11));
        assert_eq!(digit_to_event('c'), Some(14));
        assert_eq!(digit_to_event('x'), None);
        for e in 0..16u8 {
            assert_eq!(event_to_digit(e).and_then(digit_to_event), Some(e));
        }
    }
}
