//! What the load benchmarks share: a throwaway PostgreSQL cluster and the
//! real `hotline run` binary on it, on loopback ports chosen by the kernel.

#![allow(dead_code)]

pub mod procfs;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

use hotline::tickets::embedded::EmbeddedCluster;

/// The daemon under load, with its cluster; both stopped on drop.
pub struct Bench {
    child: Child,
    pub sip: SocketAddr,
    pub db_url: String,
    cluster: EmbeddedCluster,
    _dir: tempfile::TempDir,
}

/// A started throwaway cluster in its own directory (mode 755: as root the
/// cluster runs as `postgres`, which must reach it).
pub fn cluster() -> (EmbeddedCluster, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("hotline-bench-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cluster = EmbeddedCluster::new(dir.path()).expect("PostgreSQL binaries");
    cluster.start().expect("start cluster");
    (cluster, dir)
}

impl Bench {
    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The cluster's postmaster process id.
    pub fn postmaster(&self) -> Option<u32> {
        procfs::postmaster(&self.cluster.dir().join("data"))
    }

    /// CPU seconds so far of hotline and of its PostgreSQL.
    pub fn cpu_seconds(&self) -> (f64, f64) {
        let pg = self.postmaster().map_or(0.0, procfs::cluster_cpu_seconds);
        (procfs::cpu_seconds(self.pid(), false), pg)
    }

    /// Start a cluster and `hotline run` with `config` (TOML text).
    pub fn start(config: &str) -> Self {
        let (cluster, dir) = cluster();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let file = data.join("hotline.toml");
        std::fs::write(&file, config).unwrap();
        let db_url = cluster.url();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args([
                "--config",
                file.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ])
            .args(["--database-url", &db_url])
            .args([
                "--sip-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "run",
            ])
            .env(
                "HOTLINE_LOG",
                std::env::var("BENCH_HOTLINE_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(daemon_stderr())
            .spawn()
            .expect("start hotline");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let sip = loop {
            let line = lines.next().expect("hotline printed its address").unwrap();
            if let Some(rest) = line.strip_prefix("hotline: SIP listening on udp ") {
                break rest.split(',').next().unwrap().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            sip,
            db_url,
            cluster,
            _dir: dir,
        }
    }
}

/// The daemon's log goes to `$BENCH_DAEMON_LOG` when set (to see why
/// calls failed), else nowhere.
fn daemon_stderr() -> Stdio {
    std::env::var_os("BENCH_DAEMON_LOG")
        .and_then(|p| std::fs::File::create(p).ok())
        .map_or(Stdio::null(), Stdio::from)
}

impl Drop for Bench {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = self.cluster.stop();
    }
}

/// The `p` quantile of sorted durations.
pub fn pct(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}
