//! The desk's ordered writer: routing's agent-state changes and the claims
//! that take an agent for a call, applied to PostgreSQL in the order
//! routing made them, by one task, so routing never waits on the database.
//!
//! While PostgreSQL is down routing goes on from memory, and so does this
//! writer:
//! - a state write that fails because the database cannot be reached is
//!   kept, with the time routing made the change, and the backlog is
//!   replayed in order when the database answers again (each event keeps
//!   its original time). A write the database refuses for good (the agent
//!   was removed meanwhile) is dropped and logged: retrying cannot help.
//! - the backlog is bounded ([`BACKLOG`]). When it is full, the oldest
//!   write of an agent who has a later write waiting is dropped (that
//!   agent's final state still arrives; one intermediate event is lost and
//!   counted); only if every waiting write is the last of its agent is the
//!   oldest one dropped.
//! - a claim cannot be checked: the agent is claimed in memory only (the
//!   desk rings them; with one daemon that is exactly what the database
//!   would have said) and a `ringing` write joins the backlog, so the
//!   history is whole afterwards. Two daemons on one database that both
//!   lose it may then ring one agent for two calls: the database cannot
//!   arbitrate while it is gone, and refusing every call would be worse.
//!   Routing's later writes for that agent reconcile the row once the
//!   database is back.
//! - while the database is known to be down, nothing waits on it: a claim
//!   is answered at once and the backlog is retried every [`RETRY`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::agents::{Actor, AgentError, AgentId, AgentState, AgentStore, Cause};

/// State writes kept at most while the database is down.
pub const BACKLOG: usize = 10_000;
/// How often an unreachable database is tried again.
pub const RETRY: Duration = Duration::from_secs(1);
/// How long one write may take before the database counts as down.
const DB_WAIT: Duration = Duration::from_secs(3);

/// One agent-state change routing made, to be written.
#[derive(Debug, Clone)]
pub struct StateWrite {
    pub agent: AgentId,
    pub to: AgentState,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// What the desk hands the writer.
pub enum Write {
    State(StateWrite),
    /// Take the agent for a call before ringing them: atomic in
    /// PostgreSQL, so two daemons on one database never ring one agent for
    /// two calls. Answered `true` also when the database cannot be asked
    /// (claimed in memory, see the module's doc).
    Claim(AgentId, oneshot::Sender<bool>),
}

/// Per agent, the writes handed to the writer and not yet applied (or
/// dropped): while an agent has some, the roster the desk reads may not
/// show routing's latest state for them yet.
#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashMap<AgentId, usize>>>);

impl InFlight {
    pub fn add(&self, agent: AgentId) {
        *self.0.lock().unwrap().entry(agent).or_default() += 1;
    }

    /// A write applied, dropped, or never handed over.
    pub fn done(&self, agent: AgentId) {
        let mut m = self.0.lock().unwrap();
        if let Some(n) = m.get_mut(&agent) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&agent);
            }
        }
    }

    pub fn any(&self, agent: AgentId) -> bool {
        self.0.lock().unwrap().contains_key(&agent)
    }
}

/// What the writer did, for the log and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub written: u64,
    pub replayed: u64,
    pub coalesced: u64,
    pub dropped: u64,
    pub claimed_in_memory: u64,
}

/// The backlog and what the database is known to be doing.
pub struct Writer {
    store: AgentStore,
    backlog: VecDeque<StateWrite>,
    in_flight: InFlight,
    /// When the database last failed (None: it answers).
    down_at: Option<Instant>,
    limit: usize,
    pub counts: Counts,
}

/// Apply `rx` in order until it closes, then make a last attempt at what
/// is kept (the caller bounds how long it waits for that).
pub async fn run(mut rx: mpsc::Receiver<Write>, store: AgentStore, in_flight: InFlight) {
    let mut w = Writer::new(store, in_flight, BACKLOG);
    loop {
        let retry_at = w.down_at.map(|t| t + RETRY);
        let retry = async {
            match retry_at {
                Some(t) if !w.backlog.is_empty() => tokio::time::sleep_until(t).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            m = rx.recv() => match m {
                None => break,
                Some(Write::State(s)) => {
                    w.push(s);
                    w.flush().await;
                }
                Some(Write::Claim(agent, reply)) => {
                    let won = w.claim(agent).await;
                    let _ = reply.send(won);
                }
            },
            _ = retry => { w.flush().await; }
        }
    }
    w.down_at = None;
    w.flush().await;
    if !w.backlog.is_empty() {
        tracing::error!(
            kept = w.backlog.len(),
            "agent state writes not stored at shutdown: the database is still unreachable"
        );
    }
}

fn unreachable(e: &AgentError) -> bool {
    matches!(e, AgentError::Db(e) if crate::tickets::repo::is_unavailable(e))
}

impl Writer {
    pub fn new(store: AgentStore, in_flight: InFlight, limit: usize) -> Self {
        Self {
            store,
            backlog: VecDeque::new(),
            in_flight,
            down_at: None,
            limit: limit.max(1),
            counts: Counts::default(),
        }
    }

    pub fn kept(&self) -> usize {
        self.backlog.len()
    }

    /// Keep `s` behind every write before it; make room when full.
    pub fn push(&mut self, s: StateWrite) {
        if self.backlog.len() >= self.limit {
            // The oldest write of an agent with a later one waiting.
            let mut last: HashMap<AgentId, usize> = HashMap::new();
            for (i, w) in self.backlog.iter().enumerate() {
                last.insert(w.agent, i);
            }
            let victim = self
                .backlog
                .iter()
                .enumerate()
                .find(|(i, w)| last[&w.agent] != *i)
                .map(|(i, _)| i);
            let (i, how) = match victim {
                Some(i) => (i, "coalesced"),
                None => (0, "dropped"),
            };
            if let Some(old) = self.backlog.remove(i) {
                self.in_flight.done(old.agent);
                if victim.is_some() {
                    self.counts.coalesced += 1;
                } else {
                    self.counts.dropped += 1;
                }
                tracing::warn!(agent = %old.agent, state = %old.to, kept = self.backlog.len(),
                    "agent state backlog full: an event was {how}");
            }
        }
        self.backlog.push_back(s);
    }

    /// Write what is kept, in order, until the backlog is empty (true) or
    /// the database fails (false). While it is known to be down, tries
    /// again only every [`RETRY`].
    pub async fn flush(&mut self) -> bool {
        if let Some(t) = self.down_at {
            if t.elapsed() < RETRY {
                // Known down: not even a claim waits on it now.
                return false;
            }
        }
        let was_down = self.down_at.is_some();
        let mut replayed = 0u64;
        while let Some(s) = self.backlog.front().cloned() {
            let cause = Cause::by(Actor::System).reason(Some(&s.reason));
            let r = tokio::time::timeout(
                DB_WAIT,
                self.store.set_state_at(s.agent, s.to, &cause, s.at),
            )
            .await;
            match r {
                Ok(Ok(_)) => {
                    self.counts.written += 1;
                    if was_down {
                        replayed += 1;
                    }
                }
                Ok(Err(e)) if !unreachable(&e) => {
                    self.counts.dropped += 1;
                    tracing::warn!(error = %e, agent = %s.agent, state = %s.to, "agent state not stored");
                }
                Ok(Err(e)) => return self.went_down(&e.to_string()),
                Err(_) => return self.went_down("timed out"),
            }
            self.backlog.pop_front();
            self.in_flight.done(s.agent);
        }
        self.down_at = None;
        if was_down {
            self.counts.replayed += replayed;
            tracing::info!(
                replayed,
                "database back: agent state writes kept during the outage are stored"
            );
        }
        true
    }

    fn went_down(&mut self, error: &str) -> bool {
        if self.down_at.is_none() {
            tracing::warn!(%error, kept = self.backlog.len(),
                "database unreachable: agent state writes are kept and replayed in order when it returns");
        }
        self.down_at = Some(Instant::now());
        false
    }

    /// Claim `agent` in PostgreSQL after every earlier write; in memory
    /// when the database cannot be asked.
    pub async fn claim(&mut self, agent: AgentId) -> bool {
        if self.flush().await {
            match tokio::time::timeout(DB_WAIT, self.store.claim(agent, None)).await {
                Ok(Ok(won)) => return won,
                Ok(Err(e)) if !unreachable(&e) => {
                    tracing::warn!(error = %e, agent = %agent, "claim not checked: ringing anyway");
                    return true;
                }
                Ok(Err(e)) => {
                    self.went_down(&e.to_string());
                }
                Err(_) => {
                    self.went_down("timed out");
                }
            }
        }
        self.counts.claimed_in_memory += 1;
        tracing::warn!(agent = %agent, "database unreachable: agent claimed in memory only");
        self.in_flight.add(agent);
        self.push(StateWrite {
            agent,
            to: AgentState::Ringing,
            reason: "offered a call".into(),
            at: Utc::now(),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose database is never there (nothing listens on port 1).
    fn nowhere() -> AgentStore {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy("postgres://hotline@127.0.0.1:1/hotline")
            .unwrap();
        AgentStore::new(pool)
    }

    fn write(agent: i64, to: AgentState) -> StateWrite {
        StateWrite {
            agent: AgentId(agent),
            to,
            reason: "test".into(),
            at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn an_unreachable_database_keeps_writes_and_claims_in_memory() {
        let in_flight = InFlight::default();
        let mut w = Writer::new(nowhere(), in_flight.clone(), 100);
        in_flight.add(AgentId(1));
        w.push(write(1, AgentState::WrapUp));
        assert!(!w.flush().await, "nothing can be written");
        assert_eq!(w.kept(), 1);
        assert!(in_flight.any(AgentId(1)));
        // Known down: a claim is answered at once, in memory, and its
        // ringing event waits behind the earlier write.
        let started = std::time::Instant::now();
        assert!(w.claim(AgentId(2)).await);
        assert!(started.elapsed() < Duration::from_millis(400));
        assert_eq!(w.kept(), 2);
        assert_eq!(w.backlog[1].to, AgentState::Ringing);
        assert_eq!(w.counts.claimed_in_memory, 1);
        // Even with nothing kept, a database known to be down is not
        // waited on by a claim.
        let mut w = Writer::new(nowhere(), InFlight::default(), 100);
        assert!(w.claim(AgentId(3)).await, "the first claim finds it down");
        w.backlog.clear();
        let started = std::time::Instant::now();
        assert!(w.claim(AgentId(3)).await);
        assert!(started.elapsed() < Duration::from_millis(400));
        assert_eq!(w.counts.claimed_in_memory, 2);
    }

    #[test]
    fn a_full_backlog_drops_an_intermediate_state_before_a_final_one() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let mut w = Writer::new(nowhere(), InFlight::default(), 3);
        w.push(write(1, AgentState::OnCall));
        w.push(write(2, AgentState::Paused));
        w.push(write(1, AgentState::WrapUp));
        // Full: agent 1's on_call goes (their wrap_up is still waiting).
        w.push(write(3, AgentState::Available));
        let kept: Vec<(i64, AgentState)> = w.backlog.iter().map(|s| (s.agent.0, s.to)).collect();
        assert_eq!(
            kept,
            [
                (2, AgentState::Paused),
                (1, AgentState::WrapUp),
                (3, AgentState::Available)
            ]
        );
        assert_eq!(w.counts.coalesced, 1);
        // Every write is the last of its agent: the oldest goes.
        w.push(write(4, AgentState::Offline));
        assert_eq!(w.backlog.front().unwrap().agent, AgentId(1));
        assert_eq!(w.counts.dropped, 1);
    }
}
