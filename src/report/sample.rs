//! Quality control (the standard: supervisors listen to 20 % of calls each
//! month and audit 10 % of tickets each week): a random draw of the
//! recordings and the tickets of a period, reproducible from its seed.
//!
//! Each item's place in the draw is `md5(seed:key)`, so the same seed over
//! the same period gives the same items, a new seed a fresh draw, and an
//! item's chance does not depend on when it was recorded. The size is the
//! share of the population, rounded up (one item at least when there is any).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};

/// A recording to listen to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledCall {
    pub ticket: i64,
    pub at: DateTime<Utc>,
    pub path: String,
    pub agent: Option<String>,
    pub call_id: String,
}

/// A ticket to audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledTicket {
    pub number: i64,
    pub received_at: DateTime<Utc>,
    pub severity: String,
    pub category: Option<String>,
    pub status: String,
    pub agent: Option<String>,
}

/// The draw, with what it was drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub seed: u64,
    pub calls_share: f64,
    pub tickets_share: f64,
    /// Recordings made in the period (the `recorded` events).
    pub recorded_calls: i64,
    /// Tickets received in the period.
    pub tickets_total: i64,
    pub calls: Vec<SampledCall>,
    pub tickets: Vec<SampledTicket>,
}

/// `share` of `n`, rounded up.
pub fn size(share: f64, n: i64) -> i64 {
    ((share * n as f64) - 1e-9).ceil().clamp(0.0, n as f64) as i64
}

/// Draw `calls_share` of the recordings and `tickets_share` of the
/// tickets of `[from, to)`.
pub async fn draw(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    seed: u64,
    calls_share: f64,
    tickets_share: f64,
) -> Result<Sample, sqlx::Error> {
    let seed_text = seed.to_string();
    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ticket_events WHERE action = 'recorded' AND at >= $1 AND at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query(
        "SELECT e.ticket_number, e.at, e.detail->>'path' AS path, t.assigned_agent, t.call_id
         FROM ticket_events e JOIN tickets t ON t.number = e.ticket_number
         WHERE e.action = 'recorded' AND e.at >= $1 AND e.at < $2
         ORDER BY md5($3 || ':' || e.op_id) LIMIT $4",
    )
    .bind(from)
    .bind(to)
    .bind(&seed_text)
    .bind(size(calls_share, recorded))
    .fetch_all(pool)
    .await?;
    let calls = rows
        .iter()
        .map(|r| {
            Ok(SampledCall {
                ticket: r.try_get("ticket_number")?,
                at: r.try_get("at")?,
                path: r.try_get::<Option<String>, _>("path")?.unwrap_or_default(),
                agent: r.try_get("assigned_agent")?,
                call_id: r.try_get("call_id")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;

    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tickets WHERE received_at >= $1 AND received_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query(
        "SELECT number, received_at, severity, category, status, assigned_agent FROM tickets
         WHERE received_at >= $1 AND received_at < $2
         ORDER BY md5($3 || ':' || number::text) LIMIT $4",
    )
    .bind(from)
    .bind(to)
    .bind(&seed_text)
    .bind(size(tickets_share, total))
    .fetch_all(pool)
    .await?;
    let tickets = rows
        .iter()
        .map(|r| {
            Ok(SampledTicket {
                number: r.try_get("number")?,
                received_at: r.try_get("received_at")?,
                severity: r.try_get("severity")?,
                category: r.try_get("category")?,
                status: r.try_get("status")?,
                agent: r.try_get("assigned_agent")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Sample {
        from,
        to,
        seed,
        calls_share,
        tickets_share,
        recorded_calls: recorded,
        tickets_total: total,
        calls,
        tickets,
    })
}

/// The draw for people.
pub fn text(s: &Sample) -> String {
    use crate::tickets::report::local;
    let mut out = format!(
        "Quality-control sample for {} to {} (seed {}; the same seed draws the same items)\n\n",
        local(s.from),
        local(s.to),
        s.seed
    );
    out.push_str(&format!(
        "Calls to listen to: {} of {} recordings ({:.0} %)\n",
        s.calls.len(),
        s.recorded_calls,
        s.calls_share * 100.0
    ));
    for c in &s.calls {
        out.push_str(&format!(
            "  #{:<8} {}  {:<12} {}\n",
            c.ticket,
            local(c.at),
            c.agent.as_deref().unwrap_or("-"),
            c.path
        ));
    }
    out.push_str(&format!(
        "\nTickets to audit: {} of {} ({:.0} %)\n",
        s.tickets.len(),
        s.tickets_total,
        s.tickets_share * 100.0
    ));
    for t in &s.tickets {
        out.push_str(&format!(
            "  #{:<8} {}  {:<10} {:<14} {:<12} {}\n",
            t.number,
            local(t.received_at),
            t.severity,
            t.category.as_deref().unwrap_or("-"),
            t.status,
            t.agent.as_deref().unwrap_or("-")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_round_up() {
        assert_eq!(super::size(0.2, 10), 2);
        assert_eq!(super::size(0.2, 11), 3);
        assert_eq!(super::size(0.1, 1), 1);
        assert_eq!(super::size(0.1, 0), 0);
        assert_eq!(super::size(1.0, 7), 7);
    }
}
