//! Framing and normalisation: from raw bytes to a start line, a list of
//! `(canonical name, unfolded value)` headers and the body bytes.
//!
//! This is the pre-parse step that closes the gaps real phones hit:
//! compact header names (RFC 3261 §7.3.3, RFC 4028 `x`), any letter case,
//! whitespace before the colon, folded continuation lines, a size cap, and
//! leading CRLF keep-alives. Everything after this sees one spelling per
//! header and one line per header.

use super::header::is_token;

/// Largest message we accept. A UDP datagram cannot exceed 65 535 bytes and
/// no sane SIP request for a hotline is near that; refusing early bounds the
/// work an attacker can make us do.
pub const MAX_MESSAGE_SIZE: usize = 65_535;

/// Largest number of header lines; longreq (RFC 4475) has 43.
pub const MAX_HEADERS: usize = 256;

/// A message split into its parts, names normalised, values unfolded.
#[derive(Debug)]
pub struct Framed<'a> {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line; Content-Length is applied later.
    pub rest: &'a [u8],
}

/// Why bytes could not even be split into a message; always dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message larger than {MAX_MESSAGE_SIZE} bytes")]
    TooLarge,
    #[error("no blank line ends the header section")]
    NoHeaderEnd,
    #[error("empty message")]
    Empty,
    #[error("too many header lines")]
    TooManyHeaders,
    #[error("Content-Length is not a number")]
    BadContentLength,
}

/// A header line we could not read, kept so a 400 can name the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine(pub String);

/// Map a compact form or any spelling of a known header to its canonical
/// name. Unknown names are returned unchanged (compared case-insensitively).
pub fn canonical_name(name: &str) -> String {
    const KNOWN: &[&str] = &[
        "Accept",
        "Allow",
        "Call-ID",
        "Contact",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Event",
        "Expires",
        "From",
        "Max-Forwards",
        "Min-SE",
        "P-Asserted-Identity",
        "Privacy",
        "Record-Route",
        "Refer-To",
        "Remote-Party-ID",
        "Require",
        "Route",
        "Session-Expires",
        "Subject",
        "Supported",
        "To",
        "Unsupported",
        "Via",
    ];
    if name.len() == 1 {
        let full = match name.as_bytes()[0].to_ascii_lowercase() {
            b'i' => "Call-ID",
            b'm' => "Contact",
            b'e' => "Content-Encoding",
            b'l' => "Content-Length",
            b'c' => "Content-Type",
            b'f' => "From",
            b's' => "Subject",
            b'k' => "Supported",
            b't' => "To",
            b'v' => "Via",
            b'o' => "Event",
            b'r' => "Refer-To",
            b'u' => "Allow-Events",
            b'x' => "Session-Expires",
            b'b' => "Referred-By",
            _ => return name.to_string(),
        };
        return full.to_string();
    }
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_string(), |k| k.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Split `bytes` into start line, header lines and the rest.
///
/// Returns the framed message and the header lines that were not
/// `name: value` (the caller turns those into a 400 if it can answer).
pub fn frame(bytes: &[u8]) -> Result<(Framed<'_>, Vec<BadLine>), FrameError> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(FrameError::TooLarge);
    }
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(FrameError::Empty)?;
    let bytes = &bytes[start..];
    // RFC 3261 says CRLF; bare LF is accepted as many stacks do, whichever
    // blank line comes first ends the header section.
    let crlf = find(bytes, b"\r\n\r\n").map(|i| (i, 4));
    let lf = find(bytes, b"\n\n").map(|i| (i, 2));
    let (end, sep) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 <= b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return Err(FrameError::NoHeaderEnd),
    };
    let head = String::from_utf8_lossy(&bytes[..end]);
    let rest = &bytes[end + sep..];

    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start_line = lines.next().unwrap_or_default().to_string();
    // Unfold: a line starting with SP/HT continues the previous one.
    let mut unfolded: Vec<String> = Vec::new();
    let mut bad = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            match unfolded.last_mut() {
                Some(prev) => {
                    prev.push(' ');
                    prev.push_str(line.trim_start());
                }
                None => bad.push(BadLine(line.to_string())),
            }
        } else {
            unfolded.push(line.to_string());
        }
        if unfolded.len() > MAX_HEADERS {
            return Err(FrameError::TooManyHeaders);
        }
    }
    let mut headers = Vec::with_capacity(unfolded.len());
    for line in unfolded {
        match line.split_once(':') {
            Some((name, value)) if is_token(name.trim_end()) => {
                headers.push((canonical_name(name.trim_end()), value.trim().to_string()));
            }
            _ => bad.push(BadLine(line)),
        }
    }
    Ok((
        Framed {
            start_line,
            headers,
            rest,
        },
        bad,
    ))
}

/// For stream transports: how many bytes the first complete message in
/// `buf` occupies, `Ok(None)` if more bytes are needed. Content-Length is
/// mandatory on streams (RFC 3261 §18.3); missing means zero.
pub fn stream_message_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let skip = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let Some(end) = find(&buf[skip..], b"\r\n\r\n") else {
        if buf.len() > MAX_MESSAGE_SIZE {
            return Err(FrameError::TooLarge);
        }
        return Ok(None);
    };
    let head_len = skip + end + 4;
    let (framed, _) = frame(&buf[..head_len])?;
    let mut len = 0usize;
    for (name, value) in &framed.headers {
        if name == "Content-Length" {
            len = value.parse().map_err(|_| FrameError::BadContentLength)?;
        }
    }
    let total = head_len.saturating_add(len);
    if total > MAX_MESSAGE_SIZE {
        return Err(FrameError::TooLarge);
    }
    Ok((buf.len() >= total).then_some(total))
}

/// What [`StreamFramer::next`] found at the start of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamItem {
    /// A complete message of this many bytes.
    Message(usize),
    /// An RFC 5626 §3.5.1 keep-alive ping (CRLF CRLF, 4 bytes): answer
    /// with one CRLF.
    Ping,
    /// This many stray line ends between messages: skip them.
    Skip(usize),
    /// More bytes are needed.
    Incomplete,
}

/// Incremental framing for stream transports (RFC 3261 §18.3).
///
/// The scan for the blank line that ends a header resumes where the last
/// call stopped, so a peer dripping a header one byte per segment costs
/// O(n) in total, not O(n²) as rescanning from the start would. Content-
/// Length is read once, when the header is complete. The caller cuts the
/// bytes it was told about off the front of its buffer and calls again.
#[derive(Debug, Clone)]
pub struct StreamFramer {
    max: usize,
    /// Bytes of the current header already searched (from buffer start).
    scanned: usize,
    /// Whole length once the header is complete.
    total: Option<usize>,
    /// Bytes examined since creation: the work a peer made us do.
    work: u64,
}

impl StreamFramer {
    /// `max`: largest message (and so buffer) accepted, at most
    /// [`MAX_MESSAGE_SIZE`].
    pub fn new(max: usize) -> Self {
        Self {
            max: max.min(MAX_MESSAGE_SIZE),
            scanned: 0,
            total: None,
            work: 0,
        }
    }

    /// Bytes examined so far (for tests of the O(n) promise).
    pub fn work(&self) -> u64 {
        self.work
    }

    /// True while a message has begun but its header is not complete.
    pub fn in_header(&self, buf: &[u8]) -> bool {
        self.total.is_none() && !buf.is_empty()
    }

    /// Look at `buf` (the unconsumed bytes, the same front as last time
    /// plus what arrived since). After `Message`, `Ping` or `Skip` the
    /// caller must remove that many bytes from the front.
    pub fn next(&mut self, buf: &[u8]) -> Result<StreamItem, FrameError> {
        if self.total.is_none() && self.scanned == 0 {
            // Between messages: keep-alives and stray line ends.
            if buf.starts_with(b"\r\n\r\n") {
                return Ok(StreamItem::Ping);
            }
            let crlfs = buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if crlfs > 0 {
                if crlfs == buf.len() && crlfs < 4 && b"\r\n\r\n".starts_with(buf) {
                    return Ok(StreamItem::Incomplete); // perhaps a ping in pieces
                }
                return Ok(StreamItem::Skip(crlfs));
            }
        }
        let total = match self.total {
            Some(t) => t,
            None => {
                // Resume three bytes back: the terminator may straddle.
                let from = self.scanned.saturating_sub(3);
                let found = buf[from..].windows(4).position(|w| w == b"\r\n\r\n");
                self.work += (buf.len() - from) as u64;
                let Some(i) = found else {
                    self.scanned = buf.len();
                    if buf.len() > self.max {
                        return Err(FrameError::TooLarge);
                    }
                    return Ok(StreamItem::Incomplete);
                };
                let head_len = from + i + 4;
                if head_len > self.max {
                    return Err(FrameError::TooLarge);
                }
                let (framed, _) = frame(&buf[..head_len])?;
                let mut len = 0usize;
                for (name, value) in &framed.headers {
                    if name == "Content-Length" {
                        len = value.parse().map_err(|_| FrameError::BadContentLength)?;
                    }
                }
                let total = head_len.saturating_add(len);
                if total > self.max {
                    return Err(FrameError::TooLarge);
                }
                self.total = Some(total);
                total
            }
        };
        if buf.len() < total {
            return Ok(StreamItem::Incomplete);
        }
        self.total = None;
        self.scanned = 0;
        Ok(StreamItem::Message(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive_names() {
        for (given, want) in [
            ("v", "Via"),
            ("I", "Call-ID"),
            ("f", "From"),
            ("t", "To"),
            ("m", "Contact"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("k", "Supported"),
            ("s", "Subject"),
            ("e", "Content-Encoding"),
            ("o", "Event"),
            ("r", "Refer-To"),
            ("u", "Allow-Events"),
            ("x", "Session-Expires"),
            ("MaX-fOrWaRdS", "Max-Forwards"),
            ("call-id", "Call-ID"),
            ("X-Custom", "X-Custom"),
        ] {
            assert_eq!(canonical_name(given), want);
        }
    }

    #[test]
    fn unfolds_and_trims() {
        let msg = b"\r\nINVITE sip:a@b SIP/2.0\r\nTO :\r\n sip:a@b ;tag=1\r\ncseq: 9\r\n\tINVITE\r\n\r\nbody";
        let (f, bad) = frame(msg).unwrap();
        assert!(bad.is_empty());
        assert_eq!(f.start_line, "INVITE sip:a@b SIP/2.0");
        assert_eq!(f.headers[0], ("To".into(), "sip:a@b ;tag=1".into()));
        assert_eq!(f.headers[1], ("CSeq".into(), "9 INVITE".into()));
        assert_eq!(f.rest, b"body");
    }

    #[test]
    fn reports_lines_without_colon_and_limits() {
        let (_, bad) = frame(b"OPTIONS sip:a@b SIP/2.0\r\nFoobar roobar\r\n\r\n").unwrap();
        assert_eq!(bad, vec![BadLine("Foobar roobar".into())]);
        assert_eq!(frame(b"\r\n\r\n").unwrap_err(), FrameError::Empty);
        assert_eq!(frame(b"OPTIONS x").unwrap_err(), FrameError::NoHeaderEnd);
        let big = vec![b'a'; MAX_MESSAGE_SIZE + 1];
        assert_eq!(frame(&big).unwrap_err(), FrameError::TooLarge);
    }

    #[test]
    fn framer_cuts_messages_pings_and_strays() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbody";
        let mut f = StreamFramer::new(MAX_MESSAGE_SIZE);
        let mut buf = b"\r\n\r\n".to_vec();
        assert_eq!(f.next(&buf), Ok(StreamItem::Ping));
        buf.drain(..4);
        buf.extend_from_slice(b"\r\n");
        assert_eq!(f.next(&buf), Ok(StreamItem::Incomplete), "half a ping");
        buf.extend_from_slice(b"\r\n");
        assert_eq!(f.next(&buf), Ok(StreamItem::Ping));
        buf.clear();
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(&m[..10]);
        assert_eq!(f.next(&buf), Ok(StreamItem::Skip(2)));
        buf.drain(..2);
        assert_eq!(f.next(&buf), Ok(StreamItem::Incomplete));
        buf.extend_from_slice(&m[10..]);
        buf.extend_from_slice(b"NEXT");
        assert_eq!(f.next(&buf), Ok(StreamItem::Message(m.len())));
        buf.drain(..m.len());
        assert_eq!(f.next(&buf), Ok(StreamItem::Incomplete));
    }

    #[test]
    fn framer_is_linear_on_a_one_byte_drip() {
        // A 60 kB header arriving one byte at a time: each call looks only
        // at what is new (plus three bytes), never at the whole buffer.
        let mut msg = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        while msg.len() < 60_000 {
            // Long lines: the header-line cap (256) must not end it first.
            msg.extend_from_slice(b"X-Pad: ");
            msg.extend_from_slice(&[b'a'; 300]);
            msg.extend_from_slice(b"\r\n");
        }
        msg.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let mut f = StreamFramer::new(MAX_MESSAGE_SIZE);
        let started = std::time::Instant::now();
        let mut got = None;
        for n in 1..=msg.len() {
            match f.next(&msg[..n]).unwrap() {
                StreamItem::Incomplete => {}
                StreamItem::Message(len) => got = Some((n, len)),
                other => panic!("{other:?} at {n}"),
            }
        }
        assert_eq!(got, Some((msg.len(), msg.len())));
        let n = msg.len() as u64;
        assert!(f.work() <= 5 * n, "{} bytes examined for {n}", f.work());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn framer_caps_header_and_body() {
        let mut f = StreamFramer::new(100);
        assert_eq!(f.next(&[b'a'; 101]), Err(FrameError::TooLarge));
        let mut f = StreamFramer::new(100);
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nl: 90\r\n\r\n";
        assert_eq!(f.next(m), Err(FrameError::TooLarge));
        let mut f = StreamFramer::new(100);
        assert_eq!(
            f.next(b"OPTIONS sip:a@b SIP/2.0\r\nl: x\r\n\r\n"),
            Err(FrameError::BadContentLength)
        );
    }

    #[test]
    fn stream_length() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbodyNEXT";
        assert_eq!(stream_message_len(m).unwrap(), Some(m.len() - 4));
        assert_eq!(stream_message_len(&m[..30]).unwrap(), None);
        assert_eq!(
            stream_message_len(b"OPTIONS sip:a@b SIP/2.0\r\nl: 9\r\n\r\nab").unwrap(),
            None
        );
        assert_eq!(
            stream_message_len(b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n").unwrap_err(),
            FrameError::BadContentLength
        );
    }
}
