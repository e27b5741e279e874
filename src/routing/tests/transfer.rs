//! Transfer to one agent by name (REFER to `sip:bob@...`): the target gets
//! the first offer when free, the tier otherwise.

use super::*;

/// Agents 1 (L1, on a call with the caller) and 2, 3 (L2); agent 2 has
/// been idle longest, so the strategy alone would pick 2.
fn desk() -> (Desk, NewEntry) {
    let mut d = Desk::new();
    d.login(2, &[Tier::L2]);
    d.advance(secs(10));
    d.login(3, &[Tier::L2]);
    d.login(1, &[Tier::L1]);
    let (id, out) = d.call("minor");
    assert_eq!(offered_to(&out), Some((id, a(1))));
    d.answer(id, 1);
    d.end(1);
    let mut again = d.new_entry("minor", secs(7000));
    again.tier = Tier::L1;
    (d, again)
}

#[test]
fn a_free_target_gets_the_offer_whatever_the_strategy_would_pick() {
    let (mut d, entry) = desk();
    let id = entry.id;
    let out = d.input(Input::Transfer {
        entry,
        agent: a(3),
        to: Tier::L2,
    });
    assert_eq!(offered_to(&out), Some((id, a(3))));
    assert_eq!(d.r.tiers_of(id), Some(vec![Tier::L2]));
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::TransferToTier { .. })));
    d.answer(id, 3);
    assert_eq!(d.state(3), AgentState::OnCall);
    assert_eq!(d.state(2), AgentState::Available);
    d.r.check_invariants();
}

#[test]
fn a_busy_target_leaves_the_caller_to_the_tier_ahead_of_the_sla_order() {
    let (mut d, entry) = desk();
    // Agent 3 takes another call first.
    let (other, out) = d.call("major");
    assert_eq!(offered_to(&out), Some((other, a(2))));
    d.answer(other, 2);
    let (busy, out) = d.call("major");
    assert_eq!(offered_to(&out), Some((busy, a(3))));
    d.answer(busy, 3);
    let (urgent, _) = d.call_due("major", secs(30));
    let id = entry.id;
    let out = d.input(Input::Transfer {
        entry,
        agent: a(3),
        to: Tier::L2,
    });
    assert!(out.contains(&Output::TransferToTier {
        entry: id,
        ticket: TicketNumber(1000 + id.0 as i64),
        agent: a(3),
        tier: Tier::L2,
    }));
    assert!(offers(&out).is_empty(), "{out:?}");
    assert_eq!(d.r.queue_order(), [id, urgent], "escalated lane first");
    // Agent 2 is free first (after wrap-up): the caller goes to 2.
    d.end(2);
    let out = d.advance(secs(30));
    assert_eq!(offered_to(&out), Some((id, a(2))));
    d.r.check_invariants();
}

#[test]
fn a_target_who_misses_the_offer_leaves_the_caller_to_the_tier() {
    let (mut d, entry) = desk();
    let id = entry.id;
    let out = d.input(Input::Transfer {
        entry,
        agent: a(3),
        to: Tier::L2,
    });
    assert_eq!(offered_to(&out), Some((id, a(3))));
    let out = d.advance(secs(15)); // ring timeout
    assert!(cancels(&out).contains(&(id, a(3))));
    assert_eq!(offered_to(&out), Some((id, a(2))));
    d.r.check_invariants();
}

#[test]
fn an_unknown_or_logged_out_target_falls_back_to_the_tier() {
    let (mut d, entry) = desk();
    let id = entry.id;
    let out = d.input(Input::Transfer {
        entry,
        agent: a(99),
        to: Tier::L2,
    });
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::TransferToTier { agent, .. } if *agent == a(99))));
    assert_eq!(offered_to(&out), Some((id, a(2))));
    d.r.check_invariants();
}
