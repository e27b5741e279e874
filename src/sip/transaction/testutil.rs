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

/// Like [`response`] with the To tag chosen (one fork of the call).
pub fn response_tagged(req: &Request, status: u16, tag: &str) -> Response {
    let r = Response::for_request_with_tag(req, status, "", &crate::sip::message::Tag(tag.into()));
    match parse(&r.to_bytes()) {
        Ok(Message::Response(r)) => r,
        other => panic!("{other:?}"),
    }
}

/// An INVITE we send through two loose routers, as the UAC builds it.
pub fn invite_via_routes(branch: &str) -> Request {
    let text = format!(
        "INVITE sip:agent@192.0.2.20:5062;ob SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:p1.example.com;lr>\r\n\
         Route: <sip:p2.example.com;lr>\r\n\
         From: \"#1042 5551234\" <sip:hotline@192.0.2.1>;tag=ours\r\n\
         To: <sip:agent@example.com>\r\n\
         Call-ID: uac1@192.0.2.1\r\n\
         CSeq: 7 INVITE\r\n\
         Contact: <sip:hotline@192.0.2.1:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: 4\r\n\r\nv=0\n"
    );
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}
