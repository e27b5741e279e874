//! Reading what a REGISTER asks for: its Contact entries (or `*`), their
//! parameters, and the requested expiry (RFC 3261 §10.2, §20.10, §20.19;
//! RFC 5626 `+sip.instance` / `reg-id`).
//!
//! The raw Contact headers are read here rather than through
//! `Request::contacts()`, because that skips `*` and entries that do not
//! parse, and a registrar must answer both (`*` is an un-register, a broken
//! entry is a 400, not a silent half-registration).

use crate::sip::message::{param, split_list, NameAddr, Request};

use super::{QValue, Refusal};

/// Longest Contact URI we store (it goes to the database and back out in
/// every INVITE to the agent).
pub const MAX_CONTACT_URI_LEN: usize = 1024;
/// Longest `+sip.instance` and User-Agent we keep.
pub const MAX_INSTANCE_LEN: usize = 256;
pub const MAX_USER_AGENT_LEN: usize = 256;
/// RFC 3261 §20.10, §20.19: a malformed expiry counts as 3600 s.
const MALFORMED_EXPIRES: u32 = 3600;

/// One Contact entry of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ContactAsk {
    /// The URI exactly as sent, without the `<>`.
    pub uri: String,
    /// The `;expires=` parameter, if any.
    pub expires: Option<u32>,
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
    pub q: Option<QValue>,
}

/// What the Contact headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Contacts {
    /// No Contact at all: a query.
    None,
    /// `Contact: *`.
    Star,
    List(Vec<ContactAsk>),
}

pub(super) fn read_contacts(req: &Request) -> Result<Contacts, Refusal> {
    let items: Vec<&str> = req
        .headers()
        .get_all("Contact")
        .flat_map(split_list)
        .collect();
    if items.is_empty() {
        return Ok(Contacts::None);
    }
    if items.contains(&"*") {
        if items.len() != 1 {
            return Err(Refusal::BadRequest("Contact: * with other contacts"));
        }
        return Ok(Contacts::Star);
    }
    items
        .into_iter()
        .map(contact_ask)
        .collect::<Result<Vec<_>, _>>()
        .map(Contacts::List)
}

fn contact_ask(item: &str) -> Result<ContactAsk, Refusal> {
    if item.is_empty() {
        return Err(Refusal::BadRequest("empty Contact entry"));
    }
    let na = NameAddr::parse(item).map_err(|_| Refusal::BadRequest("malformed Contact"))?;
    let uri = na.uri.as_str();
    if uri.len() > MAX_CONTACT_URI_LEN {
        return Err(Refusal::BadRequest("Contact URI too long"));
    }
    let instance = param(&na.params, "+sip.instance").map(str::to_string);
    if instance
        .as_ref()
        .is_some_and(|i| i.len() > MAX_INSTANCE_LEN)
    {
        return Err(Refusal::BadRequest("+sip.instance too long"));
    }
    let q = match param(&na.params, "q") {
        Some(v) => Some(QValue::parse(v).ok_or(Refusal::BadRequest("bad q value"))?),
        None => None,
    };
    Ok(ContactAsk {
        uri: uri.to_string(),
        expires: param(&na.params, "expires").map(delta_seconds),
        instance,
        reg_id: param(&na.params, "reg-id").and_then(|v| v.parse().ok()),
        q,
    })
}

/// The `Expires` header (the first one), if any.
pub(super) fn expires_header(req: &Request) -> Option<u32> {
    req.headers()
        .get("Expires")
        .map(|v| delta_seconds(v.trim()))
}

/// `delta-seconds`; more than 2^32-1 saturates (RFC 3261 §20.19), and a
/// malformed value counts as 3600.
fn delta_seconds(v: &str) -> u32 {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return MALFORMED_EXPIRES;
    }
    v.parse::<u64>()
        .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// The User-Agent, clipped for storage.
pub(super) fn user_agent(req: &Request) -> Option<String> {
    req.headers()
        .get("User-Agent")
        .map(|v| v.chars().take(MAX_USER_AGENT_LEN).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_seconds_saturates_and_defaults() {
        assert_eq!(delta_seconds("0"), 0);
        assert_eq!(delta_seconds("0600"), 600);
        assert_eq!(delta_seconds("4294967296"), u32::MAX);
        assert_eq!(delta_seconds("99999999999999999999999"), u32::MAX);
        assert_eq!(delta_seconds("-1"), 3600);
        assert_eq!(delta_seconds(""), 3600);
        assert_eq!(delta_seconds("Thu, 01 Dec 1994 16:00:00 GMT"), 3600);
    }
}
