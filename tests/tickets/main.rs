//! The ticket store against a real PostgreSQL cluster.

#[path = "../common/mod.rs"]
mod common;

mod keys;

use std::collections::HashSet;

use chrono::{SubsecRound, TimeDelta, Utc};
use hotline::config::Config;
use hotline::tickets::repo::{self, TicketFilter};
use hotline::tickets::{
    Assignment, NewTicket, RoutingEvent, SlaPolicy, TicketNumber, TicketStatus, TicketStore,
    TicketUpdate,
};

fn new_ticket(call_id: &str, severity: &str) -> NewTicket {
    let received = Utc::now() - TimeDelta::seconds(8);
    NewTicket {
        call_id: call_id.into(),
        caller_number: "+15551230000".into(),
        caller_name: Some("Ada".into()),
        caller_private: false,
        customer_ref: None,
        callback_number: None,
        category: Some("software".into()),
        severity: severity.into(),
        received_at: received,
        answered_at: Some(received + TimeDelta::seconds(6)),
        flow_version: Some("v1".into()),
    }
}

async fn store() -> (
    TicketStore,
    hotline::tickets::store::Replayer,
    tempfile::TempDir,
) {
    let (pool, _) = common::shared().fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let (store, replayer) = TicketStore::open(pool, data.path(), 200).await.unwrap();
    (store, replayer, data)
}

#[tokio::test]
async fn deadlines_follow_each_severity_of_the_standard_table() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    for (sev, response, resolution, tier) in [
        (
            "critical",
            TimeDelta::minutes(30),
            TimeDelta::hours(4),
            "L3",
        ),
        ("major", TimeDelta::hours(1), TimeDelta::hours(8), "L2"),
        ("minor", TimeDelta::hours(2), TimeDelta::hours(24), "L1"),
    ] {
        let created = store
            .create(new_ticket(&format!("dl-{sev}"), sev), &policy)
            .await
            .unwrap();
        assert!(!created.journaled);
        let t = repo::by_number(store.pool(), created.ticket.number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t.response_due_at - t.received_at, response, "{sev}");
        assert_eq!(t.resolution_due_at - t.received_at, resolution, "{sev}");
        assert_eq!(t.response_target, response);
        assert_eq!(t.assigned_tier, tier);
        assert!(t.received_at <= t.answered_at.unwrap() && t.answered_at.unwrap() <= t.created_at);
        // Microsecond precision survives the round trip.
        assert_eq!(t, created.ticket);
    }
}

#[tokio::test]
async fn the_other_manuals_table_is_configuration_only() {
    let (store, _r, _d) = store().await;
    let text = std::fs::read_to_string("config/sla-urgent.toml").unwrap();
    let config = hotline::config::parse_str(&text, "config/sla-urgent.toml".as_ref()).unwrap();
    let policy = SlaPolicy::from_config(&config);
    let t = store
        .create(new_ticket("urgent-1", "urgent"), &policy)
        .await
        .unwrap()
        .ticket;
    assert_eq!(t.response_due_at - t.received_at, TimeDelta::minutes(15));
    let t = store
        .create(new_ticket("urgent-2", "important"), &policy)
        .await
        .unwrap()
        .ticket;
    assert_eq!(t.response_due_at - t.received_at, TimeDelta::minutes(30));
}

#[tokio::test]
async fn a_thousand_concurrent_tickets_get_a_thousand_numbers() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let (store, policy) = (store.clone(), policy.clone());
        tasks.spawn(async move {
            store
                .create(new_ticket(&format!("conc-{i}"), "minor"), &policy)
                .await
                .unwrap()
                .ticket
                .number
        });
    }
    let mut numbers = HashSet::new();
    while let Some(n) = tasks.join_next().await {
        assert!(numbers.insert(n.unwrap()), "duplicate ticket number");
    }
    assert_eq!(numbers.len(), 1000);
    // Under load a write may fall back to the journal; none may be lost.
    store.drain_journal().await.unwrap();
    assert_eq!(store.pending(), 0);
    assert_eq!(repo::count(store.pool()).await.unwrap(), 1000);
}

#[tokio::test]
async fn every_change_is_kept_in_the_history() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let n = store
        .create(new_ticket("hist", "critical"), &policy)
        .await
        .unwrap()
        .ticket
        .number;
    store
        .update(
            n,
            "ivr",
            TicketUpdate {
                customer_ref: Some("C-42".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let answered = Utc::now();
    store
        .update(
            n,
            "agent:alice",
            TicketUpdate {
                status: Some(TicketStatus::InProgress),
                first_response_at: Some(answered),
                assigned_agent: Some("alice".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let t = store.get(n).await.unwrap().unwrap();
    assert_eq!(t.customer_ref.as_deref(), Some("C-42"));
    assert_eq!(t.status, TicketStatus::InProgress);
    let events = repo::events(store.pool(), n).await.unwrap();
    let actions: Vec<_> = events
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("hotline", "created"),
            ("ivr", "updated"),
            ("agent:alice", "status")
        ]
    );
    assert_eq!(events[1].detail["customer_ref"], "C-42");
}

#[tokio::test]
async fn migrations_applied_twice_change_nothing() {
    let (pool, _) = common::shared().fresh_db().await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    hotline::tickets::db::migrate(&pool).await.unwrap();
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before, after);
    assert!(before >= 1);
}

#[tokio::test]
async fn listing_filters_by_open_severity_and_time() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let a = store
        .create(new_ticket("l-a", "critical"), &policy)
        .await
        .unwrap()
        .ticket
        .number;
    store
        .create(new_ticket("l-b", "minor"), &policy)
        .await
        .unwrap();
    store
        .update(
            a,
            "agent",
            TicketUpdate {
                status: Some(TicketStatus::Resolved),
                resolved_at: Some(Utc::now()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let open = repo::list(
        store.pool(),
        &TicketFilter {
            open_only: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].severity, "minor");
    let crit = repo::list(
        store.pool(),
        &TicketFilter {
            severity: Some("critical".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(crit.len(), 1);
    let future = repo::list(
        store.pool(),
        &TicketFilter {
            since: Some(Utc::now() + TimeDelta::hours(1)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(future.is_empty());
}

#[tokio::test]
async fn cli_lists_and_shows_tickets_for_people_and_scripts() {
    let (store, _r, data) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let n = store
        .create(new_ticket("cli-1", "critical"), &policy)
        .await
        .unwrap()
        .ticket
        .number;
    let db_url = db_url_of(&store).await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(common::hotline_bin())
            .args(args)
            .args([
                "--database-url",
                &db_url,
                "--data-dir",
                data.path().to_str().unwrap(),
                "--config",
                "config/hotline.toml",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run(&["tickets", "list", "--open"]);
    assert!(table.starts_with("NUMBER"), "{table}");
    assert!(
        table.contains(&n.to_string()) && table.contains("left"),
        "{table}"
    );
    let json = run(&["tickets", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["number"], n.0);
    let show = run(&["tickets", "show", &n.to_string()]);
    assert!(
        show.contains("Response due") && show.contains("created"),
        "{show}"
    );

    // What routing set, under the desk's names.
    let a = assignment("cli-1", "alice", "L3", 65);
    store.assign(n, a.clone()).await.unwrap();
    store
        .event(
            n,
            "routing",
            Utc::now(),
            RoutingEvent::Recorded {
                path: "/rec/cli-1.wav".into(),
            },
        )
        .await
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&run(&["tickets", "show", &n.to_string(), "--json"])).unwrap();
    let r = &v["routing"];
    assert_eq!(r["agent"], "alice");
    assert_eq!(r["tier"], "L3");
    assert_eq!(r["queue_wait_ms"], 65_000);
    assert_eq!(r["recording_path"], "/rec/cli-1.wav");
    let first: chrono::DateTime<Utc> =
        serde_json::from_value(r["first_response_at"].clone()).unwrap();
    assert_eq!(first, a.answered_at);
    assert_eq!(v["ticket"]["status"], "in_progress");
    let show = run(&["tickets", "show", &n.to_string()]);
    assert!(
        show.contains("Queue wait") && show.contains("65s") && show.contains("alice"),
        "{show}"
    );
}

/// The URL of the database the store's pool points at.
async fn db_url_of(store: &TicketStore) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    common::shared()
        .cluster
        .url()
        .replace("/hotline?", &format!("/{name}?"))
}

fn assignment(call_id: &str, agent: &str, tier: &str, waited_s: u64) -> Assignment {
    Assignment {
        agent: agent.into(),
        tier: tier.into(),
        answered_at: Utc::now().trunc_subsecs(6),
        waited: std::time::Duration::from_secs(waited_s),
        call_id: call_id.into(),
    }
}

fn actions(events: &[hotline::tickets::TicketEvent]) -> Vec<&str> {
    events.iter().map(|e| e.action.as_str()).collect()
}

#[tokio::test]
async fn an_assignment_sets_every_field_and_its_events_once() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let n = store
        .create(new_ticket("assign-1", "critical"), &policy)
        .await
        .unwrap()
        .ticket
        .number;
    let a = assignment("assign-1", "alice", "L3", 42);
    store.assign(n, a.clone()).await.unwrap();
    // A retry (or a replay) of the same assignment changes nothing.
    store.assign(n, a.clone()).await.unwrap();
    let t = store.get(n).await.unwrap().unwrap();
    assert_eq!(t.first_response_at, Some(a.answered_at));
    assert_eq!(t.assigned_agent.as_deref(), Some("alice"));
    assert_eq!(t.assigned_tier, "L3");
    assert_eq!(t.status, TicketStatus::InProgress);
    assert_eq!(t.queue_wait, Some(TimeDelta::seconds(42)));
    let events = repo::events(store.pool(), n).await.unwrap();
    assert_eq!(actions(&events), ["created", "assigned", "answered"]);
    assert_eq!(events[1].detail["agent"], "alice");
    assert_eq!(events[1].detail["tier"], "L3");
    assert_eq!(events[1].detail["queue_wait_ms"], 42_000);
    assert_eq!(events[2].at, a.answered_at);

    // Escalated to L2 and taken there: the tier follows, the first
    // response and the first wait stay.
    let at = Utc::now();
    let escalated = RoutingEvent::Escalated {
        from: "L3".into(),
        to: "L2".into(),
        by: "alice".into(),
    };
    store
        .event(n, "routing", at, escalated.clone())
        .await
        .unwrap();
    store.event(n, "routing", at, escalated).await.unwrap();
    let t = store.get(n).await.unwrap().unwrap();
    assert_eq!(
        (t.status, t.assigned_tier.as_str(), t.escalations),
        (TicketStatus::Escalated, "L2", 1)
    );
    let mut later = assignment("assign-1", "bob", "L2", 5);
    later.answered_at += TimeDelta::seconds(1);
    store.assign(n, later).await.unwrap();
    let t = store.get(n).await.unwrap().unwrap();
    assert_eq!(t.first_response_at, Some(a.answered_at));
    assert_eq!(t.assigned_agent.as_deref(), Some("bob"));
    assert_eq!(
        (t.status, t.assigned_tier.as_str()),
        (TicketStatus::InProgress, "L2")
    );
    assert_eq!(t.queue_wait, Some(TimeDelta::seconds(42)));
    // Replaying the first assignment does not take the ticket back.
    store.assign(n, a).await.unwrap();
    assert_eq!(
        store
            .get(n)
            .await
            .unwrap()
            .unwrap()
            .assigned_agent
            .as_deref(),
        Some("bob")
    );
    let events = repo::events(store.pool(), n).await.unwrap();
    assert_eq!(
        actions(&events),
        [
            "created",
            "assigned",
            "answered",
            "escalated",
            "assigned",
            "answered"
        ]
    );
    assert_eq!(events[3].detail["by"], "alice");
    assert_eq!(events[3].detail["to"], "L2");

    // The rest of what routing records.
    let due = t.response_due_at;
    for e in [
        RoutingEvent::SlaAtRisk {
            due,
            expected_wait: Some(std::time::Duration::from_secs(600)),
        },
        RoutingEvent::SlaAtRisk {
            due,
            expected_wait: None,
        },
        RoutingEvent::SlaBreached { due },
        RoutingEvent::CallbackRequested {
            number: "5551234".into(),
        },
        RoutingEvent::CallCut {
            agent: "bob".into(),
            reason: "rtp_timeout".into(),
        },
        RoutingEvent::Recorded {
            path: "/var/lib/hotline/recordings/x.wav".into(),
        },
    ] {
        store.event(n, "routing", Utc::now(), e).await.unwrap();
    }
    let t = store.get(n).await.unwrap().unwrap();
    assert!(t.callback_requested_at.is_some());
    assert_eq!(t.callback_number.as_deref(), Some("5551234"));
    assert_eq!(
        t.recording_path.as_deref(),
        Some("/var/lib/hotline/recordings/x.wav")
    );
    let events = repo::events(store.pool(), n).await.unwrap();
    assert_eq!(
        actions(&events)[6..],
        [
            "sla_at_risk",
            "sla_breached",
            "callback_requested",
            "call_cut",
            "recorded"
        ],
        "an SLA event is recorded once per ticket"
    );
    assert!(matches!(
        store
            .assign(TicketNumber(999_999), assignment("x", "a", "L1", 1))
            .await,
        Err(hotline::tickets::StoreError::NoSuchTicket(_))
    ));
}

#[tokio::test]
async fn a_caller_who_leaves_the_queue_leaves_an_abandoned_ticket_with_the_wait() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let n = store
        .create(new_ticket("abandon-1", "major"), &policy)
        .await
        .unwrap()
        .ticket
        .number;
    let gone = RoutingEvent::AbandonedInQueue {
        waited: std::time::Duration::from_millis(95_500),
        call_id: "abandon-1".into(),
    };
    // The intake and routing may both report it: written once.
    store
        .event(n, "ivr", Utc::now(), gone.clone())
        .await
        .unwrap();
    store.event(n, "routing", Utc::now(), gone).await.unwrap();
    let t = store.get(n).await.unwrap().unwrap();
    assert_eq!(t.queue_wait, Some(TimeDelta::milliseconds(95_500)));
    assert_eq!(
        t.status,
        TicketStatus::Open,
        "still the desk's to call back"
    );
    assert_eq!(t.first_response_at, None);
    let events = repo::events(store.pool(), n).await.unwrap();
    assert_eq!(actions(&events), ["created", "abandoned_in_queue"]);
    assert_eq!(events[1].detail["waited"], 95_500);

    let mut record = hotline::tickets::CallRecord::ended_before_intake(
        "abandon-1".into(),
        "+15551230000".into(),
        t.received_at,
        t.answered_at,
        Utc::now(),
        hotline::tickets::EndReason::AbandonedInQueue,
        None,
    );
    record.ticket_number = Some(n);
    store.record_call(&record).await.unwrap();
    let stored = hotline::tickets::calls::by_call_id(store.pool(), "abandon-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.end_reason,
        Some(hotline::tickets::EndReason::AbandonedInQueue)
    );
}

#[tokio::test]
async fn an_assignment_journaled_during_an_outage_reaches_the_database_on_replay() {
    let cluster = common::TestCluster::start();
    let (pool, _) = cluster.fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let policy = SlaPolicy::from_config(&Config::default());
    let (store, replayer) = TicketStore::open(pool.clone(), data.path(), 50)
        .await
        .unwrap();
    let before = store
        .create(new_ticket("outage-before", "critical"), &policy)
        .await
        .unwrap()
        .ticket
        .number;

    cluster.cluster.stop().unwrap();
    // One ticket made before the outage, one during it (journaled too):
    // both are assigned while the database is down.
    let during = store
        .create(new_ticket("outage-during", "minor"), &policy)
        .await
        .unwrap();
    assert!(during.journaled);
    let during = during.ticket.number;
    let a1 = assignment("outage-before", "carol", "L3", 12);
    let a2 = assignment("outage-during", "dave", "L1", 30);
    store.assign(before, a1.clone()).await.unwrap();
    store.assign(during, a2.clone()).await.unwrap();
    store
        .event(
            during,
            "routing",
            Utc::now(),
            RoutingEvent::Recorded {
                path: "rec.wav".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.pending(), 4);
    // Readers see the journaled assignment already.
    let seen = store.get(during).await.unwrap().unwrap();
    assert_eq!(seen.assigned_agent.as_deref(), Some("dave"));
    assert_eq!(seen.status, TicketStatus::InProgress);
    assert_eq!(seen.recording_path.as_deref(), Some("rec.wav"));

    cluster.cluster.start().unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(60), store.drained())
        .await
        .expect("journal drained after the database returned");
    for (n, a) in [(before, &a1), (during, &a2)] {
        let t = repo::by_number(&pool, n).await.unwrap().unwrap();
        assert_eq!(t.first_response_at, Some(a.answered_at));
        assert_eq!(t.assigned_agent.as_deref(), Some(a.agent.as_str()));
        assert_eq!(t.assigned_tier, a.tier);
        assert_eq!(t.status, TicketStatus::InProgress);
        assert_eq!(t.queue_wait, Some(hotline::tickets::model::delta(a.waited)));
    }
    let t = repo::by_number(&pool, during).await.unwrap().unwrap();
    assert_eq!(t.recording_path.as_deref(), Some("rec.wav"));
    store
        .shutdown(replayer, std::time::Duration::from_secs(1))
        .await;
    drop(store);

    // A crash between commit and removal replays the entry: no change.
    let (mut journal, _) =
        hotline::tickets::journal::Journal::open(&data.path().join("journal")).unwrap();
    journal
        .append(hotline::tickets::journal::JournalOp::Assign {
            number: before,
            actor: "routing".into(),
            assignment: Box::new(a1),
        })
        .unwrap();
    drop(journal);
    let (store, replayer) = TicketStore::open(pool.clone(), data.path(), 50)
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), store.drained())
        .await
        .unwrap();
    let events = repo::events(&pool, before).await.unwrap();
    assert_eq!(actions(&events), ["created", "assigned", "answered"]);
    store
        .shutdown(replayer, std::time::Duration::from_secs(1))
        .await;
}
