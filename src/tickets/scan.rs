//! The SLA clock without calls: a periodic scan of open tickets that
//! records what time alone decides, whether or not a call is active:
//!
//! - `sla_breached` when a response or resolution deadline has passed
//!   (once per ticket and deadline: op-ids `sla_breached-N`, the same as
//!   routing's for a caller still waiting, and `sla_breached-resolution-N`);
//! - the standard's escalation: a ticket of a rule's severity still
//!   unsolved `after` its `from` tier took it (the first `assigned` event
//!   of that tier) moves to the `to` tier (`escalated` event, the tier and
//!   status on the ticket; once per ticket and rule);
//! - `progress_due` while work takes longer than `progress_every` (counted
//!   from the first response): one per elapsed period, so the desk's
//!   system tells the caller how it goes.
//!
//! Several daemons may share a database: each scan runs in one
//! transaction that first takes a transaction-scoped advisory lock with
//! `pg_try_advisory_xact_lock`; a daemon that does not get it skips that
//! round. Every write is also keyed by op-id, so even a scan that ran
//! twice could not write an event twice.
//!
//! [`scan`] is a function of `now`, so tests drive time; [`spawn`] runs it
//! every `scan_every`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The advisory lock's key: "hotline SLA scan", one per database.
pub const LOCK_KEY: i64 = 0x686f_746c_5f73_6c61;

/// The actor written on the scan's history entries.
pub const ACTOR: &str = "sla_clock";

/// A time rule of the standard: `severity` unsolved `after` tier `from`
/// took it goes to tier `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    pub severity: String,
    pub from: String,
    pub to: String,
    pub after: TimeDelta,
}

/// What the scan applies.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRules {
    pub progress_every: TimeDelta,
    pub escalations: Vec<Escalation>,
}

impl ScanRules {
    pub fn from_config(c: &Config) -> Self {
        Self {
            progress_every: c.sla_scan.progress_every.as_chrono(),
            escalations: c
                .sla_scan
                .escalate_rules(&c.sla)
                .into_iter()
                .map(|r| Escalation {
                    severity: r.severity,
                    from: r.from,
                    to: r.to,
                    after: r.after.as_chrono(),
                })
                .collect(),
        }
    }
}

/// What one scan wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    pub response_breached: u64,
    pub resolution_breached: u64,
    pub escalated: u64,
    pub progress_due: u64,
}

/// A scan's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOutcome {
    Done(Scanned),
    /// Another scanner (this daemon's or another's) holds the lock.
    Busy,
}

const OPEN: &str = "t.status NOT IN ('resolved', 'closed')";

/// Times in event details as RFC 3339 UTC whatever the session's time
/// zone (`to_char(t AT TIME ZONE 'UTC', ISO)`), like routing's (serde).
const ISO: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"#;

/// Scan the open tickets as of `now` and write what is due.
pub async fn scan(
    pool: &PgPool,
    rules: &ScanRules,
    now: DateTime<Utc>,
) -> Result<ScanOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        tx.rollback().await?;
        return Ok(ScanOutcome::Busy);
    }
    // Response: no first response by the deadline (none yet, or a late one).
    let response_breached = sqlx::query(&format!(
        "INSERT INTO ticket_events (ticket_number, op_id, at, actor, action, detail)
         SELECT t.number, 'sla_breached-' || t.number, $1, $2, 'sla_breached',
                jsonb_build_object('event', 'sla_breached', 'deadline', 'response',
                                   'due', to_char(t.response_due_at AT TIME ZONE 'UTC', {ISO}))
         FROM tickets t
         WHERE {OPEN} AND t.response_due_at <= $1
           AND (t.first_response_at IS NULL OR t.first_response_at > t.response_due_at)
         ON CONFLICT (op_id) DO NOTHING"
    ))
    .bind(now)
    .bind(ACTOR)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    let resolution_breached = sqlx::query(&format!(
        "INSERT INTO ticket_events (ticket_number, op_id, at, actor, action, detail)
         SELECT t.number, 'sla_breached-resolution-' || t.number, $1, $2, 'sla_breached',
                jsonb_build_object('event', 'sla_breached', 'deadline', 'resolution',
                                   'due', to_char(t.resolution_due_at AT TIME ZONE 'UTC', {ISO}))
         FROM tickets t
         WHERE {OPEN} AND t.resolution_due_at <= $1
         ON CONFLICT (op_id) DO NOTHING"
    ))
    .bind(now)
    .bind(ACTOR)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    let mut escalated = 0;
    for rule in &rules.escalations {
        escalated += escalate(&mut tx, rule, now).await?;
    }

    // One `progress_due` per whole period of work: k = 1 after 30 min, 2
    // after an hour... A daemon that was down writes the current one only.
    let every = rules.progress_every.num_seconds().max(60);
    let progress_due = sqlx::query(&format!(
        "INSERT INTO ticket_events (ticket_number, op_id, at, actor, action, detail)
         SELECT p.number, 'progress_due-' || p.number || '-' || p.k, $1, $2, 'progress_due',
                jsonb_build_object('event', 'progress_due', 'working_since', to_char(p.first_response_at AT TIME ZONE 'UTC', {ISO}),
                                   'update', p.k, 'every_s', $3::bigint)
         FROM (SELECT t.number, t.first_response_at,
                      floor(EXTRACT(EPOCH FROM $1 - t.first_response_at) / $3::bigint)::bigint AS k
               FROM tickets t
               WHERE {OPEN} AND t.first_response_at <= $1 - make_interval(secs => $3::bigint)) p
         ON CONFLICT (op_id) DO NOTHING"
    ))
    .bind(now)
    .bind(ACTOR)
    .bind(every)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    tx.commit().await?;
    Ok(ScanOutcome::Done(Scanned {
        response_breached,
        resolution_breached,
        escalated,
        progress_due,
    }))
}

/// Apply one escalation rule: the tier, status `escalated` and the count on
/// the ticket, and the history entry, in one statement (as routing's
/// `escalated` event does).
async fn escalate(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    rule: &Escalation,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let op = |n: &str| format!("'sla_escalated-' || {n} || '-' || $3 || '-' || $4");
    let sql = format!(
        "WITH c AS (
            SELECT t.number FROM tickets t
            WHERE {OPEN} AND t.severity = $2 AND t.assigned_tier = $3
              AND (SELECT min(e.at) FROM ticket_events e
                   WHERE e.ticket_number = t.number AND e.action = 'assigned'
                     AND e.detail->>'tier' = $3) <= $1 - $5
              AND NOT EXISTS (SELECT 1 FROM ticket_events x WHERE x.op_id = {c_op})
        ), u AS (
            UPDATE tickets SET
                assigned_tier = $4,
                status = CASE WHEN status IN ('open', 'in_progress') THEN 'escalated' ELSE status END,
                escalations = escalations + 1
            FROM c WHERE tickets.number = c.number
            RETURNING tickets.number
        )
        INSERT INTO ticket_events (ticket_number, op_id, at, actor, action, detail)
        SELECT u.number, {u_op}, $1, $6, 'escalated',
               jsonb_build_object('event', 'escalated', 'from', $3::text, 'to', $4::text,
                                  'by', $6::text, 'after_s', $7::bigint)
        FROM u
        ON CONFLICT (op_id) DO NOTHING",
        c_op = op("t.number"),
        u_op = op("u.number"),
    );
    Ok(sqlx::query(&sql)
        .bind(now)
        .bind(&rule.severity)
        .bind(&rule.from)
        .bind(&rule.to)
        .bind(rule.after)
        .bind(ACTOR)
        .bind(rule.after.num_seconds())
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// Scan every `every` until `stop`; a failed scan (database down) is
/// logged and the next round tries again.
pub fn spawn(
    pool: PgPool,
    rules: ScanRules,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match scan(&pool, &rules, Utc::now()).await {
                Ok(ScanOutcome::Done(s)) if s != Scanned::default() => {
                    tracing::info!(
                        response_breached = s.response_breached,
                        resolution_breached = s.resolution_breached,
                        escalated = s.escalated,
                        progress_due = s.progress_due,
                        "SLA clock: events written"
                    );
                }
                Ok(ScanOutcome::Done(_)) => {}
                Ok(ScanOutcome::Busy) => {
                    tracing::debug!("SLA clock: another daemon is scanning; skipping this round")
                }
                Err(e) => tracing::warn!(error = %e, "SLA clock: scan failed; retrying next round"),
            }
        }
    })
}
