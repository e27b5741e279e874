//! Call records against a real PostgreSQL: idempotent upserts by Call-ID,
//! and records kept in the journal through a database outage.

mod common;

use std::time::Duration;

use chrono::{SubsecRound, TimeDelta, Utc};
use hotline::tickets::calls::{self, CallRecord, EndReason};
use hotline::tickets::{TicketNumber, TicketStore};

fn record(call_id: &str) -> CallRecord {
    // PostgreSQL keeps microseconds; round so records compare equal.
    let received = Utc::now().trunc_subsecs(6) - TimeDelta::seconds(30);
    CallRecord {
        call_id: call_id.into(),
        caller_number: "+15551230000".into(),
        received_at: received,
        answered_at: Some(received + TimeDelta::seconds(6)),
        ended_at: None,
        end_reason: None,
        last_step: Some("severity".into()),
        digits: "12".into(),
        language: Some("en".into()),
        ticket_number: None,
        flow_version: Some("default-2+0000abcd".into()),
    }
}

#[tokio::test]
async fn upserts_by_call_id_and_never_erase_what_is_known() {
    let (pool, _) = common::shared().fresh_db().await;
    let mut r = record("rec-1");
    calls::upsert(&pool, &r).await.unwrap();
    assert_eq!(
        calls::by_call_id(&pool, "rec-1").await.unwrap(),
        Some(r.clone())
    );

    // The call goes on: a ticket, more keys, the end.
    r.last_step = Some("queue".into());
    r.digits = "121#".into();
    r.ticket_number = Some(TicketNumber(1042));
    r.ended_at = Some(r.received_at + TimeDelta::seconds(95));
    r.end_reason = Some(EndReason::Completed);
    calls::upsert(&pool, &r).await.unwrap();
    calls::upsert(&pool, &r).await.unwrap();
    assert_eq!(
        calls::by_call_id(&pool, "rec-1").await.unwrap(),
        Some(r.clone())
    );

    // A late, partial write (a replayed early snapshot) keeps the rest.
    let stale = record("rec-1");
    calls::upsert(&pool, &stale).await.unwrap();
    let now = calls::by_call_id(&pool, "rec-1").await.unwrap().unwrap();
    assert_eq!(now.ticket_number, Some(TicketNumber(1042)));
    assert_eq!(now.end_reason, Some(EndReason::Completed));
    assert_eq!(now.digits, "121#");

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM call_records")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_call_without_a_ticket_still_leaves_a_record() {
    let (pool, _) = common::shared().fresh_db().await;
    let mut r = record("abandoned");
    r.ended_at = Some(r.received_at + TimeDelta::seconds(20));
    r.end_reason = Some(EndReason::CallerHungUp);
    calls::upsert(&pool, &r).await.unwrap();
    let stored = calls::by_call_id(&pool, "abandoned")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.ticket_number, None);
    assert_eq!(stored.end_reason, Some(EndReason::CallerHungUp));
    assert_eq!(stored.last_step.as_deref(), Some("severity"));
}

#[tokio::test]
async fn records_written_during_an_outage_reach_the_database() {
    let cluster = common::TestCluster::start();
    let (pool, _) = cluster.fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let (store, replayer) = TicketStore::open(pool.clone(), data.path(), 20)
        .await
        .unwrap();
    assert!(!store.record_call(&record("before")).await.unwrap());

    cluster.cluster.stop().unwrap();
    let mut during = record("during");
    assert!(store.record_call(&during).await.unwrap(), "journaled");
    during.end_reason = Some(EndReason::CallerHungUp);
    during.ended_at = Some(during.received_at + TimeDelta::seconds(40));
    assert!(store.record_call(&during).await.unwrap(), "journaled");
    assert_eq!(store.pending(), 2);

    cluster.cluster.start().unwrap();
    tokio::time::timeout(Duration::from_secs(60), store.drained())
        .await
        .expect("journal drained after the database returned");
    let stored = calls::by_call_id(&pool, "during").await.unwrap();
    assert_eq!(
        stored,
        Some(during),
        "the last write wins, replayed in order"
    );
    assert!(calls::by_call_id(&pool, "before").await.unwrap().is_some());
    store.shutdown(replayer, Duration::from_secs(1)).await;
}
