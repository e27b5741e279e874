//! Blind transfer from the agent's phone (REFER, RFC 3515): a pjsua2 L1
//! agent bridged to its caller transfers to a tier's queue or to another
//! agent by name; hotline answers 202, NOTIFYs 100 then 200, hangs up the
//! transferring agent, and the caller reaches the target, bridged. Real
//! PostgreSQL, real pjsua2 agents registered with digest, all on
//! 127.0.0.1.

mod common;

use std::path::Path;
use std::time::Duration;

use common::agents::{bindings_when, start_with_tiers, state_when, T};
use common::audio::{microphone, read_wav};
use common::baresip::Baresip;
use common::pjsua::{self, PjsuaRun};
use hotline::agents::{AgentState, Tier};

fn config() -> String {
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows/route-quick.toml");
    format!(
        "[answer]\nafter_rings = 0\n[ivr]\nflow = \"{}\"\n[agents]\nmin_expires = \"1s\"\nwrap_up = \"2s\"\n[routing]\nring_timeout = \"8s\"\n",
        flow.display()
    )
}

/// The agent's phone registered and routing knows them available.
async fn agent_ready(
    d: &common::daemon::Daemon,
    store: &hotline::agents::AgentStore,
    id: hotline::agents::AgentId,
    user: &str,
) {
    bindings_when(store, id, |b| b.len() == 1, T).await;
    assert_eq!(
        state_when(store, user, AgentState::Available).await,
        AgentState::Available
    );
    d.wait_line(
        |l| l.contains("agent state") && l.contains("to=available"),
        T,
    )
    .await;
}

/// The test's one ticket: its agent and tier, and its `escalated` events'
/// details.
async fn ticket_facts(
    pool: &sqlx::PgPool,
) -> (Option<String>, Option<String>, Vec<serde_json::Value>) {
    let (number, agent, tier): (i64, Option<String>, Option<String>) =
        sqlx::query_as("SELECT number, assigned_agent, assigned_tier FROM tickets")
            .fetch_one(pool)
            .await
            .unwrap();
    let escalations: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT detail FROM ticket_events WHERE ticket_number = $1 AND action = 'escalated' ORDER BY id",
    )
    .bind(number)
    .fetch_all(pool)
    .await
    .unwrap();
    (agent, tier, escalations)
}

/// The best normalised correlation of the first 2 s of `prompt` with any
/// 2 s of `heard`: where in the call the agent started speaking is not
/// known to the test (the IVR, the first agent and the queue come first).
fn best_match(prompt: &[f64], heard: &[f64]) -> f64 {
    let m = 16_000.min(prompt.len());
    let p = &prompt[..m];
    let pp: f64 = p.iter().map(|x| x * x).sum();
    let mut best: f64 = 0.0;
    for lag in (0..heard.len().saturating_sub(m)).step_by(2) {
        let h = &heard[lag..lag + m];
        let (mut xy, mut hh) = (0.0, 0.0);
        for i in 0..m {
            xy += p[i] * h[i];
            hh += h[i] * h[i];
        }
        if pp > 0.0 && hh > 0.0 {
            best = best.max(xy / (pp * hh).sqrt());
        }
    }
    best
}

/// The transferring phone saw 202 for its REFER, then the NOTIFYs' 100
/// and a final 200, and its call ended.
fn assert_transferred(events: &[serde_json::Value]) {
    assert!(events.iter().any(|e| e["event"] == "xfer"), "{events:?}");
    let statuses = pjsua::transfer_statuses(events);
    assert!(
        statuses.iter().any(|(code, _)| *code == 100),
        "NOTIFY 100 Trying: {statuses:?}"
    );
    assert_eq!(
        statuses.last(),
        Some(&(200, true)),
        "the last NOTIFY says 200 and ends the subscription: {events:?}"
    );
    assert_eq!(
        pjsua::call_states(events).last().map(String::as_str),
        Some("DISCONNECTED"),
        "the transferring agent's call ended: {events:?}"
    );
}

#[tokio::test]
async fn the_l1_agent_blind_transfers_to_the_l2_queue_and_the_caller_talks_to_l2() {
    let (d, store, ids) = start_with_tiers(
        &config(),
        &[
            ("frontdesk", "pass-front-1", &[Tier::L1][..]),
            ("productpro", "pass-product-2", &[Tier::L2][..]),
        ],
    )
    .await;
    let sip = d.sip;
    let l2_queue = format!("sip:l2@{sip}");
    let l1 = tokio::spawn({
        let to = l2_queue.clone();
        async move {
            pjsua::run(
                &PjsuaRun {
                    answer_within: 60.0,
                    transfer: Some(&to),
                    ..PjsuaRun::register(sip, "frontdesk", "pass-front-1")
                },
                Duration::from_secs(120),
            )
            .await
        }
    });
    agent_ready(&d, &store, ids[0], "frontdesk").await;
    // L2 says the category menu into the call, records what it hears and
    // hangs up after 8 s.
    let tmp = tempfile::tempdir().unwrap();
    let l2_heard = tmp.path().join("l2-heard.wav");
    let l2_says = Path::new("prompts/en/category-menu.wav")
        .canonicalize()
        .unwrap();
    let l2 = tokio::spawn({
        let heard = l2_heard.clone();
        async move {
            pjsua::run(
                &PjsuaRun {
                    answer_within: 60.0,
                    play: Some(&l2_says),
                    record: Some(&heard),
                    talk_secs: 8.0,
                    ..PjsuaRun::register(sip, "productpro", "pass-product-2")
                },
                Duration::from_secs(120),
            )
            .await
        }
    });
    agent_ready(&d, &store, ids[1], "productpro").await;

    let mic_dir = tempfile::tempdir().unwrap();
    let mut caller = Baresip::start(&microphone(mic_dir.path(), 60), "PCMU").await;
    caller.command("dial", &format!("sip:hotline@{sip}")).await;
    caller.event("CALL_ESTABLISHED", T).await;
    caller.event("CALL_RTPESTAB", T).await;
    caller.command("sndcode", "3").await; // minor: L1
    d.wait_line(|l| l.contains("queued") && l.contains("tier=L1"), T)
        .await;
    d.wait_line(|l| l.contains("REFER accepted"), Duration::from_secs(20))
        .await;
    d.wait_line(
        |l| l.contains("escalated by the agent") && l.contains("to=L2"),
        T,
    )
    .await;
    d.wait_line(
        |l| l.contains("caller and agent bridged") && l.contains("productpro"),
        T,
    )
    .await;
    // L2 hangs up after 8 s: the caller's call ends with it.
    caller.event("CALL_CLOSED", Duration::from_secs(30)).await;

    let l1 = l1.await.unwrap();
    assert_transferred(&l1);
    let l2 = l2.await.unwrap();
    assert!(
        pjsua::call_states(&l2).iter().any(|s| s == "CONFIRMED"),
        "the L2 agent took the call: {l2:?}"
    );

    // Audio both ways between the caller and L2.
    let dir = caller.quit().await;
    let caller_heard = std::fs::read_dir(dir.path().join("rec"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded the call");
    let heard = read_wav(&caller_heard);
    let c = best_match(&read_wav(Path::new("prompts/en/category-menu.wav")), &heard);
    assert!(
        c > 0.3,
        "the caller heard the L2 agent (correlation {c:.3})"
    );
    let l2_rec = read_wav(&l2_heard);
    let rms = (l2_rec.iter().map(|s| s * s).sum::<f64>() / l2_rec.len().max(1) as f64).sqrt();
    assert!(rms > 200.0, "the L2 agent heard the caller (RMS {rms:.0})");

    // The ticket: L2 took it, and the escalation by the L1 agent.
    let (agent, tier, escalations) = ticket_facts(store.pool()).await;
    assert_eq!(agent.as_deref(), Some("productpro"));
    assert_eq!(tier.as_deref(), Some("L2"), "the ticket's tier follows");
    assert_eq!(escalations.len(), 1, "{escalations:?}");
    assert_eq!(escalations[0]["from"], "L1");
    assert_eq!(escalations[0]["to"], "L2");
    assert!(
        escalations[0]["by"]
            .as_str()
            .is_some_and(|b| b.starts_with("frontdesk")),
        "by the L1 agent: {escalations:?}"
    );
    // The transferring agent went through wrap-up as after any call.
    let states: Vec<AgentState> = store
        .events(ids[0], 20)
        .await
        .unwrap()
        .iter()
        .map(|e| e.to_state)
        .collect();
    assert!(states.contains(&AgentState::WrapUp), "{states:?}");
    assert_eq!(
        state_when(&store, "frontdesk", AgentState::Available).await,
        AgentState::Available
    );
}

#[tokio::test]
async fn a_transfer_to_an_agents_user_rings_that_agent_and_the_ticket_takes_their_tier() {
    let (d, store, ids) = start_with_tiers(
        &config(),
        &[
            ("helpline", "pass-help-1", &[Tier::L1][..]),
            // Idle longer than bob, so the strategy alone would pick them.
            ("otherexpert", "pass-other-3", &[Tier::L3][..]),
            ("bob", "pass-bob-23", &[Tier::L2, Tier::L3][..]),
        ],
    )
    .await;
    let sip = d.sip;
    let other = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 25.0,
                talk_secs: 1.0,
                ..PjsuaRun::register(sip, "otherexpert", "pass-other-3")
            },
            Duration::from_secs(60),
        )
        .await
    });
    agent_ready(&d, &store, ids[1], "otherexpert").await;
    let bob = tokio::spawn(async move {
        pjsua::run(
            &PjsuaRun {
                answer_within: 60.0,
                talk_secs: 3.0,
                ..PjsuaRun::register(sip, "bob", "pass-bob-23")
            },
            Duration::from_secs(120),
        )
        .await
    });
    agent_ready(&d, &store, ids[2], "bob").await;
    let to_bob = format!("sip:bob@{sip}");
    let l1 = tokio::spawn({
        let to = to_bob.clone();
        async move {
            pjsua::run(
                &PjsuaRun {
                    answer_within: 60.0,
                    transfer: Some(&to),
                    ..PjsuaRun::register(sip, "helpline", "pass-help-1")
                },
                Duration::from_secs(120),
            )
            .await
        }
    });
    agent_ready(&d, &store, ids[0], "helpline").await;

    let who = hotline::callgen::CallerId {
        user: "5550166".into(),
        display: None,
        anonymous: false,
    };
    let mut caller = hotline::callgen::Caller::dial(sip, &who, T).await.unwrap();
    assert!(caller.wait_for_prompt_start(T).await);
    caller.press("3").await.unwrap(); // minor: L1
    d.wait_line(
        |l| l.contains("escalated by the agent") && l.contains("to=L3"),
        Duration::from_secs(30),
    )
    .await;
    d.wait_line(|l| l.contains("ringing agent") && l.contains("bob"), T)
        .await;
    assert!(
        caller.wait_hangup(Duration::from_secs(30)).await,
        "bob's hang-up ends the call"
    );
    assert_transferred(&l1.await.unwrap());
    let bob = bob.await.unwrap();
    assert!(
        pjsua::call_states(&bob).iter().any(|s| s == "CONFIRMED"),
        "bob took the call: {bob:?}"
    );
    let other = other.await.unwrap();
    assert!(
        !other.iter().any(|e| e["event"] == "incoming"),
        "the other L3 agent was not offered the call: {other:?}"
    );
    let (agent, tier, escalations) = ticket_facts(store.pool()).await;
    assert_eq!(agent.as_deref(), Some("bob"));
    assert_eq!(tier.as_deref(), Some("L3"), "bob's highest tier");
    assert_eq!(escalations.len(), 1, "{escalations:?}");
    assert_eq!(escalations[0]["to"], "L3");
}

/// A caller may not transfer the desk's call (403 on their own dialog),
/// and a REFER outside any dialog names no call to transfer (481).
#[tokio::test]
async fn a_callers_refer_is_forbidden_and_one_outside_a_dialog_is_481() {
    use common::sip_peer::{Leg, SipPeer};
    let d = common::daemon::Daemon::start("[answer]\nafter_rings = 0\n").await;
    let peer = SipPeer::new(d.sip).await;
    let mut leg = Leg::new();
    peer.send(&peer.invite(&leg, "")).await;
    let ok = peer.until_status(200, T).await.expect("200 OK");
    leg.to_tag = ok.to_tag().map(|t| t.0);
    peer.send(&peer.ack(&leg)).await;
    leg.cseq += 1;
    let refer_to = format!("Refer-To: <sip:L2@{}>\r\n", d.sip);
    peer.send(&peer.request_text("REFER", &leg, &refer_to))
        .await;
    let r = peer.until_status(403, T).await;
    assert!(r.is_some(), "the caller's REFER is refused 403");
    // The call goes on: a BYE still finds it.
    leg.cseq += 1;
    peer.send(&peer.request_text("BYE", &leg, "")).await;
    assert!(peer.until_status(200, T).await.is_some());

    let outside = Leg::new();
    peer.send(&peer.request_text("REFER", &outside, &refer_to))
        .await;
    assert!(
        peer.until_status(481, T).await.is_some(),
        "a dialog-less REFER: 481"
    );
}
