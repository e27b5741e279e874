//! What a caller hears around the queue, as prompt sequences: the
//! position and expected wait, the callback offer, "connecting you", the
//! call cut by the agent's side, the callback noted. Names are relative to
//! the caller's language (like a flow's prompts); numbers are read with the
//! same [`words`] a `say` step uses.
//!
//! Word order is per language, as in [`words::callback_within`]: Mandarin
//! closes a sentence after the number ("您是第 三 位来电者"), so it has
//! `*-end` prompts English does without (or has its own).

use std::time::Duration;

use super::words;
use crate::tickets::TicketNumber;

/// Music on hold, shared by all languages (`prompts/music-on-hold.wav`).
pub const MUSIC_ON_HOLD: &str = "/music-on-hold";

/// "You are caller number 3" and, when routing has an estimate, "expected
/// wait about 4 minutes". `position` counts from 1 (the next caller).
pub fn position(language: &str, position: usize, expected_wait: Option<Duration>) -> Vec<String> {
    let mut out = vec!["queue-position".to_string()];
    out.extend(words::digits(&position.max(1).to_string()));
    if language == "zh" {
        out.push("queue-position-end".into());
    }
    if let Some(wait) = expected_wait {
        let (n, unit) = words::about(wait);
        out.push("queue-wait".into());
        out.push(format!("number-{n}"));
        out.push(unit.into());
    }
    out
}

/// "Press 1 to be called back at <digits>, or stay on the line"; `None`
/// when `number` has no digit to read out (no offer can be made).
pub fn callback_offer(_language: &str, number: &str) -> Option<Vec<String>> {
    let digits = words::digits(number);
    if digits.is_empty() {
        return None;
    }
    let mut out = vec!["callback-offer".to_string()];
    out.extend(digits);
    out.push("callback-offer-end".into());
    Some(out)
}

/// The key that accepts the callback offer.
pub const CALLBACK_KEY: char = '1';

/// "We have noted your callback request. Goodbye."
pub fn callback_noted(_language: &str) -> Vec<String> {
    vec!["callback-noted".into()]
}

/// "Please hold, we are connecting you to a support engineer" (an agent
/// escalated the call, or the call goes back into the queue).
pub fn connecting(_language: &str) -> Vec<String> {
    vec!["connecting".into()]
}

/// "Your call was cut. Your ticket 1 0 4 2 stays open and we will call
/// you back."
pub fn call_cut(_language: &str, ticket: TicketNumber) -> Vec<String> {
    let mut out = vec!["call-cut".to_string()];
    if !ticket.is_provisional() {
        out.extend(words::digits(&ticket.to_string()));
    }
    out.push("call-cut-end".into());
    out
}

/// Every relative prompt the functions above may play in `language`: what
/// a flow with a `queue` step needs in each of its languages.
pub fn required_prompts(language: &str) -> Vec<String> {
    let mut out: Vec<String> = [
        "queue-position",
        "queue-wait",
        "minute",
        "minutes",
        "hour",
        "hours",
        "callback-offer",
        "callback-offer-end",
        "callback-noted",
        "connecting",
        "call-cut",
        "call-cut-end",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    if language == "zh" {
        out.push("queue-position-end".into());
    }
    out.extend(words::digit_prompts());
    out.extend(words::SPOKEN_NUMBERS.iter().map(|n| format!("number-{n}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn position_and_wait_in_each_word_order() {
        assert_eq!(
            position("en", 3, Some(min(4))),
            [
                "queue-position",
                "digit-3",
                "queue-wait",
                "number-4",
                "minutes"
            ]
        );
        assert_eq!(
            position("zh", 12, Some(Duration::from_secs(50))),
            [
                "queue-position",
                "digit-1",
                "digit-2",
                "queue-position-end",
                "queue-wait",
                "number-1",
                "minute"
            ]
        );
    }

    #[test]
    fn without_an_estimate_only_the_position_is_said() {
        assert_eq!(position("en", 1, None), ["queue-position", "digit-1"]);
        assert_eq!(
            position("en", 0, None),
            ["queue-position", "digit-1"],
            "nobody is caller number zero"
        );
    }

    #[test]
    fn the_callback_offer_reads_the_number_digit_by_digit() {
        assert_eq!(
            callback_offer("en", "+1 555-12").unwrap(),
            [
                "callback-offer",
                "digit-1",
                "digit-5",
                "digit-5",
                "digit-5",
                "digit-1",
                "digit-2",
                "callback-offer-end"
            ]
        );
        assert_eq!(callback_offer("en", "anonymous"), None);
    }

    #[test]
    fn the_call_cut_names_the_ticket() {
        assert_eq!(
            call_cut("zh", TicketNumber(1042)),
            [
                "call-cut",
                "digit-1",
                "digit-0",
                "digit-4",
                "digit-2",
                "call-cut-end"
            ]
        );
        assert_eq!(callback_noted("en"), ["callback-noted"]);
        assert_eq!(connecting("en"), ["connecting"]);
    }

    #[test]
    fn every_prompt_any_announcement_plays_is_required() {
        for lang in ["en", "zh"] {
            let required = required_prompts(lang);
            let mut played: Vec<String> = Vec::new();
            for p in 1..=30 {
                for m in 0..600 {
                    played.extend(position(lang, p, Some(min(m))));
                }
            }
            played.extend(callback_offer(lang, "0123456789").unwrap());
            played.extend(call_cut(lang, TicketNumber(1234567890)));
            played.extend(callback_noted(lang));
            played.extend(connecting(lang));
            for p in played {
                assert!(required.contains(&p), "{lang}: {p} is not required");
            }
        }
    }
}
