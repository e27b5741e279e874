//! Interoperability against the real daemon: offers as real phones make
//! them (tests/fixtures/sdp/), carriers' `tel:` Request-URIs, multipart
//! bodies, and the refusals RFC 3261 and RFC 4475 ask for, from a raw UDP
//! client. The messages name other hosts (SDP `c=` at 192.168.x and
//! 192.0.2.x, `example.com`), so those tests run in their own loopback-only
//! network namespace (tests/common/netns.rs): nothing the daemon sends
//! there leaves the machine. The last test (a TCP peer that never reads,
//! end to end) names only 127.0.0.1.

mod common;

use std::time::Duration;

use common::daemon::Daemon;
use common::netns::enter_loopback_netns;
use common::sip_peer::{Leg, SipPeer};
use hotline::sip::message::{Method, Response};

const S: Duration = Duration::from_secs(5);
const QUICK: &str = "[answer]\nafter_rings = 0\n";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/sdp/{name}.sdp",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
}

fn mlines(sdp: &str) -> Vec<String> {
    sdp.split("\r\n")
        .filter(|l| l.starts_with("m="))
        .map(String::from)
        .collect()
}

/// An INVITE for `leg` with this Content-Type and body.
fn invite_body(peer: &SipPeer, leg: &Leg, extra: &str, content_type: &str, body: &str) -> String {
    peer.invite_with(leg, extra, "").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// ACK the 200 and hang up, so the next call starts clean.
async fn hang_up(peer: &SipPeer, ok: &Response, leg: &mut Leg) {
    leg.to_tag = ok.to_tag().map(|t| t.0);
    peer.send(&peer.ack(leg)).await;
    leg.cseq += 1;
    peer.send(&peer.request_text("BYE", leg, "")).await;
    let r = peer.until_status(200, S).await.expect("200 to BYE");
    assert_eq!(r.cseq().unwrap().method, Method::Bye);
}

/// The final response to `leg`'s INVITE (skipping 100 and 180).
async fn final_response(peer: &SipPeer, leg: &Leg) -> Response {
    loop {
        let r = peer
            .response(S)
            .await
            .expect("a final response, never silence");
        if r.status >= 200 && r.call_id().is_some_and(|c| c.as_str() == leg.call_id) {
            return r;
        }
    }
}

#[tokio::test]
async fn offers_from_real_phones_are_answered_line_for_line() {
    enter_loopback_netns();
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    // (fixture, index of the m-line we take)
    for (name, accepted) in [
        ("linphone-video", 0),
        ("baresip-video", 0),
        ("pjsua-video", 0),
        ("polycom-vvx-video", 0),
        ("pjsua-srtp-dup-offer", 1),
        ("audio-and-msrp", 3),
        ("zoiper5", 0),
        ("microsip-srtp-optional", 0),
        ("yealink-t46", 0),
        ("grandstream-gxp", 0),
        ("ims-carrier-trunk", 0),
        ("cisco-cube-trunk", 0),
    ] {
        let offer = fixture(name);
        let mut leg = Leg::new();
        peer.send(&peer.invite_with(&leg, "", &offer)).await;
        let ok = final_response(&peer, &leg).await;
        assert_eq!(ok.status, 200, "{name}: {} {}", ok.status, ok.reason);
        let answer = String::from_utf8_lossy(&ok.body).into_owned();
        let (offered, answered) = (mlines(&offer), mlines(&answer));
        assert_eq!(answered.len(), offered.len(), "{name}:\n{answer}");
        for (i, a) in answered.iter().enumerate() {
            let port = a.split(' ').nth(1).unwrap();
            assert_eq!(port != "0", i == accepted, "{name}: line {i}: {a}");
        }
        hang_up(&peer, &ok, &mut leg).await;
    }
}

#[tokio::test]
async fn offers_with_only_transports_we_cannot_do_get_488() {
    enter_loopback_netns();
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let savp = fixture("asterisk-trunk").replace("RTP/AVP", "RTP/SAVP");
    for (name, offer) in [
        ("webrtc-gateway", fixture("webrtc-gateway")),
        ("savp", savp),
    ] {
        let leg = Leg::new();
        peer.send(&peer.invite_with(&leg, "", &offer)).await;
        let r = final_response(&peer, &leg).await;
        assert_eq!(r.status, 488, "{name}: {} {}", r.status, r.reason);
    }
}

#[tokio::test]
async fn a_tel_request_uri_from_a_carrier_is_answered() {
    enter_loopback_netns();
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let mut leg = Leg::new();
    let invite = peer.invite_with(&leg, "", &fixture("ims-carrier-trunk"));
    let first = invite.lines().next().unwrap().to_string();
    let invite = invite
        .replacen(&first, "INVITE tel:+8613800000000 SIP/2.0", 1)
        .replace(
            "From: \"Test Caller\" <sip:5551234@127.0.0.1>",
            "From: <tel:+8613912345678;phone-context=+86>",
        )
        .replace(
            "To: <sip:hotline@",
            "To: <tel:+8613800000000>\r\nX-Old-To: <sip:hotline@",
        );
    peer.send(&invite).await;
    let ok = final_response(&peer, &leg).await;
    assert_eq!(ok.status, 200, "{} {}", ok.status, ok.reason);
    d.wait_line(
        |l| {
            l.contains(&leg.call_id)
                && l.contains("caller=+8613912345678")
                && l.contains("incoming call")
        },
        S,
    )
    .await;
    hang_up(&peer, &ok, &mut leg).await;
}

#[tokio::test]
async fn multipart_offers_are_answered_from_their_sdp_part() {
    enter_loopback_netns();
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let sdp = fixture("freeswitch-trunk");
    let sip_i = format!(
        "--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n\
         --unique-boundary-1\r\nContent-Type: application/ISUP;version=itu-t92+\r\n\
         Content-Disposition: signal;handling=optional\r\n\r\n\x01\x00\x49\x00\x00\r\n\
         --unique-boundary-1--\r\n"
    );
    let alternative = format!(
        "--alt\r\nContent-Type: text/plain\r\n\r\nan offer\r\n--alt\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--alt--\r\n"
    );
    for (ct, body) in [
        ("multipart/mixed;boundary=unique-boundary-1", sip_i),
        ("multipart/alternative; boundary=\"alt\"", alternative),
    ] {
        let mut leg = Leg::new();
        peer.send(&invite_body(&peer, &leg, "", ct, &body)).await;
        let ok = final_response(&peer, &leg).await;
        assert_eq!(ok.status, 200, "{ct}: {} {}", ok.status, ok.reason);
        let answer = String::from_utf8_lossy(&ok.body).into_owned();
        assert!(answer.contains("m=audio "), "{answer}");
        assert!(
            answer.contains("RTP/AVP 8 101"),
            "PCMA, the trunk's first: {answer}"
        );
        hang_up(&peer, &ok, &mut leg).await;
    }
}

#[tokio::test]
async fn what_cannot_become_a_call_is_refused_before_it_rings() {
    enter_loopback_netns();
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let replace_ruri = |text: String, uri: &str| {
        let first = text.lines().next().unwrap().to_string();
        text.replacen(&first, &format!("INVITE {uri} SIP/2.0"), 1)
    };
    let no_sdp_part = "--b\r\nContent-Type: application/pidf+xml\r\n\r\n<presence/>\r\n--b--\r\n";
    // (what, request, status, a header the answer must carry)
    type Case = (
        &'static str,
        Leg,
        String,
        u16,
        Option<(&'static str, &'static str)>,
    );
    let mut cases: Vec<Case> = Vec::new();
    let l = Leg::new();
    let t = replace_ruri(peer.invite(&l, ""), "im:hotline@example.com");
    cases.push((
        "unknown scheme",
        l,
        t,
        416,
        Some(("Warning", "399 hotline")),
    ));
    let l = Leg::new();
    let t = replace_ruri(
        peer.invite(&l, ""),
        "sip:hotline@example.com?Subject=urgent&Priority=emergency",
    );
    cases.push(("?headers in the Request-URI", l, t, 400, None));
    for contact in ["<mailto:caller@example.net>", "<tel:+15551234>"] {
        let l = Leg::new();
        let text = peer.invite(&l, "");
        let start = text.find("Contact: ").unwrap();
        let end = start + text[start..].find("\r\n").unwrap();
        let t = format!("{}Contact: {contact}{}", &text[..start], &text[end..]);
        cases.push(("non-SIP Contact", l, t, 400, Some(("Warning", "Contact"))));
    }
    let l = Leg::new();
    let t = peer.invite(&l, "Accept: text/html\r\n");
    cases.push(("Accept without SDP", l, t, 406, None));
    let l = Leg::new();
    let t = invite_body(&peer, &l, "", "multipart/mixed;boundary=b", no_sdp_part);
    cases.push((
        "multipart without SDP",
        l,
        t,
        415,
        Some(("Accept", "application/sdp")),
    ));
    for (what, leg, text, status, header) in cases {
        peer.send(&text).await;
        let r = final_response(&peer, &leg).await;
        assert_eq!(r.status, status, "{what}: {} {}", r.status, r.reason);
        if let Some((name, has)) = header {
            let v = r
                .headers
                .get(name)
                .unwrap_or_else(|| panic!("{what}: no {name}"));
            assert!(v.contains(has), "{what}: {name}: {v}");
        }
        assert_eq!(
            d.count(|l| l.contains(&leg.call_id) && l.contains("incoming call")),
            0,
            "{what}: refused before any call started"
        );
    }
}

#[tokio::test]
async fn a_tcp_peer_that_never_reads_cannot_stall_udp() {
    use tokio::io::AsyncWriteExt;
    let d = Daemon::start(QUICK).await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let conn = sock.connect(d.sip).await.unwrap();
    let local = conn.local_addr().unwrap();
    let (_rd, mut wr) = conn.into_split(); // never read
    let server = d.sip;
    let flood = tokio::spawn(async move {
        // Until the daemon closes the connection (bounded: 200,000 requests).
        for i in 0..200_000 {
            let m = format!(
                "OPTIONS sip:hotline@{s} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKfl{i}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:f@127.0.0.1>;tag=f\r\nTo: <sip:hotline@{s}>\r\n\
                 Call-ID: flood-{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                s = server
            );
            if wr.write_all(m.as_bytes()).await.is_err() {
                return i;
            }
        }
        200_000
    });
    d.wait_line(|l| l.contains("HL-SIP-TCP-FULL"), Duration::from_secs(30))
        .await;
    // Signalling goes on: a UDP peer is answered at once.
    let peer = SipPeer::new(d.sip).await;
    peer.send(&peer.request_text("OPTIONS", &Leg::new(), ""))
        .await;
    let r = peer
        .response(S)
        .await
        .expect("UDP answered while the TCP peer hangs");
    assert_eq!(r.status, 200);
    let sent = flood.await.unwrap();
    assert!(sent < 200_000, "the connection was closed under the flood");
}
