//! Dialog state on our (UAS) side: its id, CSeq numbering, and building the
//! in-dialog requests we send (BYE) from what the INVITE told us.
//!
//! RFC 3261 §12: the UAS takes the route set from the INVITE's Record-Route
//! in order, the remote target from its Contact, and its own tag from the
//! To tag it put in the 2xx.

use crate::sip::error::ProtocolError;
use crate::sip::message::{Branch, CSeq, CallId, Headers, Method, NameAddr, Request, Tag, Uri};

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
    /// carries no To tag (then it is not in a dialog) or no From tag.
    pub fn for_incoming(req: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.call_id().clone(),
            local_tag: req.to().tag()?,
            remote_tag: req.from().tag()?,
        })
    }
}

/// Our side of an established dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub id: DialogId,
    /// Where in-dialog requests go (the caller's Contact).
    pub remote_target: Uri,
    /// Record-Route entries as received, in order (UAS keeps the order).
    pub route_set: Vec<NameAddr>,
    /// The INVITE's To value, without tag: our address in this dialog.
    local_party: String,
    /// The INVITE's From value, tag included: the caller.
    remote_party: String,
    local_cseq: u32,
    remote_cseq: u32,
}

impl Dialog {
    /// Build the dialog an INVITE creates when we answer it with `local_tag`.
    /// An INVITE without a usable Contact cannot create a dialog (400).
    pub fn new_uas(invite: &Request, local_tag: Tag) -> Result<Dialog, ProtocolError> {
        let contact =
            invite
                .contacts()
                .into_iter()
                .next()
                .ok_or_else(|| ProtocolError::BadHeader {
                    header: "Contact",
                    detail: "missing or malformed in INVITE".into(),
                })?;
        let remote_tag = invite
            .from()
            .tag()
            .ok_or_else(|| ProtocolError::BadHeader {
                header: "From",
                detail: "no tag".into(),
            })?;
        let local_party = invite.headers().get("To").unwrap_or_default().to_string();
        Ok(Dialog {
            id: DialogId {
                call_id: invite.call_id().clone(),
                local_tag,
                remote_tag,
            },
            remote_target: contact.uri,
            route_set: invite.record_routes(),
            local_party,
            remote_party: invite.headers().get("From").unwrap_or_default().to_string(),
            // RFC 3261 §12.1.1: the UAS's local sequence starts empty; any
            // value below 2^31 will do for our first request.
            local_cseq: 0,
            remote_cseq: invite.cseq().seq,
        })
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
        if cseq.seq <= self.remote_cseq {
            return false;
        }
        self.remote_cseq = cseq.seq;
        true
    }

    /// Build a BYE for this dialog. `transport` (`UDP`/`TCP`) and `sent_by`
    /// (`host:port` we listen on) go into our Via.
    pub fn bye(&mut self, transport: &str, sent_by: &str) -> Result<Request, ProtocolError> {
        let seq = self.next_cseq();
        self.request(Method::Bye, seq, transport, sent_by)
    }

    fn request(
        &self,
        method: Method,
        seq: u32,
        transport: &str,
        sent_by: &str,
    ) -> Result<Request, ProtocolError> {
        let branch = Branch(format!("{}{:016x}", Branch::MAGIC, rand::random::<u64>()));
        let (uri, routes) = self.target_and_routes();
        let mut h = Headers::new();
        h.push(
            "Via",
            format!("SIP/2.0/{transport} {sent_by};branch={branch};rport"),
        );
        h.push("Max-Forwards", "70");
        h.push(
            "From",
            format!("{};tag={}", self.local_party, self.id.local_tag),
        );
        h.push("To", self.remote_party.clone());
        h.push("Call-ID", self.id.call_id.as_str());
        h.push("CSeq", format!("{seq} {method}"));
        for r in routes {
            h.push("Route", r);
        }
        Request::from_parts(method, uri, h, Vec::new())
    }

    /// RFC 3261 §12.2.1.1: loose routing sends to the remote target with
    /// the route set as Route; a strict first hop (no `lr`) becomes the
    /// Request-URI and the remote target goes last in Route.
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
                (first.uri.clone(), routes)
            }
        }
    }
}

fn is_loose(route: &NameAddr) -> bool {
    route
        .uri
        .sip()
        .is_some_and(|s| s.params.iter().any(|(n, _)| n == "lr"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse, Message};

    fn invite(extra: &str) -> Request {
        let text = format!(
            "INVITE sip:hotline@192.0.2.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc\r\n\
             From: \"Caller\" <sip:caller@example.net>;tag=from1\r\n\
             To: <sip:hotline@example.com>\r\n\
             Call-ID: call-1@example.net\r\n\
             CSeq: 10 INVITE\r\n\
             Contact: <sip:caller@192.0.2.9:5060>\r\n{extra}\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bye_without_route_set_goes_to_contact() {
        let mut d = Dialog::new_uas(&invite(""), Tag("us".into())).unwrap();
        let bye = d.bye("UDP", "192.0.2.1:5060").unwrap();
        assert_eq!(bye.method(), &Method::Bye);
        assert_eq!(bye.uri().as_str(), "sip:caller@192.0.2.9:5060");
        assert_eq!(bye.call_id().as_str(), "call-1@example.net");
        assert_eq!(bye.from().tag(), Some(Tag("us".into())));
        assert_eq!(bye.to().tag(), Some(Tag("from1".into())));
        assert_eq!(bye.cseq().seq, 1);
        assert!(bye.top_via().branch().unwrap().is_rfc3261());
        assert!(bye.headers().get("Route").is_none());
        let again = d.bye("UDP", "192.0.2.1:5060").unwrap();
        assert_eq!(again.cseq().seq, 2);
        assert_ne!(again.top_via().branch(), bye.top_via().branch());
    }

    #[test]
    fn bye_uses_record_route_in_order() {
        let inv = invite("Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n");
        let mut d = Dialog::new_uas(&inv, Tag("us".into())).unwrap();
        let bye = d.bye("UDP", "192.0.2.1:5060").unwrap();
        let routes: Vec<&str> = bye.headers().get_all("Route").collect();
        assert_eq!(
            routes,
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert_eq!(bye.uri().as_str(), "sip:caller@192.0.2.9:5060");
    }

    #[test]
    fn strict_router_becomes_request_uri() {
        let inv = invite("Record-Route: <sip:strict.example.com>\r\n");
        let mut d = Dialog::new_uas(&inv, Tag("us".into())).unwrap();
        let bye = d.bye("UDP", "192.0.2.1:5060").unwrap();
        assert_eq!(bye.uri().as_str(), "sip:strict.example.com");
        assert_eq!(
            bye.headers().get("Route"),
            Some("<sip:caller@192.0.2.9:5060>")
        );
    }

    #[test]
    fn ids_and_cseq_ordering() {
        let inv = invite("");
        assert_eq!(DialogId::for_incoming(&inv), None, "no To tag yet");
        let mut d = Dialog::new_uas(&inv, Tag("us".into())).unwrap();
        assert_eq!(d.id.remote_tag, Tag("from1".into()));
        let older = CSeq {
            seq: 10,
            method: Method::Bye,
        };
        let newer = CSeq {
            seq: 11,
            method: Method::Bye,
        };
        assert!(!d.accept_remote_cseq(&older));
        assert!(d.accept_remote_cseq(&newer));
    }

    #[test]
    fn invite_without_contact_cannot_make_a_dialog() {
        let text = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
        let Ok(Message::Request(r)) = parse(text) else {
            panic!("should parse")
        };
        let err = Dialog::new_uas(&r, Tag::random()).unwrap_err();
        assert_eq!(err.status(), 400);
    }
}
