//! Several daemons, one database: what the desk writes of routing's
//! agent states, and how it follows an agent that another daemon took.
//!
//! Each daemon routes its own callers from its own memory; agents, their
//! states and bindings are shared in PostgreSQL. So:
//! - a daemon writes only the states of agents it took itself (a won
//!   claim) until routing frees them again. Any other state change routing
//!   reports is the echo of a roster change (a login, pause, resume or
//!   log-out made by the CLI, a phone or another daemon) that the roster
//!   already holds; writing it again could undo another daemon's claim
//!   made in between. The one exception: an agent first seen in a call
//!   (a call lost in a restart) is written available by routing's login.
//! - an agent the roster shows ringing, on a call or in wrap-up that this
//!   daemon did not take is busy on another daemon's call: routing here
//!   pauses them ("busy on another daemon", not written) and resumes them
//!   when the roster shows them available again, so the caller waiting
//!   here gets them once the other call's wrap-up has passed. A claim lost
//!   to another daemon does the same at once.
//! - while this daemon's own writes for an agent are still on their way,
//!   the roster may show an older state of theirs: it is not taken for
//!   another daemon's doing.

use crate::agents::{AgentId, AgentState};
use crate::routing::io::{Input, StateReason};

use super::writer::{StateWrite, Write};
use super::Desk;

/// The pause reason routing holds for an agent busy elsewhere.
pub(super) const ELSEWHERE: &str = "busy on another daemon";

impl Desk {
    /// Routing moved `agent` to `to`: write it if it is this daemon's
    /// to write (see the module's doc).
    pub(super) fn write_state(&mut self, agent: AgentId, to: AgentState, reason: &StateReason) {
        // Being offered a call is written by the claim itself (the
        // conditional UPDATE that makes it atomic across daemons).
        if to == AgentState::Ringing && *reason == StateReason::Offered {
            return;
        }
        let ours = self.owned.contains(&agent)
            || (*reason == StateReason::Login && self.stale.remove(&agent));
        if !ours {
            tracing::debug!(agent = %agent, %to, %reason, "agent state not written: the roster's own change");
            return;
        }
        if !to.in_call() {
            self.owned.remove(&agent);
        }
        self.in_flight.add(agent);
        let w = Write::State(StateWrite {
            agent,
            to,
            reason: reason.to_string(),
            at: chrono::Utc::now(),
        });
        if self.writes.try_send(w).is_err() {
            self.in_flight.done(agent);
            tracing::warn!(agent = %agent, %to, "agent state write queue full: write dropped");
        }
    }

    /// `agent` is taken by another daemon's call: pause them in routing
    /// here (withdrawing an offer routing may have made meanwhile).
    pub(super) async fn busy_elsewhere(&mut self, agent: AgentId) {
        if self.remote.insert(agent) {
            tracing::info!(agent = %self.user(agent), "agent busy on another daemon's call");
            self.input(Input::Pause {
                agent,
                reason: ELSEWHERE.into(),
            })
            .await;
        }
    }

    /// The roster shows `agent` in `state`: notice another daemon taking
    /// them, or freeing them again.
    pub(super) async fn follow_elsewhere(&mut self, agent: AgentId, state: AgentState) {
        if state.in_call() {
            if !self.owned.contains(&agent) && !self.in_flight.any(agent) {
                self.busy_elsewhere(agent).await;
            }
            return;
        }
        if self.remote.remove(&agent) {
            tracing::info!(agent = %self.user(agent), %state, "agent free again after another daemon's call");
            // Paused or logged out meanwhile: the roster's own inputs say
            // so (routing holds them paused until then).
            if state == AgentState::Available {
                self.input(Input::Resume { agent }).await;
            }
        }
    }
}
