//! Whole-message tests: compact forms, display names, drop-or-400,
//! response building and serialisation.

use super::*;

const COMPACT: &str = "INVITE sip:hotline@example.com SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKcmp;rport\r\n\
f: \"Smith, John \\\"JJ\\\"\" <sip:john@example.net>;tag=a1\r\n\
t: <sip:hotline@example.com>\r\n\
i: compact-1@example.net\r\n\
CSeq: 7 INVITE\r\n\
m: <sip:john@192.0.2.9:5062>\r\n\
k: timer, 100rel\r\n\
x: 1800;refresher=uac\r\n\
c: application/sdp\r\n\
l: 4\r\n\r\nv=0\r\nEXTRA";

fn req(text: &str) -> Request {
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn compact_forms_are_understood() {
    let r = req(COMPACT);
    assert_eq!(r.call_id().as_str(), "compact-1@example.net");
    assert_eq!(r.top_via().port, Some(5062));
    assert_eq!(r.to().uri.as_str(), "sip:hotline@example.com");
    assert_eq!(r.contacts()[0].uri.as_str(), "sip:john@192.0.2.9:5062");
    assert_eq!(r.supported(), vec!["timer", "100rel"]);
    assert_eq!(
        r.headers().get("Session-Expires"),
        Some("1800;refresher=uac")
    );
    assert_eq!(r.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(r.body(), b"v=0\r", "Content-Length honoured, rest ignored");
}

#[test]
fn quoted_display_name_with_comma_and_escaped_quotes() {
    let r = req(COMPACT);
    assert_eq!(r.from().display_name.as_deref(), Some("Smith, John \"JJ\""));
    assert_eq!(r.from().tag().unwrap().as_str(), "a1");
}

#[test]
fn missing_via_or_cseq_is_dropped_not_answered() {
    let no_via = COMPACT.replace(
        "v: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKcmp;rport\r\n",
        "",
    );
    assert!(matches!(
        parse(no_via.as_bytes()),
        Err(ParseError::Drop(DropReason::Unanswerable(_)))
    ));
    let no_cseq = COMPACT.replace("CSeq: 7 INVITE\r\n", "");
    assert!(matches!(
        parse(no_cseq.as_bytes()),
        Err(ParseError::Drop(_))
    ));
    let no_callid = COMPACT.replace("i: compact-1@example.net\r\n", "");
    let err = parse(no_callid.as_bytes()).unwrap_err();
    assert_eq!(err.status(), Some(400));
    let ParseError::Reject(rej) = err else {
        panic!()
    };
    assert_eq!(rej.response.reason, "Bad Request (Call-ID)");
    assert_eq!(rej.error.code(), "HL-SIP-400");
}

#[test]
fn garbage_is_dropped() {
    for bytes in [
        &b""[..],
        b"\r\n\r\n",
        b"hello world\r\n\r\n",
        b"\xff\xfe\x00\x01",
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n",
        b"SIP/2.0 99 Too Low\r\n\r\n",
    ] {
        assert!(
            matches!(parse(bytes), Err(ParseError::Drop(_))),
            "{bytes:?}"
        );
    }
}

#[test]
fn response_for_request_copies_and_tags() {
    let r = req(COMPACT);
    let resp = Response::for_request(&r, 180, "");
    assert_eq!(resp.reason, "Ringing");
    assert_eq!(resp.headers.get("Via"), r.headers().get("Via"));
    assert_eq!(resp.headers.get("Call-ID"), Some("compact-1@example.net"));
    assert_eq!(resp.headers.get("CSeq"), Some("7 INVITE"));
    assert!(resp.to_tag().is_some());
    let trying = Response::for_request(&r, 100, "Trying");
    assert_eq!(trying.to_tag(), None, "100 carries no To tag");
    let tag = Tag("ours".into());
    let ok = Response::for_request_with_tag(&r, 200, "OK", &tag);
    assert_eq!(ok.to_tag(), Some(tag));
    // Round trip through the wire form.
    let Ok(Message::Response(back)) = parse(&ok.to_bytes()) else {
        panic!()
    };
    assert_eq!(back.status, 200);
    assert_eq!(back.call_id(), Some(CallId("compact-1@example.net".into())));
    assert_eq!(back.headers.get("Content-Length"), Some("0"));
}

#[test]
fn request_round_trip_and_received_stamp() {
    let mut r = req(COMPACT);
    r.stamp_received("203.0.113.5".parse().unwrap(), 40000);
    assert_eq!(r.top_via().received(), Some("203.0.113.5"));
    assert_eq!(r.top_via().rport(), Some(Some(40000)));
    let Ok(Message::Request(back)) = parse(&r.to_bytes()) else {
        panic!()
    };
    assert_eq!(back.top_via().rport(), Some(Some(40000)));
    assert_eq!(back.body(), b"v=0\r");
    let resp = Response::for_request(&back, 200, "OK");
    assert!(resp
        .headers
        .get("Via")
        .unwrap()
        .contains("received=203.0.113.5"));
}

#[test]
fn header_names_any_case_and_folding() {
    let text = "OPTIONS sip:a@example.com SIP/2.0\r\nVIA: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
FROM: <sip:b@example.com>;tag=1\r\nto:\r\n  <sip:a@example.com>\r\ncall-id: c\r\n\
cseq: 1\r\n OPTIONS\r\n\r\n";
    let r = req(text);
    assert_eq!(r.cseq().method, Method::Options);
    assert_eq!(r.to().uri.as_str(), "sip:a@example.com");
}

#[test]
fn trying_echoes_timestamp() {
    let text = COMPACT.replace("CSeq: 7 INVITE\r\n", "CSeq: 7 INVITE\r\nTimestamp: 54\r\n");
    let r = req(&text);
    let trying = Response::for_request(&r, 100, "Trying");
    assert_eq!(trying.headers.get("Timestamp"), Some("54"));
    assert_eq!(
        Response::for_request(&r, 180, "").headers.get("Timestamp"),
        None
    );
}
