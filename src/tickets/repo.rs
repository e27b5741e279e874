//! SQL for tickets and their history. Each write is one statement (a CTE
//! writes the ticket and its history event together), so a ticket costs
//! one round trip, and each is idempotent so the journal can replay it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::postgres::types::PgInterval;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;

use crate::config::SlaClock;

use super::model::{
    delta, Assignment, RoutingEvent, Ticket, TicketEvent, TicketNumber, TicketStatus, TicketUpdate,
};

/// Is this error "the database is not there" (journal and retry), as
/// opposed to "the database said no" (a bug or bad data)?
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // 08: connection exception; 57P0x: shutting down / starting up;
            // 53: out of resources; 40001/40P01 are retryable too.
            c.starts_with("08")
                || c.starts_with("57P")
                || c.starts_with("53")
                || c == "40001"
                || c == "40P01"
        }),
        _ => false,
    }
}

/// Insert `t` unless a ticket for its call ([`Ticket::key`]) exists;
/// either way return the ticket that now stands for that call. A
/// provisional number ([`TicketNumber::is_provisional`]) is replaced by
/// the next of the sequence here, so the returned ticket has its final one.
pub async fn insert(pool: &PgPool, t: &Ticket) -> Result<Ticket, sqlx::Error> {
    let detail = json!({
        "severity": t.severity, "category": t.category, "caller": t.caller_number,
        "tier": t.assigned_tier, "response_due_at": t.response_due_at,
    });
    let key = t.key();
    let inserted: Option<i64> = sqlx::query_scalar(
        "WITH t AS (
            INSERT INTO tickets (number, call_id, caller_number, caller_name, caller_private,
                customer_ref, callback_number, category, severity, status, received_at,
                answered_at, created_at, response_target, resolution_target, response_due_at,
                resolution_due_at, first_response_at, resolved_at, assigned_agent, assigned_tier,
                voice_note_path, recording_path, flow_version, call_key, sla_clock)
            VALUES (CASE WHEN $1 < 0 THEN nextval('ticket_number_seq') ELSE $1 END,
                $2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$26,$27)
            ON CONFLICT (call_key) DO NOTHING
            RETURNING number
        ), e AS (
            INSERT INTO ticket_events (ticket_number, op_id, at, actor, action, detail)
            SELECT number, 'create-' || number, $13, 'hotline', 'created', $25 FROM t
            ON CONFLICT (op_id) DO NOTHING
        )
        SELECT number FROM t",
    )
    .bind(t.number.0)
    .bind(&t.call_id)
    .bind(&t.caller_number)
    .bind(&t.caller_name)
    .bind(t.caller_private)
    .bind(&t.customer_ref)
    .bind(&t.callback_number)
    .bind(&t.category)
    .bind(&t.severity)
    .bind(t.status.as_str())
    .bind(t.received_at)
    .bind(t.answered_at)
    .bind(t.created_at)
    .bind(t.response_target)
    .bind(t.resolution_target)
    .bind(t.response_due_at)
    .bind(t.resolution_due_at)
    .bind(t.first_response_at)
    .bind(t.resolved_at)
    .bind(&t.assigned_agent)
    .bind(&t.assigned_tier)
    .bind(&t.voice_note_path)
    .bind(&t.recording_path)
    .bind(&t.flow_version)
    .bind(detail)
    .bind(&key)
    .bind(t.sla_clock.as_str())
    .fetch_optional(pool)
    .await?;
    match inserted {
        Some(number) => {
            let mut stored = t.clone();
            stored.number = TicketNumber(number);
            Ok(stored)
        }
        None => by_key(pool, &key).await?.ok_or(sqlx::Error::RowNotFound),
    }
}

/// Apply `u` to ticket `number` and record it in the history under `op_id`
/// (applying the same op twice records it once). False if no such ticket.
pub async fn update(
    pool: &PgPool,
    number: TicketNumber,
    op_id: &str,
    at: DateTime<Utc>,
    actor: &str,
    u: &TicketUpdate,
) -> Result<bool, sqlx::Error> {
    let action = if u.status.is_some() {
        "status"
    } else {
        "updated"
    };
    let row = sqlx::query(
        "WITH t AS (
            UPDATE tickets SET
                customer_ref = COALESCE($2, customer_ref),
                callback_number = COALESCE($3, callback_number),
                category = COALESCE($4, category),
                status = COALESCE($5, status),
                first_response_at = COALESCE(first_response_at, $6),
                resolved_at = COALESCE($7, resolved_at),
                assigned_agent = COALESCE($8, assigned_agent),
                voice_note_path = COALESCE($9, voice_note_path),
                recording_path = COALESCE($10, recording_path)
            WHERE number = $1
            RETURNING number
        ), e AS (
            INSERT INTO ticket_events (ticket_number, op_id, at, actor, action, detail)
            SELECT number, $11, $12, $13, $14, $15 FROM t
            ON CONFLICT (op_id) DO NOTHING
        )
        SELECT number FROM t",
    )
    .bind(number.0)
    .bind(&u.customer_ref)
    .bind(&u.callback_number)
    .bind(&u.category)
    .bind(u.status.map(TicketStatus::as_str))
    .bind(u.first_response_at)
    .bind(u.resolved_at)
    .bind(&u.assigned_agent)
    .bind(&u.voice_note_path)
    .bind(&u.recording_path)
    .bind(op_id)
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(serde_json::to_value(u).unwrap_or_default())
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// What [`update`] does, on a ticket held in memory (journal readers).
pub fn apply_in_memory(t: &mut Ticket, u: &TicketUpdate) {
    let set = |field: &mut Option<String>, v: &Option<String>| {
        if v.is_some() {
            field.clone_from(v);
        }
    };
    set(&mut t.customer_ref, &u.customer_ref);
    set(&mut t.callback_number, &u.callback_number);
    set(&mut t.category, &u.category);
    set(&mut t.assigned_agent, &u.assigned_agent);
    set(&mut t.voice_note_path, &u.voice_note_path);
    set(&mut t.recording_path, &u.recording_path);
    if let Some(s) = u.status {
        t.status = s;
    }
    t.first_response_at = t.first_response_at.or(u.first_response_at);
    if u.resolved_at.is_some() {
        t.resolved_at = u.resolved_at;
    }
}

/// The op-ids of an assignment's two history entries.
pub fn assignment_op_ids(number: TicketNumber, a: &Assignment) -> (String, String) {
    let key = format!(
        "{number}-{}-{}",
        a.call_id,
        a.answered_at.timestamp_micros()
    );
    (format!("assigned-{key}"), format!("answered-{key}"))
}

/// Has the history entry `op_id` been written?
async fn applied(pool: &PgPool, op_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ticket_events WHERE op_id = $1)")
        .bind(op_id)
        .fetch_one(pool)
        .await
}

/// An agent took the call: one statement sets the fields and writes the
/// `assigned` and `answered` events. Applied once: a replay (or a retry)
/// of the same assignment changes nothing, even after a later escalation
/// moved the ticket on. False if there is no such ticket.
pub async fn assign(
    pool: &PgPool,
    number: TicketNumber,
    actor: &str,
    a: &Assignment,
) -> Result<bool, sqlx::Error> {
    let (assigned_op, answered_op) = assignment_op_ids(number, a);
    let wait = delta(a.waited);
    let detail = json!({
        "agent": a.agent, "tier": a.tier, "answered_at": a.answered_at,
        "queue_wait_ms": a.waited.as_millis() as u64, "call_id": a.call_id,
    });
    let row = sqlx::query(
        "WITH t AS (
            UPDATE tickets SET
                first_response_at = COALESCE(first_response_at, $2),
                assigned_agent = $3,
                assigned_tier = $4,
                status = CASE WHEN status IN ('open', 'escalated') THEN 'in_progress' ELSE status END,
                queue_wait = COALESCE(queue_wait, $5)
            WHERE number = $1
              AND NOT EXISTS (SELECT 1 FROM ticket_events WHERE op_id = $6)
            RETURNING number
        ), e AS (
            INSERT INTO ticket_events (ticket_number, op_id, at, actor, action, detail)
            SELECT t.number, v.op_id, $2, $7, v.action, $8
            FROM t CROSS JOIN (VALUES ($6, 'assigned'), ($9, 'answered')) AS v (op_id, action)
            ON CONFLICT (op_id) DO NOTHING
        )
        SELECT number FROM t",
    )
    .bind(number.0)
    .bind(a.answered_at)
    .bind(&a.agent)
    .bind(&a.tier)
    .bind(wait)
    .bind(&assigned_op)
    .bind(actor)
    .bind(detail)
    .bind(&answered_op)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(_) => Ok(true),
        None => applied(pool, &assigned_op).await,
    }
}

/// The fields a routing event sets, as statement parameters.
struct EventFields {
    queue_wait: Option<TimeDelta>,
    tier: Option<String>,
    escalated: bool,
    callback_number: Option<String>,
    callback: bool,
    recording_path: Option<String>,
}

fn event_fields(e: &RoutingEvent) -> EventFields {
    let mut f = EventFields {
        queue_wait: None,
        tier: None,
        escalated: false,
        callback_number: None,
        callback: false,
        recording_path: None,
    };
    match e {
        RoutingEvent::AbandonedInQueue { waited, .. } => f.queue_wait = Some(delta(*waited)),
        RoutingEvent::Escalated { to, .. } => {
            f.tier = Some(to.clone());
            f.escalated = true;
        }
        RoutingEvent::CallbackRequested { number } => {
            f.callback = true;
            f.callback_number = Some(number.clone());
        }
        RoutingEvent::Recorded { path } => f.recording_path = Some(path.clone()),
        RoutingEvent::SlaAtRisk { .. }
        | RoutingEvent::SlaBreached { .. }
        | RoutingEvent::CallCut { .. } => {}
    }
    f
}

/// Record `e` on ticket `number`'s history under `op_id` and set what it
/// sets; applied once per op-id. False if there is no such ticket.
pub async fn event(
    pool: &PgPool,
    number: TicketNumber,
    op_id: &str,
    at: DateTime<Utc>,
    actor: &str,
    e: &RoutingEvent,
) -> Result<bool, sqlx::Error> {
    let f = event_fields(e);
    let row = sqlx::query(
        "WITH t AS (
            UPDATE tickets SET
                queue_wait = COALESCE(queue_wait, $2),
                assigned_tier = COALESCE($3, assigned_tier),
                status = CASE WHEN $4 AND status IN ('open', 'in_progress') THEN 'escalated' ELSE status END,
                escalations = escalations + CASE WHEN $4 THEN 1 ELSE 0 END,
                callback_requested_at = CASE WHEN $5 THEN COALESCE(callback_requested_at, $6) ELSE callback_requested_at END,
                callback_number = COALESCE(callback_number, $7),
                recording_path = COALESCE($8, recording_path)
            WHERE number = $1
              AND NOT EXISTS (SELECT 1 FROM ticket_events WHERE op_id = $9)
            RETURNING number
        ), ev AS (
            INSERT INTO ticket_events (ticket_number, op_id, at, actor, action, detail)
            SELECT number, $9, $6, $10, $11, $12 FROM t
            ON CONFLICT (op_id) DO NOTHING
        )
        SELECT number FROM t",
    )
    .bind(number.0)
    .bind(f.queue_wait)
    .bind(&f.tier)
    .bind(f.escalated)
    .bind(f.callback)
    .bind(at)
    .bind(&f.callback_number)
    .bind(&f.recording_path)
    .bind(op_id)
    .bind(actor)
    .bind(e.action())
    .bind(serde_json::to_value(e).unwrap_or_default())
    .fetch_optional(pool)
    .await?;
    match row {
        Some(_) => Ok(true),
        None => applied(pool, op_id).await,
    }
}

/// What [`assign`] does, on a ticket held in memory (journal readers).
pub fn assign_in_memory(t: &mut Ticket, a: &Assignment) {
    t.first_response_at = t.first_response_at.or(Some(a.answered_at));
    t.assigned_agent = Some(a.agent.clone());
    t.assigned_tier.clone_from(&a.tier);
    if matches!(t.status, TicketStatus::Open | TicketStatus::Escalated) {
        t.status = TicketStatus::InProgress;
    }
    t.queue_wait = t.queue_wait.or(Some(delta(a.waited)));
}

/// What [`event`] does, on a ticket held in memory (journal readers).
pub fn event_in_memory(t: &mut Ticket, at: DateTime<Utc>, e: &RoutingEvent) {
    let f = event_fields(e);
    t.queue_wait = t.queue_wait.or(f.queue_wait);
    if let Some(tier) = f.tier {
        t.assigned_tier = tier;
    }
    if f.escalated {
        if matches!(t.status, TicketStatus::Open | TicketStatus::InProgress) {
            t.status = TicketStatus::Escalated;
        }
        t.escalations += 1;
    }
    if f.callback {
        t.callback_requested_at = t.callback_requested_at.or(Some(at));
    }
    if t.callback_number.is_none() {
        t.callback_number = f.callback_number;
    }
    if f.recording_path.is_some() {
        t.recording_path = f.recording_path;
    }
}

/// Reserve `count` numbers from the sequence.
pub async fn reserve_numbers(pool: &PgPool, count: u32) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT nextval('ticket_number_seq') FROM generate_series(1, $1)")
        .bind(count as i32)
        .fetch_all(pool)
        .await
}

const COLUMNS: &str = "number, call_id, caller_number, caller_name, caller_private, customer_ref,
    callback_number, category, severity, status, received_at, answered_at, created_at,
    response_target, resolution_target, response_due_at, resolution_due_at, first_response_at,
    resolved_at, assigned_agent, assigned_tier, voice_note_path, recording_path, flow_version,
    queue_wait, callback_requested_at, escalations, sla_clock";

/// INTERVAL as written by us: days and microseconds, never months.
fn interval(i: PgInterval) -> TimeDelta {
    TimeDelta::days(i.days as i64 + i.months as i64 * 30) + TimeDelta::microseconds(i.microseconds)
}

fn from_row(r: &PgRow) -> Result<Ticket, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(Ticket {
        number: TicketNumber(r.try_get("number")?),
        call_id: r.try_get("call_id")?,
        caller_number: r.try_get("caller_number")?,
        caller_name: r.try_get("caller_name")?,
        caller_private: r.try_get("caller_private")?,
        customer_ref: r.try_get("customer_ref")?,
        callback_number: r.try_get("callback_number")?,
        category: r.try_get("category")?,
        severity: r.try_get("severity")?,
        status: status
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        received_at: r.try_get("received_at")?,
        answered_at: r.try_get("answered_at")?,
        created_at: r.try_get("created_at")?,
        response_target: interval(r.try_get("response_target")?),
        resolution_target: interval(r.try_get("resolution_target")?),
        response_due_at: r.try_get("response_due_at")?,
        resolution_due_at: r.try_get("resolution_due_at")?,
        first_response_at: r.try_get("first_response_at")?,
        resolved_at: r.try_get("resolved_at")?,
        assigned_agent: r.try_get("assigned_agent")?,
        assigned_tier: r.try_get("assigned_tier")?,
        voice_note_path: r.try_get("voice_note_path")?,
        recording_path: r.try_get("recording_path")?,
        flow_version: r.try_get("flow_version")?,
        queue_wait: r
            .try_get::<Option<PgInterval>, _>("queue_wait")?
            .map(interval),
        callback_requested_at: r.try_get("callback_requested_at")?,
        escalations: r.try_get("escalations")?,
        sla_clock: match r.try_get::<String, _>("sla_clock")?.as_str() {
            "staffed" => SlaClock::Staffed,
            _ => SlaClock::Always,
        },
    })
}

pub async fn by_number(pool: &PgPool, n: TicketNumber) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE number = $1");
    let row = sqlx::query(&sql).bind(n.0).fetch_optional(pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// The ticket of one call ([`Ticket::key`]).
pub async fn by_key(pool: &PgPool, key: &str) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE call_key = $1");
    let row = sqlx::query(&sql).bind(key).fetch_optional(pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// The latest ticket of a call that used `call_id` (one, unless a
/// Call-ID was reused: see [`all_by_call_id`]).
pub async fn by_call_id(pool: &PgPool, call_id: &str) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets WHERE call_id = $1 ORDER BY received_at DESC, number DESC LIMIT 1"
    );
    let row = sqlx::query(&sql).bind(call_id).fetch_optional(pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// The tickets of every call that used `call_id`, oldest first.
pub async fn all_by_call_id(pool: &PgPool, call_id: &str) -> Result<Vec<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE call_id = $1 ORDER BY number");
    let rows = sqlx::query(&sql).bind(call_id).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// Which tickets a listing shows.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub open_only: bool,
    pub severity: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
}

/// Newest first.
pub async fn list(pool: &PgPool, f: &TicketFilter) -> Result<Vec<Ticket>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets
         WHERE (NOT $1 OR status NOT IN ('resolved', 'closed'))
           AND ($2::text IS NULL OR severity = $2)
           AND ($3::timestamptz IS NULL OR received_at >= $3)
         ORDER BY number DESC LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(f.open_only)
        .bind(&f.severity)
        .bind(f.since)
        .bind(f.limit.unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// A ticket's history, oldest first.
pub async fn events(pool: &PgPool, n: TicketNumber) -> Result<Vec<TicketEvent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at, actor, action, detail FROM ticket_events WHERE ticket_number = $1 ORDER BY id",
    )
    .bind(n.0)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TicketEvent {
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// How many tickets exist (tests, reports).
pub async fn count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(pool)
        .await
}
