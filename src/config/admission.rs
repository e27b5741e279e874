//! `[admission]`: who may start a call now, under a flood and under load
//! (issue 14, hardening 4 and 5). Defaults suit a 2-core machine taking
//! calls from phones and a few trunks; see the README's "Overload".

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::ConfigDuration;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionConfig {
    /// New INVITEs per second one source IP address may send; more get 503
    /// with Retry-After. 0 turns the limit off. A trunk carries every
    /// call of its carrier: size this for its busiest second.
    pub invite_rate: u32,
    /// INVITEs a source may send at once above its rate.
    pub invite_burst: u32,
    /// Sources tracked at most (bounded memory under spoofed floods);
    /// sources beyond share one bucket.
    pub max_sources: u32,
    /// Shed new calls while the runtime wakes tasks this late (measured
    /// by a probe task every 10 ms).
    pub max_scheduling_lag: ConfigDuration,
    /// Shed new calls while this many received messages wait for the
    /// dispatcher.
    pub max_dispatch_queue: u32,
    /// Shed new calls while media sessions send RTP this late.
    pub max_rtp_lateness: ConfigDuration,
    /// Shedding starts once a signal has stayed over its limit this long
    /// (a lone stall is not overload).
    pub shed_after: ConfigDuration,
    /// Shedding stops once every signal has stayed under its limit this long.
    pub calm_for: ConfigDuration,
    /// SIP transactions live at once at most; over it a new request gets a
    /// stateless 503.
    pub max_transactions: u32,
    /// The Retry-After of a 503 to a new call.
    pub retry_after: ConfigDuration,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            invite_rate: 50,
            invite_burst: 100,
            max_sources: 10_000,
            max_scheduling_lag: ConfigDuration(Duration::from_millis(50)),
            max_dispatch_queue: 2000,
            max_rtp_lateness: ConfigDuration(Duration::from_millis(20)),
            shed_after: ConfigDuration(Duration::from_millis(300)),
            calm_for: ConfigDuration(Duration::from_secs(2)),
            max_transactions: 20_000,
            retry_after: ConfigDuration(Duration::from_secs(30)),
        }
    }
}

/// The rules: each problem as (key, what would be valid).
pub(super) fn validate(a: &AdmissionConfig, p: &mut Vec<(String, String)>) {
    let mut bad = |key: &str, msg: String| p.push((format!("admission.{key}"), msg));
    if a.invite_rate > 100_000 {
        bad(
            "invite_rate",
            format!("is {}; use 0 (off) to 100000 per second", a.invite_rate),
        );
    }
    if a.invite_burst == 0 || a.invite_burst > 1_000_000 {
        bad(
            "invite_burst",
            format!("is {}; use 1 to 1000000", a.invite_burst),
        );
    }
    if a.max_sources == 0 || a.max_sources > 1_000_000 {
        bad(
            "max_sources",
            format!("is {}; use 1 to 1000000", a.max_sources),
        );
    }
    let ten_s = Duration::from_secs(10);
    for (key, d) in [
        ("max_scheduling_lag", a.max_scheduling_lag),
        ("max_rtp_lateness", a.max_rtp_lateness),
    ] {
        if d.as_duration() > ten_s {
            bad(
                key,
                format!("is {d}; use 0s to 10s (0 sheds every new call)"),
            );
        }
    }
    // The transports' queue to the dispatcher holds 8192 messages.
    if a.max_dispatch_queue > 8192 {
        bad(
            "max_dispatch_queue",
            format!(
                "is {}; use 0 to 8192 (0 sheds every new call)",
                a.max_dispatch_queue
            ),
        );
    }
    if a.shed_after.as_duration() > ten_s {
        bad("shed_after", format!("is {}; use 0s to 10s", a.shed_after));
    }
    let calm = a.calm_for.as_duration();
    if calm < Duration::from_millis(100) || calm > Duration::from_secs(600) {
        bad("calm_for", format!("is {}; use 100ms to 10m", a.calm_for));
    }
    if a.max_transactions < 100 || a.max_transactions > 1_000_000 {
        bad(
            "max_transactions",
            format!("is {}; use 100 to 1000000", a.max_transactions),
        );
    }
    let retry = a.retry_after.as_duration();
    if retry < Duration::from_secs(1) || retry > Duration::from_secs(3600) {
        bad(
            "retry_after",
            format!("is {}; use 1s to 1h (whole seconds)", a.retry_after),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_values_name_their_key() {
        let mut p = Vec::new();
        validate(&AdmissionConfig::default(), &mut p);
        assert!(p.is_empty(), "{p:?}");
        let a = AdmissionConfig {
            invite_burst: 0,
            max_dispatch_queue: 9000,
            calm_for: ConfigDuration(Duration::ZERO),
            ..AdmissionConfig::default()
        };
        validate(&a, &mut p);
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "admission.invite_burst",
                "admission.max_dispatch_queue",
                "admission.calm_for"
            ]
        );
    }
}
