//! The part of the configuration a call needs, fixed when the call starts
//! (a reload applies to new calls only).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use crate::config::{Config, RemoteAddress};
use crate::hours::{DeskStaffing, ServiceHours};
use crate::ivr::registry::LoadedFlow;
use crate::ivr::Staffing;
use crate::media::session::RemotePolicy;
use crate::sip::message::Request;
use crate::sip::transaction::Timers;
use crate::sip::validate::Policy;
use crate::tickets::SlaPolicy;

/// Call-level settings, shared by all calls started under one config.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// Rings before the 200 OK, and the length of one ring.
    pub after_rings: u32,
    pub ring_period: Duration,
    pub timers: Timers,
    pub policy: Policy,
    /// Whose P-Asserted-Identity we believe.
    pub trusted_peers: Vec<IpAddr>,
    /// Configured media address (`media.address`), if any.
    pub media_address: Option<IpAddr>,
    /// The SIP address we listen on (for Via sent-by and Contact).
    pub sip_listen: SocketAddr,
    pub max_calls: usize,
    /// Per-source rate limit and load shedding for new calls.
    pub admission: super::admission::AdmissionSettings,
    pub drain_timeout: Duration,
    pub rtp_timeout: Duration,
    /// `media.remote_address`: may media go to an SDP address off the
    /// caller's signalling IP.
    pub remote_address: RemotePolicy,
    /// The IVR flow and its prompts, as validated together at (re)load.
    pub flow: Arc<LoadedFlow>,
    /// The SLA table in force for tickets of calls started now.
    pub sla: Arc<SlaPolicy>,
    /// The desk's hours, for the flow's `staffed` and `callback_time`.
    pub staffing: Arc<dyn Staffing>,
}

/// `[admission]` as the dispatcher uses it.
fn admission_settings(a: &crate::config::AdmissionConfig) -> super::admission::AdmissionSettings {
    use super::admission::{AdmissionSettings, LoadLimits, RateLimit};
    AdmissionSettings {
        rate: RateLimit {
            rate: f64::from(a.invite_rate),
            burst: a.invite_burst,
            max_sources: a.max_sources as usize,
        },
        load: LoadLimits {
            max_scheduling_lag: a.max_scheduling_lag.as_duration(),
            max_dispatch_queue: a.max_dispatch_queue as usize,
            max_rtp_lateness: a.max_rtp_lateness.as_duration(),
            shed_after: a.shed_after.as_duration(),
            calm_for: a.calm_for.as_duration(),
        },
        max_transactions: a.max_transactions as usize,
        retry_after: a.retry_after.as_duration().as_secs().max(1) as u32,
    }
}

impl CallSettings {
    /// From a validated configuration; `sip_listen` is the bound address
    /// (the configured one may say port 0).
    pub fn from_config(c: &Config, sip_listen: SocketAddr, flow: Arc<LoadedFlow>) -> Self {
        Self {
            after_rings: c.answer.after_rings,
            ring_period: c.answer.ring_period.as_duration(),
            timers: Timers {
                t1: c.sip.timer_t1.as_duration(),
                // T2 and T4 keep their RFC values unless T1 is raised past them.
                t2: Timers::default().t2.max(c.sip.timer_t1.as_duration()),
                t4: Timers::default().t4,
            },
            policy: Policy::default(),
            trusted_peers: c
                .sip
                .trusted_peers
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
            media_address: c.media.address.parse().ok(),
            sip_listen,
            max_calls: c.sip.max_calls as usize,
            admission: admission_settings(&c.admission),
            drain_timeout: c.sip.drain_timeout.as_duration(),
            rtp_timeout: c.media.rtp_timeout.as_duration(),
            remote_address: match c.media.remote_address {
                RemoteAddress::Any => RemotePolicy::Any,
                RemoteAddress::SignallingSource => RemotePolicy::SignallingSource,
            },
            flow,
            sla: Arc::new(SlaPolicy::from_config(c)),
            staffing: Arc::new(desk_staffing(c)),
        }
    }

    /// How long after the INVITE the 200 OK goes out.
    pub fn answer_delay(&self) -> Duration {
        self.ring_period * self.after_rings
    }

    /// Our address for this call: configured, else the one the caller
    /// dialled (an IP literal in the Request-URI), else the listen address,
    /// else loopback. Never a DNS lookup.
    pub fn local_ip(&self, invite: &Request) -> IpAddr {
        if let Some(ip) = self.media_address {
            return ip;
        }
        let dialled = invite
            .uri()
            .host()
            .and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified());
        dialled.unwrap_or_else(|| {
            let ip = self.sip_listen.ip();
            if ip.is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                ip
            }
        })
    }
}

/// The schedule of `[hours]` seen per severity: its SLA tier and every
/// overflow tier (validation has refused a schedule that does not parse;
/// should one slip through, the desk is taken as never closed).
fn desk_staffing(c: &Config) -> DeskStaffing {
    let hours = ServiceHours::from_config(&c.hours).unwrap_or_default();
    let tiers = crate::routing::Settings::from_config(c)
        .severities
        .into_iter()
        .map(|s| {
            let mut tiers = vec![s.tier];
            tiers.extend(s.overflow.into_iter().flat_map(|(_, t)| t));
            (s.name, tiers)
        })
        .collect();
    DeskStaffing::new(Arc::new(hours), tiers)
}
