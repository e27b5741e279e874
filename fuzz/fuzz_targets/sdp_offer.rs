//! Fuzz the SDP offer reader and negotiation (`media::sdp::negotiate`):
//! nothing may panic; an accepted offer's answer has one m-line per offered
//! m-line and reads back as the same choice; every refusal has a Warning
//! that is a safe quoted-string.
#![no_main]

use hotline::media::sdp::{build_answer, negotiate, LocalMedia};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let offer = String::from_utf8_lossy(data);
    match negotiate(&offer) {
        Ok(n) => {
            let local = LocalMedia {
                addr: "127.0.0.1".parse().unwrap(),
                port: 20000,
                session_id: 1,
                session_version: 1,
            };
            let answer = build_answer(&n, &local);
            let lines = answer.split("\r\n").filter(|l| l.starts_with("m=")).count();
            assert_eq!(lines, n.mline_count());
            let back = negotiate(&answer).expect("our answer reads back");
            assert_eq!(back.codec, n.codec);
        }
        Err(e) => {
            let w = e.warning();
            let (_, text) = w.split_once(" hotline ").expect("code, agent, text");
            assert!(text.len() >= 2 && text.starts_with('"') && text.ends_with('"'));
            assert!(!text[1..text.len() - 1].contains(['"', '\\']));
        }
    }
});
