//! The media side of one call leg: its RTP port, the SDP offer/answer
//! state, and the live RTP session (started, re-pointed, held, restarted
//! for a codec change, stopped).
//!
//! It is driven by the call's session and knows no SIP: offers come in as
//! SDP text, answers go out as SDP text, and the session puts them in
//! whatever message the leg needs. What it is told of the signalling: the
//! peer's signalling address and the remote-address policy
//! ([`CallMedia::with_peer`]), and when the dialog is confirmed
//! ([`CallMedia::confirm`], the ACK): see `media::session::peer` for what
//! they decide.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::media::ports::{PortAllocator, PortError, RtpPort};
use crate::media::sdp::{self, LocalMedia, Negotiated, SdpError};
use crate::media::session::{
    self as rtp, MediaCommand, MediaEvent, MediaHandle, PeerRules, RemotePolicy, SessionConfig,
};

/// One leg's media.
pub struct CallMedia {
    ports: PortAllocator,
    /// Our address in SDP.
    local_ip: IpAddr,
    rtp_timeout: Duration,
    /// Our RTP port: held from before ringing until the session starts.
    port: Option<RtpPort>,
    rtp_local: Option<SocketAddr>,
    session_id: u64,
    sdp_version: u64,
    negotiated: Option<Negotiated>,
    handle: Option<MediaHandle>,
    remote: Option<SocketAddr>,
    /// A codec change needs a new RTP session (see `renegotiate`).
    restart: bool,
    /// Who the peer is besides its SDP, and whether the dialog is
    /// confirmed.
    peer: PeerRules,
    task: Option<tokio::task::JoinHandle<rtp::SessionReport>>,
}

/// Why an offer is refused: the status, its reason phrase and, for SDP
/// problems, the `Warning` value that says what was wrong (RFC 3261
/// §20.43).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferRefusal {
    pub status: u16,
    pub reason: &'static str,
    pub warning: Option<String>,
}

impl OfferRefusal {
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        self.warning
            .iter()
            .map(|w| ("Warning", w.clone()))
            .collect()
    }
}

impl From<&SdpError> for OfferRefusal {
    fn from(e: &SdpError) -> Self {
        OfferRefusal {
            status: e.sip_status(),
            reason: e.reason(),
            warning: Some(e.warning()),
        }
    }
}

/// Why the media could not be set up before ringing.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Offer(#[from] SdpError),
    #[error(transparent)]
    NoPort(#[from] PortError),
}

impl CallMedia {
    pub fn new(ports: PortAllocator, local_ip: IpAddr, rtp_timeout: Duration) -> Self {
        CallMedia {
            ports,
            local_ip,
            rtp_timeout,
            port: None,
            rtp_local: None,
            session_id: rand::random::<u32>().into(),
            sdp_version: 1,
            negotiated: None,
            handle: None,
            remote: None,
            restart: false,
            peer: PeerRules {
                signalling: None,
                policy: RemotePolicy::Any,
                confirmed: false,
            },
            task: None,
        }
    }

    /// The peer's signalling comes from `signalling` (the INVITE's source,
    /// the agent's registration's): its RTP may come from that IP too, and
    /// `policy` says whether media may go to an SDP address elsewhere.
    pub fn with_peer(mut self, signalling: IpAddr, policy: RemotePolicy) -> Self {
        self.peer = PeerRules::new(signalling, policy, self.peer.confirmed);
        self
    }

    /// The dialog is confirmed (the caller's ACK): the SDP address may be
    /// sent to even before the caller's first packet.
    pub async fn confirm(&mut self) {
        if !self.peer.confirmed {
            self.peer.confirmed = true;
            self.send(MediaCommand::Confirmed).await;
        }
    }

    /// Check the INVITE's offer (if any) and take an RTP port, before
    /// ringing: a call we cannot take is refused at once.
    pub fn prepare(&mut self, offer: Option<&[u8]>) -> Result<(), PrepareError> {
        if let Some(offer) = offer {
            let n = sdp::negotiate(&String::from_utf8_lossy(offer))?;
            sdp::check_address(&n, true, self.peer.signalling)?;
            self.negotiated = Some(n);
        }
        let port = self.ports.allocate()?;
        self.rtp_local = port.local_addr().ok();
        self.port = Some(port);
        Ok(())
    }

    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    pub fn handle(&self) -> Option<&MediaHandle> {
        self.handle.as_ref()
    }

    pub fn is_running(&self) -> bool {
        self.handle.is_some()
    }

    /// Our SDP: the answer to the offer, or our own offer (late offer).
    pub fn local_sdp(&mut self) -> String {
        self.sdp_version += 1;
        let local = LocalMedia {
            addr: self.local_ip,
            port: self.rtp_local.map_or(9, |a| a.port()),
            session_id: self.session_id,
            session_version: self.sdp_version,
        };
        match &self.negotiated {
            Some(n) => sdp::build_answer(n, &local),
            None => sdp::build_offer(&local),
        }
    }

    /// The answer to our offer: in the caller's ACK, or in the agent's
    /// 200 that we ACK. Either way the dialog is confirmed once it came.
    pub fn take_answer(&mut self, answer: &[u8]) -> Result<(), SdpError> {
        let n = sdp::negotiate(&String::from_utf8_lossy(answer))?;
        sdp::check_address(&n, false, self.peer.signalling)?;
        self.negotiated = Some(n);
        self.peer.confirmed = true;
        Ok(())
    }

    /// The peer will answer our offer (a re-INVITE without SDP).
    pub fn expect_answer(&mut self) {
        self.negotiated = None;
    }

    /// A new offer mid-call (hold, resume, codec change): our answer, or
    /// the status to refuse it with while the old session stays.
    pub fn renegotiate(&mut self, offer: &[u8]) -> Result<String, OfferRefusal> {
        let n = sdp::negotiate(&String::from_utf8_lossy(offer))
            .and_then(|n| sdp::check_address(&n, false, self.peer.signalling).map(|()| n))
            .map_err(|e| OfferRefusal::from(&e))?;
        tracing::info!(direction = ?n.direction, codec = ?n.codec, "session modified");
        let format_changed = self.negotiated.as_ref().is_some_and(|old| {
            (old.codec, old.payload_type, old.telephone_event)
                != (n.codec, n.payload_type, n.telephone_event)
        });
        if format_changed && self.handle.is_some() {
            // The running session encodes one codec: a codec change gets a
            // fresh session on a fresh port, named in the answer.
            let port = self.ports.allocate().map_err(|e| OfferRefusal {
                status: e.sip_status(),
                reason: "Service Unavailable",
                warning: None,
            })?;
            self.rtp_local = port.local_addr().ok();
            self.port = Some(port);
            self.restart = true;
        }
        self.negotiated = Some(n);
        Ok(self.local_sdp())
    }

    /// Start the RTP session once both sides' SDP is known. `Ok(None)`:
    /// not yet (a late offer keeps the port until the ACK's answer).
    pub fn start(&mut self) -> std::io::Result<Option<mpsc::UnboundedReceiver<MediaEvent>>> {
        let Some(neg) = self.negotiated.as_ref() else {
            return Ok(None);
        };
        let Some(port) = self.port.take() else {
            return Ok(None);
        };
        let config = SessionConfig::from_negotiated(neg, self.rtp_timeout);
        let session = rtp::spawn_with(port, &config, self.peer)?;
        self.remote = Some(config.remote);
        self.handle = Some(session.handle);
        self.task = Some(session.task);
        Ok(Some(session.events))
    }

    /// After an offer/answer mid-call: restart for a new codec, re-point to
    /// a new address, hold or resume. Returns the new session's events when
    /// the session was (re)started.
    pub async fn apply_change(
        &mut self,
        answered: bool,
    ) -> std::io::Result<Option<mpsc::UnboundedReceiver<MediaEvent>>> {
        let Some(neg) = self.negotiated.clone() else {
            return Ok(None);
        };
        if std::mem::take(&mut self.restart) {
            self.stop().await;
            let events = self.start()?;
            tracing::info!(codec = ?neg.codec, "media restarted for the new codec");
            return Ok(events);
        }
        let Some(media) = self.handle.clone() else {
            return if answered { self.start() } else { Ok(None) };
        };
        if self.remote != Some(neg.remote) {
            // Only a new SDP address re-latches: symmetric RTP keeps the
            // NAT mapping it learned otherwise.
            self.remote = Some(neg.remote);
            let _ = media.send(MediaCommand::SetRemote(neg.remote)).await;
        }
        let hold = neg.direction != sdp::Direction::SendRecv;
        let _ = media
            .send(if hold {
                MediaCommand::Hold
            } else {
                MediaCommand::Resume
            })
            .await;
        Ok(None)
    }

    /// Send a command to the running session (dropped if none runs).
    pub async fn send(&self, cmd: MediaCommand) {
        if let Some(media) = &self.handle {
            let _ = media.send(cmd).await;
        }
    }

    /// Close the RTP session and wait for it to end.
    pub async fn stop(&mut self) {
        if let Some(media) = self.handle.take() {
            let _ = media.close().await;
        }
        if let Some(task) = self.task.take() {
            if let Ok(report) = task.await {
                tracing::debug!(
                    sent = report.sent,
                    received = report.received.packets,
                    "media report"
                );
            }
        }
    }
}
