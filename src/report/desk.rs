//! The desk's work per agent and per tier, from the agents' state changes
//! (`agent_events`, one row per change): each row starts a stretch in its
//! `to_state` that lasts until the agent's next row, clipped to the period
//! (and to now). The state an agent was in when the period started comes
//! from their last row before it.

use std::collections::BTreeMap;

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::model::DeskRow;
use super::Query;

/// The stretches, as a CTE `seg` (agent_id, sip_user, to_state,
/// began_inside, start, stop). Agents no longer on the roster keep their
/// stretches inside the period, not the one running into it.
const SEGMENTS: &str = "
    WITH prior AS (
        SELECT (SELECT x.id FROM agent_events x
                WHERE x.agent_id = a.id AND x.at < $1
                ORDER BY x.at DESC, x.id DESC LIMIT 1) AS id
        FROM agents a
    ), ev AS (
        SELECT e.agent_id, e.sip_user, e.to_state, e.at,
               lead(e.at) OVER (PARTITION BY e.agent_id ORDER BY e.at, e.id) AS next_at
        FROM agent_events e
        WHERE (e.at >= $1 AND e.at < $2) OR e.id IN (SELECT id FROM prior)
    ), seg AS (
        SELECT agent_id, sip_user, to_state, at >= $1 AS began_inside,
               greatest(at, $1) AS start, least(coalesce(next_at, $2), $2, $3) AS stop
        FROM ev
    )";

const SUMS: &str = "
    count(*) FILTER (WHERE to_state = 'on_call' AND began_inside) AS calls,
    coalesce(EXTRACT(EPOCH FROM sum(stop - start) FILTER (
        WHERE to_state = 'on_call' AND stop > start)), 0)::float8 AS talk_s,
    coalesce(EXTRACT(EPOCH FROM sum(stop - start) FILTER (
        WHERE to_state = 'wrap_up' AND stop > start)), 0)::float8 AS wrap_up_s,
    coalesce(EXTRACT(EPOCH FROM sum(stop - start) FILTER (
        WHERE to_state IN ('available', 'ringing', 'on_call', 'wrap_up') AND stop > start)), 0)::float8
        AS staffed_s";

fn row(r: &PgRow) -> Result<DeskRow, sqlx::Error> {
    let talk_s: f64 = r.try_get("talk_s")?;
    let wrap_up_s: f64 = r.try_get("wrap_up_s")?;
    let staffed_s: f64 = r.try_get("staffed_s")?;
    Ok(DeskRow {
        name: r.try_get("name")?,
        calls: r.try_get("calls")?,
        talk_s,
        wrap_up_s,
        staffed_s,
        occupancy: (staffed_s > 0.0).then(|| (talk_s + wrap_up_s) / staffed_s),
    })
}

/// One row per agent (SIP user) with any stretch in the period, and
/// one per tier: the agents whose roster lists the tier now (an agent in
/// two tiers counts in both, so tier rows need not add up to the desk),
/// summed from the agents' rows rather than queried again.
pub async fn rows(pool: &PgPool, q: &Query) -> Result<(Vec<DeskRow>, Vec<DeskRow>), sqlx::Error> {
    let sql = format!(
        "{SEGMENTS} SELECT sip_user AS name, {SUMS},
            coalesce((SELECT a.tiers FROM agents a WHERE a.sip_user = seg.sip_user), '{{}}') AS tiers
         FROM seg GROUP BY sip_user ORDER BY sip_user"
    );
    let rows = sqlx::query(&sql)
        .bind(q.from)
        .bind(q.to)
        .bind(q.now)
        .fetch_all(pool)
        .await?;
    let mut agents = Vec::with_capacity(rows.len());
    let mut tiers: BTreeMap<String, DeskRow> = BTreeMap::new();
    for r in &rows {
        let agent = row(r)?;
        for tier in r.try_get::<Vec<String>, _>("tiers")? {
            let t = tiers.entry(tier.clone()).or_insert_with(|| DeskRow {
                name: tier,
                calls: 0,
                talk_s: 0.0,
                wrap_up_s: 0.0,
                staffed_s: 0.0,
                occupancy: None,
            });
            t.calls += agent.calls;
            t.talk_s += agent.talk_s;
            t.wrap_up_s += agent.wrap_up_s;
            t.staffed_s += agent.staffed_s;
        }
        agents.push(agent);
    }
    let tiers = tiers
        .into_values()
        .map(|mut t| {
            t.occupancy = (t.staffed_s > 0.0).then(|| (t.talk_s + t.wrap_up_s) / t.staffed_s);
            t
        })
        .collect();
    Ok((agents, tiers))
}
