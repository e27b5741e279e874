//! The thin async shell that moves SIP bytes: one UDP socket and one TCP
//! listener per listen address, delivering parsed messages on a channel.
//!
//! It does exactly three things with a message besides moving it: stamps
//! the top Via with where the request really came from (RFC 3261 §18.2.1,
//! RFC 3581 `rport`), answers requests the parser rejected (400/505) at once,
//! and counts what it drops. Everything else is the core's business.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::sip::message::{parse, stream_message_len, Message, ParseError, Response};

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
    /// The connection's writer task.
    Tcp(mpsc::Sender<Vec<u8>>),
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
    /// names (for UDP) or over the same connection (for TCP).
    pub async fn respond(&self, resp: &Response) -> std::io::Result<()> {
        match &self.reply {
            ReplyTo::Udp(sock) => {
                let to = response_destination(resp, self.source);
                sock.send_to(&resp.to_bytes(), to).await.map(|_| ())
            }
            ReplyTo::Tcp(tx) => tx
                .send(resp.to_bytes())
                .await
                .map_err(|_| std::io::Error::other("connection closed")),
        }
    }
}

/// Send a response over `reply`, to where RFC 3581 says for UDP (`source`
/// is the request's source address) or down the same TCP connection.
pub async fn send_response(
    reply: &ReplyTo,
    source: SocketAddr,
    resp: &Response,
) -> std::io::Result<()> {
    let dest = response_destination(resp, source);
    send_to(reply, dest, &resp.to_bytes()).await
}

/// Send bytes to `dest` over `reply`'s transport (TCP ignores `dest`: the
/// connection already names the peer).
pub async fn send_to(reply: &ReplyTo, dest: SocketAddr, bytes: &[u8]) -> std::io::Result<()> {
    match reply {
        ReplyTo::Udp(sock) => sock.send_to(bytes, dest).await.map(|_| ()),
        ReplyTo::Tcp(tx) => tx
            .send(bytes.to_vec())
            .await
            .map_err(|_| std::io::Error::other("connection closed")),
    }
}

/// Counters for what never reached the core.
#[derive(Debug, Default)]
pub struct Stats {
    pub dropped: AtomicU64,
    pub rejected: AtomicU64,
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
            let bytes = rej.response.to_bytes();
            let _ = match &reply {
                ReplyTo::Udp(s) => s.send_to(&bytes, source).await.map(|_| ()),
                ReplyTo::Tcp(tx) => tx.send(bytes).await.map_err(std::io::Error::other),
            };
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

/// Accept TCP connections until `stop` is cancelled; one reader and one
/// writer task per connection.
pub async fn run_tcp(
    listener: TcpListener,
    out: mpsc::Sender<Inbound>,
    stats: Arc<Stats>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    loop {
        let (stream, source) = tokio::select! {
            r = listener.accept() => r?,
            _ = stop.cancelled() => return Ok(()),
        };
        tokio::spawn(tcp_connection(
            stream,
            source,
            out.clone(),
            stats.clone(),
            stop.child_token(),
        ));
    }
}

async fn tcp_connection(
    stream: TcpStream,
    source: SocketAddr,
    out: mpsc::Sender<Inbound>,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(32);
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        // Cut every complete message out of the buffer (RFC 3261 §18.3).
        loop {
            match stream_message_len(&buf) {
                Ok(Some(len)) => {
                    let msg = buf.split_to(len);
                    let reply = ReplyTo::Tcp(tx.clone());
                    deliver(&msg, source, Kind::Tcp, reply, &out, &stats).await;
                }
                Ok(None) => break,
                Err(_) => {
                    // Framing is lost for good on a stream: close it.
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    writer.abort();
                    return;
                }
            }
        }
        let n = tokio::select! {
            r = rd.read_buf(&mut buf) => r.unwrap_or(0),
            _ = stop.cancelled() => 0,
        };
        if n == 0 {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
