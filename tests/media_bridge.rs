//! Two media sessions bridged on 127.0.0.1, with plain UDP sockets as the
//! caller's phone and the agent's softphone. Audio must correlate end to
//! end, numbering must stay continuous on each leg, keys must cross with
//! the other leg's payload type, and the stereo recording must hold the
//! caller left and the agent right.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hotline::media::codec::Codec;
use hotline::media::dtmf::{DtmfDigit, DtmfSource};
use hotline::media::ports::PortAllocator;
use hotline::media::prompt::Prompt;
use hotline::media::record::Layout;
use hotline::media::rtp::{self, RtpHeader};
use hotline::media::session::{
    self, BridgeEnd, MediaCommand, MediaEvent, MediaSession, SessionConfig, DEFAULT_RTP_TIMEOUT,
};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PATIENCE: Duration = Duration::from_secs(20);

fn allocator() -> PortAllocator {
    let probe = std::net::UdpSocket::bind((LO, 0)).unwrap();
    let first = probe.local_addr().unwrap().port().min(60000) & !1;
    PortAllocator::new(LO, first, first + 63).unwrap()
}

fn prompt(name: &str) -> Arc<Prompt> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("prompts")
        .join(format!("{name}.wav"));
    Arc::new(Prompt::load(name, &path).expect("shipped prompt"))
}

/// A phone: its socket and the session it talks to.
struct Phone {
    sock: Arc<UdpSocket>,
    media: MediaSession,
    local: SocketAddr,
}

async fn phone(ports: &PortAllocator, codec: Codec, te: Option<u8>) -> Phone {
    let sock = Arc::new(UdpSocket::bind((LO, 0)).await.unwrap());
    let port = ports.allocate().unwrap();
    let config = SessionConfig {
        codec,
        payload_type: codec.payload_type(),
        telephone_event: te,
        remote: sock.local_addr().unwrap(),
        rtp_timeout: DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    };
    let media = session::spawn(port, &config).unwrap();
    let local = media.handle.local_addr();
    Phone { sock, media, local }
}

fn tone(freq: f64, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| (9000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// Send `pcm` as 20 ms packets, paced.
async fn talk(sock: Arc<UdpSocket>, to: SocketAddr, codec: Codec, pcm: Vec<i16>, ssrc: u32) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut buf = [0u8; 172];
    let mut payload = [0u8; 160];
    for (k, frame) in pcm.chunks(160).enumerate() {
        tick.tick().await;
        let n = codec.encode(frame, &mut payload);
        let h = RtpHeader {
            marker: k == 0,
            payload_type: codec.payload_type(),
            sequence: 1000 + k as u16,
            timestamp: 50_000 + 160 * k as u32,
            ssrc,
        };
        let len = rtp::write_packet(&h, &payload[..n], &mut buf).unwrap();
        sock.send_to(&buf[..len], to).await.unwrap();
    }
}

/// Packets received until `quiet` passes without one.
async fn listen(sock: &UdpSocket, quiet: Duration) -> Vec<(RtpHeader, Vec<u8>)> {
    let mut buf = [0u8; 1500];
    let mut got = Vec::new();
    while let Ok(Ok((n, _))) = timeout(quiet, sock.recv_from(&mut buf)).await {
        let p = rtp::parse(&buf[..n]).unwrap();
        got.push((p.header, p.payload.to_vec()));
    }
    got
}

/// Packets received for `span` (a stream that does not stop, e.g. music).
async fn listen_for(sock: &UdpSocket, span: Duration) -> Vec<(RtpHeader, Vec<u8>)> {
    let mut buf = [0u8; 1500];
    let mut got = Vec::new();
    let end = tokio::time::Instant::now() + span;
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(end, sock.recv_from(&mut buf)).await {
        let p = rtp::parse(&buf[..n]).unwrap();
        got.push((p.header, p.payload.to_vec()));
    }
    got
}

fn decode(codec: Codec, packets: &[(RtpHeader, Vec<u8>)], pt: u8) -> Vec<i16> {
    let bytes: Vec<u8> = packets
        .iter()
        .filter(|p| p.0.payload_type == pt)
        .flat_map(|p| p.1.clone())
        .collect();
    let mut pcm = vec![0; bytes.len()];
    codec.decode(&bytes, &mut pcm);
    pcm
}

/// Highest normalised correlation of `heard` with `sent` over lags.
fn best_correlation(heard: &[i16], sent: &[i16]) -> f64 {
    let n = sent.len().min(heard.len());
    (0..=heard.len().saturating_sub(n).min(4000))
        .map(|lag| correlation(&heard[lag..lag + n], &sent[..n]))
        .fold(f64::MIN, f64::max)
}

fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na * nb)
}

/// Share of `pcm`'s energy at `freq` (Goertzel over the whole signal).
fn energy_at(pcm: &[i16], freq: f64) -> f64 {
    let c = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in pcm {
        let s0 = f64::from(x) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - c * s1 * s2;
    let total: f64 = pcm.iter().map(|x| f64::from(*x).powi(2)).sum();
    if total == 0.0 {
        return 0.0;
    }
    2.0 * power / (total * pcm.len() as f64)
}

/// Prime symmetric RTP: each phone sends one packet so its session latches.
async fn hello(p: &Phone, codec: Codec) {
    let mut buf = [0u8; 172];
    let h = RtpHeader {
        marker: true,
        payload_type: codec.payload_type(),
        sequence: 1,
        timestamp: 1,
        ssrc: 1,
    };
    let n = rtp::write_packet(&h, &[codec.silence_byte(); 160], &mut buf).unwrap();
    p.sock.send_to(&buf[..n], p.local).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_crosses_both_ways_between_pcmu_and_pcma() {
    let ports = allocator();
    let caller = phone(&ports, Codec::Pcmu, Some(101)).await;
    let agent = phone(&ports, Codec::Pcma, Some(96)).await;
    // Music on hold, then the agent answers: the bridge stops the music.
    caller
        .media
        .handle
        .play_loop(vec![prompt("beep")])
        .await
        .unwrap();
    let bridge = session::bridge(&caller.media.handle, &agent.media.handle, None)
        .await
        .unwrap();
    let voice_c = tone(440.0, 8000);
    let voice_a = prompt("en/digit-5").pcm().to_vec();
    let t1 = tokio::spawn(talk(
        caller.sock.clone(),
        caller.local,
        Codec::Pcmu,
        voice_c.clone(),
        11,
    ));
    let t2 = tokio::spawn(talk(
        agent.sock.clone(),
        agent.local,
        Codec::Pcma,
        voice_a.clone(),
        22,
    ));
    let (at_agent, at_caller) = tokio::join!(
        listen(&agent.sock, Duration::from_millis(500)),
        listen(&caller.sock, Duration::from_millis(500))
    );
    t1.await.unwrap();
    t2.await.unwrap();
    let heard_by_agent = decode(Codec::Pcma, &at_agent, 8);
    assert!(
        at_agent.iter().all(|p| p.0.payload_type == 8),
        "PCMA on the agent's leg"
    );
    let r = best_correlation(&heard_by_agent, &voice_c);
    assert!(r > 0.98, "the agent hears the caller: {r:.3}");
    // The caller's leg carried the music first, then the agent.
    let relayed: Vec<_> = at_caller
        .iter()
        .filter(|p| p.0.payload_type == 0)
        .cloned()
        .collect();
    let heard_by_caller = decode(Codec::Pcmu, &relayed, 0);
    let r = best_correlation(&heard_by_caller, &voice_a);
    assert!(r > 0.98, "the caller hears the agent: {r:.3}");
    let report = bridge.stop().await;
    assert_eq!(report.end, BridgeEnd::Stopped);
    assert_eq!(report.to_agent, 50);
    assert_eq!(report.to_caller as usize, voice_a.len().div_ceil(160));
    assert!(report.relay_latency.quantile(0.99).unwrap() < Duration::from_millis(5));
    let mut ev = caller.media.events;
    let first = timeout(PATIENCE, ev.recv()).await.unwrap().unwrap();
    assert!(
        matches!(first, MediaEvent::PlaybackDone { interrupted: true }),
        "the bridge stopped the music: {first:?}"
    );
}

/// Every packet a phone got: one SSRC, sequence +1 each, timestamps
/// forward and never more than the elapsed time apart.
fn assert_continuous(packets: &[(RtpHeader, Vec<u8>)]) {
    let ssrc = packets[0].0.ssrc;
    for (i, w) in packets.windows(2).enumerate() {
        assert_eq!(w[1].0.ssrc, ssrc, "one SSRC (packet {i})");
        assert_eq!(
            w[1].0.sequence,
            w[0].0.sequence.wrapping_add(1),
            "no sequence jump at packet {i}"
        );
        let dt = w[1].0.timestamp.wrapping_sub(w[0].0.timestamp) as i32;
        assert!(dt > 0, "timestamps go forward at packet {i}: {dt}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbering_is_continuous_across_prompt_bridge_stop_prompt_bridge() {
    let ports = allocator();
    let caller = phone(&ports, Codec::Pcmu, Some(101)).await;
    let agent = phone(&ports, Codec::Pcmu, Some(101)).await;
    hello(&caller, Codec::Pcmu).await;
    hello(&agent, Codec::Pcmu).await;
    let beep = prompt("beep");
    let collect = {
        let sock = caller.sock.clone();
        tokio::spawn(async move { listen(&sock, Duration::from_millis(1500)).await })
    };
    let agent_side = {
        let sock = agent.sock.clone();
        tokio::spawn(async move { listen(&sock, Duration::from_millis(1500)).await })
    };
    for round in 0..2 {
        caller
            .media
            .handle
            .play(vec![beep.clone()], false)
            .await
            .unwrap();
        agent
            .media
            .handle
            .play(vec![beep.clone()], false)
            .await
            .unwrap();
        tokio::time::sleep(beep.duration() + Duration::from_millis(200)).await;
        let b = session::bridge(&caller.media.handle, &agent.media.handle, None)
            .await
            .unwrap();
        let t1 = talk(
            agent.sock.clone(),
            agent.local,
            Codec::Pcmu,
            tone(300.0, 4000),
            70 + round,
        );
        let t2 = talk(
            caller.sock.clone(),
            caller.local,
            Codec::Pcmu,
            tone(500.0, 4000),
            80 + round,
        );
        tokio::join!(t1, t2);
        // Let the last packets through: what arrives after stop is not relayed.
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.stop().await;
    }
    caller
        .media
        .handle
        .play(vec![beep.clone()], false)
        .await
        .unwrap();
    agent
        .media
        .handle
        .play(vec![beep.clone()], false)
        .await
        .unwrap();
    let got = collect.await.unwrap();
    let agent_got = agent_side.await.unwrap();
    let beeps = beep.pcm().len().div_ceil(160);
    assert_eq!(got.len(), 3 * beeps + 2 * 25, "prompts and relayed voice");
    assert_eq!(agent_got.len(), 3 * beeps + 2 * 25);
    assert_continuous(&got);
    assert_continuous(&agent_got);
    let markers = got.iter().filter(|p| p.0.marker).count();
    assert_eq!(markers, 5, "one talkspurt start per switch");
}

async fn key_press(sock: &UdpSocket, to: SocketAddr, pt: u8, event: u8, ts: u32) {
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
            payload_type: pt,
            sequence: 500 + i as u16,
            timestamp: ts,
            ssrc: 0xD7,
        };
        let d = dur.to_be_bytes();
        let payload = [event, if end { 0x8A } else { 0x0A }, d[0], d[1]];
        let n = rtp::write_packet(&h, &payload, &mut buf).unwrap();
        sock.send_to(&buf[..n], to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn digit(media: &mut MediaSession) -> DtmfDigit {
    loop {
        match timeout(PATIENCE, media.events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            MediaEvent::Digit(d) => return d,
            MediaEvent::PlaybackDone { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_cross_with_each_legs_own_telephone_event_type() {
    let ports = allocator();
    let mut caller = phone(&ports, Codec::Pcmu, Some(101)).await;
    let mut agent = phone(&ports, Codec::Pcma, Some(96)).await;
    hello(&caller, Codec::Pcmu).await;
    hello(&agent, Codec::Pcma).await;
    let b = session::bridge(&caller.media.handle, &agent.media.handle, None)
        .await
        .unwrap();
    // The caller presses 7 (PT 101): the agent's phone gets PT 96.
    key_press(&caller.sock, caller.local, 101, 7, 8000).await;
    let at_agent = listen(&agent.sock, Duration::from_millis(300)).await;
    let events: Vec<_> = at_agent.iter().filter(|p| p.0.payload_type == 96).collect();
    assert_eq!(events.len(), 5, "{at_agent:?}");
    assert!(events.iter().all(|p| p.1[0] == 7));
    assert!(at_agent
        .iter()
        .all(|p| p.0.payload_type == 96 || p.0.payload_type == 8));
    assert_eq!(
        digit(&mut caller.media).await.digit,
        '7',
        "the call task hears it too"
    );
    // The agent presses * then 2 (escalation): the call task gets them from
    // the agent's session, and the caller's phone gets PT 101.
    key_press(&agent.sock, agent.local, 96, 10, 16000).await;
    key_press(&agent.sock, agent.local, 96, 2, 24000).await;
    assert_eq!(digit(&mut agent.media).await.digit, '*');
    assert_eq!(digit(&mut agent.media).await.digit, '2');
    let at_caller = listen(&caller.sock, Duration::from_millis(300)).await;
    let codes: Vec<u8> = at_caller
        .iter()
        .filter(|p| p.0.payload_type == 101)
        .map(|p| p.1[0])
        .collect();
    assert_eq!(codes, [10, 10, 10, 10, 10, 2, 2, 2, 2, 2]);
    // A SIP INFO digit on the agent's leg becomes RFC 4733 on the caller's.
    agent
        .media
        .handle
        .inject_digit(DtmfDigit {
            digit: '9',
            duration_ms: 120,
            source: DtmfSource::SipInfo,
        })
        .await
        .unwrap();
    assert_eq!(digit(&mut agent.media).await.digit, '9');
    let at_caller = listen(&caller.sock, Duration::from_millis(300)).await;
    let generated: Vec<_> = at_caller
        .iter()
        .filter(|p| p.0.payload_type == 101)
        .collect();
    assert_eq!(
        generated.len(),
        6 + 3,
        "120 ms of key, then three end packets"
    );
    assert!(generated.iter().all(|p| p.1[0] == 9));
    assert!(generated[8].1[1] & 0x80 != 0);
    assert_eq!(b.stop().await.keys_generated, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stereo_recording_has_the_caller_left_and_the_agent_right() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1042.wav");
    let ports = allocator();
    let mut caller = phone(&ports, Codec::Pcmu, Some(101)).await;
    let agent = phone(&ports, Codec::Pcma, Some(96)).await;
    let b = session::bridge(
        &caller.media.handle,
        &agent.media.handle,
        Some(path.clone()),
    )
    .await
    .unwrap();
    let t1 = talk(
        caller.sock.clone(),
        caller.local,
        Codec::Pcmu,
        tone(440.0, 16000),
        1,
    );
    let t2 = talk(
        agent.sock.clone(),
        agent.local,
        Codec::Pcma,
        tone(1000.0, 8000),
        2,
    );
    tokio::join!(t1, t2);
    let report = b.stop().await;
    let frames = report.recording.unwrap().frames;
    assert!((95..=110).contains(&frames), "{frames} ticks of 20 ms");
    let done = loop {
        match timeout(PATIENCE, caller.media.events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            MediaEvent::RecordingStopped(r) => break r,
            MediaEvent::Digit(_) | MediaEvent::PlaybackDone { .. } => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(done.path, path);
    assert_eq!(done.layout, Layout::Stereo);
    assert!(done.complete);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut wav = hound::WavReader::open(&path).unwrap();
    assert_eq!(
        (
            wav.spec().channels,
            wav.spec().sample_rate,
            wav.spec().bits_per_sample
        ),
        (2, 8000, 16)
    );
    let s: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(s.len() as u64, 2 * done.frames);
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    assert!(energy_at(&left, 440.0) > 0.9, "caller on the left");
    assert!(energy_at(&left, 1000.0) < 0.05);
    let spoke = &right[400..7600];
    assert!(energy_at(spoke, 1000.0) > 0.9, "agent on the right");
    assert!(energy_at(spoke, 440.0) < 0.05);
    // The agent spoke for the first second only: silence after, aligned.
    let second = &right[9000..15000];
    assert!(
        second.iter().all(|&x| x.abs() < 16),
        "the agent's channel is silent later"
    );
    assert!(best_correlation(&left, &tone(440.0, 8000)) > 0.99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_on_a_full_disk_stops_and_the_call_goes_on() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let ports = allocator();
    let mut caller = phone(&ports, Codec::Pcmu, Some(101)).await;
    let agent = phone(&ports, Codec::Pcmu, Some(101)).await;
    let b = session::bridge(
        &caller.media.handle,
        &agent.media.handle,
        Some("/dev/full".into()),
    )
    .await
    .unwrap();
    let ev = timeout(PATIENCE, caller.media.events.recv())
        .await
        .unwrap()
        .unwrap();
    let MediaEvent::RecordingError(e) = ev else {
        panic!("{ev:?}")
    };
    assert!(e.to_string().contains("No space left"), "{e}");
    talk(
        caller.sock.clone(),
        caller.local,
        Codec::Pcmu,
        tone(440.0, 1600),
        1,
    )
    .await;
    let got = listen(&agent.sock, Duration::from_millis(300)).await;
    assert_eq!(got.len(), 10, "relayed all the same");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_hanging_up_ends_the_bridge_and_the_caller_hears_a_prompt() {
    let ports = allocator();
    let caller = phone(&ports, Codec::Pcmu, Some(101)).await;
    let agent = phone(&ports, Codec::Pcmu, Some(101)).await;
    hello(&caller, Codec::Pcmu).await;
    let b = session::bridge(&caller.media.handle, &agent.media.handle, None)
        .await
        .unwrap();
    // Bridging twice is refused; the first bridge goes on.
    let again = session::bridge(&caller.media.handle, &agent.media.handle, None).await;
    assert!(again.is_err());
    agent.media.handle.send(MediaCommand::Close).await.unwrap();
    let report = timeout(PATIENCE, agent.media.task).await.unwrap().unwrap();
    assert!(report.sent <= 1, "at most the caller's first packet");
    assert_eq!(b.stop().await.end, BridgeEnd::AgentClosed);
    assert_eq!(ports.in_use(), 1, "the agent's port is free");
    let cut = prompt("beep");
    caller
        .media
        .handle
        .play(vec![cut.clone()], false)
        .await
        .unwrap();
    let got = listen(&caller.sock, Duration::from_millis(500)).await;
    assert_eq!(got.len(), cut.pcm().len().div_ceil(160));
    caller.media.handle.close().await.unwrap();
    timeout(PATIENCE, caller.media.task).await.unwrap().unwrap();
    assert_eq!(ports.in_use(), 0);
}

#[tokio::test(start_paused = true)]
async fn rtp_timeouts_are_still_reported_by_each_bridged_leg() {
    let ports = allocator();
    let mut caller = phone(&ports, Codec::Pcmu, Some(101)).await;
    let mut agent = phone(&ports, Codec::Pcma, Some(96)).await;
    let _b = session::bridge(&caller.media.handle, &agent.media.handle, None)
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    for media in [&mut caller.media, &mut agent.media] {
        let ev = media.events.recv().await.unwrap();
        assert!(matches!(ev, MediaEvent::RtpTimeout { .. }), "{ev:?}");
    }
    assert!(t0.elapsed() <= DEFAULT_RTP_TIMEOUT + Duration::from_millis(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_holding_gives_the_caller_music_then_the_voices_return() {
    let ports = allocator();
    let caller = phone(&ports, Codec::Pcmu, Some(101)).await;
    let agent = phone(&ports, Codec::Pcma, Some(96)).await;
    hello(&caller, Codec::Pcmu).await;
    hello(&agent, Codec::Pcma).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = session::bridge(&caller.media.handle, &agent.media.handle, None)
        .await
        .unwrap();
    // The agent's phone sends a re-INVITE with sendonly: the call task holds
    // the agent's leg and gives the caller music.
    agent.media.handle.send(MediaCommand::Hold).await.unwrap();
    let music = prompt("beep");
    caller
        .media
        .handle
        .play_loop(vec![music.clone()])
        .await
        .unwrap();
    let t1 = talk(
        caller.sock.clone(),
        caller.local,
        Codec::Pcmu,
        tone(440.0, 8000),
        1,
    );
    let t2 = talk(
        agent.sock.clone(),
        agent.local,
        Codec::Pcma,
        tone(1000.0, 8000),
        2,
    );
    let (_, _, at_caller, at_agent) = tokio::join!(
        t1,
        t2,
        listen_for(&caller.sock, Duration::from_millis(1300)),
        listen_for(&agent.sock, Duration::from_millis(1300))
    );
    assert!(at_agent.is_empty(), "nothing to a leg on hold");
    let heard = decode(Codec::Pcmu, &at_caller, 0);
    assert!(heard.len() >= 8000, "the music goes on: {}", heard.len());
    assert!(
        best_correlation(&heard[..music.pcm().len()], music.pcm()) > 0.99,
        "the caller hears the music, not the agent"
    );
    // Resume: music off, the voices are back, numbering continuous.
    agent.media.handle.send(MediaCommand::Resume).await.unwrap();
    caller
        .media
        .handle
        .send(MediaCommand::StopPlayback)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t2 = talk(
        agent.sock.clone(),
        agent.local,
        Codec::Pcma,
        tone(1000.0, 1600),
        3,
    );
    let (_, back) = tokio::join!(t2, listen(&caller.sock, Duration::from_millis(300)));
    assert_eq!(back.len(), 10);
    let mut all = at_caller.clone();
    all.extend(back.iter().cloned());
    assert_continuous(&all);
    let heard = decode(Codec::Pcmu, &back, 0);
    assert!(energy_at(&heard, 1000.0) > 0.9, "the agent again");
    assert_eq!(b.stop().await.end, BridgeEnd::Stopped);
}
