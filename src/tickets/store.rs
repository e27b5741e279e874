//! The ticket store the call path uses: PostgreSQL when it answers, the
//! on-disk journal when it does not, and a background task that moves the
//! journal into the database, in order, as soon as it is back
//! (`tickets::replay`).
//!
//! Promises:
//! - Every database call is bounded by `db_timeout` (the daemon passes
//!   `database.connect_timeout`): a server that accepts and never answers
//!   costs a caller at most that before the write goes to the journal.
//!   The server side also bounds each statement (`statement_timeout`, set
//!   per connection by `tickets::db`).
//! - A write returns once durable: committed, or fsync'd in the journal.
//!   The caller is told a ticket number only after that.
//! - A ticket is never refused for want of a number: with the reserve
//!   empty and the database down it is journaled with a provisional
//!   number ([`TicketNumber::is_provisional`]), which the caller is not
//!   told (the IVR says the request is recorded and the desk will call
//!   back); the replay gives it its final number.
//! - No file work on the async workers: it all runs on the writer thread
//!   (`tickets::writer`), and the locks here are never held across I/O.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use sqlx::postgres::PgPool;
use tokio::sync::Notify;

use super::calls::{self, CallRecord};
use super::journal::{self, JournalError, JournalIndex, JournalOp};
use super::model::{
    safe_call_id, Assignment, NewTicket, RoutingEvent, Ticket, TicketNumber, TicketUpdate,
};
use super::numbers::{ReserveTarget, MAX_REFILL};
use super::repo;
use super::sla::{SlaPolicy, UnknownSeverity};
use super::writer::{OpenError, Writer};

pub use super::replay::Replayer;

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

/// How the store sizes its number reserve and bounds database calls.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The fewest numbers to hold (`tickets.reserve_numbers`).
    pub reserve: u32,
    /// Hold enough numbers for this long at the measured intake rate
    /// (`tickets.reserve_cover`).
    pub reserve_cover: Duration,
    /// The longest any database call may take before the store treats the
    /// database as unavailable (`database.connect_timeout`).
    pub db_timeout: Duration,
}

impl StoreOptions {
    pub fn new(reserve: u32) -> Self {
        Self {
            reserve,
            reserve_cover: Duration::from_secs(600),
            db_timeout: Duration::from_secs(2),
        }
    }
}

pub(super) struct Inner {
    pub(super) pool: PgPool,
    pub(super) writer: Writer,
    /// What the journal holds (memory only: never locked across I/O).
    pub(super) index: Mutex<JournalIndex>,
    /// Numbers in the reserve, as last reported by the writer thread.
    available: AtomicUsize,
    target: Mutex<ReserveTarget>,
    refilling: AtomicBool,
    /// Single flight for reservations: a burst of calls that finds the
    /// reserve empty makes one query, not one each.
    refill_gate: tokio::sync::Mutex<()>,
    /// Migrations applied by this process (needed before replaying).
    pub(super) migrated: AtomicBool,
    pub(super) wake: Notify,
    /// Journal length, published after every append and removal, so
    /// shutdown, the CLI and tests can await "drained" as an event.
    pending_tx: tokio::sync::watch::Sender<usize>,
    pub(super) db_timeout: Duration,
    /// Held for the store's life: one process owns a journal.
    _lock: File,
}

/// Cheap to clone; all clones share one journal and number reserve.
#[derive(Clone)]
pub struct TicketStore {
    pub(super) inner: Arc<Inner>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // These locks guard memory only, updated in single statements, so a
    // poisoned lock still holds consistent state.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `fut` within `limit`, else an I/O error (which `repo::is_unavailable`
/// counts as an outage) that says which key sets the bound.
pub async fn bounded<T>(
    limit: Duration,
    what: &'static str,
    fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "{what}: the database did not answer within {limit:?} (database.connect_timeout)"
            ),
        ))),
    }
}

impl TicketStore {
    /// Open the store on `pool`, with its journal and number reserve under
    /// `data_dir`, and start the replayer. The database may be down.
    pub async fn open(
        pool: PgPool,
        data_dir: &Path,
        reserve: u32,
    ) -> Result<(Self, Replayer), StoreError> {
        Self::open_with(pool, data_dir, StoreOptions::new(reserve)).await
    }

    pub async fn open_with(
        pool: PgPool,
        data_dir: &Path,
        options: StoreOptions,
    ) -> Result<(Self, Replayer), StoreError> {
        let (writer, opened) = Writer::start(data_dir).await.map_err(|e| match e {
            OpenError::Locked => StoreError::Locked(data_dir.to_path_buf()),
            OpenError::Journal(j) => StoreError::Journal(j),
        })?;
        for p in opened.problems {
            tracing::error!(error = %p, "journal entry set aside");
        }
        let index = JournalIndex::new(opened.entries);
        if !index.is_empty() {
            tracing::warn!(
                pending = index.len(),
                "journal holds ticket writes from an earlier run; replaying"
            );
        }
        let pending = index.len();
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                writer,
                index: Mutex::new(index),
                available: AtomicUsize::new(opened.available),
                target: Mutex::new(ReserveTarget::new(options.reserve, options.reserve_cover)),
                refilling: AtomicBool::new(false),
                refill_gate: tokio::sync::Mutex::new(()),
                migrated: AtomicBool::new(false),
                wake: Notify::new(),
                pending_tx: tokio::sync::watch::Sender::new(pending),
                db_timeout: options.db_timeout,
                _lock: opened.lock,
            }),
        };
        // Try once now so a fresh store has numbers before the first call;
        // an outage here is fine (the replayer keeps trying).
        if let Err(e) = store.refill().await {
            tracing::warn!(error = %e, "could not reserve ticket numbers yet");
        }
        let replayer = Replayer::start(store.clone());
        Ok((store, replayer))
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Writes waiting for the database.
    pub fn pending(&self) -> usize {
        lock(&self.inner.index).len()
    }

    /// Numbers in the reserve now.
    pub fn reserved(&self) -> usize {
        self.inner.available.load(Ordering::Acquire)
    }

    /// Resolves once the journal is empty (at once if it is).
    pub async fn drained(&self) {
        let mut rx = self.inner.pending_tx.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    pub(super) fn publish_pending(&self) {
        let n = lock(&self.inner.index).len();
        self.inner.pending_tx.send_replace(n);
    }

    /// A database call, bounded: a server that never answers is treated
    /// like one that is down (an I/O error, so `repo::is_unavailable`).
    pub(super) async fn db<T>(
        &self,
        what: &'static str,
        fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        self.db_within(self.inner.db_timeout, what, fut).await
    }

    pub(super) async fn db_within<T>(
        &self,
        limit: Duration,
        what: &'static str,
        fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        bounded(limit, what, fut).await
    }

    /// The final number of `n` if it was provisional and has been replayed.
    fn resolve(&self, n: TicketNumber) -> TicketNumber {
        lock(&self.inner.index).resolve(n)
    }

    /// Create the ticket for a call, computing its deadlines from `policy`.
    /// Returns once the ticket is durable: committed, or fsync'd to the
    /// journal. The same call (Call-ID and INVITE arrival: [`Ticket::key`])
    /// twice returns the first ticket; another call that reuses the
    /// Call-ID gets its own. The Call-ID is escaped and capped
    /// ([`safe_call_id`]) before it is stored or logged.
    pub async fn create(
        &self,
        mut new: NewTicket,
        policy: &SlaPolicy,
    ) -> Result<Created, StoreError> {
        policy.by_name(&new.severity)?;
        new.call_id = safe_call_id(&new.call_id);
        let key = policy
            .ticket(TicketNumber(0), new.clone(), Utc::now())?
            .key();
        if let Some(ticket) = lock(&self.inner.index).pending_ticket_by_key(&key) {
            return Ok(Created {
                ticket,
                journaled: true,
            });
        }
        let number = match self.take_number().await {
            Ok(n) => Some(n),
            Err(StoreError::NoNumbers) => None,
            Err(e) => return Err(e),
        };
        let Some(number) = number else {
            // No final number can be had: journal the ticket anyway.
            let mut ticket = policy.ticket(TicketNumber(0), new, Utc::now())?;
            let ticket = self
                .journal_with(move |index| {
                    ticket.number = index.provisional();
                    let op = JournalOp::Create {
                        ticket: Box::new(ticket.clone()),
                    };
                    (op, ticket)
                })
                .await?;
            tracing::warn!(provisional = %ticket.number, call_id = %ticket.call_id,
                "no reserved ticket number left and the database is unreachable; the ticket is journaled and gets its number when the database returns");
            return Ok(Created {
                ticket,
                journaled: true,
            });
        };
        let ticket = policy.ticket(number, new, Utc::now())?;
        if self.pending() == 0 {
            match self
                .db("ticket insert", repo::insert(&self.inner.pool, &ticket))
                .await
            {
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
        let number = self.resolve(number);
        let op_id = format!("{:032x}", rand::random::<u128>());
        let at = Utc::now();
        if self.pending() == 0 && !number.is_provisional() {
            let write = repo::update(&self.inner.pool, number, &op_id, at, actor, &update);
            match self.db("ticket update", write).await {
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
        let number = self.resolve(number);
        let actor = "routing";
        if self.pending() == 0 && !number.is_provisional() {
            let write = repo::assign(&self.inner.pool, number, actor, &a);
            match self.db("ticket assignment", write).await {
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
        let number = self.resolve(number);
        let at = chrono::SubsecRound::trunc_subsecs(at, 6);
        let op_id = event.op_id(number, at);
        if self.pending() == 0 && !number.is_provisional() {
            let write = repo::event(&self.inner.pool, number, &op_id, at, actor, &event);
            match self.db("ticket event", write).await {
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
        let mut record = record.clone();
        record.ticket_number = record.ticket_number.map(|n| self.resolve(n));
        let provisional = record
            .ticket_number
            .is_some_and(TicketNumber::is_provisional);
        if self.pending() == 0 && !provisional {
            match self
                .db("call record", calls::upsert(&self.inner.pool, &record))
                .await
            {
                Ok(()) => return Ok(false),
                Err(e) if repo::is_unavailable(&e) => {
                    tracing::warn!(error = %e, call_id = %record.call_id, "database unreachable; journaling the call record");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.journal(JournalOp::CallRecord {
            record: Box::new(record),
        })
        .await?;
        Ok(true)
    }

    /// A ticket by number, from the database or, while it waits, the journal.
    pub async fn get(&self, number: TicketNumber) -> Result<Option<Ticket>, StoreError> {
        let number = self.resolve(number);
        if let Some(t) = lock(&self.inner.index).pending_ticket(number) {
            return Ok(Some(t));
        }
        if number.is_provisional() {
            return Ok(None);
        }
        Ok(self
            .db("ticket read", repo::by_number(&self.inner.pool, number))
            .await?)
    }

    /// Durably journal `op` (its ticket number translated if a provisional
    /// one has its final number by now).
    pub(super) async fn journal(&self, op: JournalOp) -> Result<(), StoreError> {
        self.journal_with(move |index| {
            let op = index.translate(op);
            (op, ())
        })
        .await
    }

    /// Durably journal the entry `make` builds under the index lock (it
    /// may take a provisional number there); returns `make`'s value.
    async fn journal_with<R>(
        &self,
        make: impl FnOnce(&mut JournalIndex) -> (JournalOp, R),
    ) -> Result<R, StoreError> {
        let (seq, op, out) = {
            let mut index = lock(&self.inner.index);
            let (op, out) = make(&mut index);
            (index.allocate(), op, out)
        };
        let written = match journal::encode(&op) {
            Ok(bytes) => self.inner.writer.append(seq, bytes).await,
            Err(e) => Err(e),
        };
        {
            let mut index = lock(&self.inner.index);
            match written {
                Ok(()) => index.insert(seq, op),
                Err(e) => {
                    index.abandon();
                    return Err(e.into());
                }
            }
        }
        self.publish_pending();
        self.inner.wake.notify_one();
        Ok(out)
    }

    async fn take_number(&self) -> Result<TicketNumber, StoreError> {
        for _ in 0..2 {
            let (taken, left) = self
                .inner
                .writer
                .run(|s| (s.numbers.take(), s.numbers.available()))
                .await?;
            self.inner.available.store(left, Ordering::Release);
            let wanted = {
                let mut target = lock(&self.inner.target);
                let now = std::time::Instant::now();
                if matches!(taken, Ok(Some(_))) {
                    target.taken(now);
                }
                target.wanted(now)
            };
            if (left as u64) < u64::from(wanted) * 3 / 4 {
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

    /// Top the reserve up to what the intake rate wants (at least
    /// `tickets.reserve_numbers`) from the database sequence.
    pub(super) async fn refill(&self) -> Result<(), StoreError> {
        let _gate = self.inner.refill_gate.lock().await;
        let wanted = lock(&self.inner.target).wanted(std::time::Instant::now());
        let have = self.reserved() as u32;
        if have >= wanted {
            return Ok(());
        }
        let count = (wanted - have).min(MAX_REFILL);
        let fresh = self
            .db(
                "number reservation",
                repo::reserve_numbers(&self.inner.pool, count),
            )
            .await?;
        let available = self
            .inner
            .writer
            .run(move |s| s.numbers.add(fresh).map(|()| s.numbers.available()))
            .await??;
        self.inner.available.store(available, Ordering::Release);
        Ok(())
    }
}
