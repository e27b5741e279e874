//! The SLA policy in force: severity levels with their targets and tiers,
//! and the deadlines they give a ticket.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

use std::sync::Arc;

use crate::agents::Tier;
use crate::config::{Config, SeverityConfig, SlaClock};
use crate::hours::ServiceHours;

use super::model::{NewTicket, Ticket, TicketNumber, TicketStatus};

/// One level of the table, in the units tickets use.
#[derive(Debug, Clone, PartialEq)]
pub struct SeverityLevel {
    pub digit: char,
    pub name: String,
    pub meaning: String,
    pub response: TimeDelta,
    pub resolution: TimeDelta,
    pub tier: String,
}

/// The table of levels; built from validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaPolicy {
    levels: Vec<SeverityLevel>,
    /// The service hours a "staffed" SLA clock counts; `None`: 7x24.
    business_hours: Option<Arc<ServiceHours>>,
}

/// A severity the policy does not know.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("HL-SLA-SEVERITY: severity `{0}` is not in the SLA table in force ({1})")]
pub struct UnknownSeverity(pub String, pub String);

impl SlaPolicy {
    pub fn from_config(config: &Config) -> Self {
        let mut policy = Self::from_rows(&config.sla.severities);
        if config.hours.sla_clock == SlaClock::Staffed {
            // Validation refused a schedule that does not parse.
            if let Ok(hours) = ServiceHours::from_config(&config.hours) {
                policy.business_hours = Some(Arc::new(hours));
            }
        }
        policy
    }

    pub fn from_rows(rows: &[SeverityConfig]) -> Self {
        let levels = rows
            .iter()
            .map(|r| SeverityLevel {
                digit: r.digit.chars().next().unwrap_or('?'),
                name: r.name.clone(),
                meaning: r.meaning.clone(),
                response: r.response.as_chrono(),
                resolution: r.resolution.as_chrono(),
                tier: r.tier.clone(),
            })
            .collect();
        Self {
            levels,
            business_hours: None,
        }
    }

    /// The deadlines of a ticket of `level` received at `at`, and the
    /// clock they ran on: with a "staffed" clock only the service hours of
    /// the level's tier count (a tier that keeps no hours is staffed around
    /// the clock); a tier that never opens again falls back to 7x24, so a
    /// deadline is always given.
    fn deadlines(
        &self,
        level: &SeverityLevel,
        at: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>, SlaClock) {
        let staffed = self.business_hours.as_ref().and_then(|h| {
            let tier = level.tier.parse::<Tier>().ok()?;
            let response = h.add_staffed(tier, at, level.response)?;
            let resolution = h.add_staffed(tier, at, level.resolution)?;
            // Sub-second starts stay as PostgreSQL keeps them.
            Some((response.trunc_subsecs(6), resolution.trunc_subsecs(6)))
        });
        match staffed {
            Some((response, resolution)) => (response, resolution, SlaClock::Staffed),
            None => (at + level.response, at + level.resolution, SlaClock::Always),
        }
    }

    pub fn levels(&self) -> &[SeverityLevel] {
        &self.levels
    }

    pub fn by_name(&self, name: &str) -> Result<&SeverityLevel, UnknownSeverity> {
        self.levels.iter().find(|l| l.name == name).ok_or_else(|| {
            let known: Vec<_> = self.levels.iter().map(|l| l.name.as_str()).collect();
            UnknownSeverity(name.to_string(), known.join(", "))
        })
    }

    pub fn by_digit(&self, digit: char) -> Option<&SeverityLevel> {
        self.levels.iter().find(|l| l.digit == digit)
    }

    /// The full ticket row for `new`, numbered `number`, made at `now`.
    /// Deadlines count from `received_at`, the SLA start.
    pub fn ticket(
        &self,
        number: TicketNumber,
        new: NewTicket,
        now: DateTime<Utc>,
    ) -> Result<Ticket, UnknownSeverity> {
        let level = self.by_name(&new.severity)?;
        // PostgreSQL keeps microseconds: round here so the ticket the caller
        // is told about, the journal and the database row are identical.
        let received_at = new.received_at.trunc_subsecs(6);
        let answered_at = new.answered_at.map(|t| t.trunc_subsecs(6));
        // A clock step backwards must not give a ticket made before its call.
        let created_at = now.trunc_subsecs(6).max(received_at);
        let (response_due_at, resolution_due_at, sla_clock) = self.deadlines(level, received_at);
        Ok(Ticket {
            number,
            response_due_at,
            resolution_due_at,
            sla_clock,
            response_target: level.response,
            resolution_target: level.resolution,
            assigned_tier: level.tier.clone(),
            status: TicketStatus::Open,
            created_at,
            call_id: new.call_id,
            caller_number: new.caller_number,
            caller_name: new.caller_name,
            caller_private: new.caller_private,
            customer_ref: new.customer_ref,
            callback_number: new.callback_number,
            category: new.category,
            severity: new.severity,
            received_at,
            answered_at,
            first_response_at: None,
            resolved_at: None,
            assigned_agent: None,
            voice_note_path: None,
            recording_path: None,
            queue_wait: None,
            callback_requested_at: None,
            escalations: 0,
            flow_version: new.flow_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(severity: &str) -> NewTicket {
        NewTicket {
            call_id: "c1".into(),
            caller_number: "1000".into(),
            caller_name: None,
            caller_private: false,
            customer_ref: None,
            callback_number: None,
            category: None,
            severity: severity.into(),
            received_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            answered_at: None,
            flow_version: None,
        }
    }

    #[test]
    fn standard_table_deadlines_and_tiers() {
        let policy = SlaPolicy::from_config(&Config::default());
        let now = DateTime::from_timestamp(1_700_000_010, 0).unwrap();
        for (sev, resp_min, res_h, tier) in [
            ("critical", 30, 4, "L3"),
            ("major", 60, 8, "L2"),
            ("minor", 120, 24, "L1"),
        ] {
            let t = policy.ticket(TicketNumber(1), new(sev), now).unwrap();
            let start = t.received_at;
            assert_eq!(
                t.response_due_at - start,
                TimeDelta::minutes(resp_min),
                "{sev}"
            );
            assert_eq!(
                t.resolution_due_at - start,
                TimeDelta::hours(res_h),
                "{sev}"
            );
            assert_eq!(t.assigned_tier, tier);
        }
    }

    #[test]
    fn unknown_severity_names_the_table() {
        let policy = SlaPolicy::from_config(&Config::default());
        let err = policy
            .ticket(TicketNumber(1), new("urgent"), Utc::now())
            .unwrap_err();
        assert!(err.to_string().contains("critical, major, minor"));
    }

    #[test]
    fn created_never_before_received() {
        let policy = SlaPolicy::from_config(&Config::default());
        let early = DateTime::from_timestamp(1_600_000_000, 0).unwrap();
        let t = policy.ticket(TicketNumber(1), new("minor"), early).unwrap();
        assert_eq!(t.created_at, t.received_at);
    }

    #[test]
    fn a_staffed_clock_counts_only_the_tiers_hours_and_says_so() {
        let mut config = Config::default();
        config.hours.sla_clock = SlaClock::Staffed;
        config.hours.tiers.insert(
            "L1".into(),
            [("mon-fri".to_string(), "09:00-17:00".to_string())].into(),
        );
        let policy = SlaPolicy::from_config(&config);
        // Friday 16:00 UTC: one staffed hour left this week.
        let friday = DateTime::parse_from_rfc3339("2026-12-04T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut minor = new("minor");
        minor.received_at = friday;
        let t = policy.ticket(TicketNumber(1), minor, friday).unwrap();
        assert_eq!(t.sla_clock, SlaClock::Staffed);
        // 2 h response: Friday 16-17, then Monday 09-10.
        assert_eq!(t.response_due_at.to_rfc3339(), "2026-12-07T10:00:00+00:00");
        // 24 h resolution: 1 h Friday, 8 h each Mon, Tue, then 7 h Wed.
        assert_eq!(
            t.resolution_due_at.to_rfc3339(),
            "2026-12-09T16:00:00+00:00"
        );
        // L3 keeps no hours: staffed around the clock, so 30 min is 30 min.
        let mut critical = new("critical");
        critical.received_at = friday;
        let t = policy.ticket(TicketNumber(2), critical, friday).unwrap();
        assert_eq!(t.response_due_at - friday, TimeDelta::minutes(30));
        // The default clock says so too.
        let t = SlaPolicy::from_config(&Config::default())
            .ticket(TicketNumber(3), new("minor"), friday)
            .unwrap();
        assert_eq!(t.sla_clock, SlaClock::Always);
    }
}
