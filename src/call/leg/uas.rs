//! The caller's leg: hotline as the UAS of the caller's INVITE.
//!
//! It owns the dialog, the INVITE's responses (180, the 200 with our SDP,
//! or a refusal), the 2xx retransmission until the ACK (RFC 6026, through
//! [`AckWaiter`]), the RFC 4028 session timer, and the answers to in-dialog
//! requests. Every message it sends goes through the dispatcher
//! ([`ToDispatch`]): one path from a call to the wire.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::LegEvent;
use crate::call::media::OfferRefusal;
use crate::call::session::CallSetup;
use crate::call::{CallEvent, CallSettings, EndReason, ToDispatch};
use crate::sip::dialog::Dialog;
use crate::sip::error::ProtocolError;
use crate::sip::message::{Method, Request, Response, Tag};
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::{Kind, ReplyTo};
use crate::sip::uas::{AckInput, AckOutput, AckWaiter};
use crate::sip::validate::{Accepted, Refresher, SessionTimer};

/// Where the leg's INVITE stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UasState {
    /// No final response yet (180 may have gone out).
    Ringing,
    /// 200 OK sent; the dialog is confirmed by the ACK.
    Answered,
    /// A final non-2xx went out, or the leg ended.
    Done,
}

/// The UAS side of the caller's call.
pub struct UasLeg {
    invite: Request,
    invite_key: TransactionKey,
    local_tag: Tag,
    dialog: Dialog,
    state: UasState,
    settings: Arc<CallSettings>,
    /// Where the INVITE came from: responses and our requests go there
    /// (symmetric signalling works through NAT).
    source: SocketAddr,
    reply: ReplyTo,
    kind: Kind,
    dispatch: mpsc::Sender<ToDispatch>,
    ack: Option<AckWaiter>,
    session_timer: Option<SessionTimer>,
    session_expires: Option<Instant>,
    answered_at: Option<DateTime<Utc>>,
}

impl UasLeg {
    /// The leg for `setup`'s INVITE. An INVITE that cannot make a dialog
    /// (no usable Contact, no From tag) is refused here with the status
    /// the protocol error names, and `None` comes back.
    pub async fn start(setup: &CallSetup, dispatch: mpsc::Sender<ToDispatch>) -> Option<Self> {
        let local_tag = setup.dialog.local_tag.clone();
        match Dialog::new_uas(&setup.invite, local_tag.clone()) {
            Ok(dialog) => Some(UasLeg {
                invite: setup.invite.clone(),
                invite_key: setup.invite_key.clone(),
                local_tag,
                dialog,
                state: UasState::Ringing,
                settings: setup.settings.clone(),
                source: setup.source,
                reply: setup.reply.clone(),
                kind: setup.kind,
                dispatch,
                ack: None,
                session_timer: setup.accepted.session_timer.clone(),
                session_expires: None,
                answered_at: None,
            }),
            Err(e) => {
                refuse_without_dialog(&setup.invite, &setup.invite_key, &local_tag, &e, &dispatch)
                    .await;
                None
            }
        }
    }

    pub fn state(&self) -> UasState {
        self.state
    }

    pub fn invite(&self) -> &Request {
        &self.invite
    }

    pub fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.answered_at
    }

    /// 180 Ringing (with our Contact, so early dialogs work).
    pub async fn ring(&mut self) {
        self.respond_invite(180, "Ringing", None, vec![]).await;
    }

    /// A final refusal of the INVITE (488, 503 with Retry-After, 403, ...).
    pub async fn refuse(&mut self, status: u16, reason: &str, headers: Vec<(&str, String)>) {
        if self.state != UasState::Ringing {
            return;
        }
        self.respond_invite(status, reason, None, headers).await;
        self.state = UasState::Done;
    }

    /// Answer with 200 OK carrying `sdp`, and retransmit it until the ACK.
    pub async fn answer(&mut self, sdp: String) {
        if self.state != UasState::Ringing {
            return;
        }
        let mut resp = self.invite_response(200, "OK");
        self.decorate(&mut resp, Some(sdp));
        self.ack = Some(AckWaiter::new(
            Instant::now(),
            resp.clone(),
            self.settings.timers,
        ));
        self.respond(self.invite_key.clone(), resp).await;
        self.state = UasState::Answered;
        self.answered_at = Some(Utc::now());
        self.arm_session_timer();
    }

    /// The leg's next deadline: a 2xx retransmission or the session timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ack.as_ref().and_then(AckWaiter::poll_timeout),
            self.session_expires,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Deadlines that passed at `now`; `Some` if the leg ended (we sent BYE).
    pub async fn on_timeout(&mut self, now: Instant) -> Option<EndReason> {
        let mut outputs = Vec::new();
        if let Some(ack) = self.ack.as_mut() {
            if ack.poll_timeout().is_some_and(|t| t <= now) {
                ack.handle(now, AckInput::Timeout);
            }
            while let Some(o) = ack.poll_output() {
                outputs.push(o);
            }
        }
        for o in outputs {
            match o {
                AckOutput::Retransmit(response) => {
                    let _ = self
                        .dispatch
                        .send(ToDispatch::Transmit {
                            response: Box::new(response),
                            dest: self.source,
                            reply: self.reply.clone(),
                        })
                        .await;
                }
                AckOutput::GiveUp => {
                    tracing::warn!("no ACK for our 200 OK within 64*T1: hanging up");
                    self.hang_up().await;
                    return Some(EndReason::NoAck);
                }
            }
        }
        if self.session_expires.is_some_and(|t| t <= now) {
            tracing::info!("session timer expired without a refresh: hanging up");
            self.hang_up().await;
            return Some(EndReason::SessionExpired);
        }
        None
    }

    /// An event the dispatcher routed to this call.
    pub async fn on_event(&mut self, ev: CallEvent) -> Option<LegEvent> {
        match ev {
            CallEvent::Cancel if self.state == UasState::Ringing => {
                self.respond_invite(487, "Request Terminated", None, vec![])
                    .await;
                self.state = UasState::Done;
                Some(LegEvent::Ended(EndReason::CallerCancelled))
            }
            CallEvent::Cancel => None,
            CallEvent::Ack(ack) => {
                if let Some(w) = self.ack.as_mut() {
                    w.handle(Instant::now(), AckInput::Ack);
                }
                let answer = (!ack.body().is_empty()).then(|| ack.body().to_vec());
                Some(LegEvent::Acked { answer })
            }
            CallEvent::Request {
                key,
                request,
                accepted,
            } => self.on_request(key, *request, accepted).await,
            // Not the caller's leg's business: the session routes these.
            CallEvent::Response { .. }
            | CallEvent::InviteTimedOut { .. }
            | CallEvent::Routing(_) => None,
            CallEvent::Shutdown => {
                match self.state {
                    UasState::Ringing => {
                        self.refuse(
                            503,
                            "Service Unavailable",
                            vec![("Retry-After", "30".into())],
                        )
                        .await
                    }
                    UasState::Answered => self.hang_up().await,
                    UasState::Done => {}
                }
                Some(LegEvent::Ended(EndReason::Shutdown))
            }
        }
    }

    async fn on_request(
        &mut self,
        key: TransactionKey,
        req: Request,
        accepted: Accepted,
    ) -> Option<LegEvent> {
        if !self.dialog.accept_remote_cseq(req.cseq()) {
            let resp =
                Response::for_request(&req, 500, "Server Internal Error (CSeq out of order)");
            self.respond(key, resp).await;
            return None;
        }
        match req.method() {
            Method::Bye => {
                self.respond(key, Response::for_request(&req, 200, "OK"))
                    .await;
                if self.state == UasState::Ringing {
                    self.respond_invite(487, "Request Terminated", None, vec![])
                        .await;
                }
                self.state = UasState::Done;
                Some(LegEvent::Ended(EndReason::CallerHungUp))
            }
            Method::Info => super::answer_info(&self.dispatch, key, &req).await,
            Method::Invite if self.state == UasState::Answered => {
                if accepted.session_timer.is_some() {
                    self.session_timer = accepted.session_timer;
                }
                Some(LegEvent::Offer {
                    key,
                    request: Box::new(req),
                    offer: accepted.sdp,
                })
            }
            Method::Invite => {
                // A re-INVITE before our 200: RFC 3261 §14.2 says 500 with
                // Retry-After (we are still deciding the first offer).
                let mut resp = Response::for_request(&req, 500, "Server Internal Error");
                resp.headers.push("Retry-After", "2");
                self.respond(key, resp).await;
                None
            }
            Method::Update => {
                self.session_timer = accepted.session_timer.or(self.session_timer.take());
                Some(LegEvent::Offer {
                    key,
                    request: Box::new(req),
                    offer: accepted.sdp,
                })
            }
            Method::Refer => {
                // 403: understood, but a caller may not transfer the desk's
                // call anywhere (see `session::refer::Refusal::FORBIDDEN`).
                tracing::info!("REFER from the caller refused");
                let resp = Response::for_request_with_tag(
                    &req,
                    403,
                    "Forbidden (callers cannot transfer)",
                    &self.local_tag,
                );
                self.respond(key, resp).await;
                None
            }
            other => {
                tracing::debug!(method = %other, "unexpected in-dialog method");
                self.respond(key, Response::for_request(&req, 405, "Method Not Allowed"))
                    .await;
                None
            }
        }
    }

    /// Answer the re-INVITE or UPDATE of a [`LegEvent::Offer`]: 200 with
    /// our SDP, or the refusal status (the old session stays).
    pub async fn answer_offer(
        &mut self,
        key: TransactionKey,
        req: &Request,
        answer: Result<Option<String>, OfferRefusal>,
    ) {
        let sdp = match answer {
            Ok(sdp) => sdp,
            Err(refusal) => {
                let mut resp = Response::for_request_with_tag(
                    req,
                    refusal.status,
                    refusal.reason,
                    &self.local_tag,
                );
                for (n, v) in refusal.headers() {
                    resp.headers.push(n, v);
                }
                return self.respond(key, resp).await;
            }
        };
        self.arm_session_timer();
        let mut resp = Response::for_request_with_tag(req, 200, "OK", &self.local_tag);
        self.decorate(&mut resp, sdp);
        if *req.method() == Method::Invite {
            self.ack = Some(AckWaiter::new(
                Instant::now(),
                resp.clone(),
                self.settings.timers,
            ));
        }
        self.respond(key, resp).await;
    }

    /// Send BYE (we do not wait for its 200) and mark the leg done.
    pub async fn hang_up(&mut self) {
        if self.state != UasState::Answered {
            return;
        }
        self.state = UasState::Done;
        let transport = match self.kind {
            Kind::Udp => "UDP",
            Kind::Tcp => "TCP",
        };
        let ip = self.settings.local_ip(&self.invite);
        let sent_by = SocketAddr::new(ip, self.settings.sip_listen.port()).to_string();
        match self.dialog.bye(transport, &sent_by) {
            Ok(bye) => {
                let _ = self
                    .dispatch
                    .send(ToDispatch::Request {
                        request: Box::new(bye),
                        dest: self.source,
                        reply: self.reply.clone(),
                        done: None,
                    })
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "could not build BYE"),
        }
    }

    /// RFC 4028: when the caller refreshes, a missed refresh ends the call.
    fn arm_session_timer(&mut self) {
        self.session_expires = self
            .session_timer
            .as_ref()
            .filter(|st| st.refresher == Refresher::Uac)
            .map(|st| Instant::now() + std::time::Duration::from_secs(st.interval.into()));
    }

    fn invite_response(&self, status: u16, reason: &str) -> Response {
        Response::for_request_with_tag(&self.invite, status, reason, &self.local_tag)
    }

    fn contact(&self) -> String {
        let ip = self.settings.local_ip(&self.invite);
        let port = self.settings.sip_listen.port();
        let host = match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        let transport = match self.kind {
            Kind::Udp => "",
            Kind::Tcp => ";transport=tcp",
        };
        format!("<sip:hotline@{host}:{port}{transport}>")
    }

    fn decorate(&self, resp: &mut Response, sdp: Option<String>) {
        if resp.status >= 200 && resp.status < 300 || resp.status == 180 {
            resp.headers.push("Contact", self.contact());
        }
        if resp.status >= 200 && resp.status < 300 {
            resp.headers
                .push("Allow", self.settings.policy.allow_header());
            resp.headers
                .push("Supported", self.settings.policy.supported_header());
            if let Some(st) = &self.session_timer {
                resp.headers.push("Session-Expires", st.header_value());
                if st.require_timer {
                    resp.headers.push("Require", "timer");
                }
            }
        }
        if let Some(body) = sdp {
            resp.headers.push("Content-Type", "application/sdp");
            resp.body = body.into_bytes();
        }
    }

    async fn respond_invite(
        &mut self,
        status: u16,
        reason: &str,
        sdp: Option<String>,
        headers: Vec<(&str, String)>,
    ) {
        let mut resp = self.invite_response(status, reason);
        for (n, v) in headers {
            resp.headers.push(n, v);
        }
        self.decorate(&mut resp, sdp);
        self.respond(self.invite_key.clone(), resp).await;
    }

    async fn respond(&self, key: TransactionKey, resp: Response) {
        super::respond(&self.dispatch, key, resp).await;
    }
}

/// Refuse an INVITE that cannot make a dialog, with the error's status.
async fn refuse_without_dialog(
    invite: &Request,
    key: &TransactionKey,
    local_tag: &Tag,
    e: &ProtocolError,
    dispatch: &mpsc::Sender<ToDispatch>,
) {
    let resp = Response::for_request_with_tag(invite, e.status(), &e.reason(), local_tag);
    let _ = dispatch
        .send(ToDispatch::Respond {
            key: key.clone(),
            response: Box::new(resp),
        })
        .await;
}
