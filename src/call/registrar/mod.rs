//! The agents' phones: one task that owns the in-memory roster (digest
//! hashes), every registered binding, the digest authenticator and the
//! keep-alive of each binding. It is the shell around the sans-io
//! [`crate::sip::auth`] and [`crate::sip::registrar`], with
//! [`crate::agents::AgentStore`] behind it.
//!
//! The dispatcher hands REGISTERs over with `try_send` and never waits;
//! this task answers them through [`ToDispatch`]. A REGISTER is answered
//! from memory at once; its bindings reach PostgreSQL through one ordered
//! writer, so a slow or absent database never holds up a phone (and the
//! next refresh writes the bindings again if a write was lost).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

mod keepalive;

use super::ToDispatch;
use crate::agents::follow::follow;
use crate::agents::model::{Actor, BindingRecord, Credentials, Transport};
use crate::agents::{AgentId, AgentStore};
use crate::config::AgentsConfig;
use crate::sip::auth::{
    AuthConfig, AuthOutcome, Authenticator, ChallengeKind, NonceKey, StoredCredentials,
};
use crate::sip::message::{CallId, Request, Response};
use crate::sip::registrar::{self, Arrival, Binding, Limits};
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::{Kind, ReplyTo};
use keepalive::KeepaliveResult;

/// REGISTERs (and feature-code checks) waiting for the registrar at most;
/// past that the dispatcher answers 503 with Retry-After.
const QUEUE: usize = 1024;
/// Binding writes waiting for the database at most; past that a write is
/// dropped and counted (the phone's next refresh writes its bindings again).
const WRITE_QUEUE: usize = 4096;

/// Who a feature-code INVITE is from, or how to refuse it.
#[derive(Debug, Clone)]
pub enum Verdict {
    Agent {
        id: AgentId,
        user: String,
        language: String,
    },
    /// Answer the INVITE with this status and these headers (407 with the
    /// challenges, 403, 400).
    Refuse {
        status: u16,
        reason: &'static str,
        headers: Vec<(&'static str, String)>,
    },
}

/// A registered contact and how to reach it, as routing needs it.
#[derive(Debug, Clone)]
pub struct Contact {
    pub uri: String,
    /// Where the REGISTER came from: INVITEs go there (NAT).
    pub source: SocketAddr,
    pub reply: ReplyTo,
    pub reachable: bool,
}

/// What the registrar is asked.
pub enum Command {
    Register {
        key: TransactionKey,
        request: Box<Request>,
        source: SocketAddr,
        kind: Kind,
        reply: ReplyTo,
    },
    Authenticate {
        request: Box<Request>,
        source: SocketAddr,
        done: oneshot::Sender<Verdict>,
    },
    Contacts {
        agent: AgentId,
        /// The agent's bindings as PostgreSQL has them (maybe registered
        /// with another daemon).
        stored: Vec<BindingRecord>,
        done: oneshot::Sender<Vec<Contact>>,
    },
}

/// How calls and the dispatcher reach the registrar. Cheap to clone.
#[derive(Clone)]
pub struct RegistrarHandle {
    tx: mpsc::Sender<Command>,
}

impl RegistrarHandle {
    /// Hand a REGISTER over without waiting. A full queue gives the
    /// request back: the dispatcher answers it 503 with Retry-After.
    pub fn register(
        &self,
        key: TransactionKey,
        request: Request,
        source: SocketAddr,
        kind: Kind,
        reply: ReplyTo,
    ) -> Result<(), Box<Request>> {
        self.tx
            .try_send(Command::Register {
                key,
                request: Box::new(request),
                source,
                kind,
                reply,
            })
            .map_err(|e| match e.into_inner() {
                Command::Register { request, .. } => request,
                _ => unreachable!("the command sent was a Register"),
            })
    }

    /// Check the digest of a feature-code INVITE (407 challenge, as a PBX).
    pub async fn authenticate(&self, request: &Request, source: SocketAddr) -> Verdict {
        let (done, rx) = oneshot::channel();
        let sent = self.tx.try_send(Command::Authenticate {
            request: Box::new(request.clone()),
            source,
            done,
        });
        match (sent, rx.await) {
            (Ok(()), Ok(v)) => v,
            _ => Verdict::Refuse {
                status: 503,
                reason: "Service Unavailable",
                headers: vec![("Retry-After", "5".into())],
            },
        }
    }

    /// An agent's registered contacts, reachable or not.
    pub async fn contacts(&self, agent: AgentId) -> Vec<Contact> {
        self.contacts_or_stored(agent, Vec::new()).await
    }

    /// An agent's contacts: those registered here, and those of `stored`
    /// (the bindings in PostgreSQL) that are not: a phone registered with
    /// another daemon on the same database is rung through our UDP socket
    /// at the address it registered from. A TCP binding of another daemon
    /// is not reachable from here (its connection is there).
    pub async fn contacts_or_stored(
        &self,
        agent: AgentId,
        stored: Vec<BindingRecord>,
    ) -> Vec<Contact> {
        let (done, rx) = oneshot::channel();
        if self
            .tx
            .send(Command::Contacts {
                agent,
                stored,
                done,
            })
            .await
            .is_err()
        {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// A binding held in memory with what it takes to reach it.
struct Live {
    binding: Binding,
    /// The socket or TCP connection its REGISTER came over; `None` for a
    /// TCP binding loaded from the database after a restart (its
    /// connection is gone: it is unreachable until the phone re-registers).
    reply: Option<ReplyTo>,
    registered_at: DateTime<Utc>,
    failures: u32,
    reachable: bool,
    last_seen_at: DateTime<Utc>,
    /// A keep-alive is out and not yet answered.
    probing: bool,
    /// Our address as the phone knows it (Via and From of keep-alives).
    local: SocketAddr,
}

/// Database writes, applied in order by one task.
enum Write {
    Bindings {
        agent: AgentId,
        records: Vec<BindingRecord>,
        /// Log the agent in (login_on_register) if they are offline.
        login: bool,
    },
    Reachable {
        agent: AgentId,
        contact: String,
        reachable: bool,
        failures: u32,
    },
}

/// Everything the registrar runs with.
pub struct RegistrarSetup {
    pub config: AgentsConfig,
    pub store: AgentStore,
    pub dispatch: mpsc::Sender<ToDispatch>,
    /// The UDP socket requests to UDP bindings go out on.
    pub udp: ReplyTo,
    /// Our address for Via and Contact of keep-alives (`host:port`).
    pub local: SocketAddr,
}

/// The registrar's queue, made before the registrar runs: calls and the
/// dispatcher get the handle, [`spawn`] takes the inbox.
pub struct Inbox(mpsc::Receiver<Command>);

pub fn channel() -> (RegistrarHandle, Inbox) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (RegistrarHandle { tx }, Inbox(rx))
}

/// Start the registrar on `inbox`; it runs until `stop` is cancelled.
pub fn spawn(
    setup: RegistrarSetup,
    inbox: Inbox,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(setup, inbox.0, stop))
}

struct Registrar {
    config: AgentsConfig,
    limits: Limits,
    auth: Authenticator,
    store: AgentStore,
    /// By SIP user.
    roster: HashMap<String, Credentials>,
    bindings: HashMap<AgentId, Vec<Live>>,
    dispatch: mpsc::Sender<ToDispatch>,
    udp: ReplyTo,
    local: SocketAddr,
    writes: mpsc::Sender<Write>,
    keepalive_tx: mpsc::Sender<KeepaliveResult>,
}

async fn run(
    setup: RegistrarSetup,
    mut commands: mpsc::Receiver<Command>,
    stop: CancellationToken,
) {
    let (writes, write_rx) = mpsc::channel(WRITE_QUEUE);
    let writer = tokio::spawn(write_in_order(write_rx, setup.store.clone()));
    let (keepalive_tx, mut keepalive_rx) = mpsc::channel(QUEUE);
    let mut r = Registrar {
        limits: Limits::from_config(&setup.config),
        auth: Authenticator::new(AuthConfig::from_config(&setup.config), NonceKey::random()),
        config: setup.config,
        store: setup.store,
        roster: HashMap::new(),
        bindings: HashMap::new(),
        dispatch: setup.dispatch,
        udp: setup.udp,
        local: setup.local,
        writes,
        keepalive_tx,
    };
    // The digest hashes, now and after every roster change.
    let (roster_tx, mut roster_rx) = mpsc::channel::<(Vec<Credentials>, bool)>(4);
    let roster_task = tokio::spawn(follow(
        r.store.clone(),
        Duration::from_millis(200),
        |s| async move { s.all_credentials().await },
        roster_tx,
        stop.clone(),
    ));
    r.load_bindings().await;
    let mut keepalive = tokio::time::interval(r.config.keepalive_interval.as_duration());
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(cmd) = commands.recv() => r.on_command(cmd),
            Some(result) = keepalive_rx.recv() => r.on_keepalive(result),
            Some((roster, first)) = roster_rx.recv() => {
                let what = if first { "roster loaded" } else { "roster reloaded" };
                tracing::info!(agents = roster.len(), "{what}");
                r.set_roster(roster);
            }
            _ = keepalive.tick() => r.send_keepalives(),
            _ = sweep.tick() => r.sweep(Utc::now()),
        }
    }
    roster_task.abort();
    drop(r);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

async fn write_in_order(mut rx: mpsc::Receiver<Write>, store: AgentStore) {
    while let Some(w) = rx.recv().await {
        match w {
            Write::Bindings {
                agent,
                records,
                login,
            } => {
                if let Err(e) = store.replace_bindings(agent, &records).await {
                    tracing::error!(error = %e, agent = %agent, "bindings not stored");
                }
                if login {
                    login_if_offline(&store, agent).await;
                }
            }
            Write::Reachable {
                agent,
                contact,
                reachable,
                failures,
            } => {
                if let Err(e) = store
                    .mark_reachable(agent, &contact, reachable, failures)
                    .await
                {
                    tracing::warn!(error = %e, agent = %agent, "reachability not stored");
                }
            }
        }
    }
}

/// `agents.login_on_register`: a first binding logs an offline agent in.
async fn login_if_offline(store: &AgentStore, agent: AgentId) {
    match store
        .login_if_offline(agent, "registered", Actor::Phone)
        .await
    {
        Ok(t) if t.changed() => tracing::info!(agent = %agent, "agent logged in on registration"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, agent = %agent, "login on register failed"),
    }
}

impl Registrar {
    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Register {
                key,
                request,
                source,
                kind,
                reply,
            } => {
                let resp = self.register(&request, source, kind, reply);
                let _ = self.dispatch.try_send(ToDispatch::Respond {
                    key,
                    response: Box::new(resp),
                });
            }
            Command::Authenticate {
                request,
                source,
                done,
            } => {
                let _ = done.send(self.authenticate_invite(&request, source));
            }
            Command::Contacts {
                agent,
                stored,
                done,
            } => {
                let mut contacts: Vec<Contact> = self
                    .bindings
                    .get(&agent)
                    .into_iter()
                    .flatten()
                    .filter_map(|l| {
                        Some(Contact {
                            uri: l.binding.contact_uri.clone(),
                            source: l.binding.source,
                            reply: l.reply.clone()?,
                            reachable: l.reachable,
                        })
                    })
                    .collect();
                let now = Utc::now();
                for r in stored {
                    let known = self
                        .bindings
                        .get(&agent)
                        .is_some_and(|v| v.iter().any(|l| l.binding.contact_uri == r.contact_uri));
                    if known || r.expires_at <= now || r.transport != Transport::Udp {
                        continue;
                    }
                    tracing::debug!(agent = %agent, contact = %r.contact_uri, "ringing a binding stored by another daemon");
                    contacts.push(Contact {
                        uri: r.contact_uri,
                        source: r.source,
                        reply: self.udp.clone(),
                        reachable: r.reachable,
                    });
                }
                let _ = done.send(contacts);
            }
        }
    }

    fn set_roster(&mut self, all: Vec<Credentials>) {
        self.roster = all
            .into_iter()
            .filter(|c| c.realm == self.config.realm)
            .map(|c| (c.user.as_str().to_string(), c))
            .collect();
    }

    fn lookup(roster: &HashMap<String, Credentials>, user: &str) -> Option<StoredCredentials> {
        roster
            .get(user)
            .filter(|c| c.enabled)
            .map(|c| StoredCredentials {
                ha1_md5: c.ha1_md5.clone(),
                ha1_sha256: c.ha1_sha256.clone(),
            })
    }

    /// Digest-check a request; `Ok(credentials)` when it may go on.
    fn check(
        &mut self,
        req: &Request,
        kind: ChallengeKind,
        source: SocketAddr,
    ) -> Result<Credentials, Response> {
        let now = Utc::now();
        let roster = &self.roster;
        let outcome = self.auth.check(
            now,
            req.method().as_str(),
            kind.credentials(req),
            |u| Self::lookup(roster, u),
            source.ip(),
        );
        match outcome {
            AuthOutcome::Authenticated { user } => match self.roster.get(&user) {
                Some(c) => Ok(c.clone()),
                None => Err(Response::for_request(req, 403, "Forbidden")),
            },
            AuthOutcome::Challenge { stale } => Err(self.challenge(req, kind, now, stale)),
            AuthOutcome::Forbidden {
                user,
                reason,
                lockout,
            } => {
                tracing::info!(%user, %source, ?reason, "authentication failed");
                if let Some(l) = lockout {
                    tracing::warn!(user = %l.user, source = %l.source, until = %l.until.to_rfc3339(),
                        "too many failed authentications: source locked out");
                }
                Err(Response::for_request(req, 403, "Forbidden"))
            }
            AuthOutcome::LockedOut => {
                tracing::debug!(%source, "locked-out source refused");
                Err(Response::for_request(req, 403, "Forbidden"))
            }
            AuthOutcome::BadRequest(e) => {
                tracing::info!(%source, error = %e, "malformed credentials");
                Err(Response::for_request(req, 400, "Bad Request (credentials)"))
            }
        }
    }

    /// The 401/407: SHA-256 then MD5, or MD5 alone for phones known to
    /// stop at the first algorithm they do not know.
    fn challenge(
        &self,
        req: &Request,
        kind: ChallengeKind,
        now: DateTime<Utc>,
        stale: bool,
    ) -> Response {
        let agent = req
            .headers()
            .get("User-Agent")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let md5_only = self
            .config
            .md5_only_user_agents
            .iter()
            .any(|p| !p.is_empty() && agent.starts_with(&p.to_ascii_lowercase()));
        if !md5_only {
            return self.auth.challenge_response(req, kind, now, stale);
        }
        let [_, md5] = self.auth.challenges(now, stale);
        let mut resp = Response::for_request(req, kind.status(), kind.reason());
        resp.headers.push(kind.challenge_header(), md5);
        resp
    }

    fn register(
        &mut self,
        req: &Request,
        source: SocketAddr,
        kind: Kind,
        reply: ReplyTo,
    ) -> Response {
        if let Err(refusal) = registrar::check_aor(req) {
            tracing::info!(code = %refusal.code(), error = %refusal, "REGISTER refused");
            return registrar::refusal_response(req, &refusal);
        }
        let agent = match self.check(req, ChallengeKind::Www, source) {
            Ok(a) => a,
            Err(resp) => return resp,
        };
        // RFC 3261 §10.3 step 6: nobody registers someone else's address.
        if registrar::aor_user(req).as_deref() != Some(agent.user.as_str()) {
            tracing::info!(user = %agent.user.as_str(), to = %req.to().uri, "REGISTER for another address refused");
            return Response::for_request(req, 403, "Forbidden (not your address)");
        }
        let now = Utc::now();
        let current: Vec<Binding> = self
            .bindings
            .get(&agent.id)
            .map(|v| v.iter().map(|l| l.binding.clone()).collect())
            .unwrap_or_default();
        let arrival = Arrival {
            now,
            source,
            transport: kind,
        };
        let update = match registrar::register(req, &current, &arrival, &self.limits) {
            Ok(u) => u,
            Err(refusal) => {
                tracing::info!(user = %agent.user.as_str(), code = %refusal.code(), error = %refusal, "REGISTER refused");
                return registrar::refusal_response(req, &refusal);
            }
        };
        let resp = registrar::ok_response(req, &update.bindings, now);
        if update.changed() || !update.refreshed.is_empty() {
            tracing::info!(user = %agent.user.as_str(), added = ?update.added, removed = ?update.removed,
                refreshed = update.refreshed.len(), "registration");
            let was_empty = current.is_empty();
            let local = self.our_address(req);
            let old = self.bindings.remove(&agent.id).unwrap_or_default();
            let live: Vec<Live> = update
                .bindings
                .into_iter()
                .map(|b| {
                    let previous = old.iter().find(|o| o.binding.contact_uri == b.contact_uri);
                    let fresh = previous.is_none()
                        || previous.is_some_and(|p| p.binding.source != b.source);
                    Live {
                        reply: if fresh || previous.is_some_and(|p| p.reply.is_none()) {
                            Some(reply.clone())
                        } else {
                            previous.and_then(|p| p.reply.clone())
                        },
                        registered_at: previous.map_or(now, |p| p.registered_at),
                        // A REGISTER is proof of life.
                        failures: 0,
                        reachable: true,
                        last_seen_at: now,
                        probing: false,
                        local,
                        binding: b,
                    }
                })
                .collect();
            let login = self.config.login_on_register && was_empty && !live.is_empty();
            let records = live.iter().map(record_of).collect();
            if !live.is_empty() {
                self.bindings.insert(agent.id, live);
            }
            self.write(Write::Bindings {
                agent: agent.id,
                records,
                login,
            });
        }
        resp
    }

    fn authenticate_invite(&mut self, req: &Request, source: SocketAddr) -> Verdict {
        match self.check(req, ChallengeKind::Proxy, source) {
            Ok(c) => Verdict::Agent {
                id: c.id,
                user: c.user.as_str().to_string(),
                language: c.language.clone(),
            },
            Err(resp) => Verdict::Refuse {
                status: resp.status,
                reason: match resp.status {
                    407 => "Proxy Authentication Required",
                    400 => "Bad Request",
                    _ => "Forbidden",
                },
                headers: resp
                    .headers
                    .get_all(ChallengeKind::Proxy.challenge_header())
                    .map(|v| (ChallengeKind::Proxy.challenge_header(), v.to_string()))
                    .collect(),
            },
        }
    }

    /// The address the phone registered to (the REGISTER's Request-URI
    /// names us), else our listening address.
    fn our_address(&self, req: &Request) -> SocketAddr {
        req.uri()
            .host()
            .and_then(|h| h.trim_matches(['[', ']']).parse().ok())
            .map(|ip| SocketAddr::new(ip, self.local.port()))
            .unwrap_or_else(|| self.our_address_fallback())
    }

    fn our_address_fallback(&self) -> SocketAddr {
        if self.local.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), self.local.port())
        } else {
            self.local
        }
    }

    fn write(&self, w: Write) {
        if self.writes.try_send(w).is_err() {
            tracing::warn!("binding write queue full: write dropped (the next refresh repeats it)");
        }
    }

    /// Bindings survive a restart: load them (UDP ones are reachable
    /// through our socket; TCP ones wait for the phone to reconnect).
    async fn load_bindings(&mut self) {
        let all = match self.store.all_bindings().await {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!(error = %e, "bindings not loaded; phones re-register");
                return;
            }
        };
        let now = Utc::now();
        for b in all {
            let r = b.record;
            if r.expires_at <= now {
                continue;
            }
            let (kind, reply) = match r.transport {
                Transport::Udp => (Kind::Udp, Some(self.udp.clone())),
                Transport::Tcp | Transport::Tls => (Kind::Tcp, None),
            };
            let live = Live {
                binding: Binding {
                    contact_uri: r.contact_uri,
                    expires_at: r.expires_at,
                    call_id: CallId(r.call_id),
                    cseq: r.cseq,
                    source: r.source,
                    transport: kind,
                    instance: r.instance,
                    reg_id: r.reg_id,
                    q: None,
                    user_agent: r.user_agent,
                },
                reachable: r.reachable && reply.is_some(),
                reply,
                registered_at: r.registered_at,
                failures: r.failures,
                last_seen_at: r.last_seen_at,
                probing: false,
                local: self.our_address_fallback(),
            };
            self.bindings.entry(b.agent_id).or_default().push(live);
        }
        let n: usize = self.bindings.values().map(Vec::len).sum();
        tracing::info!(bindings = n, "registered bindings loaded");
    }

    /// Drop bindings that expired (the database sweeps its own copy).
    fn sweep(&mut self, now: DateTime<Utc>) {
        let mut changed = Vec::new();
        self.bindings.retain(|agent, lives| {
            let before = lives.len();
            lives.retain(|l| l.binding.expires_at > now);
            if lives.len() != before {
                changed.push((*agent, lives.iter().map(record_of).collect::<Vec<_>>()));
            }
            !lives.is_empty()
        });
        for (agent, records) in changed {
            tracing::info!(agent = %agent, left = records.len(), "registration expired");
            self.write(Write::Bindings {
                agent,
                records,
                login: false,
            });
        }
    }
}

fn record_of(l: &Live) -> BindingRecord {
    let b = &l.binding;
    BindingRecord {
        contact_uri: b.contact_uri.clone(),
        expires_at: b.expires_at,
        call_id: b.call_id.to_string(),
        cseq: b.cseq,
        source: b.source,
        transport: match b.transport {
            Kind::Udp => Transport::Udp,
            Kind::Tcp => Transport::Tcp,
        },
        instance: b.instance.clone(),
        reg_id: b.reg_id,
        user_agent: b.user_agent.clone(),
        registered_at: l.registered_at,
        reachable: l.reachable,
        failures: l.failures,
        last_seen_at: l.last_seen_at,
    }
}
