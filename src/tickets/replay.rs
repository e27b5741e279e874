//! Moving the journal into the database: in sequence order, each entry
//! removed only after the database committed it (every write is
//! idempotent, so a crash in between replays it harmlessly), a
//! provisional ticket given its final number on the way.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::calls;
use super::journal::JournalOp;
use super::repo;
use super::store::{lock, StoreError, TicketStore};

/// Migrations may rewrite tables: a longer bound than one statement's.
const MIGRATE_LIMIT: Duration = Duration::from_secs(120);

/// The background task that drains the journal; stop it with
/// [`TicketStore::shutdown`].
pub struct Replayer {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Replayer {
    pub(super) fn start(store: TicketStore) -> Self {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(store.replay_loop(cancel.clone()));
        Self { cancel, task }
    }
}

impl TicketStore {
    /// Apply journal entries until it is empty or the database fails.
    /// Returns how many were applied.
    pub async fn drain_journal(&self) -> Result<usize, StoreError> {
        let mut applied = 0;
        let inner = &self.inner;
        if !inner.migrated.load(Ordering::Acquire) {
            // A daemon that started during an outage has not migrated yet.
            self.db_within(MIGRATE_LIMIT, "migrations", async {
                super::db::MIGRATOR
                    .run(&inner.pool)
                    .await
                    .map_err(|e| match e {
                        sqlx::migrate::MigrateError::Execute(e) => e,
                        other => sqlx::Error::Migrate(Box::new(other)),
                    })
            })
            .await?;
            inner.migrated.store(true, Ordering::Release);
        }
        loop {
            let next = {
                let index = lock(&inner.index);
                index.first().map(|(seq, op)| (seq, index.translate(op)))
            };
            let Some((seq, op)) = next else {
                self.release_retained().await?;
                return Ok(applied);
            };
            let result = self.apply(seq, &op).await;
            match result {
                Ok(keep) => {
                    if !keep {
                        inner.writer.run(move |s| s.files.remove(seq)).await??;
                        lock(&inner.index).remove(seq);
                    }
                    self.publish_pending();
                    applied += 1;
                }
                Err(e) if repo::is_unavailable(&e) => return Err(e.into()),
                Err(e) => {
                    tracing::error!(error = %e, seq, "database refused a journal entry; set aside in journal/failed/");
                    inner.writer.run(move |s| s.files.set_aside(seq)).await?;
                    lock(&inner.index).remove(seq);
                    self.publish_pending();
                }
            }
        }
    }

    /// Apply one entry; true if it must stay on disk for now (a
    /// provisional ticket's `Create`, until nothing names its number).
    async fn apply(&self, seq: u64, op: &JournalOp) -> Result<bool, sqlx::Error> {
        let pool = &self.inner.pool;
        let unresolved = |n: super::TicketNumber| {
            // Not an outage (`repo::is_unavailable` is false): set aside.
            sqlx::Error::Decode(
                format!("journal entry {seq} names provisional ticket {n}, whose creation is not in the journal").into(),
            )
        };
        match op {
            JournalOp::Create { ticket } => {
                let stored = self.db("ticket insert", repo::insert(pool, ticket)).await?;
                if ticket.number.is_provisional() {
                    tracing::info!(provisional = %ticket.number, ticket = %stored.number, call_id = %ticket.call_id,
                        "journaled ticket numbered");
                    lock(&self.inner.index).replayed_provisional(seq, ticket.number, stored.number);
                    return Ok(true);
                }
                if stored.number != ticket.number {
                    tracing::error!(call_id = %ticket.call_id, journaled = %ticket.number, stored = %stored.number,
                        "call already had a ticket; the journaled duplicate was dropped");
                }
            }
            JournalOp::Update {
                number,
                op_id,
                at,
                actor,
                update,
            } => {
                if number.is_provisional() {
                    return Err(unresolved(*number));
                }
                let write = repo::update(pool, *number, op_id, *at, actor, update);
                self.db("ticket update", write).await?;
            }
            JournalOp::CallRecord { record } => {
                if let Some(n) = record.ticket_number.filter(|n| n.is_provisional()) {
                    return Err(unresolved(n));
                }
                self.db("call record", calls::upsert(pool, record)).await?;
            }
            JournalOp::Assign {
                number,
                actor,
                assignment,
            } => {
                if number.is_provisional() {
                    return Err(unresolved(*number));
                }
                let write = repo::assign(pool, *number, actor, assignment);
                self.db("ticket assignment", write).await?;
            }
            JournalOp::Event {
                number,
                op_id,
                at,
                actor,
                event,
            } => {
                if number.is_provisional() {
                    return Err(unresolved(*number));
                }
                let write = repo::event(pool, *number, op_id, *at, actor, event);
                self.db("ticket event", write).await?;
            }
        }
        Ok(false)
    }

    /// Delete the retained provisional `Create`s once nothing names them.
    async fn release_retained(&self) -> Result<(), StoreError> {
        let seqs = lock(&self.inner.index).release_retained();
        if seqs.is_empty() {
            return Ok(());
        }
        self.publish_pending();
        self.inner
            .writer
            .run(move |s| seqs.iter().try_for_each(|seq| s.files.remove(*seq)))
            .await??;
        Ok(())
    }

    pub(super) async fn replay_loop(self, cancel: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.pending() > 0 {
                match self.drain_journal().await {
                    Ok(n) => {
                        if n > 0 {
                            tracing::info!(applied = n, "journal replayed into the database");
                        }
                        backoff = Duration::from_millis(100);
                        let _ = self.refill().await;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, retry_in = ?backoff, "journal replay waits for the database");
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
            let wait = if self.pending() > 0 {
                backoff
            } else {
                Duration::from_secs(3600)
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Stop the replayer after one last attempt (bounded by `deadline`) to
    /// move the journal into the database; what remains stays on disk.
    pub async fn shutdown(&self, replayer: Replayer, deadline: Duration) -> usize {
        replayer.cancel.cancel();
        let _ = tokio::time::timeout(deadline, replayer.task).await;
        if self.pending() > 0 {
            let _ = tokio::time::timeout(deadline, self.drain_journal()).await;
        }
        self.pending()
    }
}
