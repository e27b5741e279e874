//! The roster for people (`hotline agents list` / `show`): aligned columns,
//! local times, how long ago, and each registered contact with its expiry
//! and reachability. Scripts use `--json` instead; nothing here is parsed.

use chrono::{DateTime, Utc};

use super::model::{Agent, AgentEntry, AgentEvent, BindingRecord, Tier};
use crate::tickets::report::{local, span};

fn tiers(t: &[Tier]) -> String {
    t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",")
}

fn state(a: &Agent, now: DateTime<Utc>) -> String {
    let mut s = format!(
        "{} since {} ({})",
        a.state,
        local(a.state_since),
        span(now - a.state_since)
    );
    if let Some(r) = &a.state_reason {
        s.push_str(&format!(": {r}"));
    }
    if !a.enabled {
        s.push_str(" [disabled]");
    }
    s
}

/// One contact: `<sip:...> udp 127.0.0.1:5071, expires in 52m, reachable`.
pub fn binding(b: &BindingRecord, now: DateTime<Utc>) -> String {
    let expiry = if b.expires_at > now {
        format!("expires in {}", span(b.expires_at - now))
    } else {
        format!("expired {} ago", span(now - b.expires_at))
    };
    let reach = if b.reachable {
        "reachable".to_string()
    } else {
        format!("UNREACHABLE ({} keep-alives unanswered)", b.failures)
    };
    format!(
        "{} {} {}, {expiry}, {reach}",
        b.contact_uri, b.transport, b.source
    )
}

/// The table `agents list` prints; contacts indented under their agent.
pub fn table(entries: &[AgentEntry], now: DateTime<Utc>) -> String {
    if entries.is_empty() {
        return "no agents; add one with `hotline agents add --user USER --name NAME --tier L1 --password-stdin`\n".into();
    }
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            let a = &e.agent;
            [
                a.user.to_string(),
                a.display_name.clone(),
                tiers(&a.tiers),
                a.language.clone(),
                state(a, now),
            ]
        })
        .collect();
    let header = ["USER", "NAME", "TIERS", "LANG", "STATE"];
    let mut width = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i == cells.len() - 1 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header);
    for (r, e) in rows.iter().zip(entries) {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
        if e.bindings.is_empty() {
            out.push_str("    (no phone registered)\n");
        }
        for b in &e.bindings {
            out.push_str(&format!("    {}\n", binding(b, now)));
        }
    }
    out
}

/// What `agents show` prints: the agent, their contacts, recent events
/// (newest first).
pub fn detail(e: &AgentEntry, events: &[AgentEvent], now: DateTime<Utc>) -> String {
    let a = &e.agent;
    let mut out = format!(
        "Agent      {} ({}), id {}\nTiers      {}\nLanguage   {}\nEnabled    {}\nRealm      {}\nState      {}\nAdded      {}\n",
        a.user,
        a.display_name,
        a.id,
        tiers(&a.tiers),
        a.language,
        if a.enabled { "yes" } else { "no" },
        a.realm,
        state(a, now),
        local(a.created_at),
    );
    out.push_str("Contacts\n");
    if e.bindings.is_empty() {
        out.push_str("  (no phone registered)\n");
    }
    for b in &e.bindings {
        out.push_str(&format!("  {}", binding(b, now)));
        if let Some(ua) = &b.user_agent {
            out.push_str(&format!(" [{ua}]"));
        }
        out.push('\n');
    }
    out.push_str("Recent events\n");
    for ev in events {
        let from = ev.from_state.map(|s| s.as_str()).unwrap_or("(new)");
        out.push_str(&format!(
            "  {}  {from} -> {}  by {}",
            local(ev.at),
            ev.to_state,
            ev.actor
        ));
        if let Some(r) = &ev.reason {
            out.push_str(&format!(": {r}"));
        }
        if let Some(c) = &ev.call_id {
            out.push_str(&format!(" (call {c})"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::model::{AgentId, AgentState, Transport};
    use chrono::TimeDelta;

    fn entry(now: DateTime<Utc>) -> AgentEntry {
        AgentEntry {
            agent: Agent {
                id: AgentId(3),
                user: "agent3".parse().unwrap(),
                display_name: "Li Wei".into(),
                tiers: vec![Tier::L2, Tier::L3],
                language: "zh".into(),
                enabled: true,
                realm: "hotline".into(),
                state: AgentState::Paused,
                state_since: now - TimeDelta::minutes(12),
                state_reason: Some("lunch".into()),
                created_at: now - TimeDelta::days(2),
                updated_at: now,
            },
            bindings: vec![BindingRecord {
                contact_uri: "<sip:agent3@127.0.0.1:5071;ob>".into(),
                expires_at: now + TimeDelta::minutes(52),
                call_id: "c".into(),
                cseq: 2,
                source: "127.0.0.1:5071".parse().unwrap(),
                transport: Transport::Udp,
                instance: None,
                reg_id: None,
                user_agent: None,
                registered_at: now,
                reachable: false,
                failures: 3,
                last_seen_at: now,
            }],
        }
    }

    #[test]
    fn the_table_shows_state_since_reason_and_contacts() {
        let now = Utc::now();
        let t = table(&[entry(now)], now);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("USER    NAME    TIERS"), "{t}");
        assert!(
            lines[1].contains("L2,L3") && lines[1].contains("paused since"),
            "{t}"
        );
        assert!(lines[1].contains("(12m): lunch"), "{t}");
        assert!(
            lines[2].contains(
                "<sip:agent3@127.0.0.1:5071;ob> udp 127.0.0.1:5071, expires in 52m, UNREACHABLE"
            ),
            "{t}"
        );
        assert!(table(&[], now).contains("agents add"));
    }
}
