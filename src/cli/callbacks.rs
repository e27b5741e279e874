//! `hotline callbacks list`: the callers the desk owes a call, in SLA
//! order (earliest response deadline first). Until hotline places these
//! calls itself, this is the desk's worklist for calling back by hand.

use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;

use hotline::config::Config;
use hotline::tickets::{repo, report};

use super::open_db;

#[derive(Subcommand)]
pub enum CallbacksCommand {
    /// Requested callbacks no person has made yet, most urgent first
    List {
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// JSON for scripts
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: CallbacksCommand) -> anyhow::Result<ExitCode> {
    let CallbacksCommand::List { limit, json } = cmd;
    let db = open_db(&config)?;
    let list = repo::pending_callbacks(&db.pool, limit).await;
    db.close().await;
    let list = list?;
    if json {
        let rows: Vec<_> = list
            .iter()
            .map(|t| {
                serde_json::json!({
                    "ticket": t.number,
                    "severity": t.severity,
                    "tier": t.assigned_tier,
                    "call": t.callback_number.as_deref().unwrap_or(&t.caller_number),
                    "requested_at": t.callback_requested_at,
                    "response_due_at": t.response_due_at,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("no callbacks pending");
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    println!(
        "{:>8}  {:<9} {:<4} {:<20} {:<17} response due",
        "ticket", "severity", "tier", "call", "requested"
    );
    for t in &list {
        let due = if t.response_due_at < now {
            format!("{} (overdue)", report::local(t.response_due_at))
        } else {
            report::local(t.response_due_at)
        };
        println!(
            "{:>8}  {:<9} {:<4} {:<20} {:<17} {due}",
            t.number.to_string(),
            t.severity,
            t.assigned_tier,
            t.callback_number.as_deref().unwrap_or(&t.caller_number),
            t.callback_requested_at
                .map(report::local)
                .unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}
