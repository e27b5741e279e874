//! The JSON routes. Handlers are thin: parse (see [`params`]), call the
//! ticket layer, shape the answer; every failure is an [`AdminError`].

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::error::AdminError;
use super::params::{self, Pairs};
use super::{AdminState, AdminStatus};
use crate::tickets::model::RoutingView;
use crate::tickets::{calls, repo, CallRecord, Ticket, TicketEvent, TicketStatus, TicketUpdate};

/// `/healthz` answers within this even when the database hangs, so a
/// monitor's own timeout never hides which part is down.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest `actor` accepted: it lands in every history line.
const MAX_ACTOR: usize = 64;

/// Query pairs, or a 400 naming the query (a malformed string names no
/// single parameter).
fn pairs(q: Result<Query<Pairs>, QueryRejection>) -> Result<Pairs, AdminError> {
    q.map(|Query(p)| p)
        .map_err(|e| AdminError::param("query", e.body_text()))
}

/// `GET /healthz`: `ok` when the database answers `SELECT 1` in time.
pub async fn healthz(State(s): State<AdminState>) -> Response {
    let probe = sqlx::query("SELECT 1").execute(s.store.pool());
    match tokio::time::timeout(HEALTH_TIMEOUT, probe).await {
        Ok(Ok(_)) => (StatusCode::OK, "ok").into_response(),
        Ok(Err(e)) => AdminError::DbDown(e.to_string()).into_response(),
        Err(_) => AdminError::DbDown(format!(
            "no answer to SELECT 1 within {}s",
            HEALTH_TIMEOUT.as_secs()
        ))
        .into_response(),
    }
}

/// `GET /api/status`.
pub async fn status(State(s): State<AdminState>) -> Json<AdminStatus> {
    Json(s.status_now())
}

/// `GET /api/hours`: each tier staffed or not now, and when that changes.
pub async fn hours(State(s): State<AdminState>) -> Json<serde_json::Value> {
    let now = chrono::Utc::now();
    Json(serde_json::json!({
        "time_zone": s.hours.zone().name(),
        "sla_clock": s.hours.sla_clock().as_str(),
        "at": now,
        "tiers": s.hours.board(now),
    }))
}

/// `GET /api/tickets?open=&severity=&since=&limit=`, newest first.
pub async fn list_tickets(
    State(s): State<AdminState>,
    q: Result<Query<Pairs>, QueryRejection>,
) -> Result<Json<Vec<Ticket>>, AdminError> {
    let filter = params::ticket_filter(&pairs(q)?)?;
    Ok(Json(repo::list(s.store.pool(), &filter).await?))
}

/// A ticket with its history, oldest event first.
#[derive(Debug, Serialize, Deserialize)]
pub struct TicketWithHistory {
    pub ticket: Ticket,
    /// First response, agent, tier, queue wait, recording.
    #[serde(default)]
    pub routing: RoutingView,
    pub history: Vec<TicketEvent>,
}

async fn ticket_with_history(
    s: &AdminState,
    number: crate::tickets::TicketNumber,
) -> Result<TicketWithHistory, AdminError> {
    // The store also finds a ticket still waiting in the journal.
    let ticket = s
        .store
        .get(number)
        .await?
        .ok_or(AdminError::NoSuchTicket(number))?;
    let history = repo::events(s.store.pool(), number).await?;
    Ok(TicketWithHistory {
        routing: ticket.routing(),
        ticket,
        history,
    })
}

/// `GET /api/tickets/{number}`.
pub async fn show_ticket(
    State(s): State<AdminState>,
    Path(number): Path<String>,
) -> Result<Json<TicketWithHistory>, AdminError> {
    let number = params::ticket_number(&number)?;
    Ok(Json(ticket_with_history(&s, number).await?))
}

/// Body of `POST /api/tickets/{number}/status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `open`, `in_progress`, `escalated`, `resolved` or `closed`.
    pub status: String,
    /// Who made the change; recorded in the history.
    pub actor: String,
    pub note: Option<String>,
}

/// What a status change writes. Taking the ticket (`in_progress`) or
/// resolving it counts as the first response; the store keeps an earlier
/// first response, so the SLA clock is never reset by a later change.
pub fn status_update(status: TicketStatus, note: Option<String>) -> TicketUpdate {
    let now = Utc::now();
    let responded = matches!(status, TicketStatus::InProgress | TicketStatus::Resolved);
    TicketUpdate {
        status: Some(status),
        first_response_at: responded.then_some(now),
        resolved_at: (status == TicketStatus::Resolved).then_some(now),
        note: note.filter(|n| !n.trim().is_empty()),
        ..TicketUpdate::default()
    }
}

/// `POST /api/tickets/{number}/status`: answers with the changed ticket
/// and its history.
pub async fn change_status(
    State(s): State<AdminState>,
    Path(number): Path<String>,
    body: Result<Json<StatusChange>, JsonRejection>,
) -> Result<Json<TicketWithHistory>, AdminError> {
    let number = params::ticket_number(&number)?;
    let Json(change) = body.map_err(|e| AdminError::BadBody {
        status: e.status(),
        reason: e.body_text(),
    })?;
    let status: TicketStatus = change
        .status
        .parse()
        .map_err(|e: String| AdminError::param("status", e))?;
    let actor = change.actor.trim();
    if actor.is_empty() || actor.len() > MAX_ACTOR || actor.chars().any(char::is_control) {
        return Err(AdminError::param(
            "actor",
            format!("give who makes the change: 1 to {MAX_ACTOR} printable characters"),
        ));
    }
    s.store
        .update(number, actor, status_update(status, change.note))
        .await?;
    tracing::info!(ticket = %number, status = status.as_str(), %actor, "ticket status changed from the admin API");
    Ok(Json(ticket_with_history(&s, number).await?))
}

/// `GET /api/calls?limit=`, newest first.
pub async fn recent_calls(
    State(s): State<AdminState>,
    q: Result<Query<Pairs>, QueryRejection>,
) -> Result<Json<Vec<CallRecord>>, AdminError> {
    let limit = params::calls_limit(&pairs(q)?)?;
    Ok(Json(calls::recent(s.store.pool(), limit).await?))
}
