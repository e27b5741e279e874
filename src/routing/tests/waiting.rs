//! While waiting: announcements, callbacks, SLA risk and breach.

use super::*;
use crate::config::{MaxWaitRule, WhenNoAgents};

fn announces(out: &[Output]) -> Vec<(QueueEntryId, usize, Option<Duration>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Announce {
                entry,
                position,
                expected_wait,
                ..
            } => Some((*entry, *position, *expected_wait)),
            _ => None,
        })
        .collect()
}

/// Two L1 agents on calls, so nobody is offered anything.
fn busy_l1_desk() -> Desk {
    let mut d = Desk::new();
    for n in 1..=2 {
        d.login(n, &[Tier::L1]);
        let (id, _) = d.call("minor");
        d.answer(id, n);
    }
    d
}

#[test]
fn every_30_seconds_the_caller_hears_position_and_expected_wait() {
    let mut d = busy_l1_desk();
    let (first, _) = d.call("minor");
    d.advance(secs(10));
    let (second, _) = d.call("minor");
    let out = d.advance(secs(20));
    // First hears: position 1, 1 * 300 s / 2 agents.
    assert_eq!(announces(&out), [(first, 1, Some(secs(150)))]);
    let out = d.advance(secs(10));
    assert_eq!(announces(&out), [(second, 2, Some(secs(300)))]);
    let out = d.advance(secs(30));
    assert_eq!(announces(&out).len(), 2);
}

#[test]
fn positions_count_only_callers_competing_for_the_same_agents_with_overflow() {
    let mut d = busy_l1_desk();
    d.login(2_0, &[Tier::L2]);
    let (m, _) = d.call("major");
    d.answer(m, 20);
    d.login(3_0, &[Tier::L3]);
    let (c, _) = d.call("critical");
    d.answer(c, 30);
    let (major, _) = d.call_due("major", secs(3000));
    let (critical, _) = d.call("critical"); // due in 1800 s: ahead of major
    let (minor, _) = d.call("minor");
    // Before overflow: each severity alone in its tier.
    assert_eq!(d.r.position(major), Some(1));
    assert_eq!(d.r.position(critical), Some(1));
    assert_eq!(d.r.position(minor), Some(1));
    d.advance(secs(60)); // critical now also L2: ahead of the major caller
    assert_eq!(d.r.position(major), Some(2));
    d.advance(secs(240)); // minor also L2 (5 min); the major is ahead of it
    assert_eq!(d.r.position(minor), Some(3));
}

#[test]
fn a_callback_request_keeps_its_place_and_is_offered_as_a_callback() {
    let mut d = busy_l1_desk();
    let (first, _) = d.call("minor");
    let (second, _) = d.call("minor");
    let out = d.input(Input::CallbackAccepted { entry: first });
    assert!(out.is_empty());
    assert_eq!(d.r.position(second), Some(2), "the callback is still ahead");
    let out = d.advance(secs(30));
    assert_eq!(
        announces(&out),
        [(second, 2, Some(secs(300)))],
        "no one to tell on the callback"
    );
    d.end(1);
    let out = d.advance(secs(30));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Offer { entry, callback: true, .. } if *entry == first)));
}

#[test]
fn after_the_maximum_wait_the_callback_is_offered_once() {
    let mut d = busy_l1_desk();
    let (minor, _) = d.call("minor");
    let (major, _) = d.call("major");
    let out = d.advance(secs(599));
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::OfferCallback { .. })));
    let out = d.advance(secs(1));
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::OfferCallback { .. }))
            .collect::<Vec<_>>(),
        [&Output::OfferCallback {
            entry: minor,
            ticket: TicketNumber(1003)
        }],
        "major has no maximum wait by default"
    );
    let out = d.advance(secs(3600));
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::OfferCallback { .. })));
    let _ = major;
}

#[test]
fn written_maximum_waits_replace_the_default() {
    let mut d = Desk::with(|c| {
        c.routing.max_wait = Some(vec![MaxWaitRule {
            severity: "major".into(),
            after: crate::config::ConfigDuration(secs(120)),
        }])
    });
    let (major, _) = d.call("major");
    let (_minor, _) = d.call("minor");
    let out = d.advance(secs(700));
    let got: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::OfferCallback { entry, .. } => Some(*entry),
            _ => None,
        })
        .collect();
    assert_eq!(got, [major]);
}

#[test]
fn with_nobody_logged_in_the_callback_can_be_offered_at_once() {
    let mut d = Desk::with(|c| c.routing.when_no_agents = WhenNoAgents::OfferCallback);
    let (id, out) = d.call("major");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::OfferCallback { entry, .. } if *entry == id)));
    // An L3 agent cannot take a major call (no overflow for major): still
    // nobody; with an L2 agent logged in (even busy) the caller waits.
    let mut d = Desk::with(|c| c.routing.when_no_agents = WhenNoAgents::OfferCallback);
    d.login(2, &[Tier::L2]);
    let (busy, _) = d.call("major");
    d.answer(busy, 2);
    let (_, out) = d.call("major");
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::OfferCallback { .. })));
    // Default: wait.
    let mut d = Desk::new();
    let (_, out) = d.call("major");
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::OfferCallback { .. })));
}

#[test]
fn sla_at_risk_within_the_margin_then_breached_once() {
    let mut d = busy_l1_desk();
    let (id, out) = d.call_due("minor", secs(900)); // 15 min left, margin 10 min
    assert!(!out.iter().any(|o| matches!(o, Output::SlaAtRisk { .. })));
    let out = d.advance(secs(299));
    assert!(
        !out.iter().any(|o| matches!(o, Output::SlaAtRisk { .. })),
        "the 2 agents free up in time: {out:?}"
    );
    let out = d.advance(secs(1));
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::SlaAtRisk { entry, .. } if *entry == id))
            .count(),
        1
    );
    let out = d.advance(secs(599));
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::SlaAtRisk { .. } | Output::SlaBreached { .. })));
    let out = d.advance(secs(1));
    let breached: Vec<_> = out
        .iter()
        .filter(|o| matches!(o, Output::SlaBreached { .. }))
        .collect();
    assert_eq!(breached.len(), 1);
    assert!(matches!(breached[0], Output::SlaBreached { entry, due, .. }
        if *entry == id && *due == d.wall - TimeDelta::seconds(0)));
    assert!(d
        .advance(secs(3600))
        .iter()
        .all(|o| !matches!(o, Output::SlaBreached { .. })));
}

#[test]
fn sla_at_risk_when_no_agent_will_be_free_in_time() {
    let mut d = busy_l1_desk();
    // 40 callers ahead, each 300 s / 2 agents: the last waits 100 min,
    // longer than its 60 min left, while the margin is far away.
    for _ in 0..40 {
        d.call_due("minor", secs(3000));
    }
    let (late, _) = d.call_due("minor", secs(3600));
    let out = d.advance(secs(30));
    let risky: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::SlaAtRisk {
                entry,
                expected_wait,
                ..
            } => Some((*entry, *expected_wait)),
            _ => None,
        })
        .collect();
    assert!(risky.contains(&(late, Some(secs(41 * 150)))), "{risky:?}");
    // The first callers are reached in time: not at risk.
    assert!(!risky.iter().any(|(e, _)| *e == QueueEntryId(3)));
}

#[test]
fn a_deadline_already_past_at_enqueue_is_at_risk_and_breached_at_once() {
    let mut d = busy_l1_desk();
    let mut e = d.new_entry("minor", secs(0));
    e.response_due = d.wall - TimeDelta::seconds(60);
    let out = d.input(Input::Enqueue(e));
    assert!(out.iter().any(|o| matches!(o, Output::SlaAtRisk { .. })));
    assert!(out.iter().any(|o| matches!(o, Output::SlaBreached { .. })));
}

#[test]
fn an_answered_or_abandoned_entry_leaves_no_timer_behind() {
    let mut d = Desk::new();
    let (abandoned, _) = d.call("minor");
    d.advance(secs(45));
    let out = d.input(Input::EntryLeft {
        entry: abandoned,
        why: LeaveReason::Abandoned,
    });
    assert!(out.contains(&Output::Left {
        entry: abandoned,
        ticket: TicketNumber(1001),
        why: LeaveReason::Abandoned,
        waited: secs(45),
    }));
    assert_eq!(d.r.pending_timers(), 0);
    assert_eq!(d.r.poll_timeout(), None);
    d.login(1, &[Tier::L1]);
    let (id, _) = d.call("minor");
    d.answer(id, 1);
    assert_eq!(d.r.pending_timers(), 0);
    // Unknown entries are counted, not fatal.
    d.input(Input::EntryLeft {
        entry: abandoned,
        why: LeaveReason::Abandoned,
    });
    assert_eq!(d.r.stale_inputs(), 1);
}

#[test]
fn with_nobody_serving_the_tiers_there_is_no_estimate_and_the_sla_is_at_risk() {
    let mut d = Desk::new();
    d.login(3, &[Tier::L3]); // serves critical, not major
    let (major, _) = d.call("major");
    let out = d.advance(secs(30));
    assert_eq!(announces(&out), [(major, 1, None)]);
    assert!(out.contains(&Output::SlaAtRisk {
        entry: major,
        ticket: TicketNumber(1001),
        due: d.wall + TimeDelta::seconds(3600 - 30),
        expected_wait: None,
    }));
}
