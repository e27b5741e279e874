//! The steps that talk with the caller: keys, menus, digit collection,
//! the end of playback, conditions and `say`.
//! Split from `machine.rs` only to keep each file readable in one sitting.

use tokio::time::Instant;

use super::{IvrAction, IvrMachine, Phase, TicketState, RECORD_GRACE, TICKET_WAIT};
use crate::ivr::flow::{Condition, Field, SayWhat, Step};
use crate::ivr::{announce, words};
use crate::tickets::EndReason;

/// Keys kept on the call record once the caller is past the menus.
const MAX_RECORDED_DIGITS: usize = 256;

impl IvrMachine {
    /// Play the menu (after `prefix`, e.g. "that is not a valid choice").
    pub(super) fn menu_prompt(&mut self, now: Instant, retries: u32, prefix: &[String]) {
        let Some(Step::Menu(m)) = self.current() else {
            return;
        };
        self.phase = Phase::MenuPrompt { retries };
        self.deadline = None;
        let prompts: Vec<String> = prefix.iter().chain(&m.prompts).cloned().collect();
        if !self.play(&prompts, m.barge_in) {
            self.playback_done(now);
        }
    }

    pub(super) fn menu_choice(&mut self, now: Instant, retries: u32, d: char) {
        let Some(Step::Menu(m)) = self.current() else {
            return;
        };
        self.deadline = None;
        let key = d.to_string();
        if m.repeat_digit.as_deref() == Some(key.as_str()) {
            return self.menu_prompt(now, retries, &[]);
        }
        match m.options.iter().find(|o| o.digit == key) {
            Some(o) => {
                if let (Some(f), Some(v)) = (m.field, o.value.clone()) {
                    self.set(f, v);
                }
                self.goto(now, &o.next.clone());
            }
            None => self.menu_retry(now, retries + 1, true),
        }
    }

    /// Another try after an invalid key or silence, or the default once
    /// the tries are used up.
    pub(super) fn menu_retry(&mut self, now: Instant, tries: u32, invalid: bool) {
        let Some(Step::Menu(m)) = self.current() else {
            return;
        };
        if tries > m.max_retries {
            return match m.default {
                Some(d) => {
                    if let (Some(f), Some(v)) = (m.field, d.value) {
                        self.set(f, v);
                    }
                    self.goto(now, &d.next)
                }
                None => self.finish(EndReason::Timeout, true),
            };
        }
        let prefix = if invalid {
            m.invalid_prompts
        } else {
            m.no_input_prompts
        };
        self.menu_prompt(now, tries, &prefix);
    }

    pub(super) fn collect_prompt(&mut self, now: Instant, retries: u32, prefix: &[String]) {
        let Some(Step::Collect(c)) = self.current() else {
            return;
        };
        self.phase = Phase::CollectPrompt { retries };
        self.deadline = None;
        let prompts: Vec<String> = prefix.iter().chain(&c.prompts).cloned().collect();
        if !self.play(&prompts, true) {
            self.playback_done(now);
        }
    }

    /// One key while collecting: `#` ends, `*` is ignored, a digit is kept
    /// and ends the input at the maximum length.
    pub(super) fn collect_key(&mut self, now: Instant, retries: u32, mut buf: String, d: char) {
        let Some(Step::Collect(c)) = self.current() else {
            return;
        };
        if d == '#' {
            return self.collect_done(now, retries, buf);
        }
        if d.is_ascii_digit() {
            buf.push(d);
        }
        if buf.len() >= c.max_length as usize {
            return self.collect_done(now, retries, buf);
        }
        self.phase = Phase::CollectWait { retries, buf };
        self.deadline = Some(now + c.timeout.as_duration());
    }

    pub(super) fn collect_done(&mut self, now: Instant, retries: u32, buf: String) {
        let Some(Step::Collect(c)) = self.current() else {
            return;
        };
        self.deadline = None;
        if buf.is_empty() && c.allow_skip {
            return self.goto(now, &c.next);
        }
        if buf.is_empty() || buf.len() < c.min_length as usize {
            return self.collect_retry(now, retries + 1, true);
        }
        self.set(c.field, buf);
        self.goto(now, &c.next);
    }

    pub(super) fn collect_retry(&mut self, now: Instant, tries: u32, invalid: bool) {
        let Some(Step::Collect(c)) = self.current() else {
            return;
        };
        if tries > c.max_retries {
            let target = c.on_failure.unwrap_or(c.next);
            return self.goto(now, &target);
        }
        let prefix = if invalid {
            c.invalid_prompts
        } else {
            c.no_input_prompts
        };
        self.collect_prompt(now, tries, &prefix);
    }

    /// Speak the step's prompts and the value; a value not known (no
    /// ticket, field unset) skips the step rather than say half a sentence.
    pub(super) fn say(&mut self, now: Instant) {
        let Some(Step::Say(s)) = self.current() else {
            return;
        };
        let needs_ticket = matches!(s.say, SayWhat::TicketNumber | SayWhat::ResponseTarget);
        if needs_ticket && self.ticket == TicketState::Requested && !self.ticket_late {
            self.phase = Phase::WaitTicket;
            self.deadline = Some(now + TICKET_WAIT);
            return;
        }
        let spoken = match (s.say, &self.ticket) {
            (SayWhat::TicketNumber, TicketState::Created { .. })
                if self.progress.ticket.is_some_and(|n| n.is_provisional()) =>
            {
                // Journaled with no final number yet (a long database
                // outage): no number to read; say it is recorded and the
                // desk will call back.
                return self.prompt(now, &[words::TICKET_RECORDED.to_string()], false);
            }
            (SayWhat::TicketNumber, TicketState::Created { .. }) => {
                self.progress.ticket.map(|n| words::digits(&n.to_string()))
            }
            (SayWhat::ResponseTarget, TicketState::Created { response_target }) => {
                words::callback_within(&self.intake.language, *response_target)
            }
            (SayWhat::CustomerRef, _) => self.intake.customer_ref.as_deref().map(words::digits),
            (SayWhat::CallbackNumber, _) => {
                self.intake.callback_number.as_deref().map(words::digits)
            }
            (SayWhat::CallbackTime, _) => {
                match self.staffing.opens_in(self.intake.severity.as_deref()) {
                    Some(d) if d.is_zero() => None,
                    Some(d) => Some(words::callback_after(&self.intake.language, d)),
                    // No staffed hour ahead at all: still a promise, no time.
                    None => Some(vec![words::CALLBACK_WHEN_OPEN.to_string()]),
                }
            }
            _ => None,
        };
        match spoken.filter(|w| !w.is_empty()) {
            Some(w) => {
                let prompts: Vec<String> = s.prompts.iter().cloned().chain(w).collect();
                self.prompt(now, &prompts, false);
            }
            None => self.goto(now, &s.next),
        }
    }

    pub(super) fn holds(&self, c: &Condition) -> bool {
        match c {
            Condition::CallerAnonymous(want) => self.facts.caller_private == *want,
            Condition::Language(l) => self.intake.language == *l,
            Condition::FieldSet(f) => self.field(*f).is_some(),
            Condition::FieldUnset(f) => self.field(*f).is_none(),
            Condition::Staffed(want) => {
                self.staffing.staffed(self.intake.severity.as_deref()) == *want
            }
        }
    }

    pub(super) fn field(&self, f: Field) -> Option<&String> {
        match f {
            Field::Category => self.intake.category.as_ref(),
            Field::Severity => self.intake.severity.as_ref(),
            Field::Language => Some(&self.intake.language),
            Field::CustomerRef => self.intake.customer_ref.as_ref(),
            Field::CallbackNumber => self.intake.callback_number.as_ref(),
        }
    }

    pub(super) fn set(&mut self, f: Field, value: String) {
        match f {
            Field::Category => self.intake.category = Some(value),
            Field::Severity => self.intake.severity = Some(value),
            Field::Language => self.intake.language = value,
            Field::CustomerRef => self.intake.customer_ref = Some(value),
            Field::CallbackNumber => self.intake.callback_number = Some(value),
        }
    }

    pub(super) fn playback_done(&mut self, now: Instant) {
        match (self.phase.clone(), self.current()) {
            (Phase::Prompting { .. }, _) => self.next(now),
            (Phase::MenuPrompt { retries }, Some(Step::Menu(m))) => {
                self.phase = Phase::MenuWait { retries };
                self.deadline = Some(now + m.timeout.as_duration());
            }
            (Phase::CollectPrompt { retries }, Some(Step::Collect(c))) => {
                self.phase = Phase::CollectWait {
                    retries,
                    buf: String::new(),
                };
                self.deadline = Some(now + c.timeout.as_duration());
            }
            (Phase::RecordPrompt, Some(Step::Record(r))) => {
                let max = r.max_length.as_duration();
                self.out.push_back(IvrAction::StartRecording {
                    max,
                    silence: r.silence.as_duration(),
                });
                self.phase = Phase::Recording;
                self.deadline = Some(now + max + RECORD_GRACE);
            }
            (Phase::Queued { .. }, _) => self.hold_done(),
            (Phase::Leaving { reason }, _) => self.finish(reason, true),
            _ => {}
        }
    }

    pub(super) fn digit(&mut self, now: Instant, d: char) {
        if matches!(self.phase, Phase::Idle | Phase::Ended) {
            return;
        }
        self.progress.digits.push(d);
        match self.phase.clone() {
            Phase::Prompting { barge_in: true } => {
                self.stop_playback();
                self.next(now);
                // The key was meant for what comes next (a menu the caller
                // already knows): hand it on.
                if matches!(
                    self.phase,
                    Phase::MenuPrompt { .. } | Phase::CollectPrompt { .. }
                ) {
                    self.progress.digits.pop();
                    self.digit(now, d);
                }
            }
            Phase::MenuPrompt { retries } => match self.current() {
                Some(Step::Menu(m)) if m.barge_in => {
                    self.stop_playback();
                    self.menu_choice(now, retries, d);
                }
                _ => {
                    self.progress.digits.pop();
                }
            },
            Phase::MenuWait { retries } => self.menu_choice(now, retries, d),
            Phase::CollectPrompt { retries } => {
                self.stop_playback();
                self.collect_key(now, retries, String::new(), d);
            }
            Phase::CollectWait { retries, buf } => self.collect_key(now, retries, buf, d),
            Phase::Queued { offer: true } if d == announce::CALLBACK_KEY => {
                self.callback_accepted()
            }
            // Kept for the call record (up to a limit: a caller may press
            // keys for as long as they wait or talk); the agent hears them
            // on the bridge.
            Phase::Queued { .. } | Phase::WithAgent | Phase::Leaving { .. } => {
                if self.progress.digits.len() > MAX_RECORDED_DIGITS {
                    self.progress.digits.pop();
                }
            }
            Phase::Recording if d == '#' => {
                self.out.push_back(IvrAction::StopRecording);
                self.phase = Phase::RecordStopping;
                self.deadline = Some(now + RECORD_GRACE);
            }
            _ => {
                self.progress.digits.pop();
            }
        }
    }
}
