//! Figures over the tickets received in the period, each one query; the
//! ticket figures come back for the whole period and, with `--by`, per
//! value of the dimension (SQL `GROUPING SETS`, still one query).

use std::collections::BTreeMap;

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::model::{DeadlineCount, Figure, Group, SlaRow, Target, Unit};
use super::{Clock, Dimension, Query, ReportError, Settings};

/// Ticket figures per group value, in first-seen order of figures.
#[derive(Default)]
pub struct Groups(BTreeMap<String, Vec<Figure>>);

impl Groups {
    fn push(&mut self, key: String, f: Figure) {
        self.0.entry(key).or_default().push(f);
    }

    pub fn into_groups(self) -> Vec<Group> {
        self.0
            .into_iter()
            .map(|(key, figures)| Group { key, figures })
            .collect()
    }
}

/// The select-list head and GROUP BY for an optional dimension: a row
/// with `total` for the whole period, and one per value.
fn grouping(by: Option<Dimension>) -> (String, String) {
    match by {
        Some(d) => {
            let c = d.column();
            (
                format!(
                    "CASE WHEN GROUPING({c}) = 1 THEN NULL ELSE coalesce({c}, '-') END AS grp, \
                     GROUPING({c}) = 1 AS total"
                ),
                format!("GROUP BY GROUPING SETS ((), ({c}))"),
            )
        }
        None => ("NULL::text AS grp, TRUE AS total".into(), String::new()),
    }
}

/// Send each row's figure to the headline list or to its group.
fn spread(
    rows: &[PgRow],
    figures: &mut Vec<Figure>,
    groups: &mut Groups,
    make: impl Fn(&PgRow) -> Result<Figure, sqlx::Error>,
) -> Result<(), sqlx::Error> {
    for r in rows {
        let f = make(r)?;
        if r.try_get::<bool, _>("total")? {
            figures.push(f);
        } else {
            groups.push(
                r.try_get::<Option<String>, _>("grp")?.unwrap_or_default(),
                f,
            );
        }
    }
    Ok(())
}

/// A ticket resolved at first contact: one call at most, no callback
/// (asked for, or owed after a cut call), never reopened (a `status`
/// change back to an open state after one to resolved or closed). The
/// history and the calls of the period's tickets are gathered once each
/// and joined, rather than probed per ticket.
const FCR: &str = "
    WITH t AS (
        SELECT * FROM tickets t
        WHERE t.received_at >= $1 AND t.received_at < $2 AND t.status IN ('resolved', 'closed')
    ), ev AS (
        SELECT e.ticket_number,
               bool_or(e.action = 'call_cut') AS cut,
               min(e.id) FILTER (WHERE e.action = 'status'
                   AND e.detail->>'status' IN ('resolved', 'closed')) AS first_done,
               max(e.id) FILTER (WHERE e.action = 'status'
                   AND e.detail->>'status' IN ('open', 'in_progress', 'escalated')) AS last_open
        FROM ticket_events e
        WHERE e.ticket_number IN (SELECT number FROM t) AND e.action IN ('call_cut', 'status')
        GROUP BY e.ticket_number
    ), calls AS (
        SELECT c.ticket_number, count(*) AS n FROM call_records c
        WHERE c.ticket_number IN (SELECT number FROM t)
        GROUP BY c.ticket_number
    )";

const FIRST_CONTACT: &str = "coalesce(c.n, 0) <= 1 AND t.callback_requested_at IS NULL
    AND NOT coalesce(ev.cut, false) AND NOT coalesce(ev.last_open > ev.first_done, false)";

const PERIOD: &str = "t.received_at >= $1 AND t.received_at < $2";

/// First-contact resolution, average response time, repeat rate and
/// satisfaction, for the period and per group.
pub(crate) async fn figures(
    pool: &PgPool,
    q: &Query,
    s: &Settings,
    clock: &mut Clock,
    figures: &mut Vec<Figure>,
    groups: &mut Groups,
) -> Result<(), ReportError> {
    let (head, group) = grouping(q.by);

    let sql = format!(
        "{FCR} SELECT {head}, count(*) FILTER (WHERE {FIRST_CONTACT}) AS part, count(*) AS whole
         FROM t LEFT JOIN ev ON ev.ticket_number = t.number
                LEFT JOIN calls c ON c.ticket_number = t.number
         {group}"
    );
    let rows = clock
        .time(
            "first_contact_resolution",
            sqlx::query(&sql).bind(q.from).bind(q.to).fetch_all(pool),
        )
        .await?;
    spread(&rows, figures, groups, |r| {
        Ok(Figure::share(
            "first_contact_resolution",
            "First-contact resolution",
            r.try_get("part")?,
            r.try_get("whole")?,
            Some(Target::at_least(s.fcr_target)),
        ))
    })?;

    let sql = format!(
        "SELECT {head},
            avg(EXTRACT(EPOCH FROM t.first_response_at - t.received_at))::float8 AS avg_s,
            count(t.first_response_at) AS n
         FROM tickets t WHERE {PERIOD} {group}"
    );
    let rows = clock
        .time(
            "average_response_time",
            sqlx::query(&sql).bind(q.from).bind(q.to).fetch_all(pool),
        )
        .await?;
    let target = s.response_target.num_milliseconds() as f64 / 1000.0;
    spread(&rows, figures, groups, |r| {
        Ok(Figure::average(
            "average_response_time",
            "Average response time",
            Unit::Seconds,
            r.try_get("avg_s")?,
            r.try_get("n")?,
            Some(Target::at_most(target)),
        ))
    })?;

    let sql = format!(
        "SELECT {head},
            count(*) FILTER (WHERE NOT t.caller_private AND t.category IS NOT NULL AND EXISTS (
                SELECT 1 FROM tickets p
                WHERE p.caller_number = t.caller_number AND p.category = t.category
                  AND p.received_at >= t.received_at - $3 AND p.received_at < t.received_at
                  AND NOT p.caller_private)) AS part,
            count(*) AS whole
         FROM tickets t WHERE {PERIOD} {group}"
    );
    let rows = clock
        .time(
            "repeat_rate",
            sqlx::query(&sql)
                .bind(q.from)
                .bind(q.to)
                .bind(s.repeat_window)
                .fetch_all(pool),
        )
        .await?;
    spread(&rows, figures, groups, |r| {
        Ok(Figure::share(
            "repeat_rate",
            "Repeat rate",
            r.try_get("part")?,
            r.try_get("whole")?,
            Some(Target::at_most(s.repeat_target)),
        ))
    })?;

    let survey: bool = clock
        .time(
            "satisfaction",
            sqlx::query_scalar("SELECT to_regclass('surveys') IS NOT NULL").fetch_one(pool),
        )
        .await?;
    let note = if survey {
        "a survey table exists, but this report does not read it yet"
    } else {
        "no data: there is no satisfaction survey yet (it comes with the post-call survey)"
    };
    figures.push(
        Figure::average(
            "satisfaction",
            "Satisfaction (1 to 5)",
            Unit::Score,
            None,
            0,
            Some(Target::at_least(s.satisfaction_target)),
        )
        .with_note(note),
    );
    Ok(())
}

fn count(r: &PgRow, kind: &str) -> Result<DeadlineCount, sqlx::Error> {
    Ok(DeadlineCount {
        met: r.try_get(format!("{kind}_met").as_str())?,
        breached: r.try_get(format!("{kind}_breached").as_str())?,
        pending: r.try_get(format!("{kind}_pending").as_str())?,
    })
}

/// SLA compliance per severity: each deadline met (done by it), breached
/// (done after it, or not done and past it at `now`) or pending.
pub(crate) async fn sla(
    pool: &PgPool,
    q: &Query,
    s: &Settings,
    clock: &mut Clock,
) -> Result<Vec<SlaRow>, ReportError> {
    let sql = format!(
        "SELECT t.severity, count(*) AS tickets,
            count(*) FILTER (WHERE t.first_response_at <= t.response_due_at) AS response_met,
            count(*) FILTER (WHERE t.first_response_at > t.response_due_at
                OR (t.first_response_at IS NULL AND t.response_due_at < $3)) AS response_breached,
            count(*) FILTER (WHERE t.first_response_at IS NULL AND t.response_due_at >= $3) AS response_pending,
            count(*) FILTER (WHERE t.resolved_at <= t.resolution_due_at) AS resolution_met,
            count(*) FILTER (WHERE t.resolved_at > t.resolution_due_at
                OR (t.resolved_at IS NULL AND t.resolution_due_at < $3)) AS resolution_breached,
            count(*) FILTER (WHERE t.resolved_at IS NULL AND t.resolution_due_at >= $3) AS resolution_pending
         FROM tickets t WHERE {PERIOD} GROUP BY t.severity"
    );
    let rows = clock
        .time(
            "sla_compliance",
            sqlx::query(&sql)
                .bind(q.from)
                .bind(q.to)
                .bind(q.now)
                .fetch_all(pool),
        )
        .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            let severity: String = r.try_get("severity")?;
            let level = s.severities.iter().find(|(n, _, _)| *n == severity);
            Ok(SlaRow {
                response_target_s: level.map(|l| l.1.num_seconds()),
                resolution_target_s: level.map(|l| l.2.num_seconds()),
                tickets: r.try_get("tickets")?,
                response: count(r, "response")?,
                resolution: count(r, "resolution")?,
                severity,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    // The SLA table's order (critical first); other levels after, by name.
    let rank = |name: &str| {
        s.severities
            .iter()
            .position(|(n, _, _)| n == name)
            .unwrap_or(usize::MAX)
    };
    out.sort_by(|a, b| (rank(&a.severity), &a.severity).cmp(&(rank(&b.severity), &b.severity)));
    Ok(out)
}
