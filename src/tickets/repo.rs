//! SQL for tickets and their history. Each write is one statement (a CTE
//! writes the ticket and its history event together), so a ticket costs
//! one round trip, and each is idempotent so the journal can replay it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::postgres::types::PgInterval;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;

use super::model::{Ticket, TicketEvent, TicketNumber, TicketStatus, TicketUpdate};

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

/// Insert `t` unless a ticket for its Call-ID exists; either way return the
/// ticket that now stands for that call.
pub async fn insert(pool: &PgPool, t: &Ticket) -> Result<Ticket, sqlx::Error> {
    let detail = json!({
        "severity": t.severity, "category": t.category, "caller": t.caller_number,
        "tier": t.assigned_tier, "response_due_at": t.response_due_at,
    });
    let inserted = sqlx::query(
        "WITH t AS (
            INSERT INTO tickets (number, call_id, caller_number, caller_name, caller_private,
                customer_ref, callback_number, category, severity, status, received_at,
                answered_at, created_at, response_target, resolution_target, response_due_at,
                resolution_due_at, first_response_at, resolved_at, assigned_agent, assigned_tier,
                voice_note_path, recording_path, flow_version)
            VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)
            ON CONFLICT (call_id) DO NOTHING
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
    .fetch_optional(pool)
    .await?;
    match inserted {
        Some(_) => Ok(t.clone()),
        None => by_call_id(pool, &t.call_id)
            .await?
            .ok_or(sqlx::Error::RowNotFound),
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
    resolved_at, assigned_agent, assigned_tier, voice_note_path, recording_path, flow_version";

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
    })
}

pub async fn by_number(pool: &PgPool, n: TicketNumber) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE number = $1");
    let row = sqlx::query(&sql).bind(n.0).fetch_optional(pool).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_call_id(pool: &PgPool, call_id: &str) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE call_id = $1");
    let row = sqlx::query(&sql).bind(call_id).fetch_optional(pool).await?;
    row.as_ref().map(from_row).transpose()
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
