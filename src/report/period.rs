//! The period a report covers, `[from, to)`, from what people type:
//! `2026-11-01` (a local day), or an RFC 3339 time. `--to 2026-11-30`
//! includes that whole day. Without `--from`: the first day of the month
//! `to` falls in; without `--to`: now.

use chrono::{DateTime, Datelike, Local, NaiveDate, TimeDelta, TimeZone, Utc};

/// A date or time that does not parse, or a period that ends before it
/// starts. Names the parameter and shows the forms accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("HL-REPORT-DATE: `{name}` `{value}`: use YYYY-MM-DD (a local day) or RFC 3339 like 2026-11-23T09:00:00Z")]
    Date { name: &'static str, value: String },
    #[error(
        "HL-REPORT-PERIOD: the period ends ({to}) before it starts ({from}); swap --from and --to"
    )]
    Reversed { from: String, to: String },
}

/// Which end of the period a day names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The day's first instant.
    Start,
    /// The next day's first instant (the day is included).
    Stop,
}

fn local_midnight(day: NaiveDate) -> Option<DateTime<Utc>> {
    let t = day.and_hms_opt(0, 0, 0)?;
    Local
        .from_local_datetime(&t)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// One end of the period. A `+` in a query string arrives as a space;
/// that space can only have been a `+`.
pub fn parse(name: &'static str, value: &str, end: End) -> Result<DateTime<Utc>, PeriodError> {
    let err = || PeriodError::Date {
        name,
        value: value.to_string(),
    };
    let text = value.trim().replace(' ', "+");
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| err())?;
    let day = match end {
        End::Start => day,
        End::Stop => day.succ_opt().ok_or_else(err)?,
    };
    local_midnight(day).ok_or_else(err)
}

/// The period from optional ends, at `now`.
pub fn period(
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), PeriodError> {
    let to = match to {
        Some(v) => parse("to", v, End::Stop)?,
        None => now,
    };
    let from = match from {
        Some(v) => parse("from", v, End::Start)?,
        None => {
            let last = to - TimeDelta::microseconds(1);
            let local = last.with_timezone(&Local).date_naive();
            let first = local.with_day(1).unwrap_or(local);
            local_midnight(first).unwrap_or(last)
        }
    };
    if to < from {
        return Err(PeriodError::Reversed {
            from: from.to_rfc3339(),
            to: to.to_rfc3339(),
        });
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times() {
        let t = parse("from", "2026-11-23T09:00:00Z", End::Start).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T09:00:00+00:00");
        let spaced = parse("from", "2026-11-23T10:00:00 01:00", End::Start).unwrap();
        assert_eq!(spaced, t);
        let start = parse("from", "2026-11-23", End::Start).unwrap();
        let stop = parse("to", "2026-11-23", End::Stop).unwrap();
        assert_eq!(stop - start, TimeDelta::days(1));
        match parse("to", "last week", End::Stop) {
            Err(PeriodError::Date { name, .. }) => assert_eq!(name, "to"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn default_period_is_the_month_so_far() {
        let now = parse("now", "2026-11-23T09:00:00Z", End::Start).unwrap();
        let (from, to) = period(None, None, now).unwrap();
        assert_eq!(to, now);
        assert_eq!(from.with_timezone(&Local).day(), 1);
        assert!(from < to && to - from < TimeDelta::days(31));
        assert!(matches!(
            period(Some("2026-11-23"), Some("2026-11-01"), now),
            Err(PeriodError::Reversed { .. })
        ));
    }
}
