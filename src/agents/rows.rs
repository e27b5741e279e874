//! Rows to records: the column lists the store selects and the decoders
//! that turn them into typed records. A value the schema's CHECKs should
//! have kept out (an unknown state, a bad address) is a decode error, not
//! a panic.

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::model::{Agent, AgentEvent, AgentId, Binding, BindingRecord, Credentials, Tier};
use crate::tickets::TicketNumber;

pub(super) const AGENT_COLUMNS: &str =
    "id, sip_user, display_name, tiers, language, enabled, realm, \
     state, state_since, state_reason, created_at, updated_at";

pub(super) const BINDING_COLUMNS: &str =
    "agent_id, contact_uri, expires_at, call_id, cseq, source, \
     transport, instance, reg_id, user_agent, registered_at, reachable, failures, last_seen_at";

pub(super) const CREDENTIAL_COLUMNS: &str =
    "id, sip_user, enabled, realm, ha1_md5, ha1_sha256, tiers, language";

pub(super) fn decode_err(what: &str, e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what}: {e}").into())
}

pub(super) fn tiers_from(raw: Vec<String>) -> Result<Vec<Tier>, sqlx::Error> {
    raw.iter()
        .map(|t| t.parse().map_err(|e| decode_err("agents.tiers", e)))
        .collect()
}

pub(super) fn agent_from(r: &PgRow) -> Result<Agent, sqlx::Error> {
    let user: String = r.try_get("sip_user")?;
    let state: String = r.try_get("state")?;
    Ok(Agent {
        id: AgentId(r.try_get("id")?),
        user: user.parse().map_err(|e| decode_err("agents.sip_user", e))?,
        display_name: r.try_get("display_name")?,
        tiers: tiers_from(r.try_get("tiers")?)?,
        language: r.try_get("language")?,
        enabled: r.try_get("enabled")?,
        realm: r.try_get("realm")?,
        state: state.parse().map_err(|e| decode_err("agents.state", e))?,
        state_since: r.try_get("state_since")?,
        state_reason: r.try_get("state_reason")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(super) fn binding_from(r: &PgRow) -> Result<Binding, sqlx::Error> {
    let source: String = r.try_get("source")?;
    let transport: String = r.try_get("transport")?;
    let cseq: i64 = r.try_get("cseq")?;
    let reg_id: Option<i32> = r.try_get("reg_id")?;
    let failures: i32 = r.try_get("failures")?;
    Ok(Binding {
        agent_id: AgentId(r.try_get("agent_id")?),
        record: BindingRecord {
            contact_uri: r.try_get("contact_uri")?,
            expires_at: r.try_get("expires_at")?,
            call_id: r.try_get("call_id")?,
            cseq: u32::try_from(cseq).map_err(|e| decode_err("agent_bindings.cseq", e))?,
            source: source
                .parse()
                .map_err(|e| decode_err("agent_bindings.source", e))?,
            transport: transport
                .parse()
                .map_err(|e| decode_err("agent_bindings.transport", e))?,
            instance: r.try_get("instance")?,
            reg_id: reg_id
                .map(u32::try_from)
                .transpose()
                .map_err(|e| decode_err("agent_bindings.reg_id", e))?,
            user_agent: r.try_get("user_agent")?,
            registered_at: r.try_get("registered_at")?,
            reachable: r.try_get("reachable")?,
            failures: u32::try_from(failures)
                .map_err(|e| decode_err("agent_bindings.failures", e))?,
            last_seen_at: r.try_get("last_seen_at")?,
        },
    })
}

pub(super) fn credentials_from(r: &PgRow) -> Result<Credentials, sqlx::Error> {
    let user: String = r.try_get("sip_user")?;
    Ok(Credentials {
        id: AgentId(r.try_get("id")?),
        user: user.parse().map_err(|e| decode_err("agents.sip_user", e))?,
        enabled: r.try_get("enabled")?,
        realm: r.try_get("realm")?,
        ha1_md5: r.try_get("ha1_md5")?,
        ha1_sha256: r.try_get("ha1_sha256")?,
        tiers: tiers_from(r.try_get("tiers")?)?,
        language: r.try_get("language")?,
    })
}

pub(super) fn event_from(r: &PgRow) -> Result<AgentEvent, sqlx::Error> {
    let user: String = r.try_get("sip_user")?;
    let from: Option<String> = r.try_get("from_state")?;
    let to: String = r.try_get("to_state")?;
    let actor: String = r.try_get("actor")?;
    Ok(AgentEvent {
        id: r.try_get("id")?,
        agent_id: AgentId(r.try_get("agent_id")?),
        user: user
            .parse()
            .map_err(|e| decode_err("agent_events.sip_user", e))?,
        at: r.try_get("at")?,
        from_state: from
            .map(|s| s.parse())
            .transpose()
            .map_err(|e| decode_err("agent_events.from_state", e))?,
        to_state: to
            .parse()
            .map_err(|e| decode_err("agent_events.to_state", e))?,
        reason: r.try_get("reason")?,
        actor: actor
            .parse()
            .map_err(|e| decode_err("agent_events.actor", e))?,
        call_id: r.try_get("call_id")?,
        ticket_number: r
            .try_get::<Option<i64>, _>("ticket_number")?
            .map(TicketNumber),
    })
}

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

pub(super) fn tier_names(tiers: &[Tier]) -> Vec<String> {
    tiers.iter().map(|t| t.as_str().to_string()).collect()
}
