//! Stable-toolchain companion of `fuzz/fuzz_targets/authorization.rs`:
//! thousands of mutated `Authorization` values from real phones' seeds go
//! through the parser, `verify` and [`Authenticator::check`]. Passing
//! means no panic; the seeds themselves must parse.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use chrono::DateTime;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// What baresip, pjsua, Linphone and a Yealink send (shapes as captured,
/// values made up), and the RFC examples.
const SEEDS: &[&str] = &[
    // baresip
    r#"Digest username="agent1",realm="hotline",nonce="0000000069a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5",uri="sip:127.0.0.1",response="6629fae49393a05397450978507c4ef1",cnonce="3f1e2d",qop=auth,nc=00000001"#,
    // pjsua
    r#"Digest username="agent2", realm="hotline", nonce="abc", uri="sip:127.0.0.1:5060", response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", algorithm=SHA-256, cnonce="qmF7ws3Ymn6GJx6DyXv4Cu7KUI7AZBs5", opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001"#,
    // Linphone (quoted qop, algorithm before response)
    r#"Digest realm="hotline", nonce="abc", algorithm=MD5, opaque="o", username="agent3",  uri="sip:hotline.local", response="8ca523f5e9506fed4657c9700eebdbec", cnonce="b5c2", nc=0000000a, qop="auth""#,
    // Yealink (RFC 2069 form, unquoted algorithm)
    r#"Digest username="1001",realm="hotline",nonce="abc",uri="sip:10.0.0.1:5060",response="670fd8c2df070c60b045671b8b24ff02",algorithm=MD5"#,
    r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    r#"Digest username="a\"b,c", realm="r", nonce="n", uri="sip:x", response="6629fae49393a05397450978507c4ef1", userhash=true"#,
];

const INTERESTING: &[&str] = &[
    "\"",
    "\\",
    ",",
    "=",
    " ",
    "\t",
    "\r\n",
    ",,",
    "Digest",
    "nc=",
    "qop=auth",
    "algorithm=SHA-256",
    "response=\"",
    "\u{0}",
    "é",
    "\u{7f}",
    "username=\"x\"",
    "ffffffff",
    "00000000",
    "\\\"",
];

fn mutate(rng: &mut StdRng, seed: &str) -> String {
    let mut v: Vec<char> = seed.chars().collect();
    for _ in 0..rng.gen_range(1..6) {
        let pos = rng.gen_range(0..=v.len());
        match rng.gen_range(0..6) {
            0 if !v.is_empty() => {
                let i = pos.min(v.len() - 1);
                v[i] = char::from(rng.gen_range(0u8..128));
            }
            1 => {
                let s = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                v.splice(pos..pos, s.chars());
            }
            2 => {
                let end = (pos + rng.gen_range(1..30)).min(v.len());
                v.drain(pos..end);
            }
            3 => v.truncate(pos),
            4 => {
                // Duplicate a slice: repeated params, long values.
                let end = (pos + rng.gen_range(1..80)).min(v.len());
                let copy: Vec<char> = v[pos..end].to_vec();
                let times = rng.gen_range(1..60);
                for _ in 0..times {
                    v.splice(pos..pos, copy.iter().copied());
                }
            }
            _ => {
                if !v.is_empty() {
                    let a = rng.gen_range(0..v.len());
                    let b = rng.gen_range(0..v.len());
                    v.swap(a, b);
                }
            }
        }
    }
    v.into_iter().collect()
}

#[test]
fn seeds_parse() {
    for s in SEEDS {
        DigestResponse::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

#[test]
fn mutated_values_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x05ee_da07);
    let creds = StoredCredentials::from_password("agent1", "hotline", "pw");
    let mut auth = Authenticator::new(
        AuthConfig {
            realm: "hotline".into(),
            nonce_lifetime: Duration::from_secs(300),
            lockout: LockoutPolicy {
                threshold: 5,
                window: Duration::from_secs(60),
                period: Duration::from_secs(300),
                max_tracked: 64,
            },
            replay_capacity: 64,
        },
        NonceKey::from_bytes([3; 32]),
    );
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let (mut ok, mut total) = (0, 0);
    for i in 0..20_000u32 {
        let seed = SEEDS[i as usize % SEEDS.len()];
        let v = mutate(&mut rng, seed);
        total += 1;
        if let Ok(r) = DigestResponse::parse(&v) {
            ok += 1;
            let _ = verify(&r, "REGISTER", creds.ha1(r.algorithm));
        }
        let _ = DigestChallenge::parse(&v);
        let src = IpAddr::V4(Ipv4Addr::from(i));
        let _ = auth.check(now, "REGISTER", Some(&v), |_| Some(creds.clone()), src);
    }
    // The mutations are meant to stay near the grammar: some still parse.
    assert!(ok > total / 20, "only {ok} of {total} mutants parsed");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..5_000 {
        let len = rng.gen_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let s = String::from_utf8_lossy(&bytes);
        let _ = DigestResponse::parse(&s);
        let _ = DigestResponse::parse(&format!("Digest {s}"));
    }
}
