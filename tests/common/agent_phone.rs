//! A raw SIP agent phone on 127.0.0.1 for the registrar tests that need
//! exact control: which digest algorithm answers the challenge, what
//! Contact and Expires go out, and whether keep-alive OPTIONS are answered.

use std::net::SocketAddr;
use std::time::Duration;

use hotline::sip::auth::{Algorithm, ClientAuth, DigestChallenge};
use hotline::sip::message::{Message, Request, Response};

use super::sip_peer::SipPeer;

pub struct AgentPhone {
    pub peer: SipPeer,
    pub user: String,
    pub password: String,
    call_id: String,
    cseq: u32,
    nc: u32,
}

/// What one REGISTER ended with, after answering at most one challenge.
pub struct Registered {
    /// The first answer (401 when a challenge came).
    pub first: Response,
    pub last: Response,
}

impl AgentPhone {
    pub async fn new(server: SocketAddr, user: &str, password: &str) -> Self {
        Self::with_peer(SipPeer::new(server).await, user, password)
    }

    /// A phone on another loopback address (`127.0.0.2`): another source.
    pub async fn new_on(server: SocketAddr, ip: &str, user: &str, password: &str) -> Self {
        let sock = tokio::net::UdpSocket::bind((ip, 0)).await.unwrap();
        let local = sock.local_addr().unwrap();
        let peer = SipPeer {
            sock,
            server,
            local,
        };
        Self::with_peer(peer, user, password)
    }

    fn with_peer(peer: SipPeer, user: &str, password: &str) -> Self {
        AgentPhone {
            peer,
            user: user.into(),
            password: password.into(),
            call_id: format!("reg-{:016x}", rand::random::<u64>()),
            cseq: 0,
            nc: 0,
        }
    }

    /// `sip:user-tag@127.0.0.1:port`, as baresip-like phones name a contact.
    pub fn contact(&self, tag: &str) -> String {
        format!("sip:{}-{tag}@{}", self.user, self.peer.local)
    }

    /// One REGISTER as the phone would send it, with `extra` headers
    /// (Contact, Expires) and optional credentials.
    pub fn register_text(&mut self, extra: &str, authorization: Option<&str>) -> String {
        self.cseq += 1;
        let server = self.peer.server;
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch:016x};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{server}>;tag=rt{tag:08x}\r\n\
             To: <sip:{user}@{server}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             {extra}{auth}\
             User-Agent: hotline-test-phone\r\n\
             Content-Length: 0\r\n\r\n",
            local = self.peer.local,
            branch = rand::random::<u64>(),
            user = self.user,
            tag = rand::random::<u32>(),
            call_id = self.call_id,
            cseq = self.cseq,
        )
    }

    /// REGISTER with `extra`, answering a 401 with `alg` (or the first
    /// challenge offered when `None`), using `password`.
    pub async fn register_as(
        &mut self,
        extra: &str,
        alg: Option<Algorithm>,
        password: &str,
    ) -> Registered {
        let text = self.register_text(extra, None);
        self.peer.send(&text).await;
        let first = self.final_response().await;
        if first.status != 401 {
            return Registered {
                last: first.clone(),
                first,
            };
        }
        let challenges: Vec<DigestChallenge> = first
            .headers
            .get_all("WWW-Authenticate")
            .filter_map(|v| DigestChallenge::parse(v).ok())
            .collect();
        let ch = challenges
            .iter()
            .find(|c| alg.is_none_or(|a| c.algorithm == a))
            .expect("a challenge for the algorithm");
        self.nc += 1;
        let uri = format!("sip:{}", self.peer.server);
        let auth = ClientAuth {
            username: &self.user,
            realm: &ch.realm,
            password,
            algorithm: ch.algorithm,
            method: "REGISTER",
            uri: &uri,
            nonce: &ch.nonce,
            opaque: ch.opaque.as_deref(),
            nc: 1,
            cnonce: &format!("{:08x}", rand::random::<u32>()),
        }
        .header_value();
        let text = self.register_text(extra, Some(&auth));
        self.peer.send(&text).await;
        let last = self.final_response().await;
        Registered { first, last }
    }

    pub async fn register(&mut self, extra: &str, alg: Option<Algorithm>) -> Registered {
        let password = self.password.clone();
        self.register_as(extra, alg, &password).await
    }

    /// The next final response; OPTIONS keep-alives that arrive meanwhile
    /// are answered 200.
    pub async fn final_response(&self) -> Response {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.peer.recv(left).await {
                Some(Message::Response(r)) if r.status >= 200 => return r,
                Some(Message::Response(_)) => {}
                Some(Message::Request(req)) => self.peer.answer(&req).await,
                None => panic!("no final response to REGISTER within 10 s"),
            }
        }
    }

    /// The next request the daemon sends us (a keep-alive OPTIONS).
    pub async fn next_request(&self, limit: Duration) -> Option<Request> {
        self.peer.request(limit).await
    }
}
