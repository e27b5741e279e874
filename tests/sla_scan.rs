//! The SLA clock without calls (`tickets::scan`) against a real
//! PostgreSQL: breaches of both deadlines, the standard's escalation of a
//! major ticket two hours after tier 2 took it, progress updates every 30
//! minutes of work, and one writer at a time when several scan at once.
//! Time is driven: the scan is a function of `now`.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hotline::config::Config;
use hotline::tickets::scan::{self, ScanOutcome, ScanRules, Scanned};
use hotline::tickets::{repo, Assignment, NewTicket, RoutingEvent, SlaPolicy, TicketNumber};
use sqlx::PgPool;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn rules() -> ScanRules {
    ScanRules::from_config(&Config::default())
}

/// A ticket received at `t0() + offset`, inserted as the store would.
async fn ticket(pool: &PgPool, n: i64, severity: &str, offset: TimeDelta) -> TicketNumber {
    let policy = SlaPolicy::from_config(&Config::default());
    let new = NewTicket {
        call_id: format!("call-{n}"),
        caller_number: format!("+1555000{n:04}"),
        caller_name: None,
        caller_private: false,
        customer_ref: None,
        callback_number: None,
        category: Some("software".into()),
        severity: severity.into(),
        received_at: t0() + offset,
        answered_at: Some(t0() + offset),
        flow_version: None,
    };
    let t = policy.ticket(TicketNumber(n), new, Utc::now()).unwrap();
    repo::insert(pool, &t).await.unwrap();
    t.number
}

async fn take(pool: &PgPool, n: TicketNumber, tier: &str, at: DateTime<Utc>) {
    let a = Assignment {
        agent: format!("agent-{tier}"),
        tier: tier.into(),
        answered_at: at,
        waited: Duration::from_secs(5),
        call_id: format!("call-{n}"),
    };
    assert!(repo::assign(pool, n, "routing", &a).await.unwrap());
}

async fn events(pool: &PgPool, action: &str) -> Vec<(i64, String, serde_json::Value)> {
    sqlx::query_as(
        "SELECT ticket_number, op_id, detail FROM ticket_events WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn run(pool: &PgPool, now: DateTime<Utc>) -> Scanned {
    match scan::scan(pool, &rules(), now).await.unwrap() {
        ScanOutcome::Done(s) => s,
        ScanOutcome::Busy => panic!("nobody else holds the lock"),
    }
}

#[tokio::test]
async fn each_deadline_breach_is_written_once_even_without_a_call() {
    let (pool, _) = common::shared().fresh_db().await;
    let minor = ticket(&pool, 1001, "minor", TimeDelta::zero()).await; // 2 h / 24 h
    let answered = ticket(&pool, 1002, "minor", TimeDelta::zero()).await;
    take(&pool, answered, "L1", t0() + TimeDelta::minutes(10)).await;
    let resolved = ticket(&pool, 1003, "minor", TimeDelta::zero()).await;
    sqlx::query("UPDATE tickets SET status = 'resolved', resolved_at = $2 WHERE number = $1")
        .bind(resolved.0)
        .bind(t0() + TimeDelta::minutes(5))
        .execute(&pool)
        .await
        .unwrap();
    // Routing already raised the response breach of a waiting caller.
    let waited = ticket(&pool, 1004, "critical", TimeDelta::zero()).await; // 30 min / 4 h
    let store_event = RoutingEvent::SlaBreached {
        due: t0() + TimeDelta::minutes(30),
    };
    let op = store_event.op_id(waited, t0());
    repo::event(
        &pool,
        waited,
        &op,
        t0() + TimeDelta::minutes(31),
        "routing",
        &store_event,
    )
    .await
    .unwrap();

    let s = run(&pool, t0() + TimeDelta::minutes(119)).await;
    assert_eq!(
        (s.response_breached, s.resolution_breached),
        (0, 0),
        "{s:?}"
    );
    let s = run(&pool, t0() + TimeDelta::hours(2)).await;
    assert_eq!(s.response_breached, 1, "{s:?}");
    assert_eq!(s.resolution_breached, 0);
    assert_eq!(
        run(&pool, t0() + TimeDelta::hours(3))
            .await
            .response_breached,
        0
    );
    let s = run(&pool, t0() + TimeDelta::hours(24)).await;
    assert_eq!(s.resolution_breached, 3, "every open ticket: {s:?}");
    let s = run(&pool, t0() + TimeDelta::hours(25)).await;
    assert_eq!((s.response_breached, s.resolution_breached), (0, 0));

    let breaches = events(&pool, "sla_breached").await;
    let mut got: Vec<(i64, String)> = breaches
        .iter()
        .map(|(n, _, d)| (*n, d["deadline"].as_str().unwrap_or("response").to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (minor.0, "resolution".to_string()),
            (minor.0, "response".to_string()),
            (answered.0, "resolution".to_string()),
            (waited.0, "resolution".to_string()),
            (waited.0, "response".to_string()),
        ]
    );
    let scan_minor: Vec<_> = breaches
        .iter()
        .filter(|(n, _, d)| *n == minor.0 && d["deadline"] == "response")
        .collect();
    assert_eq!(
        scan_minor[0].2["due"]
            .as_str()
            .map(|s| s.starts_with("2026-11-02T11:00:00")),
        Some(true),
        "{scan_minor:?}"
    );
}

#[tokio::test]
async fn a_major_ticket_unsolved_two_hours_after_tier_2_took_it_goes_to_tier_3() {
    let (pool, _) = common::shared().fresh_db().await;
    let major = ticket(&pool, 2001, "major", TimeDelta::zero()).await;
    let taken = t0() + TimeDelta::minutes(10);
    take(&pool, major, "L2", taken).await;
    // A minor one at L2 is not the rule's; a resolved major one is done.
    let minor = ticket(&pool, 2002, "minor", TimeDelta::zero()).await;
    take(&pool, minor, "L2", taken).await;
    let solved = ticket(&pool, 2003, "major", TimeDelta::zero()).await;
    take(&pool, solved, "L2", taken).await;
    sqlx::query("UPDATE tickets SET status = 'resolved', resolved_at = $2 WHERE number = $1")
        .bind(solved.0)
        .bind(taken + TimeDelta::hours(1))
        .execute(&pool)
        .await
        .unwrap();

    let before = taken + TimeDelta::hours(2) - TimeDelta::seconds(1);
    assert_eq!(run(&pool, before).await.escalated, 0);
    assert_eq!(run(&pool, taken + TimeDelta::hours(2)).await.escalated, 1);
    let t = repo::by_number(&pool, major).await.unwrap().unwrap();
    assert_eq!(t.assigned_tier, "L3");
    assert_eq!(t.status.as_str(), "escalated");
    assert_eq!(t.escalations, 1);
    for n in [minor, solved] {
        assert_eq!(
            repo::by_number(&pool, n)
                .await
                .unwrap()
                .unwrap()
                .assigned_tier,
            "L2"
        );
    }
    // Written once: later scans find it at L3 and the op-id taken.
    assert_eq!(run(&pool, taken + TimeDelta::hours(5)).await.escalated, 0);
    let esc = events(&pool, "escalated").await;
    assert_eq!(esc.len(), 1);
    assert_eq!(esc[0].0, major.0);
    assert_eq!(esc[0].2["from"], "L2");
    assert_eq!(esc[0].2["to"], "L3");
    assert_eq!(esc[0].2["by"], "sla_clock");
}

#[tokio::test]
async fn work_longer_than_30_minutes_makes_a_progress_update_due_each_period() {
    let (pool, _) = common::shared().fresh_db().await;
    let n = ticket(&pool, 3001, "minor", TimeDelta::zero()).await;
    let started = t0() + TimeDelta::minutes(10);
    take(&pool, n, "L1", started).await;
    let waiting = ticket(&pool, 3002, "minor", TimeDelta::zero()).await; // no work yet
    let _ = waiting;

    let minute = |m: i64| started + TimeDelta::minutes(m);
    assert_eq!(run(&pool, minute(29)).await.progress_due, 0);
    assert_eq!(run(&pool, minute(30)).await.progress_due, 1);
    assert_eq!(run(&pool, minute(50)).await.progress_due, 0);
    // The daemon was away for an hour: the current update only.
    assert_eq!(run(&pool, minute(100)).await.progress_due, 1);
    assert_eq!(run(&pool, minute(101)).await.progress_due, 0);
    sqlx::query("UPDATE tickets SET status = 'resolved', resolved_at = $2 WHERE number = $1")
        .bind(n.0)
        .bind(minute(110))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(run(&pool, minute(200)).await.progress_due, 0);

    let due = events(&pool, "progress_due").await;
    let updates: Vec<_> = due
        .iter()
        .map(|(t, _, d)| (*t, d["update"].as_i64()))
        .collect();
    assert_eq!(updates, [(n.0, Some(1)), (n.0, Some(3))]);
}

#[tokio::test]
async fn two_scanners_at_once_write_each_event_once() {
    let (pool, _) = common::shared().fresh_db().await;
    for i in 0..300 {
        let n = ticket(&pool, 4000 + i, "major", TimeDelta::seconds(i)).await;
        take(&pool, n, "L2", t0() + TimeDelta::minutes(1)).await;
    }
    let now = t0() + TimeDelta::hours(9);
    let rules = rules();
    let (a, b) = tokio::join!(
        scan::scan(&pool, &rules, now),
        scan::scan(&pool, &rules, now)
    );
    let total = |o: ScanOutcome| match o {
        ScanOutcome::Done(s) => s,
        ScanOutcome::Busy => Scanned::default(),
    };
    let (a, b) = (total(a.unwrap()), total(b.unwrap()));
    // Answered in time: no response breach; all past resolution (8 h),
    // all escalated (2 h after L2), all due their 17th update.
    assert_eq!(a.resolution_breached + b.resolution_breached, 300);
    assert_eq!(a.escalated + b.escalated, 300);
    assert_eq!(a.progress_due + b.progress_due, 300);
    let count = |action: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM ticket_events WHERE action = $1")
                .bind(action)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("sla_breached").await, 300);
    assert_eq!(count("escalated").await, 300);
    assert_eq!(count("progress_due").await, 300);
    let escalations: i64 = sqlx::query_scalar("SELECT sum(escalations)::bigint FROM tickets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(escalations, 300, "the ticket's count moved once each");
}

#[tokio::test]
async fn a_scanner_that_finds_the_lock_taken_skips_the_round() {
    let (pool, _) = common::shared().fresh_db().await;
    ticket(&pool, 5001, "critical", TimeDelta::zero()).await;
    let mut other = pool.begin().await.unwrap();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(scan::LOCK_KEY)
        .fetch_one(&mut *other)
        .await
        .unwrap();
    assert!(got);
    let now = t0() + TimeDelta::hours(5);
    assert_eq!(
        scan::scan(&pool, &rules(), now).await.unwrap(),
        ScanOutcome::Busy
    );
    assert!(events(&pool, "sla_breached").await.is_empty());
    other.rollback().await.unwrap();
    assert_eq!(run(&pool, now).await.response_breached, 1);
}

#[tokio::test]
async fn the_periodic_task_raises_a_breach_by_itself() {
    let (pool, _) = common::shared().fresh_db().await;
    let overdue = ticket(&pool, 6001, "critical", TimeDelta::zero()).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let task = scan::spawn(
        pool.clone(),
        rules(),
        Duration::from_millis(50),
        stop.clone(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = events(&pool, "sla_breached").await;
        if found.iter().any(|(n, _, _)| *n == overdue.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no breach within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
