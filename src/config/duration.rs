//! Durations written the way people write them: `"30m"`, `"4h"`, `"6s"`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `std::time::Duration` read from a human string (via `humantime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// As a `chrono::Duration`, for deadlines on `DateTime<Utc>`.
    pub fn as_chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(ConfigDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a duration ({e}); write it like \"30m\", \"4h\" or \"6s\""
                ))
            })
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        d: ConfigDuration,
    }

    #[test]
    fn reads_human_durations() {
        let t: T = toml::from_str("d = \"30m\"").unwrap();
        assert_eq!(t.d.0, Duration::from_secs(1800));
        let t: T = toml::from_str("d = \"4h\"").unwrap();
        assert_eq!(t.d.0, Duration::from_secs(4 * 3600));
    }

    #[test]
    fn rejects_nonsense_with_an_example() {
        let err = toml::from_str::<T>("d = \"soon\"")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("\"30m\""), "{err}");
    }
}
