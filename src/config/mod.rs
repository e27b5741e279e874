//! Typed configuration (`config/hotline.toml`), its validation with precise
//! errors, and the command-line overrides.
//!
//! Loading never stops at the first mistake: every problem is reported with
//! the file, the key and what would be valid, so an administrator fixes a
//! file in one pass.

mod admission;
mod duration;
mod hours;
mod load;
mod report;
mod types;
mod validate;

use std::fmt;
use std::path::PathBuf;

pub use admission::AdmissionConfig;
pub use duration::ConfigDuration;
pub use hours::{HoursConfig, SlaClock};
pub use load::{load, parse_str, resolve_data_dir};
pub use report::{EscalateRule, ReportConfig, SlaScanConfig};
pub use types::*;

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub file: PathBuf,
    /// Dotted key path, e.g. `sla.severity[1].response`; empty for the file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: key `{}`: {}",
                self.file.display(),
                self.key,
                self.message
            )
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("HL-CFG-READ: cannot read {}: {source}; check the path given with --config", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("HL-CFG-INVALID: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<ConfigProblem> },
}
