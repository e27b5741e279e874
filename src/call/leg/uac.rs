//! An agent's leg: hotline as the UAC that rings one registered contact of
//! an agent. It sends the INVITE (through the dispatcher's INVITE client
//! transaction), applies the UAC core's rules to every response
//! ([`OutgoingInvite`]: ACK each 2xx, BYE a fork or a 2xx that crossed our
//! CANCEL), and once answered owns the dialog: BYE either way, INFO keys,
//! re-INVITE (hold) from the agent's phone.

use std::net::SocketAddr;

use tokio::sync::mpsc;

use super::LegEvent;
use crate::agents::AgentId;
use crate::call::media::OfferRefusal;
use crate::call::registrar::Contact;
use crate::call::{CallHandle, EndReason, ToDispatch};
use crate::routing::io::OfferFailure;
use crate::sip::dialog::{Dialog, DialogId, Local};
use crate::sip::message::{Method, Request, Response, Uri};
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::{Kind, ReplyTo};
use crate::sip::uac::{self, InviteSpec, OutgoingInvite, UacAction};
use crate::sip::validate::Accepted;

/// What the agent's phone did with our INVITE.
#[derive(Debug)]
pub enum UacEvent {
    /// It rings (180/183).
    Ringing,
    /// It answered (200 OK) with this SDP answer.
    Answered { sdp: Vec<u8> },
    /// It will not take the call, and why (for routing).
    Failed {
        status: Option<u16>,
        why: OfferFailure,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ringing,
    Answered,
    Done,
}

/// What goes into the agent's INVITE.
pub struct Ring<'a> {
    pub agent: AgentId,
    pub user: &'a str,
    pub contact: &'a Contact,
    /// What the phone shows: `#1042 5551234`.
    pub display_name: &'a str,
    /// `X-Hotline-Ticket`, `X-Hotline-Severity`, ...
    pub headers: &'a [(&'a str, &'a str)],
    /// Our SDP offer for this leg.
    pub sdp: String,
    /// Our address as the agent's phone knows it.
    pub local: SocketAddr,
    pub allow: &'a str,
    pub supported: &'a str,
    /// The call's own handle: the responses come back through it.
    pub call: CallHandle,
}

/// One INVITE to one contact of an agent, and the dialog it makes.
pub struct UacLeg {
    pub agent: AgentId,
    key: TransactionKey,
    outgoing: OutgoingInvite,
    dialog: Option<Dialog>,
    state: State,
    local: Local,
    dest: SocketAddr,
    reply: ReplyTo,
    dispatch: mpsc::Sender<ToDispatch>,
}

impl UacLeg {
    /// Send the INVITE; `None` if it could not even be built (a contact
    /// URI we cannot parse).
    pub async fn ring(r: Ring<'_>, dispatch: mpsc::Sender<ToDispatch>) -> Option<UacLeg> {
        let kind = match r.contact.reply {
            ReplyTo::Udp(_) => Kind::Udp,
            ReplyTo::Tcp(_) => Kind::Tcp,
        };
        let local = Local {
            transport: match kind {
                Kind::Udp => "UDP",
                Kind::Tcp => "TCP",
            }
            .into(),
            sent_by: r.local.to_string(),
            user: "hotline".into(),
        };
        let target = Uri::parse(&r.contact.uri).ok()?;
        let host = r.contact.source;
        let to = Uri::parse(&format!("sip:{}@{host}", r.user)).ok()?;
        let from = Uri::parse(&format!("sip:hotline@{}", r.local)).ok()?;
        let spec = InviteSpec {
            target: &target,
            to: &to,
            from: &from,
            display_name: r.display_name,
            local: &local,
            routes: &[],
            allow: r.allow,
            supported: r.supported,
            extra: r.headers,
            sdp: r.sdp.into_bytes(),
        };
        let invite = match uac::invite(&spec) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, contact = %r.contact.uri, "agent INVITE not built");
                return None;
            }
        };
        let key = TransactionKey::for_request(&invite);
        let outgoing = OutgoingInvite::new(invite.clone(), key.clone(), local.clone());
        let _ = dispatch
            .send(ToDispatch::Invite {
                request: Box::new(invite),
                dest: r.contact.source,
                reply: r.contact.reply.clone(),
                call: r.call,
            })
            .await;
        Some(UacLeg {
            agent: r.agent,
            key,
            outgoing,
            dialog: None,
            state: State::Ringing,
            local,
            dest: r.contact.source,
            reply: r.contact.reply.clone(),
            dispatch,
        })
    }

    /// This leg's INVITE transaction.
    pub fn owns(&self, key: &TransactionKey) -> bool {
        self.key == *key
    }

    pub fn dialog_id(&self) -> Option<&DialogId> {
        self.dialog.as_ref().map(|d| &d.id)
    }

    pub fn is_answered(&self) -> bool {
        self.state == State::Answered
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// A response to our INVITE.
    pub async fn on_response(&mut self, resp: Response, call: &CallHandle) -> Option<UacEvent> {
        let mut event = None;
        for action in self.outgoing.on_response(resp) {
            match action {
                UacAction::Progress(r) if r.status >= 180 => event = Some(UacEvent::Ringing),
                UacAction::Progress(_) => {}
                UacAction::Answered(dialog, resp) => {
                    let _ = self
                        .dispatch
                        .send(ToDispatch::AddDialog {
                            dialog: dialog.id.clone(),
                            call: call.clone(),
                        })
                        .await;
                    self.dialog = Some(*dialog);
                    self.state = State::Answered;
                    event = Some(UacEvent::Answered {
                        sdp: resp.body.clone(),
                    });
                }
                UacAction::Ack(ack) => {
                    let _ = self
                        .dispatch
                        .send(ToDispatch::Ack {
                            invite: self.key.clone(),
                            request: Box::new(ack),
                        })
                        .await;
                }
                UacAction::Bye(bye) => self.send_request(bye).await,
                UacAction::Failed(resp) => {
                    self.state = State::Done;
                    event = Some(UacEvent::Failed {
                        status: Some(resp.status),
                        why: classify(resp.status),
                    });
                }
                UacAction::TimedOut => {
                    self.state = State::Done;
                    event = Some(UacEvent::Failed {
                        status: None,
                        why: OfferFailure::Unreachable,
                    });
                }
            }
        }
        event
    }

    /// No final response at all.
    pub fn on_timeout(&mut self) -> Option<UacEvent> {
        self.outgoing
            .on_timeout()
            .into_iter()
            .find_map(|a| matches!(a, UacAction::TimedOut).then_some(()))
            .map(|()| {
                self.state = State::Done;
                UacEvent::Failed {
                    status: None,
                    why: OfferFailure::Unreachable,
                }
            })
    }

    /// Stop ringing (ring timeout, or another phone answered). A 2xx that
    /// crosses the CANCEL is ACKed and hung up by [`OutgoingInvite`].
    pub async fn cancel(&mut self, reason: Option<&str>) {
        if self.state != State::Ringing {
            return;
        }
        if let Some(cancel) = self.outgoing.cancel(reason) {
            let _ = self
                .dispatch
                .send(ToDispatch::Cancel {
                    invite: self.key.clone(),
                    request: Box::new(cancel),
                })
                .await;
        }
    }

    /// End the leg: CANCEL while ringing, BYE once answered.
    pub async fn hang_up(&mut self) {
        match self.state {
            State::Ringing => self.cancel(None).await,
            State::Answered => {
                let (transport, sent_by) =
                    (self.local.transport.clone(), self.local.sent_by.clone());
                if let Some(d) = self.dialog.as_mut() {
                    let bye = d.bye(&transport, &sent_by);
                    let id = d.id.clone();
                    if let Ok(bye) = bye {
                        self.send_request(bye).await;
                    }
                    let _ = self
                        .dispatch
                        .send(ToDispatch::RemoveDialog { dialog: id })
                        .await;
                }
            }
            State::Done => {}
        }
        self.state = State::Done;
    }

    /// A request from the agent's phone inside this leg's dialog.
    pub async fn on_request(
        &mut self,
        key: TransactionKey,
        req: Request,
        accepted: Accepted,
    ) -> Option<LegEvent> {
        let dialog = self.dialog.as_mut()?;
        let id = dialog.id.clone();
        if !dialog.accept_remote_cseq(req.cseq()) {
            let resp =
                Response::for_request(&req, 500, "Server Internal Error (CSeq out of order)");
            self.respond(key, resp).await;
            return None;
        }
        match req.method() {
            Method::Bye => {
                self.respond(key, Response::for_request(&req, 200, "OK"))
                    .await;
                self.state = State::Done;
                let _ = self
                    .dispatch
                    .send(ToDispatch::RemoveDialog { dialog: id })
                    .await;
                Some(LegEvent::Ended(EndReason::CallerHungUp))
            }
            Method::Info => super::answer_info(&self.dispatch, key, &req).await,
            Method::Invite | Method::Update => Some(LegEvent::Offer {
                key,
                request: Box::new(req),
                offer: accepted.sdp,
            }),
            Method::Refer => Some(LegEvent::Refer {
                key,
                request: Box::new(req),
            }),
            _ => {
                self.respond(key, Response::for_request(&req, 405, "Method Not Allowed"))
                    .await;
                None
            }
        }
    }

    /// Answer the agent's re-INVITE or UPDATE (hold, resume).
    pub async fn answer_offer(
        &mut self,
        key: TransactionKey,
        req: &Request,
        answer: Result<Option<String>, OfferRefusal>,
    ) {
        let Some(dialog) = self.dialog.as_ref() else {
            return;
        };
        let local_tag = dialog.id.local_tag.clone();
        let mut resp = match &answer {
            Ok(_) => Response::for_request_with_tag(req, 200, "OK", &local_tag),
            Err(r) => {
                let mut resp = Response::for_request_with_tag(req, r.status, r.reason, &local_tag);
                for (n, v) in r.headers() {
                    resp.headers.push(n, v);
                }
                resp
            }
        };
        if let Ok(Some(sdp)) = answer {
            resp.headers.push("Contact", self.local.contact());
            resp.headers.push("Content-Type", "application/sdp");
            resp.body = sdp.into_bytes();
        }
        self.respond(key, resp).await;
    }

    /// Answer an in-dialog request of the phone's with `status` (our To
    /// tag on it), and `headers`.
    pub async fn reply(
        &self,
        key: TransactionKey,
        req: &Request,
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
    ) {
        let Some(dialog) = self.dialog.as_ref() else {
            return;
        };
        let mut resp = Response::for_request_with_tag(req, status, reason, &dialog.id.local_tag);
        for (n, v) in headers {
            resp.headers.push(*n, *v);
        }
        self.respond(key, resp).await;
    }

    /// Tell the phone how its REFER is going (RFC 3515 §2.4.4): a NOTIFY
    /// in this dialog with `Event: refer` and the status line as
    /// `message/sipfrag`; `last` ends the implicit subscription.
    pub async fn notify_refer(&mut self, sipfrag: Vec<u8>, last: bool) {
        let state = if last {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let Some(dialog) = self.dialog.as_mut() else {
            return;
        };
        let extra = [("Event", "refer"), ("Subscription-State", state)];
        match dialog.request(
            Method::Notify,
            &self.local,
            &extra,
            Some(("message/sipfrag;version=2.0", sipfrag)),
        ) {
            Ok(notify) => self.send_request(notify).await,
            Err(e) => tracing::warn!(error = %e, "NOTIFY for the transfer not built"),
        }
    }

    async fn send_request(&self, request: Request) {
        let _ = self
            .dispatch
            .send(ToDispatch::Request {
                request: Box::new(request),
                dest: self.dest,
                reply: self.reply.clone(),
                done: None,
            })
            .await;
    }

    async fn respond(&self, key: TransactionKey, resp: Response) {
        super::respond(&self.dispatch, key, resp).await;
    }
}

/// What routing should make of a final refusal from a phone.
fn classify(status: u16) -> OfferFailure {
    match status {
        486 | 600 => OfferFailure::Busy,
        603 => OfferFailure::Declined,
        408 | 480 | 503 => OfferFailure::Unreachable,
        // 487 after our CANCEL is a ring timeout; anything else counts as
        // not answered.
        _ => OfferFailure::NoAnswer,
    }
}
