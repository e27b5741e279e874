//! `hotline report`: the desk's key figures for a period, each beside its
//! target from the service standard (text, `--json` or `--csv`), and
//! `hotline report sample`: the quality-control draw for supervisors.
//! Read-only: nothing is written to the database.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use hotline::config::Config;
use hotline::report::{self, period, render, sample, Dimension, ReportError, Settings};

use super::open_db;

/// Exit code when the database fails (as the `agents` commands).
const EXIT_DATABASE: u8 = 3;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: Option<ReportCommand>,
    #[command(flatten)]
    pub figures: FigureArgs,
}

/// The period: local days (YYYY-MM-DD, `--to` included) or RFC 3339.
#[derive(Args, Clone)]
pub struct Period {
    /// First day or time [default: the first day of the month of --to]
    #[arg(long)]
    pub from: Option<String>,
    /// Last day (included) or end time [default: now]
    #[arg(long)]
    pub to: Option<String>,
}

#[derive(Args)]
pub struct FigureArgs {
    #[command(flatten)]
    pub period: Period,
    /// Also show the ticket figures per agent, tier, severity or category
    #[arg(long, value_name = "agent|tier|severity|category")]
    pub by: Option<String>,
    /// JSON for scripts
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV for spreadsheets (section,group,name,metric,value)
    #[arg(long)]
    pub csv: bool,
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Draw recorded calls and tickets at random for supervisors to review
    /// (shares from [report]: 20 % of calls, 10 % of tickets)
    Sample {
        #[command(flatten)]
        period: Period,
        /// The same seed draws the same items [default: a fresh one, printed]
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

/// Plain data (strings, numbers, times) always serializes.
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("report data serializes") + "\n"
}

pub async fn run(config: Config, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    let settings = Settings::from_config(&config);
    let (p, by) = match &args.command {
        Some(ReportCommand::Sample { period, .. }) => (period.clone(), None),
        None => (args.figures.period.clone(), args.figures.by.clone()),
    };
    // Mistakes in the arguments are found before the database is opened.
    let (from, to) = match period::period(p.from.as_deref(), p.to.as_deref(), now) {
        Ok(span) => span,
        Err(e) => {
            eprintln!("hotline: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let by = match by.as_deref().map(str::parse::<Dimension>).transpose() {
        Ok(by) => by,
        Err(e) => {
            eprintln!("hotline: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let db = open_db(&config)?;
    let result = match args.command {
        Some(ReportCommand::Sample { seed, json, .. }) => {
            let seed = seed.unwrap_or_else(|| rand::random::<u32>() as u64);
            sample::draw(
                &db.pool,
                from,
                to,
                seed,
                settings.sample_calls,
                settings.sample_tickets,
            )
            .await
            .map_err(ReportError::from)
            .map(|s| if json { to_json(&s) } else { sample::text(&s) })
        }
        None => {
            let q = report::Query { from, to, by, now };
            report::build(&db.pool, &q, &settings).await.map(|(r, _)| {
                if args.figures.json {
                    to_json(&r)
                } else if args.figures.csv {
                    render::csv(&r)
                } else {
                    render::text(&r)
                }
            })
        }
    };
    db.close().await;
    match result {
        Ok(out) => {
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("hotline: {e}; is the database up and migrated (`hotline migrate`)?");
            Ok(ExitCode::from(EXIT_DATABASE))
        }
    }
}
