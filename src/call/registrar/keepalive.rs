//! Keep-alive of registered phones (Asterisk's `qualify`): an OPTIONS to
//! every reachable binding each `agents.keepalive_interval`; after
//! `agents.keepalive_failures` unanswered in a row the binding is
//! unreachable and routing offers that phone nothing. Any answer, even a
//! 4xx, proves the phone alive.

use std::net::SocketAddr;

use chrono::Utc;
use tokio::sync::oneshot;

use super::{Registrar, Write};
use crate::agents::AgentId;
use crate::call::ToDispatch;
use crate::sip::dialog::Local;
use crate::sip::message::{Request, Uri};
use crate::sip::transport::Kind;
use crate::sip::uac;

/// What came of one keep-alive.
pub(super) struct KeepaliveResult {
    pub(super) agent: AgentId,
    pub(super) contact: String,
    pub(super) answered: bool,
}

impl Registrar {
    /// One OPTIONS to every binding that can be reached; the answers (or
    /// their absence within the transaction's timeout) come back to
    /// [`Registrar::on_keepalive`].
    pub(super) fn send_keepalives(&mut self) {
        for (agent, lives) in &mut self.bindings {
            for l in lives.iter_mut().filter(|l| !l.probing) {
                let Some(reply) = l.reply.clone() else {
                    continue;
                };
                let Some(request) =
                    keepalive_options(&l.binding.contact_uri, l.local, l.binding.transport)
                else {
                    continue;
                };
                let (done, rx) = oneshot::channel();
                let sent = self.dispatch.try_send(ToDispatch::Request {
                    request: Box::new(request),
                    dest: l.binding.source,
                    reply,
                    done: Some(done),
                });
                if sent.is_err() {
                    continue;
                }
                l.probing = true;
                let back = self.keepalive_tx.clone();
                let (agent, contact) = (*agent, l.binding.contact_uri.clone());
                tokio::spawn(async move {
                    let answered = matches!(rx.await, Ok(Some(_)));
                    let _ = back
                        .send(KeepaliveResult {
                            agent,
                            contact,
                            answered,
                        })
                        .await;
                });
            }
        }
    }

    pub(super) fn on_keepalive(&mut self, r: KeepaliveResult) {
        let Some(l) = self
            .bindings
            .get_mut(&r.agent)
            .and_then(|v| v.iter_mut().find(|l| l.binding.contact_uri == r.contact))
        else {
            return;
        };
        l.probing = false;
        let was = (l.reachable, l.failures);
        if r.answered {
            l.failures = 0;
            l.reachable = true;
            l.last_seen_at = Utc::now();
        } else {
            l.failures = l.failures.saturating_add(1);
            if l.failures >= self.config.keepalive_failures {
                l.reachable = false;
            }
        }
        if was != (l.reachable, l.failures) {
            if was.0 != l.reachable {
                tracing::warn!(agent = %r.agent, contact = %r.contact, reachable = l.reachable, failures = l.failures,
                    "agent phone reachability changed");
            }
            let w = Write::Reachable {
                agent: r.agent,
                contact: r.contact,
                reachable: l.reachable,
                failures: l.failures,
            };
            self.write(w);
        }
    }
}

/// An out-of-dialog OPTIONS to a registered contact (RFC 3261 §11), the
/// keep-alive a PBX sends (Asterisk's `qualify`).
fn keepalive_options(contact: &str, local: SocketAddr, transport: Kind) -> Option<Request> {
    let target = Uri::parse(contact).ok()?;
    let from = Uri::parse(&format!("sip:hotline@{local}")).ok()?;
    let local = Local {
        transport: match transport {
            Kind::Udp => "UDP",
            Kind::Tcp => "TCP",
        }
        .into(),
        sent_by: local.to_string(),
        user: "hotline".into(),
    };
    uac::options(&target, &from, &local).ok()
}
