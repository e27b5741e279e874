//! The UAS core: one task that owns the transaction table and the map of
//! live dialogs, answers what needs no call (OPTIONS, REGISTER, CANCEL,
//! rejections, 503 when full or draining), starts a call task for each new
//! INVITE, and routes in-dialog requests to their call.
//!
//! It never waits on a call: calls get events through bounded queues and
//! answer through [`ToDispatch`] messages, so one slow call cannot stall
//! signalling for the others.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::route::{classify, RequestRoute};
use super::session::{self, CallPurpose, CallSetup};
use super::{CallEvent, CallHandle, CallServices, CallSettings, ToDispatch};
use crate::sip::dialog::{new_local_tag, DialogId};
use crate::sip::identity::caller_identity;
use crate::sip::message::{Message, Request, Response};
use crate::sip::transaction::{Incoming, Output, Reliability, TransactionKey, TransactionTable};
use crate::sip::transport::{self, Inbound, Kind, ReplyTo};
use crate::sip::validate::{rejection_headers, validate_request};

/// Seconds a refused caller is told to wait (Retry-After on 503).
const RETRY_AFTER_SECS: u32 = 30;

/// Where a transaction's messages go.
struct Route {
    reply: ReplyTo,
    dest: std::net::SocketAddr,
    kind: Kind,
}

/// Counters for tests, metrics and the shutdown log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchStats {
    pub calls_started: u64,
    pub calls_active: usize,
    pub rejected_busy: u64,
}

/// The dispatcher's state. Run it with [`Dispatcher::run`].
pub struct Dispatcher {
    settings: watch::Receiver<Arc<CallSettings>>,
    table: TransactionTable,
    routes: HashMap<TransactionKey, Route>,
    calls: HashMap<DialogId, CallHandle>,
    invites: HashMap<TransactionKey, DialogId>,
    waiting: HashMap<TransactionKey, oneshot::Sender<Option<Response>>>,
    /// Agents' legs: their dialogs and the call that owns each (kept
    /// apart from `calls`, which counts calls for limits and stats).
    legs: HashMap<DialogId, CallHandle>,
    /// Our INVITEs (agents' legs) and the call each belongs to.
    uac: HashMap<TransactionKey, CallHandle>,
    /// Responses calls asked to send outside a transaction (2xx resends).
    transmit: Vec<(ReplyTo, std::net::SocketAddr, Response)>,
    to_dispatch: mpsc::Sender<ToDispatch>,
    from_calls: mpsc::Receiver<ToDispatch>,
    draining: bool,
    stats: watch::Sender<DispatchStats>,
    services: CallServices,
}

impl Dispatcher {
    /// A dispatcher whose calls use the settings current in `settings`
    /// when they start (a reload swaps them for new calls only).
    pub fn new(
        settings: watch::Receiver<Arc<CallSettings>>,
        services: CallServices,
    ) -> (Self, watch::Receiver<DispatchStats>) {
        let (to_dispatch, from_calls) = mpsc::channel(4096);
        let timers = settings.borrow().timers;
        let (stats, stats_rx) = watch::channel(DispatchStats::default());
        (
            Self {
                settings,
                table: TransactionTable::new(timers),
                routes: HashMap::new(),
                calls: HashMap::new(),
                invites: HashMap::new(),
                waiting: HashMap::new(),
                uac: HashMap::new(),
                legs: HashMap::new(),
                transmit: Vec::new(),
                to_dispatch,
                from_calls,
                draining: false,
                stats,
                services,
            },
            stats_rx,
        )
    }

    /// Serve until `inbound` closes. `drain` starts the shutdown: new calls
    /// get 503, calls in progress get until `drain_timeout`, then
    /// [`CallEvent::Shutdown`]. Returns when draining and no call is left.
    pub async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>, drain: CancellationToken) {
        let mut shutdown_at: Option<tokio::time::Instant> = None;
        loop {
            let next = self.table.poll_timeout();
            let sleep_until = next.map(tokio::time::Instant::from_std).unwrap_or_else(|| {
                tokio::time::Instant::now() + std::time::Duration::from_secs(3600)
            });
            tokio::select! {
                // In order: draining first (once the token is cancelled no
                // new call may slip in ahead of it), then the calls' own
                // work, then new input, then timers.
                biased;
                _ = drain.cancelled(), if !self.draining => {
                    self.draining = true;
                    let timeout = self.settings.borrow().drain_timeout;
                    shutdown_at = Some(tokio::time::Instant::now() + timeout);
                    tracing::info!(calls = self.calls.len(), ?timeout, "draining: new calls get 503");
                }
                Some(cmd) = self.from_calls.recv() => self.on_command(cmd),
                m = inbound.recv() => match m {
                    Some(m) => self.on_inbound(m),
                    None => break,
                },
                _ = tokio::time::sleep_until(sleep_until) => {
                    self.table.handle_timeout(Instant::now());
                }
                _ = async { tokio::time::sleep_until(shutdown_at.unwrap_or_else(tokio::time::Instant::now)).await }, if shutdown_at.is_some() => {
                    shutdown_at = None;
                    for call in self.calls.values() {
                        call.send(CallEvent::Shutdown);
                    }
                }
            }
            self.flush().await;
            self.publish();
            if self.draining && self.calls.is_empty() {
                // Our BYEs went out on their first send; the peers' 200s
                // are not needed to exit.
                break;
            }
        }
    }

    /// The call a dialog belongs to: a caller's, or an agent's leg of one.
    fn call_of(&self, id: &DialogId) -> Option<&CallHandle> {
        self.calls.get(id).or_else(|| self.legs.get(id))
    }

    /// Where calls and the registrar send their [`ToDispatch`] requests.
    pub fn sender(&self) -> mpsc::Sender<ToDispatch> {
        self.to_dispatch.clone()
    }

    fn publish(&self) {
        self.stats.send_if_modified(|s| {
            let active = self.calls.len();
            if s.calls_active != active {
                s.calls_active = active;
                true
            } else {
                false
            }
        });
    }

    fn on_inbound(&mut self, inbound: Inbound) {
        let now = Instant::now();
        let rel = reliability(inbound.kind);
        match inbound.message {
            Message::Request(req) => match self.table.on_request(now, req, rel) {
                Incoming::New(key) => {
                    self.routes.insert(
                        key,
                        Route {
                            reply: inbound.reply,
                            dest: inbound.source,
                            kind: inbound.kind,
                        },
                    );
                }
                Incoming::Ack(ack) => {
                    if let Some(call) =
                        DialogId::for_incoming(&ack).and_then(|id| self.call_of(&id))
                    {
                        call.send(CallEvent::Ack(ack));
                    }
                }
                Incoming::Matched(_) | Incoming::Stray => {}
            },
            Message::Response(resp) => {
                self.table.on_response(now, resp);
            }
        }
    }

    fn on_command(&mut self, cmd: ToDispatch) {
        let now = Instant::now();
        match cmd {
            ToDispatch::Respond { key, response } => {
                self.table.respond(now, &key, *response);
            }
            ToDispatch::Request {
                request,
                dest,
                reply,
                done,
            } => {
                let kind = kind_of(&reply);
                let rel = reliability(kind);
                let key = self.table.send_request(now, *request, rel);
                self.routes.insert(key.clone(), Route { reply, dest, kind });
                if let Some(done) = done {
                    self.waiting.insert(key, done);
                }
            }
            ToDispatch::Invite {
                request,
                dest,
                reply,
                call,
            } => {
                let kind = kind_of(&reply);
                let rel = reliability(kind);
                let key = self.table.send_invite(now, *request, rel);
                self.routes.insert(key.clone(), Route { reply, dest, kind });
                self.uac.insert(key, call);
            }
            ToDispatch::Cancel { invite, request } => {
                let rel = reliability(self.routes.get(&invite).map_or(Kind::Udp, |r| r.kind));
                if let Some(key) = self.table.cancel(now, &invite, *request, rel) {
                    if let Some(route) = self.routes.get(&invite) {
                        let route = Route {
                            reply: route.reply.clone(),
                            dest: route.dest,
                            kind: route.kind,
                        };
                        self.routes.insert(key, route);
                    }
                }
            }
            ToDispatch::Ack { invite, request } => {
                self.table.send_ack(&invite, *request);
            }
            ToDispatch::AddDialog { dialog, call } => {
                self.legs.insert(dialog, call);
            }
            ToDispatch::RemoveDialog { dialog } => {
                self.legs.remove(&dialog);
            }
            ToDispatch::Transmit {
                response,
                dest,
                reply,
            } => self.transmit.push((reply, dest, *response)),
            ToDispatch::Ended { dialog } => {
                self.calls.remove(&dialog);
                self.invites.retain(|_, d| *d != dialog);
            }
        }
    }

    /// Act on every output the transactions produced.
    async fn flush(&mut self) {
        for (reply, dest, resp) in std::mem::take(&mut self.transmit) {
            let _ = transport::send_response(&reply, dest, &resp).await;
        }
        while let Some((key, out)) = self.table.poll_output() {
            match out {
                Output::SendResponse(resp) => {
                    if let Some(route) = self.routes.get(&key) {
                        let _ = transport::send_response(&route.reply, route.dest, &resp).await;
                    }
                }
                Output::SendRequest(req) => {
                    if let Some(route) = self.routes.get(&key) {
                        let _ = transport::send_to(&route.reply, route.dest, &req.to_bytes()).await;
                    }
                }
                Output::PassRequest(req) => self.on_request(key, req),
                Output::PassResponse(resp) if self.uac.contains_key(&key) => {
                    if let Some(call) = self.uac.get(&key) {
                        call.send(CallEvent::Response {
                            key,
                            response: Box::new(resp),
                        });
                    }
                }
                Output::PassResponse(resp) => {
                    if resp.is_final() {
                        if let Some(done) = self.waiting.remove(&key) {
                            let _ = done.send(Some(resp));
                        }
                    }
                }
                Output::Timeout if self.uac.contains_key(&key) => {
                    if let Some(call) = self.uac.get(&key) {
                        call.send(CallEvent::InviteTimedOut { key });
                    }
                }
                Output::Timeout => {
                    if let Some(done) = self.waiting.remove(&key) {
                        let _ = done.send(None);
                    }
                }
                Output::Terminated => {
                    // The INVITE transaction may end while its dialog
                    // lives on: a CANCEL can no longer find it, rightly.
                    self.routes.remove(&key);
                    self.waiting.remove(&key);
                    self.uac.remove(&key);
                    self.invites.remove(&key);
                }
            }
        }
    }

    fn respond(&mut self, key: &TransactionKey, resp: Response) {
        self.table.respond(Instant::now(), key, resp);
    }

    fn reject(
        &mut self,
        key: &TransactionKey,
        req: &Request,
        status: u16,
        reason: &str,
        headers: Vec<(&str, String)>,
    ) {
        let mut resp = Response::for_request(req, status, reason);
        for (n, v) in headers {
            resp.headers.push(n, v);
        }
        self.respond(key, resp);
    }

    /// A new request reached the TU (RFC 3261 §8.2): validate it, then
    /// hand it to whoever serves its kind ([`classify`]).
    fn on_request(&mut self, key: TransactionKey, req: Request) {
        let settings = self.settings.borrow().clone();
        let (calls, legs) = (&self.calls, &self.legs);
        let accepted = match validate_request(&req, &settings.policy, |id| {
            calls.contains_key(id) || legs.contains_key(id)
        }) {
            Ok(a) => a,
            Err(e) => {
                tracing::info!(code = %e.code(), method = %req.method(), call_id = %req.call_id(), error = %e, "request refused");
                let headers = rejection_headers(&e, &settings.policy);
                return self.reject(&key, &req, e.status(), &e.reason(), headers);
            }
        };
        match classify(&req) {
            RequestRoute::NewCall => self.new_call(key, req, accepted, settings),
            // Without the agents' registrar a feature code is a call.
            RequestRoute::FeatureCode(code) if self.services.registrar.is_some() => {
                self.start_call(key, req, accepted, settings, CallPurpose::Feature(code))
            }
            RequestRoute::FeatureCode(_) => self.new_call(key, req, accepted, settings),
            RequestRoute::InDialog(dialog) => match dialog.and_then(|id| self.call_of(&id)) {
                Some(call) => call.send(CallEvent::Request {
                    key,
                    request: Box::new(req),
                    accepted,
                }),
                None => self.reject(&key, &req, 481, "Call/Transaction Does Not Exist", vec![]),
            },
            RequestRoute::Register => self.register(key, req),
            RequestRoute::Cancel => match self.table.cancel_target(&key) {
                Some(invite) => {
                    let resp = Response::for_request(&req, 200, "OK");
                    self.respond(&key, resp);
                    if let Some(call) = self.invites.get(&invite).and_then(|d| self.calls.get(d)) {
                        call.send(CallEvent::Cancel);
                    }
                }
                None => self.reject(&key, &req, 481, "Call/Transaction Does Not Exist", vec![]),
            },
            RequestRoute::Options => {
                // Usable as a health check: 200 while serving, 503 draining.
                let (status, reason) = if self.draining {
                    (503, "Service Unavailable")
                } else {
                    (200, "OK")
                };
                let headers = vec![
                    ("Allow", settings.policy.allow_header()),
                    ("Accept", "application/sdp".to_string()),
                    ("Supported", settings.policy.supported_header()),
                ];
                self.reject(&key, &req, status, reason, headers);
            }
            RequestRoute::NotAllowed => self.reject(
                &key,
                &req,
                405,
                "Method Not Allowed",
                vec![("Allow", settings.policy.allow_header())],
            ),
        }
    }

    /// Hand a REGISTER to the agents' registrar (it answers by itself).
    fn register(&mut self, key: TransactionKey, req: Request) {
        let (Some(registrar), Some(route)) = (&self.services.registrar, self.routes.get(&key))
        else {
            return self.reject(&key, &req, 501, "Not Implemented", vec![]);
        };
        if let Err(req) = registrar.register(
            key.clone(),
            req,
            route.dest,
            route.kind,
            route.reply.clone(),
        ) {
            tracing::warn!(call_id = %req.call_id(), "REGISTER refused: the registrar's queue is full");
            self.reject(
                &key,
                &req,
                503,
                "Service Unavailable",
                vec![("Retry-After", "5".into())],
            );
        }
    }

    fn new_call(
        &mut self,
        key: TransactionKey,
        req: Request,
        accepted: crate::sip::validate::Accepted,
        settings: Arc<CallSettings>,
    ) {
        self.start_call(key, req, accepted, settings, CallPurpose::Intake)
    }

    fn start_call(
        &mut self,
        key: TransactionKey,
        req: Request,
        accepted: crate::sip::validate::Accepted,
        settings: Arc<CallSettings>,
        purpose: CallPurpose,
    ) {
        let received_at = Utc::now();
        let busy = self.calls.len() >= settings.max_calls;
        if self.draining || busy {
            if busy {
                self.stats.send_modify(|s| s.rejected_busy += 1);
            }
            super::intake::record_unanswered(
                &self.services.store,
                crate::tickets::CallRecord::ended_before_intake(
                    req.call_id().to_string(),
                    req.from().uri.user().unwrap_or_default(),
                    received_at,
                    None,
                    received_at,
                    crate::tickets::EndReason::Rejected503,
                    None,
                ),
            );
            let why = if self.draining {
                "shutting down"
            } else {
                "call limit reached"
            };
            tracing::warn!(call_id = %req.call_id(), why, "503 to a new call");
            return self.reject(
                &key,
                &req,
                503,
                "Service Unavailable",
                vec![("Retry-After", RETRY_AFTER_SECS.to_string())],
            );
        }
        let Some(route) = self.routes.get(&key) else {
            return;
        };
        let local_tag = new_local_tag();
        let Some(remote_tag) = req.from().tag() else {
            return self.reject(&key, &req, 400, "Bad Request (From tag missing)", vec![]);
        };
        let dialog = DialogId {
            call_id: req.call_id().clone(),
            local_tag,
            remote_tag,
        };
        let caller = caller_identity(&req, route.dest.ip(), &settings.trusted_peers);
        let (handle, rx) = CallHandle::channel();
        let setup = CallSetup {
            invite: req,
            invite_key: key.clone(),
            dialog: dialog.clone(),
            accepted,
            caller,
            source: route.dest,
            reply: route.reply.clone(),
            kind: route.kind,
            received_at,
            received: Instant::now(),
            settings,
            services: self.services.clone(),
            purpose,
            handle: handle.clone(),
        };
        self.calls.insert(dialog.clone(), handle);
        self.invites.insert(key, dialog);
        self.stats.send_modify(|s| s.calls_started += 1);
        tokio::spawn(session::run(setup, rx, self.to_dispatch.clone()));
    }
}

/// The transport a reply handle sends over.
fn kind_of(reply: &ReplyTo) -> Kind {
    match reply {
        ReplyTo::Udp(_) => Kind::Udp,
        ReplyTo::Tcp(_) => Kind::Tcp,
    }
}

/// Whether transactions over `kind` retransmit themselves (UDP) or not.
fn reliability(kind: Kind) -> Reliability {
    match kind {
        Kind::Udp => Reliability::Unreliable,
        Kind::Tcp => Reliability::Reliable,
    }
}
