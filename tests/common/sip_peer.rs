//! A raw SIP user agent over UDP on 127.0.0.1 for the tests that need
//! exact control of what goes on the wire (retransmissions, a missing ACK,
//! malformed messages). Responses are parsed with our own parser.

use std::net::SocketAddr;
use std::time::Duration;

use hotline::sip::message::{parse, Message, Request, Response};
use tokio::net::UdpSocket;

pub const SDP: &str = "v=0\r\no=tester 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n";

pub struct SipPeer {
    pub sock: UdpSocket,
    pub server: SocketAddr,
    pub local: SocketAddr,
}

/// One call's identifiers, so requests of one dialog agree.
#[derive(Clone, Debug)]
pub struct Leg {
    pub call_id: String,
    pub from_tag: String,
    pub branch: String,
    pub cseq: u32,
    pub to_tag: Option<String>,
}

impl Leg {
    pub fn new() -> Self {
        let r = rand::random::<u64>();
        Self {
            call_id: format!("test-{r:016x}"),
            from_tag: format!("ft{:08x}", r as u32),
            branch: format!("z9hG4bK{r:016x}"),
            cseq: 1,
            to_tag: None,
        }
    }
}

impl Default for Leg {
    fn default() -> Self {
        Self::new()
    }
}

impl SipPeer {
    pub async fn new(server: SocketAddr) -> Self {
        let bind = if server.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        let sock = UdpSocket::bind(bind).await.unwrap();
        let local = sock.local_addr().unwrap();
        Self {
            sock,
            server,
            local,
        }
    }

    pub async fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .await
            .unwrap();
    }

    pub async fn send_bytes(&self, bytes: &[u8]) {
        self.sock.send_to(bytes, self.server).await.unwrap();
    }

    /// The next message, or None after `limit`.
    pub async fn recv(&self, limit: Duration) -> Option<Message> {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, _) = tokio::time::timeout(limit, self.sock.recv_from(&mut buf))
                .await
                .ok()?
                .ok()?;
            if let Ok(m) = parse(&buf[..n]) {
                return Some(m);
            }
        }
    }

    /// The next datagram as text, parsed or not (a 400 to a request that
    /// lacked Call-ID lacks it too, so our parser would refuse it).
    pub async fn recv_text(&self, limit: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        let (n, _) = tokio::time::timeout(limit, self.sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// The next response, skipping requests; None after `limit`.
    pub async fn response(&self, limit: Duration) -> Option<Response> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await? {
                Message::Response(r) => return Some(r),
                Message::Request(_) => continue,
            }
        }
    }

    /// Responses until one with `status` (or None after `limit`).
    pub async fn until_status(&self, status: u16, limit: Duration) -> Option<Response> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let r = self.response(left).await?;
            if r.status == status {
                return Some(r);
            }
        }
    }

    /// The next request (e.g. the daemon's BYE); None after `limit`.
    pub async fn request(&self, limit: Duration) -> Option<Request> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await? {
                Message::Request(r) => return Some(r),
                Message::Response(_) => continue,
            }
        }
    }

    fn headers(&self, method: &str, leg: &Leg, branch: &str, cseq_method: &str) -> String {
        let to_tag = leg
            .to_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        format!(
            "{method} sip:hotline@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Test Caller\" <sip:5551234@127.0.0.1>;tag={from}\r\n\
             To: <sip:hotline@{server}>{to_tag}\r\n\
             Call-ID: {call}\r\n\
             CSeq: {cseq} {cseq_method}\r\n\
             Contact: <sip:5551234@{local}>\r\n",
            server = self.server,
            local = self.local,
            from = leg.from_tag,
            call = leg.call_id,
            cseq = leg.cseq,
        )
    }

    /// An INVITE (with SDP) for `leg`, plus `extra` header lines.
    pub fn invite(&self, leg: &Leg, extra: &str) -> String {
        self.invite_with(leg, extra, SDP)
    }

    /// An INVITE with this SDP body (empty: a late offer).
    pub fn invite_with(&self, leg: &Leg, extra: &str, sdp: &str) -> String {
        let content_type = if sdp.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{}{extra}{content_type}Content-Length: {}\r\n\r\n{sdp}",
            self.headers("INVITE", leg, &leg.branch, "INVITE"),
            sdp.len()
        )
    }

    /// An in-dialog request with a body.
    pub fn request_with_body(
        &self,
        method: &str,
        leg: &Leg,
        content_type: &str,
        body: &str,
    ) -> String {
        let branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
        format!(
            "{}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            self.headers(method, leg, &branch, method),
            body.len()
        )
    }

    /// A body-less request of `method` in `leg` (new branch each time).
    pub fn request_text(&self, method: &str, leg: &Leg, extra: &str) -> String {
        let branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
        format!(
            "{}{extra}Content-Length: 0\r\n\r\n",
            self.headers(method, leg, &branch, method)
        )
    }

    /// An ACK carrying the SDP answer to a late offer.
    pub fn ack_with(&self, leg: &Leg, sdp: &str) -> String {
        let branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
        format!(
            "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            self.headers("ACK", leg, &branch, "ACK"),
            sdp.len()
        )
    }

    /// The ACK for a 2xx to `leg`'s INVITE (its own branch, §17.1.1.3).
    pub fn ack(&self, leg: &Leg) -> String {
        let branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
        format!(
            "{}Content-Length: 0\r\n\r\n",
            self.headers("ACK", leg, &branch, "ACK")
        )
    }

    /// The 200 answering a request from the daemon (e.g. its BYE).
    pub async fn answer(&self, req: &Request) {
        let resp = Response::for_request(req, 200, "OK");
        self.send_bytes(&resp.to_bytes()).await;
    }
}
