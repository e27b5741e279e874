//! Building responses (RFC 3261 §8.2.6), request accessors and
//! serialisation of both kinds of message.

use std::net::IpAddr;

use super::header::{parse_vias, split_list, CSeq, NameAddr, Via};
use super::parse::single;
use super::{CallId, Headers, Method, Request, Response, Tag, Uri};
use crate::sip::error::reason_phrase;

impl Tag {
    /// A fresh random tag (RFC 3261 §19.3: at least 32 bits of randomness).
    pub fn random() -> Tag {
        Tag(format!("{:016x}", rand::random::<u64>()))
    }
}

impl Response {
    /// Answer `req`: copy Via(s), From, To, Call-ID and CSeq (§8.2.6.2) and
    /// add a fresh To tag to anything above 100 when the request had none.
    /// Use [`Response::for_request_with_tag`] when several responses of one
    /// transaction must share the tag (180 then 200).
    pub fn for_request(req: &Request, status: u16, reason: &str) -> Response {
        let tag = (status > 100).then(Tag::random);
        build(req.headers(), status, reason, tag.as_ref())
    }

    /// Like [`Response::for_request`] with the To tag chosen by the caller;
    /// a tag already present in the request's To wins.
    pub fn for_request_with_tag(req: &Request, status: u16, reason: &str, tag: &Tag) -> Response {
        build(req.headers(), status, reason, (status > 100).then_some(tag))
    }

    /// Answer a request we could not fully parse. `None` when there is no
    /// Via or no CSeq: then the client could not match the answer to its
    /// transaction and we drop instead. A Via that is present but broken is
    /// enough: it is copied verbatim and the transport answers to the
    /// datagram's source address (RFC 4475 `badinv01`, `badvers`).
    pub fn for_raw_headers(headers: &Headers, status: u16, reason: &str) -> Option<Response> {
        headers.get("Via").filter(|v| !v.is_empty())?;
        headers.get("CSeq").filter(|v| !v.is_empty())?;
        let tag = (status > 100).then(Tag::random);
        Some(build(headers, status, reason, tag.as_ref()))
    }

    pub fn top_via(&self) -> Option<Via> {
        parse_vias(self.headers.get_all("Via"))
            .ok()?
            .into_iter()
            .next()
    }

    pub fn cseq(&self) -> Option<CSeq> {
        CSeq::parse(self.headers.get("CSeq")?).ok()
    }

    pub fn call_id(&self) -> Option<CallId> {
        self.headers.get("Call-ID").map(|c| CallId(c.to_string()))
    }

    pub fn from(&self) -> Option<NameAddr> {
        NameAddr::parse(self.headers.get("From")?).ok()
    }

    pub fn to(&self) -> Option<NameAddr> {
        NameAddr::parse(self.headers.get("To")?).ok()
    }

    pub fn to_tag(&self) -> Option<Tag> {
        self.to()?.tag()
    }

    pub fn contact(&self) -> Option<NameAddr> {
        contacts(&self.headers).into_iter().next()
    }

    pub fn record_routes(&self) -> Vec<NameAddr> {
        name_addr_list(&self.headers, "Record-Route")
    }

    pub fn is_final(&self) -> bool {
        self.status >= 200
    }

    /// Wire form. Content-Length is always written and always true.
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = if self.reason.is_empty() {
            reason_phrase(self.status)
        } else {
            &self.reason
        };
        let start = format!("SIP/2.0 {} {}", self.status, reason);
        serialise(&start, &self.headers, &self.body)
    }
}

fn build(headers: &Headers, status: u16, reason: &str, tag: Option<&Tag>) -> Response {
    let mut out = Headers::new();
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for v in headers.get_all(name) {
            let mut v = v.to_string();
            if name == "To" {
                if let (Some(tag), Ok(to)) = (tag, NameAddr::parse(&v)) {
                    if to.tag().is_none() {
                        v.push_str(";tag=");
                        v.push_str(tag.as_str());
                    }
                }
            }
            out.push(name, v);
        }
    }
    // §8.2.6.1: a 100 echoes the request's Timestamp.
    if status == 100 {
        if let Some(ts) = headers.get("Timestamp") {
            out.push("Timestamp", ts);
        }
    }
    let reason = if reason.is_empty() {
        reason_phrase(status)
    } else {
        reason
    };
    Response {
        status,
        reason: reason.to_string(),
        headers: out,
        body: Vec::new(),
    }
}

fn serialise(start: &str, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(start.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in headers.iter() {
        if n.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

fn name_addr_list(headers: &Headers, name: &str) -> Vec<NameAddr> {
    headers
        .get_all(name)
        .flat_map(split_list)
        .filter_map(|v| NameAddr::parse(v).ok())
        .collect()
}

fn contacts(headers: &Headers) -> Vec<NameAddr> {
    name_addr_list(headers, "Contact")
}

impl Request {
    pub fn method(&self) -> &Method {
        &self.method
    }
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
    pub fn headers(&self) -> &Headers {
        &self.headers
    }
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    /// All Via entries, topmost first; never empty.
    pub fn vias(&self) -> &[Via] {
        &self.vias
    }
    pub fn top_via(&self) -> &Via {
        // `from_parts` refuses a request without Via, so index 0 exists.
        &self.vias[0]
    }
    pub fn from(&self) -> &NameAddr {
        &self.from
    }
    pub fn to(&self) -> &NameAddr {
        &self.to
    }
    pub fn call_id(&self) -> &CallId {
        &self.call_id
    }
    pub fn cseq(&self) -> &CSeq {
        &self.cseq
    }
    pub fn max_forwards(&self) -> Option<u32> {
        self.max_forwards
    }
    /// Contact entries that parse; `*` and broken ones are skipped.
    pub fn contacts(&self) -> Vec<NameAddr> {
        contacts(&self.headers)
    }
    pub fn record_routes(&self) -> Vec<NameAddr> {
        name_addr_list(&self.headers, "Record-Route")
    }
    /// P-Asserted-Identity entries (RFC 3325), in order.
    pub fn p_asserted_identities(&self) -> Vec<NameAddr> {
        name_addr_list(&self.headers, "P-Asserted-Identity")
    }
    pub fn remote_party_id(&self) -> Option<NameAddr> {
        name_addr_list(&self.headers, "Remote-Party-ID")
            .into_iter()
            .next()
    }
    /// Media type without parameters, lower-cased (`application/sdp`).
    pub fn content_type(&self) -> Option<String> {
        let v = single(&self.headers, "Content-Type").ok()?;
        Some(v.split(';').next()?.trim().to_ascii_lowercase())
    }
    pub fn require(&self) -> Vec<String> {
        self.headers.list("Require")
    }
    pub fn supported(&self) -> Vec<String> {
        self.headers.list("Supported")
    }
    pub fn privacy(&self) -> Vec<String> {
        self.headers
            .get_all("Privacy")
            .flat_map(|v| v.split([';', ',']))
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Record where the request really came from in the top Via
    /// (RFC 3261 §18.2.1 `received`, RFC 3581 `rport`), so responses built
    /// from it go back through the caller's NAT.
    pub fn stamp_received(&mut self, ip: IpAddr, port: u16) {
        let via = &mut self.vias[0];
        let asked_rport = via.rport().is_some();
        via.params.retain(|(n, _)| n != "received" && n != "rport");
        via.params.push(("received".into(), Some(ip.to_string())));
        if asked_rport {
            via.params.push(("rport".into(), Some(port.to_string())));
        }
        let mut text = format!("SIP/2.0/{} {}", via.transport, via.sent_by());
        for (n, v) in &via.params {
            text.push(';');
            text.push_str(n);
            if let Some(v) = v {
                text.push('=');
                text.push_str(v);
            }
        }
        // Replace the first entry of the first Via header, keep the rest.
        if let Some(first) = self.headers.values_mut("Via").next() {
            let rest: Vec<String> = split_list(first)
                .into_iter()
                .skip(1)
                .map(String::from)
                .collect();
            *first = std::iter::once(text)
                .chain(rest)
                .collect::<Vec<_>>()
                .join(", ");
        }
    }

    /// Wire form, Content-Length always true.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("{} {} SIP/2.0", self.method, self.uri);
        serialise(&start, &self.headers, &self.body)
    }
}
