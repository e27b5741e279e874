//! One call, one task: it owns the dialog, the answer timer, the 2xx
//! retransmission, the media leg and the session timer, and reacts to the
//! events the dispatcher routes to it.
//!
//! The life of a call: the offer is checked first (a call we cannot take is
//! refused at once, never left ringing), 180 Ringing goes out, and the 200 OK
//! follows `after_rings * ring_period` after the INVITE arrived. The 200 is
//! retransmitted until the ACK (RFC 6026); no ACK within 64*T1 means BYE.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::intake::{self as intake, CallIntake, IntakeOutput, IntakeServices};
use super::{CallEvent, CallServices, CallSettings, EndReason, ToDispatch};
use crate::ivr::machine::{CallFacts, IvrInput};
use crate::media::ports::RtpPort;
use crate::media::sdp::{self, LocalMedia, Negotiated};
use crate::media::session::{self as media, MediaCommand, MediaEvent, MediaHandle, SessionConfig};
use crate::sip::dialog::{Dialog, DialogId};
use crate::sip::identity::CallerIdentity;
use crate::sip::message::{Method, Request, Response};
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::{self, Kind, ReplyTo};
use crate::sip::uas::{AckInput, AckOutput, AckWaiter};
use crate::sip::validate::{Accepted, Refresher, SessionTimer};

/// Everything a call starts with, from the dispatcher.
pub struct CallSetup {
    pub invite: Request,
    pub invite_key: TransactionKey,
    pub dialog: DialogId,
    pub accepted: Accepted,
    pub caller: CallerIdentity,
    /// Where the INVITE came from: responses and our requests go there
    /// (symmetric signalling works through NAT).
    pub source: SocketAddr,
    pub reply: ReplyTo,
    pub kind: Kind,
    /// SLA start: the INVITE's arrival.
    pub received_at: DateTime<Utc>,
    pub received: Instant,
    pub settings: Arc<CallSettings>,
    pub services: CallServices,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ringing,
    /// 200 OK sent; the dialog is confirmed by the ACK.
    Answered,
}

struct Call {
    setup: CallSetup,
    dialog: Dialog,
    state: State,
    dispatch: mpsc::Sender<ToDispatch>,
    ack: Option<AckWaiter>,
    /// Our RTP port: held from before ringing until the media starts.
    port: Option<RtpPort>,
    rtp_local: Option<SocketAddr>,
    session_id: u64,
    media: Option<MediaHandle>,
    media_remote: Option<SocketAddr>,
    /// A codec change needs a new media session (see `renegotiate`).
    restart_media: bool,
    /// A freshly started session's events, picked up by the event loop.
    new_media_events: Option<mpsc::UnboundedReceiver<MediaEvent>>,
    media_task: Option<tokio::task::JoinHandle<media::SessionReport>>,
    /// The IVR intake, from the answer on.
    intake: Option<CallIntake>,
    /// Its ticket answers, picked up by the event loop.
    new_intake_results: Option<mpsc::UnboundedReceiver<IvrInput>>,
    /// Set when the flow itself ended the call.
    flow_end: Option<crate::tickets::EndReason>,
    negotiated: Option<Negotiated>,
    answered_at: Option<DateTime<Utc>>,
    session_timer: Option<SessionTimer>,
    session_expires: Option<Instant>,
    sdp_version: u64,
    end: Option<EndReason>,
}

/// Run one call to its end. Never panics on what the peer sends.
pub async fn run(
    setup: CallSetup,
    events: mpsc::Receiver<CallEvent>,
    dispatch: mpsc::Sender<ToDispatch>,
) {
    let caller = setup
        .caller
        .user
        .clone()
        .unwrap_or_else(|| setup.caller.uri.to_string());
    let span = tracing::info_span!("call", call_id = %setup.dialog.call_id, caller = %caller);
    let dialog_id = setup.dialog.clone();
    let done = dispatch.clone();
    async move {
        let local_tag = setup.dialog.local_tag.clone();
        let dialog = match Dialog::new_uas(&setup.invite, local_tag) {
            Ok(d) => d,
            Err(e) => {
                let resp = Response::for_request_with_tag(
                    &setup.invite,
                    e.status(),
                    &e.reason(),
                    &setup.dialog.local_tag,
                );
                let _ = dispatch
                    .send(ToDispatch::Respond {
                        key: setup.invite_key.clone(),
                        response: Box::new(resp),
                    })
                    .await;
                let _ = done.send(ToDispatch::Ended { dialog: dialog_id }).await;
                return;
            }
        };
        let mut call = Call {
            session_timer: setup.accepted.session_timer.clone(),
            setup,
            dialog,
            state: State::Ringing,
            dispatch,
            ack: None,
            port: None,
            rtp_local: None,
            session_id: rand::random::<u32>().into(),
            media: None,
            media_remote: None,
            restart_media: false,
            new_media_events: None,
            media_task: None,
            intake: None,
            new_intake_results: None,
            flow_end: None,
            negotiated: None,
            answered_at: None,
            session_expires: None,
            sdp_version: 1,
            end: None,
        };
        call.run(events).await;
        let _ = done.send(ToDispatch::Ended { dialog: dialog_id }).await;
    }
    .instrument(span)
    .await
}

impl Call {
    async fn run(&mut self, mut events: mpsc::Receiver<CallEvent>) {
        tracing::info!(
            from = %self.setup.source,
            private = self.setup.caller.private,
            identity = ?self.setup.caller.source,
            "incoming call"
        );
        if !self.prepare().await {
            self.finish();
            return;
        }
        self.respond_invite(180, "Ringing", None).await;
        let answer_at = self.setup.received + self.setup.settings.answer_delay();
        let mut media_events: Option<mpsc::UnboundedReceiver<MediaEvent>> = None;
        let mut intake_results: Option<mpsc::UnboundedReceiver<IvrInput>> = None;
        while self.end.is_none() {
            if let Some(rx) = self.new_media_events.take() {
                media_events = Some(rx);
            }
            if let Some(rx) = self.new_intake_results.take() {
                intake_results = Some(rx);
            }
            let wake = [
                (self.state == State::Ringing).then_some(answer_at),
                self.ack.as_ref().and_then(AckWaiter::poll_timeout),
                self.session_expires,
                self.intake
                    .as_ref()
                    .and_then(CallIntake::poll_timeout)
                    .map(|t| t.into_std()),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => self.on_event(ev).await,
                    // The dispatcher is gone: nothing can reach us any more.
                    None => self.end = Some(EndReason::Shutdown),
                },
                _ = sleep => self.on_timeout(Instant::now(), answer_at).await,
                ev = async {
                    match media_events.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => match ev {
                    Some(ev) => self.on_media(ev).await,
                    None => media_events = None,
                },
                res = async {
                    match intake_results.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => match res {
                    Some(input) => self.intake_input(input).await,
                    None => intake_results = None,
                },
            }
        }
        self.stop_media().await;
        // What the media said last (a recording finished by the hang-up)
        // still belongs to the intake.
        if let Some(mut rx) = media_events {
            while let Ok(ev) = rx.try_recv() {
                self.on_media(ev).await;
            }
        }
        self.finish_intake().await;
        self.finish();
    }

    /// Answered and media running: the IVR flow begins.
    async fn start_intake(&mut self) {
        if self.intake.is_some() {
            return;
        }
        let caller = &self.setup.caller;
        let facts = CallFacts {
            call_id: self.setup.dialog.call_id.to_string(),
            caller_number: caller.user.clone().unwrap_or_else(|| "anonymous".into()),
            caller_name: caller.display_name.clone(),
            caller_private: caller.private,
            received_at: self.setup.received_at,
            answered_at: self.answered_at,
        };
        let services = IntakeServices {
            store: self.setup.services.store.clone(),
            policy: self.setup.settings.sla.clone(),
            recordings: self.setup.services.recordings.clone(),
        };
        let (intake, out, results) =
            CallIntake::start(self.setup.settings.flow.clone(), facts, services);
        tracing::info!(flow = %self.setup.settings.flow.version(), "intake started");
        self.intake = Some(intake);
        self.new_intake_results = Some(results);
        self.perform(out).await;
    }

    async fn intake_input(&mut self, input: IvrInput) {
        let Some(intake) = self.intake.as_mut() else {
            return;
        };
        let out = intake.input(tokio::time::Instant::now(), input);
        self.perform(out).await;
    }

    async fn perform(&mut self, out: Vec<IntakeOutput>) {
        for o in out {
            match o {
                IntakeOutput::Media(cmd) => {
                    if let Some(media) = &self.media {
                        let _ = media.send(cmd).await;
                    }
                }
                IntakeOutput::Hangup(reason) => {
                    if self.end.is_none() {
                        self.flow_end = Some(reason);
                        self.hang_up(EndReason::FlowEnded).await;
                    }
                }
            }
        }
    }

    /// Persist the intake's last word and the call record.
    async fn finish_intake(&mut self) {
        let reason = self.end.unwrap_or(EndReason::Shutdown);
        let record_reason = self.flow_end.unwrap_or(reason.for_record());
        match self.intake.take() {
            Some(intake) => {
                let hung_up =
                    matches!(reason, EndReason::CallerHungUp | EndReason::CallerCancelled);
                intake
                    .finish(hung_up, record_reason, std::time::Duration::from_secs(10))
                    .await;
            }
            None => intake::record_unanswered(
                &self.setup.services.store,
                crate::tickets::CallRecord::ended_before_intake(
                    self.setup.dialog.call_id.to_string(),
                    self.setup
                        .caller
                        .user
                        .clone()
                        .unwrap_or_else(|| "anonymous".into()),
                    self.setup.received_at,
                    self.answered_at,
                    Utc::now(),
                    record_reason,
                    Some(self.setup.settings.flow.version().to_string()),
                ),
            ),
        }
    }

    /// Start the RTP session once both sides' SDP is known.
    async fn start_media(&mut self) {
        // Both sides' SDP first: a late offer keeps the port until the ACK.
        let Some(neg) = self.negotiated.as_ref() else {
            return;
        };
        let Some(port) = self.port.take() else { return };
        let config = SessionConfig::from_negotiated(neg, self.setup.settings.rtp_timeout);
        match media::spawn(port, &config) {
            Ok(session) => {
                self.media_remote = Some(config.remote);
                self.media = Some(session.handle);
                self.new_media_events = Some(session.events);
                self.media_task = Some(session.task);
                self.start_intake().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "media session failed to start: hanging up");
                self.hang_up(EndReason::Rejected).await;
            }
        }
    }

    async fn on_media(&mut self, ev: MediaEvent) {
        match ev {
            MediaEvent::Digit(d) => {
                tracing::info!(digit = %d.digit, source = ?d.source, duration_ms = d.duration_ms, "DTMF");
                self.intake_input(IvrInput::Digit(d.digit)).await;
            }
            MediaEvent::PlaybackDone { interrupted } => {
                tracing::info!(interrupted, "playback done");
                // Stopped or barged-in plays are the machine's own doing.
                if !interrupted {
                    self.intake_input(IvrInput::PlaybackDone).await;
                }
            }
            MediaEvent::RtpTimeout { silent_for } => {
                tracing::warn!(?silent_for, "no RTP from the caller: hanging up");
                self.hang_up(EndReason::RtpTimeout).await;
            }
            MediaEvent::RecordingError(e) => {
                tracing::error!(error = %e, "recording stopped; the call goes on");
                if let Some(intake) = self.intake.as_mut() {
                    intake.note(format!("voice note recording failed: {e}"));
                }
                // A recording that never started will not report done; one
                // that failed while writing still does, with what it kept.
                if matches!(e, crate::media::record::RecordError::Create { .. }) {
                    self.intake_input(IvrInput::RecordingFailed).await;
                }
            }
            MediaEvent::RecordingStopped(r) => {
                let duration = std::time::Duration::from_secs_f64(r.frames as f64 / 8000.0);
                tracing::info!(path = %r.path.display(), ?duration, complete = r.complete, "recording finished");
                self.intake_input(IvrInput::RecordingDone {
                    path: r.path.display().to_string(),
                    duration,
                })
                .await;
            }
        }
    }

    async fn stop_media(&mut self) {
        if let Some(media) = self.media.take() {
            let _ = media.close().await;
        }
        if let Some(task) = self.media_task.take() {
            if let Ok(report) = task.await {
                tracing::debug!(
                    sent = report.sent,
                    received = report.received.packets,
                    "media report"
                );
            }
        }
    }

    /// Check the offer and get a media port before ringing; false if the
    /// call was refused.
    async fn prepare(&mut self) -> bool {
        if let Some(offer) = self.setup.accepted.sdp.take() {
            match sdp::negotiate(&String::from_utf8_lossy(&offer)) {
                Ok(n) => self.negotiated = Some(n),
                Err(e) => {
                    tracing::info!(error = %e, "offer refused");
                    self.respond_invite(e.sip_status(), "Not Acceptable Here", None)
                        .await;
                    self.end = Some(EndReason::Rejected);
                    return false;
                }
            }
        }
        match self.setup.services.ports.allocate() {
            Ok(port) => {
                self.rtp_local = port.local_addr().ok();
                self.port = Some(port);
            }
            Err(e) => {
                tracing::warn!(error = %e, "no RTP port: 503");
                let mut resp = self.invite_response(503, "Service Unavailable");
                resp.headers.push("Retry-After", "30");
                self.send_invite_response(resp).await;
                self.end = Some(EndReason::Rejected);
                return false;
            }
        }
        true
    }

    fn local_media(&mut self) -> LocalMedia {
        self.sdp_version += 1;
        LocalMedia {
            addr: self.setup.settings.local_ip(&self.setup.invite),
            port: self.rtp_local.map_or(9, |a| a.port()),
            session_id: self.session_id,
            session_version: self.sdp_version,
        }
    }

    /// Our SDP: the answer to the caller's offer, or our offer (late offer).
    fn local_sdp(&mut self) -> String {
        let local = self.local_media();
        match &self.negotiated {
            Some(n) => sdp::build_answer(n, &local),
            None => sdp::build_offer(&local),
        }
    }

    fn invite_response(&self, status: u16, reason: &str) -> Response {
        Response::for_request_with_tag(
            &self.setup.invite,
            status,
            reason,
            &self.setup.dialog.local_tag,
        )
    }

    fn contact(&self) -> String {
        let ip = self.setup.settings.local_ip(&self.setup.invite);
        let port = self.setup.settings.sip_listen.port();
        let host = match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        let transport = match self.setup.kind {
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
                .push("Allow", self.setup.settings.policy.allow_header());
            resp.headers
                .push("Supported", self.setup.settings.policy.supported_header());
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

    async fn respond_invite(&mut self, status: u16, reason: &str, sdp: Option<String>) {
        let mut resp = self.invite_response(status, reason);
        self.decorate(&mut resp, sdp);
        self.send_invite_response(resp).await;
    }

    async fn send_invite_response(&self, resp: Response) {
        self.respond(self.setup.invite_key.clone(), resp).await;
    }

    async fn respond(&self, key: TransactionKey, resp: Response) {
        let _ = self
            .dispatch
            .send(ToDispatch::Respond {
                key,
                response: Box::new(resp),
            })
            .await;
    }

    async fn answer(&mut self) {
        let sdp = self.local_sdp();
        let mut resp = self.invite_response(200, "OK");
        self.decorate(&mut resp, Some(sdp));
        self.ack = Some(AckWaiter::new(
            Instant::now(),
            resp.clone(),
            self.setup.settings.timers,
        ));
        self.send_invite_response(resp).await;
        self.state = State::Answered;
        self.answered_at = Some(Utc::now());
        self.arm_session_timer();
        tracing::info!(
            ring_ms = self.setup.received.elapsed().as_millis() as u64,
            codec = ?self.negotiated.as_ref().map(|n| n.codec),
            "answered"
        );
        self.start_media().await;
    }

    /// RFC 4028: when the caller refreshes, a missed refresh ends the call.
    fn arm_session_timer(&mut self) {
        self.session_expires = self
            .session_timer
            .as_ref()
            .filter(|st| st.refresher == Refresher::Uac)
            .map(|st| Instant::now() + std::time::Duration::from_secs(st.interval.into()));
    }

    async fn on_timeout(&mut self, now: Instant, answer_at: Instant) {
        if self.state == State::Ringing && now >= answer_at {
            self.answer().await;
        }
        if let Some(ack) = self.ack.as_mut() {
            if ack.poll_timeout().is_some_and(|t| t <= now) {
                ack.handle(now, AckInput::Timeout);
            }
            let mut outputs = Vec::new();
            while let Some(o) = ack.poll_output() {
                outputs.push(o);
            }
            for o in outputs {
                match o {
                    AckOutput::Retransmit(resp) => {
                        let _ =
                            transport::send_response(&self.setup.reply, self.setup.source, &resp)
                                .await;
                    }
                    AckOutput::GiveUp => {
                        tracing::warn!("no ACK for our 200 OK within 64*T1: hanging up");
                        self.hang_up(EndReason::NoAck).await;
                    }
                }
            }
        }
        let intake_due = self
            .intake
            .as_ref()
            .and_then(CallIntake::poll_timeout)
            .is_some_and(|t| t.into_std() <= now);
        if intake_due {
            if let Some(intake) = self.intake.as_mut() {
                let out = intake.timeout(tokio::time::Instant::from_std(now));
                self.perform(out).await;
            }
        }
        if self.session_expires.is_some_and(|t| t <= now) {
            tracing::info!("session timer expired without a refresh: hanging up");
            self.hang_up(EndReason::SessionExpired).await;
        }
    }

    async fn on_event(&mut self, ev: CallEvent) {
        match ev {
            CallEvent::Cancel if self.state == State::Ringing => {
                self.respond_invite(487, "Request Terminated", None).await;
                self.end = Some(EndReason::CallerCancelled);
            }
            CallEvent::Cancel => {}
            CallEvent::Ack(ack) => {
                if let Some(w) = self.ack.as_mut() {
                    w.handle(Instant::now(), AckInput::Ack);
                }
                // Late offer: the caller's answer comes in the ACK.
                if self.negotiated.is_none() && !ack.body().is_empty() {
                    match sdp::negotiate(&String::from_utf8_lossy(ack.body())) {
                        Ok(n) => {
                            self.negotiated = Some(n);
                            self.apply_session_change().await;
                        }
                        Err(e) => {
                            tracing::info!(error = %e, "answer in ACK unusable: hanging up");
                            self.hang_up(EndReason::Rejected).await;
                        }
                    }
                }
            }
            CallEvent::Request {
                key,
                request,
                accepted,
            } => self.on_request(key, *request, accepted).await,
            CallEvent::Shutdown => match self.state {
                State::Ringing => {
                    let mut resp = self.invite_response(503, "Service Unavailable");
                    resp.headers.push("Retry-After", "30");
                    self.send_invite_response(resp).await;
                    self.end = Some(EndReason::Shutdown);
                }
                State::Answered => self.hang_up(EndReason::Shutdown).await,
            },
        }
    }

    async fn on_request(&mut self, key: TransactionKey, req: Request, accepted: Accepted) {
        if !self.dialog.accept_remote_cseq(req.cseq()) {
            let resp =
                Response::for_request(&req, 500, "Server Internal Error (CSeq out of order)");
            return self.respond(key, resp).await;
        }
        match req.method() {
            Method::Bye => {
                self.respond(key, Response::for_request(&req, 200, "OK"))
                    .await;
                if self.state == State::Ringing {
                    self.respond_invite(487, "Request Terminated", None).await;
                }
                self.end = Some(EndReason::CallerHungUp);
            }
            Method::Info => {
                if let Ok(d) = crate::media::dtmf::info::parse_info(
                    req.headers().get("Content-Type").unwrap_or(""),
                    &String::from_utf8_lossy(req.body()),
                ) {
                    // Into the one digit stream (duplicates of RTP events dropped there).
                    if let Some(media) = &self.media {
                        let _ = media.inject_digit(d).await;
                    }
                }
                self.respond(key, Response::for_request(&req, 200, "OK"))
                    .await;
            }
            Method::Invite if self.state == State::Answered => {
                self.reinvite(key, req, accepted).await
            }
            Method::Invite => {
                // A re-INVITE before our 200: RFC 3261 §14.2 says 500 with
                // Retry-After (we are still deciding the first offer).
                let mut resp = Response::for_request(&req, 500, "Server Internal Error");
                resp.headers.push("Retry-After", "2");
                self.respond(key, resp).await;
            }
            Method::Update => {
                let sdp = match accepted.sdp {
                    Some(offer) => match self.renegotiate(&offer) {
                        Ok(sdp) => Some(sdp),
                        Err(status) => {
                            return self
                                .respond(key, Response::for_request(&req, status, ""))
                                .await
                        }
                    },
                    None => None,
                };
                self.session_timer = accepted.session_timer.or(self.session_timer.take());
                self.arm_session_timer();
                self.apply_session_change().await;
                let mut resp =
                    Response::for_request_with_tag(&req, 200, "OK", &self.setup.dialog.local_tag);
                self.decorate(&mut resp, sdp);
                self.respond(key, resp).await;
            }
            other => {
                let resp = Response::for_request(&req, 405, "Method Not Allowed");
                tracing::debug!(method = %other, "unexpected in-dialog method");
                self.respond(key, resp).await;
            }
        }
    }

    /// A new offer mid-call (hold, resume, codec change): the answer, or
    /// the status to refuse it with (488) while the old session stays.
    fn renegotiate(&mut self, offer: &[u8]) -> Result<String, u16> {
        match sdp::negotiate(&String::from_utf8_lossy(offer)) {
            Ok(n) => {
                tracing::info!(direction = ?n.direction, codec = ?n.codec, "session modified");
                let format_changed = self.negotiated.as_ref().is_some_and(|old| {
                    (old.codec, old.payload_type, old.telephone_event)
                        != (n.codec, n.payload_type, n.telephone_event)
                });
                tracing::debug!(format_changed, media = self.media.is_some(), "renegotiated");
                if format_changed && self.media.is_some() {
                    // The running session encodes one codec: a codec change
                    // gets a fresh session on a fresh port, named in the answer.
                    let port = self
                        .setup
                        .services
                        .ports
                        .allocate()
                        .map_err(|e| e.sip_status())?;
                    self.rtp_local = port.local_addr().ok();
                    self.port = Some(port);
                    self.restart_media = true;
                }
                self.negotiated = Some(n);
                Ok(self.local_sdp())
            }
            Err(e) => Err(e.sip_status()),
        }
    }

    async fn reinvite(&mut self, key: TransactionKey, req: Request, accepted: Accepted) {
        let sdp = match accepted.sdp {
            Some(offer) => match self.renegotiate(&offer) {
                Ok(sdp) => sdp,
                Err(status) => {
                    let resp = Response::for_request_with_tag(
                        &req,
                        status,
                        "Not Acceptable Here",
                        &self.setup.dialog.local_tag,
                    );
                    return self.respond(key, resp).await;
                }
            },
            // No offer in the re-INVITE: we offer, the ACK answers.
            None => {
                self.negotiated = None;
                self.local_sdp()
            }
        };
        if accepted.session_timer.is_some() {
            self.session_timer = accepted.session_timer;
        }
        self.arm_session_timer();
        self.apply_session_change().await;
        let mut resp =
            Response::for_request_with_tag(&req, 200, "OK", &self.setup.dialog.local_tag);
        self.decorate(&mut resp, Some(sdp));
        self.ack = Some(AckWaiter::new(
            Instant::now(),
            resp.clone(),
            self.setup.settings.timers,
        ));
        self.respond(key, resp).await;
    }

    /// After an offer/answer mid-call: hold, resume, a new address; start
    /// the media if this completed a late offer.
    async fn apply_session_change(&mut self) {
        let Some(neg) = self.negotiated.clone() else {
            return;
        };
        if std::mem::take(&mut self.restart_media) {
            self.stop_media().await;
            self.start_media().await;
            tracing::info!(codec = ?neg.codec, "media restarted for the new codec");
            return;
        }
        let Some(media) = self.media.clone() else {
            if self.state == State::Answered {
                self.start_media().await;
            }
            return;
        };
        if self.media_remote != Some(neg.remote) {
            // Only a new SDP address re-latches: symmetric RTP keeps the
            // NAT mapping it learned otherwise.
            self.media_remote = Some(neg.remote);
            let _ = media.send(MediaCommand::SetRemote(neg.remote)).await;
        }
        let hold = neg.direction != sdp::Direction::SendRecv;
        let _ = media
            .send(if hold {
                MediaCommand::Hold
            } else {
                MediaCommand::Resume
            })
            .await;
    }

    /// Send BYE and end the call (we do not wait for the 200).
    async fn hang_up(&mut self, reason: EndReason) {
        self.end = Some(reason);
        let transport = match self.setup.kind {
            Kind::Udp => "UDP",
            Kind::Tcp => "TCP",
        };
        let ip = self.setup.settings.local_ip(&self.setup.invite);
        let sent_by = SocketAddr::new(ip, self.setup.settings.sip_listen.port()).to_string();
        match self.dialog.bye(transport, &sent_by) {
            Ok(bye) => {
                let _ = self
                    .dispatch
                    .send(ToDispatch::Request {
                        request: Box::new(bye),
                        dest: self.setup.source,
                        reply: self.setup.reply.clone(),
                        done: None,
                    })
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "could not build BYE"),
        }
    }

    /// The call's one summary line.
    fn finish(&self) {
        let reason = self.end.unwrap_or(EndReason::Shutdown);
        tracing::info!(
            reason = %reason,
            received_at = %self.setup.received_at.to_rfc3339(),
            answered_at = %self.answered_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into()),
            duration_ms = self.setup.received.elapsed().as_millis() as u64,
            "call ended"
        );
    }
}
