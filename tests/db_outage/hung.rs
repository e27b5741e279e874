//! Item 8: a database that accepts connections and never answers (a
//! real cluster frozen with SIGSTOP), and the server-side statement bound.

use super::*;

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

/// Item 8, the server's side: every connection carries
/// `database.statement_timeout`, and a statement it cancels reads as the
/// database being unavailable (journal and retry), not as bad data.
#[tokio::test]
async fn every_connection_bounds_its_statements() {
    let (_, url) = common::shared().fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let db = hotline::tickets::db::open_bounded(
        &url,
        data.path(),
        2,
        Duration::from_secs(5),
        Duration::from_millis(300),
    )
    .unwrap();
    let shown: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(shown, "300ms");
    let started = Instant::now();
    let err = sqlx::query("SELECT pg_sleep(30)")
        .execute(&db.pool)
        .await
        .expect_err("cancelled by statement_timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(repo::is_unavailable(&err), "{err}");
    db.close().await;
}
