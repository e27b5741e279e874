//! `check-config` for flows: everything a parsed flow must still satisfy
//! before a call may run on it. Every problem is collected (an
//! administrator fixes the file in one pass), each naming file, step, key.
//!
//! Prompts are checked for *every* language the flow declares, because a
//! missing Mandarin file would otherwise only show when a Mandarin caller
//! reaches that step, in production.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use crate::config::{default_categories, Config};
use crate::media::prompt::PromptCache;

use super::flow::{resolve_prompt, Condition, Field, Flow, SayWhat, Step};
use super::graph;
use super::problem::FlowProblem;
use super::{announce, words};

/// The names a prompt cache holds, in the form validation takes.
pub fn prompt_names(cache: &PromptCache) -> HashSet<String> {
    cache.names().into_iter().map(str::to_string).collect()
}

struct Checker<'a> {
    file: &'a Path,
    flow: &'a Flow,
    config: &'a Config,
    prompts: &'a HashSet<String>,
    out: Vec<FlowProblem>,
}

impl Checker<'_> {
    fn push(&mut self, step: Option<&str>, key: &str, code: &'static str, message: String) {
        self.out.push(FlowProblem {
            file: self.file.to_path_buf(),
            step: step.map(str::to_string),
            key: key.to_string(),
            code,
            message,
        });
    }
}

/// Check `flow` (read from `file`) against the desk's `config` (categories
/// and severities) and the prompt names available.
pub fn validate(
    flow: &Flow,
    file: &Path,
    config: &Config,
    prompts: &HashSet<String>,
) -> Vec<FlowProblem> {
    let mut c = Checker {
        file,
        flow,
        config,
        prompts,
        out: Vec::new(),
    };
    top_level(&mut c);
    for (name, step) in &flow.steps {
        references(&mut c, name, step);
        step_prompts(&mut c, name, step);
        match step {
            Step::Menu(_) => menu(&mut c, name, step),
            Step::Collect(s) => {
                collect_field(&mut c, name, s.field);
                ranges_collect(&mut c, name, s);
            }
            Step::Record(s) => {
                let (max, silence) = (s.max_length.as_duration(), s.silence.as_duration());
                if max < Duration::from_secs(1) || max > Duration::from_secs(600) {
                    c.push(
                        Some(name),
                        "max_length",
                        "HL-IVR-008",
                        format!("is {}; a voice note lasts 1s to 10m", s.max_length),
                    );
                }
                if silence < Duration::from_secs(1) || silence > max {
                    c.push(
                        Some(name),
                        "silence",
                        "HL-IVR-008",
                        format!(
                            "is {}; use at least 1s and no more than max_length",
                            s.silence
                        ),
                    );
                }
            }
            Step::Say(s) => say(&mut c, name, s.say),
            Step::Queue(_) => queue(&mut c, name),
            Step::If(s) => condition(&mut c, name, &s.when),
            _ => {}
        }
    }
    reachability(&mut c);
    busy_loops(&mut c);
    c.out
}

fn top_level(c: &mut Checker) {
    if c.flow.version.trim().is_empty() {
        c.push(
            None,
            "version",
            "HL-IVR-008",
            "is empty; give the flow a version, e.g. \"2026-01\"".into(),
        );
    }
    if c.flow.languages.is_empty() {
        c.push(
            None,
            "languages",
            "HL-IVR-008",
            "is empty; list at least one, e.g. [\"en\"]".into(),
        );
    }
    for (i, lang) in c.flow.languages.iter().enumerate() {
        let valid = !lang.is_empty() && lang.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        if !valid {
            c.push(
                None,
                &format!("languages[{i}]"),
                "HL-IVR-007",
                format!("`{lang}` is not a language directory name like \"en\" or \"zh\""),
            );
        }
    }
    if !c.flow.steps.contains_key(&c.flow.start) {
        c.push(
            None,
            "start",
            "HL-IVR-002",
            format!("step `{}` does not exist{}", c.flow.start, known(c.flow)),
        );
    }
}

fn known(flow: &Flow) -> String {
    let names: Vec<&str> = flow.steps.keys().map(String::as_str).collect();
    format!("; steps are: {}", names.join(", "))
}

fn references(c: &mut Checker, name: &str, step: &Step) {
    for (key, target) in step.next_refs() {
        if !c.flow.steps.contains_key(target) {
            let msg = format!("step `{target}` does not exist{}", known(c.flow));
            c.push(Some(name), &key, "HL-IVR-002", msg);
        }
    }
}

fn step_prompts(c: &mut Checker, name: &str, step: &Step) {
    for (key, reference) in step.prompt_refs() {
        let langs: Vec<String> = if reference.starts_with('/') {
            vec![String::new()]
        } else {
            c.flow.languages.clone()
        };
        for lang in langs {
            let resolved = resolve_prompt(&lang, reference);
            if !c.prompts.contains(&resolved) {
                c.push(
                    Some(name),
                    &key,
                    "HL-IVR-004",
                    format!("prompt `{resolved}.wav` is missing from the prompt directory"),
                );
            }
        }
    }
}

fn is_key(d: &str) -> bool {
    d.len() == 1 && matches!(d.as_bytes()[0], b'0'..=b'9' | b'*' | b'#')
}

/// The values `field` accepts in a menu, or `None` if a menu cannot set it.
fn menu_values(c: &Checker, field: Field) -> Option<Vec<String>> {
    match field {
        // An empty list means the desk's five (as `config::parse_str` fills in).
        Field::Category if c.config.categories.is_empty() => {
            Some(default_categories().into_iter().map(|x| x.name).collect())
        }
        Field::Category => Some(c.config.categories.iter().map(|x| x.name.clone()).collect()),
        Field::Severity => Some(
            c.config
                .sla
                .severities
                .iter()
                .map(|x| x.name.clone())
                .collect(),
        ),
        Field::Language => Some(c.flow.languages.clone()),
        Field::CustomerRef | Field::CallbackNumber => None,
    }
}

fn menu(c: &mut Checker, name: &str, step: &Step) {
    let Step::Menu(m) = step else { return };
    if m.options.is_empty() {
        c.push(
            Some(name),
            "options",
            "HL-IVR-008",
            "has no options; a menu needs at least one".into(),
        );
    }
    let allowed = m.field.map(|f| (f, menu_values(c, f)));
    if let Some((f, None)) = allowed {
        c.push(
            Some(name),
            "field",
            "HL-IVR-009",
            format!(
                "a menu cannot set `{f}`; use category, severity or language (or a collect step)"
            ),
        );
    }
    let mut seen: HashMap<&str, String> = HashMap::new();
    let mut digit_keys: Vec<(String, &str)> = m
        .options
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("options[{i}].digit"), o.digit.as_str()))
        .collect();
    if let Some(r) = &m.repeat_digit {
        digit_keys.push(("repeat_digit".into(), r.as_str()));
    }
    for (key, digit) in digit_keys {
        if !is_key(digit) {
            c.push(
                Some(name),
                &key,
                "HL-IVR-009",
                format!("`{digit}` is not one keypad key (0-9, * or #)"),
            );
        } else if let Some(first) = seen.get(digit) {
            let msg = format!("digit {digit} is already used by `{first}`");
            c.push(Some(name), &key, "HL-IVR-005", msg);
        } else {
            seen.insert(digit, key);
        }
    }
    let mut values: Vec<(String, Option<&String>)> = m
        .options
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("options[{i}].value"), o.value.as_ref()))
        .collect();
    if let Some(d) = &m.default {
        values.push(("default.value".into(), d.value.as_ref()));
    }
    for (key, value) in values {
        match (&allowed, value) {
            (Some((f, Some(ok))), Some(v)) if !ok.contains(v) => {
                let msg = format!("`{v}` is not a known {f}; use one of {}", ok.join(", "));
                c.push(Some(name), &key, "HL-IVR-007", msg);
            }
            (None, Some(v)) => c.push(
                Some(name),
                &key,
                "HL-IVR-009",
                format!("value `{v}` has no field to go into; set `field` on the menu"),
            ),
            _ => {}
        }
    }
    let t = m.timeout.as_duration();
    if t < Duration::from_secs(1) || t > Duration::from_secs(60) {
        c.push(
            Some(name),
            "timeout",
            "HL-IVR-008",
            format!("is {}; use 1s to 60s", m.timeout),
        );
    }
    if m.max_retries > 10 {
        c.push(
            Some(name),
            "max_retries",
            "HL-IVR-008",
            format!("is {}; use 0 to 10", m.max_retries),
        );
    }
}

fn collect_field(c: &mut Checker, name: &str, field: Field) {
    if !matches!(field, Field::CustomerRef | Field::CallbackNumber) {
        c.push(
            Some(name),
            "field",
            "HL-IVR-009",
            format!("a collect step cannot set `{field}`; use customer_ref or callback_number"),
        );
    }
}

fn ranges_collect(c: &mut Checker, name: &str, s: &super::flow::CollectStep) {
    if s.max_length == 0 || s.max_length > 32 {
        c.push(
            Some(name),
            "max_length",
            "HL-IVR-008",
            format!("is {}; use 1 to 32", s.max_length),
        );
    }
    if s.min_length > s.max_length {
        c.push(
            Some(name),
            "min_length",
            "HL-IVR-008",
            format!("{} is more than max_length {}", s.min_length, s.max_length),
        );
    }
    let t = s.timeout.as_duration();
    if t < Duration::from_secs(1) || t > Duration::from_secs(60) {
        c.push(
            Some(name),
            "timeout",
            "HL-IVR-008",
            format!("is {}; use 1s to 60s", s.timeout),
        );
    }
    if s.max_retries > 10 {
        c.push(
            Some(name),
            "max_retries",
            "HL-IVR-008",
            format!("is {}; use 0 to 10", s.max_retries),
        );
    }
}

fn say(c: &mut Checker, name: &str, what: SayWhat) {
    let langs = c.flow.languages.clone();
    let mut needed: BTreeSet<String> = BTreeSet::new();
    match what {
        SayWhat::ResponseTarget => {
            for level in &c.config.sla.severities {
                match words::callback_within("en", level.response.as_duration()) {
                    None => {
                        let msg = format!("severity `{}` has response target {}, which the number prompts cannot say (at most 24h)", level.name, level.response);
                        c.push(Some(name), "say", "HL-IVR-010", msg);
                    }
                    Some(_) => {
                        for lang in &langs {
                            let seq = words::callback_within(lang, level.response.as_duration());
                            needed.extend(
                                seq.into_iter().flatten().map(|p| resolve_prompt(lang, &p)),
                            );
                        }
                    }
                }
            }
        }
        SayWhat::CallbackTime => {
            for lang in &langs {
                needed.extend(
                    words::callback_after_prompts(lang)
                        .iter()
                        .map(|p| resolve_prompt(lang, p)),
                );
            }
        }
        _ => {
            for lang in &langs {
                needed.extend(
                    words::digit_prompts()
                        .iter()
                        .map(|p| resolve_prompt(lang, p)),
                );
                if what == SayWhat::TicketNumber {
                    // Said instead of a number not yet final (outage).
                    needed.insert(resolve_prompt(lang, words::TICKET_RECORDED));
                }
            }
        }
    }
    for p in needed {
        if !c.prompts.contains(&p) {
            c.push(
                Some(name),
                "say",
                "HL-IVR-004",
                format!("prompt `{p}.wav` is missing from the prompt directory"),
            );
        }
    }
}

/// A queue step plays routing's announcements (position and wait, the
/// callback offer, connecting, call cut): their prompts must exist in
/// every language, or a caller would hear them half.
fn queue(c: &mut Checker, name: &str) {
    let mut needed: BTreeSet<String> = BTreeSet::new();
    for lang in &c.flow.languages {
        needed.extend(
            announce::required_prompts(lang)
                .iter()
                .map(|p| resolve_prompt(lang, p)),
        );
    }
    for p in needed {
        if !c.prompts.contains(&p) {
            c.push(
                Some(name),
                "kind",
                "HL-IVR-004",
                format!(
                    "prompt `{p}.wav` (queue announcements) is missing from the prompt directory"
                ),
            );
        }
    }
}

fn condition(c: &mut Checker, name: &str, when: &Condition) {
    if let Condition::Language(l) = when {
        if !c.flow.languages.contains(l) {
            let msg = format!(
                "`{l}` is not one of the flow's languages ({})",
                c.flow.languages.join(", ")
            );
            c.push(Some(name), "when.language", "HL-IVR-007", msg);
        }
    }
}

fn reachability(c: &mut Checker) {
    for name in graph::unreachable(c.flow) {
        let msg = format!(
            "no path from `{}` leads here; remove the step or refer to it",
            c.flow.start
        );
        c.push(Some(&name), "", "HL-IVR-003", msg);
    }
}

fn busy_loops(c: &mut Checker) {
    for cycle in graph::busy_cycles(c.flow) {
        let msg = format!(
            "the steps {} -> {} loop without waiting for input; put a menu, collect or record step in the loop",
            cycle.join(" -> "),
            cycle[0]
        );
        c.push(Some(&cycle[0]), "next", "HL-IVR-006", msg);
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
