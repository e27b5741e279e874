//! The interpreter: one call's walk through a [`Flow`], as a sans-io state
//! machine. The call task feeds it what happened ([`IvrInput`]) and the
//! time, and performs what it asks ([`IvrAction`]); no sockets, files or
//! clocks here, so tests drive a whole call with digits and `Instant`s.
//!
//! Two promises shape it. A caller who hangs up loses nothing: the ticket
//! is requested as soon as a severity is known, every later answer becomes
//! an `UpdateTicket`, and [`IvrMachine::call_record`] is ready at any
//! moment. And the caller never waits on the database: `CreateTicket` does
//! not block the flow; only reading the ticket number back waits for it,
//! briefly ([`TICKET_WAIT`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::flow::{resolve_prompt, Flow, Step};
pub use super::intake::{CallFacts, Intake, Progress};
use crate::tickets::{CallRecord, EndReason, TicketNumber, TicketUpdate};

/// How long a `say ticket_number` waits for the store before skipping.
pub const TICKET_WAIT: Duration = Duration::from_secs(5);
/// How long past its maximum a recording may take to report done.
pub const RECORD_GRACE: Duration = Duration::from_secs(2);
/// Steps entered in one input without any waiting; only a broken
/// (unvalidated) flow gets here, and the call ends instead of spinning.
const MAX_HOPS: u32 = 64;

/// What happened on the call.
#[derive(Debug, Clone, PartialEq)]
pub enum IvrInput {
    /// The call is answered and media flows: begin the flow.
    Started,
    Digit(char),
    /// The last `Play` finished (not sent after `StopPlayback`).
    PlaybackDone,
    RecordingDone {
        path: String,
        duration: Duration,
    },
    /// The store took the ticket; `response_target` is the promise stored
    /// on it, which is what the caller is told.
    TicketCreated {
        number: TicketNumber,
        response_target: Duration,
    },
    TicketFailed,
    /// The recording could not even start (e.g. its file cannot be
    /// created): go on without a voice note rather than wait it out.
    RecordingFailed,
    CallerHungUp,
}

/// What the call task must do.
#[derive(Debug, Clone, PartialEq)]
pub enum IvrAction {
    /// Play these resolved prompt names in order.
    Play {
        prompts: Vec<String>,
        barge_in: bool,
    },
    StopPlayback,
    StartRecording {
        max: Duration,
        silence: Duration,
    },
    StopRecording,
    /// Persist a ticket (see [`Intake::new_ticket`]) and answer with
    /// `TicketCreated` or `TicketFailed`.
    CreateTicket(Intake),
    UpdateTicket {
        number: TicketNumber,
        update: TicketUpdate,
    },
    /// Hand the caller to routing. Until routing exists the flow goes on
    /// with the queue step's prompts (goodbye) and a `Hangup`.
    Queue {
        severity: Option<String>,
        category: Option<String>,
        language: String,
    },
    /// Send BYE. Outputs may follow (ticket updates): keep polling.
    Hangup {
        reason: EndReason,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    /// Playing a play/say/queue/hangup step's prompts.
    Prompting {
        barge_in: bool,
    },
    MenuPrompt {
        retries: u32,
    },
    MenuWait {
        retries: u32,
    },
    CollectPrompt {
        retries: u32,
    },
    CollectWait {
        retries: u32,
        buf: String,
    },
    RecordPrompt,
    Recording,
    RecordStopping,
    WaitTicket,
    Ended,
}

#[derive(Debug, Clone, PartialEq)]
enum TicketState {
    None,
    Requested,
    Created { response_target: Duration },
    Failed,
}

/// One call's interpreter. Holds its own `Arc<Flow>`: a reload never
/// changes the flow under a call in progress.
#[derive(Debug)]
pub struct IvrMachine {
    flow: Arc<Flow>,
    facts: CallFacts,
    step: String,
    phase: Phase,
    deadline: Option<Instant>,
    intake: Intake,
    /// What the ticket holds (as requested or last updated).
    reported: Intake,
    ticket: TicketState,
    progress: Progress,
    out: VecDeque<IvrAction>,
    hops: u32,
    /// The caller already waited [`TICKET_WAIT`] once: later read-backs
    /// are skipped rather than make them wait again.
    ticket_late: bool,
}

impl IvrMachine {
    pub fn new(flow: Arc<Flow>, facts: CallFacts) -> Self {
        let intake = Intake {
            language: flow.default_language().to_string(),
            ..Intake::default()
        };
        Self {
            flow,
            facts,
            step: String::new(),
            phase: Phase::Idle,
            deadline: None,
            reported: intake.clone(),
            intake,
            ticket: TicketState::None,
            progress: Progress::default(),
            out: VecDeque::new(),
            hops: 0,
            ticket_late: false,
        }
    }

    pub fn intake(&self) -> &Intake {
        &self.intake
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    pub fn facts(&self) -> &CallFacts {
        &self.facts
    }

    /// The version of the flow this call runs on.
    pub fn flow_version(&self) -> &str {
        &self.flow.version
    }

    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The call record as of now, for the call task to upsert.
    pub fn call_record(&self, ended_at: Option<DateTime<Utc>>) -> CallRecord {
        super::intake::call_record(
            &self.facts,
            &self.intake,
            &self.progress,
            &self.flow.version,
            ended_at,
        )
    }

    pub fn poll_output(&mut self) -> Option<IvrAction> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn handle(&mut self, now: Instant, input: IvrInput) {
        self.hops = 0;
        match input {
            IvrInput::Started if self.phase == Phase::Idle => {
                let start = self.flow.start.clone();
                self.goto(now, &start);
            }
            IvrInput::Started => {}
            IvrInput::Digit(d) => self.digit(now, d),
            IvrInput::PlaybackDone => self.playback_done(now),
            IvrInput::RecordingFailed => {
                if matches!(self.phase, Phase::Recording | Phase::RecordStopping) {
                    self.next(now);
                }
            }
            IvrInput::RecordingDone { path, duration } => {
                self.intake.voice_note_path = Some(path);
                self.intake.voice_note_duration = Some(duration);
                if matches!(self.phase, Phase::Recording | Phase::RecordStopping) {
                    self.next(now);
                }
            }
            IvrInput::TicketCreated {
                number,
                response_target,
            } => {
                self.progress.ticket = Some(number);
                self.ticket = TicketState::Created { response_target };
                if self.phase == Phase::WaitTicket {
                    self.say(now);
                }
            }
            IvrInput::TicketFailed => {
                self.ticket = TicketState::Failed;
                if self.phase == Phase::WaitTicket {
                    self.next(now);
                }
            }
            IvrInput::CallerHungUp => {
                if matches!(self.phase, Phase::Recording | Phase::RecordStopping) {
                    // Keep what was said so far: the recorder finishes the
                    // file and reports it, even after the hang-up.
                    self.out.push_back(IvrAction::StopRecording);
                }
                self.finish(EndReason::CallerHungUp, false);
            }
        }
        self.sync_ticket();
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(d) if d <= now => self.deadline = None,
            _ => return,
        }
        self.hops = 0;
        match self.phase.clone() {
            Phase::MenuWait { retries } => self.menu_retry(now, retries + 1, false),
            Phase::CollectWait { retries, buf } if buf.is_empty() => {
                self.collect_retry(now, retries + 1, false)
            }
            Phase::CollectWait { retries, buf } => self.collect_done(now, retries, buf),
            Phase::Recording => {
                self.out.push_back(IvrAction::StopRecording);
                self.phase = Phase::RecordStopping;
                self.deadline = Some(now + RECORD_GRACE);
            }
            Phase::WaitTicket => {
                self.ticket_late = true;
                self.next(now);
            }
            Phase::RecordStopping => self.next(now),
            _ => {}
        }
        self.sync_ticket();
    }

    fn current(&self) -> Option<Step> {
        self.flow.steps.get(&self.step).cloned()
    }

    fn goto(&mut self, now: Instant, name: &str) {
        self.hops += 1;
        let Some(step) = self.flow.steps.get(name).cloned() else {
            return self.finish(EndReason::Error, true);
        };
        if self.hops > MAX_HOPS {
            return self.finish(EndReason::Error, true);
        }
        self.step = name.to_string();
        self.progress.last_step = Some(name.to_string());
        self.deadline = None;
        match step {
            Step::Play(s) => self.prompt(now, &s.prompts, s.barge_in),
            Step::Menu(_) => self.menu_prompt(now, 0, &[]),
            Step::Collect(_) => self.collect_prompt(now, 0, &[]),
            Step::Record(s) => {
                self.phase = Phase::RecordPrompt;
                let mut p = s.prompts.clone();
                p.extend(s.beep.clone());
                if !self.play(&p, false) {
                    self.playback_done(now);
                }
            }
            Step::Say(_) => self.say(now),
            Step::Ticket(s) => {
                self.request_ticket();
                self.goto(now, &s.next);
            }
            Step::Queue(s) => {
                self.out.push_back(IvrAction::Queue {
                    severity: self.intake.severity.clone(),
                    category: self.intake.category.clone(),
                    language: self.intake.language.clone(),
                });
                self.prompt(now, &s.prompts, false);
            }
            Step::Hangup(s) => self.prompt(now, &s.prompts, false),
            Step::If(s) => {
                let target = if self.holds(&s.when) {
                    s.then
                } else {
                    s.otherwise
                };
                self.goto(now, &target);
            }
        }
    }

    /// Go to the current step's `next` (the end, for queue and hangup).
    fn next(&mut self, now: Instant) {
        match self.current() {
            Some(Step::Play(s)) => self.goto(now, &s.next),
            Some(Step::Record(s)) => self.goto(now, &s.next),
            Some(Step::Say(s)) => self.goto(now, &s.next),
            Some(Step::Queue(_) | Step::Hangup(_)) => self.finish(EndReason::Completed, true),
            _ => self.finish(EndReason::Error, true),
        }
    }

    /// Queue a `Play` of `relative` prompts in the caller's language;
    /// false (nothing queued) when there is nothing to play.
    fn play(&mut self, relative: &[String], barge_in: bool) -> bool {
        if relative.is_empty() {
            return false;
        }
        let lang = &self.intake.language;
        let prompts = relative.iter().map(|r| resolve_prompt(lang, r)).collect();
        self.out.push_back(IvrAction::Play { prompts, barge_in });
        true
    }

    fn prompt(&mut self, now: Instant, relative: &[String], barge_in: bool) {
        self.phase = Phase::Prompting { barge_in };
        if !self.play(relative, barge_in) {
            self.playback_done(now);
        }
    }

    /// Stop what plays; a `Play` not yet taken by the call task is simply
    /// withdrawn (a key pressed during a greeting skips the next menu's
    /// prompt without it ever starting).
    fn stop_playback(&mut self) {
        if matches!(self.out.back(), Some(IvrAction::Play { .. })) {
            self.out.pop_back();
        } else {
            self.out.push_back(IvrAction::StopPlayback);
        }
    }

    fn request_ticket(&mut self) {
        if self.ticket == TicketState::None && self.intake.severity.is_some() {
            self.ticket = TicketState::Requested;
            self.reported = self.intake.clone();
            self.out
                .push_back(IvrAction::CreateTicket(self.intake.clone()));
        }
    }

    /// Send what the ticket does not hold yet, once it exists.
    fn sync_ticket(&mut self) {
        let (TicketState::Created { .. }, Some(number)) = (&self.ticket, self.progress.ticket)
        else {
            return;
        };
        if let Some(update) = self.intake.changes_since(&self.reported) {
            self.reported = self.intake.clone();
            self.out
                .push_back(IvrAction::UpdateTicket { number, update });
        }
    }

    /// End the flow: nothing collected is dropped (a severity without a
    /// ticket yet still gets one), and BYE is sent unless the caller left.
    fn finish(&mut self, reason: EndReason, hang_up: bool) {
        if self.phase == Phase::Ended {
            return;
        }
        self.request_ticket();
        self.phase = Phase::Ended;
        self.deadline = None;
        self.progress.ended = Some(reason);
        if hang_up {
            self.out.push_back(IvrAction::Hangup { reason });
        }
    }
}

#[path = "machine_steps.rs"]
mod steps;

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
