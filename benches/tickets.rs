//! Ticket creation throughput and latency against a local PostgreSQL
//! cluster (started for the run, like the embedded default), with 1 and 64
//! concurrent writers. Run: `cargo bench --bench tickets`.

use std::time::{Duration, Instant};

use chrono::Utc;
use hotline::config::Config;
use hotline::tickets::{NewTicket, SlaPolicy, TicketStore};
use sqlx::postgres::PgPoolOptions;

mod common;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(store: &TicketStore, policy: &SlaPolicy, writers: usize, total: usize, tag: &str) {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let (store, policy, tag) = (store.clone(), policy.clone(), tag.to_string());
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(total / writers);
            for i in 0..total / writers {
                let t0 = Instant::now();
                let new = NewTicket {
                    call_id: format!("{tag}-{w}-{i}"),
                    caller_number: "+15550001111".into(),
                    caller_name: Some("Bench".into()),
                    caller_private: false,
                    customer_ref: None,
                    callback_number: None,
                    category: Some("software".into()),
                    severity: "major".into(),
                    received_at: Utc::now(),
                    answered_at: Some(Utc::now()),
                    flow_version: Some("bench".into()),
                };
                let created = store.create(new, &policy).await.expect("create");
                assert!(
                    !created.journaled,
                    "benchmark must measure the database path"
                );
                lat.push(t0.elapsed());
            }
            lat
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(l) = tasks.join_next().await {
        all.extend(l.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    println!(
        "tickets/create writers={writers:<3} n={:<6} {:>8.0} tickets/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.50).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        all.last().unwrap().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this with --bench absent: stay quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (cluster, dir) = common::cluster();
    let pool = PgPoolOptions::new()
        .max_connections(64)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(cluster.connect_options())
        .await
        .unwrap();
    hotline::tickets::db::migrate(&pool).await.unwrap();
    let data = dir.path().join("data");
    let (store, replayer) = TicketStore::open(pool.clone(), &data, 2000).await.unwrap();
    let policy = SlaPolicy::from_config(&Config::default());
    let (single, many) = if quick { (50, 640) } else { (3000, 30_000) };
    run(&store, &policy, 1, single, "single").await;
    run(&store, &policy, 64, many, "many").await;
    store.shutdown(replayer, Duration::from_secs(1)).await;
    pool.close().await;
    cluster.stop().unwrap();
}
