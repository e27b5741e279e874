//! Service hours: when each tier's engineers are at their desks.
//!
//! The desk promises to answer 7x24, but its engineers keep hours. A tier
//! with a weekly schedule is staffed inside it and closed on the desk's
//! holidays; a tier without one is staffed around the clock (holidays
//! included), which is also what a desk with no `[hours]` gets. The flow
//! asks [`ServiceHours::staffed_any`] (the `staffed` condition) whether a
//! caller would wait for a person or should hear the callback promise, and
//! the SLA clock can count only staffed time ([`ServiceHours::add_staffed`]).
//!
//! Times are kept in the schedule's IANA zone (`chrono-tz`), so a change
//! to or from summer time moves the hours with the wall clock, as a desk's
//! notice board does.

mod staffing;
mod week;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::agents::Tier;
use crate::config::{HoursConfig, SlaClock};
pub use staffing::DeskStaffing;
pub use week::{Day, Week};

/// How far ahead an opening is looked for: a desk closed for longer than
/// this is "never staffed" (a year of holidays is already unusual).
const HORIZON_DAYS: i64 = 400;

/// The desk's schedule, built from validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceHours {
    zone: Tz,
    tiers: HashMap<Tier, Week>,
    holidays: BTreeSet<NaiveDate>,
    clock: SlaClock,
}

impl Default for ServiceHours {
    /// No schedule: every tier staffed around the clock, SLA 7x24.
    fn default() -> Self {
        Self {
            zone: Tz::UTC,
            tiers: HashMap::new(),
            holidays: BTreeSet::new(),
            clock: SlaClock::Always,
        }
    }
}

/// One tier on the board `hotline hours` and `GET /api/hours` show.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TierHours {
    pub tier: Tier,
    /// false: staffed around the clock.
    pub schedule: bool,
    pub staffed: bool,
    /// When `staffed` next changes (opens or closes); none without a
    /// schedule, or for a tier that never opens again.
    pub changes_at: Option<DateTime<Utc>>,
}

/// A staffed stretch of one tier, in UTC.
type Span = (DateTime<Utc>, DateTime<Utc>);

impl ServiceHours {
    /// The schedule `c` describes, or every problem in it as
    /// `(key, what would be valid)`.
    pub fn from_config(c: &HoursConfig) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let zone = c.time_zone.parse::<Tz>().unwrap_or_else(|_| {
            problems.push((
                "hours.time_zone".into(),
                format!(
                    "`{}` is not an IANA time zone; write one such as \"Asia/Shanghai\", \"Europe/Berlin\" or \"UTC\"",
                    c.time_zone
                ),
            ));
            Tz::UTC
        });
        let mut holidays = BTreeSet::new();
        for (i, h) in c.holidays.iter().enumerate() {
            match NaiveDate::parse_from_str(h, "%Y-%m-%d") {
                Ok(d) => {
                    holidays.insert(d);
                }
                Err(_) => problems.push((
                    format!("hours.holidays[{i}]"),
                    format!("`{h}` is not a date; write it as \"2027-01-01\""),
                )),
            }
        }
        let mut tiers = HashMap::new();
        for (name, days) in &c.tiers {
            let Ok(tier) = name.parse::<Tier>() else {
                problems.push((
                    format!("hours.tiers.{name}"),
                    "is not a tier; use L1, L2 or L3".into(),
                ));
                continue;
            };
            let mut w = Week::default();
            for (key, hours) in days {
                if let Err(e) = w.set(key, hours) {
                    problems.push((format!("hours.tiers.{name}.{key}"), e));
                }
            }
            tiers.insert(tier, w);
        }
        if problems.is_empty() {
            Ok(Self {
                zone,
                tiers,
                holidays,
                clock: c.sla_clock,
            })
        } else {
            Err(problems)
        }
    }

    /// Which clock the SLA deadlines run on.
    pub fn sla_clock(&self) -> SlaClock {
        self.clock
    }

    /// Whether `tier` keeps hours at all (no: staffed around the clock).
    pub fn has_schedule(&self, tier: Tier) -> bool {
        self.tiers.contains_key(&tier)
    }

    /// Whether `tier` is staffed at `at`.
    pub fn staffed(&self, tier: Tier, at: DateTime<Utc>) -> bool {
        let Some(week) = self.tiers.get(&tier) else {
            return true;
        };
        let local = at.with_timezone(&self.zone);
        !self.holidays.contains(&local.date_naive())
            && week
                .day(local.weekday())
                .covers(local.num_seconds_from_midnight())
    }

    /// Whether any of `tiers` (a ticket's tier and its overflow tiers) is
    /// staffed at `at`. No tiers at all: staffed (nothing keeps hours).
    pub fn staffed_any(&self, tiers: &[Tier], at: DateTime<Utc>) -> bool {
        tiers.is_empty() || tiers.iter().any(|t| self.staffed(*t, at))
    }

    /// How long until the first of `tiers` is staffed: zero when one is
    /// now, `None` when none opens within the horizon.
    pub fn opens_in(&self, tiers: &[Tier], at: DateTime<Utc>) -> Option<Duration> {
        if self.staffed_any(tiers, at) {
            return Some(Duration::ZERO);
        }
        tiers
            .iter()
            .filter_map(|t| self.span_from(*t, at))
            .map(|(start, _)| (start - at).to_std().unwrap_or_default())
            .min()
    }

    /// `at` plus `d` of `tier`'s staffed time: the deadline of a
    /// "business hours" SLA clock. A tier without a schedule counts every
    /// hour; a tier that never opens again gives `None`.
    pub fn add_staffed(
        &self,
        tier: Tier,
        at: DateTime<Utc>,
        d: TimeDelta,
    ) -> Option<DateTime<Utc>> {
        if !self.tiers.contains_key(&tier) {
            return Some(at + d);
        }
        let mut left = d;
        let mut t = at;
        // Each turn uses up one span; a year of spans is a generous bound.
        for _ in 0..(HORIZON_DAYS * 8) {
            let (start, end) = self.span_from(tier, t)?;
            if end - start >= left {
                return Some(start + left);
            }
            left -= end - start;
            t = end;
        }
        None
    }

    /// Each tier as of `at`: staffed or not, and when that changes (spans
    /// that meet, such as 22:00-24:00 and 00:00-06:00, count as one).
    pub fn board(&self, at: DateTime<Utc>) -> Vec<TierHours> {
        Tier::ALL
            .iter()
            .map(|&tier| {
                let staffed = self.staffed(tier, at);
                let changes_at = match (self.has_schedule(tier), staffed) {
                    (false, _) => None,
                    (true, false) => self.span_from(tier, at).map(|(start, _)| start),
                    (true, true) => {
                        let mut end = self.span_from(tier, at).map(|(_, end)| end);
                        // Bounded: a week of back-to-back spans is 7 x 24 h.
                        for _ in 0..(7 * 24) {
                            match end.and_then(|e| self.span_from(tier, e)) {
                                Some((start, next_end)) if Some(start) == end => {
                                    end = Some(next_end)
                                }
                                _ => break,
                            }
                        }
                        end
                    }
                };
                TierHours {
                    tier,
                    schedule: self.has_schedule(tier),
                    staffed,
                    changes_at,
                }
            })
            .collect()
    }

    /// The zone the schedule is written in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The staffed span of `tier` that contains `at` (from `at` on) or the
    /// next one after it.
    fn span_from(&self, tier: Tier, at: DateTime<Utc>) -> Option<Span> {
        let week = self.tiers.get(&tier)?;
        let first = at.with_timezone(&self.zone).date_naive();
        for offset in 0..HORIZON_DAYS {
            let date = first + TimeDelta::days(offset);
            if self.holidays.contains(&date) {
                continue;
            }
            for &(a, b) in week.day(date.weekday()).spans() {
                let (Some(start), Some(end)) = (self.instant(date, a), self.instant(date, b))
                else {
                    continue;
                };
                if end > at {
                    return Some((start.max(at), end));
                }
            }
        }
        None
    }

    /// The UTC instant of `secs` after local midnight of `date`. A wall
    /// time skipped by a change to summer time is taken an hour later.
    fn instant(&self, date: NaiveDate, secs: u32) -> Option<DateTime<Utc>> {
        let local = date.and_hms_opt(0, 0, 0)? + TimeDelta::seconds(secs.into());
        let resolve = |t| self.zone.from_local_datetime(&t).earliest();
        resolve(local)
            .or_else(|| resolve(local + TimeDelta::hours(1)))
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn hours(zone: &str, holidays: &[&str], l1: &[(&str, &str)]) -> ServiceHours {
        let c = HoursConfig {
            time_zone: zone.into(),
            holidays: holidays.iter().map(|h| h.to_string()).collect(),
            sla_clock: SlaClock::Staffed,
            tiers: BTreeMap::from([(
                "L1".to_string(),
                l1.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )]),
        };
        ServiceHours::from_config(&c).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn office() -> ServiceHours {
        // Shanghai is UTC+8 all year: 09:00 local is 01:00 UTC.
        hours(
            "Asia/Shanghai",
            &["2026-12-25"],
            &[("mon-fri", "09:00-18:00")],
        )
    }

    #[test]
    fn a_tier_with_hours_is_staffed_inside_them_in_its_own_zone() {
        let h = office();
        // 2026-12-01 is a Tuesday.
        assert!(
            h.staffed(Tier::L1, utc("2026-12-01T01:00:00Z")),
            "09:00 local"
        );
        assert!(
            !h.staffed(Tier::L1, utc("2026-12-01T00:59:59Z")),
            "08:59 local"
        );
        assert!(
            !h.staffed(Tier::L1, utc("2026-12-01T10:00:00Z")),
            "18:00 local"
        );
        assert!(
            !h.staffed(Tier::L1, utc("2026-12-05T03:00:00Z")),
            "Saturday"
        );
        assert!(
            !h.staffed(Tier::L1, utc("2026-12-25T03:00:00Z")),
            "a holiday"
        );
        // No schedule for L2/L3: around the clock, holidays included.
        assert!(h.staffed(Tier::L3, utc("2026-12-25T20:00:00Z")));
        assert!(h.staffed_any(&[Tier::L1, Tier::L2], utc("2026-12-05T03:00:00Z")));
        assert!(!h.staffed_any(&[Tier::L1], utc("2026-12-05T03:00:00Z")));
    }

    #[test]
    fn the_next_opening_skips_nights_weekends_and_holidays() {
        let h = office();
        let fri_evening = utc("2026-12-04T12:00:00Z"); // Fri 20:00 local
        let monday_nine = utc("2026-12-07T01:00:00Z");
        assert_eq!(
            h.opens_in(&[Tier::L1], fri_evening),
            (monday_nine - fri_evening).to_std().ok()
        );
        // Thursday 24 Dec evening: Friday is a holiday, so Monday 28th.
        let before_holiday = utc("2026-12-24T12:00:00Z");
        assert_eq!(
            h.opens_in(&[Tier::L1], before_holiday),
            (utc("2026-12-28T01:00:00Z") - before_holiday).to_std().ok()
        );
        assert_eq!(
            h.opens_in(&[Tier::L1], utc("2026-12-01T02:00:00Z")),
            Some(Duration::ZERO)
        );
        let never = hours("UTC", &[], &[("mon-sun", "closed")]);
        assert_eq!(never.opens_in(&[Tier::L1], fri_evening), None);
    }

    #[test]
    fn a_business_hours_clock_counts_only_staffed_time() {
        let h = office();
        // Friday 17:00 local + 2 h of staffed time = Monday 10:00 local.
        let due = h.add_staffed(Tier::L1, utc("2026-12-04T09:00:00Z"), TimeDelta::hours(2));
        assert_eq!(due, Some(utc("2026-12-07T02:00:00Z")));
        // Inside one day it is plain addition; before opening it starts at 09:00.
        assert_eq!(
            h.add_staffed(Tier::L1, utc("2026-12-01T02:00:00Z"), TimeDelta::hours(1)),
            Some(utc("2026-12-01T03:00:00Z"))
        );
        assert_eq!(
            h.add_staffed(
                Tier::L1,
                utc("2026-11-30T20:00:00Z"),
                TimeDelta::minutes(30)
            ),
            Some(utc("2026-12-01T01:30:00Z"))
        );
        // A tier without hours: 7x24.
        assert_eq!(
            h.add_staffed(Tier::L3, utc("2026-12-04T09:00:00Z"), TimeDelta::hours(2)),
            Some(utc("2026-12-04T11:00:00Z"))
        );
    }

    #[test]
    fn the_board_says_who_is_staffed_and_until_when() {
        let h = hours("UTC", &[], &[("mon-fri", "22:00-24:00, 00:00-06:00")]);
        let board = h.board(utc("2026-12-01T23:00:00Z"));
        assert_eq!(board[0].tier, Tier::L1);
        assert!(board[0].staffed && board[0].schedule);
        // Tuesday's night shift runs on into Wednesday 06:00.
        assert_eq!(board[0].changes_at, Some(utc("2026-12-02T06:00:00Z")));
        assert!(board[1].staffed && !board[1].schedule && board[1].changes_at.is_none());
        let closed = h.board(utc("2026-12-01T12:00:00Z"));
        assert!(!closed[0].staffed);
        assert_eq!(closed[0].changes_at, Some(utc("2026-12-01T22:00:00Z")));
    }

    #[test]
    fn summer_time_moves_the_hours_with_the_wall_clock() {
        let h = hours("Europe/Berlin", &[], &[("mon-sun", "09:00-17:00")]);
        // 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
        assert!(h.staffed(Tier::L1, utc("2027-01-11T08:00:00Z")));
        assert!(!h.staffed(Tier::L1, utc("2027-01-11T07:30:00Z")));
        assert!(h.staffed(Tier::L1, utc("2027-07-12T07:00:00Z")));
        // A span that starts in the skipped hour (02:00-03:00 on 28 March
        // 2027) still opens, an hour later on the wall clock.
        let night = hours("Europe/Berlin", &[], &[("sun", "02:30-04:00")]);
        assert_eq!(
            night.opens_in(&[Tier::L1], utc("2027-03-27T23:00:00Z")),
            Some(Duration::from_secs(2 * 3600 + 30 * 60))
        );
    }

    #[test]
    fn every_mistake_is_reported_with_its_key() {
        let c = HoursConfig {
            time_zone: "Mars/Olympus".into(),
            holidays: vec!["25.12.2026".into()],
            sla_clock: SlaClock::Always,
            tiers: BTreeMap::from([
                ("L4".to_string(), BTreeMap::new()),
                (
                    "L2".to_string(),
                    BTreeMap::from([("mon".to_string(), "9-5".to_string())]),
                ),
            ]),
        };
        let keys: Vec<String> = ServiceHours::from_config(&c)
            .unwrap_err()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            [
                "hours.time_zone",
                "hours.holidays[0]",
                "hours.tiers.L2.mon",
                "hours.tiers.L4"
            ]
        );
    }
}
