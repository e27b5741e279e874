//! Session rules driven with explicit instants: no sockets, no sleeps.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::media::dtmf::DtmfSource;
use crate::media::rtp::{parse, write_packet, RtpHeader};

const EVENT_PT: u8 = 101;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn config(te: Option<u8>) -> SessionConfig {
    SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: te,
        remote: addr(4000),
        rtp_timeout: DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    }
}

fn ids() -> SenderIds {
    SenderIds {
        ssrc: 7,
        first_sequence: 100,
        first_timestamp: 1000,
    }
}

fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let h = RtpHeader {
        marker: false,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc: 99,
    };
    let mut buf = vec![0; 12 + payload.len()];
    write_packet(&h, payload, &mut buf).unwrap();
    buf
}

fn audio(seq: u16) -> Vec<u8> {
    packet(0, seq, u32::from(seq) * 160, &[0xFF; 160])
}

fn events(core: &mut SessionCore) -> Vec<MediaEvent> {
    core.drain_events().collect()
}

fn digits(evs: &[MediaEvent]) -> String {
    evs.iter()
        .filter_map(|e| match e {
            MediaEvent::Digit(d) => Some(d.digit),
            _ => None,
        })
        .collect()
}

/// Send every packet due up to `now`; returns how many went out.
fn transmit(core: &mut SessionCore, now: Instant) -> usize {
    let mut n = 0;
    while core.poll_transmit(now).is_some() {
        assert!(parse(core.packet()).is_ok());
        n += 1;
    }
    n
}

fn prompt(packets: usize) -> Arc<Prompt> {
    Arc::new(Prompt::from_pcm("p", vec![1000; 160 * packets]))
}

#[test]
fn symmetric_rtp_latches_on_the_first_packet_and_ignores_strangers() {
    let t0 = Instant::now();
    let mut core = SessionCore::with_ids(&config(None), t0, ids());
    assert_eq!(
        core.remote(),
        Some(addr(4000)),
        "SDP address until RTP arrives"
    );
    core.handle_datagram(t0, &[1, 2, 3], addr(5000));
    assert_eq!(core.remote(), Some(addr(4000)), "garbage does not latch");
    core.handle_datagram(t0, &packet(96, 1, 0, &[0; 4]), addr(5000));
    assert_eq!(
        core.remote(),
        Some(addr(4000)),
        "a foreign payload type does not latch"
    );
    core.handle_datagram(t0, &audio(1), addr(5000));
    assert_eq!(
        core.remote(),
        Some(addr(5000)),
        "latched on the NAT address"
    );
    core.handle_datagram(t0, &audio(2), addr(6000));
    assert_eq!(
        core.remote(),
        Some(addr(5000)),
        "a stranger cannot steal the stream"
    );
    let stats = core.receive_stats();
    assert_eq!(
        (
            stats.packets,
            stats.foreign,
            stats.malformed,
            stats.other_pt
        ),
        (1, 1, 1, 1)
    );
    // Packets go where the caller's packets came from.
    core.handle_command(
        t0,
        MediaCommand::Play {
            prompts: vec![prompt(1)],
            barge_in: false,
        },
    );
    assert_eq!(transmit(&mut core, t0), 1);
    assert_eq!(core.remote(), Some(addr(5000)));
    // A re-INVITE moves the media and latching starts over.
    core.handle_command(t0, MediaCommand::SetRemote(addr(7000)));
    assert_eq!(core.remote(), Some(addr(7000)));
    core.handle_datagram(t0, &audio(3), addr(7002));
    assert_eq!(core.remote(), Some(addr(7002)));
}

#[test]
fn silence_for_the_timeout_reports_once_and_hold_suspends_it() {
    let t0 = Instant::now();
    let mut core = SessionCore::with_ids(&config(None), t0, ids());
    core.handle_datagram(t0 + Duration::from_secs(10), &audio(1), addr(4000));
    let at = |s: u64| t0 + Duration::from_secs(s);
    core.handle_timeout(at(39));
    assert!(
        events(&mut core).is_empty(),
        "30 s after the last packet, not before"
    );
    core.handle_timeout(at(40));
    let evs = events(&mut core);
    assert!(
        matches!(evs[..], [MediaEvent::RtpTimeout { silent_for }] if silent_for == Duration::from_secs(30))
    );
    core.handle_timeout(at(80));
    assert!(events(&mut core).is_empty(), "reported once");
    // Hold: no timeout however long the silence.
    core.handle_command(at(80), MediaCommand::Hold);
    core.handle_timeout(at(500));
    assert!(events(&mut core).is_empty());
    // Resume gives a full period again.
    core.handle_command(at(500), MediaCommand::Resume);
    core.handle_timeout(at(529));
    assert!(events(&mut core).is_empty());
    core.handle_timeout(at(530));
    assert!(matches!(
        events(&mut core)[..],
        [MediaEvent::RtpTimeout { .. }]
    ));
}

#[test]
fn a_session_negotiated_on_hold_neither_sends_nor_times_out() {
    let t0 = Instant::now();
    let mut cfg = config(None);
    cfg.start_on_hold = true;
    let mut core = SessionCore::with_ids(&cfg, t0, ids());
    core.handle_command(
        t0,
        MediaCommand::Play {
            prompts: vec![prompt(5)],
            barge_in: false,
        },
    );
    let later = t0 + Duration::from_secs(60);
    core.handle_timeout(later);
    assert_eq!(transmit(&mut core, later), 0);
    assert!(events(&mut core).is_empty());
}

/// Telephone-event packets of one key press as phones send them.
fn press(event: u8, ts: u32, seq: u16) -> Vec<Vec<u8>> {
    let p = |end: bool, dur: u16| {
        let d = dur.to_be_bytes();
        packet(
            EVENT_PT,
            seq,
            ts,
            &[event, if end { 0x8A } else { 0x0A }, d[0], d[1]],
        )
    };
    vec![
        p(false, 160),
        p(false, 320),
        p(true, 800),
        p(true, 800),
        p(true, 800),
    ]
}

#[test]
fn rfc4733_and_info_digits_merge_into_one_stream_without_duplicates() {
    let t0 = Instant::now();
    let mut core = SessionCore::with_ids(&config(Some(EVENT_PT)), t0, ids());
    for (i, pk) in press(5, 8000, 10).iter().enumerate() {
        core.handle_datagram(t0 + Duration::from_millis(20 * i as u64), pk, addr(4000));
    }
    let evs = events(&mut core);
    assert_eq!(digits(&evs), "5", "three end packets, one digit");
    let MediaEvent::Digit(d) = &evs[0] else {
        panic!("not a digit")
    };
    assert_eq!((d.source, d.duration_ms), (DtmfSource::Rfc4733, 100));
    // The same press also arrives by SIP INFO: dropped.
    let info = |c| DtmfDigit {
        digit: c,
        duration_ms: 100,
        source: DtmfSource::SipInfo,
    };
    let t1 = t0 + Duration::from_millis(200);
    core.handle_command(t1, MediaCommand::InjectDigit(info('5')));
    assert!(events(&mut core).is_empty());
    // A different key by INFO is a new digit, and so is a later '5'.
    core.handle_command(t1, MediaCommand::InjectDigit(info('6')));
    core.handle_command(
        t1 + Duration::from_secs(1),
        MediaCommand::InjectDigit(info('5')),
    );
    assert_eq!(digits(&events(&mut core)), "65");
}

/// `samples` of the DTMF tone pair for '5' (770 + 1336 Hz), PCMU-encoded.
fn tone_5(samples: usize) -> Vec<u8> {
    let pcm: Vec<i16> = (0..samples)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let s = (2.0 * std::f32::consts::PI * 770.0 * t).sin()
                + (2.0 * std::f32::consts::PI * 1336.0 * t).sin();
            (s * 6000.0) as i16
        })
        .collect();
    let mut out = vec![0; samples];
    Codec::Pcmu.encode(&pcm, &mut out);
    out
}

#[test]
fn inband_tones_give_digits_only_without_telephone_event() {
    let tone = tone_5(160 * 5);
    for (te, expect) in [(None, "5"), (Some(EVENT_PT), "")] {
        let t0 = Instant::now();
        let mut core = SessionCore::with_ids(&config(te), t0, ids());
        let mut seq = 0;
        for chunk in tone
            .chunks(160)
            .map(<[u8]>::to_vec)
            .chain(std::iter::repeat_n(vec![0xFF; 160], 5))
        {
            seq += 1;
            core.handle_datagram(
                t0,
                &packet(0, seq, u32::from(seq) * 160, &chunk),
                addr(4000),
            );
        }
        let evs = events(&mut core);
        assert_eq!(digits(&evs), expect, "telephone-event {te:?}");
    }
}

#[test]
fn a_digit_barges_in_only_when_the_playback_allows_it() {
    let t0 = Instant::now();
    let info = DtmfDigit {
        digit: '1',
        duration_ms: 0,
        source: DtmfSource::SipInfo,
    };
    for barge_in in [true, false] {
        let mut core = SessionCore::with_ids(&config(None), t0, ids());
        core.handle_command(
            t0,
            MediaCommand::Play {
                prompts: vec![prompt(50)],
                barge_in,
            },
        );
        assert_eq!(transmit(&mut core, t0 + Duration::from_millis(100)), 6);
        core.handle_command(
            t0 + Duration::from_millis(110),
            MediaCommand::InjectDigit(info),
        );
        let evs = events(&mut core);
        assert!(matches!(evs[0], MediaEvent::Digit(_)));
        let later = t0 + Duration::from_millis(200);
        if barge_in {
            assert!(matches!(
                evs[1..],
                [MediaEvent::PlaybackDone { interrupted: true }]
            ));
            assert_eq!(transmit(&mut core, later), 0, "the prompt stopped");
        } else {
            assert_eq!(evs.len(), 1);
            assert_eq!(transmit(&mut core, later), 5, "the prompt plays on");
        }
    }
}

#[test]
fn recording_writes_the_callers_audio_and_close_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("note.wav");
    let t0 = Instant::now();
    let mut core = SessionCore::with_ids(&config(Some(EVENT_PT)), t0, ids());
    core.handle_command(t0, MediaCommand::StartRecording(path.clone()));
    for seq in 0..50 {
        core.handle_datagram(t0, &audio(seq), addr(4000));
    }
    core.handle_command(t0, MediaCommand::Close);
    assert!(core.is_closed());
    let evs = events(&mut core);
    let [MediaEvent::RecordingStopped(rec)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!((rec.frames, rec.complete), (50 * 160, true));
    assert_eq!(hound::WavReader::open(&path).unwrap().duration(), 50 * 160);
    // A path that cannot be created is an event, not a failure of the call.
    let mut core = SessionCore::with_ids(&config(None), t0, ids());
    core.handle_command(
        t0,
        MediaCommand::StartRecording(dir.path().join("no/such/dir.wav")),
    );
    assert!(matches!(
        events(&mut core)[..],
        [MediaEvent::RecordingError(_)]
    ));
}
