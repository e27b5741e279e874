//! Fuzz the RFC 4733 telephone-event decoder (`media::dtmf::rfc4733`) with
//! a stream of packets cut from the input (timestamp, marker, payload) and
//! a clock that moves with it: nothing may panic, and no more digits come
//! out than packets went in.
#![no_main]

use std::time::{Duration, Instant};

use hotline::media::dtmf::rfc4733::{EventPacket, Rfc4733Decoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut dec = Rfc4733Decoder::new(8000);
    let start = Instant::now();
    let mut now = start;
    let (mut packets, mut digits) = (0usize, 0usize);
    // Records of 1 (advance ms) + 4 (timestamp) + 1 (len) + payload.
    let mut rest = data;
    while rest.len() >= 6 {
        now += Duration::from_millis(u64::from(rest[0]));
        let ts = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(rest[5] % 8).min(rest.len() - 6);
        let payload = &rest[6..6 + len];
        rest = &rest[6 + len..];
        let _ = dec.handle_packet(
            now,
            EventPacket {
                timestamp: ts,
                marker: ts & 1 == 0,
                seq: packets as u16,
                payload,
            },
        );
        packets += 1;
        if dec.poll_timeout().is_some_and(|t| t <= now) {
            dec.handle_timeout(now);
        }
        while dec.poll_output().is_some() {
            digits += 1;
        }
    }
    dec.handle_timeout(now + Duration::from_secs(10));
    while dec.poll_output().is_some() {
        digits += 1;
    }
    assert!(digits <= packets);
});
