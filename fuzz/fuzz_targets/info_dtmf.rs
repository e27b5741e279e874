//! Fuzz SIP INFO DTMF bodies (`media::dtmf::info::parse_info`): the first
//! input line is the Content-Type, the rest the body. Nothing may panic and
//! every digit returned is a DTMF key.
#![no_main]

use hotline::media::dtmf::info::parse_info;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (ctype, body) = text.split_once('\n').unwrap_or(("application/dtmf-relay", &text));
    if let Ok(d) = parse_info(ctype, body) {
        assert!("0123456789*#ABCD".contains(d.digit), "{:?}", d.digit);
    }
});
