//! The routing rules in force, resolved once from [`Config`] into the
//! shapes the core needs (tiers parsed, overflow stages sorted, durations
//! as `std::time::Duration`), so no event re-reads configuration.

use std::time::Duration;

use crate::agents::Tier;
use crate::config::{Config, QueueOrder, RecordingMode, RoutingStrategy, WhenNoAgents};

/// One severity level as routing sees it; its rank is its index in
/// [`Settings::severities`] (the order of the SLA table).
#[derive(Debug, Clone, PartialEq)]
pub struct SeverityRoute {
    pub name: String,
    /// The tier of the SLA table row: tried first.
    pub tier: Tier,
    /// `(after, tiers)` by increasing `after`: after that wait in the queue
    /// these tiers may take the call as well.
    pub overflow: Vec<(Duration, Vec<Tier>)>,
    /// The callback offer comes after this wait.
    pub max_wait: Option<Duration>,
}

/// Everything the [`Router`](super::Router) decides by.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub order: QueueOrder,
    pub strategy: RoutingStrategy,
    pub ring_timeout: Duration,
    pub max_misses: u32,
    pub announce_every: Duration,
    pub sla_risk_margin: Duration,
    pub when_no_agents: WhenNoAgents,
    /// `agents.wrap_up`.
    pub wrap_up: Duration,
    pub expected_handle_time: Duration,
    pub recording: RecordingMode,
    pub recording_share: f64,
    pub severities: Vec<SeverityRoute>,
}

impl Settings {
    /// From a validated configuration (tier names that do not parse, which
    /// validation refuses, are dropped rather than panic).
    pub fn from_config(c: &Config) -> Self {
        let r = &c.routing;
        let overflow = r.overflow_rules(&c.sla);
        let max_wait = r.max_wait_rules(&c.sla);
        let severities = c
            .sla
            .severities
            .iter()
            .map(|s| {
                let mut stages: Vec<(Duration, Vec<Tier>)> = overflow
                    .iter()
                    .filter(|o| o.severity == s.name)
                    .map(|o| {
                        let tiers = o.tiers.iter().filter_map(|t| t.parse().ok()).collect();
                        (o.after.as_duration(), tiers)
                    })
                    .collect();
                stages.sort_by_key(|(after, _)| *after);
                SeverityRoute {
                    name: s.name.clone(),
                    tier: s.tier.parse().unwrap_or(Tier::L1),
                    overflow: stages,
                    max_wait: max_wait
                        .iter()
                        .find(|m| m.severity == s.name)
                        .map(|m| m.after.as_duration()),
                }
            })
            .collect();
        Self {
            order: r.order,
            strategy: r.strategy,
            ring_timeout: r.ring_timeout.as_duration(),
            max_misses: r.max_misses.max(1),
            announce_every: r.announce_every.as_duration().max(Duration::from_secs(1)),
            sla_risk_margin: r.sla_risk_margin.as_duration(),
            when_no_agents: r.when_no_agents,
            wrap_up: c.agents.wrap_up.as_duration(),
            expected_handle_time: r.expected_handle_time.as_duration(),
            recording: r.recording,
            recording_share: r.recording_share.clamp(0.0, 1.0),
            severities,
        }
    }

    /// The rank (index in the SLA table) of a severity; an unknown name
    /// (a table changed by a reload under waiting callers) ranks last.
    pub fn rank(&self, severity: &str) -> usize {
        self.severities
            .iter()
            .position(|s| s.name == severity)
            .unwrap_or(self.severities.len())
    }
}
