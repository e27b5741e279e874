//! The intake on a live call: runs the IVR machine, turns its actions into
//! media commands for the call task, and persists what it collects through
//! a per-call ticket writer, so the caller never waits on the database and
//! a hang-up at any moment loses nothing.
//!
//! # The queue hand-off (routing)
//!
//! A call task that can route calls says so with
//! [`CallIntake::enable_routing`]. Then the flow's `queue` step, once the
//! ticket exists, yields [`QueueEvent::Join`] from [`CallIntake::poll_queue`]
//! (poll it after every `input`/`timeout`) and the intake keeps the caller:
//! hold prompts and music (looped on `PlaybackDone`), no hang-up, no
//! timers. From then on the call task feeds routing's word as inputs:
//! `IvrInput::QueueStatus` (position, expected wait), `OfferCallback`,
//! `AgentAnswered` (writes the assignment), `Escalated`, `AgentLegDropped`
//! (the call-cut prompt, then `IntakeOutput::Hangup(CallCut)`), and
//! `QueueUnavailable` (routing refused or went away: the step's goodbye and
//! a hang-up, the fallback). A caller who presses 1 after the offer yields
//! [`QueueEvent::CallbackRequested`] and, after the goodbye,
//! `IntakeOutput::Hangup(CallbackRequested)`. Routing's own ticket events
//! (SLA at risk or breached, the recording) go through [`CallIntake::event`],
//! in order behind the ticket's creation.
//!
//! Without `enable_routing` the `queue` step says goodbye and hangs up, as
//! before routing existed. [`CallIntake::finish`] ends it all: a caller who
//! hangs up while queued leaves the ticket `abandoned_in_queue` with the
//! wait and the call record's end reason `abandoned_in_queue`; after an
//! agent call the record says `agent_call`.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use std::collections::VecDeque;

use chrono::DateTime;

use crate::ivr::machine::{CallFacts, IvrAction, IvrInput, IvrMachine, QueueRequest};
use crate::ivr::registry::LoadedFlow;
use crate::media::session::MediaCommand;
use crate::tickets::{
    Assignment, CallRecord, EndReason, NewTicket, RoutingEvent, SlaPolicy, TicketNumber,
    TicketStore, TicketUpdate,
};

/// What the call task must do for the intake.
#[derive(Debug)]
pub enum IntakeOutput {
    Media(MediaCommand),
    /// End the call with BYE; the reason goes on the call record.
    Hangup(EndReason),
}

/// What the intake tells the call task about the queue (see the module
/// documentation); from [`CallIntake::poll_queue`].
#[derive(Debug, Clone, PartialEq)]
pub enum QueueEvent {
    /// Queue this caller with routing (the ticket exists). If routing
    /// cannot, answer with `IvrInput::QueueUnavailable`.
    Join(QueueRequest),
    /// The caller accepted the callback offer: tell routing (the request
    /// keeps its place). The ticket event is written by the intake; the
    /// intake says goodbye and asks to hang up.
    CallbackRequested {
        ticket: TicketNumber,
        number: String,
    },
}

/// Ticket writes of one call, applied in order by one task.
enum WriteOp {
    Create(Box<NewTicket>),
    Update(TicketNumber, Box<TicketUpdate>),
    Record(Box<CallRecord>),
    Assign(TicketNumber, Box<Assignment>),
    Event(TicketNumber, DateTime<Utc>, Box<RoutingEvent>),
}

/// The store, the SLA policy in force and where recordings go.
#[derive(Clone)]
pub struct IntakeServices {
    pub store: TicketStore,
    pub policy: Arc<SlaPolicy>,
    pub recordings: PathBuf,
    /// The desk's hours, for the flow's `staffed` and `callback_time`.
    pub staffing: Arc<dyn crate::ivr::Staffing>,
}

/// Write the record of a call that never reached the IVR (refused,
/// abandoned while ringing), in the background.
pub fn record_unanswered(store: &TicketStore, record: CallRecord) {
    let store = store.clone();
    tokio::spawn(async move {
        match store.record_call(&record).await {
            Ok(journaled) => {
                tracing::info!(call_id = %record.call_id, journaled, "call record written")
            }
            Err(e) => tracing::error!(error = %e, call_id = %record.call_id, "call record failed"),
        }
    });
}

pub struct CallIntake {
    machine: IvrMachine,
    flow: Arc<LoadedFlow>,
    writes: mpsc::UnboundedSender<WriteOp>,
    writer: tokio::task::JoinHandle<()>,
    ticket: Option<TicketNumber>,
    recordings: PathBuf,
    /// For the "IVR step" log line, one per step entered.
    last_step: Option<String>,
    /// The call task routes calls: the queue step hands over.
    routing: bool,
    queue_events: VecDeque<QueueEvent>,
}

impl CallIntake {
    /// Start the flow for an answered call. The receiver yields the
    /// answers to `CreateTicket`, to feed back with [`CallIntake::input`].
    pub fn start(
        flow: Arc<LoadedFlow>,
        facts: CallFacts,
        services: IntakeServices,
    ) -> (Self, Vec<IntakeOutput>, mpsc::UnboundedReceiver<IvrInput>) {
        let (writes, ops) = mpsc::unbounded_channel();
        let (created_tx, created) = mpsc::unbounded_channel();
        // In the call's span: its log lines carry the Call-ID.
        let machine = IvrMachine::new(flow.flow.clone(), facts).with_staffing(services.staffing);
        let writer = tokio::spawn(
            write_in_order(ops, created_tx, services.store, services.policy).in_current_span(),
        );
        let mut intake = Self {
            machine,
            flow,
            writes,
            writer,
            ticket: None,
            recordings: services.recordings,
            last_step: None,
            routing: false,
            queue_events: VecDeque::new(),
        };
        let out = intake.input(Instant::now(), IvrInput::Started);
        (intake, out, created)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }

    pub fn is_ended(&self) -> bool {
        self.machine.is_ended()
    }

    /// Routing is there: the `queue` step hands the caller over
    /// ([`QueueEvent::Join`]) instead of saying goodbye.
    pub fn enable_routing(&mut self) {
        self.routing = true;
    }

    /// The next queue event, if any; poll after every `input`/`timeout`.
    pub fn poll_queue(&mut self) -> Option<QueueEvent> {
        self.queue_events.pop_front()
    }

    /// The hand-off made, with the tier as escalated since (what routing's
    /// re-queue after an escalation needs).
    pub fn queue_request(&self) -> Option<&QueueRequest> {
        self.machine.queue_request()
    }

    /// Waiting in the queue / talking with an agent.
    pub fn is_queued(&self) -> bool {
        self.machine.is_queued()
    }

    pub fn is_with_agent(&self) -> bool {
        self.machine.is_with_agent()
    }

    /// A `Play` of `relative` prompt names (e.g. from `ivr::announce`) in
    /// the caller's language, for the call task's own use; names the
    /// prompt directory lacks are left out (validation requires them).
    pub fn play(&self, relative: &[String]) -> IntakeOutput {
        let lang = &self.machine.intake().language;
        let prompts = relative
            .iter()
            .filter_map(|r| {
                self.flow
                    .prompts
                    .get(&crate::ivr::flow::resolve_prompt(lang, r))
            })
            .collect();
        IntakeOutput::Media(MediaCommand::Play {
            prompts,
            barge_in: false,
        })
    }

    /// A routing event for the ticket's history (SLA at risk or breached,
    /// the recording's path, ...), written in order after the ticket's
    /// creation, never waiting on the database.
    pub fn event(&mut self, event: RoutingEvent) {
        if let Some(n) = self.ticket {
            let _ = self
                .writes
                .send(WriteOp::Event(n, Utc::now(), Box::new(event)));
        }
    }

    /// Feed what happened; returns what the call must do.
    pub fn input(&mut self, now: Instant, input: IvrInput) -> Vec<IntakeOutput> {
        if let IvrInput::TicketCreated { number, .. } = &input {
            self.ticket = Some(*number);
        }
        self.machine.handle(now, input);
        self.drain()
    }

    pub fn timeout(&mut self, now: Instant) -> Vec<IntakeOutput> {
        self.machine.handle_timeout(now);
        self.drain()
    }

    /// Something worth keeping on the ticket's history (e.g. a recording
    /// that stopped on a full disk).
    pub fn note(&mut self, text: String) {
        if let Some(n) = self.ticket {
            let update = TicketUpdate {
                note: Some(text),
                ..TicketUpdate::default()
            };
            let _ = self.writes.send(WriteOp::Update(n, Box::new(update)));
        }
    }

    fn drain(&mut self) -> Vec<IntakeOutput> {
        let step = self.machine.progress().last_step.clone();
        if step != self.last_step {
            tracing::info!(step = %step.as_deref().unwrap_or("-"), "IVR step");
            self.last_step = step;
        }
        let mut out = Vec::new();
        while let Some(action) = self.machine.poll_output() {
            match action {
                IvrAction::Play { prompts, barge_in } => {
                    let prompts = prompts
                        .iter()
                        .filter_map(|n| self.flow.prompts.get(n))
                        .collect();
                    out.push(IntakeOutput::Media(MediaCommand::Play {
                        prompts,
                        barge_in,
                    }));
                }
                IvrAction::StopPlayback => {
                    out.push(IntakeOutput::Media(MediaCommand::StopPlayback))
                }
                IvrAction::StartRecording { .. } => {
                    // The machine times the maximum length and listens for
                    // `#`; the media session writes the file.
                    let day = Utc::now().format("%Y-%m-%d").to_string();
                    let name: String = self
                        .machine
                        .facts()
                        .call_id
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || c == '-' {
                                c
                            } else {
                                '_'
                            }
                        })
                        .take(64)
                        .collect();
                    let path = self
                        .recordings
                        .join(day)
                        .join(format!("{name}-voice-note.wav"));
                    if let Some(dir) = path.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    tracing::info!(path = %path.display(), "voice note recording");
                    out.push(IntakeOutput::Media(MediaCommand::StartRecording(path)));
                }
                IvrAction::StopRecording => {
                    out.push(IntakeOutput::Media(MediaCommand::StopRecording))
                }
                IvrAction::CreateTicket(intake) => {
                    let facts = self.machine.facts();
                    if let Some(new) = intake.new_ticket(facts, self.machine.flow_version()) {
                        let _ = self.writes.send(WriteOp::Create(Box::new(new)));
                    }
                }
                IvrAction::UpdateTicket { number, update } => {
                    let _ = self.writes.send(WriteOp::Update(number, Box::new(update)));
                }
                IvrAction::Queue(request) => {
                    if self.routing {
                        tracing::info!(ticket = %request.ticket, severity = %request.severity,
                            tier = %request.tier, language = %request.language, "queued for an agent");
                        self.queue_events.push_back(QueueEvent::Join(request));
                    } else {
                        // No routing: the queue step's goodbye and hang-up.
                        tracing::info!(ticket = %request.ticket, "no routing: the queue step ends the call");
                        self.machine
                            .handle(Instant::now(), IvrInput::QueueUnavailable);
                    }
                }
                IvrAction::CallbackRequested { ticket, number } => {
                    tracing::info!(%ticket, "callback requested in the queue");
                    self.queue_events
                        .push_back(QueueEvent::CallbackRequested { ticket, number });
                }
                IvrAction::TicketEvent { number, event } => {
                    tracing::info!(ticket = %number, action = event.action(), "ticket event");
                    let _ = self
                        .writes
                        .send(WriteOp::Event(number, Utc::now(), Box::new(event)));
                }
                IvrAction::Assigned { number, assignment } => {
                    tracing::info!(ticket = %number, agent = %assignment.agent, tier = %assignment.tier,
                        waited_ms = assignment.waited.as_millis() as u64, "answered by an agent");
                    let _ = self
                        .writes
                        .send(WriteOp::Assign(number, Box::new(assignment)));
                }
                IvrAction::Hangup { reason } => out.push(IntakeOutput::Hangup(reason)),
            }
        }
        out
    }

    /// The call is over: tell the machine (if it did not end the call
    /// itself), persist the last changes and the call record, and wait for
    /// the writer (durable: committed or journaled) within `limit`.
    pub async fn finish(
        mut self,
        caller_hung_up: bool,
        reason: EndReason,
        limit: std::time::Duration,
    ) {
        if !self.machine.is_ended() {
            let input = if caller_hung_up {
                IvrInput::CallerHungUp
            } else {
                IvrInput::CallEnded
            };
            self.machine.handle(Instant::now(), input);
        }
        let _ = self.drain();
        let mut record = self.machine.call_record(Some(Utc::now()));
        record.end_reason = record.end_reason.or(Some(reason));
        let _ = self.writes.send(WriteOp::Record(Box::new(record)));
        drop(self.writes);
        if tokio::time::timeout(limit, &mut self.writer).await.is_err() {
            tracing::error!(
                "ticket writes still pending at call end; they continue in the background"
            );
        }
    }
}

/// Apply one call's ticket writes in order; report creations back.
async fn write_in_order(
    mut ops: mpsc::UnboundedReceiver<WriteOp>,
    created: mpsc::UnboundedSender<IvrInput>,
    store: TicketStore,
    policy: Arc<SlaPolicy>,
) {
    let mut number = None;
    while let Some(op) = ops.recv().await {
        match op {
            WriteOp::Create(new) => match store.create(*new, &policy).await {
                Ok(c) => {
                    number = Some(c.ticket.number);
                    tracing::info!(ticket = %c.ticket.number, severity = %c.ticket.severity,
                        response_due_at = %c.ticket.response_due_at.to_rfc3339(), journaled = c.journaled, "ticket created");
                    let _ = created.send(IvrInput::TicketCreated {
                        number: c.ticket.number,
                        response_target: c.ticket.response_target.to_std().unwrap_or_default(),
                        tier: c.ticket.assigned_tier.clone(),
                        response_due_at: c.ticket.response_due_at,
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "ticket could not be created");
                    let _ = created.send(IvrInput::TicketFailed);
                }
            },
            WriteOp::Update(n, update) => {
                if let Err(e) = store.update(n, "ivr", *update).await {
                    tracing::error!(error = %e, ticket = %n, "ticket update failed");
                }
            }
            WriteOp::Assign(n, a) => {
                if let Err(e) = store.assign(n, *a).await {
                    tracing::error!(error = %e, ticket = %n, "ticket assignment failed");
                }
            }
            WriteOp::Event(n, at, event) => {
                let action = event.action();
                if let Err(e) = store.event(n, "routing", at, *event).await {
                    tracing::error!(error = %e, ticket = %n, action, "ticket event failed");
                }
            }
            WriteOp::Record(mut record) => {
                record.ticket_number = record.ticket_number.or(number);
                match store.record_call(&record).await {
                    Ok(journaled) => tracing::info!(journaled, "call record written"),
                    Err(e) => tracing::error!(error = %e, "call record failed"),
                }
            }
        }
    }
}
