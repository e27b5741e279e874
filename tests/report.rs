//! The desk's key figures (`hotline::report`) against a real PostgreSQL
//! holding a fixture whose every answer is worked out by hand below; the
//! same report over the admin API and the CLI; the QC sample's draw.
//!
//! The period is November 2026 (UTC); the report is made "at" 1 December
//! 00:00 UTC, so a deadline still ahead then is pending.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hotline::agents::{AgentId, Tier};
use hotline::config::Config;
use hotline::report::{self, render, sample, Dimension, Report, Settings};
use hotline::tickets::calls::{self, CallRecord, EndReason};
use hotline::tickets::{
    repo, Assignment, NewTicket, RoutingEvent, SlaPolicy, TicketNumber, TicketStatus, TicketUpdate,
};
use sqlx::PgPool;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn from() -> DateTime<Utc> {
    at("2026-11-01T00:00:00Z")
}

fn to() -> DateTime<Utc> {
    at("2026-12-01T00:00:00Z")
}

fn min(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

/// One ticket of the fixture.
struct Spec {
    n: i64,
    caller: &'static str,
    private: bool,
    category: &'static str,
    severity: &'static str,
    received: &'static str,
    /// Minutes from `received` to the first response / the resolution.
    response: Option<i64>,
    resolved: Option<i64>,
    status: &'static str,
    callback: bool,
}

#[rustfmt::skip]
const TICKETS: &[Spec] = &[
    // FCR: yes (one call, resolved).
    Spec { n: 101, caller: "A", private: false, category: "software", severity: "minor", received: "2026-11-02T09:00:00Z", response: Some(10), resolved: Some(60), status: "resolved", callback: false },
    // FCR no: a second call. Repeat of #110 (14 days).
    Spec { n: 102, caller: "B", private: false, category: "network", severity: "major", received: "2026-11-03T10:00:00Z", response: Some(40), resolved: Some(120), status: "resolved", callback: false },
    // FCR no: a callback. Resolution breached (5 h > 4 h).
    Spec { n: 103, caller: "C", private: false, category: "hardware", severity: "critical", received: "2026-11-04T11:00:00Z", response: Some(20), resolved: Some(300), status: "resolved", callback: true },
    // FCR no: reopened. Repeat of #101 (18 days).
    Spec { n: 104, caller: "A", private: false, category: "software", severity: "minor", received: "2026-11-20T09:00:00Z", response: Some(30), resolved: Some(180), status: "resolved", callback: false },
    // Never answered: both deadlines breached.
    Spec { n: 105, caller: "D", private: false, category: "how_to", severity: "minor", received: "2026-11-05T09:00:00Z", response: None, resolved: None, status: "open", callback: false },
    // Response exactly at the deadline (met); resolution breached. Same
    // caller as #101 in another category: no repeat.
    Spec { n: 106, caller: "A", private: false, category: "network", severity: "major", received: "2026-11-25T09:00:00Z", response: Some(60), resolved: None, status: "in_progress", callback: false },
    // Both deadlines still ahead at the report's `now`: pending.
    Spec { n: 107, caller: "H", private: false, category: "hardware", severity: "critical", received: "2026-11-30T23:50:00Z", response: None, resolved: None, status: "open", callback: false },
    // Before the period: not counted, but earlier tickets for repeats.
    Spec { n: 108, caller: "E", private: true, category: "software", severity: "minor", received: "2026-10-25T09:00:00Z", response: Some(5), resolved: Some(10), status: "closed", callback: false },
    // A private caller is never a repeat (#108).
    Spec { n: 109, caller: "E", private: true, category: "software", severity: "minor", received: "2026-11-10T09:00:00Z", response: Some(15), resolved: None, status: "in_progress", callback: false },
    Spec { n: 110, caller: "B", private: false, category: "network", severity: "major", received: "2026-10-20T10:00:00Z", response: Some(5), resolved: Some(30), status: "closed", callback: false },
    // FCR yes (closed). #114 was 36 days before: no repeat.
    Spec { n: 111, caller: "F", private: false, category: "account_access", severity: "minor", received: "2026-11-06T09:00:00Z", response: Some(5), resolved: Some(20), status: "closed", callback: false },
    // FCR no: the agent's leg was cut (the desk owes a callback).
    Spec { n: 112, caller: "G", private: false, category: "software", severity: "minor", received: "2026-11-07T09:00:00Z", response: Some(20), resolved: Some(60), status: "resolved", callback: false },
    Spec { n: 114, caller: "F", private: false, category: "account_access", severity: "minor", received: "2026-10-01T00:00:00Z", response: Some(5), resolved: Some(20), status: "closed", callback: false },
];

async fn insert_ticket(pool: &PgPool, s: &Spec) {
    let policy = SlaPolicy::from_config(&Config::default());
    let new = NewTicket {
        call_id: format!("call-{}", s.n),
        caller_number: format!("+1555{}", s.caller),
        caller_name: None,
        caller_private: s.private,
        customer_ref: None,
        callback_number: None,
        category: Some(s.category.into()),
        severity: s.severity.into(),
        received_at: at(s.received),
        answered_at: Some(at(s.received)),
        flow_version: None,
    };
    let t = policy.ticket(TicketNumber(s.n), new, Utc::now()).unwrap();
    repo::insert(pool, &t).await.unwrap();
}

/// The ticket's final fields, after whatever routing wrote.
async fn settle(pool: &PgPool, s: &Spec) {
    let received = at(s.received);
    sqlx::query(
        "UPDATE tickets SET first_response_at = $2, resolved_at = $3, status = $4,
            callback_requested_at = $5 WHERE number = $1",
    )
    .bind(s.n)
    .bind(s.response.map(|m| received + min(m)))
    .bind(s.resolved.map(|m| received + min(m)))
    .bind(s.status)
    .bind(s.callback.then_some(received + min(2)))
    .execute(pool)
    .await
    .unwrap();
}

/// A call record: received at `received`, answered `answer_s` seconds later.
async fn call(
    pool: &PgPool,
    id: &str,
    received: &str,
    answer_s: Option<i64>,
    end: EndReason,
    ticket: Option<i64>,
) {
    let received = at(received);
    let r = CallRecord {
        call_id: id.into(),
        caller_number: "+1555X".into(),
        received_at: received,
        answered_at: answer_s.map(|s| received + TimeDelta::seconds(s)),
        ended_at: Some(received + min(5)),
        end_reason: Some(end),
        last_step: None,
        digits: String::new(),
        language: None,
        ticket_number: ticket.map(TicketNumber),
        flow_version: None,
    };
    calls::upsert(pool, &r).await.unwrap();
}

/// An agent answered ticket `n`'s call after `wait_s` in the queue.
async fn answered(pool: &PgPool, n: i64, wait_s: u64, when: &str) {
    let a = Assignment {
        agent: "ada".into(),
        tier: "L1".into(),
        answered_at: at(when),
        waited: Duration::from_secs(wait_s),
        call_id: format!("call-{n}"),
    };
    assert!(repo::assign(pool, TicketNumber(n), "routing", &a)
        .await
        .unwrap());
}

async fn status(pool: &PgPool, n: i64, op: &str, when: &str, s: TicketStatus) {
    let u = TicketUpdate {
        status: Some(s),
        ..TicketUpdate::default()
    };
    assert!(repo::update(pool, TicketNumber(n), op, at(when), "cli", &u)
        .await
        .unwrap());
}

async fn agent_event(pool: &PgPool, id: AgentId, user: &str, when: &str, state: &str) {
    sqlx::query(
        "INSERT INTO agent_events (agent_id, sip_user, at, to_state, actor)
         VALUES ($1, $2, $3, $4, 'system')",
    )
    .bind(id.0)
    .bind(user)
    .bind(at(when))
    .bind(state)
    .execute(pool)
    .await
    .unwrap();
}

/// The whole fixture on a fresh database.
async fn fixture() -> (PgPool, String) {
    let (pool, url) = common::shared().fresh_db().await;
    for s in TICKETS {
        insert_ticket(&pool, s).await;
    }
    // Calls (11 in November; one on 31 October 23:59:59 is outside).
    use EndReason::*;
    call(
        &pool,
        "call-101",
        "2026-11-02T08:59:00Z",
        Some(6),
        AgentCall,
        Some(101),
    )
    .await;
    call(
        &pool,
        "call-102",
        "2026-11-03T09:59:00Z",
        Some(12),
        AgentCall,
        Some(102),
    )
    .await;
    call(
        &pool,
        "call-102b",
        "2026-11-03T15:00:00Z",
        Some(18),
        Completed,
        Some(102),
    )
    .await;
    call(
        &pool,
        "call-103",
        "2026-11-04T10:59:00Z",
        Some(24),
        CallbackRequested,
        Some(103),
    )
    .await;
    call(
        &pool,
        "call-104",
        "2026-11-20T08:59:00Z",
        Some(6),
        AbandonedInQueue,
        Some(104),
    )
    .await;
    call(
        &pool,
        "call-105",
        "2026-11-05T08:59:00Z",
        Some(6),
        CallerHungUp,
        Some(105),
    )
    .await;
    call(
        &pool,
        "ring-only",
        "2026-11-08T10:00:00Z",
        None,
        CallerHungUp,
        None,
    )
    .await;
    call(
        &pool,
        "refused",
        "2026-11-08T10:01:00Z",
        None,
        Rejected503,
        None,
    )
    .await;
    call(
        &pool,
        "call-112",
        "2026-11-07T08:59:00Z",
        Some(6),
        CallCut,
        Some(112),
    )
    .await;
    call(
        &pool,
        "ivr-only",
        "2026-11-09T10:00:00Z",
        Some(6),
        CallerHungUp,
        None,
    )
    .await;
    call(
        &pool,
        "october",
        "2026-10-31T23:59:59Z",
        Some(6),
        AgentCall,
        None,
    )
    .await;
    call(
        &pool,
        "call-111",
        "2026-11-06T08:59:00Z",
        Some(6),
        AgentCall,
        Some(111),
    )
    .await;
    // Queue waits until an agent answered.
    answered(&pool, 101, 10, "2026-11-02T09:10:00Z").await;
    answered(&pool, 102, 30, "2026-11-03T10:40:00Z").await;
    answered(&pool, 112, 20, "2026-11-07T09:20:00Z").await;
    answered(&pool, 111, 5, "2026-11-06T09:05:00Z").await;
    // #104: resolved, reopened, resolved again.
    status(
        &pool,
        104,
        "s1",
        "2026-11-20T10:00:00Z",
        TicketStatus::Resolved,
    )
    .await;
    status(&pool, 104, "s2", "2026-11-20T11:00:00Z", TicketStatus::Open).await;
    status(
        &pool,
        104,
        "s3",
        "2026-11-20T12:00:00Z",
        TicketStatus::Resolved,
    )
    .await;
    status(
        &pool,
        101,
        "s4",
        "2026-11-02T10:00:00Z",
        TicketStatus::Resolved,
    )
    .await;
    let cut = RoutingEvent::CallCut {
        agent: "ada".into(),
        reason: "rtp timeout".into(),
    };
    repo::event(
        &pool,
        TicketNumber(112),
        "cut-112",
        at("2026-11-07T09:30:00Z"),
        "routing",
        &cut,
    )
    .await
    .unwrap();
    for s in TICKETS {
        settle(&pool, s).await;
    }

    // Agents: their creation events are written now (December), after
    // the period; the states below are placed by hand.
    let roster = common::agents::roster(&url).await;
    let ada = common::agents::add_agent_in(&roster, "ada", "pw-ada-1234", &[Tier::L1]).await;
    let bob =
        common::agents::add_agent_in(&roster, "bob", "pw-bob-1234", &[Tier::L2, Tier::L3]).await;
    // Ada: available since before the period (the latest earlier event
    // counts, not the one before it), two calls, a pause, logs off.
    agent_event(&pool, ada, "ada", "2026-10-30T08:00:00Z", "offline").await;
    agent_event(&pool, ada, "ada", "2026-10-31T20:00:00Z", "available").await;
    agent_event(&pool, ada, "ada", "2026-11-02T09:00:00Z", "ringing").await;
    agent_event(&pool, ada, "ada", "2026-11-02T09:00:10Z", "on_call").await;
    agent_event(&pool, ada, "ada", "2026-11-02T09:10:00Z", "wrap_up").await;
    agent_event(&pool, ada, "ada", "2026-11-02T09:12:00Z", "available").await;
    agent_event(&pool, ada, "ada", "2026-11-02T10:00:00Z", "paused").await;
    agent_event(&pool, ada, "ada", "2026-11-02T11:00:00Z", "available").await;
    agent_event(&pool, ada, "ada", "2026-11-02T11:30:00Z", "on_call").await;
    agent_event(&pool, ada, "ada", "2026-11-02T11:50:00Z", "wrap_up").await;
    agent_event(&pool, ada, "ada", "2026-11-02T11:55:00Z", "offline").await;
    // Bob: a call running past the end of the period is cut there.
    agent_event(&pool, bob, "bob", "2026-11-29T23:00:00Z", "available").await;
    agent_event(&pool, bob, "bob", "2026-11-30T23:30:00Z", "on_call").await;
    agent_event(&pool, bob, "bob", "2026-12-01T00:30:00Z", "wrap_up").await;
    (pool, url)
}

fn query(by: Option<Dimension>) -> report::Query {
    report::Query {
        from: from(),
        to: to(),
        by,
        now: to(),
    }
}

fn settings() -> Settings {
    Settings::from_config(&Config::default())
}

fn share(r: &Report, key: &str) -> (i64, i64, Option<bool>) {
    let f = r.figure(key).unwrap_or_else(|| panic!("no figure {key}"));
    (f.part.unwrap(), f.whole, f.meets)
}

#[tokio::test]
async fn every_figure_matches_the_fixture_worked_by_hand() {
    let (pool, _) = fixture().await;
    let (r, timings) = report::build(&pool, &query(None), &settings())
        .await
        .unwrap();

    // Resolved or closed in November: 101 102 103 104 111 112; at first
    // contact: 101 and 111 (102 two calls, 103 callback, 104 reopened,
    // 112 cut).
    assert_eq!(share(&r, "first_contact_resolution"), (2, 6, Some(false)));
    let fcr = r.figure("first_contact_resolution").unwrap();
    assert_eq!(fcr.target.unwrap().value, 0.8);

    // Responses: 10 40 20 30 60 15 5 20 minutes = 200 / 8 = 25 min.
    let resp = r.figure("average_response_time").unwrap();
    assert_eq!(resp.value, Some(1500.0));
    assert_eq!(resp.whole, 8);
    assert_eq!(resp.meets, Some(true));
    assert_eq!(resp.target.unwrap().value, 1800.0);

    // Repeats: 102 (of 110) and 104 (of 101) among 10 November tickets.
    assert_eq!(share(&r, "repeat_rate"), (2, 10, Some(false)));

    let sat = r.figure("satisfaction").unwrap();
    assert_eq!(sat.value, None);
    assert_eq!(sat.meets, None);
    assert!(
        sat.note.as_deref().unwrap().starts_with("no data"),
        "{sat:?}"
    );
    assert_eq!(sat.target.unwrap().value, 4.5);

    // 11 November calls; answered within 18 s (3 rings of 6 s): 8 (the
    // 24 s one, the ringing-only and the refused one are not).
    assert_eq!(share(&r, "answered_within_rings"), (8, 11, Some(false)));
    assert_eq!(share(&r, "abandoned_in_ivr"), (2, 11, None));
    assert_eq!(share(&r, "abandoned_in_queue"), (1, 11, None));
    assert_eq!(share(&r, "abandoned_ringing"), (1, 11, None));
    // Queued: 101 102 103 104 111 112; an agent within 20 s: 101 (10 s),
    // 111 (5 s), 112 (20 s).
    assert_eq!(share(&r, "queue_service_level"), (3, 6, Some(false)));

    let sla: Vec<_> = r
        .sla
        .iter()
        .map(|s| {
            (
                s.severity.as_str(),
                s.tickets,
                (s.response.met, s.response.breached, s.response.pending),
                (
                    s.resolution.met,
                    s.resolution.breached,
                    s.resolution.pending,
                ),
            )
        })
        .collect();
    assert_eq!(
        sla,
        [
            ("critical", 2, (1, 0, 1), (0, 1, 1)),
            ("major", 2, (2, 0, 0), (1, 1, 0)),
            ("minor", 6, (5, 1, 0), (4, 2, 0)),
        ]
    );
    assert_eq!(r.sla[0].response_target_s, Some(1800));
    assert_eq!(r.sla[0].resolution_target_s, Some(4 * 3600));

    // Ada: available from 1 Nov 00:00 to 2 Nov 10:00 (34 h) and 11:00 to
    // 11:55, paused between; talk 9:50 + 20:00, wrap-up 2 + 5 min.
    let agents: Vec<_> = r
        .agents
        .iter()
        .map(|a| (a.name.as_str(), a.calls, a.talk_s, a.wrap_up_s, a.staffed_s))
        .collect();
    assert_eq!(
        agents,
        [
            ("ada", 2, 1790.0, 420.0, 125_700.0),
            ("bob", 1, 1800.0, 0.0, 90_000.0),
        ]
    );
    assert_eq!(r.agents[0].occupancy, Some(2210.0 / 125_700.0));
    assert_eq!(r.agents[1].occupancy, Some(0.02));
    let tiers: Vec<_> = r
        .tiers
        .iter()
        .map(|t| (t.name.as_str(), t.calls, t.talk_s))
        .collect();
    assert_eq!(
        tiers,
        [("L1", 2, 1790.0), ("L2", 1, 1800.0), ("L3", 1, 1800.0)]
    );

    // One query per figure, each timed.
    let names: Vec<_> = timings.iter().map(|t| t.query).collect();
    assert!(
        names.contains(&"first_contact_resolution") && names.contains(&"desk_per_agent_and_tier")
    );

    // The text shows each figure beside its target.
    let text = render::text(&r);
    let line = text
        .lines()
        .find(|l| l.starts_with("First-contact resolution"))
        .unwrap();
    assert!(
        line.contains("33.3 %") && line.contains(">= 80.0 %") && line.contains("MISSED"),
        "{line}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("Average response time"))
        .unwrap();
    assert!(
        line.contains("25m 00s") && line.contains("<= 30m 00s") && line.contains("met"),
        "{line}"
    );
    let csv = render::csv(&r);
    assert!(csv.contains("figure,,repeat_rate,value,0.2\n"), "{csv}");
    assert!(csv.contains("sla,,minor,resolution_breached,2\n"), "{csv}");
}

#[tokio::test]
async fn ticket_figures_by_severity() {
    let (pool, _) = fixture().await;
    let (r, _) = report::build(&pool, &query(Some(Dimension::Severity)), &settings())
        .await
        .unwrap();
    assert_eq!(r.by.as_deref(), Some("severity"));
    let group = |k: &str| r.groups.iter().find(|g| g.key == k).unwrap();
    let fig = |k: &str, f: &str| {
        let f = group(k)
            .figures
            .iter()
            .find(|x| x.key == f)
            .unwrap()
            .clone();
        (f.part, f.whole, f.value)
    };
    assert_eq!(
        fig("critical", "first_contact_resolution"),
        (Some(0), 1, Some(0.0))
    );
    assert_eq!(
        fig("major", "first_contact_resolution"),
        (Some(0), 1, Some(0.0))
    );
    assert_eq!(
        fig("minor", "first_contact_resolution"),
        (Some(2), 4, Some(0.5))
    );
    assert_eq!(
        fig("critical", "average_response_time"),
        (None, 1, Some(1200.0))
    );
    assert_eq!(
        fig("major", "average_response_time"),
        (None, 2, Some(3000.0))
    );
    assert_eq!(
        fig("minor", "average_response_time"),
        (None, 5, Some(960.0))
    );
    assert_eq!(fig("major", "repeat_rate").0, Some(1));
    assert_eq!(fig("minor", "repeat_rate"), (Some(1), 6, Some(1.0 / 6.0)));
    // The headline figures are the same as without --by.
    assert_eq!(share(&r, "first_contact_resolution"), (2, 6, Some(false)));
    assert_eq!(r.groups.len(), 3);
}

#[tokio::test]
async fn an_empty_period_has_no_data_rather_than_zeros() {
    let (pool, _) = fixture().await;
    let q = report::Query {
        from: at("2025-01-01T00:00:00Z"),
        to: at("2025-02-01T00:00:00Z"),
        by: Some(Dimension::Category),
        now: to(),
    };
    let (r, _) = report::build(&pool, &q, &settings()).await.unwrap();
    for f in &r.figures {
        assert_eq!(f.value, None, "{f:?}");
        assert_eq!(f.meets, None, "{f:?}");
    }
    assert!(r.sla.is_empty() && r.groups.is_empty());
    // Ada's last state before 2025 does not exist; nobody was staffed.
    assert!(r.agents.is_empty(), "{:?}", r.agents);
    assert!(render::text(&r).contains("no data"));
}

#[tokio::test]
async fn the_qc_sample_is_reproducible_from_its_seed() {
    let (pool, _) = fixture().await;
    for n in [101, 102, 103, 104, 111, 112, 105, 106, 109, 107] {
        let e = RoutingEvent::Recorded {
            path: format!("recordings/{n}.wav"),
        };
        let when = at("2026-11-15T12:00:00Z") + TimeDelta::seconds(n);
        repo::event(
            &pool,
            TicketNumber(n),
            &format!("rec-{n}"),
            when,
            "routing",
            &e,
        )
        .await
        .unwrap();
    }
    let draw = |seed| sample::draw(&pool, from(), to(), seed, 0.2, 0.1);
    let a = draw(7).await.unwrap();
    let b = draw(7).await.unwrap();
    assert_eq!(a, b, "the same seed draws the same items");
    assert_eq!((a.recorded_calls, a.calls.len()), (10, 2));
    assert_eq!((a.tickets_total, a.tickets.len()), (10, 1));
    for c in &a.calls {
        assert_eq!(c.path, format!("recordings/{}.wav", c.ticket));
    }
    // Different seeds reach different items: over 20 seeds, more than
    // one pair of calls is drawn.
    let mut seen = std::collections::HashSet::new();
    for seed in 0..20 {
        let s = draw(seed).await.unwrap();
        let mut pair: Vec<i64> = s.calls.iter().map(|c| c.ticket).collect();
        pair.sort();
        seen.insert(pair);
    }
    assert!(seen.len() > 1, "{seen:?}");
    // Outside the period nothing is drawn.
    let none = sample::draw(
        &pool,
        at("2025-01-01T00:00:00Z"),
        at("2025-02-01T00:00:00Z"),
        7,
        0.2,
        0.1,
    )
    .await
    .unwrap();
    assert!(none.calls.is_empty() && none.tickets.is_empty());
}

#[tokio::test]
async fn the_admin_api_serves_the_report_and_names_bad_parameters() {
    use common::http::get;
    let (pool, _) = fixture().await;
    let data = tempfile::tempdir().unwrap();
    let (store, _replayer) = hotline::tickets::TicketStore::open(pool, data.path(), 20)
        .await
        .unwrap();
    let (_status, rx) = tokio::sync::watch::channel(hotline::admin::AdminStatus::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let state = hotline::admin::AdminState::new(store, rx).with_report(settings());
    let server = tokio::spawn(hotline::admin::serve(listener, state, stop.clone()));

    let period = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";
    let reply = get(addr, &format!("/api/report?{period}&by=category")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let r: Report = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(share(&r, "first_contact_resolution"), (2, 6, Some(false)));
    assert_eq!(share(&r, "repeat_rate"), (2, 10, Some(false)));
    assert!(r.groups.iter().any(|g| g.key == "software"));

    let reply = get(addr, &format!("/api/report?{period}&format=csv")).await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .head
        .to_ascii_lowercase()
        .contains("content-type: text/csv"));
    assert!(reply.body.starts_with("section,group,name,metric,value\n"));

    for (query, named) in [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("by=weather", "by"),
        ("format=xml", "format"),
        ("form=2026-11-01", "query"),
    ] {
        let reply = get(addr, &format!("/api/report?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["code"], "HL-ADMIN-PARAM", "{query}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains(&format!("`{named}`")),
            "{query}: {body}"
        );
    }

    let reply = get(addr, &format!("/api/report/sample?{period}&seed=3")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let s: sample::Sample = serde_json::from_str(&reply.body).unwrap();
    assert_eq!((s.seed, s.tickets_total, s.tickets.len()), (3, 10, 1));
    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_cli_prints_the_report_as_text_json_and_csv() {
    let (_pool, url) = fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hotline.toml");
    std::fs::write(&config, "").unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(common::hotline_bin())
            .args(["--config", config.to_str().unwrap()])
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .args(["--database-url", &url, "report"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let period = [
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-12-01T00:00:00Z",
    ];
    let (code, out, err) = run(&[&period[..], &["--json"]].concat());
    assert_eq!(code, Some(0), "{err}");
    let r: Report = serde_json::from_str(&out).unwrap();
    assert_eq!(share(&r, "first_contact_resolution"), (2, 6, Some(false)));

    let (code, out, _) = run(&period);
    assert_eq!(code, Some(0));
    assert!(out.contains("Queue service level (20 s)"), "{out}");
    let (code, out, _) = run(&[&period[..], &["--csv", "--by", "tier"]].concat());
    assert_eq!(code, Some(0));
    assert!(out.contains("figure,L1,first_contact_resolution,"), "{out}");

    let (code, out, _) = run(&[
        "sample",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--seed",
        "9",
        "--json",
    ]);
    assert_eq!(code, Some(0));
    let s: sample::Sample = serde_json::from_str(&out).unwrap();
    assert_eq!(s.seed, 9);

    let (code, _, err) = run(&["--from", "soon"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("HL-REPORT-DATE") && err.contains("`from`"),
        "{err}"
    );
    let (code, _, err) = run(&["--by", "mood"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("HL-REPORT-BY"), "{err}");
}
