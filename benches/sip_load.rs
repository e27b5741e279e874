//! SIP load generator: places calls over UDP on 127.0.0.1 against a real
//! `hotline run` (started here on a throwaway PostgreSQL cluster) and prints
//! calls/s, answer latency above the configured ring delay, and failures.
//!
//! `cargo bench --bench sip_load -- [--rate 200] [--seconds 10] [--hold 2]`
//! `cargo bench --bench sip_load -- --overload [--capacity 200]`: offers
//! twice the call limit at once; every excess call must get 503 within
//! 100 ms and no call may ring longer than three rings.
//! Without `--bench` (as `cargo test --benches` runs it) a short run checks
//! that the generator still works.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::sip::message::{parse, Message, Method, Response};
use tokio::net::UdpSocket;

mod common;
use common::{arg, flag, ms, pct, Bench};

const RING: Duration = Duration::from_millis(1000);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// Answered: time from INVITE to 200 OK.
    Answered(Duration),
    /// Refused with 503: time from INVITE to the 503, and whether it rang.
    Busy(Duration),
    Failed(&'static str),
}

fn invite(local: SocketAddr, server: SocketAddr, call: &str, sdp_port: u16) -> String {
    let sdp = format!(
        "v=0\r\no=load 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {sdp_port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    );
    format!(
        "INVITE sip:hotline@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:load@127.0.0.1>;tag=f{call}\r\nTo: <sip:hotline@{server}>\r\nCall-ID: {call}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:load@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn in_dialog(
    method: &str,
    cseq: u32,
    local: SocketAddr,
    server: SocketAddr,
    call: &str,
    to_tag: &str,
) -> String {
    format!(
        "{method} sip:hotline@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{method}{call};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:load@127.0.0.1>;tag=f{call}\r\nTo: <sip:hotline@{server}>;tag={to_tag}\r\nCall-ID: {call}\r\nCSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

async fn next_response(sock: &UdpSocket, buf: &mut [u8], limit: Duration) -> Option<Response> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (n, _) = tokio::time::timeout_at(deadline, sock.recv_from(buf))
            .await
            .ok()?
            .ok()?;
        match parse(&buf[..n]) {
            Ok(Message::Response(r)) => return Some(r),
            Ok(Message::Request(req)) if *req.method() == Method::Bye => {
                let ok = Response::for_request(&req, 200, "OK");
                let _ = sock.send_to(&ok.to_bytes(), sock.peer_addr().ok()?).await;
            }
            _ => {}
        }
    }
}

/// One call: INVITE, (100, 180,) 200 or 503, ACK, hold, BYE.
async fn call(server: SocketAddr, sdp_port: u16, hold: Duration, n: u64) -> Outcome {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0").await else {
        return Outcome::Failed("bind");
    };
    if sock.connect(server).await.is_err() {
        return Outcome::Failed("connect");
    }
    let local = sock.local_addr().unwrap();
    let id = format!("{n:08x}{:08x}", rand::random::<u32>());
    let started = Instant::now();
    let mut buf = vec![0u8; 8192];
    let text = invite(local, server, &id, sdp_port);
    let _ = sock.send(text.as_bytes()).await;
    let mut rang = None;
    let answer = loop {
        // Loopback loses nothing: no INVITE retransmission needed.
        match next_response(&sock, &mut buf, RING * 4).await {
            Some(r) if r.status == 180 => rang = Some(started.elapsed()),
            Some(r) if r.status < 200 => {}
            Some(r) => break r,
            None => return Outcome::Failed("no final response"),
        }
    };
    let took = started.elapsed();
    match answer.status {
        200 => {}
        503 => return Outcome::Busy(took),
        _ => return Outcome::Failed("unexpected status"),
    }
    if rang.is_some_and(|_| took > RING * 3) {
        return Outcome::Failed("rang longer than three rings");
    }
    let to_tag = answer.to_tag().map(|t| t.0).unwrap_or_default();
    let _ = sock
        .send(in_dialog("ACK", 1, local, server, &id, &to_tag).as_bytes())
        .await;
    tokio::time::sleep(hold).await;
    let _ = sock
        .send(in_dialog("BYE", 2, local, server, &id, &to_tag).as_bytes())
        .await;
    loop {
        match next_response(&sock, &mut buf, Duration::from_secs(5)).await {
            Some(r) if r.status == 200 && r.cseq().is_some_and(|c| c.method == Method::Bye) => {
                break
            }
            Some(_) => {}
            None => return Outcome::Failed("no 200 to BYE"),
        }
    }
    Outcome::Answered(took)
}

#[tokio::main]
async fn main() {
    let quick = !flag("--bench");
    let overload = flag("--overload");
    let rate: u64 = arg("--rate", if quick { 20 } else { 200 });
    let seconds: u64 = arg("--seconds", if quick { 2 } else { 10 });
    let hold = Duration::from_secs_f64(arg("--hold", if quick { 0.5 } else { 2.0 }));
    let capacity: u32 = arg(
        "--capacity",
        if overload {
            if quick {
                20
            } else {
                200
            }
        } else {
            100_000
        },
    );

    let daemon = Bench::start(&format!(
        "[answer]\nafter_rings = 1\nring_period = \"{}ms\"\n[sip]\nmax_calls = {capacity}\n",
        RING.as_millis()
    ));

    // Where the daemon's RTP goes: one socket that drops it all.
    let sink = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let sdp_port = sink.local_addr().unwrap().port();
    let drain = sink.clone();
    tokio::spawn(async move {
        let mut b = [0u8; 2048];
        while drain.recv_from(&mut b).await.is_ok() {}
    });

    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    if overload {
        // Twice the limit, all at once, holding long enough to overlap.
        for n in 0..(2 * capacity as u64) {
            tasks.spawn(call(daemon.sip, sdp_port, RING * 3, n));
        }
    } else {
        // Open loop on an absolute schedule: call n starts at n / rate.
        let total = rate * seconds;
        for n in 0..total {
            tokio::time::sleep_until(
                (start + Duration::from_secs_f64(n as f64 / rate as f64)).into(),
            )
            .await;
            tasks.spawn(call(daemon.sip, sdp_port, hold, n));
        }
    }
    // The rate actually offered: calls started over the time it took.
    let launch = start.elapsed();
    let mut answered = Vec::new();
    let mut busy = Vec::new();
    let mut failed: std::collections::BTreeMap<&str, u64> = Default::default();
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Outcome::Answered(d) => answered.push(d.saturating_sub(RING)),
            Outcome::Busy(d) => busy.push(d),
            Outcome::Failed(why) => *failed.entry(why).or_default() += 1,
        }
    }
    let elapsed = start.elapsed();
    answered.sort();
    busy.sort();
    let offered = answered.len() + busy.len() + failed.values().sum::<u64>() as usize;
    if overload {
        println!(
            "sip/overload capacity={capacity} offered={offered} answered={} busy(503)={} failed={failed:?} 503 latency p50={:.1}ms p99={:.1}ms max={:.1}ms",
            answered.len(),
            busy.len(),
            ms(pct(&busy, 0.5)),
            ms(pct(&busy, 0.99)),
            ms(busy.last().copied().unwrap_or_default()),
        );
    } else {
        println!(
            "sip/load rate={rate}/s offered={offered} answered={} failed={failed:?} sustained {:.1} new calls/s (all done in {:.1}s); answer latency above the {}ms ring delay p50={:.1}ms p99={:.1}ms max={:.1}ms",
            answered.len(),
            offered as f64 / launch.as_secs_f64().max(1e-3),
            elapsed.as_secs_f64(),
            RING.as_millis(),
            ms(pct(&answered, 0.5)),
            ms(pct(&answered, 0.99)),
            ms(answered.last().copied().unwrap_or_default()),
        );
    }
    drop(daemon);
    let bad = failed.values().sum::<u64>();
    assert!(
        !quick || bad == 0,
        "quick load run failed calls: {failed:?}"
    );
}
