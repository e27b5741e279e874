//! The interpreter's actions persisted the way the call task will: the
//! default flow driven key by key, its `CreateTicket` / `UpdateTicket`
//! performed on a real `TicketStore`, and the call record written at the
//! end. No SIP, no audio: those are the call task's part.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use hotline::config::Config;
use hotline::ivr::{parse_flow, CallFacts, IvrAction, IvrInput, IvrMachine};
use hotline::tickets::calls::{self, EndReason};
use hotline::tickets::{repo, SlaPolicy, TicketStatus, TicketStore};
use tokio::time::Instant;

struct Shell {
    m: IvrMachine,
    store: TicketStore,
    policy: SlaPolicy,
    now: Instant,
    seen: Vec<IvrAction>,
    /// A routing call task: the queue hand-off is taken (otherwise it is
    /// answered `QueueUnavailable`, as a call task without routing does).
    routing: bool,
}

impl Shell {
    /// Feed `input`, then perform every ticket action the machine asks for
    /// (answering it as the store did), as the call task's loop would.
    async fn feed(&mut self, input: IvrInput) {
        self.m.handle(self.now, input);
        while let Some(action) = self.m.poll_output() {
            match &action {
                IvrAction::CreateTicket(intake) => {
                    let new = intake
                        .new_ticket(self.m.facts(), self.m.flow_version())
                        .expect("a severity");
                    let reply = match self.store.create(new, &self.policy).await {
                        Ok(c) => IvrInput::TicketCreated {
                            number: c.ticket.number,
                            response_target: c.ticket.response_target.to_std().unwrap(),
                            tier: c.ticket.assigned_tier.clone(),
                            response_due_at: c.ticket.response_due_at,
                        },
                        Err(_) => IvrInput::TicketFailed,
                    };
                    self.m.handle(self.now, reply);
                }
                IvrAction::UpdateTicket { number, update } => {
                    self.store
                        .update(*number, "ivr", update.clone())
                        .await
                        .unwrap();
                }
                IvrAction::Queue(_) if !self.routing => {
                    self.m.handle(self.now, IvrInput::QueueUnavailable);
                }
                IvrAction::Assigned { number, assignment } => {
                    self.store
                        .assign(*number, assignment.clone())
                        .await
                        .unwrap();
                }
                IvrAction::TicketEvent { number, event } => {
                    self.store
                        .event(*number, "routing", Utc::now(), event.clone())
                        .await
                        .unwrap();
                }
                _ => {}
            }
            self.seen.push(action);
        }
    }

    async fn keys(&mut self, keys: &str) {
        for k in keys.chars() {
            self.feed(IvrInput::Digit(k)).await;
        }
    }

    async fn done(&mut self) {
        self.feed(IvrInput::PlaybackDone).await;
    }
}

async fn shell(call_id: &str, private: bool) -> (Shell, tempfile::TempDir) {
    let (pool, _) = common::shared().fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let (store, _replayer) = TicketStore::open(pool, data.path(), 20).await.unwrap();
    let text = std::fs::read_to_string("config/ivr.toml").unwrap();
    let flow = Arc::new(parse_flow(&text, Path::new("config/ivr.toml")).unwrap());
    let received = Utc::now() - TimeDelta::seconds(7);
    let facts = CallFacts {
        call_id: call_id.into(),
        caller_number: if private { "anonymous" } else { "+15551230000" }.into(),
        caller_name: None,
        caller_private: private,
        received_at: received,
        answered_at: Some(received + TimeDelta::seconds(6)),
    };
    let shell = Shell {
        m: IvrMachine::new(flow, facts),
        store,
        policy: SlaPolicy::from_config(&Config::default()),
        now: Instant::now(),
        seen: Vec::new(),
        routing: false,
    };
    (shell, data)
}

#[tokio::test]
async fn an_anonymous_software_critical_call_leaves_a_full_ticket_and_record() {
    let (mut s, _data) = shell("intake-1", true).await;
    s.feed(IvrInput::Started).await;
    s.done().await; // language menu heard
    s.keys("1").await;
    s.done().await; // greeting
    s.done().await; // category menu
    s.keys("2").await;
    s.done().await; // severity menu
    s.keys("1").await; // critical: the ticket is made now
    s.done().await;
    s.keys("#").await; // no customer number
    s.done().await;
    s.keys("5551234#").await; // callback number
    s.done().await; // record prompt + beep
    s.feed(IvrInput::RecordingDone {
        path: "/tmp/notes/intake-1.wav".into(),
        duration: Duration::from_secs(2),
    })
    .await;
    for _ in 0..3 {
        s.done().await; // number, promise, goodbye
    }
    assert!(s.m.is_ended());
    assert!(s.seen.contains(&IvrAction::Hangup {
        reason: EndReason::Completed
    }));
    s.store
        .record_call(&s.m.call_record(Some(Utc::now())))
        .await
        .unwrap();

    let number = s.m.progress().ticket.expect("a ticket number");
    let t = repo::by_number(s.store.pool(), number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.category.as_deref(), Some("software"));
    assert_eq!(t.severity, "critical");
    assert!(t.caller_private);
    assert_eq!(t.callback_number.as_deref(), Some("5551234"));
    assert_eq!(
        t.voice_note_path.as_deref(),
        Some("/tmp/notes/intake-1.wav")
    );
    assert_eq!(t.flow_version.as_deref(), Some(s.m.flow_version()));
    assert_eq!(t.response_due_at - t.received_at, TimeDelta::minutes(30));
    assert!(t.received_at <= t.answered_at.unwrap() && t.answered_at.unwrap() <= t.created_at);

    let rec = calls::by_call_id(s.store.pool(), "intake-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.ticket_number, Some(number));
    assert_eq!(rec.end_reason, Some(EndReason::Completed));
    assert_eq!(rec.last_step.as_deref(), Some("queue"));
    assert_eq!(rec.digits, "121#5551234#");
}

#[tokio::test]
async fn a_hang_up_in_the_severity_menu_leaves_a_record_but_no_ticket() {
    let (mut s, _data) = shell("intake-2", false).await;
    s.feed(IvrInput::Started).await;
    s.done().await;
    s.keys("2").await; // Mandarin
    s.done().await;
    s.done().await;
    s.keys("3").await;
    s.done().await;
    s.feed(IvrInput::CallerHungUp).await;
    s.store
        .record_call(&s.m.call_record(Some(Utc::now())))
        .await
        .unwrap();

    assert_eq!(repo::count(s.store.pool()).await.unwrap(), 0);
    let rec = calls::by_call_id(s.store.pool(), "intake-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.ticket_number, None);
    assert_eq!(rec.end_reason, Some(EndReason::CallerHungUp));
    assert_eq!(rec.last_step.as_deref(), Some("severity"));
    assert_eq!(rec.language.as_deref(), Some("zh"));
    assert_eq!(rec.digits, "23");
}

/// A known caller through the default flow to the queue, with routing.
async fn to_the_queue(call_id: &str) -> (Shell, tempfile::TempDir) {
    let (mut s, data) = shell(call_id, false).await;
    s.routing = true;
    s.feed(IvrInput::Started).await;
    s.done().await;
    s.keys("1").await;
    s.done().await;
    s.done().await;
    s.keys("3").await; // network
    s.done().await;
    s.keys("2").await; // major
    s.done().await;
    s.keys("#").await;
    s.done().await;
    s.feed(IvrInput::RecordingDone {
        path: "n.wav".into(),
        duration: Duration::from_secs(2),
    })
    .await;
    s.done().await; // ticket number
    s.done().await; // promise
    assert!(s.m.is_queued(), "{:?}", s.seen.last());
    let q = s.m.queue_request().unwrap();
    assert_eq!((q.severity.as_str(), q.tier.as_str()), ("major", "L2"));
    (s, data)
}

#[tokio::test]
async fn an_agents_answer_is_on_the_ticket_and_the_record() {
    let (mut s, _data) = to_the_queue("intake-3").await;
    let number = s.m.progress().ticket.unwrap();
    s.now += Duration::from_secs(30);
    let answered_at = Utc::now();
    s.feed(IvrInput::AgentAnswered {
        agent: "bob".into(),
        tier: "L2".into(),
        answered_at,
    })
    .await;
    s.feed(IvrInput::CallEnded).await;
    s.store
        .record_call(&s.m.call_record(Some(Utc::now())))
        .await
        .unwrap();
    let t = repo::by_number(s.store.pool(), number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, TicketStatus::InProgress);
    assert_eq!(t.assigned_agent.as_deref(), Some("bob"));
    assert_eq!(t.queue_wait, Some(TimeDelta::seconds(30)));
    assert!(t.first_response_at.is_some());
    let rec = calls::by_call_id(s.store.pool(), "intake-3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.end_reason, Some(EndReason::AgentCall));
}

#[tokio::test]
async fn a_hang_up_in_the_queue_marks_the_ticket_abandoned() {
    let (mut s, _data) = to_the_queue("intake-4").await;
    let number = s.m.progress().ticket.unwrap();
    s.now += Duration::from_secs(75);
    s.feed(IvrInput::CallerHungUp).await;
    s.store
        .record_call(&s.m.call_record(Some(Utc::now())))
        .await
        .unwrap();
    let t = repo::by_number(s.store.pool(), number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, TicketStatus::Open);
    assert_eq!(t.queue_wait, Some(TimeDelta::seconds(75)));
    let events = repo::events(s.store.pool(), number).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.action, "abandoned_in_queue");
    assert_eq!(last.detail["waited"], 75_000);
    let rec = calls::by_call_id(s.store.pool(), "intake-4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.end_reason, Some(EndReason::AbandonedInQueue));
}

/// The live-call intake (`CallIntake`, what the call task holds) with the
/// shipped flow and prompts: the queue hand-off with and without routing.
mod live {
    use super::*;
    use hotline::call::intake::{CallIntake, IntakeOutput, IntakeServices, QueueEvent};
    use hotline::ivr::registry::load_checked;
    use hotline::ivr::FlowPaths;
    use hotline::media::session::MediaCommand;

    async fn intake(
        call_id: &str,
    ) -> (
        CallIntake,
        tokio::sync::mpsc::UnboundedReceiver<IvrInput>,
        tempfile::TempDir,
    ) {
        let (pool, _) = common::shared().fresh_db().await;
        let data = tempfile::tempdir().unwrap();
        let (store, _replayer) = TicketStore::open(pool, data.path(), 20).await.unwrap();
        let config = Config::default();
        let flow = load_checked(&FlowPaths::new("config/ivr.toml", "prompts"), &config).unwrap();
        let received = Utc::now();
        let facts = CallFacts {
            call_id: call_id.into(),
            caller_number: "5550123".into(),
            caller_name: None,
            caller_private: false,
            received_at: received,
            answered_at: Some(received),
        };
        let services = IntakeServices {
            store,
            policy: Arc::new(SlaPolicy::from_config(&config)),
            recordings: data.path().join("rec"),
            staffing: Arc::new(hotline::ivr::AlwaysStaffed),
        };
        let (intake, _out, results) = CallIntake::start(Arc::new(flow), facts, services);
        (intake, results, data)
    }

    /// Through the flow to the queue step; returns what the last input asked.
    async fn to_queue(
        i: &mut CallIntake,
        results: &mut tokio::sync::mpsc::UnboundedReceiver<IvrInput>,
    ) -> Vec<IntakeOutput> {
        let now = Instant::now();
        for input in [
            IvrInput::PlaybackDone,
            IvrInput::Digit('1'),
            IvrInput::PlaybackDone,
            IvrInput::PlaybackDone,
            IvrInput::Digit('2'),
            IvrInput::PlaybackDone,
            IvrInput::Digit('1'),
        ] {
            i.input(now, input);
        }
        let created = tokio::time::timeout(Duration::from_secs(10), results.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(created, IvrInput::TicketCreated { .. }),
            "{created:?}"
        );
        i.input(now, created);
        for input in [
            IvrInput::PlaybackDone,
            IvrInput::Digit('#'),
            IvrInput::PlaybackDone,
            IvrInput::RecordingDone {
                path: "n.wav".into(),
                duration: Duration::from_secs(1),
            },
            IvrInput::PlaybackDone,
        ] {
            i.input(now, input);
        }
        i.input(now, IvrInput::PlaybackDone)
    }

    fn plays(out: &[IntakeOutput]) -> Vec<usize> {
        out.iter()
            .filter_map(|o| match o {
                IntakeOutput::Media(MediaCommand::Play { prompts, .. }) => Some(prompts.len()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn without_routing_the_queue_step_says_goodbye() {
        let (mut i, mut results, _d) = intake("live-1").await;
        let out = to_queue(&mut i, &mut results).await;
        assert_eq!(plays(&out), [1], "only the goodbye: {out:?}");
        assert_eq!(i.poll_queue(), None);
        let out = i.input(Instant::now(), IvrInput::PlaybackDone);
        assert!(
            matches!(out[..], [IntakeOutput::Hangup(EndReason::Completed)]),
            "{out:?}"
        );
        i.finish(false, EndReason::Completed, Duration::from_secs(5))
            .await;
    }

    #[tokio::test]
    async fn with_routing_the_caller_is_handed_over_and_kept() {
        let (mut i, mut results, _d) = intake("live-2").await;
        i.enable_routing();
        let out = to_queue(&mut i, &mut results).await;
        assert_eq!(plays(&out), [2], "connecting + music on hold: {out:?}");
        assert!(!out.iter().any(|o| matches!(o, IntakeOutput::Hangup(_))));
        let Some(QueueEvent::Join(q)) = i.poll_queue() else {
            panic!("a hand-off")
        };
        assert_eq!((q.severity.as_str(), q.tier.as_str()), ("critical", "L3"));
        assert_eq!(q.callback_number.as_deref(), Some("5550123"));
        assert!(i.is_queued());
        let out = i.input(
            Instant::now(),
            IvrInput::QueueStatus {
                position: 2,
                expected_wait: Some(Duration::from_secs(180)),
            },
        );
        assert_eq!(
            plays(&out),
            [6],
            "every announcement prompt exists: {out:?}"
        );
        i.input(Instant::now(), IvrInput::OfferCallback);
        let out = i.input(Instant::now(), IvrInput::Digit('1'));
        assert_eq!(
            i.poll_queue(),
            Some(QueueEvent::CallbackRequested {
                ticket: q.ticket,
                number: "5550123".into()
            })
        );
        assert_eq!(plays(&out), [1]);
        let out = i.input(Instant::now(), IvrInput::PlaybackDone);
        assert!(
            matches!(
                out[..],
                [IntakeOutput::Hangup(EndReason::CallbackRequested)]
            ),
            "{out:?}"
        );
        i.finish(false, EndReason::Completed, Duration::from_secs(5))
            .await;
    }
}
