//! One tier's weekly schedule: the hours of each weekday its engineers
//! keep, written the way a desk writes them on a notice board
//! (`mon-fri = "08:00-12:00, 13:00-18:00"`, `sat = "09:00-13:00"`,
//! `sun = "closed"`).

use chrono::{NaiveTime, Weekday};

/// The staffed spans of one day, sorted, as seconds from midnight
/// (`end` may be 86 400: "until midnight").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Day {
    spans: Vec<(u32, u32)>,
}

/// A tier's week, Monday first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Week {
    days: [Day; 7],
}

const DAY: u32 = 86_400;

impl Day {
    /// Whether `t` (seconds from midnight) falls in a staffed span.
    pub fn covers(&self, t: u32) -> bool {
        self.spans.iter().any(|&(a, b)| a <= t && t < b)
    }

    /// The spans, as seconds from midnight.
    pub fn spans(&self) -> &[(u32, u32)] {
        &self.spans
    }
}

impl Week {
    pub fn day(&self, d: Weekday) -> &Day {
        &self.days[d.num_days_from_monday() as usize]
    }

    /// A week with no staffed hour at all.
    pub fn is_closed(&self) -> bool {
        self.days.iter().all(|d| d.spans.is_empty())
    }

    /// Set `days` (a key such as `mon`, `mon-fri`, `sat-sun`) to `hours`
    /// (`"08:00-18:00"`, several joined with commas, or `"closed"`).
    /// The error says what would be valid.
    pub fn set(&mut self, days: &str, hours: &str) -> Result<(), String> {
        let days = parse_days(days)?;
        let spans = parse_spans(hours)?;
        for d in days {
            self.days[d.num_days_from_monday() as usize] = Day {
                spans: spans.clone(),
            };
        }
        Ok(())
    }
}

/// `mon`, `mon-fri`, `fri-mon` (wrapping over the weekend).
fn parse_days(key: &str) -> Result<Vec<Weekday>, String> {
    let day = |s: &str| -> Result<Weekday, String> {
        s.trim().parse::<Weekday>().map_err(|_| {
            format!("`{s}` is not a weekday; use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri")
        })
    };
    let (first, last) = match key.split_once('-') {
        Some((a, b)) => (day(a)?, day(b)?),
        None => {
            let d = day(key)?;
            (d, d)
        }
    };
    let mut out = vec![first];
    let mut d = first;
    while d != last {
        d = d.succ();
        out.push(d);
    }
    Ok(out)
}

fn parse_spans(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("closed") {
        return Ok(Vec::new());
    }
    let mut spans = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let bad = || {
            format!("`{part}` is not a span of hours; write \"08:00-18:00\" (several joined with commas, \"00:00-24:00\" all day, or \"closed\")")
        };
        let (a, b) = part.split_once('-').ok_or_else(bad)?;
        let (a, b) = (
            clock(a.trim()).ok_or_else(bad)?,
            clock(b.trim()).ok_or_else(bad)?,
        );
        if a >= b {
            return Err(format!(
                "`{part}` ends before it starts; a span past midnight is two: \"22:00-24:00\" on one day and \"00:00-06:00\" on the next"
            ));
        }
        spans.push((a, b));
    }
    spans.sort_unstable();
    if let Some(w) = spans.windows(2).find(|w| w[0].1 > w[1].0) {
        return Err(format!(
            "spans {} and {} overlap; join them or move one",
            show(w[0]),
            show(w[1])
        ));
    }
    Ok(spans)
}

/// `HH:MM` as seconds from midnight; `24:00` is the end of the day.
fn clock(s: &str) -> Option<u32> {
    if s == "24:00" {
        return Some(DAY);
    }
    if s.len() != 5 {
        return None;
    }
    let t = NaiveTime::parse_from_str(s, "%H:%M").ok()?;
    Some(chrono::Timelike::num_seconds_from_midnight(&t))
}

fn show((a, b): (u32, u32)) -> String {
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        a / 3600,
        a % 3600 / 60,
        b / 3600,
        b % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_board_week_reads_as_written() {
        let mut w = Week::default();
        w.set("mon-fri", "08:00-12:00, 13:00-18:00").unwrap();
        w.set("sat", "09:00-13:00").unwrap();
        w.set("sun", "closed").unwrap();
        let mon = w.day(Weekday::Mon);
        assert!(mon.covers(8 * 3600) && !mon.covers(12 * 3600) && mon.covers(13 * 3600));
        assert!(!mon.covers(18 * 3600), "the end is not staffed");
        assert_eq!(w.day(Weekday::Fri), mon);
        assert!(w.day(Weekday::Sat).covers(9 * 3600));
        assert!(w.day(Weekday::Sun).spans().is_empty());
        assert!(!w.is_closed());
    }

    #[test]
    fn ranges_wrap_over_the_weekend_and_all_day_ends_at_24() {
        let mut w = Week::default();
        w.set("fri-mon", "00:00-24:00").unwrap();
        for d in [Weekday::Fri, Weekday::Sat, Weekday::Sun, Weekday::Mon] {
            assert!(w.day(d).covers(DAY - 1), "{d}");
        }
        assert!(w.day(Weekday::Tue).spans().is_empty());
    }

    #[test]
    fn mistakes_say_what_to_write() {
        let mut w = Week::default();
        assert!(w
            .set("mo-fr", "08:00-18:00")
            .unwrap_err()
            .contains("mon-fri"));
        assert!(w
            .set("mon", "8-18")
            .unwrap_err()
            .contains("\"08:00-18:00\""));
        assert!(w.set("mon", "8:00-18:00").is_err(), "hours take two digits");
        assert!(w.set("mon", "22:00-06:00").unwrap_err().contains("two"));
        assert!(w
            .set("mon", "08:00-12:00,11:00-13:00")
            .unwrap_err()
            .contains("overlap"));
        assert!(w.set("mon", "08:00-25:00").is_err());
        assert_eq!(w, Week::default(), "nothing is set by a refused line");
    }
}
