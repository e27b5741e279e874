//! INVITE client transaction tests: time is passed in, nothing sleeps.

use std::time::{Duration, Instant};

use super::*;
use crate::sip::message::{parse, Message, Tag};
use crate::sip::transaction::testutil::{invite_via_routes, response, response_tagged};
use crate::sip::transaction::TransactionKey;

fn drain(tx: &mut InviteClient) -> Vec<Output> {
    std::iter::from_fn(|| tx.poll_output()).collect()
}

fn sent(outs: &[Output]) -> Vec<&Request> {
    outs.iter()
        .filter_map(|o| match o {
            Output::SendRequest(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn passed(outs: &[Output]) -> Vec<u16> {
    outs.iter()
        .filter_map(|o| match o {
            Output::PassResponse(r) => Some(r.status),
            _ => None,
        })
        .collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn start(rel: Reliability) -> (Instant, Request, InviteClient) {
    let t0 = Instant::now();
    let inv = invite_via_routes("z9hG4bKic1");
    let mut tx = InviteClient::new(t0, inv.clone(), Timers::default(), rel);
    assert_eq!(sent(&drain(&mut tx)), vec![&inv], "sent at once");
    (t0, inv, tx)
}

#[test]
fn timer_a_doubles_without_cap_then_timer_b_times_out() {
    let (t0, inv, mut tx) = start(Reliability::Unreliable);
    let mut now = t0;
    let mut resends = Vec::new();
    let mut end = Vec::new();
    while let Some(next) = tx.poll_timeout() {
        now = next;
        tx.handle(now, Input::Timeout);
        let outs = drain(&mut tx);
        for r in sent(&outs) {
            assert_eq!(r, &inv, "the same INVITE, same branch");
            resends.push((now - t0).as_millis());
        }
        if outs.contains(&Output::Timeout) {
            end = outs;
        }
    }
    assert_eq!(resends, [500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(now - t0, Duration::from_secs(32), "Timer B = 64*T1");
    assert_eq!(end, vec![Output::Timeout, Output::Terminated]);
    assert_eq!(tx.state(), InviteClientState::Terminated);
}

#[test]
fn reliable_transport_has_no_timer_a() {
    let (t0, _, mut tx) = start(Reliability::Reliable);
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    tx.handle(t0 + Duration::from_secs(32), Input::Timeout);
    assert_eq!(drain(&mut tx), vec![Output::Timeout, Output::Terminated]);
}

#[test]
fn early_wakeup_does_nothing() {
    let (t0, _, mut tx) = start(Reliability::Unreliable);
    tx.handle(t0 + ms(100), Input::Timeout);
    assert!(drain(&mut tx).is_empty());
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(500)));
}

#[test]
fn provisional_stops_a_and_b_and_the_tu_decides_how_long_to_ring() {
    let (t0, inv, mut tx) = start(Reliability::Unreliable);
    tx.handle(t0 + ms(200), Input::Response(response(&inv, 100)));
    tx.handle(
        t0 + ms(300),
        Input::Response(response_tagged(&inv, 180, "a1")),
    );
    // A second fork rings too: its 180 (another tag) is passed up as well.
    tx.handle(
        t0 + ms(310),
        Input::Response(response_tagged(&inv, 180, "b2")),
    );
    assert_eq!(passed(&drain(&mut tx)), [100, 180, 180]);
    assert_eq!(tx.state(), InviteClientState::Proceeding);
    assert_eq!(tx.poll_timeout(), None, "no A, no B once ringing");
    // The TU's ring timeout: CANCEL sent; the UAS never answers 487.
    tx.cancel_sent(t0 + Duration::from_secs(15));
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(47)));
    tx.handle(t0 + Duration::from_secs(47), Input::Timeout);
    assert_eq!(drain(&mut tx), vec![Output::Timeout, Output::Terminated]);
}

#[test]
fn non_2xx_final_is_acked_by_the_transaction_with_the_right_headers() {
    let (t0, inv, mut tx) = start(Reliability::Unreliable);
    tx.handle(
        t0 + ms(100),
        Input::Response(response_tagged(&inv, 180, "agent1")),
    );
    drain(&mut tx);
    let busy = response_tagged(&inv, 486, "agent1");
    tx.handle(t0 + ms(900), Input::Response(busy.clone()));
    let outs = drain(&mut tx);
    assert_eq!(outs[0], Output::PassResponse(busy.clone()));
    let acks = sent(&outs);
    assert_eq!(acks.len(), 1);
    // Re-parse the wire form and check §17.1.1.3 field by field.
    let Ok(Message::Request(ack)) = parse(&acks[0].to_bytes()) else {
        panic!("ACK does not parse")
    };
    assert_eq!(ack.method(), &Method::Ack);
    assert_eq!(ack.uri(), inv.uri(), "same Request-URI");
    assert_eq!(ack.vias().len(), 1);
    assert_eq!(ack.top_via(), inv.top_via(), "same Via, same branch");
    assert_eq!(ack.call_id(), inv.call_id());
    assert_eq!(ack.from(), inv.from());
    assert_eq!(
        ack.to().tag(),
        Some(Tag("agent1".into())),
        "To of the response"
    );
    assert_eq!(ack.to().uri, inv.to().uri);
    assert_eq!((ack.cseq().seq, &ack.cseq().method), (7, &Method::Ack));
    let routes: Vec<&str> = ack.headers().get_all("Route").collect();
    assert_eq!(
        routes,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(ack.max_forwards(), Some(70));
    assert!(ack.body().is_empty());
    assert_eq!(
        TransactionKey::for_request(&ack),
        TransactionKey::for_request(&inv)
    );

    assert_eq!(tx.state(), InviteClientState::Completed);
    // Retransmitted 486: ACKed again, not passed up (Timer D absorbs).
    tx.handle(t0 + ms(1400), Input::Response(busy));
    let outs = drain(&mut tx);
    assert_eq!(passed(&outs), Vec::<u16>::new());
    assert_eq!(sent(&outs), vec![acks[0]]);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + ms(900) + Duration::from_secs(32))
    );
    tx.handle(t0 + ms(900) + Duration::from_secs(32), Input::Timeout);
    assert_eq!(drain(&mut tx), vec![Output::Terminated]);
}

#[test]
fn non_2xx_final_over_tcp_acks_and_ends_at_once() {
    let (t0, inv, mut tx) = start(Reliability::Reliable);
    tx.handle(t0, Input::Response(response(&inv, 603)));
    let outs = drain(&mut tx);
    assert_eq!(passed(&outs), [603]);
    assert_eq!(sent(&outs).len(), 1, "the ACK");
    assert_eq!(outs.last(), Some(&Output::Terminated), "Timer D = 0 on TCP");
}

#[test]
fn final_in_calling_stops_timer_a() {
    let (t0, inv, mut tx) = start(Reliability::Unreliable);
    tx.handle(t0 + ms(200), Input::Response(response(&inv, 480)));
    drain(&mut tx);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + ms(200) + Duration::from_secs(32))
    );
    tx.handle(t0 + ms(500), Input::Timeout);
    assert!(drain(&mut tx).is_empty(), "no INVITE retransmission");
}

#[test]
fn accepted_passes_every_2xx_up_until_timer_m() {
    let (t0, inv, mut tx) = start(Reliability::Unreliable);
    let ok = response_tagged(&inv, 200, "agent1");
    tx.handle(t0 + ms(100), Input::Response(ok.clone()));
    let outs = drain(&mut tx);
    assert_eq!(
        outs,
        vec![Output::PassResponse(ok.clone())],
        "no ACK from us"
    );
    assert_eq!(tx.state(), InviteClientState::Accepted);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + ms(100) + Duration::from_secs(32))
    );
    // Retransmission: passed up so the TU re-sends its ACK.
    tx.handle(t0 + ms(600), Input::Response(ok.clone()));
    // A second fork answers too (another To tag): passed up, to ACK + BYE.
    let fork = response_tagged(&inv, 200, "agent2");
    tx.handle(t0 + ms(700), Input::Response(fork.clone()));
    // Late provisional and non-2xx finals are absorbed.
    tx.handle(
        t0 + ms(800),
        Input::Response(response_tagged(&inv, 180, "agent3")),
    );
    tx.handle(
        t0 + ms(900),
        Input::Response(response_tagged(&inv, 486, "agent3")),
    );
    assert_eq!(
        drain(&mut tx),
        vec![Output::PassResponse(ok), Output::PassResponse(fork)]
    );
    tx.handle(t0 + ms(1000), Input::Timeout);
    assert!(drain(&mut tx).is_empty(), "no Timer A in Accepted");
    tx.handle(t0 + ms(100) + Duration::from_secs(32), Input::Timeout);
    assert_eq!(drain(&mut tx), vec![Output::Terminated]);
}

#[test]
fn transport_error_before_a_final_is_a_timeout() {
    let (t0, _, mut tx) = start(Reliability::Reliable);
    tx.handle(t0, Input::TransportError);
    assert_eq!(drain(&mut tx), vec![Output::Timeout, Output::Terminated]);
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn a_final_after_cancel_clears_the_guard() {
    let (t0, inv, mut tx) = start(Reliability::Unreliable);
    tx.handle(t0, Input::Response(response_tagged(&inv, 180, "a")));
    tx.cancel_sent(t0 + ms(10));
    tx.handle(
        t0 + ms(20),
        Input::Response(response_tagged(&inv, 487, "a")),
    );
    let outs = drain(&mut tx);
    assert_eq!(passed(&outs), [180, 487]);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + ms(20) + Duration::from_secs(32)),
        "Timer D only"
    );
}
