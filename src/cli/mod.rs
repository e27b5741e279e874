//! The `hotline` command line: the argument types, the configuration the
//! commands share, and the commands that are not a group of their own
//! (`run`, `check-config`, `migrate`, `status`). One module per command
//! group: [`tickets`], [`agents`], [`report`]; [`status`] asks a running daemon;
//! [`systemd`] tells systemd when we are ready. `main.rs` only parses and
//! dispatches.
//!
//! Exit codes, for every command: 0 done; 1 refused or failed (bad
//! configuration, unknown agent, duplicate user, bad tier, ...); 2 a usage
//! error (clap's); 3 the database failed (`agents` commands).

pub mod agents;
pub mod hours;
pub mod report;
pub mod status;
pub mod systemd;
pub mod tickets;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use hotline::config::{self, Config};
use hotline::tickets::db::{self, Database};

use crate::demo;
use agents::AgentsCommand;
use tickets::TicketsCommand;

#[derive(Parser)]
#[command(
    name = "hotline",
    version = hotline::shipped::version(),
    about = "SIP call intake for technical-support hotlines"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Overrides that apply to every command.
#[derive(Args)]
pub struct Global {
    /// Configuration file [default: ./config/hotline.toml, else /etc/hotline/hotline.toml, else built-in defaults]
    #[arg(long, global = true, env = "HOTLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (journal, recordings, embedded database)
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL; empty runs the embedded cluster
    #[arg(long, global = true, env = "HOTLINE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// SIP listen address (replaces sip.listen)
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub sip_listen: Option<String>,
    /// Admin HTTP listen address (replaces admin.listen)
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub admin_listen: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the daemon (on the embedded database when no URL is configured)
    Run,
    /// Start the daemon on loopback, call it with a built-in caller that
    /// presses keys, and print the call's progress and the ticket it made
    Demo,
    /// Validate the configuration; exit 1 listing every problem
    CheckConfig,
    /// Ask the running daemon (admin API): calls, journal backlog, flow, agents
    Status {
        /// JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Apply database migrations (idempotent)
    Migrate,
    /// Look at and create tickets
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// The desk's agents: roster, passwords, tiers and states
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// The desk's key figures beside the standard's targets; `report sample` for quality control
    Report(report::ReportArgs),
    /// Service hours: which tiers are staffed now and when that changes
    Hours {
        /// JSON for scripts
        #[arg(long)]
        json: bool,
    },
}

/// Run the parsed command line.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let (config, path) = match load_config(&cli.global) {
        Ok(c) => c,
        // `status` needs only the admin address: a configuration this user
        // may not read (/etc/hotline/hotline.toml is root:hotline 0640)
        // must not stop it.
        Err(e @ config::ConfigError::Read { .. })
            if matches!(cli.command, Command::Status { .. }) =>
        {
            eprintln!("hotline: {e}; asking the admin API at --admin-listen or the default");
            let mut c = Config::default();
            if let Some(a) = &cli.global.admin_listen {
                c.admin.listen = a.clone();
            }
            (c, PathBuf::from("(built-in defaults)"))
        }
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match cli.command {
        Command::CheckConfig => match hotline::daemon::load_flow(&config) {
            Ok(flow) => {
                println!("{}: configuration is valid", path.display());
                println!(
                    "{}: call flow {} is valid",
                    flow.file.display(),
                    flow.version()
                );
                println!(
                    "prompts: {} ({})",
                    flow.prompts.len(),
                    prompt_sources(&config)
                );
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
        Command::Status { json } => status::run(&config, json).await,
        Command::Demo => demo::run(config).await,
        Command::Tickets(cmd) => tickets::run(config, cmd).await,
        Command::Agents(cmd) => agents::run(config, cmd).await,
        Command::Report(args) => report::run(config, args).await,
        Command::Hours { json } => hours::run(&config, json),
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
        // Relative to where the command was typed, not to the file.
        let d = std::path::absolute(d).unwrap_or_else(|_| d.clone());
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

pub fn data_dir(config: &Config) -> PathBuf {
    config::resolve_data_dir(&config.daemon.data_dir)
}

pub fn open_db(config: &Config) -> anyhow::Result<Database> {
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
        systemd::notify(&format!(
            "READY=1\nSTATUS=SIP on {}; admin http://{}/",
            udp.join(", "),
            listening.admin
        ));
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// The prompt directories in use, lowest first, for `check-config`.
fn prompt_sources(config: &Config) -> String {
    let mut parts = vec!["built in".to_string()];
    for (dir, _) in hotline::daemon::flow_paths(config).prompts {
        if dir.is_dir() {
            parts.push(dir.display().to_string());
        }
    }
    parts.join(" < ")
}
