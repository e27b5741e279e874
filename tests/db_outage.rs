//! The ticket store when PostgreSQL is not there or does not answer
//! (issue 14, items 8, 10, 11, 13): a real cluster frozen with SIGSTOP (it
//! accepts connections and never answers), an outage much longer than the
//! number reserve covers, where the journal's file work runs, and the
//! modes of what holds callers' data. Each test that stops or freezes a
//! cluster owns it.

mod common;

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

/// Item 8: a database that accepts and never answers costs a write at most
/// `database.connect_timeout`, then the write is journaled, and replayed
/// once the database answers again.
#[tokio::test]
async fn a_hung_database_sends_writes_to_the_journal_within_the_connect_timeout() {
    let cluster = TestCluster::start();
    let (pool, _) = cluster.fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let policy = SlaPolicy::from_config(&Config::default());
    let limit = Duration::from_millis(400);
    let (store, replayer) = open(pool.clone(), data.path(), 50, limit).await;
    // Pooled connections exist and work.
    let before = store
        .create(new_ticket("before-freeze".into()), &policy)
        .await
        .unwrap();
    assert!(!before.journaled);

    let frozen = Frozen::freeze(&cluster);
    let mut journaled = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        let created = tokio::time::timeout(
            Duration::from_secs(10),
            store.create(new_ticket(format!("frozen-{i}")), &policy),
        )
        .await
        .expect("a write against a hung database must not hang")
        .unwrap();
        let took = started.elapsed();
        assert!(created.journaled);
        assert!(
            took < limit + Duration::from_millis(1500),
            "journaled after {took:?}, the bound is {limit:?}"
        );
        journaled.push(created.ticket.number);
    }
    let update = TicketUpdate {
        note: Some("written while the database was frozen".into()),
        ..TicketUpdate::default()
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        store.update(before.ticket.number, "test", update),
    )
    .await
    .expect("an update against a hung database must not hang")
    .unwrap();
    assert_eq!(store.pending(), 6);
    // Shutdown with the database still frozen is bounded too.
    let started = Instant::now();
    let left = store.shutdown(replayer, Duration::from_secs(1)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(left, 6, "what could not be written stays in the journal");
    drop(store);

    drop(frozen);
    let (store, replayer) = open(pool.clone(), data.path(), 50, limit).await;
    tokio::time::timeout(Duration::from_secs(60), store.drained())
        .await
        .expect("journal drained once the database answers");
    for n in journaled {
        assert!(repo::by_number(&pool, n).await.unwrap().is_some(), "{n}");
    }
    assert_eq!(repo::count(&pool).await.unwrap(), 6);
    store.shutdown(replayer, Duration::from_secs(1)).await;
}

/// Item 8, the daemon: with its database frozen mid-run, a caller still
/// gets a ticket (journaled) within the bound, and SIGTERM stops it.
#[tokio::test]
async fn the_daemon_takes_tickets_and_stops_on_sigterm_with_a_hung_database() {
    let cluster = TestCluster::start();
    let (_, url) = cluster.fresh_db().await;
    let config = "[answer]\nafter_rings = 0\n[routing]\nenabled = false\n\
                  [database]\nconnect_timeout = \"500ms\"\n";
    let mut d = Daemon::start_with_db(config, url);
    let frozen = Frozen::freeze(&cluster);

    let who = CallerId {
        user: "5551234".into(),
        display: None,
        anonymous: false,
    };
    let mut c = Caller::dial(d.sip, &who, Duration::from_secs(10))
        .await
        .unwrap();
    let id = c.call_id().to_string();
    for (step, key) in [("language", "1"), ("category", "2"), ("severity", "1")] {
        d.wait_line(
            |l| l.contains(&id) && l.contains(&format!("IVR step step={step}")),
            Duration::from_secs(60),
        )
        .await;
        c.press(key).await.unwrap();
    }
    let pressed = Instant::now();
    let line = d
        .wait_line(
            |l| l.contains(&id) && l.contains("ticket created"),
            Duration::from_secs(10),
        )
        .await;
    assert!(line.contains("journaled=true"), "{line}");
    assert!(
        pressed.elapsed() < Duration::from_secs(4),
        "the ticket waited {:?} on a hung database",
        pressed.elapsed()
    );
    c.hang_up().await.unwrap();
    d.wait_line(
        |l| l.contains(&id) && l.contains("call record written"),
        Duration::from_secs(20),
    )
    .await;

    let started = Instant::now();
    d.signal(libc::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}\n{}", d.logs().join("\n"));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "SIGTERM took {:?} with the database hung",
        started.elapsed()
    );
    let journaled = std::fs::read_dir(d.data.path().join("journal"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert!(
        journaled >= 2,
        "the ticket and the call record wait in the journal: {journaled}"
    );
    drop(frozen);
}

/// Item 13: an outage many times longer than the reserve covers, under
/// load (concurrent callers, each with an update and a call record):
/// every caller's ticket reaches the database, numbers distinct and final,
/// the journal drained, the later writes on the right tickets.
#[tokio::test]
async fn an_outage_longer_than_the_reserve_loses_no_ticket() {
    let cluster = TestCluster::start();
    let (pool, _) = cluster.fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let policy = Arc::new(SlaPolicy::from_config(&Config::default()));
    let (store, replayer) = open(pool.clone(), data.path(), 10, Duration::from_millis(300)).await;
    assert!(store.reserved() >= 10);

    cluster.cluster.stop().unwrap();
    const CALLERS: usize = 8;
    const EACH: usize = 20;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CALLERS {
        let store = store.clone();
        let policy = policy.clone();
        tasks.spawn(async move {
            let mut heard = Vec::new();
            for i in 0..EACH {
                let call_id = format!("long-outage-{c}-{i}");
                let created = store
                    .create(new_ticket(call_id.clone()), &policy)
                    .await
                    .expect("a ticket is never refused for want of a number");
                assert!(created.journaled);
                let n = created.ticket.number;
                let update = TicketUpdate {
                    voice_note_path: Some(format!("/notes/{call_id}.wav")),
                    ..TicketUpdate::default()
                };
                store.update(n, "ivr", update).await.unwrap();
                let mut record = CallRecord::ended_before_intake(
                    call_id.clone(),
                    "2001".into(),
                    Utc::now(),
                    Some(Utc::now()),
                    Utc::now(),
                    hotline::tickets::EndReason::Completed,
                    None,
                );
                record.ticket_number = Some(n);
                store.record_call(&record).await.unwrap();
                heard.push((call_id, n));
            }
            heard
        });
    }
    let mut heard = Vec::new();
    while let Some(r) = tasks.join_next().await {
        heard.extend(r.unwrap());
    }
    assert_eq!(heard.len(), CALLERS * EACH);
    let provisional = heard.iter().filter(|(_, n)| n.is_provisional()).count();
    assert!(
        provisional >= CALLERS * EACH - 20,
        "the reserve of 10 covers few of them: {provisional} provisional"
    );
    let final_heard: BTreeSet<TicketNumber> = heard
        .iter()
        .map(|(_, n)| *n)
        .filter(|n| !n.is_provisional())
        .collect();
    assert_eq!(
        final_heard.len(),
        heard.len() - provisional,
        "final numbers are distinct"
    );

    cluster.cluster.start().unwrap();
    tokio::time::timeout(Duration::from_secs(120), store.drained())
        .await
        .expect("journal drained after the database returned");
    assert_eq!(store.pending(), 0);
    assert_eq!(repo::count(&pool).await.unwrap() as usize, CALLERS * EACH);
    let stored = repo::list(&pool, &Default::default()).await.unwrap();
    let by_call: HashMap<String, _> = stored
        .iter()
        .map(|t| (t.call_id.clone(), t.clone()))
        .collect();
    assert_eq!(by_call.len(), CALLERS * EACH, "one ticket per call");
    let numbers: BTreeSet<TicketNumber> = stored.iter().map(|t| t.number).collect();
    assert_eq!(numbers.len(), CALLERS * EACH, "no number twice");
    assert!(numbers.iter().all(|n| n.0 >= 1001), "every number is final");
    for (call_id, n) in &heard {
        let t = &by_call[call_id];
        if !n.is_provisional() {
            assert_eq!(t.number, *n, "the number the caller heard is the final one");
        }
        assert_eq!(
            t.voice_note_path.as_deref(),
            Some(format!("/notes/{call_id}.wav").as_str()),
            "the update reached the caller's own ticket"
        );
        let record = calls::by_call_id(&pool, call_id).await.unwrap().unwrap();
        assert_eq!(record.ticket_number, Some(t.number), "{call_id}");
    }
    let left = std::fs::read_dir(data.path().join("journal"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert_eq!(left, 0, "no journal file left");
    store.shutdown(replayer, Duration::from_secs(1)).await;
}

/// Item 13: while the database is up, the reserve is refilled ahead by
/// the intake rate, not to a fixed count.
#[tokio::test]
async fn the_reserve_grows_with_the_intake_rate() {
    let (pool, _) = common::shared().fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let policy = SlaPolicy::from_config(&Config::default());
    let (store, replayer) = TicketStore::open_with(
        pool,
        data.path(),
        StoreOptions {
            reserve: 10,
            reserve_cover: Duration::from_secs(60),
            db_timeout: Duration::from_secs(5),
        },
    )
    .await
    .unwrap();
    for i in 0..100 {
        store
            .create(new_ticket(format!("rate-{i}")), &policy)
            .await
            .unwrap();
    }
    // The refill runs in the background; one more ticket waits for it if
    // the reserve ran dry, so bound the wait on the count itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.reserved() <= 100 {
        assert!(
            Instant::now() < deadline,
            "100 tickets in a few seconds with 60 s of cover want well over 100 numbers; have {}",
            store.reserved()
        );
        store
            .create(
                new_ticket(format!("rate-more-{}", rand::random::<u32>())),
                &policy,
            )
            .await
            .unwrap();
    }
    store.shutdown(replayer, Duration::from_secs(1)).await;
}

/// Item 10: every journal and reserve file operation runs on the writer
/// thread, never on a runtime worker (the workers here are named so that
/// one could not pass for the writer).
#[test]
fn journal_file_work_runs_only_on_the_writer_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rt-worker")
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let policy = Arc::new(SlaPolicy::from_config(&Config::default()));
        let (store, replayer) = TicketStore::open(dead_pool(data.path()), data.path(), 10)
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..4 {
            let store = store.clone();
            let policy = policy.clone();
            tasks.spawn(async move {
                for i in 0..25 {
                    let t = store
                        .create(new_ticket(format!("thread-{c}-{i}")), &policy)
                        .await
                        .unwrap();
                    assert!(t.journaled);
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        assert_eq!(store.pending(), 100);
        store.shutdown(replayer, Duration::from_millis(200)).await;
    });
    let names = io_thread_names();
    assert!(!names.is_empty(), "the hook saw the journal's file work");
    assert_eq!(
        names,
        BTreeSet::from([JOURNAL_THREAD.to_string()]),
        "journal file I/O ran on other threads"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Item 11: what the store writes is the daemon user's alone.
#[tokio::test]
async fn journal_lock_and_reserve_files_are_private() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("hotline");
    let policy = SlaPolicy::from_config(&Config::default());
    let (store, replayer) = TicketStore::open(dead_pool(data.path()), &dir, 10)
        .await
        .unwrap();
    for i in 0..3 {
        store
            .create(new_ticket(format!("private-{i}")), &policy)
            .await
            .unwrap();
    }
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("journal")), 0o700);
    assert_eq!(mode(&dir.join("tickets.lock")), 0o600);
    let entries: Vec<_> = std::fs::read_dir(dir.join("journal"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 3);
    for e in entries {
        assert_eq!(mode(&e), 0o600, "{}", e.display());
    }
    store.shutdown(replayer, Duration::from_millis(100)).await;
    drop(store);

    // A reserve file and journal entry written by an older version with
    // the umask's mode are tightened at the next start.
    let (pool, _) = common::shared().fresh_db().await;
    let numbers = dir.join("ticket-numbers.json");
    std::fs::write(&numbers, br#"{"pool":[]}"#).unwrap();
    std::fs::set_permissions(&numbers, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (store, replayer) = TicketStore::open(pool, &dir, 10).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), store.drained())
        .await
        .unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(
        mode(&numbers),
        0o600,
        "the reserve, rewritten, stays private"
    );
    store.shutdown(replayer, Duration::from_secs(1)).await;
}

/// Item 11, the daemon: a data directory open to others is tightened at
/// start, with a log line; a voice note is private.
#[tokio::test]
async fn the_daemon_tightens_its_data_directory_and_keeps_voice_notes_private() {
    let d = Daemon::start("[answer]\nafter_rings = 0\n[routing]\nenabled = false\n").await;
    // The helper's directory is a fresh 0700 one: the daemon made sure.
    assert_eq!(mode(d.data.path()), 0o700);
    let who = CallerId {
        user: "5551234".into(),
        display: None,
        anonymous: false,
    };
    let mut c = Caller::dial(d.sip, &who, Duration::from_secs(10))
        .await
        .unwrap();
    let id = c.call_id().to_string();
    for (step, key) in [
        ("language", "1"),
        ("category", "2"),
        ("severity", "3"),
        ("customer_number", "#"),
    ] {
        d.wait_line(
            |l| l.contains(&id) && l.contains(&format!("IVR step step={step}")),
            Duration::from_secs(60),
        )
        .await;
        c.press(key).await.unwrap();
    }
    let line = d
        .wait_line(
            |l| l.contains(&id) && l.contains("voice note recording"),
            Duration::from_secs(30),
        )
        .await;
    c.talk(Duration::from_millis(500)).await.unwrap();
    c.hang_up().await.unwrap();
    d.wait_line(
        |l| l.contains(&id) && l.contains("call record written"),
        Duration::from_secs(30),
    )
    .await;
    let path = line
        .split("path=")
        .nth(1)
        .and_then(|p| p.split_whitespace().next())
        .expect("voice note path in the log line");
    assert_eq!(mode(Path::new(path)), 0o600, "{path}");

    // A second daemon on a data directory left world-readable.
    let data = tempfile::tempdir().unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = std::process::Command::new(common::hotline_bin())
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--database-url", &d.db_url])
        .args([
            "--sip-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("run")
        .env("HOTLINE_LOG", "info,sqlx=warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("SIP listening")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("second daemon did not start:\n{}", seen.join("\n")),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(mode(data.path()), 0o700);
    assert!(
        seen.iter().any(
            |l| l.contains("data directory was open to other users; tightened")
                && l.contains("old_mode=755")
        ),
        "{}",
        seen.join("\n")
    );
}

/// Item 13, a crash mid-replay: the provisional ticket's `Create` reached
/// the database but its journal entries were not yet removed. The restart
/// replays the `Create` (same key: same ticket, same final number) and the
/// ticket's later entries land on it, once.
#[tokio::test]
async fn a_provisional_ticket_replayed_after_a_crash_is_one_ticket() {
    let (pool, _) = common::shared().fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let policy = SlaPolicy::from_config(&Config::default());
    // Down from the start: no number reserved at all.
    let (store, replayer) = TicketStore::open(dead_pool(data.path()), data.path(), 10)
        .await
        .unwrap();
    let created = store
        .create(new_ticket("crash-provisional".into()), &policy)
        .await
        .unwrap();
    let provisional = created.ticket.number;
    assert!(provisional.is_provisional(), "{provisional}");
    let update = TicketUpdate {
        customer_ref: Some("C-77".into()),
        ..TicketUpdate::default()
    };
    store.update(provisional, "ivr", update).await.unwrap();
    let due = created.ticket.response_due_at;
    let at_risk = RoutingEvent::SlaAtRisk {
        due,
        expected_wait: None,
    };
    store
        .event(provisional, "routing", Utc::now(), at_risk)
        .await
        .unwrap();
    assert_eq!(store.pending(), 3);
    store.shutdown(replayer, Duration::from_millis(100)).await;
    drop(store);

    // What the replay had committed before the crash.
    let stored = repo::insert(&pool, &created.ticket).await.unwrap();
    assert!(!stored.number.is_provisional());

    let (store, replayer) = TicketStore::open(pool.clone(), data.path(), 10)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), store.drained())
        .await
        .expect("journal drained");
    assert_eq!(repo::count(&pool).await.unwrap(), 1, "one ticket, not two");
    let t = repo::by_number(&pool, stored.number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.customer_ref.as_deref(), Some("C-77"));
    let actions: Vec<String> = repo::events(&pool, stored.number)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["created", "updated", "sla_at_risk"]);
    let op: String = sqlx::query_scalar(
        "SELECT op_id FROM ticket_events WHERE action = 'sla_at_risk' AND ticket_number = $1",
    )
    .bind(stored.number.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        op,
        format!("sla_at_risk-{}", stored.number),
        "op-ids name the final number"
    );
    // A reader asking by the provisional number finds the final ticket.
    assert_eq!(
        store.get(provisional).await.unwrap().map(|t| t.number),
        Some(stored.number)
    );
    store.shutdown(replayer, Duration::from_secs(1)).await;
}
