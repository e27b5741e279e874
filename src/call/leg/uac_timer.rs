//! The agent leg's RFC 4028 session timer: the refresh we send (a
//! re-INVITE at half the interval), the answers to it, the give-up, and
//! the 422 retry of our first INVITE. A child of `uac`, so it sees the
//! leg's fields; the timing rules are `session_timer`'s.

use std::time::Instant;

use super::super::session_timer::{
    min_se_of, on_refresh_answer, RefreshAnswer, SessionExpires, SessionTimer, TimerAction,
};
use super::{State, UacLeg};
use crate::call::leg::LegEvent;
use crate::call::{CallHandle, EndReason, ToDispatch};
use crate::sip::message::{Method, Request, Response};
use crate::sip::transaction::TransactionKey;
use crate::sip::uac::OutgoingInvite;

impl UacLeg {
    /// The session timer's next deadline (refresh or give-up), if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Answered => self.timer.as_ref().map(SessionTimer::poll_timeout),
            _ => None,
        }
    }

    /// The session timer at `now`: send our refresh (a re-INVITE with
    /// `sdp`, our current session, RFC 3264 §8's next version), or end the
    /// leg with BYE when the session expired.
    pub async fn on_session_timeout(
        &mut self,
        now: Instant,
        sdp: impl FnOnce() -> String,
        call: &CallHandle,
    ) -> Option<LegEvent> {
        if self.state != State::Answered {
            return None;
        }
        match self.timer.as_mut()?.handle_timeout(now)? {
            TimerAction::Expired => {
                tracing::warn!("agent leg: session expired without a refresh: BYE");
                self.hang_up().await;
                Some(LegEvent::Ended(EndReason::SessionExpired))
            }
            TimerAction::Refresh => {
                self.send_refresh(sdp(), call).await;
                None
            }
        }
    }

    /// Our session refresh: a re-INVITE with the same session (RFC 4028
    /// §7.4: Session-Expires with `refresher=uac`, we keep refreshing).
    async fn send_refresh(&mut self, sdp: String, call: &CallHandle) {
        let (Some(dialog), Some(t)) = (self.dialog.as_mut(), self.timer.as_ref()) else {
            return;
        };
        let se = format!("{};refresher=uac", t.interval().as_secs());
        let extra = [("Session-Expires", se.as_str()), ("Supported", "timer")];
        let body = Some(("application/sdp", sdp.into_bytes()));
        match dialog.request(Method::Invite, &self.local, &extra, body) {
            Ok(reinvite) => {
                let key = TransactionKey::for_request(&reinvite);
                let cseq = reinvite.cseq().seq;
                tracing::debug!(cseq, "agent leg: session refresh");
                self.refresh = Some((key, cseq, None));
                let _ = self
                    .dispatch
                    .send(ToDispatch::Invite {
                        request: Box::new(reinvite),
                        dest: self.dest,
                        reply: self.reply.clone(),
                        call: call.clone(),
                    })
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "session refresh not built"),
        }
    }

    /// The phone's answer to our refresh: a 2xx (ACKed, every copy) starts
    /// a new interval; 422 asks for a longer one and 491 for a later try;
    /// 408 and 481 mean the dialog is gone (RFC 4028 §10: BYE at once);
    /// any other refusal leaves the session to expire.
    pub(super) async fn on_refresh_response(&mut self, resp: Response) {
        let (Some((key, cseq, ack)), Some(timer)) = (self.refresh.clone(), self.timer.as_mut())
        else {
            return;
        };
        let se = resp
            .headers
            .get("Session-Expires")
            .and_then(SessionExpires::parse);
        let min = min_se_of(resp.headers.get("Min-SE"));
        match on_refresh_answer(timer, Instant::now(), resp.status, se, min) {
            RefreshAnswer::Pending => {}
            RefreshAnswer::Accepted => {
                let ack = ack.or_else(|| {
                    self.dialog
                        .as_ref()
                        .and_then(|d| d.ack(cseq, &self.local).ok())
                });
                if let Some(a) = &ack {
                    let _ = self
                        .dispatch
                        .send(ToDispatch::Ack {
                            invite: key.clone(),
                            request: Box::new(a.clone()),
                        })
                        .await;
                }
                self.refresh = Some((key, cseq, ack));
            }
            RefreshAnswer::Refused => {
                tracing::info!(status = resp.status, "agent leg: session refresh refused");
                self.refresh = None;
            }
        }
    }

    /// 422 to our first INVITE (RFC 4028 §7.4): the same INVITE again with
    /// the Session-Expires and Min-SE the phone asked for; once.
    pub(super) async fn retry_422(&mut self, resp: &Response, call: &CallHandle) -> bool {
        let Some(min) = min_se_of(resp.headers.get("Min-SE")) else {
            return false;
        };
        self.retried_422 = true;
        let secs = min.as_secs().to_string();
        let mut h = crate::sip::message::Headers::new();
        for (name, value) in self.invite.headers().iter() {
            match name.to_ascii_lowercase().as_str() {
                "via" => h.push(
                    "Via",
                    self.local.via(&crate::sip::transaction::new_branch()),
                ),
                "cseq" => h.push("CSeq", format!("{} INVITE", self.invite.cseq().seq + 1)),
                "session-expires" | "x" => h.push("Session-Expires", secs.clone()),
                "min-se" => h.push("Min-SE", secs.clone()),
                _ => h.push(name, value),
            }
        }
        let invite = match Request::from_parts(
            Method::Invite,
            self.invite.uri().clone(),
            h,
            self.invite.body().to_vec(),
        ) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "INVITE after 422 not built");
                return false;
            }
        };
        tracing::info!(
            min_se = min.as_secs(),
            "agent's phone wants a longer session interval (422): INVITE again"
        );
        let key = TransactionKey::for_request(&invite);
        self.outgoing = OutgoingInvite::new(invite.clone(), key.clone(), self.local.clone());
        self.key = key;
        self.invite = invite.clone();
        let _ = self
            .dispatch
            .send(ToDispatch::Invite {
                request: Box::new(invite),
                dest: self.dest,
                reply: self.reply.clone(),
                call: call.clone(),
            })
            .await;
        true
    }
}

/// The session timer a 2xx to our INVITE sets up (RFC 4028 §7.2): none
/// without Session-Expires; `refresher=uac` (or none given) is us.
pub(super) fn session_timer_of(resp: &Response) -> Option<SessionTimer> {
    let se = SessionExpires::parse(resp.headers.get("Session-Expires")?)?;
    if se.interval.is_zero() {
        return None;
    }
    let we_refresh = se.refresher_uac.unwrap_or(true);
    Some(SessionTimer::new(Instant::now(), se.interval, we_refresh))
}
