//! The UAS core: one task that owns the transaction table and the map of
//! live dialogs, answers what needs no call (OPTIONS, REGISTER, CANCEL,
//! rejections, 503 when full or draining), starts a call task for each new
//! INVITE, and routes in-dialog requests to their call.
//!
//! It never waits on a call: calls get events through bounded queues and
//! answer through [`ToDispatch`] messages, so one slow call cannot stall
//! signalling for the others.
//!
//! A new INVITE meets [`super::admission`] before anything else: a source
//! over its rate, or any source while the process sheds load, gets a
//! stateless 503 with Retry-After at once (no transaction, no call task),
//! and its record goes to the one batch writer of refused calls
//! ([`RefusedRecords`]), as does the record of a call refused as busy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::admission::{probe, Admission, AdmissionSettings, LoadSample, LogThrottle};
use super::route::{classify, RequestRoute};
use super::session::{self, CallPurpose, CallSetup};
use super::{CallEvent, CallHandle, CallServices, CallSettings, ToDispatch};
use crate::sip::dialog::{new_local_tag, DialogId};
use crate::sip::identity::caller_identity;
use crate::sip::message::{Message, Method, Request, Response};
use crate::sip::transaction::{Incoming, Output, Reliability, TransactionKey, TransactionTable};
use crate::sip::transport::{self, Inbound, Kind, ReplyTo};
use crate::sip::validate::{rejection_headers, validate_request};
use crate::tickets::calls::RefusedRecords;
use crate::tickets::{CallRecord, EndReason};

/// How long the dispatcher waits at its end for the refused calls'
/// writer to write what it holds.
const WRITER_FLUSH: std::time::Duration = std::time::Duration::from_secs(6);

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
    /// New INVITEs refused because their source was over its rate.
    pub rate_limited: u64,
    /// New INVITEs refused while shedding load.
    pub shed: u64,
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
    admission: Admission,
    /// The settings `admission` and the table's limit were made from.
    admission_settings: AdmissionSettings,
    /// Set by [`Dispatcher::run`] (its task needs the runtime).
    refused: Option<RefusedRecords>,
    busy_log: LogThrottle,
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
        let admission_settings = settings.borrow().admission;
        let (stats, stats_rx) = watch::channel(DispatchStats::default());
        let mut table = TransactionTable::new(timers);
        table.set_max_live(admission_settings.max_transactions);
        (
            Self {
                settings,
                table,
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
                admission: Admission::new(&admission_settings),
                admission_settings,
                refused: None,
                busy_log: LogThrottle::new(std::time::Duration::from_secs(10)),
            },
            stats_rx,
        )
    }

    /// Serve until `inbound` closes. `drain` starts the shutdown: new calls
    /// get 503, calls in progress get until `drain_timeout`, then
    /// [`CallEvent::Shutdown`]. Returns when draining and no call is left.
    pub async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>, drain: CancellationToken) {
        let (refused, writer) = RefusedRecords::spawn(self.services.store.pool().clone());
        self.refused = Some(refused);
        let (load_tx, mut load) = watch::channel(LoadSample::default());
        let probe = probe::spawn(load_tx);
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
                // The probe's reading (ten a second) and the timers come
                // before new input: a flood must not hide the load it
                // makes, nor hold back retransmissions.
                Ok(()) = load.changed() => {
                    let sample = LoadSample {
                        dispatch_queue: inbound.len(),
                        ..*load.borrow_and_update()
                    };
                    self.admission.observe(Instant::now(), sample);
                }
                _ = tokio::time::sleep_until(sleep_until) => {
                    self.table.handle_timeout(Instant::now());
                }
                m = inbound.recv() => match m {
                    Some(m) => {
                        let backlog = inbound.len();
                        self.on_inbound(m, backlog);
                    }
                    None => break,
                },
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
        probe.abort();
        // The writer ends once its last sender is gone, after writing what
        // it holds (bounded: the daemon closes the pool next).
        self.refused = None;
        match tokio::time::timeout(WRITER_FLUSH, writer).await {
            Ok(Ok(report)) => tracing::debug!(?report, "refused calls' records written"),
            _ => tracing::warn!("refused calls' writer did not finish in time"),
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
        let a = self.admission.stats();
        self.stats.send_if_modified(|s| {
            let active = self.calls.len();
            if s.calls_active != active || s.rate_limited != a.rate_limited || s.shed != a.shed {
                s.calls_active = active;
                s.rate_limited = a.rate_limited;
                s.shed = a.shed;
                true
            } else {
                false
            }
        });
    }

    /// Follow a reload of `[admission]` (new limits for what comes next).
    fn follow_admission_settings(&mut self) {
        let now = self.settings.borrow().admission;
        if now != self.admission_settings {
            self.admission.configure(&now);
            self.table.set_max_live(now.max_transactions);
            self.admission_settings = now;
        }
    }

    /// `backlog`: messages still queued behind this one.
    fn on_inbound(&mut self, inbound: Inbound, backlog: usize) {
        let now = Instant::now();
        let rel = reliability(inbound.kind);
        match inbound.message {
            Message::Request(req) if self.refuse_at_admission(now, &req, &inbound, backlog) => {}
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
                Incoming::Ack(ack) => self.on_ack(ack),
                Incoming::Matched(_) | Incoming::Stray => {}
            },
            Message::Response(resp) => {
                self.table.on_response(now, resp);
            }
        }
    }

    /// Admission of a new INVITE (no To tag, not a retransmission): true
    /// when it was refused here, with a stateless 503 (no transaction: a
    /// flood leaves no state behind) and a record for the batch writer.
    fn refuse_at_admission(
        &mut self,
        now: Instant,
        req: &Request,
        inbound: &Inbound,
        backlog: usize,
    ) -> bool {
        if *req.method() != Method::Invite || req.to().tag().is_some() {
            return false;
        }
        if self.table.get(&TransactionKey::for_request(req)).is_some() {
            return false;
        }
        self.follow_admission_settings();
        let refusal = match self.admission.admit(now, inbound.source.ip(), backlog) {
            Ok(()) => return false,
            Err(r) => r,
        };
        tracing::debug!(call_id = %req.call_id(), source = %inbound.source, why = refusal.why(), "503 to a new call");
        let mut resp = Response::for_request(req, 503, "Service Unavailable");
        let retry = self.admission_settings.retry_after;
        resp.headers.push("Retry-After", retry.to_string());
        self.transmit
            .push((inbound.reply.clone(), inbound.source, resp));
        self.record_refused(req);
        true
    }

    /// The record of a call refused at once, for the batch writer.
    fn record_refused(&self, req: &Request) {
        let at = Utc::now();
        if let Some(writer) = &self.refused {
            writer.record(CallRecord::ended_before_intake(
                req.call_id().to_string(),
                req.from().uri.user().unwrap_or_default(),
                at,
                None,
                at,
                EndReason::Rejected503,
                None,
            ));
        }
    }

    /// An ACK outside any transaction (of a 2xx): to its call, if any.
    fn on_ack(&self, ack: Box<Request>) {
        if let Some(call) = DialogId::for_incoming(&ack).and_then(|id| self.call_of(&id)) {
            call.send(CallEvent::Ack(ack));
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
                // The ACK of a 2xx with the INVITE's own branch (an RFC
                // 2543 phone: no branch at all) matches the INVITE
                // transaction in Accepted, which hands it up (RFC 6026).
                Output::PassRequest(req) if *req.method() == Method::Ack => {
                    self.on_ack(Box::new(req))
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
            self.record_refused(&req);
            let why = if self.draining {
                "shutting down"
            } else {
                "call limit reached"
            };
            // One line per 10 s at most: a flood from many sources fills
            // the call limit and must not fill the log too.
            match self.busy_log.ready(Instant::now()) {
                Some(held_back) => {
                    tracing::warn!(call_id = %req.call_id(), why, held_back, "503 to a new call")
                }
                None => tracing::debug!(call_id = %req.call_id(), why, "503 to a new call"),
            }
            return self.reject(
                &key,
                &req,
                503,
                "Service Unavailable",
                vec![("Retry-After", settings.admission.retry_after.to_string())],
            );
        }
        let Some(route) = self.routes.get(&key) else {
            return;
        };
        // An RFC 2543 caller sends no From tag: its dialog's remote tag is
        // the null tag (RFC 3261 §12.1.1), not a reason to refuse it.
        let dialog = DialogId {
            call_id: req.call_id().clone(),
            local_tag: new_local_tag(),
            remote_tag: DialogId::remote_tag_of(&req),
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
