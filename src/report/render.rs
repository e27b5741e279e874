//! The report for people (aligned text, local times, each figure beside
//! its target) and for spreadsheets (CSV, one value a line:
//! `section,group,name,metric,value`). Scripts use the JSON instead.

use chrono::TimeDelta;

use super::model::{DeskRow, Figure, Goal, Report, Unit};
use crate::tickets::report::local;

/// `12m 30s`, `1h 05m`, `2d 3h`, `45s`.
pub fn duration(secs: f64) -> String {
    let d = TimeDelta::milliseconds((secs * 1000.0).round() as i64);
    let s = d.num_seconds();
    let (days, hours, mins, secs) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins:02}m")
    } else if mins > 0 {
        format!("{mins}m {secs:02}s")
    } else {
        format!("{secs}s")
    }
}

fn percent(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

fn value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Share => percent(v),
        Unit::Seconds => duration(v),
        Unit::Score => format!("{v:.2}"),
    }
}

fn target(f: &Figure) -> String {
    match f.target {
        Some(t) => {
            let op = match t.goal {
                Goal::AtLeast => ">=",
                Goal::AtMost => "<=",
            };
            format!("{op} {}", value(f.unit, t.value))
        }
        None => "-".into(),
    }
}

fn basis(f: &Figure) -> String {
    match (f.part, &f.note) {
        (_, Some(n)) if f.value.is_none() => n.clone(),
        (Some(p), _) => format!("{p} of {}", f.whole),
        (None, _) => format!("{} measured", f.whole),
    }
}

fn figure_row(f: &Figure) -> Vec<String> {
    vec![
        f.label.clone(),
        f.value
            .map_or_else(|| "no data".into(), |v| value(f.unit, v)),
        target(f),
        match f.meets {
            Some(true) => "met".into(),
            Some(false) => "MISSED".into(),
            None => "-".into(),
        },
        basis(f),
    ]
}

/// Columns padded to their widest cell; the last is not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn desk_rows(rows: &[DeskRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.calls.to_string(),
                duration(r.talk_s),
                duration(r.wrap_up_s),
                duration(r.staffed_s),
                r.occupancy.map_or_else(|| "-".into(), percent),
            ]
        })
        .collect()
}

/// What `hotline report` prints.
pub fn text(r: &Report) -> String {
    let mut out = format!(
        "Report for {} to {} (local time; calls and tickets received in this period)\n\n",
        local(r.from),
        local(r.to)
    );
    let header = ["FIGURE", "VALUE", "TARGET", "STATUS", "BASIS"];
    let rows: Vec<_> = r.figures.iter().map(figure_row).collect();
    out.push_str(&table(&header, &rows));

    out.push_str(
        "\nSLA compliance by severity (met / breached / pending; compliance = met of decided)\n",
    );
    let sla: Vec<Vec<String>> = r
        .sla
        .iter()
        .map(|s| {
            let t = |v: Option<i64>| v.map_or_else(|| "-".into(), |s| duration(s as f64));
            let c = |d: &super::model::DeadlineCount| {
                format!(
                    "{} / {} / {}  {}",
                    d.met,
                    d.breached,
                    d.pending,
                    d.compliance().map_or_else(|| "-".into(), percent)
                )
            };
            vec![
                s.severity.clone(),
                s.tickets.to_string(),
                t(s.response_target_s),
                c(&s.response),
                t(s.resolution_target_s),
                c(&s.resolution),
            ]
        })
        .collect();
    if sla.is_empty() {
        out.push_str("(no tickets)\n");
    } else {
        out.push_str(&table(
            &[
                "SEVERITY",
                "TICKETS",
                "RESPONSE",
                "MET/BREACHED/PENDING",
                "RESOLUTION",
                "MET/BREACHED/PENDING",
            ],
            &sla,
        ));
    }

    let desk = ["CALLS", "TALK", "WRAP-UP", "STAFFED", "OCCUPANCY"];
    for (title, rows, first) in [
        ("Per agent (no target in the standard)", &r.agents, "AGENT"),
        (
            "Per tier (agents on the roster in that tier)",
            &r.tiers,
            "TIER",
        ),
    ] {
        out.push_str(&format!("\n{title}\n"));
        if rows.is_empty() {
            out.push_str("(no agent activity)\n");
        } else {
            let mut header = vec![first];
            header.extend(desk);
            out.push_str(&table(&header, &desk_rows(rows)));
        }
    }

    if let Some(by) = &r.by {
        for g in &r.groups {
            out.push_str(&format!("\nBy {by}: {}\n", g.key));
            let rows: Vec<_> = g.figures.iter().map(figure_row).collect();
            out.push_str(&table(&header, &rows));
        }
    }
    out
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// What `hotline report --csv` prints.
pub fn csv(r: &Report) -> String {
    let mut out = String::from("section,group,name,metric,value\n");
    let mut put = |section: &str, group: &str, name: &str, metric: &str, v: String| {
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            field(section),
            field(group),
            field(name),
            field(metric),
            field(&v)
        ));
    };
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut figures: Vec<(&str, &Figure)> = r.figures.iter().map(|f| ("", f)).collect();
    for g in &r.groups {
        figures.extend(g.figures.iter().map(|f| (g.key.as_str(), f)));
    }
    for (group, f) in figures {
        put("figure", group, &f.key, "value", opt(f.value));
        if let Some(p) = f.part {
            put("figure", group, &f.key, "part", p.to_string());
        }
        put("figure", group, &f.key, "whole", f.whole.to_string());
        if let Some(t) = f.target {
            let m = match t.goal {
                Goal::AtLeast => "target_at_least",
                Goal::AtMost => "target_at_most",
            };
            put("figure", group, &f.key, m, t.value.to_string());
        }
    }
    for s in &r.sla {
        put("sla", "", &s.severity, "tickets", s.tickets.to_string());
        for (kind, d, target) in [
            ("response", &s.response, s.response_target_s),
            ("resolution", &s.resolution, s.resolution_target_s),
        ] {
            if let Some(t) = target {
                put(
                    "sla",
                    "",
                    &s.severity,
                    &format!("{kind}_target_s"),
                    t.to_string(),
                );
            }
            put(
                "sla",
                "",
                &s.severity,
                &format!("{kind}_met"),
                d.met.to_string(),
            );
            put(
                "sla",
                "",
                &s.severity,
                &format!("{kind}_breached"),
                d.breached.to_string(),
            );
            put(
                "sla",
                "",
                &s.severity,
                &format!("{kind}_pending"),
                d.pending.to_string(),
            );
        }
    }
    for (section, rows) in [("agent", &r.agents), ("tier", &r.tiers)] {
        for d in rows {
            put(section, "", &d.name, "calls", d.calls.to_string());
            put(section, "", &d.name, "talk_s", d.talk_s.to_string());
            put(section, "", &d.name, "wrap_up_s", d.wrap_up_s.to_string());
            put(section, "", &d.name, "staffed_s", d.staffed_s.to_string());
            put(section, "", &d.name, "occupancy", opt(d.occupancy));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_fields() {
        assert_eq!(duration(750.0), "12m 30s");
        assert_eq!(duration(3900.0), "1h 05m");
        assert_eq!(duration(45.0), "45s");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
