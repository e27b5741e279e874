//! The `[routing]` section: defaults, derived rules, validation.

use std::path::Path;

use super::*;
use crate::config::{parse_str, ConfigError, RoutingStrategy};

fn problem_keys(text: &str) -> Vec<(String, String)> {
    match parse_str(text, Path::new("t.toml")) {
        Ok(_) => vec![],
        Err(ConfigError::Invalid { problems }) => {
            problems.into_iter().map(|p| (p.key, p.message)).collect()
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn defaults_are_the_issue_numbers() {
    let s = Settings::from_config(&Config::default());
    assert_eq!(s.strategy, RoutingStrategy::LongestIdle);
    assert_eq!(s.ring_timeout, secs(15));
    assert_eq!(s.max_misses, 3);
    assert_eq!(s.announce_every, secs(30));
    assert_eq!(s.sla_risk_margin, secs(600));
    assert_eq!(s.wrap_up, secs(30));
    assert_eq!(s.recording_share, 0.2);
    let names: Vec<_> = s
        .severities
        .iter()
        .map(|r| (r.name.as_str(), r.tier))
        .collect();
    assert_eq!(
        names,
        [
            ("critical", Tier::L3),
            ("major", Tier::L2),
            ("minor", Tier::L1)
        ]
    );
    assert_eq!(s.severities[0].overflow, [(secs(60), vec![Tier::L2])]);
    assert!(s.severities[1].overflow.is_empty());
    assert_eq!(s.severities[2].overflow, [(secs(300), vec![Tier::L2])]);
    assert_eq!(s.severities[2].max_wait, Some(secs(600)));
    assert_eq!(s.severities[0].max_wait, None);
}

#[test]
fn default_rules_follow_the_tiers_of_another_sla_table() {
    let text = std::fs::read_to_string("config/sla-urgent.toml").unwrap();
    let c = parse_str(&text, Path::new("config/sla-urgent.toml")).unwrap();
    let s = Settings::from_config(&c);
    assert_eq!(s.severities[0].name, "urgent");
    assert_eq!(s.severities[0].overflow, [(secs(60), vec![Tier::L2])]);
    assert_eq!(s.severities[2].name, "general");
    assert_eq!(s.severities[2].max_wait, Some(secs(600)));
}

#[test]
fn written_rules_are_parsed_and_sorted_by_wait() {
    let c = parse_str(
        r#"
[routing]
strategy = "ring_all"
order = "fifo_per_severity"
ring_timeout = "20s"
[[routing.overflow]]
severity = "critical"
after = "5m"
tiers = ["L1"]
[[routing.overflow]]
severity = "critical"
after = "30s"
tiers = ["L2"]
"#,
        Path::new("t.toml"),
    )
    .unwrap();
    let s = Settings::from_config(&c);
    assert_eq!(s.strategy, RoutingStrategy::RingAll);
    assert_eq!(s.ring_timeout, secs(20));
    assert_eq!(
        s.severities[0].overflow,
        [(secs(30), vec![Tier::L2]), (secs(300), vec![Tier::L1])]
    );
    assert!(
        s.severities[2].overflow.is_empty(),
        "written rules replace all defaults"
    );
}

#[test]
fn validation_names_the_key_and_the_fix() {
    let got = problem_keys(
        r#"
[routing]
ring_timeout = "0s"
max_misses = 0
announce_every = "1s"
recording_share = 1.5
[[routing.overflow]]
severity = "urgent"
after = "60s"
tiers = ["L4"]
[[routing.overflow]]
severity = "minor"
after = "60s"
tiers = []
[[routing.max_wait]]
severity = "minor"
after = "10m"
[[routing.max_wait]]
severity = "minor"
after = "1s"
"#,
    );
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    for expected in [
        "routing.ring_timeout",
        "routing.max_misses",
        "routing.announce_every",
        "routing.recording_share",
        "routing.overflow[0].severity",
        "routing.overflow[0].tiers[0]",
        "routing.overflow[1].tiers",
        "routing.max_wait[1].severity",
        "routing.max_wait[1].after",
    ] {
        assert!(keys.contains(&expected), "{expected} not in {keys:?}");
    }
    let msg = &got
        .iter()
        .find(|(k, _)| k == "routing.overflow[0].severity")
        .unwrap()
        .1;
    assert!(msg.contains("critical, major, minor"), "{msg}");
}

#[test]
fn unknown_keys_and_values_are_refused() {
    let got = problem_keys("[routing]\nstrategy = \"random\"\nring_timout = \"5s\"\n");
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.contains(&"routing.strategy"), "{keys:?}");
    assert!(keys.contains(&"routing.ring_timout"), "{keys:?}");
}

#[test]
fn the_shipped_file_has_a_routing_section_with_the_defaults() {
    let text = std::fs::read_to_string("config/hotline.toml").unwrap();
    assert!(text.find("[routing]").unwrap() > text.find("[agents]").unwrap());
    let c = parse_str(&text, Path::new("config/hotline.toml")).unwrap();
    assert_eq!(c.routing, Config::default().routing);
}
