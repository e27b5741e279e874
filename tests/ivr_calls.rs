//! The intake end to end: the built-in caller (SIP + RTP, keys as RFC 4733
//! events) walks the default flow on the real daemon; the ticket and the
//! call record are read back from PostgreSQL.

mod common;

use std::time::Duration;

use chrono::TimeDelta;
use common::daemon::Daemon;
use hotline::callgen::{Caller, CallerId};
use hotline::tickets::{calls, repo, EndReason};
use sqlx::postgres::PgPool;

const S: Duration = Duration::from_secs(10);
/// The IVR alone (intake only): the queue step says goodbye and hangs up.
const QUICK: &str = "[answer]\nafter_rings = 0\n[routing]\nenabled = false\n";

fn who() -> CallerId {
    CallerId {
        user: "5551234".into(),
        display: Some("Ada Lovelace".into()),
        anonymous: false,
    }
}

async fn pool(d: &Daemon) -> PgPool {
    PgPool::connect(&d.db_url).await.unwrap()
}

/// Wait for the call to enter `step`, then press `keys`.
async fn at_step(d: &Daemon, c: &mut Caller, step: &str, keys: &str) {
    let id = c.call_id().to_string();
    // Bounded by the flow's own timers (a menu waiting out its retries).
    d.wait_line(
        |l| l.contains(&id) && l.contains(&format!("IVR step step={step}")),
        Duration::from_secs(90),
    )
    .await;
    if !keys.is_empty() {
        c.press(keys).await.unwrap();
    }
}

/// The call is over and its record is written (the call task logs it).
async fn ended(d: &Daemon, call_id: &str) {
    d.wait_line(
        |l| l.contains(call_id) && l.contains("call record written"),
        Duration::from_secs(40),
    )
    .await;
}

async fn record_of(pool: &PgPool, call_id: &str) -> calls::CallRecord {
    calls::by_call_id(pool, call_id)
        .await
        .unwrap()
        .expect("call record")
}

#[tokio::test]
async fn software_critical_no_customer_number_and_a_voice_note() {
    let d = Daemon::start(QUICK).await;
    let mut c = Caller::dial(d.sip, &who(), S).await.unwrap();
    let id = c.call_id().to_string();
    at_step(&d, &mut c, "language", "1").await;
    at_step(&d, &mut c, "category", "2").await;
    at_step(&d, &mut c, "severity", "1").await;
    at_step(&d, &mut c, "customer_number", "#").await;
    d.wait_line(
        |l| l.contains(&id) && l.contains("voice note recording"),
        Duration::from_secs(30),
    )
    .await;
    c.talk(Duration::from_secs(2)).await.unwrap();
    c.press("#").await.unwrap();
    assert!(
        c.wait_hangup(Duration::from_secs(60)).await,
        "the flow ends the call after the goodbye"
    );
    ended(&d, &id).await;

    let pool = pool(&d).await;
    let t = repo::by_call_id(&pool, &id)
        .await
        .unwrap()
        .expect("a ticket for the call");
    assert_eq!(t.category.as_deref(), Some("software"));
    assert_eq!(t.severity, "critical");
    assert_eq!(t.caller_number, "5551234");
    assert_eq!(t.caller_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(t.customer_ref, None);
    let answered = t.answered_at.expect("answered_at");
    assert!(
        t.received_at <= answered && answered <= t.created_at,
        "{t:?}"
    );
    assert_eq!(t.response_due_at - t.received_at, TimeDelta::minutes(30));
    assert_eq!(t.assigned_tier, "L3");
    let note = t
        .voice_note_path
        .clone()
        .expect("voice note path on the ticket");
    let wav = hound::WavReader::open(&note).unwrap();
    let secs = wav.duration() as f64 / wav.spec().sample_rate as f64;
    assert!((1.7..=2.7).contains(&secs), "voice note of {secs:.2} s");
    let r = record_of(&pool, &id).await;
    assert_eq!(r.ticket_number, Some(t.number));
    assert_eq!(r.end_reason, Some(EndReason::Completed));
    assert!(r.digits.starts_with("121#"), "{}", r.digits);
    assert_eq!(r.language.as_deref(), Some("en"));
}

#[tokio::test]
async fn an_invalid_key_then_a_valid_one_and_no_input_until_the_default() {
    let d = Daemon::start(QUICK).await;
    let mut c = Caller::dial(d.sip, &who(), S).await.unwrap();
    let id = c.call_id().to_string();
    at_step(&d, &mut c, "language", "1").await;
    at_step(&d, &mut c, "category", "9").await;
    // "Invalid choice" is played, then the menu again: now a valid key.
    d.wait_line(|l| l.contains(&id) && l.contains("DTMF digit=9"), S)
        .await;
    assert!(
        c.wait_for_prompt_end(Duration::from_millis(300), Duration::from_secs(30))
            .await
    );
    c.press("3").await.unwrap();
    // Severity: no key at all, until the menu's default applies.
    at_step(&d, &mut c, "severity", "").await;
    at_step(&d, &mut c, "customer_number", "#").await;
    // The ticket exists as soon as the severity is known.
    d.wait_line(|l| l.contains(&id) && l.contains("ticket created"), S)
        .await;
    let pool = pool(&d).await;
    let t = repo::by_call_id(&pool, &id)
        .await
        .unwrap()
        .expect("ticket created once the default severity applied");
    assert_eq!(t.category.as_deref(), Some("network"));
    assert_eq!(t.severity, "minor", "the severity menu's default");
    c.hang_up().await.unwrap();
    ended(&d, &id).await;
}

#[tokio::test]
async fn hanging_up_in_the_severity_menu_leaves_a_call_record_and_no_ticket() {
    let d = Daemon::start(QUICK).await;
    let mut c = Caller::dial(d.sip, &who(), S).await.unwrap();
    let id = c.call_id().to_string();
    at_step(&d, &mut c, "language", "2").await;
    at_step(&d, &mut c, "category", "1").await;
    at_step(&d, &mut c, "severity", "").await;
    c.hang_up().await.unwrap();
    ended(&d, &id).await;
    let pool = pool(&d).await;
    let r = record_of(&pool, &id).await;
    assert_eq!(r.end_reason, Some(EndReason::CallerHungUp));
    assert_eq!(r.last_step.as_deref(), Some("severity"));
    assert_eq!(r.language.as_deref(), Some("zh"));
    assert_eq!(r.ticket_number, None);
    assert!(
        repo::by_call_id(&pool, &id).await.unwrap().is_none(),
        "no ticket without a severity"
    );
}

#[tokio::test]
async fn an_anonymous_caller_is_asked_for_a_callback_number() {
    let d = Daemon::start(QUICK).await;
    let anon = CallerId {
        user: "anonymous".into(),
        display: None,
        anonymous: true,
    };
    let mut c = Caller::dial(d.sip, &anon, S).await.unwrap();
    let id = c.call_id().to_string();
    at_step(&d, &mut c, "language", "1").await;
    at_step(&d, &mut c, "category", "4").await;
    at_step(&d, &mut c, "severity", "2").await;
    at_step(&d, &mut c, "customer_number", "77123#").await;
    at_step(&d, &mut c, "callback_number", "5550100#").await;
    d.wait_line(
        |l| l.contains(&id) && l.contains("voice note recording"),
        Duration::from_secs(30),
    )
    .await;
    c.hang_up().await.unwrap();
    ended(&d, &id).await;
    let pool = pool(&d).await;
    let t = repo::by_call_id(&pool, &id).await.unwrap().expect("ticket");
    assert!(t.caller_private);
    assert_eq!(t.callback_number.as_deref(), Some("5550100"));
    assert_eq!(t.customer_ref.as_deref(), Some("77123"));
    assert_eq!(t.category.as_deref(), Some("account_access"));
    assert_eq!(t.severity, "major");
}

#[tokio::test]
async fn a_reload_during_a_call_leaves_it_on_its_flow_and_a_bad_flow_is_refused() {
    let flow_dir = tempfile::tempdir().unwrap();
    let flow_path = flow_dir.path().join("ivr.toml");
    std::fs::copy("config/ivr.toml", &flow_path).unwrap();
    let d = Daemon::start(&format!(
        "{QUICK}[ivr]\nflow = \"{}\"\n",
        flow_path.display()
    ))
    .await;
    let mut first = Caller::dial(d.sip, &who(), S).await.unwrap();
    let first_id = first.call_id().to_string();
    at_step(&d, &mut first, "language", "1").await;
    // A new version of the flow: a shorter language menu timeout.
    let text = std::fs::read_to_string(&flow_path)
        .unwrap()
        .replace("version = \"default-2\"", "version = \"default-3\"")
        .replace("timeout = \"5s\"", "timeout = \"3s\"");
    // Saving the file is enough: the daemon notices the change.
    std::fs::write(&flow_path, text).unwrap();
    d.wait_line(
        |l| {
            l.contains("configuration reloaded")
                && l.contains("why=file change")
                && l.contains("default-3")
        },
        S,
    )
    .await;
    // The call in progress goes on with the version it started on: its category menu works.
    at_step(&d, &mut first, "category", "1").await;
    // The next call starts on the new version.
    let mut second = Caller::dial(d.sip, &who(), S).await.unwrap();
    let second_id = second.call_id().to_string();
    at_step(&d, &mut second, "language", "").await;
    d.wait_line(
        |l| l.contains(&second_id) && l.contains("intake started") && l.contains("default-3"),
        S,
    )
    .await;
    assert!(
        d.count(|l| l.contains(&first_id)
            && l.contains("intake started")
            && l.contains("default-2"))
            == 1
    );
    // A broken flow (a step that does not exist) is refused; calls go on.
    std::fs::write(
        &flow_path,
        std::fs::read_to_string(&flow_path)
            .unwrap()
            .replace("next = \"category\"", "next = \"nowhere\""),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    d.wait_line(|l| l.contains("reload refused"), S).await;
    let mut third = Caller::dial(d.sip, &who(), S).await.unwrap();
    let third_id = third.call_id().to_string();
    at_step(&d, &mut third, "language", "").await;
    d.wait_line(
        |l| l.contains(&third_id) && l.contains("intake started") && l.contains("default-3"),
        S,
    )
    .await;
    for c in [first, second, third] {
        c.hang_up().await.unwrap();
    }
}

#[tokio::test]
async fn the_admin_page_shows_the_ticket_a_call_made() {
    let d = Daemon::start(QUICK).await;
    let line = d
        .wait_line(
            |l| l.starts_with("hotline: admin page and API on http://"),
            S,
        )
        .await;
    let admin: std::net::SocketAddr = line
        .trim_start_matches("hotline: admin page and API on http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut c = Caller::dial(d.sip, &who(), S).await.unwrap();
    let id = c.call_id().to_string();
    at_step(&d, &mut c, "language", "1").await;
    at_step(&d, &mut c, "category", "5").await;
    at_step(&d, &mut c, "severity", "3").await;
    let created = d
        .wait_line(|l| l.contains(&id) && l.contains("ticket created"), S)
        .await;
    let number = created
        .split("ticket=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let status = common::http::get(admin, "/api/status").await.json();
    assert_eq!(status["calls_active"], 1, "{status}");
    assert_eq!(status["calls_started"], 1);
    let page = common::http::get(admin, "/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&number),
        "the open ticket {number} is on the page"
    );
    c.hang_up().await.unwrap();
    ended(&d, &id).await;
    let t = common::http::get(admin, &format!("/api/tickets/{number}"))
        .await
        .json();
    assert_eq!(t["ticket"]["category"], "how_to");
    assert_eq!(t["ticket"]["severity"], "minor");
}

#[tokio::test]
async fn a_call_refused_with_503_still_leaves_a_call_record() {
    let d = Daemon::start("[answer]\nafter_rings = 0\n[sip]\nmax_calls = 1\n").await;
    let first = Caller::dial(d.sip, &who(), S).await.unwrap();
    let refused = Caller::dial(d.sip, &who(), S).await;
    assert!(
        matches!(refused, Err(hotline::callgen::CallerError::Refused(503))),
        "{:?}",
        refused.err()
    );
    let line = d.wait_line(|l| l.contains("503 to a new call"), S).await;
    let call_id = line
        .split("call_id=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // The record is written in the background as the 503 goes out (by
    // the batch writer of refused calls, which logs no line per call).
    let pool = pool(&d).await;
    let deadline = tokio::time::Instant::now() + S;
    let r = loop {
        if let Some(r) = calls::by_call_id(&pool, &call_id).await.unwrap() {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "no call record");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r.end_reason, Some(EndReason::Rejected503));
    assert_eq!(r.answered_at, None);
    first.hang_up().await.unwrap();
}

#[tokio::test]
async fn a_voice_note_that_cannot_be_written_is_noted_on_the_ticket_and_the_call_goes_on() {
    let d = Daemon::start(QUICK).await;
    // Where recordings go is a plain file: no recording can be created.
    std::fs::write(d.data.path().join("recordings"), b"in the way").unwrap();
    let mut c = Caller::dial(d.sip, &who(), S).await.unwrap();
    let id = c.call_id().to_string();
    at_step(&d, &mut c, "language", "1").await;
    at_step(&d, &mut c, "category", "1").await;
    at_step(&d, &mut c, "severity", "2").await;
    at_step(&d, &mut c, "customer_number", "#").await;
    d.wait_line(
        |l| l.contains(&id) && l.contains("recording stopped; the call goes on"),
        Duration::from_secs(30),
    )
    .await;
    // The flow does not wait for a voice note that cannot come.
    at_step(&d, &mut c, "read_back", "").await;
    assert!(c.wait_hangup(Duration::from_secs(60)).await);
    ended(&d, &id).await;
    let pool = pool(&d).await;
    let t = repo::by_call_id(&pool, &id).await.unwrap().expect("ticket");
    assert_eq!(t.voice_note_path, None);
    let history = repo::events(&pool, t.number).await.unwrap();
    assert!(
        history.iter().any(|e| e.detail["note"]
            .as_str()
            .is_some_and(|n| n.contains("HL-REC-001"))),
        "the failure is on the ticket: {history:?}"
    );
    assert_eq!(
        record_of(&pool, &id).await.end_reason,
        Some(EndReason::Completed)
    );
}
