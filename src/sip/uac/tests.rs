//! Builder tests: every request is re-parsed from its wire form by our own
//! parser and checked field by field.

use super::*;
use crate::sip::message::{parse, Message, Response};
use crate::sip::transaction::TransactionKey;

fn wire(req: &Request) -> Request {
    match parse(&req.to_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn uri(s: &str) -> Uri {
    Uri::parse(s).unwrap()
}

fn local() -> Local {
    Local {
        transport: "UDP".into(),
        sent_by: "192.0.2.1:5060".into(),
        user: "hotline".into(),
    }
}

const SDP: &[u8] = b"v=0\r\no=hotline 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\n";

fn ring(target: &Uri, extra: &[(&str, &str)], routes: &[Uri]) -> Result<Request, ProtocolError> {
    let (to, from, local) = (
        uri("sip:alice@support.example.com"),
        uri("sip:hotline@support.example.com"),
        local(),
    );
    invite(&InviteSpec {
        target,
        to: &to,
        from: &from,
        display_name: "#1042 5551234",
        local: &local,
        routes,
        allow: "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE",
        supported: "timer",
        extra,
        sdp: SDP.to_vec(),
    })
}

fn ticket_headers() -> [(&'static str, &'static str); 2] {
    [
        ("X-Hotline-Ticket", "1042"),
        ("X-Hotline-Severity", "critical"),
    ]
}

#[test]
fn invite_to_a_registered_contact() {
    // A contact as a softphone registers it: user part, params, transport.
    let target = uri("sip:alice-7f3a@198.51.100.7:5062;transport=udp;ob");
    let inv = wire(&ring(&target, &ticket_headers(), &[]).unwrap());
    assert_eq!(inv.method(), &Method::Invite);
    assert_eq!(
        inv.uri().as_str(),
        "sip:alice-7f3a@198.51.100.7:5062;transport=udp;ob",
        "exactly as registered"
    );
    let via = inv.top_via();
    assert_eq!(inv.vias().len(), 1);
    assert_eq!(
        (via.transport.as_str(), via.sent_by().as_str()),
        ("UDP", "192.0.2.1:5060")
    );
    assert!(via.branch().unwrap().is_rfc3261());
    assert_eq!(via.rport(), Some(None), "rport asked for");
    assert_eq!(inv.max_forwards(), Some(70));
    assert_eq!(inv.from().display_name.as_deref(), Some("#1042 5551234"));
    assert_eq!(inv.from().uri.as_str(), "sip:hotline@support.example.com");
    assert!(inv.from().tag().is_some_and(|t| t.as_str().len() >= 8));
    assert_eq!(
        inv.to().uri.as_str(),
        "sip:alice@support.example.com",
        "To = the AOR"
    );
    assert_eq!(inv.to().tag(), None);
    assert_eq!(inv.call_id().as_str().len(), 32);
    assert_eq!((inv.cseq().seq, &inv.cseq().method), (1, &Method::Invite));
    assert_eq!(inv.contacts()[0].uri.as_str(), "sip:hotline@192.0.2.1:5060");
    assert_eq!(
        inv.headers().get("Allow"),
        Some("INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE")
    );
    assert_eq!(inv.supported(), ["timer"]);
    assert_eq!(inv.headers().get("X-Hotline-Ticket"), Some("1042"));
    assert_eq!(inv.headers().get("X-Hotline-Severity"), Some("critical"));
    assert_eq!(inv.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(inv.body(), SDP);
    assert!(inv.headers().get("Route").is_none());
}

#[test]
fn every_invite_is_new() {
    let target = uri("sip:alice@198.51.100.7");
    let (a, b) = (
        ring(&target, &[], &[]).unwrap(),
        ring(&target, &[], &[]).unwrap(),
    );
    assert_ne!(a.call_id(), b.call_id());
    assert_ne!(a.from().tag(), b.from().tag());
    assert_ne!(a.top_via().branch(), b.top_via().branch());
}

#[test]
fn invite_over_tcp_through_a_path() {
    let tcp = Local {
        transport: "TCP".into(),
        ..local()
    };
    let (to, from, target) = (
        uri("sip:bob@example.com"),
        uri("sip:hotline@example.com"),
        uri("sip:bob@203.0.113.5:5070;transport=tcp"),
    );
    let path = [
        uri("sip:edge.example.com;lr"),
        uri("sip:core.example.com;lr"),
    ];
    let inv = wire(
        &invite(&InviteSpec {
            target: &target,
            to: &to,
            from: &from,
            display_name: "Say \"hi\" \\ #7",
            local: &tcp,
            routes: &path,
            allow: "",
            supported: "",
            extra: &[],
            sdp: Vec::new(),
        })
        .unwrap(),
    );
    assert_eq!(inv.top_via().transport, "TCP");
    assert_eq!(
        inv.contacts()[0].uri.as_str(),
        "sip:hotline@192.0.2.1:5060;transport=tcp"
    );
    let routes: Vec<&str> = inv.headers().get_all("Route").collect();
    assert_eq!(
        routes,
        ["<sip:edge.example.com;lr>", "<sip:core.example.com;lr>"]
    );
    assert_eq!(
        inv.from().display_name.as_deref(),
        Some("Say \"hi\" \\ #7"),
        "quoted and unescaped back"
    );
    assert!(inv.headers().get("Allow").is_none() && inv.headers().get("Supported").is_none());
}

#[test]
fn display_names_and_extra_headers_cannot_inject() {
    assert_eq!(quote_display("#1\r\nVia: x"), "\"#1Via: x\"");
    let target = uri("sip:alice@198.51.100.7");
    assert!(ring(&target, &[("X-Hotline-Ticket", "1\r\nBYE")], &[]).is_err());
    assert!(ring(&target, &[("X Bad", "1")], &[]).is_err());
    assert!(
        ring(&target, &[("Call-ID", "mine")], &[]).is_err(),
        "ours to set"
    );
    assert!(
        ring(&target, &[("v", "SIP/2.0/UDP evil")], &[]).is_err(),
        "compact Via too"
    );
    assert!(ring(&target, &[("", "x")], &[]).is_err());
}

#[test]
fn cancel_matches_the_invite() {
    let target = uri("sip:alice@198.51.100.7:5062");
    let routes = [uri("sip:edge.example.com;lr")];
    let inv = ring(&target, &ticket_headers(), &routes).unwrap();
    let c = wire(
        &cancel(
            &inv,
            Some("SIP;cause=200;text=\"Call completed elsewhere\""),
        )
        .unwrap(),
    );
    assert_eq!(c.method(), &Method::Cancel);
    assert_eq!(c.uri(), inv.uri());
    assert_eq!(c.vias(), inv.vias(), "same single Via, same branch");
    assert_eq!(c.call_id(), inv.call_id());
    assert_eq!(c.from(), inv.from());
    assert_eq!(c.to(), inv.to());
    assert_eq!((c.cseq().seq, &c.cseq().method), (1, &Method::Cancel));
    assert_eq!(c.headers().get("Route"), Some("<sip:edge.example.com;lr>"));
    assert_eq!(c.max_forwards(), Some(70));
    assert!(c.body().is_empty() && c.headers().get("Content-Type").is_none());
    assert!(c.headers().get("X-Hotline-Ticket").is_none());
    assert_eq!(
        c.headers().get("Reason"),
        Some("SIP;cause=200;text=\"Call completed elsewhere\"")
    );
    // The UAS finds the INVITE from the CANCEL's key (§9.2) ...
    let ckey = TransactionKey::for_request(&c);
    assert_eq!(ckey.cancelled_invite(), TransactionKey::for_request(&inv));
    // ... and its 200 comes back to the CANCEL's own client transaction.
    let ok = Response::for_request(&c, 200, "");
    assert_eq!(TransactionKey::for_response(&ok), Some(ckey));
    assert!(cancel(&inv, None)
        .unwrap()
        .headers()
        .get("Reason")
        .is_none());
}

#[test]
fn options_keepalive_to_a_contact() {
    let target = uri("sip:alice-7f3a@198.51.100.7:5062;ob");
    let o = wire(&options(&target, &uri("sip:hotline@support.example.com"), &local()).unwrap());
    assert_eq!(o.method(), &Method::Options);
    assert_eq!(o.uri(), &target);
    assert_eq!(o.to().uri, target);
    assert_eq!(o.to().tag(), None, "out of dialog");
    assert!(o.from().tag().is_some());
    assert_eq!(o.max_forwards(), Some(70));
    assert_eq!((o.cseq().seq, &o.cseq().method), (1, &Method::Options));
    assert!(o.top_via().branch().unwrap().is_rfc3261());
    assert_eq!(o.headers().get("Accept"), Some("application/sdp"));
    assert!(o.body().is_empty());
    let other = options(&target, &uri("sip:hotline@support.example.com"), &local()).unwrap();
    assert_ne!(other.call_id(), o.call_id());
}
