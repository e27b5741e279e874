//! Several daemons, one database: two hotline daemons share one
//! PostgreSQL, one agent is available, and two callers arrive at once (one
//! at each daemon). Exactly one daemon rings the agent; the other caller
//! waits and gets the agent after the first call ended and its wrap-up
//! passed. The agent's phone registered with one daemon only: the other
//! rings it through the binding stored in PostgreSQL, and learns of the
//! agent's calls through `NOTIFY hotline_agents`. Real PostgreSQL, a
//! pjsua2 agent with digest, the built-in caller, all on 127.0.0.1.

mod common;

use std::path::Path;
use std::time::Duration;

use common::agents::{bindings_when, caller_choosing, start_two, state_when, T};
use common::pjsua::{self, PjsuaRun};
use hotline::agents::{AgentState, Tier};

fn config() -> String {
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows/route-quick.toml");
    format!(
        "[answer]\nafter_rings = 0\n[ivr]\nflow = \"{}\"\n[agents]\nmin_expires = \"1s\"\nwrap_up = \"3s\"\n[routing]\nring_timeout = \"8s\"\n",
        flow.display()
    )
}

#[tokio::test]
async fn two_daemons_on_one_database_never_ring_one_agent_for_two_calls() {
    let (a, b, store, ids) =
        start_two(&config(), &[("solo", "pass-solo-1", &[Tier::L1][..])]).await;
    // The agent registers with daemon A only, takes two calls one after
    // the other, each hung up by the agent after 3 s.
    let sip = a.sip;
    let agent = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 60.0,
                talk_secs: 3.0,
                calls: 2,
                ..PjsuaRun::register(sip, "solo", "pass-solo-1")
            },
            Duration::from_secs(120),
        )
        .await
    });
    bindings_when(&store, ids[0], |b| b.len() == 1, T).await;
    // Both desks know the agent is available (B from the NOTIFY).
    for d in [&a, &b] {
        d.wait_line(
            |l| l.contains("agent state") && l.contains("to=available"),
            T,
        )
        .await;
    }

    let (c1, c2) = tokio::join!(
        caller_choosing(&a, "5550101", "3"),
        caller_choosing(&b, "5550102", "3")
    );
    for d in [&a, &b] {
        d.wait_line(|l| l.contains("queued") && l.contains("tier=L1"), T)
            .await;
    }
    // Both calls are bridged in the end, each by its own daemon.
    let bridged = |l: &str| l.contains("caller and agent bridged");
    let limit = Duration::from_secs(40);
    a.wait_count(bridged, 1, limit).await;
    b.wait_count(bridged, 1, limit).await;
    assert!(c1.wait_hangup(Duration::from_secs(20)).await);
    assert!(c2.wait_hangup(Duration::from_secs(20)).await);

    // The phone never had two calls at once: the second INVITE came after
    // the first call ended.
    let events = agent.await.unwrap();
    let seq: Vec<String> = events
        .iter()
        .filter_map(|e| match e["event"].as_str() {
            Some("incoming") => Some("incoming".to_string()),
            Some("call") if e["state"] == "DISCONNECTED" => Some("ended".to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        seq,
        ["incoming", "ended", "incoming", "ended"],
        "one call at a time on the agent's phone: {events:?}"
    );
    let rang = |l: &str| l.contains("ringing agent") && l.contains("solo");
    assert_eq!(
        a.count(rang) + b.count(rang),
        2,
        "exactly two offers in all, one per call"
    );

    // The daemon that rang second had heard that the agent was busy.
    let heard = |l: &str| l.contains("agent busy on another daemon's call");
    assert!(
        a.count(heard) + b.count(heard) >= 1,
        "one desk followed the other's call"
    );

    // The agent's history: each call claimed once, the second one after
    // the first call's wrap-up.
    assert_eq!(
        state_when(&store, "solo", AgentState::Available).await,
        AgentState::Available
    );
    let mut states: Vec<AgentState> = store
        .events(ids[0], 50)
        .await
        .unwrap()
        .iter()
        .map(|e| e.to_state)
        .collect();
    states.reverse();
    let from_first_ring: Vec<AgentState> = states
        .iter()
        .copied()
        .skip_while(|s| *s != AgentState::Ringing)
        .collect();
    use AgentState::*;
    assert_eq!(
        &from_first_ring[..from_first_ring.len().min(8)],
        [Ringing, OnCall, WrapUp, Available, Ringing, OnCall, WrapUp, Available],
        "the agent's events: {states:?}"
    );
    // Both tickets name the agent.
    let agents: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT assigned_agent FROM tickets WHERE caller_number IN ('5550101', '5550102')",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(agents, [Some("solo".to_string()), Some("solo".to_string())]);
}
