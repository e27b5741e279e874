//! Blind transfer from the agent's phone (REFER, RFC 3515).
//!
//! The agent's phone, bridged to its caller, sends REFER naming a tier's
//! queue (`sip:L2@hotline`) or another agent (`sip:bob@hotline`). hotline
//! is the referee: it answers 202, NOTIFYs `100 Trying`, takes the caller
//! back (the bridge stops, the agent goes to wrap-up as after a hang-up,
//! the caller hears that a specialist is being connected and is queued
//! again like a `*2` escalation, or offered to that one agent), NOTIFYs
//! `200 OK` (or `503` if the desk refused the caller) and ends the
//! subscription. The transferring phone usually hangs up on that NOTIFY;
//! if it has not within [`BYE_GRACE`], hotline sends the BYE.
//!
//! Refusals (status and why in [`Refusal`]): a malformed Refer-To 400, a
//! non-SIP target 416, no such tier or agent 404, attended transfer 501, a
//! leg not bridged (or a transfer to oneself) 403, a REFER while one is
//! being finished on the same dialog 491, the roster unreachable 503. A
//! REFER outside any dialog is 481 (`sip::validate`), on the caller's leg
//! 403 (`leg::uas`).
//!
//! To an agent who is not free (on a call, in wrap-up, paused, logged
//! out, no phone reachable), the caller waits for any agent of that
//! agent's tier instead, ahead of the SLA order (`routing`'s
//! `TransferToTier`, logged by the desk); likewise if the target lets it
//! ring out or refuses.

use std::time::{Duration, Instant};

use super::refer::{self, Refusal, Target};
use super::Call;
use crate::agents::{AgentError, AgentId, SipUser, Tier};
use crate::call::leg::uac::UacLeg;
use crate::call::leg::LegEvent;
use crate::sip::dialog::DialogId;
use crate::sip::message::Request;
use crate::sip::transaction::TransactionKey;
use crate::sip::validate::Accepted;

/// After our final NOTIFY, how long the transferring phone has to send its
/// own BYE before hotline sends one (RFC 5589 leaves the BYE to the
/// transferor; many phones send it, pjsua2 by default does not).
pub(super) const BYE_GRACE: Duration = Duration::from_secs(2);

/// How long the roster may take to name a transfer target.
const LOOKUP_LIMIT: Duration = Duration::from_secs(3);

/// The transferring agent's leg after the transfer: kept only to answer
/// the phone until it (or we, at `bye_at`) hangs up.
pub(super) struct Transferor {
    leg: UacLeg,
    bye_at: Instant,
}

impl Transferor {
    pub(super) fn owns(&self, id: &DialogId) -> bool {
        self.leg.dialog_id().is_some_and(|d| d == id)
    }

    pub(super) fn poll_timeout(&self) -> Instant {
        self.bye_at
    }
}

impl Call {
    /// A REFER from the connected agent's phone.
    pub(super) async fn on_refer(&mut self, key: TransactionKey, req: Request) {
        let bridged = self.bridge.is_some();
        let facts = self
            .routed
            .as_ref()
            .and_then(|r| Some((r.agent()?, r.agent_tier()?, r.agent_user()?)));
        let (true, Some((agent, from, user))) = (bridged, facts) else {
            tracing::info!("REFER from an agent's leg that is not bridged: 403");
            return self.refuse_refer(key, &req, Refusal::FORBIDDEN).await;
        };
        let referral = match refer::parse(&req) {
            Ok(r) => r,
            Err(refusal) => {
                tracing::info!(status = refusal.status, refer_to = ?req.headers().get("Refer-To"), "REFER refused");
                return self.refuse_refer(key, &req, refusal).await;
            }
        };
        let (to, target) = match &referral.target {
            Target::Tier(t) => (*t, None),
            Target::Agent(name) => match self.lookup_agent(name).await {
                Ok((id, _)) if id == agent => {
                    tracing::info!(target = %name, "REFER to the referring agent themself: 403");
                    return self.refuse_refer(key, &req, Refusal::FORBIDDEN).await;
                }
                Ok((id, tier)) => (tier, Some(id)),
                Err(refusal) => {
                    tracing::info!(target = %name, status = refusal.status, "REFER to an unknown agent refused");
                    return self.refuse_refer(key, &req, refusal).await;
                }
            },
        };
        if let Some(leg) = self.routed.as_ref().and_then(|r| r.agent_leg()) {
            leg.reply(key, &req, 202, "Accepted", &[]).await;
        }
        tracing::info!(target = ?referral.target, referred_by = ?referral.referred_by, "REFER accepted: transferring the caller");
        let Some(mut leg) = self.take_agent_leg().await else {
            return;
        };
        leg.notify_refer(refer::sipfrag(100, "Trying"), false).await;
        let by = match referral.referred_by {
            Some(r) if r != user => format!("{user} (Referred-By {r})"),
            _ => user,
        };
        let taken = self.requeue(from, to, by, target).await;
        let (status, reason) = if taken {
            (200, "OK")
        } else {
            (503, "Service Unavailable")
        };
        leg.notify_refer(refer::sipfrag(status, reason), true).await;
        self.transferor = Some(Transferor {
            leg,
            bye_at: Instant::now() + BYE_GRACE,
        });
    }

    /// The bridge stops and the agent's leg leaves routing (wrap-up), but
    /// stays up for the NOTIFYs.
    async fn take_agent_leg(&mut self) -> Option<UacLeg> {
        self.stop_bridge().await;
        self.routed.as_mut()?.release_agent().await
    }

    async fn refuse_refer(&mut self, key: TransactionKey, req: &Request, r: Refusal) {
        if let Some(leg) = self.routed.as_ref().and_then(|r| r.agent_leg()) {
            leg.reply(key, req, r.status, r.reason, &[]).await;
        }
    }

    /// The agent named `user` and the tier the ticket moves to with them
    /// (their highest: a transfer to a colleague who also serves L3 hands
    /// the ticket to L3 authority).
    async fn lookup_agent(&self, user: &str) -> Result<(AgentId, Tier), Refusal> {
        let store = self
            .setup
            .services
            .agents
            .as_ref()
            .ok_or(Refusal::UNKNOWN_TARGET)?;
        let user: SipUser = user.parse().map_err(|_| Refusal::UNKNOWN_TARGET)?;
        match tokio::time::timeout(LOOKUP_LIMIT, store.get(&user)).await {
            Ok(Ok(e)) if e.agent.enabled => e
                .agent
                .tiers
                .iter()
                .max()
                .map(|t| (e.agent.id, *t))
                .ok_or(Refusal::UNKNOWN_TARGET),
            Ok(Ok(_)) | Ok(Err(AgentError::Unknown(_))) => Err(Refusal::UNKNOWN_TARGET),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "roster not reachable for a transfer");
                Err(Refusal::ROSTER_DOWN)
            }
            Err(_) => {
                tracing::warn!("roster too slow for a transfer");
                Err(Refusal::ROSTER_DOWN)
            }
        }
    }

    /// Whether an in-dialog request belongs to the transferring leg.
    pub(super) fn is_transferor_dialog(&self, req: &Request) -> bool {
        let Some(t) = &self.transferor else {
            return false;
        };
        DialogId::for_incoming(req).is_some_and(|id| t.owns(&id))
    }

    /// A request from the transferring phone: its BYE ends the leg; a
    /// second REFER or an offer while we finish is 491.
    pub(super) async fn on_transferor_request(
        &mut self,
        key: TransactionKey,
        req: Request,
        accepted: Accepted,
    ) {
        let Some(t) = self.transferor.as_mut() else {
            return;
        };
        match t.leg.on_request(key, req, accepted).await {
            Some(LegEvent::Ended(_)) => {
                tracing::info!("the transferring agent hung up");
                self.transferor = None;
            }
            Some(LegEvent::Refer { key, request }) | Some(LegEvent::Offer { key, request, .. }) => {
                let r = Refusal::PENDING;
                t.leg.reply(key, &request, r.status, r.reason, &[]).await;
            }
            Some(LegEvent::Digit(_)) | Some(LegEvent::Acked { .. }) | None => {}
        }
    }

    /// The grace is over: hotline ends the transferring leg.
    pub(super) async fn transferor_timeout(&mut self, now: Instant) {
        if self.transferor.as_ref().is_some_and(|t| t.bye_at <= now) {
            if let Some(mut t) = self.transferor.take() {
                tracing::info!("the transferring agent's phone kept the line: BYE");
                t.leg.hang_up().await;
            }
        }
    }

    /// The call ends: so does a transferring leg still up.
    pub(super) async fn finish_transfer(&mut self) {
        if let Some(mut t) = self.transferor.take() {
            t.leg.hang_up().await;
        }
    }
}
