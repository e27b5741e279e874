//! The desk: the shell around the routing core. One task that
//! - owns the routing actor's outputs and turns each into what it means
//!   for a call ([`ToCall`], sent to the call task that owns the queue
//!   entry), for the roster (agent state changes, written to
//!   `agent_events` in order) and for the ticket (SLA events);
//! - keeps the routing core's view of agents in step with the roster:
//!   logins, pauses and resumes made by the CLI, the admin API or a feature
//!   code reach it through `NOTIFY hotline_agents`, and so does a phone
//!   that registers or becomes unreachable;
//! - fetches an agent's registered contacts from the registrar when
//!   routing offers them a call.
//!
//! Routing decides; calls act; the desk only translates. It never waits on
//! a call (bounded queues, `try_send`), and database writes go through one
//! ordered writer so a slow database delays no routing decision.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod remote;
mod roster;
pub mod writer;

use super::registrar::{Contact, RegistrarHandle};
use super::{CallEvent, CallHandle};
use crate::agents::follow::follow;
use crate::agents::{AgentEntry, AgentId, AgentStore, BindingRecord, Tier};
use crate::routing::actor::{self as routing_actor, RoutingHandle};
use crate::routing::io::{Input, Output};
use crate::routing::queue::{NewEntry, QueueEntryId};
use crate::routing::settings::Settings;
use crate::tickets::{RoutingEvent, TicketNumber, TicketStore};
use roster::{roster_inputs, Known};
use writer::{InFlight, Write};

/// Commands waiting for the desk at most (calls enqueue and report here).
const QUEUE: usize = 4096;

/// What routing decided for one call.
#[derive(Debug, Clone)]
pub enum ToCall {
    /// Ring `agent` on each of these contacts (every binding, in parallel).
    Offer {
        entry: QueueEntryId,
        ticket: TicketNumber,
        tier: Tier,
        agent: AgentId,
        /// The agent's SIP user: the To of our INVITE.
        user: String,
        contacts: Vec<Contact>,
    },
    /// Stop ringing `agent` (ring timeout, or another agent answered).
    CancelOffer { agent: AgentId },
    /// The agent took the call: the ticket gets `first_response_at`.
    Assigned {
        agent: AgentId,
        tier: Tier,
        waited: Duration,
        record: bool,
    },
    /// Tell the caller where they stand.
    Announce {
        position: usize,
        expected_wait: Option<Duration>,
    },
    /// Offer the caller a callback ("press 1").
    OfferCallback,
}

enum Command {
    Enqueue {
        entry: NewEntry,
        call: CallHandle,
        /// Escalated by the agent to this tier (ahead of the SLA order).
        escalate_to: Option<Tier>,
        /// Transferred by the agent to this agent (REFER to their user).
        to_agent: Option<AgentId>,
    },
    Input(Input),
}

/// How calls reach the desk. Cheap to clone.
#[derive(Clone)]
pub struct DeskHandle {
    tx: mpsc::Sender<Command>,
}

/// The desk's queue is full or the desk has stopped.
#[derive(Debug, thiserror::Error)]
#[error("HL-DESK-BUSY: the routing desk is not taking calls")]
pub struct DeskBusy;

impl DeskHandle {
    /// Queue a ticketed caller; routing's answers arrive as
    /// [`CallEvent::Routing`] on `call`.
    pub fn enqueue(&self, entry: NewEntry, call: CallHandle) -> Result<(), DeskBusy> {
        self.tx
            .try_send(Command::Enqueue {
                entry,
                call,
                escalate_to: None,
                to_agent: None,
            })
            .map_err(|_| DeskBusy)
    }

    /// Queue the caller again for tier `to`, sent there by their agent:
    /// ahead of the SLA order (the desk's standard: escalate within 10
    /// minutes).
    pub fn escalate(&self, entry: NewEntry, to: Tier, call: CallHandle) -> Result<(), DeskBusy> {
        self.tx
            .try_send(Command::Enqueue {
                entry,
                call,
                escalate_to: Some(to),
                to_agent: None,
            })
            .map_err(|_| DeskBusy)
    }

    /// Queue the caller again, transferred by their agent to `agent`
    /// (whose tier is `to`): offered to that agent first if free, else to
    /// the tier, ahead of the SLA order ([`Input::Transfer`]).
    pub fn transfer(
        &self,
        entry: NewEntry,
        to: Tier,
        agent: AgentId,
        call: CallHandle,
    ) -> Result<(), DeskBusy> {
        self.tx
            .try_send(Command::Enqueue {
                entry,
                call,
                escalate_to: Some(to),
                to_agent: Some(agent),
            })
            .map_err(|_| DeskBusy)
    }

    /// Report what happened to an offer, a call or an entry.
    pub fn report(&self, input: Input) {
        if self.tx.try_send(Command::Input(input)).is_err() {
            tracing::error!("routing desk queue full: a report was dropped");
        }
    }
}

/// A fresh queue entry id (unique within this daemon).
pub fn new_entry_id() -> QueueEntryId {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    QueueEntryId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Everything the desk runs with.
pub struct DeskSetup {
    pub settings: Settings,
    pub agents: AgentStore,
    pub tickets: TicketStore,
    pub registrar: RegistrarHandle,
}

/// Start the desk (and the routing actor it owns) until `stop`.
pub fn spawn(
    setup: DeskSetup,
    stop: CancellationToken,
) -> (DeskHandle, RoutingHandle, tokio::task::JoinHandle<()>) {
    let (out_tx, out_rx) = mpsc::channel(QUEUE);
    let (routing, _router) = routing_actor::spawn(setup.settings.clone(), out_tx, stop.clone());
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = tokio::spawn(run(setup, routing.clone(), rx, out_rx, stop));
    (DeskHandle { tx }, routing, task)
}

struct Desk {
    routing: RoutingHandle,
    tickets: TicketStore,
    registrar: RegistrarHandle,
    calls: HashMap<QueueEntryId, CallHandle>,
    /// The entry each agent is talking to (until `CallEnded`).
    serving: HashMap<AgentId, QueueEntryId>,
    known: HashMap<AgentId, Known>,
    /// Each agent's bindings as PostgreSQL has them (registered with any
    /// daemon): how this daemon rings an agent whose phone registered
    /// with another one.
    stored: HashMap<AgentId, Vec<BindingRecord>>,
    /// Agents this daemon took for a call (a won claim), until routing
    /// frees them again: only their state changes are this daemon's to
    /// write (the rest are echoes of the roster).
    owned: HashSet<AgentId>,
    /// Agents busy with another daemon's call: paused in routing here
    /// until the roster shows them free.
    remote: HashSet<AgentId>,
    /// Agents first seen ringing, on a call or in wrap-up (a call lost in
    /// a restart): routing's login writes them available again.
    stale: HashSet<AgentId>,
    in_flight: InFlight,
    writes: mpsc::Sender<Write>,
}

async fn run(
    setup: DeskSetup,
    routing: RoutingHandle,
    mut commands: mpsc::Receiver<Command>,
    mut outputs: mpsc::Receiver<Output>,
    stop: CancellationToken,
) {
    let (writes, write_rx) = mpsc::channel(QUEUE);
    let in_flight = InFlight::default();
    let writer = tokio::spawn(writer::run(
        write_rx,
        setup.agents.clone(),
        in_flight.clone(),
    ));
    let mut desk = Desk {
        routing,
        tickets: setup.tickets,
        registrar: setup.registrar,
        calls: HashMap::new(),
        serving: HashMap::new(),
        known: HashMap::new(),
        stored: HashMap::new(),
        owned: HashSet::new(),
        remote: HashSet::new(),
        stale: HashSet::new(),
        in_flight,
        writes,
    };
    // The roster with its bindings, now and after every change.
    let (roster_tx, mut roster_rx) = mpsc::channel::<(Vec<AgentEntry>, bool)>(4);
    let follower = tokio::spawn(follow(
        setup.agents,
        Duration::from_millis(50),
        |s| async move { s.list().await },
        roster_tx,
        stop.clone(),
    ));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(cmd) = commands.recv() => desk.on_command(cmd).await,
            Some(out) = outputs.recv() => desk.on_output(out).await,
            Some((roster, _)) = roster_rx.recv() => desk.sync(roster).await,
        }
    }
    follower.abort();
    drop(desk);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

impl Desk {
    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Enqueue {
                entry,
                call,
                escalate_to,
                to_agent,
            } => {
                tracing::info!(ticket = %entry.ticket, severity = %entry.severity, tier = %entry.tier, escalated = ?escalate_to, "queued");
                self.calls.insert(entry.id, call);
                let input = match (escalate_to, to_agent) {
                    (Some(to), Some(agent)) => Input::Transfer { entry, agent, to },
                    (Some(to), None) => Input::Escalate { entry, to },
                    (None, _) => Input::Enqueue(entry),
                };
                self.input(input).await;
            }
            Command::Input(input) => {
                if let Input::OfferAnswered { entry, agent } = &input {
                    self.serving.insert(*agent, *entry);
                }
                if let Input::CallEnded { agent } = &input {
                    if let Some(entry) = self.serving.remove(agent) {
                        self.calls.remove(&entry);
                    }
                }
                if let Input::EntryLeft { entry, .. } = &input {
                    // The Left output follows; the call is going anyway.
                    self.calls.remove(entry);
                }
                self.input(input).await;
            }
        }
    }

    async fn input(&self, input: Input) {
        if let Err(e) = self.routing.send(input).await {
            tracing::error!(error = %e, "routing did not take an input");
        }
    }

    fn tell(&self, entry: QueueEntryId, msg: ToCall) -> bool {
        match self.calls.get(&entry) {
            Some(call) => {
                call.send(CallEvent::Routing(Box::new(msg)));
                true
            }
            None => false,
        }
    }

    async fn on_output(&mut self, out: Output) {
        match out {
            Output::Offer {
                entry,
                ticket,
                agents,
                tier,
                callback,
            } => {
                for agent in agents {
                    self.offer(entry, ticket, tier, agent, callback).await;
                }
            }
            Output::CancelOffer { entry, agent } => {
                self.tell(entry, ToCall::CancelOffer { agent });
            }
            Output::Assigned {
                entry,
                ticket,
                agent,
                tier,
                waited,
                record,
            } => {
                let user = self.user(agent);
                tracing::info!(%ticket, agent = %user, %tier, waited_s = waited.as_secs(), "assigned");
                self.tell(
                    entry,
                    ToCall::Assigned {
                        agent,
                        tier,
                        waited,
                        record,
                    },
                );
            }
            Output::AgentStateChanged {
                agent,
                from,
                to,
                reason,
            } => {
                tracing::info!(agent = %self.user(agent), %from, %to, %reason, "agent state");
                if let Some(k) = self.known.get_mut(&agent) {
                    k.state = to;
                }
                self.write_state(agent, to, &reason);
            }
            Output::AgentUnreachable { agent } => {
                tracing::warn!(agent = %self.user(agent), "no phone of the agent answered: unreachable");
            }
            Output::Overflowed { ticket, tiers, .. } => {
                tracing::info!(%ticket, ?tiers, "overflow: more tiers may take the call");
            }
            Output::Announce {
                entry,
                position,
                expected_wait,
                ..
            } => {
                tracing::debug!(
                    position,
                    expected_wait_s = expected_wait.map(|w| w.as_secs()),
                    "position announced"
                );
                self.tell(
                    entry,
                    ToCall::Announce {
                        position,
                        expected_wait,
                    },
                );
            }
            Output::OfferCallback { entry, ticket } => {
                tracing::info!(%ticket, "callback offered to the waiting caller");
                self.tell(entry, ToCall::OfferCallback);
            }
            Output::SlaAtRisk {
                ticket,
                due,
                expected_wait,
                ..
            } => {
                tracing::warn!(%ticket, due = %due.to_rfc3339(), ?expected_wait, "SLA at risk: response deadline may pass before an agent is free");
                self.ticket_event(ticket, RoutingEvent::SlaAtRisk { due, expected_wait });
            }
            Output::SlaBreached { ticket, due, .. } => {
                tracing::warn!(%ticket, due = %due.to_rfc3339(), "SLA breached: response deadline passed while waiting");
                self.ticket_event(ticket, RoutingEvent::SlaBreached { due });
            }
            Output::TransferToTier {
                ticket,
                agent,
                tier,
                ..
            } => {
                tracing::info!(%ticket, agent = %self.user(agent), %tier, "transfer target not free: the caller waits for the tier");
            }
            Output::Left {
                entry,
                ticket,
                why,
                waited,
            } => {
                self.calls.remove(&entry);
                tracing::info!(%ticket, why = why.as_str(), waited_s = waited.as_secs(), "left the queue");
            }
        }
    }

    /// Ring `agent` for `entry` on every reachable contact; an agent with
    /// none fails at once as unreachable.
    async fn offer(
        &mut self,
        entry: QueueEntryId,
        ticket: TicketNumber,
        tier: Tier,
        agent: AgentId,
        callback: bool,
    ) {
        if callback {
            // The outbound callback is its own work: until then the entry
            // stays queued and the agent is freed at once.
            tracing::info!(%ticket, "callback due (outbound callbacks are not built yet)");
        }
        if self.remote.contains(&agent) {
            // Offered before routing heard that another daemon took them:
            // the pause sent then withdraws this offer.
            return;
        }
        let stored = self.stored.get(&agent).cloned().unwrap_or_default();
        let contacts: Vec<Contact> = self
            .registrar
            .contacts_or_stored(agent, stored)
            .await
            .into_iter()
            .filter(|c| c.reachable)
            .collect();
        let user = self.user(agent);
        if contacts.is_empty() || callback {
            self.input(Input::OfferFailed {
                entry,
                agent,
                why: crate::routing::io::OfferFailure::Unreachable,
            })
            .await;
            return;
        }
        let (won_tx, won_rx) = tokio::sync::oneshot::channel();
        let claimed = match self.writes.try_send(Write::Claim(agent, won_tx)) {
            Ok(()) => won_rx.await.unwrap_or(true),
            Err(_) => true,
        };
        if !claimed {
            // Another daemon on this database took the agent first: busy
            // elsewhere until the roster shows them free (the pause
            // withdraws this offer; nothing of it is written here).
            tracing::info!(agent = %user, %ticket, "agent taken by another daemon: waiting for them here");
            self.busy_elsewhere(agent).await;
            return;
        }
        self.owned.insert(agent);
        let sent = self.tell(
            entry,
            ToCall::Offer {
                entry,
                ticket,
                tier,
                agent,
                user,
                contacts,
            },
        );
        if !sent {
            self.input(Input::OfferFailed {
                entry,
                agent,
                why: crate::routing::io::OfferFailure::Unreachable,
            })
            .await;
        }
    }

    fn user(&self, agent: AgentId) -> String {
        self.known
            .get(&agent)
            .map(|k| k.user.clone())
            .unwrap_or_else(|| format!("#{agent}"))
    }

    /// An SLA event on the ticket, durable (database or journal) and
    /// written once, in the background so routing never waits on it.
    fn ticket_event(&self, ticket: TicketNumber, event: RoutingEvent) {
        let store = self.tickets.clone();
        tokio::spawn(async move {
            if let Err(e) = store.event(ticket, "routing", Utc::now(), event).await {
                tracing::warn!(error = %e, %ticket, "SLA event not stored");
            }
        });
    }

    /// Bring routing's view in step with the roster.
    async fn sync(&mut self, roster: Vec<AgentEntry>) {
        let now = Utc::now();
        let mut seen = Vec::new();
        for e in roster {
            let a = &e.agent;
            seen.push(a.id);
            let reachable = e.bindings.iter().any(|b| b.reachable && b.expires_at > now);
            self.stored.insert(a.id, e.bindings.clone());
            let first = !self.known.contains_key(&a.id);
            if first && a.state.in_call() {
                self.stale.insert(a.id);
            }
            if !first && a.enabled {
                self.follow_elsewhere(a.id, a.state).await;
            }
            let new = Known {
                state: a.state,
                tiers: a.tiers.clone(),
                reachable,
                user: a.user.as_str().to_string(),
            };
            let old = self.known.insert(a.id, new.clone());
            for input in roster_inputs(
                a.id,
                old.as_ref(),
                &new,
                a.enabled,
                a.state_reason.as_deref(),
            ) {
                self.input(input).await;
            }
        }
        let gone: Vec<AgentId> = self
            .known
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.known.remove(&id);
            self.stored.remove(&id);
            self.remote.remove(&id);
            self.input(Input::Logout { agent: id }).await;
        }
    }
}
