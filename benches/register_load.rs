//! REGISTER load against a real `hotline run` (on a throwaway PostgreSQL
//! cluster), over UDP on 127.0.0.1: N agents register with digest
//! authentication (401, then 200), then all refresh (a fresh REGISTER
//! answering the previous challenge with the next nonce-count, one round
//! trip). Prints registrations per second and latency percentiles.
//!
//! `cargo bench --bench register_load -- [--agents 10000] [--clients 32]`
//! Without `--bench` (as `cargo test --benches` runs it) a short run with
//! 40 agents checks the generator still works.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline::sip::auth::{ha1, Algorithm, ClientAuth, DigestChallenge};
use hotline::sip::message::{parse, Message, Response};
use tokio::net::UdpSocket;

mod common;
use common::{arg, flag, ms, pct, Bench};

const REALM: &str = "hotline";

fn user(i: usize) -> String {
    format!("agent{i:05}")
}

fn password(i: usize) -> String {
    format!("secret-{i:05}")
}

/// All agents in one statement (the roster's own `add` hashes and writes
/// an event per agent: right for people, slow for a fixture of 10,000).
async fn add_agents(db_url: &str, n: usize) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(db_url)
        .await
        .expect("bench database");
    let users: Vec<String> = (0..n).map(user).collect();
    let md5: Vec<String> = (0..n)
        .map(|i| ha1(Algorithm::Md5, &user(i), REALM, &password(i)))
        .collect();
    let sha: Vec<String> = (0..n)
        .map(|i| ha1(Algorithm::Sha256, &user(i), REALM, &password(i)))
        .collect();
    sqlx::query(
        "INSERT INTO agents (sip_user, display_name, tiers, language, realm, ha1_md5, ha1_sha256)
         SELECT u, u, ARRAY['L1'], 'en', $4, m, s FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t(u, m, s)",
    )
    .bind(&users)
    .bind(&md5)
    .bind(&sha)
    .bind(REALM)
    .execute(&pool)
    .await
    .expect("insert agents");
    pool.close().await;
}

struct Phone {
    sock: UdpSocket,
    server: SocketAddr,
    local: SocketAddr,
    buf: Vec<u8>,
}

/// What an agent keeps between its REGISTERs.
struct Session {
    i: usize,
    call_id: String,
    cseq: u32,
    challenge: Option<DigestChallenge>,
    nc: u32,
}

impl Phone {
    async fn new(server: SocketAddr) -> Phone {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = sock.local_addr().unwrap();
        Phone {
            sock,
            server,
            local,
            buf: vec![0; 65536],
        }
    }

    fn register(&self, s: &mut Session, auth: Option<String>) -> String {
        s.cseq += 1;
        let u = user(s.i);
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b:016x};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{u}@{server}>;tag=t{i}\r\nTo: <sip:{u}@{server}>\r\n\
             Call-ID: {call}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{u}@{local};line={i}>;expires=3600\r\n\
             {auth}Content-Length: 0\r\n\r\n",
            server = self.server,
            local = self.local,
            b = rand::random::<u64>(),
            i = s.i,
            call = s.call_id,
            cseq = s.cseq,
        )
    }

    async fn exchange(&mut self, text: &str) -> Option<Response> {
        self.sock.send_to(text.as_bytes(), self.server).await.ok()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (n, _) = tokio::time::timeout_at(deadline, self.sock.recv_from(&mut self.buf))
                .await
                .ok()?
                .ok()?;
            match parse(&self.buf[..n]) {
                Ok(Message::Response(r)) if r.status >= 200 => return Some(r),
                // Keep-alive OPTIONS from the daemon: not answered here.
                _ => continue,
            }
        }
    }

    fn authorization(&self, s: &mut Session) -> Option<String> {
        let ch = s.challenge.as_ref()?;
        s.nc += 1;
        let uri = format!("sip:{}", self.server);
        Some(
            ClientAuth {
                username: &user(s.i),
                realm: &ch.realm,
                password: &password(s.i),
                algorithm: ch.algorithm,
                method: "REGISTER",
                uri: &uri,
                nonce: &ch.nonce,
                opaque: ch.opaque.as_deref(),
                nc: s.nc,
                cnonce: "bench",
            }
            .header_value(),
        )
    }

    /// A first registration: 401, then 200. The time of both exchanges.
    async fn first(&mut self, s: &mut Session) -> Result<Duration, &'static str> {
        let t = Instant::now();
        let text = self.register(s, None);
        let r = self.exchange(&text).await.ok_or("no answer")?;
        if r.status != 401 {
            return Err("no challenge");
        }
        // Half the agents answer SHA-256, half MD5.
        let want = if s.i.is_multiple_of(2) {
            Algorithm::Sha256
        } else {
            Algorithm::Md5
        };
        s.challenge = r
            .headers
            .get_all("WWW-Authenticate")
            .filter_map(|v| DigestChallenge::parse(v).ok())
            .find(|c| c.algorithm == want);
        let auth = self.authorization(s);
        let text = self.register(s, auth);
        match self.exchange(&text).await.map(|r| r.status) {
            Some(200) => Ok(t.elapsed()),
            Some(_) => Err("refused"),
            None => Err("no answer"),
        }
    }

    /// A refresh with the next nonce-count: one exchange.
    async fn refresh(&mut self, s: &mut Session) -> Result<Duration, &'static str> {
        let t = Instant::now();
        let auth = self.authorization(s);
        let text = self.register(s, auth);
        match self.exchange(&text).await.map(|r| r.status) {
            Some(200) => Ok(t.elapsed()),
            Some(401) => Err("stale"),
            Some(_) => Err("refused"),
            None => Err("no answer"),
        }
    }
}

fn report(what: &str, mut lat: Vec<Duration>, failed: usize, wall: Duration) {
    lat.sort();
    println!(
        "{what}: {} ok, {failed} failed in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default())
    );
}

#[tokio::main]
async fn main() {
    let full = flag("--bench");
    let agents: usize = arg("--agents", if full { 10_000 } else { 40 });
    let clients: usize = arg("--clients", if full { 32 } else { 4 });
    // Keep-alives off the measured path: one every hour.
    let b = Bench::start(
        "[agents]\nkeepalive_interval = \"1h\"\nmax_expires = \"2h\"\nlockout_threshold = 1000\n",
    );
    add_agents(&b.db_url, agents).await;
    // The daemon hears of the roster change (NOTIFY) and reloads it.
    let loaded = Instant::now();
    let mut probe = Phone::new(b.sip).await;
    let last = agents - 1;
    loop {
        let mut s = Session {
            i: last,
            call_id: format!("probe-{}", rand::random::<u32>()),
            cseq: 0,
            challenge: None,
            nc: 0,
        };
        if probe.first(&mut s).await.is_ok() {
            break;
        }
        assert!(
            loaded.elapsed() < Duration::from_secs(60),
            "roster never loaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{agents} agents in the roster, loaded by the daemon within {:.2} s; {clients} concurrent phones",
        loaded.elapsed().as_secs_f64()
    );

    let sessions: Vec<Session> = (0..agents)
        .map(|i| Session {
            i,
            call_id: format!("reg-{i}-{}", rand::random::<u32>()),
            cseq: 0,
            challenge: None,
            nc: 0,
        })
        .collect();
    let mut sessions = sessions;
    for phase in ["first registration (401 + 200)", "refresh (200, next nc)"] {
        let start = Instant::now();
        let mut tasks = Vec::new();
        let mut shares: Vec<Vec<Session>> = (0..clients).map(|_| Vec::new()).collect();
        for (k, s) in std::mem::take(&mut sessions).into_iter().enumerate() {
            shares[k % clients].push(s);
        }
        for mine in shares {
            let server = b.sip;
            let refresh = phase.starts_with("refresh");
            tasks.push(tokio::spawn(async move {
                let mut phone = Phone::new(server).await;
                let mut lat = Vec::new();
                let mut failed = 0;
                let mut back = Vec::new();
                for mut s in mine {
                    let r = if refresh {
                        phone.refresh(&mut s).await
                    } else {
                        phone.first(&mut s).await
                    };
                    match r {
                        Ok(d) => lat.push(d),
                        Err(_) => failed += 1,
                    }
                    back.push(s);
                }
                (lat, failed, back)
            }));
        }
        let mut lat = Vec::new();
        let mut failed = 0;
        for t in tasks {
            let (l, f, back) = t.await.unwrap();
            lat.extend(l);
            failed += f;
            sessions.extend(back);
        }
        report(phase, lat, failed, start.elapsed());
        assert_eq!(failed, 0, "{phase}: every agent must register");
    }
}
