use super::*;
use crate::media::rtp::parse;

const IDS: SenderIds = SenderIds {
    ssrc: 0xABCD,
    first_sequence: 65530,
    first_timestamp: u32::MAX - 200,
};

fn prompt(name: &str, samples: usize, seed: i16) -> Arc<Prompt> {
    let pcm = (0..samples)
        .map(|i| (i as i16).wrapping_mul(97).wrapping_add(seed))
        .collect();
    Arc::new(Prompt::from_pcm(name, pcm))
}

/// Drive `sender` to `now`, collecting (due, header, payload) of each packet.
fn drive(sender: &mut RtpSender, now: Instant) -> Vec<(Instant, RtpHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while sender.poll_timeout() <= now {
        if let Some(due) = sender.handle_timeout(now) {
            let p = parse(sender.packet()).unwrap();
            out.push((due, p.header, p.payload.to_vec()));
        }
    }
    out
}

#[test]
fn ten_thousand_packets_follow_the_absolute_schedule_without_drift() {
    let t0 = Instant::now();
    let mut s = RtpSender::new(Codec::Pcmu, 0, IDS, t0);
    // 100 prompts of 100 packets each: also crosses prompt boundaries.
    let p = prompt("p", 16_000, 3);
    s.play(vec![p; 100], false);
    let mut n = 0u64;
    let mut jitter = 7u64;
    while n < 10_000 {
        // Wake up late by a varying 0-19 ms, as a loaded runtime would.
        jitter = (jitter * 31 + 11) % 20;
        let now = s.poll_timeout() + Duration::from_millis(jitter);
        for (due, h, payload) in drive(&mut s, now) {
            assert_eq!(due, t0 + Duration::from_millis(20 * n), "packet {n}");
            assert_eq!(
                h.timestamp,
                IDS.first_timestamp.wrapping_add(160 * n as u32)
            );
            assert_eq!(h.sequence, IDS.first_sequence.wrapping_add(n as u16));
            assert_eq!(h.marker, n == 0, "marker only on the first packet");
            assert_eq!(payload.len(), 160);
            n += 1;
        }
    }
    assert_eq!(s.skipped_ticks(), 0);
    assert_eq!(s.take_done(), Some(false), "all 100 prompts played");
}

#[test]
fn prompts_are_played_back_to_back_and_the_tail_is_padded() {
    let t0 = Instant::now();
    let mut s = RtpSender::new(Codec::Pcma, 8, IDS, t0);
    let (a, b) = (prompt("a", 250, 1), prompt("b", 300, 2));
    let mut expected = a.payload(Codec::Pcma).to_vec();
    expected.extend_from_slice(b.payload(Codec::Pcma));
    s.play(vec![a, b], false);
    let packets = drive(&mut s, t0 + Duration::from_millis(60));
    assert_eq!(packets.len(), 4, "550 samples make 4 packets");
    let sent: Vec<u8> = packets.iter().flat_map(|p| p.2.clone()).collect();
    assert_eq!(&sent[..550], &expected[..]);
    assert!(sent[550..].iter().all(|&b| b == Codec::Pcma.silence_byte()));
    for (i, (_, h, _)) in packets.iter().enumerate() {
        assert_eq!(h.payload_type, 8);
        assert_eq!(h.sequence, IDS.first_sequence.wrapping_add(i as u16));
    }
    assert_eq!(s.take_done(), Some(false));
    assert!(!s.is_playing());
}

#[test]
fn a_gap_advances_the_timestamp_and_the_next_talkspurt_has_the_marker() {
    let t0 = Instant::now();
    let mut s = RtpSender::new(Codec::Pcmu, 0, IDS, t0);
    s.play(vec![prompt("a", 320, 0)], false);
    let first = drive(&mut s, t0 + Duration::from_millis(100));
    assert_eq!(first.len(), 2);
    // Silence until 1 s, then another prompt.
    drive(&mut s, t0 + Duration::from_millis(1000));
    s.play(vec![prompt("b", 320, 0)], false);
    let second = drive(&mut s, t0 + Duration::from_millis(1100));
    assert_eq!(second.len(), 2);
    let (due, h, _) = &second[0];
    assert!(h.marker, "new talkspurt");
    assert!(!second[1].1.marker);
    assert_eq!(
        *due,
        t0 + Duration::from_millis(1020),
        "next tick after Play"
    );
    assert_eq!(h.timestamp, IDS.first_timestamp.wrapping_add(160 * 51));
    assert_eq!(
        h.sequence,
        first[1].1.sequence.wrapping_add(1),
        "no seq gap"
    );
}

#[test]
fn a_short_stall_catches_up_and_a_long_one_skips_with_a_marker() {
    let t0 = Instant::now();
    let mut s = RtpSender::new(Codec::Pcmu, 0, IDS, t0);
    s.play(vec![prompt("a", 160 * 100, 0)], false);
    // 60 ms late: ticks 0-3 go out back to back with their own deadlines.
    let burst = drive(&mut s, t0 + Duration::from_millis(60));
    let dues: Vec<_> = burst.iter().map(|p| p.0).collect();
    assert_eq!(dues, (0..4).map(|k| s.deadline(k)).collect::<Vec<_>>());
    // Then a 500 ms stall: one packet, for the tick due now, with a marker.
    let late = drive(&mut s, t0 + Duration::from_millis(570));
    assert_eq!(late.len(), 1);
    let (due, h, payload) = &late[0];
    assert_eq!(*due, t0 + Duration::from_millis(560));
    assert!(h.marker);
    assert_eq!(h.timestamp, IDS.first_timestamp.wrapping_add(160 * 28));
    assert_eq!(h.sequence, burst[3].1.sequence.wrapping_add(1));
    // The audio resumes where it stopped: packet 5's bytes.
    let p = prompt("a", 160 * 100, 0);
    assert_eq!(&payload[..], &p.payload(Codec::Pcmu)[640..800]);
    assert_eq!(s.skipped_ticks(), 24);
}

#[test]
fn hold_keeps_the_position_and_resume_starts_a_talkspurt() {
    let t0 = Instant::now();
    let p = prompt("a", 160 * 10, 5);
    let mut s = RtpSender::new(Codec::Pcmu, 0, IDS, t0);
    s.play(vec![Arc::clone(&p)], false);
    assert_eq!(drive(&mut s, t0 + Duration::from_millis(20)).len(), 2);
    s.set_muted(true);
    assert!(drive(&mut s, t0 + Duration::from_millis(400)).is_empty());
    s.set_muted(false);
    let after = drive(&mut s, t0 + Duration::from_millis(420));
    assert_eq!(after.len(), 1);
    assert!(after[0].1.marker);
    assert_eq!(&after[0].2[..], &p.payload(Codec::Pcmu)[320..480]);
}

#[test]
fn every_play_ends_once_completed_or_interrupted() {
    let t0 = Instant::now();
    let mut s = RtpSender::new(Codec::Pcmu, 0, IDS, t0);
    s.play(vec![prompt("a", 1600, 0)], true);
    assert!(s.barge_in_allowed());
    s.play(vec![prompt("b", 1600, 0)], false);
    assert_eq!(
        s.take_done(),
        Some(true),
        "replaced playback is interrupted"
    );
    assert!(!s.barge_in_allowed());
    assert!(s.stop());
    assert_eq!(s.take_done(), Some(true));
    assert!(!s.stop(), "nothing left to stop");
    assert_eq!(s.take_done(), None);
    s.play(Vec::new(), false);
    assert!(drive(&mut s, t0 + Duration::from_millis(40)).is_empty());
    assert_eq!(
        s.take_done(),
        Some(false),
        "an empty Play completes at once"
    );
}
