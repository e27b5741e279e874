//! The roster, bindings and agent states in PostgreSQL: the one place that
//! writes `agents`, `agent_bindings` and `agent_events`.
//!
//! Why it is shaped this way:
//! - Several daemons may share one database, so nothing here trusts a
//!   cached row: a decision that must be exclusive (ringing an agent) is a
//!   conditional `UPDATE ... WHERE state = 'available'` ([`AgentStore::claim`])
//!   that PostgreSQL's row lock makes atomic, and a state change reads the
//!   state it replaces under `FOR UPDATE`.
//! - A state change and its `agent_events` row are written by one
//!   statement (a CTE), so the reports never see one without the other.
//! - Every write tells listeners which agent changed (`NOTIFY
//!   hotline_agents, '<id>'`) from triggers in the migration, inside the
//!   writing transaction: delivered on commit, never for a rollback, and
//!   also for a change made by hand in `psql`. [`AgentStore::listen`]
//!   subscribes.
//! - Passwords arrive as [`Password`] (its `Debug` is `***`), are hashed
//!   here into both HA1s, and go no further: not into a row, an error, or a
//!   log line.

use std::collections::HashMap;

use sqlx::postgres::{PgListener, PgNotification, PgPool};

use super::model::{
    Actor, Agent, AgentEntry, AgentId, AgentState, BadPassword, BadTier, BadUser, Credentials,
    Password, SipUser, Tier,
};
use super::rows::{
    agent_from, binding_from, credentials_from, is_unique_violation, tier_names, AGENT_COLUMNS,
    BINDING_COLUMNS, CREDENTIAL_COLUMNS,
};
use crate::sip::auth::{ha1, Algorithm};
use crate::tickets::TicketNumber;

/// The channel every roster, state and binding change is notified on; the
/// payload is the agent id in decimal.
pub const CHANNEL: &str = "hotline_agents";

/// Longest display name, pause reason or language tag accepted.
pub const MAX_NAME: usize = 128;
pub const MAX_REASON: usize = 200;

/// Why a roster operation failed. Each message starts with its stable code
/// ([`AgentError::code`]) and says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("HL-AGENT-UNKNOWN: no agent `{0}`; `hotline agents list` shows the roster")]
    Unknown(String),
    #[error("HL-AGENT-DUPLICATE: agent `{0}` exists already; choose another --user, or change that agent with `agents set-tier` / `agents passwd`")]
    Duplicate(SipUser),
    #[error(transparent)]
    Tier(#[from] BadTier),
    #[error("HL-AGENT-TIER: give at least one tier: L1, L2 or L3")]
    NoTier,
    #[error(transparent)]
    User(#[from] BadUser),
    #[error(transparent)]
    Password(#[from] BadPassword),
    /// A display name, language, reason or binding that does not fit.
    #[error("HL-AGENT-FIELD: {field}: {reason}")]
    Field { field: &'static str, reason: String },
    /// The agent is in a call (ringing or talking): a supervisor's pause,
    /// resume or log-out waits until it ends.
    #[error("HL-AGENT-BUSY: `{user}` is {state}; try again when the call has ended")]
    Busy { user: SipUser, state: AgentState },
    #[error("HL-AGENT-DB: database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl AgentError {
    /// The stable code, also the prefix of the message.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "HL-AGENT-UNKNOWN",
            Self::Duplicate(_) => "HL-AGENT-DUPLICATE",
            Self::Tier(_) | Self::NoTier => "HL-AGENT-TIER",
            Self::User(_) => "HL-AGENT-USER",
            Self::Password(_) => "HL-AGENT-PASSWORD",
            Self::Field { .. } => "HL-AGENT-FIELD",
            Self::Busy { .. } => "HL-AGENT-BUSY",
            Self::Db(_) => "HL-AGENT-DB",
        }
    }

    /// True when the request was refused (the caller can fix it), false
    /// when the database failed.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Db(_))
    }

    pub(super) fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Field {
            field,
            reason: reason.into(),
        }
    }
}

/// A new roster entry. `Debug` is safe: [`Password`] prints `***`.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub user: SipUser,
    pub display_name: String,
    pub tiers: Vec<Tier>,
    /// Prompt language, e.g. `en`.
    pub language: String,
    pub password: Password,
    /// The digest realm the hashes are made for (`agents.realm`).
    pub realm: String,
}

/// Why, by whom and for which call a state changes: what its event
/// records. `Cause::by(Actor::System).call("a84b4c76e66710").ticket(n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause<'a> {
    pub actor: Actor,
    pub reason: Option<&'a str>,
    pub call_id: Option<&'a str>,
    pub ticket: Option<TicketNumber>,
}

impl<'a> Cause<'a> {
    pub fn by(actor: Actor) -> Self {
        Self {
            actor,
            reason: None,
            call_id: None,
            ticket: None,
        }
    }

    pub fn reason(mut self, reason: Option<&'a str>) -> Self {
        self.reason = reason;
        self
    }

    pub fn call(mut self, call_id: &'a str) -> Self {
        self.call_id = Some(call_id);
        self
    }

    pub fn ticket(mut self, ticket: TicketNumber) -> Self {
        self.ticket = Some(ticket);
        self
    }
}

/// The roster over a pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AgentStore {
    pool: PgPool,
}

/// One or more tiers, each once, in order (L1 before L2).
pub fn normalize_tiers(tiers: &[Tier]) -> Result<Vec<Tier>, AgentError> {
    let mut t = tiers.to_vec();
    t.sort();
    t.dedup();
    if t.is_empty() {
        return Err(AgentError::NoTier);
    }
    Ok(t)
}

/// Tier names as typed (`L3`, `l2`); the first bad one is the error.
pub fn parse_tiers<S: AsRef<str>>(names: &[S]) -> Result<Vec<Tier>, AgentError> {
    let tiers = names
        .iter()
        .map(|n| n.as_ref().parse::<Tier>())
        .collect::<Result<Vec<_>, _>>()?;
    normalize_tiers(&tiers)
}

pub(super) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), AgentError> {
    if value.trim().is_empty() {
        return Err(AgentError::field(field, "is empty"));
    }
    if value.chars().count() > max {
        return Err(AgentError::field(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(AgentError::field(field, "contains a control character"));
    }
    Ok(())
}

/// A language tag as the IVR names its prompt sets: `en`, `zh`, `pt-BR`.
fn check_language(lang: &str) -> Result<(), AgentError> {
    let mut parts = lang.split('-');
    let primary = parts.next().unwrap_or_default();
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase());
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if primary_ok && rest_ok {
        Ok(())
    } else {
        Err(AgentError::field(
            "language",
            format!("`{lang}` is not a language tag; use e.g. en, zh or pt-BR"),
        ))
    }
}

/// The agent id a notification on [`CHANNEL`] names.
pub fn changed_agent(n: &PgNotification) -> Option<AgentId> {
    n.payload().trim().parse().ok().map(AgentId)
}

impl AgentStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A connection that receives every change's agent id (see
    /// [`changed_agent`]). Listen before loading a cache, so no change
    /// falls between the load and the subscription.
    pub async fn listen(&self) -> Result<PgListener, AgentError> {
        let mut l = PgListener::connect_with(&self.pool).await?;
        l.listen(CHANNEL).await?;
        Ok(l)
    }

    /// Add an agent (offline, enabled); the roster's first event for them
    /// records who added them.
    pub async fn add(&self, new: &NewAgent, actor: Actor) -> Result<Agent, AgentError> {
        check_text("display name", &new.display_name, MAX_NAME)?;
        check_language(&new.language)?;
        check_text("realm", &new.realm, MAX_NAME)?;
        let tiers = normalize_tiers(&new.tiers)?;
        let user = new.user.as_str();
        let pw = new.password.expose();
        let row = sqlx::query(&format!(
            "WITH a AS (
                INSERT INTO agents (sip_user, display_name, tiers, language, realm, ha1_md5, ha1_sha256)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                RETURNING {AGENT_COLUMNS}
            ), e AS (
                INSERT INTO agent_events (agent_id, sip_user, at, from_state, to_state, reason, actor)
                SELECT id, sip_user, created_at, NULL, state, 'added to the roster', $8 FROM a
            )
            SELECT {AGENT_COLUMNS} FROM a"
        ))
        .bind(user)
        .bind(new.display_name.trim())
        .bind(tier_names(&tiers))
        .bind(&new.language)
        .bind(&new.realm)
        .bind(ha1(Algorithm::Md5, user, &new.realm, pw))
        .bind(ha1(Algorithm::Sha256, user, &new.realm, pw))
        .bind(actor.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AgentError::Duplicate(new.user.clone())
            } else {
                e.into()
            }
        })?;
        Ok(agent_from(&row)?)
    }

    /// Every agent, by user name, with state, since when, reason and
    /// registered contacts (soonest expiry first), read from one snapshot
    /// so a binding never appears without its agent.
    pub async fn list(&self) -> Result<Vec<AgentEntry>, AgentError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents ORDER BY sip_user"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let mut entries = rows
            .iter()
            .map(|r| {
                Ok(AgentEntry {
                    agent: agent_from(r)?,
                    bindings: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let index: HashMap<AgentId, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.agent.id, i))
            .collect();
        let bindings = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM agent_bindings ORDER BY agent_id, expires_at, contact_uri"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        for r in &bindings {
            let b = binding_from(r)?;
            if let Some(&i) = index.get(&b.agent_id) {
                entries[i].bindings.push(b.record);
            }
        }
        Ok(entries)
    }

    /// One agent with their bindings.
    pub async fn get(&self, user: &SipUser) -> Result<AgentEntry, AgentError> {
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE sip_user = $1"
        ))
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| AgentError::Unknown(user.to_string()))?;
        let agent = agent_from(&row)?;
        let bindings = self.bindings(agent.id).await?;
        Ok(AgentEntry { agent, bindings })
    }

    /// The id of `user`.
    pub async fn id_of(&self, user: &SipUser) -> Result<AgentId, AgentError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM agents WHERE sip_user = $1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await?;
        id.map(AgentId)
            .ok_or_else(|| AgentError::Unknown(user.to_string()))
    }

    async fn update_agent(
        &self,
        user: &SipUser,
        set: &str,
        bind: impl FnOnce(
            sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        )
            -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Agent, AgentError> {
        let sql = format!(
            "UPDATE agents SET {set}, updated_at = now() WHERE sip_user = $1 RETURNING {AGENT_COLUMNS}"
        );
        let row = bind(sqlx::query(&sql).bind(user.as_str()))
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AgentError::Unknown(user.to_string()))?;
        Ok(agent_from(&row)?)
    }

    /// Replace the agent's tiers (one or more).
    pub async fn set_tiers(&self, user: &SipUser, tiers: &[Tier]) -> Result<Agent, AgentError> {
        let tiers = normalize_tiers(tiers)?;
        self.update_agent(user, "tiers = $2", |q| q.bind(tier_names(&tiers)))
            .await
    }

    /// Set a new password: both HA1s are recomputed for `realm` (which
    /// replaces the stored realm: after a realm change in the
    /// configuration, this is how an agent is moved to it).
    pub async fn set_password(
        &self,
        user: &SipUser,
        password: &Password,
        realm: &str,
    ) -> Result<Agent, AgentError> {
        check_text("realm", realm, MAX_NAME)?;
        let pw = password.expose();
        let md5 = ha1(Algorithm::Md5, user.as_str(), realm, pw);
        let sha = ha1(Algorithm::Sha256, user.as_str(), realm, pw);
        self.update_agent(user, "realm = $2, ha1_md5 = $3, ha1_sha256 = $4", |q| {
            q.bind(realm.to_string()).bind(md5).bind(sha)
        })
        .await
    }

    /// Enable or disable an agent. A disabled agent keeps their state but
    /// is never claimed for a call (and a registrar refuses them).
    pub async fn set_enabled(&self, user: &SipUser, enabled: bool) -> Result<Agent, AgentError> {
        self.update_agent(user, "enabled = $2", |q| q.bind(enabled))
            .await
    }

    /// Remove an agent and (cascade) their bindings. Their events stay for
    /// the reports, closed by a last one to `offline`.
    pub async fn remove(&self, user: &SipUser, actor: Actor) -> Result<AgentId, AgentError> {
        let id: Option<i64> = sqlx::query_scalar(
            "WITH d AS (
                DELETE FROM agents WHERE sip_user = $1 RETURNING id, sip_user, state
            ), e AS (
                INSERT INTO agent_events (agent_id, sip_user, from_state, to_state, reason, actor)
                SELECT id, sip_user, state, 'offline', 'removed from the roster', $2 FROM d
            )
            SELECT id FROM d",
        )
        .bind(user.as_str())
        .bind(actor.as_str())
        .fetch_optional(&self.pool)
        .await?;
        id.map(AgentId)
            .ok_or_else(|| AgentError::Unknown(user.to_string()))
    }

    /// What a registrar checks a digest against; `None` for an unknown
    /// user (which the registrar must answer like a wrong password).
    pub async fn credentials(&self, user: &str) -> Result<Option<Credentials>, AgentError> {
        let row = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM agents WHERE sip_user = $1"
        ))
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(credentials_from).transpose()?)
    }

    /// Everyone's credentials, to fill an in-memory cache.
    pub async fn all_credentials(&self) -> Result<Vec<Credentials>, AgentError> {
        let rows = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM agents ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(credentials_from)
            .collect::<Result<_, _>>()?)
    }
}
