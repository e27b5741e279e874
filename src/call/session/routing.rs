//! The session's side of routing: the flow's `queue` step hands the caller
//! to the desk, routing's decisions reach the intake (announcements, the
//! callback offer, the assignment) and the agent legs ([`Routed`]), and the
//! answered agent's media is bridged to the caller's.

use chrono::Utc;

use super::Call;
use crate::agents::{AgentId, Tier};
use crate::call::desk::{new_entry_id, ToCall};
use crate::call::intake::QueueEvent;
use crate::call::leg::LegEvent;
use crate::call::routed::{RouteContext, Routed, RoutedAction};
use crate::call::{CallEvent, EndReason};
use crate::ivr::machine::{IvrInput, QueueRequest};
use crate::media::session::{self as media_session, MediaCommand, MediaEvent};
use crate::routing::io::Input;
use crate::routing::queue::NewEntry;
use crate::sip::dialog::DialogId;
use crate::tickets::RoutingEvent;

impl Call {
    /// Route one event from the dispatcher: to the agent legs, to routing's
    /// handling, or to the caller's leg.
    pub(super) async fn on_call_event(&mut self, ev: CallEvent) {
        match ev {
            CallEvent::Response { key, response } => {
                let Some(r) = self.routed.as_mut() else {
                    return;
                };
                if let Some(events) = r.on_response(&key, *response).await {
                    self.new_agent_events = Some(events);
                }
            }
            CallEvent::InviteTimedOut { key } => {
                if let Some(r) = self.routed.as_mut() {
                    r.on_invite_timeout(&key).await;
                }
            }
            CallEvent::Routing(msg) => self.on_routing(*msg).await,
            CallEvent::Request {
                key,
                request,
                accepted,
            } if self.is_transferor_dialog(&request) => {
                self.on_transferor_request(key, *request, accepted).await
            }
            CallEvent::Request {
                key,
                request,
                accepted,
            } if self.is_agent_dialog(&request) => {
                let Some(r) = self.routed.as_mut() else {
                    return;
                };
                if let Some(ev) = r.on_agent_request(key, *request, accepted).await {
                    self.on_agent_leg(ev).await;
                }
            }
            ev => {
                if let Some(ev) = self.leg.on_event(ev).await {
                    self.on_leg(ev).await;
                }
            }
        }
    }

    fn is_agent_dialog(&self, req: &crate::sip::message::Request) -> bool {
        let Some(r) = &self.routed else { return false };
        DialogId::for_incoming(req).is_some_and(|id| r.owns_dialog(&id))
    }

    /// After every intake step: the queue step's hand-off and the
    /// caller's acceptance of a callback.
    pub(super) async fn poll_queue(&mut self) {
        loop {
            let Some(ev) = self.intake.as_mut().and_then(|i| i.poll_queue()) else {
                return;
            };
            match ev {
                QueueEvent::Join(req) => self.join_queue(req).await,
                QueueEvent::CallbackRequested { ticket, number } => {
                    tracing::info!(%ticket, %number, "callback requested");
                    if let Some(r) = &self.routed {
                        r.report(Input::CallbackAccepted { entry: r.entry });
                    }
                }
            }
        }
    }

    async fn join_queue(&mut self, req: QueueRequest) {
        let desk = self.setup.services.desk.clone();
        let tier = req.tier.parse::<Tier>();
        let (Some(desk), Ok(tier)) = (desk, tier) else {
            tracing::warn!(tier = %req.tier, "routing unavailable: the flow says goodbye");
            return self.intake_input(IvrInput::QueueUnavailable).await;
        };
        let id = new_entry_id();
        let entry = NewEntry {
            id,
            ticket: req.ticket,
            severity: req.severity.clone(),
            tier,
            sla_start: req.sla_start,
            response_due: req.response_due_at,
            wall_now: Utc::now(),
            language: req.language.clone(),
            callback_requested: false,
        };
        if desk.enqueue(entry, self.setup.handle.clone()).is_err() {
            tracing::warn!("routing desk refused the caller: the flow says goodbye");
            return self.intake_input(IvrInput::QueueUnavailable).await;
        }
        let s = &self.setup.settings;
        let caller = self.setup.caller.user.as_deref().unwrap_or("anonymous");
        let ctx = RouteContext {
            call: self.setup.handle.clone(),
            dispatch: self.dispatch.clone(),
            ports: self.setup.services.ports.clone(),
            media_ip: s.local_ip(&self.setup.invite),
            rtp_timeout: s.rtp_timeout,
            sip_local: std::net::SocketAddr::new(
                s.local_ip(&self.setup.invite),
                s.sip_listen.port(),
            ),
            allow: s.policy.allow_header(),
            supported: s.policy.supported_header(),
            display_name: format!("#{} {caller}", req.ticket),
            severity: req.severity.clone(),
        };
        self.routed = Some(Routed::new(id, req.ticket, desk, ctx));
    }

    /// Routing decided something for this caller.
    async fn on_routing(&mut self, msg: ToCall) {
        let Some(r) = self.routed.as_mut() else {
            return;
        };
        match r.on_routing(msg).await {
            Some(RoutedAction::Bridge {
                user, tier, record, ..
            }) => self.connect_agent(user, tier, record).await,
            Some(RoutedAction::Announce {
                position,
                expected_wait,
            }) => {
                self.intake_input(IvrInput::QueueStatus {
                    position,
                    expected_wait,
                })
                .await
            }
            Some(RoutedAction::OfferCallback) => self.intake_input(IvrInput::OfferCallback).await,
            Some(RoutedAction::AgentGone { .. }) | None => {}
        }
    }

    /// The agent answered and routing assigned the call: the music stops,
    /// the ticket gets its first response, and the legs are bridged.
    async fn connect_agent(&mut self, user: String, tier: Tier, record: bool) {
        self.intake_input(IvrInput::AgentAnswered {
            agent: user.clone(),
            tier: tier.to_string(),
            answered_at: Utc::now(),
        })
        .await;
        let mut recording = record.then(|| self.recording_path());
        if let Some(dir) = recording.as_ref().and_then(|p| p.parent()) {
            if let Err(e) = tokio::fs::create_dir_all(dir).await {
                tracing::error!(error = %e, dir = %dir.display(), "recording directory not made: the call goes on unrecorded");
                recording = None;
            }
        }
        let (Some(caller), Some(agent)) = (
            self.media.handle().cloned(),
            self.routed
                .as_mut()
                .and_then(|r| r.agent_media())
                .and_then(|m| m.handle().cloned()),
        ) else {
            return self.agent_dropped("no media").await;
        };
        match media_session::bridge(&caller, &agent, recording.clone()).await {
            Ok(b) => {
                tracing::info!(agent = %user, %tier, recording = ?recording, "caller and agent bridged");
                self.bridge = Some(b);
            }
            Err(e) => {
                tracing::error!(error = %e, "bridge failed");
                self.agent_dropped("bridge failed").await;
            }
        }
    }

    /// `<recordings>/calls/<date>/<ticket>-<call-id>.wav`.
    fn recording_path(&self) -> std::path::PathBuf {
        let ticket = self
            .routed
            .as_ref()
            .map(|r| r.ticket.to_string())
            .unwrap_or_default();
        let call: String = self
            .setup
            .dialog
            .call_id
            .as_str()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect();
        self.setup
            .services
            .recordings
            .join("calls")
            .join(Utc::now().format("%Y-%m-%d").to_string())
            .join(format!("{ticket}-{call}.wav"))
    }

    /// What the agent's leg reported (its phone's requests).
    async fn on_agent_leg(&mut self, ev: LegEvent) {
        match ev {
            LegEvent::Ended(_) => {
                tracing::info!("the agent hung up: the call ends");
                self.stop_bridge().await;
                if let Some(r) = self.routed.as_mut() {
                    r.agent_left(false).await;
                }
                self.flow_end = Some(crate::tickets::EndReason::AgentCall);
                self.intake_input(IvrInput::CallEnded).await;
                self.hang_up(EndReason::FlowEnded).await;
            }
            LegEvent::Digit(d) => self.agent_key(d.digit).await,
            LegEvent::Offer {
                key,
                request,
                offer,
            } => {
                let Some(r) = self.routed.as_mut() else {
                    return;
                };
                r.answer_agent_offer(key, &request, offer).await;
                // Hold from the agent's phone: the caller hears music until
                // the agent resumes (bridged, a loop takes the place of the
                // agent's voice on the caller's leg).
                let held = r
                    .agent_media()
                    .and_then(|m| m.negotiated())
                    .is_some_and(|n| n.direction != crate::media::sdp::Direction::SendRecv);
                if held != self.agent_on_hold {
                    self.agent_on_hold = held;
                    let music = self.setup.settings.flow.prompts.get("music-on-hold");
                    let cmd = match (held, music) {
                        (true, Some(m)) => MediaCommand::PlayLoop { prompts: vec![m] },
                        _ => MediaCommand::StopPlayback,
                    };
                    tracing::info!(held, "the agent's phone changed hold");
                    self.media.send(cmd).await;
                }
            }
            LegEvent::Refer { key, request } => self.on_refer(key, *request).await,
            LegEvent::Acked { .. } => {}
        }
    }

    /// What the agent's media reported.
    pub(super) async fn on_agent_media(&mut self, ev: MediaEvent) {
        match ev {
            MediaEvent::RtpTimeout { silent_for } => {
                tracing::warn!(?silent_for, "no RTP from the agent: the call was cut");
                self.agent_dropped("rtp timeout").await;
            }
            MediaEvent::Digit(d) => self.agent_key(d.digit).await,
            _ => {}
        }
    }

    /// A key from the agent's phone: `*2` and `*3` send the caller to tier
    /// L2 or L3 (the standard: a request beyond the agent's authority is
    /// escalated within 10 minutes).
    async fn agent_key(&mut self, key: char) {
        tracing::info!(digit = %key, "key from the agent");
        self.agent_keys.push(key);
        if self.agent_keys.len() > 2 {
            self.agent_keys.remove(0);
        }
        let to = match self.agent_keys.as_str() {
            "*2" => Tier::L2,
            "*3" => Tier::L3,
            _ => return,
        };
        self.agent_keys.clear();
        self.escalate(to).await;
    }

    /// Send the caller to tier `to` (the keypad's `*2` / `*3`): the agent's
    /// leg ends (wrap-up), then [`Call::requeue`].
    async fn escalate(&mut self, to: Tier) {
        let Some(r) = self.routed.as_ref() else {
            return;
        };
        let (Some(from), Some(by)) = (r.agent_tier(), r.agent_user()) else {
            return;
        };
        self.stop_bridge().await;
        if let Some(r) = self.routed.as_mut() {
            r.agent_left(true).await;
        }
        self.requeue(from, to, by, None).await;
    }

    /// After the agent let go of the caller (escalation, transfer): the
    /// caller hears that a specialist is being connected, the ticket's
    /// tier follows (`escalated` event, from, to, by), and the caller is
    /// queued again ahead of the SLA order, for tier `to` or offered to
    /// `target` first. False if the desk did not take the caller (the flow
    /// then says goodbye).
    pub(super) async fn requeue(
        &mut self,
        from: Tier,
        to: Tier,
        by: String,
        target: Option<AgentId>,
    ) -> bool {
        let Some(req) = self
            .intake
            .as_ref()
            .and_then(|i| i.queue_request())
            .cloned()
        else {
            return false;
        };
        tracing::info!(%from, %to, agent = %by, ticket = %req.ticket, target = ?target, "escalated by the agent");
        self.intake_input(IvrInput::Escalated {
            from: from.to_string(),
            to: to.to_string(),
            by,
        })
        .await;
        let Some(old) = self.routed.take() else {
            return false;
        };
        let id = new_entry_id();
        let entry = NewEntry {
            id,
            ticket: req.ticket,
            severity: req.severity.clone(),
            tier: to,
            sla_start: req.sla_start,
            response_due: req.response_due_at,
            wall_now: Utc::now(),
            language: req.language.clone(),
            callback_requested: false,
        };
        let call = self.setup.handle.clone();
        let sent = match target {
            Some(agent) => old.desk().transfer(entry, to, agent, call),
            None => old.desk().escalate(entry, to, call),
        };
        if sent.is_err() {
            tracing::warn!("routing desk refused the escalated caller");
            self.intake_input(IvrInput::QueueUnavailable).await;
            return false;
        }
        self.routed = Some(old.requeue(id));
        true
    }

    /// The agent's leg failed mid-call: the caller hears that the call was
    /// cut and that the ticket stays open (the intake says it, then asks to
    /// hang up).
    async fn agent_dropped(&mut self, reason: &str) {
        self.stop_bridge().await;
        let agent = match self.routed.as_mut() {
            Some(r) => {
                let user = r.agent_user().unwrap_or_default();
                r.agent_left(true).await;
                user
            }
            None => String::new(),
        };
        if let Some(intake) = self.intake.as_mut() {
            intake.event(RoutingEvent::CallCut {
                agent: agent.clone(),
                reason: reason.to_string(),
            });
        }
        self.intake_input(IvrInput::AgentLegDropped {
            agent,
            reason: reason.to_string(),
        })
        .await;
    }

    /// The agent side's next deadline (the transferring leg's BYE).
    pub(super) fn agent_deadline(&self) -> Option<std::time::Instant> {
        self.transferor.as_ref().map(|t| t.poll_timeout())
    }

    /// The agent side's deadlines that passed at `now`.
    pub(super) async fn agent_timeout(&mut self, now: std::time::Instant) {
        self.transferor_timeout(now).await;
    }

    pub(super) async fn stop_bridge(&mut self) {
        if let Some(b) = self.bridge.take() {
            let report = b.stop().await;
            tracing::debug!(?report, "bridge stopped");
        }
    }

    /// The caller's call is ending: the agent legs end with it.
    pub(super) async fn finish_routing(&mut self) {
        self.stop_bridge().await;
        self.finish_transfer().await;
        let reason = self.end.unwrap_or(EndReason::Shutdown);
        if let Some(r) = self.routed.as_mut() {
            r.finish(reason).await;
        }
    }
}
