//! A caller's time after the IVR: waiting in the queue while routing rings
//! agents, and then talking to the agent who answered.
//!
//! [`Routed`] owns the agent legs of one call ([`UacLeg`], each with its own
//! [`CallMedia`]) and turns routing's decisions ([`ToCall`]) and the
//! phones' answers into what the session must do ([`RoutedAction`]): bridge
//! the media, hang up the caller, play a prompt. It reports every outcome to
//! the desk, which tells routing. The session keeps the caller's leg and
//! media; this module never touches them.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::desk::{DeskHandle, ToCall};
use super::leg::uac::{Ring, UacEvent, UacLeg};
use super::leg::LegEvent;
use super::media::CallMedia;
use super::{CallHandle, EndReason, ToDispatch};
use crate::agents::{AgentId, Tier};
use crate::media::ports::PortAllocator;
use crate::media::session::{MediaEvent, RemotePolicy};
use crate::routing::io::{Input, LeaveReason, OfferFailure};
use crate::routing::queue::QueueEntryId;
use crate::sip::dialog::DialogId;
use crate::sip::message::Request;
use crate::sip::transaction::TransactionKey;
use crate::sip::validate::Accepted;
use crate::tickets::TicketNumber;

/// What the session must do for the routed call.
#[derive(Debug)]
pub enum RoutedAction {
    /// An agent answered and routing assigned the call: connect the
    /// caller's media with `agent_media` (recording when `record`).
    Bridge {
        agent: AgentId,
        /// The agent's SIP user (for the ticket).
        user: String,
        tier: Tier,
        waited: Duration,
        record: bool,
    },
    /// The agent's side is over: the caller's call ends too (`cut`: the
    /// agent leg failed mid-call rather than hanging up, so the caller
    /// hears that first).
    AgentGone {
        cut: bool,
    },
    /// Tell the caller where they stand.
    Announce {
        position: usize,
        expected_wait: Option<Duration>,
    },
    OfferCallback,
}

/// The fixed facts an agent's INVITE carries.
#[derive(Clone)]
pub struct RouteContext {
    pub call: CallHandle,
    pub dispatch: mpsc::Sender<ToDispatch>,
    pub ports: PortAllocator,
    /// Our RTP address for agents' legs.
    pub media_ip: IpAddr,
    pub rtp_timeout: Duration,
    /// Our SIP address as agents' phones know it.
    pub sip_local: SocketAddr,
    pub allow: String,
    pub supported: String,
    /// What the agent's phone shows (`#1042 5551234`) and the headers.
    pub display_name: String,
    pub severity: String,
}

/// One ringing (or answered) contact of an agent.
struct AgentLeg {
    agent: AgentId,
    user: String,
    tier: Tier,
    leg: UacLeg,
    media: CallMedia,
    /// Routing withdrew this offer: its failure is not reported.
    withdrawn: bool,
}

pub struct Routed {
    pub entry: QueueEntryId,
    pub ticket: TicketNumber,
    desk: DeskHandle,
    ctx: RouteContext,
    ringing: Vec<AgentLeg>,
    /// The leg that answered (until the call ends).
    connected: Option<AgentLeg>,
    /// Routing's `Assigned` for the connected agent arrived.
    assigned: bool,
    pub enqueued: Instant,
    ended: bool,
}

impl Routed {
    pub fn new(
        entry: QueueEntryId,
        ticket: TicketNumber,
        desk: DeskHandle,
        ctx: RouteContext,
    ) -> Self {
        Routed {
            entry,
            ticket,
            desk,
            ctx,
            ringing: Vec::new(),
            connected: None,
            assigned: false,
            enqueued: Instant::now(),
            ended: false,
        }
    }

    /// The connected agent, once one answered.
    pub fn agent(&self) -> Option<AgentId> {
        self.connected.as_ref().map(|c| c.agent)
    }

    /// The tier of the connected agent's offer.
    pub fn agent_tier(&self) -> Option<Tier> {
        self.connected.as_ref().map(|c| c.tier)
    }

    /// A fresh queue entry for the same caller (after an escalation), with
    /// this one's context; this one must be finished first.
    pub fn requeue(&self, entry: QueueEntryId) -> Routed {
        Routed::new(entry, self.ticket, self.desk.clone(), self.ctx.clone())
    }

    /// The desk, to queue the caller again.
    pub fn desk(&self) -> &DeskHandle {
        &self.desk
    }

    /// The connected agent's SIP user.
    pub fn agent_user(&self) -> Option<String> {
        self.connected.as_ref().map(|c| c.user.clone())
    }

    /// Tell routing something about this call.
    pub fn report(&self, input: Input) {
        self.desk.report(input);
    }

    /// The connected agent's leg (to answer its phone's requests).
    pub fn agent_leg(&self) -> Option<&UacLeg> {
        self.connected.as_ref().map(|c| &c.leg)
    }

    /// The connected agent's media (to bridge, hold, stop).
    pub fn agent_media(&mut self) -> Option<&mut CallMedia> {
        self.connected.as_mut().map(|c| &mut c.media)
    }

    /// This call's agent dialog (in-dialog requests from the agent).
    pub fn owns_dialog(&self, id: &DialogId) -> bool {
        self.connected
            .as_ref()
            .and_then(|c| c.leg.dialog_id())
            .is_some_and(|d| d == id)
    }

    /// Routing decided something for this call.
    pub async fn on_routing(&mut self, msg: ToCall) -> Option<RoutedAction> {
        match msg {
            ToCall::Offer {
                agent,
                user,
                contacts,
                tier,
                ..
            } => {
                let mut rang = 0;
                for contact in &contacts {
                    if self.ring(agent, tier, &user, contact).await {
                        rang += 1;
                    }
                }
                if rang == 0 {
                    self.desk.report(Input::OfferFailed {
                        entry: self.entry,
                        agent,
                        why: OfferFailure::Unreachable,
                    });
                }
                None
            }
            ToCall::CancelOffer { agent } => {
                for l in self.ringing.iter_mut().filter(|l| l.agent == agent) {
                    l.withdrawn = true;
                    l.leg.cancel(None).await;
                }
                if self.connected.as_ref().is_some_and(|c| c.agent == agent) && !self.assigned {
                    // Answered, but routing gave the call elsewhere.
                    if let Some(mut c) = self.connected.take() {
                        c.leg.hang_up().await;
                        c.media.stop().await;
                    }
                }
                None
            }
            ToCall::Assigned {
                agent,
                tier,
                waited,
                record,
            } => {
                if let Some(c) = self.connected.as_ref().filter(|c| c.agent == agent) {
                    self.assigned = true;
                    Some(RoutedAction::Bridge {
                        agent,
                        user: c.user.clone(),
                        tier,
                        waited,
                        record,
                    })
                } else {
                    None
                }
            }
            ToCall::Announce {
                position,
                expected_wait,
            } => (self.connected.is_none()).then_some(RoutedAction::Announce {
                position,
                expected_wait,
            }),
            ToCall::OfferCallback => {
                (self.connected.is_none()).then_some(RoutedAction::OfferCallback)
            }
        }
    }

    async fn ring(
        &mut self,
        agent: AgentId,
        tier: Tier,
        user: &str,
        contact: &super::registrar::Contact,
    ) -> bool {
        // The agent's RTP may come from its registration's IP too; agents
        // authenticated their REGISTER, so any SDP address is allowed.
        let mut media = CallMedia::new(
            self.ctx.ports.clone(),
            self.ctx.media_ip,
            self.ctx.rtp_timeout,
        )
        .with_peer(contact.source.ip(), RemotePolicy::Any);
        if let Err(e) = media.prepare(None) {
            tracing::warn!(error = %e, "no RTP port for an agent leg");
            return false;
        }
        let ticket = self.ticket.to_string();
        let headers = [
            ("X-Hotline-Ticket", ticket.as_str()),
            ("X-Hotline-Severity", self.ctx.severity.as_str()),
        ];
        let ring = Ring {
            agent,
            user,
            contact,
            display_name: &self.ctx.display_name,
            headers: &headers,
            sdp: media.local_sdp(),
            local: self.ctx.sip_local,
            allow: &self.ctx.allow,
            supported: &self.ctx.supported,
            call: self.ctx.call.clone(),
        };
        match UacLeg::ring(ring, self.ctx.dispatch.clone()).await {
            Some(leg) => {
                tracing::info!(agent = %user, contact = %contact.uri, ticket = %self.ticket, "ringing agent");
                self.ringing.push(AgentLeg {
                    agent,
                    user: user.to_string(),
                    tier,
                    leg,
                    media,
                    withdrawn: false,
                });
                true
            }
            None => false,
        }
    }

    /// A response to one of our INVITEs; `Some(events)` when an agent
    /// answered and its media started.
    pub async fn on_response(
        &mut self,
        key: &TransactionKey,
        resp: crate::sip::message::Response,
    ) -> Option<mpsc::UnboundedReceiver<MediaEvent>> {
        let call = self.ctx.call.clone();
        if let Some(c) = self.connected.as_mut().filter(|c| c.leg.owns(key)) {
            // A retransmitted 2xx: the same ACK again.
            c.leg.on_response(resp, &call).await;
            return None;
        }
        let i = self.ringing.iter().position(|l| l.leg.owns(key))?;
        let event = self.ringing[i].leg.on_response(resp, &call).await?;
        self.on_leg_event(i, event).await
    }

    /// An INVITE of ours got no final response at all.
    pub async fn on_invite_timeout(&mut self, key: &TransactionKey) {
        if let Some(i) = self.ringing.iter().position(|l| l.leg.owns(key)) {
            if let Some(ev) = self.ringing[i].leg.on_timeout() {
                self.on_leg_event(i, ev).await;
            }
        }
    }

    async fn on_leg_event(
        &mut self,
        i: usize,
        event: UacEvent,
    ) -> Option<mpsc::UnboundedReceiver<MediaEvent>> {
        match event {
            UacEvent::Ringing => None,
            UacEvent::Answered { sdp } => {
                let mut l = self.ringing.swap_remove(i);
                if l.withdrawn || self.connected.is_some() || self.ended {
                    l.leg.hang_up().await;
                    return None;
                }
                let started = match l.media.take_answer(&sdp) {
                    Ok(()) => l.media.start(),
                    Err(e) => {
                        tracing::warn!(error = %e, "agent's answer unusable: hanging up that leg");
                        Err(std::io::Error::other(e.to_string()))
                    }
                };
                let events = match started {
                    Ok(Some(events)) => events,
                    _ => {
                        l.leg.hang_up().await;
                        l.media.stop().await;
                        self.desk.report(Input::OfferFailed {
                            entry: self.entry,
                            agent: l.agent,
                            why: OfferFailure::Unreachable,
                        });
                        return None;
                    }
                };
                // The other phones of the same agent stop ringing.
                for other in self.ringing.iter_mut().filter(|o| o.agent == l.agent) {
                    other.withdrawn = true;
                    other.leg.cancel(Some("Call completed elsewhere")).await;
                }
                tracing::info!(agent = %l.agent, ticket = %self.ticket, tier = %l.tier, "agent answered");
                self.desk.report(Input::OfferAnswered {
                    entry: self.entry,
                    agent: l.agent,
                });
                self.connected = Some(l);
                Some(events)
            }
            UacEvent::Failed { status, why } => {
                let l = self.ringing.swap_remove(i);
                let mut media = l.media;
                media.stop().await;
                let others = self.ringing.iter().any(|o| o.agent == l.agent);
                tracing::info!(agent = %l.agent, ?status, ?why, "agent leg failed");
                if !l.withdrawn && !others && self.connected.is_none() {
                    self.desk.report(Input::OfferFailed {
                        entry: self.entry,
                        agent: l.agent,
                        why,
                    });
                }
                None
            }
        }
    }

    /// A request inside the agent's dialog.
    pub async fn on_agent_request(
        &mut self,
        key: TransactionKey,
        req: Request,
        accepted: Accepted,
    ) -> Option<LegEvent> {
        let c = self.connected.as_mut()?;
        c.leg.on_request(key, req, accepted).await
    }

    /// Answer the agent's re-INVITE/UPDATE (hold from the agent's phone).
    pub async fn answer_agent_offer(
        &mut self,
        key: TransactionKey,
        req: &Request,
        offer: Option<Vec<u8>>,
    ) {
        let Some(c) = self.connected.as_mut() else {
            return;
        };
        let answer = match offer {
            Some(o) => c.media.renegotiate(&o).map(Some),
            None => Ok(Some(c.media.local_sdp())),
        };
        if answer.is_ok() {
            let _ = c.media.apply_change(true).await;
        }
        c.leg.answer_offer(key, req, answer).await;
    }

    /// The agent hung up (or their leg failed): routing's wrap-up begins.
    pub async fn agent_left(&mut self, cut: bool) -> RoutedAction {
        if let Some(mut c) = self.connected.take() {
            if cut {
                c.leg.hang_up().await;
            }
            c.media.stop().await;
            self.desk.report(Input::CallEnded { agent: c.agent });
        }
        RoutedAction::AgentGone { cut }
    }

    /// The connected agent transferred the caller (REFER): their media
    /// stops and routing's wrap-up begins as after a hang-up, but the leg
    /// itself comes back, still up, for the NOTIFYs and the BYE.
    pub async fn release_agent(&mut self) -> Option<UacLeg> {
        let mut c = self.connected.take()?;
        c.media.stop().await;
        self.desk.report(Input::CallEnded { agent: c.agent });
        Some(c.leg)
    }

    /// The caller's call is ending (hang-up, shutdown): stop every agent
    /// leg and tell routing (abandoned while waiting, or the call ended).
    pub async fn finish(&mut self, reason: EndReason) {
        if self.ended {
            return;
        }
        self.ended = true;
        for l in &mut self.ringing {
            l.withdrawn = true;
            l.leg.hang_up().await;
        }
        for mut l in std::mem::take(&mut self.ringing) {
            l.media.stop().await;
        }
        if let Some(mut c) = self.connected.take() {
            c.leg.hang_up().await;
            c.media.stop().await;
            self.desk.report(Input::CallEnded { agent: c.agent });
            return;
        }
        let why = match reason {
            EndReason::CallerHungUp | EndReason::CallerCancelled => LeaveReason::Abandoned,
            _ => LeaveReason::Ended,
        };
        self.desk.report(Input::EntryLeft {
            entry: self.entry,
            why,
        });
    }
}
