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

/// Parse and validate configuration text; `path` names it in errors, and
/// relative paths in it (`ivr.flow`, `media.prompts_dir`, `daemon.data_dir`)
/// are resolved against its directory, never the working directory.
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
    resolve_paths(&mut config, path);
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

/// Make the file's relative paths relative to its directory. A file named
/// without a directory (`hotline.toml`) is in the working directory, where
/// its relative paths already point; the built-in defaults have no file.
fn resolve_paths(config: &mut Config, file: &Path) {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
    config.config_dir = match dir {
        Some(d) => Some(d.to_path_buf()),
        None if file.is_file() => Some(PathBuf::from(".")),
        None => None,
    };
    let Some(dir) = dir else {
        return;
    };
    for value in [
        &mut config.ivr.flow,
        &mut config.media.prompts_dir,
        &mut config.daemon.data_dir,
    ] {
        if !value.is_empty() && Path::new(value.as_str()).is_relative() {
            *value = dir.join(value.as_str()).display().to_string();
        }
    }
}

/// The data directory: the configured one, else the first of
///
/// - `$STATE_DIRECTORY`, which systemd sets from the unit's
///   `StateDirectory=hotline` (`/var/lib/hotline`);
/// - `/var/lib/hotline` when we are root (the embedded PostgreSQL then runs
///   as another user, who cannot enter root's mode-700 home), or when it is
///   a directory this user owns (the package's `hotline` user running a
///   command by hand: `sudo -u hotline hotline tickets list`);
/// - `$XDG_DATA_HOME/hotline`, `~/.local/share/hotline`.
pub fn resolve_data_dir(configured: &str) -> PathBuf {
    if !configured.is_empty() {
        return PathBuf::from(configured);
    }
    if let Some(d) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may list several, separated by ':'; ours is the first.
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        if !first.is_empty() {
            return PathBuf::from(first);
        }
    }
    let var_lib = Path::new(crate::shipped::VAR_LIB);
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let ours = std::os::unix::fs::MetadataExt::uid;
    if euid == 0 || std::fs::metadata(var_lib).is_ok_and(|m| m.is_dir() && ours(&m) == euid) {
        return var_lib.to_path_buf();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_files_directory() {
        let text = "[ivr]\nflow = \"flows/my.toml\"\n[media]\nprompts_dir = \"../voice\"\n\
                    [daemon]\ndata_dir = \"data\"\n";
        let c = parse_str(text, Path::new("/srv/desk/etc/hotline.toml")).unwrap();
        assert_eq!(c.ivr.flow, "/srv/desk/etc/flows/my.toml");
        assert_eq!(c.media.prompts_dir, "/srv/desk/etc/../voice");
        assert_eq!(c.daemon.data_dir, "/srv/desk/etc/data");
        assert_eq!(c.config_dir.as_deref(), Some(Path::new("/srv/desk/etc")));
        let abs = parse_str("[ivr]\nflow = \"/x/ivr.toml\"\n", Path::new("/e/h.toml")).unwrap();
        assert_eq!(abs.ivr.flow, "/x/ivr.toml", "absolute paths stay");
    }

    #[test]
    fn the_built_in_defaults_use_the_built_in_flow_and_prompts() {
        let c = parse_str("", Path::new("(built-in defaults)")).unwrap();
        assert_eq!(c.ivr.flow, "");
        assert_eq!(c.media.prompts_dir, "");
        assert_eq!(c.config_dir, None);
    }
}
