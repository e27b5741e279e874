//! File modes for what holds callers' personal data: the data directory
//! and everything the ticket store writes under it are the daemon user's
//! alone (directories 0700, files 0600), whatever the umask.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Create `dir` (and parents) if missing, and make it mode 0700. A
/// directory whose group may only pass through (0710: the data directory
/// when root runs the embedded cluster, whose server must reach `<dir>/pg`)
/// keeps that, and loses everything else.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o7777;
    let wanted = if mode & 0o077 == 0o010 { 0o710 } else { 0o700 };
    if mode == wanted {
        return Ok(());
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(wanted))
}

/// Make an existing file mode 0600.
pub fn private_file(path: &Path) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// Create (truncating) a file that only its owner can read, mode 0600
/// from the first byte (no window with the umask's mode).
pub fn create_private(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only when the file is new: an old file keeps its
    // mode unless tightened.
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// The data directory: created 0700, or tightened to it. With
/// `traverse_gid` (root runs an embedded cluster, whose server runs as
/// `postgres` under `<dir>/pg`): 0710 with that group, so `postgres` can
/// pass through and do nothing else. Returns the old mode when it changed,
/// for a log line.
pub fn data_dir(dir: &Path, traverse_gid: Option<u32>) -> io::Result<Option<u32>> {
    fs::create_dir_all(dir)?;
    let meta = fs::metadata(dir)?;
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = match traverse_gid {
        Some(gid) => {
            use std::os::unix::fs::MetadataExt;
            if meta.gid() != gid {
                std::os::unix::fs::chown(dir, None, Some(gid))?;
            }
            0o710
        }
        None => 0o700,
    };
    if mode == wanted {
        return Ok(None);
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(wanted))?;
    Ok(Some(mode))
}
