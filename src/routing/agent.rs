//! Agents as the router sees them, and the index of free agents.
//!
//! An agent is *free* when `Available` and reachable (a registered phone
//! answers keep-alives). Free agents sit in one ordered set per tier they
//! serve, keyed by the strategy's preference ([`PickKey`]), so choosing an
//! agent is the first key of a set. Every change of state or key goes
//! through [`Agents::update`], which takes the agent out of the sets and
//! puts it back, so the sets cannot go stale.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::agents::{AgentId, AgentState, Tier};
use crate::config::RoutingStrategy;

use super::queue::{QueueEntryId, TierMask};

/// What happens when the agent's current call ends, asked for during it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCall {
    Pause(String),
    Logout,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: AgentId,
    pub tiers: Vec<Tier>,
    pub mask: TierMask,
    pub state: AgentState,
    pub reachable: bool,
    /// End of the last wrap-up (or login, or resume): longest idle first.
    pub idle_since: Instant,
    pub calls_taken: u64,
    /// Offers missed in a row (ring timeout); reset by an answer or resume.
    pub misses: u32,
    /// For round robin: when (in offers made) this agent was last offered.
    pub last_offer: u64,
    /// The entry offered to this agent while `Ringing`.
    pub offer: Option<QueueEntryId>,
    pub answered_at: Option<Instant>,
    pub after_call: Option<AfterCall>,
    /// The key under which the agent is in the free sets, if it is.
    listed: Option<PickKey>,
}

/// Preference among free agents, smallest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PickKey {
    pub first: u64,
    pub idle_since: Instant,
    pub id: AgentId,
}

/// A read-only view for the shell, tests and the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentView {
    pub id: AgentId,
    pub tiers: Vec<Tier>,
    pub state: AgentState,
    pub reachable: bool,
    pub idle_since: Instant,
    pub calls_taken: u64,
    pub misses: u32,
}

impl Agent {
    pub fn new(id: AgentId, tiers: Vec<Tier>, reachable: bool, now: Instant) -> Self {
        Self {
            id,
            mask: TierMask::of(&tiers),
            tiers,
            state: AgentState::Offline,
            reachable,
            idle_since: now,
            calls_taken: 0,
            misses: 0,
            last_offer: 0,
            offer: None,
            answered_at: None,
            after_call: None,
            listed: None,
        }
    }

    pub fn view(&self) -> AgentView {
        AgentView {
            id: self.id,
            tiers: self.tiers.clone(),
            state: self.state,
            reachable: self.reachable,
            idle_since: self.idle_since,
            calls_taken: self.calls_taken,
            misses: self.misses,
        }
    }

    pub fn is_free(&self) -> bool {
        self.state == AgentState::Available && self.reachable
    }

    /// Logged in and taking calls (not offline, not paused): they count
    /// for the expected wait and for "no agent logged in".
    pub fn is_staffed(&self) -> bool {
        !matches!(self.state, AgentState::Offline | AgentState::Paused)
    }

    fn key(&self, strategy: RoutingStrategy) -> PickKey {
        let first = match strategy {
            RoutingStrategy::LongestIdle | RoutingStrategy::RingAll => 0,
            RoutingStrategy::FewestCalls => self.calls_taken,
            RoutingStrategy::RoundRobin => self.last_offer,
        };
        PickKey {
            first,
            idle_since: self.idle_since,
            id: self.id,
        }
    }
}

#[derive(Debug)]
pub struct Agents {
    strategy: RoutingStrategy,
    map: HashMap<AgentId, Agent>,
    free: [BTreeSet<PickKey>; 3],
    /// Staffed agents per tier mask (8 masks), so "agents serving these
    /// tiers" is a sum of at most 7 counters, each agent counted once.
    staffed: [u32; 8],
}

impl Agents {
    pub fn new(strategy: RoutingStrategy) -> Self {
        Self {
            strategy,
            map: HashMap::new(),
            free: Default::default(),
            staffed: [0; 8],
        }
    }

    /// Re-key every free agent for another strategy (a reload).
    pub fn set_strategy(&mut self, strategy: RoutingStrategy) {
        if strategy == self.strategy {
            return;
        }
        self.strategy = strategy;
        let ids: Vec<AgentId> = self.map.keys().copied().collect();
        for id in ids {
            self.update(id, |_| {});
        }
    }

    pub fn get(&self, id: AgentId) -> Option<&Agent> {
        self.map.get(&id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn insert(&mut self, agent: Agent) {
        let id = agent.id;
        self.map.insert(id, agent);
        self.update(id, |_| {});
    }

    /// Change an agent and keep the free sets and counters true.
    pub fn update<R>(&mut self, id: AgentId, f: impl FnOnce(&mut Agent) -> R) -> Option<R> {
        let a = self.map.get_mut(&id)?;
        if let Some(key) = a.listed.take() {
            for t in &a.tiers {
                self.free[TierMask::index(*t)].remove(&key);
            }
        }
        if a.is_staffed() {
            self.staffed[a.mask.bits()] -= 1;
        }
        let r = f(a);
        a.mask = TierMask::of(&a.tiers);
        if a.is_staffed() {
            self.staffed[a.mask.bits()] += 1;
        }
        if a.is_free() {
            let key = a.key(self.strategy);
            for t in &a.tiers {
                self.free[TierMask::index(*t)].insert(key);
            }
            a.listed = Some(key);
        }
        Some(r)
    }

    /// Free agents of tier `t`, preferred first.
    pub fn free_of(&self, t: Tier) -> impl Iterator<Item = AgentId> + '_ {
        self.free[TierMask::index(t)].iter().map(|k| k.id)
    }

    pub fn any_free(&self, t: Tier) -> bool {
        !self.free[TierMask::index(t)].is_empty()
    }

    /// Staffed agents serving any tier of `mask` (each agent once).
    pub fn staffed_for(&self, mask: TierMask) -> u32 {
        (1..8)
            .filter(|m| mask.intersects(TierMask::from_bits(*m)))
            .map(|m| self.staffed[m])
            .sum()
    }

    pub fn views(&self) -> impl Iterator<Item = AgentView> + '_ {
        self.map.values().map(Agent::view)
    }
}
