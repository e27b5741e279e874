//! Agent choice, ringing, misses, wrap-up and agent state changes.

use super::*;
use crate::config::RoutingStrategy;

/// Three L1 agents; agent 2 took a call and came back from wrap-up last,
/// agent 1 logged in first, agent 3 last.
fn three_agents(strategy: RoutingStrategy) -> Desk {
    let mut d = Desk::with(|c| c.routing.strategy = strategy);
    d.login(1, &[Tier::L1]);
    d.advance(secs(10));
    d.login(2, &[Tier::L1]);
    d.advance(secs(10));
    d.login(3, &[Tier::L1]);
    d
}

fn serve(d: &mut Desk, talk: Duration) -> AgentId {
    let (id, out) = d.call("minor");
    let (_, agent) = offered_to(&out).expect("offered");
    d.answer(id, agent.0);
    d.advance(talk);
    d.end(agent.0);
    agent
}

#[test]
fn longest_idle_is_the_default_and_counts_from_the_end_of_wrap_up() {
    let mut d = three_agents(RoutingStrategy::LongestIdle);
    assert_eq!(serve(&mut d, secs(60)), a(1)); // idle longest
    assert_eq!(serve(&mut d, secs(60)), a(2));
    // Agent 1 is in wrap-up: not offered.
    assert_eq!(d.state(1), AgentState::Available, "wrap-up of 1 is over");
    let (id, out) = d.call("minor");
    assert_eq!(offered_to(&out), Some((id, a(3))));
    d.answer(id, 3);
    d.end(3);
    // 1 came back from wrap-up before 2: 1 is next.
    let (id, out) = d.call("minor");
    assert_eq!(offered_to(&out), Some((id, a(1))));
    assert_eq!(d.state(2), AgentState::WrapUp);
}

#[test]
fn wrap_up_keeps_calls_away_for_the_configured_time() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    let (id, _) = d.call("minor");
    d.answer(id, 1);
    d.advance(secs(120));
    let out = d.end(1);
    assert_eq!(
        changes(&out),
        [(
            a(1),
            AgentState::OnCall,
            AgentState::WrapUp,
            "call ended".into()
        )]
    );
    let (next, out) = d.call("minor");
    assert!(offers(&out).is_empty());
    let out = d.advance(secs(29));
    assert!(offers(&out).is_empty());
    let out = d.advance(secs(1));
    assert_eq!(
        changes(&out)[0],
        (
            a(1),
            AgentState::WrapUp,
            AgentState::Available,
            "wrap-up done".into()
        )
    );
    assert_eq!(offered_to(&out), Some((next, a(1))));
    // Handle time moved towards 150 s (talk plus wrap-up) from 300 s.
    assert_eq!(d.r.handle_time().as_secs_f64().round(), 270.0);
}

#[test]
fn fewest_calls_picks_the_agent_with_the_fewest_calls_taken() {
    let mut d = three_agents(RoutingStrategy::FewestCalls);
    assert_eq!(serve(&mut d, secs(10)), a(1));
    d.advance(secs(60));
    assert_eq!(serve(&mut d, secs(10)), a(2));
    d.advance(secs(60));
    assert_eq!(serve(&mut d, secs(10)), a(3));
    d.advance(secs(60));
    assert_eq!(serve(&mut d, secs(10)), a(1)); // all at 1: longest idle
    d.advance(secs(60));
    // 1 has two calls now; 2 and 3 one each.
    assert_eq!(serve(&mut d, secs(10)), a(2));
}

#[test]
fn round_robin_takes_each_agent_in_turn() {
    let mut d = three_agents(RoutingStrategy::RoundRobin);
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(serve(&mut d, secs(5)));
        d.advance(secs(60));
    }
    assert_eq!(got, [a(1), a(2), a(3), a(1), a(2), a(3)]);
}

#[test]
fn ring_all_rings_every_free_agent_of_the_tier_and_the_first_answer_wins() {
    let mut d = three_agents(RoutingStrategy::RingAll);
    d.login(4, &[Tier::L2]); // other tier: not rung
    let (id, out) = d.call("minor");
    assert_eq!(offers(&out), [(id, vec![a(1), a(2), a(3)])]);
    for n in 1..=3 {
        assert_eq!(d.state(n), AgentState::Ringing);
    }
    let out = d.answer(id, 2);
    let mut c = cancels(&out);
    c.sort();
    assert_eq!(c, [(id, a(1)), (id, a(3))]);
    assert_eq!(d.state(1), AgentState::Available);
    assert_eq!(d.state(2), AgentState::OnCall);
    assert!(changes(&out).contains(&(
        a(1),
        AgentState::Ringing,
        AgentState::Available,
        "answered elsewhere".into()
    )));
    // A late answer from agent 3 (crossing the CANCEL) changes nothing.
    let out = d.answer(id, 3);
    assert!(out.is_empty());
    assert_eq!(d.r.stale_inputs(), 1);
}

#[test]
fn ring_all_timeout_counts_a_miss_for_everyone_who_rang() {
    let mut d = three_agents(RoutingStrategy::RingAll);
    let (id, _) = d.call("minor");
    d.input(Input::OfferFailed {
        entry: id,
        agent: a(1),
        why: OfferFailure::Declined,
    });
    let out = d.advance(secs(15));
    let mut c = cancels(&out);
    c.sort();
    assert_eq!(c, [(id, a(2)), (id, a(3))]);
    assert_eq!(d.r.agent(a(2)).unwrap().misses, 1);
    assert_eq!(d.r.agent(a(1)).unwrap().misses, 0);
    // Everybody skipped for this caller now: it waits.
    assert!(offers(&out).is_empty());
    assert_eq!(d.r.waiting(), 1);
}

#[test]
fn ring_timeout_cancels_and_tries_the_next_agent() {
    let mut d = three_agents(RoutingStrategy::LongestIdle);
    let (id, out) = d.call("minor");
    assert_eq!(offered_to(&out), Some((id, a(1))));
    let out = d.advance(secs(14));
    assert!(out.iter().all(|o| !matches!(o, Output::CancelOffer { .. })));
    let out = d.advance(secs(1));
    assert_eq!(cancels(&out), [(id, a(1))]);
    assert_eq!(offered_to(&out), Some((id, a(2))));
    assert_eq!(d.r.agent(a(1)).unwrap().misses, 1);
    // Agent 1 is available again and the next caller may ring them.
    let (other, out) = d.call("minor");
    assert_eq!(offered_to(&out), Some((other, a(1))));
}

#[test]
fn three_misses_in_a_row_pause_the_agent_with_no_answer() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    for miss in 1..=3 {
        let (id, out) = d.call("minor");
        assert_eq!(offered_to(&out), Some((id, a(1))), "miss {miss}");
        let out = d.advance(secs(15));
        let to = if miss < 3 {
            AgentState::Available
        } else {
            AgentState::Paused
        };
        assert_eq!(
            changes(&out),
            [(a(1), AgentState::Ringing, to, "no answer".into())]
        );
        d.input(Input::EntryLeft {
            entry: id,
            why: LeaveReason::Abandoned,
        });
    }
    let (_, out) = d.call("minor");
    assert!(offers(&out).is_empty());
    let out = d.input(Input::Resume { agent: a(1) });
    assert_eq!(offers(&out).len(), 1);
    assert_eq!(d.r.agent(a(1)).unwrap().misses, 0);
}

#[test]
fn a_skipped_agent_is_rung_again_in_the_next_round_and_an_answer_resets_misses() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    let (id, _) = d.call("minor");
    let out = d.advance(secs(15));
    assert_eq!(cancels(&out), [(id, a(1))]);
    assert!(offers(&out).is_empty(), "skipped for this caller");
    assert_eq!(d.r.agent(a(1)).unwrap().misses, 1);
    // The caller's next tick (30 s) starts a new round.
    let out = d.advance(secs(15));
    assert_eq!(offered_to(&out), Some((id, a(1))));
    d.advance(secs(15));
    assert_eq!(d.r.agent(a(1)).unwrap().misses, 2);
    d.advance(secs(15));
    d.answer(id, 1);
    assert_eq!(d.r.agent(a(1)).unwrap().misses, 0);
}

#[test]
fn busy_and_declined_try_the_next_agent_without_a_pause() {
    let mut d = three_agents(RoutingStrategy::LongestIdle);
    let (id, _) = d.call("minor");
    let out = d.input(Input::OfferFailed {
        entry: id,
        agent: a(1),
        why: OfferFailure::Busy,
    });
    assert!(cancels(&out).is_empty(), "the phone already said no");
    assert_eq!(offered_to(&out), Some((id, a(2))));
    let out = d.input(Input::OfferFailed {
        entry: id,
        agent: a(2),
        why: OfferFailure::Declined,
    });
    assert_eq!(offered_to(&out), Some((id, a(3))));
    for n in 1..=2 {
        assert_eq!(d.state(n), AgentState::Available);
        assert_eq!(d.r.agent(a(n)).unwrap().misses, 0);
    }
}

#[test]
fn an_unreachable_agent_is_reported_and_offered_nothing_until_reachable() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    d.login(2, &[Tier::L1]);
    let (id, _) = d.call("minor");
    let out = d.input(Input::OfferFailed {
        entry: id,
        agent: a(1),
        why: OfferFailure::Unreachable,
    });
    assert!(out.contains(&Output::AgentUnreachable { agent: a(1) }));
    assert_eq!(offered_to(&out), Some((id, a(2))));
    let (other, out) = d.call("minor");
    assert!(offers(&out).is_empty(), "1 is unreachable, 2 rings");
    let out = d.input(Input::Reachability {
        agent: a(1),
        reachable: true,
    });
    assert_eq!(offered_to(&out), Some((other, a(1))));
}

#[test]
fn a_phone_vanishing_while_ringing_moves_to_the_next_agent() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    d.login(2, &[Tier::L1]);
    let (id, _) = d.call("minor");
    let out = d.input(Input::Reachability {
        agent: a(1),
        reachable: false,
    });
    assert_eq!(cancels(&out), [(id, a(1))]);
    assert_eq!(offered_to(&out), Some((id, a(2))));
    // The ring timer is the new offer's.
    let out = d.advance(secs(15));
    assert_eq!(cancels(&out), [(id, a(2))]);
}

#[test]
fn a_caller_hanging_up_while_ringing_cancels_and_frees_the_agent() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    let (id, _) = d.call("minor");
    d.advance(secs(5));
    let out = d.input(Input::EntryLeft {
        entry: id,
        why: LeaveReason::Abandoned,
    });
    assert_eq!(cancels(&out), [(id, a(1))]);
    assert!(out.contains(&Output::Left {
        entry: id,
        ticket: TicketNumber(1001),
        why: LeaveReason::Abandoned,
        waited: secs(5),
    }));
    assert_eq!(d.state(1), AgentState::Available);
    assert_eq!(d.r.agent(a(1)).unwrap().misses, 0);
    assert_eq!(d.r.pending_timers(), 0);
}

#[test]
fn logout_and_pause_during_a_call_take_effect_after_it() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    d.login(2, &[Tier::L1]);
    let (c1, _) = d.call("minor");
    d.answer(c1, 1);
    let (c2, _) = d.call("minor");
    d.answer(c2, 2);
    assert!(d.input(Input::Logout { agent: a(1) }).is_empty());
    assert!(d
        .input(Input::Pause {
            agent: a(2),
            reason: "lunch".into()
        })
        .is_empty());
    assert_eq!(
        changes(&d.end(1)),
        [(
            a(1),
            AgentState::OnCall,
            AgentState::Offline,
            "logout".into()
        )]
    );
    assert_eq!(
        changes(&d.end(2)),
        [(a(2), AgentState::OnCall, AgentState::Paused, "lunch".into())]
    );
    assert_eq!(d.r.pending_timers(), 0, "no wrap-up timers");
}

#[test]
fn pausing_a_ringing_agent_withdraws_the_offer() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    d.login(2, &[Tier::L1]);
    let (id, _) = d.call("minor");
    let out = d.input(Input::Pause {
        agent: a(1),
        reason: "break".into(),
    });
    assert_eq!(cancels(&out), [(id, a(1))]);
    assert_eq!(offered_to(&out), Some((id, a(2))));
    assert_eq!(
        changes(&out)[0],
        (
            a(1),
            AgentState::Ringing,
            AgentState::Paused,
            "break".into()
        )
    );
}

#[test]
fn every_state_change_is_an_output() {
    let mut d = Desk::new();
    let mut all = d.login(1, &[Tier::L1]);
    let (id, out) = d.call("minor");
    all.extend(out);
    all.extend(d.answer(id, 1));
    all.extend(d.end(1));
    all.extend(d.advance(secs(30)));
    all.extend(d.input(Input::Pause {
        agent: a(1),
        reason: "meeting".into(),
    }));
    all.extend(d.input(Input::Resume { agent: a(1) }));
    all.extend(d.input(Input::Logout { agent: a(1) }));
    use AgentState::*;
    let got: Vec<_> = changes(&all)
        .into_iter()
        .map(|(_, from, to, why)| (from, to, why))
        .collect();
    assert_eq!(
        got,
        [
            (Offline, Available, "login".to_string()),
            (Available, Ringing, "offered".into()),
            (Ringing, OnCall, "answered".into()),
            (OnCall, WrapUp, "call ended".into()),
            (WrapUp, Available, "wrap-up done".into()),
            (Available, Paused, "meeting".into()),
            (Paused, Available, "resume".into()),
            (Available, Offline, "logout".into()),
        ]
    );
}

#[test]
fn recording_share_records_every_fifth_call() {
    let mut d = Desk::new();
    d.login(1, &[Tier::L1]);
    let mut recorded = Vec::new();
    for _ in 0..10 {
        let (id, _) = d.call("minor");
        let out = d.answer(id, 1);
        for o in out {
            if let Output::Assigned { record, .. } = o {
                recorded.push(record);
            }
        }
        d.end(1);
        d.advance(secs(30));
    }
    let n: Vec<usize> = (0..10).filter(|i| recorded[*i]).collect();
    assert_eq!(n, [4, 9]);
    let mut all = Desk::with(|c| c.routing.recording = crate::config::RecordingMode::All);
    all.login(1, &[Tier::L1]);
    let (id, _) = all.call("minor");
    assert!(all
        .answer(id, 1)
        .iter()
        .any(|o| matches!(o, Output::Assigned { record: true, .. })));
}
