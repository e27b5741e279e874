//! The routing task with tokio's paused clock: its own timers fire, and
//! outputs come out in order.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;

async fn until(rx: &mut mpsc::Receiver<Output>, want: impl Fn(&Output) -> bool) -> Vec<Output> {
    let mut seen = Vec::new();
    loop {
        let o = rx.recv().await.expect("routing task alive");
        let done = want(&o);
        seen.push(o);
        if done {
            return seen;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_task_rings_cancels_on_its_own_timer_and_answers_snapshots() {
    let (out_tx, mut out) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let (h, task) = crate::routing::actor::spawn(
        Settings::from_config(&Config::default()),
        out_tx,
        stop.clone(),
    );
    h.send(Input::Login {
        agent: a(1),
        tiers: vec![Tier::L1],
        reachable: true,
    })
    .await
    .unwrap();
    let wall = Utc::now();
    h.send(Input::Enqueue(NewEntry {
        id: QueueEntryId(7),
        ticket: TicketNumber(1042),
        severity: "minor".into(),
        tier: Tier::L1,
        sla_start: wall,
        response_due: wall + TimeDelta::hours(2),
        wall_now: wall,
        language: "en".into(),
        callback_requested: false,
    }))
    .await
    .unwrap();
    let seen = until(&mut out, |o| matches!(o, Output::Offer { .. })).await;
    assert!(matches!(
        seen[0],
        Output::AgentStateChanged {
            to: AgentState::Available,
            ..
        }
    ));
    assert!(matches!(
        seen[1],
        Output::AgentStateChanged {
            to: AgentState::Ringing,
            ..
        }
    ));
    let rang = tokio::time::Instant::now();
    let seen = until(&mut out, |o| matches!(o, Output::CancelOffer { .. })).await;
    assert_eq!(seen.len(), 1);
    let waited = rang.elapsed();
    assert!(waited >= secs(15) && waited < secs(16), "{waited:?}");
    let snap = h.snapshot().await.unwrap();
    assert_eq!(snap.queue, [QueueEntryId(7)]);
    assert_eq!(snap.agents[0].misses, 1);
    // The next round (the caller's 30 s tick) rings the agent again.
    until(&mut out, |o| matches!(o, Output::Offer { .. })).await;
    h.send(Input::OfferAnswered {
        entry: QueueEntryId(7),
        agent: a(1),
    })
    .await
    .unwrap();
    let seen = until(&mut out, |o| matches!(o, Output::Assigned { .. })).await;
    assert!(matches!(
        seen.last(),
        Some(Output::Assigned {
            ticket: TicketNumber(1042),
            record: false,
            ..
        })
    ));
    stop.cancel();
    let router = task.await.unwrap();
    assert_eq!(router.waiting(), 0);
    assert_eq!(
        h.try_send(Input::Logout { agent: a(1) }),
        Err(RoutingError::Closed)
    );
}
