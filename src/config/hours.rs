//! `[hours]`: the tiers' service hours, the desk's holidays and which
//! clock the SLA deadlines run on. Parsed into [`crate::hours::ServiceHours`]
//! (which also validates it: every mistake is reported with its key).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schedule as written in `hotline.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HoursConfig {
    /// The IANA zone the hours are written in (default "UTC").
    pub time_zone: String,
    /// Dates ("2027-01-01") on which no tier with a schedule is staffed.
    pub holidays: Vec<String>,
    /// `always` (7x24, the desk's promise) or `staffed` (the deadlines
    /// count only the ticket's tier's staffed hours).
    pub sla_clock: SlaClock,
    /// Per tier, weekday ranges to hours: `[hours.tiers.L1]`
    /// `mon-fri = "08:00-20:00"`, `sat = "09:00-13:00"`. A tier not listed
    /// is staffed around the clock.
    pub tiers: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for HoursConfig {
    fn default() -> Self {
        Self {
            time_zone: "UTC".into(),
            holidays: Vec::new(),
            sla_clock: SlaClock::Always,
            tiers: BTreeMap::new(),
        }
    }
}

/// Which hours an SLA deadline counts.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SlaClock {
    /// Every hour of every day (7x24).
    #[default]
    Always,
    /// Only the hours the ticket's tier is staffed ("business hours").
    Staffed,
}

impl SlaClock {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaClock::Always => "always",
            SlaClock::Staffed => "staffed",
        }
    }
}
