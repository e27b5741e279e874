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
pub const SPOKEN_NUMBERS: [u64; 15] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 24, 30, 45];

/// The minutes a waiting caller can be told ("about N minutes"); longer
/// waits are said in hours.
const ABOUT_MINUTES: [u64; 14] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 30, 45];
/// The hours a waiting caller can be told.
const ABOUT_HOURS: [u64; 4] = [1, 2, 4, 8];

/// Said instead of the ticket number when the ticket waits in the journal
/// without its final number ("Your request is recorded. We will call you
/// back at your number.").
pub const TICKET_RECORDED: &str = "ticket-recorded";

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
    // The SLA promise keeps the numbers it was made with (15, 30 min; 1,
    // 2, 4, 8, 24 h), so a finer set of numbers never changes a promise.
    for n in [1, 2, 4, 8, 15, 24, 30] {
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

/// An expected wait as the nearest (number, unit prompt) a caller can be
/// told "about": whole minutes up to 10, then 15, 20, 30, 45 minutes, then
/// 1, 2, 4, 8 hours (the most said; a longer wait is "about 8 hours").
/// Never less than a minute: "about zero minutes" promises too much.
pub fn about(wait: Duration) -> (u64, &'static str) {
    let secs = wait.as_secs().max(60);
    let choices = ABOUT_MINUTES
        .iter()
        .map(|m| (m * 60, *m, if *m == 1 { "minute" } else { "minutes" }))
        .chain(
            ABOUT_HOURS
                .iter()
                .map(|h| (h * 3600, *h, if *h == 1 { "hour" } else { "hours" })),
        );
    // Nearest by ratio (2 min vs 3 min matters, 4 h vs 4 h 1 min does not);
    // a tie goes to the longer wait.
    let mut best = (f64::MAX, 1, "minute");
    for (s, n, unit) in choices {
        let off = (s as f64 / secs as f64).ln().abs();
        if off <= best.0 {
            best = (off, n, unit);
        }
    }
    (best.1, best.2)
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

/// When the desk will call back a caller it cannot put through now:
/// "we will call you back within <n> <unit>" for up to a day (rounded up,
/// as for the SLA promise), "as soon as our engineers are available" beyond.
pub fn callback_after(language: &str, wait: Duration) -> Vec<String> {
    callback_within(language, wait).unwrap_or_else(|| vec![CALLBACK_WHEN_OPEN.to_string()])
}

/// Said instead of a time more than a day away.
pub const CALLBACK_WHEN_OPEN: &str = "callback-when-open";

/// Every prompt [`callback_after`] may use in `language`.
pub fn callback_after_prompts(language: &str) -> Vec<String> {
    let mut out = vec![CALLBACK_WHEN_OPEN.to_string()];
    let mut t = Duration::from_secs(60);
    while let Some(seq) = callback_within(language, t) {
        out.extend(seq);
        t += Duration::from_secs(60);
    }
    out.sort();
    out.dedup();
    out
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
    fn waits_are_said_to_the_nearest_sayable_time() {
        let s = Duration::from_secs;
        assert_eq!(about(s(0)), (1, "minute"));
        assert_eq!(about(s(80)), (1, "minute"));
        assert_eq!(about(s(100)), (2, "minutes"));
        assert_eq!(about(min(4)), (4, "minutes"));
        assert_eq!(about(min(12)), (10, "minutes"));
        assert_eq!(about(min(13)), (15, "minutes"));
        assert_eq!(about(min(38)), (45, "minutes"));
        assert_eq!(about(min(70)), (1, "hour"));
        assert_eq!(about(min(100)), (2, "hours"));
        assert_eq!(about(min(24 * 60)), (8, "hours"));
        for m in 0..600 {
            let (n, _) = about(min(m));
            assert!(SPOKEN_NUMBERS.contains(&n), "{m} min -> {n}");
        }
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
