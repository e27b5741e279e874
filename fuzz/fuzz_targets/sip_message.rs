//! Fuzz the SIP message entry point and everything that reads a parsed
//! request: nothing may panic, and what we serialise must parse again.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use hotline::sip::dialog::Dialog;
use hotline::sip::identity::caller_identity;
use hotline::sip::message::{parse, Message, ParseError, Response, Tag};
use hotline::sip::transaction::TransactionKey;
use hotline::sip::validate::{validate_request, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Message::Request(req)) => {
            let again = parse(&req.to_bytes());
            match again {
                Ok(Message::Request(r2)) => {
                    assert_eq!(r2.call_id(), req.call_id());
                    assert_eq!(r2.cseq(), req.cseq());
                    assert_eq!(r2.body(), req.body());
                }
                other => panic!("serialised request does not parse again: {other:?}"),
            }
            let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let _ = caller_identity(&req, peer, &[peer]);
            let _ = validate_request(&req, &Policy::default(), |_| true);
            let _ = TransactionKey::for_request(&req);
            let resp = Response::for_request(&req, 200, "OK");
            if !matches!(parse(&resp.to_bytes()), Ok(Message::Response(_))) {
                panic!("our response to a valid request does not parse");
            }
            if let Ok(mut d) = Dialog::new_uas(&req, Tag::random()) {
                let _ = d.bye("UDP", "127.0.0.1:5060");
            }
        }
        Ok(Message::Response(resp)) => {
            let _ = TransactionKey::for_response(&resp);
            let _ = resp.to_bytes();
        }
        Err(ParseError::Reject(rej)) => {
            let _ = rej.response.to_bytes();
        }
        Err(ParseError::Drop(_)) => {}
    }
});
