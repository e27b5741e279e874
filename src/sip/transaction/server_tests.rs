//! Server transaction tests: time is passed in, nothing sleeps.

use std::time::{Duration, Instant};

use super::*;
use crate::sip::transaction::testutil::{request, response};

fn drain(t: &mut impl FnMut() -> Option<Output>) -> Vec<Output> {
    std::iter::from_fn(t).collect()
}

fn statuses(outs: &[Output]) -> Vec<u16> {
    outs.iter()
        .filter_map(|o| match o {
            Output::SendResponse(r) => Some(r.status),
            _ => None,
        })
        .collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn invite_passes_up_and_sends_100_at_once() {
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKa");
    let mut tx = InviteServer::new(t0, inv.clone(), Timers::default(), Reliability::Unreliable);
    let outs = drain(&mut || tx.poll_output());
    assert_eq!(outs[0], Output::PassRequest(inv.clone()));
    assert_eq!(statuses(&outs), vec![100]);
    // A retransmitted INVITE is absorbed and answered with the last response.
    tx.handle(t0 + ms(500), Input::Request(inv.clone()));
    let outs = drain(&mut || tx.poll_output());
    assert_eq!(statuses(&outs), vec![100]);
    assert!(!outs.iter().any(|o| matches!(o, Output::PassRequest(_))));
    tx.handle(t0, Input::Response(response(&inv, 180)));
    tx.handle(t0 + ms(700), Input::Request(inv));
    assert_eq!(statuses(&drain(&mut || tx.poll_output())), vec![180, 180]);
}

#[test]
fn non_2xx_final_retransmits_on_g_until_ack() {
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKb");
    let mut tx = InviteServer::new(t0, inv.clone(), Timers::default(), Reliability::Unreliable);
    drain(&mut || tx.poll_output());
    tx.handle(t0, Input::Response(response(&inv, 486)));
    assert_eq!(tx.state(), InviteState::Completed);
    assert_eq!(statuses(&drain(&mut || tx.poll_output())), vec![486]);
    // Timer G: 500 ms, 1 s, 2 s, 4 s, 4 s ...
    let mut now = t0;
    let mut gaps = Vec::new();
    for _ in 0..5 {
        let next = tx.poll_timeout().unwrap();
        gaps.push(next - now);
        now = next;
        tx.handle(now, Input::Timeout);
        assert_eq!(statuses(&drain(&mut || tx.poll_output())), vec![486]);
    }
    assert_eq!(gaps, vec![ms(500), ms(1000), ms(2000), ms(4000), ms(4000)]);
    tx.handle(now, Input::Request(request("ACK", "z9hG4bKb")));
    assert_eq!(tx.state(), InviteState::Confirmed);
    // Timer I = T4, then gone; nothing retransmitted meanwhile.
    assert_eq!(tx.poll_timeout(), Some(now + ms(5000)));
    tx.handle(now + ms(5000), Input::Timeout);
    assert_eq!(drain(&mut || tx.poll_output()), vec![Output::Terminated]);
}

#[test]
fn timer_h_times_out_without_ack() {
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKc");
    let mut tx = InviteServer::new(t0, inv.clone(), Timers::default(), Reliability::Reliable);
    tx.handle(t0, Input::Response(response(&inv, 503)));
    drain(&mut || tx.poll_output());
    // Reliable transport: no Timer G, only H at 64*T1.
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    tx.handle(t0 + Duration::from_secs(31), Input::Timeout);
    assert!(drain(&mut || tx.poll_output()).is_empty());
    tx.handle(t0 + Duration::from_secs(32), Input::Timeout);
    assert_eq!(
        drain(&mut || tx.poll_output()),
        vec![Output::Timeout, Output::Terminated]
    );
    assert!(tx.is_terminated());
}

#[test]
fn rfc6026_accepted_absorbs_invites_and_passes_2xx() {
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKd");
    let mut tx = InviteServer::new(t0, inv.clone(), Timers::default(), Reliability::Unreliable);
    drain(&mut || tx.poll_output());
    let ok = response(&inv, 200);
    tx.handle(t0, Input::Response(ok.clone()));
    assert_eq!(tx.state(), InviteState::Accepted);
    drain(&mut || tx.poll_output());
    tx.handle(t0 + ms(100), Input::Request(inv));
    assert!(
        drain(&mut || tx.poll_output()).is_empty(),
        "INVITE absorbed, no resend"
    );
    tx.handle(t0 + ms(500), Input::Response(ok));
    assert_eq!(statuses(&drain(&mut || tx.poll_output())), vec![200]);
    tx.handle(t0 + Duration::from_secs(32), Input::Timeout);
    assert_eq!(drain(&mut || tx.poll_output()), vec![Output::Terminated]);
}

#[test]
fn non_invite_server_lifecycle() {
    let t0 = Instant::now();
    let bye = request("BYE", "z9hG4bKe");
    let mut tx = NonInviteServer::new(t0, bye.clone(), Timers::default(), Reliability::Unreliable);
    assert_eq!(
        drain(&mut || tx.poll_output()),
        vec![Output::PassRequest(bye.clone())]
    );
    tx.handle(t0, Input::Request(bye.clone()));
    assert!(drain(&mut || tx.poll_output()).is_empty(), "Trying absorbs");
    tx.handle(t0, Input::Response(response(&bye, 200)));
    tx.handle(t0 + ms(300), Input::Request(bye));
    assert_eq!(statuses(&drain(&mut || tx.poll_output())), vec![200, 200]);
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    tx.handle(t0 + Duration::from_secs(32), Input::Timeout);
    assert_eq!(drain(&mut || tx.poll_output()), vec![Output::Terminated]);
}

#[test]
fn non_invite_server_reliable_terminates_on_final() {
    let t0 = Instant::now();
    let opt = request("OPTIONS", "z9hG4bKf");
    let mut tx = NonInviteServer::new(t0, opt.clone(), Timers::default(), Reliability::Reliable);
    drain(&mut || tx.poll_output());
    tx.handle(t0, Input::Response(response(&opt, 200)));
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn unanswered_invite_gets_500_with_the_tus_tag_then_completes() {
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKg");
    let mut tx = InviteServer::new(t0, inv.clone(), Timers::default(), Reliability::Unreliable);
    tx.answer_by(t0 + Duration::from_secs(10));
    let ringing = response(&inv, 180);
    tx.handle(t0, Input::Response(ringing.clone()));
    drain(&mut || tx.poll_output());
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    tx.handle(t0 + Duration::from_secs(10), Input::Timeout);
    let outs = drain(&mut || tx.poll_output());
    let Some(Output::SendResponse(err)) = outs.first() else {
        panic!("{outs:?}")
    };
    assert_eq!(err.status, 500);
    assert_eq!(
        err.to_tag(),
        ringing.to_tag(),
        "the dialog's tag, not a new one"
    );
    assert_eq!(tx.state(), InviteState::Completed);
    // A TU that wakes up too late changes nothing.
    tx.handle(
        t0 + Duration::from_secs(11),
        Input::Response(response(&inv, 200)),
    );
    assert!(drain(&mut || tx.poll_output()).is_empty());
}

#[test]
fn unanswered_non_invite_times_out_silently() {
    let t0 = Instant::now();
    let bye = request("BYE", "z9hG4bKh");
    let mut tx = NonInviteServer::new(t0, bye, Timers::default(), Reliability::Reliable);
    tx.answer_by(t0 + Duration::from_secs(32));
    drain(&mut || tx.poll_output());
    tx.handle(t0 + Duration::from_secs(32), Input::Timeout);
    assert_eq!(
        drain(&mut || tx.poll_output()),
        vec![Output::Timeout, Output::Terminated]
    );
}
