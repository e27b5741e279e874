//! The router driven with explicit `Instant`s: no sockets, no sleeps.
//! [`Desk`] is a tiny shell that keeps time and collects outputs.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::agents::{AgentId, AgentState, Tier};
use crate::config::Config;
use crate::tickets::TicketNumber;

mod actor;
mod agents;
mod config;
mod invariants;
mod order;
mod transfer;
mod waiting;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn a(n: i64) -> AgentId {
    AgentId(n)
}

struct Desk {
    r: Router,
    now: Instant,
    wall: DateTime<Utc>,
    next: u64,
}

impl Desk {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(f: impl FnOnce(&mut Config)) -> Self {
        let mut c = Config::default();
        f(&mut c);
        Desk {
            r: Router::new(Settings::from_config(&c)),
            now: Instant::now(),
            wall: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            next: 0,
        }
    }

    fn input(&mut self, i: Input) -> Vec<Output> {
        self.r.handle(self.now, i);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.r.poll_output()).collect()
    }

    /// Let `d` pass, firing timers on time as a shell would.
    fn advance(&mut self, d: Duration) -> Vec<Output> {
        let (start, end) = (self.now, self.now + d);
        let mut out = Vec::new();
        while let Some(at) = self.r.poll_timeout().filter(|at| *at <= end) {
            self.now = self.now.max(at);
            self.r.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.wall += TimeDelta::from_std(end - start).unwrap();
        self.now = end;
        out
    }

    fn new_entry(&mut self, severity: &str, response: Duration) -> NewEntry {
        self.next += 1;
        let level = Config::default()
            .sla
            .severities
            .into_iter()
            .find(|s| s.name == severity);
        let tier = level.map(|l| l.tier.parse().unwrap()).unwrap_or(Tier::L1);
        NewEntry {
            id: QueueEntryId(self.next),
            ticket: TicketNumber(1000 + self.next as i64),
            severity: severity.into(),
            tier,
            sla_start: self.wall,
            response_due: self.wall + TimeDelta::from_std(response).unwrap(),
            wall_now: self.wall,
            language: "en".into(),
            callback_requested: false,
        }
    }

    /// Queue a caller with the standard table's response target.
    fn call(&mut self, severity: &str) -> (QueueEntryId, Vec<Output>) {
        let response = match severity {
            "critical" => secs(1800),
            "major" => secs(3600),
            _ => secs(7200),
        };
        self.call_due(severity, response)
    }

    fn call_due(&mut self, severity: &str, response: Duration) -> (QueueEntryId, Vec<Output>) {
        let e = self.new_entry(severity, response);
        let id = e.id;
        (id, self.input(Input::Enqueue(e)))
    }

    fn login(&mut self, agent: i64, tiers: &[Tier]) -> Vec<Output> {
        self.input(Input::Login {
            agent: a(agent),
            tiers: tiers.to_vec(),
            reachable: true,
        })
    }

    fn answer(&mut self, entry: QueueEntryId, agent: i64) -> Vec<Output> {
        self.input(Input::OfferAnswered {
            entry,
            agent: a(agent),
        })
    }

    fn end(&mut self, agent: i64) -> Vec<Output> {
        self.input(Input::CallEnded { agent: a(agent) })
    }

    fn state(&self, agent: i64) -> AgentState {
        self.r.agent(a(agent)).unwrap().state
    }
}

/// The offers among outputs: (entry, agents).
fn offers(out: &[Output]) -> Vec<(QueueEntryId, Vec<AgentId>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Offer { entry, agents, .. } => Some((*entry, agents.clone())),
            _ => None,
        })
        .collect()
}

fn offered_to(out: &[Output]) -> Option<(QueueEntryId, AgentId)> {
    match offers(out).as_slice() {
        [(e, agents)] if agents.len() == 1 => Some((*e, agents[0])),
        _ => None,
    }
}

fn cancels(out: &[Output]) -> Vec<(QueueEntryId, AgentId)> {
    out.iter()
        .filter_map(|o| match o {
            Output::CancelOffer { entry, agent } => Some((*entry, *agent)),
            _ => None,
        })
        .collect()
}

fn changes(out: &[Output]) -> Vec<(AgentId, AgentState, AgentState, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::AgentStateChanged {
                agent,
                from,
                to,
                reason,
            } => Some((*agent, *from, *to, reason.to_string())),
            _ => None,
        })
        .collect()
}
