//! The `queue` step: the hand-off to routing and what the caller hears
//! until an agent answers (hold prompts, music, position, callback offer),
//! then the agent call and its endings. Routing decides when; this only
//! turns its word into prompts and ticket events. No timers here: routing
//! owns the clock of the queue (announce interval, maximum wait).
//!
//! The hand-off needs the ticket (routing orders by its deadline): a
//! ticket still being written is waited for as briefly as a read-back
//! ([`TICKET_WAIT`]); without one the step behaves as it always did, the
//! goodbye `prompts` and a hang-up. So does `QueueUnavailable`.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{CallbackState, IvrAction, IvrMachine, Phase, QueueRequest, TicketState, TICKET_WAIT};
use crate::ivr::announce;
use crate::ivr::flow::Step;
use crate::tickets::{Assignment, EndReason, RoutingEvent};

impl IvrMachine {
    /// Enter the queue step (again, once the ticket is known).
    pub(super) fn queue(&mut self, now: Instant) {
        match (
            &self.ticket,
            self.progress.ticket,
            self.ticket_queue.clone(),
        ) {
            (TicketState::Requested, _, _) if !self.ticket_late => {
                self.phase = Phase::WaitTicket;
                self.deadline = Some(now + TICKET_WAIT);
            }
            (TicketState::Created { .. }, Some(ticket), Some((tier, due))) => {
                let Some(severity) = self.intake.severity.clone() else {
                    return self.queue_unavailable(now);
                };
                let request = QueueRequest {
                    ticket,
                    call_id: self.facts.call_id.clone(),
                    severity,
                    tier,
                    category: self.intake.category.clone(),
                    language: self.intake.language.clone(),
                    sla_start: self.facts.received_at,
                    response_due_at: due,
                    callback_number: self.callback_number(),
                };
                self.queued = Some(request.clone());
                self.out.push_back(IvrAction::Queue(request));
                self.join(now, true);
            }
            _ => self.queue_unavailable(now),
        }
    }

    /// A ticket answer (or its wait running out) while a step waited.
    pub(super) fn after_ticket(&mut self, now: Instant) {
        match self.current() {
            Some(Step::Queue(_)) => self.queue(now),
            _ => self.say(now),
        }
    }

    /// Wait in the queue from `now`: the hold prompts (on first joining),
    /// then music.
    fn join(&mut self, now: Instant, first: bool) {
        self.phase = Phase::Queued { offer: false };
        self.deadline = None;
        self.queued_at = Some(now);
        let mut p = if first {
            self.hold_prompts()
        } else {
            Vec::new()
        };
        p.extend(self.music());
        self.play(&p, false);
    }

    fn queue_step(&self) -> Option<super::super::flow::QueueStep> {
        match self.current() {
            Some(Step::Queue(q)) => Some(q),
            _ => None,
        }
    }

    fn hold_prompts(&self) -> Vec<String> {
        self.queue_step()
            .map(|q| q.hold_prompts)
            .unwrap_or_default()
    }

    fn music(&self) -> Vec<String> {
        self.queue_step()
            .and_then(|q| q.music)
            .into_iter()
            .collect()
    }

    /// The number a callback would go to: the one the caller typed, else
    /// their caller ID unless withheld.
    fn callback_number(&self) -> Option<String> {
        self.intake
            .callback_number
            .clone()
            .or_else(|| (!self.facts.caller_private).then(|| self.facts.caller_number.clone()))
    }

    /// No queue after all: the step's goodbye and a hang-up (`Completed`,
    /// as a flow that ends there always did).
    pub(super) fn queue_unavailable(&mut self, now: Instant) {
        if matches!(
            self.phase,
            Phase::Ended | Phase::WithAgent | Phase::Leaving { .. }
        ) {
            return;
        }
        let prompts = self.queue_step().map(|q| q.prompts).unwrap_or_default();
        // Hold music not yet taken by the call task is withdrawn: a caller
        // turned away at once hears only the goodbye.
        if self.is_queued() && matches!(self.out.back(), Some(IvrAction::Play { .. })) {
            self.out.pop_back();
        }
        self.queued_at = None;
        self.deadline = None;
        self.prompt(now, &prompts, false);
    }

    /// Music again after an announcement or when the music ends.
    pub(super) fn hold_done(&mut self) {
        let music = self.music();
        self.play(&music, false);
    }

    /// Play `prompts` (relative) then the music, in the caller's queue.
    fn announce(&mut self, mut prompts: Vec<String>) {
        prompts.extend(self.music());
        self.play(&prompts, false);
    }

    pub(super) fn announce_position(
        &mut self,
        position: usize,
        expected_wait: Option<std::time::Duration>,
    ) {
        if !self.is_queued() {
            return;
        }
        let p = announce::position(&self.intake.language, position, expected_wait);
        self.announce(p);
    }

    pub(super) fn offer_callback(&mut self) {
        let Phase::Queued { .. } = self.phase else {
            return;
        };
        let Some(number) = self.callback_number() else {
            return;
        };
        let Some(p) = announce::callback_offer(&self.intake.language, &number) else {
            return;
        };
        self.phase = Phase::Queued { offer: true };
        self.announce(p);
    }

    /// `1` after the offer: the request goes on the ticket and to routing;
    /// the caller hears it is noted, and the call ends.
    pub(super) fn callback_accepted(&mut self) {
        let (Some(ticket), Some(number)) = (self.progress.ticket, self.callback_number()) else {
            return;
        };
        self.out.push_back(IvrAction::StopPlayback);
        self.out.push_back(IvrAction::CallbackRequested {
            ticket,
            number: number.clone(),
        });
        self.out.push_back(IvrAction::TicketEvent {
            number: ticket,
            event: RoutingEvent::CallbackRequested { number },
        });
        self.leave(
            EndReason::CallbackRequested,
            announce::callback_noted(&self.intake.language),
        );
    }

    /// A `callback` step: the request goes on the ticket (now, or when the
    /// ticket is made) and to routing; the call ends as
    /// `callback_requested`. Without a number to call there is nothing to
    /// store (the default flow asks anonymous callers for one).
    pub(super) fn request_callback(&mut self) {
        if self.callback.is_some() {
            return;
        }
        let Some(number) = self.callback_number() else {
            return;
        };
        self.callback = Some(CallbackState::Pending(number));
        self.store_pending_callback();
    }

    /// Store a `callback` step's request once the ticket's number is known.
    pub(super) fn store_pending_callback(&mut self) {
        let (Some(CallbackState::Pending(number)), Some(ticket)) =
            (self.callback.clone(), self.progress.ticket)
        else {
            return;
        };
        self.callback = Some(CallbackState::Stored);
        self.out.push_back(IvrAction::CallbackRequested {
            ticket,
            number: number.clone(),
        });
        self.out.push_back(IvrAction::TicketEvent {
            number: ticket,
            event: RoutingEvent::CallbackRequested { number },
        });
    }

    /// A last prompt, then `Hangup` with `reason` when it has played.
    fn leave(&mut self, reason: EndReason, prompts: Vec<String>) {
        self.phase = Phase::Leaving { reason };
        self.deadline = None;
        if !self.play(&prompts, false) {
            self.finish(reason, true);
        }
    }

    fn waited(&self, now: Instant) -> std::time::Duration {
        self.queued_at
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or_default()
    }

    /// The caller hung up while waiting: the ticket says so, with the wait.
    pub(super) fn abandoned(&mut self, now: Instant) {
        if let Some(number) = self.progress.ticket {
            let event = RoutingEvent::AbandonedInQueue {
                waited: self.waited(now),
                call_id: self.facts.call_id.clone(),
            };
            self.out.push_back(IvrAction::TicketEvent { number, event });
        }
    }

    pub(super) fn agent_answered(
        &mut self,
        now: Instant,
        agent: String,
        tier: String,
        answered_at: DateTime<Utc>,
    ) {
        let (Phase::Queued { .. }, Some(number)) = (&self.phase, self.progress.ticket) else {
            return;
        };
        self.out.push_back(IvrAction::StopPlayback);
        let assignment = Assignment {
            agent,
            tier,
            answered_at,
            waited: self.waited(now),
            call_id: self.facts.call_id.clone(),
        };
        self.out
            .push_back(IvrAction::Assigned { number, assignment });
        self.phase = Phase::WithAgent;
        self.deadline = None;
    }

    pub(super) fn escalated(&mut self, now: Instant, from: String, to: String, by: String) {
        let (Phase::WithAgent | Phase::Queued { .. }, Some(number)) =
            (&self.phase, self.progress.ticket)
        else {
            return;
        };
        if let Some(q) = self.queued.as_mut() {
            q.tier.clone_from(&to);
        }
        self.out.push_back(IvrAction::TicketEvent {
            number,
            event: RoutingEvent::Escalated { from, to, by },
        });
        self.join(now, false);
        let p = announce::connecting(&self.intake.language);
        // `join` queued the music alone: say "connecting you" before it.
        if matches!(self.out.back(), Some(IvrAction::Play { .. })) {
            self.out.pop_back();
        }
        self.announce(p);
    }

    pub(super) fn agent_leg_dropped(&mut self, agent: String, reason: String) {
        let (Phase::WithAgent, Some(number)) = (&self.phase, self.progress.ticket) else {
            return;
        };
        self.out.push_back(IvrAction::TicketEvent {
            number,
            event: RoutingEvent::CallCut { agent, reason },
        });
        let p = announce::call_cut(&self.intake.language, number);
        self.leave(EndReason::CallCut, p);
    }
}
