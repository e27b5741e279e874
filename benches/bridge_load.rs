//! Bridged calls end to end against the real `hotline run` (on a throwaway
//! PostgreSQL cluster), all on 127.0.0.1: N built-in agents register with
//! digest, N built-in callers arrive at a steady rate, walk a short flow
//! (severity menu, ticket, queue), are bridged to an agent and talk both
//! ways for the hold time (G.711 every 20 ms on both legs, each packet
//! stamped with its send time), then hang up.
//!
//! Prints calls bridged and failed (with why), time to bridge, the delay
//! the relay adds per direction (phone to phone on one process clock, next
//! to a loopback baseline measured at the same time in the same process),
//! RTP loss, CPU-s per bridged call-minute of hotline and its PostgreSQL,
//! and memory per call.
//!
//! `cargo bench --bench bridge_load -- [--calls 1000] [--hold 30s] [--rate 50]
//!  [--answer 200ms] [--recording none|all]`
//! Without `--bench` (as `cargo test --benches` runs it) 4 calls held 3 s:
//! every call must be bridged and loss stay under 1 %.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline::callgen::agent::{AgentLogin, AgentOptions, Agents};
use hotline::callgen::stamp::{self, StreamStats};
use hotline::callgen::{Caller, CallerId};
use hotline::sip::auth::{ha1, Algorithm};

mod common;
use common::procfs::{self, loadavg, own_cpu_seconds, rss_kib};
use common::{arg, flag, ms, pct, Bench};

const REALM: &str = "hotline";
const LIMIT: Duration = Duration::from_secs(60);
/// Loopback pairs measured beside the calls (the baseline).
const BASELINE_PAIRS: usize = 10;

fn login(i: usize) -> AgentLogin {
    AgentLogin {
        user: format!("agent{i:05}"),
        password: format!("secret-{i:05}"),
    }
}

fn duration_arg(name: &str, default: Duration) -> Duration {
    let text: String = arg(name, String::new());
    if text.is_empty() {
        return default;
    }
    humantime::parse_duration(&text)
        .or_else(|_| text.parse::<f64>().map(Duration::from_secs_f64))
        .unwrap_or_else(|_| panic!("{name} {text}: give a duration such as 30s or 500ms"))
}

/// All agents in one statement, tier L1 (the roster's own `add` hashes
/// and writes an event per agent: right for people, slow for a fixture).
async fn add_agents(db_url: &str, n: usize) -> sqlx::PgPool {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(db_url)
        .await
        .expect("bench database");
    let logins: Vec<AgentLogin> = (0..n).map(login).collect();
    let users: Vec<&str> = logins.iter().map(|l| l.user.as_str()).collect();
    let md5: Vec<String> = logins
        .iter()
        .map(|l| ha1(Algorithm::Md5, &l.user, REALM, &l.password))
        .collect();
    let sha: Vec<String> = logins
        .iter()
        .map(|l| ha1(Algorithm::Sha256, &l.user, REALM, &l.password))
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
    pool
}

/// Wait until `n` agents are available (the registrar logged them in).
async fn agents_available(pool: &sqlx::PgPool, n: usize) {
    let start = Instant::now();
    loop {
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM agents WHERE state = 'available'")
                .fetch_one(pool)
                .await
                .unwrap();
        if count as usize >= n {
            return;
        }
        assert!(
            start.elapsed() < LIMIT,
            "only {count} of {n} agents available after {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One bridged call as the caller saw it.
struct Bridged {
    /// INVITE to 200 OK.
    answered: Duration,
    /// The menu key pressed to the first agent packet heard.
    key_to_agent: Duration,
    /// INVITE to the first agent packet heard.
    invite_to_agent: Duration,
    /// The agent's stamped stream as the caller heard it.
    heard: StreamStats,
}

/// Calls bridged right now; the sampler reads it.
static BRIDGED_NOW: AtomicU64 = AtomicU64::new(0);

async fn call(
    sip: std::net::SocketAddr,
    n: usize,
    hold: Duration,
) -> Result<Bridged, &'static str> {
    let who = CallerId {
        user: format!("555{n:07}"),
        display: None,
        anonymous: false,
    };
    let t0 = Instant::now();
    let mut c = Caller::dial(sip, &who, LIMIT).await.map_err(|e| match e {
        hotline::callgen::CallerError::Refused(_) => "refused",
        hotline::callgen::CallerError::Timeout(_) => "no answer",
        hotline::callgen::CallerError::Io(_) => "caller I/O",
    })?;
    let answered = c.answered_after;
    if !c.wait_for_prompt_start(LIMIT).await {
        return Err("no severity prompt");
    }
    c.press("3").await.map_err(|_| "caller I/O")?; // minor: L1
    let key = Instant::now();
    c.start_stamping();
    if !c.wait_for_stamped(LIMIT).await {
        let _ = c.hang_up().await;
        return Err("never bridged (no agent audio)");
    }
    let bridged = Instant::now();
    BRIDGED_NOW.fetch_add(1, Ordering::Relaxed);
    let ended_early = !wait_or_hangup(&c, hold).await;
    c.stop_stamping();
    BRIDGED_NOW.fetch_sub(1, Ordering::Relaxed);
    if ended_early {
        return Err("the hotline ended the bridged call");
    }
    // What is in flight arrives (a loopback round trip is far shorter).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let heard = c.stamps();
    c.hang_up().await.map_err(|_| "caller I/O")?;
    Ok(Bridged {
        answered,
        key_to_agent: bridged - key,
        invite_to_agent: bridged - t0,
        heard,
    })
}

/// Hold the line for `hold`; false if the hotline hung up first.
async fn wait_or_hangup(c: &Caller, hold: Duration) -> bool {
    let end = Instant::now() + hold;
    while Instant::now() < end {
        if c.hung_up_by_peer() {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
    }
    !c.hung_up_by_peer()
}

/// Stamped streams straight from one loopback socket to another in this
/// process, beside the calls: what the generator's own scheduling and two
/// loopback hops cost, to set against the phone-to-phone figures.
fn baseline(pairs: usize) -> (Arc<Mutex<StreamStats>>, Vec<tokio::task::JoinHandle<()>>) {
    let total = Arc::new(Mutex::new(StreamStats::default()));
    let mut tasks = Vec::new();
    for _ in 0..pairs {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        let a = tokio::net::UdpSocket::from_std(a).unwrap();
        let b = tokio::net::UdpSocket::from_std(b).unwrap();
        stamp::enable_arrival_times(&b).unwrap();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut pkt = [0xFFu8; 12 + 160];
            pkt[0] = 0x80;
            for counter in 0u32.. {
                tick.tick().await;
                stamp::write(&mut pkt[12..], counter);
                let _ = a.send_to(&pkt, to).await;
            }
        }));
        let total = total.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, arrived)) = stamp::recv_timed(&b, &mut buf).await {
                stamp::observe(&total, &buf[..n], arrived);
            }
        }));
    }
    (total, tasks)
}

/// One CPU/memory reading while the calls run.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    hotline: f64,
    postgres: f64,
    generator: f64,
    bridged: u64,
    rss: u64,
}

fn sample(bench: &Bench) -> Sample {
    let (hotline, postgres) = bench.cpu_seconds();
    Sample {
        at: Instant::now(),
        hotline,
        postgres,
        generator: own_cpu_seconds(),
        bridged: BRIDGED_NOW.load(Ordering::Relaxed),
        rss: rss_kib(bench.pid()).0,
    }
}

/// Quantiles in ms of microsecond samples.
struct Quantiles(Vec<u32>);

impl Quantiles {
    fn of(samples: &[u32]) -> Self {
        let mut l = samples.to_vec();
        l.sort_unstable();
        Quantiles(l)
    }

    fn q(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0[((self.0.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
            self.q(0.5),
            self.q(0.99),
            self.q(0.999),
            self.q(1.0)
        )
    }
}

fn latency_line(what: &str, s: &StreamStats) -> String {
    let loss = if s.expected() == 0 {
        0.0
    } else {
        s.lost() as f64 * 100.0 / s.expected() as f64
    };
    format!(
        "{what}: {} packets, lost {} ({loss:.3} %)\n    at the receiving socket (kernel arrival stamp): {}\n    read by the receiving phone: {}",
        s.received,
        s.lost(),
        Quantiles::of(&s.wire_us).line(),
        Quantiles::of(&s.latencies_us).line(),
    )
}

fn loss_share(s: &StreamStats) -> f64 {
    if s.expected() == 0 {
        1.0
    } else {
        s.lost() as f64 / s.expected() as f64
    }
}

#[tokio::main]
async fn main() {
    let quick = !flag("--bench");
    let calls: usize = arg("--calls", if quick { 4 } else { 1000 });
    let hold = duration_arg("--hold", Duration::from_secs(if quick { 3 } else { 30 }));
    let rate: f64 = arg("--rate", if quick { 10.0 } else { 50.0 });
    let answer_after = duration_arg("--answer", Duration::from_millis(200));
    let recording: String = arg("--recording", "none".to_string());
    let nofile = procfs::raise_nofile();

    let flow = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/flows/route-quick.toml");
    let bench = Bench::start(&format!(
        "[answer]\nafter_rings = 0\n[ivr]\nflow = \"{}\"\n\
         [agents]\nkeepalive_interval = \"1h\"\nmax_expires = \"2h\"\nwrap_up = \"1s\"\nlockout_threshold = 100000\n\
         [routing]\nring_timeout = \"8s\"\nrecording = \"{recording}\"\n\
         [sip]\nmax_calls = {}\n[media]\nrtp_ports = \"20000-60000\"\n[database]\npool_size = 32\n",
        flow.display(),
        calls * 3 + 10
    ));
    let pool = add_agents(&bench.db_url, calls).await;
    let agents = Agents::start(
        bench.sip,
        (0..calls).map(login).collect(),
        AgentOptions {
            answer_after,
            ..AgentOptions::default()
        },
    )
    .await
    .expect("agents' sockets");
    let reg_start = Instant::now();
    agents
        .wait_registered(Duration::from_secs(120))
        .await
        .expect("agents register");
    agents_available(&pool, calls).await;
    println!(
        "bridge/load: {calls} agents registered with digest and available in {:.1} s; {calls} callers at {rate}/s, each bridged for {hold:?}, agents answer after {answer_after:?}, recording {recording}; open files {nofile}; load average {}",
        reg_start.elapsed().as_secs_f64(),
        loadavg()
    );

    let idle = sample(&bench);
    let (base, base_tasks) = baseline(BASELINE_PAIRS);
    let samples = Arc::new(Mutex::new(vec![idle]));
    let sampler = {
        let samples = samples.clone();
        let bench_pid = bench.pid();
        let pm = bench.postmaster();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let s = Sample {
                    at: Instant::now(),
                    hotline: procfs::cpu_seconds(bench_pid, false),
                    postgres: pm.map_or(0.0, procfs::cluster_cpu_seconds),
                    generator: own_cpu_seconds(),
                    bridged: BRIDGED_NOW.load(Ordering::Relaxed),
                    rss: rss_kib(bench_pid).0,
                };
                samples.lock().unwrap().push(s);
            }
        })
    };

    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..calls {
        let at = start + Duration::from_secs_f64(n as f64 / rate);
        let sip = bench.sip;
        tasks.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            call(sip, n, hold).await
        });
    }
    let mut done = Vec::new();
    let mut failed: std::collections::BTreeMap<&str, u64> = Default::default();
    while let Some(r) = tasks.join_next().await {
        match r.expect("caller task") {
            Ok(b) => done.push(b),
            Err(why) => *failed.entry(why).or_default() += 1,
        }
    }
    let wall = start.elapsed();
    let end = sample(&bench);
    sampler.abort();
    for t in base_tasks {
        t.abort();
    }
    let idle_after = agents.wait_idle(Duration::from_secs(30)).await;
    let report = agents.report();
    let peak_rss = rss_kib(bench.pid()).1;

    // Figures.
    let mut answered: Vec<Duration> = done.iter().map(|b| b.answered).collect();
    let mut key_to_agent: Vec<Duration> = done.iter().map(|b| b.key_to_agent).collect();
    let mut invite_to_agent: Vec<Duration> = done.iter().map(|b| b.invite_to_agent).collect();
    answered.sort();
    key_to_agent.sort();
    invite_to_agent.sort();
    let mut to_caller = StreamStats::default();
    for b in &done {
        to_caller.merge(&b.heard);
    }
    let to_agent = report.heard.clone();
    let base = base.lock().unwrap().clone();

    println!(
        "  calls placed {calls}, bridged {}, failed {}: {failed:?}; in {:.1} s; load average {}",
        done.len(),
        failed.values().sum::<u64>(),
        wall.as_secs_f64(),
        loadavg()
    );
    println!(
        "  agents: INVITEs {}, answered {}, ACKed {}, BYE from hotline {}, CANCELled {}, still in a call {}",
        report.invites,
        report.answered,
        report.acked,
        report.byes_received,
        report.cancelled,
        if idle_after { 0 } else { report.active }
    );
    println!(
        "  INVITE -> 200 p50 {:.1} ms p99 {:.1} ms; key pressed -> agent heard (queue, ring {answer_after:?}, answer) p50 {:.1} ms p99 {:.1} ms; INVITE -> agent heard p50 {:.0} ms p99 {:.0} ms",
        ms(pct(&answered, 0.5)),
        ms(pct(&answered, 0.99)),
        ms(pct(&key_to_agent, 0.5)),
        ms(pct(&key_to_agent, 0.99)),
        ms(pct(&invite_to_agent, 0.5)),
        ms(pct(&invite_to_agent, 0.99)),
    );
    println!(
        "  {}",
        latency_line("caller -> hotline -> agent", &to_agent)
    );
    println!(
        "  {}",
        latency_line("agent -> hotline -> caller", &to_caller)
    );
    println!(
        "  {}",
        latency_line("loopback baseline (same process, no relay)", &base)
    );
    let (a, c, b) = (
        Quantiles::of(&to_agent.wire_us),
        Quantiles::of(&to_caller.wire_us),
        Quantiles::of(&base.wire_us),
    );
    println!(
        "  relay latency added (send to kernel arrival, minus the direct loopback's at the same percentile): to agent p50 {:.3} ms p99 {:.3} ms; to caller p50 {:.3} ms p99 {:.3} ms",
        a.q(0.5) - b.q(0.5),
        a.q(0.99) - b.q(0.99),
        c.q(0.5) - b.q(0.5),
        c.q(0.99) - b.q(0.99),
    );

    // CPU: the window in which every call was bridged, if there was one;
    // and the whole run over every bridged minute.
    let samples = samples.lock().unwrap().clone();
    let full: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.bridged as usize == calls)
        .collect();
    if let (Some(a), Some(b)) = (full.first(), full.last()) {
        let secs = b.at.duration_since(a.at).as_secs_f64();
        if secs >= 1.0 {
            let minutes = calls as f64 * secs / 60.0;
            println!(
                "  steady ({calls} bridged for {secs:.1} s): hotline {:.4} + PostgreSQL {:.4} = {:.4} CPU-s per bridged call-minute ({:.0} % of one core); generator {:.4}; RSS {} KiB = {:.1} KiB per call over idle",
                (b.hotline - a.hotline) / minutes,
                (b.postgres - a.postgres) / minutes,
                (b.hotline - a.hotline + b.postgres - a.postgres) / minutes,
                (b.hotline - a.hotline + b.postgres - a.postgres) * 100.0 / secs,
                (b.generator - a.generator) / minutes,
                b.rss,
                (b.rss.saturating_sub(idle.rss)) as f64 / calls as f64,
            );
        }
    } else {
        println!(
            "  steady: the calls never were all bridged at once (raise --hold above calls/rate)"
        );
    }
    let bridged_minutes = done.len() as f64 * hold.as_secs_f64() / 60.0;
    if bridged_minutes > 0.0 {
        println!(
            "  whole run (IVR, ticket, queue and set-up included): hotline {:.1} s + PostgreSQL {:.1} s over {bridged_minutes:.1} bridged call-minutes = {:.4} CPU-s per bridged call-minute; generator {:.1} s; peak RSS {peak_rss} KiB ({:.1} KiB per call, idle {} KiB)",
            end.hotline - idle.hotline,
            end.postgres - idle.postgres,
            (end.hotline - idle.hotline + end.postgres - idle.postgres) / bridged_minutes,
            end.generator - idle.generator,
            (peak_rss.saturating_sub(idle.rss)) as f64 / calls as f64,
            idle.rss,
        );
    }
    pool.close().await;
    drop(agents);
    drop(bench);

    if quick {
        assert!(
            failed.is_empty() && done.len() == calls,
            "every call bridged: {failed:?}"
        );
        assert_eq!(report.answered as usize, calls, "every agent answered");
        for (what, s) in [("to agent", &to_agent), ("to caller", &to_caller)] {
            assert!(s.received > 0, "audio {what}");
            assert!(
                loss_share(s) < 0.01,
                "loss {what}: {} of {}",
                s.lost(),
                s.expected()
            );
        }
    }
}
