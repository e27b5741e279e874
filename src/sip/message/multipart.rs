//! MIME multipart bodies (RFC 2046 §5.1) as SIP uses them (RFC 5621):
//! an SDP offer next to ISUP (SIP-I), a location object, or alternatives.
//!
//! Hand-written rather than a crate: the MIME crates on offer parse whole
//! e-mails (transfer encodings, charsets, nested RFC 822 headers) and
//! allocate per part; a UAS needs the part boundaries, each part's
//! Content-Type and Content-Disposition, and nothing else. The scan reads
//! the body once, line by line (O(n) in the body, never a rescan), copies
//! nothing, and bounds the part count and the nesting depth.

use super::header::{param, parse_params};

/// More parts than any SIP body carries.
pub const MAX_PARTS: usize = 16;
/// multipart inside multipart inside multipart is as deep as we look.
pub const MAX_DEPTH: usize = 3;

/// One body part: its (lower-cased, parameter-free) type and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// `application/sdp`; `text/plain` when the part names none (§5.1).
    pub content_type: String,
    /// The full Content-Type value, parameters included (for nesting).
    pub content_type_raw: String,
    /// The part's Content-Disposition value, if any.
    pub disposition: Option<String>,
    pub body: &'a [u8],
}

impl Part<'_> {
    /// `handling=required` (RFC 3261 §20.11): we must understand it.
    pub fn required(&self) -> bool {
        self.disposition.as_deref().is_some_and(|d| {
            let params = d.find(';').and_then(|i| parse_params(&d[i..]).ok());
            params
                .as_ref()
                .and_then(|p| param(p, "handling"))
                .is_some_and(|h| h.eq_ignore_ascii_case("required"))
        })
    }
}

/// Why a multipart body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("multipart Content-Type without a usable boundary")]
    NoBoundary,
    #[error("no part delimited by the boundary")]
    NoParts,
    #[error("more than {MAX_PARTS} parts")]
    TooManyParts,
    #[error("multipart nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("a part has no blank line after its headers")]
    BadPart,
}

/// Is this media type (lower-cased, no parameters) a multipart one?
pub fn is_multipart(media_type: &str) -> bool {
    media_type.starts_with("multipart/")
}

/// The `boundary` parameter of a Content-Type value (1 to 70 characters).
pub fn boundary(content_type: &str) -> Option<String> {
    let i = content_type.find(';')?;
    let params = parse_params(&content_type[i..]).ok()?;
    let b = param(&params, "boundary")?;
    (!b.is_empty() && b.len() <= 70).then(|| b.to_string())
}

/// Split `body` into its parts. Preamble and epilogue are ignored; a body
/// that ends without the close delimiter keeps the parts it delimited.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, MultipartError> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut out = Vec::new();
    // Start of the current part's bytes (after its delimiter line).
    let mut current: Option<usize> = None;
    let mut pos = 0;
    while pos < body.len() {
        let end = body[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |i| pos + i + 1);
        let line = &body[pos..end];
        if line.starts_with(delim) {
            let after = &line[delim.len()..];
            let close = after.starts_with(b"--");
            let rest = if close { &after[2..] } else { after };
            // Only transport padding may follow a delimiter (§5.1.1).
            if rest
                .iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            {
                if let Some(start) = current.take() {
                    // The CRLF before a delimiter belongs to the delimiter.
                    let mut stop = pos;
                    if stop > start && body[stop - 1] == b'\n' {
                        stop -= 1;
                        if stop > start && body[stop - 1] == b'\r' {
                            stop -= 1;
                        }
                    }
                    if out.len() == MAX_PARTS {
                        return Err(MultipartError::TooManyParts);
                    }
                    out.push(part(&body[start..stop.max(start)])?);
                }
                if close {
                    break;
                }
                current = Some(end);
            }
        }
        pos = end;
    }
    if out.is_empty() {
        return Err(MultipartError::NoParts);
    }
    Ok(out)
}

fn part(bytes: &[u8]) -> Result<Part<'_>, MultipartError> {
    // A part may have no headers at all: then it starts with the blank line.
    let (head, body) = if bytes.starts_with(b"\r\n") {
        (&bytes[..0], &bytes[2..])
    } else if bytes.starts_with(b"\n") {
        (&bytes[..0], &bytes[1..])
    } else {
        let crlf = find(bytes, b"\r\n\r\n").map(|i| (i, 4));
        let lf = find(bytes, b"\n\n").map(|i| (i, 2));
        let (i, sep) = match (crlf, lf) {
            (Some(a), Some(b)) => {
                if a.0 <= b.0 {
                    a
                } else {
                    b
                }
            }
            (a, b) => a.or(b).ok_or(MultipartError::BadPart)?,
        };
        (&bytes[..i], &bytes[i + sep..])
    };
    let head = String::from_utf8_lossy(head);
    let mut content_type_raw = String::new();
    let mut disposition = None;
    // Unfold continuation lines, then read `name: value`.
    let mut lines: Vec<String> = Vec::new();
    for l in head.split('\n').map(|l| l.trim_end_matches('\r')) {
        match lines.last_mut() {
            Some(prev) if l.starts_with([' ', '\t']) => {
                prev.push(' ');
                prev.push_str(l.trim());
            }
            _ => lines.push(l.to_string()),
        }
    }
    for l in &lines {
        let Some((n, v)) = l.split_once(':') else {
            continue;
        };
        let n = n.trim();
        if n.eq_ignore_ascii_case("Content-Type") || n == "c" {
            content_type_raw = v.trim().to_string();
        } else if n.eq_ignore_ascii_case("Content-Disposition") {
            disposition = Some(v.trim().to_string());
        }
    }
    let mut content_type = content_type_raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if content_type.is_empty() {
        content_type = "text/plain".into();
    }
    Ok(Part {
        content_type,
        content_type_raw,
        disposition,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What a multipart body offers a UAS that only reads SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<'a> {
    /// The first `application/sdp` part, searching nested multiparts too.
    Sdp(&'a [u8]),
    /// No SDP part anywhere.
    NoSdp,
    /// A part we do not understand is marked `handling=required`.
    Required(String),
}

/// Look for the SDP in a multipart body whose Content-Type is
/// `content_type` (with its boundary parameter).
pub fn find_sdp<'a>(content_type: &str, body: &'a [u8]) -> Result<Found<'a>, MultipartError> {
    find_sdp_at(content_type, body, 1)
}

fn find_sdp_at<'a>(
    content_type: &str,
    body: &'a [u8],
    depth: usize,
) -> Result<Found<'a>, MultipartError> {
    if depth > MAX_DEPTH {
        return Err(MultipartError::TooDeep);
    }
    let b = boundary(content_type).ok_or(MultipartError::NoBoundary)?;
    let list = parts(body, &b)?;
    let mut sdp = None;
    for p in &list {
        if p.content_type == "application/sdp" {
            sdp.get_or_insert(p.body);
        } else if is_multipart(&p.content_type) {
            match find_sdp_at(&p.content_type_raw, p.body, depth + 1)? {
                Found::Sdp(s) => {
                    sdp.get_or_insert(s);
                }
                Found::Required(t) => return Ok(Found::Required(t)),
                Found::NoSdp => {}
            }
        } else if p.required() {
            return Ok(Found::Required(p.content_type.clone()));
        }
    }
    Ok(sdp.map_or(Found::NoSdp, Found::Sdp))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    fn sip_i(boundary: &str) -> String {
        format!(
            "--{boundary}\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n\
             --{boundary}\r\nContent-Type: application/ISUP;version=itu-t92+\r\n\
             Content-Disposition: signal;handling=optional\r\n\r\n\x01\x00\x49\x00\x00\r\n\
             --{boundary}--\r\n"
        )
    }

    #[test]
    fn sdp_next_to_isup() {
        let ct = "multipart/mixed;boundary=unique-boundary-1";
        let body = sip_i("unique-boundary-1");
        assert_eq!(
            find_sdp(ct, body.as_bytes()),
            Ok(Found::Sdp(SDP.as_bytes()))
        );
        let ps = parts(body.as_bytes(), "unique-boundary-1").unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].content_type, "application/isup");
        assert!(!ps[1].required());
    }

    #[test]
    fn quoted_boundary_preamble_and_nesting() {
        let inner = sip_i("inner");
        let body = format!(
            "This is a preamble.\r\n--outer\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n{inner}\r\n--outer--\r\nepilogue"
        );
        let ct = "multipart/mixed; boundary=\"outer\"";
        assert_eq!(
            find_sdp(ct, body.as_bytes()),
            Ok(Found::Sdp(SDP.as_bytes()))
        );
    }

    #[test]
    fn no_sdp_required_parts_and_errors() {
        let body = "--b\r\nContent-Type: application/pidf+xml\r\n\r\n<presence/>\r\n--b--\r\n";
        assert_eq!(
            find_sdp("multipart/mixed;boundary=b", body.as_bytes()),
            Ok(Found::NoSdp)
        );
        let req = body.replace(
            "\r\n\r\n<pres",
            "\r\nContent-Disposition: render;handling=required\r\n\r\n<pres",
        );
        assert_eq!(
            find_sdp("multipart/mixed;boundary=b", req.as_bytes()),
            Ok(Found::Required("application/pidf+xml".into()))
        );
        assert_eq!(
            find_sdp("multipart/mixed", body.as_bytes()),
            Err(MultipartError::NoBoundary)
        );
        assert_eq!(
            find_sdp("multipart/mixed;boundary=zz", body.as_bytes()),
            Err(MultipartError::NoParts)
        );
        let many: String = (0..20).map(|_| "--b\r\n\r\nx\r\n").collect::<String>() + "--b--";
        assert_eq!(
            parts(many.as_bytes(), "b"),
            Err(MultipartError::TooManyParts)
        );
    }

    #[test]
    fn a_delimiter_needs_a_line_of_its_own() {
        // `--b` inside content, or followed by other text, is content.
        let body = "--b\r\nContent-Type: text/plain\r\n\r\nx --b y\r\n--bz\r\n--b--\r\n";
        let ps = parts(body.as_bytes(), "b").unwrap();
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].body, b"x --b y\r\n--bz");
    }

    #[test]
    fn lf_only_and_headerless_parts() {
        let body = format!(
            "--b\n\n{}\n--b\nContent-Type: application/sdp\n\n{SDP}\n--b--\n",
            "plain"
        );
        let ps = parts(body.as_bytes(), "b").unwrap();
        assert_eq!(ps[0].content_type, "text/plain");
        assert_eq!(ps[0].body, b"plain");
        assert_eq!(ps[1].body, SDP.as_bytes());
    }
}
