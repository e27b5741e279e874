//! SIP and media features a real hotline meets: TCP and IPv6, session
//! timers, late offer, multipart bodies, trusted caller identity and
//! privacy, SIP INFO and in-band key presses, and configuration reload.

mod common;

use std::time::Duration;

use common::daemon::Daemon;
use common::sip_peer::{Leg, SipPeer, SDP};
use hotline::media::codec::Codec;
use hotline::media::rtp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

const S: Duration = Duration::from_secs(5);
const QUICK: &str = "[answer]\nafter_rings = 0\n";

/// Place a call with `extra` headers and confirm it.
async fn establish(peer: &SipPeer, extra: &str, sdp: &str) -> Leg {
    let mut leg = Leg::new();
    peer.send(&peer.invite_with(&leg, extra, sdp)).await;
    let ok = peer.until_status(200, S).await.expect("200 OK");
    leg.to_tag = ok.to_tag().map(|t| t.0);
    peer.send(&peer.ack(&leg)).await;
    leg
}

#[tokio::test]
async fn tcp_and_ipv6_are_served() {
    let d = Daemon::start(QUICK).await;
    let mut tcp = tokio::net::TcpStream::connect(d.sip).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:hotline@{s} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcp1\r\nMax-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=a\r\nTo: <sip:hotline@{s}>\r\nCall-ID: tcp-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        s = d.sip
    );
    tcp.write_all(options.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(S, tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );

    let (_, url) = common::shared().fresh_db().await;
    let d6 = Daemon::start_on(QUICK, url, "[::1]:0");
    assert!(d6.sip.is_ipv6());
    let peer = SipPeer::new(d6.sip).await;
    let leg = establish(&peer, "", SDP).await;
    assert!(leg.to_tag.is_some());
}

#[tokio::test]
async fn session_timers_are_honoured_when_the_caller_asks() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let leg = Leg::new();
    peer.send(&peer.invite(
        &leg,
        "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
    ))
    .await;
    let ok = peer.until_status(200, S).await.unwrap();
    let se = ok
        .headers
        .get("Session-Expires")
        .expect("Session-Expires in the 200");
    assert!(
        se.starts_with("1800") && se.contains("refresher=uac"),
        "{se}"
    );
    assert!(ok
        .headers
        .get("Require")
        .is_some_and(|r| r.contains("timer")));
    // Too short an interval is refused with 422 and our Min-SE.
    peer.send(&peer.invite(&Leg::new(), "Supported: timer\r\nSession-Expires: 30\r\n"))
        .await;
    let r = peer.until_status(422, S).await.expect("422 for 30 s");
    assert!(r.headers.get("Min-SE").is_some());
}

#[tokio::test]
async fn a_late_offer_is_made_in_the_200_and_answered_in_the_ack() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let mut leg = Leg::new();
    peer.send(&peer.invite_with(&leg, "", "")).await;
    let ok = peer.until_status(200, S).await.unwrap();
    let offer = String::from_utf8_lossy(&ok.body).into_owned();
    assert!(
        offer.contains("m=audio") && offer.contains("RTP/AVP"),
        "{offer}"
    );
    leg.to_tag = ok.to_tag().map(|t| t.0);
    peer.send(&peer.ack_with(&leg, SDP)).await;
    // The answer in the ACK completes the negotiation: media starts.
    d.wait_line(
        |l| l.contains(&leg.call_id) && l.contains("playback done"),
        Duration::from_secs(20),
    )
    .await;
}

#[tokio::test]
async fn a_multipart_body_carrying_sdp_is_accepted() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let leg = Leg::new();
    let body = format!(
        "--b1\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--b1\r\nContent-Type: application/isup\r\n\r\nxyz\r\n--b1--\r\n"
    );
    let text = peer.invite_with(&leg, "", &body).replace(
        "Content-Type: application/sdp\r\nContent-Length",
        "Content-Type: multipart/mixed;boundary=b1\r\nContent-Length",
    );
    peer.send(&text).await;
    assert!(peer.until_status(200, S).await.is_some());
}

#[tokio::test]
async fn caller_identity_trusts_pai_only_from_trusted_peers_and_keeps_privacy() {
    let pai = "P-Asserted-Identity: \"Front Desk\" <sip:+15550001111@127.0.0.1>\r\n";
    let untrusted = Daemon::start(QUICK).await;
    let peer = SipPeer::new(untrusted.sip).await;
    let leg = establish(&peer, pai, SDP).await;
    let line = untrusted
        .wait_line(
            |l| l.contains(&leg.call_id) && l.contains("incoming call"),
            S,
        )
        .await;
    assert!(
        line.contains("identity=From") && line.contains("caller=5551234"),
        "{line}"
    );

    let trusted =
        Daemon::start("[answer]\nafter_rings = 0\n[sip]\ntrusted_peers = [\"127.0.0.1\"]\n").await;
    let peer = SipPeer::new(trusted.sip).await;
    let leg = establish(&peer, &format!("{pai}Privacy: id\r\n"), SDP).await;
    let line = trusted
        .wait_line(
            |l| l.contains(&leg.call_id) && l.contains("incoming call"),
            S,
        )
        .await;
    assert!(
        line.contains("caller=+15550001111") && line.contains("private=true"),
        "{line}"
    );
}

#[tokio::test]
async fn sip_info_key_presses_join_the_digit_stream() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let mut leg = establish(&peer, "", SDP).await;
    for (key, ct, body) in [
        (
            "7",
            "application/dtmf-relay",
            "Signal=7\r\nDuration=160\r\n",
        ),
        ("#", "application/dtmf", "#"),
    ] {
        leg.cseq += 1;
        peer.send(&peer.request_with_body("INFO", &leg, ct, body))
            .await;
        assert!(peer.until_status(200, S).await.is_some());
        d.wait_line(
            |l| l.contains(&format!("DTMF digit={key} source=SipInfo")),
            S,
        )
        .await;
    }
}

/// 20 ms PCMU packets of `pcm` to `to`, paced in real time.
async fn send_rtp(
    sock: &UdpSocket,
    to: std::net::SocketAddr,
    pcm: &[i16],
    seq: &mut u16,
    ts: &mut u32,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut payload = [0u8; 160];
    for frame in pcm.chunks(160) {
        tick.tick().await;
        let n = Codec::Pcmu.encode(frame, &mut payload);
        let header = rtp::RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: *seq,
            timestamp: *ts,
            ssrc: 0x1234_5678,
        };
        let mut pkt = [0u8; 12 + 160];
        let len = rtp::write_packet(&header, &payload[..n], &mut pkt).unwrap();
        let _ = sock.send_to(&pkt[..len], to).await;
        *seq = seq.wrapping_add(1);
        *ts = ts.wrapping_add(160);
    }
}

fn tone(low: f64, high: f64, ms: usize) -> Vec<i16> {
    (0..ms * 8)
        .map(|n| {
            let t = n as f64 / 8000.0;
            (6000.0
                * ((2.0 * std::f64::consts::PI * low * t).sin()
                    + (2.0 * std::f64::consts::PI * high * t).sin())) as i16
        })
        .collect()
}

#[tokio::test]
async fn in_band_tones_are_heard_and_speech_is_not_a_digit() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // PCMU only, no telephone-event: the daemon must listen in-band.
    let sdp = format!(
        "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=sendrecv\r\n",
        rtp.local_addr().unwrap().port()
    );
    let mut leg = Leg::new();
    peer.send(&peer.invite_with(&leg, "", &sdp)).await;
    let ok = peer.until_status(200, S).await.unwrap();
    leg.to_tag = ok.to_tag().map(|t| t.0);
    peer.send(&peer.ack(&leg)).await;
    let answer = String::from_utf8_lossy(&ok.body).into_owned();
    assert!(!answer.contains("telephone-event"), "{answer}");
    let port: u16 = answer
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let to: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let (mut seq, mut ts) = (1000u16, 0u32);
    // Speech (an espeak-ng prompt) first: it must produce no digit.
    let mut speech = hound::WavReader::open("prompts/en/severity-menu.wav").unwrap();
    let speech: Vec<i16> = speech.samples::<i16>().map(|s| s.unwrap()).collect();
    send_rtp(
        &rtp,
        to,
        &speech[..speech.len().min(8000 * 4)],
        &mut seq,
        &mut ts,
    )
    .await;
    // Then "4" (770 + 1209 Hz) and "2" (697 + 1336 Hz), 100 ms each.
    let mut keys = tone(770.0, 1209.0, 100);
    keys.extend(vec![0i16; 800]);
    keys.extend(tone(697.0, 1336.0, 100));
    keys.extend(vec![0i16; 1600]);
    send_rtp(&rtp, to, &keys, &mut seq, &mut ts).await;
    d.wait_line(|l| l.contains("DTMF digit=2 source=InBand"), S)
        .await;
    let digits: Vec<String> = d
        .logs()
        .iter()
        .filter_map(|l| l.split("DTMF digit=").nth(1).map(|r| r[..1].to_string()))
        .collect();
    assert_eq!(
        digits,
        ["4", "2"],
        "speech produced no digit, the tones did"
    );
}

#[tokio::test]
async fn sighup_applies_a_valid_configuration_to_new_calls_and_refuses_a_bad_one() {
    let d = Daemon::start(QUICK).await;
    std::fs::write(
        d.config_path(),
        "[answer]\nafter_rings = 1\nring_period = \"1s\"\n",
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    d.wait_line(|l| l.contains("configuration reloaded"), S)
        .await;
    let peer = SipPeer::new(d.sip).await;
    let leg = Leg::new();
    let sent = std::time::Instant::now();
    peer.send(&peer.invite(&leg, "")).await;
    peer.until_status(200, S).await.unwrap();
    assert!(
        sent.elapsed() >= Duration::from_millis(950),
        "the new ring setting applies"
    );

    std::fs::write(d.config_path(), "[answer]\nafter_rings = 9\n").unwrap();
    d.signal(libc::SIGHUP);
    d.wait_line(|l| l.contains("reload refused"), S).await;
    // The refusal names the key (the problem list follows on its own lines).
    d.wait_line(|l| l.contains("key `answer.after_rings`"), S)
        .await;
    // A fresh caller, so no retransmitted 200 of the first call is seen.
    let peer = SipPeer::new(d.sip).await;
    let leg = Leg::new();
    let sent = std::time::Instant::now();
    peer.send(&peer.invite(&leg, "")).await;
    peer.until_status(200, S).await.unwrap();
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(3),
        "the last good setting stays: {took:?}"
    );
}

fn sdp_with(port: u16, formats: &str, direction: &str) -> String {
    format!("v=0\r\no=t 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n")
}

fn m_line(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn reinvites_put_on_hold_resume_and_change_codec() {
    let d = Daemon::start(QUICK).await;
    let peer = SipPeer::new(d.sip).await;
    let mut leg = establish(&peer, "", &sdp_with(40010, "0 8 101", "sendrecv")).await;
    let reinvite = |sdp: String, leg: &mut Leg| {
        leg.cseq += 1;
        leg.branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
        peer.invite_with(leg, "", &sdp)
            .replace("CSeq: 1 INVITE", &format!("CSeq: {} INVITE", leg.cseq))
    };
    for (direction, expected) in [
        ("sendonly", "a=recvonly"),
        ("inactive", "a=inactive"),
        ("sendrecv", "a=sendrecv"),
    ] {
        let text = reinvite(sdp_with(40010, "0 8 101", direction), &mut leg);
        peer.send(&text).await;
        let ok = peer
            .until_status(200, S)
            .await
            .expect("200 to the re-INVITE");
        let body = String::from_utf8_lossy(&ok.body).into_owned();
        assert!(
            body.contains(expected),
            "{direction} answered with:\n{body}"
        );
        peer.send(&peer.ack(&leg)).await;
    }
    // Codec change: PCMA only now; the answer names PCMA (payload 8).
    let text = reinvite(sdp_with(40010, "8 101", "sendrecv"), &mut leg);
    peer.send(&text).await;
    let ok = peer.until_status(200, S).await.unwrap();
    let m = m_line(&ok.body);
    assert!(m.contains(" 8"), "{m}");
    assert!(!m.contains(" 0 ") && !m.ends_with(" 0"), "{m}");
    peer.send(&peer.ack(&leg)).await;
    d.wait_line(|l| l.contains("media restarted for the new codec"), S)
        .await;
}

#[tokio::test]
async fn no_common_codec_is_488_and_no_free_rtp_port_is_503() {
    let d =
        Daemon::start("[answer]\nafter_rings = 0\n[media]\nrtp_ports = \"31000-31002\"\n").await;
    let peer = SipPeer::new(d.sip).await;
    // G.722 only (payload 9): nothing we speak.
    peer.send(&peer.invite_with(&Leg::new(), "", &sdp_with(40010, "9", "sendrecv")))
        .await;
    assert!(
        peer.until_status(488, S).await.is_some(),
        "488 for no common codec"
    );
    // The range holds one call: the second caller hears 503 at once.
    let _first = establish(&peer, "", SDP).await;
    let other = SipPeer::new(d.sip).await;
    other.send(&other.invite(&Leg::new(), "")).await;
    let r = other
        .until_status(503, S)
        .await
        .expect("503 when no RTP port is free");
    assert!(r.headers.get("Retry-After").is_some());
}

#[tokio::test]
async fn a_caller_that_sends_no_rtp_is_hung_up_on() {
    let d = Daemon::start("[answer]\nafter_rings = 0\n[media]\nrtp_timeout = \"2s\"\n").await;
    let peer = SipPeer::new(d.sip).await;
    let leg = establish(&peer, "", SDP).await;
    let bye = peer
        .request(Duration::from_secs(10))
        .await
        .expect("BYE after the RTP timeout");
    assert_eq!(bye.call_id().as_str(), leg.call_id);
    peer.answer(&bye).await;
    d.wait_line(
        |l| l.contains(&leg.call_id) && l.contains("reason=rtp_timeout"),
        S,
    )
    .await;
}
