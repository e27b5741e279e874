//! Agents' phones register to the real daemon with digest authentication
//! (RFC 3261 §10, RFC 7616, RFC 8760): challenges, both algorithms, wrong
//! and unknown users, expiry and un-registration, several contacts, the
//! lock-out, keep-alive reachability and bindings that survive a restart.
//! Real PostgreSQL, real UDP on 127.0.0.1, the real `hotline run` binary.

mod common;

use std::time::Duration;

use common::agent_phone::AgentPhone;
use common::agents::{add_agent, bindings_when, roster, start_with, state_when, T};
use common::daemon::Daemon;
use hotline::agents::AgentState;
use hotline::sip::auth::{Algorithm, DigestChallenge};

/// Keep-alives every second, two misses make a phone unreachable, and a
/// transaction times out after 64 * 50 ms, so the tests see it in seconds.
const FAST: &str = r#"
[sip]
timer_t1 = "50ms"
[agents]
min_expires = "1s"
keepalive_interval = "1s"
keepalive_failures = 2
lockout_threshold = 3
lockout_window = "60s"
lockout_period = "60s"
"#;

#[tokio::test]
async fn challenge_offers_sha256_then_md5_and_both_register() {
    let (d, store, ids) = start_with(FAST, &[("agent1", "s3cret-pass")]).await;
    let agent = ids[0];

    let mut phone = AgentPhone::new(d.sip, "agent1", "s3cret-pass").await;
    let c1 = phone.contact("sha");
    let r = phone
        .register(
            &format!("Contact: <{c1}>;expires=120\r\n"),
            Some(Algorithm::Sha256),
        )
        .await;
    assert_eq!(r.first.status, 401);
    let challenges: Vec<DigestChallenge> = r
        .first
        .headers
        .get_all("WWW-Authenticate")
        .map(|v| DigestChallenge::parse(v).unwrap())
        .collect();
    assert_eq!(challenges.len(), 2, "one challenge per algorithm");
    assert_eq!(challenges[0].algorithm, Algorithm::Sha256, "SHA-256 first");
    assert_eq!(challenges[1].algorithm, Algorithm::Md5);
    assert!(challenges.iter().all(|c| c.qop_auth && c.opaque.is_some()));
    assert!(challenges.iter().all(|c| c.realm == "hotline" && !c.stale));
    assert_eq!(r.last.status, 200, "SHA-256 digest accepted");
    let contacts: Vec<&str> = r.last.headers.get_all("Contact").collect();
    assert_eq!(contacts.len(), 1);
    assert!(contacts[0].contains(&c1) && contacts[0].contains("expires="));

    // A second contact of the same agent, with MD5 and the Expires header
    // (pjsua's way); the 200 lists both.
    let c2 = phone.contact("md5");
    let r = phone
        .register(
            &format!("Contact: <{c2};ob>\r\nExpires: 90\r\n"),
            Some(Algorithm::Md5),
        )
        .await;
    assert_eq!(r.last.status, 200, "MD5 digest accepted");
    assert_eq!(r.last.headers.get_all("Contact").count(), 2);
    let b = bindings_when(&store, agent, |b| b.len() == 2, T).await;
    assert!(
        b.iter().any(|b| b.contact_uri == format!("{c2};ob")),
        "kept exactly as sent: {b:?}"
    );
    assert!(b.iter().all(|b| b.source == phone.peer.local));
    // login_on_register: the first binding logged the agent in.
    assert_eq!(
        state_when(&store, "agent1", AgentState::Available).await,
        AgentState::Available
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_403_and_no_binding() {
    let (d, store, ids) = start_with(FAST, &[("agent2", "right-password")]).await;
    let agent = ids[0];

    let mut phone = AgentPhone::new(d.sip, "agent2", "right-password").await;
    let contact = phone.contact("x");
    let r = phone
        .register_as(&format!("Contact: <{contact}>\r\n"), None, "wrong-password")
        .await;
    assert_eq!(r.first.status, 401);
    assert_eq!(r.last.status, 403);
    let wrong_reason = r.last.reason.clone();

    let mut stranger = AgentPhone::new(d.sip, "nobody", "whatever-pass").await;
    let contact = stranger.contact("x");
    let r = stranger
        .register(&format!("Contact: <{contact}>\r\n"), None)
        .await;
    assert_eq!(r.first.status, 401, "unknown users are challenged alike");
    assert_eq!(r.last.status, 403);
    assert_eq!(r.last.reason, wrong_reason, "no way to tell users apart");
    assert!(store.bindings(agent).await.unwrap().is_empty());
    assert!(
        !d.logs().iter().any(|l| l.contains("right-password")),
        "passwords never reach the log"
    );
}

#[tokio::test]
async fn expiry_and_unregister_both_ways() {
    let (d, store, ids) = start_with(FAST, &[("agent3", "pass-word-3")]).await;
    let agent = ids[0];
    let mut phone = AgentPhone::new(d.sip, "agent3", "pass-word-3").await;

    let c = phone.contact("a");
    // A short registration disappears by itself.
    let r = phone
        .register(&format!("Contact: <{c}>;expires=2\r\n"), None)
        .await;
    assert_eq!(r.last.status, 200);
    bindings_when(&store, agent, |b| b.len() == 1, T).await;
    bindings_when(&store, agent, |b| b.is_empty(), T).await;

    // Un-register one contact with expires=0, then all with Contact: *.
    let c2 = phone.contact("b");
    let c3 = phone.contact("c");
    let r = phone
        .register(
            &format!("Contact: <{c2}>, <{c3}>\r\nExpires: 600\r\n"),
            None,
        )
        .await;
    assert_eq!(r.last.status, 200);
    assert_eq!(r.last.headers.get_all("Contact").count(), 2);
    let r = phone
        .register(&format!("Contact: <{c2}>;expires=0\r\n"), None)
        .await;
    assert_eq!(r.last.status, 200);
    assert_eq!(r.last.headers.get_all("Contact").count(), 1);
    let r = phone.register("Contact: *\r\nExpires: 0\r\n", None).await;
    assert_eq!(r.last.status, 200);
    assert_eq!(r.last.headers.get_all("Contact").count(), 0);
    bindings_when(&store, agent, |b| b.is_empty(), T).await;
}

#[tokio::test]
async fn repeated_failures_lock_the_source_out_but_not_other_sources() {
    let (d, _store, _ids) = start_with(FAST, &[("agent4", "good-pass-4")]).await;
    let mut attacker = AgentPhone::new(d.sip, "agent4", "good-pass-4").await;
    let c = attacker.contact("a");
    for _ in 0..3 {
        let r = attacker
            .register_as(&format!("Contact: <{c}>\r\n"), None, "guess-guess")
            .await;
        assert_eq!(r.last.status, 403);
    }
    d.wait_line(
        |l| l.contains("source locked out") && l.contains("agent4"),
        T,
    )
    .await;
    // Now even the right password from that source is refused unchecked.
    let r = attacker
        .register(&format!("Contact: <{c}>\r\n"), None)
        .await;
    assert_eq!(r.last.status, 403, "locked out");
    // The real agent on another phone (another source port is another
    // source address only by IP; loopback has one, so use 127.0.0.2).
    let mut agent = AgentPhone::new_on(d.sip, "127.0.0.2", "agent4", "good-pass-4").await;
    let c = agent.contact("b");
    let r = agent.register(&format!("Contact: <{c}>\r\n"), None).await;
    assert_eq!(r.last.status, 200, "another source still gets in");
}

#[tokio::test]
async fn a_silent_phone_becomes_unreachable_and_a_restart_keeps_bindings() {
    let (_, db_url) = common::shared().fresh_db().await;
    let d = Daemon::start_with_db(FAST, db_url.clone());
    let store = roster(&db_url).await;
    d.wait_line(|l| l.contains("roster loaded"), T).await;
    // Added while the daemon runs: it hears of it (NOTIFY) and reloads.
    let agent = add_agent(&store, "agent5", "pass-word-5").await;
    d.wait_line(
        |l| l.contains("roster reloaded") && l.contains("agents=1"),
        T,
    )
    .await;
    let mut phone = AgentPhone::new(d.sip, "agent5", "pass-word-5").await;
    let c = phone.contact("k");
    let r = phone
        .register(&format!("Contact: <{c}>;expires=600\r\n"), None)
        .await;
    assert_eq!(r.last.status, 200);

    // Keep-alives arrive as OPTIONS to the contact; answered, the phone
    // stays reachable.
    let ka = phone.next_request(T).await.expect("a keep-alive OPTIONS");
    assert_eq!(ka.method().as_str(), "OPTIONS");
    assert_eq!(ka.uri().as_str(), c);
    phone.peer.answer(&ka).await;

    // A restart: the binding is still there, and still probed.
    drop(d);
    let d = Daemon::start_with_db(FAST, db_url.clone());
    let ka = phone
        .next_request(T)
        .await
        .expect("keep-alives go on after a restart");
    assert_eq!(ka.uri().as_str(), c);
    // From now on the phone says nothing: 2 misses make it unreachable.
    let b = bindings_when(
        &store,
        agent,
        |b| b.len() == 1 && !b[0].reachable,
        Duration::from_secs(20),
    )
    .await;
    assert!(b[0].failures >= 2, "{b:?}");
    d.wait_line(
        |l| l.contains("reachability changed") && l.contains("reachable=false"),
        T,
    )
    .await;
    // `agents list --json` shows it all: state, since when, the contact,
    // its expiry and that it no longer answers.
    let out = std::process::Command::new(common::hotline_bin())
        .args(["--database-url", &db_url, "agents", "list", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let me = list
        .as_array()
        .and_then(|a| a.iter().find(|e| e["user"] == "agent5"))
        .unwrap_or_else(|| panic!("agent5 listed: {list}"));
    assert_eq!(me["state"], "available", "{me}");
    assert!(me["state_since"].is_string(), "{me}");
    let binding = &me["bindings"][0];
    assert_eq!(binding["contact_uri"], c.as_str(), "{me}");
    assert_eq!(binding["reachable"], false, "{me}");
    assert!(binding["expires_at"].is_string(), "{me}");
}

#[tokio::test]
async fn too_short_a_registration_gets_423_with_min_expires() {
    // The shipped bounds: at least 60 s.
    let (d, store, ids) = start_with("", &[("agent6", "pass-word-6")]).await;
    let agent = ids[0];
    let mut phone = AgentPhone::new(d.sip, "agent6", "pass-word-6").await;
    let c = phone.contact("a");
    let r = phone
        .register(&format!("Contact: <{c}>;expires=30\r\n"), None)
        .await;
    assert_eq!(r.last.status, 423);
    assert_eq!(r.last.headers.get("Min-Expires"), Some("60"));
    // Longer than max_expires (1 h) is cut to it.
    let r = phone
        .register(&format!("Contact: <{c}>;expires=86400\r\n"), None)
        .await;
    assert_eq!(r.last.status, 200);
    let granted = r.last.headers.get("Contact").unwrap().to_string();
    assert!(granted.ends_with("expires=3600"), "{granted}");
    bindings_when(&store, agent, |b| b.len() == 1, T).await;
}
