//! Item 13: outages longer than the number reserve covers lose no
//! ticket; the reserve follows the intake rate.

use super::*;

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

/// Item 13 end to end: the daemon with a reserve of 10 and its database
/// stopped takes 16 IVR calls (4 at a time); every caller's ticket is
/// journaled (most with a provisional number), and once the database is
/// back there is one ticket per call, each with a final, distinct number.
#[tokio::test]
async fn the_daemon_loses_no_ticket_when_the_reserve_runs_out() {
    let cluster = TestCluster::start();
    let (pool, url) = cluster.fresh_db().await;
    let config = "[answer]\nafter_rings = 0\n[routing]\nenabled = false\n\
                  [database]\nconnect_timeout = \"300ms\"\n\
                  [tickets]\nreserve_numbers = 10\nreserve_cover = \"0s\"\n";
    let d = Arc::new(Daemon::start_with_db(config, url));
    pool.close().await;
    cluster.cluster.stop().unwrap();

    const CALLS: usize = 16;
    let mut ids = Vec::new();
    for wave in 0..CALLS / 4 {
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..4 {
            let d = d.clone();
            calls.spawn(async move {
                let who = CallerId {
                    user: format!("55501{wave}{i}"),
                    display: None,
                    anonymous: false,
                };
                let mut c = Caller::dial(d.sip, &who, Duration::from_secs(10))
                    .await
                    .unwrap();
                let id = c.call_id().to_string();
                for (step, key) in [("language", "1"), ("category", "2"), ("severity", "3")] {
                    d.wait_line(
                        |l| l.contains(&id) && l.contains(&format!("IVR step step={step}")),
                        Duration::from_secs(60),
                    )
                    .await;
                    c.press(key).await.unwrap();
                }
                let line = d
                    .wait_line(
                        |l| l.contains(&id) && l.contains("ticket created"),
                        Duration::from_secs(20),
                    )
                    .await;
                assert!(line.contains("journaled=true"), "{line}");
                c.hang_up().await.unwrap();
                d.wait_line(
                    |l| l.contains(&id) && l.contains("call record written"),
                    Duration::from_secs(20),
                )
                .await;
                id
            });
        }
        while let Some(r) = calls.join_next().await {
            ids.push(r.unwrap());
        }
    }
    let provisional = d.count(|l| l.contains("ticket created ticket=-"));
    assert!(
        provisional >= CALLS - 10,
        "the reserve covers 10 calls at most: {provisional} provisional"
    );

    cluster.cluster.start().unwrap();
    let pool = PgPool::connect(&d.db_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // The replayer retries with a backoff of at most 2 s: await the state.
    while repo::count(&pool).await.unwrap() < CALLS as i64 {
        assert!(
            Instant::now() < deadline,
            "{} tickets for {CALLS} calls; log:\n{}",
            repo::count(&pool).await.unwrap(),
            d.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = repo::list(&pool, &Default::default()).await.unwrap();
    assert_eq!(stored.len(), CALLS, "tickets == calls");
    let numbers: BTreeSet<TicketNumber> = stored.iter().map(|t| t.number).collect();
    assert_eq!(numbers.len(), CALLS, "no duplicate numbers");
    assert!(numbers.iter().all(|n| !n.is_provisional()));
    for id in &ids {
        let t = repo::by_call_id(&pool, id).await.unwrap().expect("ticket");
        // The call record follows once the journal is drained.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = calls::by_call_id(&pool, id).await.unwrap();
            if let Some(r) = r {
                assert_eq!(r.ticket_number, Some(t.number), "{id}");
                break;
            }
            assert!(Instant::now() < deadline, "no call record for {id}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
