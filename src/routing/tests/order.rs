//! Queue order, tiers and overflow.

use super::*;
use crate::config::QueueOrder;

#[test]
fn each_severity_reaches_the_tier_of_the_sla_table() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    d.login(2, &[Tier::L2]);
    d.login(3, &[Tier::L3]);
    for (sev, agent, tier) in [
        ("minor", 1, Tier::L1),
        ("major", 2, Tier::L2),
        ("critical", 3, Tier::L3),
    ] {
        let (id, out) = d.call(sev);
        assert_eq!(offered_to(&out), Some((id, a(agent))), "{sev}");
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::Offer { tier: t, callback: false, .. } if *t == tier)));
        assert_eq!(d.state(agent), AgentState::Ringing);
        let out = d.answer(id, agent);
        assert!(
            out.iter().any(
                |o| matches!(o, Output::Assigned { entry, agent: g, tier: t, .. }
                if *entry == id && *g == a(agent) && *t == tier)
            ),
            "{out:?}"
        );
        assert_eq!(d.state(agent), AgentState::OnCall);
    }
    assert_eq!(d.r.waiting(), 0);
}

/// One agent serving every tier logs in after the calls queued: who it
/// gets first shows the order.
fn first_served(d: &mut Desk) -> QueueEntryId {
    let out = d.login(9, &Tier::ALL);
    offered_to(&out).unwrap().0
}

#[test]
fn earliest_response_deadline_first_even_before_an_earlier_caller() {
    let mut d = Desk::new();
    let (minor, _) = d.call("minor"); // due in 2 h
    d.advance(secs(60));
    let (critical, _) = d.call("critical"); // due in 30 min: goes first
    assert_eq!(d.r.queue_order(), [critical, minor]);
    assert_eq!(first_served(&mut d), critical);
}

#[test]
fn a_minor_ticket_close_to_its_deadline_goes_before_a_fresh_critical_one() {
    let mut d = Desk::new();
    let (critical, _) = d.call("critical"); // 30 min left
    let (old_minor, _) = d.call_due("minor", secs(600)); // 10 min left
    assert_eq!(d.r.queue_order(), [old_minor, critical]);
}

#[test]
fn equal_deadlines_go_by_severity_then_arrival() {
    let mut d = Desk::new();
    let (minor1, _) = d.call_due("minor", secs(1800));
    let (minor2, _) = d.call_due("minor", secs(1800));
    let (major, _) = d.call_due("major", secs(1800));
    let (critical, _) = d.call_due("critical", secs(1800));
    assert_eq!(d.r.queue_order(), [critical, major, minor1, minor2]);
}

#[test]
fn fifo_per_severity_is_a_configuration_choice() {
    let mut d = Desk::with(|c| c.routing.order = QueueOrder::FifoPerSeverity);
    let (minor_old, _) = d.call_due("minor", secs(60)); // near its deadline: no matter
    let (major1, _) = d.call("major");
    let (critical, _) = d.call("critical");
    let (major2, _) = d.call_due("major", secs(120));
    assert_eq!(d.r.queue_order(), [critical, major1, major2, minor_old]);
}

#[test]
fn an_escalated_caller_goes_ahead_of_the_sla_order() {
    let mut d = Desk::new();
    d.login(2, &[Tier::L2]);
    let (major, out) = d.call_due("major", secs(60));
    assert_eq!(offered_to(&out), Some((major, a(2))));
    d.answer(major, 2);
    // The L1 agent's caller, escalated to L2 with plenty of SLA left.
    let mut esc = d.new_entry("minor", secs(7000));
    esc.tier = Tier::L1;
    let esc_id = esc.id;
    d.input(Input::Escalate {
        entry: esc,
        to: Tier::L2,
    });
    let (urgent_major, _) = d.call_due("major", secs(30));
    assert_eq!(d.r.queue_order(), [esc_id, urgent_major]);
    assert_eq!(d.r.tiers_of(esc_id), Some(vec![Tier::L2]));
    d.end(2);
    let out = d.advance(secs(30)); // wrap-up
    assert_eq!(offered_to(&out), Some((esc_id, a(2))));
}

#[test]
fn critical_overflows_to_l2_after_60_seconds() {
    let mut d = Desk::new();
    d.login(3, &[Tier::L3]);
    d.login(2, &[Tier::L2]);
    let (busy, _) = d.call("critical");
    d.answer(busy, 3);
    let (waiting, out) = d.call("critical");
    assert!(offers(&out).is_empty(), "L2 is not allowed yet: {out:?}");
    let out = d.advance(secs(59));
    assert!(offers(&out).is_empty());
    let out = d.advance(secs(1));
    assert!(out.contains(&Output::Overflowed {
        entry: waiting,
        ticket: TicketNumber(1002),
        tiers: vec![Tier::L3, Tier::L2],
    }));
    assert_eq!(offered_to(&out), Some((waiting, a(2))));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Offer { tier: Tier::L2, .. })));
}

#[test]
fn minor_overflows_to_l2_after_5_minutes() {
    let mut d = Desk::new();
    d.login(2, &[Tier::L2]);
    let (minor, out) = d.call("minor");
    assert!(offers(&out).is_empty());
    let out = d.advance(secs(299));
    assert!(offers(&out).is_empty());
    let out = d.advance(secs(1));
    assert_eq!(offered_to(&out), Some((minor, a(2))));
}

#[test]
fn an_overflowed_call_still_prefers_its_own_tier() {
    let mut d = Desk::new();
    d.login(3, &[Tier::L3]);
    d.login(2, &[Tier::L2]);
    let (c1, _) = d.call("critical");
    d.answer(c1, 3);
    let (m1, _) = d.call("major");
    d.answer(m1, 2);
    let (c2, _) = d.call("critical");
    d.advance(secs(61));
    assert_eq!(d.r.tiers_of(c2), Some(vec![Tier::L3, Tier::L2]));
    // Both calls end together: both agents come free at the same instant.
    d.end(2);
    d.end(3);
    let out = d.advance(secs(30));
    assert_eq!(offered_to(&out), Some((c2, a(3))), "{out:?}");
    assert_eq!(d.state(2), AgentState::Available);
}

#[test]
fn overflow_tiers_take_the_call_when_the_own_tier_declines() {
    let mut d = Desk::new();
    let (c, _) = d.call("critical");
    d.advance(secs(61));
    let out = d.login(2, &[Tier::L2]);
    assert_eq!(offered_to(&out), Some((c, a(2))));
    d.input(Input::OfferFailed {
        entry: c,
        agent: a(2),
        why: OfferFailure::Busy,
    });
    // The L2 agent is free but skipped for this caller; an L3 agent comes.
    assert_eq!(d.state(2), AgentState::Available);
    let out = d.login(3, &[Tier::L3]);
    assert_eq!(offered_to(&out), Some((c, a(3))));
}

#[test]
fn a_reload_resorts_the_waiting_callers_and_the_free_agents() {
    let mut d = Desk::new();
    let (minor, _) = d.call_due("minor", secs(300));
    let (critical, _) = d.call("critical");
    assert_eq!(d.r.queue_order(), [minor, critical]);
    let mut c = Config::default();
    c.routing.order = QueueOrder::FifoPerSeverity;
    c.routing.strategy = crate::config::RoutingStrategy::FewestCalls;
    d.r.reconfigure(d.now, Settings::from_config(&c));
    assert_eq!(d.r.queue_order(), [critical, minor]);
    assert_eq!(
        d.r.settings().strategy,
        crate::config::RoutingStrategy::FewestCalls
    );
    let out = d.login(1, &Tier::ALL);
    assert_eq!(offered_to(&out), Some((critical, a(1))));
    d.r.check_invariants();
}
