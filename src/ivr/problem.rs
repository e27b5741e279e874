//! How a flow's mistakes are reported: each names the file, the step and
//! the key, with a stable code an administrator can search for.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a flow file (or the prompts it needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowProblem {
    pub file: PathBuf,
    /// The step the problem is in; `None` for top-level keys.
    pub step: Option<String>,
    /// Key within the step (or the file), e.g. `options[2].digit`.
    pub key: String,
    /// Stable code, `HL-IVR-...` (see [`IvrError`] for the list).
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for FlowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.file.display())?;
        if let Some(step) = &self.step {
            write!(f, ": step `{step}`")?;
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Problem codes, stable across releases:
/// - `HL-IVR-001` the file is not valid TOML or not a flow (unknown key,
///   wrong type, missing key).
/// - `HL-IVR-002` a reference to a step that does not exist.
/// - `HL-IVR-003` a step no call can reach.
/// - `HL-IVR-004` a prompt file missing (for some language).
/// - `HL-IVR-005` a digit used twice in one menu.
/// - `HL-IVR-006` a loop of steps that never waits for input.
/// - `HL-IVR-007` a value that is not a known category, severity or language.
/// - `HL-IVR-008` a number or duration out of range.
/// - `HL-IVR-009` a field or digit a step cannot use.
/// - `HL-IVR-010` a response target the number prompts cannot say.
/// - `HL-IVR-011` the prompt directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IvrError {
    #[error("HL-IVR-READ: cannot read {}: {source}; check the flow path in the configuration", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("HL-IVR-INVALID: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<FlowProblem> },
}

impl IvrError {
    /// The problems, whatever the cause (a read error becomes one).
    pub fn into_problems(self) -> Vec<FlowProblem> {
        match self {
            IvrError::Invalid { problems } => problems,
            IvrError::Read { file, source } => vec![FlowProblem {
                file,
                step: None,
                key: String::new(),
                code: "HL-IVR-001",
                message: format!("cannot read the file: {source}"),
            }],
        }
    }
}
