//! `hotline tickets ...`: look at tickets, create one by hand, flush the
//! journal.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};
use clap::Subcommand;

use hotline::config::Config;
use hotline::tickets::db::{self, Database};
use hotline::tickets::repo::{self, TicketFilter};
use hotline::tickets::{report, NewTicket, SlaPolicy, TicketNumber, TicketStatus, TicketStore};

use super::{data_dir, open_db};

#[derive(Subcommand)]
pub enum TicketsCommand {
    /// List tickets, newest first
    List {
        /// Only tickets not yet resolved or closed
        #[arg(long)]
        open: bool,
        /// Only this severity (a name from the SLA table)
        #[arg(long)]
        severity: Option<String>,
        /// Only tickets received since this time (RFC 3339 or YYYY-MM-DD, local)
        #[arg(long)]
        since: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Show one ticket with its deadlines and history
    Show {
        number: String,
        #[arg(long)]
        json: bool,
    },
    /// Mark a ticket resolved (sets resolved_at; a note goes on its history)
    Resolve {
        number: String,
        /// What was done, for the ticket's history
        #[arg(long)]
        note: Option<String>,
        /// Who resolved it (default: the login name)
        #[arg(long)]
        by: Option<String>,
    },
    /// Change a ticket's status: open, in_progress, escalated, resolved, closed
    Status {
        number: String,
        status: String,
        #[arg(long)]
        note: Option<String>,
        /// Who makes the change (default: the login name)
        #[arg(long)]
        by: Option<String>,
    },
    /// Create a ticket by hand (a request that did not come by phone)
    Create {
        /// Caller's number
        #[arg(long)]
        caller: String,
        /// Severity name from the SLA table
        #[arg(long)]
        severity: String,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        callback: Option<String>,
        /// Idempotency key (defaults to a fresh one)
        #[arg(long)]
        call_id: Option<String>,
        /// If the database is down, wait until the journaled ticket reaches it
        #[arg(long)]
        wait: bool,
    },
    /// Write tickets journaled during a database outage now (the daemon
    /// does this by itself as soon as the database is back)
    Flush,
}

fn parse_since(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").with_context(|| {
        format!("--since `{s}`: use YYYY-MM-DD or RFC 3339 like 2026-11-23T09:00:00Z")
    })?;
    let midnight = day.and_hms_opt(0, 0, 0).context("midnight")?;
    Local
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .context("--since: that local time does not exist")
}

pub async fn run(config: Config, cmd: TicketsCommand) -> anyhow::Result<ExitCode> {
    let db = open_db(&config)?;
    let result = tickets_on(&config, &db, cmd).await;
    db.close().await;
    result
}

async fn tickets_on(
    config: &Config,
    db: &Database,
    cmd: TicketsCommand,
) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    match cmd {
        TicketsCommand::List {
            open,
            severity,
            since,
            limit,
            json,
        } => {
            let filter = TicketFilter {
                open_only: open,
                severity,
                since: since.as_deref().map(parse_since).transpose()?,
                limit: Some(limit),
            };
            let list = repo::list(&db.pool, &filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", report::table(&list, now));
            }
        }
        TicketsCommand::Show { number, json } => {
            let n: TicketNumber = number
                .parse()
                .with_context(|| format!("`{number}` is not a ticket number"))?;
            let Some(t) = repo::by_number(&db.pool, n).await? else {
                eprintln!("hotline: no ticket #{n}");
                return Ok(ExitCode::FAILURE);
            };
            let events = repo::events(&db.pool, n).await?;
            if json {
                let v =
                    serde_json::json!({ "ticket": t, "routing": t.routing(), "history": events });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", report::detail(&t, &events, now));
            }
        }
        TicketsCommand::Resolve { number, note, by } => {
            return change_status(config, db, &number, "resolved", note, by).await;
        }
        TicketsCommand::Status {
            number,
            status,
            note,
            by,
        } => {
            return change_status(config, db, &number, &status, note, by).await;
        }
        TicketsCommand::Create {
            caller,
            severity,
            category,
            name,
            customer,
            callback,
            call_id,
            wait,
        } => {
            let dir = data_dir(config);
            if db::migrate(&db.pool).await.is_err() {
                tracing::warn!("database unreachable; the ticket goes to the journal");
            }
            let (store, replayer) =
                TicketStore::open(db.pool.clone(), &dir, config.tickets.reserve_numbers).await?;
            let policy = SlaPolicy::from_config(config);
            let new = NewTicket {
                call_id: call_id.unwrap_or_else(|| format!("cli-{:016x}", rand::random::<u64>())),
                caller_number: caller,
                caller_name: name,
                caller_private: false,
                customer_ref: customer,
                callback_number: callback,
                category,
                severity,
                received_at: now,
                answered_at: None,
                flow_version: None,
            };
            let created = store.create(new, &policy).await?;
            let t = &created.ticket;
            println!(
                "ticket {} {} response due {} resolution due {}{}",
                t.number,
                t.severity,
                report::local(t.response_due_at),
                report::local(t.resolution_due_at),
                if created.journaled {
                    " (journaled: database unreachable)"
                } else {
                    ""
                }
            );
            if wait {
                // The replayer retries with backoff until the database is back.
                store.drained().await;
            }
            store.shutdown(replayer, Duration::from_secs(2)).await;
        }
        TicketsCommand::Flush => {
            let dir = data_dir(config);
            let (store, replayer) =
                TicketStore::open(db.pool.clone(), &dir, config.tickets.reserve_numbers).await?;
            let before = store.pending();
            let applied = store.drain_journal().await;
            let left = store.shutdown(replayer, Duration::from_secs(2)).await;
            match applied {
                // The store's own replayer may have applied some of them.
                Ok(_) => println!("{} journaled write(s) applied, {left} left", before - left),
                Err(e) => {
                    eprintln!(
                        "hotline: {e}; {left} journaled write(s) stay in {}",
                        dir.join("journal").display()
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Set ticket `number`'s status as the admin API does (`first_response_at`
/// and `resolved_at` where they apply, the note and who on its history),
/// through the store: journaled while the database is down. Exit 1 for an
/// unknown ticket or status.
async fn change_status(
    config: &Config,
    db: &Database,
    number: &str,
    status: &str,
    note: Option<String>,
    by: Option<String>,
) -> anyhow::Result<ExitCode> {
    let n: TicketNumber = number
        .parse()
        .with_context(|| format!("`{number}` is not a ticket number"))?;
    let status: TicketStatus = match status.parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hotline: {e}; use open, in_progress, escalated, resolved or closed");
            return Ok(ExitCode::FAILURE);
        }
    };
    if repo::by_number(&db.pool, n).await?.is_none() {
        eprintln!("hotline: no ticket #{n}");
        return Ok(ExitCode::FAILURE);
    }
    let actor = by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    let (store, replayer) = TicketStore::open(
        db.pool.clone(),
        &data_dir(config),
        config.tickets.reserve_numbers,
    )
    .await?;
    store
        .update(n, &actor, hotline::admin::api::status_update(status, note))
        .await?;
    store.shutdown(replayer, Duration::from_secs(2)).await;
    println!("ticket {n} is {} (by {actor})", status.as_str());
    Ok(ExitCode::SUCCESS)
}
