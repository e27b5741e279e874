//! The UAC core's out-of-dialog requests, pure builders: the INVITE that
//! rings an agent's registered contact, the CANCEL for it, and the OPTIONS
//! keep-alive to a registered contact (RFC 3261 §8.1, §9.1, §11).
//!
//! Why builders and not a stateful UAC object: the call task owns the agent
//! leg (the dialog, the transaction key, the ring timer) and the
//! transaction table owns retransmission; what is left is turning a few
//! values into a correct request, which is easiest to test as a pure
//! function whose output is re-parsed. Everything that depends on the
//! deployment (our host:port and transport, the From URI and display name,
//! Allow and Supported, extra headers) comes in as a parameter.
//!
//! How a call drives an outgoing INVITE (the table is
//! [`crate::sip::transaction::TransactionTable`]):
//! 1. [`invite`] → `table.send_invite(now, req, rel)` → key; the table
//!    retransmits (Timer A) and gives up after Timer B with `Timeout`.
//! 2. `PassResponse` 1xx: ringing; a 1xx with a To tag may make an early
//!    [`Dialog::new_uac`](crate::sip::dialog::Dialog::new_uac).
//! 3. `PassResponse` 2xx: `Dialog::new_uac` (or `confirm` the early one),
//!    then `dialog.ack(invite_cseq, local)` → `table.send_ack(key, ack)`;
//!    keep that ACK and send it again for each retransmitted 2xx (they keep
//!    coming as `PassResponse` during Timer M). A 2xx with another To tag
//!    is another fork: its own dialog, ACK, then BYE.
//! 4. Ring timeout or another agent answered: [`cancel`] →
//!    `table.cancel(now, key, req, rel)`; the 487 that follows is ACKed by
//!    the transaction. A 2xx that crosses the CANCEL is a call: ACK + BYE.
//! 5. `PassResponse` 300-699: the transaction ACKed it; the leg failed.
//!
//! Steps 2 to 5 are [`OutgoingInvite`]'s job: feed it the table's outputs
//! for the INVITE's key and do what its [`UacAction`]s say.

mod outgoing;

#[cfg(test)]
mod tests;

pub use outgoing::{OutgoingInvite, UacAction};

use crate::sip::dialog::Local;
use crate::sip::error::ProtocolError;
use crate::sip::message::{CallId, Headers, Method, Request, Tag, Uri};
use crate::sip::transaction::new_branch;

/// What an INVITE to one registered contact is made of.
#[derive(Debug, Clone)]
pub struct InviteSpec<'a> {
    /// The binding's Contact URI exactly as registered: the Request-URI.
    pub target: &'a Uri,
    /// The agent's address of record: our To.
    pub to: &'a Uri,
    /// Our From URI, e.g. `sip:hotline@support.example.com`.
    pub from: &'a Uri,
    /// What the agent's phone shows, e.g. `#1042 5551234`; quoted here.
    pub display_name: &'a str,
    /// Our Via and Contact.
    pub local: &'a Local,
    /// A pre-loaded route (outbound proxy, the binding's Path), in order.
    pub routes: &'a [Uri],
    /// Allow and Supported values (the UAS policy's, so both legs agree).
    pub allow: &'a str,
    pub supported: &'a str,
    /// Extra headers after ours, e.g. `X-Hotline-Ticket: 1042`.
    pub extra: &'a [(&'a str, &'a str)],
    /// Our SDP offer.
    pub sdp: Vec<u8>,
}

/// A new out-of-dialog INVITE: fresh From tag, Call-ID and branch, CSeq 1.
pub fn invite(spec: &InviteSpec<'_>) -> Result<Request, ProtocolError> {
    let mut h = Headers::new();
    h.push("Via", spec.local.via(&new_branch()));
    h.push("Max-Forwards", "70");
    for r in spec.routes {
        h.push("Route", format!("<{r}>"));
    }
    h.push(
        "From",
        format!(
            "{} <{}>;tag={}",
            quote_display(spec.display_name),
            spec.from,
            Tag::random()
        ),
    );
    h.push("To", format!("<{}>", spec.to));
    h.push("Call-ID", new_call_id().as_str());
    h.push("CSeq", "1 INVITE");
    h.push("Contact", spec.local.contact());
    if !spec.allow.is_empty() {
        h.push("Allow", spec.allow);
    }
    if !spec.supported.is_empty() {
        h.push("Supported", spec.supported);
    }
    for (name, value) in spec.extra {
        check_header(name, value)?;
        h.push(*name, *value);
    }
    h.push("Content-Type", "application/sdp");
    Request::from_parts(Method::Invite, spec.target.clone(), h, spec.sdp.clone())
}

/// The CANCEL for our pending `invite` (§9.1): the same Request-URI,
/// Call-ID, From, To (no tag) and CSeq number, the same single Via (so the
/// same branch, which is how the UAS finds the INVITE), the same Routes.
/// `reason` becomes an RFC 3326 Reason header, e.g. for `ring_all`:
/// `SIP;cause=200;text="Call completed elsewhere"` (phones then log no
/// missed call).
pub fn cancel(invite: &Request, reason: Option<&str>) -> Result<Request, ProtocolError> {
    let src = invite.headers();
    let mut h = Headers::new();
    if let Some(via) = src.get("Via") {
        let top = crate::sip::message::split_list(via)
            .into_iter()
            .next()
            .unwrap_or(via);
        h.push("Via", top);
    }
    h.push("Max-Forwards", "70");
    for r in src.get_all("Route") {
        h.push("Route", r);
    }
    for name in ["From", "To", "Call-ID"] {
        if let Some(v) = src.get(name) {
            h.push(name, v);
        }
    }
    h.push("CSeq", format!("{} CANCEL", invite.cseq().seq));
    if let Some(r) = reason {
        check_header("Reason", r)?;
        h.push("Reason", r);
    }
    Request::from_parts(Method::Cancel, invite.uri().clone(), h, Vec::new())
}

/// An OPTIONS keep-alive to a registered contact: out of dialog, new
/// Call-ID and tag, Max-Forwards 70, `Accept: application/sdp`. Any
/// response (even 4xx/5xx) proves the contact is alive; a `Timeout` from
/// the transaction means it is unreachable.
pub fn options(target: &Uri, from: &Uri, local: &Local) -> Result<Request, ProtocolError> {
    let mut h = Headers::new();
    h.push("Via", local.via(&new_branch()));
    h.push("Max-Forwards", "70");
    h.push("From", format!("<{from}>;tag={}", Tag::random()));
    h.push("To", format!("<{target}>"));
    h.push("Call-ID", new_call_id().as_str());
    h.push("CSeq", "1 OPTIONS");
    h.push("Contact", local.contact());
    h.push("Accept", "application/sdp");
    Request::from_parts(Method::Options, target.clone(), h, Vec::new())
}

/// A fresh Call-ID: 128 random bits in hex (RFC 3261 §8.1.1.4 asks for
/// global uniqueness; no host part, so it leaks nothing).
pub fn new_call_id() -> CallId {
    CallId(format!("{:032x}", rand::random::<u128>()))
}

/// A display name as a quoted-string (§25.1): `\` and `"` escaped, control
/// characters (CR, LF, ...) dropped so a caller ID cannot inject headers.
pub fn quote_display(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Headers the builders own: an extra header must not repeat or override
/// them, or the message would contradict itself.
const OWN_HEADERS: [&str; 11] = [
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Contact",
    "Route",
    "Content-Type",
    "Content-Length",
    "Allow",
];

/// An extra header must be a token name (not one of ours) with a value on
/// one line: a CR or LF in a value from a caller's number or a ticket
/// field would inject headers.
pub fn check_header(name: &str, value: &str) -> Result<(), ProtocolError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(ProtocolError::BadHeader {
            header: "extra header",
            detail: format!("bad header name {name:?}"),
        });
    }
    let canonical = crate::sip::message::canonical_name(name);
    if OWN_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&canonical))
    {
        return Err(ProtocolError::BadHeader {
            header: "extra header",
            detail: format!("{name} is set by the builder"),
        });
    }
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(ProtocolError::BadHeader {
            header: "extra header",
            detail: format!("{name}: value contains CR, LF or NUL"),
        });
    }
    Ok(())
}
