//! Stable-toolchain companion of `fuzz/`: feed tens of thousands of mutated
//! RFC 4475 torture messages and random byte strings through the parser and
//! everything that reads a parsed request. Passing means: no panic, and
//! every request we accept serialises to something that parses again.
//!
//! The same for every other parser that reads the network, one test each
//! beside its fuzz target: SDP offers (`fuzz/fuzz_targets/sdp_offer.rs`,
//! seeded with `tests/fixtures/sdp/`), RFC 4733 payloads (`rfc4733`), SIP
//! INFO DTMF bodies (`info_dtmf`) and multipart bodies (`multipart`). Each
//! first checks its seeds give the known answer, so a parser that refused
//! everything could not pass by never panicking.

use std::net::{IpAddr, Ipv4Addr};

use hotline::sip::dialog::Dialog;
use hotline::sip::identity::caller_identity;
use hotline::sip::message::{parse, Message, ParseError, Response, Tag};
use hotline::sip::validate::{validate_request, Policy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sip/torture");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("fixture directory")
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .collect();
    out.sort();
    assert!(out.len() >= 20, "expected the torture fixtures");
    out
}

const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b":",
    b";",
    b",",
    b"\"",
    b"\\",
    b"<",
    b">",
    b"@",
    b"%",
    b"%0",
    b" ",
    b"\t",
    b"\n ",
    b"=",
    b"SIP/2.0",
    b"z9hG4bK",
    b"tag=",
    b"Content-Length: 99999\r\n",
    b"l: -1\r\n",
    b"\x00",
    b"\xff",
    b"\xe2\x82",
    b"[",
    b"]",
    b"::",
    b"4294967296",
];

fn mutate(rng: &mut StdRng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.gen_range(1..6) {
        let pos = if v.is_empty() {
            0
        } else {
            rng.gen_range(0..=v.len())
        };
        match rng.gen_range(0..7) {
            0 if !v.is_empty() => {
                let i = pos.min(v.len() - 1);
                v[i] = rng.gen();
            }
            1 => {
                let s = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                v.splice(pos..pos, s.iter().copied());
            }
            2 if !v.is_empty() => {
                let end = (pos + rng.gen_range(1..40)).min(v.len());
                v.drain(pos.min(end)..end);
            }
            3 => v.truncate(pos),
            4 if !v.is_empty() => {
                // Duplicate a random slice (repeated headers, long values).
                let a = rng.gen_range(0..v.len());
                let b = (a + rng.gen_range(1..80)).min(v.len());
                let chunk = v[a..b].to_vec();
                v.splice(pos..pos, chunk);
            }
            5 => {
                // Splice in a piece of another message.
                let other = &pool[rng.gen_range(0..pool.len())];
                if !other.is_empty() {
                    let a = rng.gen_range(0..other.len());
                    let b = (a + rng.gen_range(1..120)).min(other.len());
                    v.splice(pos..pos, other[a..b].iter().copied());
                }
            }
            _ => {
                let i = pos.min(v.len());
                v.insert(i, rng.gen_range(0x20..0x7f));
            }
        }
    }
    v
}

fn exercise(data: &[u8]) {
    match parse(data) {
        Ok(Message::Request(req)) => {
            match parse(&req.to_bytes()) {
                Ok(Message::Request(again)) => {
                    assert_eq!(again.call_id(), req.call_id());
                    assert_eq!(again.body(), req.body());
                }
                other => panic!(
                    "accepted request does not re-parse: {other:?}\ninput: {:?}",
                    String::from_utf8_lossy(data)
                ),
            }
            let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let _ = caller_identity(&req, peer, &[peer]);
            let _ = validate_request(&req, &Policy::default(), |_| true);
            let resp = Response::for_request(&req, 200, "OK");
            assert!(matches!(parse(&resp.to_bytes()), Ok(Message::Response(_))));
            if let Ok(mut d) = Dialog::new_uas(&req, Tag::random()) {
                let _ = d.bye("UDP", "127.0.0.1:5060");
            }
        }
        Ok(Message::Response(r)) => {
            let _ = r.to_bytes();
        }
        Err(ParseError::Reject(rej)) => {
            let _ = rej.response.to_bytes();
        }
        Err(ParseError::Drop(_)) => {}
    }
}

#[test]
fn mutated_torture_messages_never_panic() {
    let pool = seeds();
    let mut rng = StdRng::seed_from_u64(4475);
    let mut accepted = 0;
    for i in 0..40_000 {
        let base = &pool[i % pool.len()];
        let input = mutate(&mut rng, base, &pool);
        if parse(&input).is_ok() {
            accepted += 1;
        }
        exercise(&input);
    }
    // The mutations must not be so wild that nothing parses any more.
    assert!(accepted > 1_000, "only {accepted} mutated messages parsed");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(3261);
    for _ in 0..20_000 {
        let len = rng.gen_range(0..600);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        exercise(&data);
    }
}

fn sdp_seeds() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sdp");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("SDP fixtures")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let text = std::fs::read_to_string(&p)
                .ok()?
                .replace("\r\n", "\n")
                .replace('\n', "\r\n");
            Some((
                p.file_stem()?.to_string_lossy().into_owned(),
                text.into_bytes(),
            ))
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "expected the SDP fixtures");
    out
}

fn safe_warning(w: &str) -> bool {
    let Some((code, rest)) = w.split_once(' ') else {
        return false;
    };
    let Some(text) = rest.strip_prefix("hotline ") else {
        return false;
    };
    code.len() == 3
        && code.bytes().all(|b| b.is_ascii_digit())
        && text.len() >= 2
        && text.starts_with('"')
        && text.ends_with('"')
        && text[1..text.len() - 1]
            .chars()
            .all(|c| (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\')
}

#[test]
fn mutated_sdp_offers_never_panic_and_answers_mirror_the_offer() {
    use hotline::media::sdp::{build_answer, negotiate, LocalMedia};
    let local = LocalMedia {
        addr: "127.0.0.1".parse().unwrap(),
        port: 20000,
        session_id: 1,
        session_version: 1,
    };
    let seeds = sdp_seeds();
    for (name, s) in &seeds {
        let r = negotiate(&String::from_utf8_lossy(s));
        assert_eq!(r.is_ok(), name != "webrtc-gateway", "{name}: {r:?}");
    }
    let pool: Vec<Vec<u8>> = seeds.into_iter().map(|(_, s)| s).collect();
    let mut rng = StdRng::seed_from_u64(3264);
    let mut accepted = 0;
    for i in 0..20_000 {
        let input = mutate(&mut rng, &pool[i % pool.len()], &pool);
        match negotiate(&String::from_utf8_lossy(&input)) {
            Ok(n) => {
                accepted += 1;
                let answer = build_answer(&n, &local);
                let lines = answer.split("\r\n").filter(|l| l.starts_with("m=")).count();
                assert_eq!(lines, n.mline_count(), "{answer}");
                let back = negotiate(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
                assert_eq!(
                    (back.codec, back.telephone_event),
                    (n.codec, n.telephone_event)
                );
            }
            Err(e) => assert!(safe_warning(&e.warning()), "{}", e.warning()),
        }
    }
    assert!(
        accepted > 2_000,
        "only {accepted} mutated offers negotiated"
    );
}

#[test]
fn mutated_rfc4733_streams_never_panic_and_seeds_give_their_digit() {
    use hotline::media::dtmf::rfc4733::{EventPacket, Rfc4733Decoder};
    use std::time::{Duration, Instant};
    // Key 5 pressed for 3 packets, then the end packet sent three times.
    let seed: Vec<[u8; 4]> = vec![
        [5, 0x0a, 0x00, 0xa0],
        [5, 0x0a, 0x01, 0x40],
        [5, 0x0a, 0x01, 0xe0],
        [5, 0x8a, 0x03, 0x20],
        [5, 0x8a, 0x03, 0x20],
        [5, 0x8a, 0x03, 0x20],
    ];
    let run = |packets: &[(u32, Vec<u8>, u64)]| -> Vec<char> {
        let mut dec = Rfc4733Decoder::new(8000);
        let mut now = Instant::now();
        let mut out = Vec::new();
        for (i, (ts, payload, advance)) in packets.iter().enumerate() {
            now += Duration::from_millis(*advance);
            let _ = dec.handle_packet(
                now,
                EventPacket {
                    timestamp: *ts,
                    marker: i == 0,
                    seq: i as u16,
                    payload,
                },
            );
            if dec.poll_timeout().is_some_and(|t| t <= now) {
                dec.handle_timeout(now);
            }
            while let Some(d) = dec.poll_output() {
                out.push(d.digit);
            }
        }
        dec.handle_timeout(now + Duration::from_secs(10));
        while let Some(d) = dec.poll_output() {
            out.push(d.digit);
        }
        out
    };
    let base: Vec<(u32, Vec<u8>, u64)> = seed.iter().map(|p| (16_000, p.to_vec(), 20)).collect();
    assert_eq!(run(&base), ['5'], "the seed press is one digit");
    let mut rng = StdRng::seed_from_u64(4733);
    for _ in 0..20_000 {
        let mut stream = base.clone();
        for _ in 0..rng.gen_range(1..6) {
            let i = rng.gen_range(0..stream.len());
            match rng.gen_range(0..6) {
                0 => stream[i].0 = rng.gen(),
                1 => stream[i].1 = (0..rng.gen_range(0..8)).map(|_| rng.gen()).collect(),
                2 => {
                    let j = rng.gen_range(0..stream[i].1.len().max(1));
                    if let Some(b) = stream[i].1.get_mut(j) {
                        *b = rng.gen();
                    }
                }
                3 => stream[i].2 = rng.gen_range(0..2_000),
                4 => {
                    let p = stream[i].clone();
                    let at = rng.gen_range(0..=stream.len());
                    stream.insert(at, p);
                }
                _ => {
                    let j = rng.gen_range(0..stream.len());
                    stream.swap(i, j);
                }
            }
        }
        let digits = run(&stream);
        assert!(digits.len() <= stream.len());
        assert!(digits.iter().all(|d| "0123456789*#ABCD".contains(*d)));
    }
}

#[test]
fn mutated_info_bodies_never_panic_and_seeds_give_their_digit() {
    use hotline::media::dtmf::info::parse_info;
    let seeds: &[(&str, &str, char)] = &[
        (
            "application/dtmf-relay",
            "Signal=5\r\nDuration=160\r\n",
            '5',
        ),
        ("application/dtmf-relay", "Signal= *\nDuration= 250\n", '*'),
        ("Application/DTMF-Relay; charset=utf-8", "signal=#\r\n", '#'),
        ("application/dtmf", "9", '9'),
        ("application/dtmf", "A\r\n", 'A'),
    ];
    for (ct, body, want) in seeds {
        let d = parse_info(ct, body).unwrap_or_else(|e| panic!("{ct} {body:?}: {e}"));
        assert_eq!(d.digit, *want, "{body:?}");
    }
    let pool: Vec<Vec<u8>> = seeds
        .iter()
        .map(|(c, b, _)| format!("{c}\n{b}").into_bytes())
        .collect();
    let mut rng = StdRng::seed_from_u64(2976);
    let mut digits = 0;
    for i in 0..20_000 {
        let input = mutate(&mut rng, &pool[i % pool.len()], &pool);
        let text = String::from_utf8_lossy(&input);
        let (ct, body) = text
            .split_once('\n')
            .unwrap_or(("application/dtmf-relay", &text));
        if let Ok(d) = parse_info(ct, body) {
            digits += 1;
            assert!(
                "0123456789*#ABCD".contains(d.digit),
                "{:?} from {text:?}",
                d.digit
            );
        }
    }
    assert!(digits > 1_000, "only {digits} mutated bodies gave a digit");
}

#[test]
fn mutated_multipart_bodies_never_panic_and_parts_stay_inside() {
    use hotline::sip::message::multipart::{boundary, find_sdp, parts, Found, MAX_PARTS};
    fn inside(outer: &[u8], inner: &[u8]) -> bool {
        let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
        i >= o && i + inner.len() <= o + outer.len()
    }
    let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let seeds = [
        format!(
            "multipart/mixed;boundary=unique-boundary-1\n--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n\
             --unique-boundary-1\r\nContent-Type: application/ISUP;version=itu-t92+\r\nContent-Disposition: signal;handling=optional\r\n\r\n\x01\x00\x49\x00\r\n--unique-boundary-1--\r\n"
        ),
        format!(
            "multipart/alternative; boundary=\"b2\"\npreamble\r\n--b2\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b2\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--b2--\r\n"
        ),
        format!(
            "multipart/mixed;boundary=o\n--o\r\nContent-Type: multipart/alternative;boundary=i\r\n\r\n--i\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--i--\r\n\r\n--o--\r\n"
        ),
    ];
    let split = |d: &[u8]| -> (String, Vec<u8>) {
        let i = d.iter().position(|&b| b == b'\n').unwrap_or(d.len());
        (
            String::from_utf8_lossy(&d[..i]).into_owned(),
            d.get(i + 1..).unwrap_or_default().to_vec(),
        )
    };
    for s in &seeds {
        let (ct, body) = split(s.as_bytes());
        assert_eq!(find_sdp(&ct, &body), Ok(Found::Sdp(sdp.as_bytes())), "{ct}");
    }
    let pool: Vec<Vec<u8>> = seeds.iter().map(|s| s.clone().into_bytes()).collect();
    let mut rng = StdRng::seed_from_u64(5621);
    let mut found = 0;
    for i in 0..20_000 {
        let input = mutate(&mut rng, &pool[i % pool.len()], &pool);
        let (ct, body) = split(&input);
        if let Some(b) = boundary(&ct) {
            if let Ok(ps) = parts(&body, &b) {
                assert!(!ps.is_empty() && ps.len() <= MAX_PARTS);
                assert!(ps.iter().all(|p| inside(&body, p.body)));
            }
        }
        if let Ok(Found::Sdp(s)) = find_sdp(&ct, &body) {
            found += 1;
            assert!(inside(&body, s));
        }
    }
    assert!(
        found > 2_000,
        "only {found} mutated bodies still gave their SDP"
    );
}
