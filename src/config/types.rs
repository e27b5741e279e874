//! The typed shape of `config/hotline.toml`.
//!
//! Every struct denies unknown keys, so a typo is an error naming the key
//! rather than a silently ignored setting. Defaults are the desk's service
//! standard (`SERVICE-STANDARD.md`), so an empty file is a working desk.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::ConfigDuration;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub desk: DeskConfig,
    pub daemon: DaemonConfig,
    pub sip: SipConfig,
    pub admission: super::admission::AdmissionConfig,
    pub answer: AnswerConfig,
    pub media: MediaConfig,
    pub ivr: IvrConfig,
    pub admin: AdminConfig,
    pub database: DatabaseConfig,
    pub tickets: TicketsConfig,
    pub sla: SlaConfig,
    pub agents: AgentsConfig,
    pub routing: RoutingConfig,
    /// Service hours per tier, holidays and the SLA clock.
    pub hours: super::HoursConfig,
    /// The desk's key figures: targets and quality-control shares.
    pub report: super::ReportConfig,
    /// The SLA clock that runs without calls (breaches, escalation,
    /// progress updates).
    pub sla_scan: super::SlaScanConfig,
    /// Problem categories the desk uses; the IVR menu maps keys to these.
    #[serde(rename = "category")]
    pub categories: Vec<CategoryConfig>,
    /// The directory of the file this was read from (None: built-in
    /// defaults). Relative paths in the file are already resolved against
    /// it; the administrator's prompt layer `<dir>/prompts` is found here.
    #[serde(skip)]
    pub config_dir: Option<std::path::PathBuf>,
}

/// Who the desk is: spoken in the greeting, never baked into a recording.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeskConfig {
    pub company: String,
    /// IANA time zone is not needed: times are shown in the machine's local
    /// time; this only names the default prompt language.
    pub language: String,
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            company: "Example Corp".into(),
            language: "en".into(),
        }
    }
}

/// Process-level settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Where tickets' journal, recordings and the embedded database live;
    /// relative to the configuration file's directory. Empty: see
    /// [`crate::config::resolve_data_dir`].
    pub data_dir: String,
}

/// SIP signalling.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Addresses to listen on, UDP and TCP on each.
    pub listen: Vec<String>,
    /// Calls in progress at most; the next caller hears 503 at once.
    pub max_calls: u32,
    /// Peers (IP addresses) whose P-Asserted-Identity is believed.
    pub trusted_peers: Vec<String>,
    /// Seconds a draining daemon lets calls in progress continue.
    pub drain_timeout: ConfigDuration,
    /// RFC 3261 T1 (round-trip estimate): retransmissions start at T1 and a
    /// missing ACK ends the call after 64*T1. Leave at 500ms unless the
    /// network is known to be faster or slower.
    pub timer_t1: ConfigDuration,
    /// TCP connections open at once at most; more are closed at accept.
    pub tcp_max_connections: u32,
    /// A TCP connection silent this long (no CRLF keep-alive either) and
    /// used by no call or transaction is closed.
    pub tcp_idle_timeout: ConfigDuration,
    /// From its first byte, a message's header must arrive within this
    /// (a peer dripping a header, slowloris, is cut off).
    pub tcp_header_timeout: ConfigDuration,
    /// Bytes buffered per TCP connection at most: the largest message.
    pub tcp_max_buffer: u32,
    /// Responses queued per TCP connection at most; a peer that does not
    /// read until this is full has its connection closed.
    pub tcp_send_queue: u32,
    /// RFC 4028 session interval hotline asks for on the agents' legs
    /// (`Session-Expires` of its INVITE); the phone may lower it to no
    /// less than `min_se`. A dead leg is noticed within this.
    pub session_expires: ConfigDuration,
    /// RFC 4028 Min-SE: the shortest session interval accepted on either
    /// leg (shorter gets 422). At least 90s, the RFC's floor.
    pub min_se: ConfigDuration,
}

impl SipConfig {
    /// The transport's TCP limits from these keys.
    pub fn tcp_limits(&self) -> crate::sip::transport::TcpLimits {
        crate::sip::transport::TcpLimits {
            max_connections: self.tcp_max_connections as usize,
            idle_timeout: self.tcp_idle_timeout.as_duration(),
            header_timeout: self.tcp_header_timeout.as_duration(),
            max_buffer: self.tcp_max_buffer as usize,
            send_queue: self.tcp_send_queue as usize,
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: vec!["0.0.0.0:5060".into()],
            max_calls: 1000,
            trusted_peers: Vec::new(),
            drain_timeout: ConfigDuration(Duration::from_secs(60)),
            timer_t1: ConfigDuration(Duration::from_millis(500)),
            tcp_max_connections: 1024,
            tcp_idle_timeout: ConfigDuration(Duration::from_secs(180)),
            tcp_header_timeout: ConfigDuration(Duration::from_secs(10)),
            tcp_max_buffer: 65_535,
            tcp_send_queue: 64,
            session_expires: ConfigDuration(Duration::from_secs(1800)),
            min_se: ConfigDuration(Duration::from_secs(90)),
        }
    }
}

/// How quickly a call is answered ("within three rings").
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnswerConfig {
    /// Rings before the 200 OK (0 to 3).
    pub after_rings: u32,
    /// Length of one ring (North American cadence: 6 s).
    pub ring_period: ConfigDuration,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        Self {
            after_rings: 1,
            ring_period: ConfigDuration(Duration::from_secs(6)),
        }
    }
}

/// RTP media.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// UDP ports for RTP, `FIRST-LAST` (even ports are used, RTCP is +1).
    pub rtp_ports: String,
    /// Address put in SDP and Via/Contact. Empty: the address the caller
    /// dialled (Request-URI host) when it is an IP, else the SIP listen
    /// address when it is not a wildcard, else 127.0.0.1.
    pub address: String,
    /// A call with no RTP from the caller for this long (not while on hold)
    /// is ended with BYE.
    pub rtp_timeout: ConfigDuration,
    /// Directory of prompt WAVs (`en/`, `zh/`) over the built-in and
    /// installed ones, file by file; relative to the configuration file's
    /// directory. Empty: only the standard layers (`crate::shipped`).
    pub prompts_dir: String,
    /// Where media may go when the caller's SDP names another IP than the
    /// one its INVITE came from.
    pub remote_address: RemoteAddress,
}

/// `media.remote_address`. Either way RTP goes to an SDP address that has
/// not sent us media only after the caller's ACK, and is accepted only from
/// the SDP's or the signalling's IP (see `media::session::peer`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RemoteAddress {
    /// Any address the SDP names: trunks whose media gateway is not their
    /// signalling host, NAT'd phones (their RTP, from the signalling IP,
    /// latches).
    #[default]
    Any,
    /// Only the signalling source's IP: an SDP address elsewhere is never
    /// sent to; media goes where the caller's packets from that IP come
    /// from.
    SignallingSource,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            rtp_ports: "20000-30000".into(),
            address: String::new(),
            rtp_timeout: ConfigDuration(Duration::from_secs(30)),
            prompts_dir: String::new(),
            remote_address: RemoteAddress::Any,
        }
    }
}

impl MediaConfig {
    /// The port range, if `rtp_ports` is well formed.
    pub fn port_range(&self) -> Option<(u16, u16)> {
        let (a, b) = self.rtp_ports.split_once('-')?;
        let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        (a <= b && a >= 1024).then_some((a, b))
    }
}

/// Where the IVR call flow is defined.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IvrConfig {
    /// The flow file (see config/ivr.toml); relative to the configuration
    /// file's directory. Empty: the default flow built into the binary.
    pub flow: String,
}

/// The administrators' HTTP API and page.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
        }
    }
}

/// Where tickets are stored.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://...`; empty runs a private cluster under the data dir.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: u32,
    /// How long a write waits for the database (a connection, then its
    /// answer) before the ticket goes to the on-disk journal instead (the
    /// caller must not wait on a dead or hung DB).
    pub connect_timeout: ConfigDuration,
    /// The server's own bound on any one statement (`statement_timeout`,
    /// set on every connection): a statement stuck behind a lock ends.
    pub statement_timeout: ConfigDuration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            pool_size: 16,
            connect_timeout: ConfigDuration(Duration::from_secs(2)),
            statement_timeout: ConfigDuration(Duration::from_secs(10)),
        }
    }
}

/// Ticket numbering.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsConfig {
    /// Numbers reserved from the database sequence ahead of need, so a
    /// ticket journaled while the database is down already owns its number
    /// (the fewest held, whatever the intake rate).
    pub reserve_numbers: u32,
    /// Hold enough numbers for this long an outage at the intake rate
    /// measured (refilled while the database is up). Beyond it tickets are
    /// still journaled, numbered when the database returns.
    pub reserve_cover: ConfigDuration,
}

impl Default for TicketsConfig {
    fn default() -> Self {
        Self {
            reserve_numbers: 200,
            reserve_cover: ConfigDuration(Duration::from_secs(600)),
        }
    }
}

/// Tier names an agent or a severity can carry.
pub const TIERS: [&str; 3] = ["L1", "L2", "L3"];

/// The SLA table: one row per severity level.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    #[serde(rename = "severity")]
    pub severities: Vec<SeverityConfig>,
}

impl Default for SlaConfig {
    /// The desk's standard table: critical/major/minor.
    fn default() -> Self {
        let row = |digit: &str, name: &str, meaning: &str, resp: u64, res: u64, tier: &str| {
            SeverityConfig {
                digit: digit.into(),
                name: name.into(),
                meaning: meaning.into(),
                response: ConfigDuration(Duration::from_secs(resp * 60)),
                resolution: ConfigDuration(Duration::from_secs(res * 60)),
                tier: tier.into(),
            }
        };
        Self {
            severities: vec![
                row(
                    "1",
                    "critical",
                    "core business completely down, or major loss",
                    30,
                    4 * 60,
                    "L3",
                ),
                row(
                    "2",
                    "major",
                    "part of the business impaired, a workaround exists",
                    60,
                    8 * 60,
                    "L2",
                ),
                row(
                    "3",
                    "minor",
                    "no business impact: questions, cosmetic issues",
                    120,
                    24 * 60,
                    "L1",
                ),
            ],
        }
    }
}

/// One row of the SLA table.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeverityConfig {
    /// Keypad digit that picks this level in the severity menu.
    pub digit: String,
    /// Stored on tickets; lowercase letters, digits and `_`.
    pub name: String,
    /// Spoken and shown to people.
    #[serde(default)]
    pub meaning: String,
    /// Until a support person first talks to the caller.
    pub response: ConfigDuration,
    /// Until the problem is solved.
    pub resolution: ConfigDuration,
    /// Tier that handles it: L1, L2 or L3.
    pub tier: String,
}

/// A problem category.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    pub digit: String,
    /// Stored on tickets; lowercase letters, digits and `_`.
    pub name: String,
    #[serde(default)]
    pub label: String,
}

/// The desk's five categories, used when the file names none.
pub fn default_categories() -> Vec<CategoryConfig> {
    [
        ("1", "hardware", "Hardware"),
        ("2", "software", "Software"),
        ("3", "network", "Network"),
        ("4", "account_access", "Account and access"),
        ("5", "how_to", "How-to questions"),
    ]
    .into_iter()
    .map(|(digit, name, label)| CategoryConfig {
        digit: digit.into(),
        name: name.into(),
        label: label.into(),
    })
    .collect()
}

/// Agents' softphones: the registrar, digest authentication, keep-alive,
/// wrap-up and brute-force lock-out.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// Digest realm named in challenges. The stored password hashes (HA1)
    /// include it: changing it means setting every agent's password again.
    pub realm: String,
    /// How long a nonce is good for; an older one gets a new challenge
    /// with `stale=true` (the phone retries without asking the agent).
    pub nonce_lifetime: ConfigDuration,
    /// Shortest registration accepted; shorter asks get 423 with Min-Expires.
    pub min_expires: ConfigDuration,
    /// Longest registration granted; longer asks are cut to this.
    pub max_expires: ConfigDuration,
    /// Registration length when the phone names none.
    pub default_expires: ConfigDuration,
    /// Contacts one agent may have registered at once (desk phone,
    /// softphone, mobile); one more gets 403.
    pub max_bindings: u32,
    /// OPTIONS to each registered contact this often.
    pub keepalive_interval: ConfigDuration,
    /// Unanswered keep-alives in a row before the contact is unreachable
    /// and its agent is offered no calls.
    pub keepalive_failures: u32,
    /// After each call the agent is in wrap-up this long, then available.
    pub wrap_up: ConfigDuration,
    /// A first registered contact logs the agent in (available); false:
    /// the agent logs in with *50.
    pub login_on_register: bool,
    /// Failed authentications from one source address (or for one user)
    /// within `lockout_window` before it is locked out.
    pub lockout_threshold: u32,
    pub lockout_window: ConfigDuration,
    /// A locked-out source gets 403 without a check for this long.
    pub lockout_period: ConfigDuration,
    /// Phones whose User-Agent starts with one of these (case-insensitive)
    /// are challenged with MD5 only: they give up at the first challenge
    /// whose algorithm they do not know instead of reading the next one
    /// (against RFC 8760 §2.4). Debian's baresip 1.0 (libre 1.x) does.
    pub md5_only_user_agents: Vec<String>,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            realm: "hotline".into(),
            nonce_lifetime: ConfigDuration(Duration::from_secs(300)),
            min_expires: ConfigDuration(Duration::from_secs(60)),
            max_expires: ConfigDuration(Duration::from_secs(3600)),
            default_expires: ConfigDuration(Duration::from_secs(3600)),
            max_bindings: 10,
            keepalive_interval: ConfigDuration(Duration::from_secs(30)),
            keepalive_failures: 3,
            wrap_up: ConfigDuration(Duration::from_secs(30)),
            login_on_register: true,
            lockout_threshold: 5,
            lockout_window: ConfigDuration(Duration::from_secs(60)),
            lockout_period: ConfigDuration(Duration::from_secs(300)),
            md5_only_user_agents: vec!["baresip v0.".into(), "baresip v1.".into()],
        }
    }
}

/// How waiting callers are ordered.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QueueOrder {
    /// Earliest response deadline first (time left to the SLA breach),
    /// ties by severity (order of the SLA table), then arrival.
    #[default]
    Sla,
    /// Most severe level first (order of the SLA table), first come first
    /// served within a level: what Asterisk and FreeSWITCH do.
    FifoPerSeverity,
}

/// Which available agent of the allowed tiers gets the call.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStrategy {
    /// Idle longest since the end of their wrap-up.
    #[default]
    LongestIdle,
    /// Fewest calls taken since the daemon started, then longest idle.
    FewestCalls,
    /// Each in turn: the agent offered a call least recently.
    RoundRobin,
    /// Ring every available agent of the tier at once; the first to
    /// answer wins, the others get CANCEL.
    RingAll,
}

/// A caller queued while no agent of any tier that could take the call is
/// logged in.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhenNoAgents {
    /// Stay in the queue (someone may log in).
    #[default]
    Wait,
    /// Offer the callback at once instead of after the maximum wait.
    OfferCallback,
}

/// Which bridged calls are recorded.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RecordingMode {
    All,
    None,
    /// `recording_share` of the calls, spread evenly (every fifth call at
    /// 0.2): quality control listens to 20 % of calls.
    #[default]
    Share,
}

/// Calls to agents: queue order, agent choice, ringing, announcements,
/// overflow and callbacks. The wrap-up time is `agents.wrap_up`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Route ticketed callers to agents. `false` runs hotline as intake
    /// only: the flow's `queue` step plays its prompts (goodbye) and hangs
    /// up, as before the desk had agents.
    pub enabled: bool,
    pub order: QueueOrder,
    pub strategy: RoutingStrategy,
    /// An agent's phone rings this long before the next agent is tried.
    pub ring_timeout: ConfigDuration,
    /// Unanswered offers in a row before the agent is paused ("no answer").
    pub max_misses: u32,
    /// A waiting caller hears position and expected wait this often.
    pub announce_every: ConfigDuration,
    /// A waiting ticket this close to its response deadline is at risk.
    pub sla_risk_margin: ConfigDuration,
    pub when_no_agents: WhenNoAgents,
    /// Handle time (talk and wrap-up) assumed for the expected wait until
    /// calls have been measured.
    pub expected_handle_time: ConfigDuration,
    pub recording: RecordingMode,
    /// Share of calls recorded when `recording = "share"` (0.0 to 1.0).
    pub recording_share: f64,
    /// Absent: the severity handled by L3 adds L2 after 60 s and the one
    /// handled by L1 adds L2 after 5 min (see [`RoutingConfig::overflow_rules`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Vec<OverflowRule>>,
    /// Absent: the severity handled by L1 is offered a callback after
    /// 10 min (see [`RoutingConfig::max_wait_rules`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<Vec<MaxWaitRule>>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            order: QueueOrder::default(),
            strategy: RoutingStrategy::default(),
            ring_timeout: ConfigDuration(Duration::from_secs(15)),
            max_misses: 3,
            announce_every: ConfigDuration(Duration::from_secs(30)),
            sla_risk_margin: ConfigDuration(Duration::from_secs(600)),
            when_no_agents: WhenNoAgents::default(),
            expected_handle_time: ConfigDuration(Duration::from_secs(300)),
            recording: RecordingMode::default(),
            recording_share: 0.2,
            overflow: None,
            max_wait: None,
        }
    }
}

/// After `after` in the queue, a `severity` caller may also be taken by
/// `tiers` (tried in the order given, after the tiers already allowed).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OverflowRule {
    pub severity: String,
    pub after: ConfigDuration,
    pub tiers: Vec<String>,
}

/// After `after` in the queue, a `severity` caller is offered a callback.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MaxWaitRule {
    pub severity: String,
    pub after: ConfigDuration,
}

impl RoutingConfig {
    /// The rules in force. Written rules are used as written; without any,
    /// the defaults follow the tiers of the SLA table rather than its
    /// names, so switching to urgent/important/general keeps them.
    pub fn overflow_rules(&self, sla: &SlaConfig) -> Vec<OverflowRule> {
        if let Some(rules) = &self.overflow {
            return rules.clone();
        }
        let by_tier = |tier: &'static str, secs: u64| {
            sla.severities
                .iter()
                .filter(move |s| s.tier == tier)
                .map(move |s| OverflowRule {
                    severity: s.name.clone(),
                    after: ConfigDuration(Duration::from_secs(secs)),
                    tiers: vec!["L2".into()],
                })
        };
        by_tier("L3", 60).chain(by_tier("L1", 300)).collect()
    }

    /// As [`Self::overflow_rules`]: written rules, or a callback offer after
    /// 10 min for the severity handled by L1.
    pub fn max_wait_rules(&self, sla: &SlaConfig) -> Vec<MaxWaitRule> {
        if let Some(rules) = &self.max_wait {
            return rules.clone();
        }
        sla.severities
            .iter()
            .filter(|s| s.tier == "L1")
            .map(|s| MaxWaitRule {
                severity: s.name.clone(),
                after: ConfigDuration(Duration::from_secs(600)),
            })
            .collect()
    }
}
