//! Build-time facts baked into the binary:
//!
//! - `HOTLINE_GIT_REV`: the git revision (`git describe`-like short hash,
//!   `-dirty` when the tree has changes), for `hotline --version`. Outside
//!   a git checkout (a crates.io tarball, a container build without `.git`)
//!   it is whatever `HOTLINE_GIT_REV` says in the build's environment, else
//!   empty, and `--version` shows the crate version alone.
//! - `$OUT_DIR/shipped_prompts.rs`: every `*.wav` under `prompts/`, embedded
//!   with `include_bytes!`, so `hotline run` and `hotline demo` work from any
//!   directory and after `cargo install`. The list is made by walking the
//!   directory, so a new prompt needs no code change.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    git_revision(&root);
    shipped_prompts(&root);
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn git_revision(root: &Path) {
    println!("cargo:rerun-if-env-changed=HOTLINE_GIT_REV");
    // Only our own checkout: sources unpacked inside someone else's
    // repository (a vendored tarball) must not take its revision.
    let ours = git(root, &["rev-parse", "--show-toplevel"])
        .and_then(|top| std::fs::canonicalize(top).ok())
        .is_some_and(|top| std::fs::canonicalize(root).is_ok_and(|r| r == top));
    let rev = match std::env::var("HOTLINE_GIT_REV") {
        Ok(r) if !r.is_empty() => r,
        _ if !ours => String::new(),
        _ => match git(root, &["rev-parse", "--short=12", "HEAD"]) {
            Some(hash) => {
                let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{hash}-dirty")
                } else {
                    hash
                }
            }
            None => String::new(),
        },
    };
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it
    // points at (a commit), packed refs (a gc). Only existing files: a
    // missing one would make cargo rerun this script on every build.
    let mut watch = Vec::new();
    if let Some(dir) = git(root, &["rev-parse", "--absolute-git-dir"]).filter(|_| ours) {
        let dir = PathBuf::from(dir);
        watch.push(dir.join("HEAD"));
        watch.push(dir.join("index"));
        if let Some(common) = git(root, &["rev-parse", "--git-common-dir"]) {
            let common = root.join(common);
            watch.push(common.join("packed-refs"));
            if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
                watch.push(common.join(branch));
            }
        }
    }
    for f in watch.iter().filter(|f| f.exists()) {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    println!("cargo:rustc-env=HOTLINE_GIT_REV={rev}");
}

fn shipped_prompts(root: &Path) {
    let dir = root.join("prompts");
    // A directory: cargo rescans it, so added, removed and edited WAVs
    // all rebuild the embedded set.
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    collect(&dir, &dir, &mut files);
    files.sort();
    let mut code = String::from(
        "/// Every WAV under `prompts/` at build time: (name without `.wav`, bytes).\n\
         pub static PROMPTS: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("shipped_prompts.rs"), code).expect("write shipped_prompts.rs");
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            let rel = path
                .strip_prefix(root)
                .expect("below root")
                .with_extension("");
            let parts: Option<Vec<&str>> =
                rel.components().map(|c| c.as_os_str().to_str()).collect();
            if let Some(parts) = parts {
                out.push((parts.join("/"), path.clone()));
            }
        }
    }
}
