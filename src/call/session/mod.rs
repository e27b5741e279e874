//! One call, one task: the actor that owns the call's legs, its media and
//! its IVR intake, and reacts to the events the dispatcher routes to it.
//!
//! The life of a call: the offer is checked first (a call we cannot take is
//! refused at once, never left ringing), 180 Ringing goes out, and the 200 OK
//! follows `after_rings * ring_period` after the INVITE arrived. The leg
//! ([`UasLeg`]) does the signalling, [`CallMedia`] the SDP and RTP, and
//! [`CallIntake`] the IVR; this module only wires them together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tracing::Instrument;

mod feature;
mod refer;
mod routing;
mod transfer;

use crate::agents::FeatureCode;
use crate::call::intake::{self as intake, CallIntake, IntakeOutput, IntakeServices};
use crate::call::leg::uas::{UasLeg, UasState};
use crate::call::leg::LegEvent;
use crate::call::media::{CallMedia, OfferRefusal, PrepareError};
use crate::call::{CallEvent, CallServices, CallSettings, EndReason, ToDispatch};
use crate::ivr::machine::{CallFacts, IvrInput};
use crate::media::session::MediaEvent;
use crate::sip::dialog::DialogId;
use crate::sip::identity::CallerIdentity;
use crate::sip::message::Request;
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::{Kind, ReplyTo};
use crate::sip::validate::Accepted;

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
    pub purpose: CallPurpose,
    /// This call's own handle, for the requests it sends (its agents'
    /// responses come back through it).
    pub handle: crate::call::CallHandle,
}

/// Why the phone called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPurpose {
    /// A caller for the desk: the IVR intake.
    Intake,
    /// An agent dialled a feature code: authenticate (407), change the
    /// agent's state, play the confirmation, hang up.
    Feature(FeatureCode),
}

/// A feature-code call whose agent was authenticated.
struct FeatureCall {
    code: FeatureCode,
    language: String,
}

struct Call {
    setup: CallSetup,
    leg: UasLeg,
    media: CallMedia,
    /// A freshly started media session's events, picked up by the loop.
    new_media_events: Option<mpsc::UnboundedReceiver<MediaEvent>>,
    /// The IVR intake, from the answer on.
    intake: Option<CallIntake>,
    /// Its ticket answers, picked up by the event loop.
    new_intake_results: Option<mpsc::UnboundedReceiver<IvrInput>>,
    /// Set when the flow itself ended the call.
    flow_end: Option<crate::tickets::EndReason>,
    /// Set for an agent's feature-code call (no IVR, no call record).
    feature: Option<FeatureCall>,
    /// After the flow's `queue` step: the agent legs and routing's state.
    routed: Option<crate::call::routed::Routed>,
    /// The caller's and the agent's media relayed, once an agent answered.
    bridge: Option<crate::media::session::BridgeHandle>,
    /// The agent's phone put the call on hold (the caller hears music).
    agent_on_hold: bool,
    /// The agent's last keys, for the escalation codes `*2` and `*3`.
    agent_keys: String,
    /// A freshly answered agent leg's media events, picked up by the loop.
    new_agent_events: Option<mpsc::UnboundedReceiver<MediaEvent>>,
    /// The agent's leg after a REFER, until its phone or we hang up.
    transferor: Option<transfer::Transferor>,
    dispatch: mpsc::Sender<ToDispatch>,
    end: Option<EndReason>,
}

/// Run one call to its end. Never panics on what the peer sends.
pub async fn run(
    mut setup: CallSetup,
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
    async move {
        if let Some(leg) = UasLeg::start(&setup, dispatch.clone()).await {
            let media = CallMedia::new(
                setup.services.ports.clone(),
                setup.settings.local_ip(&setup.invite),
                setup.settings.rtp_timeout,
            )
            .with_peer(setup.source.ip(), setup.settings.remote_address);
            // The offer is the leg's no longer: the media checks it.
            let offer = setup.accepted.sdp.take();
            let mut call = Call {
                setup,
                leg,
                media,
                new_media_events: None,
                intake: None,
                new_intake_results: None,
                flow_end: None,
                feature: None,
                routed: None,
                bridge: None,
                new_agent_events: None,
                agent_on_hold: false,
                agent_keys: String::new(),
                transferor: None,
                dispatch: dispatch.clone(),
                end: None,
            };
            call.run(offer, events).await;
        }
        let _ = dispatch.send(ToDispatch::Ended { dialog: dialog_id }).await;
    }
    .instrument(span)
    .await
}

impl Call {
    async fn run(&mut self, offer: Option<Vec<u8>>, mut events: mpsc::Receiver<CallEvent>) {
        tracing::info!(
            from = %self.setup.source,
            private = self.setup.caller.private,
            identity = ?self.setup.caller.source,
            "incoming call"
        );
        if let CallPurpose::Feature(code) = self.setup.purpose {
            if !self.feature_code(code).await {
                self.finish();
                return;
            }
        }
        if !self.prepare(offer).await {
            self.finish();
            return;
        }
        self.leg.ring().await;
        // A caller hears the configured rings; an agent's feature code is
        // answered at once (nobody is being greeted).
        let answer_at = match self.setup.purpose {
            CallPurpose::Intake => self.setup.received + self.setup.settings.answer_delay(),
            CallPurpose::Feature(_) => self.setup.received,
        };
        let mut media_events: Option<mpsc::UnboundedReceiver<MediaEvent>> = None;
        let mut intake_results: Option<mpsc::UnboundedReceiver<IvrInput>> = None;
        let mut agent_events: Option<mpsc::UnboundedReceiver<MediaEvent>> = None;
        while self.end.is_none() {
            self.poll_queue().await;
            if let Some(rx) = self.new_agent_events.take() {
                agent_events = Some(rx);
            }
            if let Some(rx) = self.new_media_events.take() {
                media_events = Some(rx);
            }
            if let Some(rx) = self.new_intake_results.take() {
                intake_results = Some(rx);
            }
            let wake = [
                (self.leg.state() == UasState::Ringing).then_some(answer_at),
                self.leg.poll_timeout(),
                self.agent_deadline(),
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
                    Some(ev) => self.on_call_event(ev).await,
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
                ev = async {
                    match agent_events.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => match ev {
                    Some(ev) => self.on_agent_media(ev).await,
                    None => agent_events = None,
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
        self.finish_routing().await;
        self.media.stop().await;
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

    /// Check the offer and get a media port before ringing; false if the
    /// call was refused.
    async fn prepare(&mut self, offer: Option<Vec<u8>>) -> bool {
        match self.media.prepare(offer.as_deref()) {
            Ok(()) => true,
            Err(PrepareError::Offer(e)) => {
                tracing::info!(error = %e, "offer refused");
                let refusal = OfferRefusal::from(&e);
                self.leg
                    .refuse(refusal.status, refusal.reason, refusal.headers())
                    .await;
                self.end = Some(EndReason::Rejected);
                false
            }
            Err(PrepareError::NoPort(e)) => {
                tracing::warn!(error = %e, "no RTP port: 503");
                self.leg
                    .refuse(
                        503,
                        "Service Unavailable",
                        vec![("Retry-After", "30".into())],
                    )
                    .await;
                self.end = Some(EndReason::Rejected);
                false
            }
        }
    }

    /// What the caller's leg reported.
    async fn on_leg(&mut self, ev: LegEvent) {
        match ev {
            LegEvent::Ended(reason) => self.end = Some(reason),
            // The caller's leg answers REFER itself (403).
            LegEvent::Refer { .. } => {}
            LegEvent::Acked { answer } => {
                // Media may now go to an SDP address that sent nothing yet.
                self.media.confirm().await;
                // Late offer: the caller's answer comes in the ACK.
                if let (None, Some(answer)) = (self.media.negotiated(), answer) {
                    match self.media.take_answer(&answer) {
                        Ok(()) => self.apply_media_change().await,
                        Err(e) => {
                            tracing::info!(error = %e, "answer in ACK unusable: hanging up");
                            self.hang_up(EndReason::Rejected).await;
                        }
                    }
                }
            }
            LegEvent::Digit(d) => {
                // Into the one digit stream (duplicates of RTP events dropped there).
                if let Some(media) = self.media.handle() {
                    let _ = media.inject_digit(d).await;
                }
            }
            LegEvent::Offer {
                key,
                request,
                offer,
            } => {
                let is_invite = *request.method() == crate::sip::message::Method::Invite;
                let answer = match offer {
                    Some(offer) => self.media.renegotiate(&offer).map(Some),
                    // A re-INVITE without an offer: we offer, the ACK answers.
                    None if is_invite => {
                        self.media.expect_answer();
                        Ok(Some(self.media.local_sdp()))
                    }
                    // An UPDATE without SDP only refreshes the session timer.
                    None => Ok(None),
                };
                if answer.is_ok() {
                    self.apply_media_change().await;
                }
                self.leg.answer_offer(key, &request, answer).await;
            }
        }
    }

    /// After an offer/answer: start, re-point, hold or restart the media;
    /// a session that just started begins the IVR.
    async fn apply_media_change(&mut self) {
        let answered = self.leg.state() == UasState::Answered;
        match self.media.apply_change(answered).await {
            Ok(Some(events)) => {
                self.new_media_events = Some(events);
                if self.feature.is_some() {
                    self.confirm_feature().await;
                } else {
                    self.start_intake().await;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "media session failed to start: hanging up");
                self.hang_up(EndReason::Rejected).await;
            }
        }
    }

    async fn on_timeout(&mut self, now: Instant, answer_at: Instant) {
        if self.leg.state() == UasState::Ringing && now >= answer_at {
            self.answer().await;
        }
        if let Some(reason) = self.leg.on_timeout(now).await {
            self.end = Some(reason);
        }
        self.agent_timeout(now).await;
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
    }

    async fn answer(&mut self) {
        let sdp = self.media.local_sdp();
        self.leg.answer(sdp).await;
        tracing::info!(
            ring_ms = self.setup.received.elapsed().as_millis() as u64,
            codec = ?self.media.negotiated().map(|n| n.codec),
            "answered"
        );
        self.apply_media_change().await;
    }

    async fn hang_up(&mut self, reason: EndReason) {
        self.end = Some(reason);
        self.leg.hang_up().await;
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
            answered_at: self.leg.answered_at(),
        };
        let services = IntakeServices {
            store: self.setup.services.store.clone(),
            policy: self.setup.settings.sla.clone(),
            recordings: self.setup.services.recordings.clone(),
            staffing: self.setup.settings.staffing.clone(),
        };
        let (mut intake, out, results) =
            CallIntake::start(self.setup.settings.flow.clone(), facts, services);
        if self.setup.services.desk.is_some() {
            intake.enable_routing();
        }
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
                IntakeOutput::Media(cmd) => self.media.send(cmd).await,
                IntakeOutput::Hangup(reason) => {
                    if self.end.is_none() {
                        self.flow_end = Some(reason);
                        self.hang_up(EndReason::FlowEnded).await;
                    }
                }
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
                if self.feature.is_some() {
                    return self.hang_up(EndReason::FlowEnded).await;
                }
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
                if r.layout == crate::media::record::Layout::Stereo {
                    // The caller-and-agent recording: its path goes on the ticket.
                    if let Some(intake) = self.intake.as_mut() {
                        intake.event(crate::tickets::RoutingEvent::Recorded {
                            path: r.path.display().to_string(),
                        });
                    }
                    return;
                }
                self.intake_input(IvrInput::RecordingDone {
                    path: r.path.display().to_string(),
                    duration,
                })
                .await;
            }
        }
    }

    /// Persist the intake's last word and the call record (an agent's
    /// feature-code call is not a call to the desk: it leaves none).
    async fn finish_intake(&mut self) {
        if self.feature.is_some() || matches!(self.setup.purpose, CallPurpose::Feature(_)) {
            return;
        }
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
                    self.leg.answered_at(),
                    Utc::now(),
                    record_reason,
                    Some(self.setup.settings.flow.version().to_string()),
                ),
            ),
        }
    }

    /// The call's one summary line.
    fn finish(&self) {
        let reason = self.end.unwrap_or(EndReason::Shutdown);
        tracing::info!(
            reason = %reason,
            received_at = %self.setup.received_at.to_rfc3339(),
            answered_at = %self.leg.answered_at().map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into()),
            duration_ms = self.setup.received.elapsed().as_millis() as u64,
            "call ended"
        );
    }
}
