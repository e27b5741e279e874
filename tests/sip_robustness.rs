//! Stable-toolchain companion of `fuzz/`: feed tens of thousands of mutated
//! RFC 4475 torture messages and random byte strings through the parser and
//! everything that reads a parsed request. Passing means: no panic, and
//! every request we accept serialises to something that parses again.

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
