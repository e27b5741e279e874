//! The thin async shell that moves SIP bytes: one UDP socket and one TCP
//! listener per listen address, delivering parsed messages on a channel.
//!
//! It does exactly three things with a message besides moving it: stamps
//! the top Via with where the request really came from (RFC 3261 §18.2.1,
//! RFC 3581 `rport`), answers requests the parser rejected (400/505) at once,
//! and counts what it drops. Everything else is the core's business.
//!
//! Sending never waits on a peer. The dispatcher serves every call from one
//! task, so a send that could block would let one peer stall signalling for
//! all: UDP sends use `try_send_to` (a full socket buffer drops the datagram
//! and counts it; transactions retransmit), and each TCP connection has a
//! bounded queue to its writer task that is fed with `try_send`; a peer that
//! does not read until its queue is full has its connection closed.
//!
//! Every TCP resource a peer controls is bounded by [`TcpLimits`] (from the
//! `[sip]` configuration): connections, idle time, time to send a whole
//! header (slowloris), buffered bytes, queued responses. An accept error
//! (EMFILE, ENFILE, ECONNABORTED) is logged and retried after a short,
//! growing pause; it never ends the listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::sip::message::{parse, Message, ParseError, Response, StreamFramer, StreamItem};

/// Which transport a message came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Udp,
    Tcp,
}

/// Where to send the answer to an inbound message.
#[derive(Debug, Clone)]
pub enum ReplyTo {
    Udp(Arc<UdpSocket>),
    /// The connection's bounded writer queue.
    Tcp(TcpConn),
}

/// The sending side of one TCP connection: a bounded queue to its writer
/// task. [`TcpConn::send`] never waits: a full queue closes the connection.
#[derive(Debug, Clone)]
pub struct TcpConn {
    tx: mpsc::Sender<Vec<u8>>,
    close: CancellationToken,
    stats: Arc<Stats>,
    /// One per clone: more than the reader's own means a transaction or a
    /// call still answers over this connection, so it is not idle.
    users: Arc<()>,
}

impl TcpConn {
    /// Queue `bytes` for the peer, or close the connection if its queue is
    /// full (the peer is not reading); an error either way the bytes are lost.
    pub fn send(&self, bytes: Vec<u8>) -> std::io::Result<()> {
        match self.tx.try_send(bytes) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                if !self.close.is_cancelled() {
                    self.stats.tcp_closed_full.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        code = "HL-SIP-TCP-FULL",
                        "TCP peer does not read: send queue full, connection closed"
                    );
                    self.close.cancel();
                }
                Err(std::io::Error::other("send queue full: connection closed"))
            }
            Err(TrySendError::Closed(_)) => Err(std::io::Error::other("connection closed")),
        }
    }

    /// The connection has been closed (by us or the peer).
    pub fn is_closed(&self) -> bool {
        self.close.is_cancelled() || self.tx.is_closed()
    }
}

/// One parsed message and how to answer it.
#[derive(Debug)]
pub struct Inbound {
    pub message: Message,
    pub source: SocketAddr,
    pub kind: Kind,
    pub reply: ReplyTo,
}

impl Inbound {
    /// Send a response to this message's sender, to the address RFC 3581
    /// names (for UDP) or over the same connection (for TCP). Never waits.
    pub async fn respond(&self, resp: &Response) -> std::io::Result<()> {
        send_response(&self.reply, self.source, resp).await
    }
}

/// Send a response over `reply`, to where RFC 3581 says for UDP (`source`
/// is the request's source address) or down the same TCP connection.
/// `async` for the callers' sake; it completes without waiting on a peer.
pub async fn send_response(
    reply: &ReplyTo,
    source: SocketAddr,
    resp: &Response,
) -> std::io::Result<()> {
    let dest = response_destination(resp, source);
    send_now(reply, dest, resp.to_bytes())
}

/// Send bytes to `dest` over `reply`'s transport (TCP ignores `dest`: the
/// connection already names the peer). Completes without waiting.
pub async fn send_to(reply: &ReplyTo, dest: SocketAddr, bytes: &[u8]) -> std::io::Result<()> {
    send_now(reply, dest, bytes.to_vec())
}

/// The one non-blocking send both transports go through.
pub fn send_now(reply: &ReplyTo, dest: SocketAddr, bytes: Vec<u8>) -> std::io::Result<()> {
    match reply {
        ReplyTo::Udp(sock) => sock.try_send_to(&bytes, dest).map(|_| ()),
        ReplyTo::Tcp(conn) => conn.send(bytes),
    }
}

/// Limits on what a TCP peer can make us hold (`[sip]` `tcp_*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Open connections at most; more are accepted and closed at once.
    pub max_connections: usize,
    /// A connection that sends nothing (not even a CRLF keep-alive) for
    /// this long is closed.
    pub idle_timeout: Duration,
    /// From its first byte, a message's header must be complete within
    /// this (a slowloris peer dripping a header is cut off).
    pub header_timeout: Duration,
    /// Bytes buffered per connection at most (one message's size limit).
    pub max_buffer: usize,
    /// Messages queued to a connection's writer at most.
    pub send_queue: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(180),
            header_timeout: Duration::from_secs(10),
            max_buffer: crate::sip::message::MAX_MESSAGE_SIZE,
            send_queue: 64,
        }
    }
}

/// Counters for what never reached the core, and for connections we cut.
#[derive(Debug, Default)]
pub struct Stats {
    pub dropped: AtomicU64,
    pub rejected: AtomicU64,
    /// UDP datagrams not sent because the socket buffer was full.
    pub udp_send_dropped: AtomicU64,
    /// TCP connections open now.
    pub tcp_open: AtomicUsize,
    /// Connections closed at accept: `max_connections` reached.
    pub tcp_refused: AtomicU64,
    /// Connections closed because their send queue was full.
    pub tcp_closed_full: AtomicU64,
    /// Connections closed after `idle_timeout` of silence.
    pub tcp_closed_idle: AtomicU64,
    /// Connections closed because a header took longer than `header_timeout`.
    pub tcp_closed_slow: AtomicU64,
    /// Connections closed for a message over `max_buffer` or lost framing.
    pub tcp_closed_framing: AtomicU64,
    /// Failed `accept` calls (the listener carried on).
    pub accept_errors: AtomicU64,
    /// CRLF CRLF keep-alive pings answered (RFC 5626 §3.5.1).
    pub keepalive_pongs: AtomicU64,
}

/// RFC 3261 §18.2.2 with RFC 3581: answer to `received` (the packet's
/// source IP) and `rport` if the client asked for it, else the Via port.
pub fn response_destination(resp: &Response, source: SocketAddr) -> SocketAddr {
    let Some(via) = resp.top_via() else {
        return source;
    };
    let ip = via
        .received()
        .and_then(|r| r.trim_matches(['[', ']']).parse().ok())
        .unwrap_or(source.ip());
    let port = match via.rport() {
        Some(Some(p)) => p,
        _ => via.port.unwrap_or(5060),
    };
    SocketAddr::new(ip, port)
}

/// Parse, stamp and route one message; answer rejections directly.
async fn deliver(
    bytes: &[u8],
    source: SocketAddr,
    kind: Kind,
    reply: ReplyTo,
    out: &mpsc::Sender<Inbound>,
    stats: &Stats,
) {
    let message = match parse(bytes) {
        Ok(Message::Request(mut req)) => {
            req.stamp_received(source.ip(), source.port());
            Message::Request(req)
        }
        Ok(m) => m,
        Err(ParseError::Reject(rej)) => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::info!(code = %rej.error.code(), %source, error = %rej.error, "rejected request");
            // The Via of a rejected request may be unusable: answer the
            // packet's source (the NAT mapping) or the same connection.
            if send_now(&reply, source, rej.response.to_bytes()).is_err() {
                stats.udp_send_dropped.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        Err(ParseError::Drop(reason)) => {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%source, %reason, "dropped datagram");
            return;
        }
    };
    let _ = out
        .send(Inbound {
            message,
            source,
            kind,
            reply,
        })
        .await;
}

/// Receive datagrams on `sock` until `stop` is cancelled.
pub async fn run_udp(
    sock: Arc<UdpSocket>,
    out: mpsc::Sender<Inbound>,
    stats: Arc<Stats>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    grow_recv_buffer(&sock);
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, source) = tokio::select! {
            r = sock.recv_from(&mut buf) => r?,
            _ = stop.cancelled() => return Ok(()),
        };
        let reply = ReplyTo::Udp(sock.clone());
        deliver(&buf[..n], source, Kind::Udp, reply, &out, &stats).await;
    }
}

/// The receive buffer asked for on a SIP UDP socket. A burst of INVITEs
/// (a flood, a trunk's busiest second) then waits in the kernel while the
/// dispatcher answers it, instead of being dropped at the default ~200 KB
/// (about a hundred datagrams); Linux caps it at `net.core.rmem_max`.
const UDP_RECV_BUFFER: libc::c_int = 4 << 20;

fn grow_recv_buffer(sock: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let size = UDP_RECV_BUFFER;
    // SAFETY: setsockopt on a socket we own, with a pointer to a c_int and
    // its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "SO_RCVBUF not raised");
    }
}

/// A source of TCP connections: the listener, or a test's stand-in that
/// fails on purpose.
pub trait Accept: Send + 'static {
    fn accept(&mut self) -> impl Future<Output = std::io::Result<(TcpStream, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    fn accept(&mut self) -> impl Future<Output = std::io::Result<(TcpStream, SocketAddr)>> + Send {
        TcpListener::accept(self)
    }
}

/// Accept TCP connections until `stop` is cancelled; one reader and one
/// writer task per connection, within `limits`.
pub async fn run_tcp(
    listener: TcpListener,
    out: mpsc::Sender<Inbound>,
    stats: Arc<Stats>,
    limits: TcpLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    serve_tcp(listener, out, stats, limits, stop).await
}

/// [`run_tcp`] over any [`Accept`].
pub async fn serve_tcp<A: Accept>(
    mut listener: A,
    out: mpsc::Sender<Inbound>,
    stats: Arc<Stats>,
    limits: TcpLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    const FIRST_PAUSE: Duration = Duration::from_millis(10);
    let mut pause = FIRST_PAUSE;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.cancelled() => return Ok(()),
        };
        let (stream, source) = match accepted {
            Ok(a) => {
                pause = FIRST_PAUSE;
                a
            }
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection that
                // died in the backlog: the listener itself is fine. Pause
                // so a descriptor shortage does not become a busy loop.
                stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(code = "HL-SIP-ACCEPT", error = %e, ?pause, "TCP accept failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.cancelled() => return Ok(()),
                }
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if stats.tcp_open.load(Ordering::Relaxed) >= limits.max_connections {
            stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%source, max = limits.max_connections, "TCP connection limit reached: closed");
            drop(stream);
            continue;
        }
        stats.tcp_open.fetch_add(1, Ordering::Relaxed);
        let guard = OpenGuard(stats.clone());
        tokio::spawn(tcp_connection(
            stream,
            source,
            out.clone(),
            stats.clone(),
            limits,
            stop.clone(),
            guard,
        ));
    }
}

/// Counts a connection as open until dropped.
struct OpenGuard(Arc<Stats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.tcp_open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn tcp_connection(
    stream: TcpStream,
    source: SocketAddr,
    out: mpsc::Sender<Inbound>,
    stats: Arc<Stats>,
    limits: TcpLimits,
    stop: CancellationToken,
    _open: OpenGuard,
) {
    // Closing for cause (a full queue) drops what is queued; a shutdown
    // (`stop`) stops reading but lets queued responses and BYEs go out.
    let close = CancellationToken::new();
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(limits.send_queue.max(1));
    let writer = tokio::spawn({
        let close = close.clone();
        async move {
            loop {
                let bytes = tokio::select! {
                    b = rx.recv() => match b {
                        Some(b) => b,
                        None => break,
                    },
                    _ = close.cancelled() => break,
                };
                // A peer that stops reading blocks this write, not the
                // dispatcher; closing the connection ends the wait.
                tokio::select! {
                    r = wr.write_all(&bytes) => if r.is_err() { break },
                    _ = close.cancelled() => break,
                }
            }
        }
    });
    let conn = TcpConn {
        tx,
        close: close.clone(),
        stats: stats.clone(),
        users: Arc::new(()),
    };
    let mut buf = BytesMut::with_capacity(4096);
    let mut framer = StreamFramer::new(limits.max_buffer);
    let mut header_deadline: Option<Instant> = None;
    'conn: loop {
        // Cut every complete message out of the buffer (RFC 3261 §18.3).
        loop {
            match framer.next(&buf) {
                Ok(StreamItem::Message(len)) => {
                    header_deadline = None;
                    let msg = buf.split_to(len);
                    let reply = ReplyTo::Tcp(conn.clone());
                    deliver(&msg, source, Kind::Tcp, reply, &out, &stats).await;
                }
                Ok(StreamItem::Ping) => {
                    header_deadline = None;
                    buf.advance(4);
                    stats.keepalive_pongs.fetch_add(1, Ordering::Relaxed);
                    let _ = conn.send(b"\r\n".to_vec());
                }
                Ok(StreamItem::Skip(n)) => buf.advance(n),
                Ok(StreamItem::Incomplete) => break,
                Err(e) => {
                    // Framing is lost for good on a stream: close it.
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    stats.tcp_closed_framing.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%source, error = %e, "TCP framing lost: connection closed");
                    break 'conn;
                }
            }
        }
        if framer.in_header(&buf) {
            header_deadline.get_or_insert_with(|| Instant::now() + limits.header_timeout);
        } else {
            header_deadline = None;
        }
        let idle_at = Instant::now() + limits.idle_timeout;
        let wake = header_deadline.map_or(idle_at, |h| h.min(idle_at));
        tokio::select! {
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            _ = tokio::time::sleep_until(wake) => {
                if header_deadline.is_some_and(|h| h <= Instant::now()) {
                    stats.tcp_closed_slow.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%source, timeout = ?limits.header_timeout, "TCP header not complete in time: connection closed");
                } else if Arc::strong_count(&conn.users) > 1 {
                    // Silent, but a call or transaction still answers over
                    // it (a phone without keep-alives, mid-call): keep it.
                    continue;
                } else {
                    stats.tcp_closed_idle.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%source, "TCP connection idle: closed");
                }
                break;
            }
            _ = close.cancelled() => break,
            _ = stop.cancelled() => break,
        }
    }
    // Let queued responses go out unless we are closing for cause; the
    // writer ends when every sender is gone, or after a second.
    drop(conn);
    if close.is_cancelled() {
        writer.abort();
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    }
    close.cancel();
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
