//! One test per rule of RFC 3261 §10.3 as the registrar applies it, with
//! baresip-style (`;expires=` on Contact) and pjsua-style (`Expires`
//! header, `;ob`, RFC 5626 instance) requests.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};

use super::*;
use crate::sip::message::{parse, Message};

const BARESIP: &str = "<sip:agent1-0x55d1c0a0@127.0.0.1:5071>;expires=600";
const PJSUA: &str = "<sip:agent1@127.0.0.1:5072;ob>;reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-0000aabbccdd>\"";

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn limits() -> Limits {
    Limits {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 1800,
        max_bindings: 3,
    }
}

fn src(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn arrival(secs: i64, port: u16) -> Arrival {
    Arrival {
        now: at(secs),
        source: src(port),
        transport: Kind::Udp,
    }
}

/// A REGISTER with the given Contact header lines and extra headers.
fn req(call_id: &str, cseq: u32, contacts: &[&str], extra: &[&str]) -> Request {
    let mut text = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK{call_id}{cseq};rport\r\n\
         From: <sip:agent1@127.0.0.1>;tag=f1\r\n\
         To: <sip:agent1@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         User-Agent: baresip v3.10.1 (x86_64/linux)\r\n"
    );
    for c in contacts {
        text.push_str(&format!("Contact: {c}\r\n"));
    }
    for h in extra {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn ok(r: &Request, current: &[Binding], a: Arrival) -> Update {
    register(r, current, &a, &limits()).unwrap_or_else(|e| panic!("{e}"))
}

fn refused(r: &Request, current: &[Binding], a: Arrival) -> Refusal {
    register(r, current, &a, &limits()).expect_err("refused")
}

#[test]
fn baresip_expires_on_contact_and_the_uri_kept_exactly() {
    let u = ok(&req("b1", 1, &[BARESIP], &[]), &[], arrival(0, 5071));
    assert_eq!(u.added, vec!["sip:agent1-0x55d1c0a0@127.0.0.1:5071"]);
    let b = &u.bindings[0];
    assert_eq!(b.contact_uri, "sip:agent1-0x55d1c0a0@127.0.0.1:5071");
    assert_eq!(b.expires_at, at(600));
    assert_eq!((b.source, b.transport), (src(5071), Kind::Udp));
    assert_eq!((b.call_id.as_str(), b.cseq), ("b1", 1));
    assert_eq!(
        b.user_agent.as_deref(),
        Some("baresip v3.10.1 (x86_64/linux)")
    );
    assert_eq!((b.instance.as_deref(), b.reg_id, b.q), (None, None, None));
}

#[test]
fn pjsua_expires_header_ob_and_instance() {
    let r = req("p1", 7, &[PJSUA], &["Expires: 300"]);
    let tcp = Arrival {
        transport: Kind::Tcp,
        ..arrival(0, 40001)
    };
    let u = ok(&r, &[], tcp);
    let b = &u.bindings[0];
    assert_eq!(b.contact_uri, "sip:agent1@127.0.0.1:5072;ob");
    assert_eq!(b.expires_at, at(300));
    assert_eq!(b.transport, Kind::Tcp);
    assert_eq!(
        b.source,
        src(40001),
        "the address it came from, not the Contact's"
    );
    assert_eq!(
        b.instance.as_deref(),
        Some("<urn:uuid:00000000-0000-0000-0000-0000aabbccdd>")
    );
    assert_eq!(b.reg_id, Some(1));
}

#[test]
fn contact_parameter_wins_over_the_header_and_default_applies() {
    let r = req(
        "c1",
        1,
        &["<sip:a@127.0.0.1:5071>;expires=120"],
        &["Expires: 900"],
    );
    assert_eq!(
        ok(&r, &[], arrival(0, 5071)).bindings[0].expires_at,
        at(120)
    );
    let r = req("c1", 1, &["<sip:a@127.0.0.1:5071>"], &[]);
    assert_eq!(
        ok(&r, &[], arrival(0, 5071)).bindings[0].expires_at,
        at(1800)
    );
}

#[test]
fn too_long_is_cut_to_max_and_too_short_is_423_with_min_expires() {
    let r = req("e1", 1, &["<sip:a@127.0.0.1:5071>;expires=86400"], &[]);
    assert_eq!(
        ok(&r, &[], arrival(0, 5071)).bindings[0].expires_at,
        at(3600)
    );
    let r = req(
        "e1",
        1,
        &["<sip:a@127.0.0.1:5071>"],
        &["Expires: 4294967296"],
    );
    assert_eq!(
        ok(&r, &[], arrival(0, 5071)).bindings[0].expires_at,
        at(3600)
    );
    let r = req("e2", 1, &["<sip:a@127.0.0.1:5071>"], &["Expires: 59"]);
    let e = refused(&r, &[], arrival(0, 5071));
    assert_eq!(e, Refusal::IntervalTooBrief { min_expires: 60 });
    assert_eq!((e.status(), e.code().as_str()), (423, "HL-REG-423"));
    let resp = refusal_response(&r, &e);
    assert_eq!(
        (resp.status, resp.reason.as_str()),
        (423, "Interval Too Brief")
    );
    assert_eq!(resp.headers.get("Min-Expires"), Some("60"));
    // Exactly the minimum is fine.
    let r = req("e3", 1, &["<sip:a@127.0.0.1:5071>;expires=60"], &[]);
    assert_eq!(ok(&r, &[], arrival(0, 5071)).bindings[0].expires_at, at(60));
}

#[test]
fn two_contacts_for_one_agent_and_the_200_lists_both() {
    let first = ok(&req("b1", 1, &[BARESIP], &[]), &[], arrival(0, 5071));
    let r = req("p1", 1, &[PJSUA], &["Expires: 300"]);
    let both = ok(&r, &first.bindings, arrival(10, 5072));
    assert_eq!(both.bindings.len(), 2);
    assert_eq!(both.added, vec!["sip:agent1@127.0.0.1:5072;ob"]);
    let resp = ok_response(&r, &both.bindings, at(10));
    assert_eq!(resp.status, 200);
    let contacts: Vec<&str> = resp.headers.get_all("Contact").collect();
    assert_eq!(
        contacts,
        vec![
            "<sip:agent1-0x55d1c0a0@127.0.0.1:5071>;expires=590",
            "<sip:agent1@127.0.0.1:5072;ob>;expires=300",
        ]
    );
    assert_eq!(
        resp.headers.get("Date"),
        Some("Fri, 15 Jan 2027 08:00:10 GMT")
    );
    // Two contacts in one REGISTER work too.
    let r = req(
        "m1",
        1,
        &["<sip:a@10.0.0.1>, <sip:b@10.0.0.2>;expires=120"],
        &[],
    );
    assert_eq!(ok(&r, &[], arrival(0, 5071)).bindings.len(), 2);
}

#[test]
fn refresh_keeps_one_binding_and_moves_expiry_and_source() {
    let u = ok(&req("b1", 1, &[BARESIP], &[]), &[], arrival(0, 5071));
    let u = ok(
        &req("b1", 2, &[BARESIP], &[]),
        &u.bindings,
        arrival(500, 6000),
    );
    assert_eq!(u.bindings.len(), 1);
    assert_eq!(u.refreshed, vec!["sip:agent1-0x55d1c0a0@127.0.0.1:5071"]);
    assert_eq!(u.bindings[0].expires_at, at(1100));
    assert_eq!(u.bindings[0].source, src(6000), "NAT rebinding follows");
    assert_eq!(u.bindings[0].cseq, 2);
}

#[test]
fn unregister_with_expires_zero_param_and_header() {
    let a = ok(&req("b1", 1, &[BARESIP], &[]), &[], arrival(0, 5071));
    let both = ok(
        &req("p1", 1, &[PJSUA], &["Expires: 300"]),
        &a.bindings,
        arrival(0, 5072),
    );
    // baresip style: ;expires=0 on the Contact.
    let r = req(
        "b1",
        2,
        &["<sip:agent1-0x55d1c0a0@127.0.0.1:5071>;expires=0"],
        &[],
    );
    let u = ok(&r, &both.bindings, arrival(5, 5071));
    assert_eq!(u.removed, vec!["sip:agent1-0x55d1c0a0@127.0.0.1:5071"]);
    assert_eq!(u.bindings.len(), 1);
    // pjsua style: Expires: 0 header.
    let u = ok(
        &req("p1", 2, &[PJSUA], &["Expires: 0"]),
        &u.bindings,
        arrival(6, 5072),
    );
    assert!(u.bindings.is_empty());
    assert_eq!(u.removed, vec!["sip:agent1@127.0.0.1:5072;ob"]);
    // Removing what is not bound changes nothing and is not an error.
    let u = ok(
        &req("x", 1, &["<sip:gone@10.0.0.9>;expires=0"], &[]),
        &[],
        arrival(7, 1),
    );
    assert!(!u.changed());
    assert_eq!(
        ok_response(&req("x", 1, &[], &[]), &u.bindings, at(7))
            .headers
            .get("Contact"),
        None
    );
}

#[test]
fn star_with_expires_zero_removes_all_anything_else_is_400() {
    let a = ok(&req("b1", 1, &[BARESIP], &[]), &[], arrival(0, 5071));
    let both = ok(
        &req("p1", 1, &[PJSUA], &["Expires: 300"]),
        &a.bindings,
        arrival(0, 5072),
    );
    let u = ok(
        &req("z1", 1, &["*"], &["Expires: 0"]),
        &both.bindings,
        arrival(1, 5071),
    );
    assert!(u.bindings.is_empty());
    assert_eq!(u.removed.len(), 2);
    for (contacts, extra) in [
        (&["*"][..], &["Expires: 3600"][..]),
        (&["*"][..], &[][..]),
        (&["*", BARESIP][..], &["Expires: 0"][..]),
        (&["*;expires=0"][..], &[][..]),
    ] {
        let r = req("z2", 1, contacts, extra);
        let e = refused(&r, &both.bindings, arrival(1, 5071));
        assert_eq!(e.status(), 400, "{contacts:?} {extra:?}: {e}");
    }
}

#[test]
fn same_call_id_with_cseq_not_higher_is_500_and_changes_nothing() {
    let u = ok(&req("b1", 5, &[BARESIP], &[]), &[], arrival(0, 5071));
    for seq in [5, 4] {
        let e = refused(
            &req("b1", seq, &[BARESIP], &[]),
            &u.bindings,
            arrival(1, 5071),
        );
        assert_eq!(e, Refusal::OutOfOrder);
        assert_eq!(refusal_response(&req("b1", seq, &[], &[]), &e).status, 500);
    }
    // Out of order un-register (param or star) is refused too.
    let r = req(
        "b1",
        3,
        &["<sip:agent1-0x55d1c0a0@127.0.0.1:5071>;expires=0"],
        &[],
    );
    assert_eq!(
        refused(&r, &u.bindings, arrival(1, 5071)),
        Refusal::OutOfOrder
    );
    let r = req("b1", 3, &["*"], &["Expires: 0"]);
    assert_eq!(
        refused(&r, &u.bindings, arrival(1, 5071)),
        Refusal::OutOfOrder
    );
    // A new Call-ID (the phone restarted) with a low CSeq replaces it.
    let u2 = ok(
        &req("b2", 1, &[BARESIP], &[]),
        &u.bindings,
        arrival(2, 5071),
    );
    assert_eq!(u2.bindings.len(), 1);
    assert_eq!(u2.bindings[0].call_id.as_str(), "b2");
    // A refused multi-contact request applies none of its contacts.
    let r = req("b1", 4, &["<sip:new@10.0.0.1>", BARESIP], &[]);
    assert_eq!(
        refused(&r, &u.bindings, arrival(3, 5071)),
        Refusal::OutOfOrder
    );
}

#[test]
fn more_than_max_bindings_is_403_but_refreshing_at_the_max_is_fine() {
    let mut cur = Vec::new();
    for i in 0..3 {
        let c = format!("<sip:a@10.0.0.{i}>");
        cur = ok(
            &req(&format!("c{i}"), 1, &[&c], &[]),
            &cur,
            arrival(0, 5071),
        )
        .bindings;
    }
    let e = refused(
        &req("c9", 1, &["<sip:a@10.0.0.9>"], &[]),
        &cur,
        arrival(1, 5071),
    );
    assert_eq!(e, Refusal::TooManyBindings { max: 3 });
    assert_eq!(refusal_response(&req("c9", 1, &[], &[]), &e).status, 403);
    let u = ok(
        &req("c0", 2, &["<sip:a@10.0.0.0>"], &[]),
        &cur,
        arrival(1, 5071),
    );
    assert_eq!(u.bindings.len(), 3);
}

#[test]
fn expired_bindings_are_dropped_and_a_query_lists_the_rest() {
    let a = ok(
        &req("s1", 1, &["<sip:a@10.0.0.1>;expires=60"], &[]),
        &[],
        arrival(0, 1),
    );
    let b = ok(
        &req("s2", 1, &["<sip:a@10.0.0.2>;expires=600"], &[]),
        &a.bindings,
        arrival(0, 2),
    );
    let q = ok(&req("q1", 1, &[], &[]), &b.bindings, arrival(60, 3));
    assert_eq!(q.expired, vec!["sip:a@10.0.0.1"]);
    assert_eq!(q.bindings.len(), 1);
    assert!(q.changed() && q.added.is_empty());
    let resp = ok_response(&req("q1", 1, &[], &[]), &q.bindings, at(60));
    assert_eq!(
        resp.headers.get("Contact"),
        Some("<sip:a@10.0.0.2>;expires=540")
    );
    let q = ok(&req("q1", 2, &[], &[]), &q.bindings, arrival(61, 3));
    assert!(!q.changed());
}

#[test]
fn same_instance_and_reg_id_from_a_new_address_replaces_the_old_binding() {
    let u = ok(
        &req("p1", 1, &[PJSUA], &["Expires: 300"]),
        &[],
        arrival(0, 5072),
    );
    let moved = PJSUA.replace("5072", "5090");
    let u = ok(
        &req("p2", 1, &[&moved], &["Expires: 300"]),
        &u.bindings,
        arrival(5, 5090),
    );
    assert_eq!(u.bindings.len(), 1);
    assert_eq!(u.bindings[0].contact_uri, "sip:agent1@127.0.0.1:5090;ob");
    assert_eq!(u.removed, vec!["sip:agent1@127.0.0.1:5072;ob"]);
    assert_eq!(u.added, vec!["sip:agent1@127.0.0.1:5090;ob"]);
}

#[test]
fn malformed_contacts_are_400_and_q_is_read() {
    for bad in [
        "<sip:a@10.0.0.1",
        "<sip:a@10.0.0.1>;q=2",
        "<sip:a@10.0.0.1>;q=0.1234",
    ] {
        let e = refused(&req("m", 1, &[bad], &[]), &[], arrival(0, 1));
        assert_eq!(e.status(), 400, "{bad}");
    }
    let long = format!("<sip:{}@10.0.0.1>", "a".repeat(MAX_CONTACT_URI_LEN));
    assert_eq!(
        refused(&req("m", 1, &[&long], &[]), &[], arrival(0, 1)).status(),
        400
    );
    let u = ok(
        &req("m", 1, &["<sip:a@10.0.0.1>;q=0.5"], &[]),
        &[],
        arrival(0, 1),
    );
    assert_eq!(u.bindings[0].q, Some(QValue(500)));
    assert_eq!(QValue(500).to_string(), "0.500");
    assert_eq!(QValue::parse("1.000"), Some(QValue(1000)));
    assert_eq!(QValue::parse("1.001"), None);
    assert_eq!(QValue::parse("0"), Some(QValue(0)));
}

#[test]
fn aor_is_the_to_user_and_limits_come_from_config() {
    assert_eq!(aor_user(&req("a", 1, &[], &[])).as_deref(), Some("agent1"));
    let l = Limits::from_config(&AgentsConfig::default());
    assert_eq!(
        (
            l.min_expires,
            l.max_expires,
            l.default_expires,
            l.max_bindings
        ),
        (60, 3600, 3600, 10)
    );
}

#[test]
fn mutated_contacts_and_expires_never_panic() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let seeds = [
        BARESIP,
        PJSUA,
        "*",
        "<sip:a@10.0.0.1>;q=0.5;expires=60, <sip:b@[::1]:5060>",
    ];
    let pieces = [
        "\"",
        "\\",
        ",",
        ";",
        "=",
        "<",
        ">",
        "*",
        "expires=",
        "0",
        "99999999999",
        "é",
        " ",
    ];
    let mut rng = StdRng::seed_from_u64(11);
    let current = ok(&req("b1", 1, &[BARESIP], &[]), &[], arrival(0, 5071)).bindings;
    for i in 0..5_000 {
        let mut v: Vec<char> = seeds[i % seeds.len()].chars().collect();
        for _ in 0..rng.gen_range(1..5) {
            let pos = rng.gen_range(0..=v.len());
            if rng.gen_bool(0.5) {
                v.splice(pos..pos, pieces[rng.gen_range(0..pieces.len())].chars());
            } else {
                v.truncate(pos);
            }
        }
        let contact: String = v.into_iter().collect();
        let expires = format!("Expires: {}", rng.gen_range(0u64..5000));
        let text = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKm{i}\r\n\
             From: <sip:agent1@127.0.0.1>;tag=f\r\nTo: <sip:agent1@127.0.0.1>\r\nCall-ID: b1\r\n\
             CSeq: {} REGISTER\r\nContact: {contact}\r\n{expires}\r\nContent-Length: 0\r\n\r\n",
            rng.gen_range(0..4)
        );
        if let Ok(Message::Request(r)) = parse(text.as_bytes()) {
            match register(&r, &current, &arrival(1, 5071), &limits()) {
                Ok(u) => {
                    let _ = ok_response(&r, &u.bindings, at(1)).to_bytes();
                }
                Err(e) => {
                    let _ = refusal_response(&r, &e).to_bytes();
                }
            }
        }
    }
}
