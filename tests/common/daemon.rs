//! The real `hotline run` binary as a test peer: started on 127.0.0.1 with
//! an ephemeral SIP port, a private data directory and a fresh database on
//! the test cluster; its log lines are collected so tests can await them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    pub sip: SocketAddr,
    pub data: tempfile::TempDir,
    pub db_url: String,
    lines: Lines,
    changed: watch::Receiver<usize>,
}

/// Log lines, with a condvar for blocking waits and a watch for async ones.
type Lines = Arc<(Mutex<Vec<String>>, Condvar)>;

fn collect(stream: impl std::io::Read + Send + 'static, lines: Lines, tx: watch::Sender<usize>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let n = {
                let mut l = lines.0.lock().unwrap();
                l.push(line);
                l.len()
            };
            lines.1.notify_all();
            tx.send_replace(n);
        }
    });
}

impl Daemon {
    /// Start with `config` (TOML text) on the shared test cluster.
    pub async fn start(config: &str) -> Self {
        let (_, db_url) = super::shared().fresh_db().await;
        Self::start_with_db(config, db_url)
    }

    pub fn start_with_db(config: &str, db_url: String) -> Self {
        Self::start_on(config, db_url, "127.0.0.1:0")
    }

    /// Start listening on `listen` (e.g. `[::1]:0`).
    pub fn start_on(config: &str, db_url: String, listen: &str) -> Self {
        let data = tempfile::Builder::new()
            .prefix("hotline-daemon-")
            .tempdir()
            .unwrap();
        let file = data.path().join("hotline.toml");
        std::fs::write(&file, config).unwrap();
        let mut child = Command::new(super::hotline_bin())
            .args(["--config", file.to_str().unwrap()])
            .args(["--data-dir", data.path().to_str().unwrap()])
            .args(["--database-url", &db_url])
            .args([
                "--sip-listen",
                listen,
                "--admin-listen",
                "127.0.0.1:0",
                "run",
            ])
            .env(
                "HOTLINE_LOG",
                std::env::var("TEST_HOTLINE_LOG").unwrap_or("info,sqlx=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hotline");
        let lines: Lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (tx, changed) = watch::channel(0);
        collect(child.stdout.take().unwrap(), lines.clone(), tx.clone());
        collect(child.stderr.take().unwrap(), lines.clone(), tx);
        let mut d = Self {
            child,
            sip: "0.0.0.0:0".parse().unwrap(),
            data,
            db_url,
            lines,
            changed,
        };
        let line = d
            .wait_line_blocking(
                |l| l.starts_with("hotline: SIP listening on udp "),
                Duration::from_secs(60),
            )
            .unwrap_or_else(|| panic!("daemon did not start:\n{}", d.logs().join("\n")));
        let addr = line
            .trim_start_matches("hotline: SIP listening on udp ")
            .split(',')
            .next()
            .unwrap();
        d.sip = addr.parse().unwrap();
        d
    }

    /// The configuration file the daemon reads (rewrite it, then SIGHUP).
    pub fn config_path(&self) -> std::path::PathBuf {
        self.data.path().join("hotline.toml")
    }

    pub fn logs(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().clone()
    }

    /// Lines matching `pred` so far.
    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.lines
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| pred(l))
            .count()
    }

    fn wait_line_blocking(
        &mut self,
        pred: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Option<String> {
        let deadline = std::time::Instant::now() + limit;
        let mut lines = self.lines.0.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = std::time::Instant::now();
            if now > deadline {
                return None;
            }
            lines = self.lines.1.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// Await the first log line matching `pred` (any seen so far counts).
    pub async fn wait_line(&self, pred: impl Fn(&str) -> bool, limit: Duration) -> String {
        let mut rx = self.changed.clone();
        let found = tokio::time::timeout(limit, async {
            loop {
                if let Some(l) = self.lines.0.lock().unwrap().iter().find(|l| pred(l)) {
                    return l.clone();
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "no such log line within {limit:?}; log:\n{}",
                self.logs().join("\n")
            )
        })
    }

    /// Await `n` log lines matching `pred`.
    pub async fn wait_count(&self, pred: impl Fn(&str) -> bool, n: usize, limit: Duration) {
        let mut rx = self.changed.clone();
        let reached = tokio::time::timeout(limit, async {
            while self.count(&pred) < n {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        assert!(
            reached.is_ok(),
            "fewer than {n} such lines within {limit:?}; log:\n{}",
            self.logs().join("\n")
        );
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Wait for the process to exit (bounded).
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + limit;
        let mut rx = self.changed.clone();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "daemon did not exit; log:\n{}",
                self.logs().join("\n")
            );
            // Exit closes the log pipes, which wakes us; poll as a fallback.
            let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Tests that care about a clean stop say so (SIGTERM + wait_exit);
        // the database is the shared test cluster, so nothing else is lost.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
