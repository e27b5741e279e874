//! Built-in auto-answering agents: the far end of a bridged call in the
//! load benchmark (and wherever a test needs many agents' phones).
//!
//! Each agent registers with digest (REGISTER, the 401's challenge
//! answered with its password), answers every INVITE (180 at once, 200
//! with an SDP answer after [`AgentOptions::answer_after`]), talks back
//! (stamped G.711 silence every 20 ms, see [`super::stamp`]) and hears the
//! caller, and hangs up when the hotline does (200 to its BYE) or itself
//! after [`AgentOptions::hang_up_after`].
//!
//! Lean, because it shares the machine with the daemon it loads: agents
//! share SIP sockets ([`AgentOptions::per_socket`] to a socket, one task
//! per socket runs their registrations and dialogs and paces the RTP of
//! all their calls on one 20 ms tick); a call has its own RTP socket (the
//! hotline sends each leg to its own port) whose receiving task records
//! the caller's stamps and nothing else.

mod media;
mod phone;
mod register;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::stamp::StreamStats;

/// One agent's credentials, as in the roster.
#[derive(Debug, Clone)]
pub struct AgentLogin {
    pub user: String,
    pub password: String,
}

/// How the agents behave.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Between the 180 and the 200 (a person picking up).
    pub answer_after: Duration,
    /// Hang up (BYE) this long after answering; `None`: wait for the
    /// hotline's BYE.
    pub hang_up_after: Option<Duration>,
    /// Agents sharing one SIP socket and task.
    pub per_socket: usize,
    /// Registration lifetime asked for (`expires`).
    pub expires: Duration,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            answer_after: Duration::from_millis(200),
            hang_up_after: None,
            per_socket: 50,
            expires: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("HL-AGENT-IO: {0}")]
    Io(#[from] std::io::Error),
    #[error("HL-AGENT-REGISTER: {registered} of {total} agents registered within {limit:?} (check the users and passwords are in the roster and the realm matches)")]
    NotRegistered {
        registered: u64,
        total: u64,
        limit: Duration,
    },
}

/// Counters all agents' tasks add to.
#[derive(Default)]
pub(crate) struct Shared {
    registered: AtomicU64,
    register_refused: AtomicU64,
    invites: AtomicU64,
    answered: AtomicU64,
    acked: AtomicU64,
    cancelled: AtomicU64,
    byes_received: AtomicU64,
    byes_sent: AtomicU64,
    /// Calls whose INVITE came and which have not ended.
    active: AtomicU64,
    /// Stamped stream from callers, over every ended call.
    heard: Mutex<StreamStats>,
    /// Bumped at every change the waiters care about.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    fn add(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        self.bump();
    }
}

/// What the agents did, so far.
#[derive(Debug, Clone, Default)]
pub struct AgentReport {
    pub registered: u64,
    pub register_refused: u64,
    pub invites: u64,
    pub answered: u64,
    pub acked: u64,
    pub cancelled: u64,
    pub byes_received: u64,
    pub byes_sent: u64,
    pub active: u64,
    /// What arrived of the callers' stamped streams, over ended calls.
    pub heard: StreamStats,
}

/// A crowd of auto-answering agents; their tasks end when it is dropped.
pub struct Agents {
    shared: Arc<Shared>,
    total: u64,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Agents {
    /// Bind the sockets and start registering every agent with `server`.
    pub async fn start(
        server: SocketAddr,
        logins: Vec<AgentLogin>,
        opts: AgentOptions,
    ) -> Result<Agents, AgentError> {
        let shared = Arc::new(Shared {
            changed: watch::Sender::new(0),
            ..Shared::default()
        });
        let total = logins.len() as u64;
        let bind: SocketAddr = if server.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        }
        .parse()
        .expect("literal");
        let mut tasks = Vec::new();
        let mut logins = logins.into_iter().peekable();
        while logins.peek().is_some() {
            let mine: Vec<AgentLogin> = logins.by_ref().take(opts.per_socket.max(1)).collect();
            let sock = UdpSocket::bind(bind).await?;
            let phone = phone::Phone::new(sock, server, mine, opts.clone(), shared.clone())?;
            tasks.push(tokio::spawn(phone.run()));
        }
        Ok(Agents {
            shared,
            total,
            tasks,
        })
    }

    /// Wait until every agent is registered.
    pub async fn wait_registered(&self, limit: Duration) -> Result<(), AgentError> {
        let total = self.total;
        let ok = self
            .wait(limit, |s| s.registered.load(Ordering::Relaxed) >= total)
            .await;
        if ok {
            Ok(())
        } else {
            Err(AgentError::NotRegistered {
                registered: self.shared.registered.load(Ordering::Relaxed),
                total,
                limit,
            })
        }
    }

    /// Wait until no call is in progress; false after `limit`.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        self.wait(limit, |s| s.active.load(Ordering::Relaxed) == 0)
            .await
    }

    async fn wait(&self, limit: Duration, done: impl Fn(&Shared) -> bool) -> bool {
        let mut changed = self.shared.changed.subscribe();
        tokio::time::timeout(limit, async {
            loop {
                if done(&self.shared) {
                    return;
                }
                if changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok()
            && done(&self.shared)
    }

    pub fn report(&self) -> AgentReport {
        let s = &self.shared;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AgentReport {
            registered: n(&s.registered),
            register_refused: n(&s.register_refused),
            invites: n(&s.invites),
            answered: n(&s.answered),
            acked: n(&s.acked),
            cancelled: n(&s.cancelled),
            byes_received: n(&s.byes_received),
            byes_sent: n(&s.byes_sent),
            active: n(&s.active),
            heard: s.heard.lock().map(|h| h.clone()).unwrap_or_default(),
        }
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
