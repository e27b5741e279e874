//! The roster's vocabulary: typed agent IDs, tiers and states.

use std::fmt;
use std::str::FromStr;

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::tickets::TicketNumber;

/// An agent's row id in the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub i64);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Support tiers (SERVICE-STANDARD "Tiers"): L1 first line, L2 product
/// specialists, L3 experts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Tier {
    L1,
    L2,
    L3,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::L1, Tier::L2, Tier::L3];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "L1",
            Tier::L2 => "L2",
            Tier::L3 => "L3",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tier name that is not L1, L2 or L3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HL-AGENT-TIER: `{0}` is not a tier; use L1, L2 or L3")]
pub struct BadTier(pub String);

impl FromStr for Tier {
    type Err = BadTier;
    fn from_str(s: &str) -> Result<Tier, BadTier> {
        match s.trim().to_ascii_uppercase().as_str() {
            "L1" => Ok(Tier::L1),
            "L2" => Ok(Tier::L2),
            "L3" => Ok(Tier::L3),
            _ => Err(BadTier(s.to_string())),
        }
    }
}

/// Where an agent is in the working day. Being registered (a phone is
/// reachable) is separate: an agent can be `Available` with no reachable
/// phone, and routing then offers them nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Logged out: takes no calls.
    Offline,
    /// Logged in and idle: routing may offer a call.
    Available,
    /// A call is being offered; their phone rings.
    Ringing,
    /// Talking to a caller.
    OnCall,
    /// After a call, for the configured seconds.
    WrapUp,
    /// Logged in but not taking calls (with a reason).
    Paused,
}

impl AgentState {
    /// Ringing, talking or in wrap-up: taken by a call.
    pub fn in_call(self) -> bool {
        matches!(
            self,
            AgentState::Ringing | AgentState::OnCall | AgentState::WrapUp
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Offline => "offline",
            AgentState::Available => "available",
            AgentState::Ringing => "ringing",
            AgentState::OnCall => "on_call",
            AgentState::WrapUp => "wrap_up",
            AgentState::Paused => "paused",
        }
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgentState {
    type Err = String;
    fn from_str(s: &str) -> Result<AgentState, String> {
        Ok(match s {
            "offline" => AgentState::Offline,
            "available" => AgentState::Available,
            "ringing" => AgentState::Ringing,
            "on_call" => AgentState::OnCall,
            "wrap_up" => AgentState::WrapUp,
            "paused" => AgentState::Paused,
            other => return Err(format!("unknown agent state `{other}`")),
        })
    }
}

/// A SIP user name: the user part of an agent's address of record and the
/// digest `username`. Only the characters RFC 3261 (25.1, `user`) allows
/// unescaped, no `%` escapes and no colon (it would change what HA1
/// hashes), 1 to 64 of them, so the name is the same on the wire, in the
/// hash and in the roster.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SipUser(String);

/// Longest SIP user accepted.
pub const MAX_USER: usize = 64;

/// A user name with characters a SIP user part cannot carry as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HL-AGENT-USER: `{0}` is not a SIP user name; use 1 to 64 of letters, digits and - _ . ! ~ * ' ( ) & = + $ , ; ? / (no spaces, no colon, no @)")]
pub struct BadUser(pub String);

fn user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c)
}

impl SipUser {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SipUser {
    type Err = BadUser;
    fn from_str(s: &str) -> Result<SipUser, BadUser> {
        if s.is_empty() || s.len() > MAX_USER || !s.chars().all(user_char) {
            return Err(BadUser(s.chars().take(80).collect()));
        }
        Ok(SipUser(s.to_string()))
    }
}

impl TryFrom<String> for SipUser {
    type Error = BadUser;
    fn try_from(s: String) -> Result<SipUser, BadUser> {
        s.parse()
    }
}

impl From<SipUser> for String {
    fn from(u: SipUser) -> String {
        u.0
    }
}

impl fmt::Display for SipUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SipUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SipUser({:?})", self.0)
    }
}

/// Shortest password accepted: a desk phone's keypad makes long ones
/// painful, but a digest hash of a short one falls to a dictionary.
pub const MIN_PASSWORD: usize = 8;
/// Longest password accepted (anything longer is a paste gone wrong).
pub const MAX_PASSWORD: usize = 256;

/// An agent's password on its way to being hashed. It is never stored,
/// never serialized and never printed: `Debug` and `Display` show `***`,
/// so a `tracing` field or a `{:?}` of a struct holding it cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// A password the roster refuses (the message never repeats it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPassword {
    #[error("HL-AGENT-PASSWORD: the password is empty; give one with --password or on stdin with --password-stdin")]
    Empty,
    #[error("HL-AGENT-PASSWORD: the password has {0} characters; use at least {MIN_PASSWORD}")]
    TooShort(usize),
    #[error("HL-AGENT-PASSWORD: the password is longer than {MAX_PASSWORD} characters")]
    TooLong,
    #[error("HL-AGENT-PASSWORD: the password contains a control character (a newline in the middle?); use printable characters")]
    Control,
}

impl Password {
    pub fn new(s: impl Into<String>) -> Result<Password, BadPassword> {
        let s = s.into();
        let n = s.chars().count();
        if n == 0 {
            Err(BadPassword::Empty)
        } else if s.chars().any(char::is_control) {
            Err(BadPassword::Control)
        } else if n < MIN_PASSWORD {
            Err(BadPassword::TooShort(n))
        } else if n > MAX_PASSWORD {
            Err(BadPassword::TooLong)
        } else {
            Ok(Password(s))
        }
    }

    /// The clear text, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Who made a state change, as stored in `agent_events.actor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// `hotline agents ...`
    Cli,
    /// The admin HTTP API.
    Api,
    /// The agent, from the phone (feature codes, first registration).
    Phone,
    /// The daemon itself (routing, wrap-up timer, expiry).
    System,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Cli => "cli",
            Actor::Api => "api",
            Actor::Phone => "phone",
            Actor::System => "system",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Actor {
    type Err = String;
    fn from_str(s: &str) -> Result<Actor, String> {
        Ok(match s {
            "cli" => Actor::Cli,
            "api" => Actor::Api,
            "phone" => Actor::Phone,
            "system" => Actor::System,
            other => return Err(format!("unknown actor `{other}`")),
        })
    }
}

/// The transport a binding's REGISTER came over (and its INVITEs go over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Transport, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            other => return Err(format!("unknown transport `{other}`")),
        })
    }
}

/// One registered contact of an agent, as the registrar decided it and as
/// `agent_bindings` stores it (times to the microsecond, as PostgreSQL
/// keeps them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRecord {
    /// Exactly as the phone sent it, parameters and all.
    pub contact_uri: String,
    pub expires_at: DateTime<Utc>,
    pub call_id: String,
    pub cseq: u32,
    /// Where the REGISTER came from: INVITEs go here (NAT).
    pub source: SocketAddr,
    pub transport: Transport,
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
    pub user_agent: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub reachable: bool,
    /// Unanswered keep-alives in a row.
    pub failures: u32,
    pub last_seen_at: DateTime<Utc>,
}

/// A binding with the agent it belongs to (`AgentStore::all_bindings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub agent_id: AgentId,
    #[serde(flatten)]
    pub record: BindingRecord,
}

/// A roster entry with its current state. Holds no password hash: this is
/// what lists, the CLI and the API show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: AgentId,
    pub user: SipUser,
    pub display_name: String,
    pub tiers: Vec<Tier>,
    pub language: String,
    pub enabled: bool,
    pub realm: String,
    pub state: AgentState,
    pub state_since: DateTime<Utc>,
    pub state_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An agent with its registered contacts (`AgentStore::list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEntry {
    #[serde(flatten)]
    pub agent: Agent,
    pub bindings: Vec<BindingRecord>,
}

/// What a registrar needs to check a digest, for an in-memory cache. The
/// HA1s are password equivalents for digest authentication (whoever has
/// one can answer a challenge for that realm), so `Debug` hides them and
/// they are never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub id: AgentId,
    pub user: SipUser,
    pub enabled: bool,
    pub realm: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
    pub tiers: Vec<Tier>,
    pub language: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("enabled", &self.enabled)
            .field("realm", &self.realm)
            .field("ha1_md5", &"***")
            .field("ha1_sha256", &"***")
            .field("tiers", &self.tiers)
            .field("language", &self.language)
            .finish()
    }
}

/// One row of `agent_events`: a state change (or the agent's creation,
/// with no `from_state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEvent {
    pub id: i64,
    pub agent_id: AgentId,
    pub user: SipUser,
    pub at: DateTime<Utc>,
    pub from_state: Option<AgentState>,
    pub to_state: AgentState,
    pub reason: Option<String>,
    pub actor: Actor,
    pub call_id: Option<String>,
    pub ticket_number: Option<TicketNumber>,
}

/// A state change as it happened: what the CLI and the API report back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: AgentState,
    pub to: AgentState,
}

impl Transition {
    /// False when the agent was already in the state (nothing written).
    pub fn changed(&self) -> bool {
        self.from != self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_and_states_round_trip() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>(), Ok(t));
        }
        assert_eq!("l2".parse::<Tier>(), Ok(Tier::L2));
        assert!("L4".parse::<Tier>().is_err());
        for s in [
            AgentState::Offline,
            AgentState::Available,
            AgentState::Ringing,
            AgentState::OnCall,
            AgentState::WrapUp,
            AgentState::Paused,
        ] {
            assert_eq!(s.as_str().parse::<AgentState>(), Ok(s));
        }
    }

    #[test]
    fn sip_users_are_what_a_user_part_carries_unescaped() {
        for ok in ["agent3", "li.wei", "a-b_c", "100", "x!~*'()&=+$,;?/"] {
            assert!(ok.parse::<SipUser>().is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_USER + 1);
        for bad in ["", "a b", "a:b", "a@b", "a%20", "<a>", "é", long.as_str()] {
            let e = bad.parse::<SipUser>().unwrap_err();
            assert!(e.to_string().starts_with("HL-AGENT-USER"), "{e}");
        }
    }

    #[test]
    fn passwords_are_checked_and_never_shown() {
        assert_eq!(Password::new(""), Err(BadPassword::Empty));
        assert_eq!(Password::new("short"), Err(BadPassword::TooShort(5)));
        assert_eq!(Password::new("line\nbreak1"), Err(BadPassword::Control));
        let p = Password::new("correct horse").unwrap();
        assert_eq!(p.expose(), "correct horse");
        assert_eq!(format!("{p:?} {p}"), "Password(***) ***");
        let e = Password::new("secret!").unwrap_err().to_string();
        assert!(!e.contains("secret!"), "{e}");
    }

    #[test]
    fn credentials_debug_hides_the_hashes() {
        let c = Credentials {
            id: AgentId(1),
            user: "agent1".parse().unwrap(),
            enabled: true,
            realm: "hotline".into(),
            ha1_md5: "0123456789abcdef0123456789abcdef".into(),
            ha1_sha256: "f".repeat(64),
            tiers: vec![Tier::L1],
            language: "en".into(),
        };
        let d = format!("{c:?}");
        assert!(
            !d.contains("0123456789abcdef") && !d.contains("ffff"),
            "{d}"
        );
    }
}
