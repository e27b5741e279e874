//! The shipped default flow (`config/ivr.toml`) driven key by key, with
//! explicit `Instant`s: no sockets, no sleeps.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::*;
use crate::ivr::load::parse_flow;

const SECS: fn(u64) -> Duration = Duration::from_secs;

struct Call {
    m: IvrMachine,
    now: Instant,
}

fn default_flow() -> Arc<Flow> {
    let text = std::fs::read_to_string("config/ivr.toml").unwrap();
    Arc::new(parse_flow(&text, Path::new("config/ivr.toml")).unwrap())
}

fn facts(private: bool) -> CallFacts {
    CallFacts {
        call_id: "call-1".into(),
        caller_number: if private { "anonymous" } else { "+15551230000" }.into(),
        caller_name: None,
        caller_private: private,
        received_at: Utc::now(),
        answered_at: Some(Utc::now()),
    }
}

impl Call {
    fn start(private: bool) -> Self {
        let mut call = Call {
            m: IvrMachine::new(default_flow(), facts(private)),
            now: Instant::now(),
        };
        let out = call.input(IvrInput::Started);
        assert_eq!(out, [play(&["language-choice"], true)]);
        call
    }

    fn input(&mut self, i: IvrInput) -> Vec<IvrAction> {
        self.m.handle(self.now, i);
        std::iter::from_fn(|| self.m.poll_output()).collect()
    }

    fn done(&mut self) -> Vec<IvrAction> {
        self.input(IvrInput::PlaybackDone)
    }

    fn keys(&mut self, keys: &str) -> Vec<IvrAction> {
        keys.chars()
            .flat_map(|k| self.input(IvrInput::Digit(k)))
            .collect()
    }

    /// Let `d` pass; fire the timer if it is due.
    fn wait(&mut self, d: Duration) -> Vec<IvrAction> {
        self.now += d;
        self.m.handle_timeout(self.now);
        std::iter::from_fn(|| self.m.poll_output()).collect()
    }

    /// Language `lang_key`, greeting heard, category menu heard.
    fn at_category(private: bool, lang_key: char) -> Self {
        let mut c = Call::start(private);
        c.done();
        c.keys(&lang_key.to_string());
        c.done();
        c
    }

    /// Then category 2 (software), severity menu heard.
    fn at_severity(private: bool) -> Self {
        let mut c = Call::at_category(private, '1');
        c.done();
        c.keys("2");
        c.done();
        c
    }
}

fn play(names: &[&str], barge_in: bool) -> IvrAction {
    IvrAction::Play {
        prompts: names.iter().map(|s| s.to_string()).collect(),
        barge_in,
    }
}

fn due() -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-12-01T10:30:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn created(c: &mut Call) -> Vec<IvrAction> {
    c.input(IvrInput::TicketCreated {
        number: TicketNumber(1042),
        response_target: SECS(30 * 60),
        tier: "L3".into(),
        response_due_at: due(),
    })
}

#[test]
fn software_critical_skipping_the_customer_number_to_the_queue() {
    let mut c = Call::start(false);
    assert_eq!(c.done(), []);
    assert_eq!(c.m.poll_timeout(), Some(c.now + SECS(5)));
    assert_eq!(
        c.keys("1"),
        [play(
            &["en/greeting-hello", "en/company", "en/greeting-service"],
            true
        )]
    );
    assert_eq!(c.done(), [play(&["en/category-menu"], true)]);
    c.done();
    assert_eq!(c.keys("2"), [play(&["en/severity-menu"], true)]);
    c.done();
    let out = c.keys("1");
    let IvrAction::CreateTicket(intake) = &out[0] else {
        panic!("ticket first, as soon as the severity is known: {out:?}")
    };
    assert_eq!(intake.severity.as_deref(), Some("critical"));
    assert_eq!(intake.category.as_deref(), Some("software"));
    let ticket = intake.new_ticket(c.m.facts(), c.m.flow_version()).unwrap();
    assert_eq!(ticket.caller_number, "+15551230000");
    assert_eq!(out[1], play(&["en/customer-number"], true));
    assert_eq!(created(&mut c), []);
    c.done();
    assert_eq!(c.keys("#"), [play(&["en/record-message", "beep"], false)]);
    assert_eq!(
        c.done(),
        [IvrAction::StartRecording {
            max: SECS(60),
            silence: SECS(5)
        }]
    );
    let out = c.input(IvrInput::RecordingDone {
        path: "/var/lib/hotline/notes/call-1.wav".into(),
        duration: SECS(2),
    });
    assert_eq!(
        out[0],
        play(
            &[
                "en/ticket-number-is",
                "en/digit-1",
                "en/digit-0",
                "en/digit-4",
                "en/digit-2"
            ],
            false
        )
    );
    let IvrAction::UpdateTicket { number, update } = &out[1] else {
        panic!("the voice note updates the ticket: {out:?}")
    };
    assert_eq!(*number, TicketNumber(1042));
    assert_eq!(
        update.voice_note_path.as_deref(),
        Some("/var/lib/hotline/notes/call-1.wav")
    );
    assert_eq!(
        c.done(),
        [play(
            &["en/callback-within", "en/number-30", "en/minutes"],
            false
        )]
    );
    let out = c.done();
    let IvrAction::Queue(q) = &out[0] else {
        panic!("the caller is handed to routing: {out:?}")
    };
    assert_eq!(
        (
            q.ticket,
            q.severity.as_str(),
            q.tier.as_str(),
            q.language.as_str()
        ),
        (TicketNumber(1042), "critical", "L3", "en")
    );
    assert_eq!(q.category.as_deref(), Some("software"));
    assert_eq!(q.response_due_at, due());
    assert_eq!(q.sla_start, c.m.facts().received_at);
    assert_eq!(q.callback_number.as_deref(), Some("+15551230000"));
    assert_eq!(out[1], play(&["en/connecting", "music-on-hold"], false));
    assert_eq!(out.len(), 2, "no hang-up: {out:?}");
    assert!(c.m.is_queued() && !c.m.is_ended());
    assert_eq!(c.m.poll_timeout(), None, "routing owns the queue's clock");
    // Routing is not there after all: the fallback is the goodbye.
    assert_eq!(
        c.input(IvrInput::QueueUnavailable),
        [play(&["en/thank-you-goodbye"], false)]
    );
    assert_eq!(
        c.done(),
        [IvrAction::Hangup {
            reason: EndReason::Completed
        }]
    );
    let rec = c.m.call_record(Some(Utc::now()));
    assert_eq!(rec.last_step.as_deref(), Some("queue"));
    assert_eq!(rec.digits, "121#");
    assert_eq!(rec.ticket_number, Some(TicketNumber(1042)));
    assert_eq!(rec.end_reason, Some(EndReason::Completed));
    assert_eq!(rec.language.as_deref(), Some("en"));
}

#[test]
fn an_invalid_key_replays_the_menu_then_a_valid_one_counts() {
    let mut c = Call::at_category(false, '1');
    c.done();
    assert_eq!(
        c.keys("9"),
        [play(&["en/invalid-choice", "en/category-menu"], true)]
    );
    c.done();
    assert_eq!(c.keys("3"), [play(&["en/severity-menu"], true)]);
    assert_eq!(c.m.intake().category.as_deref(), Some("network"));
    assert_eq!(c.m.progress().digits, "193");
}

#[test]
fn silence_until_the_default_still_makes_a_ticket() {
    let mut c = Call::at_severity(false);
    let deadline = c.m.poll_timeout().unwrap();
    assert_eq!(deadline, c.now + SECS(6));
    assert_eq!(c.wait(SECS(5)), [], "not yet due");
    for _ in 0..2 {
        let out = c.wait(SECS(6));
        assert_eq!(out, [play(&["en/no-input", "en/severity-menu"], true)]);
        assert_eq!(c.m.poll_timeout(), None, "no timer while the prompt plays");
        c.done();
    }
    let out = c.wait(SECS(6));
    let IvrAction::CreateTicket(intake) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(intake.severity.as_deref(), Some("minor"));
    assert_eq!(out[1], play(&["en/customer-number"], true));
}

#[test]
fn a_hang_up_in_the_severity_menu_leaves_a_record_and_no_ticket() {
    let mut c = Call::at_severity(false);
    let out = c.input(IvrInput::CallerHungUp);
    assert_eq!(
        out,
        [],
        "no ticket without a severity, no BYE to a gone caller"
    );
    assert!(c.m.is_ended());
    assert_eq!(c.m.poll_timeout(), None);
    assert_eq!(c.keys("1"), [], "keys after the end are ignored");
    let rec = c.m.call_record(Some(Utc::now()));
    assert_eq!(rec.end_reason, Some(EndReason::CallerHungUp));
    assert_eq!(rec.last_step.as_deref(), Some("severity"));
    assert_eq!(rec.ticket_number, None);
    assert_eq!(rec.digits, "12");
}

#[test]
fn an_anonymous_caller_gives_a_callback_number() {
    let mut c = Call::at_severity(true);
    c.done();
    c.keys("2");
    created(&mut c);
    c.done();
    assert_eq!(c.keys("#"), [play(&["en/callback-number"], true)]);
    c.done();
    let out = c.keys("13800138000#");
    assert_eq!(out[0], play(&["en/record-message", "beep"], false));
    let IvrAction::UpdateTicket { update, .. } = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(update.callback_number.as_deref(), Some("13800138000"));
}

#[test]
fn a_known_caller_is_not_asked_for_a_callback_number() {
    let mut c = Call::at_severity(false);
    c.done();
    c.keys("3");
    c.done();
    assert_eq!(c.keys("#"), [play(&["en/record-message", "beep"], false)]);
}

#[test]
fn a_customer_number_updates_the_ticket_and_a_pause_ends_it() {
    let mut c = Call::at_severity(false);
    c.done();
    c.keys("1");
    created(&mut c);
    c.done();
    assert_eq!(c.keys("1042"), []);
    let out = c.wait(SECS(8));
    assert!(
        matches!(&out[1], IvrAction::UpdateTicket { update, .. }
        if update.customer_ref.as_deref() == Some("1042")),
        "{out:?}"
    );
    // Too short a number is asked again.
    let mut c = Call::at_severity(false);
    c.done();
    c.keys("1");
    c.done();
    assert_eq!(
        c.keys("12#"),
        [play(&["en/invalid-choice", "en/customer-number"], true)]
    );
}

#[test]
fn mandarin_callers_hear_mandarin_word_order() {
    let mut c = Call::at_category(false, '2');
    assert_eq!(c.m.intake().language, "zh");
    c.done();
    assert_eq!(c.keys("2"), [play(&["zh/severity-menu"], true)]);
    c.done();
    c.keys("1");
    created(&mut c);
    c.done();
    c.keys("#");
    c.done();
    c.input(IvrInput::RecordingDone {
        path: "n.wav".into(),
        duration: SECS(2),
    });
    let out = c.done();
    assert_eq!(
        out,
        [play(
            &[
                "zh/callback-within",
                "zh/number-30",
                "zh/minutes",
                "zh/callback-within-end"
            ],
            false
        )]
    );
}

#[test]
fn a_key_during_the_greeting_answers_the_category_menu() {
    let mut c = Call::start(false);
    c.done();
    c.keys("1");
    let out = c.keys("4");
    assert_eq!(
        out,
        [IvrAction::StopPlayback, play(&["en/severity-menu"], true)],
        "the category prompt is never started"
    );
    assert_eq!(c.m.intake().category.as_deref(), Some("account_access"));
    assert_eq!(c.m.progress().digits, "14");
}

#[test]
fn a_hang_up_while_recording_keeps_the_voice_note() {
    let mut c = Call::at_severity(false);
    c.done();
    c.keys("1");
    created(&mut c);
    c.done();
    c.keys("#");
    c.done();
    assert_eq!(c.input(IvrInput::CallerHungUp), [IvrAction::StopRecording]);
    let out = c.input(IvrInput::RecordingDone {
        path: "note.wav".into(),
        duration: SECS(3),
    });
    assert!(
        matches!(&out[..], [IvrAction::UpdateTicket { update, .. }]
        if update.voice_note_path.as_deref() == Some("note.wav")),
        "{out:?}"
    );
}

#[test]
fn the_read_back_waits_briefly_for_the_ticket_then_goes_on() {
    let mut c = Call::at_severity(false);
    c.done();
    c.keys("1");
    c.done();
    c.keys("#");
    c.done();
    c.keys("#");
    assert_eq!(
        c.m.poll_timeout(),
        Some(c.now + RECORD_GRACE),
        "# stops the recording"
    );
    let out = c.input(IvrInput::RecordingDone {
        path: "n.wav".into(),
        duration: SECS(1),
    });
    assert_eq!(out, [], "no ticket number yet: wait for the store");
    let out = c.wait(TICKET_WAIT);
    assert_eq!(
        out,
        [play(&["en/thank-you-goodbye"], false)],
        "no ticket to queue with: the queue step's goodbye"
    );
    // The ticket that arrives late still gets the voice note.
    let out = created(&mut c);
    assert!(
        matches!(&out[..], [IvrAction::UpdateTicket { .. }]),
        "{out:?}"
    );
}

#[test]
fn a_menu_without_a_default_ends_the_call_when_tries_run_out() {
    let text = "version = \"t\"\nlanguages = [\"en\"]\nstart = \"m\"\n\
        [steps.m]\nkind = \"menu\"\nprompts = [\"p\"]\ntimeout = \"2s\"\nmax_retries = 0\n\
        options = [{ digit = \"1\", next = \"m\" }]\n";
    let flow = Arc::new(parse_flow(text, Path::new("t.toml")).unwrap());
    let mut c = Call {
        m: IvrMachine::new(flow, facts(false)),
        now: Instant::now(),
    };
    c.input(IvrInput::Started);
    c.done();
    assert_eq!(
        c.wait(SECS(2)),
        [IvrAction::Hangup {
            reason: EndReason::Timeout
        }]
    );
}

#[path = "machine_queue_tests.rs"]
mod queue;

/// A desk whose engineers are all away for `0`.
#[derive(Debug)]
struct ClosedFor(Duration);

impl crate::ivr::Staffing for ClosedFor {
    fn staffed(&self, _: Option<&str>) -> bool {
        false
    }
    fn opens_in(&self, _: Option<&str>) -> Option<Duration> {
        Some(self.0)
    }
}

/// Minor severity, customer number skipped, voice note left: the ticket
/// number is read back.
fn read_back_after_hours(closed: Duration) -> Call {
    let mut c = Call::start(false);
    c.m = IvrMachine::new(default_flow(), facts(false)).with_staffing(Arc::new(ClosedFor(closed)));
    c.input(IvrInput::Started);
    c.done();
    c.keys("1");
    c.done();
    c.done();
    c.keys("2");
    c.done();
    c.keys("3");
    created(&mut c);
    c.done();
    c.keys("#");
    c.done();
    c.input(IvrInput::RecordingDone {
        path: "/var/lib/hotline/notes/call-1.wav".into(),
        duration: SECS(2),
    });
    c
}

#[test]
fn after_hours_the_caller_hears_when_the_desk_calls_back_and_the_request_is_stored() {
    let mut c = read_back_after_hours(SECS(10 * 3600));
    // No "within 30 minutes" promise and no queue: the desk is closed.
    assert_eq!(
        c.done(),
        [play(
            &[
                "en/after-hours",
                "en/callback-within",
                "en/number-15",
                "en/hours"
            ],
            false
        )]
    );
    assert_eq!(
        c.done(),
        [
            IvrAction::CallbackRequested {
                ticket: TicketNumber(1042),
                number: "+15551230000".into()
            },
            IvrAction::TicketEvent {
                number: TicketNumber(1042),
                event: RoutingEvent::CallbackRequested {
                    number: "+15551230000".into()
                }
            },
            play(&["en/thank-you-goodbye"], false),
        ]
    );
    assert_eq!(
        c.done(),
        [IvrAction::Hangup {
            reason: EndReason::CallbackRequested
        }]
    );
    assert_eq!(c.m.queue_request(), None, "never queued");
    let rec = c.m.call_record(Some(Utc::now()));
    assert_eq!(rec.end_reason, Some(EndReason::CallbackRequested));
    assert_eq!(rec.last_step.as_deref(), Some("goodbye"));
}

#[test]
fn a_desk_closed_for_days_promises_a_callback_when_it_opens() {
    let mut c = read_back_after_hours(SECS(3 * 86_400));
    assert_eq!(
        c.done(),
        [play(&["en/after-hours", "en/callback-when-open"], false)]
    );
}

#[test]
fn a_callback_step_before_the_ticket_exists_is_stored_when_it_is_made() {
    let text = r#"
version = "t"
languages = ["en"]
start = "ticket"
[steps.ticket]
kind = "ticket"
next = "cb"
[steps.cb]
kind = "callback"
prompts = ["callback-noted"]
next = "bye"
[steps.bye]
kind = "hangup"
"#;
    let flow = Arc::new(parse_flow(text, Path::new("t.toml")).unwrap());
    let mut c = Call {
        m: IvrMachine::new(flow, facts(false)),
        now: Instant::now(),
    };
    c.m.intake.severity = Some("minor".into());
    let out = c.input(IvrInput::Started);
    assert!(
        !out.iter()
            .any(|a| matches!(a, IvrAction::CallbackRequested { .. })),
        "no ticket number yet: {out:?}"
    );
    assert_eq!(out.last(), Some(&play(&["en/callback-noted"], false)));
    let out = created(&mut c);
    assert!(matches!(
        out.as_slice(),
        [
            IvrAction::CallbackRequested {
                ticket: TicketNumber(1042),
                ..
            },
            IvrAction::TicketEvent { .. }
        ]
    ));
    assert_eq!(
        c.done(),
        [IvrAction::Hangup {
            reason: EndReason::CallbackRequested
        }]
    );
}

/// Issue 14, item 13: a ticket journaled without its final number (a long
/// database outage) is not read out as a number; the caller hears that
/// the request is recorded and the desk will call back, then the promise.
#[test]
fn a_ticket_without_its_final_number_is_not_read_out() {
    let mut c = Call::start(false);
    c.done();
    c.keys("1");
    c.done();
    c.done();
    c.keys("2");
    c.done();
    c.keys("1");
    c.input(IvrInput::TicketCreated {
        number: TicketNumber(-3),
        response_target: SECS(30 * 60),
        tier: "L3".into(),
        response_due_at: due(),
    });
    c.done();
    c.keys("#");
    c.done();
    let out = c.input(IvrInput::RecordingDone {
        path: "/var/lib/hotline/notes/call-1.wav".into(),
        duration: SECS(2),
    });
    assert_eq!(out[0], play(&["en/ticket-recorded"], false));
    assert_eq!(
        c.done(),
        [play(
            &["en/callback-within", "en/number-30", "en/minutes"],
            false
        )]
    );
}
