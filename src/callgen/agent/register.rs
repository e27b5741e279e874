//! An agent's registration: REGISTER, the 401's digest challenge answered
//! with the password (SHA-256 when offered, else MD5), 200. Retried when
//! no answer comes (UDP), refreshed before it expires.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::AgentLogin;
use crate::sip::auth::{Algorithm, ClientAuth, DigestChallenge};
use crate::sip::message::Response;

/// Without an answer for this long, the REGISTER goes again.
const RETRY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RegState {
    /// Not yet sent (waits for a free slot in the phone's window).
    Idle,
    /// Sent, no final answer yet.
    Sent,
    Registered,
    /// Refused (not a 401 we can answer, e.g. an agent the registrar does
    /// not know yet): tried again after [`RETRY`], as phones do.
    Refused,
}

/// What one agent keeps between its REGISTERs.
pub(super) struct Registration {
    pub(super) login: AgentLogin,
    pub(super) call_id: String,
    pub(super) state: RegState,
    cseq: u32,
    nc: u32,
    challenge: Option<DigestChallenge>,
    /// When the last REGISTER left (retry) or the 200 came (refresh).
    at: Instant,
    /// Challenges answered in a row (a wrong password is refused, not
    /// retried forever).
    challenged: u32,
}

/// What the phone should do after a response.
pub(super) enum RegOutcome {
    /// Challenged: REGISTER again with the answer.
    Again,
    Registered,
    Refused,
    Nothing,
}

impl Registration {
    pub(super) fn new(login: AgentLogin, local: SocketAddr) -> Self {
        Registration {
            call_id: format!(
                "reg-{}-{}-{:08x}",
                login.user,
                local.port(),
                rand::random::<u32>()
            ),
            login,
            state: RegState::Idle,
            cseq: 0,
            nc: 0,
            challenge: None,
            at: Instant::now(),
            challenged: 0,
        }
    }

    /// The REGISTER to send now (with the answer to the last challenge,
    /// if any).
    pub(super) fn request(
        &mut self,
        server: SocketAddr,
        local: SocketAddr,
        expires: Duration,
    ) -> String {
        self.cseq += 1;
        self.state = RegState::Sent;
        self.at = Instant::now();
        let uri = format!("sip:{server}");
        let auth = self
            .challenge
            .as_ref()
            .map(|ch| {
                self.nc += 1;
                ClientAuth {
                    username: &self.login.user,
                    realm: &ch.realm,
                    password: &self.login.password,
                    algorithm: ch.algorithm,
                    method: "REGISTER",
                    uri: &uri,
                    nonce: &ch.nonce,
                    opaque: ch.opaque.as_deref(),
                    nc: self.nc,
                    cnonce: "callgen",
                }
                .header_value()
            })
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let u = &self.login.user;
        format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b:016x};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{u}@{server}>;tag=r{port}\r\nTo: <sip:{u}@{server}>\r\n\
             Call-ID: {call}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{u}@{local}>;expires={exp}\r\n\
             {auth}User-Agent: hotline-callgen\r\nContent-Length: 0\r\n\r\n",
            b = rand::random::<u64>(),
            port = local.port(),
            call = self.call_id,
            cseq = self.cseq,
            exp = expires.as_secs(),
        )
    }

    /// A final response to our REGISTER.
    pub(super) fn on_response(&mut self, r: &Response) -> RegOutcome {
        if self.state != RegState::Sent || r.status < 200 {
            return RegOutcome::Nothing;
        }
        match r.status {
            200..=299 => {
                self.state = RegState::Registered;
                self.challenged = 0;
                self.at = Instant::now();
                RegOutcome::Registered
            }
            401 | 407 if self.challenged < 2 => {
                let offered: Vec<DigestChallenge> = r
                    .headers
                    .get_all(if r.status == 401 {
                        "WWW-Authenticate"
                    } else {
                        "Proxy-Authenticate"
                    })
                    .filter_map(|v| DigestChallenge::parse(v).ok())
                    .collect();
                let pick = offered
                    .iter()
                    .find(|c| c.algorithm == Algorithm::Sha256)
                    .or(offered.first())
                    .cloned();
                match pick {
                    Some(ch) => {
                        self.challenge = Some(ch);
                        self.nc = 0;
                        self.challenged += 1;
                        self.state = RegState::Idle;
                        RegOutcome::Again
                    }
                    None => {
                        self.state = RegState::Refused;
                        self.at = Instant::now();
                        RegOutcome::Refused
                    }
                }
            }
            _ => {
                self.state = RegState::Refused;
                self.challenge = None;
                self.challenged = 0;
                self.at = Instant::now();
                RegOutcome::Refused
            }
        }
    }

    /// Whether this registration wants a REGISTER now: unanswered for
    /// [`RETRY`], or past half its lifetime.
    pub(super) fn due(&self, now: Instant, expires: Duration) -> bool {
        match self.state {
            RegState::Sent | RegState::Refused => now.duration_since(self.at) >= RETRY,
            RegState::Registered => now.duration_since(self.at) >= expires / 2,
            RegState::Idle => false,
        }
    }
}
