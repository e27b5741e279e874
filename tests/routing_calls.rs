//! A caller reaches a person: baresip calls the daemon, walks a short flow
//! (severity menu, ticket, queue), routing rings a pjsua2 agent of the
//! right tier registered with digest, the agent answers and the two are
//! bridged, audio both ways (PCMA on the caller's leg, PCMU on the
//! agent's), and the ticket shows who answered and when. Real PostgreSQL,
//! real third-party phones, all on 127.0.0.1.

mod common;

use std::path::Path;
use std::time::Duration;

use common::agents::{bindings_when, start_with_tiers, state_when, T};
use common::audio::{correlation, microphone, read_wav};
use common::baresip::Baresip;
use common::pjsua::{self, PjsuaRun};
use hotline::agents::{AgentState, Tier};

fn config() -> String {
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows/route-quick.toml");
    format!(
        "[answer]\nafter_rings = 0\n[ivr]\nflow = \"{}\"\n[agents]\nmin_expires = \"1s\"\nwrap_up = \"2s\"\n[routing]\nring_timeout = \"8s\"\nrecording = \"all\"\n",
        flow.display()
    )
}

/// The agent's phone registered and the desk knows them available.
async fn agent_ready(
    d: &common::daemon::Daemon,
    store: &hotline::agents::AgentStore,
    id: hotline::agents::AgentId,
) {
    bindings_when(store, id, |b| b.len() == 1, T).await;
    d.wait_line(
        |l| l.contains("agent state") && l.contains("to=available"),
        T,
    )
    .await;
}

/// The built-in caller, answered, choosing the minor severity (tier L1).
async fn minor_caller(d: &common::daemon::Daemon, user: &str) -> hotline::callgen::Caller {
    let who = hotline::callgen::CallerId {
        user: user.into(),
        display: None,
        anonymous: false,
    };
    let mut caller = hotline::callgen::Caller::dial(d.sip, &who, T)
        .await
        .unwrap();
    assert!(caller.wait_for_prompt_start(T).await);
    caller.press("3").await.unwrap(); // minor: L1
    caller
}

#[tokio::test]
async fn a_critical_caller_reaches_the_l3_agent_bridged_both_ways() {
    let (d, store, ids) = start_with_tiers(
        &config(),
        &[
            ("l1agent", "pass-l1-agent", &[Tier::L1][..]),
            ("l3agent", "pass-l3-agent", &[Tier::L3][..]),
        ],
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    // The agent answers, says the category menu, and hangs up after 8 s.
    let agent_heard = tmp.path().join("agent-heard.wav");
    let agent_says = Path::new("prompts/en/category-menu.wav")
        .canonicalize()
        .unwrap();
    let sip = d.sip;
    let heard = agent_heard.clone();
    let agent = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 60.0,
                play: Some(&agent_says),
                record: Some(&heard),
                talk_secs: 8.0,
                ..PjsuaRun::register(sip, "l3agent", "pass-l3-agent")
            },
            Duration::from_secs(120),
        )
        .await
    });
    bindings_when(&store, ids[1], |b| b.len() == 1, T).await;
    assert_eq!(
        state_when(&store, "l3agent", AgentState::Available).await,
        AgentState::Available
    );
    // The desk hears of the login before the call arrives.
    d.wait_line(
        |l| l.contains("agent state") && l.contains("to=available"),
        T,
    )
    .await;

    let mic_dir = tempfile::tempdir().unwrap();
    let mut caller = Baresip::start(&microphone(mic_dir.path(), 40), "PCMA").await;
    caller
        .command("dial", &format!("sip:hotline@{}", d.sip))
        .await;
    caller.event("CALL_ESTABLISHED", T).await;
    caller.event("CALL_RTPESTAB", T).await;
    caller.command("sndcode", "1").await; // critical: L3
    d.wait_line(|l| l.contains("queued") && l.contains("tier=L3"), T)
        .await;
    d.wait_line(|l| l.contains("ringing agent") && l.contains("l3agent"), T)
        .await;
    d.wait_line(|l| l.contains("caller and agent bridged"), T)
        .await;
    // The agent hangs up after 8 s: hotline ends the caller's call too.
    caller.event("CALL_CLOSED", Duration::from_secs(30)).await;
    let events = agent.await.unwrap();
    let incoming = events
        .iter()
        .find(|e| e["event"] == "incoming")
        .unwrap_or_else(|| panic!("the agent's phone rang: {events:?}"));
    let ticket: i64 = incoming["ticket"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("X-Hotline-Ticket on the INVITE: {incoming}"));
    assert_eq!(incoming["severity"], "critical");
    let from = incoming["from"].as_str().unwrap_or_default();
    assert!(
        from.contains(&format!("#{ticket}")),
        "the agent's phone shows the ticket: {from}"
    );

    // The ticket: who answered, when, and the tier.
    let pool = store.pool();
    let row: (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<String>,
        String,
    ) = sqlx::query_as(
        "SELECT first_response_at, assigned_agent, status FROM tickets WHERE number = $1",
    )
    .bind(ticket)
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(
        row.0.is_some(),
        "first_response_at is set; log:\n{}",
        d.logs().join("\n")
    );
    assert_eq!(row.1.as_deref(), Some("l3agent"));
    assert_eq!(row.2, "in_progress");

    // Audio both ways: the caller heard the agent, the agent the caller.
    let dir = caller.quit().await;
    let caller_heard = std::fs::read_dir(dir.path().join("rec"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded the call");
    let c = correlation(&read_wav(Path::new("prompts/en/category-menu.wav")), &{
        // Skip what was played before the bridge (prompt, music): the
        // agent's voice is in the last part of the recording.
        let h = read_wav(&caller_heard);
        let tail = h.len().saturating_sub(8000 * 9);
        h[tail..].to_vec()
    });
    assert!(c > 0.3, "the caller heard the agent (correlation {c:.3})");
    let agent_rec = read_wav(&agent_heard);
    let rms = (agent_rec.iter().map(|s| s * s).sum::<f64>() / agent_rec.len().max(1) as f64).sqrt();
    assert!(
        rms > 200.0,
        "the agent heard the caller's voice (RMS {rms:.0})"
    );

    // After the call: wrap-up, then available again.
    assert_eq!(
        state_when(&store, "l3agent", AgentState::Available).await,
        AgentState::Available
    );
    let states: Vec<AgentState> = store
        .events(ids[1], 20)
        .await
        .unwrap()
        .iter()
        .map(|e| e.to_state)
        .collect();
    for s in [AgentState::Ringing, AgentState::OnCall, AgentState::WrapUp] {
        assert!(
            states.contains(&s),
            "{s} in the agent's history: {states:?}"
        );
    }
    // The L1 agent was never offered a critical call.
    assert!(!d
        .logs()
        .iter()
        .any(|l| l.contains("ringing agent") && l.contains("l1agent")));
}

#[tokio::test]
async fn a_busy_agent_is_skipped_unpaused_and_a_caller_who_hangs_up_in_the_queue_is_abandoned() {
    let (d, store, ids) =
        start_with_tiers(&config(), &[("busyagent", "pass-busy-1", &[Tier::L1][..])]).await;
    let sip = d.sip;
    let agent = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                refuse_within: 60.0,
                ..PjsuaRun::register(sip, "busyagent", "pass-busy-1")
            },
            Duration::from_secs(90),
        )
        .await
    });
    agent_ready(&d, &store, ids[0]).await;
    let caller = minor_caller(&d, "5550199").await;
    d.wait_line(|l| l.contains("queued") && l.contains("tier=L1"), T)
        .await;
    // The phone says 486: routing moves on without pausing the agent.
    d.wait_line(|l| l.contains("agent leg failed") && l.contains("Busy"), T)
        .await;
    let events = agent.await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "incoming" && e["answered"] == false),
        "the agent's phone rang and refused: {events:?}"
    );
    let state = store
        .get(&"busyagent".parse().unwrap())
        .await
        .unwrap()
        .agent
        .state;
    assert_ne!(state, AgentState::Paused, "busy is not a miss");

    // The caller gives up while waiting.
    let call_id = caller.call_id().to_string();
    caller.hang_up().await.unwrap();
    d.wait_line(
        |l| l.contains("left the queue") && l.contains("abandoned"),
        T,
    )
    .await;
    let pool = store.pool();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let reason: Option<String> =
            sqlx::query_scalar("SELECT end_reason FROM call_records WHERE call_id = $1")
                .bind(&call_id)
                .fetch_optional(pool)
                .await
                .unwrap()
                .flatten();
        if reason.as_deref() == Some("abandoned_in_queue") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call record end reason: {reason:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT e.action FROM ticket_events e JOIN tickets t ON t.number = e.ticket_number WHERE t.caller_number = '5550199'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        actions.iter().any(|a| a == "abandoned_in_queue"),
        "the ticket's history: {actions:?}"
    );
}

#[tokio::test]
async fn an_agent_who_lets_it_ring_is_cancelled_and_paused_for_no_answer() {
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows/route-quick.toml");
    let config = format!(
        "[answer]\nafter_rings = 0\n[ivr]\nflow = \"{}\"\n[agents]\nmin_expires = \"1s\"\n[routing]\nring_timeout = \"3s\"\nmax_misses = 1\n",
        flow.display()
    );
    let (d, store, ids) =
        start_with_tiers(&config, &[("slowagent", "pass-slow-1", &[Tier::L1][..])]).await;
    let sip = d.sip;
    // Rings for 20 s before it would answer: longer than the ring timeout.
    let agent = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 60.0,
                answer_after: 20.0,
                talk_secs: 1.0,
                ..PjsuaRun::register(sip, "slowagent", "pass-slow-1")
            },
            Duration::from_secs(90),
        )
        .await
    });
    agent_ready(&d, &store, ids[0]).await;
    let caller = minor_caller(&d, "5550177").await;
    d.wait_line(
        |l| l.contains("ringing agent") && l.contains("slowagent"),
        T,
    )
    .await;
    // The ring timeout (3 s): CANCEL, a miss, and with max_misses = 1 the
    // agent is paused "no answer".
    let events = agent.await.unwrap();
    assert!(
        events.iter().any(|e| e["event"] == "cancelled"),
        "the agent's phone was cancelled: {events:?}"
    );
    assert_eq!(
        state_when(&store, "slowagent", AgentState::Paused).await,
        AgentState::Paused
    );
    let entry = store.get(&"slowagent".parse().unwrap()).await.unwrap();
    assert_eq!(entry.agent.state_reason.as_deref(), Some("no answer"));
    caller.hang_up().await.unwrap();
}

#[tokio::test]
async fn the_l1_agent_escalates_with_star_2_and_the_caller_reaches_l2() {
    let (d, store, ids) = start_with_tiers(
        &config(),
        &[
            ("firstline", "pass-first-1", &[Tier::L1][..]),
            ("specialist", "pass-second-2", &[Tier::L2][..]),
        ],
    )
    .await;
    let sip = d.sip;
    // L1 answers and presses *2; it is hung up by hotline (talk 0: waits).
    let l1 = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 60.0,
                dtmf: Some("*2"),
                ..PjsuaRun::register(sip, "firstline", "pass-first-1")
            },
            Duration::from_secs(120),
        )
        .await
    });
    agent_ready(&d, &store, ids[0]).await;
    // L2 answers and hangs up after 3 s.
    let l2 = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 60.0,
                talk_secs: 3.0,
                ..PjsuaRun::register(sip, "specialist", "pass-second-2")
            },
            Duration::from_secs(120),
        )
        .await
    });
    bindings_when(&store, ids[1], |b| b.len() == 1, T).await;
    assert_eq!(
        state_when(&store, "specialist", AgentState::Available).await,
        AgentState::Available
    );
    let caller = minor_caller(&d, "5550155").await;
    d.wait_line(
        |l| l.contains("escalated by the agent") && l.contains("to=L2"),
        T,
    )
    .await;
    d.wait_line(
        |l| l.contains("ringing agent") && l.contains("specialist"),
        T,
    )
    .await;
    assert!(
        caller.wait_hangup(Duration::from_secs(30)).await,
        "the L2 agent's hang-up ends the call"
    );
    let l1 = l1.await.unwrap();
    assert!(l1.iter().any(|e| e["event"] == "dtmf"), "{l1:?}");
    assert_eq!(
        pjsua::call_states(&l1).last().map(String::as_str),
        Some("DISCONNECTED"),
        "hotline hung up the escalating agent: {l1:?}"
    );
    let l2 = l2.await.unwrap();
    assert!(
        pjsua::call_states(&l2).iter().any(|s| s == "CONFIRMED"),
        "the L2 agent took the call: {l2:?}"
    );
    let pool = store.pool();
    let (agent, tier): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT assigned_agent, assigned_tier FROM tickets WHERE caller_number = '5550155'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(agent.as_deref(), Some("specialist"));
    assert_eq!(tier.as_deref(), Some("L2"), "the ticket's tier follows");
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT e.action FROM ticket_events e JOIN tickets t ON t.number = e.ticket_number WHERE t.caller_number = '5550155'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(actions.iter().any(|a| a == "escalated"), "{actions:?}");
}
