//! The `hotline` command line: run the daemon, check configuration, apply
//! migrations, and look at tickets.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};
use clap::{Args, Parser, Subcommand};

use hotline::config::{self, Config};

mod demo;
use hotline::tickets::db::{self, Database};
use hotline::tickets::repo::{self, TicketFilter};
use hotline::tickets::{report, NewTicket, SlaPolicy, TicketNumber, TicketStore};

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "SIP call intake for technical-support hotlines"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Overrides that apply to every command.
#[derive(Args)]
struct Global {
    /// Configuration file [default: ./config/hotline.toml, else /etc/hotline/hotline.toml, else built-in defaults]
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (journal, recordings, embedded database)
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL; empty runs the embedded cluster
    #[arg(long, global = true, env = "HOTLINE_DATABASE_URL")]
    database_url: Option<String>,
    /// SIP listen address (replaces sip.listen)
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    sip_listen: Option<String>,
    /// Admin HTTP listen address (replaces admin.listen)
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    admin_listen: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (on the embedded database when no URL is configured)
    Run,
    /// Start the daemon on loopback, call it with a built-in caller that
    /// presses keys, and print the call's progress and the ticket it made
    Demo,
    /// Validate the configuration; exit 1 listing every problem
    CheckConfig,
    /// Apply database migrations (idempotent)
    Migrate,
    /// Look at and create tickets
    #[command(subcommand)]
    Tickets(TicketsCommand),
}

#[derive(Subcommand)]
enum TicketsCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOTLINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hotline: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hotline: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let (config, path) = match load_config(&cli.global) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match cli.command {
        Command::CheckConfig => match hotline::daemon::load_flow(&config) {
            Ok(flow) => {
                println!("{}: configuration is valid", path.display());
                println!("{}: call flow {} is valid", config.ivr.flow, flow.version());
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                eprintln!("HL-IVR-INVALID: {} problem(s):", problems.len());
                for p in problems {
                    eprintln!("  {p}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Migrate => {
            let db = open_db(&config)?;
            db::migrate(&db.pool).await?;
            println!("migrations applied to {}", db.target);
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => run(config, path, &cli.global).await,
        Command::Demo => demo::run(config).await,
        Command::Tickets(cmd) => tickets(config, cmd).await,
    }
}

/// Load the file (or defaults) and apply the command-line overrides; the
/// result is validated as a whole, so overrides are checked too.
fn load_config(g: &Global) -> Result<(Config, PathBuf), config::ConfigError> {
    let path = g.config.clone().or_else(|| {
        ["config/hotline.toml", "/etc/hotline/hotline.toml"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    });
    let (text, path) = match path {
        Some(p) => (
            std::fs::read_to_string(&p).map_err(|source| config::ConfigError::Read {
                file: p.clone(),
                source,
            })?,
            p,
        ),
        None => (String::new(), PathBuf::from("(built-in defaults)")),
    };
    let mut table: toml::Table = text.parse().unwrap_or_default();
    let mut set = |section: &str, key: &str, value: toml::Value| {
        let entry = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(Default::default()));
        if let toml::Value::Table(t) = entry {
            t.insert(key.into(), value);
        }
    };
    if let Some(d) = &g.data_dir {
        set("daemon", "data_dir", d.display().to_string().into());
    }
    if let Some(u) = &g.database_url {
        set("database", "url", u.clone().into());
    }
    if let Some(a) = &g.sip_listen {
        set("sip", "listen", toml::Value::Array(vec![a.clone().into()]));
    }
    if let Some(a) = &g.admin_listen {
        set("admin", "listen", a.clone().into());
    }
    // A syntax error must be reported from the original text, with lines.
    let merged = if text.parse::<toml::Table>().is_ok() {
        toml::to_string(&table).unwrap_or(text)
    } else {
        text
    };
    Ok((config::parse_str(&merged, &path)?, path))
}

fn data_dir(config: &Config) -> PathBuf {
    config::resolve_data_dir(&config.daemon.data_dir)
}

fn open_db(config: &Config) -> anyhow::Result<Database> {
    let dir = data_dir(config);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    Ok(db::open(
        &config.database.url,
        &dir,
        config.database.pool_size,
        config.database.connect_timeout.as_duration(),
    )?)
}

/// `path` is the file `config` came from (watched for changes when it
/// exists; the built-in defaults have none).
async fn run(config: Config, path: PathBuf, global: &Global) -> anyhow::Result<ExitCode> {
    let reload = || load_config(global).map(|(c, _)| c);
    let file = Some(path).filter(|p| p.exists());
    let stop = tokio_util::sync::CancellationToken::new();
    hotline::daemon::run(config, file.as_deref(), stop, reload, |listening, db, dir| {
        let udp: Vec<String> = listening.udp.iter().map(|a| format!("udp {a}")).collect();
        let tcp: Vec<String> = listening.tcp.iter().map(|a| format!("tcp {a}")).collect();
        println!("hotline: SIP listening on {}, {}", udp.join(", "), tcp.join(", "));
        println!("hotline: admin page and API on http://{}/", listening.admin);
        println!("hotline: tickets in {db}");
        println!("hotline: data directory {}", dir.display());
        let first = listening.udp[0];
        let host = if first.ip().is_unspecified() { "<this machine's IP>".to_string() } else { first.ip().to_string() };
        println!(
            "hotline: call it from a softphone: sip:hotline@{host}:{} (e.g. `baresip -e '/dial sip:hotline@{host}:{}'`)",
            first.port(),
            first.port()
        );
        println!("hotline: running; Ctrl-C or SIGTERM drains calls and stops, SIGHUP reloads the configuration");
    })
    .await?;
    Ok(ExitCode::SUCCESS)
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

async fn tickets(config: Config, cmd: TicketsCommand) -> anyhow::Result<ExitCode> {
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
                let v = serde_json::json!({ "ticket": t, "history": events });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", report::detail(&t, &events, now));
            }
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
