//! `GET /`: the page a supervisor keeps open. Server-rendered, every value
//! escaped (caller names come from the network), no scripts and no
//! external assets, so it works on an isolated desk network; it reloads
//! itself every [`REFRESH_SECS`] seconds.

use std::fmt::Write;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use chrono::{DateTime, Local, Utc};

use super::error::AdminError;
use super::{AdminState, AdminStatus};
use crate::tickets::repo::{self, TicketFilter};
use crate::tickets::report::{self, local};
use crate::tickets::Ticket;

pub const REFRESH_SECS: u32 = 30;
/// Open tickets shown at most; more means the desk has bigger problems
/// than a long table, and the page says how many were left out.
const MAX_ROWS: i64 = 500;

/// Text made safe for HTML element content and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The deadline a ticket is now racing: response until someone responded,
/// then resolution. The table is sorted by it, most urgent first.
fn next_due(t: &Ticket) -> DateTime<Utc> {
    match t.first_response_at {
        None => t.response_due_at,
        Some(_) => t.resolution_due_at,
    }
}

pub async fn index(State(s): State<AdminState>) -> (StatusCode, Html<String>) {
    let filter = TicketFilter {
        open_only: true,
        limit: Some(MAX_ROWS + 1),
        ..TicketFilter::default()
    };
    let now = Utc::now();
    match repo::list(s.store.pool(), &filter).await {
        Ok(tickets) => (
            StatusCode::OK,
            Html(render(&s.status_now(), Ok(tickets), now)),
        ),
        Err(e) => {
            let e = AdminError::from(e);
            tracing::warn!(error = %e, "admin page without tickets");
            let html = render(&s.status_now(), Err(&e), now);
            (e.status(), Html(html))
        }
    }
}

/// The whole page; `tickets` is newest first (as listed) or why not.
pub fn render(
    status: &AdminStatus,
    tickets: Result<Vec<Ticket>, &AdminError>,
    now: DateTime<Utc>,
) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECS}">
<title>hotline: open tickets</title>
<style>{STYLE}</style></head><body>
<header><h1>hotline</h1><p class="status">"#
    );
    status_line(&mut h, status);
    h.push_str("</p></header>\n<main>\n");
    if status.journal_pending > 0 {
        let _ = write!(
            h,
            r#"<p class="warn">{} ticket write(s) wait in the journal for the database; they are safe and will appear when it answers.</p>"#,
            status.journal_pending
        );
    }
    match tickets {
        Ok(mut tickets) => {
            let more = tickets.len() as i64 > MAX_ROWS;
            tickets.truncate(MAX_ROWS as usize);
            tickets.sort_by_key(next_due);
            table(&mut h, &tickets, more, now);
        }
        Err(e) => {
            let _ = write!(
                h,
                r#"<p class="warn">Tickets cannot be shown: {} ({})</p>"#,
                escape(&e.to_string()),
                e.code()
            );
        }
    }
    let _ = write!(
        h,
        "</main>\n<footer>Times are local (UTC{}). Shown at {}; the page refreshes every {REFRESH_SECS} s. \
         JSON: <a href=\"/api/status\">status</a>, <a href=\"/api/tickets?open=true\">open tickets</a>, \
         <a href=\"/api/calls\">recent calls</a>.</footer>\n</body></html>\n",
        now.with_timezone(&Local).format("%:z"),
        now.with_timezone(&Local).format("%H:%M:%S"),
    );
    h
}

fn status_line(h: &mut String, s: &AdminStatus) {
    let flow = if s.flow_version.is_empty() {
        "-"
    } else {
        &s.flow_version
    };
    let _ = write!(
        h,
        "<b>{}</b> call(s) in progress &middot; {} since start &middot; {} refused as busy \
         &middot; journal {} &middot; flow <code>{}</code> &middot; up since {}",
        s.calls_active,
        s.calls_started,
        s.rejected_busy,
        if s.journal_pending == 0 {
            "empty".to_string()
        } else {
            format!("<b>{} waiting</b>", s.journal_pending)
        },
        escape(flow),
        local(s.started_at),
    );
}

fn table(h: &mut String, tickets: &[Ticket], more: bool, now: DateTime<Utc>) {
    let overdue = tickets.iter().filter(|t| now > next_due(t)).count();
    let _ = write!(h, "<h2>Open tickets ({}", tickets.len());
    if overdue > 0 {
        let _ = write!(h, ", <span class=\"late\">{overdue} overdue</span>");
    }
    if more {
        h.push_str(" shown, more not shown");
    }
    h.push_str(")</h2>\n");
    if tickets.is_empty() {
        h.push_str("<p class=\"empty\">No open tickets.</p>\n");
        return;
    }
    h.push_str(
        "<table><thead><tr><th>Ticket</th><th>Severity</th><th>Category</th><th>Caller</th>\
         <th>Received</th><th>Response due</th><th>Resolution due</th><th>Status</th><th>Agent</th></tr></thead><tbody>\n",
    );
    for t in tickets {
        let overdue = now > next_due(t);
        let _ = writeln!(
            h,
            "<tr{}><td class=\"num\">#{}</td><td><span class=\"sev\">{}</span> <small>{}</small></td>\
             <td>{}</td><td class=\"caller\">{}</td><td title=\"{}\">{}</td>{}{}<td>{}</td><td>{}</td></tr>",
            if overdue { " class=\"overdue\"" } else { "" },
            t.number,
            escape(&t.severity),
            escape(&t.assigned_tier),
            escape(t.category.as_deref().unwrap_or("-")),
            escape(&report::caller(t)),
            local(t.received_at),
            short(t.received_at, now),
            due_cell(t.response_due_at, t.first_response_at, now),
            due_cell(t.resolution_due_at, t.resolved_at, now),
            escape(&t.status.as_str().replace('_', " ")),
            agent_cell(t),
        );
    }
    h.push_str("</tbody></table>\n");
}

/// Who took the call and how long the caller waited for them (or waited
/// before leaving the queue); the recording's path is in the API.
fn agent_cell(t: &Ticket) -> String {
    let wait = t.queue_wait.map(|w| {
        let s = w.num_seconds().max(0);
        format!("waited {}m {:02}s", s / 60, s % 60)
    });
    match (&t.assigned_agent, wait) {
        (Some(a), Some(w)) => format!("{} <small>{w}</small>", escape(a)),
        (Some(a), None) => escape(a),
        (None, Some(w)) => format!("- <small>{w}</small>"),
        (None, None) => "-".into(),
    }
}

/// `14:05` for today, `Tue 24 14:05` within a week, else the full
/// [`local`] form: the table is read at a glance, the full time is in the
/// cell's tooltip.
fn short(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let (t, now) = (t.with_timezone(&Local), now.with_timezone(&Local));
    let days = (t.date_naive() - now.date_naive()).num_days().abs();
    if days == 0 {
        t.format("%H:%M").to_string()
    } else if days < 7 {
        t.format("%a %d %H:%M").to_string()
    } else {
        local(t.with_timezone(&Utc))
    }
}

/// Due time and, under it, how it stands (`27m left`, `OVERDUE 1h 05m`).
fn due_cell(due: DateTime<Utc>, done: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let mut state = report::deadline(due, done, now);
    if let (Some(at), true) = (done, state.starts_with("met")) {
        state = format!("met ({})", short(at, now));
    }
    let class = if state.starts_with("OVERDUE") || state.starts_with("missed") {
        "late"
    } else if done.is_some() {
        "met"
    } else {
        "left"
    };
    format!(
        "<td title=\"{}\">{}<br><span class=\"{class}\">{}</span></td>",
        local(due),
        short(due, now),
        escape(&state)
    )
}

const STYLE: &str = "
body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f5f7}
header{background:#1d2330;color:#fff;padding:10px 20px}
header h1{display:inline;font-size:20px;margin-right:16px}
header p{display:inline;margin:0}
header code{color:#cde}
main{padding:8px 20px}
h2{font-size:17px;margin:12px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e3e5e8;vertical-align:top;white-space:nowrap}
td.caller{white-space:normal;overflow-wrap:anywhere}
th{background:#e9ebef;font-size:13px;text-transform:uppercase;letter-spacing:.03em}
td.num{font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.sev{font-weight:600}
small{color:#667}
tr.overdue{background:#fdecec}
.late{color:#b00020;font-weight:700}
.left{color:#555}
.met{color:#2e7d32}
.warn{background:#fff4ce;border:1px solid #e0c060;padding:8px 12px}
.empty{color:#667}
footer{padding:8px 20px;color:#667;font-size:13px}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
