//! The intake on a live call: runs the IVR machine, turns its actions into
//! media commands for the call task, and persists what it collects through
//! a per-call ticket writer, so the caller never waits on the database and
//! a hang-up at any moment loses nothing.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::ivr::machine::{CallFacts, IvrAction, IvrInput, IvrMachine};
use crate::ivr::registry::LoadedFlow;
use crate::media::session::MediaCommand;
use crate::tickets::{
    CallRecord, EndReason, NewTicket, SlaPolicy, TicketNumber, TicketStore, TicketUpdate,
};

/// What the call task must do for the intake.
#[derive(Debug)]
pub enum IntakeOutput {
    Media(MediaCommand),
    /// End the call with BYE; the reason goes on the call record.
    Hangup(EndReason),
}

/// Ticket writes of one call, applied in order by one task.
enum WriteOp {
    Create(Box<NewTicket>),
    Update(TicketNumber, Box<TicketUpdate>),
    Record(Box<CallRecord>),
}

/// The store, the SLA policy in force and where recordings go.
#[derive(Clone)]
pub struct IntakeServices {
    pub store: TicketStore,
    pub policy: Arc<SlaPolicy>,
    pub recordings: PathBuf,
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
        let writer = tokio::spawn(
            write_in_order(ops, created_tx, services.store, services.policy).in_current_span(),
        );
        let machine = IvrMachine::new(flow.flow.clone(), facts);
        let mut intake = Self {
            machine,
            flow,
            writes,
            writer,
            ticket: None,
            recordings: services.recordings,
            last_step: None,
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
                IvrAction::Queue {
                    severity,
                    category,
                    language,
                } => {
                    // Routing to agents arrives with its own work; the flow
                    // goes on with the queue step's goodbye.
                    tracing::info!(?severity, ?category, %language, "queued (no routing yet)");
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
        if !self.machine.is_ended() && caller_hung_up {
            self.machine.handle(Instant::now(), IvrInput::CallerHungUp);
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
