//! RFC 4733 telephone-event decoder (sans-io).
//!
//! A sender repeats packets for one key press, all carrying the RTP timestamp
//! of the event's start, with a growing duration, and sends the final packet
//! (E bit set) three times. Packets may arrive reordered, duplicated or not
//! at all. The decoder therefore keys an event by its RTP timestamp and emits
//! it exactly once: on the first end packet, or, when every end packet was
//! lost, as soon as a newer event starts or no packet has arrived for
//! [`Rfc4733Decoder::DEFAULT_TIMEOUT`]. Timestamps of emitted events are
//! remembered so late duplicates are dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{event_to_digit, DtmfDigit, DtmfSource};

/// How many emitted events are remembered to drop their late duplicates.
const REMEMBERED: usize = 8;

/// One telephone-event RTP packet, as the RTP layer hands it over.
#[derive(Debug, Clone, Copy)]
pub struct EventPacket<'a> {
    /// RTP timestamp: the same for every packet of one event.
    pub timestamp: u32,
    /// RTP marker bit: set on the first packet of an event. Not relied on: the
    /// first packet may be lost, and the timestamp already tells events apart.
    pub marker: bool,
    /// RTP sequence number (only logged: ordering is taken from durations).
    pub seq: u16,
    /// The RTP payload (4 bytes: event, E/R/volume, duration).
    pub payload: &'a [u8],
}

/// Why a packet was not used; the RTP layer logs these at debug level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventPacketError {
    #[error("HL-DTMF-001 telephone-event payload of {0} bytes, need at least 4")]
    TooShort(usize),
    #[error("HL-DTMF-002 telephone-event code {0} is not a key (0-15)")]
    NotAKey(u8),
}

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    event: u8,
    /// Longest duration seen, in timestamp units (reordering cannot shrink it).
    duration: u16,
    last_seen: Instant,
}

/// Turns telephone-event packets into digits, once per key press.
#[derive(Debug)]
pub struct Rfc4733Decoder {
    clock_rate: u32,
    timeout: Duration,
    current: Option<Current>,
    /// Timestamp of the newest event seen, to drop older stragglers.
    newest: Option<u32>,
    /// Ring of (timestamp, event) already emitted.
    done: [Option<(u32, u8)>; REMEMBERED],
    done_next: usize,
    out: VecDeque<DtmfDigit>,
}

impl Rfc4733Decoder {
    /// Without a packet for this long, an event without end packets is over.
    /// Senders refresh at least every 50-100 ms while a key is held.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

    /// A decoder for telephone-event at `clock_rate` Hz (8000 in practice).
    pub fn new(clock_rate: u32) -> Self {
        Self::with_timeout(clock_rate, Self::DEFAULT_TIMEOUT)
    }

    /// As [`Rfc4733Decoder::new`], with a custom end-of-event timeout.
    pub fn with_timeout(clock_rate: u32, timeout: Duration) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            timeout,
            current: None,
            newest: None,
            done: [None; REMEMBERED],
            done_next: 0,
            out: VecDeque::with_capacity(4),
        }
    }

    /// Feed one packet received at `now`. Digits become available through
    /// [`Rfc4733Decoder::poll_output`].
    pub fn handle_packet(
        &mut self,
        now: Instant,
        packet: EventPacket<'_>,
    ) -> Result<(), EventPacketError> {
        let p = packet.payload;
        if p.len() < 4 {
            return Err(EventPacketError::TooShort(p.len()));
        }
        let event = p[0];
        let end = p[1] & 0x80 != 0;
        let duration = u16::from_be_bytes([p[2], p[3]]);
        if event_to_digit(event).is_none() {
            return Err(EventPacketError::NotAKey(event));
        }
        let key = (packet.timestamp, event);
        if self.done.contains(&Some(key)) {
            return Ok(()); // a repeated end packet or a late straggler
        }
        // Serial-number comparison against the newest event seen: an older
        // event that was never seen arrives too late to be put in order.
        if let Some(newest) = self.newest {
            if (packet.timestamp.wrapping_sub(newest) as i32) < 0 {
                tracing::debug!(
                    seq = packet.seq,
                    "dropping a telephone-event older than the newest one"
                );
                return Ok(());
            }
        }
        self.newest = Some(packet.timestamp);
        match self.current.as_mut() {
            Some(cur) if (cur.timestamp, cur.event) == key => {
                cur.duration = cur.duration.max(duration);
                cur.last_seen = now;
            }
            Some(cur) => {
                // The current event's end packets were lost: it is over.
                let cur = *cur;
                self.finish(cur);
                self.start(key, duration, now);
            }
            None => self.start(key, duration, now),
        }
        if end {
            if let Some(cur) = self.current {
                self.finish(cur);
            }
        }
        Ok(())
    }

    /// When [`Rfc4733Decoder::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.map(|c| c.last_seen + self.timeout)
    }

    /// Ends an event whose packets stopped arriving without an end packet.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(cur) = self.current {
            if now >= cur.last_seen + self.timeout {
                self.finish(cur);
            }
        }
    }

    /// The next detected digit, in order.
    pub fn poll_output(&mut self) -> Option<DtmfDigit> {
        self.out.pop_front()
    }

    fn start(&mut self, (timestamp, event): (u32, u8), duration: u16, now: Instant) {
        self.current = Some(Current {
            timestamp,
            event,
            duration,
            last_seen: now,
        });
    }

    fn finish(&mut self, cur: Current) {
        self.current = None;
        self.done[self.done_next] = Some((cur.timestamp, cur.event));
        self.done_next = (self.done_next + 1) % REMEMBERED;
        if let Some(digit) = event_to_digit(cur.event) {
            let duration_ms = u64::from(cur.duration) * 1000 / u64::from(self.clock_rate);
            self.out.push_back(DtmfDigit {
                digit,
                duration_ms: duration_ms as u32,
                source: DtmfSource::Rfc4733,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [event, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    }

    /// Packets for one key press as a phone sends them: start (marker), two
    /// updates, three end packets. Returns (timestamp, marker, payload).
    fn press(ts: u32, event: u8, duration: u16) -> Vec<(u32, bool, [u8; 4])> {
        vec![
            (ts, true, payload(event, false, 160)),
            (ts, false, payload(event, false, 320)),
            (ts, false, payload(event, false, 480)),
            (ts, false, payload(event, true, duration)),
            (ts, false, payload(event, true, duration)),
            (ts, false, payload(event, true, duration)),
        ]
    }

    fn feed(dec: &mut Rfc4733Decoder, t0: Instant, packets: &[(u32, bool, [u8; 4])]) -> String {
        let mut digits = String::new();
        for (i, (ts, marker, p)) in packets.iter().enumerate() {
            let now = t0 + Duration::from_millis(20 * i as u64);
            let packet = EventPacket {
                timestamp: *ts,
                marker: *marker,
                seq: i as u16,
                payload: p,
            };
            dec.handle_packet(now, packet).unwrap();
            while let Some(d) = dec.poll_output() {
                assert_eq!(d.source, DtmfSource::Rfc4733);
                digits.push(d.digit);
            }
        }
        digits
    }

    #[test]
    fn triple_end_packets_give_one_digit_with_duration() {
        let mut dec = Rfc4733Decoder::new(8000);
        let t0 = Instant::now();
        let pk = press(1000, 5, 800);
        let mut got = Vec::new();
        for (i, (ts, m, p)) in pk.iter().enumerate() {
            let packet = EventPacket {
                timestamp: *ts,
                marker: *m,
                seq: i as u16,
                payload: p,
            };
            dec.handle_packet(t0, packet).unwrap();
            got.extend(std::iter::from_fn(|| dec.poll_output()));
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].digit, '5');
        assert_eq!(got[0].duration_ms, 100);
        assert_eq!(dec.poll_timeout(), None, "nothing pending after the end");
    }

    #[test]
    fn a_sequence_of_all_keys_arrives_in_order() {
        let mut dec = Rfc4733Decoder::new(8000);
        let mut packets = Vec::new();
        for e in 0..16u8 {
            packets.extend(press(u32::from(e) * 2000, e, 640));
        }
        let got = feed(&mut dec, Instant::now(), &packets);
        assert_eq!(got, "0123456789*#ABCD");
    }

    #[test]
    fn reordered_packets_give_one_digit_with_the_longest_duration() {
        let mut dec = Rfc4733Decoder::new(8000);
        let mut pk = press(5000, 1, 960);
        pk.swap(0, 2); // an update overtakes the start
        pk.swap(3, 1); // an end packet overtakes an update
        let mut got = Vec::new();
        let t0 = Instant::now();
        for (i, (ts, m, p)) in pk.iter().enumerate() {
            let packet = EventPacket {
                timestamp: *ts,
                marker: *m,
                seq: i as u16,
                payload: p,
            };
            dec.handle_packet(t0, packet).unwrap();
            got.extend(std::iter::from_fn(|| dec.poll_output()));
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].digit, '1');
        assert_eq!(got[0].duration_ms, 120);
    }

    #[test]
    fn lost_end_packets_emit_when_the_next_event_starts() {
        let mut dec = Rfc4733Decoder::new(8000);
        let mut packets = press(100, 7, 800);
        packets.truncate(3); // all three end packets lost
        packets.extend(press(4100, 8, 800));
        let got = feed(&mut dec, Instant::now(), &packets);
        assert_eq!(got, "78");
    }

    #[test]
    fn lost_end_packets_emit_after_the_timeout_exactly_once() {
        let mut dec = Rfc4733Decoder::new(8000);
        let t0 = Instant::now();
        let mut packets = press(100, 9, 800);
        packets.truncate(3);
        assert_eq!(feed(&mut dec, t0, &packets), "");
        let deadline = dec.poll_timeout().expect("event pending");
        dec.handle_timeout(deadline - Duration::from_millis(1));
        assert_eq!(dec.poll_output(), None, "not before the deadline");
        dec.handle_timeout(deadline);
        let d = dec.poll_output().expect("emitted at the deadline");
        assert_eq!((d.digit, d.duration_ms), ('9', 60));
        // The end packets turn up late after all: no second digit.
        let late = payload(9, true, 800);
        let packet = EventPacket {
            timestamp: 100,
            marker: false,
            seq: 9,
            payload: &late,
        };
        dec.handle_packet(deadline, packet).unwrap();
        assert_eq!(dec.poll_output(), None);
    }

    #[test]
    fn late_end_packets_of_a_previous_event_are_dropped() {
        let mut dec = Rfc4733Decoder::new(8000);
        let mut packets = press(100, 1, 800);
        packets.extend(press(3000, 2, 800));
        packets.push((100, false, payload(1, true, 800))); // straggler
        packets.push((50, false, payload(3, true, 800))); // older unknown event
        assert_eq!(feed(&mut dec, Instant::now(), &packets), "12");
    }

    #[test]
    fn the_same_key_twice_gives_two_digits() {
        let mut dec = Rfc4733Decoder::new(8000);
        let mut packets = press(100, 4, 800);
        packets.extend(press(2100, 4, 800));
        assert_eq!(feed(&mut dec, Instant::now(), &packets), "44");
    }

    #[test]
    fn timestamps_that_wrap_around_still_order_correctly() {
        let mut dec = Rfc4733Decoder::new(8000);
        let mut packets = press(u32::MAX - 100, 1, 800);
        packets.truncate(2);
        packets.extend(press(500, 2, 800));
        assert_eq!(feed(&mut dec, Instant::now(), &packets), "12");
    }

    #[test]
    fn bad_packets_are_rejected_without_state_change() {
        let mut dec = Rfc4733Decoder::new(8000);
        let now = Instant::now();
        let short = EventPacket {
            timestamp: 1,
            marker: true,
            seq: 1,
            payload: &[1, 2],
        };
        assert_eq!(
            dec.handle_packet(now, short),
            Err(EventPacketError::TooShort(2))
        );
        let flash = payload(16, true, 800);
        let flash = EventPacket {
            timestamp: 1,
            marker: true,
            seq: 2,
            payload: &flash,
        };
        assert_eq!(
            dec.handle_packet(now, flash),
            Err(EventPacketError::NotAKey(16))
        );
        assert_eq!(dec.poll_output(), None);
        assert_eq!(dec.poll_timeout(), None);
    }
}
