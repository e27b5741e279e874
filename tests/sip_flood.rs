//! A flood of new INVITEs and a process that cannot keep up (issue 14,
//! hardening 4 and 5), against the real daemon over real UDP sockets on
//! loopback: a source over its rate gets 503 with Retry-After while a
//! caller from another source is answered; with a load limit of 0 (the
//! probe always reports "too late") every new INVITE gets 503 at once; a
//! database outage under a flood counts the refused calls instead of
//! journaling a file per INVITE. Timing figures live in `benches/flood.rs`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::daemon::Daemon;
use common::sip_peer::{Leg, SipPeer};
use hotline::sip::message::{Message, Method, Response};
use sqlx::PgPool;
use tokio::net::UdpSocket;

const LIMIT: Duration = Duration::from_secs(20);

/// A raw peer bound to `ip` (any 127/8 address is loopback on Linux).
async fn peer_on(ip: &str, server: std::net::SocketAddr) -> SipPeer {
    let sock = UdpSocket::bind((ip, 0)).await.unwrap();
    let local = sock.local_addr().unwrap();
    SipPeer {
        sock,
        server,
        local,
    }
}

/// Send one new INVITE per leg (each its own Call-ID), one every 2 ms: far
/// over the configured rates, yet slow enough that no socket buffer
/// overflows (a lost datagram would turn the counts below into guesses;
/// the benchmark floods without a pause).
async fn send_all(peer: &SipPeer, legs: &[Leg]) {
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    for leg in legs {
        tick.tick().await;
        peer.send(&peer.invite(leg, "")).await;
    }
}

fn new_legs(n: usize) -> Vec<Leg> {
    (0..n).map(|_| Leg::new()).collect()
}

fn ids(legs: &[Leg]) -> Vec<String> {
    legs.iter().map(|l| l.call_id.clone()).collect()
}

/// `n` new INVITEs, their final responses read while sending:
/// (503s, 200s).
async fn flood(peer: &SipPeer, n: usize) -> (usize, usize) {
    let legs = new_legs(n);
    let calls = ids(&legs);
    let ((), counts) = tokio::join!(send_all(peer, &legs), finals(peer, &calls));
    counts
}

/// The first final status of each of `calls` (bounded by `LIMIT`):
/// (how many got 503, how many 200). Every 503 must say when to come back.
async fn finals(peer: &SipPeer, calls: &[String]) -> (usize, usize) {
    let mut seen: HashMap<String, u16> = HashMap::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while seen.len() < calls.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(msg) = peer.recv(left).await else {
            panic!(
                "{} of {} calls got a final response",
                seen.len(),
                calls.len()
            );
        };
        let Message::Response(r) = msg else { continue };
        let Some(id) = r.call_id() else { continue };
        if r.status < 200 || !calls.iter().any(|c| c == id.as_str()) {
            continue;
        }
        if r.status == 503 {
            assert!(
                r.headers.get("Retry-After").is_some(),
                "a 503 without Retry-After"
            );
        }
        seen.entry(id.to_string()).or_insert(r.status);
    }
    let busy = seen.values().filter(|s| **s == 503).count();
    let ok = seen.values().filter(|s| **s == 200).count();
    (busy, ok)
}

async fn rejected_records(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM call_records WHERE end_reason = 'rejected_503'")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Poll `f` until it returns `want` (bounded).
async fn until_eq(what: &str, want: i64, mut f: impl AsyncFnMut() -> i64) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let got = f().await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn final_response(peer: &SipPeer) -> Response {
    loop {
        match peer.response(LIMIT).await {
            Some(r) if r.status >= 200 => return r,
            Some(_) => {}
            None => panic!("no final response within {LIMIT:?}"),
        }
    }
}

#[tokio::test]
async fn a_source_over_its_rate_gets_503_while_another_source_is_answered() {
    let d = Daemon::start(
        // Load limits out of reach: this test is about the rate limit.
        "[answer]\nafter_rings = 0\n[admission]\ninvite_rate = 2\ninvite_burst = 5\n\
         max_scheduling_lag = \"10s\"\nmax_rtp_lateness = \"10s\"\n",
    )
    .await;
    let flooder = SipPeer::new(d.sip).await;
    let caller = peer_on("127.0.0.2", d.sip).await;
    // 200 new calls (distinct Call-IDs) from one source at 500 a second,
    // with a real caller from another source in the middle.
    let (first, second) = (new_legs(100), new_legs(100));
    let mut leg = Leg::new();
    let sending = async {
        send_all(&flooder, &first).await;
        caller.send(&caller.invite(&leg, "")).await;
        send_all(&flooder, &second).await;
    };
    let calls = [ids(&first), ids(&second)].concat();
    let ((), (busy, ok)) = tokio::join!(sending, finals(&flooder, &calls));
    assert_eq!(busy + ok, 200);
    let answer = final_response(&caller).await;
    assert_eq!(answer.status, 200, "the other source's caller is answered");
    leg.to_tag = answer.to_tag().map(|t| t.0);
    caller.send(&caller.ack(&leg)).await;

    // 400 ms at 2 a second: one token more at most (two for slack).
    assert!((5..=7).contains(&ok), "{ok} of the flood's calls admitted");
    d.wait_line(|l| l.contains("HL-SIP-RATE"), LIMIT).await;
    assert_eq!(
        d.count(|l| l.contains("HL-SIP-RATE")),
        1,
        "the rate limit's log line is itself rate-limited"
    );

    // Every refusal has its record, written in batches by one writer.
    let pool = common::pool(d.db_url.parse().unwrap(), 2).await;
    let want = busy as i64;
    until_eq("refused calls' records", want, async || {
        rejected_records(&pool).await
    })
    .await;

    leg.cseq += 1;
    caller.send(&caller.request_text("BYE", &leg, "")).await;
    loop {
        let r = final_response(&caller).await;
        if r.cseq().is_some_and(|c| c.method == Method::Bye) {
            assert_eq!(r.status, 200, "the call ends normally");
            break;
        }
    }
}

#[tokio::test]
async fn while_the_process_sheds_load_a_new_invite_gets_503_at_once() {
    // A scheduling-lag limit of 0: every probe reading is overload, so the
    // daemon sheds from its first reading on (an honest signal, not a
    // switch: the same path a saturated runtime takes).
    let d = Daemon::start("[answer]\nafter_rings = 0\n[admission]\nmax_scheduling_lag = \"0s\"\n")
        .await;
    let line = d.wait_line(|l| l.contains("HL-SIP-SHED"), LIMIT).await;
    assert!(line.contains("scheduling_lag"), "{line}");
    let peer = SipPeer::new(d.sip).await;
    for _ in 0..3 {
        let leg = Leg::new();
        peer.send(&peer.invite(&leg, "")).await;
        // The first response is the 503: no 100 Trying, no ringing.
        let r = peer.response(LIMIT).await.expect("a response");
        assert_eq!(r.status, 503, "{r:?}");
        assert!(r.headers.get("Retry-After").is_some());
    }
    // Shedding refuses new calls only: the daemon still answers OPTIONS.
    peer.send(&peer.request_text("OPTIONS", &Leg::new(), ""))
        .await;
    assert_eq!(
        peer.response(LIMIT).await.expect("OPTIONS answered").status,
        200
    );
    let pool = common::pool(d.db_url.parse().unwrap(), 2).await;
    until_eq("refused calls' records", 3, async || {
        rejected_records(&pool).await
    })
    .await;
}

fn journal_files(d: &Daemon) -> usize {
    std::fs::read_dir(d.data.path().join("journal"))
        .map(|r| r.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_database_outage_under_a_flood_counts_refusals_instead_of_journaling_each() {
    let cluster = common::TestCluster::start();
    let (pool, url) = cluster.fresh_db().await;
    let d = Daemon::start_with_db(
        "[answer]\nafter_rings = 0\n[database]\nconnect_timeout = \"300ms\"\n\
         [admission]\ninvite_rate = 1\ninvite_burst = 1\n\
         max_scheduling_lag = \"10s\"\nmax_rtp_lateness = \"10s\"\n",
        url,
    );
    let flooder = SipPeer::new(d.sip).await;
    // Before the outage: one call admitted, 49 refused and recorded.
    assert_eq!(flood(&flooder, 50).await, (49, 1));
    until_eq("records before the outage", 49, async || {
        rejected_records(&pool).await
    })
    .await;
    let journal_before = journal_files(&d);

    cluster.cluster.stop().unwrap();
    // Tokens refill meanwhile (1 a second, over 0.6 s of flood).
    let (busy, _) = flood(&flooder, 300).await;
    assert!(busy >= 297, "{busy} of 300 refused");
    d.wait_line(|l| l.contains("HL-CALLS-REFUSED-COUNTED"), LIMIT)
        .await;
    let journaled = journal_files(&d) - journal_before;
    assert!(
        journaled < 10,
        "{journaled} journal files for {busy} refused INVITEs"
    );

    // Back up: the refusals are one count in `unrecorded_refusals`.
    cluster.cluster.start().unwrap();
    until_eq("refusals counted", busy as i64, async || {
        hotline::tickets::calls::unrecorded_refusals(&pool)
            .await
            .unwrap_or(-1)
    })
    .await;
    assert_eq!(rejected_records(&pool).await, 49, "no record written twice");
}
