//! Which call a ticket belongs to (issue 14, item 9): the Call-ID and the
//! INVITE's arrival, escaped and capped; the same call twice is one
//! ticket, another call that reuses the Call-ID is another.

use super::*;

#[tokio::test]
async fn creating_the_same_calls_ticket_twice_returns_the_first() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let call = new_ticket("same-call", "major");
    let first = store.create(call.clone(), &policy).await.unwrap();
    // The same call (same Call-ID, same INVITE arrival) asking again: a
    // retry of the intake's write.
    let mut again = call;
    again.severity = "minor".into();
    let second = store.create(again, &policy).await.unwrap();
    assert_eq!(first.ticket.number, second.ticket.number);
    assert_eq!(second.ticket.severity, "major");
    assert_eq!(repo::count(store.pool()).await.unwrap(), 1);
}

/// Issue 14, item 9: a second caller who reuses a Call-ID (a buggy phone,
/// or someone who learnt it) used to be handed the first caller's ticket
/// and hear its number. A call is its Call-ID *and* its INVITE's arrival.
#[tokio::test]
async fn a_caller_who_reuses_a_call_id_gets_their_own_ticket() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let victim = new_ticket("reused-call-id", "critical");
    let first = store.create(victim.clone(), &policy).await.unwrap();
    let mut intruder = new_ticket("reused-call-id", "minor");
    intruder.caller_number = "+15559990000".into();
    intruder.received_at = victim.received_at + TimeDelta::seconds(3);
    let second = store.create(intruder, &policy).await.unwrap();
    assert_ne!(
        first.ticket.number, second.ticket.number,
        "the second caller must not hear the first caller's ticket number"
    );
    assert_eq!(second.ticket.caller_number, "+15559990000");
    let stored = repo::by_number(store.pool(), first.ticket.number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored, first.ticket,
        "the first caller's ticket is untouched"
    );
    let both = repo::all_by_call_id(store.pool(), "reused-call-id")
        .await
        .unwrap();
    assert_eq!(both.len(), 2);

    // The same holds while the tickets wait in the journal (the key the
    // journal carries is the full one).
    let data = tempfile::tempdir().unwrap();
    let dead = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(200))
        .connect_lazy_with(
            sqlx::postgres::PgConnectOptions::new()
                .socket(data.path().join("no-server"))
                .username("nobody"),
        );
    let (journaled, replayer) = TicketStore::open(dead, data.path(), 20).await.unwrap();
    let a = journaled.create(victim.clone(), &policy).await.unwrap();
    let mut other = victim.clone();
    other.received_at += TimeDelta::milliseconds(1);
    let b = journaled.create(other, &policy).await.unwrap();
    let a_again = journaled.create(victim, &policy).await.unwrap();
    assert!(a.journaled && b.journaled);
    assert_ne!(a.ticket.number, b.ticket.number);
    assert_eq!(a.ticket.number, a_again.ticket.number);
    assert_eq!(journaled.pending(), 2);
    journaled
        .shutdown(replayer, std::time::Duration::from_millis(100))
        .await;
}

/// A peer controls the Call-ID: long or odd ones are escaped and capped
/// before they reach the database, the journal and the logs.
#[tokio::test]
async fn a_hostile_call_id_is_escaped_and_capped() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let nasty = format!("evil\n\u{1b}[31m\\ \u{7f}é{}", "x".repeat(5000));
    let created = store
        .create(new_ticket(&nasty, "minor"), &policy)
        .await
        .unwrap();
    let id = &created.ticket.call_id;
    assert!(
        id.len() <= hotline::tickets::model::MAX_CALL_ID,
        "{}",
        id.len()
    );
    assert!(
        id.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "only printable ASCII is stored: {id:?}"
    );
    assert!(
        id.starts_with("evil\\x0a\\x1b[31m\\x5c\\x20\\x7f\\xc3\\xa9xxx"),
        "{id:?}"
    );
    let stored = repo::by_number(store.pool(), created.ticket.number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&stored.call_id, id);
}

/// The migration that keyed tickets on their call computed the key of
/// existing rows in SQL; it must equal the daemon's (`Ticket::key`), or a
/// journal entry written before an upgrade would not find its ticket.
#[tokio::test]
async fn the_migrations_call_key_formula_matches_the_daemons() {
    let (store, _r, _d) = store().await;
    let policy = SlaPolicy::from_config(&Config::default());
    let mut new = new_ticket("formula-1", "minor");
    // Microseconds that a float would round.
    new.received_at = chrono::DateTime::parse_from_rfc3339("2026-11-30T23:59:59.999999Z")
        .unwrap()
        .with_timezone(&Utc);
    let t = store.create(new, &policy).await.unwrap().ticket;
    let by_sql: String = sqlx::query_scalar(
        "SELECT call_id || '@' || (extract(epoch FROM received_at) * 1000000)::bigint::text
         FROM tickets WHERE number = $1",
    )
    .bind(t.number.0)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(by_sql, t.key());
    let stored: String = sqlx::query_scalar("SELECT call_key FROM tickets WHERE number = $1")
        .bind(t.number.0)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(stored, t.key());
}
