//! Routing tests for the transaction table.

use std::time::{Duration, Instant};

use super::*;
use crate::sip::message::{parse, Message};
use crate::sip::transaction::testutil::{invite_via_routes, request, response, response_tagged};
use crate::sip::transaction::InviteState;

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

fn cancel_for(inv: &Request) -> Request {
    // Same branch, sent-by, Call-ID, CSeq number: what uac::cancel builds.
    let text = String::from_utf8(inv.to_bytes())
        .unwrap()
        .replace("7 INVITE", "7 CANCEL")
        .replacen("INVITE ", "CANCEL ", 1);
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn outgoing_invite_ringing_cancel_487() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let inv = invite_via_routes("z9hG4bKu1");
    let key = table.send_invite(t0, inv.clone(), Reliability::Unreliable);
    assert_eq!(key.method, Method::Invite);
    assert!(
        matches!(&drain(&mut table)[..], [(k, Output::SendRequest(r))] if *k == key && r == &inv)
    );
    assert_eq!(
        table.poll_timeout(),
        Some(t0 + Duration::from_millis(500)),
        "Timer A"
    );
    let ringing = response_tagged(&inv, 180, "ag");
    assert_eq!(
        table.on_response(t0, ringing.clone()),
        Incoming::Matched(key.clone())
    );
    assert_eq!(
        drain(&mut table),
        vec![(key.clone(), Output::PassResponse(ringing))]
    );
    assert_eq!(
        table.poll_timeout(),
        None,
        "ringing: the TU's ring timeout rules"
    );

    let cancel = cancel_for(&inv);
    let ckey = table
        .cancel(t0, &key, cancel.clone(), Reliability::Unreliable)
        .unwrap();
    assert_eq!(ckey.method, Method::Cancel);
    assert_eq!(ckey.branch, key.branch, "CANCEL shares the INVITE's branch");
    assert_eq!(
        drain(&mut table),
        vec![(ckey.clone(), Output::SendRequest(cancel.clone()))]
    );
    let ok = response(&cancel, 200);
    assert_eq!(
        table.on_response(t0, ok.clone()),
        Incoming::Matched(ckey.clone())
    );
    let terminated = response_tagged(&inv, 487, "ag");
    assert_eq!(
        table.on_response(t0, terminated.clone()),
        Incoming::Matched(key.clone())
    );
    let outs = drain(&mut table);
    assert_eq!(outs[0], (ckey, Output::PassResponse(ok)));
    assert_eq!(outs[1], (key.clone(), Output::PassResponse(terminated)));
    assert!(
        matches!(&outs[2], (k, Output::SendRequest(a)) if *k == key && a.method() == &Method::Ack)
    );
    assert_eq!(
        table.cancel(t0, &key, cancel, Reliability::Unreliable),
        None,
        "nothing left to cancel"
    );
}

#[test]
fn cancel_waits_for_a_provisional() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let inv = invite_via_routes("z9hG4bKu2");
    let key = table.send_invite(t0, inv.clone(), Reliability::Unreliable);
    drain(&mut table);
    let cancel = cancel_for(&inv);
    let ckey = table
        .cancel(t0, &key, cancel.clone(), Reliability::Unreliable)
        .unwrap();
    assert!(drain(&mut table).is_empty(), "§9.1: no CANCEL before a 1xx");
    table.on_response(t0 + Duration::from_millis(50), response(&inv, 100));
    let outs = drain(&mut table);
    assert!(matches!(&outs[0], (_, Output::PassResponse(r)) if r.status == 100));
    assert_eq!(outs[1], (ckey.clone(), Output::SendRequest(cancel)));
    // The UAS never answers 487: the INVITE gives up 64*T1 after the CANCEL
    // (the CANCEL's own Timer F fires then too).
    table.on_response(t0, response(&cancel_for(&inv), 200));
    drain(&mut table);
    table.handle_timeout(t0 + Duration::from_millis(50) + Duration::from_secs(32));
    let outs = drain(&mut table);
    assert!(outs.contains(&(key.clone(), Output::Timeout)));
    assert!(table.get(&key).is_none());
}

#[test]
fn held_cancel_is_dropped_when_a_final_comes_first() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let inv = invite_via_routes("z9hG4bKu3");
    let key = table.send_invite(t0, inv.clone(), Reliability::Reliable);
    drain(&mut table);
    let ckey = table
        .cancel(t0, &key, cancel_for(&inv), Reliability::Reliable)
        .unwrap();
    let ok = response_tagged(&inv, 200, "ag");
    table.on_response(t0, ok.clone());
    let outs = drain(&mut table);
    assert_eq!(
        outs,
        vec![
            (key.clone(), Output::PassResponse(ok)),
            (ckey, Output::Terminated)
        ]
    );
    // The TU ACKs the 2xx on the INVITE's route while Timer M runs.
    let ack = request("ACK", "z9hG4bKnewack");
    assert!(table.send_ack(&key, ack.clone()));
    assert_eq!(
        drain(&mut table),
        vec![(key.clone(), Output::SendRequest(ack.clone()))]
    );
    table.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(drain(&mut table), vec![(key.clone(), Output::Terminated)]);
    assert!(
        !table.send_ack(&key, ack),
        "Timer M over: the INVITE is gone"
    );
}

#[test]
fn send_request_gives_an_invite_its_own_kind_of_transaction() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let key = table.send_request(t0, invite_via_routes("z9hG4bKu4"), Reliability::Reliable);
    assert!(matches!(
        table.get(&key),
        Some(Transaction::InviteClient(_))
    ));
    assert_eq!(
        table.cancel_target(&key),
        None,
        "a CANCEL from the network never targets our INVITE"
    );
}

#[test]
fn unanswered_invite_gets_500_and_unanswered_non_invite_ends_silently() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let inv = request("INVITE", "z9hG4bKcap1");
    let Incoming::New(ikey) = table.on_request(t0, inv, Reliability::Unreliable) else {
        panic!()
    };
    let Incoming::New(okey) = table.on_request(
        t0,
        request("OPTIONS", "z9hG4bKcap2"),
        Reliability::Unreliable,
    ) else {
        panic!()
    };
    drain(&mut table);
    assert_eq!(
        table.poll_timeout(),
        Some(t0 + Duration::from_secs(32)),
        "non-INVITE cap: 32 s"
    );
    table.handle_timeout(t0 + Duration::from_secs(32));
    let outs = drain(&mut table);
    assert_eq!(
        outs,
        vec![(okey.clone(), Output::Timeout), (okey, Output::Terminated)],
        "no response for the OPTIONS"
    );
    assert_eq!(
        table.poll_timeout(),
        Some(t0 + Duration::from_secs(60)),
        "INVITE cap: 60 s"
    );
    table.handle_timeout(t0 + Duration::from_secs(60));
    let outs = drain(&mut table);
    assert!(matches!(&outs[..], [(k, Output::SendResponse(r))] if *k == ikey && r.status == 500));
    assert!(
        matches!(table.get(&ikey), Some(Transaction::InviteServer(t)) if t.state() == InviteState::Completed)
    );
    // The INVITE then ends through Completed: Timer H without an ACK.
    table.handle_timeout(t0 + Duration::from_secs(92));
    assert!(drain(&mut table).contains(&(ikey, Output::Terminated)));
    assert!(table.is_empty());
}

#[test]
fn caps_do_not_shrink_with_a_small_t1() {
    let t0 = Instant::now();
    let timers = Timers {
        t1: Duration::from_millis(10),
        ..Timers::default()
    };
    let mut table = TransactionTable::new(timers);
    table.on_request(t0, request("INVITE", "z9hG4bKcap4"), Reliability::Reliable);
    assert_eq!(table.poll_timeout(), Some(t0 + Duration::from_secs(60)));
}

#[test]
fn answered_in_time_means_no_cap() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    table.set_answer_caps(Duration::from_secs(5), Duration::from_secs(1));
    let inv = request("INVITE", "z9hG4bKcap3");
    let Incoming::New(key) = table.on_request(t0, inv.clone(), Reliability::Reliable) else {
        panic!()
    };
    assert_eq!(table.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    table.respond(t0, &key, response(&inv, 180));
    assert_eq!(
        table.poll_timeout(),
        Some(t0 + Duration::from_secs(5)),
        "a 1xx is no answer"
    );
    table.respond(t0 + Duration::from_secs(1), &key, response(&inv, 200));
    assert_eq!(
        table.poll_timeout(),
        Some(t0 + Duration::from_secs(33)),
        "Timer L only"
    );
}

#[test]
fn cancel_twice_sends_one_and_a_foreign_cancel_is_refused() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let inv = invite_via_routes("z9hG4bKu5");
    let key = table.send_invite(t0, inv.clone(), Reliability::Unreliable);
    table.on_response(t0, response(&inv, 100));
    drain(&mut table);
    let rel = Reliability::Unreliable;
    let other = cancel_for(&invite_via_routes("z9hG4bKelse"));
    assert_eq!(table.cancel(t0, &key, other, rel), None);
    let first = table.cancel(t0, &key, cancel_for(&inv), rel);
    let second = table.cancel(t0, &key, cancel_for(&inv), rel);
    assert_eq!(first, second);
    let sends = drain(&mut table)
        .into_iter()
        .filter(|(_, o)| matches!(o, Output::SendRequest(_)))
        .count();
    assert_eq!(sends, 1);
}

#[test]
fn over_the_live_limit_new_requests_get_a_stateless_503() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    table.set_max_live(2);
    let rel = Reliability::Unreliable;
    table.on_request(t0, request("INVITE", "z9hG4bKl1"), rel);
    let ours = table.send_request(t0, request("BYE", "z9hG4bKl2"), rel);
    drain(&mut table);
    let Incoming::New(key) = table.on_request(t0, request("INVITE", "z9hG4bKl3"), rel) else {
        panic!()
    };
    let outs = drain(&mut table);
    assert!(
        matches!(&outs[..], [(k, Output::SendResponse(r)), (_, Output::Terminated)]
            if *k == key && r.status == 503 && r.headers.get("Retry-After") == Some("5"))
    );
    assert_eq!((table.len(), table.refused()), (2, 1));
    assert!(table.get(&key).is_none(), "no state kept for it");
    // Retransmissions of a live one still match, and we may still send.
    assert!(matches!(
        table.on_request(t0, request("INVITE", "z9hG4bKl1"), rel),
        Incoming::Matched(_)
    ));
    assert!(table.get(&ours).is_some());
    table.send_request(t0, request("OPTIONS", "z9hG4bKl4"), rel);
    assert_eq!(table.len(), 3, "client transactions are never refused");
}
