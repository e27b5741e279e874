//! Turning numbers and durations into prompt sequences.
//!
//! The shipped prompts (see `prompts/README.md`) hold `digit-0`..`digit-9`,
//! `number-N` for N in [`SPOKEN_NUMBERS`], and `minutes` / `hour` /
//! `hours`: enough for the SLA targets of both of the desk's manuals
//! (15 and 30 min, 1, 2, 4, 8 and 24 h). A target between two of these is
//! rounded *up* to the next one a caller can be told: "within an hour" is
//! still kept when the desk answers in 45 minutes, "within 30 minutes"
//! would not be.
//!
//! Word order is per language: Mandarin puts the verb after the time
//! ("我们将在 三十 分钟 内给您回电"), so it ends the sentence with
//! `callback-within-end`; English has no such prompt.

use std::time::Duration;

/// The `number-N` prompts that exist in every shipped language.
pub const SPOKEN_NUMBERS: [u64; 7] = [1, 2, 4, 8, 15, 24, 30];

/// `digit-N` for each decimal digit of `text`; other characters (a `+`
/// in a phone number, say) are not spoken.
pub fn digits(text: &str) -> Vec<String> {
    text.chars()
        .filter(char::is_ascii_digit)
        .map(|d| format!("digit-{d}"))
        .collect()
}

/// The smallest duration at least `target` that the number prompts can
/// say, as (number, unit prompt); `None` beyond 24 hours.
pub fn sayable(target: Duration) -> Option<(u64, &'static str)> {
    let secs = target.as_secs();
    let mut choices: Vec<(u64, u64, &'static str)> = Vec::new();
    for n in SPOKEN_NUMBERS {
        if n > 1 {
            choices.push((n * 60, n, "minutes"));
        }
        // "30 hours" would be a promise nobody makes: a day is the limit.
        if n <= 24 {
            choices.push((n * 3600, n, if n == 1 { "hour" } else { "hours" }));
        }
    }
    choices.sort_by_key(|c| c.0);
    choices
        .into_iter()
        .find(|(s, _, _)| *s >= secs)
        .map(|(_, n, unit)| (n, unit))
}

/// "We will call you back within <n> <unit>" as relative prompt names in
/// `language`'s word order; `None` if the target cannot be said.
pub fn callback_within(language: &str, target: Duration) -> Option<Vec<String>> {
    let (n, unit) = sayable(target)?;
    let mut out = vec![
        "callback-within".to_string(),
        format!("number-{n}"),
        unit.to_string(),
    ];
    if let Some(end) = sentence_end(language) {
        out.push(end.to_string());
    }
    Some(out)
}

/// The closing prompt a language's word order needs after the time.
fn sentence_end(language: &str) -> Option<&'static str> {
    match language {
        "zh" => Some("callback-within-end"),
        _ => None,
    }
}

/// Every relative prompt reading digits may play.
pub fn digit_prompts() -> Vec<String> {
    (0..10).map(|d| format!("digit-{d}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn digits_are_read_one_by_one() {
        assert_eq!(digits("1042"), ["digit-1", "digit-0", "digit-4", "digit-2"]);
        assert_eq!(
            digits("+86 10"),
            ["digit-8", "digit-6", "digit-1", "digit-0"]
        );
    }

    #[test]
    fn both_manuals_targets_are_said_exactly() {
        assert_eq!(sayable(min(15)), Some((15, "minutes")));
        assert_eq!(sayable(min(30)), Some((30, "minutes")));
        assert_eq!(sayable(min(60)), Some((1, "hour")));
        assert_eq!(sayable(min(120)), Some((2, "hours")));
        assert_eq!(sayable(min(24 * 60)), Some((24, "hours")));
    }

    #[test]
    fn other_targets_round_up_never_down() {
        assert_eq!(sayable(min(45)), Some((1, "hour")));
        assert_eq!(sayable(min(10)), Some((15, "minutes")));
        assert_eq!(sayable(min(3 * 60)), Some((4, "hours")));
        assert_eq!(sayable(min(25 * 60)), None);
    }

    #[test]
    fn mandarin_closes_the_sentence_after_the_time() {
        assert_eq!(
            callback_within("en", min(30)).unwrap(),
            ["callback-within", "number-30", "minutes"]
        );
        assert_eq!(
            callback_within("zh", min(30)).unwrap(),
            [
                "callback-within",
                "number-30",
                "minutes",
                "callback-within-end"
            ]
        );
    }
}
