//! Tests for `sip::validate`, one per rejection and per session-timer rule.

use super::*;
use crate::sip::message::{parse, Message};

fn req(method: &str, extra: &str, body: &str) -> Request {
    let text = format!(
        "{method} sip:hotline@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKv1\r\n\
         From: <sip:caller@example.net>;tag=f1\r\n\
         To: <sip:hotline@example.com>{to_tag}\r\n\
         Call-ID: v1@example.net\r\n\
         CSeq: 1 {method}\r\n\
         Max-Forwards: 70\r\n\
         Contact: <sip:caller@192.0.2.9>\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len(),
        to_tag = if extra.contains("X-Tagged") {
            ";tag=t1"
        } else {
            ""
        },
    );
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn check(r: &Request) -> Result<Accepted, ProtocolError> {
    validate_request(r, &Policy::default(), |_| false)
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

#[test]
fn plain_invite_with_sdp_passes() {
    let r = req("INVITE", "Content-Type: application/sdp\r\n", SDP);
    let ok = check(&r).unwrap();
    assert_eq!(ok.sdp.as_deref(), Some(SDP.as_bytes()));
    assert_eq!(ok.session_timer, None);
}

#[test]
fn max_forwards_zero_is_483() {
    let r = req("OPTIONS", "", "").clone();
    assert!(check(&r).is_ok());
    let text = String::from_utf8(r.to_bytes())
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    let Ok(Message::Request(r)) = parse(text.as_bytes()) else {
        panic!()
    };
    assert_eq!(check(&r).unwrap_err(), ProtocolError::TooManyHops);
}

#[test]
fn unknown_require_is_420_listing_the_tags() {
    let r = req("INVITE", "Require: timer, foo, bar\r\n", "");
    let err = check(&r).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::BadExtension(vec!["foo".into(), "bar".into()])
    );
    let h = rejection_headers(&err, &Policy::default());
    assert_eq!(h, vec![("Unsupported", "foo, bar".to_string())]);
}

#[test]
fn known_unserved_method_is_405_with_allow() {
    // We are a registrar (agents' phones), but not a presence server.
    let err = check(&req("SUBSCRIBE", "", "")).unwrap_err();
    assert_eq!(err.status(), 405);
    let h = rejection_headers(&err, &Policy::default());
    assert_eq!(h[0].0, "Allow");
    assert!(h[0].1.contains("INVITE") && h[0].1.contains("OPTIONS"));
    assert!(h[0].1.contains("REGISTER"));
    assert!(!h[0].1.contains("SUBSCRIBE"));
}

#[test]
fn unknown_method_is_501() {
    let err = check(&req("FROBNICATE", "", "")).unwrap_err();
    assert_eq!(err, ProtocolError::NotImplemented("FROBNICATE".into()));
}

#[test]
fn unusable_bodies_are_415() {
    let r = req("INVITE", "Content-Type: text/plain\r\n", "hello");
    assert_eq!(check(&r).unwrap_err().status(), 415);
    let r = req(
        "INVITE",
        "Content-Type: application/sdp\r\nContent-Encoding: gzip\r\n",
        SDP,
    );
    assert_eq!(check(&r).unwrap_err().status(), 415);
    let r = req("INVITE", "", SDP);
    assert_eq!(check(&r).unwrap_err().status(), 415, "no Content-Type");
}

#[test]
fn multipart_carrying_sdp_is_accepted_and_extracted() {
    let body = format!(
        "--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--b1--\r\n"
    );
    let r = req(
        "INVITE",
        "Content-Type: multipart/mixed;boundary=b1\r\n",
        &body,
    );
    assert_eq!(check(&r).unwrap().sdp.as_deref(), Some(SDP.as_bytes()));
    let body = "--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n";
    let r = req(
        "INVITE",
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
        body,
    );
    assert_eq!(check(&r).unwrap_err().status(), 415);
}

#[test]
fn invite_with_unknown_to_tag_is_481() {
    let r = req("INVITE", "X-Tagged: 1\r\n", "");
    assert_eq!(check(&r).unwrap_err(), ProtocolError::NoSuchDialog);
    let known = validate_request(&r, &Policy::default(), |id| id.local_tag.as_str() == "t1");
    assert!(known.is_ok());
    assert_eq!(check(&req("BYE", "", "")).unwrap_err().status(), 481);
}

#[test]
fn session_expires_negotiation() {
    let r = req(
        "INVITE",
        "Supported: timer\r\nSession-Expires: 1800;refresher=uas\r\n",
        "",
    );
    let st = check(&r).unwrap().session_timer.unwrap();
    assert_eq!(st.header_value(), "1800;refresher=uas");
    assert!(st.require_timer);

    let r = req(
        "INVITE",
        "Supported: timer\r\nx: 600\r\nMin-SE: 900\r\n",
        "",
    );
    let st = check(&r).unwrap().session_timer.unwrap();
    assert_eq!(st.header_value(), "900;refresher=uac");

    let r = req("INVITE", "Session-Expires: 1800\r\n", "");
    let st = check(&r).unwrap().session_timer.unwrap();
    assert_eq!(st.refresher, Refresher::Uas, "UAC without timer support");
    assert!(!st.require_timer);
}

#[test]
fn session_expires_too_small_or_broken() {
    let r = req("INVITE", "Session-Expires: 30\r\n", "");
    let err = check(&r).unwrap_err();
    assert_eq!(err.status(), 422);
    assert_eq!(
        rejection_headers(&err, &Policy::default()),
        vec![("Min-SE", "90".to_string())]
    );
    let r = req("INVITE", "Session-Expires: soon\r\n", "");
    assert_eq!(check(&r).unwrap_err().status(), 400);
}

#[test]
fn ack_is_never_refused() {
    let r = req("ACK", "Content-Type: text/plain\r\nRequire: foo\r\n", "x");
    assert_eq!(check(&r).unwrap(), Accepted::default());
    let r = req("ACK", "Content-Type: application/sdp\r\n", SDP);
    assert_eq!(check(&r).unwrap().sdp.as_deref(), Some(SDP.as_bytes()));
}

/// `req`, then with the Request-URI replaced.
fn with_ruri(method: &str, uri: &str, extra: &str, body: &str) -> Request {
    let r = req(method, extra, body);
    let text = String::from_utf8(r.to_bytes())
        .unwrap()
        .replacen("sip:hotline@192.0.2.1", uri, 1);
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn tel_request_uri_is_served_unknown_schemes_are_416() {
    let ct = "Content-Type: application/sdp\r\n";
    let r = with_ruri("INVITE", "tel:+8613800000000", ct, SDP);
    assert!(check(&r).is_ok(), "{:?}", check(&r));
    let r = with_ruri("INVITE", "tel:+1-212-555-0101;phone-context=+1", ct, SDP);
    assert!(check(&r).is_ok());
    for uri in [
        "soap.beep://192.0.2.103:3002",
        "im:hotline@example.com",
        "urn:service:sos",
    ] {
        let r = with_ruri("INVITE", uri, ct, SDP);
        let err = check(&r).unwrap_err();
        assert_eq!(err.status(), 416, "{uri}");
        assert!(rejection_headers(&err, &Policy::default())
            .iter()
            .any(|(n, v)| *n == "Warning" && v.starts_with("399 hotline \"")));
    }
}

#[test]
fn escaped_headers_in_the_request_uri_are_never_accepted() {
    for method in ["INVITE", "OPTIONS"] {
        let r = with_ruri(
            method,
            "sip:hotline@192.0.2.1?Subject=hi%20there&Priority=urgent",
            "",
            "",
        );
        let err = check(&r).unwrap_err();
        assert_eq!(err.status(), 400, "{method}");
        assert_eq!(err.reason(), "Bad Request (Request-URI)");
    }
}

#[test]
fn contact_must_be_one_sip_uri_on_invite_and_update() {
    for (contact, ok) in [
        ("Contact: <sip:caller@192.0.2.9>\r\n", true),
        (
            "Contact: \"C\" <sips:caller@192.0.2.9;transport=tls>;expires=60\r\n",
            true,
        ),
        ("Contact: <mailto:caller@example.net>\r\n", false),
        ("Contact: <tel:+15551234>\r\n", false),
        ("Contact: mailto:caller@example.net\r\n", false),
        ("Contact: *\r\n", false),
        ("Contact: <sip:@broken>\r\n", false),
        ("Contact: <sip:a@192.0.2.9>, <sip:b@192.0.2.9>\r\n", false),
        ("", false),
    ] {
        for method in ["INVITE", "UPDATE"] {
            let r = req(method, "X-Tagged: 1\r\n", "");
            let text = String::from_utf8(r.to_bytes())
                .unwrap()
                .replace("Contact: <sip:caller@192.0.2.9>\r\n", contact);
            let Ok(Message::Request(r)) = parse(text.as_bytes()) else {
                panic!("{contact}")
            };
            let res = validate_request(&r, &Policy::default(), |_| true);
            match (ok, res) {
                (true, Ok(_)) => {}
                (
                    false,
                    Err(ProtocolError::BadHeader {
                        header: "Contact", ..
                    }),
                ) => {}
                (_, other) => panic!("{method} {contact:?}: {other:?}"),
            }
        }
    }
    // OPTIONS, BYE and friends need none.
    let r = req("OPTIONS", "", "");
    let text = String::from_utf8(r.to_bytes())
        .unwrap()
        .replace("Contact: <sip:caller@192.0.2.9>\r\n", "");
    let Ok(Message::Request(r)) = parse(text.as_bytes()) else {
        panic!()
    };
    assert!(check(&r).is_ok());
}

#[test]
fn accept_that_excludes_sdp_is_406() {
    let ct = "Content-Type: application/sdp\r\n";
    for (accept, ok) in [
        ("Accept: application/sdp\r\n", true),
        ("Accept: text/html, application/SDP;level=1\r\n", true),
        ("Accept: application/*\r\n", true),
        ("Accept: */*;q=0.5\r\n", true),
        ("Accept: text/html\r\n", false),
        ("Accept: application/sdp;q=0, text/plain\r\n", false),
        ("Accept: \r\n", false),
    ] {
        let r = req("INVITE", &format!("{ct}{accept}"), SDP);
        match (ok, check(&r)) {
            (true, Ok(_)) => {}
            (false, Err(e @ ProtocolError::NotAcceptable(_))) => assert_eq!(e.status(), 406),
            (_, other) => panic!("{accept:?}: {other:?}"),
        }
    }
    // A late-offer INVITE gets our offer in the 200: same rule.
    assert!(check(&req("INVITE", "Accept: text/html\r\n", "")).is_err());
    // An UPDATE without an offer gets no SDP back: Accept does not matter.
    let r = req("UPDATE", "X-Tagged: 1\r\nAccept: text/html\r\n", "");
    assert!(validate_request(&r, &Policy::default(), |_| true).is_ok());
}

#[test]
fn multipart_alternative_nested_and_sdp_less_multipart() {
    let body = format!(
        "--outer\r\nContent-Type: multipart/alternative;boundary=in\r\n\r\n\
         --in\r\nContent-Type: text/plain\r\n\r\nhi\r\n--in\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--in--\r\n\
         \r\n--outer--\r\n"
    );
    let r = req(
        "INVITE",
        "Content-Type: multipart/mixed;boundary=outer\r\n",
        &body,
    );
    assert_eq!(check(&r).unwrap().sdp.as_deref(), Some(SDP.as_bytes()));
    let alt = format!("--x\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--x--\r\n");
    let r = req(
        "INVITE",
        "Content-Type: multipart/alternative; boundary=\"x\"\r\n",
        &alt,
    );
    assert_eq!(check(&r).unwrap().sdp.as_deref(), Some(SDP.as_bytes()));

    let no_sdp = "--x\r\nContent-Type: application/pidf+xml\r\n\r\n<presence/>\r\n--x--\r\n";
    let r = req(
        "INVITE",
        "Content-Type: multipart/mixed;boundary=x\r\n",
        no_sdp,
    );
    let err = check(&r).unwrap_err();
    assert_eq!(err.status(), 415);
    let headers = rejection_headers(&err, &Policy::default());
    assert!(
        headers.contains(&("Accept", "application/sdp".into())),
        "{headers:?}"
    );
    let required = no_sdp.replace(
        "\r\n\r\n<p",
        "\r\nContent-Disposition: render;handling=required\r\n\r\n<p",
    );
    let with_sdp = format!(
        "{}--x\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--x--\r\n",
        required.trim_end_matches("--x--\r\n")
    );
    let r = req(
        "INVITE",
        "Content-Type: multipart/mixed;boundary=x\r\n",
        &with_sdp,
    );
    assert_eq!(
        check(&r).unwrap_err().status(),
        415,
        "a required part we cannot read"
    );
}
