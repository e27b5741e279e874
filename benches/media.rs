//! N concurrent two-way calls: each media session plays prompts while a
//! simulated caller sends G.711 RTP back at 50 packets/s.
//! Run: `cargo bench --bench media -- --calls 2000 --seconds 30`.
//! Without `--bench` (as `cargo test --benches` runs it) it does 20 calls for
//! 2 s so CI stays fast, then the bridge part with 20 bridged calls.
//!
//! Bridged calls: `cargo bench --bench media -- --bridged 1000 --seconds 20`
//! (add `--record` to record every call in stereo to a temporary
//! directory). Each call is two sessions bridged; a fake phone per leg
//! sends 20 ms PCMU packets at 50/s into its leg, and receives what the
//! bridge relays from the other leg. Each payload carries its send instant,
//! so the receiving thread (blocking on its socket, no polling) measures
//! end-to-end relay latency: two loopback hops plus hotline's wake-up and
//! relay. The server-side part alone (read to `send_to` returned) comes
//! from the bridges' reports.
//!
//! Measurements:
//! - send lateness: each session records, per packet, how long after its
//!   absolute deadline `start + n * 20 ms` the `send_to` returned;
//! - arrival deviation: the simulated callers timestamp each packet on
//!   arrival and compare with the earliest-fitting schedule `base + n * 20 ms`
//!   of that stream (so it includes loopback delivery and the callers' own
//!   1 ms polling);
//! - CPU: `getrusage(RUSAGE_SELF)` over the measured window minus the CPU of
//!   the load-generator thread (`CLOCK_THREAD_CPUTIME_ID`), so only the media
//!   runtime's share is counted. On loopback, a `sendto` also pays for the
//!   delivery into the receiving socket, so each side carries part of the
//!   other's kernel receive cost; the two roughly cancel;
//! - memory: RSS growth from before the sessions start to the end of the
//!   run, divided by N (kernel socket buffers are not in RSS).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::media::codec::Codec;
use hotline::media::ports::PortAllocator;
use hotline::media::prompt::{Prompt, PromptCache};
use hotline::media::rtp::{self, RtpHeader};
use hotline::media::session::{self, Lateness, SessionConfig, DEFAULT_RTP_TIMEOUT};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Args {
    calls: usize,
    seconds: u64,
    /// Bridged calls to run instead of the prompt calls (0: none).
    bridged: usize,
    record: bool,
    quick: bool,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let full = argv.iter().any(|a| a == "--bench");
    let value = |name: &str| {
        argv.iter()
            .position(|a| a == name)
            .and_then(|i| argv.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Args {
        calls: value("--calls").unwrap_or(if full { 2000 } else { 20 }) as usize,
        seconds: value("--seconds").unwrap_or(if full { 30 } else { 2 }),
        bridged: value("--bridged").unwrap_or(if full { 0 } else { 20 }) as usize,
        record: argv.iter().any(|a| a == "--record"),
        quick: !full,
    }
}

fn rusage_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime only writes into the struct we pass.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// What the simulated callers saw and spent.
struct CallerReport {
    sent: u64,
    received: u64,
    arrival: Lateness,
    cpu: Duration,
}

/// All callers on one socket, driven by one thread on a 1 ms grid: caller
/// `i` sends in slot `i % 20`, so the load is spread like real phones'.
fn callers(
    sessions: Vec<SocketAddr>,
    seconds: u64,
) -> (SocketAddr, std::thread::JoinHandle<CallerReport>) {
    let socket = UdpSocket::bind((LO, 0)).unwrap();
    socket.set_nonblocking(true).unwrap();
    let size: libc::c_int = 8 << 20;
    // SAFETY: setsockopt reads `size` only. FORCE needs root; the plain
    // option is the fallback, capped by rmem_max.
    unsafe {
        let p = (&size as *const libc::c_int).cast();
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            p,
            len,
        ) != 0
        {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                p,
                len,
            );
        }
    }
    let addr = socket.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let cpu0 = thread_cpu();
        let index: std::collections::HashMap<SocketAddr, usize> =
            sessions.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        // Per stream: (earliest base instant, first sequence).
        let mut streams: Vec<Option<(Instant, u16)>> = vec![None; sessions.len()];
        let mut report = CallerReport {
            sent: 0,
            received: 0,
            arrival: Lateness::default(),
            cpu: Duration::ZERO,
        };
        let mut out = [0u8; 172];
        let mut buf = [0u8; 1500];
        let start = Instant::now();
        let end = start + Duration::from_secs(seconds);
        let mut slot: u64 = 0;
        loop {
            let deadline = start + Duration::from_millis(slot);
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let now = Instant::now();
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let (Ok(p), Some(&i)) = (rtp::parse(&buf[..n]), index.get(&from)) else {
                    continue;
                };
                report.received += 1;
                let (base, seq0) = *streams[i].get_or_insert((now, p.header.sequence));
                let n = u64::from(p.header.sequence.wrapping_sub(seq0));
                let expected = base + Duration::from_millis(20 * n);
                match now.checked_duration_since(expected) {
                    Some(late) => report.arrival.record(late),
                    None => {
                        // Earlier than the schedule fitted so far: refit.
                        streams[i] = Some((now - Duration::from_millis(20 * n), seq0));
                        report.arrival.record(Duration::ZERO);
                    }
                }
            }
            if now >= end {
                break;
            }
            let tick = slot / 20;
            for (i, dest) in sessions
                .iter()
                .enumerate()
                .filter(|(i, _)| *i as u64 % 20 == slot % 20)
            {
                let h = RtpHeader {
                    marker: tick == 0,
                    payload_type: 0,
                    sequence: tick as u16,
                    timestamp: (tick as u32).wrapping_mul(160),
                    ssrc: i as u32,
                };
                let n = rtp::write_packet(&h, &[0xFF; 160], &mut out).unwrap();
                if socket.send_to(&out[..n], dest).is_ok() {
                    report.sent += 1;
                }
            }
            slot += 1;
        }
        report.cpu = thread_cpu() - cpu0;
        report
    });
    (addr, handle)
}

fn playlist(cache: &PromptCache, seconds: u64) -> Vec<Arc<Prompt>> {
    let names = [
        "en/greeting-hello",
        "en/greeting-service",
        "en/company",
        "en/category-menu",
    ];
    let mut list = Vec::new();
    let mut total = Duration::ZERO;
    while total < Duration::from_secs(seconds + 5) {
        for n in names {
            let p = cache.get(n).expect("shipped prompt");
            total += p.duration();
            list.push(p);
        }
    }
    list
}

fn ms(d: Option<Duration>) -> f64 {
    d.unwrap_or_default().as_secs_f64() * 1e3
}

fn main() {
    let args = args();
    if args.quick || args.bridged == 0 {
        prompt_calls(args.calls, args.seconds);
    }
    if args.bridged > 0 {
        bridged_calls(args.bridged, args.seconds, args.record);
    }
}

fn prompt_calls(calls: usize, seconds: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache =
        PromptCache::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")).unwrap();
    let prompts = playlist(&cache, seconds);
    let ports = PortAllocator::new(LO, 30000, 39999).unwrap();
    let rss0 = rss_bytes();
    // Ports first: the callers need the sessions' addresses, the sessions
    // the callers' one.
    let (sessions, handles) = rt.block_on(async {
        let mut sessions = Vec::with_capacity(calls);
        let mut handles = Vec::with_capacity(calls);
        for _ in 0..calls {
            let port = ports.allocate().expect("enough ports in 30000-39999");
            sessions.push(port.local_addr().unwrap());
            handles.push(port);
        }
        (sessions, handles)
    });
    let (caller_addr, caller_thread) = callers(sessions.clone(), seconds);
    let config = SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(101),
        remote: caller_addr,
        rtp_timeout: DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    };
    let cpu0 = rusage_cpu();
    let wall0 = Instant::now();
    let running: Vec<_> = rt.block_on(async {
        let mut running = Vec::with_capacity(calls);
        for port in handles {
            let media = session::spawn(port, &config).unwrap();
            media.handle.play(prompts.clone(), false).await.unwrap();
            running.push(media);
        }
        running
    });
    let callers = caller_thread.join().unwrap();
    let wall = wall0.elapsed();
    let cpu = rusage_cpu() - cpu0;
    let rss1 = rss_bytes();
    let mut sent = 0;
    let mut received = 0;
    let mut lateness = Lateness::default();
    rt.block_on(async {
        for m in running {
            m.handle.close().await.unwrap();
            let r = m.task.await.unwrap();
            sent += r.sent;
            received += r.received.packets;
            lateness.merge(&r.lateness);
        }
    });
    let media_cpu = cpu.saturating_sub(callers.cpu);
    let call_minutes = calls as f64 * wall.as_secs_f64() / 60.0;
    println!("media/calls={calls} seconds={:.1}", wall.as_secs_f64());
    println!(
        "  packets: sessions sent {sent}, callers got {}; callers sent {}, sessions got {received}",
        callers.received, callers.sent
    );
    println!(
        "  send lateness vs absolute schedule (sender): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(lateness.quantile(0.5)),
        ms(lateness.quantile(0.99)),
        ms(Some(lateness.max()))
    );
    println!(
        "  arrival deviation vs 20 ms schedule (caller side, 1 ms polling): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(callers.arrival.quantile(0.5)),
        ms(callers.arrival.quantile(0.99)),
        ms(Some(callers.arrival.max()))
    );
    println!(
        "  CPU: process {:.2} s, load generator {:.2} s, media {:.2} s = {:.4} CPU-s per call-minute",
        cpu.as_secs_f64(),
        callers.cpu.as_secs_f64(),
        media_cpu.as_secs_f64(),
        media_cpu.as_secs_f64() / call_minutes
    );
    println!(
        "  memory: RSS +{:.1} MiB = {:.1} KiB per call",
        (rss1.saturating_sub(rss0)) as f64 / (1 << 20) as f64,
        (rss1.saturating_sub(rss0)) as f64 / 1024.0 / calls as f64
    );
    assert!(
        sent > 0 && callers.received > 0 && received > 0,
        "media flowed both ways"
    );
}

/// Nanoseconds since the bench started: the send instant in each payload.
fn stamp(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

/// What one side's fake phones did.
struct SideReport {
    sent: u64,
    received: u64,
    latency: Lateness,
    cpu: Duration,
}

fn big_buffers(socket: &UdpSocket) {
    let size: libc::c_int = 8 << 20;
    // SAFETY: setsockopt reads `size` only; FORCE needs root, the plain
    // options are the fallback.
    unsafe {
        let p = (&size as *const libc::c_int).cast();
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if libc::setsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, force, p, len) != 0 {
                libc::setsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, plain, p, len);
            }
        }
    }
}

/// The fake phones of one side (all callers, or all agents): a sender
/// thread on a 1 ms grid (phone `i` sends in slot `i % 20`) and a receiver
/// thread blocking on the socket.
fn phones(
    socket: UdpSocket,
    legs: Vec<SocketAddr>,
    epoch: Instant,
    seconds: u64,
) -> std::thread::JoinHandle<SideReport> {
    let socket = Arc::new(socket);
    let rx_socket = Arc::clone(&socket);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rx_stop = Arc::clone(&stop);
    let receiver = std::thread::spawn(move || {
        let cpu0 = thread_cpu();
        rx_socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut latency = Lateness::default();
        let mut received = 0u64;
        let mut buf = [0u8; 1500];
        while !rx_stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, _)) = rx_socket.recv_from(&mut buf) else {
                continue;
            };
            let now = stamp(epoch);
            let Ok(p) = rtp::parse(&buf[..n]) else {
                continue;
            };
            if p.payload.len() < 8 {
                continue;
            }
            let sent = u64::from_be_bytes(p.payload[..8].try_into().unwrap());
            latency.record(Duration::from_nanos(now.saturating_sub(sent)));
            received += 1;
        }
        (received, latency, thread_cpu() - cpu0)
    });
    std::thread::spawn(move || {
        let cpu0 = thread_cpu();
        let mut out = [0u8; 172];
        let mut payload = [0xFFu8; 160];
        let mut sent = 0u64;
        let start = Instant::now();
        let end = start + Duration::from_secs(seconds);
        let mut slot: u64 = 0;
        // Blocking sends (the receiver thread blocks on the same socket);
        // with 8 MiB buffers they do not wait in practice.
        while Instant::now() < end {
            let deadline = start + Duration::from_millis(slot);
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let tick = slot / 20;
            for (i, dest) in legs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i as u64 % 20 == slot % 20)
            {
                let h = RtpHeader {
                    marker: tick == 0,
                    payload_type: 0,
                    sequence: tick as u16,
                    timestamp: (tick as u32).wrapping_mul(160),
                    ssrc: i as u32,
                };
                payload[..8].copy_from_slice(&stamp(epoch).to_be_bytes());
                let n = rtp::write_packet(&h, &payload, &mut out).unwrap();
                if socket.send_to(&out[..n], dest).is_ok() {
                    sent += 1;
                }
            }
            slot += 1;
        }
        let send_cpu = thread_cpu() - cpu0;
        // Let the last relayed packets arrive.
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (received, latency, rx_cpu) = receiver.join().unwrap();
        SideReport {
            sent,
            received,
            latency,
            cpu: send_cpu + rx_cpu,
        }
    })
}

fn bridged_calls(calls: usize, seconds: u64, record: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ports = PortAllocator::new(LO, 30000, 39999).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let caller_phones = UdpSocket::bind((LO, 0)).unwrap();
    let agent_phones = UdpSocket::bind((LO, 0)).unwrap();
    big_buffers(&caller_phones);
    big_buffers(&agent_phones);
    let config = |remote: SocketAddr| SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(101),
        remote,
        rtp_timeout: DEFAULT_RTP_TIMEOUT,
        start_on_hold: false,
    };
    let caller_cfg = config(caller_phones.local_addr().unwrap());
    let agent_cfg = config(agent_phones.local_addr().unwrap());
    let rss0 = rss_bytes();
    let (pairs, bridges) = rt.block_on(async {
        let mut pairs = Vec::with_capacity(calls);
        let mut bridges = Vec::with_capacity(calls);
        for i in 0..calls {
            let c = ports.allocate().expect("enough ports in 30000-39999");
            let a = ports.allocate().expect("enough ports in 30000-39999");
            let c = session::spawn(c, &caller_cfg).unwrap();
            let a = session::spawn(a, &agent_cfg).unwrap();
            let rec = record.then(|| dir.path().join(format!("{i}.wav")));
            let b = session::bridge(&c.handle, &a.handle, rec).await.unwrap();
            bridges.push(b);
            pairs.push((c, a));
        }
        (pairs, bridges)
    });
    let caller_legs: Vec<SocketAddr> = pairs.iter().map(|p| p.0.handle.local_addr()).collect();
    let agent_legs: Vec<SocketAddr> = pairs.iter().map(|p| p.1.handle.local_addr()).collect();
    let epoch = Instant::now();
    let cpu0 = rusage_cpu();
    let wall0 = Instant::now();
    let callers = phones(caller_phones, caller_legs, epoch, seconds);
    let agents = phones(agent_phones, agent_legs, epoch, seconds);
    let (callers, agents) = (callers.join().unwrap(), agents.join().unwrap());
    let wall = wall0.elapsed();
    let cpu = rusage_cpu() - cpu0;
    let rss1 = rss_bytes();
    let mut server = Lateness::default();
    let (mut to_agent, mut to_caller) = (0, 0);
    rt.block_on(async {
        for b in bridges {
            let r = b.stop().await;
            server.merge(&r.relay_latency);
            to_agent += r.to_agent;
            to_caller += r.to_caller;
        }
        for (c, a) in pairs {
            let _ = c.handle.close().await;
            let _ = a.handle.close().await;
            let _ = c.task.await;
            let _ = a.task.await;
        }
    });
    let mut e2e = callers.latency.clone();
    e2e.merge(&agents.latency);
    let media_cpu = cpu.saturating_sub(callers.cpu + agents.cpu);
    let call_minutes = calls as f64 * wall.as_secs_f64() / 60.0;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "media/bridged={calls} seconds={:.1} record={record} (load average before: {})",
        wall.as_secs_f64(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  packets: callers sent {} / agents got {} (relayed {to_agent}); agents sent {} / callers got {} (relayed {to_caller})",
        callers.sent, agents.received, agents.sent, callers.received
    );
    println!(
        "  relay latency end to end (phone to phone, 2 loopback hops): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(e2e.quantile(0.5)),
        ms(e2e.quantile(0.99)),
        ms(Some(e2e.max()))
    );
    println!(
        "  relay latency in hotline (datagram read to send_to returned): p50 {:.3} ms  p99 {:.3} ms  max {:.2} ms",
        ms(server.quantile(0.5)),
        ms(server.quantile(0.99)),
        ms(Some(server.max()))
    );
    println!(
        "  CPU: process {:.2} s, fake phones {:.2} s, media {:.2} s = {:.4} CPU-s per bridged call-minute",
        cpu.as_secs_f64(),
        (callers.cpu + agents.cpu).as_secs_f64(),
        media_cpu.as_secs_f64(),
        media_cpu.as_secs_f64() / call_minutes
    );
    println!(
        "  memory: RSS +{:.1} MiB = {:.1} KiB per bridged call (two sessions)",
        (rss1.saturating_sub(rss0)) as f64 / (1 << 20) as f64,
        (rss1.saturating_sub(rss0)) as f64 / 1024.0 / calls as f64
    );
    assert!(
        agents.received > 0 && callers.received > 0,
        "audio relayed both ways"
    );
}
