//! The flow new calls start on, and its reload.
//!
//! A reload builds and validates a complete new [`LoadedFlow`] (flow and
//! the prompt cache it was checked against) before anything changes; only
//! then is the `Arc` swapped. Calls take an `Arc` when they start and keep
//! it, so a call in progress finishes on the version it began with, and a
//! refused reload leaves the running version untouched.
//!
//! The lock is a `std::sync::RwLock` held only to clone or replace an
//! `Arc`: never across an `.await`, never while loading files.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::config::Config;
use crate::media::prompt::PromptCache;

use super::flow::Flow;
use super::load::{load_flow, parse_flow};
use super::problem::{FlowProblem, IvrError};
use super::validate::{prompt_names, validate};

/// Where a flow and its prompts come from.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowPaths {
    /// The flow file; empty: the flow built into the binary.
    pub flow: PathBuf,
    /// Prompt directories over the built-in prompts, lowest first, each
    /// file overriding the same name below it; `true`: must exist.
    pub prompts: Vec<(PathBuf, bool)>,
}

impl FlowPaths {
    /// One flow file and one prompt directory that must exist (over the
    /// built-in prompts).
    pub fn new(flow: impl Into<PathBuf>, prompts: impl Into<PathBuf>) -> Self {
        Self {
            flow: flow.into(),
            prompts: vec![(prompts.into(), true)],
        }
    }
}

/// A validated flow with the prompts it was validated against.
#[derive(Debug)]
pub struct LoadedFlow {
    /// Its `version` is the effective one (file version + content hash).
    pub flow: Arc<Flow>,
    pub prompts: Arc<PromptCache>,
    pub file: PathBuf,
}

impl LoadedFlow {
    pub fn version(&self) -> &str {
        &self.flow.version
    }
}

/// FNV-1a: a hash that stays the same across Rust releases, so a stored
/// flow version keeps meaning the same file.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Load the flow and prompts at `paths` and check them against `config`;
/// what `hotline check-config` runs, and every reload.
pub fn load_checked(paths: &FlowPaths, config: &Config) -> Result<LoadedFlow, Vec<FlowProblem>> {
    let prompts =
        PromptCache::load_layers(crate::shipped::PROMPTS, &paths.prompts).map_err(|e| {
            vec![FlowProblem {
                file: paths
                    .prompts
                    .last()
                    .map(|(d, _)| d.clone())
                    .unwrap_or_default(),
                step: None,
                key: String::new(),
                code: "HL-IVR-011",
                message: format!("prompts cannot be loaded: {e}"),
            }]
        })?;
    let builtin = paths.flow.as_os_str().is_empty();
    let file = if builtin {
        PathBuf::from(crate::shipped::FLOW_NAME)
    } else {
        paths.flow.clone()
    };
    let (mut flow, text) = if builtin {
        let text = crate::shipped::FLOW.to_string();
        (
            parse_flow(&text, &file).map_err(IvrError::into_problems)?,
            text,
        )
    } else {
        load_flow(&paths.flow).map_err(IvrError::into_problems)?
    };
    let problems = validate(&flow, &file, config, &prompt_names(&prompts));
    if !problems.is_empty() {
        return Err(problems);
    }
    flow.version = format!("{}+{:08x}", flow.version, fnv1a(text.as_bytes()) as u32);
    Ok(LoadedFlow {
        flow: Arc::new(flow),
        prompts: Arc::new(prompts),
        file,
    })
}

/// The current flow, swapped atomically on reload.
#[derive(Debug)]
pub struct FlowRegistry {
    current: RwLock<Arc<LoadedFlow>>,
}

impl FlowRegistry {
    /// Load the first version; the daemon does not start without one.
    pub fn load(paths: &FlowPaths, config: &Config) -> Result<Self, IvrError> {
        let loaded =
            load_checked(paths, config).map_err(|problems| IvrError::Invalid { problems })?;
        Ok(Self::new(loaded))
    }

    pub fn new(loaded: LoadedFlow) -> Self {
        Self {
            current: RwLock::new(Arc::new(loaded)),
        }
    }

    /// The flow a call starting now runs on; keep the `Arc` for the call.
    pub fn current(&self) -> Arc<LoadedFlow> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Load, validate and, only if valid, swap in the flow at `paths`.
    /// Returns the new version; on error the old version stays active and
    /// every problem is returned (and logged) for the administrator.
    pub fn reload(&self, paths: &FlowPaths, config: &Config) -> Result<String, Vec<FlowProblem>> {
        match load_checked(paths, config) {
            Ok(loaded) => {
                let version = loaded.version().to_string();
                let old = std::mem::replace(
                    &mut *self.current.write().unwrap_or_else(|p| p.into_inner()),
                    Arc::new(loaded),
                );
                tracing::info!(old = old.version(), new = %version, "IVR flow reloaded");
                Ok(version)
            }
            Err(problems) => {
                for p in &problems {
                    tracing::error!(problem = %p, "IVR flow reload refused; the running flow stays");
                }
                Err(problems)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn paths(dir: &Path) -> FlowPaths {
        FlowPaths::new(dir.join("ivr.toml"), "prompts")
    }

    #[test]
    fn a_valid_reload_applies_to_new_calls_only() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = std::fs::read_to_string("config/ivr.toml").unwrap();
        std::fs::write(dir.path().join("ivr.toml"), &shipped).unwrap();
        let config = Config::default();
        let registry = FlowRegistry::load(&paths(dir.path()), &config).unwrap();
        let in_progress = registry.current();

        let edited = shipped.replacen("timeout = \"6s\"", "timeout = \"7s\"", 1);
        assert_ne!(edited, shipped, "the shipped flow has a 6s menu timeout");
        std::fs::write(dir.path().join("ivr.toml"), &edited).unwrap();
        let version = registry.reload(&paths(dir.path()), &config).unwrap();

        assert_eq!(registry.current().version(), version);
        assert_ne!(
            in_progress.version(),
            version,
            "a content change is a new version"
        );
        assert!(Arc::strong_count(&in_progress) >= 1);
        assert_ne!(in_progress.flow, registry.current().flow);
    }

    #[test]
    fn an_invalid_reload_is_refused_and_the_old_flow_stays() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = std::fs::read_to_string("config/ivr.toml").unwrap();
        std::fs::write(dir.path().join("ivr.toml"), &shipped).unwrap();
        let config = Config::default();
        let registry = FlowRegistry::load(&paths(dir.path()), &config).unwrap();
        let before = registry.current().version().to_string();

        let broken = shipped.replacen("next = \"severity\"", "next = \"severty\"", 1);
        assert_ne!(broken, shipped);
        std::fs::write(dir.path().join("ivr.toml"), &broken).unwrap();
        let problems = registry.reload(&paths(dir.path()), &config).unwrap_err();
        assert!(
            problems.iter().any(|p| p.code == "HL-IVR-002"),
            "{problems:?}"
        );
        assert_eq!(registry.current().version(), before);
    }
}
