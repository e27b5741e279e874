//! The in-dialog requests we send, on either leg: ACK for a 2xx, BYE,
//! re-INVITE, UPDATE, INFO (RFC 3261 §12.2.1.1, §13.2.2.4).
//!
//! Every request gets a fresh branch (each is a new transaction; the ACK
//! for a 2xx too), From/To/Call-ID from the dialog, the Request-URI and
//! Route headers from the remote target and route set, and a CSeq from the
//! dialog's local sequence, except the ACK, which reuses the INVITE's.

use super::Dialog;
use crate::sip::error::ProtocolError;
use crate::sip::message::{Branch, Headers, Method, NameAddr, Request, Uri};
use crate::sip::transaction::new_branch;

/// Our end of the signalling, as it goes into Via and Contact. Passed in by
/// the caller (configuration, the listening socket), never guessed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// Via transport: `UDP` or `TCP`.
    pub transport: String,
    /// `host:port` we listen on: Via sent-by and the Contact's host.
    pub sent_by: String,
    /// User part of our Contact (and of our From in new requests).
    pub user: String,
}

impl Local {
    /// Our Via with `branch`; `rport` asks for RFC 3581 symmetric responses.
    pub fn via(&self, branch: &Branch) -> String {
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport, self.sent_by
        )
    }

    /// Our Contact: `<sip:user@host:port>`, with `;transport=tcp` when not
    /// on UDP so that requests back to us use the same transport.
    pub fn contact(&self) -> String {
        match self.transport.to_ascii_lowercase().as_str() {
            "udp" => format!("<sip:{}@{}>", self.user, self.sent_by),
            t => format!("<sip:{}@{};transport={t}>", self.user, self.sent_by),
        }
    }
}

/// A body and its Content-Type.
pub type Body<'a> = Option<(&'a str, Vec<u8>)>;

impl Dialog {
    /// Build a BYE for this dialog. `transport` (`UDP`/`TCP`) and `sent_by`
    /// (`host:port` we listen on) go into our Via.
    pub fn bye(&mut self, transport: &str, sent_by: &str) -> Result<Request, ProtocolError> {
        let seq = self.next_cseq();
        self.build(Method::Bye, seq, transport, sent_by, None, &[], None)
    }

    /// The ACK for a 2xx to our INVITE or re-INVITE whose CSeq number was
    /// `invite_cseq` (§13.2.2.4): a new transaction (fresh branch), the
    /// INVITE's CSeq number, no body (our offer was in the INVITE). Send it
    /// for the first 2xx and again, unchanged, for each retransmission.
    pub fn ack(&self, invite_cseq: u32, local: &Local) -> Result<Request, ProtocolError> {
        let (t, s) = (local.transport.as_str(), local.sent_by.as_str());
        self.build(Method::Ack, invite_cseq, t, s, None, &[], None)
    }

    /// A re-INVITE with a new offer (hold, codec change, session refresh).
    /// It is a target refresh, so it carries our Contact.
    pub fn reinvite(&mut self, local: &Local, sdp: Vec<u8>) -> Result<Request, ProtocolError> {
        self.request(Method::Invite, local, &[], Some(("application/sdp", sdp)))
    }

    /// An UPDATE (RFC 3311), with or without an offer; carries our Contact.
    pub fn update(
        &mut self,
        local: &Local,
        sdp: Option<Vec<u8>>,
    ) -> Result<Request, ProtocolError> {
        let body = sdp.map(|b| ("application/sdp", b));
        self.request(Method::Update, local, &[], body)
    }

    /// An INFO (RFC 6086), e.g. `application/dtmf-relay`.
    pub fn info(
        &mut self,
        local: &Local,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Request, ProtocolError> {
        self.request(Method::Info, local, &[], Some((content_type, body)))
    }

    /// Any other in-dialog request with the next CSeq. INVITE, UPDATE and
    /// NOTIFY get our Contact (target refresh; RFC 6665 §4.1.2.2 makes a
    /// NOTIFY carry one); `extra` headers go after ours.
    pub fn request(
        &mut self,
        method: Method,
        local: &Local,
        extra: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Request, ProtocolError> {
        let seq = self.next_cseq();
        let contact = matches!(method, Method::Invite | Method::Update | Method::Notify)
            .then(|| local.contact());
        let (t, s) = (local.transport.as_str(), local.sent_by.as_str());
        self.build(method, seq, t, s, contact, extra, body)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        method: Method,
        seq: u32,
        transport: &str,
        sent_by: &str,
        contact: Option<String>,
        extra: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Request, ProtocolError> {
        let branch = new_branch();
        let (uri, routes) = self.target_and_routes();
        let mut h = Headers::new();
        h.push(
            "Via",
            format!("SIP/2.0/{transport} {sent_by};branch={branch};rport"),
        );
        h.push("Max-Forwards", "70");
        h.push("From", self.local_party.clone());
        h.push("To", self.remote_party.clone());
        h.push("Call-ID", self.id.call_id.as_str());
        h.push("CSeq", format!("{seq} {method}"));
        for r in routes {
            h.push("Route", r);
        }
        if let Some(c) = contact {
            h.push("Contact", c);
        }
        for (name, value) in extra {
            crate::sip::uac::check_header(name, value)?;
            h.push(*name, *value);
        }
        let body = match body {
            Some((content_type, bytes)) => {
                h.push("Content-Type", content_type);
                bytes
            }
            None => Vec::new(),
        };
        Request::from_parts(method, uri, h, body)
    }

    /// RFC 3261 §12.2.1.1: loose routing sends to the remote target with
    /// the route set as Route; a strict first hop (no `lr`) becomes the
    /// Request-URI (without what a Request-URI may not carry) and the
    /// remote target goes last in Route.
    fn target_and_routes(&self) -> (Uri, Vec<String>) {
        let as_route = |n: &NameAddr| format!("<{}>", n.uri);
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if is_loose(first) => (
                self.remote_target.clone(),
                self.route_set.iter().map(as_route).collect(),
            ),
            Some(first) => {
                let mut routes: Vec<String> = self.route_set[1..].iter().map(as_route).collect();
                routes.push(format!("<{}>", self.remote_target));
                (request_uri_form(&first.uri), routes)
            }
        }
    }
}

/// §19.1.1 table 1: a Request-URI carries no `?headers` and no `method`
/// parameter. Parameters follow the host, after the last `@`.
fn request_uri_form(uri: &Uri) -> Uri {
    let raw = uri.as_str();
    let host_at = raw
        .rfind('@')
        .map_or_else(|| raw.find(':').unwrap_or(0), |i| i + 1);
    let (head, tail) = raw.split_at(host_at);
    let tail = tail.split('?').next().unwrap_or_default();
    let kept: Vec<&str> = tail
        .split(';')
        .enumerate()
        .filter(|(i, p)| *i == 0 || !p.to_ascii_lowercase().starts_with("method="))
        .map(|(_, p)| p)
        .collect();
    Uri::parse(&format!("{head}{}", kept.join(";"))).unwrap_or_else(|_| uri.clone())
}

fn is_loose(route: &NameAddr) -> bool {
    route
        .uri
        .sip()
        .is_some_and(|s| s.params.iter().any(|(n, _)| n == "lr"))
}
