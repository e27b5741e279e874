//! Protocol errors and the one mapping from an error to a SIP status code.
//!
//! Every rejection we send carries a status code chosen here and nowhere
//! else, and every error has a stable code (`HL-SIP-xxx`) so an operator who
//! sees it in a log line can search for it.

use thiserror::Error;

/// A reason to refuse a request that reached the point where we can answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// A mandatory header is missing, repeated or malformed (RFC 3261 §8.2).
    #[error("bad or missing header {header}: {detail}")]
    BadHeader {
        header: &'static str,
        detail: String,
    },
    /// The request line itself is malformed (URI, spacing).
    #[error("bad request line: {0}")]
    BadRequestLine(String),
    /// SIP version other than 2.0 (RFC 3261 §8.2.1 -> 505).
    #[error("unsupported SIP version {0}")]
    VersionNotSupported(String),
    /// Max-Forwards reached zero (RFC 3261 §16.3 / §8.2 -> 483).
    #[error("Max-Forwards exhausted")]
    TooManyHops,
    /// A Require option we do not implement (RFC 3261 §8.2.2.3 -> 420).
    #[error("unsupported extension(s): {}", .0.join(", "))]
    BadExtension(Vec<String>),
    /// A method we recognise but do not serve (-> 405 with Allow).
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    /// A method we do not know at all (-> 501).
    #[error("method {0} not implemented")]
    NotImplemented(String),
    /// A body we cannot use (-> 415 with Accept).
    #[error("unsupported media type {0}")]
    UnsupportedMediaType(String),
    /// An in-dialog request for a dialog we do not have (-> 481).
    #[error("no such dialog or transaction")]
    NoSuchDialog,
    /// Session-Expires below our minimum (RFC 4028 -> 422 with Min-SE).
    #[error("session interval {0}s too small")]
    IntervalTooSmall(u32),
    /// URI scheme we cannot serve (-> 416).
    #[error("unsupported URI scheme {0}")]
    UnsupportedUriScheme(String),
    /// Our answer would be SDP, which the request's Accept excludes
    /// (RFC 3261 §21.4.7 -> 406).
    #[error("Accept excludes application/sdp: {0:?}")]
    NotAcceptable(String),
}

impl ProtocolError {
    /// The SIP status code this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadHeader { .. } | Self::BadRequestLine(_) => 400,
            Self::VersionNotSupported(_) => 505,
            Self::TooManyHops => 483,
            Self::BadExtension(_) => 420,
            Self::MethodNotAllowed(_) => 405,
            Self::NotImplemented(_) => 501,
            Self::UnsupportedMediaType(_) => 415,
            Self::NoSuchDialog => 481,
            Self::IntervalTooSmall(_) => 422,
            Self::UnsupportedUriScheme(_) => 416,
            Self::NotAcceptable(_) => 406,
        }
    }

    /// A `Warning` header value (RFC 3261 §20.43) that says in words why,
    /// for the refusals where the status code alone leaves a peer guessing.
    pub fn warning(&self) -> Option<String> {
        let text = match self {
            Self::UnsupportedMediaType(t) => {
                format!("body type {t} unusable: send application/sdp")
            }
            Self::NotAcceptable(_) => {
                "our answer is application/sdp, which your Accept excludes".into()
            }
            Self::UnsupportedUriScheme(s) => {
                format!("URI scheme {s} not served: use sip, sips or tel")
            }
            Self::BadHeader { header, detail } => format!("{header}: {detail}"),
            _ => return None,
        };
        Some(warning_value(399, &text))
    }

    /// Stable, searchable error code, e.g. `HL-SIP-400`.
    pub fn code(&self) -> String {
        format!("HL-SIP-{}", self.status())
    }

    /// Reason phrase for the response. For a 400 it names the header, as the
    /// issue asks, so the caller's engineer can see what we disliked.
    pub fn reason(&self) -> String {
        match self {
            Self::BadHeader { header, .. } => format!("Bad Request ({header})"),
            Self::BadRequestLine(_) => "Bad Request (Request-Line)".to_string(),
            other => reason_phrase(other.status()).to_string(),
        }
    }
}

/// Our warn-agent (a pseudonym, RFC 3261 §20.43).
pub const WARN_AGENT: &str = "hotline";

/// `<code> hotline "<text>"` with the text made a safe quoted-string:
/// printable ASCII without quote or backslash, at most 120 characters
/// (the detail may echo what the peer sent).
pub fn warning_value(code: u16, text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .take(120)
        .collect();
    format!("{code} {WARN_AGENT} \"{clean}\"")
}

/// Default reason phrases (RFC 3261 §21 and the extensions we answer with).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        603 => "Decline",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_status_and_code() {
        let cases = [
            (
                ProtocolError::BadHeader {
                    header: "Call-ID",
                    detail: "missing".into(),
                },
                400,
            ),
            (ProtocolError::VersionNotSupported("7.0".into()), 505),
            (ProtocolError::TooManyHops, 483),
            (ProtocolError::BadExtension(vec!["foo".into()]), 420),
            (ProtocolError::MethodNotAllowed("PUBLISH".into()), 405),
            (ProtocolError::NotImplemented("FOO".into()), 501),
            (ProtocolError::UnsupportedMediaType("text/x".into()), 415),
            (ProtocolError::NoSuchDialog, 481),
            (ProtocolError::IntervalTooSmall(10), 422),
            (ProtocolError::UnsupportedUriScheme("im".into()), 416),
            (ProtocolError::NotAcceptable("text/html".into()), 406),
        ];
        for (err, status) in cases {
            assert_eq!(err.status(), status, "{err}");
            assert_eq!(err.code(), format!("HL-SIP-{status}"));
        }
    }

    #[test]
    fn warnings_are_safe_quoted_strings() {
        let e = ProtocolError::UnsupportedMediaType("text/\"x\"\\\r\n".into());
        assert_eq!(
            e.warning().unwrap(),
            "399 hotline \"body type text/'x''?? unusable: send application/sdp\""
        );
        assert_eq!(ProtocolError::TooManyHops.warning(), None);
    }

    #[test]
    fn bad_request_reason_names_the_header() {
        let err = ProtocolError::BadHeader {
            header: "CSeq",
            detail: "not a number".into(),
        };
        assert_eq!(err.reason(), "Bad Request (CSeq)");
        assert_eq!(ProtocolError::TooManyHops.reason(), "Too Many Hops");
    }
}
