//! The built-in caller: a SIP user agent client over UDP with one RTP leg.
//!
//! It speaks just enough SIP to place one call (INVITE, ACK, BYE, answering
//! the daemon's BYE) and sends key presses as RFC 4733 events, the way most
//! phones do. It knows when a prompt has finished by listening: prompts
//! arrive as RTP, and the IVR is silent while it waits for keys.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::rtp::{rtp_reader, rtp_sender, Audio, AudioJob, Heard, EVENT_PT};
use super::sdp_address;
use super::stamp::StreamStats;
use crate::sip::message::{parse, Message, Method, Response};

#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error("HL-CALLER-IO: {0}")]
    Io(#[from] std::io::Error),
    #[error("HL-CALLER-REFUSED: the call was refused with {0}")]
    Refused(u16),
    #[error("HL-CALLER-TIMEOUT: no answer within {0:?}")]
    Timeout(Duration),
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct CallerId {
    pub user: String,
    pub display: Option<String>,
    /// Withhold the number (`anonymous` From and `Privacy: id`).
    pub anonymous: bool,
}

/// One call in progress.
pub struct Caller {
    sip: Arc<UdpSocket>,
    server: SocketAddr,
    audio: mpsc::UnboundedSender<AudioJob>,
    /// Silence goes out stamped (a measured stream) while set.
    stamping: Arc<AtomicBool>,
    responses: mpsc::UnboundedReceiver<Response>,
    /// Set when the hotline hangs up (its BYE, answered by `sip_reader`).
    hung_up_by_peer: Arc<tokio::sync::watch::Sender<bool>>,
    heard: Arc<Heard>,
    epoch: Instant,
    call_id: String,
    from: String,
    to: String,
    cseq: u32,
    /// When the INVITE left and the 200 arrived.
    pub answered_after: Duration,
}

impl Caller {
    /// Call `server` and wait (at most `limit`) for the answer.
    pub async fn dial(
        server: SocketAddr,
        who: &CallerId,
        limit: Duration,
    ) -> Result<Self, CallerError> {
        let bind: SocketAddr = if server.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        }
        .parse()
        .expect("literal");
        let sip = Arc::new(UdpSocket::bind(bind).await?);
        let rtp = Arc::new(UdpSocket::bind(bind).await?);
        let local = sip.local_addr()?;
        let rtp_port = rtp.local_addr()?.port();
        let call_id = format!("demo-{:016x}", rand::random::<u64>());
        let tag = format!("{:08x}", rand::random::<u32>());
        let from = if who.anonymous {
            format!("\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag={tag}")
        } else {
            let display = who
                .display
                .as_ref()
                .map(|d| format!("\"{d}\" "))
                .unwrap_or_default();
            format!("{display}<sip:{}@{}>;tag={tag}", who.user, local.ip())
        };
        let to = format!("<sip:hotline@{server}>");
        let host = local.ip();
        let sdp = format!(
            "v=0\r\no=caller 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0 8 {EVENT_PT}\r\na=rtpmap:{EVENT_PT} telephone-event/8000\r\na=fmtp:{EVENT_PT} 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let privacy = if who.anonymous { "Privacy: id\r\n" } else { "" };
        let invite = format!(
            "INVITE sip:hotline@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b:016x};rport\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{user}@{local}>\r\n{privacy}\
             Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            b = rand::random::<u64>(),
            user = who.user,
            len = sdp.len()
        );
        let (tx, responses) = mpsc::unbounded_channel();
        let hung_up_by_peer = Arc::new(tokio::sync::watch::Sender::new(false));
        tokio::spawn(sip_reader(sip.clone(), tx, hung_up_by_peer.clone()));
        let heard = Arc::new(Heard::default());
        let epoch = Instant::now();
        tokio::spawn(rtp_reader(rtp.clone(), heard.clone(), epoch));

        let started = Instant::now();
        sip.send_to(invite.as_bytes(), server).await?;
        let (audio, audio_rx) = mpsc::unbounded_channel();
        let stamping = Arc::new(AtomicBool::new(false));
        let mut caller = Self {
            sip,
            server,
            audio,
            stamping: stamping.clone(),
            responses,
            hung_up_by_peer,
            heard,
            epoch,
            call_id,
            from,
            to,
            cseq: 1,
            answered_after: Duration::ZERO,
        };
        let ok = loop {
            let r = caller
                .response(limit)
                .await
                .ok_or(CallerError::Timeout(limit))?;
            match r.status {
                s if s < 200 => continue,
                200..=299 => break r,
                s => return Err(CallerError::Refused(s)),
            }
        };
        caller.answered_after = started.elapsed();
        if let Some(tag) = ok.to_tag() {
            caller.to = format!("{};tag={}", caller.to, tag);
        }
        let remote_rtp = sdp_address(&ok.body).unwrap_or(server);
        caller.send_request("ACK", 1).await?;
        tokio::spawn(rtp_sender(rtp, remote_rtp, audio_rx, stamping));
        Ok(caller)
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    async fn response(&mut self, limit: Duration) -> Option<Response> {
        tokio::time::timeout(limit, self.responses.recv())
            .await
            .ok()
            .flatten()
    }

    async fn send_request(&self, method: &str, cseq: u32) -> std::io::Result<()> {
        let local = self.sip.local_addr()?;
        let text = format!(
            "{method} sip:hotline@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b:016x};rport\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            server = self.server,
            b = rand::random::<u64>(),
            from = self.from,
            to = self.to,
            call = self.call_id,
        );
        self.sip
            .send_to(text.as_bytes(), self.server)
            .await
            .map(|_| ())
    }

    /// RTP packets received so far (prompts played to us).
    pub fn packets_heard(&self) -> u64 {
        self.heard.packets.load(Ordering::Relaxed)
    }

    /// Wait until the hotline starts speaking (a caller who knows the menu
    /// presses during the prompt: barge-in); false after `limit`.
    pub async fn wait_for_prompt_start(&self, limit: Duration) -> bool {
        let start = self.packets_heard();
        self.listen_until(limit, |c| c.packets_heard() > start + 5)
            .await
    }

    /// Wait until the hotline has spoken and then fallen silent for
    /// `quiet` (a prompt ended and the IVR waits for us); false after
    /// `limit` or if the hotline hung up.
    pub async fn wait_for_prompt_end(&self, quiet: Duration, limit: Duration) -> bool {
        let start = self.packets_heard();
        self.listen_until(limit, |c| {
            let last = Duration::from_millis(c.heard.last_ms.load(Ordering::Relaxed));
            c.packets_heard() > start && c.epoch.elapsed().saturating_sub(last) >= quiet
        })
        .await
    }

    /// Check `done` on every 20 ms packet slot, as a listener would; false
    /// after `limit` or once the hotline hung up. Silence has no event, so
    /// listening on the packet clock is how a caller notices it.
    async fn listen_until(&self, limit: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        while Instant::now() < deadline {
            tick.tick().await;
            if *self.hung_up_by_peer.borrow() {
                return false;
            }
            if done(self) {
                return true;
            }
        }
        false
    }

    /// Press keys as RFC 4733 events: 100 ms each, 100 ms apart, end
    /// packets sent three times as phones do.
    pub async fn press(&mut self, keys: &str) -> std::io::Result<()> {
        self.send_audio(Audio::Keys(keys.to_string())).await
    }

    /// Speak for `length`: a steady vowel-like tone (a voice note's
    /// stand-in). Between presses and talk the caller sends silence, as a
    /// phone's microphone does.
    pub async fn talk(&mut self, length: Duration) -> std::io::Result<()> {
        self.send_audio(Audio::Talk(length)).await
    }

    async fn send_audio(&self, audio: Audio) -> std::io::Result<()> {
        let (done, finished) = tokio::sync::oneshot::channel();
        self.audio
            .send((audio, done))
            .map_err(|_| std::io::Error::other("the RTP sender stopped"))?;
        finished
            .await
            .map_err(|_| std::io::Error::other("the RTP sender stopped"))
    }

    /// From now on the caller's silence carries send-time stamps (see
    /// [`super::stamp`]): the stream a relay's delay is measured on.
    pub fn start_stamping(&self) {
        self.stamping.store(true, Ordering::Relaxed);
    }

    /// Back to plain silence.
    pub fn stop_stamping(&self) {
        self.stamping.store(false, Ordering::Relaxed);
    }

    /// Wait until a stamped packet arrives (the far end's measured stream
    /// reached us: for a bridged call, the agent is heard); false after
    /// `limit` or if the hotline hung up.
    pub async fn wait_for_stamped(&self, limit: Duration) -> bool {
        self.listen_until(limit, |c| c.stamps_heard() > 0).await
    }

    fn stamps_heard(&self) -> u64 {
        self.heard.stamps.lock().map_or(0, |s| s.received)
    }

    /// What arrived of the far end's stamped stream so far.
    pub fn stamps(&self) -> StreamStats {
        self.heard
            .stamps
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Whether the hotline has hung up (its BYE came).
    pub fn hung_up_by_peer(&self) -> bool {
        *self.hung_up_by_peer.borrow()
    }

    /// Hang up (BYE) unless the hotline already did; waits for the 200.
    pub async fn hang_up(mut self) -> std::io::Result<()> {
        if *self.hung_up_by_peer.borrow() {
            return Ok(());
        }
        self.cseq += 1;
        self.send_request("BYE", self.cseq).await?;
        let _ = self.response(Duration::from_secs(5)).await;
        Ok(())
    }

    /// Wait for the hotline to hang up (its BYE, answered 200 by us).
    pub async fn wait_hangup(&self, limit: Duration) -> bool {
        let mut bye = self.hung_up_by_peer.subscribe();
        tokio::time::timeout(limit, bye.wait_for(|hung_up| *hung_up))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Responses to the caller; the hotline's BYE is answered here.
async fn sip_reader(
    sock: Arc<UdpSocket>,
    out: mpsc::UnboundedSender<Response>,
    bye: Arc<tokio::sync::watch::Sender<bool>>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok((n, from)) = sock.recv_from(&mut buf).await {
        match parse(&buf[..n]) {
            Ok(Message::Response(r)) => {
                if out.send(r).is_err() {
                    return;
                }
            }
            Ok(Message::Request(req)) => {
                let ok = Response::for_request(&req, 200, "OK");
                let _ = sock.send_to(&ok.to_bytes(), from).await;
                if *req.method() == Method::Bye {
                    bye.send_replace(true);
                }
            }
            Err(_) => {}
        }
    }
}
