//! Dialog state on either side of a call (RFC 3261 §12): its id, CSeq
//! numbering, route set and remote target, and (in [`requests`]) building
//! the in-dialog requests we send: ACK for a 2xx, BYE, re-INVITE, UPDATE,
//! INFO.
//!
//! hotline is the UAS of the caller's leg and the UAC of the agent's leg,
//! and the two sides differ only in where the dialog's parts come from:
//! - UAS ([`Dialog::new_uas`]): route set from the INVITE's Record-Route in
//!   order, remote target from its Contact, our tag the To tag of our 2xx.
//! - UAC ([`Dialog::new_uac`]): route set from the response's Record-Route
//!   in reverse order (§12.1.2: the list was built from the UAS towards
//!   us), remote target from its Contact, remote tag from its To, and our
//!   CSeq continuing from the INVITE's. A 1xx with a To tag makes an early
//!   dialog, which the 2xx confirms ([`Dialog::confirm`]).
//!
//! Once built, both are the same thing: requests carry our party (with our
//! tag) in From and theirs in To, so the builders need no side.

mod requests;

use crate::sip::error::ProtocolError;
use crate::sip::message::{CSeq, CallId, Method, NameAddr, Request, Response, Tag, Uri};

pub use requests::{Body, Local};

/// A fresh local tag for the To of our responses (RFC 3261 §19.3).
pub fn new_local_tag() -> Tag {
    Tag::random()
}

/// Call-ID plus both tags (RFC 3261 §12). Our tag is `local_tag`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: CallId,
    pub local_tag: Tag,
    pub remote_tag: Tag,
}

impl DialogId {
    /// The dialog an incoming request claims to belong to: `None` when it
    /// carries no To tag (then it is not in a dialog). Works on both legs:
    /// in a request from the peer, the To tag is ours. A missing From tag
    /// is the null tag ([`DialogId::remote_tag_of`]).
    pub fn for_incoming(req: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.call_id().clone(),
            local_tag: req.to().tag()?,
            remote_tag: Self::remote_tag_of(req),
        })
    }

    /// The peer's tag in a request it sent: its From tag, or the null
    /// (empty) tag when it has none. RFC 3261 §12.1.1: "A UAS MUST be
    /// prepared to receive a request without a tag in the From field, in
    /// which case the tag is considered to have a value of null", for
    /// backwards compatibility with RFC 2543 phones (RFC 4475 `inv2543`).
    pub fn remote_tag_of(req: &Request) -> Tag {
        req.from().tag().unwrap_or_else(|| Tag(String::new()))
    }

    /// The dialog a response to one of our requests belongs to: our tag is
    /// in From, the peer's in To. `None` before the peer chose a tag (100
    /// Trying) or when a header is broken. Two forks of one INVITE answer
    /// with different To tags, hence different dialogs.
    pub fn for_response(resp: &Response) -> Option<DialogId> {
        Some(DialogId {
            call_id: resp.call_id()?,
            local_tag: resp.from()?.tag()?,
            remote_tag: resp.to_tag()?,
        })
    }
}

/// §12: a dialog made by a provisional response is early until the 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
}

/// Our side of a dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub id: DialogId,
    /// Where in-dialog requests go (the peer's Contact).
    pub remote_target: Uri,
    /// The route set in the order our requests visit it (first = next hop).
    pub route_set: Vec<NameAddr>,
    state: DialogState,
    /// Our From in the requests we send, tag included.
    local_party: String,
    /// Their To in the requests we send, tag included.
    remote_party: String,
    local_cseq: u32,
    /// Highest CSeq seen from the peer; `None` while empty (UAC, §12.1.2).
    remote_cseq: Option<u32>,
}

fn bad(header: &'static str, detail: &str) -> ProtocolError {
    ProtocolError::BadHeader {
        header,
        detail: detail.into(),
    }
}

impl Dialog {
    /// Build the dialog an INVITE creates when we answer it with `local_tag`.
    /// An INVITE without a usable Contact cannot create a dialog (400).
    pub fn new_uas(invite: &Request, local_tag: Tag) -> Result<Dialog, ProtocolError> {
        let contact = invite
            .contacts()
            .into_iter()
            .next()
            .ok_or_else(|| bad("Contact", "missing or malformed in INVITE"))?;
        let remote_tag = DialogId::remote_tag_of(invite);
        let to = invite.headers().get("To").unwrap_or_default();
        Ok(Dialog {
            id: DialogId {
                call_id: invite.call_id().clone(),
                local_tag: local_tag.clone(),
                remote_tag,
            },
            remote_target: contact.uri,
            route_set: invite.record_routes(),
            state: DialogState::Confirmed,
            local_party: format!("{to};tag={local_tag}"),
            remote_party: invite.headers().get("From").unwrap_or_default().to_string(),
            // RFC 3261 §12.1.1: the UAS's local sequence starts empty; any
            // value below 2^31 will do for our first request.
            local_cseq: 0,
            remote_cseq: Some(invite.cseq().seq),
        })
    }

    /// Build the dialog a response to our INVITE creates (§12.1.2): a 2xx
    /// makes it confirmed, a 101-199 with a To tag early. Without a To tag
    /// or a Contact there is no dialog to build.
    pub fn new_uac(invite: &Request, resp: &Response) -> Result<Dialog, ProtocolError> {
        let state = match resp.status {
            101..=199 => DialogState::Early,
            200..=299 => DialogState::Confirmed,
            _ => return Err(bad("Status", "only 101-299 responses create dialogs")),
        };
        let local_tag = invite.from().tag().ok_or_else(|| bad("From", "no tag"))?;
        let remote_tag = resp.to_tag().ok_or_else(|| bad("To", "no tag"))?;
        let contact = resp
            .contact()
            .ok_or_else(|| bad("Contact", "missing or malformed in response"))?;
        Ok(Dialog {
            id: DialogId {
                call_id: invite.call_id().clone(),
                local_tag,
                remote_tag,
            },
            remote_target: contact.uri,
            route_set: uac_route_set(resp),
            state,
            local_party: invite.headers().get("From").unwrap_or_default().to_string(),
            remote_party: resp.headers.get("To").unwrap_or_default().to_string(),
            local_cseq: invite.cseq().seq,
            remote_cseq: None,
        })
    }

    pub fn state(&self) -> DialogState {
        self.state
    }

    /// The 2xx for an early dialog arrived (§13.2.2.4): confirm it and
    /// recompute the route set and remote target from the 2xx. A 2xx with
    /// another To tag belongs to another fork: an error here, and a dialog
    /// of its own ([`Dialog::new_uac`]) to ACK and BYE.
    pub fn confirm(&mut self, resp: &Response) -> Result<(), ProtocolError> {
        if !(200..300).contains(&resp.status) {
            return Err(bad("Status", "only a 2xx confirms a dialog"));
        }
        if resp.to_tag().as_ref() != Some(&self.id.remote_tag) {
            return Err(bad("To", "tag of another dialog"));
        }
        if self.state == DialogState::Early {
            self.route_set = uac_route_set(resp);
            self.state = DialogState::Confirmed;
        }
        if let Some(contact) = resp.contact() {
            self.remote_target = contact.uri;
        }
        Ok(())
    }

    /// A target refresh (re-INVITE or UPDATE, either way, §12.2): the
    /// peer's new Contact becomes the remote target. The route set never
    /// changes once the dialog is confirmed.
    pub fn refresh_target(&mut self, contact: &NameAddr) {
        self.remote_target = contact.uri.clone();
    }

    /// The CSeq number for the next request we send.
    pub fn next_cseq(&mut self) -> u32 {
        self.local_cseq += 1;
        self.local_cseq
    }

    /// Check an in-dialog request's CSeq is newer than the last one
    /// (RFC 3261 §12.2.2: lower means out of order, answer 500).
    pub fn accept_remote_cseq(&mut self, cseq: &CSeq) -> bool {
        if cseq.method == Method::Ack || cseq.method == Method::Cancel {
            return true;
        }
        if self.remote_cseq.is_some_and(|r| cseq.seq <= r) {
            return false;
        }
        self.remote_cseq = Some(cseq.seq);
        true
    }
}

/// §12.1.2: the UAC's route set is the Record-Route list reversed.
fn uac_route_set(resp: &Response) -> Vec<NameAddr> {
    let mut routes = resp.record_routes();
    routes.reverse();
    routes
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod uac_tests;
