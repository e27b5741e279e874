//! RTP packets (RFC 3550 section 5.1): parse into borrowed views, write into
//! caller buffers.
//!
//! Hand-written rather than the webrtc-rs `rtp` crate: that crate's
//! `Packet::unmarshal` copies every payload into a fresh `Bytes`, and its
//! `Header::unmarshal` allocates a `Vec` for CSRCs and one `Bytes` per header
//! extension element, so a phone that sends extensions would cost
//! allocations on every packet, and it pulls in `webrtc-util`. The fixed
//! header is 12 bytes; here parsing borrows the payload from the receive
//! buffer and writing fills a reused send buffer, so the per-packet path
//! never allocates. Every length is checked: no input can panic.

/// RTP version 2, the only one in use.
pub const RTP_VERSION: u8 = 2;
/// Fixed header length (no CSRCs, no extension), which is all we send.
pub const HEADER_LEN: usize = 12;
/// One 20 ms G.711 frame at 8 kHz: 160 samples, one byte each.
pub const SAMPLES_PER_PACKET: u32 = 160;
/// Largest datagram we accept or build (Ethernet MTU).
pub const MAX_PACKET: usize = 1500;
/// RFC 3389 comfort noise: phones send it in silence; we ignore it.
pub const COMFORT_NOISE_PT: u8 = 13;

/// Why bytes are not an RTP packet. Logged at debug level and counted; a
/// bad packet never ends a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("HL-RTP-001 datagram of {0} bytes is shorter than an RTP header")]
    TooShort(usize),
    #[error("HL-RTP-002 RTP version {0}, expected 2")]
    BadVersion(u8),
    #[error("HL-RTP-003 CSRC list or header extension runs past the end of the packet")]
    HeaderOverflow,
    #[error("HL-RTP-004 padding length {0} is larger than the payload")]
    BadPadding(u8),
    #[error("HL-RTP-005 output buffer of {have} bytes cannot hold a {need}-byte packet")]
    BufferTooSmall { have: usize, need: usize },
}

/// The header fields this daemon uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Set on the first packet of a talkspurt (RFC 3551 section 4.1).
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// A parsed packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub header: RtpHeader,
    /// Payload without CSRCs, extension or padding.
    pub payload: &'a [u8],
}

/// Parse one datagram. CSRCs and a header extension are skipped (a
/// point-to-point call has no use for them); padding is removed.
pub fn parse(buf: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    if buf.len() < HEADER_LEN {
        return Err(RtpError::TooShort(buf.len()));
    }
    let version = buf[0] >> 6;
    if version != RTP_VERSION {
        return Err(RtpError::BadVersion(version));
    }
    let padding = buf[0] & 0x20 != 0;
    let extension = buf[0] & 0x10 != 0;
    let csrc_count = usize::from(buf[0] & 0x0F);
    let mut offset = HEADER_LEN + 4 * csrc_count;
    if extension {
        // 16-bit profile, 16-bit length in 32-bit words, then the words.
        let ext = buf
            .get(offset..offset + 4)
            .ok_or(RtpError::HeaderOverflow)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        offset += 4 + 4 * words;
    }
    if offset > buf.len() {
        return Err(RtpError::HeaderOverflow);
    }
    let mut end = buf.len();
    if padding {
        // The last byte counts the padding bytes, itself included.
        let pad = buf[end - 1];
        if pad == 0 || usize::from(pad) > end - offset {
            return Err(RtpError::BadPadding(pad));
        }
        end -= usize::from(pad);
    }
    let header = RtpHeader {
        marker: buf[1] & 0x80 != 0,
        payload_type: buf[1] & 0x7F,
        sequence: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
    };
    Ok(RtpPacket {
        header,
        payload: &buf[offset..end],
    })
}

/// Write the 12-byte header into `out[..12]`.
pub fn write_header(header: &RtpHeader, out: &mut [u8]) -> Result<(), RtpError> {
    let have = out.len();
    let out = out.get_mut(..HEADER_LEN).ok_or(RtpError::BufferTooSmall {
        have,
        need: HEADER_LEN,
    })?;
    out[0] = RTP_VERSION << 6;
    out[1] = (u8::from(header.marker) << 7) | (header.payload_type & 0x7F);
    out[2..4].copy_from_slice(&header.sequence.to_be_bytes());
    out[4..8].copy_from_slice(&header.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&header.ssrc.to_be_bytes());
    Ok(())
}

/// Write header and payload into `out`; returns the packet length.
pub fn write_packet(header: &RtpHeader, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
    let need = HEADER_LEN + payload.len();
    if out.len() < need {
        return Err(RtpError::BufferTooSmall {
            have: out.len(),
            need,
        });
    }
    write_header(header, out)?;
    out[HEADER_LEN..need].copy_from_slice(payload);
    Ok(need)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xBEEF,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
        }
    }

    #[test]
    fn write_then_parse_round_trips() {
        let mut buf = [0u8; 64];
        let n = write_packet(&header(), &[1, 2, 3], &mut buf).unwrap();
        assert_eq!(n, 15);
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 0x88, "marker bit and PT 8");
        let p = parse(&buf[..n]).unwrap();
        assert_eq!(p.header, header());
        assert_eq!(p.payload, &[1, 2, 3]);
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut pkt = vec![0xB1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]; // V=2 P X CC=1
        pkt.extend([9, 9, 9, 9]); // one CSRC
        pkt.extend([0xBE, 0xDE, 0, 1, 7, 7, 7, 7]); // extension of one word
        pkt.extend([0xAA, 0xBB]); // payload
        pkt.extend([0, 0, 3]); // three bytes of padding
        let p = parse(&pkt).unwrap();
        assert_eq!(p.payload, &[0xAA, 0xBB]);
        assert_eq!(p.header.sequence, 1);
        assert_eq!(p.header.ssrc, 3);
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        assert_eq!(parse(&[0x80; 5]), Err(RtpError::TooShort(5)));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        let mut csrc = [0u8; 12];
        csrc[0] = 0x8F; // 15 CSRCs announced, none present
        assert_eq!(parse(&csrc), Err(RtpError::HeaderOverflow));
        let mut ext = [0u8; 16];
        ext[0] = 0x90;
        ext[15] = 200; // extension of 200 words
        assert_eq!(parse(&ext), Err(RtpError::HeaderOverflow));
        let mut pad = [0u8; 14];
        pad[0] = 0xA0;
        pad[13] = 9; // 9 padding bytes, only 2 after the header
        assert_eq!(parse(&pad), Err(RtpError::BadPadding(9)));
        pad[13] = 0;
        assert_eq!(parse(&pad), Err(RtpError::BadPadding(0)));
        let mut small = [0u8; 8];
        assert!(write_packet(&header(), &[], &mut small).is_err());
    }

    #[test]
    fn every_short_prefix_and_every_first_byte_is_handled() {
        let mut buf = [0u8; 40];
        let n = write_packet(&header(), &[5; 20], &mut buf).unwrap();
        for len in 0..=n {
            for b0 in [0x80u8, 0x90, 0xA0, 0xBF, 0xFF] {
                let mut p = buf;
                p[0] = b0;
                // Must return, never panic; a full plain packet must parse.
                let r = parse(&p[..len]);
                if b0 == 0x80 && len >= HEADER_LEN {
                    assert!(r.is_ok());
                }
            }
        }
    }
}
