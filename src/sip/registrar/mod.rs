//! The registrar's decision (RFC 3261 §10.3), sans-io: an authenticated
//! REGISTER, the agent's current bindings, the time, where the request came
//! from and the limits go in; the agent's new full binding set (or a
//! refusal) comes out. Storing it (PostgreSQL, the in-memory cache) and
//! sending the answer are the caller's.
//!
//! Why a full set and not a delta: the caller replaces one agent's rows in
//! one transaction and the cache entry in one assignment, so a crash or a
//! second daemon never sees half an update. The `added` / `removed` lists
//! are there for logs and for `login_on_register`.
//!
//! Each binding keeps its Contact URI exactly as sent (`;ob` and all) and
//! the address and transport the REGISTER came from: an INVITE to the agent
//! goes to that source (down the same TCP connection for TCP), which is
//! what reaches a phone behind NAT.
//!
//! - [`register`]: the rules; [`Binding`], [`Update`], [`Refusal`], [`Limits`].
//! - [`response`]: the 200 listing every binding, the 423, other refusals.
//! - `contact`: reading Contact entries, `*` and expiries.

mod contact;
pub mod response;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;

use chrono::{DateTime, Utc};

use crate::config::AgentsConfig;
use crate::sip::message::{CallId, Request};
use crate::sip::transport::Kind;

pub use contact::{MAX_CONTACT_URI_LEN, MAX_INSTANCE_LEN, MAX_USER_AGENT_LEN};
pub use response::{ok_response, refusal_response};

use contact::{expires_header, read_contacts, user_agent, ContactAsk, Contacts};

/// A Contact `q` value (RFC 3261 §20.10) in thousandths: `q=0.5` is 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct QValue(pub u16);

impl QValue {
    /// `"0" ["." 0*3DIGIT] / "1" ["." 0*3("0")]`.
    pub fn parse(s: &str) -> Option<QValue> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frac_val: u16 = format!("{frac:0<3}").parse().ok()?;
        match int {
            "0" => Some(QValue(frac_val)),
            "1" if frac_val == 0 => Some(QValue(1000)),
            _ => None,
        }
    }
}

impl fmt::Display for QValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// One registered contact of an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Exactly as sent, e.g. `sip:agent1-0x55..@127.0.0.1:5071;ob`.
    pub contact_uri: String,
    pub expires_at: DateTime<Utc>,
    pub call_id: CallId,
    pub cseq: u32,
    /// Where the REGISTER came from: where INVITEs go.
    pub source: SocketAddr,
    pub transport: Kind,
    /// RFC 5626 `+sip.instance` (as sent, e.g. `<urn:uuid:...>`).
    pub instance: Option<String>,
    /// RFC 5626 `reg-id`.
    pub reg_id: Option<u32>,
    pub q: Option<QValue>,
    pub user_agent: Option<String>,
}

impl Binding {
    /// Whole seconds left at `now`, rounded up (0 once expired).
    pub fn remaining_secs(&self, now: DateTime<Utc>) -> u64 {
        let ms = (self.expires_at - now).num_milliseconds();
        u64::try_from(ms).map_or(0, |ms| ms.div_ceil(1000))
    }

    fn same_contact(&self, ask: &ContactAsk) -> bool {
        // RFC 5626 §6: one instance's flow (instance + reg-id) is one
        // binding even when the phone's address changed.
        let same_flow =
            ask.instance.is_some() && ask.instance == self.instance && ask.reg_id == self.reg_id;
        same_flow || self.contact_uri == ask.uri
    }
}

/// Registration bounds, in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_bindings: usize,
}

impl Limits {
    pub fn from_config(c: &AgentsConfig) -> Limits {
        let secs = |d: crate::config::ConfigDuration| {
            u32::try_from(d.as_duration().as_secs()).unwrap_or(u32::MAX)
        };
        Limits {
            min_expires: secs(c.min_expires),
            max_expires: secs(c.max_expires),
            default_expires: secs(c.default_expires),
            max_bindings: c.max_bindings as usize,
        }
    }
}

/// Where and how the REGISTER arrived.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub now: DateTime<Utc>,
    pub source: SocketAddr,
    pub transport: Kind,
}

/// The outcome of an accepted REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Every current binding of the agent afterwards (store this).
    pub bindings: Vec<Binding>,
    /// Contact URIs newly bound, refreshed, removed by the request, and
    /// dropped because they had expired.
    pub added: Vec<String>,
    pub refreshed: Vec<String>,
    pub removed: Vec<String>,
    pub expired: Vec<String>,
}

impl Update {
    /// Anything to store (an expired binding dropped counts).
    pub fn changed(&self) -> bool {
        !(self.added.is_empty()
            && self.refreshed.is_empty()
            && self.removed.is_empty()
            && self.expired.is_empty())
    }
}

/// Why a REGISTER was refused; nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("HL-REG-400 {0}")]
    BadRequest(&'static str),
    /// 423 with `Min-Expires`.
    #[error("HL-REG-423 expiry below the minimum of {min_expires} s")]
    IntervalTooBrief { min_expires: u32 },
    /// RFC 3261 §10.3 step 7: same Call-ID, CSeq not higher.
    #[error("HL-REG-500 CSeq not higher than the binding's for this Call-ID")]
    OutOfOrder,
    #[error("HL-REG-403 more than {max} bindings")]
    TooManyBindings { max: usize },
    /// The address-of-record (To) is not a SIP URI (RFC 4475 `unksm2`).
    #[error("HL-REG-416 the To of a REGISTER must be a sip: or sips: address, not `{0}:`")]
    UnsupportedScheme(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::IntervalTooBrief { .. } => 423,
            Refusal::OutOfOrder => 500,
            Refusal::TooManyBindings { .. } => 403,
            Refusal::UnsupportedScheme(_) => 416,
        }
    }

    /// Stable searchable code, e.g. `HL-REG-423`.
    pub fn code(&self) -> String {
        format!("HL-REG-{}", self.status())
    }
}

/// A REGISTER's address-of-record (its To) must be a SIP URI (RFC 3261
/// §10.3 step 3); checked before the challenge, as nothing could be
/// registered anyway.
pub fn check_aor(req: &Request) -> Result<(), Refusal> {
    match req.to().uri.scheme() {
        "sip" | "sips" => Ok(()),
        other => Err(Refusal::UnsupportedScheme(other.chars().take(32).collect())),
    }
}

/// The user part of the To URI: the address-of-record being registered
/// (RFC 3261 §10.3 step 5). The caller refuses (403) a REGISTER whose AOR
/// is not the authenticated user's, so nobody registers someone else.
pub fn aor_user(req: &Request) -> Option<String> {
    req.to().uri.user()
}

/// Apply one REGISTER to an agent's `current` bindings (RFC 3261 §10.3
/// steps 6-8). Bindings expired at `arrival.now` are dropped first.
pub fn register(
    req: &Request,
    current: &[Binding],
    arrival: &Arrival,
    limits: &Limits,
) -> Result<Update, Refusal> {
    let now = arrival.now;
    let (live, expired): (Vec<&Binding>, Vec<&Binding>) =
        current.iter().partition(|b| b.expires_at > now);
    let mut update = Update {
        bindings: live.iter().map(|b| (*b).clone()).collect(),
        added: Vec::new(),
        refreshed: Vec::new(),
        removed: Vec::new(),
        expired: expired.iter().map(|b| b.contact_uri.clone()).collect(),
    };
    match read_contacts(req)? {
        Contacts::None => Ok(update),
        Contacts::Star => remove_all(req, update),
        Contacts::List(asks) => {
            let grants = grant_expiries(&asks, expires_header(req), limits)?;
            check_order(req, &update.bindings, &asks)?;
            for (ask, secs) in asks.iter().zip(grants) {
                apply(req, arrival, ask, secs, &mut update);
            }
            if !update.added.is_empty() && update.bindings.len() > limits.max_bindings {
                return Err(Refusal::TooManyBindings {
                    max: limits.max_bindings,
                });
            }
            Ok(update)
        }
    }
}

/// `Contact: *` is valid only with `Expires: 0` (RFC 3261 §10.2.2).
fn remove_all(req: &Request, mut update: Update) -> Result<Update, Refusal> {
    if expires_header(req) != Some(0) {
        return Err(Refusal::BadRequest("Contact: * without Expires: 0"));
    }
    let cid = req.call_id();
    let seq = req.cseq().seq;
    if update
        .bindings
        .iter()
        .any(|b| b.call_id == *cid && seq <= b.cseq)
    {
        return Err(Refusal::OutOfOrder);
    }
    update.removed = update.bindings.drain(..).map(|b| b.contact_uri).collect();
    Ok(update)
}

/// The granted seconds per contact (0: remove), or 423 when any non-zero
/// ask is below the minimum. Longer asks are cut to the maximum.
fn grant_expiries(
    asks: &[ContactAsk],
    header: Option<u32>,
    limits: &Limits,
) -> Result<Vec<u32>, Refusal> {
    let default = limits.default_expires.min(limits.max_expires);
    asks.iter()
        .map(|a| {
            let want = a.expires.or(header).unwrap_or(default);
            if want != 0 && want < limits.min_expires {
                return Err(Refusal::IntervalTooBrief {
                    min_expires: limits.min_expires,
                });
            }
            Ok(want.min(limits.max_expires))
        })
        .collect()
}

/// RFC 3261 §10.3 step 7, checked for every contact before anything is
/// applied, so a refused request changes nothing.
fn check_order(req: &Request, bindings: &[Binding], asks: &[ContactAsk]) -> Result<(), Refusal> {
    let (cid, seq) = (req.call_id(), req.cseq().seq);
    let stale = asks.iter().any(|a| {
        bindings
            .iter()
            .any(|b| b.same_contact(a) && b.call_id == *cid && seq <= b.cseq)
    });
    if stale {
        Err(Refusal::OutOfOrder)
    } else {
        Ok(())
    }
}

fn apply(req: &Request, arrival: &Arrival, ask: &ContactAsk, secs: u32, update: &mut Update) {
    let existing = update.bindings.iter().position(|b| b.same_contact(ask));
    let old = existing.map(|i| update.bindings.remove(i));
    if secs == 0 {
        if let Some(old) = old {
            update.removed.push(old.contact_uri);
        }
        return;
    }
    match old {
        Some(old) if old.contact_uri == ask.uri => update.refreshed.push(ask.uri.clone()),
        Some(old) => {
            update.removed.push(old.contact_uri);
            update.added.push(ask.uri.clone());
        }
        None => update.added.push(ask.uri.clone()),
    }
    update.bindings.push(Binding {
        contact_uri: ask.uri.clone(),
        expires_at: arrival
            .now
            .checked_add_signed(chrono::Duration::seconds(i64::from(secs)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        call_id: req.call_id().clone(),
        cseq: req.cseq().seq,
        source: arrival.source,
        transport: arrival.transport,
        instance: ask.instance.clone(),
        reg_id: ask.reg_id,
        q: ask.q,
        user_agent: user_agent(req),
    });
}
