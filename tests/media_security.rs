//! RTP hijack and reflection (issue 14, items 6 and 7), with real sockets:
//! the daemon on 127.0.0.1, a caller's phone on 127.0.0.1, and a stranger
//! (or a third party) on 127.0.0.2 (all of 127.0.0.0/8 is loopback on
//! Linux: another source address on the same machine, no namespace needed).
//!
//! "Nothing arrives" is asserted on sockets that have been bound the whole
//! time: what hotline sent to them would be queued there, so a
//! non-blocking read that finds nothing is the proof, with no wait. Where a
//! window is needed (no RTP *before* the ACK), the ACK is held back for it.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::daemon::Daemon;
use common::sip_peer::{Leg, SipPeer};
use hotline::media::codec::Codec;
use hotline::media::ports::PortAllocator;
use hotline::media::rtp::{self, RtpHeader};
use hotline::media::session::{self, MediaEvent, PeerRules, RemotePolicy, SessionConfig};
use hotline::sip::message::Response;
use tokio::net::UdpSocket;

const S: Duration = Duration::from_secs(5);
const QUICK: &str = "[answer]\nafter_rings = 0\n";
const EVENT_PT: u8 = 101;
const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const STRANGER_IP: &str = "127.0.0.2";
/// How long hotline would have been sending by then, were it going to.
const WINDOW: Duration = Duration::from_millis(1500);

fn sdp(addr: &str, port: u16, direction: &str) -> String {
    format!(
        "v=0\r\no=t 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na={direction}\r\n"
    )
}

/// Hotline's RTP port, from the SDP of its 200.
fn rtp_port(ok: &Response) -> u16 {
    String::from_utf8_lossy(&ok.body)
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("m=audio in the answer")
}

fn audio(seq: u16, ssrc: u32) -> Vec<u8> {
    let h = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc,
    };
    let mut buf = vec![0u8; 12 + 160];
    let n = rtp::write_packet(&h, &[0xFF; 160], &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A whole RFC 4733 key press (start, update, three ends) for `event`.
async fn key_press(from: &UdpSocket, to: SocketAddr, event: u8, ts: u32, ssrc: u32) {
    let mut buf = [0u8; 16];
    for (i, (end, dur)) in [
        (false, 160u16),
        (false, 480),
        (true, 800),
        (true, 800),
        (true, 800),
    ]
    .into_iter()
    .enumerate()
    {
        let h = RtpHeader {
            marker: i == 0,
            payload_type: EVENT_PT,
            sequence: (ts / 160) as u16 + i as u16,
            timestamp: ts,
            ssrc,
        };
        let d = dur.to_be_bytes();
        let payload = [event, if end { 0x8A } else { 0x0A }, d[0], d[1]];
        let n = rtp::write_packet(&h, &payload, &mut buf).unwrap();
        from.send_to(&buf[..n], to).await.unwrap();
    }
}

/// Whether anything is queued on `sock` (what hotline sent it so far).
fn got_anything(sock: &UdpSocket) -> bool {
    let mut buf = [0u8; 1500];
    sock.try_recv_from(&mut buf).is_ok()
}

/// The first RTP packet hotline sends to `sock`, within `limit`.
async fn first_rtp(sock: &UdpSocket, limit: Duration) -> Option<SocketAddr> {
    let mut buf = [0u8; 1500];
    let (n, from) = tokio::time::timeout(limit, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    rtp::parse(&buf[..n]).ok().map(|_| from)
}

async fn invite(peer: &SipPeer, sdp: &str) -> (Leg, Response) {
    let mut leg = Leg::new();
    peer.send(&peer.invite_with(&leg, "", sdp)).await;
    let ok = peer.until_status(200, S).await.expect("200 OK");
    leg.to_tag = ok.to_tag().map(|t| t.0);
    (leg, ok)
}

/// The session's one log line about dropped strangers' packets.
fn dropped_logged(d: &Daemon, call_id: &str) -> usize {
    d.count(|l| l.contains(call_id) && l.contains("RTP from an address the call does not name"))
}

fn digits_of(d: &Daemon, call_id: &str, digit: char) -> usize {
    d.count(|l| l.contains(call_id) && l.contains(&format!("DTMF digit={digit} ")))
}

#[tokio::test]
async fn a_stranger_neither_presses_keys_nor_hears_the_call_before_or_after_the_callers_first_packet(
) {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = UdpSocket::bind((STRANGER_IP, 0)).await.unwrap();
    let offer = sdp("127.0.0.1", phone.local_addr().unwrap().port(), "sendrecv");
    let (leg, ok) = invite(&peer, &offer).await;
    let hotline = SocketAddr::new(LO, rtp_port(&ok));
    peer.send(&peer.ack(&leg)).await;
    // The greeting reaches the phone: the media session runs.
    assert_eq!(first_rtp(&phone, S).await, Some(hotline));

    // Before the caller's first packet: the stranger's audio and key.
    for seq in 0..5 {
        stranger.send_to(&audio(seq, 0xBAD), hotline).await.unwrap();
    }
    key_press(&stranger, hotline, 9, 16_000, 0xBAD).await;

    // The caller's first packets (after the stranger's: one socket, and
    // loopback keeps the order) latch, and its key counts.
    phone.send_to(&audio(100, 0xCA11), hotline).await.unwrap();
    key_press(&phone, hotline, 1, 32_000, 0xCA11).await;
    d.wait_line(
        |l| l.contains(&leg.call_id) && l.contains("DTMF digit=1 "),
        S,
    )
    .await;

    // After it: the stranger again, then the caller's next key, which
    // arrives after the stranger's (one socket, loopback keeps the order).
    key_press(&stranger, hotline, 9, 48_000, 0xBAD).await;
    for seq in 10..15 {
        stranger.send_to(&audio(seq, 0xBAD), hotline).await.unwrap();
    }
    key_press(&phone, hotline, 2, 64_000, 0xCA11).await;
    d.wait_line(
        |l| l.contains(&leg.call_id) && l.contains("DTMF digit=2 "),
        S,
    )
    .await;

    assert_eq!(
        digits_of(&d, &leg.call_id, '9'),
        0,
        "no key of the stranger's"
    );
    assert_eq!(dropped_logged(&d, &leg.call_id), 1, "dropped, said once");
    assert!(
        !got_anything(&stranger),
        "the stranger received nothing from hotline"
    );
    assert!(
        first_rtp(&phone, S).await.is_some(),
        "the caller still hears"
    );
}

#[tokio::test]
async fn after_a_re_invite_to_a_new_address_a_stranger_still_cannot_latch() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let moved = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let stranger = UdpSocket::bind((STRANGER_IP, 0)).await.unwrap();
    let offer = sdp("127.0.0.1", phone.local_addr().unwrap().port(), "sendrecv");
    let (mut leg, ok) = invite(&peer, &offer).await;
    let hotline = SocketAddr::new(LO, rtp_port(&ok));
    peer.send(&peer.ack(&leg)).await;
    phone.send_to(&audio(1, 0xCA11), hotline).await.unwrap();
    assert_eq!(first_rtp(&phone, S).await, Some(hotline));

    // The phone moves its media to 127.0.0.3: latching starts over there.
    leg.cseq += 1;
    leg.branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
    let reoffer = sdp("127.0.0.3", moved.local_addr().unwrap().port(), "sendrecv")
        .replace("o=t 1 1", "o=t 1 2");
    peer.send(&peer.invite_with(&leg, "", &reoffer)).await;
    peer.until_status(200, S)
        .await
        .expect("200 to the re-INVITE");
    peer.send(&peer.ack(&leg)).await;
    // RTP at the new address: the session has taken the move.
    assert_eq!(
        first_rtp(&moved, S).await,
        Some(hotline),
        "media follows the move"
    );
    key_press(&stranger, hotline, 9, 16_000, 0xBAD).await;
    moved.send_to(&audio(2, 0xCA12), hotline).await.unwrap();
    key_press(&moved, hotline, 4, 32_000, 0xCA12).await;
    key_press(&stranger, hotline, 9, 48_000, 0xBAD).await;
    key_press(&moved, hotline, 6, 64_000, 0xCA12).await;
    d.wait_line(
        |l| l.contains(&leg.call_id) && l.contains("DTMF digit=6 "),
        S,
    )
    .await;
    assert_eq!(digits_of(&d, &leg.call_id, '4'), 1);
    assert_eq!(
        digits_of(&d, &leg.call_id, '9'),
        0,
        "no key of the stranger's"
    );
    assert_eq!(dropped_logged(&d, &leg.call_id), 1, "dropped, said once");
    assert!(!got_anything(&stranger));
}

#[tokio::test]
async fn rtp_ports_of_consecutive_calls_are_not_in_sequence() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let mut ports = Vec::new();
    for _ in 0..6 {
        let (leg, ok) = invite(&peer, &sdp("127.0.0.1", 40_010, "sendrecv")).await;
        peer.send(&peer.ack(&leg)).await;
        ports.push(rtp_port(&ok));
    }
    // Handed out in order, every step would be +2; drawn at random from
    // the 5000 even ports of the default range, a step of 2 either way has
    // a chance of 1 in 2500.
    let steps = ports
        .windows(2)
        .filter(|w| w[0].abs_diff(w[1]) == 2)
        .count();
    assert!(steps <= 1, "guessable ports: {ports:?}");
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ports.len(), "{ports:?}");
}

#[tokio::test]
async fn multicast_broadcast_and_zero_connection_addresses_get_488_with_a_warning() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    for (addr, direction, warn) in [
        ("224.0.0.1", "sendrecv", "330 hotline"),
        ("239.255.255.250", "sendrecv", "330 hotline"),
        ("255.255.255.255", "sendrecv", "399 hotline"),
        ("0.0.0.0", "sendrecv", "399 hotline"),
        ("0.0.0.0", "recvonly", "399 hotline"),
    ] {
        let leg = Leg::new();
        peer.send(&peer.invite_with(&leg, "", &sdp(addr, 40_010, direction)))
            .await;
        let r = loop {
            let r = peer.response(S).await.expect("a final response");
            // Skip provisionals and a retransmitted answer to an earlier case.
            if r.status >= 200 && r.headers.get("Call-ID") == Some(leg.call_id.as_str()) {
                break r;
            }
        };
        assert_eq!(
            r.status, 488,
            "c={addr} {direction}: {} {}",
            r.status, r.reason
        );
        let w = r
            .headers
            .get("Warning")
            .unwrap_or_else(|| panic!("c={addr}: no Warning"));
        assert!(w.starts_with(warn) && w.contains(addr), "c={addr}: {w}");
    }
    // Hold from the start (RFC 3264 §8.4): answered, nothing sent.
    let (leg, ok) = invite(&peer, &sdp("0.0.0.0", 40_010, "sendonly")).await;
    assert!(String::from_utf8_lossy(&ok.body).contains("a=recvonly"));
    peer.send(&peer.ack(&leg)).await;
}

/// A caller whose SDP names a third party on 127.0.0.2 (what a forged
/// INVITE would do): returns the call, the third party's socket and the
/// caller's own RTP socket. The ACK is not sent yet.
async fn call_naming_a_third_party(d: &Daemon) -> (SipPeer, Leg, SocketAddr, UdpSocket, UdpSocket) {
    let peer = SipPeer::new(d.sip).await;
    let third = UdpSocket::bind((STRANGER_IP, 0)).await.unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let offer = sdp(STRANGER_IP, third.local_addr().unwrap().port(), "sendrecv");
    let (leg, ok) = invite(&peer, &offer).await;
    let hotline = SocketAddr::new(LO, rtp_port(&ok));
    (peer, leg, hotline, third, phone)
}

#[tokio::test]
async fn an_sdp_address_other_than_the_signalling_source_gets_no_rtp_before_the_ack() {
    let d = Daemon::start(QUICK).await;
    let (peer, leg, hotline, third, _phone) = call_naming_a_third_party(&d).await;
    assert!(
        first_rtp(&third, WINDOW).await.is_none(),
        "RTP reflected to the third party before any ACK"
    );
    // The default (`any`): once the dialog is confirmed, the SDP address
    // is where the caller's media goes.
    peer.send(&peer.ack(&leg)).await;
    assert_eq!(first_rtp(&third, S).await, Some(hotline));
}

#[tokio::test]
async fn with_strict_remote_address_media_goes_only_to_the_signalling_source() {
    let d = Daemon::start(
        "[answer]\nafter_rings = 0\n[media]\nremote_address = \"signalling_source\"\n",
    )
    .await;
    let (peer, leg, hotline, third, phone) = call_naming_a_third_party(&d).await;
    assert!(
        first_rtp(&third, WINDOW).await.is_none(),
        "no RTP before the ACK"
    );
    peer.send(&peer.ack(&leg)).await;
    // The third party may not latch either.
    third.send_to(&audio(1, 0x3D), hotline).await.unwrap();
    d.wait_line(
        |l| l.contains(&leg.call_id) && l.contains("RTP from an address the call does not name"),
        S,
    )
    .await;
    // Media goes back to where the caller's RTP comes from (its
    // signalling address's IP).
    phone.send_to(&audio(1, 0xCA11), hotline).await.unwrap();
    assert_eq!(first_rtp(&phone, S).await, Some(hotline));
    assert!(!got_anything(&third), "nothing ever went to the SDP's IP");
}

#[tokio::test]
async fn a_session_with_a_stranger_on_another_loopback_address() {
    // The media session alone, with the rules a call gives it: a stranger
    // on 127.0.0.2 sends a key before and after the caller's first packet.
    let probe = std::net::UdpSocket::bind((LO, 0)).unwrap();
    let first = probe.local_addr().unwrap().port().min(60000) & !1;
    let ports = PortAllocator::new(LO, first, first + 63).unwrap();
    let port = ports.allocate().unwrap();
    let hotline = port.local_addr().unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = UdpSocket::bind((STRANGER_IP, 0)).await.unwrap();
    let config = SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(EVENT_PT),
        remote: phone.local_addr().unwrap(),
        rtp_timeout: session::DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    };
    let rules = PeerRules::new(LO, RemotePolicy::Any, true);
    let mut media = session::spawn_with(port, &config, rules).unwrap();
    key_press(&stranger, hotline, 9, 16_000, 0xBAD).await;
    phone.send_to(&audio(1, 0xCA11), hotline).await.unwrap();
    key_press(&stranger, hotline, 8, 32_000, 0xBAD).await;
    key_press(&phone, hotline, 5, 48_000, 0xCA11).await;
    let ev = tokio::time::timeout(S, media.events.recv())
        .await
        .unwrap()
        .unwrap();
    let MediaEvent::Digit(d) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(d.digit, '5', "the first digit is the caller's");
    media.handle.close().await.unwrap();
    let report = tokio::time::timeout(S, media.task).await.unwrap().unwrap();
    assert_eq!(
        report.received.foreign, 10,
        "both of the stranger's presses"
    );
    assert_eq!(report.received.packets, 6);
    assert!(!got_anything(&stranger));
}

#[tokio::test]
async fn what_reached_the_port_while_it_rang_is_discarded_unread() {
    // The port is bound from before ringing (so that a call without one
    // gets 503 at once); nobody entitled to send there knew it until our
    // 200, so what queued meanwhile is dropped, even from the caller's IP.
    let probe = std::net::UdpSocket::bind((LO, 0)).unwrap();
    let first = probe.local_addr().unwrap().port().min(60000) & !1;
    let ports = PortAllocator::new(LO, first, first + 63).unwrap();
    let port = ports.allocate().unwrap();
    let hotline = port.local_addr().unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = UdpSocket::bind((STRANGER_IP, 0)).await.unwrap();
    key_press(&stranger, hotline, 9, 16_000, 0xBAD).await;
    key_press(&phone, hotline, 8, 16_000, 0xBAD).await;
    let config = SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(EVENT_PT),
        remote: phone.local_addr().unwrap(),
        rtp_timeout: session::DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    };
    let rules = PeerRules::new(LO, RemotePolicy::Any, false);
    let mut media = session::spawn_with(port, &config, rules).unwrap();
    key_press(&phone, hotline, 5, 48_000, 0xCA11).await;
    let ev = tokio::time::timeout(S, media.events.recv())
        .await
        .unwrap()
        .unwrap();
    let MediaEvent::Digit(d) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(d.digit, '5', "nothing from before the session counts");
    media.handle.close().await.unwrap();
    let report = tokio::time::timeout(S, media.task).await.unwrap().unwrap();
    assert_eq!(report.stale, 10);
    assert_eq!(report.received.packets, 5);
}

#[test]
fn remote_address_takes_any_or_signalling_source_and_names_the_key_otherwise() {
    let path = std::path::Path::new("hotline.toml");
    let ok = hotline::config::parse_str("[media]\nremote_address = \"signalling_source\"\n", path)
        .unwrap();
    assert_eq!(
        ok.media.remote_address,
        hotline::config::RemoteAddress::SignallingSource
    );
    let default = hotline::config::parse_str("", path).unwrap();
    assert_eq!(
        default.media.remote_address,
        hotline::config::RemoteAddress::Any
    );
    let err = hotline::config::parse_str("[media]\nremote_address = \"strict\"\n", path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("media.remote_address") && err.contains("signalling_source"),
        "{err}"
    );
}
