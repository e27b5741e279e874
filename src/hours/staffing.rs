//! The desk's answer to the flow's `staffed` question: the schedule, the
//! tiers that could take each severity, and the wall clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ServiceHours;
use crate::agents::Tier;
use crate::ivr::Staffing;

/// [`ServiceHours`] seen per severity: a ticket of a severity can be taken
/// by its SLA tier and every overflow tier, so it is staffed when any of
/// them is.
#[derive(Debug, Clone)]
pub struct DeskStaffing {
    hours: Arc<ServiceHours>,
    tiers: HashMap<String, Vec<Tier>>,
    /// Every tier named anywhere: asked when the severity is not known yet.
    all: Vec<Tier>,
    now: fn() -> DateTime<Utc>,
}

impl DeskStaffing {
    /// `tiers`: for each severity, the tiers that may take its tickets.
    pub fn new(hours: Arc<ServiceHours>, tiers: HashMap<String, Vec<Tier>>) -> Self {
        let mut all: Vec<Tier> = tiers.values().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        Self {
            hours,
            tiers,
            all,
            now: Utc::now,
        }
    }

    /// The same desk seen at a fixed clock (tests).
    pub fn with_clock(mut self, now: fn() -> DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    fn tiers(&self, severity: Option<&str>) -> &[Tier] {
        severity
            .and_then(|s| self.tiers.get(s))
            .map_or(&self.all, |t| t.as_slice())
    }
}

impl Staffing for DeskStaffing {
    fn staffed(&self, severity: Option<&str>) -> bool {
        self.hours.staffed_any(self.tiers(severity), (self.now)())
    }

    fn opens_in(&self, severity: Option<&str>) -> Option<Duration> {
        self.hours.opens_in(self.tiers(severity), (self.now)())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{HoursConfig, SlaClock};

    fn tuesday_night() -> DateTime<Utc> {
        "2026-12-01T22:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_severity_is_staffed_when_any_of_its_tiers_is() {
        let c = HoursConfig {
            tiers: BTreeMap::from([(
                "L1".to_string(),
                BTreeMap::from([("mon-fri".to_string(), "08:00-18:00".to_string())]),
            )]),
            sla_clock: SlaClock::Always,
            ..HoursConfig::default()
        };
        let hours = Arc::new(ServiceHours::from_config(&c).unwrap());
        let tiers = HashMap::from([
            ("minor".to_string(), vec![Tier::L1]),
            ("critical".to_string(), vec![Tier::L3, Tier::L2]),
        ]);
        let desk = DeskStaffing::new(hours, tiers).with_clock(tuesday_night);
        assert!(!desk.staffed(Some("minor")), "L1 keeps office hours");
        assert_eq!(
            desk.opens_in(Some("minor")),
            Some(Duration::from_secs(10 * 3600))
        );
        assert!(desk.staffed(Some("critical")), "L3 has no schedule: 7x24");
        assert!(desk.staffed(None), "some tier is staffed");
    }
}
