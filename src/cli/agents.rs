//! `hotline agents ...`: the roster from a shell or a script.
//!
//! Every command takes `--json` (the result on stdout as JSON; an error
//! as `{"error", "code"}` on stderr). Exit codes: 0 done, 1 refused
//! (unknown agent, duplicate user, bad tier, user name or password, agent
//! in a call), 2 usage (clap), 3 the database failed. The realm comes from
//! the configuration (`agents.realm`); the database is the configured one
//! (or `--database-url`), else the embedded cluster, as for `tickets`.
//!
//! Passwords: `--password-stdin` reads one line (scripts, no trace in `ps`
//! or shell history); `--password P` is there for quick tests. Neither is
//! ever printed or logged.

use std::io::Read;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Subcommand};
use serde_json::json;

use hotline::agents::store::parse_tiers;
use hotline::agents::{
    report, Actor, AgentError, AgentStore, NewAgent, Password, SipUser, Transition,
};
use hotline::config::Config;
use hotline::tickets::db;

use super::open_db;

/// Exit code for a refused operation.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code when the database failed (unreachable, migration failed).
pub const EXIT_DATABASE: u8 = 3;

/// What to check when the database fails.
const DB_HINT: &str =
    "; is PostgreSQL running? check database.url (or --database-url / HOTLINE_DATABASE_URL)";

/// Events `agents show` lists unless told otherwise.
const SHOW_EVENTS: i64 = 20;

#[derive(Subcommand)]
pub enum AgentsCommand {
    /// Add an agent; they are offline until they log in or their phone registers
    Add {
        /// SIP user name the phone registers with (also the digest username)
        #[arg(long)]
        user: String,
        /// Display name
        #[arg(long)]
        name: String,
        /// Tier: L1, L2 or L3; repeat (or separate with commas) for several
        #[arg(long = "tier", required = true, value_delimiter = ',')]
        tiers: Vec<String>,
        /// Prompt language [default: desk.language]
        #[arg(long)]
        language: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
        /// JSON for scripts (errors too, on stderr)
        #[arg(long)]
        json: bool,
    },
    /// Every agent: state and since when, registered contacts with expiry and reachability
    List {
        /// JSON for scripts (errors too, on stderr)
        #[arg(long)]
        json: bool,
    },
    /// One agent, their contacts and recent state changes
    Show {
        user: String,
        /// How many recent events
        #[arg(long, default_value_t = SHOW_EVENTS)]
        events: i64,
        /// JSON for scripts (errors too, on stderr)
        #[arg(long)]
        json: bool,
    },
    /// Replace an agent's tiers
    SetTier {
        user: String,
        /// One or more of L1, L2, L3
        #[arg(required = true, value_delimiter = ',')]
        tiers: Vec<String>,
        /// JSON for scripts (errors too, on stderr)
        #[arg(long)]
        json: bool,
    },
    /// Set an agent's password (both digest hashes, for agents.realm)
    Passwd {
        user: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// JSON for scripts (errors too, on stderr)
        #[arg(long)]
        json: bool,
    },
    /// Pause an agent (logged in, offered no calls)
    Pause {
        user: String,
        /// Why (kept with the state and in the events)
        #[arg(long)]
        reason: Option<String>,
        /// JSON for scripts (errors too, on stderr)
        #[arg(long)]
        json: bool,
    },
    /// Make an agent available again (also logs in a logged-out agent)
    Resume {
        user: String,
        /// JSON for scripts (errors too, on stderr)
        #[arg(long)]
        json: bool,
    },
    /// Log an agent out (offline)
    Logout {
        user: String,
        /// JSON for scripts (errors too, on stderr)
        #[arg(long)]
        json: bool,
    },
    /// Remove an agent and their registered contacts (their history stays)
    Remove {
        user: String,
        /// JSON for scripts (errors too, on stderr)
        #[arg(long)]
        json: bool,
    },
}

impl AgentsCommand {
    fn json(&self) -> bool {
        match self {
            Self::Add { json, .. }
            | Self::List { json }
            | Self::Show { json, .. }
            | Self::SetTier { json, .. }
            | Self::Passwd { json, .. }
            | Self::Pause { json, .. }
            | Self::Resume { json, .. }
            | Self::Logout { json, .. }
            | Self::Remove { json, .. } => *json,
        }
    }
}

/// Exactly one source for a password. No `Debug`: it holds the password.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct PasswordArgs {
    /// The password (visible in `ps` and shell history; prefer --password-stdin)
    #[arg(long)]
    password: Option<String>,
    /// Read the password from standard input (the first line; its newline is dropped)
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArgs {
    fn read(self) -> Result<Password, Failure> {
        if let Some(p) = self.password {
            return Ok(Password::new(p).map_err(AgentError::from)?);
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure {
                code: "HL-AGENT-PASSWORD",
                message: format!(
                    "HL-AGENT-PASSWORD: cannot read the password from stdin ({e}); pipe it in, e.g. `printf '%s\\n' \"$PW\" | hotline agents passwd USER --password-stdin`"
                ),
                exit: EXIT_REFUSED,
            })?;
        let line = text.split('\n').next().unwrap_or_default();
        let line = line.strip_suffix('\r').unwrap_or(line);
        Ok(Password::new(line).map_err(AgentError::from)?)
    }
}

/// A command that did not succeed: what to print and how to exit.
#[derive(Debug)]
struct Failure {
    code: &'static str,
    message: String,
    exit: u8,
}

impl From<AgentError> for Failure {
    fn from(e: AgentError) -> Self {
        let exit = if e.is_refusal() {
            EXIT_REFUSED
        } else {
            EXIT_DATABASE
        };
        let mut message = e.to_string();
        if !e.is_refusal() {
            message.push_str(DB_HINT);
        }
        Failure {
            code: e.code(),
            message,
            exit,
        }
    }
}

fn user(name: &str) -> Result<SipUser, Failure> {
    Ok(name.parse::<SipUser>().map_err(AgentError::from)?)
}

/// Run one `agents` command; the exit code says how it went.
pub async fn run(config: Config, cmd: AgentsCommand) -> anyhow::Result<ExitCode> {
    let json = cmd.json();
    let outcome = run_on_db(&config, cmd).await;
    Ok(match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if json {
                let text = f.message.clone();
                let message = text
                    .strip_prefix(f.code)
                    .and_then(|m| m.strip_prefix(": "))
                    .unwrap_or(&text);
                eprintln!("{}", json!({ "error": message, "code": f.code }));
            } else {
                eprintln!("hotline: {}", f.message);
            }
            ExitCode::from(f.exit)
        }
    })
}

async fn run_on_db(config: &Config, cmd: AgentsCommand) -> Result<(), Failure> {
    let db_failure = |e: &dyn std::fmt::Display| Failure {
        code: "HL-AGENT-DB",
        message: format!("HL-AGENT-DB: {e}{DB_HINT}"),
        exit: EXIT_DATABASE,
    };
    let db = open_db(config).map_err(|e| db_failure(&format!("{e:#}")))?;
    // The roster's tables come with a migration; apply it here so the
    // first `agents add` on a new database just works.
    let result = match db::migrate(&db.pool).await {
        Ok(()) => exec(&AgentStore::new(db.pool.clone()), config, cmd).await,
        Err(e) => Err(db_failure(&e)),
    };
    db.close().await;
    result
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Failure {
        code: "HL-AGENT-JSON",
        message: format!("HL-AGENT-JSON: {e}"),
        exit: EXIT_DATABASE,
    })?;
    println!("{text}");
    Ok(())
}

fn print_transition(user: &SipUser, t: Transition, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(&json!({
            "user": user, "from": t.from, "to": t.to, "changed": t.changed()
        }));
    }
    if t.changed() {
        println!("{user}: {} -> {}", t.from, t.to);
    } else {
        println!("{user}: already {}", t.to);
    }
    Ok(())
}

async fn exec(store: &AgentStore, config: &Config, cmd: AgentsCommand) -> Result<(), Failure> {
    let realm = &config.agents.realm;
    let now = Utc::now();
    match cmd {
        AgentsCommand::Add {
            user: name,
            name: display_name,
            tiers,
            language,
            password,
            json,
        } => {
            let new = NewAgent {
                user: user(&name)?,
                display_name,
                tiers: parse_tiers(&tiers)?,
                language: language.unwrap_or_else(|| config.desk.language.clone()),
                password: password.read()?,
                realm: realm.clone(),
            };
            let a = store.add(&new, Actor::Cli).await?;
            if json {
                print_json(&a)?;
            } else {
                let tiers: Vec<&str> = a.tiers.iter().map(|t| t.as_str()).collect();
                println!(
                    "added {} ({}), tiers {}, language {}, realm {}; offline until they log in or their phone registers",
                    a.user,
                    a.display_name,
                    tiers.join(" "),
                    a.language,
                    a.realm
                );
            }
        }
        AgentsCommand::List { json } => {
            let list = store.list().await?;
            if json {
                print_json(&list)?;
            } else {
                print!("{}", report::table(&list, now));
            }
        }
        AgentsCommand::Show {
            user: name,
            events,
            json,
        } => {
            let entry = store.get(&user(&name)?).await?;
            let events = store.events(entry.agent.id, events).await?;
            if json {
                print_json(&json!({
                    "agent": entry.agent, "bindings": entry.bindings, "events": events
                }))?;
            } else {
                print!("{}", report::detail(&entry, &events, now));
            }
        }
        AgentsCommand::SetTier {
            user: name,
            tiers,
            json,
        } => {
            let u = user(&name)?;
            let a = store.set_tiers(&u, &parse_tiers(&tiers)?).await?;
            if json {
                print_json(&a)?;
            } else {
                let tiers: Vec<&str> = a.tiers.iter().map(|t| t.as_str()).collect();
                println!("{}: tiers {}", a.user, tiers.join(" "));
            }
        }
        AgentsCommand::Passwd {
            user: name,
            password,
            json,
        } => {
            let u = user(&name)?;
            // Unknown user first: no point reading a password for nobody.
            store.id_of(&u).await?;
            let a = store.set_password(&u, &password.read()?, realm).await?;
            tracing::info!(agent = %a.user, realm = %a.realm, "agent password changed from the CLI");
            if json {
                print_json(&json!({ "user": a.user, "realm": a.realm, "password_set": true }))?;
            } else {
                println!(
                    "{}: password set for realm {}; their phones need the new one at their next registration",
                    a.user, a.realm
                );
            }
        }
        AgentsCommand::Pause {
            user: name,
            reason,
            json,
        } => {
            let u = user(&name)?;
            let id = store.id_of(&u).await?;
            let reason = reason.filter(|r| !r.trim().is_empty());
            let t = store.pause(id, reason.as_deref(), Actor::Cli).await?;
            print_transition(&u, t, json)?;
        }
        AgentsCommand::Resume { user: name, json } => {
            let u = user(&name)?;
            let id = store.id_of(&u).await?;
            print_transition(&u, store.resume(id, Actor::Cli).await?, json)?;
        }
        AgentsCommand::Logout { user: name, json } => {
            let u = user(&name)?;
            let id = store.id_of(&u).await?;
            print_transition(&u, store.logout(id, Actor::Cli).await?, json)?;
        }
        AgentsCommand::Remove { user: name, json } => {
            let u = user(&name)?;
            let id = store.remove(&u, Actor::Cli).await?;
            if json {
                print_json(&json!({ "user": u, "id": id, "removed": true }))?;
            } else {
                println!(
                    "removed {u} (id {id}) and their registered contacts; their history stays"
                );
            }
        }
    }
    Ok(())
}
