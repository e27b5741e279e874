//! One flow mistake of each kind, each reported with file, step and key.

use std::path::Path;

use super::*;
use crate::ivr::load::parse_flow;

const BASE: &str = r#"
version = "t"
languages = ["en", "zh"]
start = "menu"

[steps.menu]
kind = "menu"
prompts = ["p"]
field = "severity"
options = [
    { digit = "1", value = "critical", next = "bye" },
    { digit = "2", value = "minor", next = "bye" },
]
timeout = "5s"
max_retries = 1

[steps.bye]
kind = "hangup"
prompts = ["p"]
"#;

fn prompts() -> HashSet<String> {
    ["en/p", "zh/p"].into_iter().map(String::from).collect()
}

fn check_with(text: &str, config: &Config, prompts: &HashSet<String>) -> Vec<FlowProblem> {
    let flow = parse_flow(text, Path::new("ivr.toml")).unwrap();
    validate(&flow, Path::new("ivr.toml"), config, prompts)
}

fn check(text: &str) -> Vec<FlowProblem> {
    check_with(text, &Config::default(), &prompts())
}

/// The single problem `text` has: its code, step and key.
fn only(problems: Vec<FlowProblem>) -> (&'static str, Option<String>, String) {
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = problems.into_iter().next().unwrap();
    assert_eq!(p.file, Path::new("ivr.toml"));
    let shown = p.to_string();
    assert!(
        shown.contains("ivr.toml") && shown.contains(p.code),
        "{shown}"
    );
    (p.code, p.step, p.key)
}

fn step(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn the_base_flow_is_valid() {
    assert_eq!(check(BASE), []);
}

#[test]
fn unknown_step_reference() {
    let text = BASE.replacen("next = \"bye\"", "next = \"by\"", 1);
    assert_eq!(
        only(check(&text)),
        ("HL-IVR-002", step("menu"), "options[0].next".into())
    );
}

#[test]
fn unreachable_step() {
    let text = format!("{BASE}\n[steps.orphan]\nkind = \"hangup\"\n");
    assert_eq!(
        only(check(&text)),
        ("HL-IVR-003", step("orphan"), String::new())
    );
}

#[test]
fn missing_prompt_in_one_language() {
    let mut available = prompts();
    available.remove("zh/p");
    available.insert("zh/q".into());
    let problems = check_with(BASE, &Config::default(), &available);
    assert_eq!(
        problems.len(),
        2,
        "menu and bye both play it: {problems:#?}"
    );
    assert!(problems.iter().all(|p| p.code == "HL-IVR-004"
        && p.key == "prompts[0]"
        && p.message.contains("zh/p.wav")));
}

#[test]
fn a_queue_step_needs_the_announcement_prompts_in_every_language() {
    let text = BASE.replacen("next = \"bye\"", "next = \"q\"", 1)
        + "[steps.q]\nkind = \"queue\"\nprompts = [\"p\"]\nmusic = \"/moh\"\n";
    let mut available = prompts();
    available.insert("moh".into());
    for lang in ["en", "zh"] {
        for p in announce::required_prompts(lang) {
            available.insert(format!("{lang}/{p}"));
        }
    }
    assert_eq!(check_with(&text, &Config::default(), &available), []);
    available.remove("zh/queue-position-end");
    available.remove("en/callback-offer");
    available.remove("moh");
    let problems = check_with(&text, &Config::default(), &available);
    let shown: Vec<(Option<String>, String, String)> = problems
        .iter()
        .map(|p| (p.step.clone(), p.key.clone(), p.message.clone()))
        .collect();
    assert_eq!(problems.len(), 3, "{shown:#?}");
    assert!(problems
        .iter()
        .all(|p| p.code == "HL-IVR-004" && p.step == step("q")));
    assert!(shown
        .iter()
        .any(|(_, k, m)| k == "music" && m.contains("`moh.wav`")));
    assert!(shown
        .iter()
        .any(|(_, _, m)| m.contains("zh/queue-position-end.wav")));
    assert!(shown
        .iter()
        .any(|(_, _, m)| m.contains("en/callback-offer.wav")));
}

#[test]
fn duplicate_digit_in_a_menu() {
    let text = BASE.replacen("digit = \"2\"", "digit = \"1\"", 1);
    assert_eq!(
        only(check(&text)),
        ("HL-IVR-005", step("menu"), "options[1].digit".into())
    );
}

#[test]
fn a_loop_that_never_waits_for_input() {
    let text = BASE.replacen("next = \"bye\"", "next = \"a\"", 1)
        + "[steps.a]\nkind = \"play\"\nprompts = [\"p\"]\nnext = \"b\"\n\
           [steps.b]\nkind = \"if\"\nwhen = { language = \"en\" }\nthen = \"a\"\nelse = \"bye\"\n";
    let (code, step_name, key) = only(check(&text));
    assert_eq!((code, key.as_str()), ("HL-IVR-006", "next"));
    assert!(matches!(step_name.as_deref(), Some("a" | "b")));
}

#[test]
fn a_loop_through_a_menu_is_fine() {
    let text = BASE.replacen("next = \"bye\"", "next = \"menu\"", 1);
    assert_eq!(check(&text), []);
}

#[test]
fn menu_value_not_in_the_sla_table() {
    let text = BASE.replacen("\"critical\"", "\"urgent\"", 1);
    let problems = check(&text);
    assert!(problems[0].message.contains("critical, major, minor"));
    assert_eq!(
        only(problems),
        ("HL-IVR-007", step("menu"), "options[0].value".into())
    );
    // The other manual's table makes `urgent` right and `critical` wrong.
    let urgent = crate::config::parse_str(
        &std::fs::read_to_string("config/sla-urgent.toml").unwrap(),
        Path::new("sla-urgent.toml"),
    )
    .unwrap();
    assert_eq!(check_with(&text, &urgent, &prompts()).len(), 1);
}

#[test]
fn out_of_range_numbers() {
    let text = BASE.replace("timeout = \"5s\"", "timeout = \"0s\"");
    assert_eq!(
        only(check(&text)),
        ("HL-IVR-008", step("menu"), "timeout".into())
    );
    let text = BASE.replacen("next = \"bye\"", "next = \"c\"", 1)
        + "[steps.c]\nkind = \"collect\"\nprompts = [\"p\"]\nfield = \"customer_ref\"\n\
           min_length = 8\nmax_length = 4\ntimeout = \"5s\"\nmax_retries = 1\nnext = \"bye\"\n";
    assert_eq!(
        only(check(&text)),
        ("HL-IVR-008", step("c"), "min_length".into())
    );
}

#[test]
fn a_field_the_step_cannot_set() {
    let text = BASE.replacen("next = \"bye\"", "next = \"c\"", 1)
        + "[steps.c]\nkind = \"collect\"\nprompts = [\"p\"]\nfield = \"severity\"\n\
           min_length = 1\nmax_length = 4\ntimeout = \"5s\"\nmax_retries = 1\nnext = \"bye\"\n";
    assert_eq!(
        only(check(&text)),
        ("HL-IVR-009", step("c"), "field".into())
    );
}

#[test]
fn a_response_target_the_prompts_cannot_say() {
    let text = BASE.replacen("next = \"bye\"", "next = \"s\"", 1)
        + "[steps.s]\nkind = \"say\"\nsay = \"response_target\"\nnext = \"bye\"\n";
    let mut words: HashSet<String> = prompts();
    for lang in ["en", "zh"] {
        for p in [
            "callback-within",
            "number-30",
            "number-1",
            "number-2",
            "minutes",
            "hour",
            "hours",
        ] {
            words.insert(format!("{lang}/{p}"));
        }
    }
    words.insert("zh/callback-within-end".into());
    assert_eq!(check_with(&text, &Config::default(), &words), []);
    let mut slow = Config::default();
    slow.sla.severities[2].response = crate::config::ConfigDuration(Duration::from_secs(48 * 3600));
    slow.sla.severities[2].resolution = slow.sla.severities[2].response;
    assert_eq!(
        only(check_with(&text, &slow, &words)),
        ("HL-IVR-010", step("s"), "say".into())
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = BASE
        .replacen("next = \"bye\"", "next = \"by\"", 1)
        .replacen("digit = \"2\"", "digit = \"1\"", 1)
        .replace("max_retries = 1", "max_retries = 99");
    let codes: Vec<_> = check(&text).into_iter().map(|p| p.code).collect();
    assert_eq!(codes, ["HL-IVR-002", "HL-IVR-005", "HL-IVR-008"]);
}
