//! The peer rules ([`super::peer`]) as the session and the bridge apply
//! them: strangers' packets, key presses and the ACK gate, driven with
//! explicit instants (no sockets, no sleeps).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tap::Side;
use super::*;
use crate::media::rtp::{parse, write_packet, RtpHeader};

const EVENT_PT: u8 = 101;

fn at(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// A NAT'd phone: its SDP names a private address, its SIP and RTP come
/// from the NAT's public one.
const SIGNALLING: &str = "203.0.113.7";
const SDP_IP: &str = "192.168.1.20";
const STRANGER: &str = "198.51.100.66";

fn config(remote: SocketAddr) -> SessionConfig {
    SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(EVENT_PT),
        remote,
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

fn core(remote: SocketAddr, policy: RemotePolicy, confirmed: bool, t0: Instant) -> SessionCore {
    let rules = PeerRules::new(SIGNALLING.parse().unwrap(), policy, confirmed);
    SessionCore::with_rules(&config(remote), rules, t0, ids())
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

/// A whole key press (start, update, three ends) for `event` at `ts`.
fn key_press(event: u8, ts: u32) -> Vec<Vec<u8>> {
    [
        (false, 160u16),
        (false, 480),
        (true, 800),
        (true, 800),
        (true, 800),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(end, dur))| {
        let d = dur.to_be_bytes();
        let flags = if end { 0x8A } else { 0x0A };
        packet(EVENT_PT, 900 + i as u16, ts, &[event, flags, d[0], d[1]])
    })
    .collect()
}

fn digits(core: &mut SessionCore) -> String {
    core.drain_events()
        .filter_map(|e| match e {
            MediaEvent::Digit(d) => Some(d.digit),
            _ => None,
        })
        .collect()
}

/// Run the clock to `now`, returning the packets sent.
fn transmit(core: &mut SessionCore, now: Instant) -> Vec<RtpHeader> {
    let mut out = Vec::new();
    while core.poll_timeout() <= now {
        let t = core.poll_timeout();
        core.handle_timeout(t);
        while core.poll_transmit(t).is_some() {
            assert!(core.remote().is_some(), "a packet with nowhere to go");
            out.push(parse(core.packet()).unwrap().header);
        }
    }
    out
}

fn prompt(packets: usize) -> Arc<Prompt> {
    Arc::new(Prompt::from_pcm("p", vec![1000; 160 * packets]))
}

#[test]
fn a_strangers_packets_and_keys_never_latch_before_or_after_the_callers_first_packet() {
    let t0 = Instant::now();
    let mut c = core(at(SDP_IP, 4000), RemotePolicy::Any, true, t0);
    // Before the caller's first packet: audio and a key press from a
    // stranger who guessed the port.
    c.handle_datagram(t0, &audio(1), at(STRANGER, 4000));
    for p in key_press(9, 16_000) {
        c.handle_datagram(t0, &p, at(STRANGER, 4000));
    }
    c.handle_timeout(t0 + Duration::from_millis(500));
    assert_eq!(digits(&mut c), "", "no key of the stranger's");
    assert_eq!(c.latched(), None);
    assert_eq!(c.remote(), Some(at(SDP_IP, 4000)), "still the SDP address");

    // The caller, through its NAT: signalling IP, a port of the NAT's.
    c.handle_datagram(t0, &audio(2), at(SIGNALLING, 31_000));
    assert_eq!(c.latched(), Some(at(SIGNALLING, 31_000)));
    assert_eq!(c.remote(), Some(at(SIGNALLING, 31_000)));

    // After it: the stranger, and even another port of the same NAT.
    for p in key_press(7, 32_000) {
        c.handle_datagram(t0, &p, at(STRANGER, 4000));
        c.handle_datagram(t0, &p, at(SIGNALLING, 31_002));
    }
    c.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(digits(&mut c), "");
    // The caller's own key still counts.
    for p in key_press(5, 48_000) {
        c.handle_datagram(t0, &p, at(SIGNALLING, 31_000));
    }
    assert_eq!(digits(&mut c), "5");
    let stats = c.receive_stats();
    assert_eq!(stats.foreign, 1 + 5 + 10, "every stranger's packet counted");
    assert_eq!(stats.packets, 1 + 5);
}

#[test]
fn before_the_ack_nothing_goes_to_an_sdp_address_that_sent_nothing_and_the_prompt_waits() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    // A forged INVITE naming a third party: no ACK will ever come.
    let mut c = core(at("192.0.2.99", 4000), RemotePolicy::Any, false, t0);
    assert_eq!(c.remote(), None);
    c.handle_command(
        t0,
        MediaCommand::Play {
            prompts: vec![prompt(3)],
            barge_in: false,
        },
    );
    assert!(
        transmit(&mut c, ms(2000)).is_empty(),
        "no RTP before the ACK"
    );
    assert!(
        !c.drain_events()
            .any(|e| matches!(e, MediaEvent::PlaybackDone { .. })),
        "the prompt waits rather than plays to nobody"
    );
    // The ACK: the greeting starts from its beginning.
    c.handle_command(ms(2000), MediaCommand::Confirmed);
    let sent = transmit(&mut c, ms(2100));
    assert_eq!(sent.len(), 3, "the whole prompt, after the ACK");
    assert!(sent[0].marker, "a talkspurt starts");
    assert_eq!(c.remote(), Some(at("192.0.2.99", 4000)));
    assert!(c
        .drain_events()
        .any(|e| matches!(e, MediaEvent::PlaybackDone { interrupted: false })));
}

#[test]
fn early_media_goes_to_a_latched_caller_before_the_ack() {
    let t0 = Instant::now();
    let mut c = core(at(SDP_IP, 4000), RemotePolicy::Any, false, t0);
    c.handle_command(
        t0,
        MediaCommand::Play {
            prompts: vec![prompt(2)],
            barge_in: false,
        },
    );
    assert!(transmit(&mut c, t0 + Duration::from_millis(100)).is_empty());
    c.handle_datagram(t0, &audio(1), at(SIGNALLING, 31_000));
    assert_eq!(transmit(&mut c, t0 + Duration::from_millis(200)).len(), 2);
    assert_eq!(c.remote(), Some(at(SIGNALLING, 31_000)));
}

#[test]
fn strict_remote_address_sends_only_where_the_signalling_ip_sends_from() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut c = core(
        at("198.51.100.9", 4000),
        RemotePolicy::SignallingSource,
        true,
        t0,
    );
    c.handle_command(
        t0,
        MediaCommand::Play {
            prompts: vec![prompt(2)],
            barge_in: false,
        },
    );
    assert!(transmit(&mut c, ms(500)).is_empty(), "not to the SDP's IP");
    c.handle_datagram(ms(500), &audio(1), at("198.51.100.9", 4000));
    assert_eq!(c.latched(), None, "the SDP's IP may not latch either");
    c.handle_datagram(ms(500), &audio(2), at(SIGNALLING, 4000));
    assert_eq!(transmit(&mut c, ms(600)).len(), 2);
    assert_eq!(c.remote(), Some(at(SIGNALLING, 4000)));
}

#[test]
fn after_a_re_invite_only_the_new_address_or_the_signalling_ip_may_latch() {
    let t0 = Instant::now();
    let mut c = core(at("192.0.2.10", 4000), RemotePolicy::Any, true, t0);
    c.handle_datagram(t0, &audio(1), at("192.0.2.10", 4000));
    assert_eq!(c.latched(), Some(at("192.0.2.10", 4000)));
    c.handle_command(t0, MediaCommand::SetRemote(at("192.0.2.99", 7000)));
    assert_eq!(c.latched(), None);
    assert_eq!(c.remote(), Some(at("192.0.2.99", 7000)));
    // The old address and a stranger are dropped and counted.
    c.handle_datagram(t0, &audio(2), at("192.0.2.10", 4000));
    for p in key_press(1, 64_000) {
        c.handle_datagram(t0, &p, at(STRANGER, 7000));
    }
    assert_eq!(c.latched(), None);
    assert_eq!(digits(&mut c), "");
    assert_eq!(c.receive_stats().foreign, 6);
    c.handle_datagram(t0, &audio(3), at("192.0.2.99", 7000));
    assert_eq!(c.latched(), Some(at("192.0.2.99", 7000)));
    // Hold by address: nothing is sent at all.
    c.handle_command(t0, MediaCommand::SetRemote(at("0.0.0.0", 7000)));
    assert_eq!(c.remote(), None);
}

#[test]
fn a_bridge_relays_nothing_of_a_strangers_on_either_leg() {
    let t0 = Instant::now();
    let mut caller = core(at(SDP_IP, 4000), RemotePolicy::Any, true, t0);
    // The agent's phone registered from 198.18.0.5 and names it in its SDP.
    let agent_rules = PeerRules::new("198.18.0.5".parse().unwrap(), RemotePolicy::Any, true);
    let mut agent = SessionCore::with_rules(
        &config(at("198.18.0.5", 5000)),
        agent_rules,
        t0,
        SenderIds {
            ssrc: 8,
            first_sequence: 1,
            first_timestamp: 1,
        },
    );
    caller.set_bridged(true);
    agent.set_bridged(true);
    let mut b = BridgeCore::new(&caller, &agent, None, t0);
    let stranger = at(STRANGER, 5000);
    for (side, bytes) in [(Side::Agent, audio(1)), (Side::Caller, audio(1))] {
        assert!(b
            .handle_datagram(t0, side, &bytes, stranger, &mut caller, &mut agent)
            .is_none());
    }
    for p in key_press(4, 16_000) {
        assert!(b
            .handle_datagram(t0, Side::Agent, &p, stranger, &mut caller, &mut agent)
            .is_none());
    }
    assert_eq!(digits(&mut agent), "");
    assert_eq!(agent.receive_stats().foreign, 6);
    // The agent's phone itself, from its registered address.
    let got = b.handle_datagram(
        t0,
        Side::Agent,
        &audio(2),
        at("198.18.0.5", 5000),
        &mut caller,
        &mut agent,
    );
    assert!(got.is_some(), "the agent's audio reaches the caller");
    assert_eq!(agent.latched(), Some(at("198.18.0.5", 5000)));
}
