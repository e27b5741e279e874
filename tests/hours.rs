//! Service hours end to end: a caller whose ticket no staffed tier could
//! take hears the after-hours message instead of the queue and leaves a
//! callback request on the ticket; `hotline hours` and `GET /api/hours`
//! say who is staffed now. Real daemon, real PostgreSQL, the built-in
//! caller on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::daemon::Daemon;
use common::http::get;
use hotline::admin::{self, AdminState, AdminStatus};
use hotline::callgen::{Caller, CallerId};
use hotline::config::parse_str;
use hotline::hours::ServiceHours;
use hotline::tickets::{calls, repo, EndReason, TicketStore};
use serde_json::Value;
use sqlx::postgres::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const S: Duration = Duration::from_secs(10);

/// L1 and L2 (the minor level's tier and its overflow tier) keep no hours
/// at all this week; L3 has no schedule, so it is staffed around the clock.
const CLOSED: &str = "[hours]\ntime_zone = \"Asia/Shanghai\"\n[hours.tiers.L1]\nmon-sun = \"closed\"\n[hours.tiers.L2]\nmon-sun = \"closed\"\n";

/// Wait for the call to enter `step`, then press `keys`.
async fn at_step(d: &Daemon, c: &mut Caller, step: &str, keys: &str) {
    let id = c.call_id().to_string();
    d.wait_line(
        |l| l.contains(&id) && l.contains(&format!("IVR step step={step}")),
        Duration::from_secs(60),
    )
    .await;
    if !keys.is_empty() {
        c.press(keys).await.unwrap();
    }
}

#[tokio::test]
async fn after_hours_a_caller_hears_the_callback_promise_instead_of_the_queue() {
    let d = Daemon::start(&format!("[answer]\nafter_rings = 0\n{CLOSED}")).await;
    let who = CallerId {
        user: "5551234".into(),
        display: None,
        anonymous: false,
    };
    let mut c = Caller::dial(d.sip, &who, S).await.unwrap();
    let id = c.call_id().to_string();
    at_step(&d, &mut c, "language", "1").await;
    at_step(&d, &mut c, "category", "2").await;
    at_step(&d, &mut c, "severity", "3").await;
    at_step(&d, &mut c, "customer_number", "#").await;
    d.wait_line(
        |l| l.contains(&id) && l.contains("voice note recording"),
        Duration::from_secs(30),
    )
    .await;
    c.press("#").await.unwrap();
    at_step(&d, &mut c, "after_hours", "").await;
    assert!(
        c.wait_hangup(Duration::from_secs(60)).await,
        "the flow says goodbye and hangs up"
    );
    d.wait_line(
        |l| l.contains(&id) && l.contains("call record written"),
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(
        d.count(|l| l.contains(&id) && l.contains("IVR step step=queue")),
        0,
        "nobody could take the call: it never queued"
    );

    let pool = PgPool::connect(&d.db_url).await.unwrap();
    let t = repo::by_call_id(&pool, &id).await.unwrap().expect("ticket");
    assert_eq!(t.severity, "minor");
    assert!(
        t.callback_requested_at.is_some(),
        "the callback request is on the ticket: {t:?}"
    );
    assert_eq!(t.callback_number.as_deref(), Some("5551234"));
    let r = calls::by_call_id(&pool, &id)
        .await
        .unwrap()
        .expect("record");
    assert_eq!(r.end_reason, Some(EndReason::CallbackRequested));
    assert_eq!(r.ticket_number, Some(t.number));
}

#[test]
fn hotline_hours_shows_who_is_staffed_now() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hotline.toml");
    std::fs::write(&file, CLOSED).unwrap();
    let out = std::process::Command::new(common::hotline_bin())
        .args(["--config", file.to_str().unwrap(), "hours", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["time_zone"], "Asia/Shanghai");
    assert_eq!(v["sla_clock"], "always");
    let staffed: Vec<(String, bool)> = v["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tier"].as_str().unwrap().to_string(),
                t["staffed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        staffed,
        [
            ("L1".into(), false),
            ("L2".into(), false),
            ("L3".into(), true)
        ]
    );

    // A bad schedule is refused by name.
    std::fs::write(&file, "[hours.tiers.L1]\nmon-fri = \"9-17\"\n").unwrap();
    let out = std::process::Command::new(common::hotline_bin())
        .args(["--config", file.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("hours.tiers.L1.mon-fri") && err.contains("\"08:00-18:00\""),
        "{err}"
    );
}

#[tokio::test]
async fn the_admin_api_shows_the_hours_in_force() {
    let (pool, _) = common::shared().fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let (store, _replayer) = TicketStore::open(pool, data.path(), 20).await.unwrap();
    let (_status, rx) = watch::channel(AdminStatus {
        started_at: Utc::now(),
        ..AdminStatus::default()
    });
    let holiday = (Utc::now() + chrono::TimeDelta::days(3)).date_naive();
    let config = parse_str(
        &format!(
            "[hours]\nholidays = [\"{holiday}\"]\n[hours.tiers.L3]\nmon-sun = \"00:00-24:00\"\n"
        ),
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    let hours = Arc::new(ServiceHours::from_config(&config.hours).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(admin::serve(
        listener,
        AdminState::new(store, rx).with_hours(hours),
        stop.clone(),
    ));
    let r = get(addr, "/api/hours").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let l3 = &v["tiers"][2];
    assert_eq!(l3["tier"], "L3");
    assert_eq!(l3["schedule"], true);
    assert_eq!(l3["staffed"], true, "all day, every day but the holiday");
    let closes: chrono::DateTime<Utc> = l3["changes_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        closes,
        holiday.and_hms_opt(0, 0, 0).unwrap().and_utc(),
        "staffed until the holiday begins: {v}"
    );
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_ticket_keeps_the_business_hours_clock_its_deadlines_ran_on() {
    let (pool, _) = common::shared().fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let (store, _replayer) = TicketStore::open(pool.clone(), data.path(), 20)
        .await
        .unwrap();
    let config = parse_str(
        "[hours]\nsla_clock = \"staffed\"\n[hours.tiers.L1]\nmon-fri = \"09:00-17:00\"\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    // Friday 16:00 UTC: a minor ticket's 2 h run on into Monday 10:00.
    let friday: chrono::DateTime<Utc> = "2026-12-04T16:00:00Z".parse().unwrap();
    let new = hotline::tickets::NewTicket {
        call_id: "after-hours-1".into(),
        caller_number: "5551234".into(),
        caller_name: None,
        caller_private: false,
        customer_ref: None,
        callback_number: None,
        category: None,
        severity: "minor".into(),
        received_at: friday,
        answered_at: Some(friday),
        flow_version: None,
    };
    let policy = hotline::tickets::SlaPolicy::from_config(&config);
    let number = store.create(new, &policy).await.unwrap().ticket.number;
    let t = repo::by_number(&pool, number).await.unwrap().unwrap();
    assert_eq!(t.sla_clock, hotline::config::SlaClock::Staffed);
    assert_eq!(t.response_due_at.to_rfc3339(), "2026-12-07T10:00:00+00:00");
}
