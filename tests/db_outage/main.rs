//! The ticket store when PostgreSQL is not there or does not answer
//! (issue 14, items 8, 10, 11, 13): a real cluster frozen with SIGSTOP (it
//! accepts connections and never answers), an outage much longer than the
//! number reserve covers, where the journal's file work runs, and the
//! modes of what holds callers' data. Each test that stops or freezes a
//! cluster owns it.

#[path = "../common/mod.rs"]
mod common;

mod files;
mod hung;
mod numbers;

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::daemon::Daemon;
use common::TestCluster;
use hotline::callgen::{Caller, CallerId};
use hotline::config::Config;
use hotline::tickets::journal::io_thread_names;
use hotline::tickets::{
    calls, repo, CallRecord, NewTicket, RoutingEvent, SlaPolicy, StoreOptions, TicketNumber,
    TicketStore, TicketUpdate, JOURNAL_THREAD,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

fn new_ticket(call_id: String) -> NewTicket {
    NewTicket {
        call_id,
        caller_number: "2001".into(),
        caller_name: None,
        caller_private: false,
        customer_ref: None,
        callback_number: Some("5550100".into()),
        category: Some("network".into()),
        severity: "critical".into(),
        received_at: Utc::now() - TimeDelta::seconds(5),
        answered_at: None,
        flow_version: None,
    }
}

/// A pool on a socket nobody listens on: the database is down.
fn dead_pool(dir: &Path) -> PgPool {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(200))
        .connect_lazy_with(
            PgConnectOptions::new()
                .socket(dir.join("no-server"))
                .username("nobody"),
        )
}

/// The postmaster of `cluster` and its children (backends, background
/// workers), from `postmaster.pid` and `/proc`.
fn cluster_pids(cluster: &TestCluster) -> Vec<i32> {
    let pidfile = cluster.cluster.dir().join("data").join("postmaster.pid");
    let text = std::fs::read_to_string(&pidfile).expect("postmaster.pid");
    let postmaster: i32 = text.lines().next().unwrap().trim().parse().unwrap();
    let mut pids = vec![postmaster];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so cut at ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(postmaster) {
            pids.push(pid);
        }
    }
    pids
}

/// Wait (bounded) until `pid` is in state T (stopped), or gone.
fn wait_stopped(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return;
        };
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string));
        if state.as_deref() == Some("T") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} did not stop: {stat}"
        );
        std::thread::yield_now();
    }
}

/// A cluster frozen with SIGSTOP: connections are accepted by the kernel,
/// nothing ever answers. Thawed (SIGCONT) when dropped, so a failing test
/// still lets the cluster stop.
struct Frozen(Vec<i32>);

impl Frozen {
    fn freeze(cluster: &TestCluster) -> Self {
        // The postmaster first: once it is stopped it forks no new backend,
        // so the children listed after it are all there are.
        let postmaster = cluster_pids(cluster)[0];
        // SAFETY: kill(2) on the test cluster's own processes.
        unsafe { libc::kill(postmaster, libc::SIGSTOP) };
        wait_stopped(postmaster);
        let pids = cluster_pids(cluster);
        assert!(pids.len() > 1, "postmaster and backends: {pids:?}");
        for &p in &pids[1..] {
            // SAFETY: as above.
            unsafe { libc::kill(p, libc::SIGSTOP) };
        }
        for &p in &pids[1..] {
            wait_stopped(p);
        }
        Self(pids)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &p in &self.0 {
            // SAFETY: as above.
            unsafe { libc::kill(p, libc::SIGCONT) };
        }
    }
}

async fn open(pool: PgPool, dir: &Path, reserve: u32, timeout: Duration) -> TicketStoreAndReplayer {
    let (store, replayer) = TicketStore::open_with(
        pool,
        dir,
        StoreOptions {
            reserve,
            reserve_cover: Duration::from_secs(1),
            db_timeout: timeout,
        },
    )
    .await
    .unwrap();
    (store, replayer)
}

type TicketStoreAndReplayer = (TicketStore, hotline::tickets::store::Replayer);
