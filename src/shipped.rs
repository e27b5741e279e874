//! What the binary carries with it, so it runs from any directory and after
//! `cargo install`: the default call flow, every prompt under `prompts/` at
//! build time (embedded by `build.rs`), the version with its git revision,
//! and the places an installed hotline looks for its files.
//!
//! Prompts come in layers; a later layer overrides an earlier one file by
//! file (`en/company.wav` alone can be replaced):
//!
//! 1. built into the binary;
//! 2. [`SHARE_PROMPTS`] (`/usr/share/hotline/prompts`, from the package);
//! 3. `<data_dir>/prompts` (`/var/lib/hotline/prompts` when installed);
//! 4. `prompts/` beside the configuration file (`/etc/hotline/prompts`);
//! 5. `media.prompts_dir` when set (it must exist).

use std::path::{Path, PathBuf};

/// The default call flow (`config/ivr.toml`), used when `ivr.flow` is empty.
pub const FLOW: &str = include_str!("../config/ivr.toml");

/// How the built-in flow is named in messages and on call records.
pub const FLOW_NAME: &str = "(built-in config/ivr.toml)";

/// The packaged prompts (Debian: `/usr/share/hotline/prompts`).
pub const SHARE_PROMPTS: &str = "/usr/share/hotline/prompts";

/// The packaged configuration directory.
pub const ETC: &str = "/etc/hotline";

/// Where an installed hotline keeps its data (journal, recordings,
/// embedded database, administrator's prompts).
pub const VAR_LIB: &str = "/var/lib/hotline";

include!(concat!(env!("OUT_DIR"), "/shipped_prompts.rs"));

/// The git revision the binary was built from; empty outside a checkout.
pub const GIT_REV: &str = env!("HOTLINE_GIT_REV");

/// `0.1.0 (git 1a2b3c4d5e6f)`, or `0.1.0` when the revision is unknown.
pub fn version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let crate_version = env!("CARGO_PKG_VERSION");
        if GIT_REV.is_empty() {
            crate_version.to_string()
        } else {
            format!("{crate_version} (git {GIT_REV})")
        }
    })
}

/// The prompt directories in override order (lowest first), for a
/// configuration loaded from `config_dir` (None: the built-in defaults)
/// with data in `data_dir`. Whether each is required to exist: only the
/// configured one.
pub fn prompt_layers(
    config_dir: Option<&Path>,
    data_dir: &Path,
    configured: &str,
) -> Vec<(PathBuf, bool)> {
    let mut layers = vec![
        (PathBuf::from(SHARE_PROMPTS), false),
        (data_dir.join("prompts"), false),
    ];
    if let Some(dir) = config_dir {
        layers.push((dir.join("prompts"), false));
    }
    if !configured.is_empty() {
        layers.push((PathBuf::from(configured), true));
    }
    // The same directory twice (the data directory beside the
    // configuration) is read once, at its highest place.
    let mut kept: Vec<(PathBuf, bool)> = Vec::new();
    for (dir, required) in layers.into_iter().rev() {
        if !kept.iter().any(|(d, _)| *d == dir) {
            kept.push((dir, required));
        }
    }
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::prompt::PromptCache;

    fn wav(path: &Path, samples: &[i16]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn every_prompt_under_prompts_is_built_in() {
        let on_disk =
            PromptCache::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")).unwrap();
        let built_in = PromptCache::load_layers(PROMPTS, &[]).unwrap();
        assert_eq!(built_in.names(), on_disk.names());
        for name in on_disk.names() {
            assert_eq!(
                built_in.get(name).unwrap().pcm(),
                on_disk.get(name).unwrap().pcm()
            );
        }
    }

    #[test]
    fn layers_override_the_built_in_prompts_one_file_at_a_time() {
        let share = tempfile::tempdir().unwrap();
        let etc = tempfile::tempdir().unwrap();
        wav(&share.path().join("en/company.wav"), &[1, 1]);
        wav(&share.path().join("en/greeting-hello.wav"), &[2, 2]);
        wav(&etc.path().join("en/company.wav"), &[3, 3, 3]);
        let layers = [
            (share.path().to_path_buf(), false),
            (PathBuf::from("/nonexistent/hotline/prompts"), false),
            (etc.path().to_path_buf(), false),
        ];
        let cache = PromptCache::load_layers(PROMPTS, &layers).unwrap();
        assert_eq!(cache.len(), PROMPTS.len(), "no name added or lost");
        assert_eq!(
            cache.get("en/company").unwrap().pcm(),
            &[3, 3, 3],
            "the top layer wins"
        );
        assert_eq!(cache.get("en/greeting-hello").unwrap().pcm(), &[2, 2]);
        let builtin_beep = PROMPTS.iter().find(|(n, _)| *n == "beep").unwrap();
        assert!(builtin_beep.1.len() > 44, "beep stays the built-in one");
        assert_eq!(cache.get("beep").unwrap().duration().as_millis(), 200);
        // A configured directory must exist; the standard ones need not.
        let err = PromptCache::load_layers(PROMPTS, &[(PathBuf::from("/nonexistent/p"), true)])
            .unwrap_err();
        assert!(err.to_string().contains("HL-PROMPT-008"), "{err}");
    }

    #[test]
    fn the_installed_layers_come_in_override_order() {
        let layers = prompt_layers(Some(Path::new("/etc/hotline")), Path::new(VAR_LIB), "");
        let dirs: Vec<_> = layers
            .iter()
            .map(|(d, r)| (d.display().to_string(), *r))
            .collect();
        assert_eq!(
            dirs,
            [
                ("/usr/share/hotline/prompts".to_string(), false),
                ("/var/lib/hotline/prompts".to_string(), false),
                ("/etc/hotline/prompts".to_string(), false),
            ]
        );
        let layers = prompt_layers(None, Path::new("/d"), "/d/prompts");
        assert_eq!(layers.last().unwrap(), &(PathBuf::from("/d/prompts"), true));
        assert_eq!(
            layers.len(),
            2,
            "one directory read once, at its highest place"
        );
    }

    #[test]
    fn the_version_names_the_crate_version() {
        assert!(version().starts_with(env!("CARGO_PKG_VERSION")));
    }
}
