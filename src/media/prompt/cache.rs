//! The shared prompt cache: prompt name -> `Arc<Prompt>`.
//!
//! Loaded once at start; a reload builds a whole new cache and the owner
//! swaps it in, so a reload never changes audio under a call that is
//! playing: calls hold their own `Arc<Prompt>` and keep it until they drop
//! it. A directory with any unusable file fails as a whole, listing every
//! bad file at once, so a broken reload leaves the old cache in service.

use std::collections::HashMap;
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
    prompts: HashMap<String, Arc<Prompt>>,
}

impl PromptCache {
    /// Load every `*.wav` below `root`.
    pub fn load_dir(root: impl Into<PathBuf>) -> Result<Self, PromptError> {
        let root = root.into();
        let mut files = Vec::new();
        collect(&root, &root, 0, &mut files)?;
        let mut prompts = HashMap::with_capacity(files.len());
        let mut errors = Vec::new();
        for (name, path) in files {
            match Prompt::load(name.clone(), &path) {
                Ok(p) => {
                    prompts.insert(name, Arc::new(p));
                }
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => {
                tracing::info!(dir = %root.display(), count = prompts.len(), "prompts loaded");
                Ok(Self { root, prompts })
            }
            1 => Err(errors.remove(0)),
            _ => Err(PromptError::Several(errors)),
        }
    }

    /// A fresh cache from the same directory; `self` stays valid, and so do
    /// the prompts calls already hold.
    pub fn reload(&self) -> Result<Self, PromptError> {
        Self::load_dir(self.root.clone())
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

    /// The directory this cache was loaded from.
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
