//! DTMF carried in SIP INFO request bodies.
//!
//! Two body formats are in use: `application/dtmf-relay` (Cisco's, the common
//! one: `Signal=5` and `Duration=160` lines) and `application/dtmf` (the body
//! is just the key). The SIP layer hands over the Content-Type and the body;
//! the answer is a digit, or an error the SIP layer maps to a 4xx response
//! (415 for a foreign content type, 400 for a malformed body).

use super::{event_to_digit, DtmfDigit, DtmfSource};

/// Why an INFO body did not yield a digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoDtmfError {
    #[error(
        "HL-DTMF-010 INFO content type {0:?} is not application/dtmf-relay or application/dtmf"
    )]
    UnsupportedContentType(String),
    #[error("HL-DTMF-011 INFO dtmf-relay body has no Signal= line")]
    MissingSignal,
    #[error("HL-DTMF-012 INFO DTMF key {0:?} is not one of 0-9 * # A-D")]
    BadSignal(String),
    #[error("HL-DTMF-013 INFO dtmf-relay Duration {0:?} is not a number of milliseconds")]
    BadDuration(String),
}

/// Whether a Content-Type (parameters allowed) is one this module reads.
pub fn is_dtmf_content_type(content_type: &str) -> bool {
    matches!(
        media_type(content_type).as_str(),
        "application/dtmf-relay" | "application/dtmf"
    )
}

/// Parse the body of a SIP INFO request with the given Content-Type.
pub fn parse_info(content_type: &str, body: &str) -> Result<DtmfDigit, InfoDtmfError> {
    match media_type(content_type).as_str() {
        "application/dtmf-relay" => parse_relay(body),
        "application/dtmf" => Ok(DtmfDigit {
            digit: parse_key(body.trim())?,
            duration_ms: 0,
            source: DtmfSource::SipInfo,
        }),
        _ => Err(InfoDtmfError::UnsupportedContentType(
            content_type.to_string(),
        )),
    }
}

/// `type/subtype`, lower-cased, without parameters or spaces.
fn media_type(content_type: &str) -> String {
    let base = content_type.split(';').next().unwrap_or("");
    base.trim().to_ascii_lowercase()
}

fn parse_relay(body: &str) -> Result<DtmfDigit, InfoDtmfError> {
    let mut digit = None;
    let mut duration_ms = 0;
    for line in body.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "signal" => digit = Some(parse_key(value)?),
            "duration" => {
                duration_ms = value
                    .parse()
                    .map_err(|_| InfoDtmfError::BadDuration(value.to_string()))?
            }
            _ => {}
        }
    }
    Ok(DtmfDigit {
        digit: digit.ok_or(InfoDtmfError::MissingSignal)?,
        duration_ms,
        source: DtmfSource::SipInfo,
    })
}

/// A key as written in a body: the character itself, or (as some gateways
/// send) its event code 10-15 for `* # A B C D`.
fn parse_key(value: &str) -> Result<char, InfoDtmfError> {
    let bad = || InfoDtmfError::BadSignal(value.to_string());
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => {
            let c = c.to_ascii_uppercase();
            if super::digit_to_event(c).is_some() {
                Ok(c)
            } else {
                Err(bad())
            }
        }
        _ => value
            .parse::<u8>()
            .ok()
            .filter(|n| (10..=15).contains(n))
            .and_then(event_to_digit)
            .ok_or_else(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_with_signal_and_duration() {
        let d = parse_info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n").unwrap();
        assert_eq!(
            (d.digit, d.duration_ms, d.source),
            ('5', 160, DtmfSource::SipInfo)
        );
        let d = parse_info(
            "Application/DTMF-Relay; charset=x",
            "signal= #\nduration = 250",
        )
        .unwrap();
        assert_eq!((d.digit, d.duration_ms), ('#', 250));
        let d = parse_info("application/dtmf-relay", "Signal=*").unwrap();
        assert_eq!((d.digit, d.duration_ms), ('*', 0));
    }

    #[test]
    fn dtmf_relay_event_codes_for_star_and_hash() {
        let d = parse_info("application/dtmf-relay", "Signal=11\r\nDuration=100").unwrap();
        assert_eq!(d.digit, '#');
        let d = parse_info("application/dtmf-relay", "Signal=10").unwrap();
        assert_eq!(d.digit, '*');
    }

    #[test]
    fn plain_dtmf_body() {
        assert_eq!(parse_info("application/dtmf", "7").unwrap().digit, '7');
        assert_eq!(parse_info("application/dtmf", " b\r\n").unwrap().digit, 'B');
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert_eq!(
            parse_info("application/dtmf-relay", "Duration=160"),
            Err(InfoDtmfError::MissingSignal)
        );
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=X"),
            Err(InfoDtmfError::BadSignal("X".into()))
        );
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=16"),
            Err(InfoDtmfError::BadSignal("16".into()))
        );
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=1\nDuration=long"),
            Err(InfoDtmfError::BadDuration("long".into()))
        );
        assert_eq!(
            parse_info("application/dtmf", ""),
            Err(InfoDtmfError::BadSignal("".into()))
        );
        assert!(matches!(
            parse_info("application/sdp", "v=0"),
            Err(InfoDtmfError::UnsupportedContentType(_))
        ));
    }

    #[test]
    fn content_type_check() {
        assert!(is_dtmf_content_type("application/dtmf-relay"));
        assert!(is_dtmf_content_type(" APPLICATION/DTMF ;x=y"));
        assert!(!is_dtmf_content_type("application/media_control+xml"));
    }
}
