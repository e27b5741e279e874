//! Routing during a PostgreSQL outage: the desk goes on from memory and
//! what it did reaches the database when it returns, nothing lost. A
//! pjsua2 agent talks to a first caller while a second one waits; the
//! cluster stops; the agent hangs up, the second caller gets the agent
//! (claimed in memory), talks and hangs up; the cluster starts again: the
//! agent's events of both calls and the second ticket's assignment are in
//! the database. This test owns its cluster, since it stops and starts it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::agents::{add_agent_in, bindings_when, caller_choosing, roster, state_when, T};
use common::daemon::Daemon;
use common::pjsua::{self, PjsuaRun};
use hotline::agents::{AgentState, Tier};

fn config() -> String {
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows/route-quick.toml");
    format!(
        "[answer]\nafter_rings = 0\n[ivr]\nflow = \"{}\"\n[agents]\nmin_expires = \"1s\"\nwrap_up = \"1s\"\n[routing]\nring_timeout = \"8s\"\n[database]\nconnect_timeout = \"1s\"\n",
        flow.display()
    )
}

#[tokio::test]
async fn routing_goes_on_during_an_outage_and_the_database_gets_it_all_afterwards() {
    let cluster = common::TestCluster::start();
    let (_, db_url) = cluster.fresh_db().await;
    let store = roster(&db_url).await;
    let id = add_agent_in(&store, "steady", "pass-steady-1", &[Tier::L1]).await;
    let d = Daemon::start_with_db(&config(), db_url.clone());
    d.wait_line(|l| l.contains("roster loaded"), T).await;
    let sip = d.sip;
    let agent = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 60.0,
                talk_secs: 4.0,
                calls: 2,
                ..PjsuaRun::register(sip, "steady", "pass-steady-1")
            },
            Duration::from_secs(120),
        )
        .await
    });
    bindings_when(&store, id, |b| b.len() == 1, T).await;
    d.wait_line(
        |l| l.contains("agent state") && l.contains("to=available"),
        T,
    )
    .await;

    // The first caller talks to the agent; the second one waits.
    let c1 = caller_choosing(&d, "5550301", "3").await;
    let bridged = |l: &str| l.contains("caller and agent bridged");
    d.wait_count(bridged, 1, T).await;
    let c2 = caller_choosing(&d, "5550302", "3").await;
    d.wait_count(|l| l.contains("queued") && l.contains("tier=L1"), 2, T)
        .await;

    // PostgreSQL goes away while a call is bridged and a caller waits.
    let c = cluster.cluster.clone();
    tokio::task::spawn_blocking(move || c.stop().unwrap())
        .await
        .unwrap();
    let down_at = chrono::Utc::now();

    // The agent hangs up; after wrap-up the waiting caller gets them.
    assert!(c1.wait_hangup(Duration::from_secs(20)).await);
    d.wait_line(|l| l.contains("agent claimed in memory only"), T)
        .await;
    d.wait_count(bridged, 2, T).await;
    assert!(c2.wait_hangup(Duration::from_secs(20)).await);
    let ended = |l: &str| l.contains("agent state") && l.contains("to=available");
    // Login, after call 1, after call 2.
    d.wait_count(ended, 3, T).await;
    let events = agent.await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e["event"] == "incoming").count(),
        2,
        "the agent took both calls: {events:?}"
    );

    // The database returns: what routing did reaches it.
    let c = cluster.cluster.clone();
    tokio::task::spawn_blocking(move || c.start().unwrap())
        .await
        .unwrap();
    d.wait_line(
        |l| l.contains("database back: agent state writes kept during the outage are stored"),
        Duration::from_secs(20),
    )
    .await;
    // A new pool: the old one's connections died with the cluster.
    let store = roster(&db_url).await;
    assert_eq!(
        state_when(&store, "steady", AgentState::Available).await,
        AgentState::Available
    );
    let mut history = store.events(id, 50).await.unwrap();
    history.reverse();
    let states: Vec<AgentState> = history
        .iter()
        .map(|e| e.to_state)
        .skip_while(|s| *s != AgentState::Ringing)
        .collect();
    use AgentState::*;
    assert_eq!(
        states,
        [Ringing, OnCall, WrapUp, Available, Ringing, OnCall, WrapUp, Available],
        "both calls in the agent's history"
    );
    // The second call's events carry the times routing made them, during
    // the outage, not the time of the replay.
    let second_ring = history
        .iter()
        .filter(|e| e.to_state == Ringing)
        .nth(1)
        .unwrap();
    assert!(
        second_ring.at > down_at - chrono::Duration::seconds(1),
        "the second claim happened during the outage: {:?}",
        second_ring.at
    );
    assert_eq!(second_ring.reason.as_deref(), Some("offered a call"));

    // The second ticket's assignment came through the ticket journal.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row: Option<(Option<String>, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
            "SELECT assigned_agent, first_response_at FROM tickets WHERE caller_number = '5550302'",
        )
        .fetch_optional(store.pool())
        .await
        .ok()
        .flatten();
        if let Some((Some(agent), Some(at))) = &row {
            assert_eq!(agent, "steady");
            assert!(*at > down_at - chrono::Duration::seconds(1));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second ticket's assignment reached the database: {row:?}; log:\n{}",
            d.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
