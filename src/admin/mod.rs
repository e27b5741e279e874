//! The administrators' HTTP API and page (axum): health for monitors, the
//! daemon's counters, tickets and their history, status changes made by
//! people, recent call records, and one server-rendered page a supervisor
//! keeps open (no JavaScript, no external assets, refreshes itself).
//!
//! - [`serve`]: runs the server on a bound listener until a token is cancelled.
//! - [`api`]: the JSON routes. [`page`]: the HTML page.
//! - [`agents`]: the roster's routes (`/api/agents...`), the CLI's
//!   `agents` commands over HTTP.
//! - [`report`]: the desk's key figures and the QC sample (`/api/report...`).
//! - [`params`]: query parsing (every mistake a 400 naming the parameter).
//! - [`error`]: [`AdminError`], the one mapping to HTTP status and JSON.
//!
//! There is no authentication: the default `admin.listen` is loopback, and
//! a non-loopback listener is logged as a warning. State-changing routes
//! only take `application/json`, which a cross-site form cannot send.

pub mod agents;
pub mod api;
pub mod error;
pub mod page;
pub mod params;
pub mod report;

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::agents::AgentStore;
use crate::config::Config;
use crate::hours::ServiceHours;
use crate::tickets::TicketStore;

pub use error::AdminError;

/// How long open connections may finish their request after `stop`
/// before [`serve`] returns anyway: shutdown must not wait on a browser.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The daemon's counters as the admin API shows them. The daemon owns the
/// `watch::Sender` and replaces the value as things change; readers never
/// block it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdminStatus {
    /// Calls in progress now.
    pub calls_active: u64,
    /// Calls accepted since the daemon started.
    pub calls_started: u64,
    /// Calls refused because the daemon was full (503/486).
    pub rejected_busy: u64,
    /// Ticket writes waiting in the journal for the database. The admin
    /// server fills this from the store at each request, so the daemon
    /// need not keep it current.
    pub journal_pending: u64,
    /// Version of the IVR flow new calls use.
    pub flow_version: String,
    pub started_at: DateTime<Utc>,
    /// The running binary's version and git revision (`hotline status`
    /// compares it with the installed one after an upgrade).
    #[serde(default)]
    pub version: String,
}

/// What the roster's routes need from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    /// `agents.realm`: passwords set over the API are hashed for it.
    pub realm: String,
    /// `desk.language`: an added agent's language when none is given.
    pub language: String,
}

impl AgentSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            realm: config.agents.realm.clone(),
            language: config.desk.language.clone(),
        }
    }
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

/// What every handler sees. Cheap to clone: store handles and a watch
/// receiver.
#[derive(Clone)]
pub struct AdminState {
    pub store: TicketStore,
    pub status: watch::Receiver<AdminStatus>,
    /// The roster, on the tickets' pool unless [`AdminState::with_agents`]
    /// says otherwise.
    pub agents: AgentStore,
    pub agent_settings: AgentSettings,
    /// The report's targets (`[report]`, `[answer]`, the SLA table).
    pub report: crate::report::Settings,
    /// The service hours in force (`GET /api/hours`).
    pub hours: Arc<ServiceHours>,
}

impl AdminState {
    pub fn new(store: TicketStore, status: watch::Receiver<AdminStatus>) -> Self {
        let agents = AgentStore::new(store.pool().clone());
        Self {
            store,
            status,
            agents,
            agent_settings: AgentSettings::default(),
            report: crate::report::Settings::from_config(&Config::default()),
            hours: Arc::default(),
        }
    }

    /// Report with the configured targets rather than the standard's.
    pub fn with_report(mut self, settings: crate::report::Settings) -> Self {
        self.report = settings;
        self
    }

    /// Show `hours` at `GET /api/hours`.
    pub fn with_hours(mut self, hours: Arc<ServiceHours>) -> Self {
        self.hours = hours;
        self
    }

    /// Serve the roster from `agents`, with the configured realm and
    /// default language.
    pub fn with_agents(mut self, agents: AgentStore, settings: AgentSettings) -> Self {
        self.agents = agents;
        self.agent_settings = settings;
        self
    }

    /// The latest counters, with the journal length read from the store.
    pub fn status_now(&self) -> AdminStatus {
        let mut s = self.status.borrow().clone();
        s.journal_pending = self.store.pending() as u64;
        s.version = crate::shipped::version().to_string();
        s
    }
}

/// Every route, bound to `state`. Public so tests and embedders can mount
/// it elsewhere; [`serve`] is what the daemon calls.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/healthz", get(api::healthz))
        .route("/api/status", get(api::status))
        .route("/api/tickets", get(api::list_tickets))
        .route("/api/tickets/{number}", get(api::show_ticket))
        .route("/api/tickets/{number}/status", post(api::change_status))
        .route("/api/calls", get(api::recent_calls))
        .route("/api/report", get(report::figures))
        .route("/api/report/sample", get(report::sample))
        .route("/api/hours", get(api::hours))
        .route("/api/agents", get(agents::list).post(agents::add))
        .route(
            "/api/agents/{user}",
            get(agents::show).delete(agents::remove),
        )
        .route("/api/agents/{user}/tiers", put(agents::set_tiers))
        .route("/api/agents/{user}/password", put(agents::set_password))
        .route("/api/agents/{user}/pause", post(agents::pause))
        .route("/api/agents/{user}/resume", post(agents::resume))
        .route("/api/agents/{user}/logout", post(agents::logout))
        .fallback(|| async { AdminError::NoRoute })
        .method_not_allowed_fallback(|| async { AdminError::Method })
        .with_state(state)
}

/// Serve the admin API on `listener` until `stop` is cancelled; then stop
/// accepting, let requests in flight finish (up to [`SHUTDOWN_GRACE`]) and
/// return. The listener is bound by the caller so a busy port is reported
/// where the configuration key is known, and tests can bind port 0.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "admin API listens beyond this machine and has no authentication; put it behind a proxy that checks who asks");
    }
    tracing::info!(%addr, "admin API listening");
    let server = axum::serve(listener, router(state))
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    tokio::select! {
        result = server => result,
        () = async {
            stop.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("admin connections still open after the shutdown grace; leaving them");
            Ok(())
        }
    }
}
