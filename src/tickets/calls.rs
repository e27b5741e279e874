//! Call records: one row per call, written (and rewritten) by the call
//! task as the call goes on, so a record exists even for a caller who hung
//! up before any ticket. Writes are idempotent upserts by Call-ID, so the
//! journal can replay them during and after a database outage.
//!
//! Calls refused at once are different: there can be thousands a second
//! under a flood, so [`RefusedRecords`] writes them in batches from one
//! task and counts, rather than journals, what it cannot write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;
use tokio::sync::mpsc;

use super::model::TicketNumber;

/// How a call ended. Stored as text; the names are stable (reports use them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReason {
    #[serde(rename = "caller_hung_up")]
    CallerHungUp,
    /// The flow ran to its end (queue or hangup step).
    #[serde(rename = "completed")]
    Completed,
    /// The caller gave no valid answer before a menu's tries ran out.
    #[serde(rename = "timeout")]
    Timeout,
    /// Refused at once because the daemon was full.
    #[serde(rename = "rejected_503")]
    Rejected503,
    #[serde(rename = "rejected_486")]
    Rejected486,
    /// The flow could not go on (a bug or a broken flow); see the log.
    #[serde(rename = "error")]
    Error,
    /// The daemon stopped while the call was in progress.
    #[serde(rename = "shutdown")]
    Shutdown,
    /// The caller hung up while waiting in the queue for an agent.
    #[serde(rename = "abandoned_in_queue")]
    AbandonedInQueue,
    /// The caller pressed 1 for a callback while waiting and was let go.
    #[serde(rename = "callback_requested")]
    CallbackRequested,
    /// The caller talked with an agent; either side hung up.
    #[serde(rename = "agent_call")]
    AgentCall,
    /// The agent's leg dropped; the caller heard that the desk calls back.
    #[serde(rename = "call_cut")]
    CallCut,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallerHungUp => "caller_hung_up",
            Self::Completed => "completed",
            Self::Timeout => "timeout",
            Self::Rejected503 => "rejected_503",
            Self::Rejected486 => "rejected_486",
            Self::Error => "error",
            Self::Shutdown => "shutdown",
            Self::AbandonedInQueue => "abandoned_in_queue",
            Self::CallbackRequested => "callback_requested",
            Self::AgentCall => "agent_call",
            Self::CallCut => "call_cut",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// One call, as far as it is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub call_id: String,
    pub caller_number: String,
    pub received_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<EndReason>,
    pub last_step: Option<String>,
    /// Every key the caller pressed, in order (`#` included).
    pub digits: String,
    pub language: Option<String>,
    pub ticket_number: Option<TicketNumber>,
    pub flow_version: Option<String>,
}

impl CallRecord {
    /// The record of a call that ended before the IVR ran (refused,
    /// abandoned while ringing): no step, keys or language to tell.
    pub fn ended_before_intake(
        call_id: String,
        caller_number: String,
        received_at: DateTime<Utc>,
        answered_at: Option<DateTime<Utc>>,
        ended_at: DateTime<Utc>,
        reason: EndReason,
        flow_version: Option<String>,
    ) -> Self {
        Self {
            call_id,
            caller_number,
            received_at,
            answered_at,
            ended_at: Some(ended_at),
            end_reason: Some(reason),
            last_step: None,
            digits: String::new(),
            language: None,
            ticket_number: None,
            flow_version,
        }
    }
}

/// Insert or refresh the record for `r.call_id`. A field the new write
/// does not know (`None`) keeps what an earlier write stored, so a late
/// partial write never erases what the call already reached.
pub async fn upsert(pool: &PgPool, r: &CallRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO call_records (call_id, caller_number, received_at, answered_at, ended_at,
            end_reason, last_step, digits, language, ticket_number, flow_version)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
         ON CONFLICT (call_id) DO UPDATE SET
            answered_at = COALESCE(EXCLUDED.answered_at, call_records.answered_at),
            ended_at = COALESCE(EXCLUDED.ended_at, call_records.ended_at),
            end_reason = COALESCE(EXCLUDED.end_reason, call_records.end_reason),
            last_step = COALESCE(EXCLUDED.last_step, call_records.last_step),
            digits = CASE WHEN length(EXCLUDED.digits) >= length(call_records.digits)
                          THEN EXCLUDED.digits ELSE call_records.digits END,
            language = COALESCE(EXCLUDED.language, call_records.language),
            ticket_number = COALESCE(EXCLUDED.ticket_number, call_records.ticket_number),
            flow_version = COALESCE(EXCLUDED.flow_version, call_records.flow_version),
            updated_at = now()",
    )
    .bind(&r.call_id)
    .bind(&r.caller_number)
    .bind(r.received_at)
    .bind(r.answered_at)
    .bind(r.ended_at)
    .bind(r.end_reason.map(EndReason::as_str))
    .bind(&r.last_step)
    .bind(&r.digits)
    .bind(&r.language)
    .bind(r.ticket_number.map(|n| n.0))
    .bind(&r.flow_version)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records of refused calls per database round trip at most.
const BATCH: usize = 512;
/// Refused calls' records waiting for the writer at most; past that they
/// are counted (a flood must not grow memory).
const QUEUE: usize = 8192;
/// One batch's round trip at most, so a hung database cannot hold the
/// writer (what it held is counted instead).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// While a count waits for the database, it is retried this often.
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// The writer of refused calls' records (503 at once: full, overloaded,
/// over a source's rate): one task, batches of up to [`BATCH`] rows per
/// round trip, never the journal. Under a flood or a database outage the
/// records it cannot write are counted and the count goes into
/// `unrecorded_refusals` (one row per stretch) once the database answers:
/// a refused INVITE costs a slot in a bounded queue, never a task, a
/// round trip or a journal file of its own.
#[derive(Debug, Clone)]
pub struct RefusedRecords {
    tx: mpsc::Sender<CallRecord>,
    overflow: Arc<AtomicU64>,
}

/// What the writer did, for its last log line and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefusedReport {
    pub written: u64,
    pub batches: u64,
    /// Counted into `unrecorded_refusals` rows.
    pub counted: u64,
    /// Still counted, not yet written, when the writer stopped.
    pub lost: u64,
}

impl RefusedRecords {
    /// Start the writer on `pool`; it ends when every clone is dropped,
    /// after one last attempt to write what it holds.
    pub fn spawn(pool: PgPool) -> (Self, tokio::task::JoinHandle<RefusedReport>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let overflow = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(write_refused(pool, rx, overflow.clone()));
        (Self { tx, overflow }, task)
    }

    /// Queue one record; never waits (a full queue counts it instead).
    pub fn record(&self, r: CallRecord) {
        if self.tx.try_send(r).is_err() {
            self.overflow.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Refused calls counted but not yet written: how many, over what time.
#[derive(Debug, Default)]
struct Unrecorded {
    count: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl Unrecorded {
    fn add(&mut self, n: u64, first: DateTime<Utc>, last: DateTime<Utc>) {
        if n == 0 {
            return;
        }
        self.count += n;
        self.first = Some(self.first.map_or(first, |f| f.min(first)));
        self.last = Some(self.last.map_or(last, |l| l.max(last)));
    }
}

async fn write_refused(
    pool: PgPool,
    mut rx: mpsc::Receiver<CallRecord>,
    overflow: Arc<AtomicU64>,
) -> RefusedReport {
    let mut report = RefusedReport::default();
    let mut unrecorded = Unrecorded::default();
    let mut batch = Vec::with_capacity(BATCH);
    // Whether the last round trip failed (one log line per outage).
    let mut failing = false;
    loop {
        let open = if unrecorded.count > 0 {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => n > 0,
                _ = tokio::time::sleep(RETRY_EVERY) => true,
            }
        } else {
            rx.recv_many(&mut batch, BATCH).await > 0
        };
        let now = Utc::now();
        unrecorded.add(overflow.swap(0, Ordering::Relaxed), now, now);
        let mut error = None;
        if !batch.is_empty() {
            match tokio::time::timeout(WRITE_TIMEOUT, insert_refused(&pool, &batch)).await {
                Ok(Ok(())) => {
                    report.written += batch.len() as u64;
                    report.batches += 1;
                }
                failed => {
                    error = Some(describe(failed));
                    let first = batch.iter().map(|r| r.received_at).min().unwrap_or(now);
                    let last = batch.iter().map(|r| r.received_at).max().unwrap_or(now);
                    unrecorded.add(batch.len() as u64, first, last);
                }
            }
            batch.clear();
        }
        // The count goes out once the database answers (without a batch
        // this round, writing it is the probe).
        if let (None, Some(first), Some(last)) = (&error, unrecorded.first, unrecorded.last) {
            let write = insert_unrecorded(&pool, first, last, unrecorded.count);
            match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                Ok(Ok(())) => {
                    tracing::info!(
                        refused = unrecorded.count,
                        %first,
                        %last,
                        "refused calls counted without records of their own (table unrecorded_refusals)"
                    );
                    report.counted += unrecorded.count;
                    unrecorded = Unrecorded::default();
                }
                failed => error = Some(describe(failed)),
            }
        }
        match error {
            Some(error) if !failing => {
                failing = true;
                tracing::warn!(
                    code = "HL-CALLS-REFUSED-COUNTED",
                    %error,
                    "refused calls' records cannot be written; counting them until the database answers"
                );
            }
            Some(_) => {}
            None => failing = false,
        }
        if !open {
            break;
        }
    }
    report.lost = unrecorded.count;
    if report.lost > 0 {
        tracing::warn!(
            refused = report.lost,
            "refused calls counted but not written: the database did not answer before shutdown"
        );
    }
    report
}

fn describe(failed: Result<Result<(), sqlx::Error>, tokio::time::error::Elapsed>) -> String {
    match failed {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => "no error".into(),
        Err(_) => format!("no answer within {WRITE_TIMEOUT:?}"),
    }
}

/// One round trip for a batch. A Call-ID that already has a record keeps
/// it: a refusal never overwrites a real call's record.
async fn insert_refused(pool: &PgPool, batch: &[CallRecord]) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = batch.iter().map(|r| r.call_id.as_str()).collect();
    let callers: Vec<&str> = batch.iter().map(|r| r.caller_number.as_str()).collect();
    let received: Vec<DateTime<Utc>> = batch.iter().map(|r| r.received_at).collect();
    let ended: Vec<Option<DateTime<Utc>>> = batch.iter().map(|r| r.ended_at).collect();
    let reasons: Vec<Option<&str>> = batch
        .iter()
        .map(|r| r.end_reason.map(EndReason::as_str))
        .collect();
    sqlx::query(
        "INSERT INTO call_records (call_id, caller_number, received_at, ended_at, end_reason)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
         ON CONFLICT (call_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&callers)
    .bind(&received)
    .bind(&ended)
    .bind(&reasons)
    .execute(pool)
    .await?;
    Ok(())
}

async fn insert_unrecorded(
    pool: &PgPool,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO unrecorded_refusals (first_at, last_at, refused) VALUES ($1, $2, $3)")
        .bind(first)
        .bind(last)
        .bind(i64::try_from(count).unwrap_or(i64::MAX))
        .execute(pool)
        .await?;
    Ok(())
}

/// Refused calls counted without their own record (tests, reports).
pub async fn unrecorded_refusals(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let n: Option<i64> = sqlx::query_scalar("SELECT sum(refused)::bigint FROM unrecorded_refusals")
        .fetch_one(pool)
        .await?;
    Ok(n.unwrap_or(0))
}

const COLUMNS: &str = "call_id, caller_number, received_at, answered_at, ended_at, end_reason,
    last_step, digits, language, ticket_number, flow_version";

/// The record of one call (tests, reports).
pub async fn by_call_id(pool: &PgPool, call_id: &str) -> Result<Option<CallRecord>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM call_records WHERE call_id = $1");
    let row = sqlx::query(&sql).bind(call_id).fetch_optional(pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// The latest `limit` calls, newest first (by when they reached us), for
/// the admin API: a supervisor asks "what just happened on the line?".
pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<CallRecord>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM call_records ORDER BY received_at DESC, id DESC LIMIT $1");
    let rows = sqlx::query(&sql).bind(limit).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

fn from_row(r: &PgRow) -> Result<CallRecord, sqlx::Error> {
    let reason: Option<String> = r.try_get("end_reason")?;
    let number: Option<i64> = r.try_get("ticket_number")?;
    Ok(CallRecord {
        call_id: r.try_get("call_id")?,
        caller_number: r.try_get("caller_number")?,
        received_at: r.try_get("received_at")?,
        answered_at: r.try_get("answered_at")?,
        ended_at: r.try_get("ended_at")?,
        end_reason: reason.as_deref().and_then(EndReason::parse),
        last_step: r.try_get("last_step")?,
        digits: r.try_get("digits")?,
        language: r.try_get("language")?,
        ticket_number: number.map(TicketNumber),
        flow_version: r.try_get("flow_version")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_reasons_keep_their_stored_names() {
        for r in [
            EndReason::CallerHungUp,
            EndReason::Completed,
            EndReason::Timeout,
            EndReason::Rejected503,
            EndReason::Rejected486,
            EndReason::Error,
            EndReason::Shutdown,
            EndReason::AbandonedInQueue,
            EndReason::CallbackRequested,
            EndReason::AgentCall,
            EndReason::CallCut,
        ] {
            assert_eq!(EndReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(EndReason::as_str(EndReason::Rejected503), "rejected_503");
    }
}
