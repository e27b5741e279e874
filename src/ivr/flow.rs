//! The flow language: serde types for `config/ivr.toml`.
//!
//! A flow is a set of named steps, each with a `kind`, and a `start` step.
//! Administrators write it; [`super::validate`] checks it; the
//! [`super::machine::IvrMachine`] runs it. The types only describe; they
//! hold no behaviour, so the file format can be read in one place.
//!
//! Prompt references are names relative to the caller's language
//! (`greeting-hello` plays `en/greeting-hello` or `zh/greeting-hello`), so
//! one flow serves every language; a name starting with `/` is taken from
//! the prompt root as is (`/beep`, `/language-choice`), for sounds played
//! before a language is known or shared by all.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::ConfigDuration;

/// The whole flow file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Stored on every ticket and call record. The registry appends a hash
    /// of the file, so an edit without a new version is still told apart.
    pub version: String,
    /// Languages the prompts exist in; the first is used until chosen.
    pub languages: Vec<String>,
    /// The step a call begins with.
    pub start: String,
    /// Steps by name.
    pub steps: BTreeMap<String, Step>,
}

impl Flow {
    /// The language a call uses before (or without) a language menu.
    pub fn default_language(&self) -> &str {
        self.languages.first().map_or("en", String::as_str)
    }
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    Play(PlayStep),
    Menu(MenuStep),
    Collect(CollectStep),
    Record(RecordStep),
    Say(SayStep),
    Ticket(TicketStep),
    Queue(QueueStep),
    Callback(CallbackStep),
    Hangup(EndStep),
    If(IfStep),
}

impl Step {
    /// Does this step wait for the caller (so a cycle through it is not a
    /// busy loop)?
    pub fn waits_for_input(&self) -> bool {
        matches!(self, Step::Menu(_) | Step::Collect(_) | Step::Record(_))
    }

    /// The prompt references this step plays, in file order, with the key
    /// each comes from (for validation messages).
    pub fn prompt_refs(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        match self {
            Step::Play(s) => push_refs(&mut out, "prompts", &s.prompts),
            Step::Menu(s) => {
                push_refs(&mut out, "prompts", &s.prompts);
                push_refs(&mut out, "invalid_prompts", &s.invalid_prompts);
                push_refs(&mut out, "no_input_prompts", &s.no_input_prompts);
            }
            Step::Collect(s) => {
                push_refs(&mut out, "prompts", &s.prompts);
                push_refs(&mut out, "invalid_prompts", &s.invalid_prompts);
                push_refs(&mut out, "no_input_prompts", &s.no_input_prompts);
            }
            Step::Record(s) => {
                push_refs(&mut out, "prompts", &s.prompts);
                if let Some(b) = &s.beep {
                    out.push(("beep".into(), b.as_str()));
                }
            }
            Step::Say(s) => push_refs(&mut out, "prompts", &s.prompts),
            Step::Queue(s) => {
                push_refs(&mut out, "prompts", &s.prompts);
                push_refs(&mut out, "hold_prompts", &s.hold_prompts);
                if let Some(m) = &s.music {
                    out.push(("music".into(), m.as_str()));
                }
            }
            Step::Hangup(s) => push_refs(&mut out, "prompts", &s.prompts),
            Step::Callback(s) => push_refs(&mut out, "prompts", &s.prompts),
            Step::Ticket(_) | Step::If(_) => {}
        }
        out
    }

    /// The steps this one can go to, with the key naming each.
    pub fn next_refs(&self) -> Vec<(String, &str)> {
        match self {
            Step::Play(s) => vec![("next".into(), s.next.as_str())],
            Step::Menu(s) => {
                let mut v: Vec<(String, &str)> = s
                    .options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (format!("options[{i}].next"), o.next.as_str()))
                    .collect();
                if let Some(d) = &s.default {
                    v.push(("default.next".into(), d.next.as_str()));
                }
                v
            }
            Step::Collect(s) => {
                let mut v = vec![("next".into(), s.next.as_str())];
                if let Some(f) = &s.on_failure {
                    v.push(("on_failure".into(), f.as_str()));
                }
                v
            }
            Step::Record(s) => vec![("next".into(), s.next.as_str())],
            Step::Say(s) => vec![("next".into(), s.next.as_str())],
            Step::Ticket(s) => vec![("next".into(), s.next.as_str())],
            Step::Callback(s) => vec![("next".into(), s.next.as_str())],
            Step::If(s) => vec![
                ("then".into(), s.then.as_str()),
                ("else".into(), s.otherwise.as_str()),
            ],
            Step::Queue(_) | Step::Hangup(_) => vec![],
        }
    }
}

/// What the intake collects; menus and collect steps name one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Category,
    Severity,
    Language,
    CustomerRef,
    CallbackNumber,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Category => "category",
            Field::Severity => "severity",
            Field::Language => "language",
            Field::CustomerRef => "customer_ref",
            Field::CallbackNumber => "callback_number",
        })
    }
}

fn yes() -> bool {
    true
}

/// Play prompts, then go on.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlayStep {
    pub prompts: Vec<String>,
    /// A key pressed during playback stops it and is passed to the next
    /// step (callers who know the menu need not wait for it).
    #[serde(default)]
    pub barge_in: bool,
    pub next: String,
}

/// One menu choice.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MenuOption {
    pub digit: String,
    /// Set into the menu's `field`; must be a value that field accepts.
    #[serde(default)]
    pub value: Option<String>,
    pub next: String,
}

/// Where a menu goes when the caller's tries run out.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MenuDefault {
    #[serde(default)]
    pub value: Option<String>,
    pub next: String,
}

/// Ask, wait for one key, branch on it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MenuStep {
    pub prompts: Vec<String>,
    /// The field a choice's `value` is stored in (none: a pure branch).
    #[serde(default)]
    pub field: Option<Field>,
    pub options: Vec<MenuOption>,
    /// How long to wait for a key after the prompt ends.
    pub timeout: ConfigDuration,
    /// Prompts replayed after an invalid key or silence, at most this often.
    pub max_retries: u32,
    #[serde(default)]
    pub invalid_prompts: Vec<String>,
    #[serde(default)]
    pub no_input_prompts: Vec<String>,
    /// Plays the menu again without counting a try.
    #[serde(default)]
    pub repeat_digit: Option<String>,
    /// When tries run out; without it the call ends (reason `timeout`).
    #[serde(default)]
    pub default: Option<MenuDefault>,
    #[serde(default = "yes")]
    pub barge_in: bool,
}

/// Read digits ended by `#`, the maximum length, or a pause.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CollectStep {
    pub prompts: Vec<String>,
    pub field: Field,
    pub min_length: u32,
    pub max_length: u32,
    /// `#` alone leaves the field unset and goes on.
    #[serde(default)]
    pub allow_skip: bool,
    /// Wait for the first key, and between keys.
    pub timeout: ConfigDuration,
    pub max_retries: u32,
    #[serde(default)]
    pub invalid_prompts: Vec<String>,
    #[serde(default)]
    pub no_input_prompts: Vec<String>,
    pub next: String,
    /// Where to go when tries run out (default: `next`, field unset).
    #[serde(default)]
    pub on_failure: Option<String>,
}

/// Record the caller's description of the problem (the voice note).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordStep {
    pub prompts: Vec<String>,
    /// Played after the prompts, right before recording starts.
    #[serde(default)]
    pub beep: Option<String>,
    pub max_length: ConfigDuration,
    /// Silence that ends the recording.
    pub silence: ConfigDuration,
    pub next: String,
}

/// What a `say` step reads out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SayWhat {
    /// The ticket's number, digit by digit (waits briefly for the ticket).
    TicketNumber,
    /// "We will call you back within <n> <unit>" for the chosen severity.
    ResponseTarget,
    CustomerRef,
    CallbackNumber,
    /// When the desk will call back a caller who cannot be put through
    /// now: "we will call you back within <n> <unit>" (the time until an
    /// engineer of the ticket's tiers is staffed again), or "as soon as our
    /// engineers are available" when that is more than a day away.
    /// Nothing is said while one is staffed.
    CallbackTime,
}

/// Prompts followed by something spoken from what is known.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SayStep {
    #[serde(default)]
    pub prompts: Vec<String>,
    pub say: SayWhat,
    pub next: String,
}

/// `callback`: the caller's callback request goes on the ticket (at the
/// number collected, or the caller ID), to be called back when an engineer
/// of the ticket's tier is free; then `prompts` and `next`. Without a
/// ticket or a number to call, nothing is stored and the flow goes on.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackStep {
    #[serde(default)]
    pub prompts: Vec<String>,
    pub next: String,
}

/// Create the ticket now (needs a severity); later steps update it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TicketStep {
    pub next: String,
}

/// `hangup`: the end of the flow, after optional prompts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndStep {
    #[serde(default)]
    pub prompts: Vec<String>,
}

/// `queue`: the end of the IVR's part. With routing, the caller waits for
/// an agent, hearing `hold_prompts` once and then `music` (looped), with
/// the position, the callback offer and the rest as routing asks (their
/// prompts are fixed, see [`super::announce`]). Without routing (it is
/// not running, refused the call, or the ticket could not be made) the
/// caller hears `prompts` (a goodbye) and the call ends, as a `hangup`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueStep {
    /// The fallback: played before hanging up when there is no queue.
    #[serde(default)]
    pub prompts: Vec<String>,
    /// Played once on joining the queue, before the music.
    #[serde(default)]
    pub hold_prompts: Vec<String>,
    /// Music on hold, looped while the caller waits (none: silence).
    #[serde(default)]
    pub music: Option<String>,
}

/// What a condition can test; written as a one-key table,
/// e.g. `when = { caller_anonymous = true }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The caller withheld their number (anonymous or `Privacy: id`).
    CallerAnonymous(bool),
    Language(String),
    FieldSet(Field),
    FieldUnset(Field),
    /// An engineer of a tier that could take the ticket (its tier or an
    /// overflow tier) keeps hours now (`[hours]` in hotline.toml).
    Staffed(bool),
}

/// Branch on what is known about the call.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IfStep {
    pub when: Condition,
    pub then: String,
    #[serde(rename = "else")]
    pub otherwise: String,
}

fn push_refs<'a>(out: &mut Vec<(String, &'a str)>, key: &str, names: &'a [String]) {
    for (i, name) in names.iter().enumerate() {
        out.push((format!("{key}[{i}]"), name.as_str()));
    }
}

/// The prompt name `reference` plays in `language`: relative names live
/// under the language's directory, `/name` at the prompt root.
pub fn resolve_prompt(language: &str, reference: &str) -> String {
    match reference.strip_prefix('/') {
        Some(root) => root.to_string(),
        None => format!("{language}/{reference}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_names_resolve_per_language_or_from_the_root() {
        assert_eq!(resolve_prompt("zh", "greeting-hello"), "zh/greeting-hello");
        assert_eq!(resolve_prompt("zh", "/beep"), "beep");
    }

    #[test]
    fn a_step_kind_and_its_keys_are_checked() {
        let ok: Step = toml::from_str("kind = \"play\"\nprompts = [\"a\"]\nnext = \"b\"").unwrap();
        assert!(matches!(ok, Step::Play(ref p) if p.next == "b" && !p.barge_in));
        let typo = toml::from_str::<Step>("kind = \"play\"\nprompt = [\"a\"]\nnext = \"b\"");
        assert!(typo.unwrap_err().to_string().contains("prompt"));
        let cond: IfStep =
            toml::from_str("when = { caller_anonymous = true }\nthen = \"a\"\nelse = \"b\"")
                .unwrap();
        assert_eq!(cond.when, Condition::CallerAnonymous(true));
    }
}
