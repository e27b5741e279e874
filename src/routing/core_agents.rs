//! The agent side of the [`Router`]: logins, pauses, reachability, the
//! answers and failures of offers, the end of calls, and the state
//! changes they make (each one an output). A child of `core`, so it sees
//! the router's fields.

use std::time::Instant;

use crate::agents::{AgentId, AgentState, Tier};

use super::super::agent::{AfterCall, Agent};
use super::super::io::{OfferFailure, Output, StateReason};
use super::super::queue::{NewEntry, OfferState, QueueEntryId};
use super::super::timers::Timer;
use super::{Router, HANDLE_TIME_WEIGHT};

impl Router {
    // ---- agents --------------------------------------------------------

    pub(super) fn state(&self, agent: AgentId) -> Option<AgentState> {
        self.agents.get(agent).map(|a| a.state)
    }

    /// Change an agent's state (and whatever `f` changes with it), and say
    /// so when the state differs.
    pub(super) fn transition(
        &mut self,
        agent: AgentId,
        to: AgentState,
        reason: StateReason,
        f: impl FnOnce(&mut Agent),
    ) {
        let from = self.agents.update(agent, |a| {
            let from = a.state;
            a.state = to;
            f(a);
            from
        });
        if let Some(from) = from.filter(|from| *from != to) {
            self.out.push_back(Output::AgentStateChanged {
                agent,
                from,
                to,
                reason,
            });
        }
    }

    /// One more miss in a row; at `max_misses` the agent is paused.
    pub(super) fn missed(&mut self, agent: AgentId) {
        let misses = self
            .agents
            .update(agent, |a| {
                a.offer = None;
                a.misses += 1;
                a.misses
            })
            .unwrap_or(0);
        let to = if misses >= self.s.max_misses {
            AgentState::Paused
        } else {
            AgentState::Available
        };
        self.transition(agent, to, StateReason::NoAnswer, |_| {});
    }

    /// Withdraw a ringing agent's offer (logout, pause, phone gone).
    pub(super) fn withdraw(&mut self, agent: AgentId) {
        let Some(id) = self.agents.get(agent).and_then(|a| a.offer) else {
            return;
        };
        self.out.push_back(Output::CancelOffer { entry: id, agent });
        self.agents.update(agent, |a| a.offer = None);
        self.skip(id, agent);
        self.release(id, agent);
    }

    pub(super) fn login(
        &mut self,
        now: Instant,
        agent: AgentId,
        tiers: Vec<Tier>,
        reachable: bool,
    ) {
        if self.agents.get(agent).is_none() {
            self.agents
                .insert(Agent::new(agent, tiers.clone(), reachable, now));
        }
        self.agents.update(agent, |a| {
            a.tiers = tiers;
            a.reachable = reachable;
        });
        if self.state(agent) == Some(AgentState::Offline) {
            self.transition(agent, AgentState::Available, StateReason::Login, |a| {
                a.idle_since = now;
                a.misses = 0;
            });
        }
    }

    pub(super) fn logout(&mut self, agent: AgentId) {
        match self.state(agent) {
            None => self.stale += 1,
            Some(AgentState::Offline) => {}
            Some(AgentState::OnCall) => {
                self.agents
                    .update(agent, |a| a.after_call = Some(AfterCall::Logout));
            }
            Some(state) => {
                if state == AgentState::Ringing {
                    self.withdraw(agent);
                }
                self.timers.cancel(Timer::WrapUp(agent));
                self.transition(agent, AgentState::Offline, StateReason::Logout, |_| {});
            }
        }
    }

    pub(super) fn pause(&mut self, agent: AgentId, reason: String) {
        match self.state(agent) {
            None => self.stale += 1,
            Some(AgentState::Offline | AgentState::Paused) => {}
            Some(AgentState::OnCall) => {
                self.agents
                    .update(agent, |a| a.after_call = Some(AfterCall::Pause(reason)));
            }
            Some(state) => {
                if state == AgentState::Ringing {
                    self.withdraw(agent);
                }
                self.timers.cancel(Timer::WrapUp(agent));
                self.transition(
                    agent,
                    AgentState::Paused,
                    StateReason::Pause(reason),
                    |_| {},
                );
            }
        }
    }

    pub(super) fn resume(&mut self, now: Instant, agent: AgentId) {
        match self.state(agent) {
            None => self.stale += 1,
            Some(AgentState::Paused) => {
                // Back from a pause, the agent may be offered any caller
                // again, also one whose offer the pause withdrew (an agent
                // busy on another daemon's call is paused here meanwhile).
                for e in self.queue.entries.values_mut() {
                    e.skip.retain(|a| *a != agent);
                }
                self.transition(agent, AgentState::Available, StateReason::Resume, |a| {
                    a.misses = 0;
                    a.idle_since = now;
                });
            }
            Some(AgentState::OnCall) => {
                self.agents.update(agent, |a| {
                    if matches!(a.after_call, Some(AfterCall::Pause(_))) {
                        a.after_call = None;
                    }
                });
            }
            Some(_) => {}
        }
    }

    pub(super) fn reachability(&mut self, agent: AgentId, reachable: bool) {
        let Some(state) = self.state(agent) else {
            self.stale += 1;
            return;
        };
        if !reachable && state == AgentState::Ringing {
            self.withdraw(agent);
            self.transition(
                agent,
                AgentState::Available,
                StateReason::Unreachable,
                |_| {},
            );
        }
        self.agents.update(agent, |a| a.reachable = reachable);
    }

    pub(super) fn ringing_for(&self, agent: AgentId, entry: QueueEntryId) -> bool {
        self.agents
            .get(agent)
            .is_some_and(|a| a.state == AgentState::Ringing && a.offer == Some(entry))
    }

    pub(super) fn answered(&mut self, now: Instant, id: QueueEntryId, agent: AgentId) {
        if !self.ringing_for(agent, id) {
            self.stale += 1;
            return;
        }
        let Some(e) = self.queue.remove(id) else {
            self.stale += 1;
            return;
        };
        for t in Timer::of_entry(id) {
            self.timers.cancel(t);
        }
        let offer = e.offer.clone().unwrap_or(OfferState {
            agents: vec![agent],
            tier: e.new.tier,
        });
        for other in offer.agents.iter().filter(|a| **a != agent) {
            self.out.push_back(Output::CancelOffer {
                entry: id,
                agent: *other,
            });
            self.transition(
                *other,
                AgentState::Available,
                StateReason::AnsweredElsewhere,
                |a| a.offer = None,
            );
        }
        self.transition(agent, AgentState::OnCall, StateReason::Answered, |a| {
            a.offer = None;
            a.misses = 0;
            a.calls_taken += 1;
            a.answered_at = Some(now);
        });
        let record = self.record_next();
        self.out.push_back(Output::Assigned {
            entry: id,
            ticket: e.new.ticket,
            agent,
            tier: offer.tier,
            waited: e.waited(now),
            record,
        });
    }

    pub(super) fn failed(&mut self, id: QueueEntryId, agent: AgentId, why: OfferFailure) {
        if !self.ringing_for(agent, id) {
            self.stale += 1;
            return;
        }
        self.skip(id, agent);
        self.release(id, agent);
        match why {
            OfferFailure::NoAnswer => self.missed(agent),
            OfferFailure::Busy | OfferFailure::Declined => {
                let reason = if why == OfferFailure::Busy {
                    StateReason::Busy
                } else {
                    StateReason::Declined
                };
                self.transition(agent, AgentState::Available, reason, |a| a.offer = None);
            }
            OfferFailure::Unreachable => {
                self.out.push_back(Output::AgentUnreachable { agent });
                self.transition(
                    agent,
                    AgentState::Available,
                    StateReason::Unreachable,
                    |a| {
                        a.offer = None;
                        a.reachable = false;
                    },
                );
            }
        }
    }

    pub(super) fn call_ended(&mut self, now: Instant, agent: AgentId) {
        let Some(a) = self.agents.get(agent) else {
            self.stale += 1;
            return;
        };
        if a.state != AgentState::OnCall {
            self.stale += 1;
            return;
        }
        if let Some(at) = a.answered_at {
            let measured = now.saturating_duration_since(at) + self.s.wrap_up;
            self.handle_time = self.handle_time.mul_f64(1.0 - HANDLE_TIME_WEIGHT)
                + measured.mul_f64(HANDLE_TIME_WEIGHT);
        }
        let after = a.after_call.clone();
        let clear = |a: &mut Agent| {
            a.after_call = None;
            a.answered_at = None;
        };
        match after {
            Some(AfterCall::Logout) => {
                self.transition(agent, AgentState::Offline, StateReason::Logout, clear)
            }
            Some(AfterCall::Pause(r)) => {
                self.transition(agent, AgentState::Paused, StateReason::Pause(r), clear)
            }
            None if self.s.wrap_up.is_zero() => {
                self.transition(agent, AgentState::Available, StateReason::CallEnded, |a| {
                    clear(a);
                    a.idle_since = now;
                })
            }
            None => {
                self.transition(agent, AgentState::WrapUp, StateReason::CallEnded, clear);
                self.timers.set(Timer::WrapUp(agent), now + self.s.wrap_up);
            }
        }
    }

    /// A transfer to one agent: an escalation to `to` whose first offer,
    /// if `agent` is free now, goes to that agent alone (whatever the
    /// strategy would pick). Otherwise the entry waits for its tier like
    /// any escalation; a miss or refusal by the target leaves it the same.
    pub(super) fn transfer(&mut self, now: Instant, new: NewEntry, agent: AgentId, to: Tier) {
        let id = new.id;
        let ticket = new.ticket;
        if self.queue.entries.contains_key(&id) {
            self.stale += 1;
            return;
        }
        self.enqueue(now, new, Some(to));
        let free = self.agents.get(agent).is_some_and(Agent::is_free);
        if free {
            self.offer(now, id, to, vec![agent]);
        } else {
            self.out.push_back(Output::TransferToTier {
                entry: id,
                ticket,
                agent,
                tier: to,
            });
        }
    }
}
