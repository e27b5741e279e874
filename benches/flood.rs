//! SIP flood and overload benchmark (issue 14, hardening 4 and 5), against
//! a real `hotline run` on a throwaway PostgreSQL cluster, over raw UDP on
//! loopback (this generator sends its own datagrams: it must be able to
//! send faster than any real phone).
//!
//! Flood: `10 x capacity` new INVITEs (distinct Call-IDs) at once, from one
//! source or from many (`--sources N`: 127.0.1.1 ..), while real callers
//! from other addresses (127.0.0.2 ..) place calls through it. INVITEs are
//! retransmitted like a phone's (RFC 3261 Timer A), so what the kernel
//! drops is retried. Prints the answer latency of accepted calls above the
//! ring delay, the 503 latency, what got no answer, and the daemon's memory
//! (VmRSS now and VmHWM, its peak).
//!
//! `cargo bench --bench flood -- [--capacity 200] [--factor 10] [--sources 1] [--callers 40]`
//!
//! Two-way knee (`--two-way`): calls with RTP both ways (the generator sends
//! 50 packets a second to each answered call), placed at a rate that rises
//! step by step (`--rate-from 20 --rate-step 20 --steps 6 --step-secs 10`,
//! each held `--hold 10` s, so about rate x min(hold, step) calls at once), with no
//! call limit: only admission by load refuses. Per step: calls answered on
//! time (within the ring delay + 100 ms), late, refused with 503, failed.
//!
//! Without `--bench` (as `cargo test --benches` runs it) a quick flood at a
//! capacity of 10 checks the generator and the promises in a few seconds.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::sip::message::{parse, Message, Method, Response};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

mod common;
use common::{arg, flag, ms, pct, Bench};

/// Longest a call waits for a final response (a phone's Timer B).
const GIVE_UP: Duration = Duration::from_secs(32);

/// One call to place: when, and whether it is a real caller's.
#[derive(Debug, Clone)]
struct Spec {
    id: String,
    at: Instant,
    caller: bool,
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// 200 OK after `took` (from the first INVITE sent).
    Answered {
        caller: bool,
        took: Duration,
    },
    /// 503 after `took`; `retry_after`: it said when to come back.
    Busy {
        caller: bool,
        took: Duration,
        retry_after: bool,
    },
    Failed {
        caller: bool,
        why: &'static str,
    },
}

/// One call's progress inside its source's task.
struct Pending {
    spec: Spec,
    sent: Option<Instant>,
    retransmit_at: Instant,
    interval: Duration,
    responded: bool,
    finished: bool,
    to_tag: String,
    bye_at: Option<Instant>,
    bye_sent: bool,
}

fn invite(local: SocketAddr, server: SocketAddr, call: &str, rtp: SocketAddr) -> String {
    let sdp = format!(
        "v=0\r\no=flood 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    );
    format!(
        "INVITE sip:hotline@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:flood@{ip}>;tag=f{call}\r\nTo: <sip:hotline@{server}>\r\nCall-ID: {call}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:flood@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        ip = local.ip(),
    )
}

/// ACK or BYE in the dialog (`branch`: the INVITE's for the ACK of a
/// non-2xx, a new one otherwise).
fn in_dialog(
    method: &str,
    cseq: u32,
    branch: &str,
    local: SocketAddr,
    server: SocketAddr,
    call: &str,
    to_tag: &str,
) -> String {
    format!(
        "{method} sip:hotline@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:flood@{ip}>;tag=f{call}\r\nTo: <sip:hotline@{server}>;tag={to_tag}\r\nCall-ID: {call}\r\nCSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n",
        ip = local.ip(),
    )
}

/// The address the 200's SDP asks RTP to go to.
fn rtp_target(resp: &Response) -> Option<SocketAddr> {
    let body = std::str::from_utf8(&resp.body).ok()?;
    let ip: IpAddr = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim()
        .parse()
        .ok()?;
    let port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, port))
}

/// A socket with a receive buffer that holds a flood's answers.
fn bind(ip: IpAddr) -> std::io::Result<UdpSocket> {
    let std = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))?;
    std.set_nonblocking(true)?;
    let size: libc::c_int = 4 << 20;
    // SAFETY: setsockopt on our own socket with a c_int and its size.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::setsockopt(
            std.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    UdpSocket::from_std(std)
}

/// What a source reports to the RTP pump: a call to feed, or to stop.
enum Rtp {
    Start(String, SocketAddr),
    Stop(String),
}

/// Place `specs` from one address; report each call's outcome on `out`.
async fn source(
    ip: IpAddr,
    server: SocketAddr,
    specs: Vec<Spec>,
    hold: Duration,
    rtp_from: SocketAddr,
    rtp: Option<mpsc::UnboundedSender<Rtp>>,
    out: mpsc::UnboundedSender<Outcome>,
) {
    let sock = match bind(ip) {
        Ok(s) => s,
        Err(_) => {
            for s in &specs {
                let _ = out.send(Outcome::Failed {
                    caller: s.caller,
                    why: "bind",
                });
            }
            return;
        }
    };
    let local = sock.local_addr().unwrap();
    let mut calls: HashMap<String, Pending> = specs
        .into_iter()
        .map(|spec| {
            let at = spec.at;
            (
                spec.id.clone(),
                Pending {
                    spec,
                    sent: None,
                    retransmit_at: at,
                    interval: Duration::from_millis(500),
                    responded: false,
                    finished: false,
                    to_tag: String::new(),
                    bye_at: None,
                    bye_sent: false,
                },
            )
        })
        .collect();
    let mut open = calls.len();
    let mut buf = vec![0u8; 65_536];
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let done_by = Instant::now() + Duration::from_secs(600);
    while open > 0 && Instant::now() < done_by {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, _)) = r else { continue };
                match parse(&buf[..n]) {
                    Ok(Message::Response(resp)) => {
                        let Some(id) = resp.call_id() else { continue };
                        let Some(c) = calls.get_mut(id.as_str()) else { continue };
                        let Some(cseq) = resp.cseq() else { continue };
                        if cseq.method == Method::Bye {
                            if c.bye_sent && !c.finished {
                                c.finished = true;
                                open -= 1;
                            }
                            continue;
                        }
                        c.responded = true;
                        if resp.status < 200 || c.bye_at.is_some() || c.finished {
                            // Provisional, or a retransmitted final.
                            if resp.status >= 200 && resp.status < 300 {
                                let ack = in_dialog("ACK", 1, &format!("z9hG4bKA{id}"), local, server, id.as_str(), &c.to_tag);
                                let _ = sock.send_to(ack.as_bytes(), server).await;
                            }
                            continue;
                        }
                        let took = c.sent.map(|s| s.elapsed()).unwrap_or_default();
                        let caller = c.spec.caller;
                        c.to_tag = resp.to_tag().map(|t| t.0).unwrap_or_default();
                        match resp.status {
                            200 => {
                                let ack = in_dialog("ACK", 1, &format!("z9hG4bKA{id}"), local, server, id.as_str(), &c.to_tag);
                                let _ = sock.send_to(ack.as_bytes(), server).await;
                                c.bye_at = Some(Instant::now() + hold);
                                if let (Some(rtp), Some(to)) = (&rtp, rtp_target(&resp)) {
                                    let _ = rtp.send(Rtp::Start(id.to_string(), to));
                                }
                                let _ = out.send(Outcome::Answered { caller, took });
                            }
                            status => {
                                let ack = in_dialog("ACK", 1, &format!("z9hG4bK{id}"), local, server, id.as_str(), &c.to_tag);
                                let _ = sock.send_to(ack.as_bytes(), server).await;
                                let _ = out.send(if status == 503 {
                                    Outcome::Busy {
                                        caller,
                                        took,
                                        retry_after: resp.headers.get("Retry-After").is_some(),
                                    }
                                } else {
                                    Outcome::Failed { caller, why: "unexpected status" }
                                });
                                c.finished = true;
                                open -= 1;
                            }
                        }
                    }
                    Ok(Message::Request(req)) => {
                        // The daemon hangs up (flow ended, shutdown): 200.
                        let ok = Response::for_request(&req, 200, "OK");
                        let _ = sock.send_to(&ok.to_bytes(), server).await;
                        if *req.method() == Method::Bye {
                            if let Some(c) = calls.get_mut(req.call_id().as_str()) {
                                if let Some(rtp) = &rtp {
                                    let _ = rtp.send(Rtp::Stop(c.spec.id.clone()));
                                }
                                if !c.finished {
                                    c.finished = true;
                                    open -= 1;
                                }
                            }
                        }
                    }
                    Err(_) => {}
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                for c in calls.values_mut().filter(|c| !c.finished) {
                    if let Some(bye_at) = c.bye_at {
                        if now >= bye_at && !c.bye_sent {
                            c.bye_sent = true;
                            if let Some(rtp) = &rtp {
                                let _ = rtp.send(Rtp::Stop(c.spec.id.clone()));
                            }
                            let bye = in_dialog("BYE", 2, &format!("z9hG4bKB{}", c.spec.id), local, server, &c.spec.id, &c.to_tag);
                            let _ = sock.send_to(bye.as_bytes(), server).await;
                        } else if c.bye_sent && now >= bye_at + Duration::from_secs(5) {
                            c.finished = true;
                            open -= 1;
                        }
                        continue;
                    }
                    if now < c.retransmit_at {
                        continue;
                    }
                    let first = *c.sent.get_or_insert(now);
                    if now.duration_since(first) >= GIVE_UP {
                        let why = if c.responded { "no final response" } else { "no response" };
                        let _ = out.send(Outcome::Failed { caller: c.spec.caller, why });
                        c.finished = true;
                        open -= 1;
                        continue;
                    }
                    if c.responded && c.retransmit_at > first {
                        // A 1xx came: no more retransmissions, just wait.
                        c.retransmit_at = first + GIVE_UP;
                        continue;
                    }
                    let text = invite(local, server, &c.spec.id, rtp_from);
                    let _ = sock.send_to(text.as_bytes(), server).await;
                    c.retransmit_at = now + c.interval;
                    c.interval = (c.interval * 2).min(Duration::from_secs(4));
                }
            }
        }
    }
}

/// Sends one 20 ms PCMU packet to every answered call, 50 times a second,
/// from `sock` (the address the INVITEs' SDP names).
async fn rtp_pump(sock: Arc<UdpSocket>, mut cmds: mpsc::UnboundedReceiver<Rtp>) {
    let mut calls: HashMap<String, (SocketAddr, u16, u32)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut packet = vec![0xffu8; 172];
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(Rtp::Start(id, to)) => { calls.insert(id, (to, 0, rand::random())); }
                Some(Rtp::Stop(id)) => { calls.remove(&id); }
                None => return,
            },
            _ = tick.tick() => {
                for (to, seq, ssrc) in calls.values_mut() {
                    *seq = seq.wrapping_add(1);
                    packet[0] = 0x80;
                    packet[1] = 0;
                    packet[2..4].copy_from_slice(&seq.to_be_bytes());
                    packet[4..8].copy_from_slice(&(u32::from(*seq) * 160).to_be_bytes());
                    packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
                    let _ = sock.try_send_to(&packet, *to);
                }
            }
        }
    }
}

/// The daemon's memory: (VmRSS, VmHWM) in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Where the daemon's RTP goes: one socket that drops it all (and, for the
/// two-way mode, the one our RTP leaves from).
async fn sink() -> Arc<UdpSocket> {
    let sink = Arc::new(bind("127.0.0.1".parse().unwrap()).unwrap());
    let drain = sink.clone();
    tokio::spawn(async move {
        let mut b = [0u8; 2048];
        while drain.recv_from(&mut b).await.is_ok() {}
    });
    sink
}

#[derive(Default)]
struct Tally {
    answered: Vec<Duration>,
    busy: Vec<Duration>,
    busy_without_retry_after: u64,
    failed: std::collections::BTreeMap<&'static str, u64>,
}

impl Tally {
    fn add(&mut self, took_above_ring: impl Fn(Duration) -> Duration, o: Outcome) {
        match o {
            Outcome::Answered { took, .. } => self.answered.push(took_above_ring(took)),
            Outcome::Busy {
                took, retry_after, ..
            } => {
                self.busy.push(took);
                self.busy_without_retry_after += u64::from(!retry_after);
            }
            Outcome::Failed { why, .. } => *self.failed.entry(why).or_default() += 1,
        }
    }

    fn sort(&mut self) {
        self.answered.sort();
        self.busy.sort();
    }

    fn failed(&self) -> u64 {
        self.failed.values().sum()
    }
}

async fn flood_mode(quick: bool) {
    let capacity: usize = arg("--capacity", if quick { 10 } else { 200 });
    let factor: usize = arg("--factor", 10);
    let sources: usize = arg("--sources", 1);
    let callers: usize = arg("--callers", if quick { 5 } else { 40 });
    let ring = Duration::from_millis(arg("--ring-ms", if quick { 500 } else { 1000 }));
    let hold = Duration::from_secs_f64(arg("--hold", if quick { 1.0 } else { 5.0 }));
    // The daemon's defaults (50 a second, 100 at once) unless told; the
    // quick run's flood is too small to go over those.
    let rate: u32 = arg("--invite-rate", if quick { 5 } else { 50 });
    let burst: u32 = arg("--invite-burst", if quick { 5 } else { 100 });
    let daemon = Bench::start(&format!(
        "[answer]\nafter_rings = 1\nring_period = \"{}ms\"\n[sip]\nmax_calls = {capacity}\n\
         [admission]\ninvite_rate = {rate}\ninvite_burst = {burst}\n",
        ring.as_millis()
    ));
    let (rss_idle, _) = memory(daemon.pid());
    let rtp = sink().await.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now() + Duration::from_millis(100);
    let floods = capacity * factor;
    for s in 0..sources {
        let ip: IpAddr = format!("127.0.1.{}", 1 + s % 250).parse().unwrap();
        let specs: Vec<Spec> = (0..floods)
            .filter(|n| n % sources == s)
            .map(|n| Spec {
                id: format!("flood{n:06}x{:08x}", rand::random::<u32>()),
                at: start,
                caller: false,
            })
            .collect();
        tokio::spawn(source(ip, daemon.sip, specs, hold, rtp, None, tx.clone()));
    }
    // Real callers, each from its own address, spread over the first
    // seconds of the flood.
    for c in 0..callers {
        let ip: IpAddr = format!("127.0.0.{}", 2 + c % 250).parse().unwrap();
        let spec = Spec {
            id: format!("caller{c:04}x{:08x}", rand::random::<u32>()),
            at: start + Duration::from_millis(50 * c as u64),
            caller: true,
        };
        tokio::spawn(source(
            ip,
            daemon.sip,
            vec![spec],
            hold,
            rtp,
            None,
            tx.clone(),
        ));
    }
    drop(tx);
    let (mut flood, mut real) = (Tally::default(), Tally::default());
    let above_ring = |d: Duration| d.saturating_sub(ring);
    let mut peak = 0.0f64;
    let mut mem_tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            o = rx.recv() => match o {
                Some(o @ (Outcome::Answered { caller: true, .. } | Outcome::Busy { caller: true, .. } | Outcome::Failed { caller: true, .. })) => real.add(above_ring, o),
                Some(o) => flood.add(above_ring, o),
                None => break,
            },
            _ = mem_tick.tick() => peak = peak.max(memory(daemon.pid()).0),
        }
    }
    let (rss_end, hwm) = memory(daemon.pid());
    flood.sort();
    real.sort();
    println!(
        "sip/flood capacity={capacity} flood={floods} INVITEs from {sources} source(s) + {callers} callers, invite_rate={rate}/s burst={burst}, ring {}ms, load average {}",
        ring.as_millis(),
        load_average()
    );
    println!(
        "  callers:   answered={} busy(503)={} failed={:?}; answer latency above the ring p50={:.1}ms p99={:.1}ms max={:.1}ms",
        real.answered.len(),
        real.busy.len(),
        real.failed,
        ms(pct(&real.answered, 0.5)),
        ms(pct(&real.answered, 0.99)),
        ms(real.answered.last().copied().unwrap_or_default()),
    );
    println!(
        "  flood:     answered={} busy(503)={} (without Retry-After: {}) failed={:?}; 503 latency p50={:.1}ms p99={:.1}ms max={:.1}ms; admitted calls' answer above the ring p50={:.1}ms p99={:.1}ms",
        flood.answered.len(),
        flood.busy.len(),
        flood.busy_without_retry_after,
        flood.failed,
        ms(pct(&flood.busy, 0.5)),
        ms(pct(&flood.busy, 0.99)),
        ms(flood.busy.last().copied().unwrap_or_default()),
        ms(pct(&flood.answered, 0.5)),
        ms(pct(&flood.answered, 0.99)),
    );
    println!(
        "  memory:    VmRSS idle {rss_idle:.1} MiB, peak seen {peak:.1} MiB, end {rss_end:.1} MiB, VmHWM {hwm:.1} MiB"
    );
    drop(daemon);
    if quick {
        assert_eq!(real.failed(), 0, "callers failed: {:?}", real.failed);
        assert_eq!(flood.failed(), 0, "flood calls failed: {:?}", flood.failed);
        assert_eq!(flood.busy_without_retry_after, 0);
        assert!(
            !flood.busy.is_empty(),
            "a flood at {factor}x capacity got no 503"
        );
        if sources == 1 {
            assert_eq!(
                real.answered.len(),
                callers,
                "a flood from one source kept callers out"
            );
        }
    }
}

async fn two_way_mode(quick: bool) {
    let from: usize = arg("--rate-from", if quick { 5 } else { 20 });
    let step: usize = arg("--rate-step", if quick { 5 } else { 20 });
    let steps: usize = arg("--steps", if quick { 2 } else { 6 });
    let step_secs: u64 = arg("--step-secs", if quick { 2 } else { 10 });
    let hold = Duration::from_secs_f64(arg("--hold", if quick { 1.0 } else { 10.0 }));
    let ring = Duration::from_millis(arg("--ring-ms", 1000));
    let daemon = Bench::start(&format!(
        "[answer]\nafter_rings = 1\nring_period = \"{}ms\"\n[sip]\nmax_calls = 100000\n[admission]\ninvite_rate = 0\n",
        ring.as_millis()
    ));
    let rtp_sock = sink().await;
    let rtp = rtp_sock.local_addr().unwrap();
    let (pump_tx, pump_rx) = mpsc::unbounded_channel();
    tokio::spawn(rtp_pump(rtp_sock, pump_rx));
    println!(
        "sip/two-way ring {}ms, hold {:.0}s, load average {}",
        ring.as_millis(),
        hold.as_secs_f64(),
        load_average()
    );
    let on_time = Duration::from_millis(100);
    for k in 0..steps {
        let rate = from + k * step;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let begin = Instant::now();
        let total = rate * step_secs as usize;
        // 20 sources, calls spread evenly over the step.
        let mut per_source: Vec<Vec<Spec>> = vec![Vec::new(); 20];
        for n in 0..total {
            per_source[n % 20].push(Spec {
                id: format!("tw{k}n{n:06}x{:08x}", rand::random::<u32>()),
                at: begin + Duration::from_secs_f64(n as f64 / rate as f64),
                caller: true,
            });
        }
        for (s, specs) in per_source.into_iter().enumerate() {
            let ip: IpAddr = format!("127.0.2.{}", 1 + s).parse().unwrap();
            tokio::spawn(source(
                ip,
                daemon.sip,
                specs,
                hold,
                rtp,
                Some(pump_tx.clone()),
                tx.clone(),
            ));
        }
        drop(tx);
        let mut t = Tally::default();
        while let Some(o) = rx.recv().await {
            t.add(|d| d.saturating_sub(ring), o);
        }
        t.sort();
        let late = t.answered.iter().filter(|d| **d > on_time).count();
        let (rss, _) = memory(daemon.pid());
        println!(
            "  rate {rate:>4}/s (~{:>5} at once): answered {:>5} (late > ring+100ms: {late}), 503 {:>5} (p99 {:.1}ms), failed {:?}; answer above the ring p50={:.1}ms p99={:.1}ms; VmRSS {rss:.0} MiB; load {}",
            (rate as f64 * hold.as_secs_f64().min(step_secs as f64)) as u64,
            t.answered.len(),
            t.busy.len(),
            ms(pct(&t.busy, 0.99)),
            t.failed,
            ms(pct(&t.answered, 0.5)),
            ms(pct(&t.answered, 0.99)),
            load_average(),
        );
    }
    drop(daemon);
}

#[tokio::main]
async fn main() {
    let quick = !flag("--bench");
    if flag("--two-way") {
        two_way_mode(quick).await;
    } else {
        flood_mode(quick).await;
    }
}
