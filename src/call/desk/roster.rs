//! Keeping routing's view of the agents in step with the roster: what a
//! change to an agent's row (made by the CLI, the admin API, a feature
//! code, a phone registering) means for the routing core, and what is only
//! the echo of routing's own state writes.

use crate::agents::{AgentId, AgentState, Tier};
use crate::routing::io::Input;

/// What the desk knows of an agent, to tell roster changes from echoes of
/// its own writes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Known {
    pub(super) state: AgentState,
    pub(super) tiers: Vec<Tier>,
    pub(super) reachable: bool,
    pub(super) user: String,
}

/// What routing must be told when an agent's roster row changes from
/// `old` (what the desk knew) to `new`. States routing sets itself
/// (ringing, on a call, wrap-up) are echoes of its own decisions.
pub(super) fn roster_inputs(
    agent: AgentId,
    old: Option<&Known>,
    new: &Known,
    enabled: bool,
    reason: Option<&str>,
) -> Vec<Input> {
    let login = || Input::Login {
        agent,
        tiers: new.tiers.clone(),
        reachable: new.reachable,
    };
    let mut out = Vec::new();
    if !enabled {
        return vec![Input::Logout { agent }];
    }
    let was = old.map(|o| o.state);
    match new.state {
        AgentState::Available if was != Some(AgentState::Available) => match was {
            Some(AgentState::Paused) => out.push(Input::Resume { agent }),
            Some(AgentState::WrapUp | AgentState::OnCall | AgentState::Ringing) => {}
            _ => out.push(login()),
        },
        AgentState::Paused if was != Some(AgentState::Paused) => {
            if matches!(was, None | Some(AgentState::Offline)) {
                out.push(login());
            }
            out.push(Input::Pause {
                agent,
                reason: reason.unwrap_or("paused").to_string(),
            });
        }
        AgentState::Offline if was.is_some_and(|w| w != AgentState::Offline) => {
            out.push(Input::Logout { agent })
        }
        // After a restart the roster may say ringing/on_call/wrap_up for a
        // call that no longer exists: the agent is logged in and free.
        AgentState::Ringing | AgentState::OnCall | AgentState::WrapUp if was.is_none() => {
            out.push(login())
        }
        _ => {}
    }
    if let Some(o) = old {
        let changed = o.reachable != new.reachable || o.tiers != new.tiers;
        if changed && out.is_empty() && new.state != AgentState::Offline {
            out.push(if o.tiers != new.tiers {
                login()
            } else {
                Input::Reachability {
                    agent,
                    reachable: new.reachable,
                }
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(state: AgentState, reachable: bool) -> Known {
        Known {
            state,
            tiers: vec![Tier::L1],
            reachable,
            user: "a".into(),
        }
    }

    #[test]
    fn roster_changes_become_routing_inputs_and_echoes_do_not() {
        let id = AgentId(1);
        // First sight of an available agent: login.
        let i = roster_inputs(id, None, &known(AgentState::Available, true), true, None);
        assert!(matches!(
            i.as_slice(),
            [Input::Login {
                reachable: true,
                ..
            }]
        ));
        // Paused by the CLI.
        let i = roster_inputs(
            id,
            Some(&known(AgentState::Available, true)),
            &known(AgentState::Paused, true),
            true,
            Some("lunch"),
        );
        assert!(matches!(i.as_slice(), [Input::Pause { reason, .. }] if reason == "lunch"));
        // Resumed.
        let i = roster_inputs(
            id,
            Some(&known(AgentState::Paused, true)),
            &known(AgentState::Available, true),
            true,
            None,
        );
        assert!(matches!(i.as_slice(), [Input::Resume { .. }]));
        // Routing's own ringing -> on_call -> wrap_up -> available: echoes.
        for (a, b) in [
            (AgentState::Available, AgentState::Ringing),
            (AgentState::Ringing, AgentState::OnCall),
            (AgentState::OnCall, AgentState::WrapUp),
            (AgentState::WrapUp, AgentState::Available),
        ] {
            let i = roster_inputs(id, Some(&known(a, true)), &known(b, true), true, None);
            assert!(i.is_empty(), "{a} -> {b} gave {i:?}");
        }
        // The phone became unreachable.
        let i = roster_inputs(
            id,
            Some(&known(AgentState::Available, true)),
            &known(AgentState::Available, false),
            true,
            None,
        );
        assert!(matches!(
            i.as_slice(),
            [Input::Reachability {
                reachable: false,
                ..
            }]
        ));
        // Logged out; disabled.
        let i = roster_inputs(
            id,
            Some(&known(AgentState::Available, true)),
            &known(AgentState::Offline, true),
            true,
            None,
        );
        assert!(matches!(i.as_slice(), [Input::Logout { .. }]));
        let i = roster_inputs(id, None, &known(AgentState::Available, true), false, None);
        assert!(matches!(i.as_slice(), [Input::Logout { .. }]));
    }
}
