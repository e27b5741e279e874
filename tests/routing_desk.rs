//! The desk end to end: tiers and what the agent's phone shows, the
//! caller's keys at the agent, overflow with music and announcements,
//! the strategies (longest idle, ring_all), the callback offer, SLA risk
//! and wrap-up. Real PostgreSQL, pjsua2 agents registered with digest,
//! the built-in caller and baresip as callers, all on 127.0.0.1. What
//! tests/routing_calls.rs proves (audio both ways, busy, no answer, `*2`)
//! is not repeated here.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::agents::{bindings_when, caller_choosing, start_with_tiers, state_when, T};
use common::audio::{microphone, read_wav};
use common::baresip::Baresip;
use common::daemon::Daemon;
use common::pjsua::{self, PjsuaRun};
use hotline::agents::{AgentId, AgentState, AgentStore, Tier};
use serde_json::Value;

/// For what comes after a configured wait (overflow, maximum wait, SLA).
const LONG: Duration = Duration::from_secs(20);

/// The routing test flow (severity menu, ticket, queue), with music on
/// hold from the moment the caller is queued when `music`.
fn flow(dir: &Path, music: bool) -> PathBuf {
    let quick = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows/route-quick.toml");
    let mut text = std::fs::read_to_string(quick).unwrap();
    if music {
        text.push_str("music = \"/music-on-hold\"\n");
    }
    let path = dir.join("flow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A configuration: the test flow, 1 s registrations, `agents` and
/// `routing` keys added to their sections, then `tail` (more tables).
fn config(flow: &Path, agents: &str, routing: &str, tail: &str) -> String {
    format!(
        "[answer]\nafter_rings = 0\n[ivr]\nflow = \"{}\"\n[agents]\nmin_expires = \"1s\"\n{agents}\n[routing]\nring_timeout = \"8s\"\n{routing}\n{tail}",
        flow.display()
    )
}

/// The agent's phone registered and the desk knows them available (the
/// `n`th agent to become available).
async fn ready(d: &Daemon, store: &AgentStore, id: AgentId, n: usize) {
    bindings_when(store, id, |b| b.len() == 1, T).await;
    d.wait_count(
        |l| l.contains("agent state") && l.contains("to=available"),
        n,
        T,
    )
    .await;
}

/// A pjsua2 agent that answers and hangs up after `talk` seconds.
fn answering(
    d: &Daemon,
    user: &'static str,
    password: &'static str,
    talk: f64,
) -> tokio::task::JoinHandle<Vec<Value>> {
    let sip = d.sip;
    tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 30.0,
                talk_secs: talk,
                ..PjsuaRun::register(sip, user, password)
            },
            Duration::from_secs(90),
        )
        .await
    })
}

fn incoming(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["event"] == "incoming").collect()
}

async fn ticket_of(store: &AgentStore, caller: &str) -> i64 {
    sqlx::query_scalar("SELECT number FROM tickets WHERE caller_number = $1")
        .bind(caller)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Ticket events of the caller's ticket, once `want` is among them.
async fn actions_when(store: &AgentStore, caller: &str, want: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let actions: Vec<String> = sqlx::query_scalar(
            "SELECT e.action FROM ticket_events e JOIN tickets t ON t.number = e.ticket_number
             WHERE t.caller_number = $1 ORDER BY e.id",
        )
        .bind(caller)
        .fetch_all(store.pool())
        .await
        .unwrap();
        if actions.iter().any(|a| a == want) || tokio::time::Instant::now() > deadline {
            return actions;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How well `heard` holds the start of `prompt`: the best normalised
/// cross-correlation, over every offset, of the loudest fifth of a second
/// in the prompt's first second (near 1 for a prompt played, G.711 both
/// ways; a prompt never played stays far below).
fn heard_prompt(heard: &[f64], prompt: &Path) -> f64 {
    let mut sent = read_wav(prompt);
    sent.truncate(8000);
    const W: usize = 1600;
    let start = (0..sent.len().saturating_sub(W))
        .step_by(400)
        .max_by_key(|&i| sent[i..i + W].iter().map(|s| (s * s) as u64).sum::<u64>())
        .unwrap_or(0);
    let x = &sent[start..start + W];
    let xx: f64 = x.iter().map(|s| s * s).sum();
    let mut yy: f64 = heard.iter().take(W).map(|s| s * s).sum();
    let mut best: f64 = 0.0;
    for lag in 0..heard.len().saturating_sub(W) {
        if lag > 0 {
            yy += heard[lag + W - 1].powi(2) - heard[lag - 1].powi(2);
        }
        if yy <= 1.0 {
            continue;
        }
        let xy: f64 = x.iter().zip(&heard[lag..lag + W]).map(|(a, b)| a * b).sum();
        best = best.max(xy / (xx * yy).sqrt());
    }
    best
}

#[tokio::test]
async fn each_severity_reaches_its_tier_whose_phone_shows_the_ticket_and_the_callers_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(&flow(tmp.path(), false), "wrap_up = \"1s\"", "", "");
    let (d, store, ids) = start_with_tiers(
        &config,
        &[
            ("first", "pass-first-1", &[Tier::L1][..]),
            ("second", "pass-second-1", &[Tier::L2][..]),
            ("third", "pass-third-1", &[Tier::L3][..]),
        ],
    )
    .await;
    let agents = [
        answering(&d, "first", "pass-first-1", 2.0),
        answering(&d, "second", "pass-second-1", 2.0),
        answering(&d, "third", "pass-third-1", 4.0),
    ];
    for (n, id) in ids.iter().enumerate() {
        ready(&d, &store, *id, n + 1).await;
    }
    // One caller of each severity at once; the critical one presses keys
    // once bridged to the L3 agent.
    let (mut critical, major, minor) = tokio::join!(
        caller_choosing(&d, "5551001", "1"),
        caller_choosing(&d, "5551002", "2"),
        caller_choosing(&d, "5551003", "3"),
    );
    d.wait_line(
        |l| l.contains("caller and agent bridged") && l.contains("agent=third"),
        T,
    )
    .await;
    critical.press("42").await.unwrap();
    for c in [&critical, &major, &minor] {
        assert!(c.wait_hangup(Duration::from_secs(20)).await);
    }

    let mut results = Vec::new();
    for a in agents {
        results.push(a.await.unwrap());
    }
    for (events, (caller, severity)) in results.iter().zip([
        ("5551003", "minor"),
        ("5551002", "major"),
        ("5551001", "critical"),
    ]) {
        let calls = incoming(events);
        assert_eq!(calls.len(), 1, "one call for each agent: {events:?}");
        let ticket = ticket_of(&store, caller).await;
        assert_eq!(calls[0]["severity"], severity, "{events:?}");
        assert_eq!(calls[0]["ticket"], ticket.to_string());
        let from = calls[0]["from"].as_str().unwrap_or_default();
        assert!(
            from.contains(&format!("\"#{ticket} {caller}\"")),
            "the phone shows ticket and caller: {from}"
        );
    }
    // The caller's keys reached the L3 agent's phone as RFC 4733 events.
    let keys: String = results[2]
        .iter()
        .filter(|e| e["event"] == "dtmf_heard")
        .filter_map(|e| e["digit"].as_str())
        .collect();
    assert_eq!(keys, "42", "keys heard by the agent: {:?}", results[2]);
}

#[tokio::test]
async fn a_critical_caller_waits_with_music_and_position_then_overflows_to_l2() {
    let tmp = tempfile::tempdir().unwrap();
    let overflow =
        "[[routing.overflow]]\nseverity = \"critical\"\nafter = \"8s\"\ntiers = [\"L2\"]\n";
    let config = config(
        &flow(tmp.path(), true),
        "wrap_up = \"1s\"",
        "announce_every = \"5s\"",
        overflow,
    );
    let (d, store, ids) = start_with_tiers(
        &config,
        &[
            ("expert", "pass-expert-1", &[Tier::L3][..]),
            ("backup", "pass-backup-1", &[Tier::L2][..]),
        ],
    )
    .await;
    // The L3 agent is busy with a first critical caller for 22 s.
    let expert = answering(&d, "expert", "pass-expert-1", 22.0);
    ready(&d, &store, ids[0], 1).await;
    let first = caller_choosing(&d, "5552001", "1").await;
    d.wait_line(
        |l| l.contains("caller and agent bridged") && l.contains("agent=expert"),
        T,
    )
    .await;
    let backup = answering(&d, "backup", "pass-backup-1", 2.0);
    ready(&d, &store, ids[1], 2).await;

    // A second critical caller waits: L2 may take them after 8 s only.
    let mic = tempfile::tempdir().unwrap();
    let mut caller = Baresip::start(&microphone(mic.path(), 30), "PCMU").await;
    caller
        .command("dial", &format!("sip:hotline@{}", d.sip))
        .await;
    caller.event("CALL_ESTABLISHED", T).await;
    caller.event("CALL_RTPESTAB", T).await;
    caller.command("sndcode", "1").await;
    d.wait_count(|l| l.contains("queued") && l.contains("tier=L3"), 2, T)
        .await;
    let queued_at = std::time::Instant::now();
    d.wait_line(
        |l| l.contains("overflow: more tiers may take the call"),
        LONG,
    )
    .await;
    let waited = queued_at.elapsed();
    assert!(
        waited > Duration::from_secs(6),
        "no overflow before the configured wait ({waited:?})"
    );
    d.wait_line(
        |l| l.contains("caller and agent bridged") && l.contains("agent=backup"),
        T,
    )
    .await;
    caller.event("CALL_CLOSED", Duration::from_secs(20)).await;
    let dir = caller.quit().await;
    let heard = std::fs::read_dir(dir.path().join("rec"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded the call");
    let heard = read_wav(&heard);
    let music = heard_prompt(&heard, Path::new("prompts/music-on-hold.wav"));
    let position = heard_prompt(&heard, Path::new("prompts/en/queue-position.wav"));
    // A prompt never played to this caller does not match.
    let never = heard_prompt(&heard, Path::new("prompts/en/greeting-hello.wav"));
    eprintln!("correlation: music {music:.2}, position {position:.2}, never played {never:.2}");
    assert!(never < 0.6, "the measure tells prompts apart ({never:.2})");
    assert!(
        music > 0.8,
        "the caller heard music on hold ({music:.2}; position {position:.2})"
    );
    assert!(
        position > 0.8,
        "the caller heard their position ({position:.2})"
    );

    let (agent, tier): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT assigned_agent, assigned_tier FROM tickets WHERE caller_number = '5551234'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(agent.as_deref(), Some("backup"));
    assert_eq!(tier.as_deref(), Some("L2"), "taken by the overflow tier");
    assert_eq!(incoming(&backup.await.unwrap()).len(), 1);
    assert!(first.wait_hangup(Duration::from_secs(20)).await);
    assert_eq!(incoming(&expert.await.unwrap()).len(), 1);
}

#[tokio::test]
async fn longest_idle_picks_the_agent_free_the_longest() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(&flow(tmp.path(), false), "wrap_up = \"1s\"", "", "");
    let (d, store, ids) = start_with_tiers(
        &config,
        &[
            ("early", "pass-early-1", &[Tier::L1][..]),
            ("late", "pass-late-1", &[Tier::L1][..]),
        ],
    )
    .await;
    // `early` logs in first, so is idle longest; after taking a call (and
    // its wrap-up) `late` is.
    let early = answering(&d, "early", "pass-early-1", 1.0);
    ready(&d, &store, ids[0], 1).await;
    let late = answering(&d, "late", "pass-late-1", 1.0);
    ready(&d, &store, ids[1], 2).await;
    let rang = |who: &'static str| move |l: &str| l.contains("ringing agent") && l.contains(who);

    let c1 = caller_choosing(&d, "5553001", "3").await;
    d.wait_line(rang("early"), T).await;
    assert_eq!(d.count(rang("late")), 0, "late is not idle longest");
    assert!(c1.wait_hangup(Duration::from_secs(20)).await);
    assert_eq!(
        state_when(&store, "early", AgentState::Available).await,
        AgentState::Available
    );
    d.wait_count(
        |l| l.contains("agent state") && l.contains("to=available"),
        3,
        T,
    )
    .await;
    let c2 = caller_choosing(&d, "5553002", "3").await;
    d.wait_line(rang("late"), T).await;
    assert!(c2.wait_hangup(Duration::from_secs(20)).await);
    assert_eq!(d.count(rang("early")), 1, "early rang once");
    assert_eq!(incoming(&early.await.unwrap()).len(), 1);
    assert_eq!(incoming(&late.await.unwrap()).len(), 1);
}

#[tokio::test]
async fn ring_all_rings_every_free_agent_and_cancels_the_others_on_the_first_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(
        &flow(tmp.path(), false),
        "wrap_up = \"1s\"",
        "strategy = \"ring_all\"",
        "",
    );
    let (d, store, ids) = start_with_tiers(
        &config,
        &[
            ("quick", "pass-quick-1", &[Tier::L1][..]),
            ("slow", "pass-slow-1", &[Tier::L1][..]),
        ],
    )
    .await;
    let quick = answering(&d, "quick", "pass-quick-1", 2.0);
    let sip = d.sip;
    // Rings 10 s before it would answer: cancelled before that.
    let slow = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 30.0,
                answer_after: 10.0,
                talk_secs: 1.0,
                ..PjsuaRun::register(sip, "slow", "pass-slow-1")
            },
            Duration::from_secs(90),
        )
        .await
    });
    ready(&d, &store, ids[0], 1).await;
    ready(&d, &store, ids[1], 2).await;
    let c = caller_choosing(&d, "5554001", "3").await;
    assert!(c.wait_hangup(Duration::from_secs(20)).await);
    let quick = quick.await.unwrap();
    let slow = slow.await.unwrap();
    assert_eq!(incoming(&quick).len(), 1, "{quick:?}");
    assert_eq!(incoming(&slow).len(), 1, "both phones rang: {slow:?}");
    assert!(
        slow.iter().any(|e| e["event"] == "cancelled"),
        "the other phone got CANCEL: {slow:?}"
    );
    let agent: Option<String> =
        sqlx::query_scalar("SELECT assigned_agent FROM tickets WHERE caller_number = '5554001'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(agent.as_deref(), Some("quick"), "the first to answer won");
}

#[tokio::test]
async fn at_the_maximum_wait_the_caller_hears_the_callback_offer_and_presses_1() {
    let tmp = tempfile::tempdir().unwrap();
    let max_wait = "[[routing.max_wait]]\nseverity = \"minor\"\nafter = \"10s\"\n";
    let config = config(&flow(tmp.path(), false), "", "", max_wait);
    // Nobody logged in: the caller waits until the maximum wait.
    let (d, store, _) = start_with_tiers(&config, &[]).await;
    let mut caller = caller_choosing(&d, "5555001", "3").await;
    d.wait_line(|l| l.contains("queued"), T).await;
    // The maximum wait is 10 s.
    d.wait_line(
        |l| l.contains("callback offered to the waiting caller"),
        LONG,
    )
    .await;
    // The offer plays ("press 1 to be called back at 5 5 5 5 0 0 1 ...")
    // and ends: then the caller presses 1.
    let before = caller.packets_heard();
    assert!(
        caller
            .wait_for_prompt_end(Duration::from_millis(700), Duration::from_secs(20))
            .await
    );
    let offer_secs = (caller.packets_heard() - before) as f64 / 50.0;
    assert!(
        offer_secs > 2.3,
        "the whole offer was heard ({offer_secs:.1} s of audio)"
    );
    caller.press("1").await.unwrap();
    d.wait_line(|l| l.contains("callback requested"), T).await;
    let actions = actions_when(&store, "5555001", "callback_requested").await;
    assert!(
        actions.iter().any(|a| a == "callback_requested"),
        "{actions:?}"
    );
    let at: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT callback_requested_at FROM tickets WHERE caller_number = '5555001'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(at.is_some(), "the callback request is on the ticket");
    assert!(
        caller.wait_hangup(T).await,
        "the call ends after the request"
    );
}

#[tokio::test]
async fn a_short_sla_is_at_risk_then_breached_while_the_caller_waits() {
    let tmp = tempfile::tempdir().unwrap();
    let sla = [
        ("1", "critical", "30min", "4h", "L3"),
        ("2", "major", "1h", "8h", "L2"),
        ("3", "minor", "8s", "1h", "L1"),
    ]
    .iter()
    .map(|(digit, name, resp, res, tier)| {
        format!("[[sla.severity]]\ndigit = \"{digit}\"\nname = \"{name}\"\nmeaning = \"{name}\"\nresponse = \"{resp}\"\nresolution = \"{res}\"\ntier = \"{tier}\"\n")
    })
    .collect::<String>();
    let config = config(
        &flow(tmp.path(), false),
        "",
        "announce_every = \"5s\"",
        &sla,
    );
    let (d, store, _) = start_with_tiers(&config, &[]).await;
    let caller = caller_choosing(&d, "5556001", "3").await;
    let line = d
        .wait_line(|l| l.contains("WARN") && l.contains("SLA at risk"), T)
        .await;
    let ticket = ticket_of(&store, "5556001").await;
    assert!(line.contains(&format!("ticket={ticket}")), "{line}");
    d.wait_line(|l| l.contains("SLA breached"), LONG).await;
    let actions = actions_when(&store, "5556001", "sla_breached").await;
    let risk = actions.iter().position(|a| a == "sla_at_risk");
    let breach = actions.iter().position(|a| a == "sla_breached");
    assert!(
        risk.is_some() && breach.is_some() && risk < breach,
        "at risk, then breached: {actions:?}"
    );
    caller.hang_up().await.unwrap();
}

#[tokio::test]
async fn a_second_caller_is_not_offered_to_the_agent_before_wrap_up_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(&flow(tmp.path(), false), "wrap_up = \"4s\"", "", "");
    let (d, store, ids) =
        start_with_tiers(&config, &[("wrapper", "pass-wrap-1", &[Tier::L1][..])]).await;
    let sip = d.sip;
    let agent = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 30.0,
                talk_secs: 1.0,
                calls: 2,
                ..PjsuaRun::register(sip, "wrapper", "pass-wrap-1")
            },
            Duration::from_secs(90),
        )
        .await
    });
    ready(&d, &store, ids[0], 1).await;
    let c1 = caller_choosing(&d, "5557001", "3").await;
    d.wait_line(|l| l.contains("caller and agent bridged"), T)
        .await;
    let c2 = caller_choosing(&d, "5557002", "3").await;
    assert!(c1.wait_hangup(Duration::from_secs(20)).await);
    assert!(c2.wait_hangup(Duration::from_secs(30)).await);
    assert_eq!(incoming(&agent.await.unwrap()).len(), 2);
    let mut events = store.events(ids[0], 50).await.unwrap();
    events.reverse();
    let wrap = events
        .iter()
        .find(|e| e.to_state == AgentState::WrapUp)
        .expect("wrap-up after the first call");
    let second_ring = events
        .iter()
        .filter(|e| e.to_state == AgentState::Ringing)
        .nth(1)
        .expect("the second call rang the agent");
    let gap = (second_ring.at - wrap.at).num_milliseconds();
    assert!(
        gap >= 3900,
        "the second offer came {gap} ms into a 4 s wrap-up"
    );
}
