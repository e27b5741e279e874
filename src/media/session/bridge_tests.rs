//! Bridge rules driven with explicit instants: no sockets, no sleeps.

use std::io::{self, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::media::dtmf::{DtmfDigit, DtmfSource};
use crate::media::record::{Layout, RecordError};
use crate::media::rtp::{parse, write_packet, RtpHeader};

const CALLER_TE: u8 = 101;
const AGENT_TE: u8 = 96;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn caller_cfg() -> SessionConfig {
    SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(CALLER_TE),
        remote: addr(4000),
        rtp_timeout: DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    }
}

fn agent_cfg() -> SessionConfig {
    SessionConfig {
        codec: Codec::Pcma,
        payload_type: 8,
        telephone_event: Some(AGENT_TE),
        remote: addr(5000),
        rtp_timeout: DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    }
}

fn ids(ssrc: u32) -> SenderIds {
    SenderIds {
        ssrc,
        first_sequence: 65500,
        first_timestamp: u32::MAX - 5000,
    }
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let h = RtpHeader {
        marker: false,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc,
    };
    let mut buf = vec![0; 12 + payload.len()];
    write_packet(&h, payload, &mut buf).unwrap();
    buf
}

fn tone(codec: Codec, freq: f64, n: usize, from: usize) -> Vec<u8> {
    (from..from + n)
        .map(|i| {
            let s = (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16;
            codec.encode_sample(s)
        })
        .collect()
}

/// Own packets due by `now` (header, payload), ticking on time.
fn transmit(core: &mut SessionCore, now: Instant) -> Vec<(RtpHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while core.poll_timeout() <= now {
        let t = core.poll_timeout();
        core.handle_timeout(t);
        while core.poll_transmit(t).is_some() {
            let p = parse(core.packet()).unwrap();
            out.push((p.header, p.payload.to_vec()));
        }
    }
    out
}

fn prompt(packets: usize) -> Arc<Prompt> {
    Arc::new(Prompt::from_pcm("p", vec![1000; 160 * packets]))
}

struct Pair {
    t0: Instant,
    caller: SessionCore,
    agent: SessionCore,
}

fn pair() -> Pair {
    let t0 = Instant::now();
    Pair {
        t0,
        caller: SessionCore::with_ids(&caller_cfg(), t0, ids(0xCA11)),
        agent: SessionCore::with_ids(&agent_cfg(), t0, ids(0xA6E7)),
    }
}

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn relay(
    b: &mut BridgeCore,
    p: &mut Pair,
    ms: u64,
    from: Side,
    bytes: &[u8],
) -> Option<(RtpHeader, Vec<u8>)> {
    let now = at(p.t0, ms);
    let src = match from {
        Side::Caller => addr(4000),
        Side::Agent => addr(5000),
    };
    b.handle_datagram(now, from, bytes, src, &mut p.caller, &mut p.agent)
        .map(|out| {
            let pk = parse(out).unwrap();
            (pk.header, pk.payload.to_vec())
        })
}

#[test]
fn audio_goes_both_ways_converted_between_pcmu_and_pcma() {
    let mut p = pair();
    p.caller.set_bridged(true);
    p.agent.set_bridged(true);
    let mut b = BridgeCore::new(&p.caller, &p.agent, None, p.t0);
    let from_caller = tone(Codec::Pcmu, 440.0, 160, 0);
    let (h, payload) = relay(
        &mut b,
        &mut p,
        20,
        Side::Caller,
        &packet(0, 7, 1234, 0x1111, &from_caller),
    )
    .expect("relayed to the agent");
    assert_eq!((h.payload_type, h.ssrc), (8, 0xA6E7), "agent's PT and SSRC");
    for (a, u) in payload.iter().zip(&from_caller) {
        let (x, y) = (Codec::Pcma.decode_sample(*a), Codec::Pcmu.decode_sample(*u));
        assert!((i32::from(x) - i32::from(y)).abs() <= i32::from(y).abs() / 16 + 16);
    }
    let from_agent = tone(Codec::Pcma, 1000.0, 160, 0);
    let (h, payload) = relay(
        &mut b,
        &mut p,
        21,
        Side::Agent,
        &packet(8, 99, 5678, 0x2222, &from_agent),
    )
    .expect("relayed to the caller");
    assert_eq!((h.payload_type, h.ssrc), (0, 0xCA11));
    assert_eq!(payload.len(), 160);
    // Same codec on both legs: the bytes pass untouched.
    let mut q = pair();
    let same = SessionCore::with_ids(&caller_cfg(), q.t0, ids(0xBEEF));
    q.agent = same;
    let mut b = BridgeCore::new(&q.caller, &q.agent, None, q.t0);
    let (_, payload) = relay(
        &mut b,
        &mut q,
        20,
        Side::Caller,
        &packet(0, 7, 1234, 0x1111, &from_caller),
    )
    .unwrap();
    assert_eq!(payload, from_caller, "passthrough");
}

#[test]
fn numbering_stays_continuous_across_prompt_bridge_stop_prompt() {
    let mut p = pair();
    // The caller hears three prompt packets.
    p.caller.handle_command(
        p.t0,
        MediaCommand::Play {
            prompts: vec![prompt(3)],
            barge_in: false,
        },
    );
    let own = transmit(&mut p.caller, at(p.t0, 40));
    assert_eq!(own.len(), 3);
    let last = own[2].0;
    // Bridged at 100 ms; the agent's phone numbers its packets its own way.
    p.caller.set_bridged(true);
    p.agent.set_bridged(true);
    let mut b = BridgeCore::new(&p.caller, &p.agent, None, at(p.t0, 100));
    let mut relayed = Vec::new();
    for i in 0..50u16 {
        let ms = 100 + 20 * u64::from(i);
        let now = at(p.t0, ms);
        let pk = packet(
            8,
            40_000 + i,
            9_000_000 + 160 * u32::from(i),
            0x7777,
            &[0xD5; 160],
        );
        relayed.push(relay(&mut b, &mut p, ms, Side::Agent, &pk).unwrap().0);
        assert!(transmit(&mut p.caller, now).is_empty(), "no own packets");
    }
    assert_eq!(
        relayed[0].sequence,
        last.sequence.wrapping_add(1),
        "no seq jump"
    );
    assert!(relayed[0].marker, "a new talkspurt");
    let gap = relayed[0].timestamp.wrapping_sub(last.timestamp);
    assert_eq!(
        gap,
        8 * 60,
        "timestamp follows the clock: 60 ms after the last prompt packet"
    );
    for w in relayed.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
        assert_eq!(w[1].timestamp, w[0].timestamp.wrapping_add(160));
        assert_eq!(w[1].ssrc, 0xCA11);
        assert!(!w[1].marker);
    }
    // A lost packet keeps its gap; the phone restarting its stream
    // (new SSRC) re-anchors without a jump.
    let pk = packet(8, 40_051, 9_000_000 + 160 * 51, 0x7777, &[0xD5; 160]);
    let h = relay(&mut b, &mut p, 1120, Side::Agent, &pk).unwrap().0;
    assert_eq!(h.sequence, relayed[49].sequence.wrapping_add(2));
    let pk = packet(8, 3, 17, 0x8888, &[0xD5; 160]);
    let h2 = relay(&mut b, &mut p, 1140, Side::Agent, &pk).unwrap().0;
    assert_eq!(h2.sequence, h.sequence.wrapping_add(1));
    assert!(h2.marker);
    assert!((h2.timestamp.wrapping_sub(h.timestamp) as i32) > 0);
    // Bridge stopped: the caller's next prompt continues the numbering.
    p.caller.set_bridged(false);
    p.caller.handle_command(
        at(p.t0, 1150),
        MediaCommand::Play {
            prompts: vec![prompt(2)],
            barge_in: false,
        },
    );
    let after = transmit(&mut p.caller, at(p.t0, 1200));
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].0.sequence, h2.sequence.wrapping_add(1));
    assert!(after[0].0.marker);
    let d = after[0].0.timestamp.wrapping_sub(h2.timestamp) as i32;
    assert!(d > 0 && d <= 8 * 80, "forward and close: {d}");
    // A second bridge continues again.
    p.caller.set_bridged(true);
    let pk = packet(8, 500, 1, 0x9999, &[0xD5; 160]);
    let h3 = relay(&mut b, &mut p, 1300, Side::Agent, &pk).unwrap().0;
    assert_eq!(h3.sequence, after[1].0.sequence.wrapping_add(1));
    assert!((h3.timestamp.wrapping_sub(after[1].0.timestamp) as i32) > 0);
}

fn event(ev: u8, end: bool, dur: u16) -> [u8; 4] {
    let d = dur.to_be_bytes();
    [ev, if end { 0x8A } else { 0x0A }, d[0], d[1]]
}

#[test]
fn rfc4733_goes_across_with_the_other_legs_payload_type() {
    let mut p = pair();
    p.caller.set_bridged(true);
    p.agent.set_bridged(true);
    let mut b = BridgeCore::new(&p.caller, &p.agent, None, p.t0);
    let mut out = Vec::new();
    for (i, (end, dur)) in [
        (false, 160),
        (false, 320),
        (true, 480),
        (true, 480),
        (true, 480),
    ]
    .into_iter()
    .enumerate()
    {
        let pk = packet(CALLER_TE, 10 + i as u16, 3200, 0x1111, &event(5, end, dur));
        out.push(relay(&mut b, &mut p, 20 * i as u64, Side::Caller, &pk).expect("relayed"));
    }
    for (h, payload) in &out {
        assert_eq!(h.payload_type, AGENT_TE, "the agent's telephone-event PT");
        assert_eq!(h.timestamp, out[0].0.timestamp, "one event, one timestamp");
        assert_eq!(payload[0], 5);
    }
    assert!(out[0].0.marker);
    // The call task still hears the caller's key.
    let evs: Vec<_> = p.caller.drain_events().collect();
    assert!(matches!(
        evs[..],
        [MediaEvent::Digit(DtmfDigit { digit: '5', .. })]
    ));
    // An INFO digit on the agent's leg is generated as RFC 4733 (PT 101)
    // on the caller's; relayed audio waits meanwhile.
    let info = DtmfDigit {
        digit: '#',
        duration_ms: 100,
        source: DtmfSource::SipInfo,
    };
    p.agent
        .handle_command(at(p.t0, 200), MediaCommand::InjectDigit(info));
    b.forward_keys(&mut p.caller, &mut p.agent);
    let evs: Vec<_> = p.agent.drain_events().collect();
    assert!(matches!(
        evs[..],
        [MediaEvent::Digit(DtmfDigit { digit: '#', .. })]
    ));
    let keys = transmit(&mut p.caller, at(p.t0, 400));
    assert_eq!(keys.len(), 5 + 3, "five tone packets, three end packets");
    for (i, (h, payload)) in keys.iter().enumerate() {
        assert_eq!(h.payload_type, CALLER_TE);
        assert_eq!(h.marker, i == 0);
        assert_eq!(h.timestamp, keys[0].0.timestamp);
        assert_eq!(payload[0], 11, "event code of #");
        assert_eq!(payload[1] & 0x80 != 0, i >= 5, "E bit on the end packets");
    }
    assert_eq!(u16::from_be_bytes([keys[7].1[2], keys[7].1[3]]), 800);
    for w in keys.windows(2) {
        assert_eq!(w[1].0.sequence, w[0].0.sequence.wrapping_add(1));
    }
    // Audio after the key continues the numbering.
    let pk = packet(8, 1, 1, 0x2222, &[0xD5; 160]);
    let (h, _) = relay(&mut b, &mut p, 420, Side::Agent, &pk).unwrap();
    assert_eq!(h.sequence, keys[7].0.sequence.wrapping_add(1));
    assert!((h.timestamp.wrapping_sub(keys[7].0.timestamp) as i32) > 0);
}

#[test]
fn hold_and_music_on_hold_take_the_place_of_the_other_leg() {
    let mut p = pair();
    p.caller.set_bridged(true);
    p.agent.set_bridged(true);
    let mut b = BridgeCore::new(&p.caller, &p.agent, None, p.t0);
    let to_agent = packet(0, 1, 160, 1, &[0xFF; 160]);
    let to_caller = packet(8, 1, 160, 2, &[0xD5; 160]);
    assert!(relay(&mut b, &mut p, 0, Side::Caller, &to_agent).is_some());
    // The agent holds: the agent's leg gets nothing, the caller hears music.
    p.agent.handle_command(at(p.t0, 20), MediaCommand::Hold);
    p.caller.handle_command(
        at(p.t0, 20),
        MediaCommand::PlayLoop {
            prompts: vec![prompt(2)],
        },
    );
    let to_agent = packet(0, 2, 320, 1, &[0xFF; 160]);
    assert!(relay(&mut b, &mut p, 40, Side::Caller, &to_agent).is_none());
    assert!(relay(&mut b, &mut p, 40, Side::Agent, &to_caller).is_none());
    let music = transmit(&mut p.caller, at(p.t0, 200));
    assert_eq!(music.len(), 11, "the loop goes on (ticks 0 to 10)");
    // Resume: the music stops and the voices are back.
    p.agent.handle_command(at(p.t0, 210), MediaCommand::Resume);
    p.caller
        .handle_command(at(p.t0, 210), MediaCommand::StopPlayback);
    let evs: Vec<_> = p.caller.drain_events().collect();
    assert!(matches!(
        evs[..],
        [MediaEvent::PlaybackDone { interrupted: true }]
    ));
    let to_caller = packet(8, 2, 320, 2, &[0xD5; 160]);
    let (h, _) = relay(&mut b, &mut p, 220, Side::Agent, &to_caller).unwrap();
    assert_eq!(h.sequence, music[10].0.sequence.wrapping_add(1));
    assert!(h.marker);
    assert!(relay(&mut b, &mut p, 220, Side::Caller, &to_agent).is_some());
    assert_eq!(b.finish().withheld, 2);
}

#[test]
fn a_loop_repeats_until_replaced() {
    let mut p = pair();
    let music = Arc::new(Prompt::from_pcm("moh", (0..400).map(|i| i * 50).collect()));
    p.caller.handle_command(
        p.t0,
        MediaCommand::PlayLoop {
            prompts: vec![Arc::clone(&music)],
        },
    );
    let sent = transmit(&mut p.caller, at(p.t0, 20 * 49));
    assert_eq!(sent.len(), 50, "never runs out");
    let bytes: Vec<u8> = sent.iter().flat_map(|s| s.1.clone()).collect();
    let m = music.payload(Codec::Pcmu);
    for (i, b) in bytes.iter().enumerate() {
        assert_eq!(*b, m[i % 400], "byte {i}: the music repeats seamlessly");
    }
    for w in sent.windows(2) {
        assert_eq!(w[1].0.sequence, w[0].0.sequence.wrapping_add(1));
        assert!(!w[1].0.marker);
    }
    assert!(
        p.caller.drain_events().next().is_none(),
        "a loop never completes"
    );
    p.caller.handle_command(
        at(p.t0, 1000),
        MediaCommand::Play {
            prompts: vec![prompt(1)],
            barge_in: false,
        },
    );
    let evs: Vec<_> = p.caller.drain_events().collect();
    assert!(matches!(
        evs[..],
        [MediaEvent::PlaybackDone { interrupted: true }]
    ));
    assert_eq!(transmit(&mut p.caller, at(p.t0, 1100)).len(), 1);
    let evs: Vec<_> = p.caller.drain_events().collect();
    assert!(matches!(
        evs[..],
        [MediaEvent::PlaybackDone { interrupted: false }]
    ));
    // A loop of nothing completes at once instead of spinning.
    p.caller.handle_command(
        at(p.t0, 1200),
        MediaCommand::PlayLoop {
            prompts: vec![Arc::new(Prompt::from_pcm("empty", Vec::new()))],
        },
    );
    transmit(&mut p.caller, at(p.t0, 1300));
    let evs: Vec<_> = p.caller.drain_events().collect();
    assert!(matches!(
        evs[..],
        [MediaEvent::PlaybackDone { interrupted: false }]
    ));
}

/// A storage that holds at most `cap` bytes, like a nearly full disk.
#[derive(Clone)]
struct Capped {
    data: Arc<Mutex<Vec<u8>>>,
    pos: u64,
    cap: usize,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut d = self.data.lock().unwrap();
        let pos = self.pos as usize;
        if pos >= self.cap {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device",
            ));
        }
        let n = buf.len().min(self.cap - pos);
        if d.len() < pos + n {
            d.resize(pos + n, 0);
        }
        d[pos..pos + n].copy_from_slice(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Capped {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.data.lock().unwrap().len() as i64;
        self.pos = match to {
            SeekFrom::Start(p) => p as i64,
            SeekFrom::End(d) => len + d,
            SeekFrom::Current(d) => self.pos as i64 + d,
        } as u64;
        Ok(self.pos)
    }
}

impl crate::media::record::RecordStorage for Capped {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(self.clone())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.data.lock().unwrap().truncate(len as usize);
        Ok(())
    }
}

/// Feed both legs for `ms` of driven time: caller a 440 Hz tone from 0,
/// agent a 1 kHz tone starting at `agent_from` ms.
fn feed_tap(b: &mut BridgeCore, p: &mut Pair, ms: u64, agent_from: u64) {
    for k in 0..ms / 20 {
        let now = 20 * k + 5;
        let c = tone(Codec::Pcmu, 440.0, 160, 160 * k as usize);
        relay(
            b,
            p,
            now,
            Side::Caller,
            &packet(0, k as u16, 160 * k as u32, 1, &c),
        );
        if 20 * k >= agent_from {
            let a = tone(Codec::Pcma, 1000.0, 160, 160 * k as usize);
            relay(
                b,
                p,
                now,
                Side::Agent,
                &packet(8, k as u16, 160 * k as u32, 2, &a),
            );
        }
        b.handle_timeout(at(p.t0, 20 * (k + 1)));
        if k % 25 == 24 {
            // Driven time runs far ahead of the disk: let the writer thread
            // hand the chunk buffer back (in real time it has 0.5 s).
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<MediaEvent>) -> MediaEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("event in time")
        .expect("channel open")
}

#[tokio::test]
async fn stereo_recording_has_the_caller_left_and_the_agent_right_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("call.wav");
    let (tx, mut events) = mpsc::unbounded_channel();
    let mut p = pair();
    p.caller.set_bridged(true);
    p.agent.set_bridged(true);
    let tap = StereoTap::start(Target::Path(path.clone()), tx);
    let mut b = BridgeCore::new(&p.caller, &p.agent, Some(tap), p.t0);
    // 2 s; the agent starts talking after 1 s: silence on the right before.
    feed_tap(&mut b, &mut p, 2000, 1000);
    let report = b.finish();
    assert_eq!(report.recording.unwrap().frames, 100);
    assert_eq!(report.recording.unwrap().dropped_chunks, 0);
    let MediaEvent::RecordingStopped(done) = next_event(&mut events).await else {
        panic!("expected RecordingStopped")
    };
    assert_eq!(
        (done.frames, done.complete, done.layout),
        (16_000, true, Layout::Stereo)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut wav = hound::WavReader::open(&path).unwrap();
    assert_eq!(wav.spec().channels, 2);
    assert_eq!(wav.spec().sample_rate, 8000);
    let s: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    let expect = |codec: Codec, f: f64| -> Vec<i16> {
        tone(codec, f, 16_000, 0)
            .iter()
            .map(|b| codec.decode_sample(*b))
            .collect()
    };
    let (c, a) = (expect(Codec::Pcmu, 440.0), expect(Codec::Pcma, 1000.0));
    assert!(corr(&left, &c) > 0.99, "left is the caller, sample-aligned");
    assert!(corr(&left, &a).abs() < 0.1);
    assert!(
        right[..8000].iter().all(|&x| x == 0),
        "silence before the agent spoke"
    );
    assert!(
        corr(&right[8000..], &a[8000..]) > 0.99,
        "right is the agent"
    );
    assert!(corr(&right[8000..], &c[8000..]).abs() < 0.1);
}

fn corr(a: &[i16], b: &[i16]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[tokio::test]
async fn a_full_disk_stops_the_recording_and_the_relay_goes_on() {
    let storage = Capped {
        data: Arc::default(),
        pos: 0,
        // The header and one 0.5 s stereo chunk, part of the next.
        cap: 44 + 4000 * 4 + 1000,
    };
    let (tx, mut events) = mpsc::unbounded_channel();
    let mut p = pair();
    p.caller.set_bridged(true);
    p.agent.set_bridged(true);
    let target = Target::Storage {
        name: "full.wav".into(),
        storage: Box::new(storage.clone()),
    };
    let tap = StereoTap::start(target, tx);
    let mut b = BridgeCore::new(&p.caller, &p.agent, Some(tap), p.t0);
    feed_tap(&mut b, &mut p, 1600, 0);
    let MediaEvent::RecordingError(e) = next_event(&mut events).await else {
        panic!("expected RecordingError")
    };
    assert!(matches!(e, RecordError::Write { .. }), "{e}");
    assert!(e.to_string().contains("No space left"), "{e}");
    let MediaEvent::RecordingStopped(done) = next_event(&mut events).await else {
        panic!("expected RecordingStopped")
    };
    assert_eq!((done.frames, done.complete), (4000, false));
    assert_eq!(
        storage.data.lock().unwrap().len(),
        44 + 4000 * 4,
        "a valid WAV of what fit"
    );
    // The relay does not care.
    let more = packet(0, 500, 80_000, 1, &[0xFF; 160]);
    assert!(relay(&mut b, &mut p, 1700, Side::Caller, &more).is_some());
    let report = b.finish();
    assert!(events.try_recv().is_err(), "nothing more reported");
    assert_eq!(report.to_agent, 81);
}
