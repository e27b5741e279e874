//! End to end with a real SIP phone: baresip (Debian) calls the daemon on
//! 127.0.0.1. Answer timing, hang-up, CANCEL, re-INVITE, what the caller
//! hears (in PCMU and PCMA) and key presses sent as RFC 4733 events.

mod common;

use std::path::Path;
use std::time::Duration;

use common::audio::{correlation, microphone, read_wav};
use common::baresip::Baresip;
use common::daemon::Daemon;

const S: Duration = Duration::from_secs(10);

/// The first prompt of the default flow: the language choice.
fn first_prompt() -> Vec<f64> {
    read_wav(Path::new("prompts/language-choice.wav"))
}

#[tokio::test]
async fn answered_after_the_configured_rings_and_the_callers_bye_ends_it() {
    let d = Daemon::start("[answer]\nafter_rings = 2\nring_period = \"1s\"\n").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Baresip::start(&microphone(tmp.path(), 20), "PCMU").await;
    phone
        .command("dial", &format!("sip:hotline@{}", d.sip))
        .await;
    let (ringing, _) = phone.event("CALL_RINGING", S).await;
    let (established, _) = phone.event("CALL_ESTABLISHED", S).await;
    let gap = established - ringing;
    // 2 rings of 1 s from the INVITE; 180 leaves right after the INVITE.
    // Generous bounds: a loaded CI machine delays events, not the clock.
    assert!(
        gap >= Duration::from_millis(1500) && gap <= Duration::from_millis(3000),
        "180 -> 200 took {gap:?}"
    );
    phone.command("hangup", "").await;
    phone.event("CALL_CLOSED", S).await;
    d.wait_line(
        |l| l.contains("call ended") && l.contains("reason=caller_hung_up"),
        S,
    )
    .await;
}

#[tokio::test]
async fn hanging_up_while_it_rings_cancels_with_487() {
    let d = Daemon::start("[answer]\nafter_rings = 3\nring_period = \"3s\"\n").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Baresip::start(&microphone(tmp.path(), 20), "PCMU").await;
    phone
        .command("dial", &format!("sip:hotline@{}", d.sip))
        .await;
    phone.event("CALL_RINGING", S).await;
    phone.command("hangup", "").await;
    phone.event("CALL_CLOSED", S).await;
    d.wait_line(
        |l| l.contains("call ended") && l.contains("reason=caller_cancelled"),
        S,
    )
    .await;
    assert_eq!(
        d.count(|l| l.contains("answered ring_ms")),
        0,
        "never answered"
    );
}

#[tokio::test]
async fn a_phones_reinvite_hold_and_resume_are_answered() {
    let d = Daemon::start("[answer]\nafter_rings = 0\n").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Baresip::start(&microphone(tmp.path(), 20), "PCMU").await;
    phone
        .command("dial", &format!("sip:hotline@{}", d.sip))
        .await;
    phone.event("CALL_ESTABLISHED", S).await;
    phone.command("reinvite", "").await;
    d.wait_line(|l| l.contains("session modified"), S).await;
    // Hold and resume from the phone's keys: re-INVITEs with sendonly,
    // then sendrecv; we answer recvonly, then sendrecv.
    phone.key('x');
    d.wait_line(|l| l.contains("session modified direction=RecvOnly"), S)
        .await;
    phone.key('X');
    // The plain re-INVITE gave one sendrecv answer, the resume the second.
    d.wait_count(|l| l.contains("session modified direction=SendRecv"), 2, S)
        .await;
    phone.command("hangup", "").await;
    d.wait_line(|l| l.contains("reason=caller_hung_up"), S)
        .await;
}

async fn caller_hears_the_first_prompt(codec: &str) {
    let d = Daemon::start("[answer]\nafter_rings = 0\n").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Baresip::start(&microphone(tmp.path(), 30), codec).await;
    phone
        .command("dial", &format!("sip:hotline@{}", d.sip))
        .await;
    phone.event("CALL_ESTABLISHED", S).await;
    let answered = d.wait_line(|l| l.contains("answered"), S).await;
    assert!(
        answered.contains(&format!(
            "codec=Some({})",
            if codec == "PCMU" { "Pcmu" } else { "Pcma" }
        )),
        "{answered}"
    );
    d.wait_line(|l| l.contains("playback done"), Duration::from_secs(20))
        .await;
    phone.command("hangup", "").await;
    phone.event("CALL_CLOSED", S).await;
    let heard_path = phone.heard().expect("baresip recorded what it heard");
    let dir = phone.quit().await;
    let heard = read_wav(&heard_path);
    let sent = first_prompt();
    let c = correlation(&sent, &heard);
    assert!(
        c > 0.9,
        "{codec}: correlation {c:.3} between the prompt and what the phone heard"
    );
    let ratio = heard.len() as f64 / sent.len() as f64;
    assert!(
        (0.95..=1.05).contains(&ratio),
        "{codec}: heard {} samples for {} sent",
        heard.len(),
        sent.len()
    );
    drop(dir);
}

#[tokio::test]
async fn the_caller_hears_the_first_prompt_in_pcmu() {
    caller_hears_the_first_prompt("PCMU").await;
}

#[tokio::test]
async fn the_caller_hears_the_first_prompt_in_pcma() {
    caller_hears_the_first_prompt("PCMA").await;
}

#[tokio::test]
async fn key_presses_sent_as_rfc4733_arrive_once_each_in_order() {
    let d = Daemon::start("[answer]\nafter_rings = 0\n").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Baresip::start(&microphone(tmp.path(), 30), "PCMU").await;
    phone
        .command("dial", &format!("sip:hotline@{}", d.sip))
        .await;
    phone.event("CALL_ESTABLISHED", S).await;
    phone.event("CALL_RTPESTAB", S).await;
    for (i, key) in ["1", "5", "#"].iter().enumerate() {
        phone.command("sndcode", key).await;
        d.wait_line(|l| l.contains(&format!("DTMF digit={key}")), S)
            .await;
        assert_eq!(
            d.count(|l| l.contains("DTMF digit=")),
            i + 1,
            "each key once"
        );
    }
    let digits: Vec<String> = d
        .logs()
        .iter()
        .filter_map(|l| l.split("DTMF digit=").nth(1).map(|r| r[..1].to_string()))
        .collect();
    assert_eq!(digits, ["1", "5", "#"]);
    assert!(d
        .logs()
        .iter()
        .any(|l| l.contains("DTMF digit=1 source=Rfc4733")));
}
