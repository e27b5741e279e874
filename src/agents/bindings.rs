//! Registered contacts in `agent_bindings`: what the registrar writes (a
//! REGISTER's whole result at once), the keep-alive marks and the expiry
//! sweep. The registrar decides; this only stores, atomically.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::model::{AgentId, Binding, BindingRecord};
use super::rows::{binding_from, BINDING_COLUMNS};
use super::store::{AgentError, AgentStore};

/// What [`AgentStore::replace_bindings`] replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingsReplaced {
    /// Bindings the agent had before (0: this is a first registration).
    pub previous: usize,
    pub current: usize,
}

impl AgentStore {
    /// One agent's bindings, soonest expiry first.
    pub async fn bindings(&self, agent: AgentId) -> Result<Vec<BindingRecord>, AgentError> {
        let rows = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM agent_bindings WHERE agent_id = $1
             ORDER BY expires_at, contact_uri"
        ))
        .bind(agent.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(binding_from(r)?.record)).collect()
    }

    /// Every binding, to fill the registrar's cache after a start.
    pub async fn all_bindings(&self) -> Result<Vec<Binding>, AgentError> {
        let rows = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM agent_bindings ORDER BY agent_id, expires_at, contact_uri"
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(binding_from).collect::<Result<_, _>>()?)
    }

    /// Make `bindings` the agent's whole set of bindings, in one
    /// transaction: a REGISTER's result lands at once or not at all, and a
    /// reader never sees half of it. Concurrent replaces for one agent
    /// serialize on the agent's row.
    pub async fn replace_bindings(
        &self,
        agent: AgentId,
        bindings: &[BindingRecord],
    ) -> Result<BindingsReplaced, AgentError> {
        let mut seen = HashSet::new();
        for b in bindings {
            if !seen.insert(b.contact_uri.as_str()) {
                return Err(AgentError::field(
                    "contact_uri",
                    format!("`{}` is listed twice", b.contact_uri),
                ));
            }
            if b.contact_uri.is_empty() {
                return Err(AgentError::field("contact_uri", "is empty"));
            }
        }
        let mut tx = self.pool().begin().await?;
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM agents WHERE id = $1 FOR UPDATE")
                .bind(agent.0)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(AgentError::Unknown(format!("#{agent}")));
        }
        let previous = sqlx::query("DELETE FROM agent_bindings WHERE agent_id = $1")
            .bind(agent.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if !bindings.is_empty() {
            let col = |f: fn(&BindingRecord) -> String| bindings.iter().map(f).collect::<Vec<_>>();
            let times =
                |f: fn(&BindingRecord) -> DateTime<Utc>| bindings.iter().map(f).collect::<Vec<_>>();
            sqlx::query(
                "INSERT INTO agent_bindings (agent_id, contact_uri, expires_at, call_id, cseq,
                    source, transport, instance, reg_id, user_agent, registered_at, reachable,
                    failures, last_seen_at)
                 SELECT $1, * FROM UNNEST($2::text[], $3::timestamptz[], $4::text[], $5::int8[],
                    $6::text[], $7::text[], $8::text[], $9::int4[], $10::text[],
                    $11::timestamptz[], $12::bool[], $13::int4[], $14::timestamptz[])",
            )
            .bind(agent.0)
            .bind(col(|b| b.contact_uri.clone()))
            .bind(times(|b| b.expires_at))
            .bind(col(|b| b.call_id.clone()))
            .bind(
                bindings
                    .iter()
                    .map(|b| i64::from(b.cseq))
                    .collect::<Vec<_>>(),
            )
            .bind(col(|b| b.source.to_string()))
            .bind(col(|b| b.transport.as_str().to_string()))
            .bind(
                bindings
                    .iter()
                    .map(|b| b.instance.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                bindings
                    .iter()
                    .map(|b| b.reg_id.map(|r| i32::try_from(r).unwrap_or(i32::MAX)))
                    .collect::<Vec<_>>(),
            )
            .bind(
                bindings
                    .iter()
                    .map(|b| b.user_agent.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(times(|b| b.registered_at))
            .bind(bindings.iter().map(|b| b.reachable).collect::<Vec<_>>())
            .bind(
                bindings
                    .iter()
                    .map(|b| i32::try_from(b.failures).unwrap_or(i32::MAX))
                    .collect::<Vec<_>>(),
            )
            .bind(times(|b| b.last_seen_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(BindingsReplaced {
            previous: previous as usize,
            current: bindings.len(),
        })
    }

    /// Record a keep-alive's outcome for one binding. A reachable answer
    /// also moves `last_seen_at` (which notifies no one); listeners hear
    /// only of changes to `reachable` or `failures`. False when there is no
    /// such binding (it expired or was replaced meanwhile).
    pub async fn mark_reachable(
        &self,
        agent: AgentId,
        contact_uri: &str,
        reachable: bool,
        failures: u32,
    ) -> Result<bool, AgentError> {
        let done = sqlx::query(
            "UPDATE agent_bindings SET reachable = $3, failures = $4,
                last_seen_at = CASE WHEN $3 THEN now() ELSE last_seen_at END
             WHERE agent_id = $1 AND contact_uri = $2",
        )
        .bind(agent.0)
        .bind(contact_uri)
        .bind(reachable)
        .bind(i32::try_from(failures).unwrap_or(i32::MAX))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Delete every binding that expired at or before `now`; returns which
    /// (agent, contact) went.
    pub async fn delete_expired(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(AgentId, String)>, AgentError> {
        let rows = sqlx::query(
            "DELETE FROM agent_bindings WHERE expires_at <= $1 RETURNING agent_id, contact_uri",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((AgentId(r.try_get("agent_id")?), r.try_get("contact_uri")?)))
            .collect()
    }
}
