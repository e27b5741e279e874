//! `hotline run`: bind the listeners, open the ticket store, serve calls,
//! reload on SIGHUP, and shut down in one order on SIGTERM / Ctrl-C:
//! stop taking calls (503), drain calls in progress up to the drain
//! timeout (then BYE), stop the transports, flush the ticket journal, stop
//! the embedded database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState, AdminStatus, AgentSettings};
use crate::agents::AgentStore;
use crate::call::desk::{self, DeskSetup};
use crate::call::dispatch::DispatchStats;
use crate::call::dispatch::Dispatcher;
use crate::call::registrar::{self, RegistrarSetup};
use crate::call::{CallServices, CallSettings};
use crate::config::{Config, ConfigError};
use crate::ivr::registry::{load_checked, FlowPaths, LoadedFlow};
use crate::ivr::FlowProblem;
use crate::media::ports::PortAllocator;
use crate::routing;
use crate::sip::transport::{self, ReplyTo, Stats};
use crate::tickets::db::{self, DbError};
use crate::tickets::{repo, StoreError, StoreOptions, TicketStore};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("HL-SIP-BIND: cannot listen on {addr} (key sip.listen): {source}; is another SIP server using the port? choose another with --sip-listen ADDR:PORT")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HL-ADMIN-BIND: cannot listen on {addr} (key admin.listen): {source}; choose another with --admin-listen ADDR:PORT")]
    AdminBind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("HL-IVR-FLOW: the call flow cannot be used:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Flow(Vec<FlowProblem>),
    #[error(transparent)]
    Ports(#[from] crate::media::ports::PortError),
    #[error("HL-DATA-DIR: cannot create the data directory {}: {source}", dir.display())]
    DataDir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// What the daemon listens on, once bound.
#[derive(Debug, Clone)]
pub struct Listening {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub admin: SocketAddr,
}

/// Bind UDP and TCP on `addr`; with port 0 both get the same port.
async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), DaemonError> {
    let err = |source| DaemonError::Bind { addr, source };
    for _ in 0..16 {
        let udp = UdpSocket::bind(addr).await.map_err(err)?;
        let local = udp.local_addr().map_err(err)?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp)),
            // Port 0 gave a UDP port whose TCP twin is taken: try again.
            Err(_) if addr.port() == 0 => continue,
            Err(e) => return Err(err(e)),
        }
    }
    Err(err(std::io::Error::other(
        "no port free for both UDP and TCP",
    )))
}

/// The longest the start waits for migrations (a hung database reads as
/// down after it; a connection that cannot even be made fails sooner, at
/// `database.connect_timeout`).
const MIGRATE_AT_START: Duration = Duration::from_secs(60);

/// Run until SIGTERM/SIGINT. `reload` re-reads the configuration (on
/// SIGHUP, or when `config_file`, the flow or a prompt changes).
pub async fn run(
    config: Config,
    config_file: Option<&std::path::Path>,
    stop: CancellationToken,
    reload: impl Fn() -> Result<Config, ConfigError>,
    on_ready: impl FnOnce(&Listening, &str, &std::path::Path),
) -> Result<(), DaemonError> {
    let dir = crate::config::resolve_data_dir(&config.daemon.data_dir);
    // Callers' personal data lives here (journal, voice notes, recordings):
    // the daemon user's alone.
    let traverse = if config.database.url.is_empty() {
        crate::tickets::embedded::server_gid(&dir)
    } else {
        None
    };
    match crate::tickets::perms::data_dir(&dir, traverse) {
        Ok(Some(old)) => tracing::warn!(dir = %dir.display(), old_mode = %format!("{old:o}"),
            new_mode = if traverse.is_some() { "710" } else { "700" },
            "data directory was open to other users; tightened (it holds callers' personal data)"),
        Ok(None) => {}
        Err(source) => {
            return Err(DaemonError::DataDir {
                dir: dir.clone(),
                source,
            })
        }
    }
    let database = db::open_bounded(
        &config.database.url,
        &dir,
        config.database.pool_size,
        config.database.connect_timeout.as_duration(),
        config.database.statement_timeout.as_duration(),
    )?;
    // Bounded: a database that accepts and never answers must not hold the
    // start (the daemon starts and journals, and migrates on replay).
    match db::migrate_within(&database.pool, MIGRATE_AT_START).await {
        Ok(()) => {}
        Err(DbError::Migrate(sqlx::migrate::MigrateError::Execute(e)))
            if repo::is_unavailable(&e) =>
        {
            tracing::warn!(error = %e, "database unreachable at start; tickets go to the journal until it returns");
        }
        Err(e) => return Err(e.into()),
    }
    // From here on the embedded database runs: every exit path stops it.
    let result = serve(
        &config,
        config_file,
        stop,
        &database,
        &dir,
        reload,
        on_ready,
    )
    .await;
    database.close().await;
    result
}

/// Everything between opening the database and closing it.
#[allow(clippy::too_many_arguments)]
async fn serve(
    config: &Config,
    config_file: Option<&std::path::Path>,
    stop: CancellationToken,
    database: &db::Database,
    dir: &std::path::Path,
    reload: impl Fn() -> Result<Config, ConfigError>,
    on_ready: impl FnOnce(&Listening, &str, &std::path::Path),
) -> Result<(), DaemonError> {
    let (store, replayer) = TicketStore::open_with(
        database.pool.clone(),
        dir,
        StoreOptions {
            reserve: config.tickets.reserve_numbers,
            reserve_cover: config.tickets.reserve_cover.as_duration(),
            db_timeout: config.database.connect_timeout.as_duration(),
        },
    )
    .await?;

    // The flow and its prompts first: a bad file stops the start before
    // any port opens, with every problem named.
    let flow = Arc::new(load_flow(config).map_err(DaemonError::Flow)?);

    // Transports.
    let stop_transports = CancellationToken::new();
    let (inbound_tx, inbound_rx) = mpsc::channel(8192);
    let stats = Arc::new(Stats::default());
    let admin_error = |source| DaemonError::AdminBind {
        addr: config.admin.listen.clone(),
        source,
    };
    let admin_addr: SocketAddr = config
        .admin
        .listen
        .parse()
        .map_err(|_| admin_error(std::io::Error::other("not ADDRESS:PORT")))?;
    let admin_listener = TcpListener::bind(admin_addr).await.map_err(admin_error)?;
    let mut listening = Listening {
        udp: vec![],
        tcp: vec![],
        admin: admin_listener.local_addr().map_err(admin_error)?,
    };
    let mut transports = tokio::task::JoinSet::new();
    // Requests to agents' phones registered over UDP leave from here.
    let mut first_udp: Option<Arc<UdpSocket>> = None;
    for text in &config.sip.listen {
        let addr: SocketAddr = text.parse().map_err(|_| DaemonError::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source: std::io::Error::other(format!("`{text}` is not ADDRESS:PORT")),
        })?;
        let (udp, tcp) = bind(addr).await?;
        listening.udp.push(
            udp.local_addr()
                .map_err(|source| DaemonError::Bind { addr, source })?,
        );
        listening.tcp.push(
            tcp.local_addr()
                .map_err(|source| DaemonError::Bind { addr, source })?,
        );
        let udp = Arc::new(udp);
        first_udp.get_or_insert_with(|| udp.clone());
        transports.spawn(transport::run_udp(
            udp,
            inbound_tx.clone(),
            stats.clone(),
            stop_transports.clone(),
        ));
        transports.spawn(transport::run_tcp(
            tcp,
            inbound_tx.clone(),
            stats.clone(),
            config.sip.tcp_limits(),
            stop_transports.clone(),
        ));
    }
    drop(inbound_tx);

    // Calls.
    let primary = listening.udp[0];
    let (first, last) = config.media.port_range().unwrap_or((20000, 30000));
    let rtp_ip = config.media.address.parse().unwrap_or(primary.ip());
    let ports = PortAllocator::new(rtp_ip, first, last)?;
    let (settings_tx, settings_rx) = watch::channel(Arc::new(CallSettings::from_config(
        config,
        primary,
        flow.clone(),
    )));
    tracing::info!(flow = %flow.version(), "IVR flow loaded");
    let agents = AgentStore::new(database.pool.clone());
    let (registrar, registrar_inbox) = registrar::channel();
    let stop_desk = CancellationToken::new();
    let (desk, _routing, desk_task) = desk::spawn(
        DeskSetup {
            settings: routing::settings::Settings::from_config(config),
            agents: agents.clone(),
            tickets: store.clone(),
            registrar: registrar.clone(),
        },
        stop_desk.clone(),
    );
    let services = CallServices {
        ports,
        store: store.clone(),
        recordings: dir.join("recordings"),
        registrar: Some(registrar),
        agents: Some(agents.clone()),
        desk: config.routing.enabled.then_some(desk),
    };
    let (dispatcher, stats) = Dispatcher::new(settings_rx, services);
    let stop_registrar = CancellationToken::new();
    let registrar_task = registrar::spawn(
        RegistrarSetup {
            config: config.agents.clone(),
            store: agents,
            dispatch: dispatcher.sender(),
            udp: ReplyTo::Udp(
                first_udp
                    .clone()
                    .expect("sip.listen names at least one address"),
            ),
            local: primary,
        },
        registrar_inbox,
        stop_registrar.clone(),
    );
    let (status_tx, status_rx) = watch::channel(AdminStatus {
        flow_version: flow.version().to_string(),
        started_at: chrono::Utc::now(),
        ..AdminStatus::default()
    });
    let stop_admin = CancellationToken::new();
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        AdminState::new(store.clone(), status_rx)
            .with_agents(
                AgentStore::new(database.pool.clone()),
                AgentSettings::from_config(config),
            )
            .with_hours(std::sync::Arc::new(
                crate::hours::ServiceHours::from_config(&config.hours).unwrap_or_default(),
            ))
            .with_report(crate::report::Settings::from_config(config)),
        stop_admin.clone(),
    ));
    // The SLA clock without calls (one daemon at a time per database).
    let stop_sla_clock = CancellationToken::new();
    let sla_clock = config.sla_clock.enabled.then(|| {
        crate::tickets::scan::spawn(
            database.pool.clone(),
            crate::tickets::scan::ScanRules::from_config(config),
            config.sla_clock.scan_every.as_duration(),
            stop_sla_clock.clone(),
        )
    });
    let status_task = tokio::spawn(mirror_status(stats, settings_tx.subscribe(), status_tx));
    let (changed_tx, mut changed) = mpsc::channel(1);
    let watcher = tokio::spawn(watch_files(watched(config, config_file), changed_tx));
    let drain = CancellationToken::new();
    let mut dispatch_task = tokio::spawn(dispatcher.run(inbound_rx, drain.clone()));

    // Handlers before we announce ourselves: a SIGHUP that arrives right
    // after the "listening" line must reload, not kill (its default).
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    on_ready(&listening, &database.target, dir);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = stop.cancelled() => break,
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => break,
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => {
                apply_reload(&reload, &settings_tx, primary, "SIGHUP");
            }
            Some(()) = changed.recv() => apply_reload(&reload, &settings_tx, primary, "file change"),
            _ = &mut dispatch_task => {
                tracing::error!("dispatcher stopped unexpectedly");
                break;
            }
        }
    }

    watcher.abort();
    status_task.abort();
    drain.cancel();
    tracing::info!("shutting down: new calls get 503, calls in progress may finish");
    if !dispatch_task.is_finished() {
        // The dispatcher sends BYE at the drain timeout; allow it to finish.
        let limit = config.sip.drain_timeout.as_duration() + Duration::from_secs(5);
        let _ = tokio::time::timeout(limit, &mut dispatch_task).await;
    }
    stop_desk.cancel();
    let _ = desk_task.await;
    stop_registrar.cancel();
    let _ = registrar_task.await;
    stop_transports.cancel();
    stop_admin.cancel();
    let _ = admin_task.await;
    stop_sla_clock.cancel();
    if let Some(task) = sla_clock {
        let _ = task.await;
    }
    while transports.join_next().await.is_some() {}
    let left = store.shutdown(replayer, Duration::from_secs(5)).await;
    if left > 0 {
        tracing::warn!(
            pending = left,
            "journal entries stay on disk for the next start"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// The flow and prompts `config` names, validated against it.
pub fn load_flow(config: &Config) -> Result<LoadedFlow, Vec<FlowProblem>> {
    load_checked(&flow_paths(config), config)
}

/// The flow file (empty: built in) and the prompt layers over the built-in
/// prompts (see [`crate::shipped`]).
pub fn flow_paths(config: &Config) -> FlowPaths {
    let data = crate::config::resolve_data_dir(&config.daemon.data_dir);
    FlowPaths {
        flow: PathBuf::from(&config.ivr.flow),
        prompts: crate::shipped::prompt_layers(
            config.config_dir.as_deref(),
            &data,
            &config.media.prompts_dir,
        ),
    }
}

/// Re-read configuration, flow and prompts; apply all or nothing.
fn apply_reload(
    reload: &impl Fn() -> Result<Config, ConfigError>,
    settings: &watch::Sender<Arc<CallSettings>>,
    primary: SocketAddr,
    why: &str,
) {
    let loaded = reload().map_err(|e| e.to_string()).and_then(|new| {
        let flow = load_flow(&new).map_err(|problems| {
            problems
                .iter()
                .map(|p| format!("  {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        Ok((new, flow))
    });
    match loaded {
        Ok((new, flow)) => {
            let version = flow.version().to_string();
            settings.send_replace(Arc::new(CallSettings::from_config(
                &new,
                primary,
                Arc::new(flow),
            )));
            tracing::info!(%why, flow = %version, "configuration reloaded; new calls use it");
        }
        Err(e) => tracing::error!(%why, "reload refused; the running configuration stays:\n{e}"),
    }
}

/// The files whose change triggers a reload.
fn watched(config: &Config, config_file: Option<&std::path::Path>) -> Vec<PathBuf> {
    let paths = flow_paths(config);
    let mut files: Vec<PathBuf> = paths.prompts.into_iter().map(|(d, _)| d).collect();
    files.extend(Some(paths.flow).filter(|f| !f.as_os_str().is_empty()));
    files.extend(config_file.map(std::path::Path::to_path_buf));
    files
}

/// Newest modification time under `path` (a file, or a directory tree).
fn newest(path: &std::path::Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let mut t = meta.modified().ok()?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).ok()?.flatten() {
            if let Some(m) = newest(&entry.path()) {
                t = t.max(m);
            }
        }
    }
    Some(t)
}

/// Poll the watched files' modification times (every second; cheap, and
/// no inotify limits to hit) and say when one changed.
async fn watch_files(files: Vec<PathBuf>, changed: mpsc::Sender<()>) {
    let stamp = |files: &[PathBuf]| files.iter().map(|f| newest(f)).collect::<Vec<_>>();
    let mut last = stamp(&files);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = stamp(&files);
        if now != last {
            last = now;
            let _ = changed.try_send(());
        }
    }
}

/// Keep the admin page's status line in step with the dispatcher's
/// counters and the flow in force.
async fn mirror_status(
    mut stats: watch::Receiver<DispatchStats>,
    mut settings: watch::Receiver<Arc<CallSettings>>,
    status: watch::Sender<AdminStatus>,
) {
    loop {
        let s = *stats.borrow_and_update();
        let flow = settings.borrow_and_update().flow.version().to_string();
        status.send_modify(|a| {
            a.calls_active = s.calls_active as u64;
            a.calls_started = s.calls_started;
            a.rejected_busy = s.rejected_busy;
            a.flow_version = flow;
        });
        tokio::select! {
            r = stats.changed() => if r.is_err() { return },
            r = settings.changed() => if r.is_err() { return },
        }
    }
}
