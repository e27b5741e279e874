//! The queue step driven by hand, as routing and the call task would:
//! hand-off, hold music, announcements, callback, agent, escalation, cut.

use super::*;

/// A ticketed caller through the severity menu and the rest of the default
/// flow, up to the queue hand-off.
fn queued(private: bool) -> Call {
    let mut c = Call::at_severity(private);
    c.done();
    c.keys("1");
    created(&mut c);
    c.done();
    c.keys("#");
    if private {
        c.done();
        c.keys("5551234#");
    }
    c.done();
    c.input(IvrInput::RecordingDone {
        path: "n.wav".into(),
        duration: SECS(2),
    });
    c.done();
    let out = c.done();
    assert!(matches!(out[0], IvrAction::Queue(_)), "{out:?}");
    c
}

#[test]
fn the_queue_waits_for_a_ticket_still_being_written() {
    let mut c = Call::at_severity(false);
    c.done();
    c.keys("1");
    c.done();
    c.keys("#");
    c.done();
    c.input(IvrInput::RecordingDone {
        path: "n.wav".into(),
        duration: SECS(2),
    });
    // The read-back waits, gives up, the promise is skipped, and the queue
    // step waits for the ticket again within the same allowance.
    let out = c.wait(SECS(1));
    assert_eq!(out, []);
    let out = created(&mut c);
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
        ),
        "{out:?}"
    );
    c.done();
    let out = c.done();
    assert!(
        matches!(&out[0], IvrAction::Queue(q) if q.ticket == TicketNumber(1042)),
        "{out:?}"
    );
}

#[test]
fn a_failed_ticket_keeps_the_old_goodbye() {
    let mut c = Call::at_severity(false);
    c.done();
    c.keys("1");
    c.input(IvrInput::TicketFailed);
    c.done();
    c.keys("#");
    c.done();
    let out = c.input(IvrInput::RecordingDone {
        path: "n.wav".into(),
        duration: SECS(2),
    });
    assert_eq!(out, [play(&["en/thank-you-goodbye"], false)]);
    assert_eq!(
        c.done(),
        [IvrAction::Hangup {
            reason: EndReason::Completed
        }]
    );
}

#[test]
fn music_loops_and_routing_announces_position_and_wait() {
    let mut c = queued(false);
    assert_eq!(c.done(), [play(&["music-on-hold"], false)]);
    assert_eq!(c.done(), [play(&["music-on-hold"], false)]);
    let out = c.input(IvrInput::QueueStatus {
        position: 3,
        expected_wait: Some(SECS(4 * 60)),
    });
    assert_eq!(
        out,
        [play(
            &[
                "en/queue-position",
                "en/digit-3",
                "en/queue-wait",
                "en/number-4",
                "en/minutes",
                "music-on-hold"
            ],
            false
        )]
    );
    let out = c.input(IvrInput::QueueStatus {
        position: 1,
        expected_wait: None,
    });
    assert_eq!(
        out,
        [play(
            &["en/queue-position", "en/digit-1", "music-on-hold"],
            false
        )]
    );
    assert_eq!(c.keys("5"), [], "keys while waiting are only recorded");
    assert!(c.m.progress().digits.ends_with('5'));
}

#[test]
fn a_hang_up_in_the_queue_is_abandoned_with_the_wait() {
    let mut c = queued(false);
    c.now += SECS(95);
    let out = c.input(IvrInput::CallerHungUp);
    assert_eq!(
        out,
        [IvrAction::TicketEvent {
            number: TicketNumber(1042),
            event: RoutingEvent::AbandonedInQueue {
                waited: SECS(95),
                call_id: "call-1".into()
            }
        }],
        "no BYE to a gone caller"
    );
    let rec = c.m.call_record(Some(Utc::now()));
    assert_eq!(rec.end_reason, Some(EndReason::AbandonedInQueue));
    assert_eq!(rec.last_step.as_deref(), Some("queue"));
}

#[test]
fn the_callback_offer_taken_with_1_ends_the_call_politely() {
    let mut c = queued(true);
    assert_eq!(c.keys("1"), [], "no offer made yet: 1 is just a key");
    let out = c.input(IvrInput::OfferCallback);
    assert_eq!(
        out,
        [play(
            &[
                "en/callback-offer",
                "en/digit-5",
                "en/digit-5",
                "en/digit-5",
                "en/digit-1",
                "en/digit-2",
                "en/digit-3",
                "en/digit-4",
                "en/callback-offer-end",
                "music-on-hold"
            ],
            false
        )],
        "the number the anonymous caller typed"
    );
    let out = c.keys("1");
    assert_eq!(
        out,
        [
            IvrAction::StopPlayback,
            IvrAction::CallbackRequested {
                ticket: TicketNumber(1042),
                number: "5551234".into()
            },
            IvrAction::TicketEvent {
                number: TicketNumber(1042),
                event: RoutingEvent::CallbackRequested {
                    number: "5551234".into()
                }
            },
            play(&["en/callback-noted"], false)
        ]
    );
    assert_eq!(
        c.done(),
        [IvrAction::Hangup {
            reason: EndReason::CallbackRequested
        }]
    );
    assert_eq!(
        c.m.call_record(None).end_reason,
        Some(EndReason::CallbackRequested)
    );
}

#[test]
fn an_anonymous_caller_without_a_number_gets_no_offer() {
    let text = std::fs::read_to_string("config/ivr.toml")
        .unwrap()
        .replace("then = \"callback_number\"", "then = \"voice_note\"");
    let flow = Arc::new(parse_flow(&text, Path::new("ivr.toml")).unwrap());
    let mut c = Call {
        m: IvrMachine::new(flow, facts(true)),
        now: Instant::now(),
    };
    c.input(IvrInput::Started);
    c.done();
    c.keys("1");
    c.done();
    c.keys("2");
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
    c.done();
    let out = c.done();
    let IvrAction::Queue(q) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(q.callback_number, None);
    assert_eq!(c.input(IvrInput::OfferCallback), []);
}

#[test]
fn an_agent_answers_escalates_and_the_call_ends() {
    let mut c = queued(false);
    c.now += SECS(40);
    let answered_at = Utc::now();
    let out = c.input(IvrInput::AgentAnswered {
        agent: "alice".into(),
        tier: "L3".into(),
        answered_at,
    });
    assert_eq!(
        out,
        [
            IvrAction::StopPlayback,
            IvrAction::Assigned {
                number: TicketNumber(1042),
                assignment: Assignment {
                    agent: "alice".into(),
                    tier: "L3".into(),
                    answered_at,
                    waited: SECS(40),
                    call_id: "call-1".into()
                }
            }
        ]
    );
    assert!(c.m.is_with_agent());
    assert_eq!(c.keys("42"), [], "keys are the agent's now");
    let out = c.input(IvrInput::Escalated {
        from: "L3".into(),
        to: "L2".into(),
        by: "alice".into(),
    });
    assert_eq!(
        out,
        [
            IvrAction::TicketEvent {
                number: TicketNumber(1042),
                event: RoutingEvent::Escalated {
                    from: "L3".into(),
                    to: "L2".into(),
                    by: "alice".into()
                }
            },
            play(&["en/connecting", "music-on-hold"], false)
        ]
    );
    assert!(c.m.is_queued());
    assert_eq!(c.m.queue_request().unwrap().tier, "L2");
    c.now += SECS(5);
    let out = c.input(IvrInput::AgentAnswered {
        agent: "bob".into(),
        tier: "L2".into(),
        answered_at,
    });
    assert!(
        matches!(&out[1], IvrAction::Assigned { assignment, .. } if assignment.waited == SECS(5)),
        "the wait counts from the escalation: {out:?}"
    );
    assert_eq!(c.input(IvrInput::CallEnded), []);
    assert_eq!(c.m.call_record(None).end_reason, Some(EndReason::AgentCall));
}

#[test]
fn a_dropped_agent_leg_tells_the_caller_and_hangs_up() {
    let mut c = Call::at_category(false, '2');
    c.done();
    c.keys("2");
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
    c.done();
    let out = c.done();
    assert!(
        matches!(&out[0], IvrAction::Queue(q) if q.language == "zh"),
        "{out:?}"
    );
    c.input(IvrInput::AgentAnswered {
        agent: "alice".into(),
        tier: "L3".into(),
        answered_at: Utc::now(),
    });
    let out = c.input(IvrInput::AgentLegDropped {
        agent: "alice".into(),
        reason: "rtp_timeout".into(),
    });
    assert_eq!(
        out,
        [
            IvrAction::TicketEvent {
                number: TicketNumber(1042),
                event: RoutingEvent::CallCut {
                    agent: "alice".into(),
                    reason: "rtp_timeout".into()
                }
            },
            play(
                &[
                    "zh/call-cut",
                    "zh/digit-1",
                    "zh/digit-0",
                    "zh/digit-4",
                    "zh/digit-2",
                    "zh/call-cut-end"
                ],
                false
            )
        ]
    );
    assert_eq!(
        c.done(),
        [IvrAction::Hangup {
            reason: EndReason::CallCut
        }]
    );
}

#[test]
fn turned_away_at_once_the_caller_hears_only_the_goodbye() {
    let mut c = Call::at_severity(false);
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
    c.done();
    // As a call task without routing does: answer before taking the rest.
    c.m.handle(c.now, IvrInput::PlaybackDone);
    assert!(matches!(c.m.poll_output(), Some(IvrAction::Queue(_))));
    c.m.handle(c.now, IvrInput::QueueUnavailable);
    let rest: Vec<IvrAction> = std::iter::from_fn(|| c.m.poll_output()).collect();
    assert_eq!(rest, [play(&["en/thank-you-goodbye"], false)]);
}

#[test]
fn keys_pressed_while_waiting_are_kept_up_to_a_limit() {
    let mut c = queued(false);
    let before = c.m.progress().digits.len();
    assert!(before < 20);
    c.keys(&"5".repeat(1000));
    let digits = &c.m.progress().digits;
    assert!(digits.len() <= 257, "{}", digits.len());
    assert!(digits.len() > before + 200);
}
