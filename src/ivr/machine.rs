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
use super::staffing::{AlwaysStaffed, Staffing};
use crate::tickets::{Assignment, CallRecord, EndReason, RoutingEvent, TicketNumber, TicketUpdate};

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
    /// on it, which is what the caller is told; `tier` and
    /// `response_due_at` are what the queue orders it by.
    TicketCreated {
        number: TicketNumber,
        response_target: Duration,
        tier: String,
        response_due_at: DateTime<Utc>,
    },
    TicketFailed,
    /// The recording could not even start (e.g. its file cannot be
    /// created): go on without a voice note rather than wait it out.
    RecordingFailed,
    CallerHungUp,
    /// Routing cannot take the caller (not running, refused, or gone while
    /// they wait): the queue step's `prompts` (goodbye), then `Hangup`.
    QueueUnavailable,
    /// Routing's announcement for this caller (every `announce_every`).
    QueueStatus {
        position: usize,
        expected_wait: Option<Duration>,
    },
    /// Routing offers a callback (maximum wait, or no agent logged in):
    /// the offer is played; the caller's `1` accepts it.
    OfferCallback,
    /// An agent's phone answered (200 OK): the music stops, the ticket is
    /// assigned; the call task bridges the legs.
    AgentAnswered {
        agent: String,
        tier: String,
        answered_at: DateTime<Utc>,
    },
    /// The agent sent the call to tier `to` (keypad code, REFER to a
    /// tier): "connecting you", music, the ticket's tier follows.
    Escalated {
        from: String,
        to: String,
        by: String,
    },
    /// The agent's leg dropped during the call (BYE, RTP timeout): the
    /// caller hears that the call was cut and that the desk calls back.
    AgentLegDropped {
        agent: String,
        reason: String,
    },
    /// The call ended, not by the caller (the agent hung up, shutdown).
    CallEnded,
}

/// What routing needs to queue a caller: the ticket exists by then.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRequest {
    pub ticket: TicketNumber,
    /// The caller's Call-ID.
    pub call_id: String,
    /// A severity name of the SLA table in force.
    pub severity: String,
    /// The ticket's tier (the SLA table's, or the one escalated to).
    pub tier: String,
    pub category: Option<String>,
    /// The caller's prompt language (announcements are in it).
    pub language: String,
    /// When the INVITE arrived: the SLA start.
    pub sla_start: DateTime<Utc>,
    /// The ticket's response deadline.
    pub response_due_at: DateTime<Utc>,
    /// The number a callback would go to (none: no callback can be offered).
    pub callback_number: Option<String>,
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
    /// Hand the caller to routing; the machine plays the hold prompts and
    /// music and waits (no timers) for routing's inputs. Answer with
    /// `QueueUnavailable` if routing cannot take the caller.
    Queue(QueueRequest),
    /// The caller pressed 1 after the callback offer: tell routing (the
    /// request keeps its place); the machine says goodbye and hangs up.
    CallbackRequested {
        ticket: TicketNumber,
        number: String,
    },
    /// Record a routing event on the ticket's history.
    TicketEvent {
        number: TicketNumber,
        event: RoutingEvent,
    },
    /// Write the assignment on the ticket.
    Assigned {
        number: TicketNumber,
        assignment: Assignment,
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
    /// In the queue: hold music and announcements; `offer`: the callback
    /// offer was made, so `1` accepts it.
    Queued {
        offer: bool,
    },
    /// Talking with an agent: nothing to play.
    WithAgent,
    /// A last prompt, then `Hangup` with `reason`.
    Leaving {
        reason: EndReason,
    },
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
    /// The ticket's tier and response deadline, once created.
    ticket_queue: Option<(String, DateTime<Utc>)>,
    /// The hand-off to routing, once made (the tier follows escalations).
    queued: Option<QueueRequest>,
    /// When the caller joined (or rejoined) the queue.
    queued_at: Option<Instant>,
    /// The desk's hours, for `staffed` and `callback_time`.
    staffing: Arc<dyn Staffing>,
    /// A `callback` step's request, stored (true) or waiting for the
    /// ticket's number (the number to call).
    callback: Option<CallbackState>,
}

/// Where a `callback` step's request stands.
#[derive(Debug, Clone, PartialEq)]
enum CallbackState {
    /// Waiting for the ticket: the number to call.
    Pending(String),
    Stored,
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
            ticket_queue: None,
            queued: None,
            queued_at: None,
            staffing: Arc::new(AlwaysStaffed),
            callback: None,
        }
    }

    /// The desk's hours this call's `staffed` conditions and
    /// `callback_time` steps ask (default: always staffed).
    pub fn with_staffing(mut self, staffing: Arc<dyn Staffing>) -> Self {
        self.staffing = staffing;
        self
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

    /// Waiting in the queue (hold music, announcements).
    pub fn is_queued(&self) -> bool {
        matches!(self.phase, Phase::Queued { .. })
    }

    /// Talking with an agent.
    pub fn is_with_agent(&self) -> bool {
        self.phase == Phase::WithAgent
    }

    /// The hand-off made to routing, with the tier as escalated since.
    pub fn queue_request(&self) -> Option<&QueueRequest> {
        self.queued.as_ref()
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
                tier,
                response_due_at,
            } => {
                self.progress.ticket = Some(number);
                self.ticket = TicketState::Created { response_target };
                self.ticket_queue = Some((tier, response_due_at));
                self.store_pending_callback();
                if self.phase == Phase::WaitTicket {
                    self.after_ticket(now);
                }
            }
            IvrInput::TicketFailed => {
                self.ticket = TicketState::Failed;
                if self.phase == Phase::WaitTicket {
                    self.after_ticket(now);
                }
            }
            IvrInput::CallerHungUp => {
                if matches!(self.phase, Phase::Recording | Phase::RecordStopping) {
                    // Keep what was said so far: the recorder finishes the
                    // file and reports it, even after the hang-up.
                    self.out.push_back(IvrAction::StopRecording);
                }
                let reason = match self.phase {
                    Phase::Queued { .. } => {
                        self.abandoned(now);
                        EndReason::AbandonedInQueue
                    }
                    Phase::WithAgent => EndReason::AgentCall,
                    Phase::Leaving { reason } => reason,
                    _ => EndReason::CallerHungUp,
                };
                self.finish(reason, false);
            }
            IvrInput::CallEnded => match self.phase {
                Phase::WithAgent => self.finish(EndReason::AgentCall, false),
                Phase::Leaving { reason } => self.finish(reason, false),
                _ => {}
            },
            IvrInput::QueueUnavailable => self.queue_unavailable(now),
            IvrInput::QueueStatus {
                position,
                expected_wait,
            } => self.announce_position(position, expected_wait),
            IvrInput::OfferCallback => self.offer_callback(),
            IvrInput::AgentAnswered {
                agent,
                tier,
                answered_at,
            } => self.agent_answered(now, agent, tier, answered_at),
            IvrInput::Escalated { from, to, by } => self.escalated(now, from, to, by),
            IvrInput::AgentLegDropped { agent, reason } => self.agent_leg_dropped(agent, reason),
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
                self.after_ticket(now);
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
            Step::Queue(_) => self.queue(now),
            Step::Callback(s) => {
                self.request_callback();
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
            Some(Step::Callback(s)) => self.goto(now, &s.next),
            Some(Step::Queue(_) | Step::Hangup(_)) => {
                let reason = match self.callback {
                    Some(_) => EndReason::CallbackRequested,
                    None => EndReason::Completed,
                };
                self.finish(reason, true)
            }
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

#[path = "machine_queue.rs"]
mod queue;

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
