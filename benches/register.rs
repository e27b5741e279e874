//! REGISTER with digest authentication, in process (no sockets, one
//! core): what the registrar actor does per request, timed server-side
//! only (the simulated phones' work is outside the timed spans).
//! Run: `cargo bench --bench register [-- --agents 10000]`. Without
//! `--bench` (as `cargo test --benches` runs it) it uses 200 agents.
//!
//! Three measurements:
//! - first registration: REGISTER → 401 (two challenges) → REGISTER with
//!   credentials → verify → registrar update → 200 listing the binding;
//!   half the agents answer the SHA-256 challenge, half the MD5 one;
//! - refresh with a fresh nonce (the phone reuses it with nc=2): one
//!   round, verify + replay check + registrar update;
//! - refresh after the nonce went stale (the usual case: registration
//!   intervals are longer than the nonce lifetime): 401 stale=true, then
//!   the authenticated REGISTER.
//!
//! Each step includes parsing the request bytes and serialising the
//! response, as the actor would.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hotline::config::AgentsConfig;
use hotline::sip::auth::{
    AuthConfig, AuthOutcome, Authenticator, ChallengeKind, ClientAuth, DigestChallenge, NonceKey,
    StoredCredentials,
};
use hotline::sip::message::{parse, Message, Request, Response};
use hotline::sip::registrar::{self, Arrival, Binding, Limits};
use hotline::sip::transport::Kind;

const REALM: &str = "hotline";

fn arg(name: &str, default: usize) -> usize {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut lat: Vec<Duration>) {
    lat.sort();
    let total: Duration = lat.iter().sum();
    println!(
        "register/{name:<22} n={:<6} {:>8.0} /s (one core)  p50 {:>6.1} µs  p99 {:>6.1} µs  max {:>7.1} µs",
        lat.len(),
        lat.len() as f64 / total.as_secs_f64(),
        percentile(&lat, 0.50).as_secs_f64() * 1e6,
        percentile(&lat, 0.99).as_secs_f64() * 1e6,
        lat.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
    );
}

/// One simulated phone.
struct Phone {
    user: String,
    password: String,
    port: u16,
    call_id: String,
    cseq: u32,
    sha256: bool,
    /// The challenge last answered and its nonce count.
    challenge: Option<DigestChallenge>,
    nc: u32,
}

impl Phone {
    fn register_bytes(&self) -> Vec<u8> {
        let mut t = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK{c}-{s};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{u}@127.0.0.1>;tag={c}\r\n\
             To: <sip:{u}@127.0.0.1>\r\n\
             Call-ID: {c}\r\n\
             CSeq: {s} REGISTER\r\n\
             Contact: <sip:{u}-0x55d1c0a0@127.0.0.1:{p}>;expires=3600\r\n\
             User-Agent: baresip v3.10.1 (x86_64/linux)\r\n",
            p = self.port,
            c = self.call_id,
            s = self.cseq,
            u = self.user,
        );
        if let Some(ch) = &self.challenge {
            let h = ClientAuth {
                username: &self.user,
                realm: &ch.realm,
                password: &self.password,
                algorithm: ch.algorithm,
                method: "REGISTER",
                uri: "sip:127.0.0.1",
                nonce: &ch.nonce,
                opaque: ch.opaque.as_deref(),
                nc: self.nc,
                cnonce: "0a4f113b",
            }
            .header_value();
            t.push_str(&format!("Authorization: {h}\r\n"));
        }
        t.push_str("Content-Length: 0\r\n\r\n");
        t.into_bytes()
    }

    /// Take the challenge of the algorithm this phone prefers.
    fn answer(&mut self, resp: &[u8]) {
        let Ok(Message::Response(r)) = parse(resp) else {
            panic!("our 401 parses")
        };
        let want = if self.sha256 { "SHA-256" } else { "MD5" };
        let value = r
            .headers
            .get_all("WWW-Authenticate")
            .find(|v| v.contains(want))
            .expect("both challenges");
        self.challenge = Some(DigestChallenge::parse(value).expect("challenge parses"));
        self.nc = 1;
    }
}

/// The registrar actor's state and its handling of one datagram.
struct Registrar {
    auth: Authenticator,
    roster: HashMap<String, StoredCredentials>,
    bindings: HashMap<String, Vec<Binding>>,
    limits: Limits,
}

enum Answer {
    Challenge(Vec<u8>),
    /// The 200 was built and serialised (its bytes are not needed).
    Ok,
}

impl Registrar {
    fn handle(&mut self, now: DateTime<Utc>, bytes: &[u8], source: SocketAddr) -> Answer {
        let Ok(Message::Request(req)) = parse(bytes) else {
            panic!("REGISTER parses")
        };
        let roster = &self.roster;
        let outcome = self.auth.check(
            now,
            req.method().as_str(),
            ChallengeKind::Www.credentials(&req),
            |u| roster.get(u).cloned(),
            source.ip(),
        );
        match outcome {
            AuthOutcome::Authenticated { user } => {
                std::hint::black_box(self.bind(&req, &user, now, source));
                Answer::Ok
            }
            AuthOutcome::Challenge { stale } => Answer::Challenge(
                self.auth
                    .challenge_response(&req, ChallengeKind::Www, now, stale)
                    .to_bytes(),
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn bind(
        &mut self,
        req: &Request,
        user: &str,
        now: DateTime<Utc>,
        source: SocketAddr,
    ) -> Vec<u8> {
        assert_eq!(registrar::aor_user(req).as_deref(), Some(user));
        let current = self.bindings.entry(user.to_string()).or_default();
        let arrival = Arrival {
            now,
            source,
            transport: Kind::Udp,
        };
        let update = registrar::register(req, current, &arrival, &self.limits).expect("accepted");
        let resp: Response = registrar::ok_response(req, &update.bindings, now);
        *current = update.bindings;
        resp.to_bytes()
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn source(i: usize) -> SocketAddr {
    let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32));
    SocketAddr::new(ip, 5060)
}

/// Send the phone's REGISTER, answer one challenge if asked, until 200;
/// the server's time for all of it.
fn round(reg: &mut Registrar, phone: &mut Phone, i: usize, now: DateTime<Utc>) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..3 {
        let bytes = phone.register_bytes();
        let t0 = Instant::now();
        let answer = reg.handle(now, &bytes, source(i));
        spent += t0.elapsed();
        phone.cseq += 1;
        match answer {
            Answer::Ok => {
                phone.nc += 1;
                return spent;
            }
            Answer::Challenge(resp) => phone.answer(&resp),
        }
    }
    panic!("{} not registered after three tries", phone.user);
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let agents = arg("--agents", if quick { 200 } else { 10_000 });
    let config = AgentsConfig::default();
    let mut auth_cfg = AuthConfig::from_config(&config);
    // Never lock out the simulated phones (they all answer right anyway).
    auth_cfg.lockout.threshold = u32::MAX;
    let mut reg = Registrar {
        auth: Authenticator::new(auth_cfg, NonceKey::random()),
        roster: HashMap::new(),
        bindings: HashMap::new(),
        limits: Limits::from_config(&config),
    };
    let mut phones: Vec<Phone> = (0..agents)
        .map(|i| {
            let user = format!("agent{i}");
            let password = format!("pw-{i}-secret");
            reg.roster.insert(
                user.clone(),
                StoredCredentials::from_password(&user, REALM, &password),
            );
            Phone {
                user,
                password,
                port: 5000 + (i % 60000) as u16,
                call_id: format!("reg-{i}@bench"),
                cseq: 1,
                sha256: i % 2 == 0,
                challenge: None,
                nc: 1,
            }
        })
        .collect();

    let wall = Instant::now();
    let first: Vec<Duration> = phones
        .iter_mut()
        .enumerate()
        .map(|(i, p)| round(&mut reg, p, i, at(0)))
        .collect();
    let first_wall = wall.elapsed();
    report("first (401 + 200)", first);

    let fresh: Vec<Duration> = phones
        .iter_mut()
        .enumerate()
        .map(|(i, p)| round(&mut reg, p, i, at(60)))
        .collect();
    report("refresh, fresh nonce", fresh);

    let wall = Instant::now();
    let stale: Vec<Duration> = phones
        .iter_mut()
        .enumerate()
        .map(|(i, p)| round(&mut reg, p, i, at(3600)))
        .collect();
    let stale_wall = wall.elapsed();
    let stale_cpu: Duration = stale.iter().sum();
    report("refresh, stale nonce", stale);

    let bound: usize = reg.bindings.values().map(Vec::len).sum();
    assert_eq!(bound, agents, "one binding per agent");
    println!(
        "register/{agents} agents: first registrations in {:.2} s wall (phones included), \
         all refreshed (stale nonce, 2 round trips each) in {:.2} s wall, {:.3} s of server time",
        first_wall.as_secs_f64(),
        stale_wall.as_secs_f64(),
        stale_cpu.as_secs_f64(),
    );
    let per_sec = agents as f64 / f64::from(reg.limits.max_expires);
    println!(
        "register/steady state: {agents} agents refreshing every {} s = {per_sec:.1} REGISTERs/s, \
         {:.3}% of one core",
        reg.limits.max_expires,
        per_sec * stale_cpu.as_secs_f64() / agents as f64 * 100.0,
    );
}
