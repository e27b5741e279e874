//! Checks the UAS core runs on a well-formed request before acting on it,
//! in RFC 3261 §8.2 order (method, Request-URI, extensions, content), plus
//! RFC 4028 session-timer negotiation. Pure: the only outside knowledge is
//! the "does this dialog exist?" predicate the caller passes in.
//!
//! What a call would otherwise trip over later is refused here, before any
//! call task starts: a Request-URI scheme we do not serve (416), headers
//! escaped into the Request-URI (400: RFC 3261 §19.1.1 forbids them there,
//! and a request built from someone's `sip:x@h?Subject=..` link must never
//! be accepted), a dialog-creating or target-refreshing request whose
//! Contact is missing or not a SIP URI (400: we could never send it a BYE),
//! a body we cannot read (415 with `Accept: application/sdp`), and an
//! `Accept` that excludes the SDP our answer must carry (406).

use crate::sip::dialog::DialogId;
use crate::sip::error::ProtocolError;
use crate::sip::message::multipart::{self, Found};
use crate::sip::message::{param, parse_params, split_list, Method, Request};

/// Request-URI schemes we serve: SIP, SIPS and telephone numbers (carriers
/// and IMS trunks send `INVITE tel:+86...`, RFC 3966).
pub const URI_SCHEMES: [&str; 3] = ["sip", "sips", "tel"];

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
                // Blind transfer from an agent's phone (RFC 3515), inside
                // its dialog only.
                Method::Refer,
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
        ProtocolError::UnsupportedMediaType(_) => vec![("Accept", "application/sdp".into())],
        ProtocolError::IntervalTooSmall(_) => vec![("Min-SE", policy.min_se.to_string())],
        _ => Vec::new(),
    }
    .into_iter()
    .chain(err.warning().map(|w| ("Warning", w)))
    .collect()
}

/// RFC 3261 §8.2.2.1: 416 for a scheme we do not serve; §19.1.1: no
/// headers in a Request-URI.
fn check_request_uri(req: &Request) -> Result<(), ProtocolError> {
    let uri = req.uri();
    if !URI_SCHEMES.contains(&uri.scheme()) {
        return Err(ProtocolError::UnsupportedUriScheme(
            uri.scheme().to_string(),
        ));
    }
    if uri.sip().is_some_and(|s| s.headers.is_some()) {
        return Err(ProtocolError::BadHeader {
            header: "Request-URI",
            detail: "carries ?headers, which a Request-URI must not".into(),
        });
    }
    Ok(())
}

/// A request that creates a dialog or refreshes its target (INVITE,
/// UPDATE) needs exactly one Contact with a SIP or SIPS URI (RFC 3261
/// §8.1.1.8, §12.1.1): it becomes where our BYE goes.
fn check_contact(req: &Request) -> Result<(), ProtocolError> {
    let bad = |detail: String| ProtocolError::BadHeader {
        header: "Contact",
        detail,
    };
    let raw: Vec<&str> = req
        .headers()
        .get_all("Contact")
        .flat_map(split_list)
        .filter(|v| !v.is_empty())
        .collect();
    let contacts = req.contacts();
    match (raw.len(), contacts.first()) {
        (0, _) => Err(bad("missing".into())),
        (1, Some(c)) if c.uri.sip().is_some() => Ok(()),
        (1, Some(c)) => Err(bad(format!("{}: is not a SIP URI", c.uri.scheme()))),
        (1, None) => Err(bad("malformed".into())),
        (n, _) => Err(bad(format!("{n} values where one is allowed"))),
    }
}

/// RFC 3261 §20.1: no Accept means `application/sdp`; otherwise one of
/// its media ranges must admit `application/sdp` with a q above 0.
pub fn accepts_sdp(req: &Request) -> bool {
    if req.headers().get("Accept").is_none() {
        return true;
    }
    req.headers().list("Accept").iter().any(|range| {
        let (ty, params) = match range.find(';') {
            Some(i) => (&range[..i], parse_params(&range[i..]).unwrap_or_default()),
            None => (range.as_str(), Vec::new()),
        };
        let ty = ty.trim().to_ascii_lowercase();
        let q_zero = param(&params, "q")
            .and_then(|q| q.parse::<f32>().ok())
            .is_some_and(|q| q <= 0.0);
        matches!(ty.as_str(), "application/sdp" | "application/*" | "*/*") && !q_zero
    })
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
    check_request_uri(req)?;
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
    // A REFER outside a dialog names no call to transfer: 481 like a BYE.
    let needs_dialog = match method {
        Method::Bye | Method::Info | Method::Update | Method::Refer => true,
        Method::Invite => req.to().tag().is_some(),
        _ => false,
    };
    if needs_dialog && !DialogId::for_incoming(req).is_some_and(|id| dialog_exists(&id)) {
        return Err(ProtocolError::NoSuchDialog);
    }
    if matches!(method, Method::Invite | Method::Update) {
        check_contact(req)?;
    }
    let sdp = match method {
        Method::Invite | Method::Update => sdp_body(req)?,
        _ => None,
    };
    // Our 2xx to an INVITE always carries SDP (an answer, or our offer),
    // to an UPDATE when it carried an offer.
    let answers_with_sdp = *method == Method::Invite || sdp.is_some();
    if answers_with_sdp && !accepts_sdp(req) {
        let accept: Vec<String> = req.headers().list("Accept");
        return Err(ProtocolError::NotAcceptable(accept.join(", ")));
    }
    let session_timer = match method {
        Method::Invite | Method::Update => session_timer(req, policy)?,
        _ => None,
    };
    Ok(Accepted { sdp, session_timer })
}

/// The SDP in a request body: `application/sdp`, or the first
/// `application/sdp` part of a multipart body (`multipart/mixed` as SIP-I
/// sends it, `multipart/alternative`, RFC 5621; nested ones too). No body is
/// fine (offerless INVITE); a multipart body without SDP, with a part marked
/// `handling=required` that we cannot read, or any other type is 415.
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
    if ctype == "application/sdp" {
        return Ok(Some(req.body().to_vec()));
    }
    if !multipart::is_multipart(&ctype) {
        return Err(unsupported(&ctype));
    }
    let raw = req.headers().get("Content-Type").unwrap_or_default();
    match multipart::find_sdp(raw, req.body()) {
        Ok(Found::Sdp(sdp)) => Ok(Some(sdp.to_vec())),
        Ok(Found::NoSdp) => Err(unsupported(&format!("{ctype} without application/sdp"))),
        Ok(Found::Required(t)) => Err(unsupported(&format!("{t} (handling=required)"))),
        Err(e) => Err(unsupported(&format!("{ctype}: {e}"))),
    }
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
