//! The table's cost per event does not grow with the number of live
//! transactions (issue 14, hardening 3). Asserted on the count of
//! transactions touched, which is exact, not on time, which is noisy.

use std::time::{Duration, Instant};

use super::*;
use crate::sip::message::Branch;
use crate::sip::transaction::testutil::{request, response};

const N: u32 = 100_000;

fn key(i: u32) -> TransactionKey {
    TransactionKey::for_request(&request("OPTIONS", &format!("z9hG4bKf{i}")))
}

/// `n` unanswered OPTIONS, one every microsecond from `t0`. Parsing 100,000
/// requests would dominate a debug test run, so the transactions share one
/// parsed request and differ in their keys, which is all the table sees.
fn flooded(n: u32) -> (Instant, TransactionTable, Request) {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let template = request("OPTIONS", "z9hG4bKtemplate");
    let sent_by = template.top_via().sent_by();
    for i in 0..n {
        let now = t0 + Duration::from_micros(u64::from(i));
        let tx = table.new_server(now, template.clone(), Reliability::Unreliable);
        let key = TransactionKey {
            branch: Branch(format!("z9hG4bKf{i}")),
            sent_by: sent_by.clone(),
            method: Method::Options,
        };
        table.insert(key, tx);
    }
    while table.poll_output().is_some() {}
    (t0, table, template)
}

#[test]
fn one_event_touches_one_transaction_among_100_000() {
    let (t0, mut table, template) = flooded(N);
    assert_eq!(table.len(), N as usize);
    assert_eq!(table.touched(), u64::from(N), "one settle per creation");

    let before = table.touched();
    assert_eq!(table.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    assert!(table.poll_output().is_none());
    table.handle_timeout(t0 + Duration::from_secs(1)); // nothing due
    assert_eq!(
        table.touched(),
        before,
        "polls and an early wakeup touch nothing"
    );

    // A retransmission, then the TU's answer: one transaction each.
    let k = key(N / 2);
    let req = request("OPTIONS", k.branch.as_str());
    assert_eq!(
        table.on_request(t0, req.clone(), Reliability::Unreliable),
        Incoming::Matched(k.clone())
    );
    assert_eq!(table.touched(), before + 1);
    let later = t0 + Duration::from_secs(1);
    assert!(table.respond(later, &k, response(&req, 200)));
    assert_eq!(table.touched(), before + 2);
    assert_eq!(table.poll_output().map(|(key, _)| key), Some(k.clone()));

    // A new request among them: one more.
    let before = table.touched();
    table.on_request(
        later,
        request("OPTIONS", "z9hG4bKnew"),
        Reliability::Unreliable,
    );
    assert_eq!(table.touched(), before + 1);
    while table.poll_output().is_some() {}

    // The answer cap fires for the first ten only (created 1 µs apart).
    let before = table.touched();
    table.handle_timeout(t0 + Duration::from_secs(32) + Duration::from_micros(9));
    assert_eq!(table.touched() - before, 10);
    let ended = std::iter::from_fn(|| table.poll_output())
        .filter(|(_, o)| *o == Output::Terminated)
        .count();
    assert_eq!(ended, 10);
    assert_eq!(table.len(), N as usize + 1 - 10);
    assert_eq!(
        table.poll_timeout(),
        Some(t0 + Duration::from_secs(32) + Duration::from_micros(10))
    );
    let _ = template;
}

#[test]
fn deadline_map_holds_one_entry_per_transaction() {
    const M: u32 = 10_000;
    let (t0, mut table, template) = flooded(M);
    // Answer every transaction: each deadline is re-filed, never duplicated.
    let ok = response(&template, 200);
    for i in 0..M {
        table.respond(t0, &key(i), ok.clone());
    }
    assert_eq!(table.deadlines.len(), M as usize);
    while table.poll_output().is_some() {}
    table.handle_timeout(t0 + Duration::from_secs(33));
    assert!(table.is_empty());
    assert!(table.deadlines.is_empty());
}
