//! The ticket store the call path uses: PostgreSQL when it answers, the
//! on-disk journal when it does not, and a background task that moves the
//! journal into the database, in order, as soon as it is back.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use sqlx::postgres::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::calls::{self, CallRecord};
use super::journal::{Journal, JournalError, JournalOp};
use super::model::{Assignment, NewTicket, RoutingEvent, Ticket, TicketNumber, TicketUpdate};
use super::numbers::NumberPool;
use super::repo;
use super::sla::{SlaPolicy, UnknownSeverity};

/// Errors at the ticket layer's boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("HL-DB: database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Severity(#[from] UnknownSeverity),
    #[error("HL-TICKET-NUMBERS: no reserved ticket numbers left and the database is unreachable; raise tickets.reserve_numbers so outages are covered")]
    NoNumbers,
    #[error("HL-TICKET-LOCKED: another hotline process owns {}; stop it or use another --data-dir", .0.display())]
    Locked(PathBuf),
    #[error("HL-TICKET-MISSING: no ticket number {0}")]
    NoSuchTicket(TicketNumber),
}

/// A ticket as the caller is told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub ticket: Ticket,
    /// True when the ticket waits in the journal for the database.
    pub journaled: bool,
}

struct Inner {
    pool: PgPool,
    journal: Mutex<Journal>,
    numbers: Mutex<NumberPool>,
    reserve: u32,
    refilling: AtomicBool,
    /// Single flight for reservations: a burst of calls that finds the
    /// reserve empty makes one query, not one each.
    refill_gate: tokio::sync::Mutex<()>,
    /// Migrations applied by this process (needed before replaying).
    migrated: AtomicBool,
    wake: Notify,
    /// Journal length, published after every append and removal, so
    /// shutdown, the CLI and tests can await "drained" as an event.
    pending_tx: tokio::sync::watch::Sender<usize>,
    /// Held for the store's life: one process owns a journal.
    _lock: File,
}

/// Cheap to clone; all clones share one journal and number reserve.
#[derive(Clone)]
pub struct TicketStore {
    inner: Arc<Inner>,
}

/// The background task that drains the journal; stop it with
/// [`TicketStore::shutdown`].
pub struct Replayer {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves consistent file state (every
    // write is atomic on disk), so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TicketStore {
    /// Open the store on `pool`, with its journal and number reserve under
    /// `data_dir`, and start the replayer. The database may be down.
    pub async fn open(
        pool: PgPool,
        data_dir: &Path,
        reserve: u32,
    ) -> Result<(Self, Replayer), StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| JournalError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let lock_path = data_dir.join("tickets.lock");
        let lock_file = File::create(&lock_path).map_err(|source| JournalError::Io {
            path: lock_path.clone(),
            source,
        })?;
        if lock_file.try_lock().is_err() {
            return Err(StoreError::Locked(data_dir.to_path_buf()));
        }
        let (journal, problems) = Journal::open(&data_dir.join("journal"))?;
        for p in problems {
            tracing::error!(error = %p, "journal entry set aside");
        }
        if !journal.is_empty() {
            tracing::warn!(
                pending = journal.len(),
                "journal holds ticket writes from an earlier run; replaying"
            );
        }
        let numbers = NumberPool::open(&data_dir.join("ticket-numbers.json"))?;
        let pending = journal.len();
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                journal: Mutex::new(journal),
                numbers: Mutex::new(numbers),
                reserve,
                refilling: AtomicBool::new(false),
                refill_gate: tokio::sync::Mutex::new(()),
                migrated: AtomicBool::new(false),
                wake: Notify::new(),
                pending_tx: tokio::sync::watch::Sender::new(pending),
                _lock: lock_file,
            }),
        };
        // Try once now so a fresh store has numbers before the first call;
        // an outage here is fine (the replayer keeps trying).
        if let Err(e) = store.refill().await {
            tracing::warn!(error = %e, "could not reserve ticket numbers yet");
        }
        let cancel = CancellationToken::new();
        let task = tokio::spawn(store.clone().replay_loop(cancel.clone()));
        Ok((store, Replayer { cancel, task }))
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Writes waiting for the database.
    pub fn pending(&self) -> usize {
        lock(&self.inner.journal).len()
    }

    /// Resolves once the journal is empty (at once if it is).
    pub async fn drained(&self) {
        let mut rx = self.inner.pending_tx.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    fn publish_pending(inner: &Inner, journal: &Journal) {
        inner.pending_tx.send_replace(journal.len());
    }

    /// Create the ticket for a call, computing its deadlines from `policy`.
    /// Returns once the ticket is durable: committed, or fsync'd to the
    /// journal. The same Call-ID twice returns the first ticket.
    pub async fn create(&self, new: NewTicket, policy: &SlaPolicy) -> Result<Created, StoreError> {
        policy.by_name(&new.severity)?;
        if let Some(ticket) = lock(&self.inner.journal).pending_ticket_by_call_id(&new.call_id) {
            return Ok(Created {
                ticket,
                journaled: true,
            });
        }
        let number = self.take_number().await?;
        let ticket = policy.ticket(number, new, Utc::now())?;
        if self.pending() == 0 {
            match repo::insert(&self.inner.pool, &ticket).await {
                Ok(ticket) => {
                    return Ok(Created {
                        ticket,
                        journaled: false,
                    })
                }
                Err(e) if repo::is_unavailable(&e) => {
                    tracing::warn!(error = %e, ticket = %ticket.number, "database unreachable; journaling the ticket");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.journal(JournalOp::Create {
            ticket: Box::new(ticket.clone()),
        })
        .await?;
        Ok(Created {
            ticket,
            journaled: true,
        })
    }

    /// Change a ticket and record the change in its history.
    pub async fn update(
        &self,
        number: TicketNumber,
        actor: &str,
        update: TicketUpdate,
    ) -> Result<(), StoreError> {
        let op_id = format!("{:032x}", rand::random::<u128>());
        let at = Utc::now();
        if self.pending() == 0 {
            match repo::update(&self.inner.pool, number, &op_id, at, actor, &update).await {
                Ok(true) => return Ok(()),
                Ok(false) => return Err(StoreError::NoSuchTicket(number)),
                Err(e) if repo::is_unavailable(&e) => {
                    tracing::warn!(error = %e, ticket = %number, "database unreachable; journaling the change");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.journal(JournalOp::Update {
            number,
            op_id,
            at,
            actor: actor.to_string(),
            update: Box::new(update),
        })
        .await
    }

    /// An agent took the call (their 200 OK): `first_response_at` (kept
    /// if already set), the agent, the tier, status `in_progress`, the
    /// queue wait, and `assigned` + `answered` in the history. Durable on
    /// return (committed or journaled); the same assignment twice is
    /// recorded once. Call it through the call's intake
    /// (`CallIntake::assigned`) so it is ordered after the ticket's
    /// creation, which may still wait in the journal.
    pub async fn assign(&self, number: TicketNumber, a: Assignment) -> Result<(), StoreError> {
        let actor = "routing";
        if self.pending() == 0 {
            match repo::assign(&self.inner.pool, number, actor, &a).await {
                Ok(true) => return Ok(()),
                Ok(false) => return Err(StoreError::NoSuchTicket(number)),
                Err(e) if repo::is_unavailable(&e) => {
                    tracing::warn!(error = %e, ticket = %number, "database unreachable; journaling the assignment");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.journal(JournalOp::Assign {
            number,
            actor: actor.to_string(),
            assignment: Box::new(a),
        })
        .await
    }

    /// Record a routing event at `at` (see [`RoutingEvent`] for the
    /// fields each sets). Durable on return; written once per event (its
    /// op-id, [`RoutingEvent::op_id`]).
    pub async fn event(
        &self,
        number: TicketNumber,
        actor: &str,
        at: chrono::DateTime<Utc>,
        event: RoutingEvent,
    ) -> Result<(), StoreError> {
        let at = chrono::SubsecRound::trunc_subsecs(at, 6);
        let op_id = event.op_id(number, at);
        if self.pending() == 0 {
            match repo::event(&self.inner.pool, number, &op_id, at, actor, &event).await {
                Ok(true) => return Ok(()),
                Ok(false) => return Err(StoreError::NoSuchTicket(number)),
                Err(e) if repo::is_unavailable(&e) => {
                    tracing::warn!(error = %e, ticket = %number, action = event.action(), "database unreachable; journaling the event");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.journal(JournalOp::Event {
            number,
            op_id,
            at,
            actor: actor.to_string(),
            event: Box::new(event),
        })
        .await
    }

    /// Write (or refresh) a call's record; like tickets, it goes to the
    /// journal when the database does not answer, so a call that ends
    /// during an outage still leaves its record. Returns true if journaled.
    pub async fn record_call(&self, record: &CallRecord) -> Result<bool, StoreError> {
        if self.pending() == 0 {
            match calls::upsert(&self.inner.pool, record).await {
                Ok(()) => return Ok(false),
                Err(e) if repo::is_unavailable(&e) => {
                    tracing::warn!(error = %e, call_id = %record.call_id, "database unreachable; journaling the call record");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.journal(JournalOp::CallRecord {
            record: Box::new(record.clone()),
        })
        .await?;
        Ok(true)
    }

    /// A ticket by number, from the database or, while it waits, the journal.
    pub async fn get(&self, number: TicketNumber) -> Result<Option<Ticket>, StoreError> {
        if let Some(t) = lock(&self.inner.journal).pending_ticket(number) {
            return Ok(Some(t));
        }
        Ok(repo::by_number(&self.inner.pool, number).await?)
    }

    async fn journal(&self, op: JournalOp) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        // fsync blocks: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            let mut journal = lock(&inner.journal);
            let seq = journal.append(op);
            Self::publish_pending(&inner, &journal);
            seq
        })
        .await
        .map_err(|e| JournalError::Io {
            path: PathBuf::from("journal"),
            source: std::io::Error::other(e),
        })??;
        self.inner.wake.notify_one();
        Ok(())
    }

    async fn take_number(&self) -> Result<TicketNumber, StoreError> {
        for _ in 0..2 {
            let inner = self.inner.clone();
            let (taken, left) = tokio::task::spawn_blocking(move || {
                let mut numbers = lock(&inner.numbers);
                (numbers.take(), numbers.available())
            })
            .await
            .map_err(|e| JournalError::Io {
                path: PathBuf::from("ticket-numbers.json"),
                source: std::io::Error::other(e),
            })?;
            if (left as u32) < self.inner.reserve * 3 / 4 {
                self.refill_in_background();
            }
            if let Some(n) = taken? {
                return Ok(n);
            }
            self.refill().await.map_err(|e| match e {
                StoreError::Database(ref d) if repo::is_unavailable(d) => StoreError::NoNumbers,
                other => other,
            })?;
        }
        Err(StoreError::NoNumbers)
    }

    fn refill_in_background(&self) {
        if self.inner.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(e) = store.refill().await {
                tracing::debug!(error = %e, "number reserve not topped up");
            }
            store.inner.refilling.store(false, Ordering::Release);
        });
    }

    /// Top the reserve up to `reserve` numbers from the database sequence.
    async fn refill(&self) -> Result<(), StoreError> {
        let _gate = self.inner.refill_gate.lock().await;
        let have = lock(&self.inner.numbers).available() as u32;
        if have >= self.inner.reserve {
            return Ok(());
        }
        let fresh = repo::reserve_numbers(&self.inner.pool, self.inner.reserve - have).await?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || lock(&inner.numbers).add(fresh))
            .await
            .map_err(|e| JournalError::Io {
                path: PathBuf::from("ticket-numbers.json"),
                source: std::io::Error::other(e),
            })??;
        Ok(())
    }

    /// Apply journal entries until it is empty or the database fails.
    /// Returns how many were applied.
    pub async fn drain_journal(&self) -> Result<usize, StoreError> {
        let mut applied = 0;
        if !self.inner.migrated.load(Ordering::Acquire) {
            // A daemon that started during an outage has not migrated yet.
            super::db::MIGRATOR
                .run(&self.inner.pool)
                .await
                .map_err(|e| match e {
                    sqlx::migrate::MigrateError::Execute(e) => StoreError::Database(e),
                    other => StoreError::Database(sqlx::Error::Migrate(Box::new(other))),
                })?;
            self.inner.migrated.store(true, Ordering::Release);
        }
        loop {
            let Some((seq, op)) = lock(&self.inner.journal).first() else {
                return Ok(applied);
            };
            let result = match &op {
                JournalOp::Create { ticket } => repo::insert(&self.inner.pool, ticket)
                    .await
                    .map(|stored| {
                        if stored.number != ticket.number {
                            tracing::error!(call_id = %ticket.call_id, journaled = %ticket.number, stored = %stored.number,
                                "call already had a ticket; the journaled duplicate was dropped");
                        }
                    }),
                JournalOp::Update {
                    number,
                    op_id,
                    at,
                    actor,
                    update,
                } => repo::update(&self.inner.pool, *number, op_id, *at, actor, update)
                    .await
                    .map(|_| ()),
                JournalOp::CallRecord { record } => calls::upsert(&self.inner.pool, record).await,
                JournalOp::Assign {
                    number,
                    actor,
                    assignment,
                } => repo::assign(&self.inner.pool, *number, actor, assignment)
                    .await
                    .map(|_| ()),
                JournalOp::Event {
                    number,
                    op_id,
                    at,
                    actor,
                    event,
                } => repo::event(&self.inner.pool, *number, op_id, *at, actor, event)
                    .await
                    .map(|_| ()),
            };
            match result {
                Ok(()) => {
                    let inner = self.inner.clone();
                    tokio::task::spawn_blocking(move || {
                        let mut journal = lock(&inner.journal);
                        let removed = journal.remove(seq);
                        Self::publish_pending(&inner, &journal);
                        removed
                    })
                    .await
                    .map_err(|e| JournalError::Io {
                        path: PathBuf::from("journal"),
                        source: std::io::Error::other(e),
                    })??;
                    applied += 1;
                }
                Err(e) if repo::is_unavailable(&e) => return Err(e.into()),
                Err(e) => {
                    tracing::error!(error = %e, seq, "database refused a journal entry; set aside in journal/failed/");
                    let mut journal = lock(&self.inner.journal);
                    journal.set_aside(seq);
                    Self::publish_pending(&self.inner, &journal);
                }
            }
        }
    }

    async fn replay_loop(self, cancel: CancellationToken) {
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
        let _ = replayer.task.await;
        if self.pending() > 0 {
            let _ = tokio::time::timeout(deadline, self.drain_journal()).await;
        }
        self.pending()
    }
}
