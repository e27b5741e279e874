//! What a ticket is, as stored and as journaled.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::config::SlaClock;

/// The short number a caller hears and types back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNumber(pub i64);

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TicketNumber {
    /// A number this process gave a ticket journaled when no final number
    /// could be had (reserve empty, database down): negative, never read
    /// to the caller, replaced by a number from the database sequence when
    /// the journal replays (see `tickets::store`).
    pub fn is_provisional(self) -> bool {
        self.0 < 0
    }
}

impl FromStr for TicketNumber {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().trim_start_matches('#').parse().map(TicketNumber)
    }
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    InProgress,
    Escalated,
    Resolved,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InProgress => "in_progress",
            Self::Escalated => "escalated",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    /// Still on the desk: the SLA clock is running.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Resolved | Self::Closed)
    }
}

impl FromStr for TicketStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "open" => Self::Open,
            "in_progress" => Self::InProgress,
            "escalated" => Self::Escalated,
            "resolved" => Self::Resolved,
            "closed" => Self::Closed,
            other => return Err(format!("unknown ticket status `{other}`")),
        })
    }
}

/// What the intake knows when it asks for a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTicket {
    /// SIP Call-ID: creating the same call's ticket twice returns the first.
    pub call_id: String,
    pub caller_number: String,
    pub caller_name: Option<String>,
    /// The caller asked for privacy (`Privacy: id`, anonymous From).
    pub caller_private: bool,
    pub customer_ref: Option<String>,
    pub callback_number: Option<String>,
    pub category: Option<String>,
    /// A severity name from the SLA table in force.
    pub severity: String,
    /// SLA start: when the call reached the hotline.
    pub received_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub flow_version: Option<String>,
}

/// A ticket row: what is stored in PostgreSQL and, while it is down, in the
/// journal. Every time is UTC; deadlines were computed from `received_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub number: TicketNumber,
    pub call_id: String,
    pub caller_number: String,
    pub caller_name: Option<String>,
    pub caller_private: bool,
    pub customer_ref: Option<String>,
    pub callback_number: Option<String>,
    pub category: Option<String>,
    pub severity: String,
    pub status: TicketStatus,
    pub received_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The promise made to this caller, kept even if the policy changes.
    #[serde(with = "seconds")]
    pub response_target: TimeDelta,
    #[serde(with = "seconds")]
    pub resolution_target: TimeDelta,
    pub response_due_at: DateTime<Utc>,
    pub resolution_due_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub assigned_agent: Option<String>,
    pub assigned_tier: String,
    pub voice_note_path: Option<String>,
    pub recording_path: Option<String>,
    pub flow_version: Option<String>,
    /// Time in the queue until the first agent answered (or until the
    /// caller left the queue); `None` while never queued.
    #[serde(default, rename = "queue_wait_ms", with = "opt_millis")]
    pub queue_wait: Option<TimeDelta>,
    /// The caller pressed 1 for a callback while waiting.
    #[serde(default)]
    pub callback_requested_at: Option<DateTime<Utc>>,
    /// Escalations by agents (keypad code or transfer to a tier).
    #[serde(default)]
    pub escalations: i32,
    /// The clock the deadlines were computed on (`[hours] sla_clock`).
    #[serde(default)]
    pub sla_clock: SlaClock,
}

/// The longest Call-ID kept on a ticket (bytes, after escaping); a peer
/// controls it, and it reaches logs, the journal and the database.
pub const MAX_CALL_ID: usize = 256;

/// `call_id` fit for logs and the database: bytes outside printable ASCII
/// and `\\` escaped as `\\xNN`, then cut to [`MAX_CALL_ID`] bytes (on an
/// escape's boundary). RFC 3261 Call-IDs are printable ASCII, so a
/// well-formed one is unchanged.
pub fn safe_call_id(call_id: &str) -> String {
    let mut out = String::with_capacity(call_id.len().min(MAX_CALL_ID));
    for b in call_id.bytes() {
        let piece = if (0x21..=0x7e).contains(&b) && b != b'\\' {
            (b as char).to_string()
        } else {
            format!("\\x{b:02x}")
        };
        if out.len() + piece.len() > MAX_CALL_ID {
            break;
        }
        out.push_str(&piece);
    }
    out
}

impl Ticket {
    /// What makes a ticket one call's: the Call-ID and the INVITE's
    /// arrival (`received_at`, in microseconds as stored). The Call-ID
    /// alone is the peer's to choose, so a second caller who reuses one
    /// would be handed the first caller's ticket; the arrival instant is
    /// ours, and it travels in the journal with the ticket, so a replay
    /// finds the same key and writes the ticket once. (A From tag would be
    /// the peer's choice too, and a source address is shared behind NAT.)
    pub fn key(&self) -> String {
        format!("{}@{}", self.call_id, self.received_at.timestamp_micros())
    }

    /// What routing has set, under the names the desk uses.
    pub fn routing(&self) -> RoutingView {
        RoutingView {
            first_response_at: self.first_response_at,
            agent: self.assigned_agent.clone(),
            tier: self.assigned_tier.clone(),
            queue_wait_ms: self.queue_wait.map(|d| d.num_milliseconds()),
            recording_path: self.recording_path.clone(),
            callback_requested_at: self.callback_requested_at,
            escalations: self.escalations,
        }
    }
}

/// The routing side of a ticket, as `tickets show --json` and the admin
/// API show it beside the full row: who took it (SIP user), the tier, when
/// (the response SLA stops there), the queue wait, the recording.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingView {
    pub first_response_at: Option<DateTime<Utc>>,
    pub agent: Option<String>,
    pub tier: String,
    pub queue_wait_ms: Option<i64>,
    pub recording_path: Option<String>,
    pub callback_requested_at: Option<DateTime<Utc>>,
    pub escalations: i32,
}

/// Fields a change may set; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TicketStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_response_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_note_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_path: Option<String>,
    /// Free text for the history (e.g. "recording stopped: disk full").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

/// An agent took the call: their phone's 200 OK. What routing writes on
/// the ticket (`first_response_at` the first time only, agent, tier,
/// status `in_progress`, the queue wait, `assigned` + `answered` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The agent's SIP user.
    pub agent: String,
    /// The tier that took the call (`L1`, `L2`, `L3`).
    pub tier: String,
    /// When the agent's 200 OK arrived: the first response.
    pub answered_at: DateTime<Utc>,
    /// How long the caller waited in the queue for this agent.
    #[serde(with = "std_millis")]
    pub waited: Duration,
    /// The caller's Call-ID: with `answered_at` it names this assignment,
    /// so writing it twice (a replay, a retry) records it once.
    pub call_id: String,
}

/// Something routing records on a ticket's history (some also set a field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RoutingEvent {
    /// The caller hung up while waiting (sets `queue_wait` if unset).
    AbandonedInQueue {
        #[serde(with = "std_millis")]
        waited: Duration,
        call_id: String,
    },
    /// The response deadline will likely pass before an agent is free.
    SlaAtRisk {
        due: DateTime<Utc>,
        #[serde(default, with = "opt_std_millis")]
        expected_wait: Option<Duration>,
    },
    /// The response deadline passed with the caller still waiting.
    SlaBreached { due: DateTime<Utc> },
    /// An agent sent the call to another tier (sets `assigned_tier`,
    /// status `escalated`, counts `escalations`). `by`: the agent's user.
    Escalated {
        from: String,
        to: String,
        by: String,
    },
    /// The caller pressed 1 to be called back at `number` (sets
    /// `callback_requested_at`, and `callback_number` if unset).
    CallbackRequested { number: String },
    /// The agent's leg dropped during the call (BYE, RTP timeout).
    CallCut { agent: String, reason: String },
    /// The call's recording (sets `recording_path`).
    Recorded { path: String },
}

impl RoutingEvent {
    /// The history action name, stable (reports count them).
    pub fn action(&self) -> &'static str {
        match self {
            Self::AbandonedInQueue { .. } => "abandoned_in_queue",
            Self::SlaAtRisk { .. } => "sla_at_risk",
            Self::SlaBreached { .. } => "sla_breached",
            Self::Escalated { .. } => "escalated",
            Self::CallbackRequested { .. } => "callback_requested",
            Self::CallCut { .. } => "call_cut",
            Self::Recorded { .. } => "recorded",
        }
    }

    /// The history entry's op-id: the same event written twice (journal
    /// replay, a retry, the intake and routing both reporting one
    /// abandonment) is recorded once. SLA events happen once per ticket;
    /// an abandonment once per call; the others once per moment.
    pub fn op_id(&self, number: TicketNumber, at: DateTime<Utc>) -> String {
        let action = self.action();
        match self {
            Self::SlaAtRisk { .. } | Self::SlaBreached { .. } => format!("{action}-{number}"),
            Self::AbandonedInQueue { call_id, .. } => format!("{action}-{number}-{call_id}"),
            _ => format!("{action}-{number}-{}", at.timestamp_micros()),
        }
    }
}

/// A std `Duration` as a `TimeDelta` (saturating; waits are small).
/// A wait as PostgreSQL can store it: `INTERVAL` keeps microseconds, and
/// refuses a value with nanoseconds rather than round it.
pub fn delta(d: Duration) -> TimeDelta {
    let micros = Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    TimeDelta::from_std(micros).unwrap_or(TimeDelta::MAX)
}

/// `Duration` as whole milliseconds in JSON.
mod std_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

mod opt_std_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// `Option<TimeDelta>` as whole milliseconds in JSON.
mod opt_millis {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<TimeDelta>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.num_milliseconds()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TimeDelta>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(TimeDelta::milliseconds))
    }
}

/// `TimeDelta` as whole seconds in the journal's JSON.
mod seconds {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &TimeDelta, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
        let secs = i64::deserialize(d)?;
        TimeDelta::try_seconds(secs)
            .ok_or_else(|| serde::de::Error::custom("duration out of range"))
    }
}
