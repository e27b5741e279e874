//! Checks the UAS core runs on a well-formed request before acting on it,
//! in RFC 3261 §8.2 order (method, headers, content), plus RFC 4028
//! session-timer negotiation. Pure: the only outside knowledge is the
//! "does this dialog exist?" predicate the caller passes in.

use crate::sip::dialog::DialogId;
use crate::sip::error::ProtocolError;
use crate::sip::message::{param, parse_params, Method, Request};

/// What this UAS serves and understands.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Methods we answer (also the Allow header).
    pub allowed: Vec<Method>,
    /// Option tags we understand in Require (also the Supported header).
    pub supported: Vec<String>,
    /// Our minimum session interval in seconds (RFC 4028 Min-SE, >= 90).
    pub min_se: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            allowed: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Info,
                Method::Update,
                Method::Register,
            ],
            supported: vec!["timer".into()],
            min_se: 90,
        }
    }
}

impl Policy {
    /// Value for the Allow header of 405 / OPTIONS answers.
    pub fn allow_header(&self) -> String {
        let names: Vec<&str> = self.allowed.iter().map(Method::as_str).collect();
        names.join(", ")
    }

    /// Value for the Supported header.
    pub fn supported_header(&self) -> String {
        self.supported.join(", ")
    }
}

/// Who refreshes the session (RFC 4028 §7.2 `refresher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

/// The session timer to put in our 2xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    pub interval: u32,
    pub refresher: Refresher,
    /// The UAC supports `timer`, so our 2xx carries `Require: timer`.
    pub require_timer: bool,
}

impl SessionTimer {
    /// Value for the Session-Expires header of our 2xx.
    pub fn header_value(&self) -> String {
        let who = match self.refresher {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        };
        format!("{};refresher={who}", self.interval)
    }
}

/// A request that passed: the SDP it carried and the session timer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accepted {
    /// The SDP offer or answer, extracted from multipart if needed.
    pub sdp: Option<Vec<u8>>,
    pub session_timer: Option<SessionTimer>,
}

/// Extra headers a rejection needs (Allow on 405, Unsupported on 420,
/// Accept on 415, Min-SE on 422).
pub fn rejection_headers(err: &ProtocolError, policy: &Policy) -> Vec<(&'static str, String)> {
    match err {
        ProtocolError::MethodNotAllowed(_) => vec![("Allow", policy.allow_header())],
        ProtocolError::BadExtension(tags) => vec![("Unsupported", tags.join(", "))],
        ProtocolError::UnsupportedMediaType(_) => {
            vec![("Accept", "application/sdp, multipart/mixed".into())]
        }
        ProtocolError::IntervalTooSmall(_) => vec![("Min-SE", policy.min_se.to_string())],
        _ => Vec::new(),
    }
}

/// Run every check. `dialog_exists` answers for requests carrying a To tag.
pub fn validate_request(
    req: &Request,
    policy: &Policy,
    dialog_exists: impl Fn(&DialogId) -> bool,
) -> Result<Accepted, ProtocolError> {
    let method = req.method();
    if !policy.allowed.contains(method) {
        return Err(match method {
            Method::Other(m) => ProtocolError::NotImplemented(m.clone()),
            known => ProtocolError::MethodNotAllowed(known.to_string()),
        });
    }
    // An ACK is never answered, so nothing can be refused: take its SDP
    // (the answer to an offerless INVITE) if it has a usable one.
    if *method == Method::Ack {
        return Ok(Accepted {
            sdp: sdp_body(req).ok().flatten(),
            session_timer: None,
        });
    }
    if req.max_forwards() == Some(0) {
        return Err(ProtocolError::TooManyHops);
    }
    if *method != Method::Cancel {
        let unknown: Vec<String> = req
            .require()
            .into_iter()
            .filter(|t| !policy.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unknown.is_empty() {
            return Err(ProtocolError::BadExtension(unknown));
        }
    }
    let needs_dialog = match method {
        Method::Bye | Method::Info | Method::Update => true,
        Method::Invite => req.to().tag().is_some(),
        _ => false,
    };
    if needs_dialog && !DialogId::for_incoming(req).is_some_and(|id| dialog_exists(&id)) {
        return Err(ProtocolError::NoSuchDialog);
    }
    let sdp = match method {
        Method::Invite | Method::Update => sdp_body(req)?,
        _ => None,
    };
    let session_timer = match method {
        Method::Invite | Method::Update => session_timer(req, policy)?,
        _ => None,
    };
    Ok(Accepted { sdp, session_timer })
}

/// The SDP in a request body: `application/sdp`, or the first
/// `application/sdp` part of `multipart/mixed`. No body is fine (offerless
/// INVITE); anything else is 415.
pub fn sdp_body(req: &Request) -> Result<Option<Vec<u8>>, ProtocolError> {
    if req.body().is_empty() {
        return Ok(None);
    }
    let unsupported = |t: &str| ProtocolError::UnsupportedMediaType(t.to_string());
    if let Some(enc) = req.headers().get("Content-Encoding") {
        if !enc.trim().eq_ignore_ascii_case("identity") {
            return Err(unsupported(enc));
        }
    }
    let ctype = req.content_type().unwrap_or_default();
    match ctype.as_str() {
        "application/sdp" => Ok(Some(req.body().to_vec())),
        "multipart/mixed" => {
            let raw = req.headers().get("Content-Type").unwrap_or_default();
            let params = raw
                .find(';')
                .and_then(|i| parse_params(&raw[i..]).ok())
                .unwrap_or_default();
            let boundary = param(&params, "boundary").ok_or_else(|| unsupported(raw))?;
            multipart_sdp(req.body(), boundary)
                .map(Some)
                .ok_or_else(|| unsupported("multipart/mixed without application/sdp"))
        }
        _ => Err(unsupported(&ctype)),
    }
}

/// Find the first `application/sdp` part (RFC 2046 §5.1.1).
fn multipart_sdp(body: &[u8], boundary: &str) -> Option<Vec<u8>> {
    if boundary.is_empty() {
        return None;
    }
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + delim.len() <= body.len() {
        if &body[i..i + delim.len()] == delim && (i == 0 || body[i - 1] == b'\n') {
            starts.push(i);
            i += delim.len();
        } else {
            i += 1;
        }
    }
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delim.len()..pair[1]];
        let part = part
            .strip_prefix(b"\r\n")
            .or_else(|| part.strip_prefix(b"\n"))?;
        let split = part
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| (p, 4));
        let (head_end, sep) =
            split.or_else(|| part.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)))?;
        let head = String::from_utf8_lossy(&part[..head_end]).to_ascii_lowercase();
        let is_sdp = head.lines().any(|l| {
            l.split_once(':').is_some_and(|(n, v)| {
                n.trim() == "content-type" && v.trim().starts_with("application/sdp")
            })
        });
        if is_sdp {
            let content = &part[head_end + sep..];
            // The CRLF before the next delimiter belongs to the delimiter.
            let content = content
                .strip_suffix(b"\r\n")
                .or_else(|| content.strip_suffix(b"\n"))
                .unwrap_or(content);
            return Some(content.to_vec());
        }
    }
    None
}

/// RFC 4028: the caller's Session-Expires (and Min-SE) decide the interval
/// in our 2xx; below our minimum is 422.
pub fn session_timer(
    req: &Request,
    policy: &Policy,
) -> Result<Option<SessionTimer>, ProtocolError> {
    let bad = |h: &'static str| ProtocolError::BadHeader {
        header: h,
        detail: "not delta-seconds".into(),
    };
    let Some(se) = req.headers().get("Session-Expires") else {
        return Ok(None);
    };
    let split = se.find(';').unwrap_or(se.len());
    let interval: u32 = delta_seconds(&se[..split]).ok_or_else(|| bad("Session-Expires"))?;
    let params = parse_params(&se[split..]).map_err(|_| bad("Session-Expires"))?;
    let min_se = match req.headers().get("Min-SE") {
        Some(v) => {
            delta_seconds(v.split(';').next().unwrap_or_default()).ok_or_else(|| bad("Min-SE"))?
        }
        None => 0,
    };
    let floor = policy.min_se.max(90);
    if interval < floor {
        return Err(ProtocolError::IntervalTooSmall(interval));
    }
    let uac_supports = req
        .supported()
        .iter()
        .chain(req.require().iter())
        .any(|t| t.eq_ignore_ascii_case("timer"));
    let refresher = match (param(&params, "refresher"), uac_supports) {
        (Some(r), true) if r.eq_ignore_ascii_case("uas") => Refresher::Uas,
        (_, true) => Refresher::Uac,
        // A UAC without timer support cannot refresh: we must (§9).
        (_, false) => Refresher::Uas,
    };
    Ok(Some(SessionTimer {
        interval: interval.max(min_se),
        refresher,
        require_timer: uac_supports,
    }))
}

fn delta_seconds(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
