//! The roster's vocabulary: typed agent IDs, tiers and states.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An agent's row id in the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub i64);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Support tiers (SERVICE-STANDARD "Tiers"): L1 first line, L2 product
/// specialists, L3 experts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Tier {
    L1,
    L2,
    L3,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::L1, Tier::L2, Tier::L3];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "L1",
            Tier::L2 => "L2",
            Tier::L3 => "L3",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tier name that is not L1, L2 or L3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HL-AGENT-TIER: `{0}` is not a tier; use L1, L2 or L3")]
pub struct BadTier(pub String);

impl FromStr for Tier {
    type Err = BadTier;
    fn from_str(s: &str) -> Result<Tier, BadTier> {
        match s.trim().to_ascii_uppercase().as_str() {
            "L1" => Ok(Tier::L1),
            "L2" => Ok(Tier::L2),
            "L3" => Ok(Tier::L3),
            _ => Err(BadTier(s.to_string())),
        }
    }
}

/// Where an agent is in the working day. Being registered (a phone is
/// reachable) is separate: an agent can be `Available` with no reachable
/// phone, and routing then offers them nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Logged out: takes no calls.
    Offline,
    /// Logged in and idle: routing may offer a call.
    Available,
    /// A call is being offered; their phone rings.
    Ringing,
    /// Talking to a caller.
    OnCall,
    /// After a call, for the configured seconds.
    WrapUp,
    /// Logged in but not taking calls (with a reason).
    Paused,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Offline => "offline",
            AgentState::Available => "available",
            AgentState::Ringing => "ringing",
            AgentState::OnCall => "on_call",
            AgentState::WrapUp => "wrap_up",
            AgentState::Paused => "paused",
        }
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgentState {
    type Err = String;
    fn from_str(s: &str) -> Result<AgentState, String> {
        Ok(match s {
            "offline" => AgentState::Offline,
            "available" => AgentState::Available,
            "ringing" => AgentState::Ringing,
            "on_call" => AgentState::OnCall,
            "wrap_up" => AgentState::WrapUp,
            "paused" => AgentState::Paused,
            other => return Err(format!("unknown agent state `{other}`")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_and_states_round_trip() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>(), Ok(t));
        }
        assert_eq!("l2".parse::<Tier>(), Ok(Tier::L2));
        assert!("L4".parse::<Tier>().is_err());
        for s in [
            AgentState::Offline,
            AgentState::Available,
            AgentState::Ringing,
            AgentState::OnCall,
            AgentState::WrapUp,
            AgentState::Paused,
        ] {
            assert_eq!(s.as_str().parse::<AgentState>(), Ok(s));
        }
    }
}
