//! Real third-party softphones as agents: baresip (Debian) and PJSIP's
//! pjsua2 register to the daemon with digest authentication, a wrong
//! password is refused, and feature codes dialled from the phone change the
//! agent's state (the INVITE is challenged with 407, the agent hears the
//! confirmation, hotline hangs up). All on 127.0.0.1.

mod common;

use std::path::Path;
use std::time::Duration;

use common::agents::{bindings_when, start_with, state_when, T};
use common::audio::{correlation, microphone, read_wav};
use common::baresip::Baresip;
use common::pjsua::{self, call_states, reg_codes, PjsuaRun};
use hotline::agents::{Actor, AgentState};

const CONFIG: &str = r#"
[agents]
min_expires = "1s"
"#;

/// The phone heard `prompt` (correlation against the shipped WAV).
fn heard_prompt(heard: &Path, prompt: &str) -> f64 {
    let sent = read_wav(Path::new(&format!("prompts/en/{prompt}.wav")));
    let heard = read_wav(heard);
    correlation(&sent, &heard)
}

#[tokio::test]
async fn baresip_registers_with_digest_and_pauses_with_star_52() {
    let (d, store, ids) = start_with(CONFIG, &[("agent1", "baresip-pass")]).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Baresip::agent(
        &microphone(tmp.path(), 20),
        "PCMU",
        d.sip,
        "agent1",
        "baresip-pass",
        60,
    )
    .await;
    // baresip registers as it starts, before its control port is
    // connected: its REGISTER_OK may come before we listen, so the
    // daemon's side is what is checked.
    let b = bindings_when(&store, ids[0], |b| b.len() == 1, T).await;
    assert!(
        b[0].contact_uri.starts_with("sip:agent1"),
        "baresip's contact kept as sent: {}",
        b[0].contact_uri
    );
    assert_eq!(
        state_when(&store, "agent1", AgentState::Available).await,
        AgentState::Available,
        "login on register"
    );

    phone.command("dial", &format!("sip:*52@{}", d.sip)).await;
    phone.event("CALL_ESTABLISHED", T).await;
    phone.event("CALL_CLOSED", T).await;
    assert_eq!(
        state_when(&store, "agent1", AgentState::Paused).await,
        AgentState::Paused
    );
    let events = store.events(ids[0], 10).await.unwrap();
    let pause = events
        .iter()
        .find(|e| e.to_state == AgentState::Paused)
        .expect("the pause is in the agent's history");
    assert_eq!(pause.actor, Actor::Phone);
    assert!(
        d.count(|l| l.contains("407") || l.contains("feature code")) > 0,
        "the feature code went through the daemon"
    );
    let dir = phone.quit().await;
    let heard = std::fs::read_dir(dir.path().join("rec"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded the call");
    let c = heard_prompt(&heard, "agent-paused");
    assert!(
        c > 0.5,
        "the agent heard the confirmation (correlation {c:.3})"
    );
}

#[tokio::test]
async fn baresip_with_a_wrong_password_is_refused() {
    let (d, store, ids) = start_with(CONFIG, &[("agent2", "right-pass")]).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Baresip::agent(
        &microphone(tmp.path(), 5),
        "PCMU",
        d.sip,
        "agent2",
        "wrong-pass",
        60,
    )
    .await;
    d.wait_line(
        |l| l.contains("authentication failed") && l.contains("agent2"),
        T,
    )
    .await;
    assert!(store.bindings(ids[0]).await.unwrap().is_empty());
    // And it cannot dial a feature code either.
    phone.command("dial", &format!("sip:*51@{}", d.sip)).await;
    phone.event("CALL_CLOSED", T).await;
    assert_eq!(
        store
            .get(&"agent2".parse().unwrap())
            .await
            .unwrap()
            .agent
            .state,
        AgentState::Offline
    );
}

#[tokio::test]
async fn pjsua2_registers_resumes_with_star_53_and_unregisters() {
    let (d, store, ids) = start_with(CONFIG, &[("agent3", "pjsua-pass")]).await;
    store
        .pause(ids[0], Some("lunch"), Actor::Cli)
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("heard.wav");
    let events = pjsua::run(
        &PjsuaRun {
            registrar: d.sip,
            user: "agent3",
            password: "pjsua-pass",
            expires: 60,
            dial: Some("*53"),
            record: Some(&wav),
            unregister: true,
            ..PjsuaRun::register(d.sip, "agent3", "pjsua-pass")
        },
        Duration::from_secs(60),
    )
    .await;
    let codes = reg_codes(&events);
    assert_eq!(codes.first(), Some(&200), "pjsua registered: {events:?}");
    let states = call_states(&events);
    assert!(states.iter().any(|s| s == "CONFIRMED"), "{events:?}");
    assert_eq!(states.last().map(String::as_str), Some("DISCONNECTED"));
    assert_eq!(
        state_when(&store, "agent3", AgentState::Available).await,
        AgentState::Available,
        "*53 resumed the paused agent"
    );
    let c = heard_prompt(&wav, "agent-resumed");
    assert!(c > 0.5, "pjsua heard the confirmation (correlation {c:.3})");
    // Its un-registration (Expires: 0) removed the binding.
    assert_eq!(codes.len(), 2, "{events:?}");
    bindings_when(&store, ids[0], |b| b.is_empty(), T).await;
}

#[tokio::test]
async fn pjsua2_with_a_wrong_password_gets_403_and_no_binding() {
    let (d, store, ids) = start_with(CONFIG, &[("agent4", "right-pass")]).await;
    let events = pjsua::run(
        &PjsuaRun {
            registrar: d.sip,
            user: "agent4",
            password: "not-the-pass",
            expires: 60,
            dial: None,
            record: None,
            ..PjsuaRun::register(d.sip, "agent4", "not-the-pass")
        },
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(reg_codes(&events).first(), Some(&403), "{events:?}");
    assert!(store.bindings(ids[0]).await.unwrap().is_empty());
}
