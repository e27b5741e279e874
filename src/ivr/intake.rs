//! What the IVR knows about a call and what it has collected, in the shapes
//! the call task persists: a [`NewTicket`], a [`TicketUpdate`], a
//! [`CallRecord`]. Kept apart from the interpreter so the mapping onto
//! ticket fields can be read (and changed) in one place.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::tickets::{CallRecord, EndReason, NewTicket, TicketNumber, TicketUpdate};

/// Facts about the call the IVR starts with (from SIP, not from the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct CallFacts {
    pub call_id: String,
    /// As caller identity gave it (`anonymous` when withheld).
    pub caller_number: String,
    pub caller_name: Option<String>,
    /// Anonymous or private (`Privacy: id`): there is no number to call
    /// back, so the default flow asks for one.
    pub caller_private: bool,
    /// The INVITE's arrival: the SLA start.
    pub received_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// What the caller has told the IVR so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Intake {
    pub language: String,
    pub category: Option<String>,
    pub severity: Option<String>,
    pub customer_ref: Option<String>,
    pub callback_number: Option<String>,
    pub voice_note_path: Option<String>,
    pub voice_note_duration: Option<Duration>,
}

impl Intake {
    /// The ticket to create for this call; `None` until a severity is
    /// known (the SLA clock needs one).
    pub fn new_ticket(&self, facts: &CallFacts, flow_version: &str) -> Option<NewTicket> {
        Some(NewTicket {
            call_id: facts.call_id.clone(),
            caller_number: facts.caller_number.clone(),
            caller_name: facts.caller_name.clone(),
            caller_private: facts.caller_private,
            customer_ref: self.customer_ref.clone(),
            callback_number: self.callback_number.clone(),
            category: self.category.clone(),
            severity: self.severity.clone()?,
            received_at: facts.received_at,
            answered_at: facts.answered_at,
            flow_version: Some(flow_version.to_string()),
        })
    }

    /// The change that brings a ticket made from `earlier` up to `self`;
    /// `None` when nothing a ticket stores has changed.
    pub fn changes_since(&self, earlier: &Intake) -> Option<TicketUpdate> {
        let changed = |now: &Option<String>, then: &Option<String>| {
            if now != then {
                now.clone()
            } else {
                None
            }
        };
        let u = TicketUpdate {
            customer_ref: changed(&self.customer_ref, &earlier.customer_ref),
            callback_number: changed(&self.callback_number, &earlier.callback_number),
            category: changed(&self.category, &earlier.category),
            voice_note_path: changed(&self.voice_note_path, &earlier.voice_note_path),
            ..TicketUpdate::default()
        };
        (u != TicketUpdate::default()).then_some(u)
    }
}

/// How far the call got: what the call record stores.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Progress {
    pub last_step: Option<String>,
    /// Every key pressed, in order.
    pub digits: String,
    pub ticket: Option<TicketNumber>,
    pub ended: Option<EndReason>,
}

/// The call record for a call at this point; `ended_at` is the call
/// task's clock (the machine only knows `Instant`s).
pub fn call_record(
    facts: &CallFacts,
    intake: &Intake,
    progress: &Progress,
    flow_version: &str,
    ended_at: Option<DateTime<Utc>>,
) -> CallRecord {
    CallRecord {
        call_id: facts.call_id.clone(),
        caller_number: facts.caller_number.clone(),
        received_at: facts.received_at,
        answered_at: facts.answered_at,
        ended_at,
        end_reason: progress.ended,
        last_step: progress.last_step.clone(),
        digits: progress.digits.clone(),
        language: Some(intake.language.clone()),
        ticket_number: progress.ticket,
        flow_version: Some(flow_version.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_ticket_fields_are_sent() {
        let before = Intake {
            severity: Some("critical".into()),
            category: Some("software".into()),
            ..Intake::default()
        };
        assert_eq!(before.changes_since(&before), None);
        let mut after = before.clone();
        after.customer_ref = Some("1042".into());
        let u = after.changes_since(&before).unwrap();
        assert_eq!(u.customer_ref.as_deref(), Some("1042"));
        assert_eq!(u.category, None);
    }
}
