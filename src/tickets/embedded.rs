//! A private PostgreSQL cluster under `<data-dir>/pg`, used when no
//! database URL is configured, and by the tests as a throwaway cluster.
//!
//! It runs the system's PostgreSQL binaries (Debian: `postgresql`), listens
//! only on a unix socket inside the data directory (no TCP port to clash
//! with), and trusts only that socket, whose directory only the cluster's
//! owner can enter. PostgreSQL refuses to run as root, so when we are root
//! the cluster belongs to the `postgres` system user and every command runs
//! through `runuser`; a cluster that already exists keeps its owner (root
//! running `hotline tickets list` on the packaged service's data directory
//! runs it as `hotline`, never hands it to `postgres`). Not root (the
//! package's `hotline` user under systemd): the commands run directly as
//! that user, no `runuser`.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::postgres::PgConnectOptions;

/// Why the embedded cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("HL-PG-MISSING: PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or PATH; install them with `apt-get install postgresql`, or set database.url to an existing server")]
    BinariesMissing,
    #[error("HL-PG-USER: running as root, so the embedded PostgreSQL must run as the `postgres` user, which does not exist; install Debian's `postgresql` package (it creates the user), or run hotline as a normal user")]
    NoPostgresUser,
    #[error("HL-PG-ACCESS: the `postgres` user cannot reach {dir} ({blocker} is not enterable by it); use a data directory outside root's home, e.g. --data-dir /var/lib/hotline, or `chmod o+x {blocker}`")]
    Unreachable { dir: String, blocker: String },
    #[error("HL-PG-CMD: `{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("HL-PG-IO: {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The cluster's superuser and database (not the OS user: fixed names make
/// the same data directory work for root and non-root runs alike).
pub const DB_USER: &str = "hotline";
pub const DB_NAME: &str = "hotline";

/// A cluster directory and how to run its commands.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    dir: PathBuf,
    bin: PathBuf,
    /// `Some((uid, gid, user))` to run as when we are root.
    run_as: Option<(u32, u32, String)>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedError + '_ {
    move |source| EmbeddedError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Locate the newest installed PostgreSQL's binaries.
pub fn find_binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HOTLINE_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    })
}

fn postgres_ids() -> Option<(u32, u32, String)> {
    let name = std::ffi::CString::new("postgres").ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; we read
    // two integers from it immediately, single-threaded with respect to it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: pw is non-null and points at a valid passwd record.
    unsafe { Some(((*pw).pw_uid, (*pw).pw_gid, "postgres".into())) }
}

/// The group the embedded cluster's server runs as when root starts it
/// for `data_dir` (`None` when not root: the server runs as us). The data
/// directory must let that group pass through (`perms::data_dir`).
pub fn server_gid(data_dir: &Path) -> Option<u32> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    owner_of(&data_dir.join("pg"))
        .or_else(postgres_ids)
        .map(|(_, gid, _)| gid)
}

/// The (non-root) owner of an existing cluster directory, by name.
fn owner_of(dir: &Path) -> Option<(u32, u32, String)> {
    let meta = std::fs::metadata(dir).ok()?;
    if meta.uid() == 0 {
        return None;
    }
    // SAFETY: getpwuid returns static storage or null; the name is copied
    // out at once.
    let pw = unsafe { libc::getpwuid(meta.uid()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: pw is non-null; pw_name is a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr((*pw).pw_name) };
    Some((meta.uid(), meta.gid(), name.to_str().ok()?.to_string()))
}

impl EmbeddedCluster {
    /// The cluster that lives in `<data_dir>/pg`.
    pub fn new(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bin = find_binaries().ok_or(EmbeddedError::BinariesMissing)?;
        // SAFETY: geteuid cannot fail.
        let dir = std::path::absolute(data_dir.join("pg")).map_err(io_err(data_dir))?;
        let run_as = if unsafe { libc::geteuid() } == 0 {
            match owner_of(&dir) {
                Some(owner) => Some(owner),
                None => Some(postgres_ids().ok_or(EmbeddedError::NoPostgresUser)?),
            }
        } else {
            None
        };
        Ok(Self { dir, bin, run_as })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    fn pgdata(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// How to connect (unix socket, trust auth).
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(self.socket_dir())
            .username(DB_USER)
            .database(DB_NAME)
    }

    /// A URL for people and `psql`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{DB_USER}@localhost/{DB_NAME}?host={}",
            self.socket_dir().display()
        )
    }

    fn run<I, S>(&self, program: &str, args: I) -> Result<Output, EmbeddedError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some((_, _, user)) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user.as_str(), "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).env("LC_ALL", "C.UTF-8");
        let shown = format!("{} {:?}", exe.display(), cmd.get_args().collect::<Vec<_>>());
        cmd.output().map_err(|e| EmbeddedError::Command {
            command: shown,
            detail: e.to_string(),
        })
    }

    fn check(&self, program: &str, out: Output) -> Result<Output, EmbeddedError> {
        if out.status.success() {
            return Ok(out);
        }
        Err(EmbeddedError::Command {
            command: program.to_string(),
            detail: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        })
    }

    /// Create the directories with the right owner, and check the
    /// `postgres` user can reach them (a parent with mode 700 blocks it).
    fn prepare_dirs(&self) -> Result<(), EmbeddedError> {
        for d in [&self.dir, &self.socket_dir()] {
            std::fs::create_dir_all(d).map_err(io_err(d))?;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err(d))?;
            if let Some((uid, gid, _)) = &self.run_as {
                std::os::unix::fs::chown(d, Some(*uid), Some(*gid)).map_err(io_err(d))?;
            }
        }
        if let Some((uid, gid, _)) = &self.run_as {
            let (uid, gid) = (*uid, *gid);
            for ancestor in self.dir.ancestors().skip(1) {
                let meta = std::fs::metadata(ancestor).map_err(io_err(ancestor))?;
                let mode = meta.mode();
                let ok = if meta.uid() == uid {
                    mode & 0o100 != 0
                } else if meta.gid() == gid {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                };
                if !ok {
                    return Err(EmbeddedError::Unreachable {
                        dir: self.dir.display().to_string(),
                        blocker: ancestor.display().to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// True once `initdb` has run.
    pub fn is_initialized(&self) -> bool {
        self.pgdata().join("PG_VERSION").exists()
    }

    /// Is a server running on this cluster (ours, or left by a killed run)?
    pub fn is_running(&self) -> bool {
        self.run(
            "pg_ctl",
            [
                OsStr::new("-D"),
                self.pgdata().as_os_str(),
                OsStr::new("status"),
            ],
        )
        .map(|o| o.status.success())
        .unwrap_or(false)
    }

    /// initdb if needed, then start the server unless it already runs.
    /// Returns true if this call started it.
    pub fn start(&self) -> Result<bool, EmbeddedError> {
        self.prepare_dirs()?;
        if !self.is_initialized() {
            let out = self.run(
                "initdb",
                [
                    OsStr::new("-D"),
                    self.pgdata().as_os_str(),
                    OsStr::new("-U"),
                    OsStr::new(DB_USER),
                    OsStr::new("--auth=trust"),
                    OsStr::new("--encoding=UTF8"),
                    OsStr::new("--no-locale"),
                    OsStr::new("--no-sync"),
                ],
            )?;
            self.check("initdb", out)?;
            tracing::info!(dir = %self.pgdata().display(), "embedded PostgreSQL cluster created");
        }
        if self.is_running() {
            return Ok(false);
        }
        let opts = format!(
            "-c listen_addresses='' -k {} -c max_connections=200 -c fsync=on",
            self.socket_dir().display()
        );
        let log = self.dir.join("postgresql.log");
        let out = self.run(
            "pg_ctl",
            [
                OsStr::new("-D"),
                self.pgdata().as_os_str(),
                OsStr::new("-l"),
                log.as_os_str(),
                OsStr::new("-o"),
                OsStr::new(&opts),
                OsStr::new("-w"),
                OsStr::new("-t"),
                OsStr::new("60"),
                OsStr::new("start"),
            ],
        )?;
        self.check("pg_ctl start", out).map_err(|e| match e {
            EmbeddedError::Command { command, detail } => EmbeddedError::Command {
                command,
                detail: format!("{detail} (see {})", log.display()),
            },
            other => other,
        })?;
        self.ensure_database()?;
        Ok(true)
    }

    /// Create the `hotline` database on first start.
    fn ensure_database(&self) -> Result<(), EmbeddedError> {
        let sock = self.socket_dir();
        let out = self.run(
            "psql",
            [
                OsStr::new("-h"),
                sock.as_os_str(),
                OsStr::new("-U"),
                OsStr::new(DB_USER),
                OsStr::new("-d"),
                OsStr::new("postgres"),
                OsStr::new("-tAc"),
                OsStr::new("SELECT 1 FROM pg_database WHERE datname = 'hotline'"),
            ],
        )?;
        let out = self.check("psql", out)?;
        if String::from_utf8_lossy(&out.stdout).trim() == "1" {
            return Ok(());
        }
        let out = self.run(
            "createdb",
            [
                OsStr::new("-h"),
                sock.as_os_str(),
                OsStr::new("-U"),
                OsStr::new(DB_USER),
                OsStr::new(DB_NAME),
            ],
        )?;
        self.check("createdb", out).map(|_| ())
    }

    /// Stop the server (fast shutdown: sessions end, data is safe).
    pub fn stop(&self) -> Result<(), EmbeddedError> {
        if !self.is_running() {
            return Ok(());
        }
        let out = self.run(
            "pg_ctl",
            [
                OsStr::new("-D"),
                self.pgdata().as_os_str(),
                OsStr::new("-m"),
                OsStr::new("fast"),
                OsStr::new("-w"),
                OsStr::new("stop"),
            ],
        )?;
        self.check("pg_ctl stop", out).map(|_| ())
    }
}
