//! Tickets for people (aligned tables, local times, time left to each SLA
//! deadline) and for scripts (JSON).

use chrono::{DateTime, Local, TimeDelta, Utc};

use super::model::{Ticket, TicketEvent};

/// `2026-11-23 14:05` in the machine's local time.
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

/// `1h 05m`, `27m`, `3d 4h`.
pub fn span(d: TimeDelta) -> String {
    let mins = d.num_minutes().abs();
    let (days, hours, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {m:02}m")
    } else {
        format!("{m}m")
    }
}

/// How a deadline stands at `now`: met, left, or overdue.
pub fn deadline(due: DateTime<Utc>, done: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match done {
        Some(at) if at <= due => format!("met ({})", local(at)),
        Some(at) => format!("missed by {}", span(at - due)),
        None if now <= due => format!("{} left", span(due - now)),
        None => format!("OVERDUE {}", span(now - due)),
    }
}

/// The aligned table `hotline tickets list` prints.
pub fn table(tickets: &[Ticket], now: DateTime<Utc>) -> String {
    let header = [
        "NUMBER",
        "RECEIVED",
        "SEVERITY",
        "CATEGORY",
        "STATUS",
        "TIER",
        "CALLER",
        "RESPONSE",
        "RESOLUTION",
    ];
    let rows: Vec<[String; 9]> = tickets
        .iter()
        .map(|t| {
            [
                t.number.to_string(),
                local(t.received_at),
                t.severity.clone(),
                t.category.clone().unwrap_or_else(|| "-".into()),
                t.status.as_str().to_string(),
                t.assigned_tier.clone(),
                caller(t),
                deadline(t.response_due_at, t.first_response_at, now),
                deadline(t.resolution_due_at, t.resolved_at, now),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() {
        out.push_str("(no tickets)\n");
    }
    out
}

/// `Ada <+15551230000>`, marked when the caller asked for privacy.
pub fn caller(t: &Ticket) -> String {
    let who = match &t.caller_name {
        Some(name) if !name.is_empty() => format!("{name} <{}>", t.caller_number),
        _ => t.caller_number.clone(),
    };
    if t.caller_private {
        format!("{who} (private)")
    } else {
        who
    }
}

/// `hotline tickets show`: every field, deadlines, and the history.
pub fn detail(t: &Ticket, events: &[TicketEvent], now: DateTime<Utc>) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let time = |v: Option<DateTime<Utc>>| v.map(local).unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{k:<18} {v}\n"));
    field("Ticket", format!("#{}", t.number));
    field("Status", t.status.as_str().into());
    field(
        "Severity",
        format!("{} (tier {})", t.severity, t.assigned_tier),
    );
    field("Category", opt(&t.category));
    field("Caller", caller(t));
    field("Customer ref", opt(&t.customer_ref));
    field("Callback number", opt(&t.callback_number));
    field("Received", local(t.received_at));
    field("Answered", time(t.answered_at));
    field("Created", local(t.created_at));
    field(
        "Response due",
        format!(
            "{} (target {}; {})",
            local(t.response_due_at),
            span(t.response_target),
            deadline(t.response_due_at, t.first_response_at, now)
        ),
    );
    field(
        "Resolution due",
        format!(
            "{} (target {}; {})",
            local(t.resolution_due_at),
            span(t.resolution_target),
            deadline(t.resolution_due_at, t.resolved_at, now)
        ),
    );
    field("Agent", opt(&t.assigned_agent));
    field("First response", time(t.first_response_at));
    field(
        "Queue wait",
        t.queue_wait
            .map_or_else(|| "-".to_string(), |d| format!("{}s", d.num_seconds())),
    );
    if let Some(at) = t.callback_requested_at {
        field("Callback asked", local(at));
    }
    if t.escalations > 0 {
        field("Escalations", t.escalations.to_string());
    }
    field("Voice note", opt(&t.voice_note_path));
    field("Recording", opt(&t.recording_path));
    field("Flow version", opt(&t.flow_version));
    field("Call-ID", t.call_id.clone());
    out.push_str("\nHistory:\n");
    for e in events {
        out.push_str(&format!(
            "  {}  {:<10} {:<10} {}\n",
            local(e.at),
            e.actor,
            e.action,
            e.detail
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_read_naturally() {
        let due = DateTime::from_timestamp(10_000, 0).unwrap();
        let before = due - TimeDelta::minutes(27);
        assert_eq!(deadline(due, None, before), "27m left");
        assert_eq!(
            deadline(due, None, due + TimeDelta::minutes(65)),
            "OVERDUE 1h 05m"
        );
        assert!(deadline(due, Some(before), due).starts_with("met"));
        assert_eq!(span(TimeDelta::hours(26)), "1d 2h");
    }
}
