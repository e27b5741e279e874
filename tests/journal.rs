//! Nothing is lost while PostgreSQL is down: the journal, its replay, and a
//! kill -9 between journal and database. Each test owns its cluster, since
//! it stops and starts it.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use hotline::config::Config;
use hotline::tickets::journal::{Journal, JournalOp};
use hotline::tickets::{repo, NewTicket, SlaPolicy, TicketNumber, TicketStore};

fn new_ticket(call_id: String) -> NewTicket {
    NewTicket {
        call_id,
        caller_number: "2001".into(),
        caller_name: None,
        caller_private: false,
        customer_ref: None,
        callback_number: None,
        category: Some("network".into()),
        severity: "critical".into(),
        received_at: Utc::now(),
        answered_at: None,
        flow_version: None,
    }
}

#[tokio::test]
async fn tickets_taken_during_an_outage_reach_the_database_exactly_once() {
    let cluster = common::TestCluster::start();
    let (pool, _) = cluster.fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let policy = SlaPolicy::from_config(&Config::default());
    let (store, replayer) = TicketStore::open(pool.clone(), data.path(), 200)
        .await
        .unwrap();

    cluster.cluster.stop().unwrap();
    let mut numbers = BTreeSet::new();
    for i in 0..100 {
        let created = store
            .create(new_ticket(format!("outage-{i}")), &policy)
            .await
            .unwrap();
        assert!(
            created.journaled,
            "ticket {i} claims the dead database took it"
        );
        numbers.insert(created.ticket.number);
    }
    assert_eq!(numbers.len(), 100, "every caller heard a distinct number");
    assert_eq!(store.pending(), 100);
    // Readers see a journaled ticket before the database has it.
    let first = *numbers.iter().next().unwrap();
    assert_eq!(store.get(first).await.unwrap().unwrap().number, first);

    cluster.cluster.start().unwrap();
    tokio::time::timeout(Duration::from_secs(60), store.drained())
        .await
        .expect("journal drained after the database returned");
    assert_eq!(repo::count(&pool).await.unwrap(), 100);
    let stored: BTreeSet<TicketNumber> = repo::list(&pool, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.number)
        .collect();
    assert_eq!(
        stored, numbers,
        "the numbers callers heard are the final ones"
    );
    store.shutdown(replayer, Duration::from_secs(1)).await;
    drop(store);

    // A crash after the commit but before the entry was removed: the entry
    // is replayed again and changes nothing.
    let ticket = repo::by_number(&pool, first).await.unwrap().unwrap();
    let (mut journal, _) = Journal::open(&data.path().join("journal")).unwrap();
    journal
        .append(JournalOp::Create {
            ticket: Box::new(ticket),
        })
        .unwrap();
    drop(journal);
    let (store, replayer) = TicketStore::open(pool.clone(), data.path(), 200)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), store.drained())
        .await
        .unwrap();
    assert_eq!(repo::count(&pool).await.unwrap(), 100);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 100, "one history entry per ticket, not per replay");
    store.shutdown(replayer, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_process_killed_after_journaling_loses_and_duplicates_nothing() {
    let cluster = common::TestCluster::start();
    let (pool, url) = cluster.fresh_db().await;
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("hotline.toml");
    std::fs::write(&config, "[database]\nconnect_timeout = \"300ms\"\n").unwrap();
    let hotline = |extra: &[&str]| {
        let mut c = Command::new(common::hotline_bin());
        c.args([
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.path().to_str().unwrap(),
            "--database-url",
            &url,
        ])
        .args(["tickets"])
        .args(extra)
        .env("HOTLINE_LOG", "warn");
        c
    };
    let number_of = |line: &str| -> TicketNumber {
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no ticket number in {line:?}"))
    };

    // While the database is up, a ticket goes straight in and numbers are
    // reserved for later.
    let out = hotline(&["create", "--caller", "100", "--severity", "minor"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut heard = BTreeSet::from([number_of(&String::from_utf8_lossy(&out.stdout))]);

    cluster.cluster.stop().unwrap();
    for i in 0..3 {
        let mut child = hotline(&[
            "create",
            "--caller",
            &format!("20{i}"),
            "--severity",
            "critical",
            "--wait",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("journaled"), "{line}");
        heard.insert(number_of(&line));
        // The number was printed only after the fsync: kill -9 now.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert_eq!(heard.len(), 4);

    cluster.cluster.start().unwrap();
    let out = hotline(&["flush"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("3 journaled"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stored: BTreeSet<TicketNumber> = repo::list(&pool, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.number)
        .collect();
    assert_eq!(stored, heard);
    // A second start replays nothing more.
    let out = hotline(&["flush"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 journaled"));
    assert_eq!(repo::count(&pool).await.unwrap(), 4);
}
