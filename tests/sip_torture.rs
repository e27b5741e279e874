//! RFC 4475 torture messages against `sip::message::parse`.
//!
//! The fixtures in `tests/fixtures/sip/torture/` were written from RFC 4475
//! §3.1 (binary parts of `mpart01` and the longreq filler are faithful
//! reconstructions of what each message tests).

mod common;

use std::time::Duration;

use hotline::sip::dialog::Dialog;
use hotline::sip::message::{parse, Message, Method, ParseError, Request, Response};
use hotline::sip::validate::{validate_request, Policy};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/sip/torture/{name}.sip",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn request(name: &str) -> Request {
    match parse(&fixture(name)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{name}: expected a request, got {other:?}"),
    }
}

fn response(name: &str) -> Response {
    match parse(&fixture(name)) {
        Ok(Message::Response(r)) => r,
        other => panic!("{name}: expected a response, got {other:?}"),
    }
}

/// The rejection for `name`: its status and the reason we put on the wire.
fn rejected(name: &str) -> (u16, Response) {
    match parse(&fixture(name)) {
        Err(ParseError::Reject(r)) => (r.error.status(), r.response),
        other => panic!("{name}: expected a rejection, got {other:?}"),
    }
}

fn dropped(name: &str) -> bool {
    matches!(parse(&fixture(name)), Err(ParseError::Drop(_)))
}

#[test]
fn wsinv_short_tortuous_invite() {
    let r = request("wsinv");
    assert_eq!(r.method(), &Method::Invite);
    assert_eq!(r.call_id().as_str(), "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(r.cseq().seq, 9);
    assert_eq!(r.max_forwards(), Some(68));
    assert_eq!(r.to().tag().unwrap().as_str(), "1918181833n");
    assert_eq!(r.from().tag().unwrap().as_str(), "98asjd8");
    assert_eq!(r.from().display_name.as_deref(), Some(r#"J Rosenberg \""#));
    assert_eq!(r.vias().len(), 3);
    assert_eq!(r.vias()[1].branch().unwrap().as_str(), "z9hG4bK9ikj8");
    assert_eq!(r.vias()[2].branch().unwrap().as_str(), "z9hG4bK30239");
    let contact = &r.contacts()[0];
    assert_eq!(contact.display_name.as_deref(), Some(r#"Quoted string """#));
    assert_eq!(r.body().len(), 150);
    assert_eq!(
        r.headers().get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
}

#[test]
fn intmeth_wide_range_of_characters() {
    let r = request("intmeth");
    assert_eq!(
        r.method(),
        &Method::Other("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    assert_eq!(
        r.call_id().as_str(),
        "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    );
    assert_eq!(r.from().tag().unwrap().as_str(), "_token~1'+`*%!-.");
    assert_eq!(
        r.from().display_name.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(
        r.to().display_name.as_deref(),
        Some("BEL:\x07 NUL:\0 DEL:\x7f")
    );
    // An unknown method is a request we answer 501, not a parse error.
    let err = validate_request(&r, &Policy::default(), |_| false).unwrap_err();
    assert_eq!(err.status(), 501);
}

#[test]
fn esc01_and_escnull_percent_escapes() {
    let r = request("esc01");
    assert_eq!(r.call_id().as_str(), "esc01.239409asdfakjkn23onasd0-3234");
    assert_eq!(r.uri().user().as_deref(), Some("sips:user@example.com"));
    assert_eq!(r.to().uri.user().as_deref(), Some("user"));
    assert_eq!(r.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(r.contacts().len(), 1);

    let r = request("escnull");
    assert_eq!(r.method(), &Method::Register);
    assert_eq!(r.to().uri.user().as_deref(), Some("null-\0-null"));
    assert_eq!(r.contacts().len(), 2);
}

#[test]
fn esc02_percent_that_is_not_an_escape() {
    let r = request("esc02");
    assert_eq!(r.method(), &Method::Other("RE%47IST%45R".into()));
    assert_eq!(r.from().display_name.as_deref(), Some("%Z%45"));
    assert_eq!(r.contacts().len(), 2, "C%6Fntact is an unknown header");
}

#[test]
fn lwsdisp_longreq_semiuri_transports() {
    let r = request("lwsdisp");
    assert_eq!(r.from().display_name.as_deref(), Some("caller"));

    let r = request("longreq");
    assert_eq!(r.vias().len(), 34);
    assert!(r.vias()[33]
        .branch()
        .unwrap()
        .as_str()
        .ends_with("branchvalue"));
    assert!(r.call_id().as_str().starts_with("longreq.one"));
    assert_eq!(r.to().uri.sip().unwrap().port, Some(6000));
    assert_eq!(r.body().len(), 150);

    let r = request("semiuri");
    assert_eq!(r.uri().user().as_deref(), Some("user;par=u@example.net"));
    assert_eq!(r.uri().host(), Some("example.com"));
    assert_eq!(r.headers().list("Accept").len(), 6);

    let r = request("transports");
    let transports: Vec<&str> = r.vias().iter().map(|v| v.transport.as_str()).collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(r.call_id().as_str(), "transports.kijh4akdnaqjkwendsasfdj");
}

#[test]
fn dblreq_only_the_first_request_counts() {
    let r = request("dblreq");
    assert_eq!(r.method(), &Method::Register);
    assert_eq!(
        r.call_id().as_str(),
        "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    );
    assert!(r.body().is_empty());
}

#[test]
fn mpart01_binary_multipart_body() {
    let r = request("mpart01");
    assert_eq!(r.method(), &Method::Message);
    assert_eq!(r.content_type().as_deref(), Some("multipart/mixed"));
    assert_eq!(
        r.body().len().to_string(),
        r.headers().get("Content-Length").unwrap()
    );
    assert!(r.body().ends_with(b"--7a9cbec02ceef655--\r\n"));
}

#[test]
fn unreason_and_noreason_responses() {
    let r = response("unreason");
    assert_eq!(r.status, 200);
    assert!(r.reason.contains("простое"));
    assert_eq!(r.body.len(), 154);
    let r = response("noreason");
    assert_eq!(r.status, 100);
    assert_eq!(r.reason, "");
    assert_eq!(
        r.call_id().unwrap().as_str(),
        "noreason.asndj203insdf99223ndf"
    );
}

#[test]
fn invalid_requests_get_400_naming_the_header() {
    for (name, header) in [
        ("badinv01", "Via"),
        ("clerr", "Content-Length"),
        ("ncl", "Content-Length"),
        ("scalar02", "CSeq"),
        ("quotbal", "To"),
        ("mismatch01", "CSeq"),
        ("mcl01", "Content-Length"),
        ("multi01", "From"),
        ("baddn", "From"),
        ("insuf", "From"),
    ] {
        let (status, resp) = rejected(name);
        assert_eq!(status, 400, "{name}");
        assert_eq!(resp.status, 400, "{name}");
        assert!(
            resp.reason.contains(header),
            "{name}: reason {:?} should name {header}",
            resp.reason
        );
        // The 400 copies what the client needs to match it.
        assert_eq!(
            resp.headers.get("Via"),
            parse_raw_header(&fixture(name), "Via").as_deref(),
            "{name}"
        );
    }
}

#[test]
fn malformed_request_lines_get_400() {
    for name in ["ltgtruri", "lwsruri", "lwsstart", "trws"] {
        let (status, resp) = rejected(name);
        assert_eq!(status, 400, "{name}");
        assert!(
            resp.reason.contains("Request-Line"),
            "{name}: {}",
            resp.reason
        );
    }
}

#[test]
fn unknown_version_gets_505() {
    let (status, _) = rejected("badvers");
    assert_eq!(status, 505);
}

#[test]
fn broken_responses_are_dropped() {
    assert!(dropped("bigcode"));
    assert!(dropped("scalarlg"));
}

#[test]
fn semantic_checks_happen_in_the_validator() {
    let policy = Policy::default();
    let r = request("zeromf");
    assert_eq!(
        validate_request(&r, &policy, |_| false)
            .unwrap_err()
            .status(),
        483
    );
    let r = request("bext01");
    assert_eq!(
        validate_request(&r, &policy, |_| false)
            .unwrap_err()
            .status(),
        420
    );
    let r = request("invut");
    assert_eq!(
        validate_request(&r, &policy, |_| false)
            .unwrap_err()
            .status(),
        415
    );
}

/// First raw value of a header, for comparing what the 400 copied.
fn parse_raw_header(bytes: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{name}:"))
            .map(|v| v.trim().to_string())
    })
}

fn refused(name: &str) -> hotline::sip::error::ProtocolError {
    validate_request(&request(name), &Policy::default(), |_| false).unwrap_err()
}

#[test]
fn unknown_request_uri_schemes_get_416() {
    for name in ["unkscm", "novelsc"] {
        let err = refused(name);
        assert_eq!(err.status(), 416, "{name}: {err}");
    }
}

#[test]
fn escaped_headers_in_the_request_uri_get_400_never_2xx() {
    let err = refused("escruri");
    assert_eq!(
        (err.status(), err.reason().as_str()),
        (400, "Bad Request (Request-URI)")
    );
}

#[test]
fn unknown_schemes_in_other_headers_are_fine_where_no_dialog_is_made() {
    // unksm2 is a REGISTER: its odd To/From/Contact schemes parse and pass
    // validation; the registrar refuses the non-SIP address-of-record (To)
    // with 416, before any challenge.
    let r = request("unksm2");
    assert_eq!(r.to().uri.scheme(), "isbn");
    assert_eq!(r.contacts()[0].uri.scheme(), "name");
    assert!(validate_request(&r, &Policy::default(), |_| false).is_ok());
    let refusal = hotline::sip::registrar::check_aor(&r).unwrap_err();
    assert_eq!(refusal.status(), 416);
}

#[test]
fn sdp01_accept_without_sdp_gets_406() {
    let err = refused("sdp01");
    assert_eq!(err.status(), 406, "{err}");
}

#[test]
fn inv2543_rfc2543_invite_passes_validation_and_makes_a_dialog() {
    let r = request("inv2543");
    let ok = validate_request(&r, &Policy::default(), |_| false).unwrap();
    assert!(ok.sdp.is_some());
    assert!(r.from().tag().is_none(), "RFC 2543: no From tag");
    // RFC 3261 §12.1.1: a missing From tag is the null tag, not a refusal.
    let local = hotline::sip::message::Tag("ours".into());
    let dialog = Dialog::new_uas(&r, local).expect("a dialog without a From tag");
    assert_eq!(dialog.id.remote_tag.0, "");
}

/// `inv2543` on the wire: the fixture's RFC 2543 shape (no From tag, no
/// Via branch) with loopback addresses, answered, ACKed and hung up like
/// any call: the old phone's in-dialog requests find their dialog.
#[tokio::test]
async fn inv2543_an_rfc2543_phone_is_answered_and_can_hang_up() {
    let d = common::daemon::Daemon::start("[answer]\nafter_rings = 0\n").await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let server = d.sip;
    let sdp = "v=0\r\no=UserA 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\n\
               c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0\r\n";
    let call_id = format!("inv2543.{:08x}@127.0.0.1", rand::random::<u32>());
    let head = |method: &str, cseq: u32, to_tag: &str| {
        format!(
            "{method} sip:UserB@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {me}\r\n\
             From: <sip:UserA@127.0.0.1>\r\nTo: <sip:UserB@{server}>{to_tag}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:UserA@{me}>\r\n"
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE", 1, ""),
        sdp.len()
    );
    sock.send_to(invite.as_bytes(), server).await.unwrap();
    let ok = final_for(&sock, Method::Invite).await;
    assert_eq!(ok.status, 200, "an RFC 2543 INVITE is answered");
    let to_tag = format!(";tag={}", ok.to_tag().expect("our tag").0);
    let ack = format!("{}Content-Length: 0\r\n\r\n", head("ACK", 1, &to_tag));
    sock.send_to(ack.as_bytes(), server).await.unwrap();
    let bye = format!("{}Content-Length: 0\r\n\r\n", head("BYE", 2, &to_tag));
    sock.send_to(bye.as_bytes(), server).await.unwrap();
    let ended = final_for(&sock, Method::Bye).await;
    assert_eq!(
        ended.status, 200,
        "the BYE found its dialog (null remote tag)"
    );
    let line = d
        .wait_line(|l| l.contains("call ended"), Duration::from_secs(10))
        .await;
    assert!(line.contains("caller_hung_up"), "{line}");
}

/// The first final response to a request of `method` (bounded).
async fn final_for(sock: &tokio::net::UdpSocket, method: Method) -> Response {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
            .await
            .expect("a response within 10 s")
            .unwrap();
        if let Ok(Message::Response(r)) = parse(&buf[..n]) {
            if r.status >= 200 && r.cseq().is_some_and(|c| c.method == method) {
                return r;
            }
        }
    }
}
