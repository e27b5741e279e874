//! The shared prompt cache: prompt name -> `Arc<Prompt>`.
//!
//! Loaded once at start; a reload builds a whole new cache and the owner
//! swaps it in, so a reload never changes audio under a call that is
//! playing: calls hold their own `Arc<Prompt>` and keep it until they drop
//! it. A directory with any unusable file fails as a whole, listing every
//! bad file at once, so a broken reload leaves the old cache in service.
//!
//! [`PromptCache::load_layers`] stacks sources: the prompts built into the
//! binary, then directories in order, each file overriding the one of the
//! same name below it (see `crate::shipped` for the installed order).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Prompt, PromptError};

/// Directories nested deeper than this are not searched (guards symlink loops).
const MAX_DEPTH: usize = 4;

/// Prompts by name, where the name is the path below the root without `.wav`
/// and with `/` separators: `beep`, `en/greeting-hello`, `zh/digit-5`.
#[derive(Debug, Default)]
pub struct PromptCache {
    root: PathBuf,
    builtin: &'static [(&'static str, &'static [u8])],
    layers: Vec<(PathBuf, bool)>,
    prompts: HashMap<String, Arc<Prompt>>,
}

/// Where the winning file of one name comes from.
enum Source {
    Builtin(&'static [u8]),
    File(PathBuf),
}

impl PromptCache {
    /// Load every `*.wav` below `root`.
    pub fn load_dir(root: impl Into<PathBuf>) -> Result<Self, PromptError> {
        Self::load_layers(&[], &[(root.into(), true)])
    }

    /// `builtin` (name, WAV bytes), then each directory of `layers` in
    /// order, a file overriding the same name below it. A directory marked
    /// `true` must exist; the others are skipped when absent.
    pub fn load_layers(
        builtin: &'static [(&'static str, &'static [u8])],
        layers: &[(PathBuf, bool)],
    ) -> Result<Self, PromptError> {
        let mut chosen: BTreeMap<String, Source> = builtin
            .iter()
            .map(|(name, bytes)| (name.to_string(), Source::Builtin(bytes)))
            .collect();
        let mut used = Vec::new();
        for (dir, required) in layers {
            if !required && !dir.is_dir() {
                continue;
            }
            let mut files = Vec::new();
            collect(dir, dir, 0, &mut files)?;
            if !files.is_empty() {
                used.push(dir.display().to_string());
            }
            for (name, path) in files {
                chosen.insert(name, Source::File(path));
            }
        }
        let mut prompts = HashMap::with_capacity(chosen.len());
        let mut errors = Vec::new();
        let mut from_files = 0;
        for (name, source) in chosen {
            let loaded = match source {
                Source::Builtin(bytes) => {
                    let shown = PathBuf::from(format!("(built-in prompts)/{name}.wav"));
                    Prompt::from_wav_bytes(name.clone(), bytes, &shown)
                }
                Source::File(path) => {
                    from_files += 1;
                    Prompt::load(name.clone(), &path)
                }
            };
            match loaded {
                Ok(p) => {
                    prompts.insert(name, Arc::new(p));
                }
                Err(e) => errors.push(e),
            }
        }
        let root = layers.last().map(|(d, _)| d.clone()).unwrap_or_default();
        match errors.len() {
            0 => {
                tracing::info!(
                    dirs = %used.join(" "),
                    built_in = prompts.len() - from_files,
                    from_files,
                    "prompts loaded"
                );
                Ok(Self {
                    root,
                    builtin,
                    layers: layers.to_vec(),
                    prompts,
                })
            }
            1 => Err(errors.remove(0)),
            _ => Err(PromptError::Several(errors)),
        }
    }

    /// A fresh cache from the same sources; `self` stays valid, and so do
    /// the prompts calls already hold.
    pub fn reload(&self) -> Result<Self, PromptError> {
        Self::load_layers(self.builtin, &self.layers)
    }

    /// The prompt called `name`, shared.
    pub fn get(&self, name: &str) -> Option<Arc<Prompt>> {
        self.prompts.get(name).cloned()
    }

    /// All prompt names, sorted (for config validation messages).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.prompts.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    /// The topmost directory this cache was loaded from (empty: none).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn collect(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), PromptError> {
    let dir_err = |source| PromptError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(dir_err)? {
        let path = entry.map_err(dir_err)?.path();
        if path.is_dir() {
            if depth < MAX_DEPTH {
                collect(root, &path, depth + 1, out)?;
            }
            continue;
        }
        let is_wav = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        if !is_wav {
            continue;
        }
        let Some(name) = prompt_name(root, &path) else {
            tracing::warn!(file = %path.display(), "prompt file name is not UTF-8; skipped");
            continue;
        };
        out.push((name, path));
    }
    Ok(())
}

/// `root/en/greeting.wav` -> `en/greeting`.
fn prompt_name(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?.with_extension("");
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}
