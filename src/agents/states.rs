//! Agent states in PostgreSQL: each change with its `agent_events` row,
//! the supervisor's pause, resume and log-out, the login on register, and
//! the atomic claim that takes an agent for a call. Part of
//! [`AgentStore`], split from `store` to keep each file to one job.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::model::{Actor, AgentEvent, AgentId, AgentState, Transition};
use super::rows::{decode_err, event_from};
use super::store::{AgentError, AgentStore, Cause, MAX_REASON};

fn check_reason(reason: Option<&str>) -> Result<(), AgentError> {
    match reason {
        Some(r) => super::store::check_text("reason", r, MAX_REASON),
        None => Ok(()),
    }
}

/// States a supervisor's pause, resume or log-out may start from: not
/// while the phone rings or the agent talks (routing owns those).
const NOT_IN_A_CALL: &[AgentState] = &[
    AgentState::Offline,
    AgentState::Available,
    AgentState::WrapUp,
    AgentState::Paused,
];

impl AgentStore {
    /// Move `agent` to `to` and record it; returns the state it was in.
    /// Writes nothing (no event) when the agent is in `to` already.
    pub async fn set_state(
        &self,
        agent: AgentId,
        to: AgentState,
        reason: Option<&str>,
        actor: Actor,
        call_id: Option<&str>,
    ) -> Result<AgentState, AgentError> {
        let mut cause = Cause::by(actor).reason(reason);
        cause.call_id = call_id;
        Ok(self.set_state_with(agent, to, &cause).await?.from)
    }

    /// [`AgentStore::set_state`] with the whole cause (a ticket number
    /// too), answering with the transition.
    pub async fn set_state_with(
        &self,
        agent: AgentId,
        to: AgentState,
        cause: &Cause<'_>,
    ) -> Result<Transition, AgentError> {
        self.transition(agent, to, cause, None, None).await
    }

    /// [`AgentStore::set_state_with`] for a change that happened at `at`
    /// (a write kept while the database was down and replayed later): the
    /// event and `state_since` carry the time routing made the change, not
    /// the time of the replay.
    pub async fn set_state_at(
        &self,
        agent: AgentId,
        to: AgentState,
        cause: &Cause<'_>,
        at: DateTime<Utc>,
    ) -> Result<Transition, AgentError> {
        self.transition(agent, to, cause, None, Some(at)).await
    }

    /// The state change behind every setter: the current state is read
    /// under `FOR UPDATE` (so two writers serialize and each event's
    /// `from_state` is what it replaced), checked against `allowed`, then
    /// row and event are written by one statement.
    async fn transition(
        &self,
        agent: AgentId,
        to: AgentState,
        cause: &Cause<'_>,
        allowed: Option<&[AgentState]>,
        at: Option<DateTime<Utc>>,
    ) -> Result<Transition, AgentError> {
        check_reason(cause.reason)?;
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query("SELECT sip_user, state FROM agents WHERE id = $1 FOR UPDATE")
            .bind(agent.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| AgentError::Unknown(format!("#{agent}")))?;
        let user: String = row.try_get("sip_user")?;
        let from: String = row.try_get("state")?;
        let from: AgentState = from.parse().map_err(|e| decode_err("agents.state", e))?;
        if from == to {
            tx.rollback().await?;
            return Ok(Transition { from, to });
        }
        if let Some(allowed) = allowed {
            if !allowed.contains(&from) {
                return Err(AgentError::Busy {
                    user: user.parse().map_err(|e| decode_err("agents.sip_user", e))?,
                    state: from,
                });
            }
        }
        sqlx::query(
            "WITH u AS (
                UPDATE agents SET state = $2, state_since = COALESCE($8, now()), state_reason = $3,
                    updated_at = now()
                WHERE id = $1
                RETURNING id, sip_user, state_since
            )
            INSERT INTO agent_events (agent_id, sip_user, at, from_state, to_state, reason, actor,
                call_id, ticket_number)
            SELECT id, sip_user, state_since, $4, $2, $3, $5, $6, $7 FROM u",
        )
        .bind(agent.0)
        .bind(to.as_str())
        .bind(cause.reason)
        .bind(from.as_str())
        .bind(cause.actor.as_str())
        .bind(cause.call_id)
        .bind(cause.ticket.map(|t| t.0))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Transition { from, to })
    }

    /// Pause (logged in, no calls), with an optional reason. Refused
    /// while ringing or on a call.
    pub async fn pause(
        &self,
        agent: AgentId,
        reason: Option<&str>,
        actor: Actor,
    ) -> Result<Transition, AgentError> {
        let cause = Cause::by(actor).reason(reason);
        self.transition(agent, AgentState::Paused, &cause, Some(NOT_IN_A_CALL), None)
            .await
    }

    /// Back to available (from paused, wrap-up or offline: a supervisor's
    /// resume of a logged-out agent logs them in). Refused while ringing or
    /// on a call.
    pub async fn resume(&self, agent: AgentId, actor: Actor) -> Result<Transition, AgentError> {
        self.transition(
            agent,
            AgentState::Available,
            &Cause::by(actor),
            Some(NOT_IN_A_CALL),
            None,
        )
        .await
    }

    /// Log out (offline). Refused while ringing or on a call.
    pub async fn logout(&self, agent: AgentId, actor: Actor) -> Result<Transition, AgentError> {
        self.transition(
            agent,
            AgentState::Offline,
            &Cause::by(actor),
            Some(NOT_IN_A_CALL),
            None,
        )
        .await
    }

    /// Log in an agent who is offline (`agents.login_on_register`: a first
    /// registered phone); an agent in any other state is left as they are.
    pub async fn login_if_offline(
        &self,
        agent: AgentId,
        reason: &str,
        actor: Actor,
    ) -> Result<Transition, AgentError> {
        match self
            .transition(
                agent,
                AgentState::Available,
                &Cause::by(actor).reason(Some(reason)),
                Some(&[AgentState::Offline]),
                None,
            )
            .await
        {
            Err(AgentError::Busy { state, .. }) => Ok(Transition {
                from: state,
                to: state,
            }),
            other => other,
        }
    }

    /// Take `agent` for a call: `available` -> `ringing` if and only if
    /// they are available and enabled right now, in one conditional UPDATE
    /// whose row lock makes it atomic across daemons sharing the database
    /// (a second claimer waits for the first, re-reads the row, finds it
    /// `ringing` and gets `false`). The event is written by the same
    /// statement.
    pub async fn claim(&self, agent: AgentId, call_id: Option<&str>) -> Result<bool, AgentError> {
        let won: Option<i64> = sqlx::query_scalar(
            "WITH c AS (
                UPDATE agents SET state = 'ringing', state_since = now(), state_reason = NULL,
                    updated_at = now()
                WHERE id = $1 AND state = 'available' AND enabled
                RETURNING id, sip_user, state_since
            ), e AS (
                INSERT INTO agent_events (agent_id, sip_user, at, from_state, to_state, reason, actor, call_id)
                SELECT id, sip_user, state_since, 'available', 'ringing', 'offered a call', 'system', $2
                FROM c
            )
            SELECT id FROM c",
        )
        .bind(agent.0)
        .bind(call_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(won.is_some())
    }

    /// The agent's most recent events, newest first.
    pub async fn events(&self, agent: AgentId, limit: i64) -> Result<Vec<AgentEvent>, AgentError> {
        let rows = sqlx::query(
            "SELECT id, agent_id, sip_user, at, from_state, to_state, reason, actor, call_id,
                    ticket_number
             FROM agent_events WHERE agent_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(agent.0)
        .bind(limit.max(0))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(event_from).collect::<Result<_, _>>()?)
    }
}
