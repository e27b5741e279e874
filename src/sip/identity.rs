//! Who is calling, for the ticket and the agent's screen.
//!
//! P-Asserted-Identity (RFC 3325) is only trustworthy when a peer we trust
//! (our SIP trunk) put it there; from anyone else it is just a claim, so it
//! is ignored. Then Remote-Party-ID (the pre-3325 draft many PBXs still
//! send), then From. Privacy (RFC 3323 `id`/`user`/`header`, RPID
//! `privacy=`) and anonymous URIs mark the caller private.

use std::net::IpAddr;

use crate::sip::message::{param, NameAddr, Request, Uri};

/// Which header the identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    PAssertedIdentity,
    RemotePartyId,
    From,
}

/// The caller as we will record them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub uri: Uri,
    /// User part (a number for most callers), percent-decoded; for `tel:`
    /// URIs the subscriber number.
    pub user: Option<String>,
    pub display_name: Option<String>,
    pub source: IdentitySource,
    /// The caller asked not to be identified, or is anonymous.
    pub private: bool,
}

/// Work out the caller of `req`, which arrived from `peer`; `trusted`
/// lists the addresses whose P-Asserted-Identity we believe.
pub fn caller_identity(req: &Request, peer: IpAddr, trusted: &[IpAddr]) -> CallerIdentity {
    let pai = trusted
        .contains(&peer)
        .then(|| best_pai(req.p_asserted_identities()))
        .flatten();
    let (chosen, source) = match (pai, req.remote_party_id()) {
        (Some(p), _) => (p, IdentitySource::PAssertedIdentity),
        (None, Some(r)) => (r, IdentitySource::RemotePartyId),
        (None, None) => (req.from().clone(), IdentitySource::From),
    };
    let privacy = req.privacy();
    let asked = privacy
        .iter()
        .any(|p| matches!(p.as_str(), "id" | "user" | "header"));
    let rpid_private = source == IdentitySource::RemotePartyId
        && param(&chosen.params, "privacy")
            .is_some_and(|p| !p.eq_ignore_ascii_case("off") && !p.is_empty());
    let user = user_of(&chosen.uri);
    let private = asked
        || rpid_private
        || is_anonymous(&chosen)
        // A trusted PAI keeps the real identity, but From still shows what
        // the caller wanted everyone else to see.
        || (source != IdentitySource::From && is_anonymous(req.from()));
    CallerIdentity {
        uri: chosen.uri.clone(),
        user,
        display_name: chosen.display_name.clone(),
        source,
        private,
    }
}

/// RFC 3325 allows one sip/sips and one tel PAI; prefer the sip one, whose
/// display name is usually richer.
fn best_pai(list: Vec<NameAddr>) -> Option<NameAddr> {
    let sip = list.iter().find(|n| n.uri.sip().is_some()).cloned();
    sip.or_else(|| list.into_iter().next())
}

fn user_of(uri: &Uri) -> Option<String> {
    if uri.scheme() == "tel" {
        let number = uri.as_str()[4..].split(';').next().unwrap_or_default();
        return (!number.is_empty()).then(|| number.to_string());
    }
    uri.user()
}

/// `anonymous@anonymous.invalid` (RFC 3323 §4.1.1.3), any user `anonymous`,
/// or a display name `Anonymous`.
fn is_anonymous(n: &NameAddr) -> bool {
    let user = n.uri.user().unwrap_or_default();
    let host = n.uri.host().unwrap_or_default();
    user.eq_ignore_ascii_case("anonymous")
        || host.eq_ignore_ascii_case("anonymous.invalid")
        || n.display_name
            .as_deref()
            .is_some_and(|d| d.trim().eq_ignore_ascii_case("anonymous"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse, Message};

    const TRUNK: [u8; 4] = [192, 0, 2, 50];

    fn invite(from: &str, extra: &str) -> Request {
        let text = format!(
            "INVITE sip:hotline@192.0.2.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.50;branch=z9hG4bKid\r\n\
             From: {from};tag=f1\r\nTo: <sip:hotline@example.com>\r\n\
             Call-ID: id1\r\nCSeq: 1 INVITE\r\n{extra}\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn trunk() -> IpAddr {
        IpAddr::from(TRUNK)
    }

    #[test]
    fn pai_only_from_trusted_peers() {
        let r = invite(
            "\"Front Desk\" <sip:100@pbx.example.com>",
            "P-Asserted-Identity: \"Alice Smith\" <sip:+15551234@trunk.example.com>, <tel:+15551234>\r\n",
        );
        let id = caller_identity(&r, trunk(), &[trunk()]);
        assert_eq!(id.source, IdentitySource::PAssertedIdentity);
        assert_eq!(id.user.as_deref(), Some("+15551234"));
        assert_eq!(id.display_name.as_deref(), Some("Alice Smith"));
        assert!(!id.private);
        let stranger = IpAddr::from([203, 0, 113, 7]);
        let id = caller_identity(&r, stranger, &[trunk()]);
        assert_eq!(id.source, IdentitySource::From);
        assert_eq!(id.user.as_deref(), Some("100"));
        assert_eq!(id.display_name.as_deref(), Some("Front Desk"));
    }

    #[test]
    fn tel_pai_and_rpid_fallback() {
        let r = invite(
            "<sip:x@y>",
            "P-Asserted-Identity: <tel:+4930123;phone-context=x>\r\n",
        );
        let id = caller_identity(&r, trunk(), &[trunk()]);
        assert_eq!(id.user.as_deref(), Some("+4930123"));
        let r = invite(
            "<sip:x@y>",
            "Remote-Party-ID: \"Bob\" <sip:2000@pbx>;party=calling;privacy=off\r\n",
        );
        let id = caller_identity(&r, trunk(), &[]);
        assert_eq!(id.source, IdentitySource::RemotePartyId);
        assert_eq!(id.user.as_deref(), Some("2000"));
        assert!(!id.private);
        let r = invite(
            "<sip:x@y>",
            "Remote-Party-ID: <sip:2000@pbx>;privacy=full\r\n",
        );
        assert!(caller_identity(&r, trunk(), &[]).private);
    }

    #[test]
    fn privacy_header_marks_private() {
        for p in ["id", "user", "header;critical", "ID"] {
            let r = invite("<sip:300@pbx>", &format!("Privacy: {p}\r\n"));
            assert!(caller_identity(&r, trunk(), &[]).private, "Privacy: {p}");
        }
        let r = invite("<sip:300@pbx>", "Privacy: none\r\n");
        assert!(!caller_identity(&r, trunk(), &[]).private);
    }

    #[test]
    fn anonymous_callers_are_private() {
        for from in [
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
            "<sip:anonymous@pbx.example.com>",
            "<sip:c8oqz84zk7z@anonymous.invalid>",
        ] {
            let r = invite(from, "");
            assert!(caller_identity(&r, trunk(), &[]).private, "{from}");
        }
        // Trusted PAI reveals the number, but the call stays private.
        let r = invite(
            "<sip:anonymous@anonymous.invalid>",
            "P-Asserted-Identity: <sip:+15550000@trunk>\r\n",
        );
        let id = caller_identity(&r, trunk(), &[trunk()]);
        assert_eq!(id.user.as_deref(), Some("+15550000"));
        assert!(id.private);
    }
}
