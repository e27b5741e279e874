//! Configuration files: shipped examples never rot, and every mistake is
//! reported with its file and key.

use std::path::Path;

use hotline::config::{parse_str, ConfigError};

fn problems(text: &str) -> Vec<String> {
    match parse_str(text, Path::new("test.toml")) {
        Ok(_) => vec![],
        Err(ConfigError::Invalid { problems }) => problems
            .into_iter()
            .map(|p| {
                assert_eq!(p.file, Path::new("test.toml"));
                p.key
            })
            .collect(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_file_shipped_under_config_parses_and_validates() {
    let mut checked = 0;
    for entry in std::fs::read_dir("config").unwrap() {
        let path = entry.unwrap().path();
        // ivr*.toml are flows, not daemon configuration (tests/ivr.rs).
        let flow = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ivr"));
        if path.extension().is_some_and(|e| e == "toml") && !flow {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = parse_str(&text, &path) {
                panic!("{e}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "hotline.toml and sla-urgent.toml at least");
}

#[test]
fn the_commented_alternative_table_in_hotline_toml_validates() {
    // Uncomment the urgent/important/general block and drop the default
    // rows, as an administrator would.
    let text = std::fs::read_to_string("config/hotline.toml").unwrap();
    let start = text.find("\n[[sla.severity]]").unwrap() + 1;
    let alt = text.find("# The desk's second manual").unwrap();
    let cats = text.find("# Problem categories").unwrap();
    let uncommented: String = text[alt..cats]
        .lines()
        .filter(|l| {
            l.starts_with("# [[")
                || l.starts_with("# digit")
                || l.starts_with("# name")
                || l.starts_with("# meaning")
                || l.starts_with("# res")
                || l.starts_with("# tier")
        })
        .map(|l| format!("{}\n", &l[2..]))
        .collect();
    let edited = format!("{}{}{}", &text[..start], uncommented, &text[cats..]);
    let config = parse_str(&edited, Path::new("edited.toml")).unwrap();
    let names: Vec<_> = config
        .sla
        .severities
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["urgent", "important", "general"]);
    assert_eq!(config.sla.severities[0].response.to_string(), "15m");
}

#[test]
fn an_empty_file_is_the_service_standard() {
    let c = parse_str("", Path::new("empty.toml")).unwrap();
    assert_eq!(c.sla.severities.len(), 3);
    assert_eq!(c.categories.len(), 5);
    assert_eq!(c.answer.after_rings, 1);
}

#[test]
fn every_invalid_key_is_reported_by_name() {
    let text = r#"
[desk]
compny = "typo"
language = "fr"
[daemon]
datadir = "x"
[sip]
listen = ["nope", "0.0.0.0:5060"]
max_calls = 0
trusted_peers = ["not-an-ip"]
drain_timeout = "forever"
[answer]
after_rings = 4
ring_period = "20s"
[admin]
listen = "localhost"
[database]
url = "mysql://x"
pool_size = 0
connect_timeout = 5
[tickets]
reserve_numbers = 1
[[sla.severity]]
digit = "12"
name = "Bad Name"
response = "2h"
resolution = "1h"
tier = "L4"
colour = "red"
[[category]]
digit = "1"
name = "hardware"
[[category]]
digit = "1"
name = "hardware"
"#;
    let keys = problems(text);
    for expected in [
        "desk.compny",
        "desk.language",
        "daemon.datadir",
        "sip.listen[0]",
        "sip.max_calls",
        "sip.trusted_peers[0]",
        "sip.drain_timeout",
        "answer.after_rings",
        "answer.ring_period",
        "admin.listen",
        "database.url",
        "database.pool_size",
        "database.connect_timeout",
        "tickets.reserve_numbers",
        "sla.severity[0].colour",
        "category[1].digit",
        "category[1].name",
    ] {
        assert!(
            keys.iter().any(|k| k == expected),
            "{expected} not reported; got {keys:?}"
        );
    }
}

#[test]
fn semantic_rules_of_the_sla_table_name_the_row_and_key() {
    let text = r#"
[[sla.severity]]
digit = "12"
name = "Bad Name"
response = "2h"
resolution = "1h"
tier = "L4"
"#;
    let keys = problems(text);
    for expected in [
        "sla.severity[0].digit",
        "sla.severity[0].name",
        "sla.severity[0].resolution",
        "sla.severity[0].tier",
    ] {
        assert!(
            keys.iter().any(|k| k == expected),
            "{expected} not reported; got {keys:?}"
        );
    }
}

#[test]
fn messages_say_what_would_be_valid() {
    let err = parse_str("[answer]\nafter_rings = 9\n", Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x.toml: key `answer.after_rings`") && err.contains("use 0 to 3"),
        "{err}"
    );
    let err = parse_str("[desk\n", Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1") && err.contains("not valid TOML"),
        "{err}"
    );
}

#[test]
fn check_config_exits_1_and_prints_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[answer]\nafter_rings = 7\n[desk]\ncompany = \"\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["check-config", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("answer.after_rings") && err.contains("desk.company"),
        "{err}"
    );
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["check-config", "--config", "config/hotline.toml"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
}

#[test]
fn tcp_limits_are_checked_and_reach_the_transport() {
    let bad = "[sip]\ntcp_max_connections = 0\ntcp_idle_timeout = \"0s\"\n\
               tcp_header_timeout = \"1h\"\ntcp_max_buffer = 100\ntcp_send_queue = 0\n";
    let mut got = problems(bad);
    got.sort();
    assert_eq!(
        got,
        [
            "sip.tcp_header_timeout",
            "sip.tcp_idle_timeout",
            "sip.tcp_max_buffer",
            "sip.tcp_max_connections",
            "sip.tcp_send_queue"
        ]
    );
    let ok = "[sip]\ntcp_max_connections = 10\ntcp_idle_timeout = \"30s\"\n\
              tcp_header_timeout = \"2s\"\ntcp_max_buffer = 8192\ntcp_send_queue = 4\n";
    let c = parse_str(ok, Path::new("test.toml")).unwrap();
    let l = c.sip.tcp_limits();
    assert_eq!(
        (l.max_connections, l.max_buffer, l.send_queue),
        (10, 8192, 4)
    );
    assert_eq!(l.header_timeout, std::time::Duration::from_secs(2));
}
