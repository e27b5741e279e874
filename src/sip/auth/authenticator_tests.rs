//! [`Authenticator::check`] end to end with driven time: challenge, answer,
//! stale nonces, replays, wrong and unknown users, lock-out.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;

const REALM: &str = "hotline";

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

fn config() -> AuthConfig {
    AuthConfig {
        realm: REALM.into(),
        nonce_lifetime: Duration::from_secs(300),
        lockout: LockoutPolicy {
            threshold: 5,
            window: Duration::from_secs(60),
            period: Duration::from_secs(300),
            max_tracked: 1000,
        },
        replay_capacity: 1000,
    }
}

fn roster() -> HashMap<String, StoredCredentials> {
    let mut m = HashMap::new();
    for (u, p) in [("agent1", "s3cret"), ("agent2", "other")] {
        m.insert(u.to_string(), StoredCredentials::from_password(u, REALM, p));
    }
    m
}

struct Fixture {
    auth: Authenticator,
    roster: HashMap<String, StoredCredentials>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            auth: Authenticator::new(config(), NonceKey::random()),
            roster: roster(),
        }
    }

    fn check(&mut self, now: DateTime<Utc>, header: Option<&str>, src: IpAddr) -> AuthOutcome {
        let roster = &self.roster;
        self.auth
            .check(now, "REGISTER", header, |u| roster.get(u).cloned(), src)
    }

    /// A fresh challenge (SHA-256 or MD5) and a phone's answer to it.
    fn answer(&self, now: DateTime<Utc>, alg: Algorithm, user: &str, pw: &str, nc: u32) -> String {
        let [sha, md5] = self.auth.challenges(now, false);
        let c = DigestChallenge::parse(if alg == Algorithm::Sha256 { &sha } else { &md5 }).unwrap();
        answer_to(&c, user, pw, nc)
    }
}

fn answer_to(c: &DigestChallenge, user: &str, pw: &str, nc: u32) -> String {
    ClientAuth {
        username: user,
        realm: &c.realm,
        password: pw,
        algorithm: c.algorithm,
        method: "REGISTER",
        uri: "sip:127.0.0.1",
        nonce: &c.nonce,
        opaque: c.opaque.as_deref(),
        nc,
        cnonce: "0a4f113b",
    }
    .header_value()
}

fn authenticated(user: &str) -> AuthOutcome {
    AuthOutcome::Authenticated { user: user.into() }
}

#[test]
fn challenges_offer_sha256_first_then_md5() {
    let f = Fixture::new();
    let [a, b] = f.auth.challenges(at(0), false);
    let (a, b) = (
        DigestChallenge::parse(&a).unwrap(),
        DigestChallenge::parse(&b).unwrap(),
    );
    assert_eq!(
        (a.algorithm, b.algorithm),
        (Algorithm::Sha256, Algorithm::Md5)
    );
    assert_eq!(a.realm, REALM);
    assert!(a.qop_auth && !a.stale);
    assert_eq!(a.nonce, b.nonce);
    assert!(a.opaque.is_some());
    let [s, _] = f.auth.challenges(at(0), true);
    assert!(DigestChallenge::parse(&s).unwrap().stale);
}

#[test]
fn no_credentials_get_a_challenge_and_both_algorithms_authenticate() {
    let mut f = Fixture::new();
    assert_eq!(
        f.check(at(0), None, ip(1)),
        AuthOutcome::Challenge { stale: false }
    );
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        let h = f.answer(at(0), alg, "agent1", "s3cret", 1);
        assert_eq!(
            f.check(at(1), Some(&h), ip(1)),
            authenticated("agent1"),
            "{alg:?}"
        );
    }
}

#[test]
fn challenge_response_is_401_or_407_with_two_headers() {
    use crate::sip::message::{parse, Message};
    let raw =
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK1\r\n\
               From: <sip:agent1@127.0.0.1>;tag=1\r\nTo: <sip:agent1@127.0.0.1>\r\nCall-ID: c1\r\n\
               CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
    let Ok(Message::Request(req)) = parse(raw.as_bytes()) else {
        panic!("fixture parses")
    };
    let f = Fixture::new();
    let r = f
        .auth
        .challenge_response(&req, ChallengeKind::Www, at(0), true);
    assert_eq!((r.status, r.reason.as_str()), (401, "Unauthorized"));
    let values: Vec<&str> = r.headers.get_all("WWW-Authenticate").collect();
    assert_eq!(values.len(), 2);
    assert!(values[0].contains("SHA-256") && values[1].contains("MD5"));
    assert!(values[0].contains("stale=true"));
    let p = f
        .auth
        .challenge_response(&req, ChallengeKind::Proxy, at(0), false);
    assert_eq!(p.status, 407);
    assert_eq!(p.headers.get_all("Proxy-Authenticate").count(), 2);
    assert_eq!(ChallengeKind::Proxy.credentials(&req), None);
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_answer() {
    let mut f = Fixture::new();
    let wrong = f.answer(at(0), Algorithm::Sha256, "agent1", "guess", 1);
    let unknown = f.answer(at(0), Algorithm::Sha256, "nobody", "guess", 1);
    let a = f.check(at(1), Some(&wrong), ip(1));
    let b = f.check(at(1), Some(&unknown), ip(1));
    assert!(matches!(
        a,
        AuthOutcome::Forbidden {
            reason: ForbiddenReason::WrongPassword,
            lockout: None,
            ..
        }
    ));
    assert!(matches!(
        b,
        AuthOutcome::Forbidden {
            reason: ForbiddenReason::UnknownUser,
            lockout: None,
            ..
        }
    ));
    assert_eq!(a.status(ChallengeKind::Www), b.status(ChallengeKind::Www));
    assert_eq!(a.status(ChallengeKind::Www), Some(403));
}

#[test]
fn unknown_user_costs_about_the_same_as_a_wrong_password() {
    let mut f = Fixture::new();
    let wrong = f.answer(at(0), Algorithm::Sha256, "agent1", "guess", 1);
    let unknown = f.answer(at(0), Algorithm::Sha256, "nobody", "guess", 1);
    // Many sources so the lock-out never short-cuts a check.
    let time = |h: &str, f: &mut Fixture| {
        let t = std::time::Instant::now();
        for i in 0..2000u32 {
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let _ = f.check(at(1), Some(h), src);
        }
        t.elapsed()
    };
    let (_warm, w) = (time(&wrong, &mut f), time(&wrong, &mut f));
    let u = time(&unknown, &mut f);
    let ratio = u.as_secs_f64() / w.as_secs_f64();
    // Loose: a shared 2-core machine is noisy; a skipped hash would be ~0.3.
    assert!(
        (0.5..2.0).contains(&ratio),
        "unknown/wrong time ratio {ratio}"
    );
}

#[test]
fn stale_nonce_with_the_right_password_gets_stale_true() {
    let mut f = Fixture::new();
    let h = f.answer(at(0), Algorithm::Md5, "agent1", "s3cret", 1);
    assert_eq!(
        f.check(at(301), Some(&h), ip(1)),
        AuthOutcome::Challenge { stale: true }
    );
    // ... and with the wrong one a 403, not a hint that only the nonce was old.
    let w = f.answer(at(0), Algorithm::Md5, "agent1", "nope", 1);
    assert!(matches!(
        f.check(at(301), Some(&w), ip(1)),
        AuthOutcome::Forbidden { .. }
    ));
}

#[test]
fn forged_nonce_wrong_realm_or_opaque_get_a_fresh_challenge() {
    let mut f = Fixture::new();
    let other = Authenticator::new(config(), NonceKey::random());
    let [sha, _] = other.challenges(at(0), false);
    let foreign = answer_to(
        &DigestChallenge::parse(&sha).unwrap(),
        "agent1",
        "s3cret",
        1,
    );
    assert_eq!(
        f.check(at(1), Some(&foreign), ip(1)),
        AuthOutcome::Challenge { stale: false }
    );
    let good = f.answer(at(0), Algorithm::Sha256, "agent1", "s3cret", 1);
    let bad_realm = good.replace("realm=\"hotline\"", "realm=\"elsewhere\"");
    assert_eq!(
        f.check(at(1), Some(&bad_realm), ip(1)),
        AuthOutcome::Challenge { stale: false }
    );
    let mut c = DigestChallenge::parse(&f.auth.challenges(at(0), false)[0]).unwrap();
    c.opaque = Some("00".repeat(16));
    let bad_opaque = answer_to(&c, "agent1", "s3cret", 1);
    assert_eq!(
        f.check(at(1), Some(&bad_opaque), ip(1)),
        AuthOutcome::Challenge { stale: false }
    );
}

#[test]
fn replayed_nonce_count_is_challenged_and_higher_counts_pass() {
    let mut f = Fixture::new();
    let c = DigestChallenge::parse(&f.auth.challenges(at(0), false)[0]).unwrap();
    let one = answer_to(&c, "agent1", "s3cret", 1);
    assert_eq!(f.check(at(1), Some(&one), ip(1)), authenticated("agent1"));
    assert_eq!(
        f.check(at(2), Some(&one), ip(1)),
        AuthOutcome::Challenge { stale: true }
    );
    let two = answer_to(&c, "agent1", "s3cret", 2);
    assert_eq!(f.check(at(3), Some(&two), ip(1)), authenticated("agent1"));
}

#[test]
fn malformed_credentials_are_a_bad_request() {
    let mut f = Fixture::new();
    let out = f.check(at(0), Some("Digest username=\"agent1"), ip(1));
    assert!(matches!(
        out,
        AuthOutcome::BadRequest(AuthError::Syntax { .. })
    ));
    assert_eq!(out.status(ChallengeKind::Proxy), Some(400));
}

#[test]
fn lockout_after_five_failures_spares_a_correct_agent_elsewhere() {
    let mut f = Fixture::new();
    let mut started = None;
    for i in 0..5 {
        let h = f.answer(at(i), Algorithm::Md5, "agent1", "guess", 1);
        match f.check(at(i), Some(&h), ip(66)) {
            AuthOutcome::Forbidden { lockout, .. } => started = started.or(lockout),
            other => panic!("{other:?}"),
        }
    }
    let s = started.expect("the fifth failure starts a lock-out");
    assert_eq!((s.source, s.user.as_str()), (ip(66), "agent1"));
    // The locked source is refused even with the right password ...
    let right = f.answer(at(10), Algorithm::Md5, "agent1", "s3cret", 1);
    assert_eq!(
        f.check(at(10), Some(&right), ip(66)),
        AuthOutcome::LockedOut
    );
    // ... the agent from their own address gets in at once ...
    assert_eq!(
        f.check(at(10), Some(&right), ip(1)),
        authenticated("agent1")
    );
    // ... and the lock ends after the period.
    let later = f.answer(at(400), Algorithm::Md5, "agent1", "s3cret", 1);
    assert_eq!(
        f.check(at(400), Some(&later), ip(66)),
        authenticated("agent1")
    );
}
