//! Shared test fixtures: a real, throwaway PostgreSQL cluster per test
//! binary (the same embedded-cluster code the daemon runs), with a fresh
//! database per test so tests in one binary run in parallel.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hotline::tickets::embedded::EmbeddedCluster;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// A cluster in its own temporary directory, stopped when dropped.
pub struct TestCluster {
    pub cluster: EmbeddedCluster,
    pub dir: tempfile::TempDir,
}

impl TestCluster {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hotline-test-")
            .tempdir()
            .expect("tempdir");
        // The cluster runs as `postgres` when tests run as root.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let cluster = EmbeddedCluster::new(dir.path()).expect("PostgreSQL binaries");
        cluster.start().expect("start test cluster");
        Self { cluster, dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A new empty database on this cluster, migrated.
    pub async fn fresh_db(&self) -> (PgPool, String) {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(self.cluster.connect_options().database("postgres"))
            .await
            .expect("connect to test cluster");
        let name = format!("t_{:016x}", rand::random::<u64>());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let opts = self.cluster.connect_options().database(&name);
        let pool = pool(opts, 70).await;
        hotline::tickets::db::migrate(&pool).await.unwrap();
        let url = self
            .cluster
            .url()
            .replace("/hotline?", &format!("/{name}?"));
        (pool, url)
    }
}

pub async fn pool(opts: PgConnectOptions, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_with(opts)
        .await
        .expect("connect")
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}

/// One cluster shared by every test in a binary (started on first use).
/// Statics are not dropped, so the binary stops it with `pg_ctl` at exit
/// via [`stop_shared_at_exit`].
pub fn shared() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let c = TestCluster::start();
        stop_shared_at_exit(c.cluster.clone(), c.path().to_path_buf());
        c
    })
}

fn stop_shared_at_exit(cluster: EmbeddedCluster, dir: PathBuf) {
    static STOP: OnceLock<(EmbeddedCluster, PathBuf)> = OnceLock::new();
    let _ = STOP.set((cluster, dir));
    extern "C" fn stop() {
        if let Some((c, dir)) = STOP.get() {
            let _ = c.stop();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    // SAFETY: registering a plain extern "C" fn with no captured state.
    unsafe {
        libc::atexit(stop);
    }
}

/// The built `hotline` binary.
pub fn hotline_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hotline"))
}

pub mod agent_phone;
pub mod agents;
pub mod audio;
pub mod baresip;
pub mod daemon;
pub mod http;
pub mod netns;
pub mod pjsua;
pub mod sip_peer;
