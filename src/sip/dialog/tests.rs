//! UAS-side dialog tests: the dialog the caller's INVITE makes, its BYE.

use super::*;
use crate::sip::message::{parse, Message};

fn invite(extra: &str) -> Request {
    let text = format!(
        "INVITE sip:hotline@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc\r\n\
         From: \"Caller\" <sip:caller@example.net>;tag=from1\r\n\
         To: <sip:hotline@example.com>\r\n\
         Call-ID: call-1@example.net\r\n\
         CSeq: 10 INVITE\r\n\
         Contact: <sip:caller@192.0.2.9:5060>\r\n{extra}\r\n"
    );
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn bye_without_route_set_goes_to_contact() {
    let mut d = Dialog::new_uas(&invite(""), Tag("us".into())).unwrap();
    let bye = d.bye("UDP", "192.0.2.1:5060").unwrap();
    assert_eq!(bye.method(), &Method::Bye);
    assert_eq!(bye.uri().as_str(), "sip:caller@192.0.2.9:5060");
    assert_eq!(bye.call_id().as_str(), "call-1@example.net");
    assert_eq!(bye.from().tag(), Some(Tag("us".into())));
    assert_eq!(bye.to().tag(), Some(Tag("from1".into())));
    assert_eq!(bye.cseq().seq, 1);
    assert!(bye.top_via().branch().unwrap().is_rfc3261());
    assert!(bye.headers().get("Route").is_none());
    let again = d.bye("UDP", "192.0.2.1:5060").unwrap();
    assert_eq!(again.cseq().seq, 2);
    assert_ne!(again.top_via().branch(), bye.top_via().branch());
}

#[test]
fn bye_uses_record_route_in_order() {
    let inv = invite("Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n");
    let mut d = Dialog::new_uas(&inv, Tag("us".into())).unwrap();
    let bye = d.bye("UDP", "192.0.2.1:5060").unwrap();
    let routes: Vec<&str> = bye.headers().get_all("Route").collect();
    assert_eq!(
        routes,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(bye.uri().as_str(), "sip:caller@192.0.2.9:5060");
}

#[test]
fn strict_router_becomes_request_uri() {
    let inv = invite("Record-Route: <sip:strict.example.com>\r\n");
    let mut d = Dialog::new_uas(&inv, Tag("us".into())).unwrap();
    let bye = d.bye("UDP", "192.0.2.1:5060").unwrap();
    assert_eq!(bye.uri().as_str(), "sip:strict.example.com");
    assert_eq!(
        bye.headers().get("Route"),
        Some("<sip:caller@192.0.2.9:5060>")
    );
}

#[test]
fn ids_and_cseq_ordering() {
    let inv = invite("");
    assert_eq!(DialogId::for_incoming(&inv), None, "no To tag yet");
    let mut d = Dialog::new_uas(&inv, Tag("us".into())).unwrap();
    assert_eq!(d.id.remote_tag, Tag("from1".into()));
    let older = CSeq {
        seq: 10,
        method: Method::Bye,
    };
    let newer = CSeq {
        seq: 11,
        method: Method::Bye,
    };
    assert!(!d.accept_remote_cseq(&older));
    assert!(d.accept_remote_cseq(&newer));
}

#[test]
fn invite_without_contact_cannot_make_a_dialog() {
    let text = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
    let Ok(Message::Request(r)) = parse(text) else {
        panic!("should parse")
    };
    let err = Dialog::new_uas(&r, Tag::random()).unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn uas_side_reinvite_and_info_come_from_us_to_the_caller() {
    let inv = invite("Record-Route: <sip:p1.example.com;lr>\r\n");
    let mut d = Dialog::new_uas(&inv, Tag("us".into())).unwrap();
    let local = Local {
        transport: "TCP".into(),
        sent_by: "192.0.2.1:5061".into(),
        user: "hotline".into(),
    };
    let re = d.reinvite(&local, b"v=0\r\n".to_vec()).unwrap();
    let Ok(Message::Request(re)) = parse(&re.to_bytes()) else {
        panic!("re-INVITE does not parse")
    };
    assert_eq!(re.uri().as_str(), "sip:caller@192.0.2.9:5060");
    assert_eq!(re.from().uri.as_str(), "sip:hotline@example.com");
    assert_eq!(re.from().tag(), Some(Tag("us".into())));
    assert_eq!(re.to().display_name.as_deref(), Some("Caller"));
    assert_eq!(re.to().tag(), Some(Tag("from1".into())));
    assert_eq!(re.cseq().seq, 1, "our own sequence, not the caller's 10");
    assert_eq!(re.headers().get("Route"), Some("<sip:p1.example.com;lr>"));
    assert_eq!(
        re.headers().get("Contact"),
        Some("<sip:hotline@192.0.2.1:5061;transport=tcp>")
    );
    assert_eq!(re.top_via().transport, "TCP");
    let ack = d.ack(re.cseq().seq, &local).unwrap();
    assert_eq!((ack.cseq().seq, ack.method()), (1, &Method::Ack));
    assert_eq!(d.bye("TCP", "192.0.2.1:5061").unwrap().cseq().seq, 2);
}
