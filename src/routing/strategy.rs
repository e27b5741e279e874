//! Which free agents an entry is offered to.
//!
//! The entry's tiers are tried in their order (the ticket's tier, then the
//! overflow tiers): an L3 expert takes a critical call whenever one is
//! free, and L2 only when none is. Within the first tier that has a free
//! agent the strategy's preference decides; the free sets are already
//! sorted by it (see [`PickKey`](super::agent::PickKey)), so this is the
//! first agent not skipped for this entry, or all of them for `ring_all`.

use crate::agents::{AgentId, Tier};
use crate::config::RoutingStrategy;

use super::agent::Agents;
use super::queue::Entry;

/// The agents to ring for `entry` and the tier they serve it in; `None`
/// when no allowed tier has a free agent that has not been skipped.
pub fn pick(
    strategy: RoutingStrategy,
    agents: &Agents,
    entry: &Entry,
) -> Option<(Tier, Vec<AgentId>)> {
    for tier in &entry.tiers {
        let mut eligible = agents.free_of(*tier).filter(|a| !entry.skip.contains(a));
        let chosen: Vec<AgentId> = match strategy {
            RoutingStrategy::RingAll => eligible.collect(),
            _ => eligible.next().into_iter().collect(),
        };
        if !chosen.is_empty() {
            return Some((*tier, chosen));
        }
    }
    None
}

/// Whether tier `t` has a free agent `entry` has not skipped: at most
/// `skip.len() + 1` steps, since skipped agents are few.
pub fn has_eligible(agents: &Agents, t: Tier, entry: &Entry) -> bool {
    agents.free_of(t).any(|a| !entry.skip.contains(&a))
}
