//! Items 10 and 11: where the journal's file work runs, and the modes of
//! what holds callers' data.

use super::*;

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
