//! Query and path parameters, parsed by hand so every mistake is a 400
//! naming the parameter (axum's own extractors answer with plain text that
//! names nothing), and an unknown parameter is refused rather than
//! silently ignored: `?severty=critical` must not list every ticket.

use chrono::{DateTime, Utc};

use super::error::AdminError;
use crate::tickets::repo::TicketFilter;
use crate::tickets::TicketNumber;

/// Most rows one listing returns; a bigger `limit` is refused, not capped,
/// so a script never believes it saw everything when it did not.
pub const MAX_LIMIT: i64 = 1000;
/// Rows a listing returns when no `limit` is given.
pub const DEFAULT_LIMIT: i64 = 100;

/// The pairs of a query string, as axum decoded them.
pub type Pairs = Vec<(String, String)>;

fn refuse_unknown(pairs: &Pairs, known: &[&'static str]) -> Result<(), AdminError> {
    match pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        Some((k, _)) => Err(AdminError::BadParam {
            name: "query",
            reason: format!(
                "unknown parameter `{k}`; this route takes {}",
                known.join(", ")
            ),
        }),
        None => Ok(()),
    }
}

pub fn limit(value: &str) -> Result<i64, AdminError> {
    match value.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(AdminError::param(
            "limit",
            format!("`{value}` is not a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

fn boolean(name: &'static str, value: &str) -> Result<bool, AdminError> {
    match value.trim() {
        "true" | "1" | "yes" | "" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(AdminError::param(
            name,
            format!("`{other}` is not true or false"),
        )),
    }
}

/// RFC 3339, e.g. `2026-11-23T14:05:00Z`. A `+` in a query string decodes
/// to a space, so `...T14:05:00+01:00` sent unencoded arrives as
/// `...T14:05:00 01:00`; that space can only have been a `+`.
pub fn since(value: &str) -> Result<DateTime<Utc>, AdminError> {
    let repaired = value.trim().replace(' ', "+");
    DateTime::parse_from_rfc3339(&repaired)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            AdminError::param(
                "since",
                format!("`{value}` is not an RFC 3339 time like 2026-11-23T14:05:00Z ({e})"),
            )
        })
}

/// `GET /api/tickets?open=&severity=&since=&limit=`.
pub fn ticket_filter(pairs: &Pairs) -> Result<TicketFilter, AdminError> {
    refuse_unknown(pairs, &["open", "severity", "since", "limit"])?;
    let mut f = TicketFilter {
        limit: Some(DEFAULT_LIMIT),
        ..TicketFilter::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "open" => f.open_only = boolean("open", v)?,
            "severity" if v.trim().is_empty() => {
                return Err(AdminError::param("severity", "must not be empty"))
            }
            "severity" => f.severity = Some(v.trim().to_string()),
            "since" => f.since = Some(since(v)?),
            "limit" => f.limit = Some(limit(v)?),
            _ => unreachable!("refuse_unknown let `{k}` through"),
        }
    }
    Ok(f)
}

/// `GET /api/calls?limit=`.
pub fn calls_limit(pairs: &Pairs) -> Result<i64, AdminError> {
    refuse_unknown(pairs, &["limit"])?;
    let mut n = DEFAULT_LIMIT;
    for (_, v) in pairs {
        n = limit(v)?;
    }
    Ok(n)
}

/// `{number}` in a path; `#42` is accepted as people write it that way.
pub fn ticket_number(value: &str) -> Result<TicketNumber, AdminError> {
    value
        .parse()
        .map_err(|_| AdminError::param("number", format!("`{value}` is not a ticket number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_parse_and_mistakes_name_the_parameter() {
        let f = ticket_filter(&pairs(&[
            ("open", "true"),
            ("severity", "critical"),
            ("since", "2026-11-23T14:05:00 01:00"),
            ("limit", "5"),
        ]))
        .unwrap();
        assert!(f.open_only);
        assert_eq!(f.severity.as_deref(), Some("critical"));
        assert_eq!(f.since.unwrap().to_rfc3339(), "2026-11-23T13:05:00+00:00");
        assert_eq!(f.limit, Some(5));
        assert_eq!(ticket_filter(&vec![]).unwrap().limit, Some(DEFAULT_LIMIT));

        for (k, v, named) in [
            ("since", "yesterday", "since"),
            ("limit", "0", "limit"),
            ("limit", "1001", "limit"),
            ("open", "maybe", "open"),
            ("severty", "critical", "query"),
        ] {
            match ticket_filter(&pairs(&[(k, v)])) {
                Err(AdminError::BadParam { name, .. }) => assert_eq!(name, named, "{k}={v}"),
                other => panic!("{k}={v} gave {other:?}"),
            }
        }
        assert!(matches!(ticket_number("#42"), Ok(TicketNumber(42))));
        assert!(ticket_number("abc").is_err());
        assert_eq!(calls_limit(&pairs(&[("limit", "7")])).unwrap(), 7);
    }
}
