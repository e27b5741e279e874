//! Random days at a small desk: whatever happens, the outputs alone tell
//! the shell the truth (who rings for whom, every agent's state), and the
//! core's own structures stay consistent.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::config::RoutingStrategy;

/// What a shell knows from the outputs only.
#[derive(Default)]
struct Shell {
    ringing: HashMap<AgentId, QueueEntryId>,
    states: HashMap<AgentId, AgentState>,
    on_call: Vec<AgentId>,
    assigned: usize,
    cancelled: usize,
}

impl Shell {
    fn apply(&mut self, out: &[Output]) {
        for o in out {
            match o {
                Output::Offer { entry, agents, .. } => {
                    for a in agents {
                        assert!(self.ringing.insert(*a, *entry).is_none(), "{a} rung twice");
                    }
                }
                Output::CancelOffer { entry, agent } => {
                    assert_eq!(
                        self.ringing.remove(agent),
                        Some(*entry),
                        "cancel of {agent}"
                    );
                    self.cancelled += 1;
                }
                Output::Assigned { entry, agent, .. } => {
                    assert_eq!(self.ringing.remove(agent), Some(*entry));
                    assert!(
                        !self.ringing.values().any(|e| e == entry),
                        "others still ring"
                    );
                    self.on_call.push(*agent);
                    self.assigned += 1;
                }
                Output::Left { entry, .. } => {
                    assert!(!self.ringing.values().any(|e| e == entry));
                }
                Output::AgentStateChanged {
                    agent, from, to, ..
                } => {
                    let known = self
                        .states
                        .get(agent)
                        .copied()
                        .unwrap_or(AgentState::Offline);
                    assert_eq!(known, *from, "{agent}");
                    self.states.insert(*agent, *to);
                }
                _ => {}
            }
        }
    }
}

fn run(seed: u64, strategy: RoutingStrategy) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut d = Desk::with(|c| c.routing.strategy = strategy);
    let mut shell = Shell::default();
    let mut entries: Vec<QueueEntryId> = Vec::new();
    let sevs = ["critical", "major", "minor"];
    for step in 0..1500 {
        let agent = a(rng.gen_range(1..=8));
        let out = match rng.gen_range(0..100) {
            0..=19 => {
                let sev = sevs[rng.gen_range(0..3)];
                let (id, out) = d.call_due(sev, secs(rng.gen_range(0..4000)));
                entries.push(id);
                out
            }
            20..=27 => {
                let tiers: Vec<Tier> = Tier::ALL
                    .into_iter()
                    .filter(|_| rng.gen_bool(0.5))
                    .collect();
                let tiers = if tiers.is_empty() {
                    vec![Tier::L1]
                } else {
                    tiers
                };
                d.input(Input::Login {
                    agent,
                    tiers,
                    reachable: rng.gen_bool(0.9),
                })
            }
            28..=30 => d.input(Input::Logout { agent }),
            31..=33 => d.input(Input::Pause {
                agent,
                reason: "break".into(),
            }),
            34..=38 => d.input(Input::Resume { agent }),
            39..=41 => d.input(Input::Reachability {
                agent,
                reachable: rng.gen_bool(0.7),
            }),
            42..=56 => match shell.ringing.iter().next().map(|(a, e)| (*a, *e)) {
                Some((agent, entry)) => d.input(Input::OfferAnswered { entry, agent }),
                None => Vec::new(),
            },
            57..=63 => match shell.ringing.iter().next().map(|(a, e)| (*a, *e)) {
                Some((agent, entry)) => {
                    let why = [
                        OfferFailure::NoAnswer,
                        OfferFailure::Busy,
                        OfferFailure::Declined,
                        OfferFailure::Unreachable,
                    ][rng.gen_range(0..4)];
                    shell.ringing.remove(&agent);
                    d.input(Input::OfferFailed { entry, agent, why })
                }
                None => Vec::new(),
            },
            64..=75 if !shell.on_call.is_empty() => {
                let i = rng.gen_range(0..shell.on_call.len());
                let agent = shell.on_call.swap_remove(i);
                d.input(Input::CallEnded { agent })
            }
            76..=80 if !entries.is_empty() => {
                let id = entries[rng.gen_range(0..entries.len())];
                let why = if rng.gen_bool(0.8) {
                    LeaveReason::Abandoned
                } else {
                    LeaveReason::Ended
                };
                // A stale id (already served) must be harmless too.
                d.input(Input::EntryLeft { entry: id, why })
            }
            81..=83 if !entries.is_empty() => {
                let id = entries[rng.gen_range(0..entries.len())];
                d.input(Input::CallbackAccepted { entry: id })
            }
            84 => {
                let mut c = Config::default();
                c.routing.strategy = [
                    RoutingStrategy::LongestIdle,
                    RoutingStrategy::FewestCalls,
                    RoutingStrategy::RoundRobin,
                    RoutingStrategy::RingAll,
                ][rng.gen_range(0..4)];
                if rng.gen_bool(0.5) {
                    c.routing.order = crate::config::QueueOrder::FifoPerSeverity;
                }
                d.r.reconfigure(d.now, Settings::from_config(&c));
                d.drain()
            }
            _ => d.advance(Duration::from_millis(rng.gen_range(0..40_000))),
        };
        shell.apply(&out);
        d.r.check_invariants();
        for (agent, state) in &shell.states {
            assert_eq!(
                d.r.agent(*agent).unwrap().state,
                *state,
                "seed {seed} step {step} {agent}"
            );
        }
        for (agent, entry) in &shell.ringing {
            assert_eq!(
                d.r.agent(*agent).unwrap().state,
                AgentState::Ringing,
                "{agent} for {entry}"
            );
        }
    }
    // The run did exercise the interesting paths.
    assert!(
        shell.assigned > 20 && shell.cancelled > 5,
        "seed {seed}: {} assigned, {} cancelled",
        shell.assigned,
        shell.cancelled
    );
    eprintln!(
        "seed {seed} {strategy:?}: {} assigned, {} cancelled, {} waiting",
        shell.assigned,
        shell.cancelled,
        d.r.waiting()
    );
}

#[test]
fn random_days_keep_outputs_and_state_in_agreement() {
    for seed in 0..3 {
        for strategy in [
            RoutingStrategy::LongestIdle,
            RoutingStrategy::FewestCalls,
            RoutingStrategy::RoundRobin,
            RoutingStrategy::RingAll,
        ] {
            run(seed, strategy);
        }
    }
}
