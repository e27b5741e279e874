//! Rules a well-formed file must still satisfy (ranges, uniqueness, cross
//! references). Each problem is `(key, message)`; the message says what
//! would be valid.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::types::{Config, TIERS};

type Problems = Vec<(String, String)>;

pub(super) fn validate(c: &Config) -> Problems {
    let mut p = Problems::new();
    desk(c, &mut p);
    sip(c, &mut p);
    super::admission::validate(&c.admission, &mut p);
    media(c, &mut p);
    admin_and_db(c, &mut p);
    sla(c, &mut p);
    categories(c, &mut p);
    agents(c, &mut p);
    routing(c, &mut p);
    if let Err(hours) = crate::hours::ServiceHours::from_config(&c.hours) {
        p.extend(hours);
    }
    report(c, &mut p);
    sla_scan(c, &mut p);
    p
}

fn routing(c: &Config, p: &mut Problems) {
    let r = &c.routing;
    let ring = r.ring_timeout.as_duration();
    if ring < Duration::from_secs(1) || ring > Duration::from_secs(300) {
        p.push((
            "routing.ring_timeout".into(),
            format!("is {}; use 1s to 5m (default 15s)", r.ring_timeout),
        ));
    }
    if r.max_misses == 0 {
        p.push((
            "routing.max_misses".into(),
            "is 0, which would pause an agent before any call; use 1 or more (default 3)".into(),
        ));
    }
    let every = r.announce_every.as_duration();
    if every < Duration::from_secs(5) || every > Duration::from_secs(3600) {
        p.push((
            "routing.announce_every".into(),
            format!("is {}; use 5s to 1h (default 30s)", r.announce_every),
        ));
    }
    if r.expected_handle_time.as_duration() < Duration::from_secs(1) {
        p.push((
            "routing.expected_handle_time".into(),
            format!("is {}; use 1s or more (default 5m)", r.expected_handle_time),
        ));
    }
    if !(0.0..=1.0).contains(&r.recording_share) {
        p.push((
            "routing.recording_share".into(),
            format!(
                "is {}; use a share from 0.0 to 1.0 (0.2 records every fifth call)",
                r.recording_share
            ),
        ));
    }
    let names: Vec<&str> = c.sla.severities.iter().map(|s| s.name.as_str()).collect();
    let severity = |key: String, name: &str, p: &mut Problems| {
        if !names.contains(&name) {
            p.push((
                key,
                format!(
                    "`{name}` is not a level of the SLA table; use one of {}",
                    names.join(", ")
                ),
            ));
        }
    };
    for (i, rule) in r.overflow.iter().flatten().enumerate() {
        let key = |k: &str| format!("routing.overflow[{i}].{k}");
        severity(key("severity"), &rule.severity, p);
        if rule.tiers.is_empty() {
            p.push((
                key("tiers"),
                "is empty; name the tiers that may take the call as well, e.g. [\"L2\"]".into(),
            ));
        }
        for (j, tier) in rule.tiers.iter().enumerate() {
            if !TIERS.contains(&tier.as_str()) {
                p.push((
                    format!("routing.overflow[{i}].tiers[{j}]"),
                    format!("`{tier}` is not a tier; use one of {}", TIERS.join(", ")),
                ));
            }
        }
    }
    let mut seen = HashSet::new();
    for (i, rule) in r.max_wait.iter().flatten().enumerate() {
        let key = |k: &str| format!("routing.max_wait[{i}].{k}");
        severity(key("severity"), &rule.severity, p);
        if !seen.insert(rule.severity.as_str()) {
            p.push((
                key("severity"),
                format!(
                    "`{}` has two maximum waits; keep one rule per level",
                    rule.severity
                ),
            ));
        }
        if rule.after.as_duration() < Duration::from_secs(10) {
            p.push((
                key("after"),
                format!("is {}; use 10s or more, e.g. \"10m\"", rule.after),
            ));
        }
    }
}

fn agents(c: &Config, p: &mut Problems) {
    let a = &c.agents;
    let realm_ok = !a.realm.is_empty()
        && a.realm
            .chars()
            .all(|ch| ch.is_ascii_graphic() && ch != '"' && ch != '\\');
    if !realm_ok {
        p.push((
            "agents.realm".into(),
            format!(
                "`{}` is not a usable digest realm; use printable ASCII without quotes, e.g. \"hotline\"",
                a.realm
            ),
        ));
    }
    let secs = |d: super::ConfigDuration| d.as_duration().as_secs();
    if secs(a.nonce_lifetime) < 10 {
        p.push((
            "agents.nonce_lifetime".into(),
            format!("is {}; use 10s or more (default 5m)", a.nonce_lifetime),
        ));
    }
    if secs(a.min_expires) < 1 || a.min_expires > a.max_expires {
        p.push((
            "agents.min_expires".into(),
            format!(
                "is {} with max_expires {}; use at least 1s and no more than max_expires",
                a.min_expires, a.max_expires
            ),
        ));
    }
    if a.default_expires < a.min_expires || a.default_expires > a.max_expires {
        p.push((
            "agents.default_expires".into(),
            format!(
                "is {}; use a value between min_expires ({}) and max_expires ({})",
                a.default_expires, a.min_expires, a.max_expires
            ),
        ));
    }
    if a.max_bindings == 0 {
        p.push((
            "agents.max_bindings".into(),
            "is 0, so no phone could register; use 1 or more (default 10)".into(),
        ));
    }
    if secs(a.keepalive_interval) < 1 {
        p.push((
            "agents.keepalive_interval".into(),
            format!("is {}; use 1s or more (default 30s)", a.keepalive_interval),
        ));
    }
    if a.keepalive_failures == 0 {
        p.push((
            "agents.keepalive_failures".into(),
            "is 0; use 1 or more (default 3)".into(),
        ));
    }
    if a.lockout_threshold == 0 {
        p.push((
            "agents.lockout_threshold".into(),
            "is 0, which would lock everyone out; use 1 or more (default 5)".into(),
        ));
    }
    if secs(a.lockout_window) < 1 || secs(a.lockout_period) < 1 {
        p.push((
            "agents.lockout_window".into(),
            format!(
                "lockout_window ({}) and lockout_period ({}) must be 1s or more",
                a.lockout_window, a.lockout_period
            ),
        ));
    }
}

fn desk(c: &Config, p: &mut Problems) {
    if c.desk.company.trim().is_empty() {
        p.push((
            "desk.company".into(),
            "is empty; the greeting names the company, e.g. company = \"Example Corp\"".into(),
        ));
    }
    if !["en", "zh"].contains(&c.desk.language.as_str()) {
        p.push((
            "desk.language".into(),
            format!("`{}` has no prompts; use \"en\" or \"zh\"", c.desk.language),
        ));
    }
}

/// RFC 4028: Min-SE is at least 90 s (§4), and the interval we ask for
/// cannot be below our own minimum.
fn session_timer(sip: &crate::config::SipConfig, p: &mut Problems) {
    let (se, min) = (sip.session_expires.as_duration(), sip.min_se.as_duration());
    if min < Duration::from_secs(90) {
        p.push((
            "sip.min_se".into(),
            format!("is {}; RFC 4028 allows no less than 90s", sip.min_se),
        ));
    }
    if se < min {
        p.push((
            "sip.session_expires".into(),
            format!(
                "is {}, below sip.min_se ({}); use at least that (default 1800s)",
                sip.session_expires, sip.min_se
            ),
        ));
    }
}

fn sip(c: &Config, p: &mut Problems) {
    if c.sip.listen.is_empty() {
        p.push((
            "sip.listen".into(),
            "is empty; give at least one address, e.g. [\"0.0.0.0:5060\"]".into(),
        ));
    }
    for (i, addr) in c.sip.listen.iter().enumerate() {
        if addr.parse::<SocketAddr>().is_err() {
            p.push((
                format!("sip.listen[{i}]"),
                format!("`{addr}` is not ADDRESS:PORT, e.g. \"0.0.0.0:5060\" or \"[::]:5060\""),
            ));
        }
    }
    for (i, peer) in c.sip.trusted_peers.iter().enumerate() {
        if peer.parse::<IpAddr>().is_err() {
            p.push((
                format!("sip.trusted_peers[{i}]"),
                format!("`{peer}` is not an IP address, e.g. \"10.0.0.5\""),
            ));
        }
    }
    if c.sip.max_calls == 0 {
        p.push((
            "sip.max_calls".into(),
            "is 0, so every call would be refused; use 1 or more".into(),
        ));
    }
    let t1 = c.sip.timer_t1.as_duration();
    if t1 < Duration::from_millis(10) || t1 > Duration::from_secs(5) {
        p.push((
            "sip.timer_t1".into(),
            format!(
                "is {}; use 10ms to 5s (RFC 3261 default: 500ms)",
                c.sip.timer_t1
            ),
        ));
    }
    tcp_limits(&c.sip, p);
    session_timer(&c.sip, p);
    if c.answer.after_rings > 3 {
        p.push((
            "answer.after_rings".into(),
            format!(
                "is {}; the service standard answers within three rings: use 0 to 3",
                c.answer.after_rings
            ),
        ));
    }
    let ring = c.answer.ring_period.as_duration();
    if ring < Duration::from_millis(500) || ring > Duration::from_secs(10) {
        p.push((
            "answer.ring_period".into(),
            format!(
                "is {}; a ring lasts between 500ms and 10s (6s in North America, 3s in Europe)",
                c.answer.ring_period
            ),
        ));
    }
}

fn media(c: &Config, p: &mut Problems) {
    match c.media.port_range() {
        Some((a, b)) if b - a >= 1 => {}
        _ => p.push((
            "media.rtp_ports".into(),
            format!(
                "`{}` is not a port range FIRST-LAST above 1023 with room for one call, e.g. \"20000-30000\"",
                c.media.rtp_ports
            ),
        )),
    }
    if !c.media.address.is_empty() && c.media.address.parse::<IpAddr>().is_err() {
        p.push((
            "media.address".into(),
            format!("`{}` is not an IP address (no host names: DNS is never consulted on the call path)", c.media.address),
        ));
    }
    if c.media.rtp_timeout.as_duration() < Duration::from_secs(1) {
        p.push((
            "media.rtp_timeout".into(),
            "is under 1s; use e.g. \"30s\"".into(),
        ));
    }
}

fn admin_and_db(c: &Config, p: &mut Problems) {
    if c.admin.listen.parse::<SocketAddr>().is_err() {
        p.push((
            "admin.listen".into(),
            format!(
                "`{}` is not ADDRESS:PORT, e.g. \"127.0.0.1:8080\"",
                c.admin.listen
            ),
        ));
    }
    let url = &c.database.url;
    if !url.is_empty() && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        p.push((
            "database.url".into(),
            "must start with postgres:// (or be empty to run the embedded database)".into(),
        ));
    }
    if c.database.pool_size == 0 || c.database.pool_size > 500 {
        p.push((
            "database.pool_size".into(),
            format!("is {}; use 1 to 500", c.database.pool_size),
        ));
    }
    if !(10..=100_000).contains(&c.tickets.reserve_numbers) {
        p.push((
            "tickets.reserve_numbers".into(),
            format!("is {}; use 10 to 100000", c.tickets.reserve_numbers),
        ));
    }
    let connect = c.database.connect_timeout.as_duration();
    if connect < std::time::Duration::from_millis(50)
        || connect > std::time::Duration::from_secs(60)
    {
        p.push((
            "database.connect_timeout".into(),
            format!("is {connect:?}; use 50ms to 60s (callers wait this long on a hung database)"),
        ));
    }
    let statement = c.database.statement_timeout.as_duration();
    if statement < std::time::Duration::from_millis(100)
        || statement > std::time::Duration::from_secs(3600)
    {
        p.push((
            "database.statement_timeout".into(),
            format!("is {statement:?}; use 100ms to 1h"),
        ));
    }
    if c.tickets.reserve_cover.as_duration() > std::time::Duration::from_secs(24 * 3600) {
        p.push((
            "tickets.reserve_cover".into(),
            "is over 24h; use e.g. \"10m\" (tickets beyond it are still journaled)".into(),
        ));
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_digit(s: &str) -> bool {
    s.len() == 1 && s.as_bytes()[0].is_ascii_digit()
}

fn sla(c: &Config, p: &mut Problems) {
    if c.sla.severities.is_empty() {
        p.push((
            "sla.severity".into(),
            "has no rows; define at least one [[sla.severity]] level".into(),
        ));
    }
    let mut digits = HashSet::new();
    let mut names = HashSet::new();
    for (i, s) in c.sla.severities.iter().enumerate() {
        let key = |k: &str| format!("sla.severity[{i}].{k}");
        if !is_digit(&s.digit) {
            p.push((
                key("digit"),
                format!("`{}` is not one keypad digit 0-9", s.digit),
            ));
        } else if !digits.insert(s.digit.clone()) {
            p.push((
                key("digit"),
                format!("digit {} is used by two levels", s.digit),
            ));
        }
        if !is_name(&s.name) {
            p.push((
                key("name"),
                format!("`{}`: use lowercase letters, digits and _", s.name),
            ));
        } else if !names.insert(s.name.clone()) {
            p.push((key("name"), format!("level `{}` is defined twice", s.name)));
        }
        if s.response.as_duration().is_zero() {
            p.push((
                key("response"),
                "is zero; give a target like \"30m\"".into(),
            ));
        }
        if s.resolution < s.response {
            p.push((
                key("resolution"),
                format!(
                    "{} is shorter than the response target {}",
                    s.resolution, s.response
                ),
            ));
        }
        if !TIERS.contains(&s.tier.as_str()) {
            p.push((
                key("tier"),
                format!(
                    "`{}` is not a tier; use one of {}",
                    s.tier,
                    TIERS.join(", ")
                ),
            ));
        }
    }
}

fn categories(c: &Config, p: &mut Problems) {
    let mut digits = HashSet::new();
    let mut names = HashSet::new();
    for (i, cat) in c.categories.iter().enumerate() {
        let key = |k: &str| format!("category[{i}].{k}");
        if !is_digit(&cat.digit) {
            p.push((
                key("digit"),
                format!("`{}` is not one keypad digit 0-9", cat.digit),
            ));
        } else if !digits.insert(cat.digit.clone()) {
            p.push((
                key("digit"),
                format!("digit {} is used by two categories", cat.digit),
            ));
        }
        if !is_name(&cat.name) {
            p.push((
                key("name"),
                format!("`{}`: use lowercase letters, digits and _", cat.name),
            ));
        } else if !names.insert(cat.name.clone()) {
            p.push((
                key("name"),
                format!("category `{}` is defined twice", cat.name),
            ));
        }
    }
}

/// The `[sip]` `tcp_*` limits: each bounds what one peer can hold.
fn tcp_limits(s: &super::types::SipConfig, p: &mut Problems) {
    let mut bad = |key: &str, msg: String| p.push((format!("sip.{key}"), msg));
    if s.tcp_max_connections == 0 || s.tcp_max_connections > 100_000 {
        bad(
            "tcp_max_connections",
            format!("is {}; use 1 to 100000", s.tcp_max_connections),
        );
    }
    let idle = s.tcp_idle_timeout.as_duration();
    if idle < Duration::from_secs(1) || idle > Duration::from_secs(86_400) {
        bad(
            "tcp_idle_timeout",
            format!(
                "is {}; use 1s to 24h (RFC 5626 keep-alives come every 95-120 s)",
                s.tcp_idle_timeout
            ),
        );
    }
    let head = s.tcp_header_timeout.as_duration();
    if head < Duration::from_millis(100) || head > Duration::from_secs(300) {
        bad(
            "tcp_header_timeout",
            format!("is {}; use 100ms to 5m", s.tcp_header_timeout),
        );
    }
    let max = crate::sip::message::MAX_MESSAGE_SIZE as u32;
    if s.tcp_max_buffer < 4096 || s.tcp_max_buffer > max {
        bad(
            "tcp_max_buffer",
            format!("is {}; use 4096 to {max} bytes", s.tcp_max_buffer),
        );
    }
    if s.tcp_send_queue == 0 || s.tcp_send_queue > 4096 {
        bad(
            "tcp_send_queue",
            format!("is {}; use 1 to 4096 messages", s.tcp_send_queue),
        );
    }
}

fn report(c: &Config, p: &mut Problems) {
    let r = &c.report;
    for (key, v) in [
        ("fcr_target", r.fcr_target),
        ("repeat_target", r.repeat_target),
        ("answer_target", r.answer_target),
        ("service_level_target", r.service_level_target),
        ("sample_calls", r.sample_calls),
        ("sample_tickets", r.sample_tickets),
    ] {
        if !(0.0..=1.0).contains(&v) {
            p.push((
                format!("report.{key}"),
                format!("is {v}; use a share from 0.0 to 1.0 (0.8 is 80 %)"),
            ));
        }
    }
    if !(1.0..=5.0).contains(&r.satisfaction_target) {
        p.push((
            "report.satisfaction_target".into(),
            format!(
                "is {}; the scale is 1 to 5 (default 4.5)",
                r.satisfaction_target
            ),
        ));
    }
    if r.answer_rings == 0 || r.answer_rings > 20 {
        p.push((
            "report.answer_rings".into(),
            format!("is {}; use 1 to 20 rings (default 3)", r.answer_rings),
        ));
    }
    if r.repeat_window.as_duration() < Duration::from_secs(3600) {
        p.push((
            "report.repeat_window".into(),
            format!(
                "is {}; use 1h or more (default \"30days\")",
                r.repeat_window
            ),
        ));
    }
}

fn sla_scan(c: &Config, p: &mut Problems) {
    let s = &c.sla_scan;
    let every = s.scan_every.as_duration();
    if every < Duration::from_secs(1) || every > Duration::from_secs(3600) {
        p.push((
            "sla_scan.scan_every".into(),
            format!("is {}; use 1s to 1h (default 30s)", s.scan_every),
        ));
    }
    if s.progress_every.as_duration() < Duration::from_secs(60) {
        p.push((
            "sla_scan.progress_every".into(),
            format!("is {}; use 1m or more (default 30m)", s.progress_every),
        ));
    }
    let names: Vec<&str> = c.sla.severities.iter().map(|s| s.name.as_str()).collect();
    for (i, rule) in s.escalate.iter().flatten().enumerate() {
        let key = |k: &str| format!("sla_scan.escalate[{i}].{k}");
        if !names.contains(&rule.severity.as_str()) {
            p.push((
                key("severity"),
                format!(
                    "`{}` is not a level of the SLA table; use one of {}",
                    rule.severity,
                    names.join(", ")
                ),
            ));
        }
        for (k, tier) in [("from", &rule.from), ("to", &rule.to)] {
            if !TIERS.contains(&tier.as_str()) {
                p.push((
                    key(k),
                    format!("`{tier}` is not a tier; use one of {}", TIERS.join(", ")),
                ));
            }
        }
        if rule.from == rule.to {
            p.push((
                key("to"),
                format!("is `{}`, the same tier as `from`", rule.to),
            ));
        }
        if rule.after.as_duration() < Duration::from_secs(60) {
            p.push((
                key("after"),
                format!("is {}; use 1m or more, e.g. \"2h\"", rule.after),
            ));
        }
    }
}

#[cfg(test)]
mod session_timer_tests {
    use super::*;

    #[test]
    fn session_timer_keys_are_held_to_rfc_4028() {
        let mut sip = crate::config::SipConfig::default();
        let mut p = Problems::new();
        session_timer(&sip, &mut p);
        assert!(p.is_empty(), "the defaults pass: {p:?}");
        sip.min_se = crate::config::ConfigDuration(Duration::from_secs(30));
        sip.session_expires = crate::config::ConfigDuration(Duration::from_secs(20));
        session_timer(&sip, &mut p);
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["sip.min_se", "sip.session_expires"], "{p:?}");
    }
}
