//! Routing tests for the transaction table.

use std::time::{Duration, Instant};

use super::*;
use crate::sip::message::{parse, Message};
use crate::sip::transaction::testutil::{request, response};

fn drain(t: &mut TransactionTable) -> Vec<(TransactionKey, Output)> {
    std::iter::from_fn(|| t.poll_output()).collect()
}

#[test]
fn new_invite_then_retransmission_then_ack_of_non_2xx() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let inv = request("INVITE", "z9hG4bKt1");
    let Incoming::New(key) = table.on_request(t0, inv.clone(), Reliability::Unreliable) else {
        panic!("expected a new transaction")
    };
    let outs = drain(&mut table);
    assert!(matches!(&outs[0].1, Output::PassRequest(r) if r == &inv));
    assert_eq!(
        table.on_request(t0, inv.clone(), Reliability::Unreliable),
        Incoming::Matched(key.clone())
    );
    assert!(matches!(&drain(&mut table)[0].1, Output::SendResponse(r) if r.status == 100));
    assert!(table.respond(t0, &key, response(&inv, 486)));
    drain(&mut table);
    let ack = request("ACK", "z9hG4bKt1");
    assert_eq!(
        table.on_request(t0, ack, Reliability::Unreliable),
        Incoming::Matched(key)
    );
    table.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(
        drain(&mut table).last().map(|o| o.1.clone()),
        Some(Output::Terminated)
    );
    assert!(table.is_empty(), "terminated transactions are forgotten");
}

#[test]
fn ack_for_2xx_goes_to_the_dialog() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let ack = request("ACK", "z9hG4bKother");
    assert!(matches!(
        table.on_request(t0, ack, Reliability::Unreliable),
        Incoming::Ack(_)
    ));
    assert!(table.is_empty());
}

#[test]
fn cancel_finds_its_invite_and_same_branch_other_host_is_separate() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    table.on_request(t0, request("INVITE", "z9hG4bKt2"), Reliability::Unreliable);
    let Incoming::New(ckey) =
        table.on_request(t0, request("CANCEL", "z9hG4bKt2"), Reliability::Unreliable)
    else {
        panic!("CANCEL is its own transaction")
    };
    let target = table.cancel_target(&ckey).unwrap();
    assert_eq!(target.method, Method::Invite);
    assert_eq!(table.len(), 2);
    // Same branch from another sent-by is another transaction.
    let text = String::from_utf8(request("INVITE", "z9hG4bKt2").to_bytes())
        .unwrap()
        .replace("192.0.2.9:5060", "192.0.2.77:5060");
    let Ok(Message::Request(other)) = parse(text.as_bytes()) else {
        panic!()
    };
    assert!(matches!(
        table.on_request(t0, other, Reliability::Unreliable),
        Incoming::New(_)
    ));
    assert_eq!(table.len(), 3);
    let unknown = TransactionKey::for_request(&request("CANCEL", "z9hG4bKnone"));
    assert_eq!(table.cancel_target(&unknown), None);
}

#[test]
fn responses_route_to_client_transactions() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let bye = request("BYE", "z9hG4bKt3");
    let key = table.send_request(t0, bye.clone(), Reliability::Unreliable);
    assert!(matches!(&drain(&mut table)[0].1, Output::SendRequest(r) if r == &bye));
    assert_eq!(table.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    let ok = response(&bye, 200);
    assert_eq!(table.on_response(t0, ok.clone()), Incoming::Matched(key));
    assert_eq!(drain(&mut table)[0].1, Output::PassResponse(ok));
    let stray = response(&request("BYE", "z9hG4bKnobody"), 200);
    assert_eq!(table.on_response(t0, stray), Incoming::Stray);
}

#[test]
fn rfc2543_requests_match_by_call_id_and_cseq() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let old = request("INVITE", "oldbranch");
    let key = TransactionKey::for_request(&old);
    assert!(key.branch.as_str().starts_with("rfc2543:"));
    table.on_request(t0, old.clone(), Reliability::Unreliable);
    assert_eq!(
        table.on_request(t0, old, Reliability::Unreliable),
        Incoming::Matched(key)
    );
}
