//! `AgentStore` on a real database.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{SubsecRound, TimeDelta, Utc};
use hotline::agents::store::{changed_agent, CHANNEL};
use hotline::agents::{
    Actor, AgentError, AgentId, AgentState, BindingRecord, Password, SipUser, Tier, Transport,
};
use hotline::sip::auth::{ha1, Algorithm};

use super::{fresh, new_agent};

fn user(s: &str) -> SipUser {
    s.parse().unwrap()
}

pub fn binding(uri: &str, expires_in: i64) -> BindingRecord {
    // PostgreSQL keeps microseconds.
    let now = Utc::now().trunc_subsecs(6);
    BindingRecord {
        contact_uri: uri.into(),
        expires_at: now + TimeDelta::seconds(expires_in),
        call_id: "reg-1@127.0.0.1".into(),
        cseq: 7,
        source: "127.0.0.1:5071".parse::<SocketAddr>().unwrap(),
        transport: Transport::Udp,
        instance: Some("<urn:uuid:00000000-0000-0000-0000-000000000001>".into()),
        reg_id: Some(1),
        user_agent: Some("baresip v3".into()),
        registered_at: now,
        reachable: true,
        failures: 0,
        last_seen_at: now,
    }
}

async fn event_count(store: &hotline::agents::AgentStore, id: AgentId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM agent_events WHERE agent_id = $1")
        .bind(id.0)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn add_stores_hashes_not_the_password_and_lists_the_agent() {
    let (store, _) = fresh().await;
    let a = store
        .add(
            &new_agent("agent3", &[Tier::L3, Tier::L2, Tier::L3], "s3cret-pass"),
            Actor::Cli,
        )
        .await
        .unwrap();
    assert_eq!(a.user.as_str(), "agent3");
    assert_eq!(a.tiers, vec![Tier::L2, Tier::L3], "deduplicated, in order");
    assert_eq!(a.state, AgentState::Offline);
    assert!(a.enabled);
    let c = store.credentials("agent3").await.unwrap().unwrap();
    assert_eq!(c.id, a.id);
    assert_eq!(
        c.ha1_md5,
        ha1(Algorithm::Md5, "agent3", "hotline", "s3cret-pass")
    );
    assert_eq!(
        c.ha1_sha256,
        ha1(Algorithm::Sha256, "agent3", "hotline", "s3cret-pass")
    );
    // The clear password is nowhere in the row.
    let row: String = sqlx::query_scalar("SELECT row_to_json(a)::text FROM agents a")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(!row.contains("s3cret-pass"), "{row}");
    assert!(store.credentials("nobody").await.unwrap().is_none());
    let list = store.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].agent, a);
    assert!(list[0].bindings.is_empty());
    assert_eq!(store.all_credentials().await.unwrap(), vec![c]);
    // The roster's first event: added, by whom.
    let ev = store.events(a.id, 10).await.unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].from_state, None);
    assert_eq!(ev[0].to_state, AgentState::Offline);
    assert_eq!(ev[0].actor, Actor::Cli);
}

#[tokio::test]
async fn duplicate_unknown_and_bad_input_have_their_codes() {
    let (store, _) = fresh().await;
    store
        .add(&new_agent("agent1", &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    let e = store
        .add(&new_agent("agent1", &[Tier::L2], "password-2"), Actor::Cli)
        .await
        .unwrap_err();
    assert!(matches!(e, AgentError::Duplicate(_)), "{e}");
    assert_eq!(e.code(), "HL-AGENT-DUPLICATE");
    assert!(e.is_refusal());

    // Differing only in case is the same desk agent.
    let e = store
        .add(&new_agent("Agent1", &[Tier::L2], "password-2"), Actor::Cli)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "HL-AGENT-DUPLICATE");

    let e = store.get(&user("ghost")).await.unwrap_err();
    assert_eq!(e.code(), "HL-AGENT-UNKNOWN");
    assert!(e.to_string().contains("ghost"), "{e}");
    for e in [
        store
            .set_tiers(&user("ghost"), &[Tier::L1])
            .await
            .unwrap_err(),
        store
            .set_password(
                &user("ghost"),
                &Password::new("whatever1").unwrap(),
                "hotline",
            )
            .await
            .unwrap_err(),
        store.set_enabled(&user("ghost"), false).await.unwrap_err(),
        store.remove(&user("ghost"), Actor::Cli).await.unwrap_err(),
        store.id_of(&user("ghost")).await.unwrap_err(),
        store
            .set_state(
                AgentId(999_999),
                AgentState::Available,
                None,
                Actor::Api,
                None,
            )
            .await
            .unwrap_err(),
        store
            .replace_bindings(AgentId(999_999), &[])
            .await
            .unwrap_err(),
    ] {
        assert_eq!(e.code(), "HL-AGENT-UNKNOWN", "{e}");
    }

    let e = store.set_tiers(&user("agent1"), &[]).await.unwrap_err();
    assert_eq!(e.code(), "HL-AGENT-TIER");
    let e = hotline::agents::store::parse_tiers(&["L2", "L9"]).unwrap_err();
    assert_eq!(e.code(), "HL-AGENT-TIER");
    assert!(e.to_string().contains("L9"), "{e}");

    let mut bad = new_agent("agent2", &[Tier::L1], "password-1");
    bad.language = "English please".into();
    assert_eq!(
        store.add(&bad, Actor::Cli).await.unwrap_err().code(),
        "HL-AGENT-FIELD"
    );
    bad.language = "en".into();
    bad.display_name = "  ".into();
    assert_eq!(
        store.add(&bad, Actor::Cli).await.unwrap_err().code(),
        "HL-AGENT-FIELD"
    );
    // Nothing half-added.
    assert_eq!(store.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn set_tier_and_passwd_change_what_they_say() {
    let (store, _) = fresh().await;
    let a = store
        .add(
            &new_agent("agent1", &[Tier::L1], "first-password"),
            Actor::Cli,
        )
        .await
        .unwrap();
    let b = store
        .set_tiers(&user("agent1"), &[Tier::L3, Tier::L2])
        .await
        .unwrap();
    assert_eq!(b.tiers, vec![Tier::L2, Tier::L3]);
    assert!(b.updated_at >= a.updated_at);

    let before = store.credentials("agent1").await.unwrap().unwrap();
    store
        .set_password(
            &user("agent1"),
            &Password::new("second-password").unwrap(),
            "desk.example",
        )
        .await
        .unwrap();
    let after = store.credentials("agent1").await.unwrap().unwrap();
    assert_ne!(after.ha1_md5, before.ha1_md5);
    assert_ne!(after.ha1_sha256, before.ha1_sha256);
    assert_eq!(after.realm, "desk.example");
    for (alg, stored) in [
        (Algorithm::Md5, &after.ha1_md5),
        (Algorithm::Sha256, &after.ha1_sha256),
    ] {
        assert_eq!(
            stored,
            &ha1(alg, "agent1", "desk.example", "second-password")
        );
        assert_ne!(
            stored,
            &ha1(alg, "agent1", "desk.example", "first-password")
        );
        assert_ne!(stored, &ha1(alg, "agent1", "hotline", "first-password"));
    }

    let d = store.set_enabled(&user("agent1"), false).await.unwrap();
    assert!(!d.enabled);
    assert!(!store.credentials("agent1").await.unwrap().unwrap().enabled);
}

#[tokio::test]
async fn a_state_change_writes_exactly_one_event_and_no_change_writes_none() {
    let (store, _) = fresh().await;
    let a = store
        .add(&new_agent("agent1", &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    let base = event_count(&store, a.id).await;
    let prev = store
        .set_state(a.id, AgentState::Available, None, Actor::Phone, None)
        .await
        .unwrap();
    assert_eq!(prev, AgentState::Offline);
    assert_eq!(event_count(&store, a.id).await, base + 1);
    let prev = store
        .set_state(
            a.id,
            AgentState::Available,
            Some("again"),
            Actor::Phone,
            None,
        )
        .await
        .unwrap();
    assert_eq!(prev, AgentState::Available);
    assert_eq!(
        event_count(&store, a.id).await,
        base + 1,
        "unchanged: no event"
    );

    let t = store.pause(a.id, Some("lunch"), Actor::Api).await.unwrap();
    assert_eq!((t.from, t.to), (AgentState::Available, AgentState::Paused));
    let got = store.get(&user("agent1")).await.unwrap().agent;
    assert_eq!(got.state, AgentState::Paused);
    assert_eq!(got.state_reason.as_deref(), Some("lunch"));
    let ev = store.events(a.id, 1).await.unwrap();
    assert_eq!(ev[0].from_state, Some(AgentState::Available));
    assert_eq!(ev[0].to_state, AgentState::Paused);
    assert_eq!(ev[0].reason.as_deref(), Some("lunch"));
    assert_eq!(ev[0].actor, Actor::Api);
    assert_eq!(ev[0].at, got.state_since, "the event's time is the state's");

    let t = store.resume(a.id, Actor::Cli).await.unwrap();
    assert_eq!(t.to, AgentState::Available);
    assert!(store
        .get(&user("agent1"))
        .await
        .unwrap()
        .agent
        .state_reason
        .is_none());
    // In a call, a supervisor's pause or log-out waits.
    assert!(store.claim(a.id, Some("call-9")).await.unwrap());
    let e = store.logout(a.id, Actor::Cli).await.unwrap_err();
    assert_eq!(e.code(), "HL-AGENT-BUSY");
    let e = store.pause(a.id, None, Actor::Cli).await.unwrap_err();
    assert_eq!(e.code(), "HL-AGENT-BUSY");
    store
        .set_state(
            a.id,
            AgentState::OnCall,
            None,
            Actor::System,
            Some("call-9"),
        )
        .await
        .unwrap();
    store
        .set_state(
            a.id,
            AgentState::WrapUp,
            None,
            Actor::System,
            Some("call-9"),
        )
        .await
        .unwrap();
    let t = store.logout(a.id, Actor::Cli).await.unwrap();
    assert_eq!((t.from, t.to), (AgentState::WrapUp, AgentState::Offline));
    // added, available, paused, available, ringing, on_call, wrap_up, offline
    let ev = store.events(a.id, 100).await.unwrap();
    let states: Vec<_> = ev.iter().rev().map(|e| e.to_state.as_str()).collect();
    assert_eq!(
        states,
        [
            "offline",
            "available",
            "paused",
            "available",
            "ringing",
            "on_call",
            "wrap_up",
            "offline"
        ]
    );
    // Each event starts where the previous one ended.
    for w in ev.windows(2) {
        assert_eq!(w[0].from_state, Some(w[1].to_state));
    }
    assert_eq!(ev[3].call_id.as_deref(), Some("call-9"));
}

#[tokio::test]
async fn many_concurrent_claims_of_one_available_agent_have_one_winner() {
    let (store, url) = fresh().await;
    // A second daemon on the same database: its own pool.
    let other = hotline::agents::AgentStore::new(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(&url)
            .await
            .unwrap(),
    );
    let a = store
        .add(&new_agent("agent1", &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    store
        .set_state(a.id, AgentState::Available, None, Actor::Phone, None)
        .await
        .unwrap();
    let base = event_count(&store, a.id).await;
    // Start them together, so they really race on the row.
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            store.claim(a.id, Some(&format!("call-{i}"))).await.unwrap()
        });
    }
    let wins = tasks.join_all().await.into_iter().filter(|w| *w).count();
    assert_eq!(wins, 1);
    assert_eq!(event_count(&store, a.id).await, base + 1);
    assert_eq!(
        store.get(&user("agent1")).await.unwrap().agent.state,
        AgentState::Ringing
    );
    // Not available, or disabled: no claim.
    assert!(!store.claim(a.id, None).await.unwrap());
    store
        .set_state(a.id, AgentState::Available, None, Actor::System, None)
        .await
        .unwrap();
    store.set_enabled(&user("agent1"), false).await.unwrap();
    assert!(!store.claim(a.id, None).await.unwrap());
}

#[tokio::test]
async fn bindings_are_replaced_as_a_whole_and_removed_with_their_agent() {
    let (store, _) = fresh().await;
    let a = store
        .add(&new_agent("agent1", &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    let b = store
        .add(&new_agent("agent2", &[Tier::L2], "password-2"), Actor::Cli)
        .await
        .unwrap();
    let baresip = binding("<sip:agent1-0x55d1@127.0.0.1:5071>", 3600);
    let mut pjsua = binding("<sip:agent1@127.0.0.1:5072;ob>", 60);
    pjsua.transport = Transport::Tcp;
    pjsua.reg_id = None;
    pjsua.instance = None;
    let r = store
        .replace_bindings(a.id, &[baresip.clone(), pjsua.clone()])
        .await
        .unwrap();
    assert_eq!((r.previous, r.current), (0, 2));
    store
        .replace_bindings(b.id, &[binding("<sip:agent2@127.0.0.1:5080>", 600)])
        .await
        .unwrap();
    // Exactly as given, soonest expiry first.
    let got = store.bindings(a.id).await.unwrap();
    assert_eq!(got, vec![pjsua.clone(), baresip.clone()]);

    // A later REGISTER's result replaces the set; a duplicate contact in
    // it is refused and leaves the old set as it was.
    let e = store
        .replace_bindings(a.id, &[baresip.clone(), baresip.clone()])
        .await
        .unwrap_err();
    assert_eq!(e.code(), "HL-AGENT-FIELD");
    assert_eq!(store.bindings(a.id).await.unwrap().len(), 2);
    let r = store
        .replace_bindings(a.id, std::slice::from_ref(&baresip))
        .await
        .unwrap();
    assert_eq!((r.previous, r.current), (2, 1));
    assert_eq!(store.bindings(a.id).await.unwrap(), vec![baresip.clone()]);

    // A reader during a replace sees the old set or the new, never half.
    let writer = {
        let store = store.clone();
        let (one, two) = (baresip.clone(), pjsua.clone());
        tokio::spawn(async move {
            for i in 0..40 {
                let set = if i % 2 == 0 {
                    vec![one.clone(), two.clone()]
                } else {
                    vec![one.clone()]
                };
                store.replace_bindings(a.id, &set).await.unwrap();
            }
        })
    };
    while !writer.is_finished() {
        let n = store.bindings(a.id).await.unwrap().len();
        assert!(n == 1 || n == 2, "saw {n} bindings");
    }
    writer.await.unwrap();

    // Keep-alives.
    assert!(store
        .mark_reachable(a.id, &baresip.contact_uri, false, 3)
        .await
        .unwrap());
    assert!(!store
        .mark_reachable(a.id, "<sip:nobody@127.0.0.1>", false, 1)
        .await
        .unwrap());
    let all = store.all_bindings().await.unwrap();
    let mine = all
        .iter()
        .find(|x| x.agent_id == a.id && x.record.contact_uri == baresip.contact_uri)
        .unwrap();
    assert!(!mine.record.reachable);
    assert_eq!(mine.record.failures, 3);
    let listed = store.list().await.unwrap();
    assert_eq!(listed[0].agent.id, a.id);
    assert!(listed[0]
        .bindings
        .iter()
        .any(|b| b.contact_uri == baresip.contact_uri && !b.reachable));

    // Expiry: only what is due goes.
    store
        .replace_bindings(
            a.id,
            &[binding("<sip:old@127.0.0.1:5090>", -5), baresip.clone()],
        )
        .await
        .unwrap();
    let gone = store.delete_expired(Utc::now()).await.unwrap();
    assert_eq!(gone, vec![(a.id, "<sip:old@127.0.0.1:5090>".to_string())]);
    assert_eq!(store.bindings(a.id).await.unwrap(), vec![baresip.clone()]);

    // Removing an agent takes their bindings; their history stays.
    let removed = store.remove(&user("agent1"), Actor::Api).await.unwrap();
    assert_eq!(removed, a.id);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_bindings WHERE agent_id = $1")
        .bind(a.id.0)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    let ev = store.events(a.id, 1).await.unwrap();
    assert_eq!(ev[0].to_state, AgentState::Offline);
    assert_eq!(ev[0].reason.as_deref(), Some("removed from the roster"));
    assert_eq!(
        store.bindings(b.id).await.unwrap().len(),
        1,
        "others untouched"
    );
    assert_eq!(
        store.get(&user("agent1")).await.unwrap_err().code(),
        "HL-AGENT-UNKNOWN"
    );
}

/// Waits for the next notification naming `id`, skipping others.
async fn next_for(l: &mut sqlx::postgres::PgListener, id: AgentId) {
    let wait = async {
        loop {
            let n = l.recv().await.unwrap();
            assert_eq!(n.channel(), CHANNEL);
            if changed_agent(&n) == Some(id) {
                return;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), wait)
        .await
        .expect("a NOTIFY for the agent");
}

#[tokio::test]
async fn every_change_is_notified_on_commit() {
    let (store, _) = fresh().await;
    let mut l = store.listen().await.unwrap();
    let a = store
        .add(&new_agent("agent1", &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    next_for(&mut l, a.id).await;
    store.set_tiers(&user("agent1"), &[Tier::L2]).await.unwrap();
    next_for(&mut l, a.id).await;
    store
        .set_password(
            &user("agent1"),
            &Password::new("password-2").unwrap(),
            "hotline",
        )
        .await
        .unwrap();
    next_for(&mut l, a.id).await;
    store.resume(a.id, Actor::Cli).await.unwrap();
    next_for(&mut l, a.id).await;
    assert!(store.claim(a.id, None).await.unwrap());
    next_for(&mut l, a.id).await;
    store
        .replace_bindings(a.id, &[binding("<sip:agent1@127.0.0.1:5071>", 60)])
        .await
        .unwrap();
    next_for(&mut l, a.id).await;
    store
        .mark_reachable(a.id, "<sip:agent1@127.0.0.1:5071>", false, 1)
        .await
        .unwrap();
    next_for(&mut l, a.id).await;
    store.remove(&user("agent1"), Actor::Cli).await.unwrap();
    next_for(&mut l, a.id).await;

    // A refused change notifies nobody: after a failed add, the next
    // notification is for the agent added after it.
    let e = store
        .add(&new_agent("agent2", &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    next_for(&mut l, e.id).await;
    store
        .add(&new_agent("agent2", &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap_err();
    let f = store
        .add(&new_agent("agent3", &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), l.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed_agent(&n), Some(f.id));
}

#[test]
fn debug_of_a_new_agent_hides_the_password() {
    let a = new_agent("agent1", &[Tier::L1], "very-secret-1");
    let d = format!("{a:?}");
    assert!(!d.contains("very-secret-1") && d.contains("***"), "{d}");
}

#[tokio::test]
async fn every_user_name_the_type_accepts_the_table_accepts() {
    let (store, _) = fresh().await;
    let odd = "x!~*'()&=+$,;?/-_.9";
    let a = store
        .add(&new_agent(odd, &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    assert_eq!(a.user.as_str(), odd);
    let long = "a".repeat(hotline::agents::model::MAX_USER);
    store
        .add(&new_agent(&long, &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    assert_eq!(store.get(&user(odd)).await.unwrap().agent.id, a.id);
}

#[tokio::test]
async fn an_event_can_name_its_call_and_ticket() {
    use hotline::agents::Cause;
    use hotline::tickets::TicketNumber;
    let (store, _) = fresh().await;
    let a = store
        .add(&new_agent("agent1", &[Tier::L1], "password-1"), Actor::Cli)
        .await
        .unwrap();
    store.resume(a.id, Actor::Phone).await.unwrap();
    assert!(store.claim(a.id, Some("call-7")).await.unwrap());
    let t = store
        .set_state_with(
            a.id,
            AgentState::OnCall,
            &Cause::by(Actor::System)
                .call("call-7")
                .ticket(TicketNumber(1042)),
        )
        .await
        .unwrap();
    assert_eq!((t.from, t.to), (AgentState::Ringing, AgentState::OnCall));
    let ev = store.events(a.id, 2).await.unwrap();
    assert_eq!(ev[0].ticket_number, Some(TicketNumber(1042)));
    assert_eq!(ev[0].call_id.as_deref(), Some("call-7"));
    assert_eq!(ev[1].to_state, AgentState::Ringing);
    assert_eq!(ev[1].call_id.as_deref(), Some("call-7"));
    assert_eq!(ev[1].actor, Actor::System);
}
