//! The parse entry point and the drop-or-400 decision.
//!
//! Bytes from the network end in exactly one of three ways: a [`Message`];
//! a [`Rejection`] (we understood enough to answer, and the answer is a
//! ready-built response naming what was wrong); or a [`DropReason`] (we
//! cannot answer: no usable Via or CSeq, a broken response, garbage).

use super::frame::{frame, FrameError};
use super::header::{is_token, parse_vias, CSeq, NameAddr};
use super::{CallId, Headers, Message, Method, Request, Response, Uri};
use crate::sip::error::ProtocolError;

/// Why a message was dropped without an answer. Count these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    #[error("HL-SIP-DROP unframeable: {0}")]
    Frame(#[from] FrameError),
    #[error("HL-SIP-DROP bad start line: {0:?}")]
    BadStartLine(String),
    #[error("HL-SIP-DROP bad response: {0}")]
    BadResponse(String),
    /// A request we would reject but cannot answer (no Via/CSeq to copy).
    #[error("HL-SIP-DROP unanswerable request: {0}")]
    Unanswerable(ProtocolError),
}

/// A request refused with a response we can send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub error: ProtocolError,
    pub response: Response,
}

/// The outcome of [`parse`] when no message comes out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Drop(DropReason),
    #[error("{} {}", .0.error.code(), .0.error)]
    Reject(Box<Rejection>),
}

impl ParseError {
    /// Status code we answer with, `None` when dropped.
    pub fn status(&self) -> Option<u16> {
        match self {
            ParseError::Drop(_) => None,
            ParseError::Reject(r) => Some(r.error.status()),
        }
    }
}

fn bad(header: &'static str, detail: impl Into<String>) -> ProtocolError {
    ProtocolError::BadHeader {
        header,
        detail: detail.into(),
    }
}

/// Parse one datagram (or one stream-framed message).
///
/// Bytes after Content-Length are ignored (RFC 4475 `dblreq`); a body shorter
/// than Content-Length is refused (`clerr`), which is right for UDP and
/// harmless for TCP because the stream framer waits for the whole body.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    let (framed, bad_lines) = frame(bytes).map_err(|e| ParseError::Drop(e.into()))?;
    let mut headers = Headers::new();
    for (n, v) in framed.headers {
        headers.0.push((n, v));
    }
    if framed.start_line.starts_with("SIP/") {
        return parse_response(
            &framed.start_line,
            headers,
            framed.rest,
            bad_lines.is_empty(),
        )
        .map(Message::Response)
        .map_err(|e| ParseError::Drop(DropReason::BadResponse(e)));
    }

    let reject = |error: ProtocolError, headers: &Headers| -> ParseError {
        match Response::for_raw_headers(headers, error.status(), &error.reason()) {
            Some(response) => ParseError::Reject(Box::new(Rejection { error, response })),
            None => ParseError::Drop(DropReason::Unanswerable(error)),
        }
    };

    let parts: Vec<&str> = framed.start_line.split(' ').collect();
    let method = parts.first().copied().unwrap_or_default();
    let version = parts
        .iter()
        .rev()
        .find(|p| !p.is_empty())
        .copied()
        .unwrap_or_default();
    if !is_token(method) || !version.starts_with("SIP/") || parts.len() < 3 {
        return Err(ParseError::Drop(DropReason::BadStartLine(
            framed.start_line.chars().take(80).collect(),
        )));
    }
    if parts.len() != 3 {
        let e = ProtocolError::BadRequestLine("elements not separated by single spaces".into());
        return Err(reject(e, &headers));
    }
    if version != "SIP/2.0" {
        return Err(reject(
            ProtocolError::VersionNotSupported(version.to_string()),
            &headers,
        ));
    }
    let uri = match Uri::parse(parts[1]) {
        Ok(u) => u,
        Err(e) => {
            return Err(reject(
                ProtocolError::BadRequestLine(e.to_string()),
                &headers,
            ))
        }
    };
    if let Some(line) = bad_lines.first() {
        let e = bad("header line", format!("not 'name: value': {:?}", line.0));
        return Err(reject(e, &headers));
    }
    let body = match body(&headers, framed.rest) {
        Ok(b) => b,
        Err(e) => return Err(reject(e, &headers)),
    };
    Request::from_parts(Method::from_token(method), uri, headers.clone(), body)
        .map(Message::Request)
        .map_err(|e| reject(e, &headers))
}

/// Apply Content-Length to the bytes after the header section.
fn body(headers: &Headers, rest: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let mut values = headers.get_all("Content-Length");
    let Some(first) = values.next() else {
        return Ok(rest.to_vec());
    };
    if values.any(|v| v != first) {
        return Err(bad("Content-Length", "conflicting values"));
    }
    if first.is_empty() || first.len() > 9 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("Content-Length", "not a non-negative number"));
    }
    let len: usize = first
        .parse()
        .map_err(|_| bad("Content-Length", "not a number"))?;
    if rest.len() < len {
        return Err(bad("Content-Length", "body shorter than Content-Length"));
    }
    Ok(rest[..len].to_vec())
}

/// Exactly one value of a single-valued header.
pub(super) fn single<'a>(
    headers: &'a Headers,
    name: &'static str,
) -> Result<&'a str, ProtocolError> {
    let mut it = headers.get_all(name);
    match (it.next(), it.next()) {
        (Some(v), None) => Ok(v),
        (None, _) => Err(bad(name, "missing")),
        (Some(_), Some(_)) => Err(bad(name, "repeated")),
    }
}

impl Request {
    /// Build a request, checking the mandatory headers the same way for
    /// requests we parse and requests we construct (BYE).
    pub fn from_parts(
        method: Method,
        uri: Uri,
        headers: Headers,
        body: Vec<u8>,
    ) -> Result<Request, ProtocolError> {
        let vias = parse_vias(headers.get_all("Via")).map_err(|e| bad("Via", e.0))?;
        let from = NameAddr::parse(single(&headers, "From")?).map_err(|e| bad("From", e.0))?;
        let to = NameAddr::parse(single(&headers, "To")?).map_err(|e| bad("To", e.0))?;
        let call_id = single(&headers, "Call-ID")?.to_string();
        if call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return Err(bad("Call-ID", "empty or contains whitespace"));
        }
        let cseq = CSeq::parse(single(&headers, "CSeq")?).map_err(|e| bad("CSeq", e.0))?;
        if cseq.method != method {
            return Err(bad("CSeq", "method does not match the request line"));
        }
        let max_forwards = match headers.get_all("Max-Forwards").count() {
            0 => None,
            1 => {
                let v = single(&headers, "Max-Forwards")?;
                let n = (v.len() <= 4 && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| v.parse::<u32>().ok())
                    .flatten()
                    .filter(|n| *n <= 255)
                    .ok_or_else(|| bad("Max-Forwards", "not a number in 0..=255"))?;
                Some(n)
            }
            _ => return Err(bad("Max-Forwards", "repeated")),
        };
        Ok(Request {
            method,
            uri,
            headers,
            body,
            vias,
            from,
            to,
            call_id: CallId(call_id),
            cseq,
            max_forwards,
        })
    }
}

fn parse_response(
    line: &str,
    headers: Headers,
    rest: &[u8],
    lines_ok: bool,
) -> Result<Response, String> {
    let (version, rest_line) = line.split_once(' ').ok_or("no status code")?;
    if version != "SIP/2.0" {
        return Err(format!("version {version}"));
    }
    let (code, reason) = rest_line.split_once(' ').unwrap_or((rest_line, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("status code is not three digits".into());
    }
    let status: u16 = code.parse().map_err(|_| "status code")?;
    if !(100..=699).contains(&status) {
        return Err("status code out of range".into());
    }
    if !lines_ok {
        return Err("malformed header line".into());
    }
    let body = body(&headers, rest).map_err(|e| e.to_string())?;
    let resp = Response {
        status,
        reason: reason.to_string(),
        headers,
        body,
    };
    // A response we cannot match to a transaction is useless: check what
    // matching and dialogs need, and drop it otherwise.
    parse_vias(resp.headers.get_all("Via")).map_err(|e| format!("Via: {e}"))?;
    let cseq = single(&resp.headers, "CSeq").map_err(|e| e.to_string())?;
    CSeq::parse(cseq).map_err(|e| format!("CSeq: {e}"))?;
    single(&resp.headers, "Call-ID").map_err(|e| e.to_string())?;
    for h in ["From", "To"] {
        NameAddr::parse(single(&resp.headers, h).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{h}: {e}"))?;
    }
    Ok(resp)
}
