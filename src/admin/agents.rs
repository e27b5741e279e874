//! The roster over HTTP: the same operations as `hotline agents ...`, with
//! the same error codes (`HL-AGENT-...`) in the JSON error body. Statuses:
//! 404 unknown agent, 409 duplicate user or agent in a call, 422 bad tier,
//! user name, password or field, 400/415 a body that is not the JSON the
//! route takes, 503 database down.
//!
//! Every POST takes a JSON body, even when it has nothing to say (`{}`):
//! a cross-site form cannot send `application/json`, so a page elsewhere
//! cannot pause or remove an agent through a supervisor's browser. PUT
//! and DELETE cannot come from a form at all.
//!
//! A password travels only in a request body, is hashed by the store and
//! is never echoed, logged or kept; the body types have no `Debug`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::AdminError;
use super::AdminState;
use crate::agents::store::parse_tiers;
use crate::agents::{
    Actor, Agent, AgentEntry, AgentError, AgentEvent, AgentId, BindingRecord, NewAgent, Password,
    SipUser, Transition,
};

/// Events `GET /api/agents/{user}` includes, newest first.
pub const SHOW_EVENTS: i64 = 20;

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, AdminError> {
    b.map(|Json(t)| t).map_err(|e| AdminError::BadBody {
        status: e.status(),
        reason: e.body_text(),
    })
}

/// A user in a path: a name no agent can have is simply no agent (404).
fn path_user(name: &str) -> Result<SipUser, AdminError> {
    name.parse::<SipUser>()
        .map_err(|_| AgentError::Unknown(name.chars().take(80).collect()).into())
}

/// `GET /api/agents`: every agent with state, since when, reason and
/// registered contacts.
pub async fn list(State(s): State<AdminState>) -> Result<Json<Vec<AgentEntry>>, AdminError> {
    Ok(Json(s.agents.list().await?))
}

/// One agent as `GET /api/agents/{user}` shows them.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentDetail {
    pub agent: Agent,
    pub bindings: Vec<BindingRecord>,
    /// Newest first.
    pub events: Vec<AgentEvent>,
}

/// `GET /api/agents/{user}`.
pub async fn show(
    State(s): State<AdminState>,
    Path(user): Path<String>,
) -> Result<Json<AgentDetail>, AdminError> {
    let entry = s.agents.get(&path_user(&user)?).await?;
    let events = s.agents.events(entry.agent.id, SHOW_EVENTS).await?;
    Ok(Json(AgentDetail {
        agent: entry.agent,
        bindings: entry.bindings,
        events,
    }))
}

/// Body of `POST /api/agents`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddAgent {
    pub user: String,
    #[serde(alias = "display_name")]
    pub name: String,
    pub tiers: Vec<String>,
    /// Default: `desk.language`.
    pub language: Option<String>,
    pub password: String,
}

/// `POST /api/agents`: 201 with the new agent.
pub async fn add(
    State(s): State<AdminState>,
    b: Result<Json<AddAgent>, JsonRejection>,
) -> Result<(StatusCode, Json<Agent>), AdminError> {
    let a = body(b)?;
    let new = NewAgent {
        user: a.user.parse::<SipUser>().map_err(AgentError::from)?,
        display_name: a.name,
        tiers: parse_tiers(&a.tiers)?,
        language: a
            .language
            .unwrap_or_else(|| s.agent_settings.language.clone()),
        password: Password::new(a.password).map_err(AgentError::from)?,
        realm: s.agent_settings.realm.clone(),
    };
    let agent = s.agents.add(&new, Actor::Api).await?;
    tracing::info!(agent = %agent.user, id = %agent.id, "agent added from the admin API");
    Ok((StatusCode::CREATED, Json(agent)))
}

/// Body of `PUT /api/agents/{user}/tiers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetTiers {
    pub tiers: Vec<String>,
}

/// `PUT /api/agents/{user}/tiers`: the changed agent.
pub async fn set_tiers(
    State(s): State<AdminState>,
    Path(user): Path<String>,
    b: Result<Json<SetTiers>, JsonRejection>,
) -> Result<Json<Agent>, AdminError> {
    let user = path_user(&user)?;
    let tiers = parse_tiers(&body(b)?.tiers)?;
    Ok(Json(s.agents.set_tiers(&user, &tiers).await?))
}

/// Body of `PUT /api/agents/{user}/password`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
}

/// What a password change answers (never the password or a hash).
#[derive(Debug, Serialize, Deserialize)]
pub struct PasswordSet {
    pub user: SipUser,
    pub realm: String,
    pub password_set: bool,
}

/// `PUT /api/agents/{user}/password`: both hashes for `agents.realm`.
pub async fn set_password(
    State(s): State<AdminState>,
    Path(user): Path<String>,
    b: Result<Json<SetPassword>, JsonRejection>,
) -> Result<Json<PasswordSet>, AdminError> {
    let user = path_user(&user)?;
    let password = Password::new(body(b)?.password).map_err(AgentError::from)?;
    let a = s
        .agents
        .set_password(&user, &password, &s.agent_settings.realm)
        .await?;
    tracing::info!(agent = %a.user, realm = %a.realm, "agent password changed from the admin API");
    Ok(Json(PasswordSet {
        user: a.user,
        realm: a.realm,
        password_set: true,
    }))
}

/// Body of the state routes: `{}` or `{"reason": "..."}` (pause only).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    pub reason: Option<String>,
}

/// What a state route answers: `changed` is false when the agent was in
/// that state already (nothing written).
#[derive(Debug, Serialize, Deserialize)]
pub struct StateChanged {
    pub user: SipUser,
    #[serde(flatten)]
    pub transition: Transition,
    pub changed: bool,
}

async fn agent_id(s: &AdminState, user: &str) -> Result<(SipUser, AgentId), AdminError> {
    let user = path_user(user)?;
    let id = s.agents.id_of(&user).await?;
    Ok((user, id))
}

fn changed(user: SipUser, t: Transition) -> Json<StateChanged> {
    Json(StateChanged {
        user,
        transition: t,
        changed: t.changed(),
    })
}

/// `POST /api/agents/{user}/pause` `{"reason": "lunch"}`.
pub async fn pause(
    State(s): State<AdminState>,
    Path(user): Path<String>,
    b: Result<Json<StateChange>, JsonRejection>,
) -> Result<Json<StateChanged>, AdminError> {
    let reason = body(b)?.reason.filter(|r| !r.trim().is_empty());
    let (user, id) = agent_id(&s, &user).await?;
    let t = s.agents.pause(id, reason.as_deref(), Actor::Api).await?;
    Ok(changed(user, t))
}

/// A body for routes that take no reason: `{}` (a reason is refused
/// rather than silently dropped).
fn no_reason(b: Result<Json<StateChange>, JsonRejection>) -> Result<(), AdminError> {
    match body(b)?.reason {
        Some(_) => Err(AdminError::param(
            "reason",
            "only a pause takes a reason; send {}",
        )),
        None => Ok(()),
    }
}

/// `POST /api/agents/{user}/resume` `{}`.
pub async fn resume(
    State(s): State<AdminState>,
    Path(user): Path<String>,
    b: Result<Json<StateChange>, JsonRejection>,
) -> Result<Json<StateChanged>, AdminError> {
    no_reason(b)?;
    let (user, id) = agent_id(&s, &user).await?;
    Ok(changed(user, s.agents.resume(id, Actor::Api).await?))
}

/// `POST /api/agents/{user}/logout` `{}`.
pub async fn logout(
    State(s): State<AdminState>,
    Path(user): Path<String>,
    b: Result<Json<StateChange>, JsonRejection>,
) -> Result<Json<StateChanged>, AdminError> {
    no_reason(b)?;
    let (user, id) = agent_id(&s, &user).await?;
    Ok(changed(user, s.agents.logout(id, Actor::Api).await?))
}

/// What `DELETE /api/agents/{user}` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Removed {
    pub user: SipUser,
    pub id: AgentId,
    pub removed: bool,
}

/// `DELETE /api/agents/{user}`: the agent and their bindings; their
/// events stay.
pub async fn remove(
    State(s): State<AdminState>,
    Path(user): Path<String>,
) -> Result<Json<Removed>, AdminError> {
    let user = path_user(&user)?;
    let id = s.agents.remove(&user, Actor::Api).await?;
    tracing::info!(agent = %user, %id, "agent removed from the admin API");
    Ok(Json(Removed {
        user,
        id,
        removed: true,
    }))
}
