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

use crate::call::dispatch::Dispatcher;
use crate::call::CallSettings;
use crate::config::{Config, ConfigError};
use crate::media::ports::PortAllocator;
use crate::media::prompt::PromptCache;
use crate::sip::transport::{self, Stats};
use crate::tickets::db::{self, DbError};
use crate::tickets::{repo, StoreError, TicketStore};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("HL-SIP-BIND: cannot listen on {addr} (key sip.listen): {source}; is another SIP server using the port? choose another with --sip-listen ADDR:PORT")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Prompts(#[from] crate::media::prompt::PromptError),
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

/// Run until SIGTERM/SIGINT. `reload` re-reads the configuration (SIGHUP).
pub async fn run(
    config: Config,
    reload: impl Fn() -> Result<Config, ConfigError>,
    on_ready: impl FnOnce(&Listening, &str, &std::path::Path),
) -> Result<(), DaemonError> {
    let dir = crate::config::resolve_data_dir(&config.daemon.data_dir);
    std::fs::create_dir_all(&dir).map_err(|source| DaemonError::DataDir {
        dir: dir.clone(),
        source,
    })?;
    let database = db::open(
        &config.database.url,
        &dir,
        config.database.pool_size,
        config.database.connect_timeout.as_duration(),
    )?;
    match db::migrate(&database.pool).await {
        Ok(()) => {}
        Err(DbError::Migrate(sqlx::migrate::MigrateError::Execute(e)))
            if repo::is_unavailable(&e) =>
        {
            tracing::warn!(error = %e, "database unreachable at start; tickets go to the journal until it returns");
        }
        Err(e) => return Err(e.into()),
    }
    // From here on the embedded database runs: every exit path stops it.
    let result = serve(&config, &database, &dir, reload, on_ready).await;
    database.close().await;
    result
}

/// Everything between opening the database and closing it.
async fn serve(
    config: &Config,
    database: &db::Database,
    dir: &std::path::Path,
    reload: impl Fn() -> Result<Config, ConfigError>,
    on_ready: impl FnOnce(&Listening, &str, &std::path::Path),
) -> Result<(), DaemonError> {
    let (store, replayer) =
        TicketStore::open(database.pool.clone(), dir, config.tickets.reserve_numbers).await?;

    // Prompts first: a bad prompt file stops the start before any port opens.
    let prompts = Arc::new(PromptCache::load_dir(&config.media.prompts_dir)?);

    // Transports.
    let stop_transports = CancellationToken::new();
    let (inbound_tx, inbound_rx) = mpsc::channel(8192);
    let stats = Arc::new(Stats::default());
    let mut listening = Listening {
        udp: vec![],
        tcp: vec![],
    };
    let mut transports = tokio::task::JoinSet::new();
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
        transports.spawn(transport::run_udp(
            Arc::new(udp),
            inbound_tx.clone(),
            stats.clone(),
            stop_transports.clone(),
        ));
        transports.spawn(transport::run_tcp(
            tcp,
            inbound_tx.clone(),
            stats.clone(),
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
        prompts.clone(),
    )));
    let (dispatcher, _stats) = Dispatcher::new(settings_rx, ports);
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
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => break,
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => {
                let loaded = reload().map_err(|e| e.to_string()).and_then(|new| {
                    let prompts = PromptCache::load_dir(&new.media.prompts_dir).map_err(|e| e.to_string())?;
                    Ok((new, prompts))
                });
                match loaded {
                    Ok((new, prompts)) => {
                        settings_tx.send_replace(Arc::new(CallSettings::from_config(&new, primary, Arc::new(prompts))));
                        tracing::info!("configuration reloaded; new calls use it");
                    }
                    Err(e) => tracing::error!(error = %e, "reload refused; the running configuration stays"),
                }
            }
            _ = &mut dispatch_task => {
                tracing::error!("dispatcher stopped unexpectedly");
                break;
            }
        }
    }

    drain.cancel();
    tracing::info!("shutting down: new calls get 503, calls in progress may finish");
    if !dispatch_task.is_finished() {
        // The dispatcher sends BYE at the drain timeout; allow it to finish.
        let limit = config.sip.drain_timeout.as_duration() + Duration::from_secs(5);
        let _ = tokio::time::timeout(limit, &mut dispatch_task).await;
    }
    stop_transports.cancel();
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
