//! The desk's key figures (`hotline report`, `GET /api/report`), computed
//! in SQL over tickets, their history, call records and agent events, one
//! query per figure; and the quality-control sample supervisors review.
//!
//! - [`model`]: the report's shape (figures with targets, SLA rows, desk rows).
//! - [`period`]: `--from` / `--to` as people type them.
//! - [`tickets`]: figures over tickets (first-contact resolution, response
//!   time, repeat rate, satisfaction, SLA compliance), groupable `--by`.
//! - [`calls`]: figures over call records (three rings, abandoned calls,
//!   queue service level).
//! - [`desk`]: per agent and per tier (calls, talk, wrap-up, occupancy).
//! - [`render`]: the text table and CSV. [`sample`]: the QC draw.
//!
//! Each figure's definition is in the README ("Reports"); the targets are
//! the service standard's, configurable under `[report]`.

pub mod calls;
pub mod desk;
pub mod model;
pub mod period;
pub mod render;
pub mod sample;
pub mod tickets;

use std::str::FromStr;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use crate::config::Config;
pub use model::{DeskRow, Figure, Group, Report, SlaRow, Target, Timing, Unit};
pub use period::PeriodError;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("HL-REPORT-DB: database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Period(#[from] PeriodError),
    #[error("HL-REPORT-BY: `{0}` is not a dimension; use agent, tier, severity or category")]
    Dimension(String),
}

/// What `--by` groups the ticket figures by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// The agent who last took the ticket (`assigned_agent`).
    Agent,
    /// The ticket's tier now (`assigned_tier`).
    Tier,
    Severity,
    Category,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Tier => "tier",
            Self::Severity => "severity",
            Self::Category => "category",
        }
    }

    /// The column, as SQL over `tickets t`; from this closed list only.
    fn column(self) -> &'static str {
        match self {
            Self::Agent => "t.assigned_agent",
            Self::Tier => "t.assigned_tier",
            Self::Severity => "t.severity",
            Self::Category => "t.category",
        }
    }
}

impl FromStr for Dimension {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, ReportError> {
        Ok(match s.trim() {
            "agent" => Self::Agent,
            "tier" => Self::Tier,
            "severity" => Self::Severity,
            "category" => Self::Category,
            other => return Err(ReportError::Dimension(other.to_string())),
        })
    }
}

/// The targets and thresholds in force (from `[report]`, `[answer]` and
/// the SLA table).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub fcr_target: f64,
    pub response_target: TimeDelta,
    pub satisfaction_target: f64,
    pub repeat_target: f64,
    pub repeat_window: TimeDelta,
    pub answer_rings: u32,
    /// `answer_rings` rings of `answer.ring_period`.
    pub answer_within: TimeDelta,
    pub answer_target: f64,
    pub service_level_wait: TimeDelta,
    pub service_level_target: f64,
    pub sample_calls: f64,
    pub sample_tickets: f64,
    /// The SLA table: name, response and resolution targets, in order.
    pub severities: Vec<(String, TimeDelta, TimeDelta)>,
}

impl Settings {
    pub fn from_config(c: &Config) -> Self {
        let r = &c.report;
        Self {
            fcr_target: r.fcr_target,
            response_target: r.response_target.as_chrono(),
            satisfaction_target: r.satisfaction_target,
            repeat_target: r.repeat_target,
            repeat_window: r.repeat_window.as_chrono(),
            answer_rings: r.answer_rings,
            answer_within: c.answer.ring_period.as_chrono() * r.answer_rings as i32,
            answer_target: r.answer_target,
            service_level_wait: r.service_level_wait.as_chrono(),
            service_level_target: r.service_level_target,
            sample_calls: r.sample_calls,
            sample_tickets: r.sample_tickets,
            severities: c
                .sla
                .severities
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        s.response.as_chrono(),
                        s.resolution.as_chrono(),
                    )
                })
                .collect(),
        }
    }
}

/// What a report is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub by: Option<Dimension>,
    /// Deadlines still ahead of `now` are pending, not breached; agent
    /// states still running are counted up to `now`.
    pub now: DateTime<Utc>,
}

/// Times each query as it runs.
pub(crate) struct Clock(Vec<Timing>);

impl Clock {
    pub(crate) async fn time<T, F: std::future::Future<Output = T>>(
        &mut self,
        query: &'static str,
        f: F,
    ) -> T {
        let start = Instant::now();
        let out = f.await;
        self.0.push(Timing {
            query,
            elapsed: start.elapsed(),
        });
        out
    }
}

/// Compute the report, one query per figure, and how long each took.
pub async fn build(
    pool: &PgPool,
    q: &Query,
    s: &Settings,
) -> Result<(Report, Vec<Timing>), ReportError> {
    let mut clock = Clock(Vec::new());
    let mut figures = Vec::new();
    let mut groups = tickets::Groups::default();
    tickets::figures(pool, q, s, &mut clock, &mut figures, &mut groups).await?;
    calls::figures(pool, q, s, &mut clock, &mut figures).await?;
    let sla = tickets::sla(pool, q, s, &mut clock).await?;
    let (agents, tiers) = clock
        .time("desk_per_agent_and_tier", desk::rows(pool, q))
        .await?;
    let report = Report {
        from: q.from,
        to: q.to,
        generated_at: q.now,
        figures,
        sla,
        agents,
        tiers,
        by: q.by.map(|d| d.as_str().to_string()),
        groups: groups.into_groups(),
    };
    Ok((report, clock.0))
}
