//! Figures over the calls received in the period (call records, with or
//! without a ticket), each one query.

use sqlx::{PgPool, Row};

use super::model::{Figure, Target};
use super::{Clock, Query, ReportError, Settings};

const PERIOD: &str = "c.received_at >= $1 AND c.received_at < $2";

/// Calls that reached the queue and left it (an agent answered, the
/// caller hung up, asked for a callback, or was cut after the answer).
const QUEUED: &str = "('agent_call', 'abandoned_in_queue', 'callback_requested', 'call_cut')";

/// Answered within the rings, abandoned (IVR, queue, while ringing) and
/// the queue's service level.
pub(crate) async fn figures(
    pool: &PgPool,
    q: &Query,
    s: &Settings,
    clock: &mut Clock,
    figures: &mut Vec<Figure>,
) -> Result<(), ReportError> {
    let sql = format!(
        "SELECT count(*) FILTER (WHERE c.answered_at IS NOT NULL
                                   AND c.answered_at - c.received_at <= $3) AS part,
                count(*) AS whole
         FROM call_records c WHERE {PERIOD}"
    );
    let r = clock
        .time(
            "answered_within_rings",
            sqlx::query(&sql)
                .bind(q.from)
                .bind(q.to)
                .bind(s.answer_within)
                .fetch_one(pool),
        )
        .await?;
    figures.push(Figure::share(
        "answered_within_rings",
        &format!("Answered within {} rings", s.answer_rings),
        r.try_get("part")?,
        r.try_get("whole")?,
        Some(Target::at_least(s.answer_target)),
    ));

    let sql = format!(
        "SELECT count(*) FILTER (WHERE c.end_reason = 'caller_hung_up' AND c.answered_at IS NOT NULL) AS ivr,
                count(*) FILTER (WHERE c.end_reason = 'abandoned_in_queue') AS queue,
                count(*) FILTER (WHERE c.end_reason = 'caller_hung_up' AND c.answered_at IS NULL) AS ringing,
                count(*) AS whole
         FROM call_records c WHERE {PERIOD}"
    );
    let r = clock
        .time(
            "abandoned",
            sqlx::query(&sql).bind(q.from).bind(q.to).fetch_one(pool),
        )
        .await?;
    let whole: i64 = r.try_get("whole")?;
    for (key, label, col) in [
        ("abandoned_in_ivr", "Abandoned in the IVR", "ivr"),
        ("abandoned_in_queue", "Abandoned in the queue", "queue"),
        (
            "abandoned_ringing",
            "Abandoned before the answer",
            "ringing",
        ),
    ] {
        figures.push(
            Figure::share(key, label, r.try_get(col)?, whole, None)
                .with_note("share of all calls; the standard sets no target"),
        );
    }

    let sql = format!(
        "SELECT count(*) FILTER (WHERE a.wait_ms <= $3) AS part, count(*) AS whole
         FROM call_records c
         LEFT JOIN LATERAL (
             SELECT (e.detail->>'queue_wait_ms')::bigint AS wait_ms FROM ticket_events e
             WHERE e.ticket_number = c.ticket_number AND e.action = 'answered'
               AND e.detail->>'call_id' = c.call_id
             ORDER BY e.id LIMIT 1) a ON TRUE
         WHERE {PERIOD} AND c.end_reason IN {QUEUED}"
    );
    let r = clock
        .time(
            "queue_service_level",
            sqlx::query(&sql)
                .bind(q.from)
                .bind(q.to)
                .bind(s.service_level_wait.num_milliseconds())
                .fetch_one(pool),
        )
        .await?;
    figures.push(Figure::share(
        "queue_service_level",
        &format!(
            "Queue service level ({} s)",
            s.service_level_wait.num_seconds()
        ),
        r.try_get("part")?,
        r.try_get("whole")?,
        Some(Target::at_least(s.service_level_target)),
    ));
    Ok(())
}
