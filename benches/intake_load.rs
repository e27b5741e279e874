//! Intake under load: N callers (the built-in caller: SIP, RTP, keys as
//! RFC 4733 events) walk the whole default flow at once against the real
//! daemon; prints completed intakes/s, time from INVITE to ticket row
//! (p50/p99, from the rows' own `received_at` and `created_at`) and
//! failures.
//!
//! `cargo bench --bench intake_load -- [--callers 1000] [--ramp 20] [--barge]`
//! Without `--bench` (as `cargo test --benches` runs it) 5 callers who
//! press keys during the prompts (barge-in), so the check stays short.

use std::time::{Duration, Instant};

use hotline::callgen::{Caller, CallerId};
use sqlx::postgres::PgPoolOptions;

mod common;
use common::{arg, flag, ms, pct, Bench};

const QUIET: Duration = Duration::from_millis(700);
const PROMPT: Duration = Duration::from_secs(90);

/// One caller through the default flow; the Call-ID on success.
/// `barge`: press keys as soon as each prompt starts (a caller who knows
/// the menu), instead of listening to it to the end.
async fn intake(sip: std::net::SocketAddr, n: u64, barge: bool) -> Result<String, String> {
    let who = CallerId {
        user: format!("555{n:07}"),
        display: None,
        anonymous: false,
    };
    let mut c = Caller::dial(sip, &who, Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    for (what, keys) in [
        ("language", "1"),
        ("category", "2"),
        ("severity", "1"),
        ("customer number", "#"),
    ] {
        let heard = if barge {
            c.wait_for_prompt_start(PROMPT).await
        } else {
            c.wait_for_prompt_end(QUIET, PROMPT).await
        };
        if !heard {
            return Err(format!("no {what} prompt"));
        }
        c.press(keys).await.map_err(|e| e.to_string())?;
    }
    if !c.wait_for_prompt_end(QUIET, PROMPT).await {
        return Err("no voice note prompt".into());
    }
    c.talk(Duration::from_secs(1))
        .await
        .map_err(|e| e.to_string())?;
    c.press("#").await.map_err(|e| e.to_string())?;
    if !c.wait_hangup(Duration::from_secs(120)).await {
        return Err("the hotline did not finish the flow".into());
    }
    let id = c.call_id().to_string();
    c.hang_up().await.map_err(|e| e.to_string())?;
    Ok(id)
}

#[tokio::main]
async fn main() {
    let quick = !flag("--bench");
    let callers: u64 = arg("--callers", if quick { 5 } else { 1000 });
    let ramp = Duration::from_secs_f64(arg("--ramp", if quick { 1.0 } else { 20.0 }));
    let barge = quick || flag("--barge");
    let bench = Bench::start(&format!(
        "[answer]\nafter_rings = 0\n[routing]\nenabled = false\n[sip]\nmax_calls = {}\n[media]\nrtp_ports = \"20000-40000\"\n[database]\npool_size = 32\n",
        callers + 10
    ));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..callers {
        let at = start + ramp.mul_f64(n as f64 / callers as f64);
        let sip = bench.sip;
        tasks.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            intake(sip, n, barge).await
        });
    }
    let mut done = Vec::new();
    let mut failed: std::collections::BTreeMap<String, u64> = Default::default();
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(id) => done.push(id),
            Err(e) => *failed.entry(e).or_default() += 1,
        }
    }
    let wall = start.elapsed();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&bench.db_url)
        .await
        .unwrap();
    let rows: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT received_at, created_at FROM tickets")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut to_ticket: Vec<Duration> = rows
        .iter()
        .map(|(r, c)| (*c - *r).to_std().unwrap_or_default())
        .collect();
    to_ticket.sort();
    println!(
        "intake/load callers={callers} barge_in={barge} completed={} failed={} tickets={} in {:.1}s ({:.1} completed intakes/s); INVITE -> ticket row p50={:.0}ms p99={:.0}ms; failures {failed:?}",
        done.len(),
        failed.values().sum::<u64>(),
        rows.len(),
        wall.as_secs_f64(),
        done.len() as f64 / wall.as_secs_f64(),
        ms(pct(&to_ticket, 0.5)),
        ms(pct(&to_ticket, 0.99)),
    );
    pool.close().await;
    drop(bench);
    assert!(
        !quick || failed.is_empty(),
        "quick intake run failed: {failed:?}"
    );
}
