//! SIP on the wire, from a raw UDP client on 127.0.0.1: what the daemon
//! answers to good, repeated, missing and broken messages.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::sip_peer::{Leg, SipPeer};
use hotline::sip::message::{Message, Method};

const S: Duration = Duration::from_secs(5);
const QUICK: &str = "[answer]\nafter_rings = 0\n";

/// Place a call and confirm it; returns the leg with its To tag.
async fn establish(peer: &SipPeer) -> Leg {
    let mut leg = Leg::new();
    peer.send(&peer.invite(&leg, "")).await;
    let ok = peer.until_status(200, S).await.expect("200 OK");
    leg.to_tag = ok.to_tag().map(|t| t.0);
    assert!(leg.to_tag.is_some(), "200 OK carries our To tag");
    assert_eq!(ok.headers.get("Content-Type"), Some("application/sdp"));
    peer.send(&peer.ack(&leg)).await;
    leg
}

#[tokio::test]
async fn options_answers_as_a_health_check() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    peer.send(&peer.request_text("OPTIONS", &Leg::new(), ""))
        .await;
    let r = peer.response(S).await.expect("answer to OPTIONS");
    assert_eq!(r.status, 200);
    let allow = r.headers.get("Allow").unwrap();
    for m in [
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE",
    ] {
        assert!(allow.contains(m), "Allow lacks {m}: {allow}");
    }
    assert!(r.headers.get("Accept").unwrap().contains("application/sdp"));
}

#[tokio::test]
async fn refusals_carry_the_right_code_and_headers() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let leg = Leg::new();
    // (request, expected status, a header the answer must carry)
    type Case = (String, u16, Option<(&'static str, &'static str)>);
    let cases: Vec<Case> = vec![
        (peer.request_text("FOOBAR", &leg, ""), 501, None),
        // hotline is the agents' registrar: REGISTER is challenged.
        (
            peer.request_text("REGISTER", &leg, ""),
            401,
            Some(("WWW-Authenticate", "SHA-256")),
        ),
        (
            peer.request_text("MESSAGE", &leg, ""),
            405,
            Some(("Allow", "INVITE")),
        ),
        (
            peer.request_text("OPTIONS", &leg, "Require: flux-capacitor\r\n"),
            420,
            Some(("Unsupported", "flux-capacitor")),
        ),
        (
            peer.invite(&leg, "Max-Forwards: 0\r\n")
                .replacen("Max-Forwards: 70\r\n", "", 1),
            483,
            None,
        ),
        (
            peer.request_text(
                "BYE",
                &Leg {
                    to_tag: Some("nosuch".into()),
                    ..Leg::new()
                },
                "",
            ),
            481,
            None,
        ),
        (
            peer.invite(
                &Leg {
                    to_tag: Some("nosuch".into()),
                    ..Leg::new()
                },
                "",
            ),
            481,
            None,
        ),
        (
            peer.request_text("INVITE", &Leg::new(), "Content-Type: text/plain\r\n")
                .replace(
                    "Content-Length: 0\r\n\r\n",
                    "Content-Length: 5\r\n\r\nhello",
                ),
            415,
            Some(("Accept", "application/sdp")),
        ),
    ];
    for (text, status, header) in cases {
        peer.send(&text).await;
        let r = peer
            .until_status(status, S)
            .await
            .unwrap_or_else(|| panic!("no {status} for:\n{text}"));
        if let Some((name, has)) = header {
            let v = r
                .headers
                .get(name)
                .unwrap_or_else(|| panic!("{status} lacks {name}"));
            assert!(v.contains(has), "{name}: {v}");
        }
    }
}

#[tokio::test]
async fn a_call_is_answered_and_the_callers_bye_ends_it() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let mut leg = establish(&peer).await;
    leg.cseq += 1;
    peer.send(&peer.request_text("BYE", &leg, "")).await;
    assert_eq!(
        peer.until_status(200, S)
            .await
            .unwrap()
            .cseq()
            .unwrap()
            .method,
        Method::Bye
    );
    d.wait_line(
        |l| l.contains(&leg.call_id) && l.contains("call ended") && l.contains("caller_hung_up"),
        S,
    )
    .await;
}

#[tokio::test]
async fn a_retransmitted_invite_is_absorbed() {
    let d = Daemon::start("[answer]\nafter_rings = 1\nring_period = \"1s\"\n").await;
    let peer = SipPeer::new(d.sip).await;
    let leg = Leg::new();
    let invite = peer.invite(&leg, "");
    peer.send(&invite).await;
    let ringing = peer.until_status(180, S).await.unwrap();
    peer.send(&invite).await;
    // The retransmission gets the last response again, same To tag.
    let again = peer
        .until_status(180, S)
        .await
        .expect("last response resent");
    assert_eq!(again.to_tag(), ringing.to_tag());
    let ok = peer.until_status(200, S).await.unwrap();
    assert_eq!(ok.to_tag(), ringing.to_tag());
    d.wait_line(|l| l.contains(&leg.call_id) && l.contains("answered"), S)
        .await;
    assert_eq!(
        d.count(|l| l.contains(&leg.call_id) && l.contains("incoming call")),
        1,
        "one call, not two"
    );
}

#[tokio::test]
async fn no_ack_means_retransmitted_200s_then_bye() {
    // T1 = 50ms: 64*T1 = 3.2s instead of 32s.
    let d = Daemon::start("[answer]\nafter_rings = 0\n[sip]\ntimer_t1 = \"50ms\"\n").await;
    let peer = SipPeer::new(d.sip).await;
    let leg = Leg::new();
    peer.send(&peer.invite(&leg, "")).await;
    let started = Instant::now();
    let mut oks = 0;
    let bye = loop {
        match peer
            .recv(Duration::from_secs(10))
            .await
            .expect("200s then a BYE")
        {
            Message::Response(r) if r.status == 200 => oks += 1,
            Message::Request(r) if *r.method() == Method::Bye => break r,
            _ => {}
        }
    };
    assert!(
        oks >= 3,
        "the 200 OK is retransmitted until the ACK ({oks} seen)"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(3000),
        "BYE only after 64*T1, got {waited:?}"
    );
    assert_eq!(bye.call_id().as_str(), leg.call_id);
    peer.answer(&bye).await;
    d.wait_line(
        |l| l.contains(&leg.call_id) && l.contains("reason=no_ack"),
        S,
    )
    .await;
}

#[tokio::test]
async fn cancel_while_ringing_gives_487() {
    let d = Daemon::start("[answer]\nafter_rings = 3\nring_period = \"2s\"\n").await;
    let peer = SipPeer::new(d.sip).await;
    let leg = Leg::new();
    peer.send(&peer.invite(&leg, "")).await;
    peer.until_status(180, S).await.unwrap();
    // CANCEL: same branch and CSeq number as the INVITE (§9.1).
    let cancel = peer
        .invite(&leg, "")
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("1 INVITE", "1 CANCEL");
    let cancel =
        cancel[..cancel.find("Content-Type").unwrap()].to_string() + "Content-Length: 0\r\n\r\n";
    peer.send(&cancel).await;
    let mut got = vec![];
    while got.len() < 2 {
        let r = peer
            .response(S)
            .await
            .expect("200 for CANCEL and 487 for INVITE");
        if r.status >= 200 {
            got.push((r.status, r.cseq().unwrap().method));
        }
    }
    assert!(got.contains(&(200, Method::Cancel)), "{got:?}");
    assert!(got.contains(&(487, Method::Invite)), "{got:?}");
    d.wait_line(
        |l| l.contains(&leg.call_id) && l.contains("caller_cancelled"),
        S,
    )
    .await;
}

#[tokio::test]
async fn a_full_house_says_503_at_once() {
    let d = Daemon::start("[answer]\nafter_rings = 0\n[sip]\nmax_calls = 1\n").await;
    let peer = SipPeer::new(d.sip).await;
    let _first = establish(&peer).await;
    let second = Leg::new();
    let sent = Instant::now();
    peer.send(&peer.invite(&second, "")).await;
    let r = peer
        .until_status(503, S)
        .await
        .expect("503 for the call over the limit");
    assert!(sent.elapsed() < Duration::from_secs(1));
    assert!(r.headers.get("Retry-After").is_some());
}

#[tokio::test]
async fn malformed_messages_get_400_or_are_dropped_and_service_goes_on() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let leg = Leg::new();
    let good = peer.invite(&leg, "");
    let no_call_id = good.replace(&format!("Call-ID: {}\r\n", leg.call_id), "");
    let no_cseq = good.replace("CSeq: 1 INVITE\r\n", "");
    let no_via = good.replace(
        &format!(
            "Via: SIP/2.0/UDP {};branch={};rport\r\n",
            peer.local, leg.branch
        ),
        "",
    );
    let wrong_length = good.replace(
        &format!("Content-Length: {}", common::sip_peer::SDP.len()),
        "Content-Length: 9999",
    );
    let huge = good.replace(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\nX-Huge: {}\r\n", "a".repeat(70_000)),
    );
    // Answered with 400 naming the header: missing Call-ID; wrong length.
    peer.send(&no_call_id).await;
    let r = peer
        .recv_text(S)
        .await
        .expect("an answer to a request without Call-ID");
    assert!(r.starts_with("SIP/2.0 400 Bad Request (Call-ID)"), "{r}");
    peer.send(&wrong_length).await;
    let r = peer.recv_text(S).await.expect("an answer to a short body");
    assert!(
        r.starts_with("SIP/2.0 400 Bad Request (Content-Length)"),
        "{r}"
    );
    // Dropped (nothing to answer to): no CSeq, no Via, garbage, truncated, huge.
    for bad in [
        no_cseq.as_bytes(),
        no_via.as_bytes(),
        &good.as_bytes()[..40],
        b"\x00\xff\xfegarbage\r\n\r\n",
        huge.as_bytes(),
    ] {
        peer.send_bytes(&bad[..bad.len().min(65_000)]).await;
    }
    // The next good call is served normally.
    let leg = establish(&peer).await;
    assert!(leg.to_tag.is_some());
    assert_eq!(d.count(|l| l.contains("panicked")), 0);
}

#[tokio::test]
async fn sigterm_refuses_new_calls_lets_calls_finish_then_byes_them() {
    let mut d = Daemon::start("[answer]\nafter_rings = 0\n[sip]\ndrain_timeout = \"2s\"\n").await;
    let peer = SipPeer::new(d.sip).await;
    let leg = establish(&peer).await;
    d.signal(libc::SIGTERM);
    d.wait_line(|l| l.contains("draining: new calls get 503"), S)
        .await;
    // A new call is refused at once while the old one continues.
    let late = SipPeer::new(d.sip).await;
    late.send(&late.invite(&Leg::new(), "")).await;
    assert!(late.until_status(503, S).await.is_some());
    // At the drain timeout the call in progress gets BYE, and we exit 0.
    let bye = peer
        .request(Duration::from_secs(10))
        .await
        .expect("BYE at drain timeout");
    assert_eq!(*bye.method(), Method::Bye);
    assert_eq!(bye.call_id().as_str(), leg.call_id);
    peer.answer(&bye).await;
    let status = d.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status:?}");
}
