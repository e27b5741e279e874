//! A media session on 127.0.0.1 playing real prompts to a plain UDP socket
//! acting as the caller. Packet count, sequence, timestamps and marker bits
//! are asserted exactly; timing only within generous bounds (CI machines are
//! loaded); the audio must correlate with the prompt WAVs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::media::codec::Codec;
use hotline::media::dtmf::DtmfSource;
use hotline::media::ports::PortAllocator;
use hotline::media::prompt::Prompt;
use hotline::media::rtp::{self, RtpHeader};
use hotline::media::session::{self, MediaEvent, SessionConfig, DEFAULT_RTP_TIMEOUT};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const EVENT_PT: u8 = 101;
/// Far beyond any normal delay: only a hang trips it.
const PATIENCE: Duration = Duration::from_secs(20);

fn prompt(name: &str) -> Arc<Prompt> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("prompts")
        .join(format!("{name}.wav"));
    Arc::new(Prompt::load(name, &path).expect("shipped prompt"))
}

fn allocator() -> PortAllocator {
    let probe = std::net::UdpSocket::bind((LO, 0)).unwrap();
    let first = probe.local_addr().unwrap().port().min(60000) & !1;
    PortAllocator::new(LO, first, first + 63).unwrap()
}

fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

async fn send_key_press(caller: &UdpSocket, to: SocketAddr, event: u8) {
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
            sequence: 500 + i as u16,
            timestamp: 16_000,
            ssrc: 0xCA11,
        };
        let d = dur.to_be_bytes();
        let payload = [event, if end { 0x8A } else { 0x0A }, d[0], d[1]];
        let n = rtp::write_packet(&h, &payload, &mut buf).unwrap();
        caller.send_to(&buf[..n], to).await.unwrap();
    }
}

#[tokio::test]
async fn a_session_plays_prompts_to_the_caller_paced_and_continuous() {
    let ports = allocator();
    let port = ports.allocate().unwrap();
    let local = port.local_addr().unwrap();
    let caller = UdpSocket::bind((LO, 0)).await.unwrap();
    // The SDP names an address the caller never uses (a NAT in between).
    let sdp_addr = std::net::UdpSocket::bind((LO, 0)).unwrap();
    sdp_addr.set_nonblocking(true).unwrap();
    let config = SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(EVENT_PT),
        remote: sdp_addr.local_addr().unwrap(),
        rtp_timeout: DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    };
    let mut media = session::spawn(port, &config).unwrap();
    assert_eq!(ports.in_use(), 1);

    // A key press from the caller: one digit, and the session latches.
    send_key_press(&caller, local, 9).await;
    let ev = timeout(PATIENCE, media.events.recv())
        .await
        .unwrap()
        .unwrap();
    let MediaEvent::Digit(d) = ev else {
        panic!("expected a digit, got {ev:?}")
    };
    assert_eq!((d.digit, d.source), ('9', DtmfSource::Rfc4733));

    let prompts = [prompt("en/digit-5"), prompt("beep")];
    let pcm: Vec<i16> = prompts.iter().flat_map(|p| p.pcm().to_vec()).collect();
    let expected_packets = pcm.len().div_ceil(160);
    media.handle.play(prompts.to_vec(), false).await.unwrap();

    let mut buf = [0u8; 1500];
    let mut got = Vec::new();
    while got.len() < expected_packets {
        let (n, from) = timeout(PATIENCE, caller.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(from, local, "RTP comes from the allocated port");
        let p = rtp::parse(&buf[..n]).unwrap();
        got.push((Instant::now(), p.header, p.payload.to_vec()));
    }
    let done = timeout(PATIENCE, media.events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        done,
        MediaEvent::PlaybackDone { interrupted: false }
    ));

    let first = got[0].1;
    assert!(first.marker, "the talkspurt starts with the marker bit");
    for (i, (_, h, payload)) in got.iter().enumerate() {
        assert_eq!(h.payload_type, 0);
        assert_eq!(h.ssrc, first.ssrc);
        assert_eq!(
            h.sequence,
            first.sequence.wrapping_add(i as u16),
            "packet {i}"
        );
        assert_eq!(h.timestamp, first.timestamp.wrapping_add(160 * i as u32));
        assert_eq!(h.marker, i == 0);
        assert_eq!(payload.len(), 160);
    }
    // Timing, loosely: absolute pacing cannot run ahead of the schedule by
    // more than the first packet's lateness, and must not crawl.
    let span = got.last().unwrap().0 - got[0].0;
    let schedule = Duration::from_millis(20 * (expected_packets as u64 - 1));
    assert!(
        span >= schedule.mul_f64(0.9),
        "{span:?} for a {schedule:?} schedule"
    );
    assert!(
        span <= schedule + Duration::from_secs(3),
        "{span:?} for a {schedule:?} schedule"
    );

    let payload: Vec<u8> = got.iter().flat_map(|g| g.2.clone()).collect();
    let mut heard = vec![0i16; payload.len()];
    Codec::Pcmu.decode(&payload, &mut heard);
    let r = correlation(&heard[..pcm.len()], &pcm);
    assert!(
        r > 0.99,
        "received audio correlates {r:.4} with the prompts"
    );
    assert!(
        heard[pcm.len()..].iter().all(|s| s.abs() < 8),
        "tail padded with silence"
    );

    // Nothing went to the SDP address once the source latched.
    let mut probe = [0u8; 64];
    assert!(sdp_addr.recv_from(&mut probe).is_err());

    media.handle.close().await.unwrap();
    let report = timeout(PATIENCE, media.task).await.unwrap().unwrap();
    assert_eq!(report.sent, expected_packets as u64);
    assert_eq!(report.received.packets, 5);
    assert_eq!(report.lateness.count(), expected_packets as u64);
    assert_eq!(ports.in_use(), 0, "the port is free once the session ended");
}

#[tokio::test]
async fn dropping_every_handle_ends_the_session() {
    let ports = allocator();
    let port = ports.allocate().unwrap();
    let config = SessionConfig {
        codec: Codec::Pcma,
        payload_type: 8,
        telephone_event: None,
        remote: SocketAddr::from((LO, 9)),
        rtp_timeout: DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    };
    let media = session::spawn(port, &config).unwrap();
    drop(media.handle);
    let report = timeout(PATIENCE, media.task).await.unwrap().unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(ports.in_use(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_silent_caller_times_out_after_thirty_seconds_of_driven_time() {
    let ports = allocator();
    let port = ports.allocate().unwrap();
    let config = SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(EVENT_PT),
        remote: SocketAddr::from((LO, 9)),
        rtp_timeout: DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    };
    let t0 = tokio::time::Instant::now();
    let mut media = session::spawn(port, &config).unwrap();
    let ev = media.events.recv().await.unwrap();
    let MediaEvent::RtpTimeout { silent_for } = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(silent_for, DEFAULT_RTP_TIMEOUT);
    assert_eq!(
        t0.elapsed(),
        DEFAULT_RTP_TIMEOUT,
        "reported at the deadline"
    );
    media.handle.close().await.unwrap();
    media.task.await.unwrap();
}
