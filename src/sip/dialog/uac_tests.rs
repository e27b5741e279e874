//! UAC-side dialog tests: the agent's leg, built from our INVITE and the
//! phone's answer; every request is re-parsed from its wire form.

use super::*;
use crate::sip::message::{parse, Message};

const RR: &str = "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n";

fn our_invite() -> Request {
    reparse_req(
        "INVITE sip:agent@192.0.2.20:5062;ob SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"#1042 5551234\" <sip:hotline@192.0.2.1>;tag=ours\r\n\
         To: <sip:agent@example.com>\r\n\
         Call-ID: leg2@192.0.2.1\r\n\
         CSeq: 7 INVITE\r\n\
         Contact: <sip:hotline@192.0.2.1:5060>\r\n\
         Content-Length: 0\r\n\r\n",
    )
}

fn reparse_req(text: &str) -> Request {
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn wire(req: &Request) -> Request {
    match parse(&req.to_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn answer(status: u16, tag: &str, contact: &str, extra: &str) -> Response {
    let text = format!(
        "SIP/2.0 {status} X\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv1;rport=5060\r\n\
         From: \"#1042 5551234\" <sip:hotline@192.0.2.1>;tag=ours\r\n\
         To: <sip:agent@example.com>{tag}\r\n\
         Call-ID: leg2@192.0.2.1\r\n\
         CSeq: 7 INVITE\r\n{contact}{extra}\
         Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes()) {
        Ok(Message::Response(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn ok(extra: &str) -> Response {
    answer(
        200,
        ";tag=phone",
        "Contact: <sip:agent@198.51.100.7:5062>\r\n",
        extra,
    )
}

fn local() -> Local {
    Local {
        transport: "UDP".into(),
        sent_by: "192.0.2.1:5060".into(),
        user: "hotline".into(),
    }
}

fn routes(req: &Request) -> Vec<&str> {
    req.headers().get_all("Route").collect()
}

#[test]
fn new_uac_reverses_record_route_and_targets_the_contact() {
    let inv = our_invite();
    let resp = ok(RR);
    let mut d = Dialog::new_uac(&inv, &resp).unwrap();
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.id.local_tag, Tag("ours".into()));
    assert_eq!(d.id.remote_tag, Tag("phone".into()));
    assert_eq!(DialogId::for_response(&resp), Some(d.id.clone()));
    let rs: Vec<&str> = d.route_set.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(rs, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    assert_eq!(d.remote_target.as_str(), "sip:agent@198.51.100.7:5062");

    let bye = wire(&d.bye("UDP", "192.0.2.1:5060").unwrap());
    assert_eq!(bye.uri().as_str(), "sip:agent@198.51.100.7:5062");
    assert_eq!(
        routes(&bye),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(bye.from(), inv.from(), "our From, display name and tag");
    assert_eq!(bye.to().tag(), Some(Tag("phone".into())));
    assert_eq!(bye.to().uri, inv.to().uri);
    assert_eq!(bye.call_id(), inv.call_id());
    assert_eq!(bye.cseq().seq, 8, "continues from the INVITE's 7");
    // The phone's 200 to our BYE is matched to this dialog.
    let bye_ok = Response::for_request(&bye, 200, "");
    assert_eq!(DialogId::for_response(&bye_ok), Some(d.id.clone()));
}

#[test]
fn ack_for_2xx_is_a_new_transaction_with_the_invites_cseq() {
    let inv = our_invite();
    let mut d = Dialog::new_uac(&inv, &ok(RR)).unwrap();
    let ack = wire(&d.ack(inv.cseq().seq, &local()).unwrap());
    assert_eq!(ack.method(), &Method::Ack);
    assert_eq!((ack.cseq().seq, &ack.cseq().method), (7, &Method::Ack));
    assert_ne!(
        ack.top_via().branch(),
        inv.top_via().branch(),
        "§13.2.2.4: new branch"
    );
    assert!(ack.top_via().branch().unwrap().is_rfc3261());
    assert_eq!(ack.top_via().sent_by(), "192.0.2.1:5060");
    assert_eq!(ack.top_via().rport(), Some(None));
    assert_eq!(ack.uri().as_str(), "sip:agent@198.51.100.7:5062");
    assert_eq!(
        routes(&ack),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(ack.to().tag(), Some(Tag("phone".into())));
    assert_eq!(ack.from().tag(), Some(Tag("ours".into())));
    assert_eq!(ack.max_forwards(), Some(70));
    assert!(ack.body().is_empty());
    assert_eq!(d.next_cseq(), 8, "the ACK takes no CSeq number of its own");
}

#[test]
fn early_dialog_from_180_is_confirmed_by_the_2xx() {
    let inv = our_invite();
    let ringing = answer(
        180,
        ";tag=phone",
        "Contact: <sip:agent@10.0.0.7:5062>\r\n",
        "Record-Route: <sip:early.example.com;lr>\r\n",
    );
    let mut d = Dialog::new_uac(&inv, &ringing).unwrap();
    assert_eq!(d.state(), DialogState::Early);
    assert_eq!(d.route_set.len(), 1);
    // Another fork's 2xx cannot confirm this dialog.
    let other = answer(
        200,
        ";tag=desk",
        "Contact: <sip:agent@198.51.100.8>\r\n",
        "",
    );
    assert_eq!(d.confirm(&other).unwrap_err().status(), 400);
    assert_eq!(d.state(), DialogState::Early);
    d.confirm(&ok(RR)).unwrap();
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.remote_target.as_str(), "sip:agent@198.51.100.7:5062");
    let rs: Vec<&str> = d.route_set.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        rs,
        ["sip:p1.example.com;lr", "sip:p2.example.com;lr"],
        "recomputed from the 2xx"
    );
    // Once confirmed, a retransmitted 2xx changes no route set.
    d.confirm(&ok("Record-Route: <sip:late.example.com;lr>\r\n"))
        .unwrap();
    assert_eq!(d.route_set.len(), 2);
}

#[test]
fn responses_that_make_no_dialog() {
    let inv = our_invite();
    let contact = "Contact: <sip:agent@198.51.100.7>\r\n";
    let no_tag = answer(180, "", contact, "");
    assert!(
        Dialog::new_uac(&inv, &no_tag).is_err(),
        "180 without To tag"
    );
    assert!(
        Dialog::new_uac(&inv, &answer(200, ";tag=p", "", "")).is_err(),
        "no Contact"
    );
    assert!(Dialog::new_uac(&inv, &answer(486, ";tag=p", contact, "")).is_err());
    assert!(Dialog::new_uac(&inv, &answer(100, ";tag=p", contact, "")).is_err());
    assert_eq!(DialogId::for_response(&no_tag), None);
}

#[test]
fn strict_first_hop_on_the_uac_side() {
    // RR as received: p2 (loose, near the phone), strict1 (near us).
    let rr = "Record-Route: <sip:p2.example.com;lr>\r\n\
              Record-Route: <sip:strict1.example.com;method=INVITE;x=1?Subject=y>\r\n";
    let mut d = Dialog::new_uac(&our_invite(), &ok(rr)).unwrap();
    let bye = wire(&d.bye("UDP", "192.0.2.1:5060").unwrap());
    assert_eq!(
        bye.uri().as_str(),
        "sip:strict1.example.com;x=1",
        "no method, no headers"
    );
    assert_eq!(
        routes(&bye),
        ["<sip:p2.example.com;lr>", "<sip:agent@198.51.100.7:5062>"]
    );
}

#[test]
fn reinvite_update_info_carry_cseq_contact_and_body() {
    let mut d = Dialog::new_uac(&our_invite(), &ok("")).unwrap();
    let sdp = b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n".to_vec();
    let re = wire(&d.reinvite(&local(), sdp.clone()).unwrap());
    assert_eq!(re.method(), &Method::Invite);
    assert_eq!(re.cseq().seq, 8);
    assert_eq!(
        re.to().tag(),
        Some(Tag("phone".into())),
        "in-dialog: To tag set"
    );
    assert_eq!(
        re.headers().get("Contact"),
        Some("<sip:hotline@192.0.2.1:5060>")
    );
    assert_eq!(re.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(re.body(), &sdp[..]);
    // Its 2xx is ACKed with the re-INVITE's CSeq number.
    assert_eq!(d.ack(re.cseq().seq, &local()).unwrap().cseq().seq, 8);

    let up = wire(&d.update(&local(), None).unwrap());
    assert_eq!((up.method(), up.cseq().seq), (&Method::Update, 9));
    assert!(up.headers().get("Contact").is_some() && up.body().is_empty());
    assert!(up.headers().get("Content-Type").is_none());

    let tcp = Local {
        transport: "TCP".into(),
        ..local()
    };
    let info = wire(
        &d.info(
            &tcp,
            "application/dtmf-relay",
            b"Signal=5\r\nDuration=160\r\n".to_vec(),
        )
        .unwrap(),
    );
    assert_eq!((info.method(), info.cseq().seq), (&Method::Info, 10));
    assert_eq!(info.top_via().transport, "TCP");
    assert!(
        info.headers().get("Contact").is_none(),
        "INFO is no target refresh"
    );
    assert_eq!(info.body(), b"Signal=5\r\nDuration=160\r\n");

    let bad = d.request(Method::Info, &local(), &[("X-Evil", "a\r\nVia: x")], None);
    assert!(bad.is_err(), "no header injection through extra headers");
}

#[test]
fn requests_from_the_agent_match_and_start_the_remote_sequence() {
    let mut d = Dialog::new_uac(&our_invite(), &ok("")).unwrap();
    let bye = reparse_req(
        "BYE sip:hotline@192.0.2.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKagent\r\n\
         From: <sip:agent@example.com>;tag=phone\r\n\
         To: \"#1042 5551234\" <sip:hotline@192.0.2.1>;tag=ours\r\n\
         Call-ID: leg2@192.0.2.1\r\n\
         CSeq: 1 BYE\r\n\
         Content-Length: 0\r\n\r\n",
    );
    assert_eq!(DialogId::for_incoming(&bye), Some(d.id.clone()));
    assert!(
        d.accept_remote_cseq(bye.cseq()),
        "empty remote sequence: any number"
    );
    assert!(
        !d.accept_remote_cseq(bye.cseq()),
        "then strictly increasing"
    );
    d.refresh_target(&NameAddr::parse("<sip:agent@203.0.113.9:5070>").unwrap());
    assert_eq!(
        d.bye("UDP", "192.0.2.1:5060").unwrap().uri().as_str(),
        "sip:agent@203.0.113.9:5070"
    );
}

#[test]
fn a_notify_about_a_refer_carries_contact_event_state_and_sipfrag() {
    let mut d = Dialog::new_uac(&our_invite(), &ok("")).unwrap();
    let extra = [
        ("Event", "refer"),
        ("Subscription-State", "terminated;reason=noresource"),
    ];
    let n = wire(
        &d.request(
            Method::Notify,
            &local(),
            &extra,
            Some((
                "message/sipfrag;version=2.0",
                b"SIP/2.0 200 OK\r\n".to_vec(),
            )),
        )
        .unwrap(),
    );
    assert_eq!((n.method(), n.cseq().seq), (&Method::Notify, 8));
    assert_eq!(
        n.headers().get("Contact"),
        Some("<sip:hotline@192.0.2.1:5060>"),
        "RFC 6665 §4.1.2.2: a NOTIFY carries Contact"
    );
    assert_eq!(n.headers().get("Event"), Some("refer"));
    assert_eq!(
        n.headers().get("Subscription-State"),
        Some("terminated;reason=noresource")
    );
    assert_eq!(n.content_type().as_deref(), Some("message/sipfrag"));
    assert_eq!(n.body(), b"SIP/2.0 200 OK\r\n");
}
