//! `[report]` (the targets the desk's key figures are shown against) and
//! `[sla_scan]` (the SLA clock that runs without calls). Split from
//! `types.rs` to keep each file readable in one sitting.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::ConfigDuration;
use super::types::SlaConfig;

/// `[report]`: the targets `hotline report` shows beside each figure
/// (defaults: the service standard) and the quality-control shares.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// First-contact resolution, share of resolved tickets (>= 0.8).
    pub fcr_target: f64,
    /// Average response time (<= 30 min).
    pub response_target: ConfigDuration,
    /// Satisfaction average on the 1..5 scale (>= 4.5).
    pub satisfaction_target: f64,
    /// Repeat rate (<= 0.05) and the window a repeat falls in (30 days).
    pub repeat_target: f64,
    pub repeat_window: ConfigDuration,
    /// "Answered within three rings": rings of `answer.ring_period`.
    pub answer_rings: u32,
    /// Share of calls answered within those rings (1.0: every call).
    pub answer_target: f64,
    /// Queue service level: share answered by an agent within this wait.
    pub service_level_wait: ConfigDuration,
    pub service_level_target: f64,
    /// Quality control: calls supervisors listen to (0.2), tickets audited (0.1).
    pub sample_calls: f64,
    pub sample_tickets: f64,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            fcr_target: 0.8,
            response_target: ConfigDuration(Duration::from_secs(30 * 60)),
            satisfaction_target: 4.5,
            repeat_target: 0.05,
            repeat_window: ConfigDuration(Duration::from_secs(30 * 86_400)),
            answer_rings: 3,
            answer_target: 1.0,
            service_level_wait: ConfigDuration(Duration::from_secs(20)),
            service_level_target: 0.8,
            sample_calls: 0.2,
            sample_tickets: 0.1,
        }
    }
}

/// `[sla_scan]`: the periodic scan of open tickets (one daemon at a time).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SlaScanConfig {
    pub enabled: bool,
    /// How often open tickets are scanned.
    pub scan_every: ConfigDuration,
    /// While work takes longer than this, the caller is due an update.
    pub progress_every: ConfigDuration,
    /// Absent: severities handled by L2 go to L3 after 2 h unsolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalate: Option<Vec<EscalateRule>>,
}

impl Default for SlaScanConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            scan_every: ConfigDuration(Duration::from_secs(30)),
            progress_every: ConfigDuration(Duration::from_secs(30 * 60)),
            escalate: None,
        }
    }
}

/// A `severity` ticket still unsolved `after` the tier `from` took it
/// moves to tier `to`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EscalateRule {
    pub severity: String,
    pub from: String,
    pub to: String,
    pub after: ConfigDuration,
}

impl SlaScanConfig {
    /// The rules in force: written ones, or the standard's (by tier, so
    /// the urgent/important/general table keeps it).
    pub fn escalate_rules(&self, sla: &SlaConfig) -> Vec<EscalateRule> {
        if let Some(rules) = &self.escalate {
            return rules.clone();
        }
        sla.severities
            .iter()
            .filter(|s| s.tier == "L2")
            .map(|s| EscalateRule {
                severity: s.name.clone(),
                from: "L2".into(),
                to: "L3".into(),
                after: ConfigDuration(Duration::from_secs(2 * 3600)),
            })
            .collect()
    }
}
