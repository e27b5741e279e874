//! Fuzz the multipart body reader (`sip::message::multipart`): the first
//! input line is the Content-Type (with its boundary), the rest the body.
//! Nothing may panic; every part and a found SDP lie inside the body; the
//! part count stays within its cap.
#![no_main]

use hotline::sip::message::multipart::{boundary, find_sdp, parts, Found, MAX_PARTS};
use libfuzzer_sys::fuzz_target;

fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let ctype = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    if let Some(b) = boundary(&ctype) {
        if let Ok(ps) = parts(body, &b) {
            assert!(!ps.is_empty() && ps.len() <= MAX_PARTS);
            assert!(ps.iter().all(|p| inside(body, p.body)));
        }
    }
    if let Ok(Found::Sdp(sdp)) = find_sdp(&ctype, body) {
        assert!(inside(body, sdp));
    }
});
