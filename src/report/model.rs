//! What a report is made of: figures with their target from the service
//! standard, the SLA table per severity, the desk per agent and per tier.
//! Serialized as the JSON of `hotline report --json` and `GET /api/report`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a figure's value measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A share from 0 to 1 (`part` of `whole`).
    Share,
    /// A duration in seconds (an average).
    Seconds,
    /// A score on the survey's 1..5 scale.
    Score,
}

/// Which way a target points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    AtLeast,
    AtMost,
}

/// A number from the standard (configurable under `[report]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub goal: Goal,
    pub value: f64,
}

impl Target {
    pub fn at_least(value: f64) -> Self {
        Self {
            goal: Goal::AtLeast,
            value,
        }
    }

    pub fn at_most(value: f64) -> Self {
        Self {
            goal: Goal::AtMost,
            value,
        }
    }

    pub fn met_by(&self, v: f64) -> bool {
        match self.goal {
            Goal::AtLeast => v >= self.value,
            Goal::AtMost => v <= self.value,
        }
    }
}

/// One key figure. `value` is `None` when there is nothing to measure
/// (no tickets in the period, no survey yet): "no data", never a zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Stable name for scripts, e.g. `first_contact_resolution`.
    pub key: String,
    pub label: String,
    pub unit: Unit,
    pub value: Option<f64>,
    /// What the value was computed from: `part` of `whole` for a share;
    /// for an average, `whole` is how many were averaged.
    pub part: Option<i64>,
    pub whole: i64,
    pub target: Option<Target>,
    /// Whether the value meets the target (`None`: no data or no target).
    pub meets: Option<bool>,
    /// Why there is no value, or what the figure leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Figure {
    /// A share `part / whole` (no data when `whole` is 0).
    pub fn share(key: &str, label: &str, part: i64, whole: i64, target: Option<Target>) -> Self {
        let value = (whole > 0).then(|| part as f64 / whole as f64);
        Self::new(key, label, Unit::Share, value, Some(part), whole, target)
    }

    /// An average over `count` items.
    pub fn average(
        key: &str,
        label: &str,
        unit: Unit,
        value: Option<f64>,
        count: i64,
        target: Option<Target>,
    ) -> Self {
        let value = value.filter(|_| count > 0);
        Self::new(key, label, unit, value, None, count, target)
    }

    fn new(
        key: &str,
        label: &str,
        unit: Unit,
        value: Option<f64>,
        part: Option<i64>,
        whole: i64,
        target: Option<Target>,
    ) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            unit,
            meets: value.zip(target).map(|(v, t)| t.met_by(v)),
            value,
            part,
            whole,
            target,
            note: None,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Met, breached and still running, for one deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineCount {
    pub met: i64,
    pub breached: i64,
    /// Not yet done and the deadline is still ahead.
    pub pending: i64,
}

impl DeadlineCount {
    /// Met among those decided (met or breached); `None` when none is.
    pub fn compliance(&self) -> Option<f64> {
        let decided = self.met + self.breached;
        (decided > 0).then(|| self.met as f64 / decided as f64)
    }
}

/// SLA compliance of one severity level, with the targets in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaRow {
    pub severity: String,
    pub tickets: i64,
    /// The configured targets (seconds); `None` for a level no longer in
    /// the table (its tickets keep their own promise).
    pub response_target_s: Option<i64>,
    pub resolution_target_s: Option<i64>,
    pub response: DeadlineCount,
    pub resolution: DeadlineCount,
}

/// The desk's work for one agent or one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeskRow {
    /// The agent's SIP user, or the tier (`L1`..`L3`).
    pub name: String,
    /// Calls taken (changes to `on_call`) in the period.
    pub calls: i64,
    pub talk_s: f64,
    pub wrap_up_s: f64,
    /// Logged in and not paused: available, ringing, on a call, wrap-up.
    pub staffed_s: f64,
    /// (talk + wrap-up) / staffed; `None` when never staffed.
    pub occupancy: Option<f64>,
}

/// Ticket figures per value of a dimension (`--by`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The value (`-` for none, e.g. a ticket without a category).
    pub key: String,
    pub figures: Vec<Figure>,
}

/// The whole report for one period `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub figures: Vec<Figure>,
    pub sla: Vec<SlaRow>,
    pub agents: Vec<DeskRow>,
    pub tiers: Vec<DeskRow>,
    /// `--by`: the dimension, and the ticket figures per value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
}

impl Report {
    /// A headline figure by key (tests, scripts).
    pub fn figure(&self, key: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.key == key)
    }
}

/// How long one figure's query took (the benchmark prints these).
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub query: &'static str,
    pub elapsed: std::time::Duration,
}
