//! The admin API's errors: one enum, one place that turns each into an
//! HTTP status and the JSON body `{"error": "...", "code": "HL-ADMIN-..."}`,
//! so a script can branch on `code` and a person can search for it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::agents::AgentError;
use crate::tickets::{repo, StoreError, TicketNumber};

/// Why an admin request failed. The code in each message is stable.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A query or path parameter that does not parse; names the parameter
    /// so the caller knows what to fix without reading the source.
    #[error("HL-ADMIN-PARAM: bad parameter `{name}`: {reason}")]
    BadParam { name: &'static str, reason: String },
    /// A request body that is not the JSON the route expects. Keeps the
    /// status axum chose (400 syntax, 415 content type, 422 shape).
    #[error("HL-ADMIN-BODY: {reason}")]
    BadBody { status: StatusCode, reason: String },
    #[error("HL-ADMIN-NOT-FOUND: no ticket number {0}")]
    NoSuchTicket(TicketNumber),
    #[error("HL-ADMIN-ROUTE: no such page or API route; see GET / and /api/...")]
    NoRoute,
    #[error("HL-ADMIN-METHOD: this method is not allowed on this route")]
    Method,
    /// The database is not there: the page or API answers 503 quickly
    /// rather than hanging, and the call path keeps journaling tickets.
    #[error("HL-ADMIN-DB-DOWN: the database is unreachable: {0}")]
    DbDown(String),
    #[error("HL-ADMIN-DB: database error: {0}")]
    Db(sqlx::Error),
    #[error("HL-ADMIN-STORE: {0}")]
    Store(StoreError),
    /// A roster operation refused or failed: keeps the roster's own code
    /// (`HL-AGENT-...`), the same the CLI prints.
    #[error(transparent)]
    Agent(AgentError),
}

impl AdminError {
    /// The stable code, also the prefix of the message.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadParam { .. } => "HL-ADMIN-PARAM",
            Self::BadBody { .. } => "HL-ADMIN-BODY",
            Self::NoSuchTicket(_) => "HL-ADMIN-NOT-FOUND",
            Self::NoRoute => "HL-ADMIN-ROUTE",
            Self::Method => "HL-ADMIN-METHOD",
            Self::DbDown(_) => "HL-ADMIN-DB-DOWN",
            Self::Db(_) => "HL-ADMIN-DB",
            Self::Store(_) => "HL-ADMIN-STORE",
            Self::Agent(e) => e.code(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParam { .. } => StatusCode::BAD_REQUEST,
            Self::BadBody { status, .. } => *status,
            Self::NoSuchTicket(_) | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::Method => StatusCode::METHOD_NOT_ALLOWED,
            Self::DbDown(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Db(_) | Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Agent(e) => match e {
                AgentError::Unknown(_) => StatusCode::NOT_FOUND,
                AgentError::Duplicate(_) | AgentError::Busy { .. } => StatusCode::CONFLICT,
                AgentError::Tier(_)
                | AgentError::NoTier
                | AgentError::User(_)
                | AgentError::Password(_)
                | AgentError::Field { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                AgentError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Self::BadParam {
            name,
            reason: reason.into(),
        }
    }
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        if repo::is_unavailable(&e) {
            Self::DbDown(e.to_string())
        } else {
            Self::Db(e)
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchTicket(n) => Self::NoSuchTicket(n),
            StoreError::Database(d) => d.into(),
            other => Self::Store(other),
        }
    }
}

impl From<AgentError> for AdminError {
    fn from(e: AgentError) -> Self {
        match e {
            // Down is down, whichever layer asked: 503 like the tickets.
            AgentError::Db(d) if repo::is_unavailable(&d) => Self::DbDown(d.to_string()),
            other => Self::Agent(other),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "admin request failed");
        } else {
            tracing::debug!(error = %self, "admin request refused");
        }
        let text = self.to_string();
        // The code travels in its own field; the message need not repeat it.
        let message = text
            .strip_prefix(self.code())
            .and_then(|m| m.strip_prefix(": "))
            .unwrap_or(&text);
        (
            status,
            Json(json!({ "error": message, "code": self.code() })),
        )
            .into_response()
    }
}
