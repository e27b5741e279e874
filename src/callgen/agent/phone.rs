//! One SIP socket and the agents behind it: one task registers them, runs
//! their dialogs (180, 200 after the ring, ACK, BYE either way, CANCEL,
//! re-INVITE, keep-alive OPTIONS) and sends the RTP of all their calls on
//! one 20 ms tick.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};

use super::media::CallMedia;
use super::register::{RegOutcome, RegState, Registration};
use super::{AgentLogin, AgentOptions, Shared};
use crate::sip::message::{parse, Message, Method, Request, Response, Tag};

/// First REGISTERs in flight per socket: a thousand agents starting at
/// once do not flood the registrar.
const WINDOW: usize = 8;
/// A 200 not yet ACKed goes again this often (RFC 3261 13.3.1.4, with a
/// fixed interval: loopback), at most [`MAX_RESENDS`] times.
const RESEND: Duration = Duration::from_millis(500);
const MAX_RESENDS: u32 = 10;
const TICK: Duration = Duration::from_millis(20);
/// Registrations are looked at every this many ticks.
const REG_EVERY: u32 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Ringing,
    /// 200 sent, no ACK yet.
    Answered,
    Confirmed,
}

struct AgentCall {
    invite: Request,
    /// Where the hotline sent the INVITE from.
    peer: SocketAddr,
    tag: Tag,
    agent: usize,
    media: CallMedia,
    state: CallState,
    /// The last response sent, for a retransmitted INVITE.
    last: Vec<u8>,
    answered_at: Instant,
    resent: u32,
}

pub(super) struct Phone {
    sock: Arc<UdpSocket>,
    server: SocketAddr,
    local: SocketAddr,
    opts: AgentOptions,
    shared: Arc<Shared>,
    regs: Vec<Registration>,
    reg_by_call: HashMap<String, usize>,
    by_user: HashMap<String, usize>,
    calls: HashMap<String, AgentCall>,
    /// Calls to answer, by Call-ID, in time order (one delay for all).
    answers: VecDeque<(Instant, String)>,
}

impl Phone {
    pub(super) fn new(
        sock: UdpSocket,
        server: SocketAddr,
        logins: Vec<AgentLogin>,
        opts: AgentOptions,
        shared: Arc<Shared>,
    ) -> std::io::Result<Phone> {
        let local = sock.local_addr()?;
        let regs: Vec<Registration> = logins
            .into_iter()
            .map(|l| Registration::new(l, local))
            .collect();
        let reg_by_call = regs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.call_id.clone(), i))
            .collect();
        let by_user = regs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.login.user.clone(), i))
            .collect();
        Ok(Phone {
            sock: Arc::new(sock),
            server,
            local,
            opts,
            shared,
            regs,
            reg_by_call,
            by_user,
            calls: HashMap::new(),
            answers: VecDeque::new(),
        })
    }

    pub(super) async fn run(mut self) {
        let sock = self.sock.clone();
        let mut buf = vec![0u8; 65536];
        // Phones started together tick apart: their packets do not all
        // reach the hotline in one burst.
        let offset = Duration::from_micros(rand::random::<u64>() % 20_000);
        let mut tick = tokio::time::interval_at(Instant::now() + offset, TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ticks = 0u32;
        self.registrations().await;
        loop {
            let next_answer = self.answers.front().map(|(at, _)| *at);
            tokio::select! {
                got = sock.recv_from(&mut buf) => {
                    let Ok((n, from)) = got else { return };
                    match parse(&buf[..n]) {
                        Ok(Message::Request(req)) => self.on_request(req, from).await,
                        Ok(Message::Response(r)) => self.on_response(r).await,
                        Err(_) => {}
                    }
                }
                _ = tick.tick() => {
                    ticks = ticks.wrapping_add(1);
                    self.on_tick().await;
                    if ticks.is_multiple_of(REG_EVERY) {
                        self.registrations().await;
                    }
                }
                _ = sleep_until_some(next_answer), if next_answer.is_some() => {
                    self.answer_due().await;
                }
            }
        }
    }

    async fn send(&self, bytes: &[u8], to: SocketAddr) {
        let _ = self.sock.send_to(bytes, to).await;
    }

    /// Send the REGISTERs that are due, keeping at most [`WINDOW`] first
    /// registrations in flight.
    async fn registrations(&mut self) {
        let now = std::time::Instant::now();
        let mut in_flight = self
            .regs
            .iter()
            .filter(|r| r.state == RegState::Sent)
            .count();
        let mut out = Vec::new();
        for r in &mut self.regs {
            let due = r.due(now, self.opts.expires);
            let fresh = r.state == RegState::Idle && in_flight < WINDOW;
            if due || fresh {
                if fresh {
                    in_flight += 1;
                }
                out.push(r.request(self.server, self.local, self.opts.expires));
            }
        }
        for text in out {
            self.send(text.as_bytes(), self.server).await;
        }
    }

    async fn on_response(&mut self, r: Response) {
        let Some(call_id) = r.call_id() else { return };
        let Some(&i) = self.reg_by_call.get(call_id.as_str()) else {
            // An answer to our BYE: nothing more to do.
            return;
        };
        let was_registered = self.regs[i].state == RegState::Registered;
        match self.regs[i].on_response(&r) {
            RegOutcome::Again => {
                let text = self.regs[i].request(self.server, self.local, self.opts.expires);
                self.send(text.as_bytes(), self.server).await;
            }
            RegOutcome::Registered if !was_registered => self.shared.add(&self.shared.registered),
            RegOutcome::Refused => self.shared.add(&self.shared.register_refused),
            RegOutcome::Registered | RegOutcome::Nothing => {}
        }
        if matches!(self.regs[i].state, RegState::Registered | RegState::Refused) {
            // A slot in the window came free.
            self.registrations().await;
        }
    }

    async fn on_request(&mut self, req: Request, from: SocketAddr) {
        let call_id = req.call_id().as_str().to_string();
        match req.method() {
            Method::Invite => self.on_invite(req, call_id, from).await,
            Method::Ack => {
                if let Some(c) = self.calls.get_mut(&call_id) {
                    if c.state == CallState::Answered {
                        c.state = CallState::Confirmed;
                        self.shared.add(&self.shared.acked);
                    }
                }
            }
            Method::Bye => {
                self.reply(&req, 200, from).await;
                if self.calls.contains_key(&call_id) {
                    self.shared.add(&self.shared.byes_received);
                    self.end(&call_id);
                }
            }
            Method::Cancel => {
                self.reply(&req, 200, from).await;
                let ringing = self
                    .calls
                    .get(&call_id)
                    .is_some_and(|c| c.state == CallState::Ringing);
                if ringing {
                    if let Some(c) = self.calls.get(&call_id) {
                        let r = Response::for_request_with_tag(&c.invite, 487, "", &c.tag);
                        self.send(&r.to_bytes(), from).await;
                    }
                    self.shared.add(&self.shared.cancelled);
                    self.end(&call_id);
                }
            }
            // Keep-alive OPTIONS, INFO, UPDATE, NOTIFY...: all fine.
            _ => self.reply(&req, 200, from).await,
        }
    }

    async fn reply(&self, req: &Request, status: u16, to: SocketAddr) {
        let r = Response::for_request(req, status, "");
        self.send(&r.to_bytes(), to).await;
    }

    async fn on_invite(&mut self, req: Request, call_id: String, from: SocketAddr) {
        if let Some(c) = self.calls.get(&call_id) {
            let again = if req.to().tag().is_some() {
                // A re-INVITE (hold, session refresh): the same answer.
                self.answer(&call_id, &req)
            } else {
                // A retransmission: what we said last.
                Some(c.last.clone())
            };
            if let Some(bytes) = again {
                self.send(&bytes, from).await;
            }
            return;
        }
        if req.to().tag().is_some() {
            self.reply(&req, 481, from).await;
            return;
        }
        let user = req.uri().user().or_else(|| req.to().uri.user());
        let Some(&agent) = user.as_ref().and_then(|u| self.by_user.get(u)) else {
            self.reply(&req, 404, from).await;
            return;
        };
        let Some(remote) = super::super::sdp_address(req.body()) else {
            self.reply(&req, 488, from).await;
            return;
        };
        let media = match CallMedia::bind(self.local.ip(), remote) {
            Ok(m) => m,
            Err(_) => {
                self.reply(&req, 503, from).await;
                return;
            }
        };
        let tag = Tag::random();
        let mut ringing = Response::for_request_with_tag(&req, 180, "", &tag);
        ringing.headers.push("Contact", self.contact(agent));
        let last = ringing.to_bytes();
        self.send(&last, from).await;
        self.shared.invites.fetch_add(1, Ordering::Relaxed);
        self.shared.add(&self.shared.active);
        self.answers
            .push_back((Instant::now() + self.opts.answer_after, call_id.clone()));
        self.calls.insert(
            call_id,
            AgentCall {
                invite: req,
                peer: from,
                tag,
                agent,
                media,
                state: CallState::Ringing,
                last,
                answered_at: Instant::now(),
                resent: 0,
            },
        );
    }

    fn contact(&self, agent: usize) -> String {
        format!("<sip:{}@{}>", self.regs[agent].login.user, self.local)
    }

    /// The 200 with our SDP for `req` (the INVITE or a re-INVITE).
    fn answer(&self, call_id: &str, req: &Request) -> Option<Vec<u8>> {
        let c = self.calls.get(call_id)?;
        let ip = self.local.ip();
        let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
        let sdp = format!(
            "v=0\r\no=agent 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
            port = c.media.port
        );
        let mut ok = Response::for_request_with_tag(req, 200, "", &c.tag);
        ok.headers.push("Contact", self.contact(c.agent));
        ok.headers.push("Content-Type", "application/sdp");
        ok.body = sdp.into_bytes();
        Some(ok.to_bytes())
    }

    /// Answer the calls whose ring time is up.
    async fn answer_due(&mut self) {
        let now = Instant::now();
        while let Some((at, _)) = self.answers.front() {
            if *at > now {
                break;
            }
            let Some((_, call_id)) = self.answers.pop_front() else {
                break;
            };
            let Some(c) = self.calls.get(&call_id) else {
                continue; // cancelled while ringing
            };
            if c.state != CallState::Ringing {
                continue;
            }
            let invite = c.invite.clone();
            let Some(ok) = self.answer(&call_id, &invite) else {
                continue;
            };
            let peer = c.peer;
            self.send(&ok, peer).await;
            if let Some(c) = self.calls.get_mut(&call_id) {
                c.state = CallState::Answered;
                c.last = ok;
                c.answered_at = now;
            }
            self.shared.add(&self.shared.answered);
        }
    }

    /// Every 20 ms: one packet for every answered call, 200s not yet
    /// ACKed again, and the agent's own hang-ups.
    async fn on_tick(&mut self) {
        let now = Instant::now();
        let mut resend = Vec::new();
        let mut hang_up = Vec::new();
        let mut dead = Vec::new();
        for (id, c) in &mut self.calls {
            if c.state == CallState::Ringing {
                continue;
            }
            c.media.tick();
            let since = now.duration_since(c.answered_at);
            if c.state == CallState::Answered && since >= RESEND * (c.resent + 1) {
                if c.resent >= MAX_RESENDS {
                    dead.push(id.clone());
                } else {
                    c.resent += 1;
                    resend.push((c.last.clone(), c.peer));
                }
            }
            if let Some(after) = self.opts.hang_up_after {
                if c.state == CallState::Confirmed && since >= after {
                    hang_up.push(id.clone());
                }
            }
        }
        for (bytes, peer) in resend {
            self.send(&bytes, peer).await;
        }
        for id in dead {
            self.end(&id);
        }
        for id in hang_up {
            if let Some(text) = self.bye(&id) {
                let peer = self.calls[&id].peer;
                self.send(text.as_bytes(), peer).await;
                self.shared.add(&self.shared.byes_sent);
            }
            self.end(&id);
        }
    }

    /// Our BYE in the call's dialog (we are its UAS: From and To swap).
    fn bye(&self, call_id: &str) -> Option<String> {
        let c = self.calls.get(call_id)?;
        let h = c.invite.headers();
        let target = c
            .invite
            .contacts()
            .first()
            .map(|n| n.uri.as_str().to_string())?;
        Some(format!(
            "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b:016x};rport\r\nMax-Forwards: 70\r\n\
             From: {to};tag={tag}\r\nTo: {from}\r\nCall-ID: {call_id}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
            local = self.local,
            b = rand::random::<u64>(),
            to = h.get("To")?,
            tag = c.tag.as_str(),
            from = h.get("From")?,
        ))
    }

    fn end(&mut self, call_id: &str) {
        let Some(c) = self.calls.remove(call_id) else {
            return;
        };
        let heard = c.media.finish();
        if let Ok(mut total) = self.shared.heard.lock() {
            total.merge(&heard);
        }
        self.shared.active.fetch_sub(1, Ordering::Relaxed);
        self.shared.bump();
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
