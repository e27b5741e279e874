//! What the shell tells the router ([`Input`]) and what the router asks
//! of it ([`Output`]).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::agents::{AgentId, AgentState, Tier};
use crate::tickets::TicketNumber;

use super::queue::{NewEntry, QueueEntryId};

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A ticketed caller reached the flow's `queue` step.
    Enqueue(NewEntry),
    /// An agent sent the caller back for tier `to` (`*2`, `*3`, REFER to a
    /// tier): queued for that tier only, ahead of the SLA order. The shell
    /// also sends `CallEnded` for the escalating agent.
    Escalate {
        entry: NewEntry,
        to: Tier,
    },
    /// An agent transferred the caller to one agent by name (REFER to
    /// `sip:bob@...`): queued like an escalation to `to` (the target's
    /// tier, ahead of the SLA order) and offered to `agent` at once if that
    /// agent is free. If not (on a call, wrap-up, paused, offline,
    /// unreachable), or if the target then misses or refuses the offer,
    /// any agent of `to` may take the caller ([`Output::TransferToTier`]
    /// says so at once). The shell also sends `CallEnded` for the
    /// transferring agent.
    Transfer {
        entry: NewEntry,
        agent: AgentId,
        to: Tier,
    },
    /// The caller pressed 1 for a callback and left the line: the entry
    /// keeps its place; when its turn comes its `Offer` says `callback`.
    CallbackAccepted {
        entry: QueueEntryId,
    },
    /// The entry leaves the queue without an agent.
    EntryLeft {
        entry: QueueEntryId,
        why: LeaveReason,
    },
    /// Logged in (or tiers/reachability refreshed, if already logged in).
    Login {
        agent: AgentId,
        tiers: Vec<Tier>,
        reachable: bool,
    },
    /// Logged out; during a call, after it.
    Logout {
        agent: AgentId,
    },
    /// Paused from outside (feature code, admin); during a call, after it.
    Pause {
        agent: AgentId,
        reason: String,
    },
    Resume {
        agent: AgentId,
    },
    /// The agent has (or no longer has) a binding that answers.
    Reachability {
        agent: AgentId,
        reachable: bool,
    },
    /// The agent's phone answered (200 OK) the offer of `entry`.
    OfferAnswered {
        entry: QueueEntryId,
        agent: AgentId,
    },
    /// The agent's leg of the offer failed before an answer.
    OfferFailed {
        entry: QueueEntryId,
        agent: AgentId,
        why: OfferFailure,
    },
    /// The agent's call ended (either side hung up): wrap-up begins.
    CallEnded {
        agent: AgentId,
    },
}

/// Why an offer to one agent failed, as the shell classifies the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferFailure {
    /// Rang out on the phone's side: counts as a miss, like the core's own
    /// ring timeout.
    NoAnswer,
    /// 486 or 600: next agent, no miss.
    Busy,
    /// 603: next agent, no miss.
    Declined,
    /// 408, 480, 503 or no response at all from every binding: the agent
    /// is unreachable until the shell says otherwise (`Reachability`).
    Unreachable,
}

/// Why an entry left the queue without an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The caller hung up while waiting: the ticket is marked abandoned
    /// in queue, with the wait.
    Abandoned,
    /// A callback request withdrawn or served elsewhere.
    CallbackClosed,
    /// The shell ended the call (shutdown drain, a failure on the leg).
    Ended,
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Abandoned => "abandoned",
            LeaveReason::CallbackClosed => "callback_closed",
            LeaveReason::Ended => "ended",
        }
    }
}

/// Why an agent changed state: what goes into the `agent_events` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateReason {
    Login,
    Logout,
    /// Paused from outside, with the reason given.
    Pause(String),
    Resume,
    Offered,
    Answered,
    /// The entry was answered by another agent (`ring_all`).
    AnsweredElsewhere,
    /// Ring timeout or the phone rang out; at `max_misses` in a row the
    /// agent is paused with this reason ("no answer").
    NoAnswer,
    Busy,
    Declined,
    Unreachable,
    /// The caller left (or the offer was withdrawn) while ringing.
    OfferWithdrawn,
    CallEnded,
    WrapUpDone,
}

impl fmt::Display for StateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateReason::Login => "login",
            StateReason::Logout => "logout",
            StateReason::Pause(r) => r,
            StateReason::Resume => "resume",
            StateReason::Offered => "offered",
            StateReason::Answered => "answered",
            StateReason::AnsweredElsewhere => "answered elsewhere",
            StateReason::NoAnswer => "no answer",
            StateReason::Busy => "busy",
            StateReason::Declined => "declined",
            StateReason::Unreachable => "unreachable",
            StateReason::OfferWithdrawn => "offer withdrawn",
            StateReason::CallEnded => "call ended",
            StateReason::WrapUpDone => "wrap-up done",
        })
    }
}

/// What the shell must do; see each variant.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Ring these agents (all their bindings) for `entry`: one agent, or
    /// every free agent of the tier with `ring_all`. `callback`: the
    /// caller asked to be called back and is not on the line.
    Offer {
        entry: QueueEntryId,
        ticket: TicketNumber,
        agents: Vec<AgentId>,
        tier: Tier,
        callback: bool,
    },
    /// Stop ringing this agent for `entry` (CANCEL). A 200 OK crossing the
    /// CANCEL is the shell's to ACK and BYE; the core ignores it.
    CancelOffer { entry: QueueEntryId, agent: AgentId },
    /// The agent took the call: bridge the legs; on the ticket set
    /// `first_response_at`, agent, tier, status `in_progress`, the
    /// `assigned`/`answered` events and the wait; record if `record`.
    Assigned {
        entry: QueueEntryId,
        ticket: TicketNumber,
        agent: AgentId,
        tier: Tier,
        waited: Duration,
        record: bool,
    },
    /// Persist (agent_events) and mirror the state (admin page).
    AgentStateChanged {
        agent: AgentId,
        from: AgentState,
        to: AgentState,
        reason: StateReason,
    },
    /// No binding of the agent answered: mark them unreachable; send
    /// `Reachability { reachable: true }` when a phone answers again.
    AgentUnreachable { agent: AgentId },
    /// More tiers may now take the entry (all allowed tiers, in order).
    Overflowed {
        entry: QueueEntryId,
        ticket: TicketNumber,
        tiers: Vec<Tier>,
    },
    /// Tell the caller their position and expected wait (`None`: no agent
    /// serving their tiers is logged in, so no estimate) in `language`.
    Announce {
        entry: QueueEntryId,
        position: usize,
        expected_wait: Option<Duration>,
        language: String,
    },
    /// Offer the caller a callback (once per entry); `CallbackAccepted`
    /// if they take it.
    OfferCallback {
        entry: QueueEntryId,
        ticket: TicketNumber,
    },
    /// `sla_at_risk` event on the ticket and a WARN line (once).
    SlaAtRisk {
        entry: QueueEntryId,
        ticket: TicketNumber,
        due: DateTime<Utc>,
        expected_wait: Option<Duration>,
    },
    /// `sla_breached` event on the ticket (once), the caller still waiting.
    SlaBreached {
        entry: QueueEntryId,
        ticket: TicketNumber,
        due: DateTime<Utc>,
    },
    /// The agent a caller was transferred to (`Input::Transfer`) was not
    /// free: the caller waits for any agent of `tier` instead (log it).
    TransferToTier {
        entry: QueueEntryId,
        ticket: TicketNumber,
        agent: AgentId,
        tier: Tier,
    },
    /// The entry is gone after `EntryLeft`; for `Abandoned`, mark the
    /// ticket abandoned in queue with `waited`.
    Left {
        entry: QueueEntryId,
        ticket: TicketNumber,
        why: LeaveReason,
        waited: Duration,
    },
}
