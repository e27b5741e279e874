//! The UAC core's rules for one INVITE, fed with what the transaction
//! passes up.

use super::*;
use std::time::{Duration, Instant};

use crate::sip::message::{parse, Message, Method, Uri};
use crate::sip::transaction::{Output, Reliability, Timers, TransactionTable};
use crate::sip::uac::{invite, InviteSpec};

fn local() -> Local {
    Local {
        transport: "UDP".into(),
        sent_by: "192.0.2.1:5060".into(),
        user: "hotline".into(),
    }
}

fn start() -> OutgoingInvite {
    let (target, to, from) = (
        Uri::parse("sip:alice@198.51.100.7:5062").unwrap(),
        Uri::parse("sip:alice@example.com").unwrap(),
        Uri::parse("sip:hotline@example.com").unwrap(),
    );
    let req = invite(&InviteSpec {
        target: &target,
        to: &to,
        from: &from,
        display_name: "#1042 5551234",
        local: &local(),
        routes: &[],
        allow: "",
        supported: "",
        extra: &[],
        sdp: b"v=0\r\n".to_vec(),
    })
    .unwrap();
    let key = TransactionKey::for_request(&req);
    OutgoingInvite::new(req, key, local())
}

/// The phone's answer, with `tag` in To and a Contact unless `tag` is empty.
fn answer(leg: &OutgoingInvite, status: u16, tag: &str) -> Response {
    let r = Response::for_request_with_tag(leg.invite(), status, "", &Tag(tag.into()));
    let mut r = match parse(&r.to_bytes()) {
        Ok(Message::Response(r)) => r,
        other => panic!("{other:?}"),
    };
    r.headers.push(
        "Contact",
        format!("<sip:alice@198.51.100.7:5062;fork={tag}>"),
    );
    r
}

fn acks(actions: &[UacAction]) -> Vec<&Request> {
    actions
        .iter()
        .filter_map(|a| match a {
            UacAction::Ack(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn byes(actions: &[UacAction]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, UacAction::Bye(_)))
        .count()
}

#[test]
fn ringing_then_answer_then_retransmitted_2xx_gets_the_same_ack() {
    let mut leg = start();
    let acts = leg.on_response(answer(&leg, 180, "a"));
    assert!(matches!(&acts[..], [UacAction::Progress(r)] if r.status == 180));
    let acts = leg.on_response(answer(&leg, 200, "a"));
    let [UacAction::Answered(dialog, ok), UacAction::Ack(ack)] = &acts[..] else {
        panic!("{acts:?}")
    };
    assert_eq!(ok.status, 200);
    assert_eq!(dialog.id.remote_tag, Tag("a".into()));
    assert_eq!(
        dialog.remote_target.as_str(),
        "sip:alice@198.51.100.7:5062;fork=a"
    );
    assert_eq!(ack.method(), &Method::Ack);
    assert_eq!(ack.cseq().seq, leg.invite().cseq().seq);
    assert_eq!(ack.uri(), &dialog.remote_target);
    assert!(leg.is_answered());
    // A retransmission (RFC 6026: passed up in Accepted): the same ACK.
    let again = leg.on_response(answer(&leg, 200, "a"));
    assert_eq!(acks(&again), vec![ack]);
    assert_eq!(byes(&again), 0);
    assert!(leg.cancel(None).is_none(), "answered: nothing to cancel");
}

#[test]
fn a_second_fork_is_acked_and_hung_up() {
    let mut leg = start();
    leg.on_response(answer(&leg, 200, "desk"));
    let acts = leg.on_response(answer(&leg, 200, "mobile"));
    assert_eq!(acks(&acts).len(), 1);
    assert_eq!(acks(&acts)[0].to().tag(), Some(Tag("mobile".into())));
    let Some(UacAction::Bye(bye)) = acts.last() else {
        panic!("{acts:?}")
    };
    assert_eq!(bye.to().tag(), Some(Tag("mobile".into())));
    assert_eq!(
        bye.uri().as_str(),
        "sip:alice@198.51.100.7:5062;fork=mobile"
    );
    // Its retransmission is re-ACKed, not BYEd twice.
    let again = leg.on_response(answer(&leg, 200, "mobile"));
    assert_eq!((acks(&again).len(), byes(&again)), (1, 0));
    assert!(leg.is_answered(), "the first fork's call stands");
}

#[test]
fn ring_timeout_cancel_then_487() {
    let mut leg = start();
    leg.on_response(answer(&leg, 180, "a"));
    let cancel = leg.cancel(Some("SIP;cause=480")).unwrap();
    assert_eq!(cancel.method(), &Method::Cancel);
    assert_eq!(cancel.top_via(), leg.invite().top_via());
    assert!(leg.cancel(None).is_none(), "one CANCEL");
    assert!(
        leg.on_response(answer(&leg, 180, "a")).is_empty(),
        "no ringing after CANCEL"
    );
    let acts = leg.on_response(answer(&leg, 487, "a"));
    assert!(matches!(&acts[..], [UacAction::Failed(r)] if r.status == 487));
    assert!(leg.on_timeout().is_empty(), "reported once");
}

#[test]
fn a_2xx_that_crosses_the_cancel_is_acked_and_byed() {
    let mut leg = start();
    leg.on_response(answer(&leg, 180, "a"));
    leg.cancel(Some("SIP;cause=200;text=\"Call completed elsewhere\""));
    let acts = leg.on_response(answer(&leg, 200, "a"));
    assert_eq!((acks(&acts).len(), byes(&acts)), (1, 1));
    assert!(!leg.is_answered());
}

#[test]
fn busy_and_timeout_are_reported_once() {
    let mut leg = start();
    let acts = leg.on_response(answer(&leg, 486, "a"));
    assert!(matches!(&acts[..], [UacAction::Failed(r)] if r.status == 486));
    assert!(leg.on_response(answer(&leg, 486, "a")).is_empty());
    assert!(leg.on_timeout().is_empty());

    let mut leg = start();
    assert!(matches!(&leg.on_timeout()[..], [UacAction::TimedOut]));
    assert!(leg.cancel(None).is_none());
}

#[test]
fn a_2xx_without_contact_cannot_make_the_call() {
    let mut leg = start();
    let r = Response::for_request_with_tag(leg.invite(), 200, "", &Tag("x".into()));
    let acts = leg.on_response(r);
    assert!(matches!(&acts[..], [UacAction::Failed(r)] if r.status == 200));
}

/// What a call task does with the table's outputs for its leg.
#[derive(Default)]
struct Task {
    wire: Vec<Request>,
    dialog: Option<Box<Dialog>>,
    progress: usize,
}

impl Task {
    fn pump(&mut self, table: &mut TransactionTable, leg: &mut OutgoingInvite) {
        while let Some((k, out)) = table.poll_output() {
            let actions = match out {
                Output::SendRequest(r) => {
                    self.wire.push(r);
                    continue;
                }
                Output::PassResponse(r) if k == *leg.key() => leg.on_response(r),
                Output::Timeout if k == *leg.key() => leg.on_timeout(),
                _ => continue,
            };
            for a in actions {
                match a {
                    UacAction::Progress(_) => self.progress += 1,
                    UacAction::Answered(d, _) => self.dialog = Some(d),
                    UacAction::Ack(ack) => assert!(table.send_ack(leg.key(), ack)),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    }
}

/// The whole path a call task drives, through the real transaction table:
/// send, 180, 200 -> dialog + ACK, retransmitted 200 -> same ACK, Timer M.
#[test]
fn driven_through_the_transaction_table() {
    let t0 = Instant::now();
    let mut table = TransactionTable::new(Timers::default());
    let req = start().invite().clone();
    let key = table.send_invite(t0, req.clone(), Reliability::Unreliable);
    let mut leg = OutgoingInvite::new(req, key, local());
    let mut task = Task::default();
    task.pump(&mut table, &mut leg);
    assert_eq!(task.wire.len(), 1, "the INVITE");
    table.on_response(t0, answer(&leg, 180, "a"));
    let ok = answer(&leg, 200, "a");
    table.on_response(t0 + Duration::from_secs(3), ok.clone());
    task.pump(&mut table, &mut leg);
    assert_eq!(task.progress, 1);
    assert!(task.dialog.is_some());
    assert_eq!(task.wire.len(), 2, "INVITE, ACK");
    table.on_response(t0 + Duration::from_secs(4), ok);
    task.pump(&mut table, &mut leg);
    let wire = &task.wire;
    assert_eq!(wire.len(), 3);
    assert_eq!(wire[1], wire[2], "the same ACK again");
    assert_eq!(wire[1].method(), &Method::Ack);
    assert_ne!(wire[1].top_via().branch(), wire[0].top_via().branch());
    table.handle_timeout(t0 + Duration::from_secs(35));
    assert!(table.is_empty(), "Timer M ended the transaction");
}
