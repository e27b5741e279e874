//! Message builders shared by the transaction tests.

use crate::sip::message::{parse, Message, Request, Response};

/// A request of `method` with the given branch; ACK/CANCEL keep CSeq 1.
pub fn request(method: &str, branch: &str) -> Request {
    let text = format!(
        "{method} sip:hotline@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.9:5060;branch={branch}\r\n\
         From: <sip:caller@example.net>;tag=f1\r\n\
         To: <sip:hotline@example.com>\r\n\
         Call-ID: tx1@example.net\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:caller@192.0.2.9>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

/// A response of `status` to `req`, as it would come back over the wire.
pub fn response(req: &Request, status: u16) -> Response {
    let r = Response::for_request(req, status, "");
    match parse(&r.to_bytes()) {
        Ok(Message::Response(r)) => r,
        other => panic!("{other:?}"),
    }
}
