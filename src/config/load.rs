//! Reading a file into [`Config`], collecting every problem.

use std::path::{Path, PathBuf};

use serde_path_to_error::Segment;

use super::types::{default_categories, Config};
use super::validate::validate;
use super::{ConfigError, ConfigProblem};

/// How many bad keys one load reports before giving up (a file that is
/// wrong everywhere still gets a bounded answer).
const MAX_PROBLEMS: usize = 100;

/// Read and validate a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse_str(&text, path)
}

/// Parse and validate configuration text; `path` names it in errors.
pub fn parse_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let problem = |key: String, message: String| ConfigProblem {
        file: path.to_path_buf(),
        key,
        message,
    };
    let mut value: toml::Table = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: ")
            })
            .unwrap_or_default();
        ConfigError::Invalid {
            problems: vec![problem(
                String::new(),
                format!("{at}not valid TOML: {}", e.message()),
            )],
        }
    })?;

    // serde stops at the first error; to report them all, note the failing
    // key, remove it (defaults then apply) and try again.
    let mut problems = Vec::new();
    let mut config = None;
    while problems.len() < MAX_PROBLEMS {
        let attempt: Result<Config, _> =
            serde_path_to_error::deserialize(toml::Value::Table(value.clone()));
        match attempt {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err(e) => {
                let mut segments: Vec<Segment> = e.path().iter().cloned().collect();
                let message = e.inner().message().to_string();
                if let Some(field) = unknown_field(&message) {
                    let named =
                        matches!(segments.last(), Some(Segment::Map { key }) if *key == field);
                    if !named {
                        segments.push(Segment::Map { key: field });
                    }
                }
                let key = dotted(&segments);
                let secondary = message.starts_with("missing field")
                    && problems
                        .iter()
                        .any(|p: &ConfigProblem| p.key.starts_with(&key) && !key.is_empty());
                if !secondary {
                    problems.push(problem(key, explain(&message)));
                }
                if !remove(&mut value, &segments) {
                    break;
                }
            }
        }
    }
    let Some(mut config) = config else {
        return Err(ConfigError::Invalid { problems });
    };
    if config.categories.is_empty() {
        config.categories = default_categories();
    }
    problems.extend(
        validate(&config)
            .into_iter()
            .map(|(key, message)| problem(key, message)),
    );
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid { problems })
    }
}

/// The data directory: the configured one, else a per-user default.
///
/// Root gets `/var/lib/hotline` because the embedded PostgreSQL runs as the
/// `postgres` user, who cannot enter root's mode-700 home.
pub fn resolve_data_dir(configured: &str) -> PathBuf {
    if !configured.is_empty() {
        return PathBuf::from(configured);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/hotline");
    }
    match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("hotline"),
        _ => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".local/share/hotline"))
            .unwrap_or_else(|| PathBuf::from("hotline-data")),
    }
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// Turn serde's phrasing into advice a person can act on.
fn explain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return format!("unknown key {rest}");
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing key {rest}, which this table requires");
    }
    message.to_string()
}

fn dotted(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&toml_key(key));
            }
            Segment::Enum { variant } => out.push_str(&format!("::{variant}")),
            Segment::Unknown => out.push_str(".?"),
        }
    }
    out
}

/// Our Rust field names differ from the file's keys only where renamed.
fn toml_key(key: &str) -> String {
    match key {
        "severities" => "severity".into(),
        "categories" => "category".into(),
        k => k.into(),
    }
}

/// Remove the value at `segments`; false if nothing could be removed.
fn remove(root: &mut toml::Table, segments: &[Segment]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node: &mut toml::Value = match parents.first() {
        None => {
            return match last {
                Segment::Map { key } => root.remove(&toml_key(key)).is_some(),
                _ => false,
            }
        }
        Some(Segment::Map { key }) => match root.get_mut(&toml_key(key)) {
            Some(v) => v,
            None => return false,
        },
        Some(_) => return false,
    };
    for s in &parents[1..] {
        node = match (s, node) {
            (Segment::Map { key }, toml::Value::Table(t)) => match t.get_mut(&toml_key(key)) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Seq { index }, toml::Value::Array(a)) => match a.get_mut(*index) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Segment::Map { key }, toml::Value::Table(t)) => t.remove(&toml_key(key)).is_some(),
        (Segment::Seq { index }, toml::Value::Array(a)) if *index < a.len() => {
            a.remove(*index);
            true
        }
        _ => false,
    }
}
