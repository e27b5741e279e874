//! What a REFER from an agent's phone asks for (RFC 3515 blind transfer),
//! and the status that refuses one we cannot follow. Pure: the session
//! decides with it, then acts.
//!
//! The Refer-To's user part names the target in hotline's own namespace;
//! its host is not looked at (hotline is no proxy: it never sends a caller
//! elsewhere, and phones write whatever domain they registered with):
//! - `L1`, `L2`, `L3` (any case): the tier's queue, as `*2` / `*3` do;
//! - anything else: an agent's SIP user, looked up in the roster.

use crate::agents::Tier;
use crate::sip::message::{split_list, NameAddr, Request};

/// Where the agent sends the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A tier's queue (`sip:L2@hotline`).
    Tier(Tier),
    /// One agent, by SIP user (`sip:bob@hotline`).
    Agent(String),
}

/// An accepted REFER: the target and who the phone says referred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub target: Target,
    /// The Referred-By's user (RFC 3892), if the phone sent one.
    pub referred_by: Option<String>,
}

/// A REFER refused with `status` (the leg answers it; nothing changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

/// The refusals, with why each status:
impl Refusal {
    /// 400: RFC 3515 §2.4.1 says a REFER carries exactly one Refer-To;
    /// none, two, or one we cannot parse is a malformed request.
    pub const BAD_REFER_TO: Refusal = Refusal {
        status: 400,
        reason: "Bad Request (exactly one Refer-To)",
    };
    /// 416: the target is not a `sip:`/`sips:` URI (a `tel:` number, a
    /// web address). RFC 3261 §21.4.17 is the status for a URI scheme we
    /// do not serve; hotline reaches nobody outside its own desk.
    pub const NOT_SIP: Refusal = Refusal {
        status: 416,
        reason: "Unsupported URI Scheme (Refer-To)",
    };
    /// 404: no tier and no agent of that name (RFC 3261 §21.4.5: the user
    /// does not exist at the domain).
    pub const UNKNOWN_TARGET: Refusal = Refusal {
        status: 404,
        reason: "Not Found (no such tier or agent)",
    };
    /// 501: a Refer-To carrying `?Replaces=` asks for an attended transfer
    /// (RFC 3891), which hotline does not do yet: the feature required is
    /// not implemented (§21.5.2). The agent can transfer blind instead.
    pub const ATTENDED: Refusal = Refusal {
        status: 501,
        reason: "Not Implemented (attended transfer)",
    };
    /// 403: a REFER on the caller's leg (callers do not transfer the
    /// desk), one on an agent's leg that is not bridged to its caller, or
    /// a transfer to the referring agent themself: understood, refused.
    pub const FORBIDDEN: Refusal = Refusal {
        status: 403,
        reason: "Forbidden",
    };
    /// 491: a REFER while the previous one is still being carried out on
    /// this dialog (its NOTIFYs and BYE pending): the request-pending
    /// status RFC 3261 §14.2 gives to overlapping requests.
    pub const PENDING: Refusal = Refusal {
        status: 491,
        reason: "Request Pending",
    };
    /// 503: the roster could not be asked (database down); try again.
    pub const ROSTER_DOWN: Refusal = Refusal {
        status: 503,
        reason: "Service Unavailable (roster)",
    };
}

/// Read the REFER's Refer-To (and Referred-By).
pub fn parse(req: &Request) -> Result<Referral, Refusal> {
    let values: Vec<&str> = req
        .headers()
        .get_all("Refer-To")
        .flat_map(split_list)
        .filter(|v| !v.trim().is_empty())
        .collect();
    let [value] = values.as_slice() else {
        return Err(Refusal::BAD_REFER_TO);
    };
    let to = NameAddr::parse(value).map_err(|_| Refusal::BAD_REFER_TO)?;
    let Some(sip) = to.uri.sip() else {
        return Err(Refusal::NOT_SIP);
    };
    let embedded = sip.headers.as_deref().unwrap_or_default();
    if embedded.split('&').any(|h| {
        h.split('=')
            .next()
            .unwrap_or_default()
            .eq_ignore_ascii_case("replaces")
    }) {
        return Err(Refusal::ATTENDED);
    }
    let user = to.uri.user().filter(|u| !u.is_empty());
    let Some(user) = user else {
        return Err(Refusal::UNKNOWN_TARGET);
    };
    let target = match user.parse::<Tier>() {
        Ok(t) => Target::Tier(t),
        Err(_) => Target::Agent(user),
    };
    let referred_by = req
        .headers()
        .get("Referred-By")
        .and_then(|v| NameAddr::parse(v).ok())
        .and_then(|n| n.uri.user());
    Ok(Referral {
        target,
        referred_by,
    })
}

/// The `message/sipfrag` body of a NOTIFY about the transfer (RFC 3515
/// §2.4.5): the status line of how far it got.
pub fn sipfrag(status: u16, reason: &str) -> Vec<u8> {
    format!("SIP/2.0 {status} {reason}\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse as parse_message, Message};

    fn refer(headers: &str) -> Request {
        let text = format!(
            "REFER sip:hotline@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r1\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@127.0.0.1>;tag=a1\r\n\
             To: <sip:hotline@127.0.0.1>;tag=h1\r\n\
             Call-ID: c1\r\n\
             CSeq: 2 REFER\r\n\
             Contact: <sip:alice@127.0.0.1:5070>\r\n\
             {headers}\
             Content-Length: 0\r\n\r\n"
        );
        match parse_message(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test REFER did not parse: {other:?}"),
        }
    }

    #[test]
    fn a_tier_name_in_any_case_is_that_tiers_queue() {
        for (to, tier) in [
            ("<sip:L2@127.0.0.1:5060>", Tier::L2),
            ("sip:l3@hotline.example", Tier::L3),
            ("\"First line\" <sip:L1@127.0.0.1;transport=udp>", Tier::L1),
        ] {
            let r = parse(&refer(&format!("Refer-To: {to}\r\n"))).unwrap();
            assert_eq!(r.target, Target::Tier(tier), "{to}");
            assert_eq!(r.referred_by, None);
        }
    }

    #[test]
    fn another_name_is_an_agent_and_referred_by_is_kept() {
        let r = parse(&refer(
            "Refer-To: <sip:bob@127.0.0.1>\r\nReferred-By: <sip:alice@127.0.0.1>\r\n",
        ))
        .unwrap();
        assert_eq!(r.target, Target::Agent("bob".into()));
        assert_eq!(r.referred_by.as_deref(), Some("alice"));
        // The compact form (`r:`, `b:`) reads the same.
        let r = parse(&refer("r: <sip:bob@127.0.0.1>\r\nb: <sip:carol@h>\r\n")).unwrap();
        assert_eq!(r.target, Target::Agent("bob".into()));
        assert_eq!(r.referred_by.as_deref(), Some("carol"));
    }

    #[test]
    fn what_cannot_be_followed_gets_its_status() {
        let cases = [
            ("", Refusal::BAD_REFER_TO),
            (
                "Refer-To: <sip:L2@h>\r\nRefer-To: <sip:L3@h>\r\n",
                Refusal::BAD_REFER_TO,
            ),
            (
                "Refer-To: <sip:L2@h>, <sip:L3@h>\r\n",
                Refusal::BAD_REFER_TO,
            ),
            ("Refer-To: <sip:L2@h\r\n", Refusal::BAD_REFER_TO),
            ("Refer-To: <tel:+4930123456>\r\n", Refusal::NOT_SIP),
            ("Refer-To: <https://example.com/>\r\n", Refusal::NOT_SIP),
            ("Refer-To: <sip:127.0.0.1>\r\n", Refusal::UNKNOWN_TARGET),
            (
                "Refer-To: <sip:bob@h?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n",
                Refusal::ATTENDED,
            ),
        ];
        for (headers, want) in cases {
            assert_eq!(parse(&refer(headers)), Err(want), "{headers:?}");
        }
    }

    #[test]
    fn the_notify_body_is_a_status_line() {
        assert_eq!(sipfrag(100, "Trying"), b"SIP/2.0 100 Trying\r\n");
    }
}
